"""Shared figure primitives: every function takes ``ax=`` (or makes a figure) and returns the figure.

Chapter-specific figures live next to their experiment (``critnotes.book.chapters.<chapter>``) and build on
these.  Units and axis labels are always set; power-law guides are labelled with their exponent.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting

PALETTE = {"stage1": "#2a9d8f", "stage2": "#264653", "stage3": "#8ab17d", "fit": "#e76f51", "null": "#9e9e9e"}


def axes(ax=None, figsize=(4.5, 3.5)):
    """``(fig, ax)``: the given axes' figure, or a new one."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax.figure, ax


def loglog_pdf(samples=None, *, edges=None, counts=None, ax=None, label=None, color=None, marker="o",
               xlabel="|Δw|", bins_per_decade=10):
    """Log-binned probability density on log–log axes (raw samples, or a streamed histogram)."""
    fig, ax = axes(ax)
    x, p = fitting.log_binned_density(samples, edges=edges, counts=counts, bins_per_decade=bins_per_decade)
    ax.loglog(x, p, marker, ms=3, ls="none", label=label, color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density")
    return fig


def powerlaw_guide(ax, alpha: float, x0: float, y0: float, x1: float, *, color=None, label=None, ls="--"):
    """A reference line p ∝ x^-alpha through (x0, y0) up to x1, labelled with its exponent."""
    xs = np.array([x0, x1])
    ax.loglog(xs, y0 * (xs / x0) ** (-alpha), ls=ls, color=color or PALETTE["fit"],
              label=label if label is not None else f"slope −{alpha:.2f}")


def fit_line(ax, fit: "fitting.PowerLawFit", edges, counts, *, color=None, label=None):
    """Draw an MLE power-law fit of the histogram ``edges``/``counts`` from its x_min to the last edge,
    anchored at the histogram's log-binned density (:func:`~critnotes.analysis.fitting.log_binned_density`)
    at x_min."""
    x, p = fitting.log_binned_density(edges=edges, counts=counts)
    y0 = p[min(int(np.searchsorted(x, fit.xmin)), len(p) - 1)]
    powerlaw_guide(ax, fit.alpha, fit.xmin, y0, edges[-1], color=color,
                   label=label or f"MLE α={fit.alpha:.2f}±{fit.alpha_se:.2f} (x_min={fit.xmin:.2g})", ls="-")


def panels(ax, nrows: int, ncols: int, figsize):
    """``(fig, axes)`` of an ``nrows × ncols`` multi-panel figure: a new one, or the axes passed as ``ax``
    (as many as the figure draws; widgets pass None), as an ``(nrows, ncols)`` array."""
    if ax is None:
        return plt.subplots(nrows, ncols, figsize=figsize, constrained_layout=True, squeeze=False)
    axs = np.asarray(ax, dtype=object).reshape(-1)
    if axs.size != nrows * ncols:
        raise ValueError(f"this figure draws {nrows} × {ncols} panels; pass that many axes as ax, or ax=None")
    return axs[0].figure, axs.reshape(nrows, ncols)
