"""Fitted estimators saved without pickle: parameters and fitted attributes as JSON, tensors as safetensors.

:func:`save` writes a directory holding two files:

* ``estimator.json``: the format's name and version, the dnaestim version that wrote it, and the estimator: its
  class (one of an explicit allow-list), its ``get_params()`` values and every other attribute of the instance
  (the fitted ones, such as ``classes_`` and ``history_``, and the private state the estimator keeps between
  calls), each value written as plain JSON or as a node tagged with one of a fixed set of types (see
  :data:`TYPE_TAGS`).
* ``model.safetensors``: every tensor and numeric array those nodes refer to (the weights of ``model_``,
  ``target_mean_``, ...), by name.

:func:`load` rebuilds the estimator from those two files and nothing else: each class it may build is looked up
in a fixed table by its tag, never imported by name; a module is rebuilt from its configuration and filled with
the stored tensors, which must match it exactly. An unknown format version, class, type tag or attribute
kind, an extra file (a dropped ``.pkl`` included), an extra or missing tensor, and a tensor whose shape or dtype
does not fit the module are refused with a :class:`~dnaestim.CheckpointError` naming the file and the problem (a
missing file with a ``FileNotFoundError``). Neither :mod:`pickle` nor ``torch.load`` is used, on saving or on
loading; the one exception is a soft-prompt classifier saved without its backbone, whose checkpoint directory is
read by :func:`dnaestim.load_pretrained` (safetensors first, pickled weights only through its refusal of code).

Why not skops. scikit-learn's ecosystem has :mod:`skops.io` for the same purpose: a zip file with a
``schema.json`` describing the object tree, arrays as ``.npy`` entries, and a load that refuses types outside an
allow-list of trusted ones. dnaestim matches that design (a JSON schema of tagged nodes, binary arrays beside it,
an allow-list checked before anything is built) but does not depend on skops: skops knows no torch module or
tensor, so every part that matters here (the models, their configuration, their weights) would need custom
loaders of our own anyway, and skops rebuilds objects by importing the module and class named in the file once
a type is trusted, where this format maps a closed set of tags onto classes and can name nothing else. Tensors
go to safetensors, the format :func:`dnaestim.save_pretrained` already writes and :func:`dnaestim.load_pretrained`
prefers, rather than to ``.npy`` entries. The result is a directory rather than a zip so that it can be read
with a text editor and any safetensors tool, like a checkpoint directory.

Pickle and joblib remain fine for your own files, read back by the same versions of dnaestim, torch and
scikit-learn: they keep every Python object as it was. Use :func:`save` and :func:`load` for files from others and
for long-term storage.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from ._atomic import atomic_write, fsync_directory
from ._validation import user_stacklevel
from ._version import __version__
from .checkpoints import CheckpointError
from .estimators import HyenaClassifier, HyenaEmbedder, HyenaPretrainer, HyenaRegressor, SoftPromptClassifier
from .estimators._base import InconsistentVersionWarning, _missing_length_feature, restore_device
from .nn import HyenaConfig, HyenaLM
from .nn.heads import HyenaSequenceClassifier
from .nn.prompting import SoftPromptModel
from .training import Stage, WarmupSchedule

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

#: Name of the format, stated in every ``estimator.json``.
FORMAT_NAME = "dnaestim.estimator"
#: Version of the format this dnaestim writes (and the newest it reads).
FORMAT_VERSION = 1
METADATA_FILE = "estimator.json"
TENSORS_FILE = "model.safetensors"
_FILES = (METADATA_FILE, TENSORS_FILE)

#: The estimators :func:`save` writes and :func:`load` builds, by the name the file gives.
ESTIMATORS = {cls.__name__: cls for cls in (HyenaClassifier, HyenaRegressor, HyenaEmbedder, HyenaPretrainer,
                                            SoftPromptClassifier)}
#: The torch modules an estimator's attributes or parameters may hold, rebuilt from their configuration.
MODULES = {cls.__name__: cls for cls in (HyenaLM, HyenaSequenceClassifier, SoftPromptModel)}
#: The torch dtypes a value may name (``torch.dtype`` attributes, tensors, modules).
TORCH_DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64)}
#: Tags of the values that are not plain JSON; a node ``{"__type__": tag, ...}`` with any other tag is refused.
TYPE_TAGS = ("float", "tuple", "dict", "numpy.scalar", "numpy.ndarray", "numpy.RandomState", "torch.dtype",
             "torch.device", "torch.Tensor", "torch.nn.Module", "path", "Stage", "WarmupSchedule", "estimator")

#: The fields of the tagged nodes that always have the same ones (arrays and modules have theirs by kind).
_FIELDS = {"float": ("value",), "tuple": ("items",), "dict": ("items",), "numpy.scalar": ("dtype", "value"),
           "numpy.RandomState": ("state",), "torch.dtype": ("value",), "torch.device": ("value",),
           "torch.Tensor": ("tensor", "requires_grad", "device"), "path": ("value",),
           "Stage": ("length", "batch_size", "steps"), "WarmupSchedule": ("stages",)}
#: What each module's constructor needs beyond the configuration, with the types the values must have.
_MODULE_SPECS = {"HyenaLM": {},
                 "HyenaSequenceClassifier": {"n_outputs": int, "pooling": str, "dropout": (int, float)},
                 "SoftPromptModel": {"n_prompt_tokens": int, "head": str, "n_classes": int, "n_label_tokens": int,
                                     "n_demo_ids": int, "prompt_dropout": (int, float)}}
_TAG = "__type__"
_MAX_DEPTH = 64
_DEVICE = re.compile(r"^(cpu|cuda|mps|xpu)(:\d{1,4})?$")
_NUMPY_DTYPE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|U\d{1,9})$")
_ATTRIBUTE = re.compile(r"^(?!__)[A-Za-z_][A-Za-z0-9_]*$")
#: numpy dtypes that safetensors stores as such; the other numeric ones go in as same-width integers.
_NUMPY_TO_TORCH = {np.dtype(name): TORCH_DTYPES[name] for name in ("bool", "uint8", "int8", "int16", "int32", "int64",
                                                                   "float16", "float32", "float64")}
_SAME_WIDTH_INT = {2: np.int16, 4: np.int32, 8: np.int64}


class _SavedVersionWarning(InconsistentVersionWarning):
    """:class:`~dnaestim.InconsistentVersionWarning` worded for :func:`load`."""

    def __init__(self, estimator_name, original_version, current_version):
        super().__init__(estimator_name, original_version, current_version)
        self.args = (f"This {estimator_name} was saved by dnaestim {original_version} and is loaded by dnaestim "
                     f"{current_version}; it may give different results or break. Refit it, or load it with "
                     f"dnaestim {original_version}.",)


# ---------------------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------------------


def save(estimator, path):
    """Save a dnaestim estimator without pickle: JSON for its parameters and attributes, safetensors for tensors.

    The directory holds ``estimator.json`` and ``model.safetensors`` (see :mod:`dnaestim.persistence` for the
    format); :func:`load` reads it back into an estimator that predicts exactly as this one. Every value is
    converted by its type through a fixed list of converters: plain Python values, numpy arrays and scalars of
    numbers or text, ``RandomState``, torch dtypes, devices and tensors, the project's models and warm-up
    schedules, and nested dnaestim estimators (``pretrained`` may be a fitted :class:`~dnaestim.HyenaPretrainer`
    or a :class:`~dnaestim.HyenaLM`, saved whole). Anything else, such as a callable ``scoring``, is refused
    before anything is written. Shared references are not kept: an object reachable twice is stored twice.

    A :class:`~dnaestim.SoftPromptClassifier` fitted with ``keep_backbone=False`` is saved, as it pickles,
    without its language model: only the prompt, the head and the demonstrations, plus where its checkpoint
    lives and a fingerprint of the checkpoint's weights, which :func:`load` checks.

    The directory is replaced atomically: the files are written to a temporary directory next to it, which is
    then renamed into place, so an error or a crash leaves a previously saved estimator at ``path`` loadable.

    Parameters
    ----------
    estimator : HyenaClassifier, HyenaRegressor, HyenaEmbedder, HyenaPretrainer or SoftPromptClassifier
        The estimator to save, fitted or not.
    path : str or path-like
        Directory to write. It must not exist, be empty, or hold an estimator saved before (it is then
        replaced); its parent is created if missing.

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    TypeError
        If ``estimator`` is not a dnaestim estimator, or one of its values has a type this format does not store
        (the message names the value and its type).

    See Also
    --------
    load : Read the directory back.
    dnaestim.save_pretrained : Write only the language model, as a checkpoint other estimators start from.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from dnaestim import HyenaEmbedder, load, save
    >>> X = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT"]
    >>> emb = HyenaEmbedder(pretrained=None, d_model=16, n_layer=1, random_state=0).fit(X)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = save(emb, f"{tmp.name}/embedder")
    >>> sorted(p.name for p in path.iterdir())
    ['estimator.json', 'model.safetensors']
    >>> np.array_equal(load(path).transform(X), emb.transform(X))
    True
    >>> tmp.cleanup()
    """
    if type(estimator) not in ESTIMATORS.values():
        raise TypeError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {type(estimator).__name__}. "
                        "dnaestim.save stores dnaestim's estimators only (use skops.io for other scikit-learn "
                        "objects).")
    writer = _Writer()
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "dnaestim_version": __version__,
                "estimator": writer.estimator(estimator, "estimator", depth=0)}
    from safetensors.torch import save as save_safetensors

    # Everything is serialised first: a value that cannot be stored leaves the disk untouched.
    payloads = {
        TENSORS_FILE: save_safetensors(writer.tensors, metadata={"format": "pt", "dnaestim_format": FORMAT_NAME,
                                                                 "dnaestim_format_version": str(FORMAT_VERSION)}),
        METADATA_FILE: (json.dumps(document, indent=1, allow_nan=False) + "\n").encode("utf-8"),
    }
    directory = Path(path).expanduser()
    _check_replaceable(directory)
    _replace_directory(directory, payloads)
    return directory


def _check_replaceable(directory: Path):
    """Refuse to replace anything but a saved estimator (or an empty directory)."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a directory; dnaestim.save writes a directory. Choose "
                              "another path.")
    other = sorted(p.name for p in directory.iterdir() if p.name not in _FILES)
    if other:
        raise FileExistsError(
            f"{directory} holds files that are not a saved estimator's ({', '.join(other)}); dnaestim.save replaces "
            "the whole directory, so it only writes over an empty one or one it wrote. Choose another path."
        )


