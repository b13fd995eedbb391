"""Probe of chapter 11 (paper 004): the criticality metrics σ, λ₀ and Δ of the network at checkpoints
(the metrics themselves are in :mod:`critnotes.analysis.criticality`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from critnotes.analysis.criticality import CriticalityMetrics, intensity_grid, measure
from critnotes.probes.activity import probe_inputs
from critnotes.probes.base import AtSteps, Run


@dataclasses.dataclass
class CriticalityRecord:
    steps: np.ndarray            # (n_ckpt,)
    lyapunov: np.ndarray         # (n_ckpt,) λ₀
    branching: np.ndarray        # (n_ckpt,) σ
    dynamic_range: np.ndarray    # (n_ckpt,) Δ in dB
    layer_lyapunov: np.ndarray   # (n_ckpt, L)
    intensities: np.ndarray      # (n_s,)
    response: np.ndarray         # (n_ckpt, n_s) R(s)


def _stack(steps, metrics: list[CriticalityMetrics], s) -> CriticalityRecord:
    return CriticalityRecord(np.asarray(steps), np.array([m.lyapunov for m in metrics]),
                             np.array([m.branching for m in metrics]), np.array([m.dynamic_range for m in metrics]),
                             np.stack([m.layer_lyapunov for m in metrics]), np.asarray(s),
                             np.stack([m.response for m in metrics]))


@dataclasses.dataclass(frozen=True)
class CriticalityProbe(AtSteps):
    """λ₀, σ, Δ on ``n_probe`` class-balanced training inputs after ``t`` updates, t in ``steps``."""

    steps: tuple[int, ...]
    n_probe: int = 256
    probe_seed: int = 0
    s_min: float = 1e-3
    s_max: float = 1e3
    n_intensities: int = 41
    name: str = "criticality"

    def start(self, run: Run) -> None:
        object.__setattr__(self, "_st", {"x": probe_inputs(run, self.n_probe, self.probe_seed), "m": [], "steps": []})

    def on_checkpoint(self, t: int, run: Run) -> None:
        st = self._st
        st["m"].append(measure(run.model, st["x"], seed=self.probe_seed,
                               intensities=intensity_grid(self.s_min, self.s_max, self.n_intensities)))
        st["steps"].append(t)

    def finish(self, run: Run) -> CriticalityRecord:
        return _stack(self._st["steps"], self._st["m"], intensity_grid(self.s_min, self.s_max, self.n_intensities))
