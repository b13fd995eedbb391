"""Streaming statistics of the full parameter update |Δw| (paper 002, Figs 1–2, S1–S7).

The original work stored every update (steps × parameters: ≈3 GB per 200 steps of the 3.8×10⁶-parameter
MLP).  :class:`UpdateRecorder` instead adds each step's |Δw| of *all* parameters into fixed
log-spaced histogram bins, per layer, per stage window, on the training device.  Memory does not
grow with the number of steps.

Binning uses the float32 bit pattern: ``(bits >> (23 − k)) & (2^(8+k) − 1)`` is
``exponent·2ᵏ + (top k mantissa bits)`` of |Δw| (the sign bit is masked off), i.e. the bin of |Δw|
among 2ᵏ bins per octave with edges ``2^e · (1 + j/2ᵏ)``.  Each step counts these raw indices over
*every* float32 value (2^(8+k) slots per layer: zeros, subnormals, inf and NaN included) with two
integer passes and one ``bincount`` per layer; the slots outside ``[2^min_exp, 2^max_exp)`` are
folded into the underflow/overflow counts only once, in :meth:`UpdateRecorder.finish`.  That is
exact (no log, no comparison search), so the streamed histogram equals ``numpy.histogram`` on the
stored updates with the same edges (``tests/test_recorder.py``).  On CUDA the counts are added
with ``index_add_`` into a fixed-size device tensor, so recording never synchronises with the host.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .train import Probe, Run

#: ``method="auto"`` on CPU: models with fewer parameters use the single ``index_add_`` (measured faster
#: for MLP-small, slower for MLP-large; ``benchmarks/recorder.py``)
SCATTER_BELOW = 1 << 20


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

    ``windows`` are half-open update-step ranges ``[start, stop)`` (paper: 0–10k and 20k–30k); they may
    overlap.  Bins: ``2**sub_bits`` per octave between ``2**min_exp`` and ``2**max_exp`` (see
    :func:`bin_edges`).  ``track`` parameters chosen at random keep their full signed trajectories of
    updates (every ``track_every`` steps), e.g. for interevent or PCA analyses of a subset.
    ``method``: ``"bincount"`` (one ``bincount`` per layer; fastest for large models on CPU), ``"scatter"``
    (one ``index_add_`` into a fixed-size tensor: fewer calls for small models, and no host synchronisation
    on CUDA) or ``"auto"`` (scatter on CUDA and below :data:`SCATTER_BELOW` parameters).
    Used by chapter 1 (``critnotes.chapters.updates``) and every chapter that needs |Δw| statistics.
    """

    windows: tuple[tuple[int, int], ...] = ((0, 10_000), (20_000, 30_000))
    sub_bits: int = 3
    min_exp: int = -40
    max_exp: int = 8
    track: int = 0
    track_every: int = 1
    track_seed: int = 0
    name: str = "updates"
    method: str = "auto"

    def __post_init__(self):
        if not 0 <= self.sub_bits <= 10:
            raise ValueError(f"sub_bits must lie in 0..10 (2**sub_bits bins per octave), got {self.sub_bits}")
        if not -126 <= self.min_exp < self.max_exp <= 128:
            raise ValueError(f"need -126 <= min_exp < max_exp <= 128 (float32 exponents), got "
                             f"min_exp={self.min_exp}, max_exp={self.max_exp}")
        if not self.windows or any(not 0 <= a < b for a, b in self.windows):
            raise ValueError(f"windows must be non-empty half-open step ranges (start, stop) with "
                             f"0 <= start < stop, got {self.windows!r}")
        if self.track < 0 or self.track_every < 1:
            raise ValueError(f"need track >= 0 and track_every >= 1, got {self.track}, {self.track_every}")
        if self.method not in ("auto", "bincount", "scatter"):
            raise ValueError(f"unknown method {self.method!r}; choose 'auto', 'bincount' or 'scatter'")

    def wants_delta(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.windows)

    def start(self, run: Run) -> None:
        dev, n = run.device, run.flat.numel()
        if run.flat.dtype != torch.float32:
            raise TypeError(f"UpdateRecorder bins float32 bit patterns; the parameters are {run.flat.dtype}")
        raw = 1 << (8 + self.sub_bits)               # every float32 |x|: exponent (8 bits) + sub_bits
        # auto: per-layer bincounts for large CPU models; one index_add_ for small ones (fewer calls) and on CUDA
        scatter = self.method == "scatter" or (self.method == "auto" and (dev.type != "cpu" or n < SCATTER_BELOW))
        st = {
            "raw": raw, "shift": 23 - self.sub_bits, "mask": raw - 1, "scatter": scatter,
            "buf": torch.empty(n, dtype=torch.int32, device=dev),
            "slices": [(sl.start, sl.stop) for sl in run.layers],
            "hist": torch.zeros(len(self.windows), len(run.layers) * raw, dtype=torch.int64, device=dev),
            "steps": [0] * len(self.windows), "tracked": [], "tracked_steps": [],
        }
        if scatter:                                  # slot of (layer, raw index) = layer * raw + index
            base = torch.empty(n, dtype=torch.int32, device=dev)
            for i, sl in enumerate(run.layers):
                base[sl.start:sl.stop] = i * raw
            st["base"] = base
            st["ones"] = torch.ones(1, dtype=torch.int64, device=dev).expand(n)
        if self.track:
            g = torch.Generator().manual_seed(self.track_seed)
            st["track_idx"] = torch.randperm(n, generator=g)[: self.track].sort().values.to(dev)
        object.__setattr__(self, "_state", st)    # frozen dataclass: per-run state lives outside the key

    def state_nbytes(self) -> int:
        """Bytes held by the per-run state (buffers, histograms, tracked trajectories); flat in steps
        unless ``track > 0`` (the benchmark's ``peak_mem_mb``)."""
        st = getattr(self, "_state", None)
        if st is None:
            return 0
        tensors = [v for v in st.values() if isinstance(v, torch.Tensor)] + st["tracked"]
        return sum(t.untyped_storage().nbytes() for t in tensors)

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        st = self._state
        active = [w for w, (a, b) in enumerate(self.windows) if a <= t < b]
        buf = st["buf"]                              # raw slot of every |Δw|: 2 integer passes
        torch.bitwise_right_shift(delta.view(torch.int32), st["shift"], out=buf)
        buf.bitwise_and_(st["mask"])
        if st["scatter"]:                            # accumulate straight into the window's histogram
            buf.add_(st["base"])
            for w in active:
                st["hist"][w].index_add_(0, buf, st["ones"])
        else:
            hist = st["hist"].view(len(self.windows), len(st["slices"]), st["raw"])
            for li, (a, b) in enumerate(st["slices"]):
                counts = torch.bincount(buf[a:b], minlength=st["raw"])
                for w in active:
                    hist[w, li] += counts
        for w in active:
            st["steps"][w] += 1
        if self.track and any((t - self.windows[w][0]) % self.track_every == 0 for w in active):
            st["tracked"].append(delta[st["track_idx"]])    # once per step, even if windows overlap
            st["tracked_steps"].append(t)

    def finish(self, run: Run) -> UpdateStats:
        st = self._state
        L, raw = len(run.layers), st["raw"]
        lo = (127 + self.min_exp) << self.sub_bits   # raw slot of the first edge 2^min_exp
        hi = (127 + self.max_exp) << self.sub_bits   # raw slot of the last edge 2^max_exp
        h = st["hist"].cpu().numpy().reshape(len(self.windows), L, raw)
        tracked = (torch.stack(st["tracked"]).cpu().numpy() if st["tracked"]
                   else np.zeros((0, self.track), dtype=np.float32))
        return UpdateStats(
            windows=tuple(self.windows), layer_names=[s.name for s in run.layers],
            layer_sizes=[s.size for s in run.layers], edges=bin_edges(self.sub_bits, self.min_exp, self.max_exp),
            counts=h[:, :, lo:hi].copy(), under=h[:, :, :lo].sum(axis=2), over=h[:, :, hi:].sum(axis=2),
            steps=np.array(st["steps"]),
            tracked_index=(st["track_idx"].cpu().numpy() if self.track else np.zeros(0, dtype=np.int64)),
            tracked=tracked, tracked_steps=np.array(st["tracked_steps"], dtype=np.int64))
