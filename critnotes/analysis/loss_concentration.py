"""Concentration of per-sample losses and the quasi-thermal convergence criterion (paper 003 §2.1–2.3, Fig 2).

Given the per-sample training losses ``L_k`` (k = 1…N) of a network at one checkpoint:

* :func:`loss_moments` — L̄, Var(L) and ε = Var(L)/L̄², the largest ε with Var(L) ≥ ε L̄² (Fig 2e);
* :func:`concentration_curve` — P(L ≥ b) for thresholds b (Fig 2b);
* :func:`tilt` / :func:`quasi_thermal_entropy` — the quasi-thermal entropy ΔS = ln N − S(p_β) of the
  Gibbs distribution p_β(k) ∝ e^{−βL_k} over the training samples, with β fixed by the large-deviation
  level a through the tilting (Legendre) construction: ⟨L⟩_{p_β} = a.  Then ΔS equals Cramér's rate
  function I(a) = sup_θ [θa − ln (1/N)Σ_k e^{θL_k}] (θ = −β), so P(L̂_B ≥ a) ≤ e^{−B ΔS} for batch
  means L̂_B of B samples drawn with replacement and a ≥ L̄ (Eq 1; checked by :func:`batch_bound_check`).
  The paper does not say what b = 5×10⁻³ is: ``relative=False`` reads it as the level itself, a = b (the
  caption's "b > max{L}" suggests it; chapter 7's primary reading), ``relative=True`` as a deviation above
  the mean, a = L̄ + b (then ΔS ≈ b²/2Var(L): a variance in disguise).  With a = b and L̄ > b the tilt would
  pull the mean *down* (β > 0, the lower-tail rate that Eq 1 does not bound, against §2.2's −β > 0), so
  :func:`criterion_series` leaves those checkpoints unmeasured (NaN).  Where a ≥ max L no tilt reaches
  it, the rate is +∞ and ΔS is filled by :func:`fill_by_spline` (the paper: "entropy differences for
  b > max{L} are extrapolated using spline fitting") — only there;
* :func:`convergence_criterion` — 𝓛 = ln(L̄/ΔS) (Fig 2d), :func:`monotonic_trend` (Spearman over t ≥ t_c),
  :func:`free_energy` (Eq 2) and :func:`turnaround_time` (energy- vs entropy-driven stages);
* :func:`family_switch` — log-normal vs power-law tail of p(L) over training (Fig 2c);
* :func:`phi_paper`, :func:`fit_boundary` and :func:`window_accuracy` — the convergence phase boundary
  ln M = φ(ln γ) (Fig 2f) and the best classifier that ignores M;
* :func:`collapse_exponent` — k in value = f(ln ν − k ln B) with its interval (γ collapse, Figs 2h–i, 3f/h);
* :func:`pick_connections` and :func:`landscape_slice` — L̂ (B = 64) and L̄ along one connection (Fig 2a).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from scipy import interpolate, optimize, special, stats

from critnotes.analysis import fitting
from critnotes.analysis.records import jsonable

__all__ = [
    "LossMoments", "loss_moments", "concentration_curve", "Tilt", "tilt", "quasi_thermal_entropy", "fill_by_spline",
    "CriterionSeries", "criterion_series", "convergence_criterion", "Trend", "monotonic_trend", "free_energy",
    "BoundCheck", "batch_bound_check", "Turnaround", "turnaround_time", "TurnStats", "turn_stats", "FamilyRow",
    "FamilySwitch", "family_switch",
    "phi_paper", "boundary_distance", "jump_threshold", "BoundaryFit", "fit_boundary", "window_accuracy",
    "CollapseFit", "collapse_exponent", "ConnectionPicks",
    "pick_connections", "LandscapeSlice", "landscape_slice",
]


def _losses(losses) -> np.ndarray:
    x = np.asarray(losses, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"need the losses of >= 2 samples, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("losses contain NaN/inf (a diverged run?): check TrainResult.diverged first")
    if np.any(x < 0):
        raise ValueError("per-sample losses must be >= 0 (cross-entropy or MSE)")
    return x


@dataclasses.dataclass(frozen=True)
class LossMoments:
    """L̄, Var(L) and ε = Var(L)/L̄² of one checkpoint's per-sample losses."""

    mean: float
    var: float
    eps: float


