"""Fast paths of the Hyena model, and the one place that decides which of them runs.

:mod:`dnaestim.nn.hyena` is the model as the paper and the published code write it. Three of its methods hand over
to this package when fast paths are on (the default): :meth:`HyenaOperator.forward` to :func:`operator`,
:meth:`Mlp.forward` to :func:`mlp`, and :meth:`HyenaBackbone.forward` to :func:`chunked_forward` when
:func:`chunk_size` says so. Every result equals the reference code's up to float rounding; the test suite runs the
published reference outputs through both.

The rules, all of them:

1. **Switch.** ``DNAESTIM_FAST_PATHS=0`` in the environment, or ``with dnaestim.nn.fast_paths(False):``, runs the
   reference code everywhere (the context manager wins over the environment).
2. **Long convolution** (training and inference): real FFTs of a 2·3·5-smooth length >= 2L - 1 instead of 2L, in
   (B, D, L) layout, with backward passes written as real FFTs (:mod:`.fftconv`). Always in float32 (float64 for
   float64 models), also under autocast, and so is the implicit filter that feeds it (:func:`filter_taps`). On the
   CPU the operator's elementwise work (short filter, gates) runs in float32 under autocast too: CPUs have no
   bfloat16 arithmetic for it, and PyTorch's bfloat16 elementwise kernels, converting every element both ways,
   ran the short filter 3x slower than float32 (only the dense layers gain from bfloat16 units).
3. **Short filter** (training and inference): shifted multiply-adds in (B, L, C) layout (:mod:`.shortconv`).
4. **Filter spectrum cache** (inference on the CPU): the FFT of a filter is kept per length and dtype while
   nothing needs its gradient, and reused as long as the filter's parameters and buffers are equal to the ones it
   was computed from (compared by value, so any change of the weights shows). Worth 1.6x at 32k tokens, batch 1.
   Not on accelerators (the comparison would wait for the device at every layer) nor for spectra over 256 MiB.
5. **oneDNN dense layers** (inference): on x86 CPUs with AVX-512, no gradients, float32 outside autocast and
   bfloat16 under bfloat16 autocast on CPUs with bfloat16 units (:mod:`.onednn`).
6. **Chunked evaluation** (inference only: eval mode, no gradient): when :func:`chunk_size` returns an int. An int
   ``chunk_size`` chunks inputs longer than it; ``"auto"`` chunks inputs longer than ``2 * AUTO_CHUNK_SIZE`` on
   the CPU, and on CUDA only when one pass would need more than half the free memory (:mod:`.chunked`, which
   also splits FFTs of more than 1M points into cache-sized polyphase parts).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import weakref
from collections import OrderedDict

import torch

from ..._validation import check_chunk_size
from .fftconv import compute_dtype, fft_causal_conv, fft_length, filter_spectrum
from .onednn import linear, linear_gelu
from .shortconv import ShortCausalConv

__all__ = ["AUTO_CHUNK_SIZE", "auto_chunk_size", "chunk_size", "chunked_forward", "enabled", "fast_paths",
           "filter_taps", "mlp", "operator", "project", "spectrum", "with_fast_paths"]

#: Chunk size of ``chunk_size="auto"`` (inputs longer than twice this are evaluated in chunks at inference).
AUTO_CHUNK_SIZE = 4096
ENVIRONMENT_VARIABLE = "DNAESTIM_FAST_PATHS"
_OVERRIDE: contextvars.ContextVar[bool | None] = contextvars.ContextVar("dnaestim_fast_paths", default=None)


# -- rule 1: the switch ----------------------------------------------------------------------------------------


def enabled() -> bool:
    """Whether fast paths run: the innermost :func:`fast_paths` block, else ``DNAESTIM_FAST_PATHS`` (default on)."""
    override = _OVERRIDE.get()
    if override is not None:
        return override
    return os.environ.get(ENVIRONMENT_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def fast_paths(enabled: bool = True):
    """Turn the model's fast paths on or off inside a ``with`` block.

    With ``enabled=False`` every forward and backward pass inside the block runs the reference code of
    :mod:`dnaestim.nn.hyena` (the published model's operations: FFTs of length 2L with autograd's backward, a
    ``Conv1d`` short filter, ``nn.Linear`` layers, one pass at any length). Results agree with the fast paths up
    to float rounding; use it to rule the fast paths out when something looks wrong, or set the environment
    variable ``DNAESTIM_FAST_PATHS=0`` for a whole process.

    Parameters
    ----------
    enabled : bool, default=True
        Whether the fast paths run inside the block.

    Yields
    ------
    None
        The block runs with the chosen paths; the previous setting comes back when it ends.

    Examples
    --------
    >>> import torch
    >>> from dnaestim.nn import HyenaConfig, HyenaLM, fast_paths
    >>> model = HyenaLM(HyenaConfig(d_model=16, n_layer=1, l_max=32)).eval()
    >>> ids = torch.tensor([[7, 8, 9, 10]])
    >>> with fast_paths(False):
    ...     reference = model(ids)
    >>> torch.allclose(model(ids), reference, atol=1e-5)
    True
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"fast_paths takes True or False; got {enabled!r}.")
    token = _OVERRIDE.set(enabled)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def with_fast_paths(on: bool, function, *args):
    """``function(*args)`` with fast paths ``on`` (for recomputations that must take the paths of a first pass)."""
    with fast_paths(on):
        return function(*args)


