"""Labelled DNA sequence datasets: benchmarks bundled with dnaestim, and loaders for your own files.

Every loader returns a :class:`sklearn.utils.Bunch` shaped like those of :mod:`sklearn.datasets`:

``data``
    The sequences, a 1-D object array of ``str`` (a :class:`pandas.Series` named ``"sequence"`` with
    ``as_frame=True``).
``target``
    The labels as published, always ``str`` (``"negative"``, ``"+"``, ``"0"``, ...), a 1-D object array (a
    :class:`pandas.Series` named ``"label"`` with ``as_frame=True``).
``target_names``
    The sorted unique labels.
``frame``
    A :class:`pandas.DataFrame` with columns ``sequence`` and ``label`` when ``as_frame=True``, else ``None``.
``DESCR``
    What the data is and where it came from.
``split``
    The split that was loaded (``None`` for a single FASTA or CSV file).

``return_X_y=True`` returns ``(data, target)`` instead of the bunch.

Every loader that reads a dataset with splits defaults to ``split="all"``: all of its splits, concatenated in
the order train, dev, test, so that nothing is left out unless you ask for one split (``split="train"``, ...).
A bunch does not say which split each row came from; load the splits one by one to keep a published split.

The bundled benchmarks (:func:`list_bundled_datasets`) are real, published sequences shipped inside the package;
provenance, licences and reference numbers are in ``dnaestim/data/benchmarks/README.md``. The other loaders read
local files in the layouts that published benchmarks are distributed in. Nothing here touches the network.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = [
    "list_bundled_datasets",
    "load_bundled",
    "load_csv",
    "load_fasta_labeled",
    "load_genomic_benchmark",
    "load_gue_prom_core_tata",
    "load_human_enhancers_cohn",
    "load_human_enhancers_cohn_subset",
    "load_human_nontata_promoters",
]

_GZIP_MAGIC = b"\x1f\x8b"
_BENCHMARKS_DIR = ("data", "benchmarks")


@dataclass(frozen=True)
class _BundledDataset:
    """Registry entry of one bundled benchmark.

    Its splits (in the order train, dev, test), what it is and where it came from, and the number of sequences
    in each split (aligned with ``splits``; empty when unknown).
    """

    splits: tuple
    description: str
    sizes: tuple = ()

    def sizes_line(self):
        """``"Splits: train 303, test 102 (405 in all)."``, or ``""`` without sizes."""
        if not self.sizes:
            return ""
        parts = ", ".join(f"{split} {size}" for split, size in zip(self.splits, self.sizes))
        total = f" ({sum(self.sizes)} in all)" if len(self.sizes) > 1 else ""
        return f"Splits: {parts}{total}."


_BUNDLED = {
    "human_nontata_promoters": _BundledDataset(
        splits=("test",),
        sizes=(9034,),
        description=(
            "Human non-TATA promoters (Genomic Benchmarks, Gresova et al. 2023): 251-nt human sequences, "
            "'positive' = non-TATA promoter, 'negative' = not a promoter. Only the official TEST split is "
            "bundled; use it with cross-validation. Published test accuracy (trained on the "
            "full official train split, which is not bundled): HyenaDNA 96.6%, CNN 84.6%.\n"
            "Source: GayanSamuditha/DNA-Language-Model-Evaluation@5859377b1d217a7734611d4e8559b4c4561e7dc2:"
            "Dataset/test_human_nontata_promoters.csv (the Hugging Face export of the Genomic Benchmarks test "
            "split; 0/1 renamed negative/positive). Licence: Apache-2.0 (Genomic Benchmarks data), MIT (source "
            "repository)."
        ),
    ),
    "human_enhancers_cohn_subset": _BundledDataset(
        splits=("train", "test"),
        sizes=(303, 102),
        description=(
            "Human enhancers (Cohn et al.), a small subsample of the Genomic Benchmarks dataset "
            "human_enhancers_cohn: 500-nt sequences, labels 'negative'/'positive'. Every "
            "test sequence is in the official test split with the same label; no train sequence is. Meant for "
            "fast tests: numbers on it are not comparable with published ones (HyenaDNA 74.2%, CNN 69.5% test "
            "accuracy on the full dataset).\n"
            "Source: katarinagresova/GenBenchQC@2cfd859d131b0356d025cbc236c4e94bc8d9b87d:"
            "example_datasets/enhancers_{train,test}.csv (0/1 renamed negative/positive). Licence: MIT (source "
            "repository), Apache-2.0 (Genomic Benchmarks data)."
        ),
    ),
    "gue_prom_core_tata": _BundledDataset(
        splits=("train", "dev", "test"),
        sizes=(4904, 613, 613),
        description=(
            "Core promoter detection, TATA promoters (GUE prom_core_tata, DNABERT-2: Zhou et al., ICLR 2024): "
            "70-nt human sequences, labels '0'/'1' as published (GUE names no classes), in the published GUE "
            "splits.\n"
            "Source: wds-seu/DeepGene@486343e5212361d6cd7ed03c624f430ed3d5f02e:"
            "data/GUE/prom/prom_core_tata/{train,dev,test}.csv, a verbatim copy of GUE as distributed by "
            "MAGICS-LAB/DNABERT_2. Licence: Apache-2.0 (both repositories; no separate data licence stated)."
        ),
    ),
}


# ---------------------------------------------------------------------------------------------------------------
# Bundled benchmarks
# ---------------------------------------------------------------------------------------------------------------


def list_bundled_datasets():
    """Names of the benchmarks bundled with dnaestim.

    Returns
    -------
    list of str
        Sorted names, each accepted by :func:`load_bundled`.

    Examples
    --------
    >>> from dnaestim.datasets import list_bundled_datasets
    >>> list_bundled_datasets()
    ['gue_prom_core_tata', 'human_enhancers_cohn_subset', 'human_nontata_promoters']
    """
    return sorted(_BUNDLED)


def load_bundled(name, *, split="all", return_X_y=False, as_frame=False):
    """Load a benchmark bundled with dnaestim.

    Parameters
    ----------
    name : str
        One of :func:`list_bundled_datasets`.
    split : str, default="all"
        One of the dataset's splits (``"train"``, ``"dev"``, ``"test"`` or ``"all"``, whichever it has), or
        ``"all"`` for every split concatenated in the order train, dev, test.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        A bunch with ``data``, ``target``, ``target_names``, ``frame``, ``DESCR`` and ``split`` (see the module
        docstring), or ``(data, target)`` when ``return_X_y=True``. ``DESCR`` starts with the split loaded and
        its label counts, then the size of every split, then the dataset's description.

    Examples
    --------
    >>> from dnaestim.datasets import load_bundled
    >>> bunch = load_bundled("human_enhancers_cohn_subset")
    >>> bunch.split, bunch.data.shape, bunch.target_names.tolist()
    ('all', (405,), ['negative', 'positive'])
    >>> bunch.data[0][:20], bunch.target[0]
    ('CACCACACCCAGCTAATTTT', 'negative')
    >>> print(bunch.DESCR.splitlines()[1])
    Splits: train 303, test 102 (405 in all).
    """
    if not isinstance(name, str) or name not in _BUNDLED:
        raise ValueError(
            f"No bundled dataset named {name!r}; the bundled datasets are: {', '.join(list_bundled_datasets())}."
        )
    entry = _BUNDLED[name]
    if not isinstance(split, str) or (split not in entry.splits and split != "all"):
        available = ", ".join(repr(s) for s in dict.fromkeys((*entry.splits, "all")))
        raise ValueError(f"Dataset {name!r} has no split {split!r}; available splits: {available}.")
    splits = entry.splits if split == "all" else (split,)
    frames = []
    for part in splits:
        resource = resources.files("dnaestim").joinpath(*_BENCHMARKS_DIR, name, f"{part}.csv.gz")
        if not resource.is_file():
            raise FileNotFoundError(
                f"The bundled file {'/'.join(_BENCHMARKS_DIR)}/{name}/{part}.csv.gz is missing from the dnaestim "
                "installation; reinstall dnaestim."
            )
        with resource.open("rb") as handle:
            frames.append(_read_csv(handle, f"bundled {name}/{part}.csv.gz", "sequence", "label", compression="gzip"))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    counts = ", ".join(f"{label}={count}" for label, count in sorted(frame["label"].value_counts().items()))
    header = [f"{name} ({split}: {len(frame)} sequences; {counts})", entry.sizes_line()]
    descr = "\n".join(line for line in header if line) + f"\n\n{entry.description}"
    return _result(frame, descr, split, return_X_y=return_X_y, as_frame=as_frame)


def load_human_nontata_promoters(*, split="all", return_X_y=False, as_frame=False):
    """Load the human non-TATA promoters benchmark (Genomic Benchmarks), official test split.

    9034 human sequences of 251 nt: 4915 ``"positive"`` (non-TATA promoters) and 4119 ``"negative"``. Only the
    official test split is bundled, so evaluate with cross-validation on it. Published test accuracies
    (HyenaDNA 96.6 %, CNN 84.6 %) come from training on the full official train split, which is not bundled.
    Provenance and licence: ``dnaestim/data/benchmarks/README.md``.

    Parameters
    ----------
    split : {"all", "test"}, default="all"
        The only split is ``"test"`` (9034 sequences), so both values return the same sequences; only the
        bunch's ``split`` differs.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        See :func:`load_bundled`.

    Examples
    --------
    >>> from dnaestim.datasets import load_human_nontata_promoters
    >>> X, y = load_human_nontata_promoters(return_X_y=True)
    >>> X.shape, sorted(set(y)), len(X[0])
    ((9034,), ['negative', 'positive'], 251)
    """
    return load_bundled("human_nontata_promoters", split=split, return_X_y=return_X_y, as_frame=as_frame)


def load_human_enhancers_cohn_subset(*, split="all", return_X_y=False, as_frame=False):
    """Load the bundled subsample of the human enhancers (Cohn) benchmark.

    Sequences of 500 nt labelled ``"positive"`` (enhancer) or ``"negative"``: 303 in ``"train"`` and 102 in
    ``"test"``, 405 in all. A small subsample of the Genomic Benchmarks dataset ``human_enhancers_cohn``, for
    fast tests and examples; scores on it are not comparable with published ones. The function is named after
    the bundled dataset, ``"human_enhancers_cohn_subset"`` (:func:`load_human_enhancers_cohn` is the same
    function). Provenance and licence: ``dnaestim/data/benchmarks/README.md``.

    Parameters
    ----------
    split : {"all", "train", "test"}, default="all"
        Which split; ``"all"`` concatenates train then test.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        See :func:`load_bundled`.

    Examples
    --------
    >>> from dnaestim.datasets import load_human_enhancers_cohn_subset
    >>> load_human_enhancers_cohn_subset().data.shape
    (405,)
    >>> bunch = load_human_enhancers_cohn_subset(split="test", as_frame=True)
    >>> bunch.frame.shape, bunch.target_names.tolist()
    ((102, 2), ['negative', 'positive'])
    >>> bunch.frame["label"].value_counts().sort_index().tolist()
    [51, 51]
    """
    return load_bundled("human_enhancers_cohn_subset", split=split, return_X_y=return_X_y, as_frame=as_frame)


def load_human_enhancers_cohn(*, split="all", return_X_y=False, as_frame=False):
    """Load the bundled subsample of the human enhancers (Cohn) benchmark (alias).

    The same function as :func:`load_human_enhancers_cohn_subset`, with the same parameters and result, under
    the name it had first. It stays, without a warning; new code should use the name of the bundled dataset.

    Parameters
    ----------
    split : {"all", "train", "test"}, default="all"
        Which split; ``"all"`` concatenates train then test.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        See :func:`load_bundled`.

    See Also
    --------
    load_human_enhancers_cohn_subset : The same loader under the bundled dataset's name.
    """
    return load_human_enhancers_cohn_subset(split=split, return_X_y=return_X_y, as_frame=as_frame)


def load_gue_prom_core_tata(*, split="all", return_X_y=False, as_frame=False):
    """Load the GUE core-promoter (TATA) benchmark.

    Human sequences of 70 nt from the Genome Understanding Evaluation (DNABERT-2), labelled ``"0"`` or ``"1"``
    as published (kept as strings; GUE names no classes), in the published splits: train 4904, dev 613,
    test 613 (6130 in all). Provenance and licence: ``dnaestim/data/benchmarks/README.md``.

    Parameters
    ----------
    split : {"all", "train", "dev", "test"}, default="all"
        Which split; ``"all"`` concatenates train, dev and test in that order. Pass ``split="train"`` and
        ``split="test"`` to compare with published numbers.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        See :func:`load_bundled`.

    Examples
    --------
    >>> from dnaestim.datasets import load_gue_prom_core_tata
    >>> X, y = load_gue_prom_core_tata(return_X_y=True)
    >>> X.shape, sorted(set(y))
    ((6130,), ['0', '1'])
    >>> load_gue_prom_core_tata(split="train").data.shape
    (4904,)
    >>> X, y = load_gue_prom_core_tata(split="test", return_X_y=True, as_frame=True)
    >>> X.name, y.name, len(X), sorted(y.unique())
    ('sequence', 'label', 613, ['0', '1'])
    """
    return load_bundled("gue_prom_core_tata", split=split, return_X_y=return_X_y, as_frame=as_frame)


# ---------------------------------------------------------------------------------------------------------------
# Your own files
# ---------------------------------------------------------------------------------------------------------------


def load_genomic_benchmark(path, *, split="all", return_X_y=False, as_frame=False):
    """Load a dataset in the Genomic Benchmarks directory layout.

    The layout is ``<path>/<split>/<class name>/<anything>.txt``, one sequence per ``.txt`` file (as written by
    ``genomic_benchmarks.loc2seq.download_dataset``). The class names are the sub-directory names, taken in
    sorted order, never in the order the file system lists them; within a class the files are read in sorted
    name order, so the result is the same on every machine. Whitespace and line breaks inside a file are
    removed, so a sequence may span several lines; case is kept. Files not ending in ``.txt``, and files and
    directories whose name starts with ``.`` (such as macOS ``._*`` files), are ignored. The sorted class order is
    also the published HyenaDNA code's class-index order.

    Parameters
    ----------
    path : str or path-like
        The dataset directory (the one holding ``train`` and ``test``).
    split : str, default="all"
        Sub-directory of ``path`` to read, or ``"all"`` for every split directory concatenated: ``train``
        first, ``test`` last, any others in between in name order (a directory named ``all`` is read alone).
        Pass ``split="train"`` and ``split="test"`` to keep the published split.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        ``data``, ``target`` (the class names), ``target_names``, ``frame``, ``DESCR`` and ``split``, or
        ``(data, target)`` when ``return_X_y=True``.
    """
    root = _existing(path, "Genomic Benchmarks dataset directory", directory=True)
    if not isinstance(split, str):
        raise TypeError(f"split must be a str; got {type(split).__name__}.")
    split_dirs = _visible_subdirs(root)
    names = [d.name for d in split_dirs]
    if split == "all" and "all" not in names:
        if not split_dirs:
            raise ValueError(
                f"{root} has no split directories; a Genomic Benchmarks dataset directory holds "
                "<split>/<class name>/*.txt."
            )
        chosen = sorted(split_dirs, key=lambda d: ({"train": 0, "test": 2}.get(d.name, 1), d.name))
    elif split in names:
        chosen = [root / split]
    else:
        available = ", ".join(repr(name) for name in (*names, "all")) if names else "none"
        raise ValueError(
            f"{root} has no split directory {split!r}; available splits: {available}. A Genomic Benchmarks "
            "dataset directory holds <split>/<class name>/*.txt."
        )
    sequences, labels, sizes, classes = [], [], [], set()
    for split_dir in chosen:
        before = len(sequences)
        classes.update(_read_genomic_benchmark_split(split_dir, sequences, labels))
        sizes.append(f"{split_dir.name} {len(sequences) - before}")
    frame = pd.DataFrame({"sequence": sequences, "label": labels}, dtype=str)
    descr = (
        f"Genomic Benchmarks layout read from {root} (split {split!r}: {len(frame)} sequences, "
        f"classes {', '.join(sorted(classes))}).\nSplits read: {', '.join(sizes)}."
    )
    return _result(frame, descr, split, return_X_y=return_X_y, as_frame=as_frame)


def _read_genomic_benchmark_split(split_dir, sequences, labels):
    """Append the sequences and labels of one ``<split>/<class name>/*.txt`` directory; return the class names."""
    class_dirs = _visible_subdirs(split_dir)
    if not class_dirs:
        raise ValueError(
            f"{split_dir} holds no class directories; expected {split_dir}{os.sep}<class name>{os.sep}*.txt."
        )
    for class_dir in class_dirs:
        files = sorted(
            (f for f in class_dir.iterdir() if f.suffix == ".txt" and not f.name.startswith(".") and f.is_file()),
            key=lambda f: f.name,
        )
        if not files:
            raise ValueError(f"Class directory {class_dir} holds no .txt sequence files.")
        for file in files:
            try:
                sequence = "".join(file.read_text(encoding="utf-8").split())
            except UnicodeDecodeError as err:
                raise ValueError(f"Sequence file {file} is not text ({err}).") from None
            if not sequence:
                raise ValueError(f"Sequence file {file} is empty; remove it or write its sequence into it.")
            sequences.append(sequence)
            labels.append(class_dir.name)
    return [d.name for d in class_dirs]


def load_fasta_labeled(path, *, label_sep="|", return_X_y=False, as_frame=False):
    """Load a FASTA file whose record names end with the label.

    This is the layout of the Nucleotide Transformer downstream tasks (``>name|label``). With
    ``label_sep="|"`` the label is the text after the last ``|`` of the header line (surrounding whitespace
    removed); with ``label_sep=None`` it is the last character of the header line (trailing whitespace
    removed), the rule of the published HyenaDNA code (``int(name.rstrip()[-1])`` over pyfaidx long names), kept
    here as a string. Sequences are read with :func:`Bio.SeqIO.parse`, line breaks removed and case kept.

    Parameters
    ----------
    path : str or path-like
        FASTA file, plain or gzip/bgzip-compressed (recognised by its content, whatever its suffix).
    label_sep : str or None, default="|"
        Separator before the label, or ``None`` for "last character of the header line".
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` and fill ``frame``.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        ``data``, ``target``, ``target_names``, ``frame``, ``DESCR`` and ``split`` (``None``), or
        ``(data, target)`` when ``return_X_y=True``.
    """
    file = _existing(path, "FASTA file")
    sequences, labels = [], []
    for _, sequence, label in _labelled_fasta_records(file, label_sep):
        sequences.append(sequence)
        labels.append(label)
    frame = pd.DataFrame({"sequence": sequences, "label": labels}, dtype=str)
    rule = "last character of the header line" if label_sep is None else f"text after the last {label_sep!r}"
    descr = f"Labelled FASTA read from {file} ({len(frame)} records; label = {rule})."
    return _result(frame, descr, None, return_X_y=return_X_y, as_frame=as_frame)


def load_csv(path, *, sequence_column="sequence", label_column="label", sep=",", numeric=False, return_X_y=False,
             as_frame=False):
    """Load sequences and labels (or numeric targets) from a CSV (or TSV) file.

    With one ``label_column`` and ``numeric=False``, both columns are read as ``str`` (labels such as ``"0"``
    stay strings), ready for a classifier. ``numeric=True`` reads the label column as numbers, for
    :class:`~dnaestim.HyenaRegressor`. A list of label columns gives a numeric matrix (n_samples, n_columns): 0/1
    columns for multi-label classification (``sequence,<label1>,<label2>,...``) or several regression targets;
    with ``as_frame=True`` it is a DataFrame whose column names :class:`~dnaestim.HyenaClassifier` takes as its
    ``classes_``. Only an empty cell counts as missing: ``NA``, ``N/A`` or ``null`` are kept as text, since they
    can be sequences or labels (and are an error in a numeric column). The GUE benchmark files
    (``sequence,label``) load as they are; tab-separated files need ``sep="\\t"``. The separator is never guessed,
    but a header that pandas reads as one column holding another common separator (tab, comma, semicolon) makes
    the error message suggest that ``sep``.

    Parameters
    ----------
    path : str or path-like
        CSV file with a header line, plain or gzip-compressed (recognised by its content, whatever its suffix).
    sequence_column : str, default="sequence"
        Column holding the sequences.
    label_column : str or list of str, default="label"
        Column holding the labels, or the columns of a multi-label or multi-target task.
    sep : str, default=","
        The field separator, one character, passed to :func:`pandas.read_csv`: ``","`` for CSV, ``"\\t"`` for
        TSV, ``";"``, ``"|"``, ...
    numeric : bool, default=False
        Read one label column as numbers (a list of columns is always numeric).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a bunch.
    as_frame : bool, default=False
        Give ``data`` and ``target`` as :class:`pandas.Series` (a DataFrame for several label columns) and fill
        ``frame`` (columns ``sequence`` and ``label``, or ``sequence`` and the label columns).

    Returns
    -------
    sklearn.utils.Bunch or tuple
        ``data``, ``target``, ``target_names`` (the sorted labels; the label columns' names for several),
        ``frame``, ``DESCR`` and ``split`` (``None``), or ``(data, target)`` when ``return_X_y=True``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from dnaestim.datasets import load_csv
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "train.tsv")
    ...     _ = path.write_text("sequence\\tlabel\\nACGTAC\\tpromoter\\nTTGACA\\tother\\n")
    ...     X, y = load_csv(path, sep="\\t", return_X_y=True)
    ...     multi = pathlib.Path(tmp, "tracks.csv")
    ...     _ = multi.write_text("sequence,dnase,atac\\nACGTAC,1,0\\nTTGACA,1,1\\n")
    ...     _, Y = load_csv(multi, label_column=["dnase", "atac"], return_X_y=True)
    >>> X.tolist(), y.tolist(), Y.tolist()
    (['ACGTAC', 'TTGACA'], ['promoter', 'other'], [[1.0, 0.0], [1.0, 1.0]])
    """
    if not isinstance(sep, str) or len(sep) != 1 or sep in "\"\r\n":
        raise ValueError(
            f"sep must be one character other than a quote or a line break, such as ',' or '\\t'; got {sep!r}."
        )
    several = isinstance(label_column, (list, tuple))
    columns = list(label_column) if several else [label_column]
    if not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"label_column must be a column name or a non-empty list of them; got {label_column!r}.")
    if len(set(columns)) != len(columns) or sequence_column in columns:
        raise ValueError(f"label_column names a column twice or names the sequence column: {label_column!r}.")
    file = _existing(path, "CSV file")
    frame = _read_csv(file, str(file), sequence_column, columns, compression="gzip" if _is_gzip(file) else None,
                      sep=sep, numeric=numeric or several, rename=not several)
    what = "CSV" if sep == "," else f"Delimited file (sep={sep!r})"
    descr = (f"{what} read from {file} ({len(frame)} rows; sequences in {sequence_column!r}, "
             f"{'targets' if numeric or several else 'labels'} in {', '.join(repr(c) for c in columns)}).")
    return _result(frame, descr, None, return_X_y=return_X_y, as_frame=as_frame,
                   label_columns=columns if several else None)


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _labelled_fasta_records(file, label_sep, keep=None):
    """``(record number, sequence, label)`` of a labelled FASTA file, streamed; with ``keep(number)`` only the
    records it accepts are parsed for labels (all are counted). Raises a ValueError naming the bad record."""
    from Bio import SeqIO

    if label_sep is not None and (not isinstance(label_sep, str) or not label_sep):
        raise ValueError(f"label_sep must be a non-empty str or None; got {label_sep!r}.")
    count = 0
    try:
        with _open_text(file) as handle:
            for number, record in enumerate(SeqIO.parse(handle, "fasta")):
                count += 1
                if keep is not None and not keep(number):
                    continue
                if label_sep is None:
                    label = record.description.rstrip()[-1:]
                    if not label:
                        raise ValueError(f"Record number {number + 1} of {file} has an empty header line, so no label.")
                else:
                    _, sep, label = record.description.rpartition(label_sep)
                    label = label.strip()
                    if not sep:
                        raise ValueError(
                            f"Record {record.description!r} of {file} has no label separator {label_sep!r} in its "
                            "header; pass label_sep=None to take the last character of the header line as the label."
                        )
                    if not label:
                        raise ValueError(
                            f"Record {record.description!r} of {file} has nothing after the label separator "
                            f"{label_sep!r}."
                        )
                sequence = str(record.seq)
                if not sequence:
                    raise ValueError(f"Record {record.description!r} of {file} has an empty sequence.")
                yield number, sequence, label
    except UnicodeDecodeError as err:
        raise ValueError(f"{file} is not a text FASTA file ({err}).") from None
    except (OSError, EOFError) as err:  # a corrupt or truncated gzip file
        raise ValueError(f"Cannot read {file} ({err}).") from None
    except ValueError as err:
        if "comments at the beginning" in str(err):
            raise ValueError(
                f"{file} is not a FASTA file: it has text before its first '>' header line."
            ) from None
        raise
    if not count:
        raise ValueError(f"{file} holds no FASTA records (no line starts with '>'); is it a FASTA file?")


def _existing(path, what, *, directory=False):
    """``path`` as a Path, checked to exist (and to be a directory or a file)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} path must be a str or os.PathLike; got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what[0].upper()}{what[1:]} {path} does not exist.")
    if directory and not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory; expected a {what}.")
    if not directory and not path.is_file():
        raise IsADirectoryError(f"{path} is not a file; expected a {what}.")
    return path


def _visible_subdirs(directory):
    """Sub-directories of ``directory`` not starting with ``.``, sorted by name."""
    return sorted((d for d in directory.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _is_gzip(file):
    """Whether ``file`` starts with the gzip magic bytes (gzip and bgzip files, whatever their suffix)."""
    with open(file, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _open_text(file):
    """Open a plain or gzip-compressed file as text."""
    if _is_gzip(file):
        return gzip.open(file, "rt", encoding="utf-8")
    return open(file, encoding="utf-8")


def _read_csv(source, name, sequence_column, label_columns, **options):
    """The whole CSV as one frame; ``options`` are those of :func:`_csv_chunks`."""
    [(_, frame)] = _csv_chunks(source, name, sequence_column, label_columns, **options)
    return frame


def _csv_chunks(source, name, sequence_column, label_columns, *, compression, sep=",", numeric=False, rename=True,
                chunk_rows=None):
    """``(first row number, frame)`` per chunk of ``chunk_rows`` rows (one chunk when None): the sequence and label
    columns, no missing values allowed, sequences as str, labels as str (or float when ``numeric``), one label
    column renamed ``label`` when ``rename``. Errors name the data row (0-based, header not counted)."""
    if isinstance(label_columns, str):
        label_columns = [label_columns]
    try:
        reader = pd.read_csv(source, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                             compression=compression, chunksize=chunk_rows)
        tables = reader if chunk_rows else [reader]
        first = 0
        for table in tables:
            yield first, _checked_table(table, name, sequence_column, label_columns, sep, numeric, rename, first)
            first += len(table)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name} is empty; expected a CSV file with a header line.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
        raise ValueError(f"Cannot read {name} as CSV ({err}).") from None


def _checked_table(table, name, sequence_column, label_columns, sep, numeric, rename, first_row):
    present = ", ".join(repr(c) for c in table.columns)
    roles = [("sequence_column", sequence_column)] + [("label_column", c) for c in label_columns]
    for role, column in roles:
        if column not in table.columns:
            advice = f"Pass {role}= to choose one."
            other = _other_separator(table.columns, sep)
            if other is not None:
                advice = (f"The header was read as a single column and holds {other!r}: is the file separated by "
                          f"{other!r}? Pass sep={other!r}.")
            raise ValueError(f"{name} has no column {column!r} ({role}); its columns are: {present}. {advice}")
    for _, column in roles:
        missing = np.flatnonzero(table[column].isna().to_numpy())
        if missing.size:
            more = f" ({missing.size - 1} more rows too)" if missing.size > 1 else ""
            raise ValueError(
                f"{name}: data row {first_row + int(missing[0])} (0-based, header not counted) has no value in "
                f"column {column!r}{more}; fill or drop such rows."
            )
    frame = pd.DataFrame({"sequence": table[sequence_column].to_numpy(dtype=object)}, dtype=str)
    for column in label_columns:
        values = table[column].to_numpy(dtype=object)
        if numeric:
            parsed = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(parsed))
            if bad.size:
                raise ValueError(
                    f"{name}: data row {first_row + int(bad[0])} (0-based, header not counted) has "
                    f"{values[bad[0]]!r} in column {column!r}, which is not a finite number; numeric targets must be "
                    "numbers."
                )
            values = parsed
        frame["label" if rename else column] = values
    return frame


def _other_separator(columns, sep):
    """The common separator (tab, comma, semicolon) in a header read as one column with ``sep``, if any."""
    if len(columns) != 1:
        return None
    return next((other for other in ("\t", ",", ";") if other != sep and other in str(columns[0])), None)


def _result(frame, descr, split, *, return_X_y, as_frame, label_columns=None):
    """The bunch (or ``(data, target)``) for a frame with columns ``sequence`` and ``label`` (or the
    ``label_columns`` of a multi-label or multi-target task)."""
    names = ["label"] if label_columns is None else list(label_columns)
    if as_frame:
        data = frame["sequence"]
        target = frame["label"] if label_columns is None else frame[names]
    else:
        data = frame["sequence"].to_numpy(dtype=object)
        target = frame["label"].to_numpy() if label_columns is None else frame[names].to_numpy(dtype=np.float64)
        if target.dtype.kind not in "fiu":
            target = target.astype(object)
    if return_X_y:
        return data, target
    if label_columns is not None:
        target_names = np.array(names, dtype=object)
    elif frame["label"].dtype.kind == "f":
        target_names = None  # numbers to regress on, not classes
    else:
        target_names = np.array(sorted(set(frame["label"])), dtype=object)
    return Bunch(
        data=data,
        target=target,
        target_names=target_names,
        frame=frame if as_frame else None,
        DESCR=descr,
        split=split,
    )
