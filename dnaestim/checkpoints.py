"""Loading and saving HyenaDNA weights in the published layouts, from and to local directories only.

Two published layouts are read:

* **Lightning** (``LongSafari/hyenadna-*-seqlen``): ``config.json`` with the Hyena settings nested under
  ``layer`` and ``weights.ckpt``, a checkpoint whose ``state_dict`` keys start with ``model.backbone.`` (with a
  ``.layer`` segment after ``mixer``/``mlp`` when trained with activation checkpointing).
* **Hugging Face port** (``LongSafari/hyenadna-*-seqlen-hf``): a flat ``config.json`` and ``model.safetensors``
  or ``pytorch_model.bin`` with keys ``hyena.backbone.…``, a separate ``lm_head.weight`` and often only one of
  the three shared sine-frequency tensors.

Pickled files are read with ``torch.load(weights_only=True)``: a file that would run code when unpickled is
refused. Nothing here touches the network.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import uuid
import warnings
import zipfile
from copy import deepcopy
from pathlib import Path

import torch

from ._atomic import atomic_write
from ._version import __version__
from ._validation import user_stacklevel
from .models import bundled_model_path, bundled_names, is_bundled_name
from .nn import HyenaConfig, HyenaLM
from .nn.hyena import HyenaBackbone
from .tokenizer import VOCAB

__all__ = ["CheckpointError", "load_pretrained", "save_pretrained"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
#: Keys a config.json must state: without them, the defaults would describe another model than the weights.
REQUIRED_CONFIG_KEYS = ("d_model", "n_layer")
LIGHTNING_WEIGHTS = "weights.ckpt"
SAFETENSORS_WEIGHTS = "model.safetensors"
TORCH_WEIGHTS = "pytorch_model.bin"
#: Weight files in the order they are looked for.
WEIGHT_FILES = (SAFETENSORS_WEIGHTS, LIGHTNING_WEIGHTS, TORCH_WEIGHTS)
#: Where ``save_pretrained`` records the id of one save: in config.json's ``"dnaestim"`` block, in the
#: safetensors header and next to the Lightning ``state_dict``. Files with different ids come from different saves.
SAVE_ID_KEY = "save_id"

_FREQ_KEY = re.compile(r"^(backbone\.layers\.\d+\.mixer\.filter_fn\.implicit_filter)\.(1|3|5)\.freq$")
_LAYER_SEGMENT = re.compile(r"\.(mixer|mlp)\.layer\.")
_PREFIX = re.compile(r"^(model|hyena)\.")
# Pickled metadata that Lightning checkpoints carry next to the weights. Objects of these modules are rebuilt as
# inert placeholders (their code never runs); the weights do not depend on them.
_METADATA_MODULES = ("omegaconf.", "pytorch_lightning.", "lightning.", "lightning_fabric.", "argparse.")


class CheckpointError(ValueError):
    """A checkpoint directory or file that cannot be loaded; the message says which file and why."""


class _Placeholder:
    """Stands in for a pickled metadata object; keeps its arguments and state, runs none of its code."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------


