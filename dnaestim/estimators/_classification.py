"""What every dnaestim classifier shares: label handling, fine-tuning through the shared training loop (with
early stopping and a time budget), and the scikit-learn prediction API. Subclasses build ``model_`` (a module mapping token ids and a mask
to class logits) and say which parameters the optimiser trains."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

from .._resources import advises_on_out_of_memory
from ..tokenizer import reverse_complement_ids
from ..training import (EarlyStopping, Hooks, Optimization, PrintLog, ProgressBar, TimeBudget, cosine_with_warmup,
                        train_loop)
from .._validation import user_stacklevel
from ._base import HyenaEstimatorMixin, _check_float, _check_positive_int



class HyenaClassifierBase(ClassifierMixin, HyenaEstimatorMixin):
    """Shared plumbing of the classifiers; not an estimator by itself.

    Subclasses define ``__init__``, ``fit`` and ``_make_optimizer(model)``, and set ``classes_``, ``model_``,
    ``device_`` and ``autocast_dtype_``. The parameters used here: ``batch_size``, ``max_iter``,
    ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``, ``tol``, ``max_time``, ``class_weight``,
    ``rc_augment``, ``rc_average`` and ``verbose``.
    """

    def _validate_training_params(self):
        """Check the parameters of the shared training loop; raises ValueError naming the first bad one."""
        _check_positive_int(self.max_iter, "max_iter")
        _check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        _check_float(self.learning_rate_init, "learning_rate_init", 0, np.inf, low_open=True)
        _check_float(self.weight_decay, "weight_decay", 0, np.inf)
        _check_float(self.validation_fraction, "validation_fraction", 0, 1, low_open=True, high_open=True)
        _check_float(self.tol, "tol", 0, np.inf)
        _check_float(self.max_time, "max_time", 0, np.inf, low_open=True, allow_none=True)
        if not (self.scoring in (None, "loss") or callable(self.scoring)):
            try:
                get_scorer(self.scoring)
            except (ValueError, TypeError):
                raise ValueError(
                    f"scoring must be 'loss', a scikit-learn scorer name (sklearn.metrics.get_scorer_names()) or a "
                    f"callable scorer(estimator, X, y); got {self.scoring!r}."
                ) from None
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict; got {self.class_weight!r}.")

    def _encode_labels(self, y, warm):
        """Set ``classes_`` (unless warm-starting) and return ``y`` as indices into it."""
        if warm:
            unseen = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()), key=str)
            if unseen:
                raise ValueError(
                    f"y holds label(s) {unseen} that the fitted model does not know (classes_: {list(self.classes_)}); "
                    "with warm_start=True the classes must stay the same. Refit with warm_start=False."
                )
            return np.searchsorted(self.classes_, y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y has only one class ({encoder.classes_.tolist()[0]!r}); a classifier needs at least two."
            )
        self.classes_ = encoder.classes_
        self._training_data = {**getattr(self, "_training_data", {}),
                               "classes": [c.item() if hasattr(c, "item") else c for c in self.classes_]}
        return encoder.transform(y)

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
        if isinstance(self.class_weight, dict):
            weights *= self._class_weight_from_dict()[y_index]
        elif self.class_weight is not None:
            present = np.unique(y_index)
            per_class = np.ones(n_classes)
            per_class[present] = compute_class_weight(self.class_weight, classes=self.classes_[present],
                                                      y=self.classes_[y_index])
            weights *= per_class[y_index]
        return weights

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

    def _split(self, y_index, rng):
        n = len(y_index)
        all_index = np.arange(n)
        if not self.early_stopping:
            return all_index, None
        n_valid = int(np.floor(self.validation_fraction * n))
        if n_valid < 1 or n - n_valid < 1:
            warnings.warn(
                f"validation_fraction={self.validation_fraction} of {n} sequences leaves no validation data, so "
                "this fit trains on all of them without early stopping. Raise validation_fraction or set "
                "early_stopping=False to silence this warning.", UserWarning, stacklevel=user_stacklevel())
            return all_index, None
        counts = np.bincount(y_index)
        stratify = y_index if counts[counts > 0].min() >= 2 and n_valid >= len(counts[counts > 0]) else None
        train, valid = train_test_split(all_index, test_size=n_valid, stratify=stratify,
                                        random_state=rng.randint(np.iinfo(np.int32).max))
        return np.sort(train), np.sort(valid)

    def _initialize_head(self, sequences, y_index, weights, train_index, rng):
        """Set the output layer before training starts (subclasses may; the default keeps its initialisation)."""

    def _loss(self, logits, targets, weights):
        losses = F.cross_entropy(logits.float(), targets, reduction="none")
        return (losses * weights).sum() / weights.sum().clamp(min=1e-12)

    @advises_on_out_of_memory("training")
    def _train(self, sequences, lengths, y_index, weights, rng, warm):
        """Fine-tune ``model_`` through :func:`~dnaestim.training.train_loop`: epochs of shuffled batches, a cosine
        schedule over ``max_iter`` epochs (or ``max_time``), validation and early stopping after each epoch."""
        model, device = self.model_, self.device_
        budget = TimeBudget(self.max_time)  # the linear probe below counts against max_time too
        ids, mask = self._tokenize(sequences, lengths)
        train_index, valid_index = self._split(y_index, rng)
        optimization = Optimization(model, self._make_optimizer(model), device, self.autocast_dtype_)
        if not warm:
            self._initialize_head(sequences, y_index, weights, train_index, rng)
        batch = int(self.batch_size)
        y_tensor = torch.as_tensor(y_index, dtype=torch.long)
        w_tensor = torch.as_tensor(weights, dtype=torch.float32)

        def epochs():
            for _ in range(int(self.max_iter)):
                order = train_index[rng.permutation(len(train_index))]
                yield (order[start:start + batch] for start in range(0, len(order), batch))

        def train_step(index, state):
            model.train()
            batch_ids, batch_mask = self._batch_tensors(ids, mask, index, device)
            if self.rc_augment:
                flip = torch.from_numpy(rng.random_sample(len(index)) < 0.5).to(device)
                batch_ids = torch.where(flip[:, None], reverse_complement_ids(batch_ids, batch_mask), batch_ids)
            with optimization.autocast():
                logits = model(batch_ids, batch_mask)
            batch_w = w_tensor[index]
            loss = self._loss(logits, y_tensor[index].to(device), batch_w.to(device))
            optimization.step(loss)
            batch_weight = float(batch_w.sum())  # a CPU tensor: no wait for the device
            state.extra["loss_sum"] = state.extra.get("loss_sum", 0.0) + loss.detach() * batch_weight
            state.extra["weight_sum"] = state.extra.get("weight_sum", 0.0) + batch_weight

        scorer = None if self.scoring in (None, "loss") else get_scorer(self.scoring)

        def end_epoch(state):
            optimization.losses()  # check the steps not yet checked (raises on a non-finite loss)
            seen = state.extra.pop("weight_sum", 0.0)
            record = {"epoch": self.n_iter_ + 1,
                      "train_loss": float(state.extra.pop("loss_sum", 0.0)) / max(seen, 1e-12),
                      "valid_loss": None, "valid_accuracy": None, "valid_score": None,
                      "lr": optimization.optimizer.param_groups[0]["lr"], "seconds": state.budget.elapsed()}
            criterion = None
            if valid_index is not None:
                record["valid_loss"], record["valid_accuracy"] = self._evaluate(sequences, y_index, weights,
                                                                                valid_index)
                criterion = record["valid_loss"]
                record["valid_score"] = record["valid_accuracy"]
                if scorer is not None:
                    record["valid_score"] = float(scorer(self, [sequences[i] for i in valid_index],
                                                         self.classes_[y_index[valid_index]]))
                    criterion = -record["valid_score"]
                self.validation_loss_curve_.append(record["valid_loss"])
                self.validation_scores_.append(record["valid_score"])
            state.extra.update(valid_loss=criterion, epoch=record["epoch"], log=record)
            self.n_iter_ += 1
            self.history_.append(record)
            self.loss_curve_.append(record["train_loss"])

        steps_per_epoch = int(np.ceil(len(train_index) / batch))
        total_steps = steps_per_epoch * int(self.max_iter)
        callbacks = [Hooks(on_epoch_end=end_epoch)]
        stopper = None
        if valid_index is not None:
            stopper = EarlyStopping(int(self.n_iter_no_change), float(self.tol), model)
            callbacks.append(stopper)
        if self.verbose >= 1:
            score_name = "valid acc" if scorer is None else (
                f"valid {self.scoring}"[:16] if isinstance(self.scoring, str) else "valid score")
            callbacks.append(PrintLog([("epoch", "epoch", "d"), ("train_loss", "train loss", ".4f"),
                                       ("valid_loss", "valid loss", ".4f"), ("valid_score", score_name, ".4f"),
                                       ("lr", "lr", ".2e"), ("seconds", "time (s)", ".1f")]))
        if self.verbose >= 2:
            callbacks.append(ProgressBar(total_steps, "fit"))
        # Linear warm-up in whole steps: the first step runs at 1/warmup_steps of the peak (a short fit is not
        # spent at a near-zero learning rate).
        first_ratio = min(1.0, 1.0 / max(1.0, 0.01 * total_steps))
        state = train_loop(epochs(), train_step, optimization=optimization,
                           lr_multiplier=lambda p: cosine_with_warmup(p, warmup_init_ratio=first_ratio),
                           total_steps=total_steps, budget=budget, min_steps=1, callbacks=callbacks)
        kept = stopper is not None and stopper.best_state is not None
        self.best_iter_ = stopper.best_epoch if kept else self.n_iter_
        self.best_validation_score_ = None
        if kept:
            self.best_validation_score_ = self.history_[self.best_iter_ - 1]["valid_score"]
        self.best_loss_ = None if valid_index is not None else min(self.loss_curve_)
        if kept and not state.stop and state.step >= total_steps and self.best_iter_ == self.n_iter_:
            warnings.warn(
                f"{type(self).__name__} ran all max_iter={self.max_iter} epochs of this fit and its validation "
                f"{'loss' if scorer is None else 'score'} still improved in the last one; raise max_iter to train "
                "longer.", ConvergenceWarning, stacklevel=user_stacklevel())
        model.eval()

    def _evaluate(self, sequences, y_index, weights, index):
        log_proba = self._log_proba([sequences[i] for i in index])
        targets = torch.as_tensor(y_index[index])
        losses = F.nll_loss(torch.from_numpy(log_proba), targets, reduction="none").numpy()
        w = weights[index]
        accuracy = float(np.average(log_proba.argmax(1) == y_index[index], weights=w))
        return float(np.sum(losses * w) / w.sum()), accuracy

    # -- prediction ----------------------------------------------------------------------------------------------

    @advises_on_out_of_memory("inference")
    def _log_proba(self, sequences):
        """Log-probabilities (n, n_classes) float64 of validated sequences, in input order."""
        model, rc_average = self.model_, self.rc_average

        def forward(ids, mask):
            log_p = torch.log_softmax(model(ids, mask).double(), dim=-1)
            if rc_average:
                rc_log_p = torch.log_softmax(model(reverse_complement_ids(ids, mask), mask).double(), dim=-1)
                log_p = torch.logaddexp(log_p, rc_log_p) - np.log(2.0)
            return log_p

        out = np.empty((len(sequences), len(self.classes_)), dtype=np.float64)
        for index, log_p in self._predict_batches(model, sequences, forward, "predict"):
            out[index] = log_p
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
        self._warn_if_cut(lengths)
        return self._log_proba(sequences)

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