def loss_moments(losses) -> LossMoments:
    """L̄, Var(L) and ε = Var(L)/L̄² of per-sample losses (Fig 2e; ε(t) of §2.2)."""
    x = _losses(losses)
    mean, var = float(x.mean()), float(x.var())
    return LossMoments(mean, var, var / mean ** 2 if mean > 0 else math.inf)


def concentration_curve(losses, b) -> np.ndarray:
    """P(L ≥ b) over the training samples for each threshold in ``b`` (Fig 2b)."""
    x = np.sort(_losses(losses))
    b = np.asarray(b, dtype=float)
    return 1.0 - np.searchsorted(x, b, side="left") / x.size


@dataclasses.dataclass(frozen=True)
class Tilt:
    """The Gibbs distribution p_β ∝ e^{−βL} whose mean is ``level``; ``delta_s`` = ln N − S(p_β)."""

    level: float
    beta: float           # −θ; β < 0 tilts towards large losses (level above the mean)
    delta_s: float        # = Cramér's rate I(level); +inf when level is outside (min L, max L)
    entropy: float        # S(p_β)


def _tilted(x: np.ndarray, theta: float) -> tuple[np.ndarray, float]:
    """(p_θ ∝ e^{θx}, log of the normaliser Σ e^{θx})."""
    z = theta * x
    lse = special.logsumexp(z)
    return np.exp(z - lse), float(lse)


def tilt(losses, level: float) -> Tilt:
    """Solve ⟨L⟩_{p_β} = ``level`` for β and return ΔS = ln N − S(p_β) (the Legendre construction).

    The tilted mean grows monotonically with θ = −β (its derivative is the tilted variance), so θ is
    found by bracketing and Brent's method.  Levels at or outside the range of the losses cannot be
    reached by any tilt: ΔS = +inf (the event L̂ ≥ level has probability 0).
    """
    x = _losses(losses)
    n = x.size
    lo, hi, mean = float(x.min()), float(x.max()), float(x.mean())
    if not lo < level < hi:
        return Tilt(float(level), math.nan, math.inf, math.nan)
    if level == mean:
        return Tilt(float(level), 0.0, 0.0, math.log(n))
    scale = 1.0 / max(hi - lo, 1e-300)

    def gap(theta):
        p, _ = _tilted(x, theta)
        return float(p @ x) - level

    sign = 1.0 if level > mean else -1.0
    step = scale
    while gap(sign * step) * sign < 0:
        step *= 4.0
        if step * (hi - lo) > 1e6:   # numerically at the edge of the support
            return Tilt(float(level), math.nan, math.inf, math.nan)
    a, b = sorted((0.0, sign * step))
    theta = optimize.brentq(gap, a, b, xtol=1e-14 * max(1.0, abs(step)), rtol=1e-12, maxiter=500)
    p, _ = _tilted(x, theta)
    nz = p > 0
    s = float(-np.sum(p[nz] * np.log(p[nz])))
    return Tilt(float(level), -theta, max(math.log(n) - s, 0.0), s)


def quasi_thermal_entropy(losses, b: float = 5e-3, *, relative: bool = True) -> Tilt:
    """ΔS for the large-deviation threshold ``b`` (Fig 2d): level L̄ + b (``relative``) or b itself."""
    x = _losses(losses)
    if relative and not b > 0:
        raise ValueError(f"the deviation b above the mean must be > 0, got {b}")
    return tilt(x, float(x.mean()) + b if relative else b)


