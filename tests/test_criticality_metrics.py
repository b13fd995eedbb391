"""Chapter 11 (criticality-metrics): the experiment on a tiny config, the claims contract, the figures."""
import json
import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from critnotes.book.chapters import criticality_metrics as ch
from critnotes.book.chapters import summarize
from critnotes.book.profiles import chapter_config


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    import os
    os.environ["CRITNOTES_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    cfg = chapter_config(ch.PROFILES, "ci", ratios=(0.25, 1.0, 4.0), steps=40, n_train=400, n_test=200,
                         n_checkpoints=4, n_probe=32, n_activity=60, reg_steps=20, penalties=(0.0, 1.0))
    return ch.run(cfg, progress=False)


def test_profiles_and_critical_init():
    for p in ("ci", "quick", "paper"):
        cfg = chapter_config(ch.PROFILES, p)
        assert 1.0 in cfg.ratios
    cfg = ch.PROFILES["ci"]
    tc = ch.train_config(cfg, 1.0, 10)
    # the critical init sits on χ₁ = 1 of mean-field theory
    from critnotes.analysis.criticality import chi1
    assert chi1(tc.init_scale ** 2, cfg.bias_scale ** 2, cfg.activation) == pytest.approx(1.0, abs=1e-6)


def test_run_requires_the_critical_init():
    cfg = chapter_config(ch.PROFILES, "ci", ratios=(0.5, 2.0))
    with pytest.raises(ValueError, match="1.0"):
        ch.run(cfg, progress=False)


def test_sweep_orders_metrics_at_init(res):
    lam = [p.metrics.lyapunov[0] for p in res.sweep]
    sig = [p.metrics.branching[0] for p in res.sweep]
    assert lam == sorted(lam) and sig == sorted(sig)       # both grow with σ_w²
    assert lam[0] < 0 < lam[-1]
    for p in res.sweep:
        assert p.metrics.steps[0] == 0 and p.metrics.steps[-1] == res.cfg.steps
        assert p.cfro.shape == p.cfro_steps.shape == p.conv.shape


def test_claims_follow_the_results_contract(res):
    out = summarize(ch, res, profile="ci", save=False)
    d = json.loads(out.to_json())
    ids = [c["id"] for c in d["claims"]]
    assert len(ids) == len(set(ids))
    for prefix in ("lyapunov.init", "branching.init", "dynamic_range.init", "accuracy.r0.25", "robustness.r0.25",
                   "retention.r0.25"):
        assert f"criticality-metrics.{prefix}" in ids
    for c in d["claims"]:
        assert c["agrees"] in (True, False, None)
        assert c["measured"] is not None
    perf = next(c for c in d["claims"] if c["id"].endswith("performance_vs_distance"))
    assert perf["agrees"] is None                            # 3 inits are too few for a verdict


def test_direction_verdict():
    assert ch._direction(0.1, 0.01) is True
    assert ch._direction(-0.1, 0.01) is False
    assert ch._direction(0.01, 0.01) is None
    assert ch._direction(math.nan, 0.01) is None


def test_figures(res):
    import matplotlib.pyplot as plt
    for fig in (ch.plot_critical_line(res), ch.plot_metrics_vs_init(res), ch.plot_response_curves(res),
                ch.plot_metrics_over_training(res), ch.plot_relations(res),
                ch.plot_regularised(res, init_ratio=0.25, penalty=1.0)):
        assert fig.axes and all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if not hasattr(ax, "_colorbar"))
        plt.close(fig)
    assert np.isfinite(res.reg(0.25, 1.0).acc).all()
