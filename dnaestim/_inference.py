"""The one batched inference loop: every prediction, embedding and likelihood of dnaestim runs through it.

Sequences are grouped in batches of similar length (less padding; results never depend on the grouping, see
``estimators._base``), tokenised batch by batch (one long sequence among many short ones pads only its own
batch), moved to the model's device, and run in eval mode under ``torch.inference_mode`` and the caller's
autocast. Long batches are chunked by the backbone itself (its ``chunk_size`` rules, :mod:`dnaestim.nn._fast`).
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import torch

__all__ = ["log_likelihood", "next_token_log_probs", "predict_batches", "tokenize_numbered"]


def predict_batches(module, sequences, forward, *, tokenizer, batch_size, device, max_length=None,
                    pad_to_max_length=False, autocast_dtype=None, progress=False, desc="predict"):
    """Run ``forward`` over ``sequences`` in batches; yield ``(index, output)`` per batch.

    Parameters
    ----------
    module : torch.nn.Module
        Put in eval mode for the loop, and back in its previous mode afterwards.
    sequences : sequence of str
        Validated sequences.
    forward : callable
        ``forward(input_ids, attention_mask)`` on device tensors of shape (b, width) returns a tensor whose first
        dimension is b, or a tuple of them.
    tokenizer : DNATokenizer
    batch_size : int
    device : torch.device
    max_length : int, optional
        Sequences are cut to this many tokens.
    pad_to_max_length : bool, default=False
        Pad every batch to ``max_length`` (a fixed input layout) instead of to its longest sequence.
    autocast_dtype : torch.dtype, optional
        Run under ``torch.autocast`` with this dtype.
    progress : bool, default=False
        Show a tqdm bar.
    desc : str
        The bar's label.

    Yields
    ------
    index : ndarray of int
        Positions in ``sequences`` of this batch's rows.
    output : ndarray or tuple of ndarray
        ``forward``'s result for these rows, on the host (float32 and float64 kept, lower precisions as float32).
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=desc, leave=False)
    autocast = (contextlib.nullcontext() if autocast_dtype is None
                else torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype))
    was_training = module.training
    module.eval()
    padding = "max_length" if pad_to_max_length else "longest"
    try:
        with torch.inference_mode(), autocast:
            for index in batches:
                batch = tokenize_numbered(tokenizer, [sequences[i] for i in index], index, max_length=max_length,
                                          padding=padding)
                ids = torch.from_numpy(batch.input_ids).to(device, non_blocking=True)
                mask = torch.from_numpy(batch.attention_mask).to(device, non_blocking=True)
                output = forward(ids, mask)
                yield index, (tuple(map(_to_host, output)) if isinstance(output, tuple) else _to_host(output))
    finally:
        module.train(was_training)


def tokenize_numbered(tokenizer, texts, owners, *, max_length, padding, noun="Sequence"):
    """``tokenizer(texts)``, cut to ``max_length`` tokens; an error names the text by its place in the input,
    ``owners[i]`` for ``texts[i]``, and calls it ``noun`` (``"Prompt 3"`` rather than ``"Sequence 3"``)."""
    try:
        return tokenizer(texts, max_length=max_length, truncation=max_length is not None, padding=padding)
    except (TypeError, ValueError) as err:
        message = re.sub(r"^Sequence (\d+)", lambda m: f"{noun} {owners[int(m[1])]}", str(err))
        raise type(err)(message) from None


def next_token_log_probs(logits, ids):
    """``log p(x_t | x_<t)`` in float64, (b, width - 1), of the tokens ``ids[:, 1:]`` given ``logits`` of
    ``ids[:, :-1]``."""
    log_p = torch.log_softmax(logits.float(), dim=-1)
    return log_p.gather(-1, ids[:, 1:, None])[..., 0].double()


def log_likelihood(logits, ids, mask):
    """Sum of ``log p(x_t | x_<t)`` over the real tokens but the first, float64 (b,), for right-padded ``ids`` and
    ``mask`` (b, width) and the ``logits`` of ``ids[:, :-1]``."""
    return (next_token_log_probs(logits, ids) * mask[:, 1:]).sum(1)


def _to_host(tensor):
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()
    return tensor.cpu().numpy()
