"""Streaming statistics of the full parameter update |Δw| (paper 002, Figs 1–2, S1–S7).

The original work stored every update (steps × parameters: ≈3 GB per 200 steps of the 3.8×10⁶-parameter
MLP).  :class:`UpdateRecorder` instead adds each step's |Δw| of *all* parameters into fixed
log-spaced histogram bins, per layer, per stage window, on the training device.  Memory does not
grow with the number of steps.

Binning uses the float32 bit pattern: with the sign bit cleared, ``bits >> (23 − k)`` is
``exponent·2ᵏ + (top k mantissa bits)``, i.e. the bin of |Δw| among 2ᵏ bins per octave with edges
``2^e · (1 + j/2ᵏ)``.  That is an exact, branch-free integer computation (no log, no comparison
search), so the streamed histogram equals ``numpy.histogram`` on the stored updates with the same
edges (tested), and it costs a few integer passes over the parameter vector.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .train import Probe, Run


def bin_edges(sub_bits: int = 3, min_exp: int = -40, max_exp: int = 8) -> np.ndarray:
    """Edges ``2^e (1 + j/2^k)`` for ``e`` in ``[min_exp, max_exp)``, ``j < 2^k``, and ``2^max_exp`` (float64)."""
    k = 2 ** sub_bits
    e = np.arange(min_exp, max_exp)[:, None]
    j = np.arange(k)[None, :]
    return np.append((2.0 ** e * (1 + j / k)).ravel(), 2.0 ** max_exp)


@dataclasses.dataclass
class UpdateStats:
    """Histograms of |Δw| per window and layer (the result of :class:`UpdateRecorder`)."""

    windows: tuple[tuple[int, int], ...]
    layer_names: list[str]
    layer_sizes: list[int]
    edges: np.ndarray               # (n_bins + 1,)
    counts: np.ndarray              # (n_windows, n_layers, n_bins) int64
    under: np.ndarray               # (n_windows, n_layers) |Δw| < edges[0] = 2^min_exp: in float32 training
                                    # these are the exact zeros (a non-zero update is >= ulp(w) >> 2^-40)
    over: np.ndarray                # (n_windows, n_layers) |Δw| >= edges[-1] or non-finite
    steps: np.ndarray               # (n_windows,) updates recorded in each window
    tracked_index: np.ndarray       # (n_tracked,) flat indices of tracked parameters
    tracked: np.ndarray             # (n_tracked_steps, n_tracked) signed updates of the tracked subset
    tracked_steps: np.ndarray       # steps at which ``tracked`` rows were recorded

    def histogram(self, window: int = 0, layer: str | int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(edges, counts)`` for one window, one layer (name or index) or all layers summed."""
        c = self.counts[window]
        if layer is None:
            return self.edges, c.sum(axis=0)
        li = self.layer_names.index(layer) if isinstance(layer, str) else int(layer)
        return self.edges, c[li]

    def n_updates(self, window: int = 0) -> int:
        """All |Δw| values seen in a window (parameters × steps)."""
        return int(self.counts[window].sum() + self.under[window].sum() + self.over[window].sum())

    def zero_fraction(self, window: int = 0) -> float:
        """Fraction of updates below the first edge (exact zeros, e.g. of dead ReLU units)."""
        return float(self.under[window].sum()) / max(self.n_updates(window), 1)


@dataclasses.dataclass(frozen=True)
class UpdateRecorder(Probe):
    """Probe: streamed log-binned histogram of |Δw| over all parameters at every step of each window.

    ``windows`` are half-open update-step ranges ``[start, stop)`` (paper: 0–10k and 20k–30k).
    ``track`` parameters chosen at random keep their full signed trajectories of updates
    (every ``track_every`` steps), e.g. for interevent or PCA analyses of a subset.
    """

    windows: tuple[tuple[int, int], ...] = ((0, 10_000), (20_000, 30_000))
    sub_bits: int = 3
    min_exp: int = -40
    max_exp: int = 8
    track: int = 0
    track_every: int = 1
    track_seed: int = 0
    name: str = "updates"

    def wants_delta(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.windows)

    def start(self, run: Run) -> None:
        dev, n = run.device, run.flat.numel()
        nb = (self.max_exp - self.min_exp) * 2 ** self.sub_bits
        stride = nb + 2                             # [under, bins..., over] per layer
        layer_id = torch.empty(n, dtype=torch.int32, device=dev)
        for i, sl in enumerate(run.layers):
            layer_id[sl.start:sl.stop] = i
        # offset that maps (bits >> shift) to 0-based bin index, then +1 for the underflow slot
        base = layer_id * stride + 1
        st = {
            "nb": nb, "stride": stride, "base": base, "buf": torch.empty(n, dtype=torch.int32, device=dev),
            "offset": (127 + self.min_exp) << self.sub_bits,
            "hist": torch.zeros(len(self.windows), len(run.layers) * stride, dtype=torch.int64, device=dev),
            "steps": [0] * len(self.windows), "tracked": [], "tracked_steps": [],
        }
        if self.track:
            g = torch.Generator().manual_seed(self.track_seed)
            st["track_idx"] = torch.randperm(n, generator=g)[: self.track].sort().values.to(dev)
        object.__setattr__(self, "_state", st)    # frozen dataclass: per-run state lives outside the key

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        st = self._state
        buf = st["buf"]
        torch.bitwise_and(delta.view(torch.int32), 0x7FFFFFFF, out=buf)
        buf.bitwise_right_shift_(23 - self.sub_bits).sub_(st["offset"]).clamp_(-1, st["nb"]).add_(st["base"])
        counts = torch.bincount(buf, minlength=st["hist"].shape[1])
        for w, (a, b) in enumerate(self.windows):
            if a <= t < b:
                st["hist"][w] += counts
                st["steps"][w] += 1
                if self.track and (t - a) % self.track_every == 0:
                    st["tracked"].append(delta[st["track_idx"]].clone())
                    st["tracked_steps"].append(t)

    def finish(self, run: Run) -> UpdateStats:
        st = self._state
        L, stride, nb = len(run.layers), st["stride"], st["nb"]
        h = st["hist"].cpu().numpy().reshape(len(self.windows), L, stride)
        tracked = (torch.stack(st["tracked"]).cpu().numpy() if st["tracked"]
                   else np.zeros((0, self.track), dtype=np.float32))
        return UpdateStats(
            windows=tuple(self.windows), layer_names=[s.name for s in run.layers],
            layer_sizes=[s.size for s in run.layers], edges=bin_edges(self.sub_bits, self.min_exp, self.max_exp),
            counts=h[:, :, 1:nb + 1].copy(), under=h[:, :, 0].copy(),
            over=h[:, :, nb + 1].copy(), steps=np.array(st["steps"]),
            tracked_index=(st["track_idx"].cpu().numpy() if self.track else np.zeros(0, dtype=np.int64)),
            tracked=tracked, tracked_steps=np.array(st["tracked_steps"], dtype=np.int64))
