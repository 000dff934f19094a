"""Plumbing shared by every dnaestim estimator: backbone construction, tokenisation, seeding, batching,
device handling and device-safe pickling.

Padding. Estimators pad on the **right** and pool with a mask. The backbone is causal, so a real token never sees
the pads after it: a sequence's pooled output is the same whatever the length of the batch it is in (up to float
rounding of the FFT), and predictions never depend on batch composition. The published left padding would put
pads *before* the sequence, where every real token sees them, so outputs would change with the pad count unless
one fixed length were chosen at fit time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import numbers
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._inference import predict_batches
from .._version import __version__
from .._resources import advises_on_out_of_memory
from .._validation import (check_chunk_size, check_int, check_sequences, resolve_device, resolve_precision,
                           user_stacklevel)
from ..checkpoints import language_model_of, save_pretrained
from ..nn import HyenaConfig, HyenaLM
from ..nn.heads import POOLING_MODES, pool, windowed_hidden_states
from ..tokenizer import LEFT_PADDED, RIGHT_PADDED, reverse_complement_ids

#: Values of the estimators' ``unknown`` parameter.
UNKNOWN_MODES = ("raise", "N")
#: Parameters that shape a backbone trained from scratch; a pretrained backbone brings its own.
ARCHITECTURE_PARAMS = ("d_model", "n_layer", "d_inner", "filter_order", "emb_dim")


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Torch's global generators seeded with ``seed`` inside the block (the CPU's, and ``device``'s when it is a
    GPU) and restored afterwards: dropout is reproducible and the caller's random state is left untouched."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def restore_device(device: str, owner: str) -> torch.device:
    """The device a pickled model goes back to: where it was fitted, or the CPU (with a warning) without CUDA."""
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(f"{owner} was fitted on {device}, which is not available here; its model is loaded on the CPU.",
                      UserWarning, stacklevel=user_stacklevel())
        target = torch.device("cpu")
    return target


class InconsistentVersionWarning(UserWarning):
    """A fitted estimator is unpickled by another dnaestim version than the one that pickled it.

    As scikit-learn's warning of the same name: the estimator may still work, but it was not tested that way;
    refit it, or install the version that pickled it. Filter this class to silence it.

    Parameters
    ----------
    estimator_name : str
        Class of the unpickled estimator.
    original_version : str
        The dnaestim version that pickled it.
    current_version : str
        The dnaestim version that unpickles it.
    """

    def __init__(self, estimator_name, original_version, current_version):
        self.estimator_name = estimator_name
        self.original_version = original_version
        self.current_version = current_version
        super().__init__(
            f"This {estimator_name} was pickled by dnaestim {original_version} and is unpickled by dnaestim "
            f"{current_version}; it may give different results or break. Refit it, or load it with dnaestim "
            f"{original_version}."
        )

    def __reduce__(self):
        return type(self), (self.estimator_name, self.original_version, self.current_version)


class _TorchPayload:
    """A module serialised with ``torch.save`` for pickling, restored on the best available device."""

    def __init__(self, module, device):
        buffer = io.BytesIO()
        torch.save(module, buffer)
        self.data = buffer.getvalue()
        self.device = str(device)

    def restore(self, owner):
        target = restore_device(self.device, type(owner).__name__)
        module = torch.load(io.BytesIO(self.data), map_location=target, weights_only=False)
        return module, target


def _json_value(value):
    """``value`` as JSON can hold it: plain values as they are, paths as text, anything else by its type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        return {str(k): _json_value(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def _check_pooling(value):
    if value not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}; got {value!r}.")


def _check_float(value, name, low, high, *, low_open=False, high_open=False, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a number; got {value!r}.")
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (ok_low and ok_high):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}; got {value!r}.")


class HyenaEstimatorMixin(BaseEstimator):
    """Shared plumbing; not an estimator by itself. Subclasses define ``__init__`` and ``fit``."""

    #: Attributes holding torch modules, pickled through :class:`_TorchPayload`.
    _torch_attributes = ("model_",)
    #: Right padding to the longest sequence of each batch (see the module docstring). An estimator with a
    #: fixed input layout (every sequence left-padded to ``max_length_``) sets ``_fixed_layout = True``.
    _fixed_layout = False
    #: ``verbose`` from which inference shows progress bars (estimators that print a training table keep
    #: ``verbose=1`` for the table alone).
    _progress_bar_verbosity = 2

    # -- parameters ------------------------------------------------------------------------------------------

    def _validate_common_params(self):
        check_int(self.batch_size, "batch_size")
        check_int(self.max_length, "max_length", allow_none=True)
        check_int(self.verbose, "verbose", minimum=0)
        if not (isinstance(self.unknown, str) and self.unknown in UNKNOWN_MODES):
            raise ValueError(
                f"unknown must be 'raise' (an error names the sequence and character) or 'N' (read any character "
                f"that is not A, C, G, T or N, such as an IUPAC code, as N); got {self.unknown!r}."
            )
        if self.pretrained is None:
            for name in ("d_model", "n_layer", "filter_order"):
                check_int(getattr(self, name), name)
            check_int(self.d_inner, "d_inner", allow_none=True)
            if isinstance(self.emb_dim, bool) or not isinstance(self.emb_dim, numbers.Integral) or self.emb_dim < 3 \
                    or self.emb_dim % 2 == 0:
                raise ValueError(f"emb_dim must be an odd int >= 3; got {self.emb_dim!r}.")
        device = resolve_device(self.device)
        dtype, autocast = resolve_precision(self.precision, device)
        return device, dtype, autocast

    def _check_architecture_unset(self):
        """With a pretrained backbone, the architecture parameters must keep their defaults (they would be ignored)."""
        if self.pretrained is None:
            return
        defaults = inspect.signature(type(self).__init__).parameters
        for name in ARCHITECTURE_PARAMS:
            if name in defaults and getattr(self, name) != defaults[name].default:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} has no effect with pretrained={self.pretrained!r}: the "
                    "architecture comes from the pretrained backbone. Pass pretrained=None to train a backbone of "
                    f"this shape from scratch, or leave {name} at its default."
                )

    def _seeds(self):
        """Independent integer seeds derived from ``random_state`` (no global RNG is touched)."""
        rng = check_random_state(self.random_state)
        return rng, int(rng.randint(np.iinfo(np.int32).max))

    # -- backbone ----------------------------------------------------------------------------------------------

    def _pretrained_lm(self) -> HyenaLM:
        """The language model behind ``pretrained``: a checkpoint directory, a HyenaLM or a fitted pretrainer."""
        source = self.pretrained
        model = language_model_of(source, copy=True)
        if model is not None:
            self._check_architecture_unset()
            return model
        if hasattr(source, "fit") and hasattr(source, "get_params"):
            raise ValueError(
                f"pretrained is an unfitted {type(source).__name__}; fit it first, or pass a checkpoint directory."
            )
        raise TypeError(
            "pretrained must be a bundled model's name (dnaestim.list_pretrained()), a checkpoint directory (str or "
            f"path), a HyenaLM, a fitted HyenaPretrainer, or None to train from scratch; got {type(source).__name__}."
        )

    def _backbone_config(self, l_max: int, *, embed_dropout=0.0, resid_dropout=0.0,
                         gradient_checkpointing=False) -> HyenaConfig:
        """Configuration of a backbone trained from scratch, with the estimator's training options."""
        return HyenaConfig(
            d_model=int(self.d_model), n_layer=int(self.n_layer),
            d_inner=None if self.d_inner is None else int(self.d_inner),
            emb_dim=int(self.emb_dim), filter_order=int(self.filter_order), l_max=int(l_max), w=10.0,
            embed_dropout=float(embed_dropout), resid_dropout=float(resid_dropout),
            checkpoint_mixer=bool(gradient_checkpointing), checkpoint_mlp=bool(gradient_checkpointing),
        )

    def _resolve_max_length(self, lengths: np.ndarray, l_max: int | None, *, windows: bool = False) -> int:
        """``max_length_``: the parameter; else a pretrained model's l_max or the longest training sequence.

        With ``windows`` (a model that reads longer inputs in windows of ``l_max``), the longest training
        sequence may exceed a pretrained model's ``l_max``.
        """
        longest = int(lengths.max())
        max_length = longest if self.max_length is None else int(self.max_length)
        if l_max is not None and self.max_length is None and longest <= l_max:
            return l_max  # a pretrained model reads up to its l_max
        if l_max is not None and max_length > l_max and not windows:
            if self.max_length is None:
                raise ValueError(
                    f"The longest training sequence has {longest} nucleotides, more than the pretrained model's "
                    f"l_max={l_max}. Set max_length<={l_max} to cut sequences to that length, or pretrained=None to "
                    "train a backbone sized to your sequences from scratch."
                )
            raise ValueError(f"max_length={max_length} is more than the pretrained model's l_max={l_max}; set "
                             f"max_length<={l_max}, or pretrained=None to train from scratch.")
        return max_length

    def _check_max_length_fits(self, l_max):
        """Without windows, ``max_length`` cannot exceed a pretrained model's ``l_max``."""
        if self.max_length is not None and self.max_length > l_max:
            raise ValueError(f"max_length={self.max_length} is more than the pretrained model's l_max={l_max}.")

    def save_pretrained(self, path):
        """Write the fitted model's language model (backbone) in the published layout and as safetensors.

        A classifier's fine-tuned backbone is written as a language model with a tied head, so that
        ``pretrained=path`` (or :func:`dnaestim.load_pretrained`) starts another estimator from it; see
        :func:`dnaestim.checkpoints.language_model_of`.

        Parameters
        ----------
        path : str or path-like
            Directory (created if missing); every file is written atomically.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        check_is_fitted(self)
        return save_pretrained(self, path)

    def _checkpoint_metadata(self) -> dict:
        """What ``save_pretrained`` records about this fitted estimator: its class, parameters and training data."""
        return {
            "estimator": type(self).__name__,
            "parameters": {name: _json_value(value) for name, value in self.get_params(deep=False).items()},
            "training": {"n_iter_": int(getattr(self, "n_iter_", 0)), **getattr(self, "_training_data", {})},
        }

    # -- tokens --------------------------------------------------------------------------------------------------

    def _sequences(self, X, *, name="X", reset=False):
        """Validated sequences and their lengths.

        A one-column DataFrame's column name becomes ``feature_names_in_`` when ``reset`` (in ``fit``), as
        scikit-learn records feature names; later calls with a DataFrame must use the same column name.
        """
        columns = getattr(X, "columns", None)
        column = str(columns[0]) if columns is not None and len(columns) == 1 else None
        if reset:
            if column is not None:
                self.feature_names_in_ = np.array([column], dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif column is not None and hasattr(self, "feature_names_in_") and column != self.feature_names_in_[0]:
            raise ValueError(
                f"{name} is a DataFrame whose column is {column!r}, but this {type(self).__name__} was fitted on "
                f"column {self.feature_names_in_[0]!r}; pass the same column (or a Series or list of sequences)."
            )
        sequences = check_sequences(X, name=name)
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        if reset:
            self._training_data = {"n_sequences": len(sequences), "nucleotides": int(lengths.sum())}
        return sequences, lengths

    def _warn_if_cut(self, lengths, *, name="X"):
        """Warn, naming the first one, when sequences are longer than ``max_length_`` and ``max_length`` is unset."""
        too_long = np.flatnonzero(lengths > self.max_length_)
        if too_long.size and self.max_length is None:
            i = int(too_long[0])
            warnings.warn(
                f"{too_long.size} sequence(s) of {name} are longer than the {self.max_length_} nucleotides this "
                f"{type(self).__name__} reads ({name}[{i}] has {lengths[i]}); only their first {self.max_length_} "
                "are used. Set max_length to choose the cut (and silence this warning).",
                UserWarning, stacklevel=user_stacklevel(),
            )

    def _fitted_sequences(self, X):
        """The sequences of ``X`` for a fitted estimator to read, with a warning when some will be cut."""
        check_is_fitted(self)
        sequences, lengths = self._sequences(X)
        self._warn_if_cut(lengths)
        return sequences

    def _tokenizer(self):
        """The tokenizer of this estimator's layout, reading unknown characters as ``unknown`` says."""
        layout = LEFT_PADDED if self._fixed_layout else RIGHT_PADDED
        return layout if self.unknown == "raise" else dataclasses.replace(layout, unknown=self.unknown)

    def _tokenize(self, sequences, lengths, *, name="X"):
        """Token ids (n, L) int64 and mask (n, L) of the training sequences, cut to ``max_length_``."""
        self._warn_if_cut(lengths, name=name)
        batch = self._tokenizer()(list(sequences), max_length=self.max_length_, truncation=True,
                                  padding="max_length" if self._fixed_layout else "longest")
        return batch.input_ids, batch.attention_mask

    def _batch_tensors(self, ids, mask, index, device):
        """Rows ``index`` of the token arrays on ``device``, trimmed to their longest sequence (right padding)."""
        width = ids.shape[1] if self._fixed_layout else int(mask[index].sum(1).max())
        batch_ids = torch.from_numpy(np.ascontiguousarray(ids[index, :width])).to(device, non_blocking=True)
        batch_mask = torch.from_numpy(np.ascontiguousarray(mask[index, :width])).to(device, non_blocking=True)
        return batch_ids, batch_mask

    def _predict_batches(self, module, sequences, forward, desc):
        """:func:`~dnaestim._inference.predict_batches` with this estimator's layout, batch size, device, precision."""
        return predict_batches(
            module, sequences, forward, tokenizer=self._tokenizer(),
            batch_size=int(self.batch_size), device=self.device_, max_length=self.max_length_,
            pad_to_max_length=self._fixed_layout, autocast_dtype=self._inference_autocast_dtype(),
            progress=self.verbose >= self._progress_bar_verbosity, desc=desc,
        )

    def _predict_array(self, module, sequences, forward, desc, dtype=np.float32):
        """``forward``'s outputs for ``sequences`` (see :meth:`_predict_batches`) in one ``dtype`` array, in input
        order; None for no sequences."""
        out = None
        for index, values in self._predict_batches(module, sequences, forward, desc):
            if out is None:
                out = np.empty((len(sequences),) + values.shape[1:], dtype=dtype)
            out[index] = values
        return out

    @advises_on_out_of_memory("inference")
    def _pooled_embeddings(self, backbone, sequences, *, pooling, chunk_size="auto", rc_average=False, head=None):
        """Masked-pooled backbone outputs, (n, d_model) float32 numpy (None for n = 0), in input order; optionally
        averaged with those of the reverse complements. With ``head`` (a
        :class:`~dnaestim.nn.HyenaSequenceClassifier`), what its linear layer reads instead
        (:meth:`~dnaestim.nn.HyenaSequenceClassifier.head_inputs`; (n, ``head.head.in_features``))."""

        def forward(ids, mask):
            pooled = pool(windowed_hidden_states(backbone, ids, mask, chunk_size=chunk_size), mask, pooling).float()
            if rc_average:
                rc_ids = reverse_complement_ids(ids, mask)
                rc = pool(windowed_hidden_states(backbone, rc_ids, mask, chunk_size=chunk_size), mask, pooling)
                pooled = (pooled + rc.float()) / 2
            return pooled if head is None else head.head_inputs(pooled, mask).float()

        return self._predict_array(backbone, sequences, forward, "embed")

    def _set_runtime(self, device, autocast):
        """Fitted ``device_``, the autocast dtype of training (``autocast_dtype_``) and that of predictions."""
        self.device_, self.autocast_dtype_ = device, autocast
        self.inference_autocast_dtype_ = resolve_precision(self.precision, device, inference=True)[1]

    def _inference_autocast_dtype(self):
        return getattr(self, "inference_autocast_dtype_", self.autocast_dtype_)  # older pickles have only the one

    def _autocast(self):
        """Autocast context of predictions (none in float32)."""
        dtype = self._inference_autocast_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_.type, dtype=dtype)

    # -- pickling --------------------------------------------------------------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        state["_dnaestim_version"] = __version__
        for name in self._torch_attributes:
            module = state.get(name)
            if isinstance(module, torch.nn.Module):
                state[name] = _TorchPayload(module, getattr(self, "device_", "cpu"))
        return state

    def __setstate__(self, state):
        pickled = state.pop("_dnaestim_version", "unknown (before 0.1.0)")
        if pickled != __version__:
            warnings.warn(InconsistentVersionWarning(type(self).__name__, pickled, __version__),
                          stacklevel=user_stacklevel())
        for name in self._torch_attributes:
            payload = state.get(name)
            if isinstance(payload, _TorchPayload):
                state[name], device = payload.restore(self)
                state["device_"] = device
        state.update(_missing_length_feature(self, state))
        super().__setstate__(state)

    # -- tags --------------------------------------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags


def _missing_length_feature(estimator, state):
    """The ``length_feature`` parameter and fitted attribute for an estimator saved before they existed.

    Such a model's head reads the pooled vector only; the default ``"auto"`` would misreport that, and a refit
    (or a clone) would build another model. Returns the entries ``state`` lacks ({} when none).
    """
    if "length_feature" not in estimator._get_param_names() or "length_feature" in state:
        return {}
    updates = {"length_feature": False}
    if state.get("model_") is not None and "length_feature_" not in state:
        updates["length_feature_"] = bool(getattr(state["model_"], "length_feature", False))
    return updates
