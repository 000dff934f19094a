"""Likelihood scoring with a HyenaDNA language model: per-token log-probabilities, per-sequence log-likelihoods,
and variant effects as log-likelihood ratios.
"""

from __future__ import annotations


import numpy as np
import torch

from ._inference import predict_batches
from .checkpoints import language_model_of
from .genome.fasta import open_fasta
from .nn import HyenaLM
from .tokenizer import RIGHT_PADDED

__all__ = ["score_variants", "sequence_log_likelihood", "token_log_probs"]



def _as_model(model) -> HyenaLM:
    lm = language_model_of(model)
    if lm is not None:
        return lm
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

    def forward(ids, mask):
        log_p = torch.log_softmax(model(ids[:, :-1], chunk_size=chunk_size).float(), dim=-1)
        return log_p.gather(-1, ids[:, 1:, None])[..., 0].double(), mask.sum(1)

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


def score_variants(model, positions, alts, *, sequence=None, fasta=None, record=None, refs=None, window=None,
                   batch_size=16):
    """Effect of single-nucleotide variants as log-likelihood ratios, ``log P(alt) - log P(ref)``, in nats.

    Each variant is scored on a window of ``window`` nucleotides centred on it (clipped at the ends of the
    reference): the whole window's log-likelihood with the alternative allele minus that with the reference
    allele. A causal model sees the allele's effect on the allele itself and on everything after it, with the
    first half of the window as context. Negative values mean the variant makes the sequence less likely.

    Parameters
    ----------
    model : HyenaLM, fitted HyenaPretrainer or checkpoint directory
        The language model.
    positions : array-like of int
        0-based positions of the variants in the reference.
    alts : array-like of str
        Alternative alleles, one nucleotide each (A, C, G, T or N; any case).
    sequence : str, optional
        The reference sequence. Give either this or ``fasta`` and ``record``.
    fasta : str or path-like, optional
        FASTA file holding the reference.
    record : str, optional
        Record of ``fasta`` (chromosome name).
    refs : array-like of str, optional
        Expected reference alleles; a mismatch raises an error naming the variant (catches 0/1-based mix-ups).
    window : int, optional
        Nucleotides scored per variant; at most the model's ``l_max`` + 1, which is also the default (capped at
        1024).
    batch_size : int, default=16
        Windows per forward pass.

    Returns
    -------
    ndarray of shape (n_variants,)

    Examples
    --------
    >>> from dnaestim import HyenaConfig, HyenaLM
    >>> model = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=64))
    >>> score_variants(model, [10, 20], ["A", "T"], sequence="ACGT" * 16, window=32).shape
    (2,)
    """
    model = _as_model(model)
    positions = np.asarray(positions)
    alts = [str(a) for a in np.asarray(alts, dtype=object).ravel()]
    if positions.ndim != 1 or len(positions) != len(alts):
        raise ValueError(f"positions and alts must be 1-D and of equal length; got {positions.shape} and {len(alts)}.")
    if not np.issubdtype(positions.dtype, np.integer):
        raise TypeError(f"positions must be integers; got dtype {positions.dtype}.")
    for i, alt in enumerate(alts):
        if len(alt) != 1 or alt.upper() not in "ACGTN":
            raise ValueError(f"Variant {i}: alternative allele {alt!r} is not a single nucleotide (A, C, G, T, N).")
    if window is None:
        window = min(1024, model.config.l_max + 1)
    if not isinstance(window, int) or not 2 <= window <= model.config.l_max + 1:
        raise ValueError(f"window must be an int in [2, {model.config.l_max + 1}] (the model's l_max + 1); got {window!r}.")
    reference = _reference(sequence, fasta, record)
    length = len(reference)
    ref_windows, alt_windows = [], []
    for i, (position, alt) in enumerate(zip(positions.tolist(), alts)):
        if not 0 <= position < length:
            raise ValueError(f"Variant {i}: position {position} is outside the reference, which has {length} bases.")
        found = reference[position]
        if refs is not None and str(refs[i]).upper() != found.upper():
            raise ValueError(
                f"Variant {i} at position {position}: the reference has {found!r}, not {refs[i]!r}. Positions are "
                "0-based; check for an off-by-one or another assembly."
            )
        start = max(0, min(position - window // 2, length - window))
        end = min(length, start + window)
        ref_window = reference[start:end]
        offset = position - start
        ref_windows.append(ref_window)
        alt_windows.append(ref_window[:offset] + alt + ref_window[offset + 1:])
    scores = sequence_log_likelihood(model, alt_windows + ref_windows, batch_size=batch_size)
    return scores[: len(alts)] - scores[len(alts):]


def _reference(sequence, fasta, record):
    if (sequence is None) == (fasta is None):
        raise ValueError("Give the reference either as sequence= or as fasta= with record=.")
    if sequence is not None:
        if not isinstance(sequence, str) or not sequence:
            raise TypeError("sequence must be a non-empty str.")
        return sequence
    if record is None:
        raise ValueError("fasta= needs record= (the chromosome or contig of the variants).")
    with open_fasta(fasta) as handle:
        if record not in handle:
            raise KeyError(f"Record {record!r} is not in {fasta}.")
        return str(handle[record][:])
