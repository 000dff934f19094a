"""The causal long convolution at the heart of Hyena, in (batch, length, channels) layout.

``y[t] = sum_{s=0..t} k[s] * u[t - s] + bias * u[t]`` for every channel, computed through real FFTs whose length
is the smallest 2·3·5-smooth number >= 2L - 1 (enough for the circular convolution to equal the linear one).
Always evaluated in at least float32, also under autocast. The backward passes of the convolution and of the
filter spectrum are written out as real FFTs (autograd's own run complex FFTs over buffers twice the size), and
very long transforms can run as polyphase parts that fit in the CPU's caches (used by chunked inference).
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["fft_causal_conv", "filter_spectrum", "next_fast_len", "polyphase_irfft",
           "polyphase_parts", "polyphase_rfft"]


@functools.lru_cache(maxsize=4096)
def next_fast_len(n: int) -> int:
    """Smallest integer >= ``n`` whose only prime factors are 2, 3 and 5 (fast for every FFT library).

    Parameters
    ----------
    n : int
        Minimum length, >= 1.

    Returns
    -------
    int
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    best = 1 << (n - 1).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            # Smallest power of two that lifts power35 to at least n.
            quotient = -(-n // power35)
            candidate = power35 * (1 << (quotient - 1).bit_length())
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def fft_length(length: int) -> int:
    """FFT length used for a causal convolution of ``length`` samples."""
    return next_fast_len(2 * length - 1)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision of the long convolution: float64 stays float64, everything else runs in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class _FilterSpectrum(torch.autograd.Function):
    """``rfft(k.T, n_fft, norm="forward")`` with a backward pass that is one inverse real FFT.

    Autograd's own backward of ``rfft`` runs a complex FFT over a zero-filled full-length complex buffer. For the
    spectrum's gradient ``g`` (in PyTorch's convention for complex tensors) the taps' gradient is
    ``Re(sum_f g_f exp(2 pi i f t / n)) / n`` over the one-sided bins: ``irfft`` of ``g`` with the bins that stand
    for themselves and their mirror image halved.
    """

    @staticmethod
    def forward(ctx, k, n_fft):  # k (L, D)
        ctx.n_fft, ctx.length = n_fft, k.shape[0]
        padded = k.new_empty(k.shape[1], n_fft)  # (D, n_fft): transposed and zero-padded in one copy
        padded[:, :ctx.length] = k.T
        padded[:, ctx.length:].zero_()
        return torch.fft.rfft(padded, dim=-1, norm="forward")

    @staticmethod
    def backward(ctx, grad):  # grad (D, n_fft // 2 + 1)
        grad = grad.clone()
        grad[:, _interior_bins(ctx.n_fft)].mul_(0.5)
        taps = torch.fft.irfft(grad, n=ctx.n_fft, dim=-1)  # (D, n_fft)
        return taps[:, :ctx.length].T, None


def _interior_bins(n_fft: int) -> slice:
    """Bins of a one-sided spectrum of length ``n_fft`` that stand for themselves and their mirror image."""
    return slice(1, n_fft - (n_fft // 2 + 1) + 1)


def filter_spectrum(k: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Real FFT of a filter, channels first, with the inverse transform's ``1/n_fft`` folded in.

    Parameters
    ----------
    k : Tensor of shape (L, D)
        Filter taps, time first.
    n_fft : int
        FFT length, >= 2L - 1.

    Returns
    -------
    Tensor of shape (D, n_fft // 2 + 1), complex, contiguous
    """
    return _FilterSpectrum.apply(k.to(compute_dtype(k.dtype)), n_fft)


# -- Polyphase transforms for very long FFTs ---------------------------------------------------------------------
#
# A real FFT of 2M points runs out of the CPU's caches: per point it costs 2-3 times what one of 128k points does.
# Split the signal into R interleaved parts x_r[m] = x[r + R m] of M = N / R points each. Their FFTs X_r give the
# whole spectrum as X[k + M q] = sum_r W_N^(r k) W_R^(r q) X_r[k] (W_n = exp(-2 pi i / n)): R real FFTs of M points
# (in cache), one twiddle multiply and FFTs of R points across the parts. For real x, k = 0..M/2 and q = 0..R-1
# cover every frequency once up to conjugate symmetry, and the inverse runs the three steps backwards. The bins come
# out in (q, k) order instead of frequency order, which a convolution does not mind: filter and signal spectra are
# multiplied bin by bin in the same order.

#: Parts of a polyphase transform.
POLYPHASE_PARTS = 16
#: Shortest FFT length that is transformed in polyphase parts (shorter ones stay within the caches).
POLYPHASE_MIN_FFT_LENGTH = 2**20


def polyphase_parts(n_fft: int) -> int:
    """Number of interleaved parts an FFT of length ``n_fft`` is split into by the chunked path (1: not split).

    Parameters
    ----------
    n_fft : int

    Returns
    -------
    int
    """
    split = n_fft >= POLYPHASE_MIN_FFT_LENGTH and n_fft % POLYPHASE_PARTS == 0
    return POLYPHASE_PARTS if split else 1


@functools.lru_cache(maxsize=4)
def _twiddles(n_fft: int, parts: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``W_N^(r k)`` for r < parts, k <= M/2, as (parts, M/2 + 1) complex (computed in float64)."""
    half = n_fft // parts // 2 + 1
    phase = torch.outer(torch.arange(parts, dtype=torch.float64), torch.arange(half, dtype=torch.float64))
    phase.mul_(-2 * math.pi / n_fft)
    return torch.polar(torch.ones_like(phase), phase).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=8)
def _dft_matrix(parts: int, sign: int, scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``scale * exp(sign 2 pi i q r / parts)`` as a (parts, parts) complex matrix.

    The DFT across the parts is a matrix product: a batched complex matrix product runs near the machine's
    speed, while ``torch.fft.fft`` along the strided parts axis copies the whole spectrum twice.
    """
    index = torch.arange(parts, dtype=torch.float64)
    phase = torch.outer(index, index).mul_(sign * 2 * math.pi / parts)
    return torch.polar(torch.full_like(phase, scale), phase).to(dtype=dtype, device=device)


def polyphase_rfft(x: torch.Tensor, norm: str = "backward") -> torch.Tensor:
    """Spectrum of real signals given as their polyphase parts.

    Parameters
    ----------
    x : Tensor of shape (..., R, M)
        ``x[..., r, m]`` is sample ``r + R m`` of a signal of ``N = R M`` samples.
    norm : {"backward", "forward"}
        As :func:`torch.fft.rfft`: ``"forward"`` scales by ``1 / N``.

    Returns
    -------
    Tensor of shape (..., R, M // 2 + 1), complex
        ``out[..., q, k]`` is frequency ``k + M q`` of the signal's DFT. With R = 1 this is ``torch.fft.rfft``.
    """
    parts, length = x.shape[-2:]
    spectra = torch.fft.rfft(x, dim=-1, norm=norm)  # (..., R, M/2+1)
    if parts == 1:
        return spectra
    spectra.mul_(_twiddles(parts * length, parts, spectra.dtype, spectra.device))
    across = _dft_matrix(parts, -1, 1 / parts if norm == "forward" else 1.0, spectra.dtype, spectra.device)
    return torch.matmul(across, spectra)


def polyphase_irfft(spectrum: torch.Tensor, length: int, norm: str = "backward") -> torch.Tensor:
    """Inverse of :func:`polyphase_rfft`: polyphase parts (..., R, ``length``) of the real signal.

    Parameters
    ----------
    spectrum : Tensor of shape (..., R, length // 2 + 1), complex
        In the order :func:`polyphase_rfft` returns.
    length : int
        M, the number of samples per part.
    norm : {"backward", "forward"}
        As :func:`torch.fft.irfft`: ``"backward"`` scales by ``1 / N``.

    Returns
    -------
    Tensor of shape (..., R, length)
    """
    parts = spectrum.shape[-2]
    if parts > 1:
        across = _dft_matrix(parts, 1, 1 / parts if norm == "backward" else 1.0, spectrum.dtype, spectrum.device)
        spectrum = torch.matmul(across, spectrum)
        spectrum.mul_(_twiddles(parts * length, parts, spectrum.dtype, spectrum.device).conj())
    return torch.fft.irfft(spectrum, n=length, dim=-1, norm=norm)


def _padded_channels_first(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """(B, L, D) -> zero-padded (B, D, n_fft): FFTs along a contiguous axis are much faster than along the
    strided time axis of (B, L, D). Only the tail is zeroed, not the whole buffer."""
    batch, length, channels = x.shape
    padded = x.new_empty(batch, channels, n_fft)
    padded[..., :length] = x.transpose(1, 2)
    padded[..., length:].zero_()
    return padded


def _time_last_to_first(y: torch.Tensor, length: int) -> torch.Tensor:
    """(B, D, n) -> contiguous (B, L, D) from the first ``length`` positions."""
    out = y.new_empty(y.shape[0], length, y.shape[1])
    out.copy_(y[..., :length].transpose(1, 2))
    return out


class _CausalFFTConv(torch.autograd.Function):
    """``y = irfft(rfft(u) * k_f)[:L] + bias * u`` with the backward pass written out in FFTs.

    Autograd's own backward of ``rfft`` runs a complex FFT over a zero-filled full-length complex buffer (twice
    the size of the real one) for every (batch, channel) row; here the gradients are real FFTs of the same sizes
    as the forward pass:

    * ``grad_u = irfft(G * conj(k_f))[:L] + bias * g``, the cross-correlation of ``g`` with the filter;
    * ``grad_k_f = sum over the batch of G * conj(U)``, the bins between 0 and the Nyquist bin doubled (each
      stands for itself and its mirror image), as ``torch.fft.irfft``'s own gradient does;
    * ``grad_bias = sum(g * u)``;

    with ``G = rfft(g)`` and ``U = rfft(u)`` (saved from the forward pass).
    """

    @staticmethod
    def forward(ctx, u, k_f, bias):  # u (B, L, D), k_f (D, n_fft // 2 + 1), bias (D,)
        length = u.shape[1]
        n_fft = fft_length(length)
        u_f = torch.fft.rfft(_padded_channels_first(u, n_fft), dim=-1)  # (B, D, n_fft/2+1)
        y = torch.fft.irfft(u_f * k_f, n=n_fft, dim=-1, norm="forward")  # (B, D, n_fft)
        ctx.save_for_backward(u, k_f, bias, u_f if ctx.needs_input_grad[1] else None)
        return _time_last_to_first(y, length).addcmul_(u, bias)  # (B, L, D)

    @staticmethod
    def backward(ctx, grad):
        u, k_f, bias, u_f = ctx.saved_tensors
        length = u.shape[1]
        n_fft = fft_length(length)
        grad_u = grad_k_f = grad_bias = None
        g_f = torch.fft.rfft(_padded_channels_first(grad, n_fft), dim=-1)  # (B, D, n_fft/2+1)
        if ctx.needs_input_grad[1]:
            grad_k_f = (g_f * u_f.conj()).sum(0)  # (D, n_fft/2+1)
            grad_k_f[:, _interior_bins(n_fft)].mul_(2)
        if ctx.needs_input_grad[0]:
            correlation = torch.fft.irfft(g_f.mul_(k_f.conj()), n=n_fft, dim=-1, norm="forward")
            grad_u = _time_last_to_first(correlation, length).addcmul_(grad, bias)
        if ctx.needs_input_grad[2]:
            grad_bias = (grad * u).sum((0, 1))
        return grad_u, grad_k_f, grad_bias


def fft_causal_conv(u: torch.Tensor, k_f: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Causal convolution of ``u`` with a filter given by its spectrum, plus a per-channel skip term.

    Differentiable in all three arguments, with a backward pass made of real FFTs (see ``_CausalFFTConv``).

    Parameters
    ----------
    u : Tensor of shape (B, L, D)
        Input signal.
    k_f : Tensor of shape (D, n_fft // 2 + 1)
        Filter spectrum from :func:`filter_spectrum` for a filter of length ``L`` (``n_fft = fft_length(L)``).
    bias : Tensor of shape (D,)
        Skip-connection weight per channel.

    Returns
    -------
    Tensor of shape (B, L, D), in the computation dtype (float32, or float64 for float64 input).
    """
    length = u.shape[1]
    n_fft = fft_length(length)
    if k_f.shape[-1] != n_fft // 2 + 1:
        raise ValueError(f"k_f has {k_f.shape[-1]} frequencies; a length-{length} input needs {n_fft // 2 + 1}.")
    dtype = compute_dtype(u.dtype)
    with torch.autocast(device_type=u.device.type, enabled=False):
        u, bias = u.to(dtype), bias.to(dtype)
        if torch.is_grad_enabled() and (u.requires_grad or k_f.requires_grad or bias.requires_grad):
            return _CausalFFTConv.apply(u, k_f, bias)
        u_f = torch.fft.rfft(_padded_channels_first(u, n_fft), dim=-1).mul_(k_f)  # in place: no graph to keep
        y = torch.fft.irfft(u_f, n=n_fft, dim=-1, norm="forward")
        return _time_last_to_first(y, length).addcmul_(u, bias)  # (B, L, D)
