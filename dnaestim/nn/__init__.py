"""Torch modules of the HyenaDNA model (no training or estimator code here)."""

from .config import HyenaConfig
from .fftconv import causal_conv_direct, fft_causal_conv, filter_spectrum, next_fast_len
from .hyena import HyenaBackbone, HyenaBlock, HyenaFilter, HyenaLM, HyenaOperator

__all__ = [
    "HyenaBackbone",
    "HyenaBlock",
    "HyenaConfig",
    "HyenaFilter",
    "HyenaLM",
    "HyenaOperator",
    "causal_conv_direct",
    "fft_causal_conv",
    "filter_spectrum",
    "next_fast_len",
]
