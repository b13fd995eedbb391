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
                         reg_ratios=(0.25, 1.0), init_seeds=3, collapse_generations=2, collapse_steps=20, seeds=2)
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


def test_run_requires_the_critical_init_and_seeds():
    cfg = chapter_config(ch.PROFILES, "ci", ratios=(0.5, 2.0))
    with pytest.raises(ValueError, match="1.0"):
        ch.run(cfg, progress=False)
    with pytest.raises(ValueError, match="reg_ratios must contain 1.0"):
        ch.run(chapter_config(ch.PROFILES, "ci", reg_ratios=(0.25,)), progress=False)
    with pytest.raises(ValueError, match="seeds must be >= 2"):
        ch.run(chapter_config(ch.PROFILES, "ci", seeds=1), progress=False)
    assert ch.PROFILES["ci"].seeds == 2 and ch.PROFILES["quick"].seeds >= 3 and ch.PROFILES["paper"].seeds >= 3


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
    for k in ("lyapunov.init", "branching.init", "collapse.degrades"):
        assert kinds[k] == "check"                           # mean-field / set-up checks, not reproductions
    for k in ("accuracy.r1", "robustness.r1", "continual.r1", "dynamic_range.init",
              "collapse.loses_criticality", "collapse.penalty_prevents", "performance_vs_distance"):
        assert kinds[k] == "reproduction"
    # only the critical init is the reproduction; an off-critical init is a finding (no verdict)
    assert kinds["penalty_offcritical.r0.25"] == "finding" and "accuracy.r0.25" not in kinds
    assert kinds["relations"] == kinds["training_toward_criticality"] == "finding"
    by_id = {c["id"].split(".", 1)[1]: c for c in d["claims"]}
    # the settings that differ from the paper are in the statement (what the box and ledger show)
    assert "not paper 004's generative models" in by_id["collapse.loses_criticality"]["statement"]
    assert "seeds" in by_id["accuracy.r1"]["statement"] and ">80 published models" in by_id["performance_vs_distance"]["statement"]
    assert "clean_plain" in by_id["robustness.r1"]["measured"] and "new_task_plain" in by_id["continual.r1"]["measured"]
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
    nan = (float("nan"), float("nan"))
    assert ch.peak_at({"r=0.5": (11, 12.5), "r=1": nan}, "r=1").verdict == "not measured"
    assert ch.peak_at({"r=1": (12, 13), "r=16": nan}, "r=1").verdict == "not measured"
    # an init without a value is left out (and named), not a reason to judge nothing; the peak could be there,
    # so it blocks "agrees" but not "differs"
    v = ch.peak_at({"r=0.5": (10, 11), "r=1": (12, 13), "r=16": nan}, "r=1")
    assert v.verdict == "inconclusive" and "r=16 not measured" in v.reason
    assert ch.peak_at({"r=0.5": (10, 11), "r=1": (12, 13), "r=16": (10.5, 11.5)}, "r=1").verdict == "agrees"
    assert ch.peak_at({"r=0.5": (14, 15), "r=1": (12, 13), "r=16": (None, None)}, "r=1").verdict == "differs"


def test_mean_ci_and_exact_permutation_trend():
    o = ch.OverSeeds.of([1.0, 2.0, 3.0])
    m, (_, hi) = o.mean, o.ci
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)   # t(0.975, 2) · s / √n
    t = ch.spearman([1, 2, 3], [3, 2, 1], permutation=True)
    assert t.rho == pytest.approx(-1.0) and t.p == pytest.approx(1 / 3) and t.n == 3


def test_widget_controls_redraw(res):
    import matplotlib.pyplot as plt
    from critnotes.book import widgets
    for plot, controls in ch.widget_controls(res, res.cfg).items():
        for setting in widgets.settings(controls):
            assert getattr(ch, plot)(res, **setting, ax=None) is not None
            plt.close("all")
    with pytest.raises(ValueError, match="1 × 3 panels"):
        ch.plot_collapse(res, ax=object())


