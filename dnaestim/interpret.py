"""Attribution: which nucleotides of a sequence drive a fitted estimator's output.

Two methods, for every dnaestim estimator that has an output to explain:

* :func:`saturation_mutagenesis` (in-silico saturation mutagenesis, ISM): every position is mutated to every
  other base and the estimator's output is predicted again; the result is the exact change of the output, one
  (L, 4) matrix per sequence (:func:`mutagenesis_frame` gives it as a tidy table). It costs 3L predictions.
* :func:`gradient_x_input`: one forward and one backward pass give, per position, the first-order (gradient)
  estimate of how much the reference base raises the output over the average base. Cheap, approximate.

The output explained is what the estimator predicts:

* :class:`~dnaestim.HyenaClassifier` and :class:`~dnaestim.SoftPromptClassifier`: the probability of class
  ``target``, a column of ``predict_proba`` (default: the class predicted for the sequence). A multi-label
  classifier has no predicted class: ``target`` names the label, and is required.
* :class:`~dnaestim.HyenaRegressor`: ``predict`` (output ``target`` of a multi-output regressor, default 0), in the
  units of the training targets.
* :class:`~dnaestim.HyenaPretrainer`: ``log_likelihood``, the sequence's log-likelihood in nats (no ``target``).

Everything the estimator's own prediction does applies: its tokenizer (and ``unknown``), its ``max_length_`` cut,
windows of a pretrained backbone's ``l_max``, ``rc_average``, the device and the precision.

The plots are in :mod:`dnaestim.plotting`: :func:`~dnaestim.plotting.plot_attribution` (a per-position track) and
:func:`~dnaestim.plotting.plot_mutagenesis` (the ISM matrix as a heatmap).
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from ._inference import log_likelihood, tokenize_numbered
from ._validation import check_int
from .tokenizer import _ID_COMPLEMENT, A_ID, C_ID, G_ID, PAD_ID, T_ID, reverse_complement_ids

__all__ = ["gradient_x_input", "mutagenesis_frame", "saturation_mutagenesis"]

#: Column order of every (L, 4) attribution matrix.
BASES = "ACGT"
_BASE_IDS = np.array([A_ID, C_ID, G_ID, T_ID], dtype=np.int64)
_SUPPORTED = "a fitted HyenaClassifier, SoftPromptClassifier, HyenaRegressor or HyenaPretrainer"


# ---------------------------------------------------------------------------------------------------------------
# What is explained: the estimator's output as a function of token ids
# ---------------------------------------------------------------------------------------------------------------


class _Explained:
    """One fitted estimator's output, computed from token ids as its own prediction computes it.

    ``rows(ids, mask)`` gives float64 rows (b, k): log-probabilities of every class (classifiers), standardised
    outputs (regressor) or the log-likelihood (pretrainer, k = 1); ``values(rows, columns)`` turns them into the
    output explained, in the user's units.
    """

    def __init__(self, estimator, function):
        from .estimators import HyenaPretrainer, HyenaRegressor
        from .estimators._classification import HyenaClassifierBase

        if isinstance(estimator, HyenaClassifierBase):
            self.kind = "classifier"
        elif isinstance(estimator, HyenaRegressor):
            self.kind = "regressor"
        elif isinstance(estimator, HyenaPretrainer):
            self.kind = "pretrainer"
        else:
            extra = " (it has no output to attribute; attribute the classifier or regressor trained on its " \
                    "features instead)" if type(estimator).__name__ == "HyenaEmbedder" else ""
            raise TypeError(f"{function} explains {_SUPPORTED}; got {type(estimator).__name__}{extra}.")
        check_is_fitted(estimator)
        self.estimator = estimator
        self.model = estimator.model_
        self.tokenizer = estimator._tokenizer()
        self.fixed_layout = bool(estimator._fixed_layout)
        self.name = type(estimator).__name__

    # -- targets -------------------------------------------------------------------------------------------------

    def column(self, target):
        """The output column of ``target``, or None when it is "the predicted class" (single-label default)."""
        estimator, name = self.estimator, self.name
        if self.kind == "pretrainer":
            if target is not None:
                raise ValueError(f"target does not apply to a {name}: its attributions explain the sequence's "
                                 f"log-likelihood. Leave target=None; got {target!r}.")
            return 0
        if self.kind == "regressor":
            n = int(estimator.n_outputs_)
            if target is None:
                return 0
            if isinstance(target, bool) or not isinstance(target, numbers.Integral) or not 0 <= target < n:
                raise ValueError(f"target must be an output index in [0, {n}) of this {name} (it predicts {n} "
                                 f"target{'s' if n > 1 else ''}); got {target!r}.")
            return int(target)
        classes = estimator.classes_.tolist()
        if target is None:
            if estimator.out_activation_ == "logistic":
                raise ValueError(f"This {name} is multi-label: pass target= the label to explain, one of {classes}.")
            return None
        matches = [i for i, c in enumerate(classes) if _same_label(c, target)]
        if not matches:  # as class_weight keys: "1" names the label 1 and 1 names "1", when unambiguous
            matches = [i for i, c in enumerate(classes) if str(c) == str(target)]
        if len(matches) != 1:
            raise ValueError(f"target {target!r} is not one of this {name}'s classes: {classes}.")
        return matches[0]

    def columns(self, rows, column):
        """Column per row: ``column``, or each row's predicted class when it is None."""
        if column is None:
            return rows.argmax(1)
        return torch.full((rows.shape[0],), column, dtype=torch.long, device=rows.device)

    def values(self, rows, columns):
        """The explained output (b,) of float64 ``rows`` (b, k) at ``columns`` (b,)."""
        picked = rows.gather(1, columns[:, None])[:, 0]
        if self.kind == "classifier":
            return picked.exp()
        if self.kind == "regressor":
            scale = torch.as_tensor(self.estimator.target_scale_, dtype=picked.dtype, device=picked.device)
            return picked * scale[columns]
        return picked

    # -- forward passes ------------------------------------------------------------------------------------------

    def rows(self, ids, mask):
        """Float64 rows (b, k) of token ids (b, width) on the model's device; no grad or autocast set here."""
        estimator = self.estimator
        if self.kind == "pretrainer":
            logits = self.model(ids[:, :-1], chunk_size=estimator.chunk_size)
            return log_likelihood(logits, ids, mask)[:, None]
        return estimator._prediction_forward()(ids, mask)

    def embedding(self):
        """The embedding module whose outputs gradients are taken at."""
        language_model = self.model.lm if hasattr(self.model, "lm") else self.model  # SoftPromptModel wraps one
        return language_model.backbone.embeddings

    # -- the text the estimator reads ----------------------------------------------------------------------------

    def pieces(self, sequences):
        """``(text, owner, offset)`` of every input the model reads: each sequence (cut to ``max_length_`` by the
        tokenizer) for the supervised estimators, the pretrainer's ``l_max + 1`` chunks (overlapping by one
        nucleotide; the sequence's log-likelihood is the sum of theirs)."""
        estimator = self.estimator
        if self.kind != "pretrainer":
            return [(seq, i, 0) for i, seq in enumerate(sequences)]
        out = []
        for i, seq in enumerate(sequences):
            offset = 0
            for chunk in estimator._chunks([seq])[0]:
                if seq[offset:offset + len(chunk)] != chunk:  # pragma: no cover - the chunking rule changed
                    raise RuntimeError("HyenaPretrainer's chunks no longer overlap by one nucleotide.")
                out.append((chunk, i, offset))
                offset += len(chunk) - 1
        return out

    def tokenize(self, texts, owners):
        """Token ids and mask (numpy) of ``texts`` in the estimator's layout; errors name the input sequence."""
        max_length = None if self.kind == "pretrainer" else int(self.estimator.max_length_)
        batch = tokenize_numbered(self.tokenizer, texts, owners, max_length=max_length,
                                  padding="max_length" if self.fixed_layout else "longest")
        return batch.input_ids, batch.attention_mask

    @contextlib.contextmanager
    def evaluating(self, grad):
        """Eval mode and the estimator's autocast; with ``grad``, gradients on, parameters frozen (only the inputs
        are differentiated); without, inference mode. Everything is restored afterwards."""
        model, estimator = self.model, self.estimator
        was_training = model.training
        flags = [(p, p.requires_grad) for p in model.parameters()]
        model.eval()
        try:
            if grad:
                for p, _ in flags:
                    p.requires_grad_(False)
                with torch.enable_grad(), estimator._autocast():
                    yield
            else:
                with torch.inference_mode(), estimator._autocast():
                    yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            model.train(was_training)


