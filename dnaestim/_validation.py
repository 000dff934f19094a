"""Input validation shared by every estimator: sequences, devices, precision."""

from __future__ import annotations

import numbers
import os
import sys
import warnings

import numpy as np

__all__ = ["check_sequences", "resolve_device", "resolve_precision", "user_stacklevel"]


def check_chunk_size(value):
    """``value`` (an int >= 1 as int), or ValueError unless it is a valid ``chunk_size``: that, "auto" or None."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"chunk_size must be an int >= 1, 'auto' or None; got {value!r}.")
    return int(value)


def check_int(value, name, minimum=1, allow_none=False):
    """``value`` as an int, or ValueError naming ``name`` unless it is an int (not a bool) >= ``minimum`` (or None
    when ``allow_none``; None is returned as is)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' or None' if allow_none else ''}; got {value!r}.")
    return int(value)


def check_sequences(X, *, name: str = "X") -> np.ndarray:
    """Validate DNA sequences given in any common container and return them as a 1-D object array of str.

    Accepts a list or tuple of str, a 1-D numpy array, a ``pandas.Series`` or a one-column ``DataFrame``.
    Whitespace at either end of a sequence (a newline or space carried over from a file) is removed; other
    characters are checked later, by the tokenizer, which names the sequence, position and character.

    Parameters
    ----------
    X : list, tuple, ndarray, pandas.Series or one-column pandas.DataFrame
        The sequences.
    name : str, default="X"
        Name of the argument, used in error messages.

    Returns
    -------
    ndarray of shape (n_samples,), dtype object
        The sequences, as Python ``str``.

    Raises
    ------
    TypeError
        If ``X`` is a single string, or an element is not a string (``None``, NaN, a number, bytes).
    ValueError
        If ``X`` is not one-dimensional, is empty, or holds an empty sequence.
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} must be a collection of sequences, not a single {type(X).__name__}; wrap it in a list: [{name}]."
        )
    frame_columns = getattr(X, "columns", None)
    if frame_columns is not None:  # pandas DataFrame
        if len(frame_columns) != 1:
            raise ValueError(
                f"{name} is a DataFrame with {len(frame_columns)} columns ({', '.join(map(str, frame_columns[:5]))}); "
                "pass the one column that holds the sequences, e.g. df['sequence']."
            )
        X = X.iloc[:, 0]
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas Series / Index
        X = X.to_numpy(dtype=object)
    if isinstance(X, np.ndarray):
        array = X
    elif hasattr(X, "__iter__"):
        items = list(X)
        if any(isinstance(s, (list, tuple, np.ndarray)) for s in items):
            raise ValueError(f"{name} must be one-dimensional (one sequence per sample); it holds nested sequences.")
        array = np.empty(len(items), dtype=object)
        array[:] = items
    else:
        raise TypeError(f"{name} must be a list, array or pandas Series of DNA strings; got {type(X).__name__}.")
    if array.ndim == 2 and array.shape[1] == 1:
        raise ValueError(
            f"{name} has shape {array.shape}; pass a 1-D array of sequences (e.g. {name}.ravel())."
        )
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one sequence per sample); got shape {array.shape}.")
    if array.shape[0] == 0:
        raise ValueError(f"{name} holds no sequences.")
    out = np.empty(array.shape[0], dtype=object)
    for i, seq in enumerate(array):
        if isinstance(seq, str):  # np.str_ too: a subclass of str
            out[i] = seq
        elif isinstance(seq, (bytes, bytearray)):
            raise TypeError(f"{name}[{i}] is bytes; decode it first (e.g. seq.decode('ascii')).")
        elif seq is None or (isinstance(seq, float) and np.isnan(seq)):
            raise TypeError(f"{name}[{i}] is missing ({seq!r}); drop or fill missing sequences first.")
        else:
            raise TypeError(f"{name}[{i}] is a {type(seq).__name__} ({seq!r:.40}), not a DNA string.")
        if out[i][-1:].isspace() or out[i][:1].isspace():
            out[i] = out[i].strip()  # a newline or space carried over from a file
        if not out[i]:
            raise ValueError(f"{name}[{i}] is an empty sequence; remove it or give it at least one nucleotide.")
    return out


def resolve_device(device):
    """Turn an estimator's ``device`` parameter into a ``torch.device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device
        ``"auto"`` picks CUDA when available, else the CPU.

    Returns
    -------
    torch.device
    """
    import torch

    if isinstance(device, torch.device):
        candidate = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            candidate = torch.device(device)
        except RuntimeError:
            raise ValueError(
                f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
            ) from None
    else:
        raise TypeError(f"device must be a str or torch.device; got {type(device).__name__}.")
    if candidate.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available here; use device='auto' or 'cpu'.")
        if candidate.index is not None and candidate.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist.")
    elif candidate.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r} but MPS is not available here; use device='auto' or 'cpu'.")
    elif candidate.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return candidate


PRECISIONS = ("auto", "32", "bf16", "16", "64")


def resolve_precision(precision, device, *, inference=False):
    """Turn an estimator's ``precision`` parameter into (parameter dtype, autocast dtype or None).

    Parameters
    ----------
    precision : {"auto", "32", "bf16", "16", "64"}
        ``"auto"``: bf16 autocast on CUDA devices that support it, fp16 autocast on other CUDA devices; on CPUs
        with bfloat16 units (AVX512_BF16 or AMX; :func:`cpu_has_bf16`) bf16 autocast for training and float32
        for inference; float32 elsewhere. ``"bf16"``/``"16"``: mixed precision (weights in float32, the long
        convolution always in float32). ``"64"``: everything in float64 (slow; for checks).
    device : torch.device
        Where the model runs.
    inference : bool, default=False
        The autocast of predictions rather than of training (they differ only for ``"auto"`` on the CPU).

    Returns
    -------
    tuple of (torch.dtype, torch.dtype or None)
    """
    import torch

    if isinstance(precision, numbers.Integral) and not isinstance(precision, bool):
        precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float32, (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        # Measured on a CPU with bfloat16 units (docs, performance guide): training 1.6-1.9 times faster at the
        # same held-out loss; inference of the bundled model 0.8-1.4 times, with variant scores 0.02 nats off.
        if device.type == "cpu" and not inference and cpu_has_bf16():
            return torch.float32, torch.bfloat16
        return torch.float32, None
    if precision == "64":
        return torch.float64, None
    if precision == "32":
        return torch.float32, None
    if precision == "16" and device.type == "cpu":
        warnings.warn("precision='16' on the CPU is slow and imprecise; consider '32' or 'bf16'.",
                      stacklevel=user_stacklevel())
    return torch.float32, (torch.bfloat16 if precision == "bf16" else torch.float16)


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 units (AVX512_BF16 or AMX), where ``precision="auto"`` picks bf16.

    Returns
    -------
    bool
    """
    from .nn._fast.onednn import cpu_has_bf16 as detect

    return detect()


def _library_directories() -> tuple:
    """Directories whose frames a warning skips: dnaestim's and those of the libraries that call into it."""
    directories = [os.path.dirname(os.path.abspath(__file__))]
    for name in ("sklearn", "joblib"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            directories.append(os.path.dirname(os.path.abspath(module.__file__)))
    return tuple(d + os.sep for d in directories)


def user_stacklevel() -> int:
    """``stacklevel`` that makes a warning point at the user's line.

    For ``warnings.warn(..., stacklevel=user_stacklevel())``: counts the frames from the caller up to the first
    one outside dnaestim, scikit-learn and joblib (so a warning raised in ``fit`` called by ``cross_val_score``
    names the line that called ``cross_val_score``).

    Returns
    -------
    int
    """
    skipped = _library_directories()
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(skipped):
        frame = frame.f_back
        level += 1
    return level

