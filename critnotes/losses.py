"""Per-sample losses (paper 003's L_k): the one definition used by training, probes and analyses."""
from __future__ import annotations

import torch
from torch import nn

from .layers import evaluating

LOSSES = ("ce", "mse")


def loss_per_sample(kind: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample loss: cross-entropy, or MSE between logits and the one-hot target (mean over classes)."""
    if kind == "ce":
        return nn.functional.cross_entropy(logits, y, reduction="none")
    onehot = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return ((logits - onehot) ** 2).mean(dim=1)


def per_sample_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce",
                      batch: int = 4096) -> torch.Tensor:
    """Loss of every sample (paper 003's L_k), on the device of ``x``."""
    with evaluating(model):
        return torch.cat([loss_per_sample(loss, model(x[i:i + batch]), y[i:i + batch])
                          for i in range(0, len(y), batch)])
