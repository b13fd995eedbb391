"""Interactive demos: a plain ``plot_…(**defaults)`` function in the package, a thin wrapper here.

In a running notebook :func:`interactive` shows ipywidgets controls that redraw the figure; the book's
static HTML has no kernel, so each chapter also shows the default figure in an ordinary cell and tags
the widget cell ``remove-output`` — readers of the HTML see a figure, never a dead control.
"""
from __future__ import annotations

from typing import Callable


def interactive(plot_fn: Callable, **controls):
    """``ipywidgets.interactive(plot_fn, **controls)`` with continuous updates off (fast on slow kernels).

    Controls are ipywidgets or the usual ``interact`` abbreviations (tuples, lists).
    """
    import ipywidgets as w

    for c in controls.values():
        if isinstance(c, w.ValueWidget) and hasattr(c, "continuous_update"):
            c.continuous_update = False
    return w.interactive(plot_fn, **controls)
