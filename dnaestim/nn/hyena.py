"""The HyenaDNA model: implicit long filter, Hyena operator, block, backbone and language model.

Read top to bottom, this file follows the model description (SPEC): the implicit filter's positional encoding,
its sine MLP and exponential window; the order-2 Hyena operator; the pre-norm residual block; the backbone and
the language model on top. Module and parameter names are those of the published checkpoints, so their weights
load without renaming. The code here is the reference: with fast paths on (the default), ``HyenaOperator.forward``,
``Mlp.forward`` and long inputs of ``HyenaBackbone.forward`` hand over to ``dnaestim.nn._fast``, which computes
the same function faster (its docstring lists the rules).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import _fast
from ._checks import check_input_ids, check_inputs_embeds
from .config import HyenaConfig
from .options import filter_parameters

__all__ = ["HyenaLM", "HyenaBackbone", "HyenaBlock", "HyenaOperator", "HyenaFilter", "initialize_weights"]


# ---------------------------------------------------------------------------------------------------------------
# Implicit long filter: k = MLP(z[:l]) * (exp(-t |deltas|) + shift)
# ---------------------------------------------------------------------------------------------------------------


class PositionalEmbedding(nn.Module):
    """Time and ``(E - 1) // 2`` complex-exponential bands on the ``l_max``-point grid: ``z`` (1, l_max, E)."""

    def __init__(self, emb_dim: int, l_max: int, trainable: bool = False):
        super().__init__()
        t = torch.linspace(0, 1, l_max)[None, :, None]  # (1, l_max, 1)
        bands = (emb_dim - 1) // 2
        w = 2 * math.pi * torch.linspace(0, l_max - 1, l_max)[None, :, None] / l_max
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]  # (1, 1, bands)
        z = torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], dim=-1)  # (1, l_max, E)
        if trainable:
            self.z = nn.Parameter(z)
        else:
            self.register_buffer("z", z)
        self.register_buffer("t", t)

    def forward(self, length: int):
        return self.z[:, :length], self.t[:, :length]


class Sin(nn.Module):
    """``sin(freq * x)`` with a learnable frequency per feature."""

    def __init__(self, dim: int, w: float):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class ExponentialModulation(nn.Module):
    """Decaying window ``exp(-t |deltas|) + shift``, one decay rate per channel."""

    def __init__(self, d_model: int, modulate: bool = True, shift: float = 0.05,
                 fast_decay_pct: float = 0.3, slow_decay_pct: float = 1.5, target: float = 1e-2):
        super().__init__()
        self.modulate = modulate
        self.shift = shift
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])  # (1, 1, D)

    def forward(self, t, h):
        """Window ``h`` (..., l, D) at times ``t`` (..., l, 1)."""
        if not self.modulate:
            return h
        return h * (torch.exp(-t * self.deltas.abs()) + self.shift)


class HyenaFilter(nn.Module):
    """Implicit long filter and skip weight of one Hyena operator (published name ``filter_fn``).

    ``filter(l)`` evaluates the filter on the first ``l`` points of the ``l_max`` grid; ``bias`` is the
    operator's per-channel skip weight (the published ``D``).
    """

    def __init__(self, config: HyenaConfig):
        super().__init__()
        d, h = config.d_model, config.filter_order
        self.l_max = config.l_max
        self.bias = nn.Parameter(torch.randn(d))
        self.pos_emb = PositionalEmbedding(config.emb_dim, config.l_max, trainable=config.lr_pos_emb > 0)
        sin = Sin(h, config.w)  # one frequency vector shared by all three activations, as published
        self.implicit_filter = nn.Sequential(
            nn.Linear(config.emb_dim, h), sin,
            nn.Linear(h, h), sin,
            nn.Linear(h, h), sin,
            nn.Linear(h, d, bias=False),
        )
        self.modulation = ExponentialModulation(d, modulate=config.modulate, shift=config.modulation_shift)

    def filter(self, length: int) -> torch.Tensor:
        """Filter taps for a sequence of ``length`` tokens, shape (length, D)."""
        z, t = self.pos_emb(length)
        h = self.implicit_filter(z)  # (1, l, D)
        return self.modulation(t, h)[0]  # (l, D)


