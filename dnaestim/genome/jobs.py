"""Genome-wide jobs that outgrow one process: embed or score every window of a genome.

The genome is tiled into windows (``window`` long, every ``stride`` bases, never crossing a record end); under
``torchrun`` each rank takes every ``world_size``-th window, writes its own shard, and rank 0 merges the shards in
window order into one ``.npz`` file (written atomically), so the result is the same for any number of processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .._inference import predict_batches
from ..checkpoints import load_pretrained
from ..distributed import barrier, rank_and_world
from .source import GenomeSource, Region
from ..nn.heads import pool
from ..scoring import token_log_probs
from ..tokenizer import GENOME_WINDOWS

__all__ = ["JOBS", "run_genome_job", "tile_genome"]

JOBS = ("embed", "score")


def tile_genome(source: GenomeSource, window: int, stride: int) -> list[Region]:
    """Windows of ``window`` bases every ``stride`` bases over every region (the last window of a region may be
    shorter)."""
    tiles = []
    for region in source.train_regions:
        for start in range(region.start, region.end, stride):
            tiles.append(region.part(start, min(start + window, region.end)))
            if start + window >= region.end:
                break
    return tiles


def _embed(model, sequences, batch_size, device):
    out = np.empty((len(sequences), model.config.d_model), dtype=np.float32)
    forward = lambda ids, mask: pool(model.backbone(ids), mask, "mean")  # noqa: E731
    for index, pooled in predict_batches(model, sequences, forward, tokenizer=GENOME_WINDOWS, batch_size=batch_size,
                                         device=device):
        out[index] = pooled
    return out


def run_genome_job(job, checkpoint, fasta, output, *, window=1024, stride=None, intervals=None, batch_size=16,
                   device="cpu"):
    """Embed (mean-pooled hidden states) or score (log-likelihood) every window of a genome.

    Parameters
    ----------
    job : {"embed", "score"}
    checkpoint : str or path-like
        Model directory (either published layout).
    fasta : str, path-like or list of them
        Genome FASTA file(s).
    output : str or path-like
        ``.npz`` written by rank 0 with ``record``, ``start``, ``end`` and either ``embedding`` (n, d_model)
        or ``log_likelihood`` (nats, every nucleotide of the window but the first) and ``n_scored``.
    window, stride : int
        Window length (at most the model's ``l_max``) and step; ``stride`` defaults to ``window``.
    intervals : list or BED path, optional
        Only these intervals.
    batch_size : int, default=16
        Windows per forward pass.
    device : str, default="cpu"
        Where the model runs.

    Returns
    -------
    pathlib.Path or None
        ``output`` on rank 0, None on the other ranks.
    """
    if job not in JOBS:
        raise ValueError(f"job must be one of {JOBS}; got {job!r}.")
    model = load_pretrained(checkpoint, device=device)
    limit = model.config.l_max + (1 if job == "score" else 0)
    if not 2 <= window <= limit:
        raise ValueError(f"window={window} must be between 2 and {limit} for this model (l_max={model.config.l_max}).")
    stride = window if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1; got {stride}.")
    source = GenomeSource(fasta=fasta, intervals=intervals, validation_fraction=0)
    tiles = tile_genome(source, window, stride)
    rank, world = rank_and_world()
    mine = np.arange(rank, len(tiles), world)
    sequences = source.read([tiles[i] for i in mine])
    if job == "embed":
        values = {"embedding": _embed(model, sequences, batch_size, device)}
    else:
        scores = token_log_probs(model, sequences, batch_size=batch_size, tokenizer=GENOME_WINDOWS)
        values = {"log_likelihood": np.array([s.sum() for s in scores]),
                  "n_scored": np.array([len(s) for s in scores])}
    output = Path(output)
    shard = output.with_name(f"{output.name}.rank{rank}-of-{world}.npz")
    with atomic_write(shard) as fh:
        np.savez(fh, index=mine, **values)
    barrier()
    if rank != 0:
        return None
    shards = [output.with_name(f"{output.name}.rank{r}-of-{world}.npz") for r in range(world)]
    merged = {}
    for path in shards:
        with np.load(path) as data:
            for key in values:
                if key not in merged:
                    merged[key] = np.empty((len(tiles),) + data[key].shape[1:], dtype=data[key].dtype)
                merged[key][data["index"]] = data[key]
    with atomic_write(output) as fh:
        np.savez(fh, record=np.array([t.record for t in tiles]), start=np.array([t.start for t in tiles]),
                 end=np.array([t.end for t in tiles]), **merged)
    for path in shards:
        path.unlink()
    return output
