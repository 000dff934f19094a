"""Checkpoints of a fine-tuning run, so that a preempted or killed ``python -m dnaestim finetune`` continues
exactly where it stopped.

:class:`FineTuningCheckpoints` is a callback of :func:`dnaestim.training.train_loop`. It writes one file,
atomically: after every epoch (after validation and early stopping), every ``interval`` optimiser steps, and at
the step where a scheduler's stop signal arrived (:mod:`dnaestim.preemption`; under torchrun every rank stops
after the same step). The file holds all a run needs to go on as if it had not stopped: the weights, the
optimiser's moments, the step and the position inside the current epoch's shuffled order, the shuffling
generator, every process's dropout generator, the epoch history, the early-stopping state and the seconds spent.
Resuming with the same data and parameters on the same number of processes ends with the weights an
uninterrupted run ends with.
"""

from __future__ import annotations

import json
import numbers
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import preemption
from .._atomic import atomic_write
from ..distributed import gather_generator_states, restore_generator_states
from ..training import Callback

CHECKPOINT_NAME = "finetune_checkpoint.pt"
FORMAT = 1
#: Parameters that may change between the run that wrote a checkpoint and the run that resumes it.
_FREE_PARAMS = ("verbose", "device")


class Preempted(Exception):
    """A stop signal ended fine-tuning after a step; the checkpoint to resume from is written.

    Parameters
    ----------
    step : int
        Optimiser steps taken.
    path : pathlib.Path
        The checkpoint file.
    """

    def __init__(self, step, path):
        self.step, self.path = int(step), Path(path)
        super().__init__(f"Fine-tuning was preempted after step {self.step}; resume from {self.path}.")


def _param_text(estimator):
    """The estimator's parameters as text, for the same-run check (values of any type compare by ``repr``)."""
    return {name: repr(value) for name, value in sorted(estimator.get_params(deep=False).items())
            if name not in _FREE_PARAMS}


