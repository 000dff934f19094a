"""Full disks and unwritable folders: every write is atomic, the error names the file, the previous one survives."""

import errno
import os
import stat
import tempfile

import pytest
import torch

from dnaestim import HyenaConfig, HyenaLM, HyenaPretrainer, load_pretrained, save_pretrained
from dnaestim._atomic import atomic_write
from dnaestim.checkpoints import CheckpointError


def tiny_model(seed):
    torch.manual_seed(seed)
    return HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=32))


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def fail_fsync_after(monkeypatch, n_ok, code=errno.ENOSPC):
    """``os.fsync`` of files succeeds ``n_ok`` times, then fails with ``code`` (a disk filling up)."""
    calls = {"n": 0}
    fsync = os.fsync

    def failing(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            return fsync(fd)  # directory syncs are not file writes
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(code, os.strerror(code))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)


@pytest.mark.parametrize("n_ok", [0, 1, 2])
def test_save_pretrained_on_a_full_disk_names_the_file_and_keeps_the_previous_ones(tmp_path, monkeypatch, n_ok):
    save_pretrained(tiny_model(0), tmp_path)
    before = snapshot(tmp_path)
    fail_fsync_after(monkeypatch, n_ok)
    with pytest.raises(OSError, match=rf"Could not write {tmp_path}/\S+ \(No space left on device\); the "
                                      r"previous .* is unchanged") as info:
        save_pretrained(tiny_model(1), tmp_path)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    after = snapshot(tmp_path)
    assert set(after) == set(before)  # no temporary file left behind
    failed = str(info.value).split("Could not write ")[1].split(" (")[0]
    assert after[os.path.basename(failed)] == before[os.path.basename(failed)]  # the file that failed is intact
    if n_ok == 0:
        assert after == before
    if n_ok < 2:  # the file load_pretrained prefers (model.safetensors) and config.json are the previous save's
        torch.testing.assert_close(load_pretrained(tmp_path).state_dict(), tiny_model(0).state_dict())
    else:  # both weight files are new, config.json is old: never a silent mix of two models
        with pytest.raises(CheckpointError, match=r"model.safetensors and config.json in .* were not written by "
                                                  r"the same save .*Save the model again"):
            load_pretrained(tmp_path)


def test_saving_one_format_over_a_save_of_both_leaves_no_stale_weights(tmp_path):
    save_pretrained(tiny_model(0), tmp_path)
    save_pretrained(tiny_model(1), tmp_path, safetensors=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.ckpt"]
    torch.testing.assert_close(load_pretrained(tmp_path).state_dict(), tiny_model(1).state_dict())
    save_pretrained(tiny_model(0), tmp_path, lightning=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    torch.testing.assert_close(load_pretrained(tmp_path).state_dict(), tiny_model(0).state_dict())


def test_a_stale_weight_file_that_cannot_be_removed_is_named_and_never_loaded(tmp_path, monkeypatch):
    save_pretrained(tiny_model(0), tmp_path)
    unlink = type(tmp_path).unlink

    def refuse(self, missing_ok=False):
        if self.name == "model.safetensors":
            raise PermissionError(errno.EACCES, "Permission denied")
        return unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(tmp_path), "unlink", refuse)
    with pytest.raises(PermissionError, match=r"Could not remove \S+model.safetensors \(Permission denied\), the "
                                              r"weights of an earlier save .* Delete model.safetensors"):
        save_pretrained(tiny_model(1), tmp_path, safetensors=False)
    monkeypatch.undo()
    # model.safetensors and config.json are still the previous save, and load as it; the new weights.ckpt is
    # never paired with the old config.json
    torch.testing.assert_close(load_pretrained(tmp_path).state_dict(), tiny_model(0).state_dict())
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="were not written by the same save"):
        load_pretrained(tmp_path)


