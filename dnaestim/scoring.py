"""Likelihood scoring with a HyenaDNA language model: per-token log-probabilities, per-sequence log-likelihoods,
and variant effects as log-likelihood ratios.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._inference import next_token_log_probs, predict_batches
from ._validation import check_int
from .checkpoints import language_model_of
from .genome.fasta import open_fasta
from .nn import HyenaLM
from .tokenizer import RIGHT_PADDED

__all__ = ["score_variants", "sequence_log_likelihood", "token_log_probs"]


def _as_model(model) -> HyenaLM:
    lm = language_model_of(model)
    if lm is not None:
        return lm
    if type(model).__module__.startswith("dnaestim.") and hasattr(model, "fit"):  # an estimator not yet fitted
        raise TypeError(f"model is an unfitted {type(model).__name__}; fit it first, or pass a HyenaLM or a "
                        "checkpoint directory.")
    raise TypeError(
        f"model must be a HyenaLM, a fitted HyenaPretrainer or a checkpoint directory; got {type(model).__name__}."
    )


def token_log_probs(model, sequences, *, batch_size=16, tokenizer=RIGHT_PADDED, chunk_size="auto"):
    """``log p(x_t | x_<t)`` for every nucleotide but the first of each sequence (natural log).

    Parameters
    ----------
    model : HyenaLM, fitted HyenaPretrainer or checkpoint directory
    sequences : list of str
        Each at most ``l_max + 1`` long.
    batch_size : int, default=16
        Sequences per forward pass.
    tokenizer : DNATokenizer, optional
        Right-padding tokenizer (the default raises on characters other than A, C, G, T, N).
    chunk_size : int, "auto" or None, default="auto"
        Evaluate batches longer than this in chunks (bounded memory for very long sequences); see
        :meth:`dnaestim.nn.HyenaBackbone.forward`.

    Returns
    -------
    list of ndarray
        One float64 array of length ``len(seq) - 1`` per sequence, in input order.
    """
    model = _as_model(model)
    batch_size = check_int(batch_size, "batch_size")

    def forward(ids, mask):
        return next_token_log_probs(model(ids[:, :-1], chunk_size=chunk_size), ids), mask.sum(1)

    out = [None] * len(sequences)
    for index, (picked, n_tokens) in predict_batches(model, list(sequences), forward, tokenizer=tokenizer,
                                                      batch_size=batch_size, device=next(model.parameters()).device):
        for row, i in enumerate(index):
            out[i] = picked[row, :max(0, n_tokens[row] - 1)]
    return out


def sequence_log_likelihood(model, sequences, *, batch_size=16):
    """Total log-likelihood (nats) of each sequence, every nucleotide but the first.

    Parameters
    ----------
    model : HyenaLM, fitted HyenaPretrainer or checkpoint directory
    sequences : list of str
        Each at most ``l_max + 1`` long.
    batch_size : int, default=16
        Sequences per forward pass.

    Returns
    -------
    ndarray of shape (n_sequences,)
    """
    return np.array([float(v.sum()) for v in token_log_probs(model, sequences, batch_size=batch_size)])


def score_variants(model, positions=None, alts=None, *, vcf=None, sequence=None, fasta=None, record=None, refs=None,
                   window=None, batch_size=16, on_ref_mismatch="raise"):
    """Effect of variants as log-likelihood ratios, ``log P(alt) - log P(ref)``, in nats.

    Each variant is scored on a window of ``window`` nucleotides centred on it (clipped at the ends of the
    reference): the whole window's log-likelihood with the alternative allele minus that with the reference
    allele. A causal model sees the allele's effect on the allele itself and on everything after it, with the
    first half of the window as context. Negative values mean the variant makes the sequence less likely.

    The variants come either as arrays of single-nucleotide substitutions in one reference sequence
    (``positions``, ``alts``), or from a VCF file (``vcf=``, with ``fasta=``), which may also hold multi-base
    substitutions, insertions, deletions and complex changes. A variant at 0-based position ``p`` with reference
    allele ``r`` and alternative ``a`` is scored on equal-length windows: with ``s`` the window's start, the
    reference window is ``reference[s:s + window]`` and the alternative one ``reference[s:p] + a +
    reference[p + len(r):]`` cut to the same length (near the end of a chromosome, where a deletion leaves the
    alternative shorter, both are cut to the shorter length). For a single-nucleotide variant both inputs give
    the same score.

    Parameters
    ----------
    model : HyenaLM, fitted HyenaPretrainer or checkpoint directory
        The language model.
    positions : array-like of int, optional
        0-based positions of the variants in the reference. Required unless ``vcf`` is given.
    alts : array-like of str, optional
        Alternative alleles, one nucleotide each (A, C, G, T or N; any case). Required unless ``vcf`` is given.
    vcf : str or path-like, optional
        VCF file of the variants (plain or gzip/bgzip; read by :func:`dnaestim.vcf.read_vcf`), instead of
        ``positions`` and ``alts``; needs ``fasta``, the reference genome the variants were called against.
        Give either this or ``positions`` and ``alts``, not both.
    sequence : str, optional
        The reference sequence. Give either this or ``fasta`` and ``record`` (arrays only).
    fasta : str or path-like, optional
        FASTA file holding the reference (plain, or bgzip with its ``samtools faidx`` indexes). Each chromosome
        is read from it once.
    record : str, optional
        Record of ``fasta`` (chromosome name) of the variants given as arrays.
    refs : array-like of str, optional
        Expected reference alleles of the variants given as arrays; a mismatch is handled as
        ``on_ref_mismatch`` says (catches 0/1-based mix-ups). The REF column of a VCF file is always checked.
    window : int, optional
        Nucleotides scored per variant; at most the model's ``l_max`` + 1, which is also the default (capped at
        1024).
    batch_size : int, default=16
        Windows per forward pass.
    on_ref_mismatch : {"raise", "flag"}, default="raise"
        What to do with a variant whose reference allele is not what the reference sequence has there:
        ``"raise"`` a ``ValueError`` naming the variant (for a VCF file: its line, chromosome and position, the
        REF and the reference's bases), or ``"flag"`` it with a NaN score (for a VCF file, status
        ``"REF mismatch"``) and score the others.

    Returns
    -------
    ndarray of shape (n_variants,) or pandas.DataFrame
        For ``positions`` and ``alts``, the scores in input order. For ``vcf``, one row per ALT allele in file
        order, with columns ``chrom``, ``pos`` (1-based), ``id`` (None for ``.``), ``ref``, ``alt``, ``score``,
        ``status`` and ``line`` (the record's line in the file). ``status`` is ``"ok"`` for a scored allele;
        alleles that cannot be scored from sequence (ALT ``.``, symbolic alleles such as ``<DEL>``, breakends,
        ``*``) and, with ``on_ref_mismatch="flag"``, REF mismatches have a NaN score and a ``status`` saying
        why (see :func:`dnaestim.vcf.read_vcf`).

    See Also
    --------
    dnaestim.vcf.write_scores : Writes the scores of a VCF file as a tab-separated table.
    dnaestim.vcf.annotate_vcf : Writes them into a copy of the VCF file, as the INFO field ``DNAESTIM_LLR``.

    Examples
    --------
    >>> from dnaestim import HyenaConfig, HyenaLM
    >>> model = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))
    >>> score_variants(model, [10, 20], ["A", "T"], sequence="ACGT" * 16, window=32).shape
    (2,)
    """
    model = _as_model(model)
    batch_size = check_int(batch_size, "batch_size")
    if on_ref_mismatch not in ("raise", "flag"):
        raise ValueError(f"on_ref_mismatch must be 'raise' or 'flag'; got {on_ref_mismatch!r}.")
    if vcf is not None:
        given = [name for name, value in (("positions", positions), ("alts", alts), ("sequence", sequence),
                                          ("record", record), ("refs", refs)) if value is not None]
        if given:
            raise ValueError(
                f"Give the variants either as vcf= (with fasta=) or as positions= and alts= (with sequence= or "
                f"fasta= and record=), not both: vcf= was given with {', '.join(f'{n}=' for n in given)}."
            )
        if fasta is None:
            raise ValueError("vcf= needs fasta=, the reference genome (FASTA) the variants were called against.")
        return _score_vcf(model, vcf, fasta, _check_window(model, window), batch_size, on_ref_mismatch)
    if positions is None or alts is None:
        raise ValueError("Give the variants either as positions= and alts= (0-based positions in one reference "
                         "sequence) or as vcf= (a VCF file, with fasta=).")
    positions = np.asarray(positions)
    alts = [str(a) for a in np.asarray(alts, dtype=object).ravel()]
    if positions.ndim != 1 or len(positions) != len(alts):
        raise ValueError(f"positions and alts must be 1-D and of equal length; got {positions.shape} and {len(alts)}.")
    if not np.issubdtype(positions.dtype, np.integer):
        raise TypeError(f"positions must be integers; got dtype {positions.dtype}.")
    for i, alt in enumerate(alts):
        if len(alt) != 1 or alt.upper() not in "ACGTN":
            raise ValueError(f"Variant {i}: alternative allele {alt!r} is not a single nucleotide (A, C, G, T, N).")
    window = _check_window(model, window)
    reference = _reference(sequence, fasta, record)
    length = len(reference)
    scored, ref_windows, alt_windows = [], [], []
    for i, (position, alt) in enumerate(zip(positions.tolist(), alts)):
        if not 0 <= position < length:
            raise ValueError(f"Variant {i}: position {position} is outside the reference, which has {length} bases.")
        found = reference[position]
        if refs is not None and str(refs[i]).upper() != found.upper():
            if on_ref_mismatch == "flag":
                continue
            raise ValueError(
                f"Variant {i} at position {position}: the reference has {found!r}, not {refs[i]!r}. Positions are "
                "0-based; check for an off-by-one or another assembly."
            )
        ref_window, alt_window = _windows(lambda a, b: reference[a:b], length, position, 1, alt, window)
        scored.append(i)
        ref_windows.append(ref_window)
        alt_windows.append(alt_window)
    scores = np.full(len(alts), np.nan)
    values = sequence_log_likelihood(model, alt_windows + ref_windows, batch_size=batch_size)
    scores[scored] = values[: len(scored)] - values[len(scored):]
    return scores


def _check_window(model, window):
    if window is None:
        window = min(1024, model.config.l_max + 1)
    if not isinstance(window, int) or not 2 <= window <= model.config.l_max + 1:
        raise ValueError(
            f"window must be an int in [2, {model.config.l_max + 1}] (the model's l_max + 1); got {window!r}."
        )
    return window


def _window_bounds(length, position, n_ref, n_alt, window):
    """``(start, end, tail_end)``: the reference window is ``[start, end)``; the alternative one is
    ``[start, position) + alt + [position + n_ref, tail_end)``, at most ``window`` long."""
    start = max(0, min(position - window // 2, length - window))
    end = min(length, start + window)
    tail_end = min(length, position + n_ref + max(0, window - (position - start) - n_alt))
    return start, end, tail_end


def _windows(fetch, length, position, n_ref, alt, window):
    """Equal-length reference and alternative windows around a variant; ``fetch(a, b)`` reads ``reference[a:b]``
    for ``0 <= a <= b <= length``."""
    start, end, tail_end = _window_bounds(length, position, n_ref, len(alt), window)
    ref_window = fetch(start, end)
    alt_window = (fetch(start, position) + alt + fetch(min(position + n_ref, tail_end), tail_end))[:window]
    n = min(len(ref_window), len(alt_window))
    return ref_window[:n], alt_window[:n]


_VARIANTS_PER_CALL = 4096  # windows of at most this many variants are held in memory at once


def _missing_chromosome(chrom, vcf, fasta, names, line):
    """The error for a chromosome of the VCF file that the FASTA file lacks, with the names it has."""
    alternatives = {chrom[3:]} if chrom.startswith("chr") else {f"chr{chrom}"}
    if chrom in ("M", "MT", "chrM", "chrMT"):
        alternatives |= {"M", "MT", "chrM", "chrMT"}
    present = [name for name in names if name in alternatives]
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    hint = (f" It has {present[0]!r}: the two files name chromosomes differently; rename them in one of the files "
            "(e.g. bcftools annotate --rename-chrs)." if present else
            " Check that the VCF and the FASTA file are of the same assembly.")
    return ValueError(f"Chromosome {chrom!r} of {vcf} (line {line}) is not in {fasta}, which has {len(names)} "
                      f"record(s): {shown}.{hint}")


def _score_vcf(model, vcf, fasta, window, batch_size, on_ref_mismatch):
    from .genome.fasta import fetch_sequence
    from .vcf import OK, REF_MISMATCH, _frame, iter_vcf

    variants = list(iter_vcf(vcf))
    frame = _frame(variants)
    scores = np.full(len(variants), np.nan)
    status = frame["status"].to_numpy(copy=True)
    by_chrom = {}
    for i, variant in enumerate(variants):
        if variant.status == OK:
            by_chrom.setdefault(variant.chrom, []).append(i)
    with open_fasta(fasta) as handle:
        names = list(handle.keys())
        for chrom, rows in by_chrom.items():  # every chromosome is checked before any is scored
            if chrom not in handle:
                raise _missing_chromosome(chrom, vcf, fasta, names, variants[rows[0]].line)
        for chrom, rows in by_chrom.items():
            length = len(handle[chrom])
            bounds = {}
            for i in rows:
                v = variants[i]
                bounds[i] = _window_bounds(length, v.pos - 1, len(v.ref), len(v.alt), window)
            low = min(b[0] for b in bounds.values())
            high = max(max(b[1], b[2], min(length, variants[i].pos - 1 + len(variants[i].ref)))
                       for i, b in bounds.items())
            span = fetch_sequence(handle, chrom, low, high)  # the one read of this chromosome

            def fetch(a, b, span=span, low=low):
                return span[a - low:b - low]

            scored = []
            for i in rows:
                v = variants[i]
                position = v.pos - 1
                found = fetch(min(position, length), min(length, position + len(v.ref)))
                if found.upper() == v.ref.upper():
                    scored.append(i)
                    continue
                if on_ref_mismatch == "flag":
                    status[i] = REF_MISMATCH
                    continue
                there = (f"the reference has {found!r} there" if len(found) == len(v.ref) else
                         f"the reference has {found!r} there, at the end of {chrom} ({length} bases)" if found else
                         f"{chrom} has only {length} bases in the reference")
                raise ValueError(
                    f"{vcf}, line {v.line}: REF {v.ref!r} at {chrom}:{v.pos} does not match {fasta}: {there}. Check "
                    "that the VCF and the FASTA file are of the same assembly (e.g. GRCh37 vs GRCh38), or flag such "
                    "variants with on_ref_mismatch='flag' (--on-ref-mismatch flag) and score the rest."
                )
            for first in range(0, len(scored), _VARIANTS_PER_CALL):
                chunk = scored[first:first + _VARIANTS_PER_CALL]
                windows = [_windows(fetch, length, variants[i].pos - 1, len(variants[i].ref), variants[i].alt,
                                    window) for i in chunk]
                values = sequence_log_likelihood(model, [a for _, a in windows] + [r for r, _ in windows],
                                                 batch_size=batch_size)
                scores[chunk] = values[:len(chunk)] - values[len(chunk):]
    frame.insert(frame.columns.get_loc("status"), "score", scores)
    frame["status"] = pd.Series(status, index=frame.index, dtype=object)
    return frame


def _reference(sequence, fasta, record):
    if (sequence is None) == (fasta is None):
        raise ValueError("Give the reference either as sequence= or as fasta= with record=.")
    if sequence is not None:
        if not isinstance(sequence, str) or not sequence:
            raise TypeError("sequence must be a non-empty str.")
        return sequence
    if record is None:
        raise ValueError("fasta= needs record= (the chromosome or contig of the variants).")
    from .genome.fasta import fetch_sequence

    with open_fasta(fasta) as handle:
        return fetch_sequence(handle, record, 0, None)  # an unknown record: a KeyError listing those it has
