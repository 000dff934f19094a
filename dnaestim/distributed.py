"""Process-group set-up for runs under ``torchrun`` (one process per GPU, or several CPU processes with gloo).

``torchrun --nproc_per_node=N -m dnaestim pretrain ...`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`init_from_environment` turns them into an initialised process group (NCCL when CUDA is available, gloo
otherwise) and the device this process should use. Without those variables everything runs in one process.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import torch

from .training import TimeBudget

if torch.distributed.is_available():
    # torch.distributed.nn binds ``group=group.WORLD`` as default arguments when it is first imported, and torch
    # imports it lazily (building an optimiser does). Imported after init_process_group, those defaults keep the
    # process group alive past destroy_process_group; gloo's worker threads then outlive it and can abort the
    # process ("terminate called without an active exception") while the interpreter shuts down. Imported now,
    # before any group exists, they hold None.
    import torch.distributed.nn  # noqa: F401

__all__ = ["Shard", "SynchronizedTimeBudget", "all_reduce_gradients", "barrier", "distributed_session",
           "init_from_environment", "rank_and_world"]


def _in_process_group() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def gather_generator_states(device) -> list:
    """Every process's torch generator states, ``(cpu, cuda or None)`` per rank (on every rank; each process must
    call). Dropout draws from them: the CPU generator, or ``device``'s on a GPU."""
    device = torch.device(device)
    mine = (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
    if not _in_process_group():
        return [mine]
    states = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(states, mine)
    return states


def restore_generator_states(cpu_states, cuda_states, rank, device):
    """Set this process's generators from states saved one per rank (:func:`gather_generator_states`).

    On as many processes as the run that saved them, each rank continues its own stream exactly; on another
    number of processes rank 0's stream is shared (the run goes on, not bitwise as before).
    """
    torch.set_rng_state(cpu_states[rank] if rank < len(cpu_states) else cpu_states[0])
    device = torch.device(device)
    if device.type == "cuda" and cuda_states and cuda_states[0] is not None:
        torch.cuda.set_rng_state(cuda_states[rank] if rank < len(cuda_states) else cuda_states[0], device)


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if _in_process_group():
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
    if _in_process_group():
        torch.distributed.barrier()


def all_reduce_gradients(parameters):
    """Sum the gradients of ``parameters`` over every rank, in one collective per dtype (no-op in one process).

    A parameter without a gradient takes part with zeros, so every rank sends the same layout.

    Parameters
    ----------
    parameters : iterable of torch.nn.Parameter
        The same parameters, in the same order, on every rank.
    """
    if not _in_process_group():
        return
    groups = {}
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        groups.setdefault((parameter.grad.dtype, parameter.grad.device), []).append(parameter.grad)
    for grads in groups.values():
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        torch.distributed.all_reduce(flat)
        for grad, reduced in zip(grads, flat.split([grad.numel() for grad in grads])):
            grad.copy_(reduced.view_as(grad))


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
        # A rank that tears the group down while another still runs a collective or writes aborts (gloo terminates
        # the process): leave together. After an error (raised at the yield) the others may never arrive.
        barrier()
    finally:
        if _in_process_group():
            torch.distributed.destroy_process_group()


class Shard:
    """The rows of a data set that this process holds, and the collectives that combine all processes' rows.

    Global row ``i`` lives on rank ``i % world``. In one process (``world=1``) every row is here and every
    collective is the identity, so single-process fitting runs the very same code as a torchrun job.

    Parameters
    ----------
    n_total : int
        Rows in the whole data set.
    rank, world : int, optional
        This process and the number of processes; from the process group when not given.
    device : torch.device or str, default="cpu"
        Where reduction tensors live (the process's GPU under NCCL).
    """

    def __init__(self, n_total, rank=None, world=None, device="cpu"):
        if rank is None or world is None:
            rank, world = rank_and_world()
        self.n_total, self.rank, self.world = int(n_total), int(rank), int(world)
        self.device = torch.device(device)

    def local(self, global_index):
        """Which of ``global_index`` are here: a boolean mask over it, and their positions in this shard."""
        global_index = np.asarray(global_index, dtype=np.int64)
        mine = global_index % self.world == self.rank
        return mine, (global_index[mine] - self.rank) // self.world

    def sum(self, values):
        """``values`` (a float array) summed over every process; the same result on every rank."""
        values = np.asarray(values, dtype=np.float64)
        if self.world == 1:
            return values
        tensor = torch.as_tensor(values, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.cpu().numpy()

    def max(self, value):
        """The largest ``value`` of every process."""
        if self.world == 1:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return type(value)(tensor.item())

    def broadcast_seed(self, seed):
        """Rank 0's ``seed`` on every process."""
        if self.world == 1:
            return seed
        return int(self.sum([float(seed) if self.rank == 0 else 0.0])[0])

    def gather(self, global_index, local_values):
        """Rows of every process for ``global_index``, in its order: ``local_values`` holds this process's rows
        (those ``local(global_index)`` marks, in that order)."""
        if self.world == 1:
            return np.asarray(local_values)
        local_values = np.asarray(local_values)
        mine, _ = self.local(global_index)
        parts = [None] * self.world
        torch.distributed.all_gather_object(parts, (np.flatnonzero(mine), local_values))
        out = np.empty((len(global_index),) + local_values.shape[1:], dtype=local_values.dtype)
        for positions, values in parts:
            out[positions] = values
        return out

    def union(self, values):
        """The sorted distinct values of every process (class labels seen anywhere)."""
        values = np.unique(np.asarray(values))
        if self.world == 1:
            return values
        parts = [None] * self.world
        torch.distributed.all_gather_object(parts, values)
        return np.unique(np.concatenate(parts))


class SynchronizedTimeBudget(TimeBudget):
    """A :class:`~dnaestim.training.TimeBudget` read from rank 0's clock, so every rank agrees on the learning
    rate and on when time is up (each reading is one broadcast; every rank reads it at the same points).

    Parameters
    ----------
    seconds : float or None
        The budget; None for none.
    device : torch.device or str, default="cpu"
        Where the broadcast tensor lives.
    used : float, default=0.0
        Seconds spent before (by the run a resumed training continues).
    schedule_start : float, optional
        Where that run's training began (see :meth:`~dnaestim.training.TimeBudget.schedule_fraction`).
    """

    def __init__(self, seconds, device="cpu", used=0.0, schedule_start=None):
        super().__init__(seconds, used=used, schedule_start=schedule_start)
        self.device = torch.device(device)

    def elapsed(self):
        """Seconds since rank 0 started."""
        value = torch.tensor([time.monotonic() - self.start], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(value, src=0)
        return float(value.item())

