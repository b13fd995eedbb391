"""Probability flux: marginal fluxes of training (paper 003 §2.5, Fig 3) and a 2-D Langevin toy (Eqs 3–6).

Marginal flux of an ensemble of scalars x_k(t) (per-sample losses L_k, or single weights w_i):

    J(x, t) = (1/N) Σ_k ẋ_k(t) δ(x − x_k(t)),        |Ĵ(t)| = ∫ |J(x, t)| dx.

From two consecutive checkpoints t₀ < t₁ we take ẋ_k = (x_k(t₁) − x_k(t₀))/(t₁ − t₀) placed at the
midpoint (x_k(t₀) + x_k(t₁))/2, and replace δ by bins: J_b = Σ_{k∈b} ẋ_k / (N Δ_b), so that
|Ĵ| = Σ_b |Σ_{k∈b} ẋ_k| / N.  The total therefore depends on the binning (velocities of opposite sign
cancel inside a bin; one bin gives |dx̄/dt|, one sample per bin gives ⟨|ẋ|⟩) — the bins are a stated
setting.  Each interval is dated at its geometric midpoint √(t₀t₁).

The toy: dx = g(x) dt + √(2D) dW in 2-D with g = −∇U₀ + a R x, U₀ = (|x|² − 1)²/4 (a ring valley),
R the 90° rotation.  For radial U₀ the rotational part is divergence-free and orthogonal to ∇p, so
p_ss ∝ e^{−U₀/D} for every curl strength a while the steady flux is J_ss = a R x p_ss: a = 0 is
detailed balance (J_ss = 0), a ≠ 0 breaks it.  :func:`estimate_toy_flux` measures p_ss and J_ss from
simulated trajectories (Stratonovich midpoint estimator) and the chapter draws J_ss over U = −ln p_ss.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = [
    "MarginalFlux", "marginal_flux", "FluxSeries", "total_flux_series", "flux_at",
    "toy_drift", "simulate_toy", "ToyFlux", "estimate_toy_flux", "exact_toy_flux",
]


def _edges(lo: float, hi: float, n_bins: int, log: bool) -> np.ndarray:
    if log:
        lo = max(lo, 1e-12)
        hi = max(hi, lo * 10)
        return np.geomspace(lo, hi * (1 + 1e-9), n_bins + 1)
    if hi <= lo:
        hi = lo + 1e-12
    return np.linspace(lo, hi + 1e-12 * max(1.0, abs(hi)), n_bins + 1)


@dataclasses.dataclass(frozen=True)
class MarginalFlux:
    """The binned marginal flux J(x) (per unit x) at bin ``centers`` and its total ∫|J| dx."""

    edges: np.ndarray
    centers: np.ndarray
    J: np.ndarray
    total: float


def marginal_flux(x0, x1, dt: float, *, edges=None, n_bins: int = 50, log: bool = False) -> MarginalFlux:
    """Binned marginal flux J(x) between two snapshots ``x0``, ``x1`` of the same ensemble, ``dt`` apart
    (Figs 3c–d).  ``n_bins=1`` gives |dx̄/dt|, the rate of change of the mean.  ``log=True`` bins
    logarithmically (for losses that span decades; values below the lowest edge fall in the first bin).
    """
    x0, x1 = np.asarray(x0, dtype=float).ravel(), np.asarray(x1, dtype=float).ravel()
    if x0.shape != x1.shape or x0.size == 0:
        raise ValueError(f"x0 and x1 must be non-empty snapshots of the same ensemble, got {x0.shape} and {x1.shape}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    v = (x1 - x0) / dt
    mid = 0.5 * (x0 + x1)
    ok = np.isfinite(v) & np.isfinite(mid)
    if edges is None:
        pos = mid[ok & (mid > 0)] if log else mid[ok]
        lo, hi = (float(pos.min()), float(pos.max())) if pos.size else (1e-12, 1.0)
        edges = _edges(lo, hi, n_bins, log)
    edges = np.asarray(edges, dtype=float)
    idx = np.clip(np.searchsorted(edges, mid[ok], side="right") - 1, 0, len(edges) - 2)
    s = np.bincount(idx, weights=v[ok], minlength=len(edges) - 1) / x0.size
    centers = np.sqrt(edges[:-1] * edges[1:]) if log else 0.5 * (edges[:-1] + edges[1:])
    return MarginalFlux(edges, centers, s / np.diff(edges), float(np.abs(s).sum()))


@dataclasses.dataclass(frozen=True)
class FluxSeries:
    """|Ĵ(t)| at the geometric midpoints ``t`` of consecutive checkpoints."""

    t: np.ndarray
    total: np.ndarray


def total_flux_series(steps, snapshots, *, n_bins: int = 50, log: bool = False) -> FluxSeries:
    """|Ĵ(t)| for every pair of consecutive checkpoints (Figs 3c–d); times are geometric midpoints
    (t₁/2 for the first interval when t₀ = 0)."""
    t = np.asarray(steps, dtype=float)
    snaps = np.asarray(snapshots)
    if len(t) != len(snaps) or len(t) < 2:
        raise ValueError(f"need >= 2 checkpoints with one snapshot each, got {len(t)} steps and {len(snaps)} snapshots")
    times, totals = [], []
    for k in range(len(t) - 1):
        t0, t1 = t[k], t[k + 1]
        times.append(math.sqrt(t0 * t1) if t0 > 0 else t1 / 2)
        totals.append(marginal_flux(snaps[k], snaps[k + 1], t1 - t0, n_bins=n_bins, log=log).total)
    return FluxSeries(np.array(times), np.array(totals))


def flux_at(times, totals, t: float) -> float:
    """|Ĵ| at time ``t`` by linear interpolation in (ln t, ln |Ĵ|); ``t`` past the last interval → last value."""
    lt, lj = np.log(np.asarray(times, float)), np.asarray(totals, float)
    ok = np.isfinite(lj) & (lj > 0)
    if not ok.any():
        return math.nan
    return float(np.exp(np.interp(math.log(t), lt[ok], np.log(lj[ok]))))


# --------------------------------------------------------------------------------------------------
# the 2-D Langevin toy (Eqs 3–6)
# --------------------------------------------------------------------------------------------------
def toy_drift(x: np.ndarray, curl: float) -> np.ndarray:
    """g(x) = −∇U₀(x) + curl · R x with U₀ = (|x|² − 1)²/4 and R = [[0, −1], [1, 0]]; x has shape (..., 2)."""
    r2 = np.sum(x ** 2, axis=-1, keepdims=True)
    rot = np.stack([-x[..., 1], x[..., 0]], axis=-1)
    return -(r2 - 1.0) * x + curl * rot


def simulate_toy(curl: float, *, D: float = 0.25, n_walkers: int = 2000, n_steps: int = 3000,
                 dt: float = 0.01, burn_in: int = 500, seed: int = 0) -> np.ndarray:
    """Euler–Maruyama trajectories of the toy, ``(n_steps − burn_in + 1, n_walkers, 2)`` after burn-in."""
    if not D > 0 or not dt > 0 or burn_in >= n_steps:
        raise ValueError(f"need D > 0, dt > 0 and burn_in < n_steps (got D={D}, dt={dt}, {burn_in}, {n_steps})")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_walkers, 2))
    out = np.empty((n_steps - burn_in + 1, n_walkers, 2))
    amp = math.sqrt(2 * D * dt)
    for s in range(n_steps + 1):
        if s >= burn_in:
            out[s - burn_in] = x
        if s < n_steps:
            x = x + toy_drift(x, curl) * dt + amp * rng.normal(size=x.shape)
    return out


@dataclasses.dataclass(frozen=True)
class ToyFlux:
    """p_ss, U = −ln p_ss and J_ss = (Jx, Jy) on a square grid (index [ix, iy]) with the p-weighted mean
    tangential current ``circulation`` and ∫|J_ss|; ``U`` is None for the closed form."""

    centers: np.ndarray
    p: np.ndarray
    Jx: np.ndarray
    Jy: np.ndarray
    circulation: float
    mean_abs_flux: float
    U: np.ndarray | None = None


def _circulation(c: np.ndarray, jx: np.ndarray, jy: np.ndarray) -> tuple[float, float]:
    """(∫ J·R x̂ dx, ∫ |J| dx) on the square grid with centres ``c``."""
    area = (c[1] - c[0]) ** 2
    gx, gy = np.meshgrid(c, c, indexing="ij")
    r = np.hypot(gx, gy)
    with np.errstate(divide="ignore", invalid="ignore"):
        tangential = np.where(r > 0, (-gy * jx + gx * jy) / r, 0.0)
    return float(np.sum(tangential) * area), float(np.sum(np.hypot(jx, jy)) * area)


def estimate_toy_flux(traj: np.ndarray, dt: float, *, lim: float = 2.0, n_bins: int = 24) -> ToyFlux:
    """p_ss, U = −ln p_ss and the steady flux J_ss on a square grid from trajectories ``(T, walkers, 2)``.

    J_ss(x) ≈ Σ (x_{n+1} − x_n)/dt · δ(x − (x_n + x_{n+1})/2) / (#increments) — the Stratonovich midpoint
    estimator of the probability current, binned (Eqs 4–5).
    """
    edges = np.linspace(-lim, lim, n_bins + 1)
    area = (edges[1] - edges[0]) ** 2
    pos = traj.reshape(-1, 2)
    p, _, _ = np.histogram2d(pos[:, 0], pos[:, 1], bins=[edges, edges])
    p = p / (len(pos) * area)
    mid = 0.5 * (traj[1:] + traj[:-1]).reshape(-1, 2)
    vel = ((traj[1:] - traj[:-1]) / dt).reshape(-1, 2)
    n = len(mid)
    jx, _, _ = np.histogram2d(mid[:, 0], mid[:, 1], bins=[edges, edges], weights=vel[:, 0])
    jy, _, _ = np.histogram2d(mid[:, 0], mid[:, 1], bins=[edges, edges], weights=vel[:, 1])
    jx, jy = jx / (n * area), jy / (n * area)
    c = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(divide="ignore"):
        u = -np.log(p)
    return ToyFlux(c, p, jx, jy, *_circulation(c, jx, jy), U=u)


def exact_toy_flux(centers, curl: float, D: float = 0.25) -> ToyFlux:
    """Closed-form p_ss ∝ e^{−U₀/D} and J_ss = curl · R x p_ss on the grid of :func:`estimate_toy_flux`."""
    c = np.asarray(centers, float)
    gx, gy = np.meshgrid(c, c, indexing="ij")
    r = np.linspace(0, 6, 6001)
    z = np.trapezoid(2 * np.pi * r * np.exp(-((r ** 2 - 1) ** 2) / (4 * D)), r)
    p = np.exp(-((gx ** 2 + gy ** 2 - 1) ** 2) / (4 * D)) / z
    jx, jy = -curl * gy * p, curl * gx * p
    return ToyFlux(c, p, jx, jy, *_circulation(c, jx, jy))