def short_causal_conv(z, conv: nn.Conv1d):
    """The depthwise causal short filter on ``z`` (B, L, C): ``w2*z[t] + w1*z[t-1] + w0*z[t-2] + b``."""
    y = F.conv1d(z.transpose(1, 2), conv.weight.to(z.dtype), conv.bias.to(z.dtype), padding=2, groups=z.shape[-1])
    return y[..., :z.shape[1]].transpose(1, 2)  # (B, L, C)


def long_causal_conv(u, k, bias):
    """``y[t] = sum_{s<=t} k[s] u[t-s] + bias * u[t]`` per channel, through FFTs of length 2L as published.

    ``u`` (B, L, D), taps ``k`` (L, D), ``bias`` (D,); computed and returned in float32 (float64 stays float64),
    also under autocast.
    """
    length = u.shape[1]
    n_fft = 2 * length
    dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=u.device.type, enabled=False):
        u = u.to(dtype)
        k_f = torch.fft.rfft(k.to(dtype), n=n_fft, dim=0) / n_fft  # (n_fft // 2 + 1, D)
        u_f = torch.fft.rfft(u, n=n_fft, dim=1)  # (B, n_fft // 2 + 1, D)
        y = torch.fft.irfft(u_f * k_f, n=n_fft, dim=1, norm="forward")[:, :length]
        return y + u * bias.to(dtype)


# ---------------------------------------------------------------------------------------------------------------
# Hyena operator (order 2)
# ---------------------------------------------------------------------------------------------------------------


class HyenaOperator(nn.Module):
    """Order-2 Hyena operator (published name ``mixer``).

    ``x0, x1, v = short_filter(in_proj(u))``; ``y = out_proj(x0 * (k * (x1 * v) + bias * x1 * v))`` with ``*`` a
    causal long convolution for ``k``; the depthwise short filter has kernel 3.
    """

    def __init__(self, config: HyenaConfig):
        super().__init__()
        d = config.d_model
        self.d_model = d
        self.l_max = config.l_max
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.short_filter = nn.Conv1d(3 * d, 3 * d, kernel_size=3, groups=3 * d, padding=2)
        self.filter_fn = HyenaFilter(config)

    def forward(self, u):
        length = u.shape[1]
        if length > self.l_max:
            raise ValueError(f"Input of {length} tokens is longer than this model's l_max={self.l_max}.")
        if _fast.enabled():
            return _fast.operator(self, u)
        x0, x1, v = short_causal_conv(self.in_proj(u), self.short_filter).split(self.d_model, dim=-1)
        y = long_causal_conv(v * x1, self.filter_fn.filter(length), self.filter_fn.bias)  # float32 or float64
        return self.out_proj((y * x0).to(u.dtype))


# ---------------------------------------------------------------------------------------------------------------
# Block and backbone
# ---------------------------------------------------------------------------------------------------------------


