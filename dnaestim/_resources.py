"""Resource failures turned into advice: an out-of-memory error says which settings to lower."""

from __future__ import annotations

import functools

import torch

__all__ = ["advises_on_out_of_memory"]


def advises_on_out_of_memory(action: str):
    """Method decorator: re-raise a device out-of-memory error with the estimator's settings that would help.

    Parameters
    ----------
    action : str
        What the method runs (``"training"``, ``"inference"``), for the message. The estimator's ``batch_size``,
        ``max_length_``/``max_length``, ``chunk_size`` and ``device_`` are quoted.

    Raises
    ------
    torch.OutOfMemoryError
        With the advice, chained to the original error.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except torch.OutOfMemoryError as err:
                raise _advice(self, action) from err

        return wrapper

    return decorate


def _advice(owner, action: str) -> torch.OutOfMemoryError:
    device = getattr(owner, "device_", "the device")
    settings = [f"batch_size={getattr(owner, 'batch_size', None)!r}"]
    length = getattr(owner, "max_length_", getattr(owner, "max_length", None))
    if length is not None:
        settings.append(f"max_length={length!r}")
    advice = ["a smaller batch_size", "a shorter max_length"]
    if action == "inference":
        settings.append(f"chunk_size={getattr(owner, 'chunk_size', 'auto')!r}")
        advice.append("an int chunk_size such as 4096 (chunked evaluation)")
    else:
        advice.append("gradient accumulation or activation checkpointing (HyenaPretrainer: gradient_checkpointing)")
    if getattr(owner, "precision", None) in ("32", "auto", None):
        advice.append("precision='bf16'")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return torch.OutOfMemoryError(
        f"{type(owner).__name__} ran out of memory on {device} during {action} ({', '.join(settings)}). "
        f"Try {', '.join(advice[:-1])} or {advice[-1]}."
    )