def test_figures(res):
    import matplotlib.pyplot as plt
    for fig in (ch.plot_critical_line(res), ch.plot_metrics_vs_init(res), ch.plot_response_curves(res),
                ch.plot_metrics_over_training(res), ch.plot_relations(res),
                ch.plot_regularised(res, init_ratio=1.0, penalty=1.0), ch.plot_collapse(res)):
        assert fig.axes and all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes if not hasattr(ax, "_colorbar"))
        plt.close(fig)
    runs = res.reg(0.25, 1.0)
    assert len(runs) == res.cfg.seeds and all(np.isfinite(r.acc).all() for r in runs)
    assert [r.cfg.train.seed for r in runs] == [r.cfg.train.seed for r in res.reg(0.25, 0.0)]   # paired seeds


# ------------------------------------------------------------------------------------------------
# the failures the audit demonstrated
# ------------------------------------------------------------------------------------------------
def _reg(seed, acc, noise_acc, levels=(0.0, 0.5), n=1000):
    from critnotes.training.loop import TrainConfig
    from critnotes.training.regularised import RegularisedConfig, RegularisedResult
    rc = RegularisedConfig(TrainConfig(seed=seed), tasks=len(acc), noise_levels=levels)
    return RegularisedResult(rc, None, np.zeros(0), np.array(acc, float), np.array(noise_acc, float), np.zeros(0),
                             n, False, 0.0)


def test_regularised_result_is_frozen_and_checks_noise_levels():
    import dataclasses
    r = _reg(0, [[0.9, 0.1], [0.5, 0.8]], [0.9, 0.7])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.acc = None
    assert r.noise_drop(0.5) == pytest.approx(0.2)
    assert r.final_average == pytest.approx(0.65) and r.new_task_accuracy == pytest.approx(0.85)
    with pytest.raises(ValueError, match="noise_levels"):
        r.noise_drop(0.25)


def test_a_clean_accuracy_gain_is_not_robustness():
    # the audit's case: penalised 0.402 -> 0.298 under noise, plain 0.270 -> 0.240; the penalised net is more
    # accurate but loses more to noise, so it must not count as more robust
    plain = [_reg(k, [[0.27 + 0.002 * k]], [0.27 + 0.002 * k, 0.24 + 0.002 * k]) for k in range(3)]
    pen = [_reg(k, [[0.402 - 0.002 * k]], [0.402 - 0.002 * k, 0.298 - 0.003 * k]) for k in range(3)]
    eff = ch.penalty_effect(plain, pen, 0.5)
    assert eff.accuracy.mean > 0 and eff.robustness.mean < 0
    from critnotes.book.verdicts import judge
    assert judge("exceeds", **eff.robustness.above_zero()).verdict != "agrees"
    assert eff.means["clean_penalised"] > eff.means["clean_plain"]


def test_learning_the_new_task_less_is_not_better_continual_learning():
    # plain learns task 1 and forgets some of task 0; penalised barely learns task 1 and so keeps task 0:
    # its old ratio acc[-1,0]/acc[0,0] is higher, but the average over all tasks after the last is lower
    plain = [_reg(k, [[0.9, 0.1], [0.5 + 0.01 * k, 0.9]], [0.9, 0.8]) for k in range(3)]
    pen = [_reg(k, [[0.9, 0.1], [0.85 + 0.01 * k, 0.2]], [0.9, 0.8]) for k in range(3)]
    assert pen[0].acc[-1, 0] / pen[0].acc[0, 0] > plain[0].acc[-1, 0] / plain[0].acc[0, 0]
    eff = ch.penalty_effect(plain, pen, 0.5)
    assert eff.final_average.mean < 0 and eff.new_task.mean < 0


def test_seed_pairing_is_checked_and_agreeing_seeds_do_not_give_a_zero_width_interval():
    plain = [_reg(k, [[0.789]], [0.789, 0.5]) for k in range(2)]
    pen = [_reg(k, [[0.791]], [0.791, 0.5]) for k in range(2)]
    eff = ch.penalty_effect(plain, pen, 0.5)
    assert eff.accuracy.sd == eff.accuracy.floor_sd > 0           # two identical differences: SD from the floor
    assert eff.accuracy.ci[0] < 0 < eff.accuracy.ci[1]
    with pytest.raises(ValueError, match="paired by seed"):
        ch.penalty_effect(plain, pen[::-1], 0.5)
    with pytest.raises(ValueError, match=">= 2 seeds"):
        ch.OverSeeds.of([0.1])


