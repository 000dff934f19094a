"""One optimiser step as every estimator takes it: AdamW with the published parameter groups, the learning-rate
schedule, mixed precision, gradient clipping and non-finite-loss detection."""

from __future__ import annotations

import contextlib
import math

import torch

__all__ = ["NonFiniteLossError", "Optimization", "build_optimizer", "cosine_with_warmup"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


def build_optimizer(model, *, lr, weight_decay, filter_params=(), filter_lr=None, filter_weight_decay=0.0,
                    betas=(0.9, 0.999)):
    """AdamW with the published parameter groups.

    The implicit-filter MLPs (``filter_params``) use their own learning rate and weight decay (0 by default); every
    other trainable parameter uses ``lr`` and ``weight_decay`` (biases, norms and embeddings included, as
    published).

    Parameters
    ----------
    model : torch.nn.Module
        Its parameters with ``requires_grad`` are optimised.
    lr, weight_decay : float
        Global learning rate and decoupled weight decay.
    filter_params : iterable of Parameter
        The implicit-filter parameters (``HyenaLM.filter_parameters()`` or the backbone's equivalent).
    filter_lr : float, optional
        Their learning rate; ``lr`` when None.
    filter_weight_decay : float, default=0.0
        Their weight decay.
    betas : tuple of float, default=(0.9, 0.999)

    Returns
    -------
    torch.optim.AdamW
    """
    special = {id(p) for p in filter_params if p.requires_grad}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in special]
    filters = [p for p in model.parameters() if p.requires_grad and id(p) in special]
    groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay},
              {"params": filters, "lr": lr if filter_lr is None else filter_lr, "weight_decay": filter_weight_decay}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("The model has no trainable parameters.")
    for group in groups:
        group["base_lr"] = group["lr"]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)


def cosine_with_warmup(progress: float, *, warmup: float = 0.01, min_ratio: float = 0.1,
                       warmup_init_ratio: float = 1e-3) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1] of training.

    Linear warm-up from ``warmup_init_ratio`` to 1 over the first ``warmup`` of training, then a cosine decay to
    ``min_ratio`` (the published recipe: 1 % warm-up, floor at 0.1 × lr).

    Parameters
    ----------
    progress : float
        Fraction of training done.
    warmup : float, default=0.01
    min_ratio : float, default=0.1
    warmup_init_ratio : float, default=1e-3

    Returns
    -------
    float
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return warmup_init_ratio + (1 - warmup_init_ratio) * progress / warmup
    decay = (progress - warmup) / max(1e-12, 1 - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * decay))


class Optimization:
    """One optimiser step with autocast, gradient scaling (fp16), clipping and a non-finite-loss check.

    Reading a loss back to the host makes the CPU wait for the accelerator, so the check is batched: the losses
    of ``check_every`` steps are read together, before the last of those steps updates the weights (every step
    on the CPU, where reading costs nothing; every 16 steps on accelerators). A NaN or infinite loss raises
    :class:`NonFiniteLossError` naming its step; at most ``check_every - 1`` steps run past it, and
    :meth:`losses` forces the check (the pretrainer calls it before every evaluation and checkpoint, so no
    checkpoint ever holds weights trained on a non-finite loss).

    Parameters
    ----------
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer
        Its groups carry ``base_lr`` (see :func:`build_optimizer`).
    device : torch.device
    autocast_dtype : torch.dtype or None
        Mixed-precision dtype, or None for none.
    clip_grad_norm : float or None, default=1.0
    check_every : int or None, default=None
        Steps per loss check; None: 1 on the CPU, 16 elsewhere.
    """

    def __init__(self, model, optimizer, device, autocast_dtype=None, clip_grad_norm=1.0, check_every=None):
        self.model = model
        self.optimizer = optimizer
        self.device = device
        self.autocast_dtype = autocast_dtype
        self.clip_grad_norm = clip_grad_norm
        self.check_every = check_every or (1 if device.type == "cpu" else 16)
        use_scaler = autocast_dtype == torch.float16 and device.type == "cuda"
        self.scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
        self.step_count = 0
        self._pending = []  # (step number, detached loss on the device), not yet checked

    def autocast(self):
        """Context for the forward pass."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def set_lr(self, multiplier: float):
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * multiplier

    def backward(self, loss: torch.Tensor) -> torch.Tensor:
        """Back-propagate one (micro-)batch loss; returns it detached (still on the device)."""
        self.scaler.scale(loss).backward()
        return loss.detach()

    def finish_step(self, loss: torch.Tensor) -> dict[int, float]:
        """Check the losses when due, then clip the accumulated gradients and take the optimiser step.

        Parameters
        ----------
        loss : Tensor
            This step's loss, detached (the sum over its micro-batches).

        Returns
        -------
        dict
            ``{step number: loss}`` of the steps checked now (empty when the check is not due).
        """
        self._pending.append((self.step_count + 1, loss))
        checked = self.losses() if len(self._pending) >= self.check_every else {}
        if self.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step_count += 1
        return checked

    def losses(self) -> dict[int, float]:
        """Read the unchecked losses to the host (one wait) and check them; returns ``{step number: loss}``."""
        if not self._pending:
            return {}
        steps = [step for step, _ in self._pending]
        values = torch.stack([loss.float() for _, loss in self._pending]).cpu().tolist()
        self._pending = []
        for step, value in zip(steps, values):
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"The training loss is {value} at optimiser step {step}. Lower the learning rate, "
                    "use precision='32', or check the input data."
                )
        return dict(zip(steps, values))

    def step(self, loss: torch.Tensor) -> dict[int, float]:
        """Backward, clip and step for a single batch; returns what :meth:`finish_step` returns."""
        self.optimizer.zero_grad(set_to_none=True)
        return self.finish_step(self.backward(loss))
