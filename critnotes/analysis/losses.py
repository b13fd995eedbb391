"""Per-sample losses (paper 003's L_k): the one definition used by training, probes and analyses."""
from __future__ import annotations

import torch
from torch import nn

from critnotes.analysis.layers import evaluating

LOSSES = ("ce", "mse")


def loss_per_sample(kind: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample loss: cross-entropy, or MSE between logits and the one-hot target (mean over classes).

    Cross-entropy is computed as ``logsumexp(logits) − logits[y]``: the same value as
    ``F.cross_entropy(reduction="none")`` to rounding, and several times faster on CPU for few classes
    (the hot spot of the perturbation scan of paper 002 Fig 4)."""
    if kind == "ce":
        return torch.logsumexp(logits, 1) - logits.gather(1, y[:, None]).squeeze(1)
    onehot = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return ((logits - onehot) ** 2).mean(dim=1)


def per_sample_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce",
                      batch: int = 4096) -> torch.Tensor:
    """Loss of every sample (paper 003's L_k), on the device of ``x``."""
    with evaluating(model):
        return torch.cat([loss_per_sample(loss, model(x[i:i + batch]), y[i:i + batch])
                          for i in range(0, len(y), batch)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce",
             batch: int = 4096) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` (eval mode, batched, one forward pass)."""
    return evaluate_batches(model, ((x[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)), loss)


def evaluate_batches(model: nn.Module, batches, loss: str, device=None) -> tuple[float, float]:
    """Mean loss and accuracy over ``(x, y)`` batches (NaN for no sample)."""
    total, correct, n = 0.0, 0, 0
    with evaluating(model):
        for xb, yb in batches:
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            total += float(loss_per_sample(loss, logits, yb).sum())
            correct += int((logits.argmax(1) == yb).sum())
            n += len(yb)
    return (total / n, correct / n) if n else (float("nan"), float("nan"))
