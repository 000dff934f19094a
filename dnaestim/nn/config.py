"""HyenaDNA configuration, readable from and writable to the published ``config.json`` layouts."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

__all__ = ["HyenaConfig"]

logger = logging.getLogger(__name__)

# Keys of the published (Lightning) config's nested "layer" dict that map onto HyenaConfig fields.
_LAYER_KEYS = ("emb_dim", "filter_order", "short_filter_order", "l_max", "modulate", "w", "lr", "wd", "lr_pos_emb")
# Keys of the Hugging Face port's flat config whose names differ from ours.
_HF_RENAMES = {"max_seq_len": "l_max", "activation_freq": "w"}
# Keys known to carry no information for the forward function (the published code ignores them as well).
_IGNORED_QUIETLY = {"_name_", "local_order"}


@dataclass
class HyenaConfig:
    """Architecture of a HyenaDNA model.

    The field names are the keys of the published ``config.json`` (the nested ``layer`` keys flattened), so a
    published configuration maps onto it one to one; see :meth:`from_dict`.

    Parameters
    ----------
    d_model : int, default=128
        Width of the residual stream (``D``).
    n_layer : int, default=2
        Number of Hyena blocks.
    d_inner : int, optional
        Hidden width of each block's MLP; ``4 * d_model`` when not given.
    vocab_size : int, default=12
        Number of token ids; the embedding table is padded up to a multiple of ``pad_vocab_size_multiple``.
    resid_dropout : float, default=0.0
        Dropout on each block's output before it is added to the residual stream.
    embed_dropout : float, default=0.1
        Dropout on the token embeddings (the first block's first residual dropout).
    residual_in_fp32 : bool, default=True
        Keep the residual stream in at least float32 under mixed precision (an up-cast only: a float64 model
        keeps a float64 residual).
    pad_vocab_size_multiple : int, default=8
        Round the embedding table's size up to a multiple of this.
    checkpoint_mixer, checkpoint_mlp : bool, default=False
        Activation checkpointing of the Hyena operator / MLP in training. In the published layout this also
        adds a ``.layer`` segment to those weights' names.
    emb_dim : int, default=5
        Features of the implicit filter's positional encoding (``E``): time, then ``(E - 1) // 2`` sine/cosine
        bands.
    filter_order : int, default=64
        Width of the implicit filter's MLP (``H``).
    short_filter_order : int, default=3
        Read for compatibility and otherwise ignored, as in the published code: the short filter always has
        kernel size 3.
    l_max : int, default=1026
        Longest input the model accepts; the implicit filter is defined on this many points.
    modulate : bool, default=True
        Multiply the implicit filter by a decaying exponential window.
    w : float, default=1.0
        Initial frequency of the filter MLP's sine activations.
    lr, wd : float, optional
        Learning rate and weight decay for the implicit-filter parameters in training (``None``: use the
        optimiser's global learning rate; ``wd`` 0).
    lr_pos_emb : float, default=0.0
        When positive, the positional encoding ``z`` is trainable (with this learning rate).
    modulation_shift : float, default=0.05
        Constant added to the exponential window. The published standalone model and its Hugging Face port
        use 0.05; the published training code's default is 0.0. The reference outputs use 0.05.
    layer_norm_epsilon : float, default=1e-5
        Epsilon of every LayerNorm.
    tie_word_embeddings : bool, default=True
        Use the token-embedding matrix as the language-model head.
    """

    d_model: int = 128
    n_layer: int = 2
    d_inner: int | None = None
    vocab_size: int = 12
    resid_dropout: float = 0.0
    embed_dropout: float = 0.1
    residual_in_fp32: bool = True
    pad_vocab_size_multiple: int = 8
    checkpoint_mixer: bool = False
    checkpoint_mlp: bool = False
    emb_dim: int = 5
    filter_order: int = 64
    short_filter_order: int = 3
    l_max: int = 1026
    modulate: bool = True
    w: float = 1.0
    lr: float | None = None
    wd: float = 0.0
    lr_pos_emb: float = 0.0
    modulation_shift: float = 0.05
    layer_norm_epsilon: float = 1e-5
    tie_word_embeddings: bool = True
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if self.d_inner is None:
            self.d_inner = 4 * self.d_model
        positive = ("d_model", "n_layer", "d_inner", "vocab_size", "pad_vocab_size_multiple", "filter_order", "l_max")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HyenaConfig.{name} must be a positive int; got {value!r}.")
        if isinstance(self.emb_dim, bool) or not isinstance(self.emb_dim, int) or self.emb_dim < 3 or self.emb_dim % 2 == 0:
            raise ValueError(
                f"HyenaConfig.emb_dim must be an odd int >= 3 (time plus sine/cosine pairs); got {self.emb_dim!r}."
            )
        for name in ("resid_dropout", "embed_dropout"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"HyenaConfig.{name} must be in [0, 1); got {value!r}.")

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding table: ``vocab_size`` rounded up to ``pad_vocab_size_multiple``."""
        m = self.pad_vocab_size_multiple
        return int(math.ceil(self.vocab_size / m) * m)

    @classmethod
    def from_dict(cls, config: dict) -> "HyenaConfig":
        """Build a config from any published ``config.json`` layout.

        Accepts the Lightning layout (architecture keys at the top, Hyena keys nested under ``layer``), the
        Hugging Face port's flat layout (``max_seq_len``, ``activation_freq``, ...), and what
        :meth:`to_dict` writes. Unknown keys are ignored and listed in a debug log message.

        Parameters
        ----------
        config : dict
            The parsed ``config.json``. It is not modified.

        Returns
        -------
        HyenaConfig
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict parsed from config.json; got {type(config).__name__}.")
        flat = {k: v for k, v in config.items() if k != "layer"}
        layer = config.get("layer")
        if layer is not None:
            if not isinstance(layer, dict):
                raise ValueError(f"config['layer'] must be a dict of Hyena operator settings; got {layer!r}.")
            flat.update(layer)
        for old, new in _HF_RENAMES.items():
            if old in flat:
                flat.setdefault(new, flat[old])
                del flat[old]
        if "local_order" in flat and "short_filter_order" not in flat:
            flat["short_filter_order"] = flat["local_order"]
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in flat.items() if k in names}
        unknown = {k: v for k, v in flat.items() if k not in names and k not in _IGNORED_QUIETLY}
        if unknown:
            logger.debug("HyenaConfig ignores config keys %s", sorted(unknown))
        hyena_order = flat.get("hyena_order", 2)
        if hyena_order != 2:
            raise ValueError(f"Only Hyena order 2 (HyenaDNA) is supported; the config says hyena_order={hyena_order}.")
        if layer is not None and layer.get("_name_", "hyena") != "hyena":
            raise ValueError(f"config['layer']['_name_'] is {layer['_name_']!r}; only 'hyena' layers are supported.")
        return cls(**known, extra=unknown)

    def to_dict(self) -> dict:
        """The published Lightning ``config.json`` layout (Hyena keys nested under ``layer``).

        The published code reads it back (it ignores the extra ``modulation_shift``, ``layer_norm_epsilon``
        and ``tie_word_embeddings`` keys).

        Returns
        -------
        dict
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        layer = {"_name_": "hyena"}
        layer.update({k: values.pop(k) for k in _LAYER_KEYS})
        if layer["lr"] is None:
            del layer["lr"]
        values["layer"] = layer
        return values
