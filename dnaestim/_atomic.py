"""Atomic file writes: a crash or an exception never leaves a half-written file in place of a good one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_directory"]


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``; on success, flush, fsync and rename it over ``path``.

    Parameters
    ----------
    path : str or path-like
        Destination. Its directory must exist.
    mode : {"wb", "w"}
        Binary or text mode.

    Yields
    ------
    file object
        Write to it; the destination is replaced only if the ``with`` block exits without an exception.
    """
    path = Path(path)
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}.")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _write_error(path, err) from err
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not getattr(err, "_dnaestim_named", False):
            raise _write_error(path, err) from err
        raise
    fsync_directory(path.parent)


def _write_error(path: Path, err: OSError) -> OSError:
    """The same kind of OSError (errno kept: ENOSPC, EACCES, ...) naming the file, and saying that the previous
    version of it is untouched."""
    reason = err.strerror or str(err)
    error = OSError(err.errno, f"Could not write {path} ({reason}); the previous {path.name}, if there was one, "
                            "is unchanged. Free disk space or fix the permissions of its folder, then retry.")
    error._dnaestim_named = True  # an atomic write nested in another reports the innermost file only
    return error


def fsync_directory(directory):
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
