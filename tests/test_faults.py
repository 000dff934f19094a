"""Faults: a pretraining run killed with SIGKILL at random moments loses at most one checkpoint interval and,
resumed, ends exactly where an uninterrupted run ends; one stopped by SIGTERM or SIGUSR1 (preemption) checkpoints
the step it is in, exits with the requeue status and resumes the same way; out-of-memory errors say which
settings to lower.

The kill trials run the real command line in a subprocess. A few run in the default suite; the slow marker runs
twenty more (``pytest -m slow tests/test_faults.py``).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dnaestim import HyenaClassifier, HyenaEmbedder, load_pretrained
from dnaestim.genome import bundled_genome_path

ROOT = Path(__file__).resolve().parent.parent
GENOME = bundled_genome_path()
MAX_STEPS, INTERVAL = 30, 4
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


TORCHRUN_2 = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def pretrain_command(tmp_path, *extra, launcher=(sys.executable,)):
    return [*launcher, "-m", "dnaestim", "-v", "pretrain", str(GENOME), "--device", "cpu", "--d-model", "16",
            "--n-layer", "1", "--max-length", "64", "--batch-size", "4", "--max-steps", str(MAX_STEPS),
            "--embed-dropout", "0.1", "--eval-interval", "1", "--seed", "0", "--progress", "--precision", "32",
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--checkpoint-interval", str(INTERVAL),
            "--output", str(tmp_path / "out"), *extra]


def steps_logged(text):
    """Steps of the evaluation table's rows (step, length, train loss, ...) in the command's stderr."""
    return [int(m) for m in re.findall(r"(?m)^\s*(\d+)\s+\d+\s+\d+\.\d{4}\s", text)]


def run_logged(tmp_path, kill_after=None, sig=signal.SIGKILL, launcher=(sys.executable,)):
    """Run the command line; with ``kill_after``, send ``sig`` that many seconds after its first logged step (to
    every process of the run, as a scheduler does).

    Returns the last step it logged, its exit status and the seconds from its first logged step to its end.
    """
    process = subprocess.Popen(pretrain_command(tmp_path, launcher=launcher), stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, cwd=ROOT, env=ENV, start_new_session=True)
    lines, started = [], threading.Event()

    def read():
        for line in process.stderr:
            lines.append(line)
            if steps_logged(line):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(timeout=120), "".join(lines)[-3000:]
    first_step = time.perf_counter()
    if kill_after is not None:
        time.sleep(kill_after)
        os.killpg(process.pid, sig)
    process.wait(timeout=300)
    seconds = time.perf_counter() - first_step
    reader.join(timeout=60)
    logged = steps_logged("".join(lines))
    return (max(logged) if logged else 0), process.returncode, seconds


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Final weights of the run no one kills, and how long its training took."""
    tmp_path = tmp_path_factory.mktemp("full")
    last_step, returncode, seconds = run_logged(tmp_path)
    assert returncode == 0 and last_step == MAX_STEPS
    return load_pretrained(tmp_path / "out").state_dict(), seconds


def run_trial(tmp_path, seconds, reference):
    last_step, returncode, _ = run_logged(tmp_path, kill_after=seconds)
    checkpoint = tmp_path / "ckpt" / "checkpoint.pt"
    if returncode == 0:  # the run finished before the kill: nothing to recover
        return "finished"
    # Every checkpoint on disk loads, and it is at most one interval behind the last step the run reported.
    saved_step = 0
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=True)
        saved_step = saved["step"]
        assert saved_step % INTERVAL == 0 or saved_step == MAX_STEPS
    assert last_step - saved_step <= INTERVAL, (last_step, saved_step)
    resume = ["--resume"] if checkpoint.exists() else []
    resume_to(tmp_path, reference, *resume)
    return "resumed"


def resume_to(tmp_path, reference, *resume, launcher=(sys.executable,)):
    """Run the command again (``resume``: its resume flag) and check it ends with the ``reference`` weights."""
    result = subprocess.run(pretrain_command(tmp_path, *resume, launcher=launcher), capture_output=True, text=True,
                            cwd=ROOT, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_pretrained(tmp_path / "out").state_dict()
    for key, value in reference.items():
        assert torch.equal(state[key], value), key


def run_preemption_trial(tmp_path, seconds, reference, sig=signal.SIGTERM):
    from dnaestim.preemption import REQUEUE_EXIT_CODE

    last_step, returncode, _ = run_logged(tmp_path, kill_after=seconds, sig=sig)
    if returncode == 0:  # the run finished before the signal
        return "finished"
    assert returncode == REQUEUE_EXIT_CODE
    # The checkpoint is of the step the run was in when the signal came: nothing it reported is lost.
    saved_step = torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)["step"]
    assert last_step <= saved_step < MAX_STEPS
    resume_to(tmp_path, reference, "--resume")
    return "resumed"