def test_weights_and_config_of_different_saves_are_refused(tmp_path):
    save_pretrained(tiny_model(0), tmp_path / "a")
    save_pretrained(tiny_model(1), tmp_path / "b")
    (tmp_path / "b" / "config.json").write_bytes((tmp_path / "a" / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match=r"model.safetensors and config.json in \S+b were not written by the "
                                              r"same save \(save ids [0-9a-f]{32} and [0-9a-f]{32}\)"):
        load_pretrained(tmp_path / "b")


def test_unwritable_folder_is_a_permission_error_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("kept")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"Could not write .*notes.txt \(Permission denied\)"):
        with atomic_write(tmp_path / "notes.txt", "w") as fh:
            fh.write("lost")
    assert (tmp_path / "notes.txt").read_text() == "kept"


def test_a_checkpoint_that_cannot_be_written_stops_fit_and_the_previous_one_resumes(tmp_path, monkeypatch):
    options = dict(d_model=8, n_layer=1, max_length=32, max_steps=6, checkpoint_interval=2, eval_interval=100,
                   random_state=0, precision="32", checkpoint_dir=tmp_path / "ckpt")
    sequences = ["ACGTTGCAAGGTCAGT" * 8]
    reference = HyenaPretrainer(**{**options, "checkpoint_dir": None}).fit(sequences)
    fail_fsync_after(monkeypatch, 1)  # the checkpoint at step 2 is written, the one at step 4 hits a full disk
    with pytest.raises(OSError, match=r"Could not write .*checkpoint\.pt \(No space left on device\)"):
        HyenaPretrainer(**options).fit(sequences)
    monkeypatch.undo()
    assert torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)["step"] == 2
    resumed = HyenaPretrainer(**options).fit(sequences, resume=True)
    for key, value in reference.model_.state_dict().items():
        assert torch.equal(resumed.model_.state_dict()[key], value), key


# -- concurrent writers ---------------------------------------------------------------------------------------


def test_a_second_writer_into_a_checkpoint_folder_is_refused_naming_the_first(tmp_path):
    import json
    import subprocess
    import sys

    from dnaestim._atomic import LOCK_NAME, DirectoryInUseError, exclusive_directory

    folder = tmp_path / "ckpt"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder.mkdir()
        (folder / LOCK_NAME).write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": other.pid,
                                                    "purpose": "HyenaPretrainer checkpoints", "since": "now"}))
        pre = HyenaPretrainer(d_model=8, n_layer=1, max_length=32, max_steps=2, random_state=0,
                              checkpoint_dir=folder)
        with pytest.raises(DirectoryInUseError, match=rf"{folder} is in use by process {other.pid} on .*"
                                                      r"HyenaPretrainer checkpoints.*delete .*\.dnaestim\.lock"):
            pre.fit(["ACGT" * 20])
        assert not (folder / "checkpoint.pt").exists()
    finally:
        other.kill()
        other.wait()
    # The holder is gone (as after kill -9): its lock is taken over, and released at the end of fit.
    HyenaPretrainer(d_model=8, n_layer=1, max_length=32, max_steps=2, random_state=0, checkpoint_dir=folder).fit(
        ["ACGT" * 20])
    assert (folder / "checkpoint.pt").exists() and not (folder / LOCK_NAME).exists()
    with exclusive_directory(folder, "first"):
        with pytest.raises(DirectoryInUseError, match=rf"process {os.getpid()} .*first"):
            with exclusive_directory(folder, "second"):
                pass
    assert not (folder / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
    import json

    from dnaestim._atomic import LOCK_NAME, DirectoryInUseError, exclusive_directory

    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "node-17", "pid": 1, "purpose": "pretraining",
                                                  "since": "2026-11-30T10:00:00"}))
    with pytest.raises(DirectoryInUseError, match=r"process 1 on node-17 \(pretraining, since 2026-11-30T10:00:00\)"):
        with exclusive_directory(tmp_path, "mine"):
            pass
    assert (tmp_path / LOCK_NAME).exists()


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        save_pretrained(tiny_model(0), tmp_path / "model")
        with atomic_write(tmp_path / "table.tsv", "w") as fh:
            fh.write("a\n")
    finally:
        os.umask(old)
    for path in [*(tmp_path / "model").iterdir(), tmp_path / "table.tsv"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path  # readable by others, as open() would make it
