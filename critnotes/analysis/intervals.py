"""Intervals between large updates, computed exactly without storing steps × parameters (paper 002, Fig 5).

A *large update* of parameter ``d`` at step ``t`` is ``|Δw_d(t)| ≥ θ``, with θ the top-``q`` quantile
of *all* |Δw| of the run (paper: q = 0.5 % and 1 % over steps 0–30,000).  The intervals are the
differences between successive large-update steps of the same parameter, pooled over parameters.

The quantile needs the whole run before the first event can be called, so :func:`critnotes.book.chapters.interevent.large_update_intervals`
makes two passes over the same (deterministic, cached) training run:

1. :class:`~critnotes.probes.update_recorder.UpdateRecorder` streams the |Δw| histogram; :func:`threshold_for_quantile`
   picks the bin edge whose exceedance fraction is closest to ``q`` (with ``sub_bits=7`` the edges are
   0.5 % apart in |Δw|; the realised fraction is reported);
2. :class:`IntervalProbe` replays the run keeping, per parameter and threshold, the step of its last
   event and its event count, and adds every new interval to an exact integer histogram.

Memory is O(parameters + steps), never steps × parameters; the result equals the store-everything
reference :func:`brute_force_intervals` (tested).  Two nulls without temporal clustering: :func:`shuffled_null`
gives the exact expected interval histogram when each parameter's events are put at uniformly random steps
(a stationary null), :func:`profile_null` draws each parameter's events from the pooled event-time profile
(keeps a rate that changes over training, e.g. larger updates early on).

:func:`fit_intervals` fits on a restricted range of τ (paper 002 Methods, "Data Fitting": fits are
"restricted to the range of data points aligned with the corresponding solid line to avoid low-signal or
cutoff regions"): least squares on linear and on log bins that lie inside the range and hold enough
counts, and the discrete maximum-likelihood power law with the finite-window factor (1 − τ/T),
:func:`fit_window_powerlaw`, with likelihood ratios against the windowed exponential and log-normal.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize, special

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import UpdateStats

__all__ = ["IntervalStats", "threshold_for_quantile", "brute_force_intervals", "shuffled_null", "profile_null",
           "interval_bins", "IntervalFit", "linear_binned_density", "fit_window_powerlaw", "fit_intervals", "burstiness",
           "N_GROUPS"]

#: parameters are split into this many groups (parameter index mod N_GROUPS) for error bars over groups
N_GROUPS = 8


@dataclasses.dataclass
class IntervalStats:
    """Exact interval histograms of large updates, one row per threshold."""

    thresholds: np.ndarray        # (n_thr,) |Δw| thresholds θ (events: |Δw| ≥ θ)
    window: tuple[int, int]       # steps [start, stop) observed
    group_counts: np.ndarray      # (n_thr, N_GROUPS, stop − start) int64: intervals of length τ, per parameter group
    group_events: list            # per threshold, per group: bincount of the number of events per parameter
    profile: np.ndarray           # (n_thr, stop − start) int64: events (all parameters) at each step of the window
    n_params: int
    quantiles: np.ndarray | None = None        # requested top fractions q, when set by quantile
    realised: np.ndarray | None = None         # fraction of all |Δw| ≥ θ in the run

    @property
    def length(self) -> int:
        return self.window[1] - self.window[0]

    @property
    def counts(self) -> np.ndarray:
        """(n_thr, length): counts[i, τ] intervals of length τ over all parameters."""
        return self.group_counts.sum(axis=1)

    @property
    def events_per_param(self) -> list:
        """Per threshold: bincount of the number of events per parameter (all groups)."""
        return [_add_bincounts(g) for g in self.group_events]

    def n_events(self, i: int = 0) -> int:
        e = self.events_per_param[i]
        return int(np.sum(np.arange(len(e)) * e))

    def intervals(self, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(τ, count)`` for the interval lengths that occurred, threshold ``i``."""
        tau = np.flatnonzero(self.counts[i])
        return tau, self.counts[i, tau]


def _add_bincounts(rows) -> np.ndarray:
    out = np.zeros(max(len(r) for r in rows), dtype=np.int64)
    for r in rows:
        out[:len(r)] += r
    return out


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


