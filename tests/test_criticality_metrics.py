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
                         n_checkpoints=4, n_probe=32, n_activity=60, reg_steps=20, penalties=(0.0, 1.0),
                         init_seeds=3, collapse_generations=2, collapse_steps=20)
    return ch.run(cfg, progress=False)


def test_profiles_and_critical_init():
    for p in ("ci", "quick", "paper"):
        cfg = chapter_config(ch.PROFILES, p)
        assert 1.0 in cfg.ratios
    assert ch.PROFILES["paper"].dataset == "mnist" and ch.PROFILES["quick"].dataset == "mnist-10k"
    cfg = ch.PROFILES["ci"]
    tc = ch.train_config(cfg, 1.0, 10)
    # the critical init sits on χ₁ = 1 of mean-field theory
    from critnotes.analysis.criticality import chi1
    assert chi1(tc.init_scale ** 2, cfg.bias_scale ** 2, cfg.activation) == pytest.approx(1.0, abs=1e-6)


def test_run_requires_the_critical_init():
    cfg = chapter_config(ch.PROFILES, "ci", ratios=(0.5, 2.0))
    with pytest.raises(ValueError, match="1.0"):
        ch.run(cfg, progress=False)


def test_init_ensemble_contains_the_sweep_init_and_tracks_mean_field(res):
    ens = res.ensemble
    assert ens.lyapunov.shape == ens.branching.shape == (3, 3)
    for p in res.sweep:                      # member 0 is the sweep's network at t = 0 (same seed, inputs, perturbation)
        i = ens.row(p.ratio)
        assert ens.lyapunov[i, 0] == pytest.approx(p.metrics.lyapunov[0], abs=1e-6)
        assert ens.branching[i, 0] == pytest.approx(p.metrics.branching[0], rel=1e-6)
    assert list(np.sign(ens.mf_lyapunov)) == [-1, 1, 1]     # the 4-layer transient sits just above 0 at r = 1
    assert np.all(np.diff(ens.mf_branching) > 0)


def test_sweep_orders_metrics_at_init(res):
    lam = [p.metrics.lyapunov[0] for p in res.sweep]
    sig = [p.metrics.branching[0] for p in res.sweep]
    assert lam == sorted(lam) and sig == sorted(sig)       # both grow with σ_w²
    assert lam[0] < 0 < lam[-1]
    for p in res.sweep:
        assert p.metrics.steps[0] == 0 and p.metrics.steps[-1] == res.cfg.steps
        assert p.cfro.shape == p.cfro_steps.shape == p.conv.shape


def test_claims_follow_the_results_contract(res):
    from critnotes.book.verdicts import RULES
    out = summarize(ch, res, profile="ci", save=False)
    d = json.loads(out.to_json())
    ids = [c["id"] for c in d["claims"]]
    assert len(ids) == len(set(ids))
    kinds = {c["id"].split(".", 1)[1]: c["kind"] for c in d["claims"]}
    for k in ("lyapunov.init", "branching.init", "dynamic_range.init"):
        assert kinds[k] == "check"                           # mean-field / metric checks, not reproductions
    for k in ("accuracy.r0.25", "robustness.r0.25", "retention.r0.25", "collapse.degrades",
              "collapse.loses_criticality", "collapse.penalty_prevents", "performance_vs_distance"):
        assert kinds[k] == "reproduction"
    assert kinds["relations"] == kinds["training_toward_criticality"] == "finding"
    for c in d["claims"]:
        assert c["kind"] == "finding" or c["rule"] in RULES
        assert c["measured"] is not None
    perf = next(c for c in d["claims"] if c["id"].endswith("performance_vs_distance"))
    assert perf["verdict"] == "inconclusive"                 # 3 inits: the exact permutation p is >= 1/3


def test_chapter_rules_are_inconclusive_when_intervals_cannot_decide():
    assert ch.all_within({"a": (0.8, 1.3)}, {"a": 1.0}, 0.2).verdict == "inconclusive"
    assert ch.all_within({"a": (float("nan"), 1.0)}, {"a": 1.0}, 0.2).verdict == "not measured"
    assert ch.peak_at({"r=0.5": (11, 12.5), "r=1": (12, 13)}, "r=1").verdict == "inconclusive"
    assert ch.peak_at({"r=0.5": (11, 12.5)}, "r=1").verdict == "not measured"


def test_mean_ci_and_exact_permutation_trend():
    m, (lo, hi) = ch._mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)   # t(0.975, 2) · s / √n
    t = ch._spearman([1, 2, 3], [3, 2, 1])
    assert t.rho == pytest.approx(-1.0) and t.p == pytest.approx(1 / 3) and t.n == 3


def test_widget_controls_redraw(res):
    import matplotlib.pyplot as plt
    from critnotes.book import widgets
    for plot, controls in ch.widget_controls(res, res.cfg).items():
        for setting in widgets.settings(controls):
            assert getattr(ch, plot)(res, **setting, ax=None) is not None
            plt.close("all")
    with pytest.raises(ValueError, match="three panels"):
        ch.plot_collapse(res, ax=object())


def test_figures(res):
    import matplotlib.pyplot as plt
    for fig in (ch.plot_critical_line(res), ch.plot_metrics_vs_init(res), ch.plot_response_curves(res),
                ch.plot_metrics_over_training(res), ch.plot_relations(res),
                ch.plot_regularised(res, init_ratio=0.25, penalty=1.0), ch.plot_collapse(res)):
        assert fig.axes and all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if not hasattr(ax, "_colorbar"))
        plt.close(fig)
    assert np.isfinite(res.reg(0.25, 1.0).acc).all()
