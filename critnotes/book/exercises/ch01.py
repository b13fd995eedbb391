"""Exercises of chapter 1 (heavy-tailed updates): fit a streamed |Δw| histogram by hand."""
from __future__ import annotations

import functools

import numpy as np

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import bin_edges
from critnotes.book.exercises import Feedback, compare

PLANTED_ALPHA = 4.0


@functools.cache
def planted_histogram() -> tuple[np.ndarray, np.ndarray]:
    """``(edges, counts)``: 200,000 planted |Δw| (Pareto tail, α = 4, x_min = 1e-4) in the recorder's bins."""
    x = fitting.sample_pareto(PLANTED_ALPHA, 200_000, xmin=1e-4, seed=1).astype(np.float32)
    edges = bin_edges()
    return edges, np.histogram(x, bins=edges)[0]


@functools.cache
def _answers() -> dict:
    e, c = planted_histogram()
    fit = fitting.fit_powerlaw_binned(e, c, xmin=XMIN)
    x, p = fitting.log_binned_density(edges=e, counts=c)
    ls = fitting.loglog_fit(x, p, xrange=(XMIN, None))
    k = int(np.flatnonzero(np.isclose(e[:-1], XMIN))[0])
    return {"alpha": fit.alpha, "ls": -ls.slope, "ccdf": fit.alpha - 1,
            "fraction": c[k:].sum() / c.sum(), "fraction_off": c[k + 1:].sum() / c.sum()}


XMIN = float(bin_edges()[np.searchsorted(bin_edges(), 2e-4)])   # a left edge in the planted tail


def check_binned_alpha(answer) -> Feedback:
    """Exercise 1.1: the binned-MLE exponent of the planted histogram at x_min = :data:`XMIN`."""
    a = _answers()
    return compare(answer, a["alpha"], what="binned-MLE α", rtol=1e-4, mistakes=[
        (a["ls"], "that is the least-squares slope of the log-binned density — use fitting.fit_powerlaw_binned"),
        (a["ccdf"], "that is α − 1, the CCDF's slope; the density's exponent is one larger")])


def check_tail_fraction(answer) -> Feedback:
    """Exercise 1.2: the share of all counts at/above x_min = :data:`XMIN` (the bin starting at x_min included)."""
    a = _answers()
    return compare(answer, a["fraction"], what="tail fraction", rtol=1e-9, mistakes=[
        (a["fraction_off"], "off by one bin: the bin that starts at x_min belongs to the tail"),
        (1 - a["fraction"], "that is the share below x_min")])


_A = _answers()
CASES = {
    "check_binned_alpha": (_A["alpha"], [(_A["ls"], "least-squares"), (_A["ccdf"], "α − 1")]),
    "check_tail_fraction": (_A["fraction"], [(_A["fraction_off"], "off by one"), (1 - _A["fraction"], "below x_min")]),
}
