"""Windows of genome sequence for pretraining and genome-wide scoring.

A :class:`GenomeSource` describes where sequence comes from — FASTA files (plain or bgzip, read lazily through
pyfaidx and never kept open between calls, so estimators that hold a source still pickle), optionally restricted
to BED intervals, or plain in-memory sequences — and splits it into disjoint training and validation regions.

Strand. A BED interval (or an interval tuple) may carry a strand, ``+``, ``-`` or ``.``. :meth:`GenomeSource.read`
with ``stranded=True`` returns the reverse complement of a ``-`` region (the genome jobs, ``python -m dnaestim
embed-genome`` and ``score-genome``, read this way); pretraining reads every region as stored in the FASTA file
and ignores the strand (a language model sees the reverse strand only through ``rc_augment``).

Windows are a pure function of ``(seed, step, index)``: the same seed gives the same windows on any machine and
in any process, which is what makes resumed and multi-process runs reproduce a single uninterrupted one.

Record ends and N runs. Windows never cross the end of a region (a region is a record, a BED interval, or the
training/validation part of one); a region shorter than the window yields one shorter window, padded on the right
and ignored by the loss. ``N`` is an ordinary token, as in the published recipe, but windows whose fraction of N
exceeds ``max_n_fraction`` are redrawn (assembly gaps teach nothing), up to a fixed number of tries.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..tokenizer import reverse_complement
from .fasta import _some_names, open_fasta

__all__ = ["GenomeSource", "Region", "read_bed"]

#: Strand values accepted in BED files and interval tuples (``.``, unknown, reads as ``+``).
STRANDS = ("+", "-", ".")


@dataclass(frozen=True)
class Region:
    """A half-open interval ``[start, end)`` of a record, in a FASTA file (``path``) or in memory (``path=None``).

    ``record`` is the record's name in the source (file-qualified where several files share it, see
    :class:`GenomeSource`). ``strand`` is ``"+"`` or ``"-"``: the reverse complement of a ``"-"`` region is read
    only where the reader asks for it (:meth:`GenomeSource.read` with ``stranded=True``); coordinates are always
    those of the forward strand.
    """

    path: str | None
    record: str
    start: int
    end: int
    strand: str = "+"

    @property
    def length(self) -> int:
        return self.end - self.start

    def part(self, start: int, end: int) -> Region:
        """The sub-interval ``[start, end)`` of the same record.

        Parameters
        ----------
        start, end : int
            Positions in the record (not relative to this region).

        Returns
        -------
        Region
            On the same strand.
        """
        return Region(self.path, self.record, int(start), int(end), self.strand)


def read_bed(path, *, strand=False) -> list[tuple]:
    """Read the intervals of a BED file: ``record, start, end`` (0-based, half-open) and optionally the strand.

    The strand is the sixth column, ``+``, ``-`` or ``.`` (unknown, read as ``+``); a line without it is on
    ``+``. It is checked on every line, also when it is not returned.

    Parameters
    ----------
    path : str or path-like
        BED file (tab-separated); ``#``, ``track`` and ``browser`` lines are skipped.
    strand : bool, default=False
        Return ``(record, start, end, strand)`` with strand ``"+"`` or ``"-"`` instead of ``(record, start, end)``.

    Returns
    -------
    list of (str, int, int) or list of (str, int, int, str)

    Raises
    ------
    ValueError
        On a malformed line, naming the file, the line number and the offending value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BED file {path} does not exist.")
    intervals = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 3:
                raise ValueError(f"{path}, line {number}: a BED line needs record, start and end (tab-separated).")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise ValueError(f"{path}, line {number}: start and end must be integers; got {fields[1:3]}.") from None
            if not 0 <= start < end:
                raise ValueError(f"{path}, line {number}: interval {fields[0]}:{start}-{end} is empty or negative.")
            sign = fields[5].strip() if len(fields) >= 6 else "+"
            if sign not in STRANDS:
                raise ValueError(f"{path}, line {number}: strand (column 6) must be '+', '-' or '.'; got {sign!r}.")
            intervals.append((fields[0], start, end, "-" if sign == "-" else "+") if strand
                             else (fields[0], start, end))
    if not intervals:
        raise ValueError(f"BED file {path} holds no intervals.")
    return intervals


