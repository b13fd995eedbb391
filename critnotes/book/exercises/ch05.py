"""Exercise checks of chapter 5 (interevent): intervals between large updates from a small event
matrix, and the burstiness of an interval histogram."""
from __future__ import annotations

import numpy as np

from critnotes.analysis.intervals import brute_force_intervals, burstiness
from critnotes.book.exercises import Feedback, compare

#: Exercise 5.1: updates of 3 parameters over 12 steps and the threshold of a "large" update
UPDATES = np.array([[0.9, 0.0, 0.1], [0.0, -1.2, 0.0], [1.1, 0.0, 0.0], [0.0, 0.0, 0.3], [0.0, 1.0, 0.0],
                    [-1.5, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.2, 0.0, 0.0], [1.0, 0.0, 0.0],
                    [0.0, -0.9, 0.0], [0.0, 0.0, 1.0]])
THRESHOLD = 1.0
#: Exercise 5.2: an interval histogram (index τ = 0, 1, 2, …)
COUNTS = np.array([0, 40, 10, 5, 0, 2, 0, 0, 0, 0, 3])


def _pooled_wrong():
    t = np.flatnonzero((np.abs(UPDATES) >= THRESHOLD).any(axis=1))
    return np.bincount(np.diff(t), minlength=len(UPDATES)).astype(float)


def check_intervals(answer) -> Feedback:
    """Exercise 5.1: ``answer`` = the interval histogram (length 12, index τ) of the large updates."""
    right = brute_force_intervals(UPDATES, THRESHOLD)[0]
    signed = brute_force_intervals(np.where(UPDATES > 0, UPDATES, 0.0), THRESHOLD)[0]
    strict = brute_force_intervals(np.where(np.abs(UPDATES) > THRESHOLD, UPDATES, 0.0), THRESHOLD)[0]
    return compare(answer, right, what="interval histogram",
                   mistakes=[(_pooled_wrong(), "intervals are measured per parameter, not between any two events"),
                             (signed, "a large update is |Δw| ≥ θ: negative updates count too"),
                             (strict, "an update equal to the threshold counts (|Δw| ≥ θ)")],
                   shape_hint="Return np.bincount(gaps, minlength=12).")


def check_burstiness(answer) -> Feedback:
    """Exercise 5.2: ``answer`` = the burstiness B = (σ − μ)/(σ + μ) of the intervals in ``COUNTS``."""
    tau = np.arange(len(COUNTS))
    mu = np.sum(COUNTS * tau) / COUNTS.sum()
    var = np.sum(COUNTS * (tau - mu) ** 2) / COUNTS.sum()
    sd = np.sqrt(var)
    return compare(answer, burstiness(COUNTS), what="burstiness",
                   mistakes=[((mu - sd) / (mu + sd), "sign: B = (σ − μ)/(σ + μ) is positive for bursty timing"),
                             ((var - mu) / (var + mu), "use the standard deviation σ, not the variance"),
                             ((COUNTS.std() - COUNTS.mean()) / (COUNTS.std() + COUNTS.mean()),
                              "μ and σ are moments of τ weighted by the counts, not of the count array itself")])


def _answer_intervals():
    return brute_force_intervals(UPDATES, THRESHOLD)[0]


CASES = {
    "check_intervals": (_answer_intervals(), [(_pooled_wrong(), "per parameter")]),
    "check_burstiness": (burstiness(COUNTS), [(-burstiness(COUNTS), "sign")]),
}