def load_pretrained(path, *, device=None, dtype=None) -> HyenaLM:
    """Load a HyenaDNA language model from a local checkpoint directory.

    Parameters
    ----------
    path : str or path-like
        The name of a model bundled with dnaestim (see :func:`dnaestim.list_pretrained`), or a directory holding
        ``config.json`` and one of ``model.safetensors``, ``weights.ckpt`` or ``pytorch_model.bin`` in either
        published layout (see the module docstring), or written by :func:`save_pretrained`. An existing
        directory wins over a bundled name (with a warning). Download released weights yourself; nothing is fetched.
    device : str or torch.device, optional
        Where to put the model (default: CPU).
    dtype : torch.dtype, optional
        Floating-point type of the parameters (default: as stored, normally float32).

    Returns
    -------
    HyenaLM
        The model in eval mode.

    Raises
    ------
    FileNotFoundError
        If the directory, its ``config.json`` or every weight file is missing.
    CheckpointError
        If a file is corrupt, carries pickled code, or its weights do not fit the configuration (missing,
        unexpected and wrongly-shaped keys are listed by name).

    Examples
    --------
    >>> model = load_pretrained("dnaestim-multispecies-tiny-1k")    # bundled with dnaestim
    >>> model.config.d_model
    128
    >>> model = load_pretrained("hyenadna-tiny-1k-seqlen")  # doctest: +SKIP
    >>> hidden = model.backbone(input_ids)  # doctest: +SKIP
    """
    directory = checkpoint_directory(path)
    config = read_config(directory / CONFIG_NAME)
    weights_file = next((directory / name for name in WEIGHT_FILES if (directory / name).is_file()), None)
    if weights_file is None:
        raise FileNotFoundError(
            f"No weights in {directory}: expected one of {', '.join(WEIGHT_FILES)} next to config.json."
        )
    state, save_id = _read_weights(weights_file)
    _check_same_save(config, save_id, directory / CONFIG_NAME, weights_file)
    state = normalize_state_dict(state, source=weights_file)
    head, embedding = state.get("lm_head.weight"), state.get("backbone.embeddings.word_embeddings.weight")
    config.tie_word_embeddings = head is None or (embedding is not None and torch.equal(head, embedding))
    if config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model = HyenaLM(config)
    _load_into(model, state, weights_file)
    model.eval()
    if dtype is not None or device is not None:
        model.to(device=device, dtype=dtype)
    return model


def language_model_of(source, *, copy: bool = False) -> HyenaLM | None:
    """The language model behind ``source``, or None when ``source`` holds none.

    Parameters
    ----------
    source : str, path-like, torch.nn.Module or fitted estimator
        A bundled model's name or a checkpoint directory (loaded); a :class:`~dnaestim.nn.HyenaLM`; a module
        holding a fine-tuned backbone (a :class:`~dnaestim.nn.heads.HyenaSequenceClassifier`, a soft-prompt
        model); or a fitted estimator whose ``model_`` is one of these (:class:`~dnaestim.HyenaPretrainer`,
        :class:`~dnaestim.HyenaClassifier`, :class:`~dnaestim.HyenaEmbedder`,
        :class:`~dnaestim.SoftPromptClassifier`).
    copy : bool, default=False
        Return a copy on the CPU of a model given in memory (a loaded one is always new).

    Returns
    -------
    HyenaLM or None
        For a classifier, a language model around its fine-tuned backbone whose next-token head is the (tied)
        token embedding: fine-tuning trains the backbone for the task, not for next-token prediction, so use it
        for embeddings and further fine-tuning rather than for likelihoods.
    """
    if isinstance(source, (str, os.PathLike)):
        return load_pretrained(source)
    model = source if isinstance(source, torch.nn.Module) else getattr(source, "model_", None)
    if isinstance(model, HyenaLM):
        return deepcopy(model).cpu() if copy else model
    if isinstance(getattr(model, "lm", None), HyenaLM):  # a soft-prompt model around a frozen language model
        return deepcopy(model.lm).cpu() if copy else model.lm
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, HyenaBackbone):
        return None
    config = deepcopy(backbone.config)
    config.tie_word_embeddings = True
    language_model = HyenaLM(config)
    if copy:
        backbone = deepcopy(backbone).cpu()
        backbone.config = config
    language_model.backbone = backbone
    return language_model


