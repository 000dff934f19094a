"""The one training loop of dnaestim, and the callbacks the estimators plug into it.

Every estimator that trains (the classifiers, the soft-prompt classifier and the pretrainer) runs
:func:`train_loop`: it sets the learning rate from the schedule at every optimiser step, counts steps against
``total_steps`` and a wall-clock budget, and calls its callbacks; the estimator supplies what one step does and
what happens around it (validation, early stopping, checkpoints, history, progress)::

    for epoch in epochs:                      # the pretrainer: one endless epoch of steps
        for batch in epoch:
            set_lr(base_lr * lr_multiplier(progress))
            train_step(batch, state)          # forward, backward, optimiser step
            state.step += 1; state.last = step >= total_steps or time is up
            callback.on_step_end(state)       # history, evaluation, checkpoints, progress bar
            if state.suspend: leave now       # checkpointed mid-epoch for a preemption
            if state.last or state.stop: break
        callback.on_epoch_end(state)          # validation and early stopping (classifiers)
        if state.last or state.stop: break
    callback.on_train_end(state)              # best weights back, progress bar closed

``progress`` is the larger of the fraction of steps done and the fraction of the time budget spent since training
began (:meth:`TimeBudget.schedule_fraction`), so a run cut short by ``max_time`` still ends its schedule, and a run
that fits in its budget is not made nondeterministic by the clock.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import torch

__all__ = ["Callback", "EarlyStopping", "Hooks", "LoopState", "PrintLog", "ProgressBar", "TimeBudget",
           "train_loop"]


class TimeBudget:
    """Wall-clock budget: ``elapsed()`` seconds, ``exhausted()`` once spent. ``None`` means no budget.

    ``used`` seconds were spent before (by the run a resumed training continues); ``schedule_start`` is where
    that run's training began (see :meth:`schedule_fraction`), None until :meth:`begin_schedule`.
    """

    #: Share of the training budget the learning-rate schedule ignores before the clock may shorten it.
    SLACK = 0.05

    def __init__(self, seconds: float | None, used: float = 0.0, schedule_start: float | None = None):
        self.seconds = seconds
        self.start = time.monotonic() - used
        self.schedule_start = schedule_start

    def elapsed(self) -> float:
        """Seconds since the start (including ``used``)."""
        return time.monotonic() - self.start

    def exhausted(self) -> bool:
        """Whether the budget is spent."""
        return self.seconds is not None and self.elapsed() >= self.seconds

    def begin_schedule(self):
        """Mark where training begins (what was spent before, on set-up, does not move the schedule); a resumed
        run keeps the start it was given."""
        if self.schedule_start is None:
            self.schedule_start = 0.0 if self.seconds is None else self.elapsed()

    def schedule_fraction(self) -> float:
        """How far the clock has moved the learning-rate schedule, in [0, 1] (0 without a budget).

        0 until ``SLACK`` of the budget left at :meth:`begin_schedule` is spent, then rising linearly to 1 when the
        budget runs out. A run whose steps fit in the budget with that margin follows its step count only, so the
        same seed trains the same model; a clock that a slow first step or a busy machine puts ahead of the step
        count by a hair would change its learning rates, and training amplifies that into another model.
        """
        if self.seconds is None:
            return 0.0
        start = self.schedule_start or 0.0
        spent = (self.elapsed() - start) / max(self.seconds - start, 1e-9)
        return min(1.0, max(0.0, (spent - self.SLACK) / (1 - self.SLACK)))


@dataclass
class LoopState:
    """Where :func:`train_loop` is; callbacks read it and may set ``stop``.

    Attributes
    ----------
    step : int
        Optimiser steps taken, counting those before a resume.
    epoch : int
        Epochs finished in this run.
    total_steps : int
        Steps the schedule is planned for.
    budget : TimeBudget
    step_progress : float
        :meth:`progress` when the current step began (what its learning rate was set from).
    last : bool
        This step is the last one (``total_steps`` reached or the budget spent); decided once per step.
    stop : bool
        Set by a callback to end training after the current step or epoch.
    suspend : bool
        Set by a callback to leave right after the current step, without ending the epoch (no ``on_epoch_end``):
        the run was checkpointed mid-epoch, to be resumed (a preemption).
    error : BaseException or None
        The exception that ended training, if one did (the end hooks still run).
    interrupted : bool
        A KeyboardInterrupt ended an interruptible training (see :func:`train_loop`).
    extra : dict
        What an estimator's train step and its callbacks share (running losses, the validation loss of the epoch,
        the progress bar's figures).
    """

    step: int
    total_steps: int
    budget: TimeBudget
    epoch: int = 0
    step_progress: float = 0.0
    last: bool = False
    stop: bool = False
    suspend: bool = False
    error: BaseException | None = None
    interrupted: bool = False
    extra: dict = field(default_factory=dict)  # what the estimator's train step and callbacks share

    def progress(self) -> float:
        """Fraction of training done, by steps or by time budget, whichever is further along.

        The time side is :meth:`TimeBudget.schedule_fraction`.
        """
        return max(self.step / max(1, self.total_steps), self.budget.schedule_fraction())


class Callback:
    """Hooks of :func:`train_loop`; override the ones you need (each gets the :class:`LoopState`)."""

    def on_step_end(self, state: LoopState):
        """After each optimiser step."""

    def on_epoch_end(self, state: LoopState):
        """After each epoch (also one cut short by the budget)."""

    def on_train_end(self, state: LoopState):
        """Once, when the loop ends (also when a callback stopped it)."""


def train_loop(epochs, train_step, *, optimization, lr_multiplier, total_steps, budget=None, start_step=0,
               min_steps=0, callbacks=(), interruptible=False):
    """Run optimiser steps until ``total_steps``, the time budget, the batches or a callback says stop.

    Parameters
    ----------
    epochs : iterable of iterables
        Each item is one epoch's batches (anything ``train_step`` understands).
    train_step : callable
        ``train_step(batch, state)`` takes one optimiser step (through ``optimization``).
    optimization : dnaestim.training.Optimization
        Its learning rate is set before every step.
    lr_multiplier : callable
        ``lr_multiplier(progress)``: the learning rate as a multiple of each group's ``base_lr``.
    total_steps : int
        Optimiser steps the schedule is planned for; training ends when ``state.step`` reaches it.
    budget : TimeBudget, optional
        Wall-clock budget of the whole training (started by the caller, which may spend some of it first); none
        when not given.
    start_step : int, default=0
        Steps taken before (a resumed run).
    min_steps : int, default=0
        Steps this run takes even when the budget is spent (a classifier's ``fit`` always trains a little).
    callbacks : sequence of Callback
        Called after every step and epoch and at the end, in this order.
    interruptible : bool, default=False
        A KeyboardInterrupt (Ctrl-C) ends training as a callback's ``stop`` would, instead of propagating: the end
        hooks run (early stopping puts the best weights back), ``state.interrupted`` is set and the loop returns,
        so that the estimator is left usable (as skorch does). For one process only: under torchrun every rank
        must leave the loop together.

    Returns
    -------
    LoopState
    """
    state = LoopState(step=start_step, total_steps=total_steps, budget=budget or TimeBudget(None))
    state.budget.begin_schedule()

    def out_of_time():
        return state.step - start_step >= min_steps and state.budget.exhausted()

    try:
        for batches in epochs:
            if state.step >= total_steps or out_of_time():
                break
            steps_before = state.step
            for batch in batches:
                if out_of_time():  # spent by the previous step's callbacks (evaluation, checkpoint)
                    state.stop = True
                    break
                state.step_progress = state.progress()  # one value per step, for the schedule and the caller
                optimization.set_lr(lr_multiplier(state.step_progress))
                train_step(batch, state)
                state.step += 1
                state.last = state.step >= total_steps or out_of_time()
                for callback in callbacks:
                    callback.on_step_end(state)
                if state.last or state.stop or state.suspend:
                    break
            if state.suspend:
                break
            if state.step == steps_before:
                break  # nothing trained in this epoch
            state.epoch += 1
            for callback in callbacks:
                callback.on_epoch_end(state)
            if state.last or state.stop:
                break
    except KeyboardInterrupt as error:
        if not interruptible:
            state.error = error
            raise
        state.interrupted = True
    except BaseException as error:
        state.error = error
        raise
    finally:
        optimization.optimizer.zero_grad(set_to_none=True)  # a fitted model does not keep its last gradients
        for callback in callbacks:
            callback.on_train_end(state)
    return state


class Hooks(Callback):
    """A callback made of functions: ``Hooks(on_step_end=f)`` calls ``f(state)`` after every step.

    Parameters
    ----------
    **hooks : callable
        Functions of the :class:`LoopState` named after :class:`Callback`'s methods.
    """

    def __init__(self, **hooks):
        for name, function in hooks.items():
            if not hasattr(Callback, name):
                raise TypeError(f"Hooks got {name!r}; the hooks are on_step_end, on_epoch_end and on_train_end.")
            setattr(self, name, function)


class ProgressBar(Callback):
    """A tqdm bar over the optimiser steps, showing ``state.extra["loss"]`` when a callback put it there.

    Parameters
    ----------
    total : int
    desc : str
    initial : int, default=0
    """

    def __init__(self, total, desc, initial=0):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, leave=False)
        self._last = time.perf_counter()

    def on_step_end(self, state):
        now = time.perf_counter()
        shown = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in state.extra.get("postfix", {}).items()}
        self.bar.set_postfix(**shown, s_step=f"{now - self._last:.2f}")
        self._last = now
        self.bar.update(1)

    def on_train_end(self, state):
        self.bar.close()


class PrintLog(Callback):
    """Print a table row to stderr for every record an estimator puts in ``state.extra["log"]``.

    The header is printed before the first row; a record's ``None`` values print as ``-``. Rows go through
    ``tqdm.write``, so they stay above a running progress bar. This is what ``verbose=1`` shows, as
    scikit-learn's ``MLPClassifier`` and skorch print an epoch table.

    Parameters
    ----------
    columns : sequence of (str, str, str)
        ``(key, heading, format)`` per column, e.g. ``("train_loss", "train loss", ".4f")``.
    file : file-like, optional
        Where to print; ``sys.stderr`` when not given.
    """

    def __init__(self, columns, file=None):
        self.columns = list(columns)
        self.file = file
        self._widths = [max(len(heading), 8) for _, heading, _ in self.columns]
        self._printed_header = False

    def _write(self, line):
        from tqdm.auto import tqdm

        tqdm.write(line, file=self.file if self.file is not None else sys.stderr)

    def print_row(self, record):
        """Print ``record`` (a dict) as one row, after the header if none was printed yet."""
        if not self._printed_header:
            self._write("  ".join(h.rjust(w) for (_, h, _), w in zip(self.columns, self._widths)))
            self._write("  ".join("-" * w for w in self._widths))
            self._printed_header = True
        cells = []
        for (key, _, fmt), width in zip(self.columns, self._widths):
            value = record.get(key)
            cells.append(("-" if value is None else format(value, fmt)).rjust(width))
        self._write("  ".join(cells))

    def on_step_end(self, state):
        """Print the row a step left in ``state.extra["log"]`` (the pretrainer's evaluations)."""
        if "log" in state.extra:
            self.print_row(state.extra.pop("log"))

    def on_epoch_end(self, state):
        """Print the row an epoch left in ``state.extra["log"]`` (the classifiers' epochs)."""
        self.on_step_end(state)


class EarlyStopping(Callback):
    """Keep the best weights by a validation loss; stop after ``patience`` epochs without improving by ``tol``.

    As in scikit-learn's ``MLPClassifier``, ``tol`` only decides when to stop: the weights kept are those of the
    epoch with the lowest validation loss, even where it beat the previous best by less than ``tol``. As a
    callback it reads the epoch's validation loss from ``state.extra["valid_loss"]`` and puts the best weights
    back when training ends.

    Parameters
    ----------
    patience : int
        Number of consecutive epochs without an improvement of at least ``tol`` after which to stop.
    tol : float
        Minimum decrease of the validation loss that resets the patience count.
    model : torch.nn.Module, optional
        The model whose trainable parameters are kept and restored (needed for the callback use).
    """

    def __init__(self, patience: int, tol: float, model=None):
        self.patience = patience
        self.tol = tol
        self.model = model
        self.best_loss = math.inf
        self.best_epoch = -1
        self.best_state = None
        self.bad_epochs = 0

    def update(self, loss: float, epoch: int, model) -> bool:
        """Record an epoch's validation loss; returns True when training should stop."""
        if loss < self.best_loss - self.tol:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            # Only what training changes: a frozen backbone is not copied at every improvement.
            self.best_state = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
        return self.bad_epochs >= self.patience

    def restore(self, model):
        """Load the best weights seen back into ``model``."""
        if self.best_state is not None:
            with torch.no_grad():
                parameters = dict(model.named_parameters())
                for name, value in self.best_state.items():
                    parameters[name].copy_(value)

    def on_epoch_end(self, state):
        """Read the epoch's validation loss; ask the loop to stop when patience has run out."""
        loss = state.extra.get("valid_loss")
        if loss is not None and self.update(loss, state.extra.get("epoch", state.epoch), self.model):
            state.stop = True

    def on_train_end(self, state):
        """Put the best weights back into the model (not when training ended with an exception)."""
        if state.error is None:
            self.restore(self.model)
