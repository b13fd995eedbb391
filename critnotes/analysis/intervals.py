"""Intervals between large updates, computed exactly without storing steps × parameters (paper 002, Fig 5).

A *large update* of parameter ``d`` at step ``t`` is ``|Δw_d(t)| ≥ θ``, with θ the top-``q`` quantile
of *all* |Δw| of the run (paper: q = 0.5 % and 1 % over steps 0–30,000).  The intervals are the
differences between successive large-update steps of the same parameter, pooled over parameters.

The quantile needs the whole run before the first event can be called, so :func:`large_update_intervals`
makes two passes over the same (deterministic, cached) training run:

1. :class:`~critnotes.probes.update_recorder.UpdateRecorder` streams the |Δw| histogram; :func:`threshold_for_quantile`
   picks the bin edge whose exceedance fraction is closest to ``q`` (with ``sub_bits=7`` the edges are
   0.5 % apart in |Δw|; the realised fraction is reported);
2. :class:`IntervalProbe` replays the run keeping, per parameter and threshold, the step of its last
   event and its event count, and adds every new interval to an exact integer histogram.

Memory is O(parameters + steps), never steps × parameters; the result equals the store-everything
reference :func:`brute_force_intervals` (tested).  :func:`shuffled_null` gives the exact expected
interval histogram when each parameter's events are put at uniformly random steps (the time-shuffled
null: no clustering, near-geometric intervals at each parameter's own rate).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import UpdateStats

__all__ = ["IntervalStats", "threshold_for_quantile", "brute_force_intervals", "shuffled_null", "interval_bins", "IntervalFit",
           "linear_binned_density", "fit_intervals", "burstiness"]


@dataclasses.dataclass
class IntervalStats:
    """Exact interval histograms of large updates, one row per threshold."""

    thresholds: np.ndarray        # (n_thr,) |Δw| thresholds θ (events: |Δw| ≥ θ)
    window: tuple[int, int]       # steps [start, stop) observed
    counts: np.ndarray            # (n_thr, stop − start) int64: counts[i, τ] intervals of length τ (τ ≥ 1)
    events_per_param: list        # per threshold: bincount of the number of events per parameter
    n_params: int
    quantiles: np.ndarray | None = None        # requested top fractions q, when set by quantile
    realised: np.ndarray | None = None         # fraction of all |Δw| ≥ θ in the run

    @property
    def length(self) -> int:
        return self.window[1] - self.window[0]

    def n_events(self, i: int = 0) -> int:
        e = self.events_per_param[i]
        return int(np.sum(np.arange(len(e)) * e))

    def intervals(self, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(τ, count)`` for the interval lengths that occurred, threshold ``i``."""
        tau = np.flatnonzero(self.counts[i])
        return tau, self.counts[i, tau]




def threshold_for_quantile(stats: UpdateStats, q: float, window: int = 0) -> tuple[float, float]:
    """The histogram edge θ whose exceedance fraction P(|Δw| ≥ θ) over all parameters and steps of
    ``window`` is closest to ``q``, and that fraction (exact zeros count in the total)."""
    if not 0 < q < 1:
        raise ValueError(f"q must be a fraction in (0, 1), got {q!r}")
    counts = stats.counts[window].sum(axis=0)
    total = stats.n_updates(window)
    above = (np.cumsum(counts[::-1])[::-1] + stats.over[window].sum()) / total   # P(|Δw| ≥ edges[k])
    k = int(np.argmin(np.abs(above - q)))
    return float(stats.edges[k]), float(above[k])




