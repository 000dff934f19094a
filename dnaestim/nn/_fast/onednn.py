"""Dense layers for inference on the CPU: oneDNN matrix products, with the MLP's GELU fused into the first one.

PyTorch's ``F.linear`` runs float32 products on the CPU through MKL. oneDNN, which PyTorch also ships, ran the same
products of the large-1m model 15-25 % faster on a 2-core AMD EPYC with AVX-512, and applies a GELU in the product's
epilogue while the output is still in cache (first MLP layer plus GELU: 1.4 times faster than
``F.gelu(F.linear(...))``); on a 2-core AMD EPYC with AVX2 only it was no faster, so it is used on AVX-512 CPUs
only. The entry point is a private PyTorch operator, ``torch.ops.mkldnn._linear_pointwise`` (what ``torch.compile``
emits for these layers on the CPU), and it has no autograd formula, so it is used only where nothing needs a
gradient: CPU tensors with gradients disabled or not required, in float32 outside autocast, or in bfloat16 under
bfloat16 autocast on CPUs with bfloat16 units (there it also fuses the GELU, which ``F.gelu`` would otherwise run
as a separate bfloat16 pass at a third of float32's speed). Before its first use it is checked once against
``F.linear`` on a small product; if it is missing, fails or disagrees, the plain functions run everywhere. The
results equal the plain ones up to float rounding (a different summation order).
"""

from __future__ import annotations

import functools
import platform

import torch
import torch.nn.functional as F

__all__ = ["cpu_has_bf16", "linear", "linear_gelu", "onednn_agrees", "onednn_available", "onednn_bf16_agrees",
           "onednn_bf16_available"]


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
        with torch.no_grad(), torch.autocast("cpu", enabled=False):  # the check may first run under autocast
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


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 units (AVX512_BF16 or AMX), which make bfloat16 products faster than float32.

    Returns
    -------
    bool
    """
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(check() for check in checks if check is not None)
    except RuntimeError:
        return False


@functools.lru_cache(maxsize=1)
def onednn_bf16_agrees() -> bool:
    """Whether oneDNN's linear operator takes bfloat16 tensors and agrees with ``F.linear`` in float32 to bfloat16
    rounding on a small check (computed once; it runs on any x86 CPU, emulated where there are no bfloat16 units).

    Returns
    -------
    bool
    """
    if not onednn_agrees():
        return False
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (t.bfloat16() for t in (torch.randn(2, 5, 8, generator=generator),
                                                 torch.randn(6, 8, generator=generator),
                                                 torch.randn(6, generator=generator)))
    try:
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            fused = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "tanh")
            plain = F.gelu(F.linear(x.float(), weight.float(), bias.float()), approximate="tanh")
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return fused.dtype == torch.bfloat16 and torch.allclose(fused.float(), plain, rtol=2e-2, atol=2e-2)


def onednn_bf16_available() -> bool:
    """Whether bfloat16 products (under bfloat16 autocast) run through oneDNN: on a CPU with bfloat16 units where
    :func:`onednn_available` and :func:`onednn_bf16_agrees`.

    Returns
    -------
    bool
    """
    return onednn_available() and cpu_has_bf16() and onednn_bf16_agrees()


def _onednn_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype | None:
    """The dtype a oneDNN product of ``x`` and ``weight`` runs in here, or None when ``F.linear`` runs."""
    if x.device.type != "cpu" or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
        return None
    if torch.is_autocast_enabled("cpu"):
        if torch.get_autocast_dtype("cpu") == torch.bfloat16 and onednn_bf16_available():
            return torch.bfloat16
        return None
    if x.dtype == torch.float32 and weight.dtype == torch.float32 and onednn_available():
        return torch.float32
    return None


def _onednn(x, weight, bias, attribute, algorithm, dtype):
    if bias is not None:
        bias = bias.to(dtype)
    return torch.ops.mkldnn._linear_pointwise(x.to(dtype), weight.to(dtype), bias, attribute, [], algorithm)


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
    dtype = _onednn_dtype(x, weight)
    if dtype is not None:
        return _onednn(x, weight, bias, "none", "", dtype)
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
    dtype = _onednn_dtype(x, weight)
    if dtype is not None:
        return _onednn(x, weight, bias, "gelu", "tanh", dtype)
    return F.gelu(F.linear(x, weight, bias), approximate="tanh")
