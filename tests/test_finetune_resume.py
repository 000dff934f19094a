"""Resumable fine-tuning (``python -m dnaestim finetune --checkpoint-dir``): a run stopped by a stop signal at any
step, or killed after a checkpoint, continues to the weights, history and early-stopping decisions of an
uninterrupted run; checkpoints of another run are refused; the command line exits with the requeue status."""

import os
import pickle
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from dnaestim.finetune import CHECKPOINT_NAME, Preempted, run_finetune
from dnaestim import HyenaClassifier, HyenaRegressor
from dnaestim.estimators import _resumable
from dnaestim.preemption import REQUEUE_EXIT_CODE

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
ROOT = Path(__file__).resolve().parent.parent
N, LENGTH = 72, 40


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=LENGTH)) for _ in range(N)]
    gc = np.array([(s.count("G") + s.count("C")) / LENGTH for s in seqs])
    path = tmp_path_factory.mktemp("data") / "train.csv"
    pd.DataFrame({"sequence": seqs, "label": np.where(gc > np.median(gc), "high", "low"), "gc": gc}).to_csv(
        path, index=False)
    return path


def make(task, **params):
    kind = HyenaRegressor if task == "regress" else HyenaClassifier
    params = {"max_iter": 4, "early_stopping": True, "n_iter_no_change": 10, "random_state": 0, **params}
    return kind(pretrained=None, d_model=16, n_layer=1, batch_size=16, validation_fraction=0.15, embed_dropout=0.1,
                head_dropout=0.1, rc_augment=True, precision="32", **params)


def fit(task, data, directory, *, stop_at=None, crash_at=None, resume=False, interval=None, **params):
    """run_finetune with checkpoints; a stop signal arrives at step ``stop_at``, or the process "dies" (an
    exception no one catches) at step ``crash_at``."""
    calls = {"step": 0}
    real = _resumable.preemption.requested

    def requested(world=1, device=None):
        calls["step"] += 1
        if calls["step"] == crash_at:
            raise SystemExit("killed")
        return calls["step"] == stop_at or real(world, device)

    options = dict(label_column="gc", numeric=True) if task == "regress" else {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_resumable.preemption, "requested", requested)
        return run_finetune(make(task, **params), data, directory / "out.pkl", checkpoint_dir=directory / "ckpt",
                            checkpoint_interval=interval, resume=resume, **options)


def assert_same_run(resumed, reference):
    for key, value in reference.model_.state_dict().items():
        assert torch.equal(resumed.model_.state_dict()[key], value), key
    assert resumed.n_iter_ == reference.n_iter_ and resumed.best_iter_ == reference.best_iter_
    assert resumed.loss_curve_ == reference.loss_curve_
    assert resumed.validation_loss_curve_ == reference.validation_loss_curve_
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in reference.history_]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    return {task: fit(task, data, tmp_path_factory.mktemp(task)) for task in ("classify", "regress")}


# 61 training rows in batches of 16: 4 steps per epoch, 16 in all. Step 2 is inside the first epoch, 4 its last,
# 15 inside the last epoch.
@pytest.mark.parametrize("task,stop_at", [("classify", 2), ("classify", 4), ("regress", 7), ("classify", 15)])
def test_a_run_stopped_by_a_signal_resumes_to_the_uninterrupted_result(tmp_path, data, reference, task, stop_at):
    with pytest.raises(Preempted, match=f"after step {stop_at}") as stopped:
        fit(task, data, tmp_path, stop_at=stop_at)
    assert stopped.value.path == tmp_path / "ckpt" / CHECKPOINT_NAME
    assert not (tmp_path / "out.pkl").exists()  # nothing is saved as if it were the result
    saved = torch.load(stopped.value.path, weights_only=True)
    assert saved["step"] == stop_at and not saved["finished"]
    assert_same_run(fit(task, data, tmp_path, resume=True), reference[task])
    assert (tmp_path / "out.pkl").exists()


def test_a_killed_run_resumes_from_its_last_interval_checkpoint(tmp_path, data, reference):
    with pytest.raises(SystemExit):
        fit("classify", data, tmp_path, crash_at=7, interval=3)
    assert torch.load(tmp_path / "ckpt" / CHECKPOINT_NAME, weights_only=True)["step"] == 6
    assert_same_run(fit("classify", data, tmp_path, resume=True, interval=3), reference["classify"])
    # A finished run resumed again trains nothing and gives the same estimator.
    assert_same_run(fit("classify", data, tmp_path, resume=True), reference["classify"])


def test_early_stopping_decisions_survive_a_resume(tmp_path, data):
    full = fit("classify", data, tmp_path / "full", max_iter=30, n_iter_no_change=2, tol=0.5)
    assert full.n_iter_ < 30  # it stopped early
    with pytest.raises(Preempted):
        fit("classify", data, tmp_path / "cut", stop_at=5, max_iter=30, n_iter_no_change=2, tol=0.5)
    assert_same_run(fit("classify", data, tmp_path / "cut", resume=True, max_iter=30, n_iter_no_change=2, tol=0.5),
                    full)
    # A signal at the very step where early stopping ends the run: the run just finishes.
    stopped_at = 4 * full.n_iter_
    assert_same_run(fit("classify", data, tmp_path / "last", stop_at=stopped_at, max_iter=30, n_iter_no_change=2,
                        tol=0.5), full)
    # ... and one at the end of the epoch before: that epoch is checkpointed and the resumed run stops as the
    # uninterrupted one did.
    with pytest.raises(Preempted, match=f"after step {stopped_at - 4}"):
        fit("classify", data, tmp_path / "before", stop_at=stopped_at - 4, max_iter=30, n_iter_no_change=2, tol=0.5)
    assert_same_run(fit("classify", data, tmp_path / "before", resume=True, max_iter=30, n_iter_no_change=2,
                        tol=0.5), full)


