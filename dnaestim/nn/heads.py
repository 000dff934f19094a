"""Sequence-level heads on top of the backbone: masked pooling and a linear classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HyenaConfig
from ..tokenizer import PAD_ID
from .hyena import HyenaBackbone, initialize_weights

__all__ = ["POOLING_MODES", "HyenaSequenceClassifier", "pool", "windowed_hidden_states"]

POOLING_MODES = ("mean", "last")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Reduce per-token hidden states to one vector per sequence, ignoring padding.

    Parameters
    ----------
    hidden : Tensor of shape (B, L, D)
        Hidden states.
    attention_mask : BoolTensor of shape (B, L)
        True at real tokens. Every row needs at least one.
    mode : {"mean", "last"}
        Mean over the real tokens, or the hidden state of the last real token (the causal model's summary of
        the whole sequence).

    Returns
    -------
    Tensor of shape (B, D)
    """
    mask = attention_mask.to(hidden.device, torch.bool)
    if mode == "mean":
        weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, L, 1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    if mode == "last":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = torch.where(mask, positions, -1).max(dim=1).values.clamp(min=0)  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be one of {POOLING_MODES}; got {mode!r}.")


def windowed_hidden_states(backbone, input_ids, attention_mask, **kwargs):
    """The backbone's hidden states, reading inputs longer than its ``l_max`` in consecutive windows of ``l_max``.

    Each window is read on its own (the backbone's filters are defined on ``l_max`` points); windows holding only
    padding are skipped.

    Parameters
    ----------
    backbone : HyenaBackbone
    input_ids : LongTensor of shape (B, L)
        Right-padded token ids.
    attention_mask : BoolTensor of shape (B, L)
        True at real tokens.
    **kwargs
        Passed to the backbone (``chunk_size``).

    Returns
    -------
    Tensor of shape (B, L, D)
    """
    batch, length = input_ids.shape
    l_max = backbone.config.l_max
    if length <= l_max:
        return backbone(input_ids, **kwargs)
    windows = -(-length // l_max)
    extra = windows * l_max - length
    ids = F.pad(input_ids, (0, extra), value=PAD_ID).reshape(batch * windows, l_max)
    needed = F.pad(attention_mask.to(torch.bool), (0, extra)).reshape(batch * windows, l_max).any(1)
    hidden = backbone(ids[needed], **kwargs)
    out = hidden.new_zeros(batch * windows, l_max, hidden.shape[-1])
    out[needed] = hidden
    return out.reshape(batch, windows * l_max, -1)[:, :length]


class HyenaSequenceClassifier(nn.Module):
    """Backbone, masked pooling, dropout and one linear layer (the published fine-tuning head).

    Parameters
    ----------
    config : HyenaConfig
        Backbone architecture.
    n_classes : int
        Number of outputs.
    pooling : {"mean", "last"}, default="mean"
        See :func:`pool`.
    dropout : float, default=0.0
        Dropout on the pooled vector.
    length_feature : bool, default=False
        Give the linear layer one more input: the standardised log of each sequence's token count
        (:meth:`length_features`; its centre and scale are the buffers ``length_center`` and ``length_scale``, set
        by :meth:`set_length_statistics`). Mean pooling loses how long a sequence is; this puts it back.
    generator : torch.Generator, optional
        Source of randomness for the published initialisation (the head as any Linear: N(0, 0.02), bias 0).
    """

    #: Modules pickled before the length feature existed have no such attribute, nor the input.
    length_feature = False

    def __init__(self, config: HyenaConfig, n_classes: int, pooling: str = "mean", dropout: float = 0.0,
                 *, length_feature: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}; got {pooling!r}.")
        self.config = config
        self.pooling = pooling
        self.length_feature = bool(length_feature)
        self.backbone = HyenaBackbone(config)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config.d_model + self.length_feature, n_classes)
        if self.length_feature:
            self.register_buffer("length_center", torch.zeros(()))
            self.register_buffer("length_scale", torch.ones(()))
        initialize_weights(self, config, generator)

    def set_length_statistics(self, token_counts) -> None:
        """Centre and scale the length feature by the mean and standard deviation of ``log(token_counts)``.

        Parameters
        ----------
        token_counts : array-like of int
            Token counts of the training sequences (a scale of 0 becomes 1).
        """
        logs = torch.log(torch.as_tensor(token_counts, dtype=torch.float64).clamp(min=1))
        scale = float(logs.std(correction=0)) if len(logs) > 1 else 0.0
        self.length_center.fill_(float(logs.mean()) if len(logs) else 0.0)
        self.length_scale.fill_(scale if scale > 0 else 1.0)

    def length_features(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """The standardised log token count of each sequence, shape (B, 1)."""
        counts = attention_mask.to(self.length_center.device).sum(1, keepdim=True).clamp(min=1)
        return (torch.log(counts.to(self.length_center.dtype)) - self.length_center) / self.length_scale

    def head_inputs(self, pooled: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """What the linear layer reads: the pooled vectors, and the length feature when there is one."""
        pooled = pooled.to(self.head.weight.dtype)
        if not self.length_feature:
            return pooled
        return torch.cat([pooled, self.length_features(attention_mask).to(pooled.dtype)], dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (B, n_classes).

        Inputs longer than the backbone's ``l_max`` are read in consecutive windows of ``l_max`` tokens (each
        window on its own: the backbone's filters are defined on ``l_max`` points), and pooled over all of them.
        """
        hidden = windowed_hidden_states(self.backbone, input_ids, attention_mask)  # (B, L, D)
        pooled = pool(hidden, attention_mask, self.pooling)  # (B, D)
        return self.head(self.head_inputs(self.dropout(pooled), attention_mask))
