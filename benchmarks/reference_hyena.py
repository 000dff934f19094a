"""A plain transcription of the HyenaDNA backbone (../shared/SPEC.md), built the way the published code is.

This is the *baseline* of ``benchmarks/backbone.py``, not part of the package: activations are transposed to
(B, D, L) around the short filter, which is a depthwise ``nn.Conv1d`` with padding 2 (its extra outputs sliced
away); the implicit filter is evaluated afresh on every call; the long convolution uses an FFT of size ``2L`` and
divides the filter spectrum by it; every elementwise step is a separate PyTorch op. Module and parameter names
equal dnaestim's, so ``load_state_dict(dnaestim_backbone.state_dict())`` gives the same function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Sin(nn.Module):
    def __init__(self, dim, w):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class PositionalEmbedding(nn.Module):
    def __init__(self, emb_dim, l_max):
        super().__init__()
        t = torch.linspace(0, 1, l_max)[None, :, None]
        bands = (emb_dim - 1) // 2
        t_rescaled = torch.linspace(0, l_max - 1, l_max)[None, :, None]
        w = 2 * math.pi * t_rescaled / l_max
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * f * w)
        z = torch.cat([t, z.real, z.imag], dim=-1)
        self.register_buffer("z", z)
        self.register_buffer("t", t)

    def forward(self, length):
        return self.z[:, :length], self.t[:, :length]


class ExponentialModulation(nn.Module):
    def __init__(self, d_model, shift=0.05, fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2, modulate=True):
        super().__init__()
        self.shift, self.modulate = shift, modulate
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])

    def forward(self, t, x):
        if self.modulate:
            decay = torch.exp(-t * self.deltas.abs())
            x = x * (decay + self.shift)
        return x


def fftconv(u, k, bias):
    """Causal convolution through FFTs of size 2L, as published: u (B, D, L), k (D, L), bias (D,)."""
    seqlen = u.shape[-1]
    fft_size = 2 * seqlen
    k_f = torch.fft.rfft(k, n=fft_size) / fft_size
    u_f = torch.fft.rfft(u.to(dtype=k.dtype), n=fft_size)
    y = torch.fft.irfft(u_f * k_f, n=fft_size, norm="forward")[..., :seqlen]
    out = y + u * bias.unsqueeze(-1)
    return out.to(dtype=u.dtype)


class HyenaFilter(nn.Module):
    def __init__(self, d_model, emb_dim, order, l_max, w, shift, modulate):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(d_model))
        self.pos_emb = PositionalEmbedding(emb_dim, l_max)
        act = Sin(order, w)
        self.implicit_filter = nn.Sequential(
            nn.Linear(emb_dim, order), act, nn.Linear(order, order), act, nn.Linear(order, order), act,
            nn.Linear(order, d_model, bias=False),
        )
        self.modulation = ExponentialModulation(d_model, shift=shift, modulate=modulate)

    def filter(self, length):
        z, t = self.pos_emb(length)
        h = self.implicit_filter(z)
        return self.modulation(t, h)

    def forward(self, x, length, k, bias):
        return fftconv(x, k, bias)


class HyenaOperator(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.d_model, self.l_max = d, config.l_max
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.short_filter = nn.Conv1d(3 * d, 3 * d, kernel_size=3, groups=3 * d, padding=2)
        self.filter_fn = HyenaFilter(d, config.emb_dim, config.filter_order, config.l_max, config.w,
                                     config.modulation_shift, config.modulate)

    def forward(self, u):
        length = min(u.size(-2), self.l_max)
        u = self.in_proj(u).transpose(1, 2)  # (B, 3D, L)
        uc = self.short_filter(u)[..., :length]
        x0, x1, v = uc.split(self.d_model, dim=1)
        k = self.filter_fn.filter(length)[0].transpose(0, 1)  # (D, L)
        v = v * x1
        v = self.filter_fn(v, length, k=k, bias=self.filter_fn.bias)
        y = (v * x0).transpose(1, 2)
        return self.out_proj(y)


class Mlp(nn.Module):
    def __init__(self, d_model, d_inner):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_inner)
        self.fc2 = nn.Linear(d_inner, d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.mixer = HyenaOperator(config)
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mlp = Mlp(config.d_model, config.d_inner)

    def forward(self, h, residual=None):
        residual = h if residual is None else h + residual
        h = self.mixer(self.norm1(residual))
        residual = h + residual
        h = self.mlp(self.norm2(residual))
        return h, residual


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.padded_vocab_size, config.d_model)

    def forward(self, ids):
        return self.word_embeddings(ids)


class ReferenceBackbone(nn.Module):
    """The backbone of SPEC.md in the published code's style; eval-mode only (no dropout)."""

    def __init__(self, config):
        super().__init__()
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)

    def forward(self, ids):
        h, residual = self.embeddings(ids), None
        for layer in self.layers:
            h, residual = layer(h, residual)
        return self.ln_f(h + residual)


class ReferenceLM(nn.Module):
    """Backbone plus the LM head tied to the embedding; ``forward`` returns next-token logits."""

    def __init__(self, config):
        super().__init__()
        self.backbone = ReferenceBackbone(config)

    def forward(self, ids):
        return self.backbone(ids) @ self.backbone.embeddings.word_embeddings.weight.T
