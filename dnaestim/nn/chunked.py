"""Chunked inference: the backbone on very long inputs (up to ``l_max``, e.g. 1M tokens) in bounded memory.

Everything in a Hyena block except the long convolution acts on each position separately (LayerNorm, the
projections, the MLP) or on the two positions before it (the short filter). Those parts are evaluated
``chunk_size`` positions at a time; only the long convolution needs the whole sequence, and it acts on each
channel separately, so it runs a few channels at a time. Memory is then two full-length buffers (the residual
stream, and the long convolution's input/output, channels first) plus terms proportional to the chunk size or to
one channel group's FFT, instead of the dozen full-length intermediates of the plain forward pass.

Per layer:

1. for each chunk: ``u = x1 * v`` from ``short_filter(in_proj(norm1(residual)))``, reading two extra positions
   before the chunk so that the short filter sees the same inputs as in one pass, stored channels first;
2. for each group of channels: the long convolution of ``u``, in place. Channels first, a group is a block of
   contiguous rows: no strided gathers over the whole sequence, and the FFT buffer is reused by every group;
3. for each chunk: ``x0`` (the first third of ``in_proj``), ``residual += out_proj(u * x0)``, then
   ``residual += mlp(norm2(residual))``. The two look-back positions of the next chunk are kept from before
   the update.

The result equals the one-pass forward up to float rounding (matrix products over different row blocks).
"""

from __future__ import annotations

import torch

from .fftconv import compute_dtype, fft_length
from .fused import linear

__all__ = ["chunked_forward"]

#: Bytes of zero-padded float32 signal per channel group in the long convolution; the group's spectrum, its
#: inverse and the filter's spectrum take about as much again each. FFTs of larger groups fall out of the CPU's
#: last-level cache and run slower (measured at 256k tokens).
_GROUP_BYTES = 16 * 2**20
#: Positions before a chunk that the short filter (kernel 3) reads.
_LOOK_BACK = 2
#: Floats of padding after each channel's row of the channels-first signal. Rows a power of two apart map to the
#: same cache sets, and reading a chunk across all rows then runs up to 8x slower (measured at 64k-1M tokens); an
#: odd number of cache lines (21) spreads them.
_ROW_PADDING = 336


def _chunks(length, chunk_size):
    for start in range(0, length, chunk_size):
        yield start, min(start + chunk_size, length)


def _normed(norm, rows):
    return norm(rows.to(norm.weight.dtype))


def _gated_input(layer, residual, signal, chunk_size):
    """Step 1: write ``x1 * v`` for every position into ``signal`` (B, D, L)."""
    mixer = layer.mixer
    d = mixer.d_model
    for start, stop in _chunks(residual.shape[1], chunk_size):
        lo = max(0, start - _LOOK_BACK)
        x = _normed(layer.norm1, residual[:, lo:stop])
        x1 = mixer.project(x, slice(d, 2 * d))[:, start - lo:]
        v = mixer.project(x, slice(2 * d, 3 * d))[:, start - lo:]
        signal[:, :, start:stop] = (v * x1).transpose(1, 2)


def _long_convolution(filter_fn, signal):
    """Step 2: ``signal`` (B, D, L) <- its causal convolution with the filter plus the skip term, in place."""
    batch, width, length = signal.shape
    n_fft = fft_length(length)
    group = max(1, _GROUP_BYTES // (n_fft * batch * signal.element_size()))
    padded = convolved = None
    for channels, k_f in filter_fn.channel_spectra(length, signal.dtype, group):
        u = signal[:, channels]  # (B, C, L), rows contiguous
        if padded is None or padded.shape[1] != u.shape[1]:
            padded = signal.new_zeros(batch, u.shape[1], n_fft)  # the tail past L stays zero for every group
            convolved = torch.empty_like(padded)
        padded[..., :length] = u
        spectrum = torch.fft.rfft(padded, dim=-1)
        spectrum.mul_(k_f)
        torch.fft.irfft(spectrum, n=n_fft, dim=-1, norm="forward", out=convolved)
        u.mul_(filter_fn.bias[channels, None].to(u.dtype)).add_(convolved[..., :length])


def _mixer_and_mlp(layer, residual, signal, chunk_size):
    """Step 3: ``residual += out_proj(signal * x0)``, then ``residual += mlp(norm2(residual))``, chunk by chunk."""
    mixer = layer.mixer
    look_back = residual[:, :0].clone()  # this layer's input at the positions before the chunk
    for start, stop in _chunks(residual.shape[1], chunk_size):
        rows = residual[:, start:stop]
        inputs = torch.cat([look_back, rows], dim=1)
        look_back = inputs[:, -_LOOK_BACK:].clone()
        x0 = mixer.project(_normed(layer.norm1, inputs), slice(0, mixer.d_model))[:, inputs.shape[1] - rows.shape[1]:]
        y = x0 * signal[:, :, start:stop].transpose(1, 2)  # x0 first: the product is laid out like x0, rows contiguous
        rows += linear(y.to(x0.dtype), mixer.out_proj.weight, mixer.out_proj.bias)
        rows += layer.mlp(_normed(layer.norm2, rows))


@torch.no_grad()
def chunked_forward(backbone, hidden, chunk_size):
    """Run ``backbone``'s blocks and final LayerNorm on embeddings ``hidden`` (B, L, D), ``chunk_size`` at a time.

    Parameters
    ----------
    backbone : HyenaBackbone
        In eval mode (dropout is not applied).
    hidden : Tensor of shape (B, L, D)
        Token embeddings; used as the residual stream and overwritten (pass a copy to keep it).
    chunk_size : int
        Positions per chunk for the position-wise parts.

    Returns
    -------
    Tensor of shape (B, L, D)
        Hidden states after the final LayerNorm.
    """
    residual = hidden
    if backbone.config.residual_in_fp32 and residual.dtype in (torch.float16, torch.bfloat16):
        residual = residual.float()
    batch, length, width = residual.shape
    signal = torch.empty(batch, width, length + _ROW_PADDING, dtype=compute_dtype(residual.dtype),
                         device=residual.device)[..., :length]
    for layer in backbone.layers:
        _gated_input(layer, residual, signal, chunk_size)
        _long_convolution(layer.mixer.filter_fn, signal)
        _mixer_and_mlp(layer, residual, signal, chunk_size)
    del signal
    ln_f = backbone.ln_f
    out = residual if residual.dtype == ln_f.weight.dtype else torch.empty_like(residual, dtype=ln_f.weight.dtype)
    for start, stop in _chunks(length, chunk_size):
        out[:, start:stop] = _normed(ln_f, residual[:, start:stop])
    return out
