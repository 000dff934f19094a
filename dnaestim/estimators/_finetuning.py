"""Supervised fine-tuning shared by the classifiers and the regressor: the validation split, the training loop
(through :func:`dnaestim.training.train_loop`, with early stopping and a time budget), validation, and batched
prediction of raw outputs.

The loop runs over a :class:`~dnaestim.distributed.Shard`: in one process it holds every row and its collectives
are the identity; under ``torchrun`` (``python -m dnaestim finetune``) each process holds every world-th row,
processes its rows of each global batch, and the gradients, losses and validation sums are added over processes,
so a run on several processes takes the same steps as one process would.

Subclasses say what the task is through hooks: ``_losses(outputs, targets)`` (torch, one loss per sequence),
``_to_predictions(outputs)`` (torch: log-probabilities or values, what ``rc_average`` averages),
``_average_strands(a, b)``, ``_validation_losses(predictions, targets)``, ``_score_terms(predictions, targets,
weights)`` and ``_score_from_terms(terms)`` (numpy; sums, so that processes can add them), ``_stratify(targets)``
for the split and ``_initialize_head`` for the probe. They build ``model_`` (a module mapping token ids and a mask
to one row of outputs per sequence) and say which parameters the optimiser trains (``_make_optimizer``).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split

from .._resources import advises_on_out_of_memory
from .._validation import check_int, user_stacklevel
from ..distributed import Shard, SynchronizedTimeBudget, all_reduce_gradients
from ..tokenizer import reverse_complement_ids
from ..training import (EarlyStopping, Hooks, Optimization, PrintLog, ProgressBar, TimeBudget, cosine_with_warmup,
                        train_loop)
from ._base import HyenaEstimatorMixin, _check_float
from ._resumable import Preempted
from ._strand import Z_STRAND_SPECIFIC, strand_symmetric


#: Batches whose sequences are sorted by length together (see :func:`length_grouped`).
GROUP_BATCHES = 16


def length_grouped(order, widths, batch_size, rng):
    """Reorder a shuffled epoch so that each batch holds sequences of similar length.

    A batch is padded to its longest sequence, so batches of random lengths waste compute: on VISTA enhancers
    (315-8,062 nt) random batches of 64 cost 2.3 times the tokens they hold. Every run of ``GROUP_BATCHES``
    batches of ``order`` is sorted by length (each length jittered by up to 10 %, so that batches differ from
    epoch to epoch) and cut into batches, and the batches are shuffled; the one short batch stays last. That
    cuts the waste to about 1.15.

    Parameters
    ----------
    order : ndarray of int
        A permutation of ``range(len(widths))``.
    widths : ndarray of int
        Token count of each row.
    batch_size : int
    rng : numpy.random.RandomState

    Returns
    -------
    ndarray of int
        The same positions; consecutive slices of ``batch_size`` are the batches.
    """
    span = GROUP_BATCHES * batch_size
    full, short = [], []
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        chunk = chunk[np.argsort(widths[chunk] * np.exp(rng.uniform(-0.1, 0.1, len(chunk))), kind="stable")]
        for first in range(0, len(chunk), batch_size):
            (full if len(chunk) - first >= batch_size else short).append(chunk[first:first + batch_size])
    full = [full[i] for i in rng.permutation(len(full))]
    return np.concatenate(full + short) if full or short else order


def summed(shard, *arrays):
    """``arrays`` added over the processes of ``shard`` (as they are without one)."""
    if shard is None:
        return arrays
    total = shard.sum(np.concatenate([np.ravel(a) for a in arrays]))
    return tuple(np.split(total, np.cumsum([np.size(a) for a in arrays])[:-1]))


def first_not_a_number(array):
    """Index of the first entry of ``array`` that ``float`` cannot read (None when every one reads)."""
    for index in np.ndindex(array.shape):
        try:
            float(array[index])
        except (TypeError, ValueError):
            return index
    return None


def plain(value):
    """A numpy scalar as the Python value it holds (for error messages); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


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
        check_int(self.max_iter, "max_iter")
        check_int(self.n_iter_no_change, "n_iter_no_change")
        _check_float(self.learning_rate_init, "learning_rate_init", 0, np.inf, low_open=True)
        _check_float(self.weight_decay, "weight_decay", 0, np.inf)
        _check_float(self.validation_fraction, "validation_fraction", 0, 1, low_open=True, high_open=True)
        _check_float(self.tol, "tol", 0, np.inf)
        _check_float(self.max_time, "max_time", 0, np.inf, low_open=True, allow_none=True)
        for name in ("rc_augment", "rc_average"):
            value = getattr(self, name)
            if not (isinstance(value, (bool, np.bool_)) or (isinstance(value, str) and value == "auto")):
                raise ValueError(f"{name} must be 'auto', True or False; got {value!r}.")
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
        try:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"sample_weight must hold numbers, one weight per sequence ({err}).") from None
        if sample_weight.ndim != 1:
            raise ValueError(f"sample_weight must be a 1-D array with one weight per sequence; got shape "
                             f"{sample_weight.shape}.")
        if len(sample_weight) != n_samples:
            raise ValueError(f"X has {n_samples} sequences but sample_weight has {len(sample_weight)} values; give "
                             "one weight per sequence.")
        bad = np.flatnonzero(~np.isfinite(sample_weight) | (sample_weight < 0))
        if bad.size:
            raise ValueError(f"sample_weight must be a 1-D array of finite, non-negative numbers; "
                             f"sample_weight[{bad[0]}] is {sample_weight[bad[0]]}.")
        if sample_weight.sum() <= 0:
            raise ValueError("sample_weight sums to zero; at least one sequence needs a positive weight.")
        return sample_weight.copy()

    def _stratify(self, targets):
        """Labels to stratify the validation split by, or None."""
        return None

    def _split(self, targets, rng, shard):
        """Global indices of the training and validation rows (validation None without early stopping)."""
        n = shard.n_total
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
            stratify = shard.gather(all_index, stratify)
            counts = np.bincount(stratify)
            if counts[counts > 0].min() < 2 or n_valid < len(counts[counts > 0]):
                stratify = None
        train, valid = train_test_split(all_index, test_size=n_valid, stratify=stratify,
                                        random_state=rng.randint(np.iinfo(np.int32).max))
        return np.sort(train), np.sort(valid)

    def _initialize_head(self, sequences, targets, weights, train_index, rng, shard, token_counts, budget=None):
        """Set the output layer before training starts (subclasses may; the default keeps its initialisation).

        ``token_counts`` holds the token count of every training row (all processes'), in ``train_index`` order;
        ``budget`` is the fit's time budget, which a probe shares with training.
        Returns True when the model it leaves is worth keeping as it is (a probe fitted the head): validation
        then scores it as epoch 0, and fine-tuning must beat it to replace it.
        """
        return False

    def _start_history(self):
        self.n_iter_ = 0
        self.history_, self.loss_curve_, self.validation_loss_curve_, self.validation_scores_ = [], [], [], []
        self.best_iter_, self.best_validation_score_, self.best_loss_ = 0, None, None

    @advises_on_out_of_memory("training")
    def _train(self, sequences, lengths, targets, weights, rng, warm, shard=None, checkpoints=None):
        """Fine-tune ``model_`` through :func:`~dnaestim.training.train_loop`: epochs of shuffled batches, a cosine
        schedule over ``max_iter`` epochs (or ``max_time``), validation and early stopping after each epoch.

        ``sequences``, ``targets`` and ``weights`` are this process's rows of ``shard`` (all rows when None).
        ``checkpoints`` (a :class:`~._resumable.FineTuningCheckpoints`) makes the run resumable: it is written
        to as training goes, a run it holds is continued, and a stop signal raises :class:`~._resumable.Preempted`
        once the checkpoint is written.
        """
        model, device = self.model_, self.device_
        shard = shard or Shard(len(sequences))
        distributed = shard.world > 1
        if distributed and self.scoring not in (None, "loss"):
            raise ValueError("Under torchrun, early stopping watches the validation loss; pass scoring='loss'.")
        saved = checkpoints.read(self, shard.n_total, shard.world) if checkpoints is not None else None
        used, started = (0.0, None) if saved is None else (saved["elapsed"], saved.get("schedule_start", 0.0))
        # The strand check and the linear probe below count against max_time too; under torchrun every rank reads
        # rank 0's clock.
        budget = (SynchronizedTimeBudget(self.max_time, device, used=used, schedule_start=started) if distributed
                  else TimeBudget(self.max_time, used=used, schedule_start=started))
        self.rc_augment_, self.rc_average_ = self._resolve_strands(sequences, targets, shard)
        ids, mask = self._tokenize(sequences, lengths)
        train_index, valid_index = self._split(targets, rng, shard)
        optimization = Optimization(model, self._make_optimizer(model), device, self.autocast_dtype_)
        # Token counts of the training rows (all processes'), when they differ: batches then group similar lengths.
        _, local_train = shard.local(train_index)
        widths = shard.gather(train_index, mask[local_train].sum(1))
        probed = not warm and saved is None and self._initialize_head(sequences, targets, weights, train_index,
                                                                      rng, shard, widths, budget)
        batch = int(self.batch_size)
        target_tensor = torch.as_tensor(targets)
        w_tensor = torch.as_tensor(weights, dtype=torch.float32)
        parameters = [p for group in optimization.optimizer.param_groups for p in group["params"]]

        steps_per_epoch = int(np.ceil(len(train_index) / batch))
        if self._fixed_layout or not len(widths) or widths.min() == widths.max():
            widths = None  # every batch has the same width anyway
        # The epoch being trained (its shuffled order and the batches taken from it) and its running loss: what
        # a checkpoint needs to continue in the middle of an epoch.
        progress = {"order": None, "position": 0, "n_batches": steps_per_epoch, "epochs": 0}
        running = {"loss_sum": 0.0, "weight_sum": 0.0}

        def batches(order, position):
            progress["order"] = order
            for number in range(position, steps_per_epoch):
                progress["position"] = number + 1
                yield order[number * batch:(number + 1) * batch]

        def epochs():
            fresh = int(self.max_iter) - progress["epochs"]  # epochs this fit has finished (before a resume)
            if saved is not None:
                if saved["finished"]:
                    return
                if saved["order"] is not None and saved["position"] < steps_per_epoch:  # stopped mid-epoch
                    fresh -= 1
                    yield batches(saved["order"].numpy(), saved["position"])
            for _ in range(fresh):
                order = rng.permutation(len(train_index))
                if widths is not None:
                    order = length_grouped(order, widths, batch, rng)
                yield batches(train_index[order], 0)

        def train_step(index, state):
            mine, local = shard.local(index)
            flip = rng.random_sample(len(index))[mine] < 0.5 if self.rc_augment_ else None
            batch_w = w_tensor[local]
            # Every process divides by the weight of the whole global batch, so the summed gradients are those
            # of one process seeing the whole batch.
            batch_weight = float(shard.sum([float(batch_w.sum())])[0])
            optimization.optimizer.zero_grad(set_to_none=True)
            if len(local):
                model.train()
                batch_ids, batch_mask = self._batch_tensors(ids, mask, local, device)
                if flip is not None:
                    flip = torch.from_numpy(flip).to(device)
                    batch_ids = torch.where(flip[:, None], reverse_complement_ids(batch_ids, batch_mask), batch_ids)
                with optimization.autocast():
                    outputs = model(batch_ids, batch_mask)
                losses = self._losses(outputs.float(), target_tensor[local].to(device))
                loss = optimization.backward((losses * batch_w.to(device)).sum() / max(batch_weight, 1e-12))
            else:  # none of this batch's rows is here: add nothing, but take part in the sums
                loss = torch.zeros((), device=device)
            if distributed:
                all_reduce_gradients(parameters)
                loss = loss.detach().clone()
                torch.distributed.all_reduce(loss)
            optimization.finish_step(loss)
            running["loss_sum"] = running["loss_sum"] + loss.detach() * batch_weight
            running["weight_sum"] += batch_weight

        scorer = None if self.scoring in (None, "loss") else get_scorer(self.scoring)

        def validate():
            """The validation entries of the history, and what early stopping minimises."""
            _, local = shard.local(valid_index)
            predictions = self._predict_outputs([sequences[i] for i in local])
            loss_sum = float(np.sum(self._validation_losses(predictions, targets[local]) * weights[local]))
            sums = shard.sum(np.r_[loss_sum, weights[local].sum(),
                                   self._score_terms(predictions, targets[local], weights[local])])
            record = self._validation_record(sums)
            criterion = record["valid_loss"]
            if scorer is not None:
                record["valid_score"] = float(scorer(self, [sequences[i] for i in valid_index],
                                                     self._targets_as_given(targets[valid_index])))
                criterion = -record["valid_score"]
            return record, criterion

        def end_epoch(state):
            optimization.losses()  # check the steps not yet checked (raises on a non-finite loss)
            seen = running["weight_sum"]
            record = {"epoch": self.n_iter_ + 1,
                      "train_loss": float(running["loss_sum"]) / max(seen, 1e-12),
                      **self._validation_record(None),
                      "lr": optimization.optimizer.param_groups[0]["lr"], "seconds": state.budget.elapsed()}
            criterion = None
            if valid_index is not None:
                validation, criterion = validate()
                record.update(validation)
                self.validation_loss_curve_.append(record["valid_loss"])
                self.validation_scores_.append(record["valid_score"])
            state.extra.update(valid_loss=criterion, epoch=record["epoch"], log=record)
            self.n_iter_ += 1
            self.history_.append(record)
            self.loss_curve_.append(record["train_loss"])
            running.update(loss_sum=0.0, weight_sum=0.0)
            progress["epochs"] += 1

        total_steps = steps_per_epoch * int(self.max_iter)
        callbacks = [Hooks(on_epoch_end=end_epoch)]
        stopper = None
        if valid_index is not None:
            stopper = EarlyStopping(int(self.n_iter_no_change), float(self.tol), model)
            callbacks.append(stopper)
        start_step = 0
        if checkpoints is not None:
            if saved is not None:
                checkpoints.restore(saved, self, optimization, rng, stopper, shard.rank)
                running.update(saved["running"])
                progress["epochs"] = int(saved["epochs"])
                start_step = int(saved["step"])
            checkpoints.start(self, optimization, rng, stopper, progress, running, shard.n_total, shard)
            callbacks.append(checkpoints)
        printer = None
        if self.verbose >= 1 and shard.rank == 0:
            score_name = self._default_score_name if scorer is None else (
                f"valid {self.scoring}"[:16] if isinstance(self.scoring, str) else "valid score")
            printer = PrintLog([("epoch", "epoch", "d"), ("train_loss", "train loss", ".4f"),
                                ("valid_loss", "valid loss", ".4f"), ("valid_score", score_name, ".4f"),
                                ("lr", "lr", ".2e"), ("seconds", "time (s)", ".1f")])
            callbacks.append(printer)
        if stopper is not None and probed:
            # The probed head on the backbone's features is a model in its own right: with little data or time a
            # first epoch of fine-tuning can do worse, so it is scored too (epoch 0) and kept unless beaten.
            validation, criterion = validate()
            record = {"epoch": 0, "train_loss": None, **validation, "lr": None, "seconds": budget.elapsed()}
            self.history_.append(record)
            stopper.update(criterion, 0, model)
            if printer is not None:
                printer.print_row(record)
        if self.verbose >= 2 and shard.rank == 0:
            callbacks.append(ProgressBar(total_steps, "fit", initial=start_step))
        # Linear warm-up in whole steps: the first step runs at 1/warmup_steps of the peak (a short fit is not
        # spent at a near-zero learning rate).
        first_ratio = min(1.0, 1.0 / max(1.0, 0.01 * total_steps))
        state = train_loop(epochs(), train_step, optimization=optimization,
                           lr_multiplier=lambda p: cosine_with_warmup(p, warmup_init_ratio=first_ratio),
                           total_steps=total_steps, budget=budget, start_step=start_step,
                           min_steps=0 if saved is not None and saved["finished"] else 1, callbacks=callbacks,
                           interruptible=shard.world == 1)
        if checkpoints is not None and checkpoints.preempted:
            model.eval()
            raise Preempted(state.step, checkpoints.path)
        kept = stopper is not None and stopper.best_state is not None
        self.best_iter_ = stopper.best_epoch if kept else self.n_iter_
        self.best_validation_score_ = None
        if kept:
            self.best_validation_score_ = next(record["valid_score"] for record in self.history_
                                               if record["epoch"] == stopper.best_epoch)
        self.best_loss_ = None if valid_index is not None or not self.loss_curve_ else min(self.loss_curve_)
        if state.interrupted:
            warnings.warn(
                f"{type(self).__name__}.fit was interrupted (KeyboardInterrupt) at step {state.step}, after "
                f"{self.n_iter_} complete epoch(s) (history_ lists them); the estimator keeps "
                + (f"the best weights so far (epoch {self.best_iter_})" if kept else "the weights of the last step")
                + " and is ready to predict. Call fit again to retrain, or set warm_start=True to continue.",
                UserWarning, stacklevel=user_stacklevel())
        if kept and not state.stop and state.step >= total_steps and self.best_iter_ == self.n_iter_:
            warnings.warn(
                f"{type(self).__name__} ran all max_iter={self.max_iter} epochs of this fit and its validation "
                f"{'loss' if scorer is None else 'score'} still improved in the last one; raise max_iter to train "
                "longer.", ConvergenceWarning, stacklevel=user_stacklevel())
        model.eval()

    def _validation_record(self, sums):
        """History entries of a validation pass from its sums (loss sum, weight sum, then ``_score_terms``);
        all None without one."""
        if sums is None:
            return {"valid_loss": None, "valid_score": None}
        return {"valid_loss": float(sums[0] / sums[1]), "valid_score": self._score_from_terms(sums[2:])}

    def _targets_as_given(self, targets):
        """Encoded training targets back in the form ``fit`` received them (what a scorer compares with)."""
        return targets

    # -- prediction ----------------------------------------------------------------------------------------------

    def _resolve_strands(self, sequences, targets, shard):
        """``rc_augment`` and ``rc_average`` as bools. Either one at ``"auto"`` follows a single check of the
        training data, :func:`._strand.strand_symmetric`, for class and multi-label targets (all processes' answers
        must agree); ``"auto"`` is False where :meth:`_strand_check_targets` gives None (regression)."""
        settings = (self.rc_augment, self.rc_average)
        if not any(isinstance(value, str) for value in settings):
            return tuple(bool(value) for value in settings)
        symmetric = self._strand_symmetric(sequences, targets, shard)
        return tuple(symmetric if isinstance(value, str) else bool(value) for value in settings)

    def _strand_symmetric(self, sequences, targets, shard):
        """Whether the labels read the same on both strands (False where the check does not apply)."""
        targets = self._strand_check_targets(targets)
        if targets is None:
            return False
        symmetric, z = strand_symmetric(sequences, targets, random_state=self._seeds()[1])
        if shard.world > 1:
            symmetric = bool(shard.sum([float(symmetric)])[0] == shard.world)
        if self.verbose and shard.rank == 0:
            found = ("too little data to tell" if z is None else
                     f"averaging the strands changed a k-mer model's held-out log-loss by z = {z:+.1f}")
            decided = ", ".join(f"{name}={'on' if symmetric else 'off'}" for name in ("rc_augment", "rc_average")
                                if isinstance(getattr(self, name), str))
            print(f"strands ('auto'): {decided} ({found}; off below {Z_STRAND_SPECIFIC:+.0f})",
                  file=sys.stderr, flush=True)
        return bool(symmetric)

    def _strand_check_targets(self, targets):
        """The encoded targets as :func:`._strand.strand_symmetric` reads them, or None where ``"auto"`` means off
        (no check; regression, which has no log-loss to compare)."""
        return None

    def _averages_strands(self):
        """Whether predictions average the two strands: ``rc_average``, or what ``"auto"`` decided in ``fit``."""
        return self.rc_average_ if isinstance(self.rc_average, str) else bool(self.rc_average)

    def _prediction_forward(self):
        """``forward(ids, mask)`` of every prediction: ``_to_predictions`` of the model's outputs, float64
        (b, n_outputs); averaged with those of the reverse complements when :meth:`_averages_strands`. Also what
        :mod:`dnaestim.interpret` runs on mutated token ids and differentiates."""
        model, rc_average = self.model_, self._averages_strands()

        def forward(ids, mask):
            out = self._to_predictions(model(ids, mask).double())
            if rc_average:
                out = self._average_strands(out, self._to_predictions(
                    model(reverse_complement_ids(ids, mask), mask).double()))
            return out

        return forward

    @advises_on_out_of_memory("inference")
    def _predict_outputs(self, sequences):
        """``_to_predictions`` of the model's outputs, float64 (n, n_outputs), in input order; with ``rc_average``
        averaged with those of the reverse complements."""
        return self._predict_array(self.model_, sequences, self._prediction_forward(), "predict", np.float64)
