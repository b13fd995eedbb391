"""The shared training run of paper 003 (chapters 6–10): a 3-layer fully connected net on MNIST.

``784 → h → h → 10`` with ReLU, plain SGD.  The paper's model size M is the number of neurons in the
correlation graph; here we count every neuron of the network except the inputs, so
``M = 2h + 10`` (h = 10 → M = 30, h = 500 → M = 1010, the paper's range).

Every chapter that needs this run calls :func:`critical_run` with a :class:`CriticalRunConfig`; the
first call trains and caches, the others load.  Checkpoints are log-spaced over ``[0, steps]``; at
each one the run records neuron activity on a class-balanced probe set, the per-sample loss of every
training sample, and the flat weight vector.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from critnotes.analysis.layers import trainable_parameters
from critnotes.probes.activity import ActivityProbe, SampleLossProbe, WeightProbe
from critnotes.training.loop import TrainConfig, TrainResult, log_checkpoints, train


@dataclasses.dataclass(frozen=True)
class CriticalRunConfig:
    width: int = 100                 # h: neurons per hidden layer (M = 2h + 10)
    lr: float = 0.1                  # ν
    batch_size: int = 64             # B; the mobility factor is γ = ν / B
    steps: int = 20_000              # paper: 2×10⁵
    seed: int = 0
    n_checkpoints: int = 40          # log-spaced over [0, steps]
    n_probe: int = 1000              # probe samples for activity (class balanced)
    n_weights: int | None = None     # weight entries snapshotted (None → all)
    activation: str = "relu"
    init: str = "default"
    dataset: str = "mnist-10k"
    normalize: str = "standard"      # (x − 0.1307)/0.3081; paper 003 states none (a sensitivity row shows "none")

    @property
    def n_neurons(self) -> int:
        """M, the number of neurons (nodes of the correlation graph)."""
        return 2 * self.width + 10

    @property
    def gamma(self) -> float:
        """Mobility factor γ = ν/B (paper 003 §2)."""
        return self.lr / self.batch_size

    def train_config(self) -> TrainConfig:
        return TrainConfig(model="mlp-3layer", dataset=self.dataset, hidden=(self.width, self.width),
                           activation=self.activation, init=self.init, lr=self.lr, batch_size=self.batch_size,
                           steps=self.steps, seed=self.seed, normalize=self.normalize)

    def checkpoint_steps(self) -> tuple[int, ...]:
        return tuple(log_checkpoints(self.steps, self.n_checkpoints))


def width_for_neurons(m: int) -> int:
    """Hidden width h giving M = 2h + 10 neurons."""
    if m < 12 or (m - 10) % 2:
        raise ValueError(f"M = 2h + 10 must be even and >= 12, got {m}")
    return (m - 10) // 2


def critical_run(cfg: CriticalRunConfig, *, device=None, progress: bool = True, refresh: bool = False) -> TrainResult:
    """Train (or load from cache) the paper-003 network with activity, per-sample-loss and weight probes.

    ``result.probes["activity"]``, ``["sample_loss"]``, ``["weights"]`` hold
    :class:`~critnotes.probes.activity.ActivityRecord`, :class:`~critnotes.probes.activity.SampleLossRecord`,
    :class:`~critnotes.probes.activity.WeightRecord`.
    """
    steps = cfg.checkpoint_steps()
    probes = [ActivityProbe(steps, n_probe=cfg.n_probe), SampleLossProbe(steps),
              WeightProbe(steps, n_track=cfg.n_weights)]
    return train(cfg.train_config(), probes, device=device, progress=progress, refresh=refresh)


#: The one reference run of chapters 6–10 per profile (so they share a cache entry). Sweeps over M, ν, B
#: vary these with ``dataclasses.replace``.
SHARED_RUN = {
    "ci": CriticalRunConfig(width=20, steps=300, n_checkpoints=12, n_probe=200),
    "quick": CriticalRunConfig(width=100, steps=20_000, n_checkpoints=40, n_probe=1000),
    "paper": CriticalRunConfig(width=100, steps=200_000, n_checkpoints=60, n_probe=2000, dataset="mnist"),
}




def model_at(result: TrainResult, t: int) -> nn.Module:
    """The network of ``result`` after the recorded checkpoint nearest to ``t`` (needs all weights)."""
    rec = result.probes["weights"]
    if len(rec.index) != result.n_params:
        raise ValueError(f"the weight record tracks {len(rec.index)} of {result.n_params} parameters; "
                         "rebuilding a network needs n_weights=None in the CriticalRunConfig")
    k = int(np.argmin(np.abs(rec.steps - t)))
    model = result.initial_model()
    params = trainable_parameters(model)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(rec.weights[k]).to(params[0].dtype), params)
    return model
