"""The backbone reproduces the published implementation's outputs through load_pretrained."""

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

import dnaestim
from conftest import relative_error


@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "reference-code"])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_reference_outputs(reference, dtype, tol, fast):
    """Through the fast paths and through the plain transcription of the model (``fast_paths(False)``)."""
    model = dnaestim.load_pretrained(reference["dir"], dtype=dtype)
    with torch.inference_mode(), dnaestim.nn.fast_paths(fast):
        hidden = model.backbone(reference["input_ids"])
        logits = model(reference["input_ids"])
    assert hidden.dtype == dtype and logits.dtype == dtype
    assert relative_error(hidden, reference["hidden_states"]) < tol
    assert relative_error(logits, reference["lm_logits"]) < tol


def test_reference_outputs_in_train_mode_without_dropout_changes_nothing(reference):
    """Dropout is the only train/eval difference, and the published configs only set embed_dropout."""
    model = dnaestim.load_pretrained(reference["dir"])
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    with torch.no_grad():
        hidden = model.backbone(reference["input_ids"])
    assert relative_error(hidden, reference["hidden_states"]) < 1e-5


def test_batch_independence(reference):
    """Each sequence's output is the same alone as in its batch."""
    model = dnaestim.load_pretrained(reference["dir"], dtype=torch.float64)
    ids = reference["input_ids"]
    with torch.inference_mode():
        alone = torch.cat([model.backbone(ids[i : i + 1]) for i in range(len(ids))])
        together = model.backbone(ids)
    torch.testing.assert_close(alone, together, rtol=1e-12, atol=1e-12)


def _hf_layout(src, dst, *, with_head, drop_freq_copies, filename="model.safetensors"):
    """Write a reference checkpoint the way the Hugging Face port stores it."""
    config = json.loads((src / "config.json").read_text())
    layer = config["layer"]
    hf_config = {
        "d_model": config["d_model"], "n_layer": config["n_layer"], "d_inner": config["d_inner"],
        "vocab_size": config["vocab_size"], "max_seq_len": layer["l_max"], "emb_dim": layer["emb_dim"],
        "filter_order": layer["filter_order"], "short_filter_order": 3, "hyena_order": 2,
        "activation_freq": layer["w"], "num_inner_mlps": 2, "train_freq": True, "use_bias": True,
        "embed_dropout": config["embed_dropout"], "hyena_dropout": 0.0, "hyena_filter_dropout": 0.0,
        "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
        "pad_vocab_size_multiple": config["pad_vocab_size_multiple"], "pad_token_id": 4,
        "tie_word_embeddings": False, "model_type": "hyenadna", "architectures": ["HyenaDNAForCausalLM"],
    }
    dst.mkdir()
    (dst / "config.json").write_text(json.dumps(hf_config))
    state = torch.load(src / "weights.ckpt", weights_only=True)["state_dict"]
    hf_state = {}
    for key, value in state.items():
        key = key.replace("model.", "hyena.", 1).replace(".mixer.layer.", ".mixer.").replace(".mlp.layer.", ".mlp.")
        if drop_freq_copies and (key.endswith("implicit_filter.3.freq") or key.endswith("implicit_filter.5.freq")):
            continue
        hf_state[key] = value.clone()
    if with_head:
        hf_state["lm_head.weight"] = hf_state["hyena.backbone.embeddings.word_embeddings.weight"].clone()
    if filename.endswith(".safetensors"):
        save_file(hf_state, dst / filename)
    else:
        torch.save(hf_state, dst / filename)
    return dst


@pytest.mark.parametrize("filename", ["model.safetensors", "pytorch_model.bin"])
def test_hugging_face_layout(reference, tmp_path, filename):
    folder = _hf_layout(reference["dir"], tmp_path / "hf", with_head=True, drop_freq_copies=True, filename=filename)
    model = dnaestim.load_pretrained(folder)
    with torch.inference_mode():
        hidden = model.backbone(reference["input_ids"])
        logits = model(reference["input_ids"])
    assert relative_error(hidden, reference["hidden_states"]) < 1e-5
    assert relative_error(logits, reference["lm_logits"]) < 1e-5


def test_hugging_face_separate_head_is_used(reference, tmp_path):
    folder = _hf_layout(reference["dir"], tmp_path / "hf", with_head=True, drop_freq_copies=False)
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    state["lm_head.weight"] = state["lm_head.weight"] * 2
    save_file(state, folder / "model.safetensors")
    model = dnaestim.load_pretrained(folder)
    assert model.lm_head is not None
    with torch.inference_mode():
        logits = model(reference["input_ids"])
    assert relative_error(logits, 2 * reference["lm_logits"]) < 1e-5