def fill_by_spline(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """Fill ΔS(t) = +inf (level at or above max L: no tilt reaches it) with a smoothing spline through the
    finite values (the paper's "extrapolated using spline fitting", for b > max{L} only).

    A cubic smoothing spline (generalised cross-validation, :func:`scipy.interpolate.make_smoothing_spline`)
    is fitted to ln ΔS against ln(1 + t) over the finite, positive points and evaluated at the +inf ones;
    natural end conditions make the extrapolation almost linear.  Needs >= 5 finite points (else those
    stay NaN); NaN (diverged, or not measured) stays NaN.  Returns ``(filled, was_filled)``.
    """
    t = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    out = np.where(ok, v, np.nan)
    gaps = np.isposinf(v)
    if gaps.any() and ok.sum() >= 5:
        spl = interpolate.make_smoothing_spline(np.log1p(t[ok]), np.log(v[ok]))
        out[gaps] = np.exp(spl(np.log1p(t[gaps])))
    return out, gaps


@dataclasses.dataclass(frozen=True)
class CriterionSeries:
    """Per checkpoint of one run: L̄, Var(L), ε, the level a (L̄ + b or b), β, ΔS (``delta_s_raw`` +inf where
    a ≥ max L; ``delta_s`` spline-filled there, ``filled`` marks those; NaN where a < L̄, not measured)
    and 𝓛 (Figs 2d–e).  ``upper`` marks checkpoints whose level lies at or above L̄ (the upper-tail rate
    that Eq 1 uses); ``measured`` those with a finite 𝓛."""

    steps: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: np.ndarray
    level: np.ndarray
    beta: np.ndarray
    delta_s_raw: np.ndarray
    delta_s: np.ndarray
    filled: np.ndarray
    crit: np.ndarray
    b: float
    relative: bool

    @property
    def upper(self) -> np.ndarray:
        return self.level >= self.mean

    @property
    def measured(self) -> np.ndarray:
        return np.isfinite(self.crit)

    def as_dict(self) -> dict:
        return jsonable({**dataclasses.asdict(self), "upper": self.upper, "measured": self.measured})


def criterion_series(steps, losses_by_t, b: float = 5e-3, *, relative: bool = True) -> CriterionSeries:
    """L̄, Var(L), ε, ΔS and 𝓛 at every checkpoint (Figs 2d–e); ΔS = +inf (level at or above max L) is
    filled by :func:`fill_by_spline`.  Checkpoints with non-finite losses (a diverging run) give NaN, and
    so do those whose level lies below L̄ (``relative=False`` while L̄ > b: a lower-tail rate, not Eq 1's)."""
    cols = {k: [] for k in ("mean", "var", "eps", "level", "delta_s_raw", "beta")}
    for x in losses_by_t:
        x = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(x)):
            for v in cols.values():
                v.append(math.nan)
            continue
        mo = loss_moments(x)
        tl = quasi_thermal_entropy(x, b, relative=relative)
        lower = tl.level < mo.mean            # the tilt would lower the mean: not the rate Eq 1 uses
        for k, v in (("mean", mo.mean), ("var", mo.var), ("eps", mo.eps), ("level", tl.level),
                     ("delta_s_raw", math.nan if lower else tl.delta_s), ("beta", math.nan if lower else tl.beta)):
            cols[k].append(v)
    out = {k: np.array(v, dtype=float) for k, v in cols.items()}
    filled, was = fill_by_spline(steps, out["delta_s_raw"])
    return CriterionSeries(steps=np.asarray(steps), **out, delta_s=filled, filled=was,
                           crit=convergence_criterion(out["mean"], filled), b=float(b), relative=bool(relative))