def profile_null(events_per_param: np.ndarray, profile: np.ndarray, seed: int = 0, draws: int = 1,
                 chunk: int = 4_000_000) -> np.ndarray:
    """Interval histogram (index τ = 0 … length−1, mean over ``draws`` Monte Carlo draws) when every parameter
    keeps its number of events ``n`` but they sit at ``n`` distinct steps drawn with probability ∝ ``profile``
    (the pooled number of events at each step): no clustering of a parameter's events beyond the overall
    event rate, which may change over training.  Steps are drawn i.i.d. from the profile and collisions
    redrawn; a parameter with more than a quarter of the profile's non-empty steps is drawn by weighted
    sampling without replacement (Gumbel top-n).  A flat profile gives :func:`shuffled_null` (tested).
    """
    e = np.asarray(events_per_param)
    w = np.asarray(profile, dtype=float)
    length = len(w)
    if np.any(w < 0) or not w.sum() > 0:
        raise ValueError("profile must be non-negative event counts per step with at least one event")
    support = int(np.count_nonzero(w))
    if len(e) > support + 1:
        raise ValueError(f"a parameter has {len(e) - 1} events but only {support} steps have any event: "
                         "profile and events_per_param come from different runs")
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(w) / w.sum()
    logw = np.log(np.where(w > 0, w, 1.0)) - np.where(w > 0, 0.0, np.inf)
    ns = np.repeat(np.arange(len(e)), e)
    ns = ns[ns >= 2]
    heavy, light = ns[ns > support // 4], ns[ns <= support // 4]
    out = np.zeros(length)
    for _ in range(draws):
        for n in heavy:
            t = np.sort(np.argpartition(-(logw + rng.gumbel(size=length)), n - 1)[:n])
            out += np.bincount(np.diff(t), minlength=length)[:length]
        bounds = np.searchsorted(np.cumsum(light), np.arange(chunk, light.sum() + chunk, chunk))
        for a, b in zip(np.r_[0, bounds[:-1]], bounds):
            nc = light[a:b]
            if nc.size == 0:
                continue
            owner = np.repeat(np.arange(nc.size, dtype=np.int64), nc)
            key = np.sort(owner * length + np.minimum(np.searchsorted(cdf, rng.random(owner.size), side="right"),
                                                      length - 1))
            while True:                # redraw each repeated step; only the owners that had one are sorted again
                dup = np.flatnonzero(key[1:] == key[:-1]) + 1
                if dup.size == 0:
                    out += _owner_gaps(key, length)
                    break
                again = np.isin(key // length, key[dup] // length)
                t = np.minimum(np.searchsorted(cdf, rng.random(dup.size), side="right"), length - 1)
                key[dup] = (key[dup] // length) * length + t
                out += _owner_gaps(key[~again], length)
                key = np.sort(key[again])
    return out / draws


def _owner_gaps(key: np.ndarray, length: int) -> np.ndarray:
    """Histogram of the gaps between consecutive steps of each owner, from sorted keys ``owner·length + step``."""
    same = key[1:] // length == key[:-1] // length
    return np.bincount(np.diff(key)[same], minlength=length)[:length]


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

    All three exponents use only τ in ``fit_range`` (the paper fits "the range of data points aligned with
    the corresponding solid line to avoid low-signal or cutoff regions"): ``ls``, least squares on log-log
    points of log bins that lie wholly inside the range and hold at least ``min_count`` intervals (its
    ``x_range`` is the τ range of those bin centres; the paper's Methods: "least-squares regression on
    log–log transformed data"); ``ls_linear``, the same on linear bins of ``linear_width`` steps (``None`` when
    fewer than two qualify: linear bins thin out fast); ``mle``, :func:`fit_window_powerlaw` on the integers
    of the range.
    ``burstiness``, ``mean`` (mean interval) and ``frac_one`` (share of τ = 1) describe the whole
    distribution; ``x``/``density`` and ``x_linear``/``density_linear`` are the plotted points (all bins).
    """

    ls: fitting.LineFit
    ls_linear: fitting.LineFit | None      # None: fewer than 2 linear bins inside the range hold min_count
    linear_width: int
    fit_range: tuple[int, int]
    mle: fitting.PowerLawFit
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
        return {"ls": self.ls.as_dict(), "ls_linear": self.ls_linear and self.ls_linear.as_dict(), "linear_width": self.linear_width,
                "fit_range": list(self.fit_range), "mle": self.mle.as_dict(), "burstiness": self.burstiness,
                "mean": self.mean, "frac_one": self.frac_one, "n_intervals": self.n_intervals}


def linear_binned_density(counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Density of an interval histogram on linear bins [1, 1+w), [1+w, 1+2w), … (the linear binning of
    paper 002 Fig 5; the paper does not give its width): (bin centres, count / (N·w), count) of the
    non-empty bins."""
    c = np.asarray(counts, dtype=float)
    if int(width) < 1:
        raise ValueError(f"linear bin width must be >= 1 step, got {width!r}")
    w = int(width)
    starts = np.arange(1, len(c), w)
    binned = np.add.reduceat(c, starts) if len(starts) else np.zeros(0)
    widths = np.minimum(starts + w, len(c)) - starts
    keep = binned > 0
    return (starts + (widths - 1) / 2)[keep], binned[keep] / (c[1:].sum() * widths[keep]), binned[keep]


#: the exponent's search range of :func:`fit_window_powerlaw` (a fit on its end is flagged ``at_bound``)
ALPHA_RANGE = (0.0, 12.0)


def _window_logp(g: np.ndarray, logw: np.ndarray) -> np.ndarray:
    """log P(τ) of ``exp(g(τ)) · window(τ)`` normalised over the τ of the fit range."""
    h = g + logw
    m = h.max()                       # log-sum-exp by hand: scipy's array-API wrapper costs 10× more per call here
    return h - (m + np.log(np.sum(np.exp(h - m))))


def fit_window_powerlaw(counts: np.ndarray, fit_range: tuple[int, int], window: int | None = None
                        ) -> fitting.PowerLawFit:
    """Discrete maximum-likelihood power law ``P(τ) ∝ τ^−α (1 − τ/T)`` on the integers ``τ ∈ fit_range`` of an
    interval histogram ``counts[τ]`` observed in a window of ``T`` steps (default ``len(counts)``): an
    interval τ fits into the window at ``T − τ`` places, so the window thins long intervals by ``1 − τ/T``.
    Compared (Vuong, per-interval log-likelihood differences) with the windowed geometric ``e^{−λτ}(1 − τ/T)``
    and log-normal ``τ^{−1} e^{−(ln τ − μ)²/2σ²}(1 − τ/T)`` on the same integers.  ``alpha_se`` from the
    observed Fisher information; ``ks`` the largest CDF difference on the range.  Paper 002 Fig 5.
    """
    c = np.asarray(counts, dtype=float)
    T = len(c) if window is None else int(window)
    lo, hi = int(fit_range[0]), int(min(fit_range[1], T - 1, len(c) - 1))
    if not 1 <= lo < hi:
        raise ValueError(f"fit range must satisfy 1 <= lo < hi < window ({T}), got {fit_range!r}")
    tau = np.arange(lo, hi + 1, dtype=float)
    cc = c[lo:hi + 1]
    n = cc.sum()
    if n < fitting.MIN_TAIL or np.count_nonzero(cc) < 2:
        raise ValueError(f"only {n:g} intervals in {np.count_nonzero(cc)} distinct lengths on τ = {lo}–{hi}: a "
                         f"power-law fit needs >= {fitting.MIN_TAIL} in >= 2 (widen the range or lower the threshold)")
    logw, lt = np.log1p(-tau / T), np.log(tau)

    def nll_pl(a):
        return -float(np.sum(cc * _window_logp(-a * lt, logw)))

    alpha = optimize.minimize_scalar(nll_pl, bounds=ALPHA_RANGE, method="bounded", options={"xatol": 1e-8}).x
    logp_pl = _window_logp(-alpha * lt, logw)
    p = np.exp(logp_pl)
    info = n * float(np.sum(p * lt ** 2) - np.sum(p * lt) ** 2)        # variance of ln τ under the fit

    scale = float(np.sum(cc * (tau - lo)) / n) or 1.0
    lam = np.exp(optimize.minimize_scalar(lambda v: -float(np.sum(cc * _window_logp(-np.exp(v) * tau, logw))),
                                          bounds=(np.log(1e-4 / scale), np.log(1e4 / scale)), method="bounded").x)
    logp_ex = _window_logp(-lam * tau, logw)

    def nll_ln(q):
        return -float(np.sum(cc * _window_logp(-lt - (lt - q[0]) ** 2 / (2 * np.exp(2 * q[1])), logw)))

    m0 = float(np.sum(cc * lt) / n)
    s0 = max(float(np.sqrt(np.sum(cc * (lt - m0) ** 2) / n)), 0.1)
    span = max(float(lt[-1] - lt[0]), np.log(2.0))
    s_pl = 3.0 * span                                       # a log-normal that mimics the power law on the range
    starts = [(m0, np.log(s0)), (lt[0] - (alpha - 1.0) * s_pl ** 2, np.log(s_pl))]
    best = min((optimize.minimize(nll_ln, x0, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9,
                                                                                "maxiter": 4000}) for x0 in starts),
               key=lambda r: r.fun)
    mu, sigma = float(best.x[0]), float(np.exp(best.x[1]))
    logp_ln = _window_logp(-lt - (lt - mu) ** 2 / (2 * sigma ** 2), logw)
    used = cc > 0
    comparisons = {"lognormal": fitting.vuong((logp_pl - logp_ln)[used], cc[used]),
                   "exponential": fitting.vuong((logp_pl - logp_ex)[used], cc[used])}
    ks = float(np.max(np.abs(np.cumsum(cc) / n - np.cumsum(p))))
    return fitting.PowerLawFit(alpha=float(alpha), alpha_se=float(1 / np.sqrt(info)) if info > 0 else float("inf"),
                               xmin=float(lo), ks=ks, n_tail=int(round(n)), n_total=int(round(c[1:].sum())),
                               method="mle-discrete-window", comparisons=comparisons,
                               details={"fit_range": [lo, hi], "window": T, "lognormal": {"mu": mu, "sigma": sigma},
                                        "exponential": {"rate": float(lam)}},
                               at_bound=fitting.on_bound(float(alpha), *ALPHA_RANGE))


def fit_intervals(counts: np.ndarray, fit_range: tuple[float, float], linear_width: int = 1,
                  min_count: int = 20) -> IntervalFit:
    """Fits of an interval histogram (``counts[τ]``, observed in a window of ``len(counts)`` steps) on
    ``fit_range`` = (τ_lo, τ_hi), paper 002 Fig 5 (see :class:`IntervalFit`).  Bins outside the range or
    with fewer than ``min_count`` intervals (low signal) are left out of both least-squares lines.
    """
    counts = np.asarray(counts, dtype=float)
    if not counts[1:].sum() > 0:
        raise ValueError("the interval histogram is empty: no parameter has two large updates "
                         "(lower the threshold or lengthen the window)")
    lo, hi = int(np.ceil(fit_range[0])), int(np.floor(min(fit_range[1], len(counts) - 1)))
    if not 1 <= lo < hi:
        raise ValueError(f"fit_range must satisfy 1 <= lo < hi <= window − 1 = {len(counts) - 1}, got {fit_range!r}")
    width = int(linear_width)
    edges = interval_bins(len(counts))
    binned = np.add.reduceat(counts, np.round(edges[:-1] + 0.5).astype(int))
    x, p = fitting.log_binned_density(edges=edges, counts=binned)
    nb = binned[binned > 0]
    inside = (edges[:-1][binned > 0] + 0.5 >= lo) & (edges[1:][binned > 0] - 0.5 <= hi) & (nb >= min_count)
    xl, pl, nl = linear_binned_density(counts, width)
    first = xl - (width - 1) / 2
    inside_l = (first >= lo) & (first + width - 1 <= hi) & (nl >= min_count)
    tau = np.arange(len(counts))
    n = counts[1:].sum()

    if np.count_nonzero(inside) < 2:
        raise ValueError(f"fewer than 2 log bins with >= {min_count} intervals inside τ = {lo}–{hi}: widen the "
                         f"fit range or lower min_count")
    lin = fitting.loglog_fit(xl[inside_l], pl[inside_l]) if np.count_nonzero(inside_l) >= 2 else None
    return IntervalFit(ls=fitting.loglog_fit(x[inside], p[inside]), ls_linear=lin,
                       linear_width=width, fit_range=(lo, hi), mle=fit_window_powerlaw(counts, (lo, hi)),
                       burstiness=burstiness(counts), mean=float(np.sum(tau * counts) / n),
                       frac_one=float(counts[1] / n), n_intervals=float(n), x=x, density=p, x_linear=xl,
                       density_linear=pl)


def burstiness(counts: np.ndarray) -> float:
    """Goh–Barabási burstiness (σ − μ)/(σ + μ) of the intervals: 0 for a Poisson (geometric) process,
    → 1 for bursty, −1 for periodic timing."""
    c = np.asarray(counts, dtype=float)
    tau = np.arange(len(c))
    mu = np.sum(c * tau) / c.sum()
    sd = np.sqrt(np.sum(c * (tau - mu) ** 2) / c.sum())
    return float((sd - mu) / (sd + mu))