@pytest.mark.parametrize("layout", ["lightning", "safetensors"])
def test_save_load_round_trip_is_bit_exact(reference, tmp_path, layout):
    model = dnaestim.load_pretrained(reference["dir"])
    dnaestim.save_pretrained(model, tmp_path, lightning=layout == "lightning", safetensors=layout == "safetensors")
    again = dnaestim.load_pretrained(tmp_path)
    original, reloaded = model.state_dict(), again.state_dict()
    assert original.keys() == reloaded.keys()
    for key in original:
        assert torch.equal(original[key], reloaded[key]), key
    assert again.config == model.config
    with torch.inference_mode():
        assert torch.equal(model(reference["input_ids"]), again(reference["input_ids"]))


def test_saved_lightning_layout_matches_the_published_keys(reference, tmp_path):
    """What we write under weights.ckpt has exactly the published key names and shapes."""
    model = dnaestim.load_pretrained(reference["dir"])
    dnaestim.save_pretrained(model, tmp_path)
    published = torch.load(reference["dir"] / "weights.ckpt", weights_only=True)["state_dict"]
    ours = torch.load(tmp_path / "weights.ckpt", weights_only=True)["state_dict"]
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in published.items()}
    for key in published:
        assert torch.equal(ours[key], published[key]), key
    config = json.loads((tmp_path / "config.json").read_text())
    original = json.loads((reference["dir"] / "config.json").read_text())
    for key in ("d_model", "n_layer", "d_inner", "vocab_size", "pad_vocab_size_multiple", "checkpoint_mixer"):
        assert config[key] == original[key]
    for key in ("emb_dim", "filter_order", "l_max", "modulate", "w"):
        assert config["layer"][key] == original["layer"][key]


def test_device_and_dtype_arguments(tiny_reference_dir):
    model = dnaestim.load_pretrained(tiny_reference_dir, device="cpu", dtype=torch.float64)
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in model.parameters())
    assert not model.training


def test_loader_copies_directory_contents_only(tiny_reference_dir, tmp_path):
    """A checkpoint directory that also holds other files (README, tokenizer files) loads."""
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_reference_dir, folder)
    (folder / "README.md").write_text("downloaded weights")
    (folder / "tokenizer_config.json").write_text("{}")
    dnaestim.load_pretrained(folder)


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_reference_outputs_through_chunked_inference(reference, chunk_size):
    model = dnaestim.load_pretrained(reference["dir"]).eval()
    with torch.inference_mode():
        hidden = model.backbone(reference["input_ids"], chunk_size=chunk_size)
    assert relative_error(hidden, reference["hidden_states"]) < 1e-5


@pytest.mark.parametrize("onednn", [False, True], ids=["plain-layers", "onednn"])
@pytest.mark.parametrize("chunk_size, polyphase", [(None, False), (7, False), (7, True)],
                         ids=["one-pass", "chunked", "chunked-polyphase"])
def test_reference_outputs_through_every_inference_path(reference, monkeypatch, onednn, chunk_size, polyphase):
    """The fast paths each machine may take (oneDNN dense layers on AVX-512 CPUs, chunks, polyphase FFTs)."""
    from dnaestim.nn._fast import fftconv
    from dnaestim.nn._fast import onednn as fused

    if onednn and not fused.onednn_agrees():
        pytest.skip("this PyTorch has no working oneDNN linear operator")
    monkeypatch.setattr(fused, "onednn_available", lambda: onednn)
    if polyphase:
        n_fft = fftconv.fft_length(reference["input_ids"].shape[1])
        monkeypatch.setattr(fftconv, "POLYPHASE_PARTS", min(p for p in (2, 3, 5) if n_fft % p == 0))
        monkeypatch.setattr(fftconv, "POLYPHASE_MIN_FFT_LENGTH", 1)
        assert fftconv.polyphase_parts(n_fft) > 1
    model = dnaestim.load_pretrained(reference["dir"]).eval()
    with torch.inference_mode():
        hidden = model.backbone(reference["input_ids"], chunk_size=chunk_size)
    assert relative_error(hidden, reference["hidden_states"]) < 1e-5


@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "reference-code"])
def test_reference_gradients_equal_float64_autograd(reference, fast):
    """Training takes hand-written backward passes (long convolution, filter spectrum, short filter): float32
    gradients of the reference model match float64 autograd through the reference code to float32 precision."""
    grads = {}
    for dtype, fast_paths in ((torch.float32, fast), (torch.float64, False)):
        model = dnaestim.load_pretrained(reference["dir"], dtype=dtype).train()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        ids = reference["input_ids"]
        with dnaestim.nn.fast_paths(fast_paths):
            logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                                                 ids[:, 1:].reshape(-1))
        loss.backward()
        grads[dtype] = torch.cat([p.grad.double().flatten() for p in model.parameters() if p.grad is not None])
    error = (grads[torch.float32] - grads[torch.float64]).norm() / grads[torch.float64].norm()
    assert error < 1e-5