def convergence_criterion(mean, delta_s):
    """𝓛 = ln(L̄/ΔS) (§2.2); smaller is more converged."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(mean, dtype=float) / np.asarray(delta_s, dtype=float))


@dataclasses.dataclass(frozen=True)
class Trend:
    """A Spearman rank correlation of a series with time over t ≥ ``t_from`` (``n`` points)."""

    rho: float
    p: float
    n: int
    t_from: float


def monotonic_trend(steps, values, t_from: float = 0.0) -> Trend:
    """Spearman's ρ of ``values`` against t over the finite points with t ≥ ``t_from`` (a monotonic trend
    test; used for "𝓛 decreases after several initial iterations", Fig 2d).  NaN with < 3 points."""
    t, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    keep = (t >= t_from) & np.isfinite(v)
    if keep.sum() < 3:
        return Trend(math.nan, math.nan, int(keep.sum()), float(t_from))
    r = fitting.spearman(t[keep], v[keep])
    return Trend(r.rho, r.p, r.n, float(t_from))


def free_energy(mean, delta_s, n_samples: int, lam: float):
    """The information free energy of Eq 2, 𝓕 = ⟨E⟩ − λS with ⟨E⟩ = L̄ and S = ln N − ΔS (λ ≤ 0)."""
    if lam > 0:
        raise ValueError(f"Eq 2 needs λ ≤ 0 (a lower-bounded loss), got λ = {lam}")
    return np.asarray(mean, dtype=float) - lam * (math.log(n_samples) - np.asarray(delta_s, dtype=float))


@dataclasses.dataclass(frozen=True)
class BoundCheck:
    """Eq 1 by sampling at one level: the bound e^{−BΔS} and the sampled frequencies of L̂_B ≥ level."""

    level: float
    delta_s: float
    bound: float
    p_with: float
    p_without: float
    n_batches: int
    batch_size: int

    def holds(self, n_se: float = 3.0) -> bool:
        """The frequency with replacement at most ``n_se`` binomial standard errors above the bound."""
        return self.p_with <= self.bound + n_se * math.sqrt(max(self.bound, 1e-4) / self.n_batches)


def batch_bound_check(losses, b: float = 5e-3, *, batch_size: int = 64, n_batches: int = 20_000,
                      relative: bool = True, seed: int = 0) -> BoundCheck:
    """Check Eq 1 by sampling: the frequency of L̂_B ≥ level over random batches vs e^{−B ΔS}.

    Batches are drawn with replacement (the i.i.d. setting of Cramér's theorem, where the bound is a
    theorem for level ≥ L̄); ``p_without`` repeats it without replacement, as SGD samples.
    """
    x = _losses(losses)
    tl = quasi_thermal_entropy(x, b, relative=relative)
    rng = np.random.default_rng(seed)
    with_rep = x[rng.integers(0, x.size, size=(n_batches, batch_size))].mean(axis=1)
    without = np.array([x[rng.choice(x.size, batch_size, replace=False)].mean() for _ in range(min(n_batches, 2000))])
    return BoundCheck(tl.level, tl.delta_s, math.exp(-batch_size * tl.delta_s), float(np.mean(with_rep >= tl.level)),
                      float(np.mean(without >= tl.level)), n_batches, batch_size)


def _smooth_log_derivative(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d ln y / d ln t from a cubic smoothing spline in (ln t, ln y)."""
    spl = interpolate.make_smoothing_spline(np.log(t), np.log(y))
    return spl.derivative()(np.log(t))


@dataclasses.dataclass(frozen=True)
class Turnaround:
    """The energy → entropy turnaround time ``t`` (None: none seen) and the rates r_E, r_S at ``steps``."""

    t: float | None
    steps: np.ndarray
    r_energy: np.ndarray
    r_entropy: np.ndarray


def turnaround_time(steps, mean, delta_s, *, t_min: float = 10.0) -> Turnaround:
    """When training turns from energy-driven to entropy-driven (§2.2, paper t ≈ 4×10⁴).

    In the energy-driven stage L̄ falls while ΔS falls with it (the losses spread out); in the
    entropy-driven stage ΔS rises.  With smoothing splines over checkpoints t ≥ ``t_min`` in
    (ln t, ln ΔS), the turnaround is the minimum of the smoothed ΔS, counted only if ΔS rises after it
    (else None).  Also returns the rates r_E = d ln L̄/d ln t and r_S = d ln ΔS/d ln t for the figure.
    """
    t = np.asarray(steps, dtype=float)
    m, s = np.asarray(mean, dtype=float), np.asarray(delta_s, dtype=float)
    keep = (t >= t_min) & np.isfinite(m) & np.isfinite(s) & (m > 0) & (s > 0)
    if keep.sum() < 5:
        return Turnaround(None, t[keep], np.full(keep.sum(), np.nan), np.full(keep.sum(), np.nan))
    tk = t[keep]
    smooth_s = interpolate.make_smoothing_spline(np.log(tk), np.log(s[keep]))
    k = int(np.argmin(smooth_s(np.log(tk))))
    return Turnaround(float(tk[k]) if k < len(tk) - 1 else None, tk, _smooth_log_derivative(tk, m[keep]),
                      smooth_s.derivative()(np.log(tk)))


