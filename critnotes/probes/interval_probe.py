"""Probe of chapter 5 (paper 002 Fig 5): intervals between successive large updates of every parameter,
counted exactly while training (the statistics are in :mod:`critnotes.analysis.intervals`).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from critnotes.analysis.intervals import N_GROUPS, IntervalStats
from critnotes.probes.base import Probe, Run


@dataclasses.dataclass(frozen=True)
class IntervalProbe(Probe):
    """Probe: per parameter, the step of its last |Δw| ≥ θ event, for several θ at once; every new
    interval goes into an integer histogram per parameter group (index mod ``N_GROUPS``) on the training
    device, and the events of each step are counted (the event-time profile) (paper 002, Fig 5)."""

    thresholds: tuple[float, ...] = ()
    window: tuple[int, int] = (0, 30_000)
    name: str = "intervals"

    def wants_delta(self, t: int) -> bool:
        return self.window[0] <= t < self.window[1]

    def start(self, run: Run) -> None:
        if not self.thresholds or any(not th > 0 for th in self.thresholds):
            raise ValueError(f"thresholds must be a non-empty tuple of positive numbers, got {self.thresholds!r}")
        a, b = self.window
        if not 0 <= a < b:
            raise ValueError(f"window must be [start, stop) with 0 <= start < stop, got {self.window!r}")
        k, n, dev = len(self.thresholds), run.flat.numel(), run.device
        object.__setattr__(self, "_state", {
            "last": torch.full((k, n), -1, dtype=torch.int32, device=dev),
            "n_ev": torch.zeros((k, n), dtype=torch.int32, device=dev),
            "hist": torch.zeros(k * N_GROUPS * (b - a), dtype=torch.int64, device=dev),
            "profile": torch.zeros((k, b - a), dtype=torch.int64, device=dev),
            "buf": torch.empty(n, dtype=run.flat.dtype, device=dev)})

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        st, length = self._state, self.window[1] - self.window[0]
        mag = torch.abs(delta, out=st["buf"])
        for i, th in enumerate(self.thresholds):
            idx = (mag >= th).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            prev = st["last"][i, idx]
            seen = prev >= 0
            gaps = (t - prev[seen]).long()
            slot = (i * N_GROUPS + idx[seen] % N_GROUPS) * length
            st["hist"].index_add_(0, gaps + slot, torch.ones_like(gaps))
            st["profile"][i, t - self.window[0]] += idx.numel()
            st["last"][i, idx] = t
            st["n_ev"][i, idx] += 1

    def finish(self, run: Run) -> IntervalStats:
        st, k = self._state, len(self.thresholds)
        group = np.arange(run.flat.numel()) % N_GROUPS
        return IntervalStats(
            thresholds=np.array(self.thresholds, dtype=float), window=tuple(self.window),
            group_counts=st["hist"].view(k, N_GROUPS, -1).cpu().numpy(),
            group_events=[[np.bincount(r[group == g]) for g in range(N_GROUPS)] for r in st["n_ev"].cpu().numpy()],
            profile=st["profile"].cpu().numpy(), n_params=run.flat.numel())


@dataclasses.dataclass(frozen=True)
class UpdateTrace(Probe):
    """Probe: every update Δw of every parameter in steps ``[start, stop)``, as a (steps × params) array —
    the store-everything reference for :class:`IntervalProbe` on short runs (memory steps × params)."""

    window: tuple[int, int] = (0, 200)
    name: str = "trace"

    def wants_delta(self, t: int) -> bool:
        return self.window[0] <= t < self.window[1]

    def start(self, run: Run) -> None:
        a, b = self.window
        if not 0 <= a < b:
            raise ValueError(f"window must be [start, stop) with 0 <= start < stop, got {self.window!r}")
        if (b - a) * run.flat.numel() > 5e8:
            raise ValueError(f"an update trace of {b - a} steps × {run.flat.numel():,} parameters is too large; "
                             f"use a shorter window (IntervalProbe needs no trace)")
        object.__setattr__(self, "_rows", [])

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        self._rows.append(delta.detach().cpu().numpy().copy())

    def finish(self, run: Run) -> np.ndarray:
        return np.stack(self._rows)
