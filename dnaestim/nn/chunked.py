"""Chunked inference: the backbone on very long inputs (up to ``l_max``, e.g. 1M tokens) in bounded memory.

Everything in a Hyena block except the long convolution acts on each position separately (LayerNorm, the
projections, the MLP) or on the two positions before it (the short filter). Those parts are evaluated
``chunk_size`` positions at a time; only the long convolution needs the whole sequence, and it acts on each
channel separately, so it runs a few channels at a time. Memory is then two (B, L, D) buffers (the residual
stream and the long convolution's input/output) plus terms proportional to the chunk size or to one channel
group's FFT, instead of the dozen full-length intermediates of the plain forward pass.

Per layer:

1. for each chunk: ``u = x1 * v`` from ``short_filter(in_proj(norm1(residual)))``, reading two extra positions
   before the chunk so that the short filter sees the same inputs as in one pass;
2. for each group of channels: the long convolution of ``u``, in place;
3. for each chunk: ``x0`` again (only its third of ``in_proj``), ``out_proj(u * x0)``, in place;
4. for each chunk: ``residual += mixer output``; ``residual += mlp(norm2(residual))``.

The result equals the one-pass forward up to float rounding (matrix products over different row blocks).
"""

from __future__ import annotations

import torch

from .fftconv import compute_dtype, fft_causal_conv, fft_length

__all__ = ["chunked_forward"]

#: Bytes of float32 signal per channel group in the long convolution (its FFT temporaries are a few times this).
#: Kept small so that the temporaries are recycled by the allocator instead of being fresh pages every time.
_GROUP_BYTES = 16 * 2**20


def _chunks(length, chunk_size):
    for start in range(0, length, chunk_size):
        yield start, min(start + chunk_size, length)


def _mixer_input(layer, residual, start, stop):
    """``norm1(residual)`` over ``start - 2 .. stop`` (the short filter's look-back), and the look-back used."""
    lo = max(0, start - 2)
    return layer.norm1(residual[:, lo:stop].to(layer.norm1.weight.dtype)), start - lo


def _mixer(layer, residual, buffer, chunk_size):
    """Write the Hyena operator's output for ``norm1(residual)`` into ``buffer`` (B, L, D)."""
    mixer = layer.mixer
    d = mixer.d_model
    length = residual.shape[1]
    for start, stop in _chunks(length, chunk_size):
        x, back = _mixer_input(layer, residual, start, stop)
        x1 = mixer.project(x, slice(d, 2 * d))[:, back:]
        v = mixer.project(x, slice(2 * d, 3 * d))[:, back:]
        buffer[:, start:stop] = v * x1

    group = max(1, _GROUP_BYTES // (fft_length(length) * buffer.shape[0] * 4))
    for channels, k_f in mixer.filter_fn.channel_spectra(length, buffer.dtype, group):
        buffer[:, :, channels] = fft_causal_conv(buffer[:, :, channels], k_f, mixer.filter_fn.bias[channels])

    for start, stop in _chunks(length, chunk_size):
        x, back = _mixer_input(layer, residual, start, stop)
        x0 = mixer.project(x, slice(0, d))[:, back:]
        y = buffer[:, start:stop] * x0
        buffer[:, start:stop] = mixer.out_proj(y.to(x0.dtype))


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
    buffer = torch.empty(residual.shape, dtype=compute_dtype(residual.dtype), device=residual.device)
    for layer in backbone.layers:
        _mixer(layer, residual, buffer, chunk_size)
        for start, stop in _chunks(residual.shape[1], chunk_size):
            block = residual[:, start:stop]
            block += buffer[:, start:stop]
            block += layer.mlp(layer.norm2(block.to(layer.norm2.weight.dtype)))
    del buffer
    ln_f = backbone.ln_f
    out = residual if residual.dtype == ln_f.weight.dtype else torch.empty_like(residual, dtype=ln_f.weight.dtype)
    for start, stop in _chunks(residual.shape[1], chunk_size):
        out[:, start:stop] = ln_f(residual[:, start:stop].to(ln_f.weight.dtype))
    return out