class Mlp(nn.Module):
    """``fc2(gelu_tanh(fc1(x)))``."""

    def __init__(self, d_model: int, d_inner: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_inner)
        self.fc2 = nn.Linear(d_inner, d_model)

    def forward(self, x):
        if _fast.enabled():
            return _fast.mlp(self, x)
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def _at_least_fp32(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class HyenaBlock(nn.Module):
    """Pre-norm residual block in "dropout-add-norm" form: a Hyena operator, then an MLP.

    ``forward(h, residual)`` returns the new ``(h, residual)``; the residual stream is kept in at least float32
    when ``residual_in_fp32``.
    """

    def __init__(self, config: HyenaConfig, layer_idx: int):
        super().__init__()
        self.residual_in_fp32 = config.residual_in_fp32
        self.checkpoint_mixer = config.checkpoint_mixer
        self.checkpoint_mlp = config.checkpoint_mlp
        self.dropout1 = nn.Dropout(config.embed_dropout if layer_idx == 0 else config.resid_dropout)
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mixer = HyenaOperator(config)
        self.dropout2 = nn.Dropout(config.resid_dropout)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mlp = Mlp(config.d_model, config.d_inner)

    def _residual(self, x):
        return _at_least_fp32(x) if self.residual_in_fp32 else x

    def _run(self, module, x, use_checkpoint):
        if use_checkpoint and self.training and torch.is_grad_enabled():
            # The recomputation in the backward pass must take the same paths as this forward pass.
            return checkpoint(_fast.with_fast_paths, _fast.enabled(), module, x, use_reentrant=False)
        return module(x)

    def forward(self, h, residual=None):
        dropped = self.dropout1(h)
        residual = self._residual(dropped if residual is None else dropped + residual)
        h = self._run(self.mixer, self.norm1(residual.to(self.norm1.weight.dtype)), self.checkpoint_mixer)
        residual = self._residual(self.dropout2(h) + residual)
        h = self._run(self.mlp, self.norm2(residual.to(self.norm2.weight.dtype)), self.checkpoint_mlp)
        return h, residual


class Embeddings(nn.Module):
    """Token embedding table (published name ``embeddings.word_embeddings``), no positional embedding."""

    def __init__(self, config: HyenaConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.padded_vocab_size, config.d_model)

    def forward(self, input_ids):
        return self.word_embeddings(input_ids)


class HyenaBackbone(nn.Module):
    """Embedding, ``n_layer`` Hyena blocks and a final LayerNorm.

    ``forward(input_ids)`` returns the hidden states after the final LayerNorm, shape (B, L, D).
    """

    def __init__(self, config: HyenaConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(HyenaBlock(config, i) for i in range(config.n_layer))
        self.drop_f = nn.Dropout(config.resid_dropout)
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)

    def forward(self, input_ids=None, *, inputs_embeds=None, chunk_size="auto"):
        """Hidden states after the final LayerNorm.

        Parameters
        ----------
        input_ids : LongTensor of shape (B, L), optional
            Token ids.
        inputs_embeds : Tensor of shape (B, L, D), optional
            Embeddings to use instead of looking up ``input_ids`` (for soft prompts).
        chunk_size : int, "auto" or None, default="auto"
            Inference only (eval mode, no gradients): evaluate inputs longer than ``chunk_size`` tokens a chunk
            of positions and a few channels at a time. Memory becomes about two (B, L, D) float32 buffers instead
            of a dozen (1M tokens on a laptop), and on the CPU long inputs run faster; the result equals the
            one-pass output up to float rounding. ``"auto"``: chunks of 4096 for inputs longer than 8192 on the
            CPU, and on CUDA only when one pass would not fit in half the free memory. None: one pass. The rules
            are those of ``dnaestim.nn._fast``; with fast paths off every input runs in one pass.

        Returns
        -------
        Tensor of shape (B, L, D)
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds.")
        if inputs_embeds is None:
            h = self.embeddings(check_input_ids(input_ids, self.config))  # (B, L, D)
        else:
            h = check_inputs_embeds(inputs_embeds, self.config)
        chunk = _fast.chunk_size(self, h, chunk_size)
        if chunk is not None:
            return _fast.chunked_forward(self, h, chunk, copy=inputs_embeds is not None)
        residual = None
        for layer in self.layers:
            h, residual = layer(h, residual)
        residual = self.drop_f(h) + residual
        return self.ln_f(residual.to(self.ln_f.weight.dtype))  # (B, L, D)


# ---------------------------------------------------------------------------------------------------------------
# Language model
# ---------------------------------------------------------------------------------------------------------------


class HyenaLM(nn.Module):
    """HyenaDNA language model: backbone plus a next-token head.

    Parameters
    ----------
    config : HyenaConfig
        Architecture. With ``config.tie_word_embeddings`` the head is the embedding matrix; otherwise the model
        has its own ``lm_head`` (as the Hugging Face port's checkpoints do).

    Attributes
    ----------
    backbone : HyenaBackbone
        ``model.backbone(input_ids)`` gives the (B, L, D) hidden states after the final LayerNorm.
    lm_head : torch.nn.Linear or None
        Separate output layer, or None when tied to the embedding.

    Examples
    --------
    >>> import torch
    >>> model = HyenaLM(HyenaConfig(d_model=32, n_layer=2, l_max=64)).eval()
    >>> ids = torch.tensor([[7, 8, 9, 10]])
    >>> model.backbone(ids).shape, model(ids).shape
    (torch.Size([1, 4, 32]), torch.Size([1, 4, 16]))
    """

    def __init__(self, config: HyenaConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.backbone = HyenaBackbone(config)
        self.lm_head = None
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.reset_parameters(generator=generator)

    @property
    def output_weight(self) -> torch.Tensor:
        """The (padded_vocab, D) matrix that maps hidden states to logits."""
        head = self.backbone.embeddings.word_embeddings if self.lm_head is None else self.lm_head
        return head.weight

    def forward(self, input_ids=None, *, inputs_embeds=None, chunk_size="auto"):
        """Next-token logits, shape (B, L, padded_vocab_size); arguments as :meth:`HyenaBackbone.forward`."""
        hidden = self.backbone(input_ids, inputs_embeds=inputs_embeds, chunk_size=chunk_size)  # (B, L, D)
        return hidden @ self.output_weight.T.to(hidden.dtype)  # (B, L, V)

    def generate(self, prompts, max_new_tokens, **sampling):
        """Continue DNA prompts over A, C, G and T; see :func:`dnaestim.nn.generation.generate`.

        Keywords: ``temperature``, ``top_k``, ``top_p``, ``random_state``, ``tokenizer``.
        """
        from .generation import generate

        return generate(self, prompts, max_new_tokens, **sampling)

    def filter_parameters(self):
        """Parameters of the implicit long filters (see :func:`dnaestim.nn.options.filter_parameters`)."""
        return filter_parameters(self.backbone)

    def reset_parameters(self, generator: torch.Generator | None = None):
        """Initialise weights as published; see :func:`initialize_weights`.

        Parameters
        ----------
        generator : torch.Generator, optional
            Source of randomness; the global generator when not given.
        """
        initialize_weights(self, self.config, generator)


@torch.no_grad()
def initialize_weights(module: nn.Module, config: HyenaConfig, generator: torch.Generator | None = None):
    """Initialise every submodule of ``module`` as published.

    Linear and embedding weights ~ N(0, 0.02), biases 0; ``out_proj`` and ``fc2`` weights ~
    N(0, 0.02 / sqrt(2 n_layer)); the filters' skip ``bias`` ~ N(0, 1); LayerNorms 1 and 0; sine frequencies ``w``;
    the short filters PyTorch's default initialisation.

    Parameters
    ----------
    module : torch.nn.Module
        A model containing Hyena blocks (and possibly heads, initialised by the same rules).
    config : HyenaConfig
        Supplies ``n_layer`` and ``w``.
    generator : torch.Generator, optional
        Source of randomness; the global generator when not given.
    """
    std = 0.02
    residual_std = std / math.sqrt(2 * config.n_layer)
    for name, sub in module.named_modules():
        if isinstance(sub, nn.Linear):
            sub.weight.normal_(0.0, residual_std if name.endswith(("out_proj", "fc2")) else std, generator=generator)
            if sub.bias is not None:
                sub.bias.zero_()
        elif isinstance(sub, nn.Embedding):
            sub.weight.normal_(0.0, std, generator=generator)
        elif isinstance(sub, nn.LayerNorm):
            sub.weight.fill_(1.0)
            sub.bias.zero_()
        elif isinstance(sub, nn.Conv1d):
            _reset_conv(sub, generator)
        elif isinstance(sub, HyenaFilter):
            sub.bias.normal_(0.0, 1.0, generator=generator)
        elif isinstance(sub, Sin):
            sub.freq.fill_(config.w)


def _reset_conv(conv: nn.Conv1d, generator):
    """PyTorch's default Conv1d initialisation (kaiming-uniform weight, uniform bias), drawn from ``generator``."""
    fan_in = conv.weight.shape[1] * conv.weight.shape[2]
    bound = 1.0 / math.sqrt(fan_in)
    conv.weight.uniform_(-bound, bound, generator=generator)
    if conv.bias is not None:
        conv.bias.uniform_(-bound, bound, generator=generator)
