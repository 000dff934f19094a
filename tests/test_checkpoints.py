"""Checkpoint error paths: every way a checkpoint directory can be wrong gets a message naming the problem."""

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

import dnaestim
from dnaestim import CheckpointError, HyenaConfig, HyenaLM, load_pretrained, save_pretrained
from dnaestim.checkpoints import read_state_dict


@pytest.fixture
def ckpt(tiny_reference_dir, tmp_path):
    """A writable copy of the tiny reference checkpoint (Lightning layout)."""
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_reference_dir, folder)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _state(folder):
    return torch.load(folder / "weights.ckpt", weights_only=True)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*never downloads"):
        load_pretrained(tmp_path / "nope")


def test_file_instead_of_directory(ckpt):
    with pytest.raises(CheckpointError, match="is a file; pass the directory"):
        load_pretrained(ckpt / "weights.ckpt")


def test_path_of_wrong_type():
    with pytest.raises(TypeError, match="directory path"):
        load_pretrained(42)


def test_missing_config(ckpt):
    (ckpt / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config.json is missing"):
        load_pretrained(ckpt)


def test_invalid_json(ckpt):
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config.json is not valid JSON"):
        load_pretrained(ckpt)


def test_config_that_is_not_hyena(ckpt):
    (ckpt / "config.json").write_text(json.dumps({"d_model": -3, "n_layer": 2}))
    with pytest.raises(CheckpointError, match=r"does not describe a HyenaDNA model: .*d_model"):
        load_pretrained(ckpt)
    (ckpt / "config.json").write_text(json.dumps({"d_model": 8, "n_layer": 1, "layer": {"_name_": "attention"}}))
    with pytest.raises(CheckpointError, match="only 'hyena' layers"):
        load_pretrained(ckpt)


def test_missing_weights(ckpt):
    (ckpt / "weights.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match=r"No weights in .*model.safetensors, weights.ckpt, pytorch_model.bin"):
        load_pretrained(ckpt)


def test_truncated_checkpoint(ckpt):
    data = (ckpt / "weights.ckpt").read_bytes()
    (ckpt / "weights.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"weights.ckpt is not a readable PyTorch checkpoint"):
        load_pretrained(ckpt)


def test_garbage_checkpoint(ckpt):
    (ckpt / "weights.ckpt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_pretrained(ckpt)


def test_corrupt_safetensors(ckpt):
    (ckpt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad json}")
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        load_pretrained(ckpt)


def test_pickle_carrying_code_is_refused(ckpt, capfd):
    state = _state(ckpt)
    state["callbacks"] = Evil()
    torch.save(state, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match=r"would run code when loaded \(posix.system|nt.system"):
        load_pretrained(ckpt)
    assert "must never run" not in capfd.readouterr().out


def test_lightning_metadata_objects_are_tolerated(ckpt, tmp_path, monkeypatch):
    """Lightning checkpoints pickle hyper-parameter objects; they load as inert placeholders."""
    module_dir = tmp_path / "mods"
    (module_dir / "omegaconf").mkdir(parents=True)
    (module_dir / "omegaconf" / "__init__.py").write_text(
        "class DictConfig:\n"
        "    def __init__(self, content): self._content = content\n"
        "    def __getstate__(self): return {'_content': self._content}\n"
        "    def __setstate__(self, s): raise AssertionError('metadata code must not run')\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    import omegaconf

    state = _state(ckpt)
    state["hyper_parameters"] = {"cfg": omegaconf.DictConfig({"lr": 6e-4})}
    torch.save(state, ckpt / "weights.ckpt")
    model = load_pretrained(ckpt)
    assert isinstance(model, HyenaLM)


def test_state_dict_that_is_not_tensors(ckpt):
    torch.save({"state_dict": {"a": 1}}, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match="neither a Lightning checkpoint"):
        load_pretrained(ckpt)


def test_missing_key_is_named(ckpt):
    state = _state(ckpt)
    del state["state_dict"]["model.backbone.layers.1.mlp.fc1.bias"]
    torch.save(state, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match=r"missing keys: backbone.layers.1.mlp.fc1.bias"):
        load_pretrained(ckpt)


def test_unexpected_backbone_key_is_named(ckpt):
    state = _state(ckpt)
    state["state_dict"]["model.backbone.layers.2.norm1.weight"] = torch.ones(128)
    torch.save(state, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match=r"unexpected keys: backbone.layers.2.norm1.weight"):
        load_pretrained(ckpt)


def test_head_keys_of_a_finetuned_checkpoint_are_ignored_with_a_warning(ckpt, caplog):
    state = _state(ckpt)
    state["state_dict"]["model.decoder.0.output_transform.weight"] = torch.ones(2, 128)
    state["state_dict"]["torchmetrics.accuracy.total"] = torch.tensor(3)
    torch.save(state, ckpt / "weights.ckpt")
    load_pretrained(ckpt)
    assert "decoder.0.output_transform.weight" in caplog.text
    assert "torchmetrics" not in caplog.text


def test_wrong_shape_is_named_with_both_shapes(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["d_inner"] = 256
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"wrongly-shaped keys: backbone.layers.0.mlp.fc1.weight "
                                              r"\(checkpoint \(512, 128\), model \(256, 128\)\)"):
        load_pretrained(ckpt)


def test_differing_frequency_copies_are_refused(ckpt):
    state = _state(ckpt)
    state["state_dict"]["model.backbone.layers.0.mixer.filter_fn.implicit_filter.3.freq"] += 1
    torch.save(state, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match=r"sine frequencies .*differ"):
        load_pretrained(ckpt)


def test_non_finite_weights_are_refused(ckpt):
    state = _state(ckpt)
    state["state_dict"]["model.backbone.ln_f.weight"][3] = float("nan")
    torch.save(state, ckpt / "weights.ckpt")
    with pytest.raises(CheckpointError, match=r"backbone.ln_f.weight contains NaN"):
        load_pretrained(ckpt)


def test_plain_state_dict_file(ckpt):
    state = _state(ckpt)["state_dict"]
    (ckpt / "weights.ckpt").unlink()
    torch.save(state, ckpt / "pytorch_model.bin")
    load_pretrained(ckpt)


def test_save_refuses_non_models_and_files(tmp_path):
    with pytest.raises(TypeError, match="HyenaLM"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        save_pretrained(HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=16)), tmp_path / "file")
    with pytest.raises(ValueError, match="at least one"):
        save_pretrained(HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=16)), tmp_path, lightning=False,
                        safetensors=False)


def test_save_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previously saved files intact and no temporary files behind."""
    first = HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=16))
    save_pretrained(first, tmp_path)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    second = HyenaLM(HyenaConfig(d_model=16, n_layer=2, l_max=32))
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(second, tmp_path)
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    monkeypatch.undo()
    reloaded = load_pretrained(tmp_path)
    for p, q in zip(first.state_dict().values(), reloaded.state_dict().values()):
        assert torch.equal(p, q)


def test_checkpoint_mixer_layout_is_written_with_layer_segments(tmp_path):
    model = HyenaLM(HyenaConfig(d_model=8, n_layer=1, l_max=16, checkpoint_mixer=True, checkpoint_mlp=True))
    save_pretrained(model, tmp_path, safetensors=False)
    keys = _state(tmp_path)["state_dict"].keys()
    assert "model.backbone.layers.0.mixer.layer.in_proj.weight" in keys
    assert "model.backbone.layers.0.mlp.layer.fc1.weight" in keys
    assert "model.backbone.layers.0.norm1.weight" in keys
    load_pretrained(tmp_path)


def test_safetensors_preferred_and_read_state_dict(ckpt, tmp_path):
    model = load_pretrained(ckpt)
    save_pretrained(model, tmp_path)
    state = read_state_dict(tmp_path / "model.safetensors")
    assert "backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq" in state
    assert "backbone.layers.0.mixer.filter_fn.implicit_filter.3.freq" not in state
    save_file({"x": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_pretrained(tmp_path)


def test_public_api_exports():
    for name in dnaestim.__all__:
        assert getattr(dnaestim, name).__doc__, name
