"""The Hyena operator's short filter (depthwise causal convolution, kernel 3) in (B, L, C) layout."""

from __future__ import annotations

import torch

__all__ = ["ShortCausalConv"]


class ShortCausalConv(torch.autograd.Function):
    """Depthwise causal convolution with kernel 3 in (B, L, C) layout, as shifted multiply-adds.

    Equal to the published ``Conv1d(C, C, 3, groups=C, padding=2)`` keeping the first L outputs, without the
    transposes and padding copies; the backward pass is written out so that it needs no slicing graph either.
    """

    @staticmethod
    def forward(ctx, z, weight, bias):  # z (B, L, C), weight (C, 3), bias (C,)
        ctx.save_for_backward(z, weight)
        out = torch.addcmul(bias, z, weight[:, 2])
        out[:, 1:].addcmul_(z[:, :-1], weight[:, 1])
        out[:, 2:].addcmul_(z[:, :-2], weight[:, 0])
        return out

    @staticmethod
    def backward(ctx, grad):
        z, weight = ctx.saved_tensors
        grad_z = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_z = grad * weight[:, 2]
            grad_z[:, :-1].addcmul_(grad[:, 1:], weight[:, 1])
            grad_z[:, :-2].addcmul_(grad[:, 2:], weight[:, 0])
        if ctx.needs_input_grad[1]:
            grad_weight = torch.stack([
                (grad[:, 2:] * z[:, :-2]).sum((0, 1)),
                (grad[:, 1:] * z[:, :-1]).sum((0, 1)),
                (grad * z).sum((0, 1)),
            ], dim=1)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((0, 1))
        return grad_z, grad_weight, grad_bias
