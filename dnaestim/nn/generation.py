"""Sampling DNA from the language model, one token at a time, without recomputing the prefix.

A Hyena block is position-wise except for two convolutions: the short filter reads the two positions before each
token and the long filter reads all of them. So a new token needs, per layer, only the last two ``in_proj``
outputs and the history of the long convolution's input ``u = x1 * v``; its output is then
``y_t = sum_{s <= t} k[s] u[t - s] + bias * u[t]``, a dot product over the history (O(t D) per layer) instead of
a forward pass over the whole sequence (O(t log t D) FFTs plus every dense layer at every position). The prompt
runs once through the model's own functions (:func:`~dnaestim.nn.hyena.short_causal_conv` and
:func:`~dnaestim.nn.hyena.long_causal_conv`) to fill the caches.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_int
from ..tokenizer import VOCAB
from .hyena import long_causal_conv, short_causal_conv

__all__ = ["generate"]

#: Token ids of the bases that are sampled (N and special tokens never are).
BASE_IDS = tuple(VOCAB[base] for base in "ACGT")


class _LayerCache:
    """What one block needs from the past: its last two ``in_proj`` outputs, the history of ``u`` and the taps."""

    def __init__(self, block, hidden, residual, capacity):
        mixer = block.mixer
        residual = block._residual(hidden if residual is None else hidden + residual)
        z = mixer.in_proj(block.norm1(residual.to(block.norm1.weight.dtype)))  # (B, L, 3D)
        x0, x1, v = short_causal_conv(z, mixer.short_filter).split(mixer.d_model, dim=-1)
        u = x1 * v
        batch, length, width = u.shape
        dtype = torch.float64 if u.dtype == torch.float64 else torch.float32  # the long convolution's precision
        taps = mixer.filter_fn.filter(capacity).to(dtype)  # (capacity, D); the first L of them are filter(L)
        # Channels first, so that the step's convolution is one batched product over channels without copies:
        # history (D, B, capacity) times the reversed taps (D, capacity, 1).
        self.reversed_taps = taps.flip(0).T.contiguous()[..., None]
        self.history = u.new_zeros(width, batch, capacity, dtype=dtype)
        self.history[:, :, :length] = u.permute(2, 0, 1)
        self.z_tail = F.pad(z, (0, 0, 2, 0))[:, -2:]  # (B, 2, 3D); zeros before the first token, as the filter pads
        self.length = length
        y = long_causal_conv(u, taps[:length], mixer.filter_fn.bias)
        residual = block._residual(mixer.out_proj((y * x0).to(u.dtype)) + residual)
        self.output = block.mlp(block.norm2(residual.to(block.norm2.weight.dtype))), residual

    def step(self, block, hidden, residual):
        """The block on one new position: ``hidden`` (B, 1, D) and ``residual`` (B, 1, D, or None before the first
        block) -> the next (B, 1, D) pair."""
        mixer = block.mixer
        residual = block._residual(hidden if residual is None else hidden + residual)
        z = mixer.in_proj(block.norm1(residual.to(block.norm1.weight.dtype)))  # (B, 1, 3D)
        window = torch.cat([self.z_tail, z], dim=1)  # (B, 3, 3D): t-2, t-1, t
        weight = mixer.short_filter.weight[:, 0, :].T.to(z.dtype)  # (3, 3D), the same taps order
        filtered = (window * weight).sum(1, keepdim=True) + mixer.short_filter.bias.to(z.dtype)
        self.z_tail = window[:, 1:]
        x0, x1, v = filtered.split(mixer.d_model, dim=-1)
        u = (x1 * v)[:, 0].to(self.history.dtype)  # (B, D)
        t = self.length
        self.history[:, :, t] = u.T
        self.length += 1
        taps = self.reversed_taps[:, self.reversed_taps.shape[1] - 1 - t:]  # k[t], ..., k[0]: position s meets k[t-s]
        y = torch.bmm(self.history[:, :, :t + 1], taps)[..., 0].T + u * mixer.filter_fn.bias.to(u.dtype)  # (B, D)
        residual = block._residual(mixer.out_proj((y[:, None] * x0).to(z.dtype)) + residual)
        return block.mlp(block.norm2(residual.to(block.norm2.weight.dtype))), residual


def _check_sampling(max_new_tokens, temperature, top_k, top_p):
    check_int(max_new_tokens, "max_new_tokens", minimum=0)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0 (0: greedy); got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError(f"top_k must be None or an int >= 1; got {top_k!r}.")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1]; got {top_p!r}.")


def _next_tokens(logits, temperature, top_k, top_p, generator):
    """Sample one base per row from (B, 4) logits over ACGT; indices into ``BASE_IDS``."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the smallest prefix reaching top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probabilities = logits.softmax(-1)
    return torch.multinomial(probabilities.cpu(), 1, generator=generator)[:, 0].to(logits.device)


