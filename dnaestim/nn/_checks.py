"""Checks of the backbone's inputs: a clear error from dnaestim instead of one from deep inside torch."""

from __future__ import annotations

import torch

from .config import HyenaConfig

__all__ = ["check_input_ids", "check_inputs_embeds"]


def check_input_ids(input_ids, config: HyenaConfig):
    """``input_ids`` as a (B, L) int64 tensor of token ids that ``config``'s model accepts, or a clear error."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.LongTensor; got {type(input_ids).__name__}.")
    if input_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}.")
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (batch, length); got {tuple(input_ids.shape)}.")
    if input_ids.shape[1] > config.l_max:
        raise ValueError(
            f"Input of {input_ids.shape[1]} tokens is longer than this model's l_max={config.l_max}. "
            "Truncate or window the sequence, or use a checkpoint with a longer l_max."
        )
    # Range-checked on the CPU only: on an accelerator the check would stall the pipeline at every step (the
    # estimators check their sequences before any token reaches the device).
    if input_ids.device.type == "cpu" and input_ids.numel() and (
            int(input_ids.min()) < 0 or int(input_ids.max()) >= config.padded_vocab_size):
        bad = input_ids[(input_ids < 0) | (input_ids >= config.padded_vocab_size)][0]
        raise ValueError(f"Token id {int(bad)} is outside the vocabulary (0..{config.padded_vocab_size - 1}).")
    return input_ids.long()


def check_inputs_embeds(inputs_embeds, config: HyenaConfig):
    """``inputs_embeds`` if it is a (B, L, D) tensor with L at most ``l_max``, else a clear error."""
    h = inputs_embeds
    if h.ndim != 3 or h.shape[-1] != config.d_model:
        raise ValueError(f"inputs_embeds must have shape (B, L, {config.d_model}); got {tuple(h.shape)}.")
    if h.shape[1] > config.l_max:
        raise ValueError(f"Input of {h.shape[1]} tokens is longer than this model's l_max={config.l_max}.")
    return h
