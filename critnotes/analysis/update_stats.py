"""Histograms of the update magnitudes |Δw| per stage window and layer (paper 002, Figs 1–2, S1–S7).

:class:`UpdateStats` is what :class:`~critnotes.probes.update_recorder.UpdateRecorder` streams; :func:`bin_edges`
gives its log-spaced bins (``2^k`` per octave), whose edges are exact float32 bit-pattern boundaries.
"""
from __future__ import annotations

import dataclasses

import numpy as np


def bin_edges(sub_bits: int = 3, min_exp: int = -40, max_exp: int = 8) -> np.ndarray:
    """Edges ``2^e (1 + j/2^k)`` for ``e`` in ``[min_exp, max_exp)``, ``j < 2^k``, and ``2^max_exp`` (float64)."""
    k = 2 ** sub_bits
    e = np.arange(min_exp, max_exp)[:, None]
    j = np.arange(k)[None, :]
    return np.append((2.0 ** e * (1 + j / k)).ravel(), 2.0 ** max_exp)


def raw_slots(sub_bits: int, min_exp: int, max_exp: int) -> tuple[int, int, int]:
    """The float32-bit binning of :func:`bin_edges`: a value's raw slot is ``bits(|x|) >> shift`` (exponent·2ᵏ + top k
    mantissa bits); returns ``(shift, lo, hi)`` with the slots of the edges ``2^min_exp`` and ``2^max_exp``."""
    return 23 - sub_bits, (127 + min_exp) << sub_bits, (127 + max_exp) << sub_bits


def log_histogram(values, sub_bits: int = 3, min_exp: int = -40, max_exp: int = 8) -> np.ndarray:
    """Counts of ``|values|`` (a float32 tensor, any shape) in the bins of :func:`bin_edges` — the recorder's
    binning applied to a whole tensor at once: the bin is ``exponent·2ᵏ + top k mantissa bits`` of the float32
    bit pattern, so the counts equal ``numpy.histogram`` on those edges (values below ``2^min_exp``, zeros,
    at or above ``2^max_exp``, inf and NaN are not counted).  Used for chapter 3's per-window |Δw| entropy and tail."""
    import torch

    if values.dtype != torch.float32:
        raise TypeError(f"log_histogram bins float32 bit patterns; got {values.dtype} (convert with .float())")
    shift, lo, hi = raw_slots(sub_bits, min_exp, max_exp)
    slots = torch.bitwise_right_shift(values.detach().abs().reshape(-1).view(torch.int32), shift)
    return torch.bincount(slots, minlength=1 << (8 + sub_bits))[lo:hi].cpu().numpy()


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