@dataclasses.dataclass(frozen=True)
class TurnStats:
    """An interior extremum of a series (``kind`` "max" or "min", at checkpoint index ``k`` / time ``t``) with
    the Spearman trends before (``rho_before``, ``p_before``, ``n_before`` points) and after it."""

    k: int | None
    t: float | None
    kind: str | None
    rho_before: float
    p_before: float
    n_before: int
    rho_after: float
    p_after: float
    n_after: int
    rho_all: float
    p_all: float


def turn_stats(steps, values, t_from: float = 0.0) -> TurnStats:
    """Where a series turns around, in either direction (ε(t) of §2.2: the paper states a turnaround, not
    its direction): of the maximum and the minimum over t ≥ ``t_from``, the interior one with the larger
    excursion from the series' ends, and Spearman's ρ before and after it (each side includes it).
    ``k`` is None when both extrema sit at the ends (a monotone series); ``rho_all`` over all t ≥ ``t_from``."""
    t, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    keep = (t >= t_from) & np.isfinite(v)
    tk, vk = t[keep], v[keep]
    whole = monotonic_trend(tk, vk)
    none = TurnStats(None, None, None, math.nan, math.nan, 0, math.nan, math.nan, 0, whole.rho, whole.p)
    if vk.size < 3:
        return none
    ends = max(vk[0], vk[-1]), min(vk[0], vk[-1])
    cands = [(vk.max() - ends[0], int(np.argmax(vk)), "max"), (ends[1] - vk.min(), int(np.argmin(vk)), "min")]
    cands = [c for c in cands if 0 < c[1] < vk.size - 1]
    if not cands:
        return none
    _, k, kind = max(cands)
    before, after = monotonic_trend(tk[:k + 1], vk[:k + 1]), monotonic_trend(tk[k:], vk[k:])
    return TurnStats(int(np.flatnonzero(keep)[k]), float(tk[k]), kind, before.rho, before.p, before.n,
                     after.rho, after.p, after.n, whole.rho, whole.p)


@dataclasses.dataclass(frozen=True)
class FamilyRow:
    """One checkpoint's tail comparison: R (power law − log-normal log-likelihood), its p-value, the tail's α
    (``at_bound``: α on its search bound, the row is no evidence either way)."""

    t: int
    R: float
    p: float
    alpha: float = math.nan
    xmin: float = math.nan
    best: str | None = None
    error: str | None = None
    at_bound: bool = False


@dataclasses.dataclass(frozen=True)
class FamilySwitch:
    """Log-normal vs power law over checkpoints: ``t_switch`` (None: no lasting decisive power-law regime),
    ``t_first_not_lognormal``, the per-checkpoint rows, where each family wins decisively, and whether the
    log-normal wins at the last usable checkpoint."""

    t_switch: int | None
    t_first_not_lognormal: int | None
    rows: tuple[FamilyRow, ...]
    lognormal_wins: np.ndarray
    powerlaw_wins: np.ndarray
    lognormal_wins_at_end: bool


