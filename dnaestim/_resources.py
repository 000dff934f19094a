"""Resource failures turned into advice: an out-of-memory error says which settings to lower."""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["advises_on_out_of_memory", "out_of_memory_advice"]


@contextlib.contextmanager
def out_of_memory_advice(owner, action: str):
    """Re-raise a device out-of-memory error inside the block with the estimator's settings that would help.

    Parameters
    ----------
    owner : estimator
        Its ``batch_size``, ``max_length_``/``max_length``, ``chunk_size`` and ``device_`` are quoted.
    action : str
        What was running (``"training"``, ``"inference"``), for the message.

    Raises
    ------
    torch.OutOfMemoryError
        With the advice, chained to the original error.
    """
    try:
        yield
    except torch.OutOfMemoryError as err:
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
        raise torch.OutOfMemoryError(
            f"{type(owner).__name__} ran out of memory on {device} during {action} ({', '.join(settings)}). "
            f"Try {', '.join(advice[:-1])} or {advice[-1]}."
        ) from err


def advises_on_out_of_memory(action: str):
    """Method decorator: run the method inside :func:`out_of_memory_advice` for its estimator."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with out_of_memory_advice(self, action):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate
