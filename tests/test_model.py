"""Backbone properties: the FFT convolution, causality, length limits, caching, precision and initialisation."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnaestim import HyenaConfig, HyenaLM
from dnaestim.nn import fft_causal_conv, filter_spectrum, next_fast_len
from dnaestim.nn import _fast
from dnaestim.nn._fast.fftconv import fft_length


def small_model(seed=0, **overrides):
    torch.manual_seed(seed)
    config = HyenaConfig(**{"d_model": 16, "n_layer": 2, "d_inner": 32, "l_max": 80, "emb_dim": 3,
                            "filter_order": 8, "w": 10, **overrides})
    return HyenaLM(config).eval()


def causal_conv_direct(u, k, bias):
    """O(L^2) causal convolution from its definition: y[t] = sum_{s<=t} k[s] u[t-s] + bias u[t]."""
    length = u.shape[1]
    lags = torch.arange(length)[:, None] - torch.arange(length)[None, :]
    toeplitz = k[lags.clamp(min=0)] * (lags >= 0)[..., None].to(k.dtype)  # (L, L, D): k[t - s] for s <= t
    return torch.einsum("tsd,bsd->btd", toeplitz, u) + u * bias


@given(st.integers(1, 5000))
def test_next_fast_len(n):
    m = next_fast_len(n)
    assert m >= n
    rest = m
    for p in (2, 3, 5):
        while rest % p == 0:
            rest //= p
    assert rest == 1
    assert all(not _smooth(k) for k in range(n, m))


def _smooth(k):
    for p in (2, 3, 5):
        while k % p == 0:
            k //= p
    return k == 1


@given(st.integers(1, 97), st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_fft_conv_equals_direct_convolution(length, batch, channels, seed):
    """Random lengths, odd and prime ones included, in float64."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, channels, generator=g, dtype=torch.float64)
    k = torch.randn(length, channels, generator=g, dtype=torch.float64)
    bias = torch.randn(channels, generator=g, dtype=torch.float64)
    fast = fft_causal_conv(u, filter_spectrum(k, fft_length(length)), bias)
    torch.testing.assert_close(fast, causal_conv_direct(u, k, bias), rtol=1e-10, atol=1e-10)


@given(st.integers(1, 64), st.floats(-3, 3), st.floats(-3, 3), st.integers(0, 2**31 - 1))
def test_fft_conv_is_linear(length, a, b, seed):
    g = torch.Generator().manual_seed(seed)
    u1, u2 = torch.randn(2, 2, length, 3, generator=g, dtype=torch.float64)
    k = torch.randn(length, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    k_f = filter_spectrum(k, fft_length(length))
    combined = fft_causal_conv(a * u1 + b * u2, k_f, bias)
    separate = a * fft_causal_conv(u1, k_f, bias) + b * fft_causal_conv(u2, k_f, bias)
    torch.testing.assert_close(combined, separate, rtol=1e-9, atol=1e-9)


@given(st.integers(1, 40), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_fft_conv_gradients_equal_direct_convolution(length, batch, seed):
    """The hand-written backward pass (real FFTs) against autograd through the O(L²) convolution, odd FFT
    lengths included (fft_length(5) == 9)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, 3, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(length, 3, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(batch, length, 3, generator=g, dtype=torch.float64)
    fast = torch.autograd.grad((fft_causal_conv(u, filter_spectrum(k, fft_length(length)), bias) * weights).sum(),
                               (u, k, bias))
    direct = torch.autograd.grad((causal_conv_direct(u, k, bias) * weights).sum(), (u, k, bias))
    for a, b in zip(fast, direct):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("length", [1, 4, 5, 12])
def test_fft_conv_gradcheck_with_any_spectrum(length):
    """Also for a spectrum that is no real filter's (complex leaf, nonzero imaginary Nyquist bin); and the
    spectrum's own backward pass (an inverse real FFT)."""
    g = torch.Generator().manual_seed(length)
    u = torch.randn(2, length, 2, generator=g, dtype=torch.float64, requires_grad=True)
    k_f = torch.randn(2, fft_length(length) // 2 + 1, generator=g, dtype=torch.complex128, requires_grad=True)
    bias = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fft_causal_conv, (u, k_f, bias))
    taps = torch.randn(length, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: filter_spectrum(k, fft_length(length)), (taps,))


def test_fft_conv_checks_spectrum_length():
    u = torch.randn(1, 10, 2)
    with pytest.raises(ValueError, match="length-10 input"):
        fft_causal_conv(u, filter_spectrum(torch.randn(9, 2), fft_length(9)), torch.zeros(2))


def test_fft_conv_runs_in_float32_for_half_inputs():
    u = torch.randn(1, 16, 4).bfloat16()
    k_f = filter_spectrum(torch.randn(16, 4), fft_length(16))
    assert fft_causal_conv(u, k_f, torch.zeros(4)).dtype == torch.float32


@given(st.integers(2, 80), st.data())
def test_backbone_is_causal(length, data):
    """Changing tokens after position t changes no output at or before t."""
    model = small_model(1)
    t = data.draw(st.integers(0, length - 2))
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(7, 12, (1, length), generator=g)
    changed = ids.clone()
    changed[0, t + 1:] = torch.randint(7, 12, (length - t - 1,), generator=g)
    changed[0, t + 1] = 7 + (ids[0, t + 1] - 6) % 5  # make sure position t+1 differs
    with torch.inference_mode():
        a, b = model(ids), model(changed)
    torch.testing.assert_close(a[0, : t + 1], b[0, : t + 1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[0, t + 1:], b[0, t + 1:])


def test_longer_than_l_max_names_both_lengths():
    model = small_model()
    with pytest.raises(ValueError, match=r"81 tokens is longer than this model's l_max=80"):
        model(torch.full((1, 81), 7))
    with pytest.raises(ValueError, match=r"81 tokens .* l_max=80"):
        model.backbone(inputs_embeds=torch.zeros(1, 81, 16))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.array([[7, 8]]), TypeError, "torch.LongTensor"),
        (torch.tensor([[7.0, 8.0]]), TypeError, "integer token ids"),
        (torch.tensor([7, 8]), ValueError, r"shape \(batch, length\)"),
        (torch.tensor([[7, 99]]), ValueError, "Token id 99 is outside the vocabulary"),
        (torch.tensor([[-1, 7]]), ValueError, "Token id -1"),
    ],
)
def test_bad_input_ids(bad, error, message):
    with pytest.raises(error, match=message):
        small_model()(bad)


def test_inputs_embeds_equals_input_ids():
    model = small_model()
    ids = torch.randint(7, 12, (2, 20))
    with torch.inference_mode():
        a = model.backbone(ids)
        b = model.backbone(inputs_embeds=model.backbone.embeddings(ids))
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="exactly one"):
        model.backbone()


def test_filter_spectrum_cache_follows_weight_changes():
    model = small_model()
    ids = torch.randint(7, 12, (1, 30))
    with torch.inference_mode():
        before = model(ids)
    filter_fn = model.backbone.layers[0].mixer.filter_fn
    assert len(_fast._spectra[filter_fn]) == 1
    with torch.no_grad():
        filter_fn.implicit_filter[0].weight.mul_(1.5)
    with torch.inference_mode():
        after = model(ids)
    assert not torch.allclose(before, after)
    model.load_state_dict(small_model(seed=5).state_dict())
    fresh_model = small_model(seed=5)
    with torch.inference_mode():
        reloaded = model(ids)
        fresh = fresh_model(ids)
    torch.testing.assert_close(reloaded, fresh, rtol=0, atol=0)


def test_model_built_under_inference_mode_still_runs():
    with torch.inference_mode():
        model = small_model()
        ids = torch.randint(7, 12, (1, 12))
        torch.testing.assert_close(model(ids), model(ids))


def test_training_recomputes_filter_and_gets_gradients():
    model = small_model().train()
    ids = torch.randint(7, 12, (2, 24))
    model(ids).logsumexp(-1).mean().backward()
    filter_fn = model.backbone.layers[0].mixer.filter_fn
    assert filter_fn.implicit_filter[0].weight.grad is not None
    assert filter_fn.implicit_filter[1].freq.grad is not None
    assert filter_fn.bias.grad is not None
    assert len(_fast._spectra.get(filter_fn, {})) == 0


def test_autocast_keeps_long_convolution_in_float32():
    model = small_model()
    ids = torch.randint(7, 12, (1, 40))
    with torch.inference_mode():
        reference = model(ids)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(ids)
    assert mixed.dtype in (torch.bfloat16, torch.float32)
    assert torch.isfinite(mixed).all()
    assert (mixed.float() - reference).abs().max() < 0.1 * reference.abs().max()


def test_activation_checkpointing_gives_identical_gradients():
    plain = small_model(embed_dropout=0.0).train()
    checkpointed = small_model(embed_dropout=0.0, checkpoint_mixer=True, checkpoint_mlp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    ids = torch.randint(7, 12, (2, 30))
    for model in (plain, checkpointed):
        model(ids).pow(2).mean().backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_initialisation_follows_published_scheme():
    model = small_model(d_model=64, n_layer=4, d_inner=128, l_max=256)
    layer = model.backbone.layers[0]
    assert abs(layer.mixer.in_proj.weight.std().item() - 0.02) < 0.003
    assert abs(layer.mixer.out_proj.weight.std().item() - 0.02 / math.sqrt(8)) < 0.002
    assert abs(layer.mlp.fc2.weight.std().item() - 0.02 / math.sqrt(8)) < 0.002
    assert abs(layer.mixer.filter_fn.bias.std().item() - 1.0) < 0.3
    assert torch.all(layer.mixer.in_proj.bias == 0)
    assert torch.all(layer.norm1.weight == 1) and torch.all(layer.norm1.bias == 0)
    assert torch.all(layer.mixer.filter_fn.implicit_filter[1].freq == 10)
    bound = 1 / math.sqrt(3)
    assert layer.mixer.short_filter.weight.abs().max() <= bound


def test_seeded_generator_makes_initialisation_reproducible():
    config = HyenaConfig(d_model=16, n_layer=1, l_max=32)
    a = HyenaLM(config, generator=torch.Generator().manual_seed(3))
    b = HyenaLM(config, generator=torch.Generator().manual_seed(3))
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)


def test_shared_sine_frequency_and_filter_parameters():
    model = small_model()
    filt = model.backbone.layers[0].mixer.filter_fn.implicit_filter
    assert filt[1] is filt[3] is filt[5]
    ids = {id(p) for p in model.filter_parameters()}
    assert id(filt[1].freq) in ids and id(filt[0].weight) in ids
    assert id(model.backbone.layers[0].mixer.filter_fn.bias) not in ids


def test_trainable_positional_encoding_and_no_modulation():
    model = small_model(lr_pos_emb=1e-4, modulate=False)
    fn = model.backbone.layers[0].mixer.filter_fn
    assert isinstance(fn.pos_emb.z, torch.nn.Parameter)
    z, _ = fn.pos_emb(10)
    torch.testing.assert_close(fn.filter(10), fn.implicit_filter(z)[0])


def test_untied_head():
    model = small_model(tie_word_embeddings=False)
    assert model.lm_head is not None
    assert model.output_weight is model.lm_head.weight


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 0}, "d_model must be a positive int"),
        ({"n_layer": 1.5}, "n_layer must be a positive int"),
        ({"emb_dim": 4}, "emb_dim must be an odd int"),
        ({"embed_dropout": 1.0}, r"embed_dropout must be in \[0, 1\)"),
        ({"l_max": True}, "l_max must be a positive int"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HyenaConfig(**kwargs)


def test_config_reads_every_layout_and_ignores_unknown_keys(caplog):
    nested = {"d_model": 8, "n_layer": 1, "fused_mlp": False, "layer": {"_name_": "hyena", "l_max": 40, "w": 3,
                                                                    "local_order": 3}}
    flat_hf = {"d_model": 8, "n_layer": 1, "max_seq_len": 40, "activation_freq": 3, "model_type": "hyenadna"}
    import logging

    with caplog.at_level(logging.DEBUG, logger="dnaestim.nn.config"):
        a = HyenaConfig.from_dict(nested)
    assert "fused_mlp" in caplog.text
    b = HyenaConfig.from_dict(flat_hf)
    assert (a.l_max, a.w, a.d_inner) == (b.l_max, b.w, b.d_inner) == (40, 3, 32)
    assert HyenaConfig.from_dict(a.to_dict()) == a
    assert nested["layer"]["_name_"] == "hyena"  # the caller's dict is untouched
    with pytest.raises(ValueError, match="hyena_order"):
        HyenaConfig.from_dict({"hyena_order": 3})
    with pytest.raises(TypeError, match="must be a dict"):
        HyenaConfig.from_dict([1])


@pytest.mark.parametrize("length", [1, 2, 3, 17])
def test_short_filter_equals_published_conv1d_and_has_correct_gradients(length):
    from dnaestim.nn._fast.shortconv import ShortCausalConv

    g = torch.Generator().manual_seed(length)
    z = torch.randn(2, length, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ShortCausalConv.apply, (z, w, b))
    conv = torch.nn.Conv1d(6, 6, 3, groups=6, padding=2).double()
    with torch.no_grad():
        conv.weight.copy_(w[:, None, :])
        conv.bias.copy_(b)
    published = conv(z.transpose(1, 2))[..., :length].transpose(1, 2)
    torch.testing.assert_close(ShortCausalConv.apply(z, w, b), published, rtol=1e-12, atol=1e-12)


# -- chunked inference ------------------------------------------------------------------------------------------


@given(length=st.integers(1, 80), chunk=st.integers(1, 90), batch=st.integers(1, 3), seed=st.integers(0, 99))
def test_chunked_forward_equals_one_pass(length, chunk, batch, seed):
    model = small_model().double()
    ids = torch.randint(7, 12, (batch, length), generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = model.backbone(ids)
        actual = model.backbone(ids, chunk_size=chunk)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_chunked_forward_with_channel_groups_and_uncached_filter(monkeypatch):
    """Long inputs whose filter spectrum is too big to cache are convolved a few channels at a time."""
    import dnaestim.nn._fast.chunked as chunked

    model = small_model(modulate=True).double()
    ids = torch.randint(7, 12, (2, 77))
    with torch.inference_mode():
        expected = model(ids)
    monkeypatch.setattr(chunked, "_WHOLE_SPECTRUM_MAX_BYTES", 0)
    monkeypatch.setattr(chunked, "_TAPS_BLOCK_CHANNELS", 4)  # taps for 6 channels (two groups) per product
    monkeypatch.setattr(chunked, "_FILTER_BLOCK_POSITIONS", 16)  # the filter MLP in 5 blocks of positions
    monkeypatch.setattr(chunked, "_GROUP_BYTES", 3 * 2 * fft_length(77) * 8)  # 3 channels per group (float64)
    spectra = list(chunked.channel_spectra(model.backbone.layers[0].mixer.filter_fn, 77, torch.float64, 3))
    assert [s.stop - s.start for s, _ in spectra] == [3, 3, 3, 3, 3, 1]  # 16 channels
    with torch.inference_mode():
        actual = model(ids, chunk_size=10)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("parts, length", [(4, 8), (4, 9), (16, 32), (3, 10), (1, 12)])
def test_polyphase_rfft_is_the_dft_in_part_order(parts, length):
    """Bin (q, k) of the polyphase spectrum is frequency k + M q of the signal's DFT, and the inverse undoes it."""
    from dnaestim.nn._fast.fftconv import polyphase_irfft, polyphase_rfft

    g = torch.Generator().manual_seed(parts * length)
    signal = torch.randn(2, parts * length, generator=g, dtype=torch.float64)
    split = signal.view(2, length, parts).transpose(1, 2).contiguous()  # split[:, r, m] = signal[:, r + R m]
    frequencies = torch.arange(length // 2 + 1)[None] + length * torch.arange(parts)[:, None]
    spectrum = polyphase_rfft(split)
    torch.testing.assert_close(spectrum, torch.fft.fft(signal)[:, frequencies], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(polyphase_irfft(spectrum, length), split, rtol=1e-10, atol=1e-10)
    scaled = polyphase_rfft(split, norm="forward")
    torch.testing.assert_close(polyphase_irfft(scaled, length, norm="forward"), split, rtol=1e-10, atol=1e-10)


@given(length=st.integers(1, 80), chunk=st.integers(1, 90), batch=st.integers(1, 2), parts=st.sampled_from([2, 4, 5]))
def test_chunked_forward_in_polyphase_parts_equals_one_pass(length, chunk, batch, parts):
    """Very long inputs run their FFTs in polyphase parts; here every FFT length divisible by ``parts`` does,
    with lengths and chunk sizes that are not multiples of it."""
    import dnaestim.nn._fast.fftconv as fftconv

    model = small_model().double()
    ids = torch.randint(7, 12, (batch, length), generator=torch.Generator().manual_seed(length))
    with torch.inference_mode():
        expected = model.backbone(ids)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fftconv, "POLYPHASE_PARTS", parts)
            patch.setattr(fftconv, "POLYPHASE_MIN_FFT_LENGTH", 1)
            actual = model.backbone(ids, chunk_size=chunk)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_chunked_forward_float32_and_inputs_embeds_left_untouched():
    model = small_model()
    ids = torch.randint(7, 12, (1, 80))
    with torch.inference_mode():
        embeds = model.backbone.embeddings(ids)
        kept = embeds.clone()
        expected = model.backbone(ids)
        actual = model.backbone(inputs_embeds=embeds, chunk_size=7)
    assert (actual - expected).abs().max() / expected.abs().max() < 1e-6
    assert torch.equal(embeds, kept)


def test_chunked_forward_refuses_training_and_bad_chunk_sizes():
    model = small_model()
    ids = torch.randint(7, 12, (1, 20))
    for bad in (0, -3, 2.5, True, "64"):
        with pytest.raises(ValueError, match="chunk_size must be an int >= 1"), torch.no_grad():
            model.backbone(ids, chunk_size=bad)
    with pytest.raises(RuntimeError, match="model.eval"):
        model.train().backbone(ids, chunk_size=8)
    model.eval()
    with pytest.raises(RuntimeError, match="inference"):
        model.backbone(inputs_embeds=model.backbone.embeddings(ids), chunk_size=8)


def test_auto_chunk_size_policy():
    from dnaestim.nn._fast import AUTO_CHUNK_SIZE, auto_chunk_size

    assert auto_chunk_size(2 * AUTO_CHUNK_SIZE, "cpu") is None
    assert auto_chunk_size(2 * AUTO_CHUNK_SIZE + 1, "cpu") == AUTO_CHUNK_SIZE
    assert auto_chunk_size(2**20, "mps", one_pass_bytes=1) == AUTO_CHUNK_SIZE
    # CUDA: one pass (fewer, larger kernels) unless its activations would take over half the free memory.
    assert auto_chunk_size(2**20, "cuda", one_pass_bytes=10 * 2**30, free_bytes=70 * 2**30) is None
    assert auto_chunk_size(2**20, "cuda", one_pass_bytes=10 * 2**30, free_bytes=16 * 2**30) == AUTO_CHUNK_SIZE


def test_auto_chunking_applies_to_long_inference_only(monkeypatch):
    calls = []
    real = _fast.chunked_forward
    monkeypatch.setattr(_fast, "chunked_forward", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    monkeypatch.setattr(_fast, "AUTO_CHUNK_SIZE", 8)
    model = small_model().double()
    ids = torch.randint(7, 12, (2, 40))
    with torch.inference_mode():
        one_pass = model.backbone(ids, chunk_size=None)
        short = model.backbone(ids[:, :16])  # not longer than 2 * 8: one pass
        auto = model.backbone(ids)
    assert calls == [8]
    torch.testing.assert_close(auto, one_pass, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(short, one_pass[:, :16], rtol=1e-10, atol=1e-10)
    model.backbone(ids).sum().backward()  # with gradients: always one pass
    model.train()
    with torch.no_grad():
        model.backbone(ids)  # training mode: one pass
    assert calls == [8]


# -- oneDNN dense layers at inference -----------------------------------------------------------------------------


@pytest.fixture
def onednn(monkeypatch):
    """The oneDNN path forced on, whatever this CPU's vector extensions (the CPU build of torch ships it)."""
    from dnaestim.nn._fast import onednn as fused

    assert fused.onednn_agrees()
    monkeypatch.setattr(fused, "onednn_available", lambda: True)
    return fused


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture only patches a function
@given(rows=st.integers(1, 40), fan_in=st.integers(1, 24), fan_out=st.integers(1, 24), bias=st.booleans(),
       strided=st.booleans(), seed=st.integers(0, 99))
def test_fused_linear_equals_plain(onednn, rows, fan_in, fan_out, bias, strided, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, rows, 2 * fan_in, generator=g)
    x = x[..., fan_in:] if strided else x[..., :fan_in].contiguous()
    weight = torch.randn(fan_out + 3, fan_in, generator=g)[1:fan_out + 1]  # a row slice, as project() passes
    b = torch.randn(fan_out, generator=g) if bias else None
    with torch.no_grad():
        assert onednn._onednn_dtype(x, weight) == torch.float32
        plain = torch.nn.functional.linear(x, weight, b)
        torch.testing.assert_close(onednn.linear(x, weight, b), plain, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(onednn.linear_gelu(x, weight, b),
                                   torch.nn.functional.gelu(plain, approximate="tanh"), rtol=1e-5, atol=1e-5)


def test_fused_linear_takes_onednn_only_where_nothing_needs_gradients(onednn, monkeypatch):
    x, weight = torch.randn(3, 8), torch.nn.Parameter(torch.randn(4, 8))
    monkeypatch.setattr(onednn, "onednn_bf16_available", lambda: False)
    with torch.no_grad():
        assert onednn._onednn_dtype(x, weight) == torch.float32
        assert onednn._onednn_dtype(x.double(), weight.double()) is None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert onednn._onednn_dtype(x, weight) is None
            assert onednn.linear(x, weight).dtype == torch.bfloat16
    assert onednn._onednn_dtype(x, weight) is None  # weight requires grad
    out = onednn.linear_gelu(x, weight)
    out.sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    monkeypatch.setattr(onednn, "onednn_available", lambda: False)
    with torch.no_grad():
        assert onednn._onednn_dtype(x, weight) is None
        assert torch.equal(onednn.linear(x, weight), torch.nn.functional.linear(x, weight))


@pytest.fixture
def onednn_bf16(onednn, monkeypatch):
    """The bfloat16 oneDNN path forced on (oneDNN emulates bfloat16 on CPUs without bfloat16 units)."""
    if not onednn.onednn_bf16_agrees():
        pytest.skip("this torch's oneDNN operator does not take bfloat16")
    monkeypatch.setattr(onednn, "onednn_bf16_available", lambda: True)
    return onednn


def test_bf16_autocast_inference_runs_dense_layers_through_onednn(onednn_bf16):
    onednn = onednn_bf16
    g = torch.Generator().manual_seed(0)
    x, weight, bias = torch.randn(2, 7, 16, generator=g), torch.randn(12, 16, generator=g), torch.randn(12, generator=g)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert onednn._onednn_dtype(x, weight) == torch.bfloat16
        out, out_gelu = onednn.linear(x, weight, bias), onednn.linear_gelu(x, weight, bias)
        plain = torch.nn.functional.linear(x, weight, bias)  # autocast: bfloat16 through MKL
    assert out.dtype == out_gelu.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), plain.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(out_gelu.float(), torch.nn.functional.gelu(plain.float(), approximate="tanh"),
                               rtol=2e-2, atol=2e-2)
    with torch.autocast("cpu", dtype=torch.float16), torch.no_grad():
        assert onednn._onednn_dtype(x, weight) is None  # only bfloat16 autocast takes it


@pytest.mark.parametrize("flags, expected", [((True, False), True), ((False, True), True), ((False, False), False)])
def test_cpu_has_bf16_reads_avx512_bf16_and_amx(monkeypatch, flags, expected):
    from dnaestim.nn._fast import onednn as fused

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: flags[0], raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: flags[1], raising=False)
    fused.cpu_has_bf16.cache_clear()
    try:
        assert fused.cpu_has_bf16() is expected
    finally:
        fused.cpu_has_bf16.cache_clear()


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_bf16_autocast_inference_stays_close_to_float32(chunk_size):
    """Under bfloat16 autocast the dense layers round to bfloat16; the filter, the short filter, the gates and the
    long convolution stay float32, so the hidden states stay within bfloat16 rounding of the float32 ones."""
    model = small_model()
    ids = torch.randint(7, 12, (2, 80), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.backbone(ids, chunk_size=None)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            actual = model.backbone(ids, chunk_size=chunk_size)
    error = (actual.float() - expected).abs().max() / expected.abs().max()
    assert 0 < error < 3e-2


def test_filter_taps_stay_float32_under_autocast():
    from dnaestim.nn import _fast

    model = small_model()
    operator = model.backbone.layers[0].mixer
    with torch.no_grad():
        expected = operator.filter_fn.filter(40)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            taps = _fast.filter_taps(operator.filter_fn, 40)
    assert taps.dtype == torch.float32
    assert torch.equal(taps, expected)


@pytest.mark.parametrize("capability, expected", [("AVX512", True), ("AVX2", False), ("DEFAULT", False)])
def test_onednn_is_used_on_avx512_cpus_only(monkeypatch, capability, expected):
    from dnaestim.nn._fast import onednn as fused

    monkeypatch.setattr(fused.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    fused.onednn_available.cache_clear()
    try:
        assert fused.onednn_available() is (expected and fused.onednn_agrees())
    finally:
        fused.onednn_available.cache_clear()


def test_inference_through_onednn_equals_plain_layers(onednn, monkeypatch):
    model = small_model()
    ids = torch.randint(7, 12, (2, 80), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast, fast_chunked = model(ids), model(ids, chunk_size=16)
        monkeypatch.setattr(onednn, "onednn_available", lambda: False)
        plain = model(ids)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_chunked, plain, rtol=1e-5, atol=1e-5)


# -- the fast-paths switch -----------------------------------------------------------------------------------------


def test_fast_paths_switch_context_manager_and_environment(monkeypatch):
    """``fast_paths(False)`` and ``DNAESTIM_FAST_PATHS=0`` run the reference code; the context manager wins."""
    from dnaestim.nn import fast_paths

    model = small_model().double()
    ids = torch.randint(7, 12, (2, 50), generator=torch.Generator().manual_seed(1))
    calls = []
    real = _fast.operator
    monkeypatch.setattr(_fast, "operator", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        fast = model(ids)
        assert len(calls) == model.config.n_layer
        fast_chunked = model(ids, chunk_size=8)
        with fast_paths(False):
            reference = model(ids, chunk_size=8)  # one pass: chunking is a fast path too
        monkeypatch.setenv("DNAESTIM_FAST_PATHS", "0")
        assert not _fast.enabled()
        from_environment = model(ids)
        with fast_paths(True):
            assert _fast.enabled()
    assert len(calls) == model.config.n_layer
    torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fast_chunked, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(from_environment, reference, rtol=0, atol=0)
    with pytest.raises(TypeError, match="True or False"):
        with fast_paths("no"):
            pass


def test_spectrum_cache_is_not_saved_for_backward_from_inference_mode():
    """A spectrum cached under inference_mode is not reused where a backward pass needs it (frozen filters)."""
    model = small_model()
    for p in model.parameters():
        p.requires_grad_(False)
    ids = torch.randint(7, 12, (1, 20))
    with torch.inference_mode():
        model(ids)
    embeds = model.backbone.embeddings(ids).requires_grad_(True)
    model.backbone(inputs_embeds=embeds).sum().backward()
    assert embeds.grad is not None


def test_spectrum_cache_drops_spectra_of_another_dtype_and_shares_them_with_autocast():
    model = small_model()
    ids = torch.randint(7, 12, (1, 30))
    filter_fn = model.backbone.layers[0].mixer.filter_fn
    with torch.inference_mode():
        model(ids)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(ids)  # the same entry: the filter runs in float32 under autocast too
        assert len(_fast._spectra[filter_fn]) == 1
        model(ids[:, :20])
        assert len(_fast._spectra[filter_fn]) == 2
        model.double()
        model(ids)
    assert len(_fast._spectra[filter_fn]) == 1


# -- precision="auto" ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("has_bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_precision_trains_in_bf16_on_cpus_with_bfloat16_units(monkeypatch, has_bf16, expected):
    import dnaestim._validation as validation

    monkeypatch.setattr(validation, "cpu_has_bf16", lambda: has_bf16)
    cpu = torch.device("cpu")
    assert validation.resolve_precision("auto", cpu) == (torch.float32, expected)
    assert validation.resolve_precision("auto", cpu, inference=True) == (torch.float32, None)
    assert validation.resolve_precision("32", cpu) == (torch.float32, None)
    for inference in (False, True):
        assert validation.resolve_precision("bf16", cpu, inference=inference) == (torch.float32, torch.bfloat16)


def test_auto_precision_on_such_cpus_fits_as_bf16_and_predicts_in_float32(monkeypatch):
    """precision="auto" on a CPU with bfloat16 units: training is that of precision="bf16" (same weights), while
    predictions (and the embedder, which only predicts) run in float32."""
    import dnaestim._validation as validation
    from dnaestim import HyenaEmbedder, HyenaPretrainer

    monkeypatch.setattr(validation, "cpu_has_bf16", lambda: True)
    X = ["ACGTTGCAAGGTCAGT" * 4, "TTGACATTGACCAGTA" * 4]
    options = dict(d_model=16, n_layer=1, max_length=32, max_steps=3, random_state=0)
    auto = HyenaPretrainer(**options).fit(X)
    bf16 = HyenaPretrainer(**options, precision="bf16").fit(X)
    fp32 = HyenaPretrainer(**options, precision="32").fit(X)
    assert auto.autocast_dtype_ == torch.bfloat16 and auto.inference_autocast_dtype_ is None
    for name, value in auto.model_.state_dict().items():
        torch.testing.assert_close(value, bf16.model_.state_dict()[name], rtol=0, atol=0)
    assert not torch.equal(auto.model_.backbone.ln_f.weight, fp32.model_.backbone.ln_f.weight)
    bf16.inference_autocast_dtype_ = None  # the same weights scored in float32
    np.testing.assert_array_equal(auto.log_likelihood(X), bf16.log_likelihood(X))
    embedder = dict(pretrained=None, d_model=16, n_layer=1, random_state=0)
    np.testing.assert_array_equal(HyenaEmbedder(**embedder).fit(X).transform(X),
                                  HyenaEmbedder(**embedder, precision="32").fit(X).transform(X))


def test_the_suite_runs_auto_precision_in_float32_on_every_cpu():
    from dnaestim._validation import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) == (torch.float32, None)  # pinned by conftest.py
