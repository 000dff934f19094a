"""HyenaRegressor: fine-tune (or train from scratch) a HyenaDNA backbone to predict numbers from DNA sequences."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import Ridge

from ..models import DEFAULT_BACKBONE
from ._finetuning import FineTuningBase, first_not_a_number, plain, summed
from ._pooled_head import PooledHeadMixin

__all__ = ["HyenaRegressor"]


class HyenaRegressor(PooledHeadMixin, RegressorMixin, FineTuningBase):
    """Sequence regressor built on a HyenaDNA backbone: one or many continuous targets per sequence.

    The model of :class:`HyenaClassifier` (a backbone, masked pooling, one linear layer) with one output per
    target, trained end to end on the weighted mean squared error of standardised targets. ``score`` is R²
    (averaged over the targets), and ``predict`` returns shape (n_samples,) for one target and
    (n_samples, n_targets) for several, as scikit-learn's ``MLPRegressor`` does.

    Parameters
    ----------
    pretrained : str, path-like, HyenaLM, fitted HyenaPretrainer or None, default="dnaestim-multispecies-tiny-1k"
        Start from these backbone weights: the name of a bundled model (:func:`dnaestim.list_pretrained`; the
        default is the multi-species backbone dnaestim ships, see its model card), a local checkpoint directory in
        either published layout, a HyenaLM or a fitted HyenaPretrainer. None trains a backbone from scratch with
        the architecture parameters below (which must stay at their defaults otherwise).
    d_model, n_layer : int, default=128, 2
        Width and depth of a backbone trained from scratch (the published tiny model).
    d_inner : int, default=None
        MLP width; ``4 * d_model`` when None.
    filter_order, emb_dim : int, default=64, 5
        Width of the implicit filter's MLP and of its positional encoding.
    embed_dropout, resid_dropout : float, default=0.1, 0.0
        Dropout on the embeddings and on each block's residual branch (also applied to a pretrained backbone).
    head_dropout : float, default=0.1
        Dropout on the pooled vector before the linear layer.
    head_init : {"probe", "random"}, default="probe"
        How the linear layer starts. ``"probe"``: a ridge regression (``alpha=1``, on the standardised targets)
        fitted on the backbone's pooled features
        of (up to 4,096 of) the training sequences, then everything is fine-tuned together (linear probing before
        fine-tuning); it costs one inference pass over those sequences, and with ``max_time`` it stops embedding
        (in parts of 512) once about half the budget is spent, probing fewer sequences. ``"random"``: the published
        initialisation (normal, standard deviation 0.02).
    pooling : {"mean", "last"}, default="mean"
        Mean over the real tokens (never over padding), or the last real token.
    length_feature : {"auto", True, False}, default="auto"
        Give the linear layer each sequence's length as one more input (the log of its token count,
        standardised on the training sequences), next to the pooled vector, which does not carry it. ``"auto"``:
        only when the sequences the model reads differ in length (fitted as ``length_feature_``). Where lengths
        differ by how the data were made rather than by biology, length is a shortcut a model can learn; set False
        to keep it out.
    max_length : int, default=None
        Cut sequences to this many nucleotides (keeping their start), at fit and predict time. None: the
        longest training sequence, or a pretrained model's ``l_max`` when that is longer; longer sequences at
        predict time are then cut with a warning. A pretrained backbone reads sequences longer than its ``l_max``
        in consecutive windows of ``l_max`` nucleotides, each window on its own, pooled together.
    freeze_backbone : bool, default=False
        Train only the linear head.
    max_iter : int, default=100
        Maximum number of epochs.
    batch_size : int, default=64
        Sequences per optimiser step (and per inference batch).
    learning_rate_init : float, default=6e-4
        Peak learning rate of the cosine schedule (1 % linear warm-up, decay to 0.1 × peak).
    weight_decay : float, default=0.1
        AdamW's decoupled weight decay (the implicit filters use none, as published).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data, keep the weights with the best
        validation loss, and stop after ``n_iter_no_change`` epochs without improvement.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement of the validation loss before training stops.
    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as an improvement when deciding to stop (the weights
        kept are those of the lowest validation loss, as in scikit-learn's ``MLPRegressor``).
    scoring : str, callable or None, default="loss"
        What early stopping watches on the validation split: ``"loss"`` (the validation loss, lower is better) or
        a scikit-learn scorer (a name such as ``"r2"`` or ``"neg_mean_absolute_error"``, or a callable
        ``scorer(estimator, X, y)``; higher is better, and ``tol`` applies to it). Also what
        ``validation_scores_`` holds (R² for ``"loss"`` and None).
    max_time : float, default=None
        Wall-clock budget for ``fit`` in seconds: training stops at the first batch boundary after it, and the
        learning-rate schedule anneals over whichever of ``max_iter`` and ``max_time`` runs out first.
    standardize_target : bool, default=True
        Train on targets shifted and scaled to mean 0 and standard deviation 1 (per output, weighted by
        ``sample_weight``; the training set's ``target_mean_`` and ``target_scale_`` are kept and undone by
        ``predict``). Keeps the loss and the learning rate meaningful whatever the targets' units.
    rc_augment : bool or "auto", default=False
        Replace each training sequence by its reverse complement with probability 1/2 at every epoch.
        ``"auto"`` is off here, as for ``rc_average``.
    rc_average : bool or "auto", default=False
        Average the predictions of each sequence and its reverse complement (strand-symmetric
        predictions, twice the inference cost). ``"auto"`` is off here: :class:`HyenaClassifier` decides it from
        class labels. Can be changed after ``fit``.
    unknown : {"raise", "N"}, default="raise"
        A character that is not A, C, G, T or N (either case; U reads as T): ``"raise"`` stops with an error
        naming the sequence, position and character; ``"N"`` reads it as N (IUPAC codes such as R or Y, gaps).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, the validation split, augmentation and dropout. The global random
        generators are left untouched.
    verbose : int, default=0
        0 is silent; 1 prints a table of every epoch (losses, validation score, learning rate, time) to
        stderr; 2 also shows progress bars.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of starting afresh.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    precision : {"auto", "32", "bf16", "16", "64"}, default="auto"
        ``"auto"``: mixed precision on GPUs; on CPUs with bfloat16 units (AVX512_BF16 or AMX) bf16 autocast
        for training and float32 for predictions; float32 on other CPUs. Mixed precision runs the dense layers
        only: the long convolution, the filters and the residual stream stay float32. ``"32"`` forces float32
        (the performance guide has the measured costs).

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    target_mean_, target_scale_ : ndarray of shape (n_targets,)
        What ``predict`` multiplies by and adds back (0 and 1 with ``standardize_target=False``).
    out_activation_ : "identity"
        The output layer's activation, as in ``MLPRegressor``.
    model_ : HyenaSequenceClassifier
        The trained torch module (its linear head has ``n_outputs_`` outputs).
    max_length_ : int
        Longest input accepted.
    length_feature_ : bool
        Whether the linear layer reads the length feature (``length_feature`` resolved).
    rc_augment_, rc_average_ : bool
        Whether ``rc_augment`` and ``rc_average`` were on in ``fit``.
    n_iter_ : int
        Epochs run (over all fits when warm-starting).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss`` and ``valid_loss`` (mean squared error of the standardised
        targets), ``valid_score`` (by ``scoring``; R² by default; None without early stopping), ``lr``,
        ``seconds``. With early stopping after a probe (``head_init="probe"``) the first entry, epoch 0, scores
        the probed head before any training.
    loss_curve_, validation_loss_curve_ : list of float
        Training and validation loss per epoch.
    best_iter_ : int
        Epoch whose weights were kept (the last one without early stopping; 0 when no epoch beat the probe).
    validation_scores_ : list of float
        Validation score per epoch; empty without early stopping.
    best_validation_score_ : float or None
        Validation score of the epoch whose weights were kept (None without early stopping).
    best_loss_ : float or None
        Lowest training loss of any epoch; None with early stopping.
    device_ : torch.device
        Device the model lives on.
    feature_names_in_ : ndarray of shape (1,)
        Name of the column when ``X`` was a one-column DataFrame in ``fit`` (absent otherwise).

    Examples
    --------
    >>> from dnaestim import HyenaRegressor
    >>> X = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 8
    >>> y = [0.5, 2.0, 0.7, 1.9] * 8
    >>> reg = HyenaRegressor(pretrained=None, d_model=16, n_layer=1, max_iter=3, early_stopping=False,
    ...                      random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape, reg.n_outputs_
    ((2,), 1)
    """

    def __init__(
        self,
        *,
        pretrained=DEFAULT_BACKBONE,
        d_model=128,
        n_layer=2,
        d_inner=None,
        filter_order=64,
        emb_dim=5,
        embed_dropout=0.1,
        resid_dropout=0.0,
        head_dropout=0.1,
        head_init="probe",
        pooling="mean",
        length_feature="auto",
        max_length=None,
        freeze_backbone=False,
        max_iter=100,
        batch_size=64,
        learning_rate_init=6e-4,
        weight_decay=0.1,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        scoring="loss",
        max_time=None,
        standardize_target=True,
        rc_augment=False,
        rc_average=False,
        unknown="raise",
        random_state=None,
        verbose=0,
        warm_start=False,
        device="auto",
        precision="auto",
    ):
        self.pretrained = pretrained
        self.d_model = d_model
        self.n_layer = n_layer
        self.d_inner = d_inner
        self.filter_order = filter_order
        self.emb_dim = emb_dim
        self.embed_dropout = embed_dropout
        self.resid_dropout = resid_dropout
        self.head_dropout = head_dropout
        self.head_init = head_init
        self.pooling = pooling
        self.length_feature = length_feature
        self.max_length = max_length
        self.freeze_backbone = freeze_backbone
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scoring = scoring
        self.max_time = max_time
        self.standardize_target = standardize_target
        self.rc_augment = rc_augment
        self.rc_average = rc_average
        self.random_state = random_state
        self.unknown = unknown
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.precision = precision

    # -- fitting -------------------------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train on sequences ``X`` with targets ``y``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences (A, C, G, T, N in either case).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Finite numbers (a Series or DataFrame too).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sequence weights in the loss.

        Returns
        -------
        HyenaRegressor
            The fitted estimator (``self``).
        """
        return self._fit(X, y, sample_weight)

    def _targets_and_weights(self, y, sample_weight, n_samples, warm, shard):
        weights = self._sample_weights(sample_weight, n_samples)
        return self._encode_targets(y, n_samples, warm, weights, shard), weights

    def _encode_targets(self, y, n_samples, warm, weights, shard=None):
        """``y`` checked, as a float (n, n_outputs) matrix, standardised by its ``weights``-weighted mean and
        standard deviation (kept unless warm-starting)."""
        array = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if array.ndim not in (1, 2) or array.ndim == 2 and array.shape[1] == 0:
            raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_targets); got {array.shape}.")
        if len(array) != n_samples:
            raise ValueError(f"X has {n_samples} sequences but y has {len(array)} rows; give one per sequence.")
        try:
            values = array.astype(np.float64).reshape(n_samples, -1)
        except (TypeError, ValueError):
            where = first_not_a_number(array)
            shown = "" if where is None else f"y[{', '.join(map(str, where))}] is {plain(array[where])!r}: "
            raise ValueError(f"{shown}y must hold numbers for regression. Use HyenaClassifier for class labels, or "
                             "convert the targets to numbers first.") from None
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            row, column = (int(v) for v in bad[0])
            where = f"y[{row}]" if array.ndim == 1 else f"y[{row}, {column}]"
            raise ValueError(f"{where} is {values[row, column]}; every target must be a finite number (drop or fill "
                             "missing values first).")
        if warm:
            if values.shape[1] != self.n_outputs_:
                raise ValueError(f"y has {values.shape[1]} targets but the fitted model has {self.n_outputs_}; with "
                                 "warm_start=True the targets must stay the same.")
        else:
            self.n_outputs_ = values.shape[1]
            self.out_activation_ = "identity"
            if self.standardize_target:
                w = weights[:, None]
                total, weighted = summed(shard, weights.sum(), (w * values).sum(0))  # two passes: no cancellation
                self.target_mean_ = weighted / total
                squares, = summed(shard, (w * (values - self.target_mean_) ** 2).sum(0))
                scale = np.sqrt(squares / total)
                self.target_scale_ = np.where(scale > 0, scale, 1.0)
            else:
                self.target_mean_, self.target_scale_ = np.zeros(self.n_outputs_), np.ones(self.n_outputs_)
        return (values - self.target_mean_) / self.target_scale_

    def _n_outputs(self):
        return self.n_outputs_

    def _fit_probe(self, features, targets, weights):
        """Head weights (n_outputs, width) and biases from a ridge regression on pooled features."""
        probe = Ridge(alpha=1.0).fit(features, targets, sample_weight=weights)
        return probe.coef_.reshape(self.n_outputs_, -1), np.atleast_1d(probe.intercept_)

    def _targets_as_given(self, targets):
        """Standardised targets (or predictions) in the units and shape of the training ``y``."""
        values = targets * self.target_scale_ + self.target_mean_
        return values.ravel() if self.n_outputs_ == 1 else values

    # -- the task's hooks ----------------------------------------------------------------------------------------

    @staticmethod
    def _losses(outputs, targets):
        return (outputs - targets.to(outputs.dtype)).pow(2).mean(1)

    @staticmethod
    def _to_predictions(outputs):
        return outputs

    @staticmethod
    def _average_strands(values, rc_values):
        return (values + rc_values) / 2

    @staticmethod
    def _validation_losses(values, targets):
        return ((values - targets) ** 2).mean(1)

    @staticmethod
    def _score_terms(values, targets, weights):
        """Per target: the weight, the weighted sums of y and y², and the weighted squared error."""
        w = weights[:, None]
        return np.concatenate([[weights.sum()], (w * targets).sum(0), (w * targets ** 2).sum(0),
                               (w * (targets - values) ** 2).sum(0)])

    def _score_from_terms(self, terms):
        """R² averaged over the targets, as :func:`sklearn.metrics.r2_score` (unchanged by the standardisation)."""
        weight, (total, squares, errors) = terms[0], np.split(terms[1:], 3)
        spread = squares - total ** 2 / weight
        r2 = np.where(spread > 0, 1 - errors / np.where(spread > 0, spread, 1.0), np.where(errors > 0, 0.0, 1.0))
        return float(r2.mean())

    # -- prediction ----------------------------------------------------------------------------------------------

    def predict(self, X):
        """Predicted targets, in the units of the training ``y``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        return self._targets_as_given(self._predict_outputs(self._fitted_sequences(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
