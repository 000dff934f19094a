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
   (``polyphase_rfft`` in ``.fftconv``);
3. for each chunk: ``x0`` (the first third of ``in_proj``), ``residual += out_proj(u * x0)``, then
   ``residual += mlp(norm2(residual))``. The two look-back positions of the next chunk are kept from before
   the update.

The result equals the one-pass forward up to float rounding (matrix products over different row blocks).
"""

from __future__ import annotations

import torch

from . import project, spectrum
from .fftconv import compute_dtype, fft_length, polyphase_irfft, polyphase_parts, polyphase_rfft
from .onednn import linear

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
#: Channels whose filter taps one matrix product computes when the spectrum is built group by group.
_TAPS_BLOCK_CHANNELS = 32
#: Positions per block when the filter MLP runs over a long grid: its intermediates then stay in cache (3x faster
#: at 1M positions than one pass).
_FILTER_BLOCK_POSITIONS = 4096
#: Largest spectrum (bytes) that is computed whole and sliced rather than built group by group.
_WHOLE_SPECTRUM_MAX_BYTES = 256 * 2**20


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
        x1 = project(mixer, x, slice(d, 2 * d))[:, start - lo:]
        v = project(mixer, x, slice(2 * d, 3 * d))[:, start - lo:]
        signal.write(start, v * x1)


@torch.no_grad()
def channel_spectra(filter_fn, length, dtype, group):
    """Spectra of a filter for ``length`` tokens, ``group`` channels at a time, without gradients.

    Yields ``(channels, k_f)`` with ``channels`` a slice of 0..D and ``k_f`` of shape (C, R, M // 2 + 1): the
    :func:`~.fftconv.polyphase_rfft` of the taps in R = ``polyphase_parts(n_fft)`` parts of M = ``n_fft / R``
    points (R = 1: the plain spectrum), with ``1 / n_fft`` folded in. When R = 1 and the whole spectrum is small
    enough it is computed once (and cached) and sliced; otherwise each group's taps are computed from the filter
    MLP's last hidden layer, so that no (length, D) tensor is ever held (1M tokens).
    """
    n_fft = fft_length(length)
    parts = polyphase_parts(n_fft)
    d = filter_fn.bias.shape[0]
    groups = [slice(start, min(start + group, d)) for start in range(0, d, group)]
    if parts == 1 and (n_fft // 2 + 1) * d * 2 * compute_dtype(dtype).itemsize <= _WHOLE_SPECTRUM_MAX_BYTES:
        k_f = spectrum(filter_fn, length, dtype)
        for channels in groups:
            yield channels, k_f[channels, None]
        return
    # Positions in polyphase order (p = r + R m as (R, L / R)); past the end, the last position's inputs, whose
    # taps are then zeroed.
    columns = -(-length // parts)
    positions = torch.arange(parts * columns, device=filter_fn.bias.device).view(columns, parts).T
    z, t = filter_fn.pos_emb(length)
    hidden = _hidden_channels_first(filter_fn, z[:, positions.clamp(max=length - 1).flatten()])
    hidden = hidden.to(compute_dtype(dtype)).view(-1, parts, columns)  # (H, R, L / R)
    hidden[:, positions >= length] = 0
    t = t[0, positions.clamp(max=length - 1), 0].to(hidden.dtype)  # (R, L / R)
    weight = filter_fn.implicit_filter[-1].weight.to(hidden.dtype)  # (D, H)
    # Taps for several groups per matrix product (one with a handful of output rows runs far below the machine's
    # speed), into buffers reused by every block and group: fresh buffers of this size would be page-faulted in
    # again on every allocation.
    block = group * -(-_TAPS_BLOCK_CHANNELS // group)
    taps = hidden.new_empty(min(block, d), parts, columns)
    window = hidden.new_empty(min(group, d), parts, columns)
    padded = hidden.new_zeros(min(group, d), parts, n_fft // parts)  # the tail past L / R stays zero
    for first in range(0, d, block):
        rows = slice(first, min(first + block, d))
        torch.mm(weight[rows], hidden.view(hidden.shape[0], -1),
                 out=taps[:rows.stop - first].view(rows.stop - first, -1))  # (C, R, L / R)
        for channels in groups[first // group:(rows.stop + group - 1) // group]:
            width = channels.stop - channels.start
            _window(filter_fn.modulation, t, channels, window[:width])
            torch.mul(taps[channels.start - first:channels.stop - first], window[:width],
                      out=padded[:width, :, :columns])
            yield channels, polyphase_rfft(padded[:width], norm="forward")


def _hidden_channels_first(filter_fn, z):
    """The filter MLP's last hidden layer on positions ``z`` (1, l, E), as (H, l), in cache-sized blocks."""
    net = filter_fn.implicit_filter[:-1]
    length = z.shape[1]
    hidden = z.new_empty(filter_fn.implicit_filter[-1].in_features, length)
    with torch.autocast(device_type=z.device.type, enabled=False):  # the filter in full precision, as filter_taps
        for start in range(0, length, _FILTER_BLOCK_POSITIONS):
            stop = min(start + _FILTER_BLOCK_POSITIONS, length)
            hidden[:, start:stop] = net(z[:, start:stop])[0].T
    return hidden


def _window(modulation, t, channels, out):
    """The exponential window of ``channels`` at times ``t`` (any shape), written into ``out`` (C, *t.shape)."""
    if not modulation.modulate:
        return out.fill_(1.0)
    torch.mul(t, -modulation.deltas[0, 0, channels].abs().view(-1, *[1] * t.ndim), out=out)
    return out.exp_().add_(modulation.shift)


def _long_convolution(filter_fn, signal):
    """Step 2: ``signal`` <- its causal convolution with the filter plus the skip term, in place."""
    data = signal.data  # (B, D, R, L / R)
    batch, parts, columns = data.shape[0], signal.parts, signal.columns
    n_fft = fft_length(signal.length)
    part_length = n_fft // parts
    group = max(1, _GROUP_BYTES // (n_fft * batch * data.element_size()))
    padded = None
    for channels, k_f in channel_spectra(filter_fn, signal.length, data.dtype, group):
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
        x0 = project(mixer, _normed(layer.norm1, inputs), slice(0, mixer.d_model))[:, inputs.shape[1] - rows.shape[1]:]
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
