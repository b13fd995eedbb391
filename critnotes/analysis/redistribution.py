"""The critical redistribution model (paper 003 Fig 4j–k), after Lynn, Holmes & Palmer (Nat. Phys. 2024).

A continuous-valued weight-redistribution process on ``n_matrices`` independent connectivity matrices
(``n_neurons × n_neurons`` directed connections, no self-loops), simulated together in numpy:

1. *pruning* — in every step a random fraction ``prune_fraction`` of the connections of each matrix is
   pruned: their weight is set to zero and collected;
2. *redistribution* — the collected weight is cut into pieces of size ``≈ quantum × mean weight`` and
   each piece is added to one connection, chosen with probability ``P_C`` *preferentially* (with
   probability ∝ its current weight: strong, "critical" connections grow — the Hebbian rule with
   correlation ∝ weight) and otherwise uniformly at random.

The total weight of each matrix is conserved.  Mean-field theory (a connection of weight w grows at
rate ``P_C w + (1 − P_C) w̄`` per sweep and is pruned at rate 1) gives a stationary density with a
power-law tail ``p(w) ∝ w^-α``, ``α = 1 + 1/P_C`` (Lynn et al.); paper 003 reports the line
``α = 1 + 0.6/P_C`` for ``P_C > 0.2`` for its own (unpublished) variant.  :func:`alpha_vs_pc` measures
α by MLE and fits ``α = a + b/P_C`` so the book can put both lines next to the measurement.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from critnotes.analysis import fitting

__all__ = ["RedistributionConfig", "simulate", "stationary_alpha", "alpha_vs_pc", "AlphaVsPc", "PAPER_SLOPE",
           "THEORY_SLOPE"]

#: paper 003 Fig 4k: α = 1 + 0.6 / P_C (for P_C > 0.2)
PAPER_SLOPE = 0.6
#: mean-field prediction of the discrete model of Lynn, Holmes & Palmer: α = 1 + 1 / P_C
THEORY_SLOPE = 1.0


@dataclasses.dataclass(frozen=True)
class RedistributionConfig:
    p_c: float = 0.37               # probability that a piece of weight is placed preferentially
    n_neurons: int = 40             # each matrix has n(n−1) directed connections
    n_matrices: int = 100           # independent matrices (paper: 100)
    sweeps: float = 30.0            # simulated time, in units of one expected pruning of every connection
    prune_fraction: float = 0.01    # connections pruned per step (per matrix)
    quantum: float = 0.25           # piece size, in units of the mean weight
    seed: int = 0

    def validate(self) -> "RedistributionConfig":
        if not 0.0 <= self.p_c <= 1.0:
            raise ValueError(f"p_c must lie in [0, 1], got {self.p_c!r}")
        if self.n_neurons < 2 or self.n_matrices < 1:
            raise ValueError(f"need n_neurons >= 2 and n_matrices >= 1, got {self.n_neurons}, {self.n_matrices}")
        if not 0.0 < self.prune_fraction < 1.0 or not self.quantum > 0 or not self.sweeps > 0:
            raise ValueError("prune_fraction must lie in (0, 1); quantum and sweeps must be > 0 "
                             f"(got {self.prune_fraction}, {self.quantum}, {self.sweeps})")
        return self


def simulate(cfg: RedistributionConfig) -> np.ndarray:
    """Run the model from uniform weights (mean 1); return the final weights ``(n_matrices, n(n−1))``.

    Each matrix is a row; the off-diagonal connections are stored flat.  Vectorised: one step handles
    all matrices with a single cumulative sum (preferential choice by inverse-CDF search).
    """
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    b, e = cfg.n_matrices, cfg.n_neurons * (cfg.n_neurons - 1)
    w = np.ones((b, e))
    n_prune = max(1, int(round(cfg.prune_fraction * e)))
    n_steps = int(np.ceil(cfg.sweeps * e / n_prune))
    rows = np.arange(b)[:, None]
    offsets = np.arange(b) * e
    for _ in range(n_steps):
        cut = rng.integers(0, e, size=(b, n_prune))
        removed = w[rows, cut].copy()
        w[rows, cut] = 0.0
        # the pieces (per matrix: removed weight split into ~quantum-sized pieces of equal size)
        total = removed.sum(1)
        n_pieces = np.maximum(1, np.round(total / cfg.quantum)).astype(int)
        size = np.repeat(total / n_pieces, n_pieces)
        owner = np.repeat(np.arange(b), n_pieces)
        pref = rng.random(size.size) < cfg.p_c
        target = rng.integers(0, e, size=size.size)
        if pref.any():
            cum = np.cumsum(w.ravel())
            base = np.concatenate(([0.0], cum[offsets[1:] - 1]))
            mass = cum[offsets + e - 1] - base
            o = owner[pref]
            u = base[o] + rng.random(o.size) * mass[o]
            flat = np.searchsorted(cum, u, side="right")
            target[pref] = np.clip(flat - offsets[o], 0, e - 1)
        np.add.at(w, (owner, target), size)
    return w


def stationary_alpha(weights: np.ndarray, n_fit: int | None = 200_000, seed: int = 0) -> fitting.PowerLawFit:
    """MLE power-law fit of stationary weights pooled over all matrices (paper 003 Fig 4j)."""
    w = np.asarray(weights, dtype=float).ravel()
    return fitting.fit_powerlaw(w[w > 0], alpha_range=(1.0, 12.0), max_samples=n_fit, seed=seed)


@dataclasses.dataclass(frozen=True)
class AlphaVsPc:
    """α(P_C) of the model and the line ``α = intercept + slope / P_C`` over ``P_C > pc_min`` (Fig 4k), and
    the paper's form with the intercept fixed at 1, ``α = 1 + slope_fixed / P_C`` (least squares, s.e.).

    ``weights`` maps each P_C to its pooled positive stationary weights (at most ``n_fit``, for figures)."""

    p_c: np.ndarray
    alpha: np.ndarray
    alpha_se: np.ndarray
    xmin: np.ndarray
    at_bound: np.ndarray
    slope: float
    slope_se: float
    intercept: float
    r2: float
    pc_min: float
    slope_fixed: float
    slope_fixed_se: float
    weights: dict = dataclasses.field(repr=False, compare=False)
    paper_slope: float = PAPER_SLOPE
    theory_slope: float = THEORY_SLOPE

    def as_dict(self) -> dict:
        """The fields without the weights (JSON)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "weights"}


