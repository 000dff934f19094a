"""Whether a labelled task reads the same on both strands: what ``rc_average="auto"`` decides from the training data.

Averaging a classifier's predictions over a sequence and its reverse complement helps when the labels do not depend
on the strand (transcription factor binding sites, enhancers, chromatin marks) and hurts when they do (promoters:
a TATA box sits about 30 bases upstream of the transcription start, on one strand). The test asks the same question
of a cheap stand-in for the fine-tuned model: a logistic regression on 3-mer frequencies in four position bins,
scored in 3-fold cross-validation on the training data, once on each held-out sequence and once averaged with its
reverse complement. The task counts as strand-specific when averaging makes the held-out log-loss worse beyond
chance (a one-sided paired z-test over the held-out sequences). Multi-label tasks are asked the same question with
one logistic regression per label, each held-out sequence's change in log-loss summed over its labels. Where there
is too little data to tell, the task counts as strand-symmetric, the better guess on small data.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

__all__ = ["strand_symmetric"]

_K, _BINS = 3, 4
#: Sequences the test reads at most (a seeded subsample beyond that); it runs in about a second.
MAX_SEQUENCES = 4000
#: z below which averaging the strands worsens the held-out log-loss beyond chance (one-sided p of about 0.001).
Z_STRAND_SPECIFIC = -3.0

_CODES = np.full(256, -1, dtype=np.int64)
for _i, _base in enumerate("ACGT"):
    _CODES[ord(_base)] = _CODES[ord(_base.lower())] = _i


def _features(codes_list, reverse_complement=False):
    """Frequencies of the 3-mers of each sequence in four equal position bins, (n, 4 * 64)."""
    out = np.zeros((len(codes_list), _BINS * 4 ** _K), dtype=np.float64)
    for row, codes in enumerate(codes_list):
        if reverse_complement:
            codes = np.where(codes >= 0, 3 - codes, -1)[::-1]
        n = len(codes) - _K + 1
        if n <= 0:
            continue
        kmer, valid = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
        for offset in range(_K):
            base = codes[offset:offset + n]
            valid &= base >= 0
            kmer = kmer * 4 + np.maximum(base, 0)
        position_bin = np.arange(n) * _BINS // n
        out[row] = np.bincount((position_bin * 4 ** _K + kmer)[valid], minlength=out.shape[1]) / n
    return out


def strand_symmetric(sequences, labels, random_state=0):
    """Whether averaging predictions over both strands is safe for this task (see the module's description).

    Parameters
    ----------
    sequences : sequence of str
        Training sequences (A, C, G, T in either case; other characters end no 3-mer).
    labels : array-like of int, shape (n_sequences,) or (n_sequences, n_labels)
        Class indices, or a 0/1 indicator matrix (multi-label).
    random_state : int, default=0
        Seeds the subsample and the folds.

    Returns
    -------
    symmetric : bool
        False when averaging the strands made the held-out log-loss worse beyond chance.
    z : float or None
        The paired z statistic of the change in log-loss (negative: worse); None when the test could not run
        (fewer than 3 sequences in some class, or one class only; multi-label: no label with at least 3
        sequences on each side).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    index = np.arange(len(labels))
    if len(index) > MAX_SEQUENCES:
        index = np.sort(rng.choice(index, MAX_SEQUENCES, replace=False))
    if labels.ndim == 2:
        y = labels[index].astype(np.int64)
        y = y[:, [min(np.bincount(column, minlength=2)) >= 3 for column in y.T]]
        if y.shape[1] == 0:
            return True, None
        folds = KFold(n_splits=3, shuffle=True, random_state=int(rng.integers(2**31 - 1))).split(y)
    else:
        classes, y = np.unique(labels[index], return_inverse=True)
        if len(classes) < 2 or np.bincount(y).min() < 3:
            return True, None
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=int(rng.integers(2**31 - 1))).split(y, y)
    codes = [_CODES[np.frombuffer(str(sequences[i]).encode("ascii", "replace"), dtype=np.uint8)] for i in index]
    forward, reverse = _features(codes), _features(codes, reverse_complement=True)
    change = np.concatenate([_log_loss_change(forward, reverse, y, train, test) for train, test in folds])
    spread = change.std(ddof=1)
    z = 0.0 if spread == 0 else float(change.mean() / (spread / np.sqrt(len(change))))
    return z >= Z_STRAND_SPECIFIC, z


def _log_loss_change(forward, reverse, y, train, test):
    """Per held-out sequence: log-likelihood of its labels averaged over both strands minus as given (summed over
    the labels of a multi-label ``y``; a label constant in the training part is left out)."""
    columns = [y] if y.ndim == 1 else [column for column in y.T if len(np.unique(column[train])) == 2]
    change = np.zeros(len(test))
    for target in columns:
        model = LogisticRegression(max_iter=1000).fit(forward[train], target[train])
        rows, seen = np.arange(len(test)), np.searchsorted(model.classes_, target[test])
        p_forward = model.predict_proba(forward[test])[rows, seen]
        p_both = (p_forward + model.predict_proba(reverse[test])[rows, seen]) / 2
        change += np.log(np.maximum(p_both, 1e-12)) - np.log(np.maximum(p_forward, 1e-12))
    return change
