"""Exercise checks of chapter 6 (connectivity): the mean degree of an NCG, Forman curvature of a star,
and what the paper's ‖C‖_F² exponents imply for ⟨k⟩."""
from __future__ import annotations

import numpy as np

from critnotes.analysis import graphs
from critnotes.book.exercises import Feedback, call, compare

#: a planted correlation matrix: a 4-block (C = 0.8), an anti-correlated pair (C = −0.7) and 3 loners
_C = np.eye(9)
_C[np.ix_(range(4), range(4))] = 0.8
_C[4, 5] = _C[5, 4] = -0.7
np.fill_diagonal(_C, 1.0)
_TH = 0.5


def _mean_degree(c, c_th):
    a = np.abs(np.asarray(c)) > c_th
    np.fill_diagonal(a, False)
    return a.sum() / a.shape[0]


def check_mean_degree(fn) -> Feedback:
    """``fn(c, c_th)`` must return ⟨k⟩ = 2E/M of the NCG |C_ij| > c_th, i ≠ j (equal to graphs.graph_metrics)."""
    got, fb = call(fn, _C, _TH, what="mean_degree(c, c_th)")
    if fb is not None:
        return fb
    m = _C.shape[0]
    pos = (_C > _TH).sum() - m
    return compare(got, graphs.graph_metrics(_C, _TH).mean_degree, what="⟨k⟩ of the planted NCG", mistakes=[
        (((np.abs(_C) > _TH).sum()) / m, "you counted the diagonal: C_ii = 1 is not an edge (i ≠ j)"),
        (pos / m, "negative correlations are edges too: threshold |C_ij|, not C_ij"),
        (((np.abs(_C) > _TH).sum() - m) / 2 / m, "each edge adds 1 to the degree of both its neurons: ⟨k⟩ = 2E/M"),
    ])


def check_star_curvature(answer) -> Feedback:
    """``answer = [F, H_FR]`` for a star with one hub and 6 leaves: every edge has F = 4 − 6 − 1 = −3, H_FR = 0."""
    return compare(answer, [-3.0, 0.0], what="[Forman curvature of a star edge, H_FR]", mistakes=[
        ([-4.0, 0.0], "the hub of a star with 6 leaves has degree 6, not 7"),
        ([2.0, 0.0], "F = 4 − k_u − k_v uses the degrees of both end nodes: the hub has degree 6"),
        ([-3.0, float(np.log(6))], "H_FR is the entropy of the distribution of curvature *values*: all edges "
                                   "have the same F, so it is 0"),
    ], shape_hint="Give a list of two numbers: [F, H_FR].")


def check_degree_exponents(answer) -> Feedback:
    """``answer = [transition, end]``: the ⟨k⟩ exponents the paper's ‖C‖_F² exponents (3/2, 7/4) imply when a
    fraction p(M) of pairs has |C| ≈ c: Σ C² ≈ c² p M², ⟨k⟩ = p M ∝ M^{b−1}."""
    return compare(answer, [0.5, 0.75], what="⟨k⟩ exponents [transition, end]", mistakes=[
        ([0.0, 0.5], "those are the paper's own ⟨k⟩ exponents; derive what its ‖C‖_F² exponents imply"),
        ([0.75, 0.5], "you paired the transition exponent (3/2) with the end (7/4) — swap them back"),
        ([1.5, 1.75], "those are the ‖C‖_F² exponents b themselves; ⟨k⟩ = pM ∝ M^{b−1}"),
        ([-0.5, -0.25], "that is the exponent of the fraction p ∝ M^{b−2}; ⟨k⟩ = pM has one power of M more"),
    ], shape_hint="Give a list of two numbers: [transition, end].")


CASES = {
    "check_mean_degree": (_mean_degree, [
        (lambda c, th: (np.abs(c) > th).sum() / c.shape[0], "diagonal"),
        (lambda c, th: ((c > th).sum() - c.shape[0]) / c.shape[0], "negative correlations"),
    ]),
    "check_star_curvature": ([-3, 0], [([-4, 0], "degree 6, not 7"), ([-3, np.log(6)], "entropy")]),
    "check_degree_exponents": ([0.5, 0.75], [([0.0, 0.5], "paper's own"), ([0.75, 0.5], "paired the transition")]),
}
