"""A backbone, masked pooling and one linear layer: how :class:`HyenaClassifier` and :class:`HyenaRegressor` build
their model, start its head from a linear probe, and group its parameters for the optimiser."""

from __future__ import annotations

import numpy as np
import torch

from ..nn.heads import HyenaSequenceClassifier
from ..nn.options import filter_parameters, set_training_options
from ..training import build_optimizer
from ._base import _check_float, _check_pooling, seeded

HEAD_INITS = ("probe", "random")
#: Training sequences embedded for ``head_init="probe"`` (a seeded subsample beyond that).
PROBE_SEQUENCES = 4096
#: Rows embedded between two looks at the clock, and the share of ``max_time`` after which the probe stops embedding.
PROBE_PART, PROBE_SHARE = 512, 0.5


class PooledHeadMixin:
    """Model construction and ``_fit`` shared by the fine-tuned estimators; the task's ``_targets_and_weights``
    encodes ``y`` and ``_fit_probe`` sets the head.

    Reads the parameters ``pretrained``, the architecture parameters, ``embed_dropout``, ``resid_dropout``,
    ``head_dropout``, ``head_init``, ``pooling``, ``length_feature``, ``freeze_backbone``, ``learning_rate_init``
    and ``weight_decay``.
    """

    def _validate_params(self):
        device, dtype, autocast = self._validate_common_params()
        _check_pooling(self.pooling)
        for name in ("embed_dropout", "resid_dropout", "head_dropout"):
            _check_float(getattr(self, name), name, 0, 1, high_open=True)
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}; got {self.head_init!r}.")
        if not (isinstance(self.length_feature, (bool, np.bool_)) or (isinstance(self.length_feature, str)
                                                                        and self.length_feature == "auto")):
            raise ValueError(f"length_feature must be 'auto', True or False; got {self.length_feature!r}.")
        self._validate_training_params()
        return device, dtype, autocast

    def _fit(self, X, y, sample_weight=None, shard=None, checkpoints=None):
        """``fit`` on this process's rows of ``shard`` (all rows when None), resumable through ``checkpoints``
        (see ``python -m dnaestim finetune``): build (unless warm-starting) and train the model. Under torchrun
        every process draws the same seeds and sizes the model by the longest sequence of all."""
        device, dtype, autocast = self._validate_params()
        sequences, lengths = self._sequences(X, reset=True)
        warm = self.warm_start and hasattr(self, "model_")
        targets, weights = self._targets_and_weights(y, sample_weight, len(sequences), warm, shard)
        rng, seed = self._seeds()
        if shard is not None and shard.world > 1:
            if self.random_state is None:  # every process must shuffle the same way
                seed = shard.broadcast_seed(seed)
                rng = np.random.RandomState(seed)
            longest = shard.max(int(lengths.max(initial=0)))
            shortest = -shard.max(-int(lengths.min(initial=longest)))
            self._training_data.update(n_sequences=shard.n_total, nucleotides=int(shard.sum([lengths.sum()])[0]))
        else:
            longest, shortest = int(lengths.max()), int(lengths.min())
        with seeded(seed, device):
            if not warm:
                self._init_model(np.array([shortest, longest]), device, dtype, seed, self._n_outputs())
            else:
                self.model_.to(device)
            self._set_runtime(device, autocast)
            self._train(sequences, lengths, targets, weights, rng, warm, shard, checkpoints)
        return self

    def _init_model(self, lengths, device, dtype, seed, n_outputs):
        generator = torch.Generator().manual_seed(seed)
        if self.pretrained is not None:
            lm = self._pretrained_lm()
            self.max_length_ = self._resolve_max_length(lengths, lm.config.l_max, windows=True)
            config = set_training_options(lm.backbone, embed_dropout=self.embed_dropout,
                                          resid_dropout=self.resid_dropout).config
        else:
            self.max_length_ = self._resolve_max_length(lengths, None)
            config = self._backbone_config(self.max_length_, embed_dropout=self.embed_dropout,
                                           resid_dropout=self.resid_dropout)
        length_feature = self.length_feature
        if isinstance(length_feature, str):  # "auto": on when the sequences the model reads differ in length
            length_feature = np.ptp(np.minimum(lengths, self.max_length_)) > 0
        length_feature = bool(length_feature)
        model = HyenaSequenceClassifier(config, n_outputs, self.pooling, float(self.head_dropout),
                                        length_feature=length_feature, generator=generator)
        self.length_feature_ = length_feature
        if self.pretrained is not None:
            model.backbone.load_state_dict(lm.backbone.state_dict())
        if self.freeze_backbone:
            model.backbone.requires_grad_(False)
        self.model_ = model.to(device=device, dtype=dtype)
        self._start_history()

    def _make_optimizer(self, model):
        """AdamW with the published groups: the implicit filters take the checkpoint's own lr/wd."""
        return build_optimizer(model, lr=float(self.learning_rate_init), weight_decay=float(self.weight_decay),
                               filter_params=filter_parameters(model.backbone), filter_lr=model.config.lr,
                               filter_weight_decay=model.config.wd)

    def _initialize_head(self, sequences, targets, weights, train_index, rng, shard, token_counts, budget=None):
        """Set the length feature's statistics; with ``head_init="probe"``, a linear model on the backbone's pooled
        features (and the length feature) sets the linear head.

        Linear probing before fine-tuning (LP-FT): the head starts where a linear model on the pretrained features
        would end, so the first updates refine the backbone instead of undoing it to fit a random head. Up to
        ``PROBE_SEQUENCES`` training sequences (a seeded subsample) are embedded once, in evaluation mode; under
        torchrun each process embeds its own and every process fits the same probe on all of them. With a time
        ``budget``, embedding stops at about half of it (see :func:`probe_head`). Returns True when a probe set the
        head.
        """
        if self.model_.length_feature:
            self.model_.set_length_statistics(token_counts)
        if self.head_init == "random":
            return False

        def embed(chosen):
            return self._pooled_embeddings(self.model_.backbone, chosen, pooling=self.pooling, head=self.model_)

        return probe_head(self, self.model_.head, embed, sequences, targets, weights, train_index, rng, shard, budget)


