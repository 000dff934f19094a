"""Preemption: a scheduler's stop signal ends training at a step boundary, with a checkpoint, and asks for a requeue.

Cluster schedulers stop jobs with SIGTERM (SLURM and Kubernetes, then SIGKILL after a grace period) or warn them
with SIGUSR1 ahead of the time limit (SLURM ``--signal``). Inside :func:`handle_preemption` such a signal only
sets a flag; the training loop of :class:`~dnaestim.HyenaPretrainer` reads it after every optimiser step (under
torchrun every rank takes part, so all ranks stop after the same step), writes a checkpoint and returns, and
``python -m dnaestim pretrain`` exits with :data:`REQUEUE_EXIT_CODE`. Rerunning the same command with
``--resume`` continues from that step exactly as if nothing had happened.
"""

from __future__ import annotations

import contextlib
import signal

__all__ = ["REQUEUE_EXIT_CODE", "SIGNALS", "handle_preemption", "ignore", "install", "received", "requested"]

#: Exit status of a preempted command (EX_TEMPFAIL, "temporary failure; try again"): requeue the job.
REQUEUE_EXIT_CODE = 75
#: Signals that request a stop at the next step boundary.
SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s is not None)

_state = {"installed": False, "received": None}


def _record(signum, frame):
    _state["received"] = signum


def install() -> dict:
    """From now on, SIGTERM and SIGUSR1 set a flag instead of ending the process (main thread only).

    For a process that is dnaestim's own (the command line, which calls :func:`ignore` once its work is done).

    Returns
    -------
    dict
        The previous handler of each signal.
    """
    previous = {sig: signal.signal(sig, _record) for sig in SIGNALS}
    _state.update(installed=True, received=None)
    return previous


def ignore():
    """Ignore SIGTERM and SIGUSR1 from now on: for a command whose work is done (written, or checkpointed for a
    requeue) and that only exits. Python's shutdown puts the default handlers back before the process ends, so a
    late signal would otherwise kill it and turn its exit status into a failure."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def handle_preemption():
    """Inside the block, SIGTERM and SIGUSR1 set a flag instead of ending the process (main thread only).

    Yields
    ------
    None
        The previous handlers come back when the block ends.
    """
    previous = install()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.update(installed=False, received=None)


def received():
    """The signal that requested a stop in this process, or None."""
    return _state["received"]


def requested(world: int = 1, device=None) -> bool:
    """Whether a stop was requested, in this process or (under torchrun) in any process.

    Under torchrun this is a collective, so every rank must call it at the same step. Always False outside
    :func:`handle_preemption`.

    Parameters
    ----------
    world : int, default=1
        Number of processes in the default process group.
    device : torch.device, optional
        Device of the collective's tensor (a CUDA device under NCCL).

    Returns
    -------
    bool
    """
    if not _state["installed"]:
        return False
    flag = _state["received"] is not None
    if world > 1:
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(flag)], device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        flag = bool(tensor.item())
    return flag