def _plain(value):
    """``value`` with NumPy scalars made Python numbers (what a ``weights_only`` load accepts)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


class FineTuningCheckpoints(Callback):
    """Write and read the checkpoint of a fine-tuning run in ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Where ``finetune_checkpoint.pt`` is written (created if missing).
    interval : int or None, default=None
        Also write every ``interval`` optimiser steps inside an epoch (a long epoch's progress survives a kill);
        None: after every epoch and at a stop signal only.
    resume : bool, default=False
        Continue from the checkpoint in ``directory`` (an error if there is none).
    """

    def __init__(self, directory, interval=None, resume=False):
        self.directory = Path(directory)
        self.interval = interval
        self.resume = resume
        self.preempted = False
        self.path = self.directory / CHECKPOINT_NAME
        self._run = None

    # -- reading -------------------------------------------------------------------------------------------------

    def read(self, estimator, n_total, world):
        """The saved run to continue (a dict), or None when not resuming; refuses one from another run."""
        seed = estimator.random_state
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ValueError(f"Resumable fine-tuning needs an integer random_state (the command line's --seed), so "
                             f"that a resumed run splits and shuffles as the run it continues; got {seed!r}.")
        if not self.resume:
            return None
        if not self.path.is_file():
            raise FileNotFoundError(f"No fine-tuning checkpoint to resume from at {self.path}; run without --resume "
                                    "to start, or pass the --checkpoint-dir of the run to continue.")
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ValueError(f"Checkpoint {self.path} cannot be read ({type(err).__name__}: {first_line}). It is "
                             "damaged or not a dnaestim fine-tuning checkpoint; start again without "
                             "--resume.") from None
        if not isinstance(saved, dict) or saved.get("kind") != "finetune" or saved.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a dnaestim fine-tuning checkpoint (format {FORMAT}).")
        if saved["estimator"] != type(estimator).__name__:
            raise ValueError(f"{self.path} was written by a {saved['estimator']} run; this run fits a "
                             f"{type(estimator).__name__} (--task must stay the same).")
        mine = _param_text(estimator)
        changed = sorted(k for k in set(mine) | set(saved["params"]) if mine.get(k) != saved["params"].get(k))
        unknown = sorted(set(mine) - set(saved["params"]))
        if unknown:
            raise ValueError(f"{self.path} was written by an older dnaestim, before the option {unknown[0]} existed; "
                             "it cannot be resumed by this version. Start again without --resume.")
        if changed:
            name = changed[0]
            raise ValueError(f"{self.path} was written with {name}={saved['params'].get(name)}; this run has "
                             f"{name}={mine.get(name)}. Resume with the options of the run that wrote it"
                             + (f" (also different: {', '.join(changed[1:])})" if len(changed) > 1 else "") + ".")
        if saved["n_total"] != n_total:
            raise ValueError(f"{self.path} was written for {saved['n_total']} labelled rows; this file has "
                             f"{n_total}. Resume on the data of the run that wrote it.")
        if len(saved["torch_rng"]) != world:
            warnings.warn(f"{self.path} was written by {len(saved['torch_rng'])} process(es) and is resumed on "
                          f"{world}: training goes on, but dropout draws differ from an uninterrupted run.",
                          UserWarning, stacklevel=2)
        return saved

    def restore(self, saved, estimator, optimization, rng, stopper, rank):
        """Put a saved run back: weights, optimiser, generators, history and early stopping."""
        estimator.model_.load_state_dict(saved["model"])
        optimization.optimizer.load_state_dict(saved["optimizer"])
        optimization.step_count = int(saved["step"])
        state = saved["rng"]
        rng.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), int(state["pos"]),
                       int(state["has_gauss"]), float(state["cached_gaussian"])))
        restore_generator_states(saved["torch_rng"], saved.get("cuda_rng"), rank, estimator.device_)
        if optimization.scaler.is_enabled() and saved.get("scaler"):
            optimization.scaler.load_state_dict(saved["scaler"])
        for name, value in saved["history"].items():
            setattr(estimator, name, value)
        if stopper is not None and saved["early_stopping"] is not None:
            for name, value in saved["early_stopping"].items():
                setattr(stopper, name, value)

    # -- writing -------------------------------------------------------------------------------------------------

    def start(self, estimator, optimization, rng, stopper, progress, running, n_total, shard):
        """Bind the objects of the run being trained (what :meth:`write` saves)."""
        self._run = dict(estimator=estimator, optimization=optimization, rng=rng, stopper=stopper,
                         progress=progress, running=running, n_total=n_total, shard=shard)

    def write(self, state, finished):
        """Write the checkpoint of the run after ``state.step`` (rank 0; every rank must call: each one's dropout
        generator goes in)."""
        run = self._run
        estimator, optimization, shard = run["estimator"], run["optimization"], run["shard"]
        optimization.losses()  # no checkpoint holds weights trained on a non-finite loss
        elapsed = float(state.budget.elapsed())  # a collective under torchrun (rank 0's clock)
        generators = gather_generator_states(estimator.device_)  # each process's dropout stream
        if shard.rank != 0:
            return
        _, keys, pos, has_gauss, cached = run["rng"].get_state()
        stopper = run["stopper"]
        progress = run["progress"]
        saved = {
            "format": FORMAT, "kind": "finetune", "estimator": type(estimator).__name__,
            "params": _param_text(estimator), "n_total": run["n_total"],
            "model": {k: v.detach().cpu().clone() for k, v in estimator.model_.state_dict().items()},
            "optimizer": optimization.optimizer.state_dict(),
            "step": int(state.step), "finished": bool(finished), "elapsed": elapsed,
            "schedule_start": float(state.budget.schedule_start or 0.0),
            "order": None if progress["order"] is None else torch.as_tensor(progress["order"], dtype=torch.int64),
            "position": int(progress["position"]),
            "epochs": int(progress["epochs"]),
            "running": {k: float(v) for k, v in run["running"].items()},
            "rng": {"keys": torch.as_tensor(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                    "cached_gaussian": float(cached)},
            "torch_rng": [cpu for cpu, _ in generators],
            "cuda_rng": [cuda for _, cuda in generators],
            "scaler": optimization.scaler.state_dict() if optimization.scaler.is_enabled() else None,
            "history": {name: _plain(getattr(estimator, name)) for name in
                        ("n_iter_", "history_", "loss_curve_", "validation_loss_curve_", "validation_scores_")},
            "early_stopping": None if stopper is None else {
                "best_loss": float(stopper.best_loss), "best_epoch": int(stopper.best_epoch),
                "bad_epochs": int(stopper.bad_epochs),
                "best_state": None if stopper.best_state is None else
                {k: v.detach().cpu().clone() for k, v in stopper.best_state.items()}},
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as handle:
            torch.save(saved, handle)

    # -- the callback --------------------------------------------------------------------------------------------

    def _mid_epoch(self):
        progress = self._run["progress"]
        return progress["order"] is not None and progress["position"] < progress["n_batches"]

    def on_step_end(self, state):
        """On a stop signal (all ranks agree), write and leave; also write when an ``interval`` is due mid-epoch.

        A signal at an epoch's last step lets the epoch end first (validation, early stopping):
        :meth:`on_epoch_end` writes and stops.
        """
        shard = self._run["shard"]
        if not state.last and preemption.requested(shard.world, shard.device):
            self.preempted = True
            if self._mid_epoch():
                self.write(state, finished=False)
                state.suspend = True
        elif self.interval and state.step % int(self.interval) == 0 and self._mid_epoch():
            self.write(state, finished=False)

    def on_epoch_end(self, state):
        """Write after an epoch that training goes on from (the end of training is written by
        :meth:`on_train_end`); stop here when a signal came at the epoch's last step."""
        if state.last or state.stop:  # training ends anyway (budget, max_iter, early stopping): not a preemption
            self.preempted = False
            return
        self.write(state, finished=False)
        if self.preempted:
            state.stop = True

    def on_train_end(self, state):
        """Write the finished run (a resume of it trains nothing), unless it was stopped to be resumed."""
        if not (self.preempted or state.suspend or state.interrupted or state.error is not None):
            self.write(state, finished=True)
