"""Exercise checks of chapter 11 (criticality metrics)."""
from __future__ import annotations

import numpy as np

from critnotes.analysis import criticality as crit
from critnotes.book.exercises import Feedback, compare

#: Exercise 11.1: the tanh network whose χ₁ the student computes
SIGMA_W2, SIGMA_B2 = 1.5, 0.01


def gains_example() -> np.ndarray:
    """Exercise 11.2: per-layer gains g (32 inputs × 4 layers) of a made-up network."""
    return np.random.default_rng(11).lognormal(mean=0.1, sigma=0.4, size=(32, 4))


def check_chi1_tanh(answer) -> Feedback:
    """χ₁ = σ_w² E[tanh'(√q* z)²] at σ_w² = 1.5, σ_b² = 0.01 (the fixed point q* first)."""
    at_q1 = crit.mean_field_chis(SIGMA_W2, SIGMA_B2, "tanh", (1.0 - SIGMA_B2) / SIGMA_W2, 1)[0]
    right = crit.chi1(SIGMA_W2, SIGMA_B2, "tanh")
    return compare(answer, right, what="χ₁", rtol=1e-4, mistakes=[
        (at_q1, "that is χ₁ at q = 1 — iterate the length map to its fixed point q* first"),
        (right / SIGMA_W2, "that is E[φ'(√q* z)²] alone — multiply by σ_w²"),
    ])


def check_lambda0_sigma(answer) -> Feedback:
    """(λ₀, σ) = (⟨ln g⟩, ⟨g²⟩) of :func:`gains_example`."""
    g = gains_example()
    right = (np.log(g).mean(), (g ** 2).mean())
    return compare(answer, right, what="(λ₀, σ)", shape_hint="Return a pair (lambda0, sigma).", mistakes=[
        ((np.log(g.mean()), right[1]), "λ₀ is the mean of ln g, not ln of the mean gain"),
        ((right[0], g.mean()), "σ is the mean squared gain ⟨g²⟩ (perturbation power), not ⟨g⟩"),
        ((np.log10(g).mean(), right[1]), "use the natural log (nats per layer), not log10"),
    ])


CASES = {
    "check_chi1_tanh": (crit.chi1(SIGMA_W2, SIGMA_B2, "tanh"),
                        [(crit.mean_field_chis(SIGMA_W2, SIGMA_B2, "tanh", (1.0 - SIGMA_B2) / SIGMA_W2, 1)[0], "q = 1"),
                         (crit.chi1(SIGMA_W2, SIGMA_B2, "tanh") / SIGMA_W2, "multiply by σ_w²")]),
    "check_lambda0_sigma": ((np.log(gains_example()).mean(), (gains_example() ** 2).mean()),
                            [((np.log(gains_example().mean()), (gains_example() ** 2).mean()), "mean of ln g"),
                             ((np.log(gains_example()).mean(), gains_example().mean()), "mean squared gain"),
                             ((np.log10(gains_example()).mean(), (gains_example() ** 2).mean()), "natural log")]),
}