def checkpoint_directory(path) -> Path:
    """The directory ``path`` names: an existing directory, or the folder of the bundled model of that name.

    A directory that exists wins over a bundled model of the same name, with a warning.

    Parameters
    ----------
    path : str or path-like
        A checkpoint directory or a bundled model's name (:func:`dnaestim.list_pretrained`).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like.
    CheckpointError
        If ``path`` is a file.
    FileNotFoundError
        If it is neither an existing directory nor a bundled model's name.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a directory path (str or os.PathLike); got {type(path).__name__}.")
    directory = Path(path).expanduser()
    name = os.fspath(path)
    if is_bundled_name(name):
        if not directory.exists():
            return bundled_model_path(name)
        if directory.resolve() != bundled_model_path(name).resolve():
            warnings.warn(f"{name!r} is the name of a bundled model, and a directory of that name exists here "
                          f"({directory.resolve()}): loading the directory. Rename it to use the bundled model.",
                          UserWarning, stacklevel=user_stacklevel())
    if directory.is_file():
        raise CheckpointError(
            f"{directory} is a file; pass the directory that holds it together with config.json."
        )
    if not directory.is_dir():
        raise FileNotFoundError(
            f"Checkpoint directory {directory} does not exist, and no bundled model has that name (bundled: "
            f"{', '.join(bundled_names()) or 'none'}). For other weights, download them first (dnaestim never "
            "downloads), then pass the local directory."
        )
    return directory


def read_config(path) -> HyenaConfig:
    """Read a published or dnaestim ``config.json`` into a :class:`HyenaConfig`.

    Parameters
    ----------
    path : str or path-like
        The ``config.json`` file.

    Returns
    -------
    HyenaConfig
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a checkpoint directory needs its config.json.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}).") from None
    if isinstance(raw, dict):
        flat = {**raw, **(raw.get("layer") if isinstance(raw.get("layer"), dict) else {})}
        missing = [key for key in REQUIRED_CONFIG_KEYS if key not in flat]
        if missing:
            raise CheckpointError(
                f"{path} has no {' and no '.join(repr(k) for k in missing)}: every published config.json states the "
                f"model's {' and '.join(REQUIRED_CONFIG_KEYS)}. Is it the config of this checkpoint? Add the "
                "missing key(s) with the values the weights were trained with."
            )
    try:
        return HyenaConfig.from_dict(raw)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} does not describe a HyenaDNA model: {err}") from None


def read_state_dict(path) -> dict:
    """Read the tensors of a weight file, refusing pickled code.

    Parameters
    ----------
    path : str or path-like
        ``*.safetensors``, or a ``torch.save`` file (a Lightning checkpoint holding ``state_dict``, or a plain
        state dict).

    Returns
    -------
    dict of str to Tensor
        Keys as stored.
    """
    return _read_weights(Path(path))[0]