def _replace_directory(directory: Path, payloads: dict):
    """Write ``payloads`` into a temporary sibling directory, then rename it over ``directory``."""
    parent = directory.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{directory.name}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()  # not mkdtemp: the directory keeps the permissions the umask gives, as mkdir's
    except OSError as err:
        raise _save_error(directory, err) from err
    retired = None
    try:
        for name in (TENSORS_FILE, METADATA_FILE):  # the metadata last: a directory without it is no estimator
            with atomic_write(staging / name) as fh:
                fh.write(payloads[name])
        fsync_directory(staging)
        if directory.exists():
            retired = parent / f".{directory.name}.{uuid.uuid4().hex}.old"
            os.rename(directory, retired)
        try:
            os.rename(staging, directory)
        except BaseException:
            if retired is not None:
                os.rename(retired, directory)  # put the previous one back
                retired = None
            raise
        fsync_directory(parent)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError):
            raise _save_error(directory, err) from err
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def _save_error(directory: Path, err: OSError) -> OSError:
    reason = err.strerror or str(err)
    return OSError(err.errno, f"Could not save the estimator to {directory} ({reason}); the estimator saved there "
                              "before, if any, is unchanged. Free disk space or fix the permissions, then retry.")


class _Walker:
    """What the writer and the reader share: walking the items of a sequence, each named by its index."""

    def items(self, values, where, depth) -> list:
        return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(values)]