def family_switch(steps, losses_by_t, *, p_threshold: float = 0.1) -> FamilySwitch:
    """Log-normal vs power law for p(L) at each checkpoint and the switch time (Fig 2c; paper t ≈ 100).

    At each checkpoint :func:`critnotes.analysis.fitting.compare_families` fits the tail (x_min by KS) and gives
    R (power law minus log-normal log-likelihood; > 0 favours the power law) and its p-value.  A family
    *wins* where R has its sign with p < ``p_threshold``.  Rows whose α sits on its search bound, or whose
    fit failed, are no evidence and are skipped.  The switch is the first usable checkpoint from which the
    power law wins at every later usable checkpoint (None when it does not win at the last one);
    ``t_first_not_lognormal`` is the first checkpoint where the log-normal does not win.
    """
    rows = []
    for t, x in zip(steps, losses_by_t):
        x = np.asarray(x, dtype=float)
        try:
            cf = fitting.compare_families(x[np.isfinite(x) & (x > 0)])
        except ValueError as exc:   # too few positive losses for a tail fit
            rows.append(FamilyRow(int(t), math.nan, math.nan, error=str(exc)))
            continue
        r, p = cf.comparisons["power_law_vs_lognormal"]
        rows.append(FamilyRow(int(t), float(r), float(p), cf.power_law.alpha, cf.power_law.xmin, cf.best,
                              at_bound=cf.at_bound))
    usable = np.array([row.error is None and not row.at_bound for row in rows], dtype=bool)
    ln_wins = np.array([u and row.R < 0 and row.p < p_threshold for u, row in zip(usable, rows)], dtype=bool)
    pl_wins = np.array([u and row.R > 0 and row.p < p_threshold for u, row in zip(usable, rows)], dtype=bool)
    t_switch, idx = None, np.flatnonzero(usable)
    if idx.size and pl_wins[idx[-1]]:
        lost = idx[~pl_wins[idx]]
        t_switch = rows[idx[idx > lost[-1]][0] if lost.size else idx[0]].t
    first_not = np.flatnonzero(usable & ~ln_wins)
    return FamilySwitch(t_switch, rows[first_not[0]].t if first_not.size else None, tuple(rows), ln_wins, pl_wins,
                        bool(idx.size and ln_wins[idx[-1]]))


def phi_paper(ln_gamma):
    """The paper's boundary φ(ln γ) = ½(ln γ + 7.7)² + 2.5 of ln M (Fig 2f; §2.3 writes ln M = φ(ln γ))."""
    return 0.5 * (np.asarray(ln_gamma, dtype=float) + 7.7) ** 2 + 2.5


def boundary_distance(n_neurons, gamma):
    """Signed distance ln M − φ(ln γ) from the paper's boundary (> 0: the converged side)."""
    return np.log(np.asarray(n_neurons, dtype=float)) - phi_paper(np.log(np.asarray(gamma, dtype=float)))


def jump_threshold(values) -> float:
    """The split of 𝓛 values into a low (converged) and a high group that maximises the between-group
    variance (Otsu's rule in 1-D); the midpoint between the groups.  Used to classify grid cells at the
    jump of the order parameter 𝓛 (Figs 2h–i) when the paper's fixed threshold does not apply."""
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if v.size < 2:
        raise ValueError(f"need >= 2 finite values to find a jump, got {v.size}")
    n = np.arange(1, v.size)
    c = np.cumsum(v)[:-1]
    m1, m2 = c / n, (v.sum() - c) / (v.size - n)
    k = int(np.argmax(n * (v.size - n) * (m2 - m1) ** 2))
    return float(0.5 * (v[k] + v[k + 1]))


@dataclasses.dataclass(frozen=True)
class BoundaryFit:
    """Boundary points (ln γ, ln M) and the parabola's coefficients, highest power first (None: < 3 points)."""

    points: tuple[tuple[float, float], ...]
    coef: tuple[float, float, float] | None
    coef_se: tuple[float, float, float] | None = None    # least-squares standard errors (>= 4 points)