def _chain(seed, acc, lam, n_probe=64, spread=0.01, diverged=False):
    from critnotes.training.collapse import CollapseConfig, CollapseResult
    from critnotes.training.loop import TrainConfig
    rng = np.random.default_rng(seed)
    g = len(acc)
    probe = np.array(lam, float)[:, None] + spread * rng.standard_normal((g, n_probe))
    return CollapseResult(CollapseConfig(TrainConfig(seed=seed), generations=g), [], np.array(acc, float),
                          np.ones(g), np.zeros((g, 1)), np.zeros((g, 1)), probe, 1000, diverged, 0.0)


def test_collapse_criticality_loss_is_judged_between_chains_not_over_probe_inputs():
    # within each chain |λ₀| grows by 0.02, far outside the probe-input error (SE ~ 0.002), but generation 0
    # scatters across seeds as much as the change, and the chains disagree: no verdict from one network
    from critnotes.book.verdicts import judge
    plain = [_chain(0, [0.8, 0.6], [0.00, 0.02]), _chain(1, [0.8, 0.6], [0.06, 0.02]),
             _chain(2, [0.8, 0.6], [-0.03, 0.05])]
    pen = [_chain(k, [0.8, 0.7], [0.0, 0.0]) for k in range(3)]
    eff = ch.collapse_effect(plain, pen)
    assert eff.lyapunov_growth.values[0] == pytest.approx(0.02, abs=0.005)
    assert judge("exceeds", **eff.lyapunov_growth.above_zero()).verdict == "inconclusive"
    assert eff.gen0_lyapunov_sd > 0.02


def test_a_higher_generation_0_is_not_prevented_collapse():
    # the penalised chains start higher but lose exactly as much: no prevention
    from critnotes.book.verdicts import judge
    plain = [_chain(k, [0.80 + 0.01 * k, 0.60 + 0.01 * k], [0, 0]) for k in range(3)]
    pen = [_chain(k, [0.90 + 0.01 * k, 0.70 + 0.01 * k], [0, 0]) for k in range(3)]
    eff = ch.collapse_effect(plain, pen)
    assert eff.means["last_penalised"] > eff.means["last_plain"]        # the old level comparison would "agree"
    assert eff.prevention.mean == pytest.approx(0.0, abs=1e-12)
    assert judge("exceeds", **eff.prevention.above_zero()).verdict != "agrees"
    # a diverged chain has no last generation
    assert math.isnan(ch.collapse_effect([plain[0], _chain(1, [0.8, 0.1], [0, 0], diverged=True)],
                                         pen[:2]).degradation.mean)


def test_dynamic_range_peak_is_judged_where_the_measured_lyapunov_crosses_zero():
    lam = {"r=0.25": -0.5, "r=1": 0.2, "r=4": 0.4}                # crosses between 0.25 and 1: nearer 0 at r=1
    assert ch.crossing(lam) == "r=1"
    lam2 = {"r=0.25": -0.5, "r=1": -0.1, "r=4": 0.3}              # measured crossing at r=1 … r=4, nearer r=1
    assert ch.crossing(lam2) == "r=1"
    lam3 = {"r=0.25": -0.5, "r=1": -0.3, "r=4": 0.05}
    cis = {"r=0.25": (9, 10), "r=1": (12, 13), "r=4": (10, 11)}   # Δ peaks at the mean-field r = 1 …
    assert ch.peak_at_crossing(cis, lam3).verdict == "differs"    # … but the measured critical init is r = 4
    assert ch.peak_at_crossing(cis, {k: abs(v) + 0.1 for k, v in lam3.items()}).verdict == "not measured"


def test_diverged_sweep_points_are_excluded_and_listed(res):
    import dataclasses
    bad = dataclasses.replace(res.sweep[-1], diverged=True)
    res2 = dataclasses.replace(res, sweep=[*res.sweep[:-1], bad])
    c = next(c for c in ch.claims(res2) if c.id.endswith("performance_vs_distance"))
    assert c.measured["excluded_diverged"] == [f"r={bad.ratio:g}"]
    assert c.detail["n"] == len(res.sweep) - 1
