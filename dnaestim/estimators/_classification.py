"""What every dnaestim classifier shares: single-label (softmax) and multi-label (one sigmoid per label) targets,
class weights, and the scikit-learn prediction API, on the fine-tuning loop of :mod:`._finetuning`."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from ._finetuning import FineTuningBase, first_not_a_number, plain, summed

#: Probability from which ``predict`` switches a label on in multi-label classification.
MULTILABEL_THRESHOLD = 0.5


class HyenaClassifierBase(ClassifierMixin, FineTuningBase):
    """Shared plumbing of the classifiers; not an estimator by itself.

    Single-label ``y`` (one label per sequence) trains a softmax over ``classes_``; a binary indicator matrix
    (n_samples, n_labels), or a DataFrame of 0/1 columns, trains one sigmoid per label (multi-label, as
    scikit-learn's ``MLPClassifier`` does). ``out_activation_`` says which. Subclasses define ``__init__``,
    ``fit`` and ``_make_optimizer(model)``; ``class_weight`` is read here.
    """

    _default_score_name = "valid acc"

    def _validate_training_params(self):
        super()._validate_training_params()
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict; got {self.class_weight!r}.")

    # -- targets -------------------------------------------------------------------------------------------------

    def _encode_targets(self, y, n_samples, warm, shard=None):
        """Check ``y``, set ``classes_`` and ``out_activation_`` (unless warm-starting) and return the training
        targets: class indices (n,) for single-label ``y``, a float 0/1 matrix (n, n_labels) for multi-label."""
        columns = getattr(y, "columns", None)
        array = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if array.ndim == 2 and array.shape[1] > 1:
            targets, classes = self._indicator_matrix(array, columns, n_samples)
            activation = "logistic"
        else:
            labels = self._labels(y, n_samples)
            activation = "softmax"
        if warm:
            if activation != self.out_activation_:
                raise ValueError("With warm_start=True, y must keep its form (single-label or multi-label); refit "
                                 "with warm_start=False.")
            if activation == "logistic":
                if not np.array_equal(classes, self.classes_):
                    raise ValueError(f"y has labels {classes.tolist()} but the fitted model has "
                                     f"{self.classes_.tolist()}; with warm_start=True the labels must stay the same.")
                return targets
            unseen = sorted(set(np.unique(labels).tolist()) - set(self.classes_.tolist()), key=str)
            if unseen:
                raise ValueError(
                    f"y holds label(s) {unseen} that the fitted model does not know (classes_: "
                    f"{self.classes_.tolist()}); with warm_start=True the classes must stay the same. Refit with "
                    "warm_start=False."
                )
            return np.searchsorted(self.classes_, labels)
        self.out_activation_ = activation
        if activation == "softmax":
            encoder = LabelEncoder().fit(labels if shard is None else shard.union(labels))
            if len(encoder.classes_) < 2:
                raise ValueError(
                    f"y has only one class ({encoder.classes_.tolist()[0]!r}); a classifier needs at least two."
                )
            classes, targets = encoder.classes_, encoder.transform(labels)
        self.classes_ = classes
        self._training_data = {**getattr(self, "_training_data", {}),
                               "classes": [c.item() if hasattr(c, "item") else c for c in self.classes_]}
        return targets

    def _labels(self, y, n_samples):
        y = column_or_1d(y.to_numpy() if hasattr(y, "to_numpy") else y, warn=True)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} sequences but y has {len(y)} labels; give one label per sequence.")
        missing = [i for i, label in enumerate(y) if label is None or (isinstance(label, float) and np.isnan(label))]
        if missing:
            raise ValueError(f"y[{missing[0]}] is missing ({y[missing[0]]!r}); every sequence needs a label.")
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"y must hold class labels for classification; got a {kind!r} target. Use integer or string labels, "
                "or a 0/1 matrix (n_samples, n_labels) for multi-label classification."
            )
        return y

    @staticmethod
    def _indicator_matrix(array, columns, n_samples):
        """A multi-label ``y`` as a float 0/1 matrix, and its label names (the DataFrame's columns, else 0..k-1)."""
        if len(array) != n_samples:
            raise ValueError(f"X has {n_samples} sequences but y has {len(array)} rows; give one row per sequence.")
        try:
            values = array.astype(np.float64)
        except (TypeError, ValueError):
            row, column = first_not_a_number(array) or (0, 0)
            name = columns[column] if columns is not None else column
            raise ValueError(
                f"y[{row}, {column}] (label {name!r}) is {plain(array[row, column])!r}, not a number. A 2-D y is a "
                "multi-label indicator matrix: every entry must be 0 or 1 (or True/False); encode the labels as "
                "0/1 columns (e.g. sklearn.preprocessing.MultiLabelBinarizer)."
            ) from None
        bad = np.argwhere(~np.isin(values, (0.0, 1.0)))
        if bad.size:
            row, column = (int(v) for v in bad[0])
            name = columns[column] if columns is not None else column
            raise ValueError(
                f"y[{row}, {column}] (label {name!r}) is {array[row, column]}; a multi-label y holds only 0 and 1 "
                "(give one 0/1 column per label; for several classes per sequence use one column per class)."
            )
        classes = np.asarray(list(columns) if columns is not None else np.arange(array.shape[1]))
        if columns is not None and len(set(classes.tolist())) != len(classes):
            raise ValueError(f"y's columns name a label twice: {list(columns)}; give every label its own name.")
        return values, classes

    def _targets_as_given(self, targets):
        if self.out_activation_ == "logistic":
            return targets.astype(np.int64)
        return self.classes_[targets]

    def _strand_check_targets(self, targets):
        return np.asarray(targets).astype(np.int64)  # class indices, or the 0/1 matrix of multi-label targets

    def _stratify(self, targets):
        return targets if self.out_activation_ == "softmax" else None

    # -- weights -------------------------------------------------------------------------------------------------

    def _class_weights(self, targets, sample_weight, shard=None):
        """Per-sequence weights (n,) and, for multi-label targets, per-label positive weights (n_labels,) or None.

        Single-label: ``class_weight`` multiplies ``sample_weight`` by the weight of each sequence's class.
        Multi-label: it weighs each label's positives against its negatives in the loss (torch's ``pos_weight``):
        ``"balanced"`` gives every label ``n_negative / n_positive`` (1 for a label without positives), a dict the
        weights of the labels it names.
        """
        weights = self._sample_weights(sample_weight, len(targets))
        if self.out_activation_ == "logistic":
            if self.class_weight is None:
                return weights, None
            if isinstance(self.class_weight, dict):
                return weights, self._class_weight_from_dict()
            positives, negatives = summed(shard, (targets * weights[:, None]).sum(0),
                                          ((1 - targets) * weights[:, None]).sum(0))
            return weights, np.where(positives > 0, negatives / np.maximum(positives, 1e-12), 1.0)
        if isinstance(self.class_weight, dict):
            weights *= self._class_weight_from_dict()[targets]
        elif self.class_weight is not None:  # "balanced": n_samples / (n_classes * count), over the classes in y
            counts, = summed(shard, np.bincount(targets, minlength=len(self.classes_)).astype(np.float64))
            present = counts > 0
            per_class = np.ones(len(self.classes_))
            per_class[present] = counts.sum() / (present.sum() * counts[present])
            weights *= per_class[targets]
        return weights, None

    def _class_weight_from_dict(self):
        """Weight per class of ``classes_`` from a ``class_weight`` dict (classes it omits weigh 1).

        A key names a class when it equals the label or, failing that, when its text does: ``{0: 1, 1: 3}`` and
        ``{"0": 1, "1": 3}`` both work for labels ``"0"``/``"1"`` (as read from a CSV) and for labels 0/1.
        """
        classes = self.classes_.tolist()
        by_text = {}
        for index, label in enumerate(classes):
            by_text.setdefault(str(label), []).append(index)
        per_class = np.ones(len(classes))
        for key, value in self.class_weight.items():
            if key in classes:
                index = classes.index(key)
            elif len(by_text.get(str(key), ())) == 1:
                index = by_text[str(key)][0]
            else:
                raise ValueError(f"class_weight names label {key!r}, which is not in y (classes: {classes}).")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
                raise ValueError(f"class_weight[{key!r}] must be a finite number >= 0; got {value!r}.")
            per_class[index] = float(value)
        return per_class

    # -- the task's hooks ----------------------------------------------------------------------------------------

    def _fit_probe(self, features, targets, weights):
        """Head weights (n_classes, width) and biases from logistic regression on pooled features
        (``head_init="probe"``; None when the subsample holds one class)."""
        n_classes, width = len(self.classes_), features.shape[1]
        weight, bias = np.zeros((n_classes, width)), np.zeros(n_classes)
        with warnings.catch_warnings():
            # An unconverged probe is still a better start than a random head; the user cannot act on the warning.
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.out_activation_ == "logistic":
                for label in range(n_classes):
                    column = targets[:, label]
                    if 0 < column.sum() < len(column):
                        probe = LogisticRegression(C=1.0, max_iter=1000).fit(features, column, sample_weight=weights)
                        weight[label], bias[label] = probe.coef_[0], probe.intercept_[0]
                    else:  # one value in this sample: its smoothed log-odds, until training sees the other
                        rate = (column.sum() + 0.5) / (len(column) + 1.0)
                        bias[label] = np.log(rate / (1 - rate))
                return weight, bias
            present = np.unique(targets)
            if len(present) < 2:
                return None  # nothing to separate in this subsample: keep the random head
            probe = LogisticRegression(C=1.0, max_iter=1000).fit(features, targets, sample_weight=weights)
        if len(present) == 2:  # one decision function: split it evenly between the two logits
            weight[present[1]], bias[present[1]] = probe.coef_[0] / 2, probe.intercept_[0] / 2
            weight[present[0]], bias[present[0]] = -probe.coef_[0] / 2, -probe.intercept_[0] / 2
        else:
            weight[present], bias[present] = probe.coef_, probe.intercept_
        # A class absent from the probe's sample gets a logit well below the others until training sees it.
        absent = np.setdiff1d(np.arange(n_classes), present)
        bias[absent] = bias[present].min() - 5.0
        return weight, bias

    def _losses(self, logits, targets):
        if self.out_activation_ == "logistic":
            pos_weight = getattr(self, "_pos_weight", None)
            if pos_weight is not None:
                pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
            return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=pos_weight,
                                                      reduction="none").mean(1)
        return F.cross_entropy(logits, targets, reduction="none")

    def _to_predictions(self, logits):
        """Log-probabilities: of each class (softmax), or of each label being on (multi-label)."""
        if self.out_activation_ == "logistic":
            return F.logsigmoid(logits)
        return torch.log_softmax(logits, dim=-1)

    @staticmethod
    def _average_strands(log_p, rc_log_p):
        return torch.logaddexp(log_p, rc_log_p) - np.log(2.0)

    def _validation_losses(self, log_p, targets):
        if self.out_activation_ == "logistic":
            log_not = np.log1p(-np.exp(np.minimum(log_p, -1e-12)))  # log(1 - p) without rounding p to 1
            return -(targets * log_p + (1 - targets) * log_not).mean(1)
        return -log_p[np.arange(len(targets)), targets]

    def _score_terms(self, log_p, targets, weights):
        """Weighted count of correct predictions (all labels right, for multi-label) and the weight."""
        if self.out_activation_ == "logistic":
            correct = ((log_p >= np.log(MULTILABEL_THRESHOLD)) == (targets > 0.5)).all(1)
        else:
            correct = log_p.argmax(1) == targets
        return np.array([np.sum(correct * weights), np.sum(weights)])

    @staticmethod
    def _score_from_terms(terms):
        """Accuracy as ``score`` defines it (subset accuracy for multi-label), weighted."""
        return float(terms[0] / terms[1])

    def _validation_record(self, sums):
        record = super()._validation_record(sums)
        return {"valid_loss": record["valid_loss"], "valid_accuracy": record["valid_score"],
                "valid_score": record["valid_score"]}

    # -- prediction ----------------------------------------------------------------------------------------------

    def predict_log_proba(self, X):
        """Log of the class probabilities (of each label being on, for multi-label classification).

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._predict_outputs(self._fitted_sequences(X))

    def predict_proba(self, X):
        """Class probabilities; rows sum to one (single-label), or each label's own probability (multi-label).

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
        """Confidence scores: the log-odds of ``classes_[1]`` for two classes, log-probabilities for more; the
        log-odds of every label for multi-label classification.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        log_proba = self.predict_log_proba(X)
        if self.out_activation_ == "logistic":
            return log_proba - np.log1p(-np.exp(np.minimum(log_proba, -1e-300)))
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """Most probable class of each sequence; for multi-label classification, a 0/1 row of the labels whose
        probability is at least 0.5.

        Parameters
        ----------
        X : list, 1-D array or pandas Series of str
            DNA sequences.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Labels from ``classes_``, or the 0/1 indicator matrix (columns follow ``classes_``).
        """
        log_proba = self.predict_log_proba(X)
        if self.out_activation_ == "logistic":
            return (log_proba >= np.log(MULTILABEL_THRESHOLD)).astype(np.int64)
        return self.classes_[log_proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
