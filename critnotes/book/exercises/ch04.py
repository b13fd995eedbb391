"""Exercise checks of chapter 4 (ruggedness): the exact change of a synthetic paraboloid under ±δ, and the
closed-form maximum-likelihood power-law exponent above a common x_min."""
from __future__ import annotations

import numpy as np

from critnotes.book.exercises import Feedback, compare

#: Exercise 4.1: three coordinates of a synthetic landscape f(x) = Σ c_d x_d² and the step δ
C = np.array([2.0, -0.5, 4.0])
X = np.array([0.3, -0.8, 0.1])
DELTA = 0.1
#: Exercise 4.2: planted power-law values (α = 2.5 above 1) and the common x_min
SAMPLE = 1.0 * (1.0 - np.random.default_rng(42).random(2000)) ** (-1.0 / 1.5)
XMIN = 2.0


def _change(c, x, delta):
    return np.abs(np.stack([c * ((x + delta) ** 2 - x ** 2), c * ((x - delta) ** 2 - x ** 2)]))


def check_synthetic_change(answer) -> Feedback:
    """Exercise 4.1: ``answer`` = |Δf| of shape (2, 3), row 0 for +δ, row 1 for −δ."""
    linear = np.abs(np.stack([C * 2 * X * DELTA, -C * 2 * X * DELTA]))
    return compare(answer, _change(C, X, DELTA), what="|Δf| for ±δ",
                   mistakes=[(linear, "you kept only the linear term 2·x·δ: the change of x² also has δ²"),
                             (_change(C, X, DELTA)[::-1], "rows swapped: row 0 is +δ, row 1 is −δ"),
                             (np.stack([C * ((X + DELTA) ** 2 - X ** 2), C * ((X - DELTA) ** 2 - X ** 2)]),
                              "take the absolute value |Δf|")],
                   shape_hint="Stack the +δ and −δ rows: np.stack([plus, minus]).")


def _hill(x, xmin):
    tail = x[x >= xmin]
    return 1.0 + tail.size / np.sum(np.log(tail / xmin))


def check_mle_alpha(answer) -> Feedback:
    """Exercise 4.2: ``answer`` = the MLE exponent α of ``SAMPLE`` above ``XMIN``."""
    tail = SAMPLE[SAMPLE >= XMIN]
    return compare(answer, _hill(SAMPLE, XMIN), what="MLE α above x_min", rtol=1e-9,
                   mistakes=[(tail.size / np.sum(np.log(tail / XMIN)), "you forgot the 1 + in α = 1 + n / Σ ln(x/x_min)"),
                             (_hill(SAMPLE, SAMPLE.min()), "use only the tail x ≥ x_min, and divide by x_min = XMIN"),
                             (1.0 + SAMPLE.size / np.sum(np.log(SAMPLE / XMIN)),
                              "keep only the values at or above x_min before summing")])


CASES = {
    "check_synthetic_change": (_change(C, X, DELTA), [(np.abs(np.stack([C * 2 * X * DELTA, -C * 2 * X * DELTA])), "δ²"),
                                                       (_change(C, X, DELTA)[::-1], "rows swapped")]),
    "check_mle_alpha": (_hill(SAMPLE, XMIN), [(float(_hill(SAMPLE, XMIN) - 1.0), "forgot the 1 +"),
                                              (_hill(SAMPLE, SAMPLE.min()), "only the tail")]),
}
