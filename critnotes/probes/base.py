"""What a probe is and what it may look at during a run of the book's training loop.

A *probe* watches a run without changing it.  Two kinds of hooks exist (a probe may use both):

* per-update hooks, ``on_update(t, delta, run)``, called after update ``t`` (``0 … steps-1``) with
  the full flat update vector ``delta = w_{t+1} − w_t`` on the training device — only at the steps
  where some probe's ``wants_delta(t)`` is true, so a run without such probes pays nothing;
* checkpoint hooks, ``on_checkpoint(t, run)``, called after ``t`` updates (``t = 0`` is the
  initialisation) at the steps the probes list in ``checkpoints(steps)`` — e.g. log-spaced.

Probes on a user's own loop attach through PyTorch's hooks instead (:meth:`UpdateRecorder.attach`,
:class:`ActivityRecorder`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import torch
from torch import nn

from critnotes.analysis.layers import evaluating
from critnotes.analysis.losses import loss_per_sample


@dataclasses.dataclass(frozen=True)
class LayerSlice:
    """A layer's parameters inside the flat vector: ``flat[start:stop]``."""

    name: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class Probe:
    """Base class of probes; subclasses are (frozen) dataclasses so their settings enter the cache key."""

    name = "probe"

    def checkpoints(self, steps: int) -> Iterable[int]:
        return ()

    def wants_delta(self, t: int) -> bool:
        return False

    def start(self, run: "Run") -> None:
        pass

    def on_update(self, t: int, delta: torch.Tensor, run: "Run") -> None:
        pass

    def on_checkpoint(self, t: int, run: "Run") -> None:
        pass

    def finish(self, run: "Run") -> Any:
        return None


class AtSteps(Probe):
    """A probe that measures at the steps of its ``steps`` field (those within the run)."""

    def checkpoints(self, steps: int) -> list[int]:
        return [t for t in self.steps if t <= steps]




@dataclasses.dataclass
class Run:
    """What a probe may look at during training (``data`` is ``None`` when training from a DataLoader)."""

    cfg: Any                   # the run's TrainConfig (steps, loss, …)
    model: nn.Module
    data: Any                  # the run's Dataset on the training device; None when training from a DataLoader
    device: torch.device
    flat: torch.Tensor         # all trainable parameters, as one vector (the model's parameters are views)
    layers: list[LayerSlice]

    def loss_per_sample(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_per_sample(self.cfg.loss, logits, y)

    def evaluating(self):
        """Eval mode and no grad for a probe's forward passes (:func:`evaluating` on the run's model)."""
        return evaluating(self.model)
