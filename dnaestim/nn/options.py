"""Training-time settings of a built model: the implicit filters' parameter group, dropout and activation
checkpointing. Every estimator sets them through these functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from .hyena import HyenaBackbone

__all__ = ["filter_parameters", "set_training_options"]


def filter_parameters(backbone: HyenaBackbone) -> list:
    """Parameters of the backbone's implicit long filters: their MLPs, and ``z`` when it is trainable.

    The published recipe trains them with the layer's own ``lr``/``wd`` (``wd`` 0 by default).
    """
    params = []
    for layer in backbone.layers:
        fn = layer.mixer.filter_fn
        params.extend(fn.implicit_filter.parameters())
        if isinstance(fn.pos_emb.z, nn.Parameter):
            params.append(fn.pos_emb.z)
    return params


def set_training_options(backbone: HyenaBackbone, *, embed_dropout=None, resid_dropout=None,
                         gradient_checkpointing=None):
    """Change a built backbone's dropout rates and activation checkpointing, in its modules and its config.

    Parameters left at None keep their value. For models that were built (or loaded) with other settings than
    the ones to train with: every estimator sets them through this one function.
    """
    config = backbone.config
    if embed_dropout is not None:
        config.embed_dropout = float(embed_dropout)
    if resid_dropout is not None:
        config.resid_dropout = float(resid_dropout)
    if gradient_checkpointing is not None:
        config.checkpoint_mixer = config.checkpoint_mlp = bool(gradient_checkpointing)
    for i, layer in enumerate(backbone.layers):
        layer.dropout1.p = config.embed_dropout if i == 0 else config.resid_dropout
        layer.dropout2.p = config.resid_dropout
        layer.checkpoint_mixer, layer.checkpoint_mlp = config.checkpoint_mixer, config.checkpoint_mlp
    backbone.drop_f.p = config.resid_dropout
    return backbone
