"""HyenaClassifier: fine-tune (or train from scratch) a HyenaDNA backbone to classify DNA sequences."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

from ..nn.heads import HyenaSequenceClassifier
from ..tokenizer import reverse_complement_ids
from ..training import EarlyStopping, Optimization, TimeBudget, build_optimizer, cosine_with_warmup
from ._base import HyenaEstimatorMixin, _check_float, _check_positive_int

__all__ = ["HyenaClassifier"]

logger = logging.getLogger("dnaestim")


class HyenaClassifier(ClassifierMixin, HyenaEstimatorMixin):
    """Sequence classifier built on a HyenaDNA backbone.

    A backbone (trained from scratch, or loaded from a pretrained checkpoint), masked mean pooling over the real
    tokens of each sequence, and one linear layer, trained end to end with AdamW and a cosine schedule as in the
    published fine-tuning recipe.

    Parameters
    ----------
    pretrained : str, path-like, HyenaLM or fitted HyenaPretrainer, default=None
        Start from these backbone weights (a local checkpoint directory in either published layout). When set,
        the architecture parameters below are ignored. None trains a backbone from scratch.
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
    pooling : {"mean", "last"}, default="mean"
        Mean over the real tokens (never over padding), or the last real token.
    max_length : int, default=None
        Cut sequences to this many nucleotides (keeping their start), at fit and predict time. None: the
        pretrained model's ``l_max`` (training sequences must fit), or the longest training sequence for a model
        trained from scratch; longer sequences at predict time are then cut with a warning.
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
        Hold out ``validation_fraction`` of the training data (stratified), keep the weights with the best
        validation loss, and stop after ``n_iter_no_change`` epochs without improvement.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement of the validation loss before training stops.
    tol : float, default=1e-4
        Minimum decrease of the validation loss that counts as an improvement.
    max_time : float, default=None
        Wall-clock budget for ``fit`` in seconds: training stops at the first batch boundary after it, and the
        learning-rate schedule anneals over whichever of ``max_iter`` and ``max_time`` runs out first.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    rc_augment : bool, default=False
        Replace each training sequence by its reverse complement with probability 1/2 at every epoch.
    rc_average : bool, default=False
        Average the predicted probabilities of each sequence and its reverse complement (strand-symmetric
        predictions, twice the inference cost).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, the validation split, augmentation and dropout. The global random
        generators are left untouched.
    verbose : int, default=0
        0 is silent; 1 shows tqdm progress bars and logs each epoch at INFO level.
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of starting afresh.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    precision : {"auto", "32", "bf16", "16", "64"}, default="auto"
        Mixed precision on GPUs by default (the long convolution always runs in float32); float32 on the CPU.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels.
    model_ : HyenaSequenceClassifier
        The trained torch module.
    max_length_ : int
        Longest input accepted.
    n_iter_ : int
        Epochs run (over all fits when warm-starting).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``valid_accuracy`` (None without early
        stopping), ``lr``, ``seconds``.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_loss_curve_ : list of float
        Validation loss per epoch (empty without early stopping).
    best_iter_ : int
        Epoch whose weights were kept (the last one without early stopping).
    device_ : torch.device
        Device the model lives on.

    Examples
    --------
    >>> from dnaestim import HyenaClassifier
    >>> X = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"] * 8
    >>> y = ["a", "b", "a", "b"] * 8
    >>> clf = HyenaClassifier(d_model=16, n_layer=1, max_iter=3, early_stopping=False, random_state=0)
    >>> clf.fit(X, y).predict(["ACGTACGTAC"]).shape
    (1,)
    >>> clf.classes_.tolist()
    ['a', 'b']
    """

    def __init__(
        self,
        *,
        pretrained=None,
        d_model=128,
        n_layer=2,
        d_inner=None,
        filter_order=64,
        emb_dim=5,
        embed_dropout=0.1,
        resid_dropout=0.0,
        head_dropout=0.1,
        pooling="mean",
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
        max_time=None,
        class_weight=None,
        rc_augment=False,
        rc_average=False,
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
        self.pooling = pooling
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
        self.max_time = max_time
        self.class_weight = class_weight
        self.rc_augment = rc_augment
        self.rc_average = rc_average
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.precision = precision

    # -- fitting -------------------------------------------------------------------------------------------------

    def _validate_params(self):
        device, dtype, autocast = self._validate_common_params()
        _check_positive_int(self.max_iter, "max_iter")
        _check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        _check_float(self.learning_rate_init, "learning_rate_init", 0, np.inf, low_open=True)
        _check_float(self.weight_decay, "weight_decay", 0, np.inf)
        _check_float(self.validation_fraction, "validation_fraction", 0, 1, low_open=True, high_open=True)
        _check_float(self.tol, "tol", 0, np.inf)
        _check_float(self.max_time, "max_time", 0, np.inf, low_open=True, allow_none=True)
        for name in ("embed_dropout", "resid_dropout", "head_dropout"):
            _check_float(getattr(self, name), name, 0, 1, high_open=True)
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict; got {self.class_weight!r}.")
        return device, dtype, autocast

    def _labels(self, y, n_samples):
        y = column_or_1d(y, warn=True) if not hasattr(y, "to_numpy") else column_or_1d(y.to_numpy(), warn=True)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} sequences but y has {len(y)} labels; give one label per sequence.")
        missing = [i for i, label in enumerate(y) if label is None or (isinstance(label, float) and np.isnan(label))]
        if missing:
            raise ValueError(f"y[{missing[0]}] is missing ({y[missing[0]]!r}); every sequence needs a label.")
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"y must hold class labels for classification; got a {kind!r} target. Use integer or string labels."
            )
        return y

    def fit(self, X, y, sample_weight=None):
        """Train on sequences ``X`` with labels ``y``.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences (A, C, G, T, N in either case).
        y : array-like of shape (n_samples,)
            Class labels of any hashable type.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sequence weights in the loss.

        Returns
        -------
        HyenaClassifier
            The fitted estimator (``self``).
        """
        device, dtype, autocast = self._validate_params()
        sequences, lengths = self._sequences(X)
        y = self._labels(y, len(sequences))
        warm = self.warm_start and hasattr(self, "model_")
        if warm:
            unseen = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()), key=str)
            if unseen:
                raise ValueError(
                    f"y holds label(s) {unseen} that the fitted model does not know (classes_: {list(self.classes_)}); "
                    "with warm_start=True the classes must stay the same. Refit with warm_start=False."
                )
            y_index = np.searchsorted(self.classes_, y)
        else:
            encoder = LabelEncoder().fit(y)
            if len(encoder.classes_) < 2:
                raise ValueError(
                    f"y has only one class ({encoder.classes_.tolist()[0]!r}); a classifier needs at least two."
                )
            self.classes_ = encoder.classes_
            y_index = encoder.transform(y)
        weights = self._sample_weights(sample_weight, y_index)

        rng, seed = self._seeds()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            if not warm:
                self._init_model(lengths, device, dtype, seed)
            else:
                self.model_.to(device)
            self.device_, self.autocast_dtype_ = device, autocast
            ids, mask = self._tokenize(sequences, lengths)
            self._train(ids, mask, y_index, weights, rng, warm)
        return self

    def _sample_weights(self, sample_weight, y_index):
        n_classes = len(self.classes_)
        weights = np.ones(len(y_index), dtype=np.float64)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            check_consistent_length(y_index, sample_weight)
            if sample_weight.ndim != 1 or not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be a 1-D array of finite, non-negative numbers.")
            if sample_weight.sum() <= 0:
                raise ValueError("sample_weight sums to zero; at least one sequence needs a positive weight.")
            weights *= sample_weight
        if self.class_weight is not None:
            if isinstance(self.class_weight, dict):
                unknown = [k for k in self.class_weight if k not in set(self.classes_.tolist())]
                if unknown:
                    raise ValueError(f"class_weight names label(s) {unknown} not in y (classes: {list(self.classes_)}).")
            present = np.unique(y_index)
            per_class = np.ones(n_classes)
            per_class[present] = compute_class_weight(self.class_weight, classes=self.classes_[present],
                                                      y=self.classes_[y_index])
            weights *= per_class[y_index]
        return weights

    def _init_model(self, lengths, device, dtype, seed):
        generator = torch.Generator().manual_seed(seed)
        if self.pretrained is not None:
            lm = self._pretrained_lm()
            self.max_length_ = self._resolve_max_length(lengths, lm.config.l_max)
            config = lm.config
            config.embed_dropout, config.resid_dropout = float(self.embed_dropout), float(self.resid_dropout)
        else:
            self.max_length_ = self._resolve_max_length(lengths, None)
            config = self._backbone_config(self.max_length_)
        model = HyenaSequenceClassifier(config, len(self.classes_), self.pooling, float(self.head_dropout),
                                        generator=generator)
        if self.pretrained is not None:
            model.backbone.load_state_dict(lm.backbone.state_dict())
        if self.freeze_backbone:
            model.backbone.requires_grad_(False)
        self.model_ = model.to(device=device, dtype=dtype)
        self.n_iter_ = 0
        self.history_, self.loss_curve_, self.validation_loss_curve_ = [], [], []

    def _split(self, y_index, rng):
        n = len(y_index)
        all_index = np.arange(n)
        if not self.early_stopping:
            return all_index, None
        n_valid = int(np.floor(self.validation_fraction * n))
        if n_valid < 1 or n - n_valid < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {n} sequences leaves no validation or no "
                "training data; raise validation_fraction, add data, or set early_stopping=False."
            )
        counts = np.bincount(y_index)
        stratify = y_index if counts[counts > 0].min() >= 2 and n_valid >= len(counts[counts > 0]) else None
        train, valid = train_test_split(all_index, test_size=n_valid, stratify=stratify,
                                        random_state=rng.randint(np.iinfo(np.int32).max))
        return np.sort(train), np.sort(valid)

    def _loss(self, logits, targets, weights):
        losses = F.cross_entropy(logits.float(), targets, reduction="none")
        return (losses * weights).sum() / weights.sum().clamp(min=1e-12)

    def _train(self, ids, mask, y_index, weights, rng, warm):
        model, device = self.model_, self.device_
        train_index, valid_index = self._split(y_index, rng)
        filter_params = [p for layer in model.backbone.layers for p in layer.mixer.filter_fn.implicit_filter.parameters()]
        optimizer = build_optimizer(model, lr=float(self.learning_rate_init), weight_decay=float(self.weight_decay),
                                    filter_params=filter_params, filter_lr=model.config.lr,
                                    filter_weight_decay=model.config.wd)
        step = Optimization(model, optimizer, device, self.autocast_dtype_)
        budget = TimeBudget(self.max_time)
        stopper = EarlyStopping(int(self.n_iter_no_change), float(self.tol)) if valid_index is not None else None
        batch = int(self.batch_size)
        steps_per_epoch = int(np.ceil(len(train_index) / batch))
        total_steps = steps_per_epoch * int(self.max_iter)
        y_tensor = torch.as_tensor(y_index, dtype=torch.long)
        w_tensor = torch.as_tensor(weights, dtype=torch.float32)
        epochs = self._progress(range(int(self.max_iter)), "epochs")
        out_of_time = False
        for epoch in epochs:
            model.train()
            order = train_index[rng.permutation(len(train_index))]
            total, seen = 0.0, 0.0
            for start in range(0, len(order), batch):
                index = order[start: start + batch]
                batch_ids, batch_mask = self._batch_tensors(ids, mask, index, device)
                if self.rc_augment:
                    flip = torch.from_numpy(rng.random_sample(len(index)) < 0.5).to(device)
                    batch_ids = torch.where(flip[:, None], reverse_complement_ids(batch_ids, batch_mask), batch_ids)
                step.set_lr(cosine_with_warmup(max(step.step_count / total_steps, budget.fraction())))
                with step.autocast():
                    logits = model(batch_ids, batch_mask)
                batch_w = w_tensor[index].to(device)
                loss = self._loss(logits, y_tensor[index].to(device), batch_w)
                value = step.step(loss)
                total += value * float(batch_w.sum())
                seen += float(batch_w.sum())
                if budget.exhausted():
                    out_of_time = True
                    break
            record = {"epoch": self.n_iter_ + 1, "train_loss": total / max(seen, 1e-12),
                      "valid_loss": None, "valid_accuracy": None,
                      "lr": optimizer.param_groups[0]["lr"], "seconds": budget.elapsed()}
            stop = False
            if stopper is not None:
                valid_loss, valid_accuracy = self._evaluate(ids, mask, y_index, weights, valid_index)
                record.update(valid_loss=valid_loss, valid_accuracy=valid_accuracy)
                self.validation_loss_curve_.append(valid_loss)
                stop = stopper.update(valid_loss, self.n_iter_ + 1, model)
            self.n_iter_ += 1
            self.history_.append(record)
            self.loss_curve_.append(record["train_loss"])
            if self.verbose:
                logger.info("epoch %(epoch)d: train loss %(train_loss).4f, valid loss %(valid_loss)s, "
                            "valid accuracy %(valid_accuracy)s", record)
            if stop or out_of_time:
                break
        if stopper is not None and stopper.best_state is not None:
            stopper.restore(model)
            self.best_iter_ = stopper.best_epoch
        else:
            self.best_iter_ = self.n_iter_
        model.eval()

    def _evaluate(self, ids, mask, y_index, weights, index):
        log_proba = self._log_proba(ids[index], mask[index])
        targets = torch.as_tensor(y_index[index])
        losses = F.nll_loss(torch.from_numpy(log_proba), targets, reduction="none").numpy()
        w = weights[index]
        accuracy = float(np.average(log_proba.argmax(1) == y_index[index], weights=w))
        return float(np.sum(losses * w) / w.sum()), accuracy

    # -- prediction ----------------------------------------------------------------------------------------------

    def _log_proba(self, ids, mask):
        """Log-probabilities (n, n_classes) float64 for tokenized sequences, in input order."""
        model = self.model_
        was_training = model.training
        model.eval()
        lengths = mask.sum(1)
        out = np.empty((len(ids), len(self.classes_)), dtype=np.float64)
        with torch.inference_mode(), self._autocast():
            for index in self._inference_batches(lengths):
                batch_ids, batch_mask = self._batch_tensors(ids, mask, index, self.device_)
                log_p = torch.log_softmax(model(batch_ids, batch_mask).double(), dim=-1)
                if self.rc_average:
                    rc_ids = reverse_complement_ids(batch_ids, batch_mask)
                    rc_log_p = torch.log_softmax(model(rc_ids, batch_mask).double(), dim=-1)
                    log_p = torch.logaddexp(log_p, rc_log_p) - np.log(2.0)
                out[index] = log_p.cpu().numpy()
        model.train(was_training)
        return out

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        sequences, lengths = self._sequences(X)
        ids, mask = self._tokenize(sequences, lengths)
        return self._log_proba(ids, mask)

    def predict_proba(self, X):
        """Class probabilities; rows sum to one.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def decision_function(self, X):
        """Confidence scores: the log-odds of ``classes_[1]`` for two classes, log-probabilities otherwise.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        log_proba = self.predict_log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """Most probable class of each sequence.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[log_proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
