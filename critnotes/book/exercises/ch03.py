"""Exercise checks of chapter 3 (`mutual-information`)."""
from __future__ import annotations

import numpy as np

from critnotes.analysis import information as inf
from critnotes.book.exercises import Feedback, compare

_N, _BINS = 20_000, (16, 50)


def independent_pair() -> tuple[np.ndarray, np.ndarray]:
    """Exercise 3.1's data: two independent N(0, 1) vectors of length 20 000 (seed 0)."""
    rng = np.random.default_rng(0)
    return rng.normal(size=_N), rng.normal(size=_N)


def _independent_mi() -> list[float]:
    x, y = independent_pair()
    return [inf.mutual_information(x, y, bins=b) for b in _BINS]


def check_mi_bias(answer) -> Feedback:
    """Exercise 3.1: the histogram MI of two independent N(0,1) vectors (seed 0, n = 20 000) at 16 and 50 bins."""
    right = _independent_mi()
    return compare(answer, right, what="[MI at 16 bins, MI at 50 bins]", rtol=1e-6,
                   mistakes=[([0.0, 0.0], "independent variables have true MI 0, but the histogram estimate is "
                                          "biased upwards — compute it"),
                             (right[::-1], "the order is [16 bins, 50 bins]")],
                   shape_hint="Give a list of two values.")


def planted_windows():
    """Exercise 3.2's data: two windows of 40 updates of 500 parameters, each a random multiple of a planted
    direction (d₁, then d₁ + d₂) plus isotropic noise (torch tensors, seed 0)."""
    import torch
    g = torch.Generator().manual_seed(0)
    d1, d2 = torch.randn(500, generator=g), torch.randn(500, generator=g)
    w1 = torch.randn(40, 1, generator=g) * 3 * d1 + torch.randn(40, 500, generator=g)
    w2 = torch.randn(40, 1, generator=g) * 3 * (d1 + d2) + torch.randn(40, 500, generator=g)
    return w1, w2


def _kappa_pair() -> float:
    w1, w2 = planted_windows()
    return inf.abs_cosine(inf.leading_pc(w1).axis, inf.leading_pc(w2).axis)


def check_kappa(answer) -> Feedback:
    """Exercise 3.2: κ = |cos| between the leading PCs of two planted windows (sign-invariant)."""
    right = _kappa_pair()
    return compare(answer, right, what="κ", rtol=1e-4,
                   mistakes=[(-right, "a principal axis has no sign: take the absolute value of the cosine"),
                             (1 - right, "κ is |cos|, not the cosine distance 1 − cos")])


CASES = {
    "check_mi_bias": (_independent_mi(), [([0.0, 0.0], "biased upwards"), (_independent_mi()[::-1], "the order")]),
    "check_kappa": (_kappa_pair(), [(-_kappa_pair(), "absolute value"), (1 - _kappa_pair(), "cosine distance")]),
}