# -- rules 2-5: one pass --------------------------------------------------------------------------------------


def project(mixer, u, channels: slice = slice(None)):
    """``short_filter(in_proj(u))`` of a Hyena operator, optionally for some of its 3D output ``channels`` only."""
    z = linear(u, mixer.in_proj.weight[channels], mixer.in_proj.bias[channels])
    if z.device.type == "cpu" and z.dtype in (torch.bfloat16, torch.float16):
        z = z.float()  # rule 2: elementwise work on the CPU in float32
    weight = mixer.short_filter.weight[channels, 0, :].to(z.dtype)  # (C, 3)
    return ShortCausalConv.apply(z, weight, mixer.short_filter.bias[channels].to(z.dtype))  # (B, L, C)


def operator(mixer, u):
    """:meth:`HyenaOperator.forward <dnaestim.nn.HyenaOperator.forward>` through rules 2-5."""
    length = u.shape[1]
    x0, x1, v = project(mixer, u).split(mixer.d_model, dim=-1)  # (B, L, D) each
    k_f = spectrum(mixer.filter_fn, length, u.dtype)
    v = fft_causal_conv(v * x1, k_f, mixer.filter_fn.bias)  # (B, L, D), float32 or float64
    return linear((v * x0).to(u.dtype), mixer.out_proj.weight, mixer.out_proj.bias)


def mlp(module, x):
    """:meth:`Mlp.forward <dnaestim.nn.hyena.Mlp.forward>` through rule 5 (GELU fused into ``fc1``)."""
    hidden = linear_gelu(x, module.fc1.weight, module.fc1.bias)
    return linear(hidden, module.fc2.weight, module.fc2.bias)


_CACHE_ENTRIES = 4  # spectra kept per filter
_CACHE_MAX_BYTES = 256 * 2**20  # larger spectra (very long inputs) are recomputed: chunked evaluation builds them
_spectra: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # filter -> OrderedDict(key -> (weights, k_f))


