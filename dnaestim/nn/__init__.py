"""Torch modules of the HyenaDNA model (no training or estimator code here).

:mod:`dnaestim.nn.hyena` is the model as the paper writes it; the fast paths that replace parts of it at run time
(and the rules that pick them) live in ``dnaestim.nn._fast``. :func:`fast_paths` turns them off.
"""

from ._fast import fast_paths
from ._fast.fftconv import fft_causal_conv, filter_spectrum, next_fast_len
from .config import HyenaConfig
from .hyena import HyenaBackbone, HyenaBlock, HyenaFilter, HyenaLM, HyenaOperator

__all__ = [
    "HyenaBackbone",
    "HyenaBlock",
    "HyenaConfig",
    "HyenaFilter",
    "HyenaLM",
    "HyenaOperator",
    "fast_paths",
    "fft_causal_conv",
    "filter_spectrum",
    "next_fast_len",
]
