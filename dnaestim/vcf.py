"""VCF files: a small strict reader, and variant scores written as a table or into a copy of the VCF.

The reader is pure Python and streams the file line by line (plain text, or gzip/bgzip-compressed, detected by
its first bytes). It reads the eight fixed columns of VCF 4.x (``#CHROM POS ID REF ALT QUAL FILTER INFO``) and
splits multi-allelic records into one :class:`VcfVariant` per ALT allele. It does not parse INFO, FORMAT or
sample columns and needs no index: scoring reads every record, in file order. Alleles that cannot be scored from
the reference sequence (no ALT ``.``, symbolic ``<DEL>``, breakends, the spanning deletion ``*``) are kept, with a
``status`` saying why, so that a table of scores has one row per ALT allele of the file.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_write
from .datasets import _is_gzip

__all__ = ["VcfVariant", "annotate_vcf", "iter_vcf", "read_vcf", "write_scores"]

#: ``status`` of an allele that can be scored.
OK = "ok"
NO_ALT = "no ALT"
SYMBOLIC = "symbolic allele"
BREAKEND = "breakend"
SPANNING_DELETION = "spanning deletion"
REF_MISMATCH = "REF mismatch"

#: The INFO key :func:`annotate_vcf` writes.
INFO_KEY = "DNAESTIM_LLR"

COLUMNS = ("chrom", "pos", "id", "ref", "alt", "status", "line")
_INT_COLUMNS = ("pos", "line")
_HEADER = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
_BASES = re.compile(r"[ACGTNacgtn]+")
_SINGLE_BREAKEND = re.compile(r"\.[ACGTNacgtn]+|[ACGTNacgtn]+\.")
_POS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class VcfVariant:
    """One ALT allele of a VCF record; a record with several ALT alleles gives one per allele.

    Attributes
    ----------
    chrom : str
        Chromosome (the CHROM column), as in the file.
    pos : int
        1-based position of the first base of ``ref`` (the POS column).
    id : str or None
        The ID column (``rs`` number, ...); None where it is ``.``.
    ref : str
        Reference allele, as in the file (A, C, G, T, N; any case).
    alt : str
        This ALT allele, as in the file: bases, or ``.``, ``*``, a symbolic allele or a breakend.
    line : int
        1-based line number of the record in the file (shared by the alleles of a multi-allelic record).
    status : str, default="ok"
        ``"ok"`` where the allele can be scored from the reference sequence (a substitution of one or several
        bases, an insertion, a deletion or a complex change); otherwise why not: ``"no ALT"`` (ALT ``.``),
        ``"symbolic allele"`` (``<DEL>``, ``<CN0>``, ...), ``"breakend"`` (``G]2:321682]``, ``.A``, ...) or
        ``"spanning deletion"`` (``*``).
    """

    chrom: str
    pos: int
    id: str | None
    ref: str
    alt: str
    line: int
    status: str = OK


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"The VCF file path must be a str or os.PathLike; got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"VCF file {path} does not exist.")
    return path


def _lines(path: Path):
    """``(number, line)`` for every line of ``path`` without its line ending; unreadable input is a ValueError."""
    number = 0
    try:
        with (gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")) as fh:
            for number, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise ValueError(f"{path}, line {number}: not UTF-8 text ({err.reason}); is it a VCF file?") \
                        from None
                yield number, line.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"{path}: the compressed file is damaged or truncated after line {number} ({err}); compress VCF files "
            "with bgzip or gzip, and check that the copy is complete."
        ) from None


def _shortened(text) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _header(path, number, line) -> int:
    fields = line.split("\t")
    if tuple(fields[:8]) != _HEADER or (len(fields) > 8 and fields[8] != "FORMAT"):
        spaces = " (the columns are separated by spaces; VCF needs tabs)" if len(fields) < 8 and " " in line else ""
        raise ValueError(
            f"{path}, line {number}: the header line must be the tab-separated columns "
            "#CHROM POS ID REF ALT QUAL FILTER INFO (then FORMAT and samples, if any); "
            f"got {_shortened(line)!r}{spaces}."
        )
    return len(fields)


def _alt_status(alt: str):
    """The ``status`` of one ALT allele; None for an allele that is not valid VCF."""
    if alt == "*":
        return SPANNING_DELETION
    if "[" in alt or "]" in alt or _SINGLE_BREAKEND.fullmatch(alt):
        return BREAKEND
    if len(alt) > 2 and alt.startswith("<") and alt.endswith(">"):
        return SYMBOLIC
    if _BASES.fullmatch(alt):
        return OK
    return None


def _record(path, number, line, n_columns, header_line):
    fields = line.split("\t")

    def fail(problem, fix):
        return ValueError(f"{path}, line {number} ({_shortened(' '.join(fields[:5]))}): {problem}. {fix}")

    if len(fields) != n_columns:
        spaces = " Are the columns separated by spaces? VCF needs tabs." if len(fields) < n_columns and " " in line \
            else ""
        raise fail(f"the record has {len(fields)} tab-separated columns, but the header (line {header_line}) has "
                   f"{n_columns}", f"Every record needs as many columns as the header.{spaces}")
    chrom, pos, ident, ref, alts = fields[:5]
    if not chrom or chrom != chrom.strip():
        raise fail(f"CHROM {chrom!r} is empty or has spaces", "Fix the chromosome name.")
    if not _POS.fullmatch(pos) or int(pos) < 1:
        raise fail(f"POS {pos!r} is not a positive integer", "VCF positions are 1-based integers; fix the record.")
    if not _BASES.fullmatch(ref):
        raise fail(f"REF {ref!r} has characters other than A, C, G, T, N (any case)",
                   "Fix the record, or remove it (IUPAC codes and missing REF cannot be checked or scored).")
    ident = None if ident == "." else ident
    if alts == ".":
        return [VcfVariant(chrom, int(pos), ident, ref, alts, number, NO_ALT)]
    variants = []
    for alt in alts.split(","):
        status = _alt_status(alt)
        if status is None:
            raise fail(f"ALT allele {alt!r} is not valid",
                       "An ALT allele is bases (A, C, G, T, N; any case), a symbolic allele such as <DEL>, a "
                       "breakend, '*', or '.' alone for none; fix or remove the record.")
        variants.append(VcfVariant(chrom, int(pos), ident, ref, alt, number, status))
    return variants


def iter_vcf(path):
    """Read a VCF file one ALT allele at a time (streaming; the file is never held in memory).

    Parameters
    ----------
    path : str or path-like
        VCF file (VCF 4.x), plain text or gzip/bgzip-compressed (detected from its first bytes, not its name).

    Yields
    ------
    VcfVariant
        One per ALT allele, in file order; see :func:`read_vcf` for what is checked.
    """
    path = _check_path(path)
    n_columns = header_line = None
    for number, line in _lines(path):
        if n_columns is None:
            if line.startswith("##") or not line.strip():
                continue
            if not line.startswith("#"):
                raise ValueError(
                    f"{path}, line {number}: a record comes before the header line "
                    "(#CHROM POS ID REF ALT QUAL FILTER INFO, tab-separated); add the header, or check that this is "
                    "a VCF file."
                )
            n_columns, header_line = _header(path, number, line), number
            continue
        if not line.strip():
            continue
        if line.startswith("#"):
            raise ValueError(f"{path}, line {number}: a header or meta-information line after the header line "
                             f"(line {header_line}); remove it or move it above the header.")
        yield from _record(path, number, line, n_columns, header_line)
    if n_columns is None:
        raise ValueError(f"{path} has no header line (#CHROM POS ID REF ALT QUAL FILTER INFO, tab-separated); is it "
                         "a VCF file?")


def read_vcf(path):
    """Read the variants of a VCF file, one row per ALT allele.

    A small strict reader of VCF 4.x: meta-information lines (``##``) are skipped, the header line
    (``#CHROM POS ID REF ALT QUAL FILTER INFO``, then ``FORMAT`` and samples if any) is required, and every record
    must have as many tab-separated columns as the header, a positive integer POS and a REF of A, C, G, T, N (any
    case). A multi-allelic record (ALT ``G,T``) gives one row per ALT allele, each with the record's line number
    and ID. INFO, FORMAT and sample columns are not read.

    Alleles that cannot be scored from the reference sequence are kept, with a ``status`` saying why: ``"no ALT"``
    (ALT ``.``), ``"symbolic allele"`` (``<DEL>``, ``<CN0>``, ...), ``"breakend"`` (``G]2:321682]``, ``.A``) and
    ``"spanning deletion"`` (``*``). The others (substitutions of one or several bases, insertions, deletions,
    complex changes) have status ``"ok"``.

    Parameters
    ----------
    path : str or path-like
        VCF file, plain text or gzip/bgzip-compressed (detected from its first bytes, not its name).

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom``, ``pos`` (1-based), ``id`` (None where the file has ``.``), ``ref``, ``alt``,
        ``status`` and ``line`` (1-based line number in the file); one row per ALT allele, in file order.

    Raises
    ------
    ValueError
        For a file that is not valid VCF: no header line, a record with the wrong number of columns, a POS that
        is not a positive integer, a REF or ALT with other characters. The message names the file, the line and
        the record.

    See Also
    --------
    iter_vcf : The same alleles one at a time, for files too large to hold as a table.
    dnaestim.score_variants : Scores the alleles of a VCF file (``vcf=``).

    Examples
    --------
    >>> import os, tempfile
    >>> from dnaestim.vcf import read_vcf
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "calls.vcf")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("##fileformat=VCFv4.2\\n"
    ...                  "#CHROM\\tPOS\\tID\\tREF\\tALT\\tQUAL\\tFILTER\\tINFO\\n"
    ...                  "chrM\\t73\\trs3087742\\tA\\tG,T\\t.\\tPASS\\t.\\n"
    ...                  "chrM\\t310\\t.\\tT\\tTC\\t.\\tPASS\\t.\\n"
    ...                  "chrM\\t3107\\t.\\tN\\t<DEL>\\t.\\tPASS\\tSVTYPE=DEL\\n")
    >>> read_vcf(path)
      chrom   pos         id ref    alt           status  line
    0  chrM    73  rs3087742   A      G               ok     3
    1  chrM    73  rs3087742   A      T               ok     3
    2  chrM   310       None   T     TC               ok     4
    3  chrM  3107       None   N  <DEL>  symbolic allele     5
    >>> folder.cleanup()
    """
    return _frame(list(iter_vcf(path)))


def _frame(variants) -> pd.DataFrame:
    return pd.DataFrame({
        column: pd.Series([getattr(v, column) for v in variants], dtype=np.int64 if column in _INT_COLUMNS else object)
        for column in COLUMNS
    })


def _check_frame(scores, required):
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame (from score_variants(..., vcf=...)); got "
                        f"{type(scores).__name__}.")
    missing = [c for c in required if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks the column(s) {missing}; pass the DataFrame that score_variants(..., vcf=...) "
                         "returns.")


def _output_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"The output path must be a str or os.PathLike; got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: the directory {path.parent} does not exist.")
    return path


def write_scores(scores, path):
    """Write variant scores as a tab-separated table, atomically.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`dnaestim.score_variants` with ``vcf=`` (any DataFrame with ``chrom``, ``pos``, ``ref``, ``alt``
        and ``score`` columns is written as it is).
    path : str or path-like
        The table to write (its directory must exist). Written to a temporary file renamed over ``path`` at the
        end, so an error never leaves a partial table.

    Returns
    -------
    pathlib.Path
        The file written: a header line, then one line per row with its columns tab-separated; a missing ID is
        written ``.`` and a missing score ``NaN`` (``pandas.read_csv(path, sep="\\t")`` reads it back).

    See Also
    --------
    annotate_vcf : The scores in a copy of the VCF file, as an INFO field.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from dnaestim.vcf import write_scores
    >>> folder = tempfile.TemporaryDirectory()
    >>> scores = pd.DataFrame({"chrom": ["chrM"], "pos": [73], "id": [None], "ref": ["A"], "alt": ["G"],
    ...                        "score": [-0.25], "status": ["ok"], "line": [3]})
    >>> path = write_scores(scores, os.path.join(folder.name, "scores.tsv"))
    >>> pd.read_csv(path, sep="\\t")
      chrom  pos id ref alt  score status  line
    0  chrM   73  .   A   G  -0.25     ok     3
    >>> folder.cleanup()
    """
    _check_frame(scores, ("chrom", "pos", "ref", "alt", "score"))
    path = _output_path(path)
    table = scores.copy()
    if "id" in table.columns:
        table["id"] = table["id"].astype(object).where(table["id"].notna(), ".")
    with atomic_write(path, "w") as fh:
        table.to_csv(fh, sep="\t", index=False, na_rep="NaN", lineterminator="\n")
    return path


class _KeepOpen:
    """A binary file for :class:`Bio.bgzf.BgzfWriter` whose ``close`` only flushes (the atomic writer closes it)."""

    mode = "wb"

    def __init__(self, fh):
        self._fh = fh

    def write(self, data):
        return self._fh.write(data)

    def flush(self):
        self._fh.flush()

    def tell(self):
        return self._fh.tell()

    def close(self):
        self._fh.flush()


def _info_with(info: str, values) -> str:
    kept = [entry for entry in ([] if info == "." else info.split(";"))
            if entry.split("=", 1)[0] != INFO_KEY]
    if values is not None:
        kept.append(f"{INFO_KEY}={','.join(values)}")
    return ";".join(kept) or "."


def annotate_vcf(vcf, scores, path, *, description=None):
    """Write a copy of a VCF file with each ALT allele's score in the INFO column, atomically.

    Every record keeps its columns, except that INFO gains ``DNAESTIM_LLR=<score>`` (one value per ALT allele,
    ``.`` for an allele without a score; the key is left out of a record none of whose alleles has one), and the
    header gains ``##INFO=<ID=DNAESTIM_LLR,Number=A,Type=Float,...>`` before the ``#CHROM`` line. A
    ``DNAESTIM_LLR`` already in the file (an annotated file annotated again) is replaced.

    Parameters
    ----------
    vcf : str or path-like
        The VCF file that was scored.
    scores : pandas.DataFrame
        From :func:`dnaestim.score_variants` with ``vcf=`` the same file: the columns ``chrom``, ``pos``, ``alt``,
        ``score`` and ``line`` tie each score to its record and allele. Rows may be filtered or reordered.
    path : str or path-like
        The copy to write (its directory must exist). A name ending in ``.gz`` or ``.bgz`` is written
        bgzip-compressed (readable by gzip and indexable with ``tabix``); any other name as plain text.
    description : str, optional
        Description of the INFO field in the header (default: what the score is).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        When a row of ``scores`` does not match the file (another VCF, or an edited one): its line holds no
        record of that chromosome, position and ALT allele.

    See Also
    --------
    write_scores : The scores as a tab-separated table.
    """
    _check_frame(scores, ("chrom", "pos", "alt", "score", "line"))
    vcf = _check_path(vcf)
    path = _output_path(path)
    wanted = {}
    for chrom, pos, alt, score, line in zip(scores["chrom"], scores["pos"], scores["alt"], scores["score"],
                                            scores["line"]):
        key = (int(line), str(alt))
        if key in wanted:
            raise ValueError(f"scores has two rows for ALT {alt!r} of line {line}; give each allele once.")
        wanted[key] = (str(chrom), int(pos), None if pd.isna(score) else float(score))
    if description is None:
        description = ("Log-likelihood ratio log P(alt) - log P(ref), in nats, of an equal-length window around "
                       "the variant under a HyenaDNA language model (dnaestim)")
    description = str(description).replace('"', "'")  # a double quote would end the header's string
    header = f'##INFO=<ID={INFO_KEY},Number=A,Type=Float,Description="{description}">\n'
    matched = set()
    bgzip = path.name.endswith((".gz", ".bgz"))
    with atomic_write(path, "wb" if bgzip else "w") as fh:
        if bgzip:
            from Bio.bgzf import BgzfWriter

            out = BgzfWriter(fileobj=_KeepOpen(fh))
            write = lambda text: out.write(text.encode("utf-8"))  # noqa: E731
        else:
            out, write = None, fh.write
        in_header = True
        for number, line in _lines(vcf):
            if in_header:
                if line.startswith(f"##INFO=<ID={INFO_KEY},"):
                    continue
                if line.startswith("#") and not line.startswith("##"):
                    write(header)
                    in_header = False
                write(line + "\n")
                continue
            fields = line.split("\t")
            if len(fields) < 8 or line.startswith("#"):
                write(line + "\n")
                continue
            alts = fields[4].split(",")
            found = [wanted.get((number, alt)) for alt in alts]
            for alt, entry in zip(alts, found):
                if entry is None:
                    continue
                matched.add((number, alt))
                if entry[:2] != (fields[0], int(fields[1]) if fields[1].isdigit() else None):
                    raise ValueError(
                        f"scores row for line {number} ({entry[0]}:{entry[1]} {alt}) does not match that line of "
                        f"{vcf} ({fields[0]}:{fields[1]}); pass the VCF file that was scored."
                    )
            # A missing score is None (wanted holds no NaN), written '.' as VCF writes a missing value.
            values = ["." if entry is None or entry[2] is None else f"{entry[2]:.6g}" for entry in found]
            fields[7] = _info_with(fields[7], values if any(v != "." for v in values) else None)
            write("\t".join(fields) + "\n")
        unmatched = sorted(set(wanted) - matched)
        if unmatched:
            shown = ", ".join(f"line {line} ALT {alt!r}" for line, alt in unmatched[:3])
            raise ValueError(
                f"{len(unmatched)} row(s) of scores match no ALT allele of {vcf} ({shown}"
                f"{', ...' if len(unmatched) > 3 else ''}); pass the VCF file that was scored."
            )
        if out is not None:
            out.close()
    return path