def spectrum(filter_fn, length: int, dtype: torch.dtype) -> torch.Tensor:
    """Spectrum of ``filter_fn`` for ``length`` tokens (``1/n_fft`` folded in), (D, n_fft // 2 + 1); rule 4."""
    n_fft = fft_length(length)
    device = filter_fn.bias.device
    needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in filter_fn.parameters())
    spectrum_bytes = filter_fn.bias.shape[0] * (n_fft // 2 + 1) * 2 * compute_dtype(dtype).itemsize
    if needs_grad or device.type != "cpu" or spectrum_bytes > _CACHE_MAX_BYTES:
        # On an accelerator the comparison would wait for the device at every layer, and the filter is cheap there.
        with contextlib.nullcontext() if needs_grad else torch.no_grad():
            return filter_spectrum(filter_taps(filter_fn, length), n_fft)
    with torch.no_grad():
        weights = _filter_inputs(filter_fn, length)
    entries = _spectra.setdefault(filter_fn, OrderedDict())
    # Spectra built under inference_mode cannot be saved for a backward pass (a frozen filter, trained prompts).
    key = (length, dtype, torch.is_inference_mode_enabled())
    cached = entries.get(key)
    if cached is not None and cached[0].shape == weights.shape and torch.equal(cached[0], weights):
        entries.move_to_end(key)
        return cached[1]
    with torch.no_grad():
        k_f = filter_spectrum(filter_taps(filter_fn, length), n_fft)
    for stale in [k for k, (w, _) in entries.items() if w.dtype != weights.dtype]:
        del entries[stale]  # the model was cast to another dtype
    entries[key] = (weights, k_f)
    while len(entries) > _CACHE_ENTRIES:
        entries.popitem(last=False)
    return k_f


def filter_taps(filter_fn, length: int) -> torch.Tensor:
    """``filter_fn.filter(length)`` evaluated in the parameters' precision, also under autocast (rule 2).

    The filter MLP is a few small products per position (cheap next to the block's dense layers, and cached at
    inference); in bfloat16 its taps were off by up to 0.8 % of their largest value (0.45 % in norm; large-1m
    shape, random weights), an error every long convolution would then carry.
    """
    with torch.autocast(device_type=filter_fn.bias.device.type, enabled=False):
        return filter_fn.filter(length)


def _filter_inputs(filter_fn, length):
    """Every value the filter's first ``length`` taps depend on, in one flat tensor (one allocation to keep): its
    parameters and buffers, the positional grid cut to ``length`` (the grid spans ``l_max``, 1M positions for the
    long models: too large to compare)."""
    inputs = []
    for name, tensor in [*filter_fn.named_parameters(), *filter_fn.named_buffers()]:
        tensor = tensor[:, :length] if name in ("pos_emb.z", "pos_emb.t") else tensor
        inputs.append(tensor.detach().reshape(-1))
    return torch.cat(inputs)  # in the widest dtype among them: equality stays exact


# -- rule 6: chunked evaluation ---------------------------------------------------------------------------------


def auto_chunk_size(length, device_type, one_pass_bytes=0, free_bytes=None):
    """The chunk size ``chunk_size="auto"`` picks for an inference pass over ``length`` tokens (None: one pass).

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
        Inputs up to ``2 * AUTO_CHUNK_SIZE`` always run in one pass; longer ones are chunked on the CPU (and other
        non-CUDA devices), and on CUDA only when the one pass would take more than half the free memory: there
        many small kernels cost more than they save.
    """
    if length <= 2 * AUTO_CHUNK_SIZE:
        return None
    if device_type != "cuda":
        return AUTO_CHUNK_SIZE
    return AUTO_CHUNK_SIZE if one_pass_bytes > free_bytes // 2 else None


def chunk_size(backbone, hidden, requested):
    """Chunk size for :func:`chunked_forward` of ``hidden`` (B, L, D) through ``backbone``, or None (one pass).

    ``requested`` is the backbone's ``chunk_size`` argument: an int (chunk inputs longer than it), ``"auto"`` (see
    :func:`auto_chunk_size`) or None (one pass).
    """
    requested = check_chunk_size(requested)
    automatic = requested == "auto"
    inference = not backbone.training and not (torch.is_grad_enabled() and hidden.requires_grad)
    if not automatic and requested is not None and not inference:
        raise RuntimeError(
            "chunk_size is for inference: call model.eval() and run under torch.no_grad() or "
            "torch.inference_mode(). To train on long inputs, enable checkpoint_mixer/checkpoint_mlp instead."
        )
    if requested is None or not inference or not enabled():
        return None
    batch, length, width = hidden.shape
    if not automatic:
        return requested if length > requested else None
    # Rough peak of one pass: a dozen-odd (B, L, D) float32 intermediates plus the MLP's two (B, L, d_inner).
    one_pass_bytes = 4 * batch * length * (16 * width + 2 * backbone.config.d_inner)
    free_bytes = torch.cuda.mem_get_info(hidden.device)[0] if hidden.device.type == "cuda" else None
    return auto_chunk_size(length, hidden.device.type, one_pass_bytes, free_bytes)


def chunked_forward(backbone, hidden, chunk, copy):
    """The backbone's blocks and final LayerNorm on embeddings ``hidden``, ``chunk`` positions at a time.

    ``copy``: work on a copy of ``hidden`` (the evaluation overwrites it).
    """
    from .chunked import chunked_forward as run  # the chunked path imports this module (project, spectrum)

    return run(backbone, hidden.clone() if copy else hidden, chunk)
