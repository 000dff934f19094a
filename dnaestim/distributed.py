"""Process-group set-up for runs under ``torchrun`` (one process per GPU, or several CPU processes with gloo).

``torchrun --nproc_per_node=N -m dnaestim pretrain ...`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`init_from_environment` turns them into an initialised process group (NCCL when CUDA is available, gloo
otherwise) and the device this process should use. Without those variables everything runs in one process.
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["barrier", "distributed_session", "init_from_environment", "rank_and_world"]


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_from_environment(device: str = "auto"):
    """Initialise the process group from torchrun's environment variables, if present.

    Parameters
    ----------
    device : str, default="auto"
        ``"auto"``: this rank's GPU (``cuda:LOCAL_RANK``) when CUDA is available, else the CPU.

    Returns
    -------
    str
        The device this process should use.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"This process has LOCAL_RANK={local_rank} but the machine has only {torch.cuda.device_count()} CUDA "
                "device(s). Start at most that many processes per node (torchrun --nproc_per_node), or pass "
                "--device cpu to run every process on the CPU (gloo)."
            )
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device


def barrier():
    """Wait for every rank (no-op in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


@contextlib.contextmanager
def distributed_session(device: str = "auto"):
    """Initialise the process group on entry (when under torchrun) and destroy it on exit.

    Parameters
    ----------
    device : str, default="auto"
        See :func:`init_from_environment`.

    Yields
    ------
    str
        The device this process should use.
    """
    device = init_from_environment(device)
    try:
        yield device
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