def fit_boundary(ln_m, ln_gamma, converged) -> BoundaryFit:
    """Our boundary: per γ the midpoint (in ln M) between the largest unconverged M below the smallest
    converged M and that M; a least-squares parabola ln M = c₂(ln γ)² + c₁ ln γ + c₀ through these points
    when there are >= 3, with standard errors from >= 4 (s² (XᵀX)⁻¹, s² = RSS/(n − 3))."""
    ln_m, ln_gamma = np.asarray(ln_m, float), np.asarray(ln_gamma, float)
    conv = np.asarray(converged, bool)
    pts = []
    for g in np.unique(ln_gamma):
        col = ln_gamma == g
        ms, cs = ln_m[col], conv[col]
        if not cs.any():
            continue
        m_conv = ms[cs].min()
        below = ms[(~cs) & (ms < m_conv)]
        if below.size:
            pts.append((float(g), float(0.5 * (below.max() + m_conv))))
    coef = se = None
    if len(pts) >= 3:
        p = np.array(pts)
        X = np.vander(p[:, 0], 3)
        c, *_ = np.linalg.lstsq(X, p[:, 1], rcond=None)
        coef = tuple(float(v) for v in c)
        if len(pts) >= 4:
            s2 = float(np.sum((p[:, 1] - X @ c) ** 2)) / (len(pts) - 3)
            se = tuple(float(v) for v in np.sqrt(np.diag(s2 * np.linalg.pinv(X.T @ X))))
    return BoundaryFit(tuple(pts), coef, se)


def window_accuracy(ln_gamma, converged) -> float:
    """The best accuracy of a classifier that ignores M: "converged iff ln γ lies in [g₁, g₂]" over all
    windows of the observed γ values (the empty window included).  The paper's boundary tests M only where
    it classifies the grid better than this (Fig 2f)."""
    g, c = np.asarray(ln_gamma, float), np.asarray(converged, bool)
    if g.size == 0:
        raise ValueError("no grid cells to classify")
    u = np.unique(g)
    best = float(np.mean(~c))
    for i in range(u.size):
        for j in range(i, u.size):
            best = max(best, float(np.mean(((g >= u[i]) & (g <= u[j])) == c)))
    return best


@dataclasses.dataclass(frozen=True)
class CollapseFit:
    """k in value = f(ln ν − k ln B) (f a polynomial of ``degree``) and its 95 % profile-likelihood interval
    ``ci`` (None: too few points); ``n`` points, ``n_batch`` distinct batch sizes."""

    k: float | None
    ci: tuple[float, float] | None
    n: int
    n_batch: int
    degree: int | None
    k_grid: tuple[float, float] = (-1.0, 3.0)

    def as_dict(self) -> dict:
        return jsonable(dataclasses.asdict(self))


def collapse_exponent(lr, batch_size, values, *, k_grid: tuple[float, float] = (-1.0, 3.0),
                      n_grid: int = 801) -> CollapseFit:
    """How ν and B combine (Figs 2h–i, 3f/h): fit value = f(ln ν − k ln B) for k on a grid over ``k_grid``
    (f: least-squares polynomial of degree 2 with ≥ 7 points, else 1), profile the residual sum of squares
    and return the best k with its 95 % interval {k : (RSS(k) − RSS_min)/(RSS_min/dof) ≤ F₁,dof(0.95)} (the
    profile F test, dof = n − degree − 2).  k = 1 is the
    mobility γ = ν/B, k = 0 "only ν matters", k = ½ "ν/√B".  An interval touching the grid's end is
    reported as reaching it.  Non-finite values are dropped; < 4 points or one batch size give no fit."""
    nu, bs, y = (np.asarray(a, dtype=float).ravel() for a in (lr, batch_size, values))
    if not nu.shape == bs.shape == y.shape:
        raise ValueError(f"lr, batch_size and values must have one entry per cell, got {nu.size}, {bs.size}, {y.size}")
    ok = np.isfinite(y) & (nu > 0) & (bs > 0)
    nu, bs, y = nu[ok], bs[ok], y[ok]
    nb = int(np.unique(bs).size)
    if y.size < 4 or nb < 2:
        return CollapseFit(None, None, int(y.size), nb, None, k_grid)
    deg = 2 if y.size >= 7 else 1
    if y.size - (deg + 2) < 1:
        return CollapseFit(None, None, int(y.size), nb, None, k_grid)
    ks = np.linspace(*k_grid, n_grid)
    rss = np.empty_like(ks)
    for i, k in enumerate(ks):
        u = np.log(nu) - k * np.log(bs)
        c = np.polyfit(u, y, deg)
        rss[i] = float(np.sum((np.polyval(c, u) - y) ** 2))
    rss = np.maximum(rss, 1e-300)
    best = int(np.argmin(rss))
    dof = y.size - (deg + 2)                   # polynomial coefficients and k
    inside = (rss - rss[best]) / (rss[best] / dof) <= stats.f.ppf(0.95, 1, dof)
    return CollapseFit(float(ks[best]), (float(ks[inside].min()), float(ks[inside].max())), int(y.size), nb, deg, k_grid)


