"""Dense layers for inference on the CPU: oneDNN matrix products, with the MLP's GELU fused into the first one.

PyTorch's ``F.linear`` runs float32 products on the CPU through MKL. oneDNN, which PyTorch also ships, ran the same
products of the large-1m model 15-25 % faster on a 2-core AMD EPYC with AVX-512, and applies a GELU in the product's
epilogue while the output is still in cache (first MLP layer plus GELU: 1.4 times faster than
``F.gelu(F.linear(...))``); on a 2-core AMD EPYC with AVX2 only it was no faster, so it is used on AVX-512 CPUs
only. The entry point is a private PyTorch operator, ``torch.ops.mkldnn._linear_pointwise`` (what ``torch.compile``
emits for these layers on the CPU), and it has no autograd formula, so it is used only where nothing needs a
gradient: float32 CPU tensors, outside autocast, with gradients disabled or not required. Before its first use it is
checked once against ``F.linear`` on a small product; if it is missing, fails or disagrees, the plain functions run
everywhere. The results equal the plain ones up to float rounding (a different summation order).
"""

from __future__ import annotations

import functools
import platform

import torch
import torch.nn.functional as F

__all__ = ["linear", "linear_gelu", "onednn_agrees", "onednn_available"]


@functools.lru_cache(maxsize=1)
def onednn_agrees() -> bool:
    """Whether this PyTorch has oneDNN's linear operator and it agrees with ``F.linear`` on a small check.

    Returns
    -------
    bool
    """
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 8, generator=generator)
    weight = torch.randn(6, 8, generator=generator)
    bias = torch.randn(6, generator=generator)
    try:
        with torch.no_grad():
            plain = F.linear(x, weight, bias)
            fused = op(x, weight, bias, "none", [], "")
            fused_gelu = op(x, weight, bias, "gelu", [], "tanh")
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return (fused.shape == plain.shape and torch.allclose(fused, plain, rtol=1e-5, atol=1e-5)
            and torch.allclose(fused_gelu, F.gelu(plain, approximate="tanh"), rtol=1e-5, atol=1e-5))


@functools.lru_cache(maxsize=1)
def onednn_available() -> bool:
    """Whether the oneDNN path is used (computed once).

    It is on x86 CPUs with AVX-512, where it was measured faster (AMD EPYC with AVX-512: dense layers 15-25 %
    faster, fused GELU 1.4 times), when :func:`onednn_agrees`. On CPUs with AVX2 only it was not (an AMD EPYC
    with AVX2: equal products, the fused GELU 10 % slower), and elsewhere (e.g. Apple silicon) ``F.linear`` has
    its own fast library.

    Returns
    -------
    bool
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False
    return onednn_agrees()


def _use_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not needs_grad and not torch.is_autocast_enabled("cpu") and onednn_available())


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, through oneDNN where it applies (see the module docstring).

    Parameters
    ----------
    x : Tensor of shape (..., in_features)
    weight : Tensor of shape (out_features, in_features)
    bias : Tensor of shape (out_features,), optional

    Returns
    -------
    Tensor of shape (..., out_features)
    """
    if _use_onednn(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.gelu(F.linear(x, weight, bias), approximate="tanh")``, fused through oneDNN where it applies.

    Parameters
    ----------
    x : Tensor of shape (..., in_features)
    weight : Tensor of shape (out_features, in_features)
    bias : Tensor of shape (out_features,), optional

    Returns
    -------
    Tensor of shape (..., out_features)
    """
    if _use_onednn(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "tanh")
    return F.gelu(F.linear(x, weight, bias), approximate="tanh")
