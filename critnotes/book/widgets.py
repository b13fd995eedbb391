"""Interactive demos from one declaration: each chapter's ``widget_controls(res, cfg)`` lists, per plot
function, the values every control may take; the notebook's widget cell and ``tests/test_widgets.py``
both read it, so the controls a reader can move are exactly the ones tested.

A chapter declares::

    def widget_controls(res, cfg) -> dict[str, dict[str, list]]:
        return {"plot_distribution": {"key": list(res.runs), "stage": [0, 1], "kind": ["pdf", "ccdf"]}}

and its plot functions take ``(res, **controls, ax=None)`` and return the figure.  In a running notebook
:func:`demo` shows ipywidgets controls that redraw the figure; the static HTML has no kernel, so each
chapter also shows the default figure in an ordinary cell and tags the widget cell ``remove-output``.
"""
from __future__ import annotations

import itertools
import random
from types import ModuleType
from typing import Any, Iterator, Mapping, Sequence


def control(name: str, values: Sequence[Any]):
    """An ipywidget for one declared control: a checkbox for booleans, a slider over sorted numbers,
    a dropdown otherwise; the first value is the default."""
    import ipywidgets as w

    values = list(values)
    if not values:
        raise ValueError(f"control {name!r} declares no values")
    if all(isinstance(v, bool) for v in values):
        return w.Checkbox(value=values[0], description=name)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and len(values) > 2:
        return w.SelectionSlider(options=sorted(set(values)), value=values[0], description=name,
                                 continuous_update=False)
    return w.Dropdown(options=values, value=values[0], description=name)


def demo(chapter: ModuleType, res: Any, cfg: Any, plot: str):
    """``ipywidgets.interactive`` of ``chapter.<plot>(res, …)`` with the controls its
    ``widget_controls(res, cfg)`` declares (the same declaration the widget test enumerates)."""
    import ipywidgets as w

    declared = chapter.widget_controls(res, cfg)
    if plot not in declared:
        raise KeyError(f"{chapter.__name__}.widget_controls declares no controls for {plot!r}; "
                       f"it declares: {', '.join(declared)}")
    controls = {k: control(k, v) for k, v in declared[plot].items()}
    return w.interactive(getattr(chapter, plot), res=w.fixed(res), ax=w.fixed(None), **controls)


def settings(declared: Mapping[str, Sequence[Any]], max_n: int = 30, seed: int = 0) -> Iterator[dict]:
    """Every combination of the declared values, or a seeded sample of ``max_n`` of them (always
    including the defaults) when there are more."""
    names = list(declared)
    grid = [list(declared[k]) for k in names]
    total = 1
    for g in grid:
        total *= len(g)
    if total <= max_n:
        for combo in itertools.product(*grid):
            yield dict(zip(names, combo))
        return
    rng = random.Random(seed)
    yield {k: g[0] for k, g in zip(names, grid)}
    seen = set()
    while len(seen) < max_n - 1:
        idx = tuple(rng.randrange(len(g)) for g in grid)
        if idx not in seen:
            seen.add(idx)
            yield {k: g[i] for k, g, i in zip(names, grid, idx)}