def test_a_time_budget_run_checkpoints_its_end_as_finished(tmp_path, data):
    done = fit("classify", data, tmp_path, max_iter=1000, max_time=1.5)
    saved = torch.load(tmp_path / "ckpt" / CHECKPOINT_NAME, weights_only=True)
    assert saved["finished"] and saved["step"] < 1000 * 4
    again = fit("classify", data, tmp_path, resume=True, max_iter=1000, max_time=1.5)  # trains nothing more
    assert_same_run(again, done)


def test_checkpointing_needs_an_integer_seed(tmp_path, data):
    with pytest.raises(ValueError, match="needs an integer random_state .* got None"):
        run_finetune(make("classify", random_state=None), data, tmp_path / "x.pkl", checkpoint_dir=tmp_path / "c")


def test_a_checkpoint_of_another_run_is_refused(tmp_path, data):
    with pytest.raises(Preempted):
        fit("classify", data, tmp_path, stop_at=2)
    with pytest.raises(ValueError, match=r"written with learning_rate_init=0.0006; this run has "
                                         r"learning_rate_init=0.01"):
        fit("classify", data, tmp_path, resume=True, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="HyenaClassifier run; this run fits a HyenaRegressor"):
        fit("regress", data, tmp_path, resume=True)
    other = tmp_path / "other.csv"
    pd.read_csv(data).iloc[:-1].to_csv(other, index=False)
    with pytest.raises(ValueError, match=f"written for {N} labelled rows; this file has {N - 1}"):
        fit("classify", other, tmp_path, resume=True)
    path = tmp_path / "ckpt" / CHECKPOINT_NAME
    saved = torch.load(path, weights_only=True)
    del saved["params"]["length_feature"]  # a checkpoint from before the option existed
    torch.save(saved, path)
    with pytest.raises(ValueError, match="written by an older dnaestim, before the option length_feature existed"):
        fit("classify", data, tmp_path, resume=True)
    (tmp_path / "ckpt" / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read .* damaged"):
        fit("classify", data, tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="No fine-tuning checkpoint"):
        fit("classify", data, tmp_path / "empty", resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        run_finetune(make("classify"), data, tmp_path / "x.pkl", resume=True)


def test_the_result_can_be_saved_without_pickle(tmp_path, data, reference):
    from dnaestim import load

    options = {"save_format": "dnaestim"}
    estimator = run_finetune(make("classify"), data, tmp_path / "model", **options)
    loaded = load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(["ACGT" * 10]), estimator.predict_proba(["ACGT" * 10]))
    with pytest.raises(ValueError, match="save_format must be one of"):
        run_finetune(make("classify"), data, tmp_path / "m", save_format="joblib")


# -- the command line --------------------------------------------------------------------------------------------

def command(data, directory, *extra, launcher=(sys.executable,)):
    return [*launcher, "-m", "dnaestim", "finetune", str(data), "--output", str(directory / "out.pkl"),
            "--pretrained", "none", "--max-length", str(LENGTH), "--max-iter", "8", "--batch-size", "8",
            "--device", "cpu", "--precision", "32", "--seed", "0", "--progress",
            "--checkpoint-dir", str(directory / "ckpt"), *extra]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run(data, directory, *extra, signal_after_epoch=None, launcher=(sys.executable,)):
    """Run the command; with ``signal_after_epoch``, SIGTERM every process of it once that epoch's row is printed."""
    process = subprocess.Popen(command(data, directory, *extra, launcher=launcher), stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV, start_new_session=True)
    lines = []

    def read():
        for line in process.stderr:
            lines.append(line)
            if signal_after_epoch is not None and re.match(rf"\s*{signal_after_epoch}\s+\d+\.\d{{4}}\s", line):
                os.killpg(process.pid, signal.SIGTERM)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process.wait(timeout=300)
    reader.join(timeout=60)
    return process.returncode, "".join(lines)


def result(directory):
    with open(directory / "out.pkl", "rb") as handle:
        return pickle.load(handle)


@pytest.mark.parametrize("processes", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_sigterm_checkpoints_exits_for_requeue_and_resume_continues(tmp_path, data, processes):
    launcher = (sys.executable,) if processes == 1 else \
        (sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}")
    code, log = run(data, tmp_path / "full", launcher=launcher)
    assert code == 0, log[-3000:]
    code, log = run(data, tmp_path / "cut", signal_after_epoch=1, launcher=launcher)
    if code == 0:
        pytest.skip("the run finished before the signal")
    # One process exits 75; torchrun, signalled itself, exits with its own failure status (the checkpoint counts).
    assert code == REQUEUE_EXIT_CODE if processes == 1 else code != 0, log[-3000:]
    assert "Preempted by SIGTERM" in log and "--resume" in log
    code, log = run(data, tmp_path / "cut", "--resume", launcher=launcher)
    assert code == 0, log[-3000:]
    assert_same_run(result(tmp_path / "cut"), result(tmp_path / "full"))