def _same_label(label, target):
    try:
        return bool(label == target)
    except (TypeError, ValueError):
        return False


def _progress(iterable, estimator, total, desc):
    if getattr(estimator, "verbose", 0) >= getattr(estimator, "_progress_bar_verbosity", 2):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)
    return iterable


def _validated(explained, sequences, name):
    """Sequences validated by the estimator itself, with its warning when it cuts them."""
    estimator = explained.estimator
    sequences, lengths = estimator._sequences(sequences, name=name)
    if explained.kind == "pretrainer":
        if lengths.min() < 2:
            i = int(np.argmin(lengths))
            where = name if len(lengths) == 1 else f"{name}[{i}]"
            raise ValueError(f"{where} has {lengths[i]} nucleotide; a log-likelihood needs at least 2.")
    else:
        estimator._warn_if_cut(lengths, name=name)
    return sequences, lengths


# ---------------------------------------------------------------------------------------------------------------
# In-silico saturation mutagenesis
# ---------------------------------------------------------------------------------------------------------------


def saturation_mutagenesis(estimator, sequence, *, target=None, batch_size=None, as_frame=False):
    """Change of a fitted estimator's output for every single-nucleotide substitution of a sequence (ISM).

    Every position is mutated to each of the other three bases, and the estimator's output is predicted for all
    the mutants: entry ``[i, j]`` of the result is ``output(sequence with base "ACGT"[j] at position i) -
    output(sequence)``, zero at the reference base. The output is what the estimator predicts: the probability of
    class ``target`` (a column of ``predict_proba``) for a classifier, ``predict`` (output ``target``) for a
    regressor, ``log_likelihood`` for a pretrainer. The values are the estimator's own predictions, up to float
    rounding: for a classifier, ``predict_proba([mutant])[0, c] - predict_proba([sequence])[0, c]``.

    The mutants are never written out as text: the sequence is tokenized once, each batch of mutants is made by
    changing one token per row of a copy of it on the model's device, and the batch goes through the same forward
    pass as the estimator's prediction (reverse-complement averaging, windows, precision included), one pass per
    batch of ``batch_size`` mutants.

    For a :class:`~dnaestim.HyenaPretrainer` the output is the log-likelihood (sequences longer than its
    ``l_max + 1`` in its own chunks, whose log-likelihoods add up), and every mutant is scored whole. Causality is
    not used to skip work. A substitution at ``p`` leaves ``log p(x_t | x_<t)`` unchanged for ``t < p``, but every
    later position still depends on the whole prefix in every layer (the long convolutions reach back to the first
    nucleotide), so recomputing only the suffix needs each layer's activations cached and the layers re-run around
    the cache: a second implementation of the model. Measured on one CPU thread (``d_model=128``, two layers,
    1,024 nucleotides, 16 mutants per pass), a pass over half the length (the mean suffix) takes 0.40 of the time
    of a full pass with the model's fast paths and 0.68 with the plain operations such a re-implementation would
    use, before the per-suffix prefix convolutions it adds: at most 1.5 to 2.5 times faster, for a second
    implementation of the layer stack to keep exact and in step with the first. Not done.

    Parameters
    ----------
    estimator : HyenaClassifier, SoftPromptClassifier, HyenaRegressor or HyenaPretrainer
        Fitted.
    sequence : str
        One DNA sequence, read as the estimator reads it (its ``unknown`` setting, upper case, U as T).
    target : class label, int or None, default=None
        What to explain. Classifiers: a label of ``classes_``; None takes the class predicted for ``sequence``
        (single-label) and is an error for a multi-label classifier, which has no predicted class: name the
        label. Regressors: the index of the output (default 0). Pretrainers: must be None.
    batch_size : int, default=None
        Mutants per forward pass; the estimator's ``batch_size`` when None.
    as_frame : bool, default=False
        Return the result as :func:`mutagenesis_frame` does: one row per substitution.

    Returns
    -------
    ndarray of shape (len(sequence), 4) or pandas.DataFrame
        Columns in the order A, C, G, T; float64. The entry of the reference base is 0. A position whose
        reference is N (or another character the estimator reads as N) has all four bases as substitutions, each
        relative to the sequence with N. Positions the estimator does not read (beyond its ``max_length_``; it
        warns as its ``predict`` does) are 0: changing them changes no prediction. Units: probability
        (classifiers), the training targets' units (regressors), nats (pretrainers).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If the estimator is of another kind, or ``sequence`` is not one string.
    ValueError
        If ``target`` is not a class (the classes are named) or output of the estimator, or the sequence has a
        character the estimator does not accept (the position is named).

    See Also
    --------
    gradient_x_input : A first-order estimate of the same effects from one forward and backward pass.
    dnaestim.plotting.plot_mutagenesis : Draw the result as a heatmap.

    Examples
    --------
    >>> from dnaestim import HyenaClassifier
    >>> from dnaestim.interpret import saturation_mutagenesis
    >>> X, y = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 8, ["a", "b", "a", "b"] * 8
    >>> clf = HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=2, early_stopping=False,
    ...                       random_state=0).fit(X, y)
    >>> ism = saturation_mutagenesis(clf, "ACGTACGTAC", target="a")
    >>> ism.shape, float(ism[0, 0])  # position 0 is an A: no change there
    ((10, 4), 0.0)
    >>> import numpy as np
    >>> mutant = "C" + "ACGTACGTAC"[1:]
    >>> change = clf.predict_proba([mutant])[0, 0] - clf.predict_proba(["ACGTACGTAC"])[0, 0]
    >>> bool(np.isclose(ism[0, 1], change, atol=1e-6))
    True
    >>> saturation_mutagenesis(clf, "ACGTACGTAC", target="a", as_frame=True).columns.tolist()
    ['position', 'ref', 'alt', 'delta']
    """
    explained = _Explained(estimator, "saturation_mutagenesis")
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be one DNA string; got {type(sequence).__name__}. Call "
                        "saturation_mutagenesis once per sequence.")
    batch_size = check_int(batch_size, "batch_size", allow_none=True) or int(estimator.batch_size)
    column = explained.column(target)
    sequences, _ = _validated(explained, [sequence], "sequence")
    sequence = sequences[0]
    ism = np.zeros((len(sequence), 4), dtype=np.float64)
    device = estimator.device_
    with explained.evaluating(grad=False):
        for text, _, offset in explained.pieces([sequence]):
            ids, mask = explained.tokenize([text], [0])
            cols = np.flatnonzero(mask[0])  # token columns of the nucleotides read, in order
            reference = ids[0, cols]
            positions, bases = np.nonzero(_BASE_IDS[None, :] != reference[:, None])  # every substitution
            ref_ids = torch.from_numpy(ids).to(device)
            ref_mask = torch.from_numpy(mask).to(device)
            ref_rows = explained.rows(ref_ids, ref_mask)
            columns = explained.columns(ref_rows, column)  # the predicted class of the reference sequence
            ref_value = explained.values(ref_rows, columns)
            token_cols = torch.from_numpy(cols[positions]).to(device)
            alt_ids = torch.from_numpy(_BASE_IDS[bases]).to(device)
            starts = range(0, len(positions), batch_size)
            for start in _progress(starts, estimator, len(starts), "mutagenesis"):
                n = min(batch_size, len(positions) - start)
                batch = ref_ids.expand(n, -1).clone()
                batch[torch.arange(n, device=device), token_cols[start:start + n]] = alt_ids[start:start + n]
                values = explained.values(explained.rows(batch, ref_mask.expand(n, -1)), columns.expand(n))
                delta = (values - ref_value).cpu().numpy()
                np.add.at(ism, (offset + positions[start:start + n], bases[start:start + n]), delta)
    if as_frame:
        return mutagenesis_frame(ism, sequence)
    return ism


