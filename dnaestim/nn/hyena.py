"""The HyenaDNA model: implicit long filter, Hyena operator, block, backbone and language model.

Read top to bottom, this file follows the model description (SPEC): the implicit filter's positional encoding,
its sine MLP and exponential window; the order-2 Hyena operator; the pre-norm residual block; the backbone and
the language model on top. Activations stay in (B, L, D) layout throughout; module and parameter names are
those of the published checkpoints, so their weights load without renaming.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .chunked import chunked_forward
from .config import HyenaConfig
from .fftconv import compute_dtype, fft_causal_conv, fft_length, filter_spectrum, polyphase_parts, polyphase_rfft
from .fused import linear, linear_gelu

__all__ = ["HyenaLM", "HyenaBackbone", "HyenaBlock", "HyenaOperator", "HyenaFilter", "initialize_weights"]

#: Chunk size of ``chunk_size="auto"`` (inputs longer than twice this are evaluated in chunks at inference).
AUTO_CHUNK_SIZE = 4096
_SPECTRUM_CACHE_ENTRIES = 4
_SPECTRUM_CACHE_MAX_BYTES = 256 * 2**20
#: Channels whose filter taps one matrix product computes when the spectrum is built group by group.
_TAPS_BLOCK_CHANNELS = 32
#: Positions per block when the filter MLP runs over a long grid: its intermediates then stay in cache (3x faster
#: at 1M positions than one pass).
_FILTER_BLOCK_POSITIONS = 4096


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

    def forward(self, t, h, channels: slice = slice(None)):
        """Window ``h`` (..., l, C) at times ``t`` (..., l, 1); ``channels`` selects C of the D decay rates."""
        if not self.modulate:
            return h
        return h * (torch.exp(-t * self.deltas[..., channels].abs()) + self.shift)

    def window_channels_first(self, t, channels: slice, out):
        """Write the window of ``channels`` at times ``t`` (any shape) into ``out`` (C, *t.shape) and return it.

        The same values as :meth:`forward` uses; with ``modulate=False`` the window is 1.
        """
        if not self.modulate:
            return out.fill_(1.0)
        torch.mul(t, -self.deltas[0, 0, channels].abs().view(-1, *[1] * t.ndim), out=out)
        return out.exp_().add_(self.shift)


class HyenaFilter(nn.Module):
    """Implicit long filter and skip weight of one Hyena operator (published name ``filter_fn``).

    ``filter(l)`` evaluates the filter on the first ``l`` points of the ``l_max`` grid. ``spectrum(l)`` returns
    its FFT, cached per length when no filter parameter needs a gradient (inference, frozen backbones); the
    cache notices any in-place change of the weights (an optimiser step, ``load_state_dict``).
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
        self._spectra: OrderedDict = OrderedDict()

    def filter(self, length: int) -> torch.Tensor:
        """Filter taps for a sequence of ``length`` tokens, shape (length, D)."""
        z, t = self.pos_emb(length)
        h = self.implicit_filter(z)  # (1, l, D)
        return self.modulation(t, h)[0]  # (l, D)

    def _weights_version(self):
        tensors = self._tensors()
        if any(t.is_inference() for t in tensors):
            return None  # built under inference_mode: no version counter, so nothing is cached
        return tuple((t.data_ptr(), t._version) for t in tensors)

    def _tensors(self):
        return [*self.parameters(), *self.buffers()]

    def spectrum(self, length: int, dtype: torch.dtype) -> torch.Tensor:
        """Filter spectrum for ``length`` tokens (``1/n_fft`` folded in), shape (D, n_fft // 2 + 1)."""
        n_fft = fft_length(length)
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        if needs_grad:
            return filter_spectrum(self.filter(length), n_fft)
        version = self._weights_version()
        if version is None:
            with torch.no_grad():
                return filter_spectrum(self.filter(length), n_fft)
        key = (length, dtype, self.bias.device, version)
        cached = self._spectra.get(key)
        if cached is not None:
            self._spectra.move_to_end(key)
            return cached
        with torch.no_grad():
            k_f = filter_spectrum(self.filter(length), n_fft)
        if k_f.numel() * k_f.element_size() <= _SPECTRUM_CACHE_MAX_BYTES:
            self._spectra[key] = k_f
            while len(self._spectra) > _SPECTRUM_CACHE_ENTRIES:
                self._spectra.popitem(last=False)
        return k_f

    def channel_spectra(self, length: int, dtype: torch.dtype, group: int):
        """Spectra of the filter for ``length`` tokens, ``group`` channels at a time, without gradients.

        Yields ``(channels, k_f)`` with ``channels`` a slice of 0..D and ``k_f`` of shape (C, R, M // 2 + 1): the
        :func:`~dnaestim.nn.fftconv.polyphase_rfft` of the taps in R = ``polyphase_parts(n_fft)`` parts of M =
        ``n_fft / R`` points (R = 1: the plain spectrum), with ``1 / n_fft`` folded in. When R = 1 and the whole
        spectrum is small enough to cache it is sliced; otherwise each group's taps are computed from the filter
        MLP's last hidden layer, so that no (length, D) tensor is ever held (1M tokens, chunked inference).
        """
        n_fft = fft_length(length)
        parts = polyphase_parts(n_fft)
        d = self.bias.shape[0]
        groups = [slice(start, min(start + group, d)) for start in range(0, d, group)]
        if parts == 1 and (n_fft // 2 + 1) * d * 2 * compute_dtype(dtype).itemsize <= _SPECTRUM_CACHE_MAX_BYTES:
            k_f = self.spectrum(length, dtype)
            for channels in groups:
                yield channels, k_f[channels, None]
            return
        with torch.no_grad():
            # Positions in polyphase order (p = r + R m as (R, L / R)); past the end, the last position's inputs,
            # whose taps are then zeroed.
            columns = -(-length // parts)
            positions = torch.arange(parts * columns, device=self.bias.device).view(columns, parts).T
            z, t = self.pos_emb(length)
            hidden = self._hidden_channels_first(z[:, positions.clamp(max=length - 1).flatten()])
            hidden = hidden.to(compute_dtype(dtype)).view(-1, parts, columns)  # (H, R, L / R)
            hidden[:, positions >= length] = 0
            t = t[0, positions.clamp(max=length - 1), 0].to(hidden.dtype)  # (R, L / R)
            weight = self.implicit_filter[-1].weight.to(hidden.dtype)  # (D, H)
            # Taps for several groups per matrix product (one with a handful of output rows runs far below the
            # machine's speed), into buffers reused by every block and group: fresh buffers of this size would be
            # page-faulted in again on every allocation.
            block = group * -(-_TAPS_BLOCK_CHANNELS // group)
            taps = hidden.new_empty(min(block, d), parts, columns)
            window = hidden.new_empty(min(group, d), parts, columns)
            padded = hidden.new_zeros(min(group, d), parts, n_fft // parts)  # the tail past L / R stays zero
            for first in range(0, d, block):
                rows = slice(first, min(first + block, d))
                torch.mm(weight[rows], hidden.view(hidden.shape[0], -1), out=taps[:rows.stop - first].view(
                    rows.stop - first, -1))  # (C, R, L / R)
                for channels in groups[first // group:(rows.stop + group - 1) // group]:
                    width = channels.stop - channels.start
                    self.modulation.window_channels_first(t, channels, window[:width])
                    torch.mul(taps[channels.start - first:channels.stop - first], window[:width],
                              out=padded[:width, :, :columns])
                    yield channels, polyphase_rfft(padded[:width], norm="forward")

    def _hidden_channels_first(self, z):
        """The filter MLP's last hidden layer on positions ``z`` (1, l, E), as (H, l), in cache-sized blocks."""
        net = self.implicit_filter[:-1]
        length = z.shape[1]
        hidden = z.new_empty(self.implicit_filter[-1].in_features, length)
        for start in range(0, length, _FILTER_BLOCK_POSITIONS):
            stop = min(start + _FILTER_BLOCK_POSITIONS, length)
            hidden[:, start:stop] = net(z[:, start:stop])[0].T
        return hidden

    def clear_cache(self):
        """Drop the cached filter spectra."""
        self._spectra.clear()

    def _apply(self, fn, *args, **kwargs):
        self.clear_cache()  # device or dtype moves invalidate every cached spectrum
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_spectra"] = OrderedDict()
        return state


class ShortCausalConv(torch.autograd.Function):
    """Depthwise causal convolution with kernel 3 in (B, L, C) layout, as shifted multiply-adds.

    Equal to the published ``Conv1d(C, C, 3, groups=C, padding=2)`` keeping the first L outputs, without the
    transposes and padding copies; the backward pass is written out so that it needs no slicing graph either.
    """

    @staticmethod
    def forward(ctx, z, weight, bias):  # z (B, L, C), weight (C, 3), bias (C,)
        ctx.save_for_backward(z, weight)
        out = torch.addcmul(bias, z, weight[:, 2])
        out[:, 1:].addcmul_(z[:, :-1], weight[:, 1])
        out[:, 2:].addcmul_(z[:, :-2], weight[:, 0])
        return out

    @staticmethod
    def backward(ctx, grad):
        z, weight = ctx.saved_tensors
        grad_z = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_z = grad * weight[:, 2]
            grad_z[:, :-1].addcmul_(grad[:, 1:], weight[:, 1])
            grad_z[:, :-2].addcmul_(grad[:, 2:], weight[:, 0])
        if ctx.needs_input_grad[1]:
            grad_weight = torch.stack([
                (grad[:, 2:] * z[:, :-2]).sum((0, 1)),
                (grad[:, 1:] * z[:, :-1]).sum((0, 1)),
                (grad * z).sum((0, 1)),
            ], dim=1)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 1))
        return grad_z, grad_weight, grad_bias


# ---------------------------------------------------------------------------------------------------------------
# Hyena operator (order 2)
# ---------------------------------------------------------------------------------------------------------------


class HyenaOperator(nn.Module):
    """Order-2 Hyena operator (published name ``mixer``).

    ``x0, x1, v = short_filter(in_proj(u))``; ``y = out_proj(x0 * (k * (x1 * v) + bias * x1 * v))`` with ``*`` a
    causal long convolution for ``k``. The depthwise short filter (kernel 3) is evaluated as shifted
    multiply-adds in (B, L, D) layout; its weights keep the published ``Conv1d`` shape.
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

    def project(self, u, channels: slice = slice(None)):
        """``short_filter(in_proj(u))``, optionally only for some of its 3D output ``channels``.

        The short filter is a causal depthwise convolution with kernel 3: ``w2*z[t] + w1*z[t-1] + w0*z[t-2] + b``.
        """
        z = linear(u, self.in_proj.weight[channels], self.in_proj.bias[channels])
        weight = self.short_filter.weight[channels, 0, :].to(z.dtype)  # (C, 3)
        return ShortCausalConv.apply(z, weight, self.short_filter.bias[channels].to(z.dtype))  # (B, L, C)

    def forward(self, u):
        length = u.shape[1]
        if length > self.l_max:
            raise ValueError(f"Input of {length} tokens is longer than this model's l_max={self.l_max}.")
        # One projection of 3D channels and one short filter, then views: fewest kernels (what a GPU wants); on
        # the CPU this is as fast as three contiguous projections for training. Long inputs at inference take
        # the chunked path, which projects each third separately.
        x0, x1, v = self.project(u).split(self.d_model, dim=-1)  # (B, L, D) each
        k_f = self.filter_fn.spectrum(length, u.dtype)
        v = fft_causal_conv(v * x1, k_f, self.filter_fn.bias)  # (B, L, D), float32 or float64
        return linear((v * x0).to(u.dtype), self.out_proj.weight, self.out_proj.bias)


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
        hidden = linear_gelu(x, self.fc1.weight, self.fc1.bias)  # fused on the CPU at inference (see .fused)
        return linear(hidden, self.fc2.weight, self.fc2.bias)


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
            return checkpoint(module, x, use_reentrant=False)
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


def auto_chunk_size(length, device_type, one_pass_bytes=0, free_bytes=None):
    """The chunk size ``chunk_size="auto"`` picks for an inference pass over ``length`` tokens.

    Parameters
    ----------
    length : int
        Tokens per sequence.
    device_type : str
        ``"cpu"``, ``"cuda"``, ...
    one_pass_bytes : int, default=0
        Estimated peak memory of the one-pass forward.
    free_bytes : int or None, default=None
        Free memory of the CUDA device (ignored elsewhere).

    Returns
    -------
    int or None
        ``AUTO_CHUNK_SIZE`` or None (one pass). Inputs up to ``2 * AUTO_CHUNK_SIZE`` always run in one pass;
        longer ones are chunked on the CPU (and other non-CUDA devices), and on CUDA only when the one pass would
        take more than half the free memory: there many small kernels cost more than they save.
    """
    if length <= 2 * AUTO_CHUNK_SIZE:
        return None
    if device_type != "cuda":
        return AUTO_CHUNK_SIZE
    return AUTO_CHUNK_SIZE if one_pass_bytes > free_bytes // 2 else None


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
            Evaluate the position-wise parts ``chunk_size`` positions at a time and the long convolution a few
            channels at a time (:mod:`dnaestim.nn.chunked`): memory becomes about two (B, L, D) float32 buffers
            instead of a dozen, which is what lets 1M tokens run on a laptop; on the CPU it is also faster for
            long inputs (small buffers are reused instead of fresh full-length ones), on a GPU it is slower (many
            small kernels). Inference only (eval mode, no gradients); the result equals the one-pass output up to
            float rounding. ``"auto"``, for inputs longer than ``2 * AUTO_CHUNK_SIZE`` evaluated without
            gradients in eval mode: chunks of ``AUTO_CHUNK_SIZE`` (4096) on the CPU, and on a CUDA device only
            when the one-pass activations would not fit in half its free memory; everything else runs in one
            pass. None always runs in one pass.

        Returns
        -------
        Tensor of shape (B, L, D)
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds.")
        if inputs_embeds is None:
            input_ids = _check_input_ids(input_ids, self.config)
            h = self.embeddings(input_ids)  # (B, L, D)
        else:
            h = inputs_embeds
            if h.ndim != 3 or h.shape[-1] != self.config.d_model:
                raise ValueError(f"inputs_embeds must have shape (B, L, {self.config.d_model}); got {tuple(h.shape)}.")
            if h.shape[1] > self.config.l_max:
                raise ValueError(
                    f"Input of {h.shape[1]} tokens is longer than this model's l_max={self.config.l_max}."
                )
        if isinstance(chunk_size, str) and chunk_size == "auto":
            chunk_size = self._auto_chunk_size(h)
        if chunk_size is not None:
            return self._chunked(h, chunk_size, copy=inputs_embeds is not None)
        residual = None
        for layer in self.layers:
            h, residual = layer(h, residual)
        residual = self.drop_f(h) + residual
        return self.ln_f(residual.to(self.ln_f.weight.dtype))  # (B, L, D)


    def _auto_chunk_size(self, h):
        inference = not self.training and not (torch.is_grad_enabled() and h.requires_grad)
        if not inference:
            return None
        batch, length, width = h.shape
        # Rough peak of one pass: a dozen-odd (B, L, D) float32 intermediates plus the MLP's two (B, L, d_inner).
        one_pass_bytes = 4 * batch * length * (16 * width + 2 * self.config.d_inner)
        free_bytes = torch.cuda.mem_get_info(h.device)[0] if h.device.type == "cuda" else None
        return auto_chunk_size(length, h.device.type, one_pass_bytes, free_bytes)

    def _chunked(self, h, chunk_size, copy):
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int, 'auto' or None; got {chunk_size!r}.")
        if self.training or (torch.is_grad_enabled() and h.requires_grad):
            raise RuntimeError(
                "chunk_size is for inference: call model.eval() and run under torch.no_grad() or "
                "torch.inference_mode(). To train on long inputs, enable checkpoint_mixer/checkpoint_mlp instead."
            )
        return chunked_forward(self, h.clone() if copy else h, chunk_size)


def _check_input_ids(input_ids, config: HyenaConfig):
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.LongTensor; got {type(input_ids).__name__}.")
    if input_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"input_ids must hold integer token ids; got dtype {input_ids.dtype}.")
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (batch, length); got {tuple(input_ids.shape)}.")
    if input_ids.shape[1] > config.l_max:
        raise ValueError(
            f"Input of {input_ids.shape[1]} tokens is longer than this model's l_max={config.l_max}. "
            "Truncate or window the sequence, or use a checkpoint with a longer l_max."
        )
    # Range-checked on the CPU only: on an accelerator the check would stall the pipeline at every step (the
    # estimators check their sequences before any token reaches the device).
    if input_ids.device.type == "cpu" and input_ids.numel() and (
            int(input_ids.min()) < 0 or int(input_ids.max()) >= config.padded_vocab_size):
        bad = input_ids[(input_ids < 0) | (input_ids >= config.padded_vocab_size)][0]
        raise ValueError(f"Token id {int(bad)} is outside the vocabulary (0..{config.padded_vocab_size - 1}).")
    return input_ids.long()


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

    def filter_parameters(self):
        """Parameters of the implicit long filters' MLPs (and ``z`` when trainable).

        The published recipe trains them with the layer's own ``lr``/``wd`` (``wd`` 0 by default).
        """
        params = []
        for layer in self.backbone.layers:
            fn = layer.mixer.filter_fn
            params.extend(fn.implicit_filter.parameters())
            if isinstance(fn.pos_emb.z, nn.Parameter):
                params.append(fn.pos_emb.z)
        return params

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
