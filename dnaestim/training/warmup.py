"""Sequence-length warm-up: train on short windows first, doubling the length in stages.

Each stage keeps the tokens per optimiser step constant (``batch_size × max_length``): when the window length
halves, the number of windows per step doubles. The published callback instead keeps the number of sequences per
optimiser step constant through gradient accumulation (tokens per step grow with the length); pass explicit stages
with ``batch_size`` to reproduce that.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

__all__ = ["Stage", "WarmupSchedule"]


@dataclass(frozen=True)
class Stage:
    """One warm-up stage: windows of ``length`` tokens, ``batch_size`` windows per optimiser step, for ``steps``."""

    length: int
    batch_size: int
    steps: int


class WarmupSchedule:
    """Stages of a sequence-length warm-up, looked up by optimiser step.

    Parameters
    ----------
    stages : list of Stage
        In order; the last stage runs until training ends.
    """

    def __init__(self, stages: list[Stage]):
        if not stages:
            raise ValueError("A warm-up schedule needs at least one stage.")
        self.stages = list(stages)
        self.boundaries = list(itertools.accumulate(stage.steps for stage in self.stages))

    @property
    def total_steps(self) -> int:
        """Steps of all stages together."""
        return self.boundaries[-1]

    def stage_index(self, step: int) -> int:
        """Index of the stage that optimiser step ``step`` (0-based) belongs to."""
        return min(bisect.bisect_right(self.boundaries, step), len(self.stages) - 1)

    def stage(self, step: int) -> Stage:
        """The stage of optimiser step ``step``."""
        return self.stages[self.stage_index(step)]

    @classmethod
    def build(cls, spec, *, max_length: int, batch_size: int, max_steps: int, min_length: int = 64):
        """Make a schedule from an estimator's ``length_warmup`` parameter.

        Parameters
        ----------
        spec : "auto", None, or list of dict / tuple
            ``"auto"``: lengths doubling from ``min_length`` (or less, to land on ``max_length``) to
            ``max_length``; the warm-up stages share the first half of ``max_steps`` equally, the full length
            runs the second half. ``None``: no warm-up. A list: stages as ``{"length": L, "steps": n}`` (optionally
            ``"batch_size"``) or ``(length, steps)`` tuples; their steps must add up to ``max_steps`` at most (the
            last stage is extended to ``max_steps``).
        max_length : int
            Final window length.
        batch_size : int
            Windows per step at ``max_length``; shorter stages get proportionally more (constant tokens per step).
        max_steps : int
            Total optimiser steps.
        min_length : int, default=64
            Shortest automatic stage.

        Returns
        -------
        WarmupSchedule
        """
        tokens_per_step = batch_size * max_length

        def sized(length, steps, stage_batch=None):
            length = int(length)
            if stage_batch is None:
                stage_batch = max(1, tokens_per_step // length)
            return Stage(length, int(stage_batch), int(steps))

        if spec is None:
            return cls([sized(max_length, max_steps)])
        if isinstance(spec, str):
            if spec != "auto":
                raise ValueError(f"length_warmup must be 'auto', None or a list of stages; got {spec!r}.")
            lengths = []
            length = max_length
            while length // 2 >= min_length:
                length //= 2
                lengths.append(length)
            lengths = lengths[::-1]
            if not lengths or max_steps < 2 * (len(lengths) + 1):
                return cls([sized(max_length, max_steps)])
            warm_steps = max_steps // 2 // len(lengths)
            stages = [sized(L, warm_steps) for L in lengths]
            stages.append(sized(max_length, max_steps - warm_steps * len(lengths)))
            return cls(stages)
        stages = []
        for i, item in enumerate(spec):
            if isinstance(item, dict):
                unknown = set(item) - {"length", "steps", "batch_size"}
                if unknown or not {"length", "steps"} <= set(item):
                    raise ValueError(f"length_warmup stage {i} must have keys 'length' and 'steps' (and optionally "
                                     f"'batch_size'); got {sorted(item)}.")
                length, steps, stage_batch = item["length"], item["steps"], item.get("batch_size")
            else:
                try:
                    length, steps = item
                except (TypeError, ValueError):
                    raise ValueError(
                        f"length_warmup stage {i} must be a dict or a (length, steps) pair; got {item!r}.") from None
                stage_batch = None
            for name, value in (("length", length), ("steps", steps)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"length_warmup stage {i}: {name} must be a positive int; got {value!r}.")
            if length > max_length:
                raise ValueError(f"length_warmup stage {i} has length {length}, more than max_length={max_length}.")
            stages.append(sized(length, steps, stage_batch))
        total = sum(s.steps for s in stages)
        if total > max_steps:
            raise ValueError(f"The warm-up stages add up to {total} steps, more than max_steps={max_steps}.")
        last = stages[-1]
        stages[-1] = Stage(last.length, last.batch_size, last.steps + max_steps - total)
        return cls(stages)
