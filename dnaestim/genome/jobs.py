"""Genome-wide jobs that outgrow one process: embed or score every window of a genome.

The genome is tiled into windows (``window`` long, every ``stride`` bases, never crossing a record end); under
``torchrun`` each rank takes every ``world_size``-th window, writes its own shard, and rank 0 merges the shards in
window order into one ``.npz`` file (written atomically), so the result is the same for any number of processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .._inference import log_likelihood, predict_batches
from .._validation import check_chunk_size, resolve_device, resolve_precision
from ..checkpoints import load_pretrained
from ..distributed import barrier, rank_and_world
from ..estimators._base import _check_pooling
from .source import GenomeSource, Region
from ..nn.heads import pool
from ..tokenizer import GENOME_WINDOWS

__all__ = ["JOBS", "run_genome_job", "tile_genome"]

JOBS = ("embed", "score")


def tile_genome(source: GenomeSource, window: int, stride: int) -> list[Region]:
    """Tile every training region of ``source`` into windows of ``window`` bases every ``stride`` bases.

    The last window of a region may be shorter. A region on the ``-`` strand is tiled from its end, so that its
    windows, each read reverse-complemented, run 5' to 3' along that strand (the shorter window, if any, is then
    the one nearest the region's start).

    Parameters
    ----------
    source : GenomeSource
        Its training regions are tiled.
    window, stride : int
        Window length and step, in bases.

    Returns
    -------
    list of Region
        In region order, each window on its region's strand.
    """
    tiles = []
    for region in source.train_regions:
        for offset in range(0, region.length, stride):
            if region.strand == "-":
                tiles.append(region.part(max(region.start, region.end - offset - window), region.end - offset))
            else:
                tiles.append(region.part(region.start + offset, min(region.start + offset + window, region.end)))
            if offset + window >= region.length:
                break
    return tiles


def _embed(model, sequences, *, batch_size, device, pooling, chunk_size, autocast_dtype, progress):
    out = np.empty((len(sequences), model.config.d_model), dtype=np.float32)
    forward = lambda ids, mask: pool(model.backbone(ids, chunk_size=chunk_size), mask, pooling)  # noqa: E731
    for index, pooled in predict_batches(model, sequences, forward, tokenizer=GENOME_WINDOWS, batch_size=batch_size,
                                         device=device, autocast_dtype=autocast_dtype, progress=progress,
                                         desc="embed-genome"):
        out[index] = pooled
    return out


def _score(model, sequences, *, batch_size, device, chunk_size, autocast_dtype, progress):
    """Log-likelihood (nats) of every nucleotide but the first, summed per window, and the count of them (the
    computation of :func:`dnaestim.scoring.token_log_probs`, with precision and a progress bar)."""

    def forward(ids, mask):
        return log_likelihood(model(ids[:, :-1], chunk_size=chunk_size), ids, mask), (mask.sum(1) - 1).clamp(min=0)

    totals = np.empty(len(sequences), dtype=np.float64)
    n_scored = np.empty(len(sequences), dtype=np.int64)
    for index, (total, count) in predict_batches(model, sequences, forward, tokenizer=GENOME_WINDOWS,
                                                 batch_size=batch_size, device=device, autocast_dtype=autocast_dtype,
                                                 progress=progress, desc="score-genome"):
        totals[index], n_scored[index] = total, count
    return totals, n_scored


def run_genome_job(job, checkpoint, fasta, output, *, window=1024, stride=None, intervals=None, batch_size=16,
                   device="cpu", precision="32", chunk_size="auto", pooling="mean", progress=False):
    """Embed (pooled hidden states) or score (log-likelihood) every window of a genome.

    Parameters
    ----------
    job : {"embed", "score"}
        What to compute for each window.
    checkpoint : str or path-like
        Model directory (either published layout).
    fasta : str, path-like or list of them
        Genome FASTA file(s).
    output : str or path-like
        ``.npz`` written by rank 0 with ``record``, ``start``, ``end``, ``strand`` and either ``embedding``
        (n, d_model) or ``log_likelihood`` (nats, every nucleotide of the window but the first) and ``n_scored``.
    window, stride : int
        Window length (at most the model's ``l_max``) and step; ``stride`` defaults to ``window``.
    intervals : list or BED path, optional
        Only these intervals: ``(record, start, end[, strand])`` tuples or a BED file. An interval on the ``-``
        strand (BED column 6) is tiled from its end and each of its windows is read as the reverse complement
        (``strand`` ``"-"`` in the output; ``start`` and ``end`` stay forward-strand coordinates). ``+``, ``.``
        or no strand: as stored.
    batch_size : int, default=16
        Windows per forward pass.
    device : str, default="cpu"
        Where the model runs.
    precision : {"auto", "32", "bf16", "16", "64"}, default="32"
        As the estimators' ``precision`` for predictions: ``"auto"`` is mixed precision on CUDA and float32
        elsewhere, ``"64"``
        loads the weights in float64. Outputs are stored as float32 (embeddings) and float64 (log-likelihoods).
    chunk_size : int, "auto" or None, default="auto"
        Evaluate windows longer than this many tokens in chunks (bounded memory); None: one pass. See
        :meth:`dnaestim.nn.HyenaBackbone.forward`.
    pooling : {"mean", "last"}, default="mean"
        How ``embed`` pools a window's hidden states: their mean, or the last nucleotide's (the one that has
        seen the whole window). Ignored by ``score``.
    progress : bool, default=False
        Show a progress bar over batches on stderr (rank 0 only).

    Returns
    -------
    pathlib.Path or None
        ``output`` on rank 0, None on the other ranks.
    """
    if job not in JOBS:
        raise ValueError(f"job must be one of {JOBS}; got {job!r}.")
    _check_pooling(pooling)
    check_chunk_size(chunk_size)
    dtype, autocast_dtype = resolve_precision(precision, resolve_device(device), inference=True)
    model = load_pretrained(checkpoint, device=device, dtype=dtype)
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
    sequences = source.read([tiles[i] for i in mine], stranded=True)
    options = dict(batch_size=batch_size, device=device, chunk_size=chunk_size, autocast_dtype=autocast_dtype,
                   progress=bool(progress) and rank == 0)
    if job == "embed":
        values = {"embedding": _embed(model, sequences, pooling=pooling, **options)}
    else:
        totals, n_scored = _score(model, sequences, **options)
        values = {"log_likelihood": totals, "n_scored": n_scored}
    output = Path(output)
    shards = [output.with_name(f"{output.name}.rank{r}-of-{world}.npz") for r in range(world)]
    with atomic_write(shards[rank]) as fh:
        np.savez(fh, index=mine, **values)
    barrier()
    if rank != 0:
        return None
    # Every rank's arrays have this rank's trailing shape and dtype (the same model and code).
    merged = {key: np.empty((len(tiles),) + value.shape[1:], dtype=value.dtype) for key, value in values.items()}
    for path in shards:
        with np.load(path) as data:
            for key in merged:
                merged[key][data["index"]] = data[key]
    with atomic_write(output) as fh:
        np.savez(fh, record=np.array([t.record for t in tiles]), start=np.array([t.start for t in tiles]),
                 end=np.array([t.end for t in tiles]), strand=np.array([t.strand for t in tiles]), **merged)
    for path in shards:
        path.unlink()
    return output
