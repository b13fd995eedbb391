"""Every widget control of every chapter works: each declared combination (or a seeded sample of 30)
redraws from the chapter's ci results without error and within a second."""
import time

import matplotlib.pyplot as plt
import pytest

from critnotes.book import widgets
from critnotes.book.chapters import available

CHAPTERS = available()


def test_settings_enumerate_or_sample():
    assert len(list(widgets.settings({"a": [1, 2], "b": ["x", "y", "z"]}))) == 6
    big = list(widgets.settings({"a": list(range(10)), "b": list(range(10))}, max_n=30))
    assert len(big) == 30 and big[0] == {"a": 0, "b": 0} and len({tuple(d.values()) for d in big}) == 30


@pytest.mark.parametrize("cid", CHAPTERS)
def test_every_control_setting_redraws(cid, ci_runs):
    ch, cfg, res = ci_runs[cid]
    assert hasattr(ch, "widget_controls"), f"{cid} declares no widget_controls(res, cfg)"
    declared = ch.widget_controls(res, cfg)
    assert declared, f"{cid} declares no widget controls"
    for plot, controls in declared.items():
        for setting in widgets.settings(controls):
            t0 = time.perf_counter()
            fig = getattr(ch, plot)(res, **setting, ax=None)
            elapsed = time.perf_counter() - t0
            plt.close("all")
            assert fig is not None, f"{cid}.{plot}({setting}) returned no figure"
            assert elapsed < 1.0, f"{cid}.{plot}({setting}) took {elapsed:.2f} s to redraw (limit 1 s)"
