"""Pretrained backbones shipped inside the package, looked up by name.

Each bundled model is a folder ``dnaestim/data/models/<name>/`` holding ``config.json``, ``model.safetensors``
and ``MODEL_CARD.md`` (how it was made, on what, and how well it predicts held-out genome). The estimators start
from :data:`DEFAULT_BACKBONE` unless told otherwise; :func:`dnaestim.load_pretrained` accepts these names
wherever it accepts a checkpoint directory. Nothing is downloaded: the weights are part of the wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_BACKBONE", "bundled_model_path", "bundled_names", "is_bundled_name", "list_pretrained"]

#: Name of the backbone the estimators start from by default (see its model card).
DEFAULT_BACKBONE = "dnaestim-multispecies-tiny-1k"

_MODELS_DIR = ("data", "models")


def _models_root() -> Path:
    return Path(str(resources.files("dnaestim").joinpath(*_MODELS_DIR)))


def bundled_names() -> list[str]:
    """Names of the bundled models, sorted.

    Returns
    -------
    list of str
        The folders under ``dnaestim/data/models`` that hold a ``config.json``.
    """
    root = _models_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def bundled_model_path(name: str) -> Path:
    """Folder of the bundled model ``name``.

    Parameters
    ----------
    name : str
        One of the names :func:`list_pretrained` shows.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    KeyError
        If no bundled model has that name; the message lists those that exist.
    """
    names = bundled_names()
    if name not in names:
        raise KeyError(f"No bundled model is named {name!r}; the bundled models are: {', '.join(names) or 'none'}.")
    return _models_root() / name


def is_bundled_name(value) -> bool:
    """Whether ``value`` names a bundled model.

    Parameters
    ----------
    value : object
        Anything passed as ``pretrained``.

    Returns
    -------
    bool
        True for a str equal to one of :func:`bundled_names`.
    """
    return isinstance(value, str) and value in bundled_names()


def list_pretrained():
    """The pretrained models shipped with dnaestim.

    Returns
    -------
    pandas.DataFrame
        One row per model, indexed by ``name``, with columns ``d_model``, ``n_layer``, ``l_max``, ``parameters``,
        ``default`` (the estimators' default backbone) and ``card`` (path of its ``MODEL_CARD.md``).

    Examples
    --------
    >>> import dnaestim
    >>> table = dnaestim.list_pretrained()
    >>> dnaestim.models.DEFAULT_BACKBONE in table.index
    True
    """
    import pandas as pd

    from .checkpoints import load_pretrained

    rows = []
    for name in bundled_names():
        model = load_pretrained(_models_root() / name)
        config = model.config
        rows.append({"name": name, "d_model": config.d_model, "n_layer": config.n_layer, "l_max": config.l_max,
                     "parameters": sum(p.numel() for p in model.parameters()), "default": name == DEFAULT_BACKBONE,
                     "card": str(_models_root() / name / "MODEL_CARD.md")})
    columns = ["name", "d_model", "n_layer", "l_max", "parameters", "default", "card"]
    return pd.DataFrame(rows, columns=columns).set_index("name")