def alpha_vs_pc(p_values, base: RedistributionConfig = RedistributionConfig(), pc_min: float = 0.2,
                n_fit: int | None = 200_000) -> AlphaVsPc:
    """α(P_C) by MLE for each ``p_values``, the least-squares line ``α = a + b / P_C`` on the points with
    ``P_C > pc_min`` and the paper's form ``α = 1 + b / P_C`` (paper 003 Fig 4k), as an :class:`AlphaVsPc`."""
    p = np.asarray(sorted(p_values), dtype=float)
    if (p > pc_min).sum() < 2:
        raise ValueError(f"need at least two P_C values above {pc_min} to fit the α–1/P_C line, got {p.tolist()}")
    rng = np.random.default_rng(base.seed)
    fits, weights = [], {}
    for pc in p:
        w = simulate(dataclasses.replace(base, p_c=float(pc))).ravel()
        w = w[w > 0]
        weights[float(pc)] = w if n_fit is None or w.size <= n_fit else rng.choice(w, n_fit, replace=False)
        fits.append(stationary_alpha(weights[float(pc)], None))
    alpha = np.array([f.alpha for f in fits])
    sel = p > pc_min
    line = fitting.linear_fit(1.0 / p[sel], alpha[sel])
    x, y = 1.0 / p[sel], alpha[sel] - 1.0                 # through the origin: α − 1 = b / P_C
    b = float(x @ y / (x @ x))
    b_se = float(np.sqrt(np.sum((y - b * x) ** 2) / max(x.size - 1, 1) / (x @ x)))
    return AlphaVsPc(p_c=p, alpha=alpha, alpha_se=np.array([f.alpha_se for f in fits]),
                     xmin=np.array([f.xmin for f in fits]), at_bound=np.array([f.at_bound for f in fits]),
                     slope=line.slope, slope_se=line.stderr, intercept=line.intercept, r2=line.r2, pc_min=pc_min,
                     slope_fixed=b, slope_fixed_se=b_se, weights=weights)
