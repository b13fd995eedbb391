"""Criticality-regularised training over permuted-MNIST tasks (paper 004; chapter 11): the book's one
training loop with :class:`~critnotes.analysis.criticality.CriticalityPenalty` as an extra loss term and a
:class:`~critnotes.probes.criticality_probe.CriticalityProbe`, cached by config.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from critnotes.analysis.criticality import CriticalityPenalty, noisy_accuracy, permute_pixels
from critnotes.analysis.losses import evaluate
from critnotes.probes.criticality_probe import CriticalityProbe, CriticalityRecord
from critnotes.training import cache, models
from critnotes.training.data import load_dataset
from critnotes.training.device import resolve_device
from critnotes.training.loop import TrainConfig, log_checkpoints, make_model, run_data, train


@dataclasses.dataclass(frozen=True)
class RegularisedConfig:
    """Plain (penalty=0) or criticality-regularised training on ``tasks`` permuted-MNIST tasks in turn.

    ``train.steps`` updates per task; equal budget = same steps, batches and learning rate for any penalty.
    """

    train: TrainConfig
    penalty: float = 0.0             # β in loss = CE + β·P
    n_penalty: int = 32              # batch inputs that enter P each step
    tasks: int = 2
    n_checkpoints: int = 10          # log-spaced per task
    n_probe: int = 256
    noise_levels: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)

    def validate(self) -> "RegularisedConfig":
        self.train.validate()
        if self.penalty < 0 or self.tasks < 1 or self.n_penalty < 1:
            raise ValueError(f"need penalty >= 0, tasks >= 1, n_penalty >= 1 (got {self.penalty}, {self.tasks}, "
                             f"{self.n_penalty})")
        return self


@dataclasses.dataclass(frozen=True)
class RegularisedResult:
    cfg: RegularisedConfig
    metrics: CriticalityRecord        # λ₀, σ, Δ over training (global step; on the current task's inputs)
    task_of_checkpoint: np.ndarray    # (n_ckpt,)
    acc: np.ndarray                   # (tasks, tasks): test accuracy on task j after training task i (NaN after
                                      # a divergence)
    noise_acc: np.ndarray             # (n_levels,) task-0 test accuracy vs noise level, after task 0
    losses: np.ndarray                # training loss (cross-entropy part) per update
    n_test: int                       # test samples per task
    diverged: bool
    seconds: float

    @property
    def final_average(self) -> float:
        """Mean test accuracy over all tasks after the last task (continual learning read as forgetting)."""
        return float(np.mean(self.acc[-1]))

    @property
    def new_task_accuracy(self) -> float:
        """Mean accuracy on each task right after training it, ``acc[t, t]`` (plasticity)."""
        return float(np.mean(np.diag(self.acc)))

    def noise_drop(self, level: float) -> float:
        """Task-0 accuracy lost to pixel noise of std ``level``: clean minus noisy (Fig. 11.6, robustness)."""
        levels = self.cfg.noise_levels
        if 0.0 not in levels or level not in levels:
            raise ValueError(f"noise_drop needs 0 and {level:g} among noise_levels {levels}; add them to the "
                             "RegularisedConfig")
        return float(self.noise_acc[levels.index(0.0)] - self.noise_acc[levels.index(level)])


def train_regularised(cfg: RegularisedConfig, *, device=None, progress: bool = True) -> RegularisedResult:
    """Train with loss = CE + β·:func:`criticality_penalty` over permuted-MNIST tasks (cached by config)."""
    cfg.validate()
    dev = resolve_device(device)
    return cache.cached("criticality-regularised", (cfg, dev.type), lambda: _train_regularised(cfg, dev, progress),
                        code=(_train_regularised, train, make_model, models, load_dataset, resolve_device),
                        expect=RegularisedResult)


def _concat(records: list[CriticalityRecord], offsets: list[int]) -> CriticalityRecord:
    """One record of several consecutive trainings, their steps shifted by ``offsets``."""
    cat = lambda f: np.concatenate([getattr(r, f) for r in records])  # noqa: E731
    return CriticalityRecord(np.concatenate([r.steps + o for r, o in zip(records, offsets)]), cat("lyapunov"),
                             cat("branching"), cat("dynamic_range"), cat("layer_lyapunov"), records[0].intensities,
                             cat("response"))


def _train_regularised(cfg: RegularisedConfig, dev: torch.device, progress: bool) -> RegularisedResult:
    """Task after task through :func:`critnotes.training.loop.train` (one model, a fresh optimizer per task)."""
    t0 = time.perf_counter()
    tc = cfg.train
    data = run_data(tc).to(dev)
    model = make_model(tc, data)
    records, offsets, task_of, losses = [], [], [], []
    acc = np.full((cfg.tasks, cfg.tasks), np.nan)
    noise_acc = np.full(len(cfg.noise_levels), np.nan)
    diverged = False
    for task in range(cfg.tasks):
        task_data = dataclasses.replace(data, x_train=permute_pixels(data.x_train, task),
                                        x_test=permute_pixels(data.x_test, task))
        probe = CriticalityProbe(tuple(log_checkpoints(tc.steps, cfg.n_checkpoints, include_zero=task == 0)),
                                 n_probe=cfg.n_probe, probe_seed=tc.seed)
        penalty = CriticalityPenalty(cfg.penalty, cfg.n_penalty, tc.seed) if cfg.penalty > 0 else None
        r = train(tc.loop_only().replace(seed=tc.seed + task), [probe], model=model, data=task_data,
                  extra_loss=penalty, device=dev, progress=progress)
        losses.append(r.losses)
        records.append(r.probes[probe.name])
        offsets.append(task * tc.steps)
        task_of.append(np.full(len(records[-1].steps), task))
        if r.diverged:
            diverged = True
            break
        for j in range(cfg.tasks):
            acc[task, j] = evaluate(model, permute_pixels(data.x_test, j), data.y_test, tc.loss)[1]
        if task == 0:
            noise_acc = np.array([noisy_accuracy(model, task_data.x_test, data.y_test, lv, seed=tc.seed)
                                  for lv in cfg.noise_levels])
    return RegularisedResult(cfg, _concat(records, offsets), np.concatenate(task_of), acc, noise_acc,
                             np.concatenate(losses).astype(np.float32), len(data.y_test), diverged,
                             time.perf_counter() - t0)