def _read_weights(path: Path) -> tuple[dict, str | None]:
    """The tensors of a weight file and the id of the ``save_pretrained`` call that wrote it (None if none did)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="pt") as fh:
                return {key: fh.get_tensor(key) for key in fh.keys()}, (fh.metadata() or {}).get(SAVE_ID_KEY)
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} is not a readable safetensors file ({err}).") from None
    saved = _torch_load(path)
    save_id = saved.get(SAVE_ID_KEY) if isinstance(saved, dict) and "state_dict" in saved else None
    return _extract_state_dict(saved, path), save_id if isinstance(save_id, str) else None


def _check_same_save(config: HyenaConfig, weights_id: str | None, config_path: Path, weights_path: Path):
    """Refuse a config.json and a weight file that different ``save_pretrained`` calls wrote.

    Each file is replaced atomically, but a save interrupted between two files leaves new weights next to an old
    config.json; so does copying files from two saves into one folder. A file without an id (a published
    checkpoint, an older dnaestim save, weights written by other tools) is not checked: the key and shape checks
    of the weights still apply.
    """
    block = config.extra.get("dnaestim")
    config_id = block.get(SAVE_ID_KEY) if isinstance(block, dict) else None
    if config_id is None or weights_id is None or weights_id == config_id:
        return
    raise CheckpointError(
        f"{weights_path.name} and {config_path.name} in {config_path.parent} were not written by the same save "
        f"(save ids {weights_id} and {config_id}): a save_pretrained that was interrupted, or files "
        "copied from two checkpoints. Save the model again, or copy the config.json and weight file that belong "
        "together."
    )


def _torch_load(path: Path):
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (zipfile.BadZipFile, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (corrupt or truncated: {err}).") from None
    code = [name for name in unsafe if not name.startswith(_METADATA_MODULES)]
    if code:
        raise CheckpointError(
            f"{path} carries pickled Python objects that would run code when loaded ({', '.join(sorted(code))}); "
            "dnaestim refuses to unpickle it. If you trust the file, re-save only its tensors in a separate "
            "session: torch.save({'state_dict': torch.load(p, weights_only=False)['state_dict']}, p)."
        )
    placeholders = [(_Placeholder, name) for name in unsafe]
    try:
        with torch.serialization.safe_globals(placeholders):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        first_line = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} could not be read safely ({first_line}).") from None


def _extract_state_dict(obj, path):
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} holds neither a Lightning checkpoint with a 'state_dict' nor a state dict of tensors."
        )
    return dict(obj)


def normalize_state_dict(state: dict, *, source="checkpoint") -> dict:
    """Map published key names onto :class:`HyenaLM`'s.

    Strips a leading ``model.`` or ``hyena.``, drops ``.layer`` after ``mixer``/``mlp``, drops
    ``torchmetrics`` entries, and fills missing copies of the shared sine frequency from the one present.

    Parameters
    ----------
    state : dict of str to Tensor
        Keys as stored in a published checkpoint.
    source : str or path-like
        Named in error messages.

    Returns
    -------
    dict of str to Tensor
    """
    out = {}
    for key, value in state.items():
        if key.startswith("torchmetrics") or ".torchmetrics" in key:
            continue
        out[_LAYER_SEGMENT.sub(r".\1.", _PREFIX.sub("", key))] = value

    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key in list(out):
        match = _FREQ_KEY.match(key)
        if match:
            groups.setdefault(match.group(1), {})[match.group(2)] = out[key]
    for prefix, present in groups.items():
        values = list(present.values())
        if any(not torch.equal(values[0], v) for v in values[1:]):
            raise CheckpointError(
                f"{source}: the sine frequencies {prefix}.{{1,3,5}}.freq differ, but HyenaDNA shares one tensor "
                "between them. This checkpoint is not in a published HyenaDNA layout."
            )
        for index in ("1", "3", "5"):
            out.setdefault(f"{prefix}.{index}.freq", values[0])
    return out


def _load_into(model: HyenaLM, state: dict, source: Path):
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    backbone_unexpected = [k for k in unexpected if k.startswith(("backbone.", "lm_head."))]
    wrong_shape = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = [f"{what} keys: {', '.join(keys)}" for what, keys in
                (("missing", missing), ("unexpected", backbone_unexpected), ("wrongly-shaped", wrong_shape)) if keys]
    if problems:
        raise CheckpointError(
            f"The weights in {source} do not match the model described by its config.json; "
            + "; ".join(problems)
            + ". Check that config.json belongs to these weights."
        )
    ignored = [k for k in unexpected if k not in backbone_unexpected]
    if ignored:
        logger.warning("Ignoring %d entries of %s that are not part of the language model: %s",
                       len(ignored), source, ", ".join(ignored[:10]) + (" ..." if len(ignored) > 10 else ""))
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{source}: tensor {key} contains NaN or infinite values.")
    model.load_state_dict({k: state[k] for k in expected}, strict=True)


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------


def save_pretrained(model: HyenaLM, path, *, safetensors: bool = True, lightning: bool = True,
                    metadata: dict | None = None) -> Path:
    """Write a model in the published Lightning layout and as ``model.safetensors``.

    ``config.json`` + ``weights.ckpt`` can be read by the published code; ``model.safetensors`` is the safe,
    fast copy :func:`load_pretrained` prefers. Every file is written atomically (temporary file, fsync,
    rename), config.json last; weight files of an earlier model that this call does not rewrite are removed, as
    they would no longer match config.json. All the files of one save carry the same save id: if a crash stops
    the save between two files, :func:`load_pretrained` says so instead of loading a mix of two models.

    Parameters
    ----------
    model : HyenaLM, torch.nn.Module or fitted estimator
        The model to save: a language model, or anything :func:`language_model_of` finds one in (the fine-tuned
        backbone of a fitted classifier is saved as a language model with a tied head).
    path : str or path-like
        Directory; created if missing.
    safetensors, lightning : bool, default=True
        Which weight files to write (at least one).
    metadata : dict, optional
        JSON-serialisable facts about the model (how it was trained) to store in ``config.json`` under
        ``"dnaestim"``, next to the dnaestim version and the tokenizer convention. A fitted estimator's
        parameters and training data are stored this way when ``model`` is the estimator; the block of the
        checkpoint the model was loaded from is kept under ``"based_on"``.

    Returns
    -------
    Path
        The directory.
    """
    language_model = model if isinstance(model, HyenaLM) else language_model_of(model)
    if language_model is None:
        raise TypeError(
            f"model must be a dnaestim HyenaLM, a module with a dnaestim backbone, or a fitted dnaestim estimator; "
            f"got {type(model).__name__}{' (is it fitted?)' if hasattr(model, 'get_params') else ''}."
        )
    if metadata is None and hasattr(model, "get_params"):
        metadata = model._checkpoint_metadata()
    model = language_model
    if not (safetensors or lightning):
        raise ValueError("Write at least one of safetensors and lightning.")
    directory = Path(path).expanduser()
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} exists and is not a directory.")
    directory.mkdir(parents=True, exist_ok=True)

    save_id = uuid.uuid4().hex
    config = model.config.to_dict()
    config["dnaestim"] = {**_provenance(model.config, metadata), SAVE_ID_KEY: save_id}
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if model.lm_head is None:
        state.pop("lm_head.weight", None)

    # Serialise everything first, so that an error leaves every existing file untouched; then replace the files
    # one by one (each atomically), remove weight files of an earlier save that would no longer match, and write
    # config.json last. The save id in every file makes a save interrupted between two files a clear error.
    payloads = {}
    if lightning:
        buffer = io.BytesIO()
        published = {"model." + _published_key(k, model.config): v for k, v in state.items()}
        torch.save({"state_dict": published, SAVE_ID_KEY: save_id}, buffer)
        payloads[LIGHTNING_WEIGHTS] = buffer.getvalue()
    if safetensors:
        from safetensors.torch import save as save_safetensors

        # safetensors stores no aliases: keep one copy of each shared sine frequency (the loader refills them).
        unique = {k: v.clone() for k, v in state.items() if not re.search(r"implicit_filter\.(3|5)\.freq$", k)}
        payloads[SAFETENSORS_WEIGHTS] = save_safetensors(
            unique, metadata={"format": "pt", "layout": "dnaestim", SAVE_ID_KEY: save_id})
    config_payload = (json.dumps(config, indent=2) + "\n").encode("utf-8")
    for name, payload in payloads.items():
        with atomic_write(directory / name) as fh:
            fh.write(payload)
    for stale in (directory / name for name in WEIGHT_FILES if name not in payloads):
        try:
            stale.unlink(missing_ok=True)
        except OSError as err:
            raise OSError(
                err.errno, f"Could not remove {stale} ({err.strerror or err}), the weights of an earlier save that "
                f"no longer match this one. config.json still describes the earlier save, so the folder loads as "
                f"that save or is refused, never as a mix. "
                f"Delete {stale.name} (or fix the permissions of {directory}) and save again.") from err
    with atomic_write(directory / CONFIG_NAME) as fh:
        fh.write(config_payload)
    return directory


def _provenance(config: HyenaConfig, metadata: dict | None) -> dict:
    """The ``"dnaestim"`` block of a written config.json: version, tokenizer convention, metadata, ancestry."""
    block = {
        "version": __version__,
        "tokenizer": {
            "ids": " ".join(f"{token}={index}" for token, index in VOCAB.items()),
            "padding_side": "right",
            "special_tokens": None,
            "note": "dnaestim's estimators feed sequences this way (upper-cased, no special tokens, right padding "
                    "with an attention mask); DNATokenizer(padding_side='right') reproduces it.",
        },
    }
    if metadata:
        block.update(metadata)
    previous = config.extra.get("dnaestim")
    if isinstance(previous, dict):
        block["based_on"] = {k: v for k, v in previous.items() if k != SAVE_ID_KEY}
    try:
        json.dumps(block)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable ({err}).") from None
    return block


def _published_key(key: str, config: HyenaConfig) -> str:
    if config.checkpoint_mixer:
        key = key.replace(".mixer.", ".mixer.layer.", 1)
    if config.checkpoint_mlp:
        key = key.replace(".mlp.", ".mlp.layer.", 1)
    return key
