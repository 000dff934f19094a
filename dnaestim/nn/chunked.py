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
   contiguous rows: no strided gathers over the whole sequence, and the FFT buffer is reused by every group.
   Above 512k tokens each channel is stored as interleaved (polyphase) parts whose FFTs fit in the caches
   (:func:`~dnaestim.nn.fftconv.polyphase_rfft`);
3. for each chunk: ``x0`` (the first third of ``in_proj``), ``residual += out_proj(u * x0)``, then
   ``residual += mlp(norm2(residual))``. The two look-back positions of the next chunk are kept from before
   the update.

The result equals the one-pass forward up to float rounding (matrix products over different row blocks).
"""

from __future__ import annotations

import torch

from .fftconv import compute_dtype, fft_length, polyphase_irfft, polyphase_parts, polyphase_rfft
from .fused import linear

__all__ = ["chunked_forward"]

#: Bytes of zero-padded float32 signal per channel group in the long convolution; the group's spectrum, its
#: inverse and the filter's spectrum take about as much again each. FFTs of larger groups fall out of the CPU's
#: last-level cache and run slower (measured at 256k tokens).
_GROUP_BYTES = 16 * 2**20
#: Positions before a chunk that the short filter (kernel 3) reads.
_LOOK_BACK = 2
#: Floats of padding after each row of the channels-first signal. Rows a power of two apart map to the same cache
#: sets, and reading a chunk across all rows then runs up to 8x slower (measured at 64k-1M tokens); an odd number
#: of cache lines (21) spreads them.
_ROW_PADDING = 336


def _chunks(length, chunk_size):
    for start in range(0, length, chunk_size):
        yield start, min(start + chunk_size, length)


def _normed(norm, rows):
    return norm(rows.to(norm.weight.dtype))


class _ChannelsFirstSignal:
    """The long convolution's input and output for every position, channels first and in polyphase order.

    Position ``p`` of channel ``d`` is ``data[:, d, p % R, p // R]`` with R = ``polyphase_parts(fft_length(L))``
    (R = 1, a plain (B, D, L) layout, up to 512k tokens): a group of channels is a block of contiguous rows, and
    the FFTs of very long inputs run on R parts that fit in the caches (:func:`polyphase_rfft`). Chunks are read
    and written at multiples of R; positions past L in the last column are written as zeros.
    """

    def __init__(self, batch, width, length, dtype, device):
        self.length = length
        self.parts = polyphase_parts(fft_length(length))
        self.columns = -(-length // self.parts)
        self.data = torch.empty(batch, width, self.parts, self.columns + _ROW_PADDING, dtype=dtype,
                                device=device)[..., :self.columns]  # (B, D, R, L / R)

    def write(self, start, values):
        """Store ``values`` (B, n, D) at positions ``start`` (a multiple of R) to ``start + n``."""
        batch, n, width = values.shape
        if n % self.parts:
            values = torch.cat([values, values.new_zeros(batch, self.parts - n % self.parts, width)], dim=1)
        first = start // self.parts
        parts = values.view(batch, -1, self.parts, width).permute(0, 3, 2, 1)  # (B, D, R, n / R)
        self.data[..., first:first + parts.shape[-1]] = parts

    def read(self, start, stop):
        """Positions ``start`` (a multiple of R) to ``stop`` as (B, n, D); a view when R = 1."""
        first, last = start // self.parts, -(-stop // self.parts)
        rows = self.data[..., first:last].permute(0, 3, 2, 1)  # (B, n / R, R, D)
        return rows.reshape(rows.shape[0], -1, rows.shape[-1])[:, :stop - start]


def _gated_input(layer, residual, signal, chunk_size):
    """Step 1: write ``x1 * v`` for every position into ``signal``."""
    mixer = layer.mixer
    d = mixer.d_model
    for start, stop in _chunks(residual.shape[1], chunk_size):
        lo = max(0, start - _LOOK_BACK)
        x = _normed(layer.norm1, residual[:, lo:stop])
        x1 = mixer.project(x, slice(d, 2 * d))[:, start - lo:]
        v = mixer.project(x, slice(2 * d, 3 * d))[:, start - lo:]
        signal.write(start, v * x1)


def _long_convolution(filter_fn, signal):
    """Step 2: ``signal`` <- its causal convolution with the filter plus the skip term, in place."""
    data = signal.data  # (B, D, R, L / R)
    batch, parts, columns = data.shape[0], signal.parts, signal.columns
    n_fft = fft_length(signal.length)
    part_length = n_fft // parts
    group = max(1, _GROUP_BYTES // (n_fft * batch * data.element_size()))
    padded = None
    for channels, k_f in filter_fn.channel_spectra(signal.length, data.dtype, group):
        u = data[:, channels]  # (B, C, R, L / R), rows contiguous
        if padded is None or padded.shape[1] != u.shape[1]:
            padded = data.new_zeros(batch, u.shape[1], parts, part_length)  # the tail stays zero for every group
        padded[..., :columns] = u
        # The transforms allocate their outputs: FFTs into a given out= buffer compute elsewhere and copy (slower).
        spectrum = polyphase_rfft(padded).mul_(k_f)
        convolved = polyphase_irfft(spectrum, part_length, norm="forward")
        u.mul_(filter_fn.bias[channels, None, None].to(u.dtype)).add_(convolved[..., :columns])


def _mixer_and_mlp(layer, residual, signal, chunk_size):
    """Step 3: ``residual += out_proj(signal * x0)``, then ``residual += mlp(norm2(residual))``, chunk by chunk."""
    mixer = layer.mixer
    look_back = residual[:, :0].clone()  # this layer's input at the positions before the chunk
    for start, stop in _chunks(residual.shape[1], chunk_size):
        rows = residual[:, start:stop]
        inputs = torch.cat([look_back, rows], dim=1)
        look_back = inputs[:, -_LOOK_BACK:].clone()
        x0 = mixer.project(_normed(layer.norm1, inputs), slice(0, mixer.d_model))[:, inputs.shape[1] - rows.shape[1]:]
        y = x0 * signal.read(start, stop)  # x0 first: the product is laid out like x0, rows contiguous
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
        Positions per chunk for the position-wise parts (rounded up to a multiple of the polyphase parts).

    Returns
    -------
    Tensor of shape (B, L, D)
        Hidden states after the final LayerNorm.
    """
    residual = hidden
    if backbone.config.residual_in_fp32 and residual.dtype in (torch.float16, torch.bfloat16):
        residual = residual.float()
    batch, length, width = residual.shape
    signal = _ChannelsFirstSignal(batch, width, length, compute_dtype(residual.dtype), residual.device)
    chunk_size = -(-chunk_size // signal.parts) * signal.parts
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
