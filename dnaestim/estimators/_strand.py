"""Whether a labelled task reads the same on both strands: what ``rc_average="auto"`` decides from the training data.

Averaging a classifier's predictions over a sequence and its reverse complement helps when the labels do not depend
on the strand (transcription factor binding sites, enhancers, chromatin marks) and hurts when they do (promoters:
a TATA box sits about 30 bases upstream of the transcription start, on one strand). The test asks the same question
of a cheap stand-in for the fine-tuned model: a logistic regression on 3-mer frequencies in four position bins,
scored in 3-fold cross-validation on the training data, once on each held-out sequence and once averaged with its
reverse complement. The task counts as strand-specific when averaging makes the held-out log-loss worse beyond
chance (a one-sided paired z-test over the held-out sequences). Where there is too little data to tell, the task
counts as strand-symmetric, the better guess on small data.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

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
    labels : array-like of int, shape (n_sequences,)
        Class indices.
    random_state : int, default=0
        Seeds the subsample and the folds.

    Returns
    -------
    symmetric : bool
        False when averaging the strands made the held-out log-loss worse beyond chance.
    z : float or None
        The paired z statistic of the change in log-loss (negative: worse); None when the test could not run
        (fewer than 3 sequences in some class, or one class only).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    index = np.arange(len(labels))
    if len(index) > MAX_SEQUENCES:
        index = np.sort(rng.choice(index, MAX_SEQUENCES, replace=False))
    classes, y = np.unique(labels[index], return_inverse=True)
    if len(classes) < 2 or np.bincount(y).min() < 3:
        return True, None
    codes = [_CODES[np.frombuffer(str(sequences[i]).encode("ascii", "replace"), dtype=np.uint8)] for i in index]
    forward, reverse = _features(codes), _features(codes, reverse_complement=True)
    change = []
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    for train, test in folds.split(forward, y):
        model = LogisticRegression(max_iter=1000).fit(forward[train], y[train])
        rows = np.arange(len(test))
        p_forward = model.predict_proba(forward[test])[rows, y[test]]
        p_both = (p_forward + model.predict_proba(reverse[test])[rows, y[test]]) / 2
        change.append(np.log(np.maximum(p_both, 1e-12)) - np.log(np.maximum(p_forward, 1e-12)))
    change = np.concatenate(change)
    spread = change.std(ddof=1)
    z = 0.0 if spread == 0 else float(change.mean() / (spread / np.sqrt(len(change))))
    return z >= Z_STRAND_SPECIFIC, z
