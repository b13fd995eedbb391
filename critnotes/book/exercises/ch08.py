"""Exercise checks of chapter 8 (probability flux): the binned total flux by hand, and the toy's exact
steady current at a point."""
from __future__ import annotations

import numpy as np

from critnotes.analysis import probability_flux as flux
from critnotes.book.exercises import Feedback, compare

#: Exercise 8.1: two snapshots of five losses, dt = 10 apart, bins with these edges
X0 = np.array([0.20, 0.30, 0.45, 1.10, 1.60])
X1 = np.array([0.10, 0.32, 0.65, 1.50, 1.50])
DT = 10.0
EDGES = np.array([0.0, 0.5, 1.0, 2.0])

#: Exercise 8.2: the toy at x = (0.5, 1.0), curl a = 1, D = 0.1
POINT, CURL, D = (0.5, 1.0), 1.0, 0.1


def check_total_flux(answer) -> Feedback:
    """|Ĵ| = Σ_bins |Σ_{k ∈ bin} ẋ_k| / N with ẋ placed at the midpoint (x₀ + x₁)/2."""
    v = (X1 - X0) / DT
    right = flux.marginal_flux(X0, X1, DT, edges=EDGES).total
    return compare(answer, right, what="|Ĵ|", mistakes=[
        (abs(v.mean()), "that is |dx̄/dt| (everything in one bin); sum the velocities per bin, then take |·| per bin"),
        (np.abs(v).mean(), "that is ⟨|ẋ|⟩ (|·| per sample); velocities in the same bin cancel before the |·|"),
        (flux.marginal_flux(X0, X1, DT, edges=EDGES).total * DT, "divide the displacement by dt"),
        (_binned_at(X0), "bin each velocity at the midpoint (x₀ + x₁)/2, not at x₀"),
    ])


def _binned_at(x):
    v = (X1 - X0) / DT
    idx = np.clip(np.searchsorted(EDGES, x, side="right") - 1, 0, len(EDGES) - 2)
    return float(np.abs(np.bincount(idx, weights=v, minlength=len(EDGES) - 1)).sum() / X0.size)


def _exact_at_point(curl: float):
    ex = flux.exact_toy_flux(np.array(POINT), curl, D)     # grid [x, y] × [x, y]; we need (x, y) = index [0, 1]
    return np.array([ex.Jx[0, 1], ex.Jy[0, 1]])


def check_toy_flux(answer) -> Feedback:
    """J_ss(x) = a R x p_ss(x) with R the +90° rotation and p_ss = e^{−U₀/D}/Z at x = (0.5, 1.0)."""
    right = _exact_at_point(CURL)
    return compare(answer, right, what="J_ss", rtol=1e-4, mistakes=[
        (-right, "the rotation runs the wrong way: R x = (−x₂, x₁)"),
        (right * 0, "J_ss vanishes only at a = 0 (detailed balance); here a = 1"),
    ], shape_hint="give the two components (J₁, J₂)")


CASES = {
    "check_total_flux": (flux.marginal_flux(X0, X1, DT, edges=EDGES).total,
                         [(abs(((X1 - X0) / DT).mean()), "one bin"), (np.abs((X1 - X0) / DT).mean(), "per sample")]),
    "check_toy_flux": (_exact_at_point(CURL), [(-_exact_at_point(CURL), "wrong way")]),
}

