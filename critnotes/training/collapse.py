"""Model collapse (paper 004; chapter 11, Fig. 11.7): generation after generation, a fresh network trains
on the training images labelled by the previous generation (:func:`~critnotes.analysis.criticality.generated_labels`),
plain or with the criticality penalty, while λ₀, σ and Δ are tracked.

Generation 0 trains on the true labels and is exactly the plain run of its :class:`TrainConfig`.  Every
generation starts from the same initialisation (``train.seed``), so generations differ only in their labels.
Test accuracy is always measured against the true test labels.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from critnotes.analysis.criticality import LABEL_MODES, CriticalityPenalty, generated_labels, layer_gains
from critnotes.analysis.layers import evaluating
from critnotes.probes.activity import probe_indices
from critnotes.probes.criticality_probe import CriticalityProbe, CriticalityRecord
from critnotes.training import cache, models
from critnotes.training.data import load_dataset
from critnotes.training.device import resolve_device
from critnotes.training.loop import TrainConfig, log_checkpoints, make_model, run_data, train


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    """``generations`` trainings of ``train.steps`` updates each; generation g+1 learns the labels that
    generation g generates for the training images (``labels``: its predictions or softmax samples)."""

    train: TrainConfig
    generations: int = 5
    penalty: float = 0.0             # β of the criticality penalty in every generation (0 = plain)
    n_penalty: int = 32
    labels: str = "sample"           # "argmax" | "sample" (see generated_labels)
    n_probe: int = 256
    n_checkpoints: int = 4           # log-spaced per generation

    def validate(self) -> "CollapseConfig":
        self.train.validate()
        if self.generations < 1 or self.penalty < 0 or self.n_penalty < 1:
            raise ValueError(f"need generations >= 1, penalty >= 0, n_penalty >= 1 (got {self.generations}, "
                             f"{self.penalty}, {self.n_penalty})")
        if self.labels not in LABEL_MODES:
            raise ValueError(f"unknown label mode {self.labels!r}; choose one of {', '.join(LABEL_MODES)}")
        return self


@dataclasses.dataclass(frozen=True)
class CollapseResult:
    cfg: CollapseConfig
    metrics: list[CriticalityRecord]   # per generation: λ₀, σ, Δ over its training (probe inputs class-balanced
                                       # by that generation's labels)
    test_acc: np.ndarray               # (generations,) against the true test labels
    label_fidelity: np.ndarray         # (generations,) fraction of the labels trained on that are the true ones
    labels: np.ndarray                 # (generations, n_train) the training labels of each generation
    losses: np.ndarray                 # (generations, steps) mini-batch data loss (NaN after a divergence)
    probe_lyapunov: np.ndarray         # (generations, n_probe) per-input ⟨ln g_l⟩ of each trained network, on
                                       # the same inputs (class-balanced by the true labels) for every generation
    n_test: int
    diverged: bool
    seconds: float

    @property
    def lyapunov_end(self) -> np.ndarray:
        """λ₀ of each generation's trained network on the same probe inputs (mean of ``probe_lyapunov``)."""
        return self.probe_lyapunov.mean(1)


def train_collapse(cfg: CollapseConfig, *, device=None, progress: bool = True) -> CollapseResult:
    """Run the generations (cached by config)."""
    cfg.validate()
    dev = resolve_device(device)
    return cache.cached("criticality-collapse", (cfg, dev.type), lambda: _train_collapse(cfg, dev, progress),
                        code=(_train_collapse, generated_labels, train, make_model, models, load_dataset,
                              resolve_device), expect=CollapseResult)


def _train_collapse(cfg: CollapseConfig, dev, progress: bool) -> CollapseResult:
    t0 = time.perf_counter()
    tc = cfg.train
    data = run_data(tc).to(dev)
    probe = CriticalityProbe(tuple(log_checkpoints(tc.steps, cfg.n_checkpoints)), n_probe=cfg.n_probe,
                             probe_seed=tc.seed)
    x_probe = data.x_train[probe_indices(data.y_train, cfg.n_probe, tc.seed).to(dev)]
    y, records, acc, fidelity, labels, diverged = data.y_train, [], [], [], [], False
    losses = np.full((cfg.generations, tc.steps), np.nan, dtype=np.float32)
    per_input = np.full((cfg.generations, len(x_probe)), np.nan)
    for g in range(cfg.generations):
        gen_data = dataclasses.replace(data, y_train=y)
        model = make_model(tc, data)
        penalty = CriticalityPenalty(cfg.penalty, cfg.n_penalty, tc.seed) if cfg.penalty > 0 else None
        r = train(tc.loop_only(), [probe], model=model, data=gen_data, extra_loss=penalty, device=dev,
                  progress=progress)
        records.append(r.probes[probe.name])
        acc.append(r.test_acc)
        fidelity.append(float((y == data.y_train).float().mean()))
        labels.append(y.cpu().numpy())
        losses[g, :len(r.losses)] = r.losses
        if r.diverged:
            diverged = True
            break
        with evaluating(model):
            per_input[g] = layer_gains(model, x_probe, seed=tc.seed).clamp_min(1e-30).log().mean(1).cpu().numpy()
        y = generated_labels(model, data.x_train, cfg.labels, seed=tc.seed + g + 1)
    return CollapseResult(cfg, records, np.array(acc), np.array(fidelity), np.stack(labels), losses, per_input,
                          len(data.y_test), diverged, time.perf_counter() - t0)