@dataclasses.dataclass(frozen=True)
class ConnectionPicks:
    """(hidden-1 neuron i, hidden-2 neuron j, C_ij) of a critical and a non-critical connection (None: none)."""

    critical: tuple[int, int, float] | None
    noncritical: tuple[int, int, float] | None


def pick_connections(corr, layer_sizes, c_th: float = 0.5) -> ConnectionPicks:
    """A critical (C_ij ≥ c_th, the largest) and a non-critical (|C_ij| smallest) connection of the
    hidden-1 → hidden-2 layer between active neurons (Fig 2a); ``corr`` from
    :func:`critnotes.analysis.graphs.correlation_matrix` of the activity (hidden 1, hidden 2, outputs).
    i is a hidden-1 and j a hidden-2 neuron."""
    h1, h2 = layer_sizes[0], layer_sizes[1]
    c = np.asarray(corr, dtype=float)
    live = np.isclose(np.diag(c), 1.0)          # silent neurons have C_ii = 0 (graphs.correlation_matrix)
    block = c[:h1, h1:h1 + h2]
    finite = np.isfinite(block) & live[:h1, None] & live[None, h1:h1 + h2]
    crit = noncrit = None
    if (finite & (block >= c_th)).any():
        i, j = np.unravel_index(np.nanargmax(np.where(finite, block, -np.inf)), block.shape)
        crit = (int(i), int(j), float(block[i, j]))
    if finite.any():
        i, j = np.unravel_index(np.argmin(np.where(finite, np.abs(block), np.inf)), block.shape)
        noncrit = (int(i), int(j), float(block[i, j]))
    return ConnectionPicks(crit, noncrit)


@dataclasses.dataclass(frozen=True)
class LandscapeSlice:
    """L̄ and L̂ (one fresh batch per point) at weights ``w`` along one connection whose trained value is ``w0``."""

    w: np.ndarray
    w0: float
    mean: np.ndarray
    batch: np.ndarray


@torch.no_grad()
def landscape_slice(model, x, y, i: int, j: int, *, span: float = 1.0, n_points: int = 61,
                    batch_size: int = 64, seed: int = 0) -> LandscapeSlice:
    """L̄(w_ji + δ) over all samples and the batch landscape L̂(w_ji + δ), a fresh batch of
    ``batch_size`` at every δ (a random field, Fig 2a), for the hidden-1 neuron i → hidden-2 neuron j
    weight of a 3-layer :class:`~critnotes.training.models.MLP` (cross-entropy)."""
    lin = model.linears
    if len(lin) != 3:
        raise ValueError(f"landscape_slice needs the 784-h-h-10 MLP of paper 003 (3 Linear layers), got {len(lin)}")
    x = x.reshape(len(x), -1).float()
    act = model[2]
    h1 = act(lin[0](x))
    z2 = lin[1](h1)
    deltas = np.linspace(-span, span, n_points)
    rng = np.random.default_rng(seed)
    mean_l, batch_l = [], []
    for d in deltas:
        z = z2.clone()
        z[:, j] += float(d) * h1[:, i]
        per = torch.nn.functional.cross_entropy(lin[2](act(z)), y, reduction="none").numpy()
        mean_l.append(per.mean())
        batch_l.append(per[rng.choice(len(per), batch_size, replace=False)].mean())
    w0 = float(lin[1].weight[j, i])
    return LandscapeSlice(w0 + deltas, w0, np.array(mean_l), np.array(batch_l))
