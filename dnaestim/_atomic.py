"""Safe writes: a crash or an exception never leaves a half-written file in place of a good one (atomic_write),
and two processes never write into the same folder at once (exclusive_directory)."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import tempfile
from pathlib import Path

__all__ = ["LOCK_NAME", "DirectoryInUseError", "atomic_write", "exclusive_directory", "fsync_directory"]

#: Lock file that :func:`exclusive_directory` keeps in the folder while a process writes there.
LOCK_NAME = ".dnaestim.lock"


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
        os.chmod(tmp, _new_file_mode())  # mkstemp makes it private (0600); a written file is as open() makes it
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


def _new_file_mode() -> int:
    """The permissions ``open(path, "w")`` would give a new file: 0o666 less the process's umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


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


class DirectoryInUseError(RuntimeError):
    """Another live process holds the folder's lock (see :func:`exclusive_directory`)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        pass
    return True


@contextlib.contextmanager
def exclusive_directory(directory, purpose: str):
    """Hold ``directory`` for this process while the block runs: a second writer is refused, naming the first.

    A lock file (:data:`LOCK_NAME`) is created atomically (``O_EXCL``) with this process's host, pid, purpose and
    start time, and removed when the block ends. A lock left by a process that no longer runs on this host (a
    killed job being resumed) is taken over; one held by a live process, or by a process on another host that
    cannot be checked, raises :class:`DirectoryInUseError` naming it.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.
    purpose : str
        What the holder does there (shown to a refused writer).

    Yields
    ------
    pathlib.Path
        The directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock = directory / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": purpose,
          "since": datetime.datetime.now().isoformat(timespec="seconds")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}
            same_host = holder.get("host") == me["host"]
            if same_host and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()  # left by a process that is gone (killed): take it over
                continue
            who = (f"process {holder.get('pid')} on {holder.get('host')} ({holder.get('purpose', 'unknown')}, since "
                   f"{holder.get('since', '?')})") if holder else "another process"
            raise DirectoryInUseError(
                f"{directory} is in use by {who}. Two writers would overwrite each other's files: wait for it to "
                f"finish, or use another folder. If that process is gone (e.g. a job on another machine that was "
                f"killed), delete {lock} and retry."
            ) from None
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            break
    else:
        raise DirectoryInUseError(f"Could not take the lock {lock}: another process keeps taking it.")
    try:
        yield directory
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