@torch.no_grad()
def generate(model, prompts, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, random_state=None,
             tokenizer=None):
    """Continue DNA prompts with the language model, sampling over A, C, G and T.

    Parameters
    ----------
    model : HyenaLM
        The language model (run in eval mode; its training mode is restored afterwards).
    prompts : str or list of str
        Non-empty prompts. Prompts of equal length are continued together in one batch.
    max_new_tokens : int
        Nucleotides to add to each prompt; prompt plus new tokens must fit in the model's ``l_max``.
    temperature : float, default=1.0
        Softmax temperature; 0 picks the most likely base at every step (greedy, deterministic).
    top_k : int, optional
        Sample among the ``top_k`` most likely bases only.
    top_p : float, optional
        Sample among the most likely bases whose probabilities add up to ``top_p`` (nucleus sampling).
    random_state : int, numpy.random.Generator, RandomState or None, default=None
        Seeds the sampling: the same seed gives the same sequences.
    tokenizer : DNATokenizer, optional
        Reads the prompts (default: A, C, G, T and N, any case; other characters raise an error naming them).

    Returns
    -------
    str or list of str
        Each prompt as the model read it (uppercase; unknown characters as N where the tokenizer reads them so)
        followed by its ``max_new_tokens`` new bases; a str for a str prompt.

    Examples
    --------
    >>> from dnaestim.nn import HyenaConfig, HyenaLM
    >>> model = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))
    >>> out = generate(model, ["ACGTACGT", "TTGA"], 12, random_state=0)
    >>> [len(s) for s in out], set(out[0][8:]) <= set("ACGT")
    ([20, 16], True)
    """
    from .._inference import tokenize_numbered
    from ..tokenizer import RIGHT_PADDED

    _check_sampling(max_new_tokens, temperature, top_k, top_p)
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"Prompt {i} must be a non-empty str of nucleotides; got {prompt!r}.")
    tokenizer = tokenizer or RIGHT_PADDED
    encoded = []
    if prompts:  # an error names the prompt, position and character
        batch = tokenize_numbered(tokenizer, prompts, range(len(prompts)), max_length=None, padding=True,
                                  noun="Prompt")
        encoded = [ids[keep] for ids, keep in zip(batch.input_ids, batch.attention_mask)]
    for i, ids in enumerate(encoded):
        if len(ids) + max_new_tokens > model.config.l_max:
            raise ValueError(
                f"Prompt {i} ({len(ids)} tokens) plus max_new_tokens={max_new_tokens} is longer than the model's "
                f"l_max={model.config.l_max}; shorten the prompt (its end is what matters most) or generate less."
            )
    generator = torch.Generator().manual_seed(_seed(random_state))
    out = [None] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        by_length = {}
        for i, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(i)
        for rows in by_length.values():
            ids = torch.as_tensor(np.stack([encoded[i] for i in rows]))
            new = _continue(model, ids, max_new_tokens, temperature, top_k, top_p, generator)
            for row, i in enumerate(rows):
                out[i] = tokenizer.decode(ids[row].tolist()) + "".join("ACGT"[j] for j in new[row].tolist())
    finally:
        model.train(was_training)
    return out[0] if single else out


def _seed(random_state) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63 - 1))
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(2**31 - 1))


def _continue(model, ids, max_new_tokens, temperature, top_k, top_p, generator):
    """``max_new_tokens`` sampled bases (indices into ACGT) after the prompts ``ids`` (B, L), as (B, n)."""
    device = next(model.parameters()).device
    ids = ids.to(device)
    capacity = ids.shape[1] + max_new_tokens
    backbone = model.backbone
    head = model.output_weight[list(BASE_IDS)]  # (4, D): logits over ACGT only
    hidden, residual = backbone.embeddings(ids), None
    caches = []
    for block in backbone.layers:
        cache = _LayerCache(block, hidden, residual, capacity)
        caches.append(cache)
        hidden, residual = cache.output
    hidden, residual = hidden[:, -1:], residual[:, -1:]
    new = torch.empty(ids.shape[0], max_new_tokens, dtype=torch.long, device=device)
    for step in range(max_new_tokens):
        last = backbone.ln_f((hidden + residual).to(backbone.ln_f.weight.dtype))[:, 0]  # (B, D)
        new[:, step] = _next_tokens(last @ head.T.to(last.dtype), temperature, top_k, top_p, generator)
        if step + 1 == max_new_tokens:
            break
        hidden, residual = backbone.embeddings(torch.as_tensor(BASE_IDS, device=device)[new[:, step:step + 1]]), None
        for block, cache in zip(backbone.layers, caches):
            hidden, residual = cache.step(block, hidden, residual)
    return new