def mutagenesis_frame(ism, sequence):
    """An ISM matrix as a tidy table: one row per substitution.

    Parameters
    ----------
    ism : array-like of shape (len(sequence), 4)
        The result of :func:`saturation_mutagenesis` (columns A, C, G, T).
    sequence : str
        The sequence it was computed on.

    Returns
    -------
    pandas.DataFrame
        Columns ``position`` (0-based), ``ref`` (the reference base as the estimators read it: upper case, U as
        T, any character other than A, C, G, T as N), ``alt`` and ``delta`` (the change of the output), ordered
        by position then alternative base. Three rows per position, four where the reference is N.

    Raises
    ------
    ValueError
        If ``ism`` is not a (len(sequence), 4) matrix of numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from dnaestim.interpret import mutagenesis_frame
    >>> ism = np.array([[0.0, 0.1, -0.2, 0.3], [0.5, 0.0, 0.0, 0.0]])
    >>> mutagenesis_frame(ism, "AC")
       position ref alt  delta
    0         0   A   C    0.1
    1         0   A   G   -0.2
    2         0   A   T    0.3
    3         1   C   A    0.5
    4         1   C   G    0.0
    5         1   C   T    0.0
    """
    if not isinstance(sequence, str):
        raise TypeError(f"sequence must be a str; got {type(sequence).__name__}.")
    try:
        matrix = np.asarray(ism, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("ism must be a (len(sequence), 4) matrix of numbers.") from None
    if matrix.shape != (len(sequence), 4):
        raise ValueError(f"ism must have shape (len(sequence), 4) = ({len(sequence)}, 4), one row per position and "
                         f"one column per base A, C, G, T; got {matrix.shape}.")
    read = sequence.upper().replace("U", "T")
    ref = np.array([c if c in BASES else "N" for c in read], dtype=object)
    alternatives = np.array(list(BASES), dtype=object)
    positions, bases = np.nonzero(alternatives[None, :] != ref[:, None])
    return pd.DataFrame({
        "position": positions.astype(np.int64),
        "ref": ref[positions],
        "alt": alternatives[bases],
        "delta": matrix[positions, bases],
    })


# ---------------------------------------------------------------------------------------------------------------
# Gradient x input
# ---------------------------------------------------------------------------------------------------------------


def gradient_x_input(estimator, sequences, *, target=None, batch_size=None):
    """Gradient × input attribution: per position, how much the base there raises the output, to first order.

    The output (that of :func:`saturation_mutagenesis`: a class probability, a regression output or a
    log-likelihood) is seen as a function ``f`` of the one-hot input: a vector ``o_t`` over the vocabulary at
    every position ``t``, which enters the model through the embedding table (``e_t = o_t E``) and, for a
    language model, also picks the target of ``log p(x_t | x_<t)``. The score of position ``t`` is

    .. math:: s_t = \\nabla_{o_t} f \\cdot \\left(o_t - \\tfrac14 (o_A + o_C + o_G + o_T)\\right),

    gradient × input with the average of the four bases as the baseline. Equivalently: the gradient with respect
    to the embedding, ``g_t``, dotted with ``e_t`` minus the mean embedding of A, C, G and T (plus, for a language
    model, ``log p(x_t | x_<t)`` minus its mean over the four bases). It is the first-order estimate of the ISM
    row: ``s_t ≈ -3/4`` times the mean of the three substitutions of :func:`saturation_mutagenesis` at ``t``
    (minus the mean of the four where the reference is N). Positive: the reference base raises the output
    compared with an average base; negative: it lowers it. A first-order estimate misses what a single
    substitution does to a saturated or strongly non-linear output (Hyena's gating is multiplicative): on small
    models trained to find a planted motif (12 fits, measured), the scores were highest on the motif in about two
    fits of three, and in the others did not point at it or pointed away from it. Use
    :func:`saturation_mutagenesis` where it matters.

    One forward and one backward pass per batch of sequences (two of each with ``rc_average``); the model's
    parameters are left untouched and receive no gradient.

    Parameters
    ----------
    estimator : HyenaClassifier, SoftPromptClassifier, HyenaRegressor or HyenaPretrainer
        Fitted.
    sequences : str or list-like of str
        One sequence or several (a list, array or pandas Series), read as the estimator reads them.
    target : class label, int or None, default=None
        As in :func:`saturation_mutagenesis`; for a single-label classifier None takes each sequence's own
        predicted class.
    batch_size : int, default=None
        Sequences per pass; the estimator's ``batch_size`` when None.

    Returns
    -------
    ndarray of shape (len(sequence),), or list of them
        One float64 score per position, in the units of the output (probability, target units, nats); an array
        for one sequence given as a str, a list with one array per sequence otherwise. Positions the estimator
        does not read (beyond ``max_length_``) score 0.

    Raises
    ------
    sklearn.exceptions.NotFittedError, TypeError, ValueError
        As :func:`saturation_mutagenesis`.

    See Also
    --------
    saturation_mutagenesis : The exact effect of every substitution (3L predictions).
    dnaestim.plotting.plot_attribution : Draw the scores along the sequence.

    Examples
    --------
    >>> from dnaestim import HyenaRegressor
    >>> from dnaestim.interpret import gradient_x_input
    >>> X, y = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 8, [0.5, 2.0, 0.7, 1.9] * 8
    >>> reg = HyenaRegressor(pretrained=None, d_model=16, n_layer=1, max_iter=2, early_stopping=False,
    ...                      random_state=0).fit(X, y)
    >>> gradient_x_input(reg, "ACGTACGTAC").shape
    (10,)
    >>> [s.shape for s in gradient_x_input(reg, ["ACGT", "ACGTACGT"])]
    [(4,), (8,)]
    """
    explained = _Explained(estimator, "gradient_x_input")
    single = isinstance(sequences, str)
    batch_size = check_int(batch_size, "batch_size", allow_none=True) or int(estimator.batch_size)
    column = explained.column(target)
    sequences, lengths = _validated(explained, [sequences] if single else sequences, "sequence" if single else
                                    "sequences")
    scores = [np.zeros(n, dtype=np.float64) for n in lengths]
    pieces = explained.pieces(sequences)
    # Similar lengths together: less padding (results do not depend on the grouping).
    order = np.argsort([len(text) for text, _, _ in pieces], kind="stable")
    starts = range(0, len(order), batch_size)
    for start in _progress(starts, estimator, len(starts), "gradient"):
        batch = [pieces[i] for i in order[start:start + batch_size]]
        ids, mask = explained.tokenize([text for text, _, _ in batch], [owner for _, owner, _ in batch])
        batch_scores = _gradient_scores(explained, ids, mask, column)
        for row, (_, owner, offset) in enumerate(batch):
            read = batch_scores[row, np.flatnonzero(mask[row])]
            scores[owner][offset:offset + len(read)] += read
    return scores[0] if single else scores


def _gradient_scores(explained, ids_np, mask_np, column):
    """Scores (b, width) at every token column of one batch (zero at padding)."""
    estimator, device = explained.estimator, explained.estimator.device_
    ids = torch.from_numpy(ids_np).to(device)
    mask = torch.from_numpy(mask_np).to(device)
    table = explained.embedding().word_embeddings.weight  # (V, D)
    rc = explained.kind != "pretrainer" and estimator._averages_strands()
    with explained.evaluating(grad=True):
        leaves = [table.detach()[ids].requires_grad_()]  # the embeddings, exactly as the model looks them up
        if rc:
            leaves.append(table.detach()[reverse_complement_ids(ids, mask)].requires_grad_())
        if explained.kind == "pretrainer":
            logits = explained.model(inputs_embeds=leaves[0][:, :-1], chunk_size=estimator.chunk_size)
            output = log_likelihood(logits, ids, mask)
            target_terms = torch.log_softmax(logits.detach().float(), dim=-1).double()  # d f / d o_t as a target
        else:
            with _EmbeddingTap(explained, leaves, mask):
                rows = explained.rows(ids, mask)
            output = explained.values(rows, explained.columns(rows.detach(), column))
        grads = torch.autograd.grad(output.sum(), leaves)
    weight = table.detach().double()
    hypothetical = grads[0].double() @ weight.T  # (b, width, V): d f / d o_t through the embedding
    if rc:
        from_rc = grads[1].double() @ weight.T
        rows_index = torch.arange(ids.shape[0], device=device)[:, None]
        complement = torch.as_tensor(_ID_COMPLEMENT[:weight.shape[0]], device=device)
        hypothetical = hypothetical + from_rc[rows_index, _rc_positions(mask_np, device)][..., complement]
    if explained.kind == "pretrainer":
        hypothetical[:, 1:] += target_terms
    bases = hypothetical[..., torch.from_numpy(_BASE_IDS).to(device)]  # (b, width, 4)
    at_input = hypothetical.gather(-1, ids[..., None])[..., 0]
    scores = (at_input - bases.mean(-1)) * mask
    return scores.cpu().numpy()


def _rc_positions(mask, device):
    """For every token column, the column its reverse-complement partner sits in (itself at padding)."""
    mask = np.asarray(mask, dtype=bool)
    index = np.tile(np.arange(mask.shape[1]), (mask.shape[0], 1))
    index[mask] = index[:, ::-1][mask[:, ::-1]]  # as reverse_complement_ids moves the tokens
    return torch.from_numpy(index).to(device)


class _EmbeddingTap:
    """Inside the block, the embedding module's outputs are replaced, call by call, by tensors of equal value
    built from ``leaves`` (the forward strand's embeddings, then the reverse strand's), so that the estimator's
    own forward pass runs unchanged and is differentiated with respect to them. Each replacement is checked to
    equal what the module computed, so a change of the model's layout fails loudly instead of silently."""

    def __init__(self, explained, leaves, mask):
        self.explained, self.leaves, self.mask, self.calls = explained, leaves, mask, 0

    def __enter__(self):
        self.handle = self.explained.embedding().register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False

    def _hook(self, module, args, output):
        if self.calls >= len(self.leaves):
            raise RuntimeError("interpret: the model looked up its embeddings more often than expected.")
        leaf = self.leaves[self.calls]
        self.calls += 1
        replacement = self._layout(module, leaf, output)
        if replacement.shape != output.shape or not torch.equal(replacement.detach(), output):
            raise RuntimeError(  # pragma: no cover - the model's layout changed
                f"interpret: cannot follow the embeddings of {type(self.explained.model).__name__} (an input of shape "
                f"{tuple(output.shape)}); gradient_x_input does not support this model.")
        return replacement

    def _layout(self, module, leaf, output):
        """``leaf`` (b, width, D) in the layout the module's output has."""
        model = self.explained.model
        if hasattr(model, "lm"):  # SoftPromptModel: [demonstrations] [query] [SEP]
            demo = model.demo_ids.numel()
            return torch.cat([output[:, :demo].detach(), leaf, output[:, demo + leaf.shape[1]:].detach()], dim=1)
        l_max = model.config.l_max
        batch, width, dim = leaf.shape
        if width <= l_max:
            return leaf
        # Inputs longer than l_max: HyenaSequenceClassifier reads consecutive windows of l_max (nn.heads).
        windows = -(-width // l_max)
        extra = windows * l_max - width
        pad = module.word_embeddings.weight.detach()[PAD_ID].expand(batch, extra, dim)
        tiled = torch.cat([leaf, pad], dim=1).reshape(batch * windows, l_max, dim)
        needed = F.pad(self.mask.to(torch.bool), (0, extra)).reshape(batch * windows, l_max).any(1)
        return tiled[needed]