def test_preempted_runs_checkpoint_exit_for_requeue_and_resume_exactly(tmp_path, uninterrupted):
    reference, seconds = uninterrupted
    outcomes = [run_preemption_trial(tmp_path / f"trial{i}", moment, reference, sig)
                for i, (moment, sig) in enumerate(zip(_moments(2, 2, 0.6 * seconds),
                                                      [signal.SIGTERM, signal.SIGUSR1]))]
    assert "resumed" in outcomes


def test_preempted_torchrun_ranks_stop_together_and_resume_exactly(tmp_path):
    """SIGTERM to torchrun and its 2 gloo workers: both ranks stop after the same step, rank 0 checkpoints it, and
    a resumed 2-process run ends with the weights of an uninterrupted one."""
    last, returncode, _ = run_logged(tmp_path / "full", launcher=TORCHRUN_2)
    assert returncode == 0 and last == MAX_STEPS
    reference = load_pretrained(tmp_path / "full" / "out").state_dict()
    trial = tmp_path / "preempted"
    last, returncode, _ = run_logged(trial, kill_after=0.0, sig=signal.SIGTERM, launcher=TORCHRUN_2)
    if returncode == 0:
        pytest.skip("the run finished before the signal")
    saved_step = torch.load(trial / "ckpt" / "checkpoint.pt", weights_only=True)["step"]
    assert last <= saved_step < MAX_STEPS
    resume_to(trial, reference, "--resume", launcher=TORCHRUN_2)


@pytest.mark.slow
def test_twenty_random_preemptions(tmp_path, uninterrupted):
    reference, seconds = uninterrupted
    # ``seconds`` runs to the end of the process; the training steps take about the first half of it (a signal
    # after the last step finds a finished run, which exits 0).
    outcomes = [run_preemption_trial(tmp_path / f"trial{i}", moment, reference)
                for i, moment in enumerate(_moments(20, 3, 0.45 * seconds))]
    print(f"SIGTERM trials: {outcomes.count('resumed')} preempted and resumed, {outcomes.count('finished')} finished")
    assert outcomes.count("resumed") >= 12, outcomes  # 14 of 20 on a 2-core EPYC (2026-11-30)


def _moments(n, seed, training_seconds):
    return np.random.default_rng(seed).uniform(0.0, training_seconds, size=n)


def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, uninterrupted):
    reference, seconds = uninterrupted
    outcomes = [run_trial(tmp_path / f"trial{i}", moment, reference)
                for i, moment in enumerate(_moments(2, 0, 0.6 * seconds))]
    assert "resumed" in outcomes


@pytest.mark.slow
def test_twenty_random_kills(tmp_path, uninterrupted):
    reference, seconds = uninterrupted
    outcomes = [run_trial(tmp_path / f"trial{i}", moment, reference)
                for i, moment in enumerate(_moments(20, 1, 0.9 * seconds))]
    print(f"kill trials: {outcomes.count('resumed')} killed and resumed, {outcomes.count('finished')} finished first")
    assert outcomes.count("resumed") >= 15, outcomes


# --- out of memory -----------------------------------------------------------------------------------------------

def _raise_out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_in_training_suggests_smaller_settings(monkeypatch):
    monkeypatch.setattr("dnaestim.nn.hyena.HyenaBackbone.forward", _raise_out_of_memory)
    clf = HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=1, batch_size=8, device="cpu", early_stopping=False)
    with pytest.raises(torch.OutOfMemoryError, match=r"HyenaClassifier ran out of memory on cpu during training "
                                                     r"\(batch_size=8, max_length=8\)\. Try a smaller batch_size"):
        clf.fit(["ACGTACGT"] * 4, [0, 1] * 2)


def test_out_of_memory_in_inference_suggests_chunk_size(monkeypatch):
    emb = HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, max_length=64, device="cpu").fit()
    monkeypatch.setattr("dnaestim.nn.hyena.HyenaBackbone.forward", _raise_out_of_memory)
    with pytest.raises(torch.OutOfMemoryError, match=r"during inference .*chunk_size='auto'.*int chunk_size"):
        emb.transform(["ACGT"])