def probe_head(estimator, head, embed, sequences, targets, weights, train_index, rng, shard, budget=None):
    """Set the linear layer ``head`` from ``estimator._fit_probe`` on ``embed(list of sequences)`` (what ``head``
    reads, (n, in_features) float32) of up to ``PROBE_SEQUENCES`` training rows (a seeded subsample); under torchrun
    each process embeds its own rows and every process fits the same probe on all of them. Returns True when a
    probe set the head (False when fewer than two rows have weight, or they hold one class).

    The rows are embedded ``PROBE_PART`` at a time in a fixed scrambled order. With a ``budget`` (the fit's
    :class:`~dnaestim.training.TimeBudget`) that has a limit, embedding stops after the part that passes
    ``PROBE_SHARE`` of it (at least one part is embedded), so that fine-tuning keeps most of the rest; the rows
    embedded by then are a spread-out sample of the chosen ones.
    """
    index = train_index
    if len(index) > PROBE_SEQUENCES:
        index = np.sort(rng.choice(index, PROBE_SEQUENCES, replace=False))
    # Embedded in parts of a fixed scramble (not a draw from ``rng``), with a budget or without, and fitted in the
    # chosen rows' order: a fit whose budget does not bind computes exactly what it computes without one.
    index = index[np.random.RandomState(0).permutation(len(index))]
    parts = []
    for start in range(0, len(index), PROBE_PART):
        part = index[start:start + PROBE_PART]
        _, local = shard.local(part)
        local_features = embed([sequences[i] for i in local]) if len(local) else \
            np.zeros((0, head.in_features), dtype=np.float32)
        parts.append((part, shard.gather(part, local_features), shard.gather(part, targets[local]),
                      shard.gather(part, weights[local])))
        if budget is not None and budget.seconds is not None and budget.elapsed() >= PROBE_SHARE * budget.seconds:
            break
    order = np.argsort(np.concatenate([p[0] for p in parts]))
    features, probe_targets, probe_weights = (np.concatenate([p[k] for p in parts])[order] for k in (1, 2, 3))
    keep = probe_weights > 0
    if keep.sum() < 2:
        return False
    # Weights rescaled to mean 1: a linear model's penalty is relative to their sum, so the head must not depend on
    # their overall scale.
    probe = estimator._fit_probe(features[keep], probe_targets[keep], probe_weights[keep] / probe_weights[keep].mean())
    if probe is None:
        return False
    weight, bias = probe
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    return True
