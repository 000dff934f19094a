"""Fine-tuning on a labelled file, in one process or under ``torchrun``: ``python -m dnaestim finetune``.

Every process streams the file in chunks and keeps only its own rows (global row ``i`` belongs to rank
``i % world``), so no process ever holds the whole file; the estimator then trains on a
:class:`~dnaestim.distributed.Shard` (each process takes its rows of every global batch, the gradients are added
over processes), and rank 0 writes the fitted estimator, which loads in a plain Python session with
``joblib.load`` or ``pickle.load`` (or, saved with ``save_format="dnaestim"``, :func:`dnaestim.load`). With a
checkpoint folder the run is resumable: a preempted or killed job continues where it stopped (see
:mod:`dnaestim.preemption`). The same command with one process takes the same steps, so the two runs end
with the same weights (up to float rounding; dropout and ``rc_augment`` draw per process).
"""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_write, exclusive_directory
from ._validation import resolve_device
from .datasets import _csv_chunks, _existing, _is_gzip, _labelled_fasta_records, _open_text
from .distributed import Shard, barrier, rank_and_world
from .estimators._resumable import CHECKPOINT_NAME, FineTuningCheckpoints, Preempted

__all__ = ["CHECKPOINT_NAME", "SAVE_FORMATS", "Preempted", "read_labelled_shard", "run_finetune"]

#: What ``output`` of :func:`run_finetune` is: a pickle file, or a :func:`dnaestim.save` directory.
SAVE_FORMATS = ("pickle", "dnaestim")

#: Rows read at a time from a CSV file.
CHUNK_ROWS = 65536
_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")


def read_labelled_shard(path, *, label_column="label", sequence_column="sequence", sep=",", numeric=False,
                        label_sep="|", rank=0, world=1, chunk_rows=CHUNK_ROWS):
    """This process's rows of a labelled CSV/TSV or FASTA file, read in chunks.

    Parameters
    ----------
    path : str or path-like
        A CSV/TSV file with a header line (plain or gzip), or a labelled FASTA file (``.fa``, ``.fasta``,
        ``.fna``, optionally ``.gz``) whose header lines end with the label (see
        :func:`dnaestim.datasets.load_fasta_labeled`).
    label_column : str or list of str, default="label"
        The label column, or the columns of a multi-label or multi-target task (CSV only).
    sequence_column : str, default="sequence"
        The sequence column (CSV only).
    sep : str, default=","
        The CSV field separator.
    numeric : bool, default=False
        Read the labels as numbers (regression); several label columns always are.
    label_sep : str or None, default="|"
        FASTA only: the separator before the label in each header line.
    rank, world : int, default=0, 1
        This process and the number of processes: rows ``rank, rank + world, ...`` are kept.
    chunk_rows : int, default=65536
        Rows parsed at a time.

    Returns
    -------
    sequences : list of str
        This process's sequences.
    y : ndarray or DataFrame
        Their labels: a 1-D array, or a DataFrame with one column per label column.
    n_total : int
        Rows in the whole file.
    """
    file = _existing(path, "labelled file")
    several = isinstance(label_column, (list, tuple))
    if file.name.lower().endswith(_FASTA_SUFFIXES):
        if several or numeric:
            raise ValueError(f"{file} is a labelled FASTA file: one class label per record; numeric or several "
                             "labels need a CSV file.")
        sequences, labels = [], []
        for _, sequence, label in _labelled_fasta_records(file, label_sep, keep=lambda n: n % world == rank):
            sequences.append(sequence)
            labels.append(label)
        with _open_text(file) as handle:
            n_total = sum(1 for line in handle if line.startswith(">"))
        return sequences, np.array(labels, dtype=object), n_total
    columns = list(label_column) if several else [label_column]
    compression = "gzip" if _is_gzip(file) else None
    sequences, parts, n_total = [], [], 0
    for first, chunk in _csv_chunks(file, str(file), sequence_column, columns, compression=compression, sep=sep,
                                    numeric=numeric or several, rename=not several, chunk_rows=chunk_rows):
        mine = (first + np.arange(len(chunk))) % world == rank
        sequences.extend(chunk["sequence"][mine].tolist())
        parts.append(chunk.loc[mine, ["label"] if not several else columns])
        n_total = first + len(chunk)
    table = pd.concat(parts, ignore_index=True)
    y = table if several else table["label"].to_numpy()
    return sequences, y, n_total


def run_finetune(estimator, path, output, *, device="cpu", checkpoint_dir=None, checkpoint_interval=None,
                 resume=False, save_format="pickle", **read_options):
    """Fit ``estimator`` on a labelled file over the processes of the current process group; rank 0 saves it.

    Parameters
    ----------
    estimator : HyenaClassifier or HyenaRegressor
        Unfitted; its ``device`` is set to ``device``.
    path : str or path-like
        The labelled file (see :func:`read_labelled_shard`).
    output : str or path-like
        Where rank 0 writes the fitted estimator (written atomically).
    device : str, default="cpu"
        This process's device.
    checkpoint_dir : str or path-like, optional
        Make the run resumable: a checkpoint is written here after every epoch, every ``checkpoint_interval``
        steps, and when a stop signal arrives inside :func:`dnaestim.preemption.handle_preemption` (then
        :class:`Preempted` is raised). While the run lasts the folder is locked against a second writer.
    checkpoint_interval : int, optional
        Steps between checkpoints inside an epoch (None: at epoch ends and stop signals only).
    resume : bool, default=False
        Continue the run saved in ``checkpoint_dir``: with the same file, parameters and number of processes it
        ends with the weights of an uninterrupted run.
    save_format : {"pickle", "dnaestim"}, default="pickle"
        ``"pickle"``: ``output`` is a pickle file (``joblib.load``); ``"dnaestim"``: ``output`` is a directory
        written by :func:`dnaestim.save` (JSON + safetensors, no code on load; read it with :func:`dnaestim.load`).
    **read_options
        Passed to :func:`read_labelled_shard`.

    Returns
    -------
    estimator
        The fitted estimator (every rank holds the same weights).

    Raises
    ------
    Preempted
        A stop signal ended training; the checkpoint to resume from is written, ``output`` is not.
    """
    if save_format not in SAVE_FORMATS:
        raise ValueError(f"save_format must be one of {SAVE_FORMATS}; got {save_format!r}.")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir: the folder of the run to continue.")
    rank, world = rank_and_world()
    sequences, y, n_total = read_labelled_shard(path, rank=rank, world=world, **read_options)
    if n_total < world:
        raise ValueError(f"{path} has {n_total} rows, fewer than the {world} processes; use fewer processes.")
    estimator.set_params(device=device)
    checkpoints = None if checkpoint_dir is None else FineTuningCheckpoints(checkpoint_dir, checkpoint_interval,
                                                                            resume)
    holding = (exclusive_directory(checkpoint_dir, "dnaestim fine-tuning checkpoints")
               if checkpoint_dir is not None and rank == 0 else contextlib.nullcontext())
    with holding:
        estimator._fit(sequences, y, shard=Shard(n_total, rank, world, device=resolve_device(device)),
                       checkpoints=checkpoints)
    if rank == 0:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        if save_format == "dnaestim":
            from .persistence import save

            save(estimator, output)
        else:
            with atomic_write(output) as handle:
                pickle.dump(estimator, handle, protocol=pickle.HIGHEST_PROTOCOL)
    barrier()  # every process leaves together (one tearing down its process group early can abort the others)
    return estimator
