"""Genome input: FASTA files (plain or bgzip) read lazily through pyfaidx, and the genome bundled with dnaestim."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["bundled_genome_path", "fetch_sequence", "open_fasta"]

BUNDLED_GENOME = "mammalia_mtDNA_8species.fa.gz"


def bundled_genome_path() -> Path:
    """Path of the genome file shipped with dnaestim.

    Eight complete mammalian mitochondrial genomes (human, orangutan, cat, cattle, mouse, rat, wolf, sheep;
    about 16.5 kb each), bgzip-compressed with samtools indexes. Real, published sequence; provenance in
    ``dnaestim/data/README.md``.

    Returns
    -------
    pathlib.Path
    """
    return Path(str(resources.files("dnaestim") / "data" / BUNDLED_GENOME))


def open_fasta(path):
    """Open an indexed FASTA file (plain or bgzip) for random access.

    Parameters
    ----------
    path : str or path-like
        FASTA file. A missing ``.fai`` index is built next to a plain file; a bgzip file needs its ``.fai`` and
        ``.gzi`` (``samtools faidx``) and biopython installed.

    Returns
    -------
    pyfaidx.Fasta
        Close it (or use it as a context manager) when done; never store it on an estimator.
    """
    import pyfaidx

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"FASTA path must be a str or os.PathLike; got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"FASTA file {path} does not exist.")
    try:
        return pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=False, rebuild=False)
    except ImportError as err:
        raise ImportError(
            f"Reading the bgzip-compressed FASTA {path} needs biopython (pip install biopython): {err}"
        ) from None
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, OSError, ValueError) as err:
        raise ValueError(
            f"Cannot read {path} as an indexed FASTA file ({err}). Plain FASTA is indexed automatically; "
            "compress with bgzip (not gzip) and index with `samtools faidx`."
        ) from None


def fetch_sequence(fasta, record: str, start: int = 0, end: int | None = None) -> str:
    """Read ``record[start:end]`` (0-based, half-open) from an open FASTA file.

    Parameters
    ----------
    fasta : pyfaidx.Fasta
        From :func:`open_fasta`.
    record : str
        Record (chromosome, contig) name.
    start, end : int
        Interval; ``end=None`` reads to the end of the record.

    Returns
    -------
    str
        The sequence as stored (case kept).
    """
    if record not in fasta:
        raise KeyError(f"Record {record!r} is not in {fasta.filename}; it has: {_some_names(fasta.keys())}.")
    length = len(fasta[record])
    end = length if end is None else end
    if not 0 <= start <= end <= length:
        raise ValueError(
            f"Interval {record}:{start}-{end} is outside the record, which has {length} bases (0-based, half-open)."
        )
    return str(fasta[record][start:end])


def _some_names(names) -> str:
    """The first eight record names, for an error message."""
    names = list(names)
    return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