class _Writer(_Walker):
    """Turns an estimator into JSON nodes, collecting its tensors by name."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def _tensor_key(self, where: str) -> str:
        key, n = where, 1
        while key in self.tensors:
            n += 1
            key = f"{where}#{n}"
        return key

    def _store(self, key: str, tensor: torch.Tensor) -> str:
        # A copy on the CPU, owning its memory: safetensors refuses tensors that share storage.
        self.tensors[key] = tensor.detach().to("cpu", copy=True).contiguous()
        return key

    def estimator(self, estimator, where, depth):
        params = estimator.get_params(deep=False)
        attributes = {name: value for name, value in vars(estimator).items() if name not in params}
        node = {_TAG: "estimator", "class": type(estimator).__name__,
                "params": {name: self.value(value, f"{where}.params.{name}", depth + 1)
                           for name, value in params.items()},
                "attributes": {}}
        for name, value in attributes.items():
            if not _ATTRIBUTE.match(name) or hasattr(type(estimator), name):
                raise TypeError(f"Cannot save {where}: its attribute {name!r} is not a fitted attribute's name (it "
                                "is not a plain name, or it hides one of the class's). Nothing was written.")
            sub = f"{where}.attributes.{name}"
            if (name == "model_" and isinstance(estimator, SoftPromptClassifier) and not estimator.keep_backbone
                    and isinstance(value, SoftPromptModel)):
                node["attributes"][name] = self.prompt_only(estimator, value, sub)
            else:
                node["attributes"][name] = self.value(value, sub, depth + 1)
        return node

    def value(self, value, where, depth):  # noqa: C901 - one branch per allowed type
        if depth > _MAX_DEPTH:
            raise TypeError(f"Cannot save {where}: values nested deeper than {_MAX_DEPTH} levels (a cycle?).")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
        if kind is list:
            return self.items(value, where, depth)
        if kind is tuple:
            return {_TAG: "tuple", "items": self.items(value, where, depth)}
        if kind is dict:
            if all(type(k) is str for k in value) and _TAG not in value:
                return {k: self.value(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
            return {_TAG: "dict", "items": [[self.value(k, f"{where} key {k!r}", depth + 1),
                                             self.value(v, f"{where}[{k!r}]", depth + 1)] for k, v in value.items()]}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            dtype = value.dtype
            if not _NUMPY_DTYPE.match(dtype.str):
                raise _unsupported(where, value, f"numpy scalars of dtype {dtype} are not stored")
            return {_TAG: "numpy.scalar", "dtype": dtype.str, "value": self.value(value.item(), where, depth + 1)}
        if kind is np.ndarray:
            return self.array(value, where, depth)
        if kind is np.random.RandomState:
            return {_TAG: "numpy.RandomState", "state": self.value(value.get_state(legacy=True), where, depth + 1)}
        if kind is torch.dtype:
            if _dtype_name(value) not in TORCH_DTYPES:
                raise _unsupported(where, value, f"torch dtype {value} is not one of {', '.join(TORCH_DTYPES)}")
            return {_TAG: "torch.dtype", "value": _dtype_name(value)}
        if kind is torch.device:
            if not _DEVICE.match(str(value)):
                raise _unsupported(where, value, f"device {value} is not a cpu, cuda, mps or xpu device")
            return {_TAG: "torch.device", "value": str(value)}
        if kind is torch.Tensor:
            if _dtype_name(value.dtype) not in TORCH_DTYPES:
                raise _unsupported(where, value, f"tensors of dtype {value.dtype} are not stored")
            return {_TAG: "torch.Tensor", "tensor": self._store(self._tensor_key(where), value),
                    "requires_grad": value.requires_grad, "device": str(value.device)}
        if isinstance(value, pathlib.PurePath):
            return {_TAG: "path", "value": str(value)}
        if kind is Stage:
            return {_TAG: "Stage", **{field: getattr(value, field) for field in _FIELDS["Stage"]}}
        if kind is WarmupSchedule:
            return {_TAG: "WarmupSchedule", "stages": self.items(value.stages, f"{where}.stages", depth)}
        if kind in MODULES.values():
            return self.module(value, where)
        if kind in ESTIMATORS.values():
            return self.estimator(value, where, depth + 1)
        if callable(value):
            raise _unsupported(where, value, "it is code, and this format stores no code; give a name instead "
                                             "(e.g. a scorer's name for scoring), or pickle a file you only load "
                                             "yourself")
        raise _unsupported(where, value, "it is not a type this format stores")

    def array(self, value: np.ndarray, where, depth):
        dtype = value.dtype
        node = {_TAG: "numpy.ndarray", "dtype": dtype.str, "shape": list(value.shape)}
        if dtype.kind in "biuf" and _NUMPY_DTYPE.match(dtype.str):
            native = np.ascontiguousarray(value, dtype=dtype.newbyteorder("="))
            if native.dtype not in _NUMPY_TO_TORCH:  # uint16/32/64: the same bits as a signed integer
                native = native.view(_SAME_WIDTH_INT[native.dtype.itemsize])
            node["tensor"] = self._store(self._tensor_key(where), torch.from_numpy(native.copy()))
            return node
        if dtype.kind == "U" and _NUMPY_DTYPE.match(dtype.str):
            node["items"] = [str(v) for v in value.ravel().tolist()]
            return node
        if dtype.kind == "O":
            node["items"] = self.items(value.ravel().tolist(), where, depth)
            return node
        raise _unsupported(where, value, f"numpy arrays of dtype {dtype} are not stored (numbers, text and objects "
                                         "of the stored types are)")

    def module(self, module, where, backbone=None):
        """A module node: its configuration or, given ``backbone`` (a soft-prompt model saved without its language
        model), where that lives; what its constructor needs besides; and its state."""
        if backbone is None:
            floating = {t.dtype for t in module.state_dict().values() if t.is_floating_point()}
            if len(floating) != 1:
                raise _unsupported(where, module, f"its floating-point tensors mix dtypes {sorted(map(str, floating))}")
            dtype = _dtype_name(floating.pop())
            if dtype not in TORCH_DTYPES:
                raise _unsupported(where, module, f"torch dtype {dtype} is not stored")
            config = (module.lm if isinstance(module, SoftPromptModel) else module).config
            source = {"config": config.to_dict(),
                      "config_extra": self.value(dict(config.extra), f"{where}.config.extra", 1)}
            state = module.state_dict()
        else:
            dtype = _dtype_name(module.prompt.dtype)
            source = {"backbone": backbone}
            state = module.trainable_state()
        prefix = f"{where}/"
        for name, tensor in state.items():
            if prefix + name in self.tensors:
                raise TypeError(f"Cannot save {where}: two tensors would be stored as {prefix + name!r}.")
            self._store(prefix + name, tensor)
        modes = {}
        changes = []
        for name, sub in module.named_modules():
            modes[name] = sub.training
            if sub.training != (modes[name.rpartition(".")[0]] if name else False):
                changes.append(name)
        return {_TAG: "torch.nn.Module", "class": type(module).__name__, **source, **_module_spec(module),
                "dtype": dtype, "device": str(_device_of(module)), "tensors": prefix,
                "frozen": [name for name, p in module.named_parameters() if not p.requires_grad],
                "mode_changes": changes}

    def prompt_only(self, estimator, module, where):
        """A soft-prompt model without its language model: the trainable state, and where the backbone lives."""
        checkpoint, fingerprint = getattr(estimator, "_checkpoint", None), getattr(estimator, "_fingerprint", None)
        if not (isinstance(checkpoint, str) and isinstance(fingerprint, str)):
            raise _unsupported(where, module, "keep_backbone=False but the estimator does not record its checkpoint")
        return self.module(module, where, backbone={"checkpoint": checkpoint, "fingerprint": fingerprint})


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _module_spec(module) -> dict:
    """What the constructor needs beyond the configuration (the state then overwrites every tensor)."""
    if isinstance(module, HyenaSequenceClassifier):
        return {"n_outputs": module.head.out_features, "pooling": module.pooling, "dropout": float(module.dropout.p),
                "length_feature": module.length_feature}
    if isinstance(module, SoftPromptModel):
        return {"n_prompt_tokens": module.n_prompt_tokens, "head": module.head_type,
                "n_classes": module.head.out_features if module.head is not None else len(module.label_token_ids),
                "n_label_tokens": len(module.label_token_ids), "n_demo_ids": module.demo_ids.numel(),
                "prompt_dropout": float(module.prompt_dropout.p)}
    return {}


def _device_of(module) -> torch.device:
    return next(iter(module.state_dict().values())).device


def _unsupported(where, value, why) -> TypeError:
    return TypeError(f"Cannot save {where}: a {type(value).__module__}.{type(value).__qualname__}, and {why}. "
                     "Nothing was written.")


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def load(path, *, device=None):
    """Load an estimator written by :func:`save`, running no code from the files.

    Only the estimator classes, modules and value types this format knows are built (see
    :mod:`dnaestim.persistence`); a file that names anything else, has a version from a newer dnaestim, lacks a
    file or a tensor, holds an extra one, or holds tensors that do not fit their module is refused. Neither
    :mod:`pickle` nor ``torch.load`` is used.

    Parameters
    ----------
    path : str or path-like
        Directory written by :func:`save`.
    device : str or torch.device, optional
        Where to put the model (``device_`` follows). None: where it was fitted, as unpickling does, or the CPU,
        with a ``UserWarning``, when that is a GPU and CUDA is not available.

    Returns
    -------
    HyenaClassifier, HyenaRegressor, HyenaEmbedder, HyenaPretrainer or SoftPromptClassifier
        The estimator, with the parameters and fitted attributes it was saved with.

    Raises
    ------
    FileNotFoundError
        If the directory or one of its two files is missing.
    CheckpointError
        If a file is corrupt, from a newer format version, names a class or type tag this dnaestim does not
        know, or holds tensors that do not match; the message names the file and the problem.

    Warns
    -----
    InconsistentVersionWarning
        When another dnaestim version saved the estimator.

    See Also
    --------
    save : Write the directory.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from dnaestim import HyenaRegressor, load, save
    >>> X, y = ["ACGTACGTAC", "TTTTGGGGCC", "ACGTACGTTT", "GGGGCCCCTT"], [0.5, 2.0, 0.7, 1.9]
    >>> reg = HyenaRegressor(pretrained=None, d_model=16, n_layer=1, max_iter=1, early_stopping=False,
    ...                      random_state=0).fit(X, y)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> loaded = load(save(reg, f"{tmp.name}/regressor"), device="cpu")
    >>> np.array_equal(loaded.predict(X), reg.predict(X)), np.array_equal(loaded.target_mean_, reg.target_mean_)
    (True, True)
    >>> tmp.cleanup()
    """
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device={device!r} is not a device; use 'cpu', 'cuda', 'cuda:N' or a torch.device.") \
                from None
    directory = Path(path).expanduser()
    if not directory.exists():
        raise FileNotFoundError(f"{directory} does not exist: pass the directory dnaestim.save wrote.")
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; dnaestim.save writes a directory (with {METADATA_FILE} and "
                              f"{TENSORS_FILE}). Pass that directory. A pickle or joblib file is not read by "
                              "dnaestim.load.")
    metadata_path, tensors_path = directory / METADATA_FILE, directory / TENSORS_FILE
    if not metadata_path.is_file():
        hint = (" It holds a checkpoint (config.json): load it with dnaestim.load_pretrained."
                if (directory / "config.json").is_file() else "")
        raise FileNotFoundError(f"{metadata_path} is missing: {directory} is not an estimator saved by "
                                f"dnaestim.save.{hint}")
    unknown = sorted(p.name for p in directory.iterdir() if p.name not in _FILES)
    if unknown:
        raise CheckpointError(
            f"{directory} holds files that are not part of a saved estimator: {', '.join(unknown)}. dnaestim.load "
            f"reads only {METADATA_FILE} and {TENSORS_FILE} and never unpickles anything; remove the other files "
            "(or copy those two elsewhere) if you trust the rest."
        )
    document = _read_json(metadata_path)
    _check_header(document, metadata_path)
    if not tensors_path.is_file():
        raise FileNotFoundError(f"{tensors_path} is missing: the saved estimator's tensors are gone, so it cannot "
                                "be loaded. Save it again.")
    tensors = _read_tensors(tensors_path)
    reader = _Reader(tensors, metadata_path, tensors_path, device)
    if document["dnaestim_version"] != __version__:
        name = document["estimator"].get("class") if isinstance(document["estimator"], dict) else None
        warnings.warn(_SavedVersionWarning(name if isinstance(name, str) else "estimator",
                                           document["dnaestim_version"], __version__), stacklevel=user_stacklevel())
    estimator = reader.estimator(document["estimator"], "estimator", depth=0)
    reader.check_all_used()
    return estimator


def _read_json(path: Path):
    def no_constants(name):
        raise ValueError(f"{name} is not a JSON number")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice in one object")
        return dict(pairs)

    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants,
                          object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}).") from None


def _check_header(document, path: Path):
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a dnaestim estimator file: it must state \"format\": "
                              f"\"{FORMAT_NAME}\".")
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} states format_version {version!r}; a version is an int >= 1.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is format version {version}, written by a newer dnaestim (its file says "
            f"{document.get('dnaestim_version')!r}); this dnaestim ({__version__}) reads versions up to "
            f"{FORMAT_VERSION}. Upgrade dnaestim to load it."
        )
    expected = {"format", "format_version", "dnaestim_version", "estimator"}
    if set(document) != expected:
        raise CheckpointError(f"{path} must hold exactly the keys {sorted(expected)}; it holds {sorted(document)}.")
    if not isinstance(document["dnaestim_version"], str):
        raise CheckpointError(f"{path}: dnaestim_version must be a string.")


def _read_tensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file (corrupt or truncated: {err}).") from None


class _Reader(_Walker):
    """Turns JSON nodes back into values, taking tensors from the safetensors file; refuses anything unknown."""

    def __init__(self, tensors, metadata_path, tensors_path, device):
        self.tensors, self.used = tensors, set()
        self.metadata_path, self.tensors_path = metadata_path, tensors_path
        self.device = device
        self.owner = "estimator"

    def fail(self, where, problem) -> CheckpointError:
        return CheckpointError(f"{self.metadata_path}: {where} {problem}; dnaestim.load refuses to load it.")

    def fields(self, node, required, where, optional=()):
        missing = [k for k in required if k not in node]
        extra = [k for k in node if k not in required and k not in optional and k != _TAG]
        if missing or extra:
            problems = filter(None, [missing and f"lacks {missing}", extra and f"has unknown {extra}"])
            raise self.fail(where, f"(a {node.get(_TAG)!r} node) " + "; ".join(problems))

    def typed(self, value, types, where, what):
        types = types if isinstance(types, tuple) else (types,)
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise self.fail(where, f"has the {what} {value!r}")
        return value

    def names(self, value, where, what) -> set:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self.fail(where, f"has the {what} {value!r}; a list of names")
        return set(value)

    def tensor(self, key, where) -> torch.Tensor:
        if not isinstance(key, str) or key not in self.tensors:
            raise CheckpointError(f"{self.tensors_path} has no tensor {key!r}, which {where} in "
                                  f"{self.metadata_path.name} refers to; dnaestim.load refuses to load it.")
        if key in self.used:
            raise self.fail(where, f"refers to tensor {key!r}, which another entry uses too")
        self.used.add(key)
        return self.tensors[key]

    def check_all_used(self):
        extra = sorted(set(self.tensors) - self.used)
        if extra:
            raise CheckpointError(
                f"{self.tensors_path} holds tensors that no entry of {self.metadata_path.name} refers to: "
                f"{', '.join(extra[:10])}{' ...' if len(extra) > 10 else ''}; dnaestim.load refuses to load it."
            )

    def place(self, recorded, where) -> torch.device:
        if self.device is not None:
            return self.device
        if not (isinstance(recorded, str) and _DEVICE.match(recorded)):
            raise self.fail(where, f"names device {recorded!r}, not a cpu, cuda, mps or xpu device")
        return restore_device(recorded, self.owner)

    # -- estimators --------------------------------------------------------------------------------------------

    def estimator(self, node, where, depth):
        if not isinstance(node, dict) or node.get(_TAG) != "estimator":
            raise self.fail(where, "is not an estimator node")
        self.fields(node, ("class", "params", "attributes"), where)
        name = node["class"]
        if not isinstance(name, str) or name not in ESTIMATORS:
            raise self.fail(where, f"names the estimator class {name!r}, which is not one dnaestim.load builds "
                                   f"({', '.join(ESTIMATORS)})")
        cls = ESTIMATORS[name]
        params, attributes = node["params"], node["attributes"]
        if not isinstance(params, dict) or not isinstance(attributes, dict) or _TAG in params or _TAG in attributes:
            raise self.fail(where, "must give params and attributes as JSON objects")
        known = set(cls._get_param_names())
        unknown = sorted(set(params) - known)
        if unknown:
            raise self.fail(where, f"gives {name} parameters it does not have: {unknown}")
        owner, self.owner = self.owner, name
        try:
            values = {k: self.value(v, f"{where}.params.{k}", depth + 1) for k, v in params.items()}
            estimator = cls(**values)
            for attribute, value in attributes.items():
                if not _ATTRIBUTE.match(attribute) or attribute in known or hasattr(cls, attribute):
                    raise self.fail(where, f"has the attribute {attribute!r}, which is not a fitted attribute's name")
                estimator.__dict__[attribute] = self.value(value, f"{where}.attributes.{attribute}", depth + 1)
            estimator.__dict__.update(_missing_length_feature(
                estimator, {**values, **{name: estimator.__dict__[name] for name in attributes}}))
        finally:
            self.owner = owner
        model = estimator.__dict__.get("model_")
        fitted_on = estimator.__dict__.get("device_")
        if isinstance(model, torch.nn.Module) and isinstance(fitted_on, torch.device):
            actual = _device_of(model)
            if actual.type != fitted_on.type or (fitted_on.index is not None and actual.index != fitted_on.index):
                estimator.device_ = actual  # moved by ``device`` or for want of CUDA, as unpickling does
        return estimator

    # -- values ------------------------------------------------------------------------------------------------

    def value(self, node, where, depth):  # noqa: C901 - one branch per tag
        if depth > _MAX_DEPTH:
            raise self.fail(where, f"nests values deeper than {_MAX_DEPTH} levels")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return self.items(node, where, depth)
        if type(node) is not dict:
            raise self.fail(where, f"holds a {type(node).__name__}")
        if _TAG not in node:
            return {k: self.value(v, f"{where}[{k!r}]", depth + 1) for k, v in node.items()}
        tag = node[_TAG]
        if not (isinstance(tag, str) and tag in TYPE_TAGS):
            raise self.fail(where, f"has the type tag {tag!r}, which is not one this format knows "
                                   f"({', '.join(TYPE_TAGS)})")
        if tag in _FIELDS:
            self.fields(node, _FIELDS[tag], where)
        if tag == "float":
            if node["value"] not in ("nan", "inf", "-inf"):
                raise self.fail(where, f"has the float {node['value']!r}; only 'nan', 'inf' and '-inf' are tagged")
            return float(node["value"])
        if tag == "tuple":
            return tuple(self.items(self.typed(node["items"], list, where, "items"), where, depth))
        if tag == "dict":
            out = {}
            for i, pair in enumerate(self.typed(node["items"], list, where, "items")):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.fail(f"{where}.items[{i}]", "is not a [key, value] pair")
                key = self.value(pair[0], f"{where} key {i}", depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise self.fail(where, f"has the unhashable key {key!r}") from None
                out[key] = self.value(pair[1], f"{where}[{key!r}]", depth + 1)
            return out
        if tag == "numpy.scalar":
            dtype = self.numpy_dtype(node["dtype"], where)
            value = self.value(node["value"], where, depth + 1)
            if not isinstance(value, (bool, int, float, str)):
                raise self.fail(where, f"has the numpy scalar value {value!r}")
            try:
                return np.array(value, dtype=dtype)[()]
            except (TypeError, ValueError, OverflowError):
                raise self.fail(where, f"holds {value!r}, which is not a {dtype} value") from None
        if tag == "numpy.ndarray":
            return self.array(node, where, depth)
        if tag == "numpy.RandomState":
            state = self.value(node["state"], where, depth + 1)
            random_state = np.random.RandomState()
            try:
                if not (isinstance(state, tuple) and len(state) == 5 and state[0] == "MT19937"
                        and isinstance(state[1], np.ndarray) and state[1].shape == (624,)):
                    raise ValueError("not a Mersenne Twister state")
                random_state.set_state(state)
            except (TypeError, ValueError) as err:
                raise self.fail(where, f"is not a RandomState ({err})") from None
            return random_state
        if tag == "torch.dtype":
            if not (isinstance(node["value"], str) and node["value"] in TORCH_DTYPES):
                raise self.fail(where, f"names the torch dtype {node['value']!r}, not one of {list(TORCH_DTYPES)}")
            return TORCH_DTYPES[node["value"]]
        if tag == "torch.device":
            if not (isinstance(node["value"], str) and _DEVICE.match(node["value"])):
                raise self.fail(where, f"names the device {node['value']!r}, not a cpu, cuda, mps or xpu device")
            return torch.device(node["value"])
        if tag == "torch.Tensor":
            tensor = self.tensor(node["tensor"], where)
            if tensor.dtype not in TORCH_DTYPES.values():
                raise self.fail(where, f"refers to a tensor of dtype {tensor.dtype}, not one of {list(TORCH_DTYPES)}")
            tensor = tensor.to(self.place(node["device"], where))
            return tensor.requires_grad_(self.typed(node["requires_grad"], bool, where, "requires_grad"))
        if tag == "path":
            return Path(self.typed(node["value"], str, where, "path"))
        if tag == "Stage":
            return Stage(*(self.typed(node[k], int, where, k) for k in _FIELDS["Stage"]))
        if tag == "WarmupSchedule":
            stages = self.items(self.typed(node["stages"], list, where, "stages"), f"{where}.stages", depth)
            if not stages or not all(type(s) is Stage for s in stages):
                raise self.fail(where, "must list one Stage or more")
            return WarmupSchedule(stages)
        if tag == "torch.nn.Module":
            return self.module(node, where)
        return self.estimator(node, where, depth + 1)  # "estimator", the last tag

    def numpy_dtype(self, text, where) -> np.dtype:
        if not (isinstance(text, str) and _NUMPY_DTYPE.match(text)):
            raise self.fail(where, f"has the numpy dtype {text!r}; only booleans, numbers and text are stored")
        return np.dtype(text)

    def array(self, node, where, depth):
        dtype_text = node.get("dtype")
        shape = node.get("shape")
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
            raise self.fail(where, f"has the shape {shape!r}")
        size = math.prod(shape)
        dtype = None if dtype_text == "|O" else self.numpy_dtype(dtype_text, where)
        if dtype is None or dtype.kind == "U":  # objects or text, listed in the JSON
            self.fields(node, ("dtype", "shape", "items"), where)
            items = self.typed(node["items"], list, where, "items")
            if dtype is not None:
                if len(items) != size or not all(type(s) is str for s in items):
                    raise self.fail(where, f"must hold {size} strings for shape {tuple(shape)}")
                return np.array(items, dtype=dtype).reshape(shape)
            if len(items) != size:
                raise self.fail(where, f"has {len(items)} items for shape {tuple(shape)}")
            out = np.empty(size, dtype=object)
            for i, item in enumerate(self.items(items, where, depth)):
                out[i] = item
            return out.reshape(shape)
        self.fields(node, ("dtype", "shape", "tensor"), where)
        tensor = self.tensor(node["tensor"], where)
        native = dtype.newbyteorder("=")
        stored = _NUMPY_TO_TORCH.get(native) or _NUMPY_TO_TORCH[np.dtype(_SAME_WIDTH_INT[native.itemsize])]
        if tensor.dtype != stored or list(tensor.shape) != shape:
            raise CheckpointError(f"{self.tensors_path}: tensor {node['tensor']!r} is {tensor.dtype} of shape "
                                  f"{tuple(tensor.shape)}, but {where} in {self.metadata_path.name} is a {dtype} "
                                  f"array of shape {tuple(shape)}; dnaestim.load refuses to load it.")
        return tensor.numpy().view(native).astype(dtype, copy=True)

    # -- modules -----------------------------------------------------------------------------------------------

    def module(self, node, where):
        name = node.get("class")
        if not isinstance(name, str) or name not in MODULES:
            raise self.fail(where, f"names the module class {name!r}, which is not one dnaestim.load builds "
                                   f"({', '.join(MODULES)})")
        common = ("class", "dtype", "device", "tensors", "frozen", "mode_changes")
        spec_keys = tuple(_MODULE_SPECS[name])
        external = name == "SoftPromptModel" and "backbone" in node
        # "length_feature" arrived after the first files were written: absent means False.
        optional = ("length_feature",) if name == "HyenaSequenceClassifier" else ()
        self.fields(node, common + spec_keys + (("backbone",) if external else ("config", "config_extra")), where,
                    optional)
        if not (isinstance(node["dtype"], str) and node["dtype"] in TORCH_DTYPES
                and TORCH_DTYPES[node["dtype"]].is_floating_point):
            raise self.fail(where, f"has the module dtype {node['dtype']!r}")
        dtype = TORCH_DTYPES[node["dtype"]]
        prefix = self.typed(node["tensors"], str, where, "tensors")
        frozen = self.names(node["frozen"], where, "frozen parameters")
        mode_changes = self.names(node["mode_changes"], where, "modules switching train/eval mode")
        lm = self.external_backbone(node["backbone"], where) if external else None
        try:
            with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
                generator = torch.Generator().manual_seed(0)
                if lm is None:
                    lm = HyenaLM(self.config(node, where), generator=generator)
                spec = {key: self.typed(node[key], types, where, key) for key, types in _MODULE_SPECS[name].items()}
                if name == "HyenaLM":
                    module = lm
                elif name == "HyenaSequenceClassifier":
                    module = HyenaSequenceClassifier(
                        lm.config, spec["n_outputs"], spec["pooling"], float(spec["dropout"]),
                        length_feature=self.typed(node.get("length_feature", False), bool, where, "length_feature"),
                        generator=generator)
                else:
                    module = SoftPromptModel(
                        lm, spec["n_prompt_tokens"], spec["n_classes"], spec["head"], [0] * spec["n_label_tokens"],
                        torch.zeros(spec["n_demo_ids"], dtype=torch.long), float(spec["prompt_dropout"]),
                        generator=generator)
        except CheckpointError:
            raise
        except (TypeError, ValueError, RuntimeError) as err:
            raise self.fail(where, f"describes a {name} that cannot be built ({err})") from None
        module.to(dtype=dtype)
        expected = module.trainable_state() if external else module.state_dict()
        state = {}
        problems = []
        for key, target in expected.items():
            full = prefix + key
            if full not in self.tensors:
                problems.append(f"{full} is missing")
                continue
            tensor = self.tensor(full, where)
            if tensor.shape != target.shape or tensor.dtype != target.dtype:
                problems.append(f"{full} is {tensor.dtype} {tuple(tensor.shape)}, the module's {target.dtype} "
                                f"{tuple(target.shape)}")
            state[key] = tensor
        if problems:
            raise CheckpointError(f"{self.tensors_path}: the tensors of {where} do not match the module "
                                  f"{self.metadata_path.name} describes: {'; '.join(problems)}. dnaestim.load "
                                  "refuses to load it.")
        module.load_state_dict(state, strict=not external)
        strangers = sorted((frozen - {n for n, _ in module.named_parameters()})
                           | (mode_changes - {n for n, _ in module.named_modules()}))
        if strangers:
            raise self.fail(where, f"names parameters or submodules the {name} does not have: {strangers}")
        for parameter_name, parameter in module.named_parameters():
            parameter.requires_grad_(parameter_name not in frozen)
        modes = {}
        for module_name, sub in module.named_modules():  # parents come before their children
            parent = modes[module_name.rpartition(".")[0]] if module_name else False
            sub.training = modes[module_name] = parent != (module_name in mode_changes)
        return module.to(self.place(node["device"], where))

    def config(self, node, where) -> HyenaConfig:
        raw = node["config"]
        try:
            config = HyenaConfig.from_dict(raw)
            if config.to_dict() != raw:
                raise ValueError("it is not a configuration dnaestim writes (unknown or missing keys)")
        except (TypeError, ValueError) as err:
            raise self.fail(f"{where}.config", f"does not describe a HyenaDNA model ({err})") from None
        extra = self.value(node["config_extra"], f"{where}.config_extra", 1)
        if not isinstance(extra, dict):
            raise self.fail(f"{where}.config_extra", "is not a JSON object")
        config.extra = extra
        return config

    def external_backbone(self, backbone, where) -> HyenaLM:
        """The language model of a soft-prompt classifier saved with ``keep_backbone=False``, checked."""
        from .estimators._soft_prompt import load_checked_backbone

        if not isinstance(backbone, dict) or set(backbone) != {"checkpoint", "fingerprint"} \
                or not all(isinstance(v, str) for v in backbone.values()):
            raise self.fail(f"{where}.backbone", "must give the checkpoint and fingerprint as strings")
        return load_checked_backbone(backbone["checkpoint"], backbone["fingerprint"], "save")