def brute_force_intervals(deltas: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Store-everything reference: ``deltas`` (steps × params) → (interval histogram of length
    steps, bincount of events per parameter), events ``|Δw| ≥ threshold``."""
    d = np.abs(np.asarray(deltas))
    param, step = np.nonzero((d >= threshold).T)            # sorted by parameter, then step
    same = param[1:] == param[:-1]
    gaps = (step[1:] - step[:-1])[same]
    return (np.bincount(gaps, minlength=d.shape[0]).astype(np.int64),
            np.bincount(np.bincount(param, minlength=d.shape[1])))


def shuffled_null(events_per_param: np.ndarray, length: int) -> np.ndarray:
    """Expected interval histogram (index τ = 0 … length−1) when every parameter keeps its number of
    events ``n`` but their steps are drawn uniformly without replacement from the window.

    A gap between consecutive events of a random ``n``-subset of ``length`` steps is τ with
    probability C(length − τ, n − 1) / C(length, n); each parameter contributes ``n − 1`` gaps.
    """
    e = np.asarray(events_per_param)
    if len(e) > length + 1:
        raise ValueError(f"a parameter cannot have more than length={length} events")
    tau = np.arange(1, length)
    out = np.zeros(length)

    def lchoose(a, b):
        return special.gammaln(a + 1) - special.gammaln(b + 1) - special.gammaln(a - b + 1)

    for n in np.flatnonzero(e):
        if n < 2:
            continue
        ok = length - tau >= n - 1
        out[1:][ok] += e[n] * (n - 1) * np.exp(lchoose(length - tau[ok], n - 1) - lchoose(length, n))
    return out


def interval_bins(length: int, per_decade: int = 10) -> np.ndarray:
    """Half-integer log-spaced edges (0.5, 1.5, …, length − 0.5) so that each interval τ in
    1 … length − 1 falls inside exactly one bin."""
    if length < 3:
        raise ValueError(f"need a window of at least 3 steps for interval bins, got {length}")
    top = length - 1
    k = np.unique(np.round(np.logspace(0, np.log10(top), int(per_decade * np.log10(top)) + 2)).astype(int))
    return np.append(k, top + 1) - 0.5


@dataclasses.dataclass(frozen=True)
class IntervalFit:
    """Fits and summaries of one interval histogram (paper 002 Fig 5), from :func:`fit_intervals`.

    ``ls``: the least-squares slope on log-binned densities within ``ls_range``; ``ls_linear``: the
    paper's own fit, a least-squares line through the log-log points of *linear* bins of
    ``linear_width`` steps (its ``x_range`` is the τ range it covers); ``mle``: binned MLE power law
    from the start of ``ls_range`` with likelihood ratios; ``mle_ks``: the same with x_min chosen by
    the KS distance; ``burstiness``, ``mean`` (mean interval) and ``frac_one`` (share of τ = 1) describe
    the whole distribution, not only its tail; ``x``/``density`` and ``x_linear``/``density_linear``
    are the plotted points.
    """

    ls: fitting.LineFit
    ls_linear: fitting.LineFit
    linear_width: int
    mle: fitting.PowerLawFit
    mle_ks: fitting.PowerLawFit
    burstiness: float
    mean: float
    frac_one: float
    n_intervals: float
    x: np.ndarray
    density: np.ndarray
    x_linear: np.ndarray
    density_linear: np.ndarray

    def as_dict(self) -> dict:
        """JSON-ready fields (the fits as dicts)."""
        return {"ls": self.ls.as_dict(), "ls_linear": self.ls_linear.as_dict(), "linear_width": self.linear_width,
                "mle": self.mle.as_dict(), "mle_ks": self.mle_ks.as_dict(), "burstiness": self.burstiness,
                "mean": self.mean, "frac_one": self.frac_one, "n_intervals": self.n_intervals}


def linear_binned_density(counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Density of an interval histogram on linear bins [1, 1+w), [1+w, 1+2w), … (paper 002 Fig 5's
    binning): (bin centres, count / (N·w)) of the non-empty bins."""
    c = np.asarray(counts, dtype=float)
    if int(width) < 1:
        raise ValueError(f"linear bin width must be >= 1 step, got {width!r}")
    w = int(width)
    starts = np.arange(1, len(c), w)
    binned = np.add.reduceat(c, starts) if len(starts) else np.zeros(0)
    widths = np.minimum(starts + w, len(c)) - starts
    keep = binned > 0
    return (starts + (widths - 1) / 2)[keep], binned[keep] / (c[1:].sum() * widths[keep])


def fit_intervals(counts: np.ndarray, ls_range: tuple[float, float] | None = None, xmin: float | None = None,
                  linear_width: int | None = None) -> IntervalFit:
    """Fits of an interval histogram (``counts[τ]``), paper 002 Fig 5 (see :class:`IntervalFit`).

    The MLE starts at ``xmin`` (default: the start of ``ls_range``, so the log-binned least squares and
    the MLE start at the same interval); ``linear_width`` (default: a 50th of the window, the paper's
    ≈600 steps over 30,000) sets the paper's linear bins.  In a finite window the KS-chosen x_min of
    ``mle_ks`` can land on the cutoff near the window length, where intervals become rare.
    """
    counts = np.asarray(counts, dtype=float)
    if not counts[1:].sum() > 0:
        raise ValueError("the interval histogram is empty: no parameter has two large updates "
                         "(lower the threshold or lengthen the window)")
    edges = interval_bins(len(counts))
    binned = np.add.reduceat(counts, np.round(edges[:-1] + 0.5).astype(int))
    start = xmin if xmin is not None else (ls_range[0] if ls_range and ls_range[0] else 1.0)
    x0 = float(edges[min(np.searchsorted(edges, start - 0.5), len(edges) - 3)])   # τ ≥ start
    mle = fitting.fit_powerlaw_binned(edges, binned, xmin=x0)
    mle_ks = fitting.fit_powerlaw_binned(edges, binned)
    x, p = fitting.log_binned_density(edges=edges, counts=binned)
    width = max(1, len(counts) // 50) if linear_width is None else int(linear_width)
    xl, pl = linear_binned_density(counts, width)
    tau = np.arange(len(counts))
    n = counts[1:].sum()
    return IntervalFit(ls=fitting.loglog_fit(x, p, xrange=ls_range), ls_linear=fitting.loglog_fit(xl, pl),
                       linear_width=width, mle=mle, mle_ks=mle_ks, burstiness=burstiness(counts),
                       mean=float(np.sum(tau * counts) / n), frac_one=float(counts[1] / n), n_intervals=float(n),
                       x=x, density=p, x_linear=xl, density_linear=pl)


def burstiness(counts: np.ndarray) -> float:
    """Goh–Barabási burstiness (σ − μ)/(σ + μ) of the intervals: 0 for a Poisson (geometric) process,
    → 1 for bursty, −1 for periodic timing."""
    c = np.asarray(counts, dtype=float)
    tau = np.arange(len(c))
    mu = np.sum(c * tau) / c.sum()
    sd = np.sqrt(np.sum(c * (tau - mu) ** 2) / c.sum())
    return float((sd - mu) / (sd + mu))
