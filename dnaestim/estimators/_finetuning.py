"""Supervised fine-tuning shared by the classifiers and the regressor: the validation split, the training loop
(through :func:`dnaestim.training.train_loop`, with early stopping and a time budget), validation, and batched
prediction of raw outputs.

Subclasses say what the task is through five hooks: ``_loss(outputs, targets, weights)`` (torch),
``_to_predictions(outputs)`` (torch: log-probabilities or values, what ``rc_average`` averages),
``_average_strands(a, b)``, ``_validation_loss(predictions, targets, weights)`` and ``_default_score(predictions,
targets, weights)`` (numpy), plus ``_stratify(targets)`` for the split and ``_initialize_head`` for the probe.
They build ``model_`` (a module mapping token ids and a mask to one row of outputs per sequence) and say which
parameters the optimiser trains (``_make_optimizer``).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_consistent_length

from .._resources import advises_on_out_of_memory
from .._validation import user_stacklevel
from ..tokenizer import reverse_complement_ids
from ..training import (EarlyStopping, Hooks, Optimization, PrintLog, ProgressBar, TimeBudget, cosine_with_warmup,
                        train_loop)
from ._base import HyenaEstimatorMixin, _check_float, _check_positive_int


class FineTuningBase(HyenaEstimatorMixin):
    """The fit loop of every supervised dnaestim estimator; not an estimator by itself.

    The parameters used here: ``batch_size``, ``max_iter``, ``learning_rate_init``, ``weight_decay``,
    ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``, ``tol``, ``scoring``, ``max_time``,
    ``rc_augment``, ``rc_average`` and ``verbose``.
    """

    #: Heading of the default validation score in the epoch table.
    _default_score_name = "valid score"

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

    def _sample_weights(self, sample_weight, n_samples):
        """Per-sequence weights from ``sample_weight`` (ones when None), checked."""
        if sample_weight is None:
            return np.ones(n_samples, dtype=np.float64)
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        check_consistent_length(np.empty(n_samples), sample_weight)
        if sample_weight.ndim != 1 or not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
            raise ValueError("sample_weight must be a 1-D array of finite, non-negative numbers.")
        if sample_weight.sum() <= 0:
            raise ValueError("sample_weight sums to zero; at least one sequence needs a positive weight.")
        return sample_weight.copy()

    def _stratify(self, targets):
        """Labels to stratify the validation split by, or None."""
        return None

    def _split(self, targets, rng):
        n = len(targets)
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
        stratify = self._stratify(targets)
        if stratify is not None:
            counts = np.bincount(stratify)
            if counts[counts > 0].min() < 2 or n_valid < len(counts[counts > 0]):
                stratify = None
        train, valid = train_test_split(all_index, test_size=n_valid, stratify=stratify,
                                        random_state=rng.randint(np.iinfo(np.int32).max))
        return np.sort(train), np.sort(valid)

    def _initialize_head(self, sequences, targets, weights, train_index, rng):
        """Set the output layer before training starts (subclasses may; the default keeps its initialisation)."""

    def _start_history(self):
        self.n_iter_ = 0
        self.history_, self.loss_curve_, self.validation_loss_curve_, self.validation_scores_ = [], [], [], []
        self.best_iter_, self.best_validation_score_, self.best_loss_ = 0, None, None

    @advises_on_out_of_memory("training")
    def _train(self, sequences, lengths, targets, weights, rng, warm):
        """Fine-tune ``model_`` through :func:`~dnaestim.training.train_loop`: epochs of shuffled batches, a cosine
        schedule over ``max_iter`` epochs (or ``max_time``), validation and early stopping after each epoch."""
        model, device = self.model_, self.device_
        budget = TimeBudget(self.max_time)  # the linear probe below counts against max_time too
        ids, mask = self._tokenize(sequences, lengths)
        train_index, valid_index = self._split(targets, rng)
        optimization = Optimization(model, self._make_optimizer(model), device, self.autocast_dtype_)
        if not warm:
            self._initialize_head(sequences, targets, weights, train_index, rng)
        batch = int(self.batch_size)
        target_tensor = torch.as_tensor(targets)
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
                outputs = model(batch_ids, batch_mask)
            batch_w = w_tensor[index]
            loss = self._loss(outputs.float(), target_tensor[index].to(device), batch_w.to(device))
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
                      **self._validation_record(None, None, None),
                      "lr": optimization.optimizer.param_groups[0]["lr"], "seconds": state.budget.elapsed()}
            criterion = None
            if valid_index is not None:
                predictions = self._predict_outputs([sequences[i] for i in valid_index])
                record.update(self._validation_record(predictions, targets[valid_index], weights[valid_index]))
                criterion = record["valid_loss"]
                if scorer is not None:
                    record["valid_score"] = float(scorer(self, [sequences[i] for i in valid_index],
                                                         self._targets_as_given(targets[valid_index])))
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
            score_name = self._default_score_name if scorer is None else (
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

    def _validation_record(self, predictions, targets, weights):
        """The history entries of a validation pass (None without one); classifiers add ``valid_accuracy``."""
        if predictions is None:
            return {"valid_loss": None, "valid_score": None}
        return {"valid_loss": self._validation_loss(predictions, targets, weights),
                "valid_score": self._default_score(predictions, targets, weights)}

    def _targets_as_given(self, targets):
        """Encoded training targets back in the form ``fit`` received them (what a scorer compares with)."""
        return targets

    # -- prediction ----------------------------------------------------------------------------------------------

    @advises_on_out_of_memory("inference")
    def _predict_outputs(self, sequences):
        """``_to_predictions`` of the model's outputs, float64 (n, n_outputs), in input order; with ``rc_average``
        averaged with those of the reverse complements."""
        model, rc_average = self.model_, self.rc_average

        def forward(ids, mask):
            out = self._to_predictions(model(ids, mask).double())
            if rc_average:
                out = self._average_strands(out, self._to_predictions(
                    model(reverse_complement_ids(ids, mask), mask).double()))
            return out

        out = None
        for index, values in self._predict_batches(model, sequences, forward, "predict"):
            if out is None:
                out = np.empty((len(sequences), values.shape[1]), dtype=np.float64)
            out[index] = values
        return out
