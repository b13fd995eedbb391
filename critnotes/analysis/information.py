"""Information-theoretic tools of paper 002 (chapters 2 `maxent` and 3 `mutual-information`).

* :func:`mutual_information`, :func:`histogram_entropy` — the paper's histogram estimator (Methods,
  "Mutual Information Estimation"): 2-D histogram of standardised entries, ε added before the log.
* :func:`leading_pc` — the leading principal component of one window of flat updates by randomised
  subspace iteration (:func:`torch.svd_lowrank`), never more than the window in memory (Methods,
  "Gradient Direction Estimation"; Fig 3D).
* :func:`output_kl`, :func:`fisher_vector_product`, :func:`fisher_quadratic` — the true KL between the
  network's output distributions and its local form ½ΔwᵀFΔw, with Fisher–vector products by
  ``torch.func.jvp``/``vjp`` (no P×P matrix; Fig 3B–C, S8, Eq 4).
* :func:`solve_maxent` — the discretised entropy maximisation of Eqs 2–3/6 solved with scipy (Fig 3A).
* :func:`gradient_samples`, :func:`gaussianity` — mini-batch gradient noise and its normality (Fig S13).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import scipy.optimize
import scipy.stats
import torch
from torch import nn

from critnotes.analysis import fitting

__all__ = ["standardize", "mutual_information", "histogram_entropy", "leading_pc", "LeadingPC", "abs_cosine",
           "logits_fn", "output_kl", "fisher_vector_product", "fisher_quadratic", "solve_maxent", "MaxEntSolution",
           "gradient_samples", "gaussianity", "Gaussianity"]


# ---------------------------------------------------------------- histogram mutual information

def standardize(x) -> np.ndarray:
    """``(x − mean) / sd`` over all entries (float64): relative magnitudes across entries are kept."""
    x = np.asarray(x, dtype=np.float64).ravel()
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _bin_index(x: np.ndarray, bins: int, clip: float | None, binning: str = "range") -> np.ndarray:
    """Uniform bins over [min, max] of ``x`` (numpy's default), over [−clip, clip] of standardised ``x``, or
    (``binning="quantile"``) equal-frequency bins at the quantiles of ``x`` (tied values share a bin)."""
    if binning == "quantile":
        edges = np.quantile(x, np.linspace(0, 1, bins + 1))
        return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    if clip is not None:
        x, lo, hi = np.clip(standardize(x), -clip, clip), -clip, clip
    else:
        lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.size, dtype=np.int64)
    return np.minimum(((x - lo) * (bins / (hi - lo))).astype(np.int64), bins - 1)


def _check_pair(x, y, bins: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"x and y must pair up entry by entry, got {x.size} and {y.size} entries")
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("need >= 2 finite entries in x and y")
    if int(bins) < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    return x, y


def mutual_information(x, y, bins: int = 32, eps: float = 1e-10, clip: float | None = None,
                       binning: str = "range") -> float:
    """Histogram estimate of I(x; y) in nats (paper 002 Methods; Fig 3D, S9).

    Pairs ``(x_k, y_k)`` fill a ``bins × bins`` joint histogram (uniform bins over each variable's range,
    or over ±``clip`` standard deviations), normalised to p(x, y); ε is added to every probability before
    the log: ``I = Σ p(x,y) ln[(p(x,y)+ε) / ((p(x)+ε)(p(y)+ε))]``.  With range bins the estimate is
    invariant to standardisation (an affine map); with ``clip`` it is not.  ``binning="quantile"`` uses
    equal-frequency bins instead (invariant to any monotone map of each variable, so insensitive to the
    shape of a heavy tail; our cross-check of the range-binned estimate, not the paper's).
    """
    x, y = _check_pair(x, y, bins)
    if binning not in ("range", "quantile"):
        raise ValueError(f"binning must be 'range' or 'quantile', got {binning!r}")
    ix, iy = _bin_index(x, bins, clip, binning), _bin_index(y, bins, clip, binning)
    pxy = np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins) / x.size
    px, py = pxy.sum(1, keepdims=True), pxy.sum(0, keepdims=True)
    return float(np.sum(pxy * np.log((pxy + eps) / ((px + eps) * (py + eps)))))


def histogram_entropy(x, bins: int = 32, clip: float | None = None) -> float:
    """Entropy (nats) of the binned distribution of ``x`` with the binning of :func:`mutual_information`
    (the update-distribution entropy of Fig S12)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    p = np.bincount(_bin_index(x, int(bins), clip), minlength=int(bins)) / x.size
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


# ---------------------------------------------------------------- leading principal component

@dataclasses.dataclass(frozen=True)
class LeadingPC:
    """The leading principal axis of a window of updates and how well it is defined (Fig 3D's κ noise)."""

    axis: torch.Tensor     # (P,) unit vector, arbitrary sign
    explained: float       # σ₁² / Σσ²: fraction of the window's variance along the axis
    sv_ratio: float        # σ₂ / σ₁ (≤ 1): near 1 the axis is ill-defined and κ is noise


def leading_pc(window: torch.Tensor, *, center: bool = True, rank: int = 8, niter: int = 4,
               seed: int = 0) -> LeadingPC:
    """Leading principal axis of a ``(T, P)`` window of flat updates, its explained-variance ratio and
    the ratio of the second to the first singular value (the singular-value gap).

    Randomised subspace iteration (Halko et al.; :func:`torch.svd_lowrank`) with ``rank`` probe vectors
    and ``niter`` power iterations: memory is the window plus ``P × rank``.  ``center=True`` subtracts the
    window's mean update (what PCA does; a copy of the window — the probe centres its buffer in place and
    passes ``center=False``).  The axis is returned with unit norm; its sign is arbitrary (compare axes
    with :func:`abs_cosine`).  The global RNG is left untouched (training stays reproducible).
    """
    if window.ndim != 2 or min(window.shape) < 2:
        raise ValueError(f"window must be (steps, params) with both >= 2, got shape {tuple(window.shape)}")
    x = window - window.mean(0, keepdim=True) if center else window
    q = min(rank, *x.shape)
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        _, s, v = torch.svd_lowrank(x, q=q, niter=niter)
    total = float(x.pow(2).sum())
    return LeadingPC(v[:, 0], float(s[0]) ** 2 / total if total > 0 else float("nan"),
                     float(s[1] / s[0]) if q > 1 and s[0] > 0 else float("nan"))


def abs_cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    """|cos| between two principal axes — invariant to the arbitrary sign of each (the κ proxy, Fig 3D)."""
    return float((u @ v).abs() / (u.norm() * v.norm()))


# ---------------------------------------------------------------- KL divergence and Fisher information

def logits_fn(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``f(theta, x)``: the model's logits with all parameters taken from the flat vector ``theta``.

    ``theta`` is ordered as ``model.parameters()`` (= ``parameters_to_vector``, = the training run's
    ``run.flat``).  Uses :func:`torch.func.functional_call`; the model's own parameters are not touched.
    """
    names, shapes, sizes = [], [], []
    for n, p in model.named_parameters():
        names.append(n)
        shapes.append(p.shape)
        sizes.append(p.numel())

    def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if theta.numel() != sum(sizes):
            raise ValueError(f"theta has {theta.numel()} entries, the model has {sum(sizes)} parameters")
        parts = torch.split(theta, sizes)
        return torch.func.functional_call(model, {n: t.view(s) for n, t, s in zip(names, parts, shapes)}, (x,))

    return f


def output_kl(f, theta0: torch.Tensor, theta1: torch.Tensor, x: torch.Tensor) -> float:
    """Mean over inputs ``x`` of KL( softmax f(θ₀,x) ‖ softmax f(θ₁,x) ) in nats: the true information
    gain of an update Δw = θ₁ − θ₀ about the network's output (Fig 3B–C)."""
    with torch.no_grad():
        lp0 = torch.log_softmax(f(theta0, x).double(), dim=1)
        lp1 = torch.log_softmax(f(theta1, x).double(), dim=1)
        return float((lp0.exp() * (lp0 - lp1)).sum(1).mean())


def fisher_vector_product(f, theta: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F v`` for the Fisher matrix of the model's categorical output distribution,
    ``F = E_x Jᵀ (diag p − p pᵀ) J`` (J: logits' Jacobian), by one JVP and one VJP — no P×P matrix."""
    g = lambda th: f(th, x)  # noqa: E731
    logits, u = torch.func.jvp(g, (theta,), (v,))
    p = torch.softmax(logits.detach(), dim=1)
    h = p * u - p * (p * u).sum(1, keepdim=True)
    _, pull = torch.func.vjp(g, theta)
    return pull(h / x.shape[0])[0]


def fisher_quadratic(f, theta: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> float:
    """``vᵀ F(θ) v``; ½ of it is the local approximation of the KL of the update ``v`` (paper 002, Eq 4)."""
    return float(torch.dot(v.double(), fisher_vector_product(f, theta, x, v).double()))


# ---------------------------------------------------------------- discretised maximum entropy

@dataclasses.dataclass(frozen=True)
class MaxEntSolution:
    """Numerical maximiser of the entropy of p(|Δw|) on a log grid (Fig 3A, Eqs 2–6)."""

    x: np.ndarray          # bin centres (geometric) of |Δw|
    width: np.ndarray      # bin widths
    density: np.ndarray    # p(|Δw|) at the centres
    kl: np.ndarray         # D(|Δw|) = κ ln(|Δw|/ε) on the grid (Eq 5)
    kappa: float
    lam: float | None      # λ given (Lagrangian form) or None (constrained form)
    mi: float              # ⟨D⟩ of the optimum (the MI constraint value I₀)
    entropy: float         # differential entropy −∫ p ln p of the optimum
    alpha_fit: float       # least-squares slope −d ln p / d ln |Δw| of the optimum
    success: bool          # converged: the solver says so, or (Lagrangian form) max |gradient| < 1e-9
    message: str
    grad_norm: float       # max |gradient| of the objective at the optimum (Lagrangian form; nan otherwise)

    @property
    def alpha_theory(self) -> float | None:
        """λκ (Eq 6) when λ was given."""
        return None if self.lam is None else self.lam * self.kappa


def solve_maxent(kappa: float, *, lam: float | None = None, mi: float | None = None, eps: float = 1e-3,
                 x_max: float = 0.1, n_bins: int = 50) -> MaxEntSolution:
    """Maximise the entropy of p(|Δw|) on ``n_bins`` log-spaced bins of [ε, x_max] with scipy.

    The information gain of an update of size |Δw| is Eq 5, ``D = κ ln(|Δw|/ε)``.  Give exactly one of
    ``lam`` — maximise ``H[p] − λ⟨D⟩`` subject to normalisation (the Lagrangian of Eq 2 with multiplier
    λ) — or ``mi`` — maximise ``H[p]`` subject to normalisation and ``⟨D⟩ = mi`` (Eq 2 itself).
    The bin masses are a softmax of free variables (normalisation by construction), optimised by Newton
    trust-region methods with the exact Hessian.  Masses below ~1e-12 of the largest are not resolved by
    the solver's tolerance, so keep ``λκ · decades(x_max/ε)`` below ~10.  The solver never uses the
    closed form; the analytic answer is p ∝ |Δw|^(−λκ) (Eq 6).
    """
    if (lam is None) == (mi is None):
        raise ValueError("give exactly one of lam (Lagrangian form) or mi (constrained form)")
    if not (kappa > 0 and 0 < eps < x_max and n_bins >= 3):
        raise ValueError(f"need kappa > 0, 0 < eps < x_max and n_bins >= 3 (got {kappa}, {eps}, {x_max}, {n_bins})")
    edges = np.geomspace(eps, x_max, n_bins + 1)
    x, width = np.sqrt(edges[1:] * edges[:-1]), np.diff(edges)
    d = kappa * np.log(x / eps)
    if mi is not None and not d.min() < mi < d.max():
        raise ValueError(f"mi must lie strictly between {d.min():.3g} and {d.max():.3g} on this grid, got {mi}")
    lw, pen = np.log(width), (lam or 0.0) * d

    def masses(z):                   # softmax: normalisation holds by construction
        q = np.exp(z - z.max())
        return q / q.sum()

    def curvature(q, r):             # z-Hessian of Σ q·r at fixed r, with r centred (Σ q r = 0)
        qr = q * r
        return np.diag(qr) - np.outer(qr, q) - np.outer(q, qr)

    def neg(z):                      # −H + λ⟨D⟩ as a function of z, and its gradient
        q = masses(z)
        g = np.log(q) - lw + pen
        return float(q @ g), q * (g - q @ g)

    def hess(z, *_):
        q = masses(z)
        g = np.log(q) - lw + pen
        return curvature(q, g - q @ g) + np.diag(q) - np.outer(q, q)

    z0 = np.zeros(n_bins)
    if mi is None:                   # unconstrained in z: exact-Hessian trust region (Newton)
        res = scipy.optimize.minimize(neg, z0, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-12})
    else:
        con = scipy.optimize.NonlinearConstraint(
            lambda z: masses(z) @ d, mi, mi, jac=lambda z: (masses(z) * (d - masses(z) @ d))[None, :],
            hess=lambda z, v: v[0] * curvature(masses(z), d - masses(z) @ d))
        res = scipy.optimize.minimize(neg, z0, jac=True, hess=hess, method="trust-constr", constraints=[con],
                                      options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 3000})
    q = masses(res.x)
    gnorm = float(np.abs(neg(res.x)[1]).max()) if mi is None else float("nan")
    dens = q / width
    slope = fitting.loglog_fit(x, dens).slope
    return MaxEntSolution(x=x, width=width, density=dens, kl=d, kappa=float(kappa), lam=lam, mi=float(q @ d),
                          entropy=float(-np.sum(q * np.log(dens))), alpha_fit=float(-slope),
                          success=bool(res.success or gnorm < 1e-9), message=str(res.message), grad_norm=gnorm)


# ---------------------------------------------------------------- gradient noise (Fig S13)

def gradient_samples(model: nn.Module, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, batch_size: int,
                     n_batches: int, index: torch.Tensor, seed: int = 0, loss: str = "ce") -> np.ndarray:
    """Mini-batch gradients ``(n_batches, len(index))`` of the mean loss at fixed parameters ``theta``,
    each batch ``batch_size`` samples drawn without replacement (fresh draw per batch)."""
    from critnotes.analysis.losses import loss_per_sample

    f = logits_fn(model)
    grad = torch.func.grad(lambda th, xb, yb: loss_per_sample(loss, f(th, xb), yb).mean())
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n_batches, len(index), device=theta.device)
    for b in range(n_batches):
        idx = torch.randperm(len(y), generator=g)[:batch_size].to(x.device)
        out[b] = grad(theta, x[idx], y[idx])[index]
    return out.cpu().numpy()


@dataclasses.dataclass(frozen=True)
class Gaussianity:
    """Per-parameter normality of mini-batch gradient samples (Fig S13); arrays over the live columns."""

    mean: np.ndarray       # MLE mean (scipy.stats.norm.fit)
    sd: np.ndarray         # MLE standard deviation
    skew: np.ndarray
    kurtosis: np.ndarray   # excess kurtosis
    p: np.ndarray          # D'Agostino–Pearson normaltest p-values
    index: np.ndarray      # column of each live parameter in the samples
    n_constant: int        # columns with zero variance (excluded)

    def rejection_rate(self, level: float = 0.05) -> float:
        """Fraction of live parameters whose normaltest rejects at ``level`` (nan when none is live)."""
        return float(np.mean(self.p < level)) if len(self.p) else float("nan")


def gaussianity(samples: np.ndarray) -> Gaussianity:
    """Per-column normality of gradient samples ``(n_batches, n_params)`` (Fig S13).

    ``scipy.stats.norm.fit`` (MLE mean and sd), skewness, excess kurtosis and D'Agostino–Pearson
    ``normaltest`` p-values; constant columns (e.g. dead ReLU units, zero gradient) are excluded and counted.
    """
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 20:
        raise ValueError(f"need samples of shape (n_batches >= 20, n_params), got {s.shape}")
    live = s.std(0) > 0
    v = s[:, live]
    fits = np.array([scipy.stats.norm.fit(c) for c in v.T]).reshape(-1, 2)
    return Gaussianity(mean=fits[:, 0], sd=fits[:, 1], skew=scipy.stats.skew(v, axis=0),
                       kurtosis=scipy.stats.kurtosis(v, axis=0),
                       p=scipy.stats.normaltest(v, axis=0).pvalue if v.shape[1] else np.zeros(0),
                       index=np.flatnonzero(live), n_constant=int((~live).sum()))