def _interval(item) -> tuple:
    """``(record, start, end, strand)`` of an interval tuple of three or four items."""
    message = f"An interval is (record, start, end) or (record, start, end, strand); got {item!r}."
    try:
        record, start, end, *rest = item
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(rest) > 1:
        raise ValueError(message)
    return (record, start, end, *rest)


def _stable_seed(*parts) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (2**63)


class GenomeSource:
    """Training and validation regions of one or more genomes, and reproducible windows drawn from them.

    Parameters
    ----------
    fasta : str, path-like or list of them, optional
        FASTA files (plain or bgzip with ``.fai``/``.gzi`` indexes).
    sequences : list of str, optional
        In-memory sequences instead of files (each is a record named by its index).
    intervals : list of (record, start, end[, strand]) or str/path-like, optional
        Restrict the files to these intervals (a list, or a BED file, see :func:`read_bed`). The strand (``+``,
        ``-`` or ``.``; default ``+``) is kept on the regions and used only by ``read(..., stranded=True)``:
        pretraining (:class:`~dnaestim.HyenaPretrainer`) reads every interval as stored and ignores it.
    validation_fraction : float, default=0.1
        The last ``validation_fraction`` of every region is held out for validation (regions shorter than
        ``min_validation_length`` stay entirely in training).
    validation_intervals : list of (record, start, end), optional
        Explicit validation intervals instead; they are removed from the training regions.
    min_validation_length : int, default=1000
        Regions whose held-out part would be shorter than this stay entirely in training.
    cache_bytes : int, default=2**30
        Records are read whole into memory on first use while their total stays under this many bytes (fast
        random windows); beyond it, windows are read from disk.

    Attributes
    ----------
    train_regions, valid_regions : list of Region
    records : dict
        ``{record: length}`` of every record. A record name that occurs in several files (``X`` in the yeast,
        worm and fly genomes) is qualified by its file, ``"<file name without FASTA suffix>:<record>"``
        (e.g. ``"saccharomyces_cerevisiae_R64-1-1:X"``); intervals, BED files and outputs use these names.
    """

    def __init__(self, *, fasta=None, sequences=None, intervals=None, validation_fraction=0.1,
                 validation_intervals=None, min_validation_length=1000, cache_bytes=2**30):
        self.cache_bytes = cache_bytes
        self._cache: dict = {}
        if (fasta is None) == (sequences is None):
            raise ValueError("Give either FASTA file(s) or in-memory sequences, not both and not neither.")
        self.sequences = None if sequences is None else list(sequences)
        self.paths = [] if fasta is None else [str(Path(p).expanduser()) for p in _as_list(fasta)]
        seen: dict = {}
        for path in self.paths:
            resolved = Path(path).resolve()
            if resolved in seen:
                raise ValueError(f"FASTA file {path} is given twice (also as {seen[resolved]}); give each file once.")
            seen[resolved] = path
        regions = self._all_regions(intervals)
        if validation_intervals is not None:
            valid = [self.region(*_interval(item)) for item in validation_intervals]
            train = _subtract(regions, valid)
        elif validation_fraction:
            if not 0 < validation_fraction < 1:
                raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction!r}.")
            train, valid = [], []
            for region in regions:
                n_valid = int(region.length * validation_fraction)
                if n_valid < min_validation_length:
                    train.append(region)
                    continue
                cut = region.end - n_valid
                train.append(region.part(region.start, cut))
                valid.append(region.part(cut, region.end))
        else:
            train, valid = regions, []
        if not train:
            raise ValueError("No training sequence is left after holding out the validation regions.")
        self.train_regions, self.valid_regions = train, valid

    # -- regions -----------------------------------------------------------------------------------------------

    def _record_lengths(self):
        """``{record: (path, name in the file, length)}``, names that repeat across files qualified by file."""
        if self.sequences is not None:
            return {str(i): (None, str(i), len(s)) for i, s in enumerate(self.sequences)}
        entries = []
        for path in self.paths:
            with open_fasta(path) as fasta:
                entries.extend((path, name, len(fasta[name])) for name in fasta.keys())
        counts = Counter(name for _, name, _ in entries)
        labels = _file_labels(self.paths)
        lengths = {}
        for path, name, length in entries:
            key = name if counts[name] == 1 else f"{labels[path]}:{name}"
            if key in lengths:
                other = lengths[key][0]
                where = f"twice in {path}" if other == path else f"in {other} and (qualified by file) in {path}"
                raise ValueError(f"Record name {key!r} appears {where}; record names must be unique within a "
                                 "FASTA file, and a name that contains ':' must not clash with a file-qualified one.")
            lengths[key] = (path, name, length)
        return lengths

    def _all_regions(self, intervals):
        self._lengths = self._record_lengths()
        if intervals is None:
            regions = [Region(path, key, 0, length)
                       for key, (path, name, length) in self._lengths.items() if length]
        else:
            if isinstance(intervals, (str, os.PathLike)):
                intervals = read_bed(intervals, strand=True)
            regions = [self.region(*_interval(item)) for item in intervals]
        if not regions:
            raise ValueError("The genome holds no sequence (every record is empty).")
        return regions

    def file_of(self, record) -> str | None:
        """The FASTA file that holds ``record`` (a name of :attr:`records`); None for in-memory sequences."""
        if record not in self._lengths:
            raise KeyError(f"Record {record!r} is not in this genome; it has: {', '.join(list(self._lengths)[:8])}.")
        return self._lengths[record][0]

    def region(self, record, start, end, strand="+") -> Region:
        """The interval ``[start, end)`` of ``record`` (a name of :attr:`records`), checked against its length.

        Parameters
        ----------
        record : str
            A name of :attr:`records`.
        start, end : int
            0-based, half-open.
        strand : {"+", "-", "."}, default="+"
            ``"."`` (unknown) is taken as ``"+"``.

        Returns
        -------
        Region
        """
        if strand not in STRANDS:
            raise ValueError(f"The strand of interval {record}:{start}-{end} must be '+', '-' or '.'; got {strand!r}.")
        if record not in self._lengths:
            qualified = [key for key, (_, name, _) in self._lengths.items() if name == record and key != record]
            if qualified:
                raise KeyError(f"Record {record!r} of interval {record}:{start}-{end} is in several files; name it "
                               f"by its file: {', '.join(repr(q) for q in qualified)}.")
            where = ", ".join(self.paths) if self.paths else "the given sequences"
            raise KeyError(f"Record {record!r} of interval {record}:{start}-{end} is not in {where}; it has: "
                           f"{_some_names(self._lengths)}.")
        path, name, length = self._lengths[record]
        if not 0 <= start < end <= length:
            raise ValueError(
                f"Interval {record}:{start}-{end} is outside the record, which has {length} bases (0-based, half-open)."
            )
        return Region(path, record, int(start), int(end), "-" if strand == "-" else "+")

    @property
    def records(self) -> dict:
        """``{record: length}`` of every record, in file order (see the class docstring for repeated names)."""
        return {key: length for key, (_, _, length) in self._lengths.items()}

    # -- reading -----------------------------------------------------------------------------------------------

    def read(self, regions: list[Region], *, stranded: bool = False) -> list[str]:
        """Sequences of ``regions`` (files opened once per call and closed before returning).

        Parameters
        ----------
        regions : list of Region
            Intervals to read.
        stranded : bool, default=False
            Return the reverse complement (:func:`dnaestim.reverse_complement`) of regions on the ``"-"`` strand;
            by default every region is read as stored, whatever its strand.

        Returns
        -------
        list of str
            One sequence per region, case kept.
        """
        out = self._read_forward(regions)
        if stranded:
            out = [reverse_complement(seq) if r.strand == "-" else seq for seq, r in zip(out, regions)]
        return out

    def _read_forward(self, regions):
        out = [None] * len(regions)
        pending: dict = {}
        for i, r in enumerate(regions):
            if r.path is None:
                out[i] = self.sequences[int(r.record)][r.start:r.end]
            elif (r.path, r.record) in self._cache:
                out[i] = self._cache[(r.path, r.record)][r.start:r.end]
            else:
                pending.setdefault(r.path, []).append(i)
        for path, indices in pending.items():
            with open_fasta(path) as fasta:
                for i in indices:
                    r = regions[i]
                    key = (path, r.record)
                    _, name_in_file, length = self._lengths[r.record]
                    if key in self._cache:  # read whole earlier in this call
                        out[i] = self._cache[key][r.start:r.end]
                    elif sum(map(len, self._cache.values())) + length <= self.cache_bytes:
                        self._cache[key] = str(fasta[name_in_file][:])
                        out[i] = self._cache[key][r.start:r.end]
                    else:
                        out[i] = str(fasta[name_in_file][r.start:r.end])
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    # -- windows -----------------------------------------------------------------------------------------------

    def sample_windows(self, length: int, count: int, *, seed: int, step: int, max_n_fraction: float = 0.5,
                       max_tries: int = 10) -> list[str]:
        """``count`` training windows of ``length`` bases for optimiser step ``step``.

        Regions are chosen with probability proportional to their length, starts uniformly; the result depends only
        on ``(seed, step, length, count)``.

        Returns
        -------
        list of str
            Windows as stored (case kept); shorter than ``length`` only where a region is.
        """
        rng = np.random.default_rng(_stable_seed(seed, step, length, count))
        lengths = np.array([r.length for r in self.train_regions], dtype=np.float64)
        probabilities = lengths / lengths.sum()

        def draw(n):
            picks = rng.choice(len(lengths), size=n, p=probabilities)
            chosen = []
            for index in picks:
                region = self.train_regions[int(index)]
                span = min(length, region.length)
                start = region.start + int(rng.integers(0, region.length - span + 1))
                chosen.append(region.part(start, start + span))
            return self.read(chosen)

        windows = draw(count)
        for _ in range(max_tries - 1):
            redo = [i for i, w in enumerate(windows) if _n_fraction(w) > max_n_fraction]
            if not redo:
                break
            for i, window in zip(redo, draw(len(redo))):
                windows[i] = window
        return windows

    def validation_windows(self, length: int, max_windows: int | None = None) -> list[str]:
        """Non-overlapping windows tiling the validation regions (deterministic), at most ``max_windows``.

        Windows that are mostly N are left out.
        """
        tiles = []
        for region in self.valid_regions:
            for start in range(region.start, region.end, length):
                tiles.append(region.part(start, min(start + length, region.end)))
        if max_windows is not None and len(tiles) > max_windows:
            keep = np.linspace(0, len(tiles) - 1, max_windows).round().astype(int)
            tiles = [tiles[i] for i in np.unique(keep)]
        return [w for w in self.read(tiles) if len(w) > 1 and _n_fraction(w) <= 0.5]


