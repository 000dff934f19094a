"""Keep freed CPU memory in the process for reuse: twice the training speed on long windows on Linux.

glibc's ``malloc`` hands every block above its mmap threshold (32 MiB at most, e.g. a (1, 32768, 256) float32
tensor) straight to the operating system when it is freed. The next tensor of that size is then faulted in again
one 4 KiB page at a time, and on the CPU that costs about as much as the arithmetic that fills it: a training step
of the small-32k shape on 32,768 tokens allocates and frees hundreds of such tensors and spends more than half its
time in page faults. :func:`retain_freed_memory` raises glibc's mmap and trim thresholds so that such blocks come
from the heap and stay there once freed, ready for the next step (measured: 1,800 -> 3,500 tokens/s for that
shape on 2 cores; no change for the tiny-1k shape, whose tensors stay below the threshold).

The setting is process-wide and lasts for the life of the process: the process keeps the memory of its largest
step instead of returning it to the system between steps. That is why importing dnaestim never changes it;
``python -m dnaestim pretrain`` does (the process is dnaestim's own), and in your own programs you call
:func:`retain_freed_memory` once, or start Python with ``MALLOC_MMAP_THRESHOLD_=2147483647`` in the environment,
which has the same effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

__all__ = ["retain_freed_memory"]

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_LARGEST = 2**31 - 1  # mallopt takes an int: blocks up to 2 GiB come from the heap and stay there


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library when it is glibc (the only one whose mallopt this module knows), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


def retain_freed_memory() -> bool:
    """Keep large freed blocks in the process (glibc ``malloc``) instead of returning them to the system.

    Process-wide and permanent (see the module docstring for why and when). Safe to call more than once. Makes
    CPU training on long windows (tens of thousands of tokens per sequence) about twice as fast; GPU memory is
    not affected.

    Returns
    -------
    bool
        True when the setting is in effect; False where the C library is not glibc (macOS, Windows, musl) or
        refused it, and nothing changed.

    Examples
    --------
    >>> import dnaestim
    >>> dnaestim.retain_freed_memory()  # doctest: +SKIP
    True
    """
    libc = _glibc()
    if libc is None:
        logger.info("retain_freed_memory: the C library is not glibc; nothing changed.")
        return False
    if not libc.mallopt(_M_MMAP_THRESHOLD, _LARGEST):
        logger.info("retain_freed_memory: glibc refused the mmap threshold; nothing changed.")
        return False
    libc.mallopt(_M_TRIM_THRESHOLD, _LARGEST)  # no range to refuse
    return True
