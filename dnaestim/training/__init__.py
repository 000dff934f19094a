"""Training: the one loop every estimator runs (:mod:`.loop`), one optimiser step (:mod:`.optim`) and the
pretrainer's sequence-length warm-up (:mod:`.warmup`). Model code (``dnaestim.nn``) never imports this package."""

from .loop import Callback, EarlyStopping, Hooks, LoopState, PrintLog, ProgressBar, TimeBudget, train_loop
from .optim import NonFiniteLossError, Optimization, build_optimizer, cosine_with_warmup
from .warmup import Stage, WarmupSchedule

__all__ = [
    "Callback",
    "EarlyStopping",
    "Hooks",
    "LoopState",
    "NonFiniteLossError",
    "Optimization",
    "PrintLog",
    "ProgressBar",
    "Stage",
    "TimeBudget",
    "WarmupSchedule",
    "build_optimizer",
    "cosine_with_warmup",
    "train_loop",
]