def _n_fraction(window: str) -> float:
    return (window.count("N") + window.count("n")) / max(1, len(window))


_FASTA_SUFFIX = re.compile(r"\.(fa|fasta|fna|fas)(\.gz|\.bgz)?$", re.IGNORECASE)


def _file_labels(paths) -> dict:
    """A short name for each FASTA file: its name without the FASTA suffix (the whole path where those clash)."""
    labels = {p: _FASTA_SUFFIX.sub("", Path(p).name) for p in paths}
    if len(set(labels.values())) < len(labels):
        return {p: str(p) for p in paths}
    return labels


def _as_list(value):
    if isinstance(value, (str, os.PathLike)):
        return [value]
    return list(value)


def _subtract(regions: list[Region], holes: list[Region]) -> list[Region]:
    out = []
    for region in regions:
        pieces = [(region.start, region.end)]
        for hole in holes:
            if (hole.path, hole.record) != (region.path, region.record):
                continue
            next_pieces = []
            for start, end in pieces:
                if hole.end <= start or hole.start >= end:
                    next_pieces.append((start, end))
                    continue
                if start < hole.start:
                    next_pieces.append((start, hole.start))
                if hole.end < end:
                    next_pieces.append((hole.end, end))
            pieces = next_pieces
        out.extend(region.part(s, e) for s, e in pieces if e > s)
    return out
