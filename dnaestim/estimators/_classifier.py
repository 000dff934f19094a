"""HyenaClassifier: fine-tune (or train from scratch) a HyenaDNA backbone to classify DNA sequences."""

from __future__ import annotations

from ..models import DEFAULT_BACKBONE
from ._classification import HyenaClassifierBase
from ._pooled_head import PooledHeadMixin

__all__ = ["HyenaClassifier"]


class HyenaClassifier(PooledHeadMixin, HyenaClassifierBase):
    """Sequence classifier built on a HyenaDNA backbone.

    A backbone (trained from scratch, or loaded from a pretrained checkpoint), masked mean pooling over the real
    tokens of each sequence, and one linear layer, trained end to end with AdamW and a cosine schedule as in the
    published fine-tuning recipe. ``y`` holds one label per sequence (a softmax over the classes), or is a 0/1
    matrix with one column per label for multi-label classification (one sigmoid per label, binary
    cross-entropy; ``predict`` returns a 0/1 matrix at probability 0.5 and ``score`` is subset accuracy, as in
    scikit-learn's ``MLPClassifier``).

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
        How the linear layer starts. ``"probe"``: a logistic regression (one per label for multi-label ``y``)
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
    max_iter : int, default=10
        Number of epochs (fewer when ``max_time`` or early stopping ends training first); the learning-rate
        schedule anneals over them. Ten epochs on all the training data scored higher than early stopping on GUE
        dev splits, with 100 to 19,000 training sequences (see the user guide on the bundled backbone).
    batch_size : int, default=64
        Sequences per optimiser step (and per inference batch).
    learning_rate_init : float, default=6e-4
        Peak learning rate of the cosine schedule (1 % linear warm-up, decay to 0.1 × peak).
    weight_decay : float, default=0.1
        AdamW's decoupled weight decay (the implicit filters use none, as published).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), keep the weights with the best
        validation loss, and stop after ``n_iter_no_change`` epochs without improvement. Off by default: from the
        bundled backbone, training on every sequence for ``max_iter`` annealed epochs did better (on small data a
        10 % validation split is too small to pick an epoch from, and it costs a tenth of the data); turn it on
        with a large ``max_iter`` when you do not know how long to train.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement of the validation loss before training stops.
    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as an improvement when deciding to stop (the weights
        kept are those of the lowest validation loss, as in scikit-learn's ``MLPClassifier``).
    scoring : str, callable or None, default="loss"
        What early stopping watches on the validation split: ``"loss"`` (the validation loss, lower is better) or
        a scikit-learn scorer (a name such as ``"roc_auc"`` or ``"balanced_accuracy"``, or a callable
        ``scorer(estimator, X, y)``; higher is better, and ``tol`` applies to it). Also what
        ``validation_scores_`` holds (accuracy for ``"loss"`` and None).
    max_time : float, default=None
        Wall-clock budget for ``fit`` in seconds: training stops at the first batch boundary after it, and the
        learning-rate schedule anneals over whichever of ``max_iter`` and ``max_time`` runs out first.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn. For multi-label ``y``, the weight of each label's
        positives against its negatives (torch's ``pos_weight``): ``"balanced"`` gives a label ``n_negative /
        n_positive``, a dict maps labels to weights.
    rc_augment : "auto" or bool, default="auto"
        Replace each training sequence by its reverse complement with probability 1/2 at every epoch.
        ``"auto"``: when the labels are strand-symmetric, by the same check of the training data as
        ``rc_average="auto"`` (one check decides both), so that a model whose predictions average the strands
        is also trained on both. See ``rc_augment_``.
    rc_average : "auto" or bool, default="auto"
        Average the predicted probabilities of each sequence and its reverse complement (strand-symmetric
        predictions, twice the inference cost). ``"auto"`` decides in ``fit`` from the training data: on unless
        the labels depend on the strand (as promoters' do), which a cross-validated k-mer model tells by whether
        averaging the strands makes its held-out log-loss worse beyond chance (for multi-label ``y``, one model
        per label, the change summed over the labels). See ``rc_average_``. Can be changed after ``fit``.
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
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels; for multi-label ``y``, the label names (a DataFrame's columns, else 0..n_labels-1).
    out_activation_ : {"softmax", "logistic"}
        Single-label or multi-label outputs.
    model_ : HyenaSequenceClassifier
        The trained torch module.
    max_length_ : int
        Longest input accepted.
    length_feature_ : bool
        Whether the linear layer reads the length feature (``length_feature`` resolved).
    rc_augment_ : bool
        Whether ``rc_augment`` was on in the last ``fit`` (``"auto"`` resolved).
    rc_average_ : bool
        Whether ``rc_average`` was on in ``fit`` (``"auto"`` resolved; predictions follow it while
        ``rc_average="auto"``).
    n_iter_ : int
        Epochs run (over all fits when warm-starting).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``valid_accuracy``, ``valid_score`` (by
        ``scoring``; the three are None without early stopping), ``lr``, ``seconds``. With early stopping after a
        probe (``head_init="probe"``) the first entry, epoch 0, scores the probed head before any training.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float
        Validation loss per epoch (empty without early stopping).
    best_iter_ : int
        Epoch whose weights were kept (the last one without early stopping; 0 when no epoch beat the probe).
    validation_scores_ : list of float
        Validation score per epoch (by ``scoring``; accuracy for ``scoring="loss"``); empty without early stopping.
    best_validation_score_ : float or None
        Validation score of the epoch whose weights were kept (None without early stopping).
    best_loss_ : float or None
        Lowest training loss of any epoch; None with early stopping (as in scikit-learn's ``MLPClassifier``,
        where the validation split decides).
    device_ : torch.device
        Device the model lives on.
    feature_names_in_ : ndarray of shape (1,)
        Name of the column when ``X`` was a one-column DataFrame in ``fit`` (absent otherwise).

    Examples
    --------
    >>> from dnaestim import HyenaClassifier
    >>> X = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 8
    >>> y = ["a", "b", "a", "b"] * 8
    >>> clf = HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=3, early_stopping=False, random_state=0)
    >>> clf.fit(X, y).predict(["ACGTACGTAC"]).shape
    (1,)
    >>> clf.classes_.tolist()
    ['a', 'b']

    Several labels per sequence:

    >>> import numpy as np
    >>> Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 8)
    >>> HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=2, early_stopping=False).fit(X, Y).predict(
    ...     X[:2]).shape
    (2, 2)
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
        max_iter=10,
        batch_size=64,
        learning_rate_init=6e-4,
        weight_decay=0.1,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        scoring="loss",
        max_time=None,
        class_weight=None,
        rc_augment="auto",
        rc_average="auto",
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
        self.class_weight = class_weight
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
        """Train on sequences ``X`` with labels ``y``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences (A, C, G, T, N in either case).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels of any hashable type; or, for multi-label classification, a 0/1 indicator matrix (an
            array or a DataFrame whose column names become ``classes_``).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sequence weights in the loss.

        Returns
        -------
        HyenaClassifier
            The fitted estimator (``self``).
        """
        return self._fit(X, y, sample_weight)

    def _targets_and_weights(self, y, sample_weight, n_samples, warm, shard):
        targets = self._encode_targets(y, n_samples, warm, shard)
        weights, self._pos_weight = self._class_weights(targets, sample_weight, shard)
        return targets, weights

    def _n_outputs(self):
        return len(self.classes_)
