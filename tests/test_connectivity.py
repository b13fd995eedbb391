"""Chapter 6 (connectivity): scaling fits, transition read-out, NCG distributions, and a tiny end-to-end run."""
import dataclasses
import json

import matplotlib
import numpy as np
import pytest

from critnotes.book.chapters import connectivity as ch
from critnotes.training.runs import CriticalRunConfig
from critnotes.training.sweeps import Failed

matplotlib.use("Agg")


def test_loglog_fit_recovers_planted_exponent():
    m = np.array([30, 50, 90, 170, 330, 650])
    rng = np.random.default_rng(0)
    y = 2.0 * m ** 1.75 * np.exp(rng.normal(scale=0.05, size=m.size))
    fit = ch.loglog_fit(m, y)
    assert fit.exponent == pytest.approx(1.75, abs=3 * fit.se + 0.02)
    assert 0 < fit.se < 0.1 and fit.n_points == 6
    lo, hi = fit.ci
    assert lo < 1.75 < hi and hi - lo == pytest.approx(2 * 2.776 * fit.se, rel=1e-3)     # Student t, 4 d.o.f.
    exact = ch.loglog_fit(m, 3.0 * m ** 0.5)
    assert exact.exponent == pytest.approx(0.5) and exact.se == pytest.approx(0.0, abs=1e-9)
    # zeros (e.g. no edges at all) are dropped; fewer than 3 points gives no exponent
    none = ch.loglog_fit([1, 2, 3, 4], [0, 0, 5, 6])
    assert none.exponent is None and none.ci is None


def test_shift_fit_skips_failed_and_diverged_points():
    def point(lr, t_c, diverged=False):
        return ch.PointSummary(M=30, lr=lr, batch_size=64, normalize="standard", diverged=diverged,
                               steps=np.arange(3), frob=np.ones(3), t_c=t_c, plateau=(t_c, t_c), phases={})
    pts = [point(0.01, 400), point(0.1, 40), point(1.0, 4), point(3.0, 1, diverged=True), Failed({"lr": 10.0}, "boom")]
    fit, values = ch.shift_fit(pts, "lr")
    assert fit.exponent == pytest.approx(-1.0)          # the gradient-flow t_c ∝ 1/ν planted
    assert values == {"0.01": 400, "0.1": 40, "1.0": 4}


def test_transition_plateau_and_hump_mode():
    steps = np.array([0, 1, 3, 10, 30, 100, 300])
    frob = np.array([1.0, 5.0, 9.7, 10.0, 9.6, 9.0, 9.8])
    assert ch.transition_plateau(frob, steps, 0.05) == (3, 30)          # contiguous around the peak only
    assert ch.transition_plateau(frob, steps, 0.0) == (10, 10)
    with pytest.raises(ValueError, match="plateau_rel"):
        ch.transition_plateau(frob, steps, 1.5)
    assert ch.hump_mode(np.repeat([2, 4, 6, 8, 10], [5, 20, 60, 20, 5])) == 6
    assert ch.hump_mode(np.repeat([2, 3, 4, 5, 6], [5, 20, 60, 20, 5])) is None       # mode 4: a factor 2 only
    assert ch.hump_mode(np.repeat([1, 2, 4, 8], [80, 20, 5, 1])) is None           # decreasing: no hump
    assert ch.hump_mode(np.repeat([1, 2, 3], [40, 42, 10])) is None                # within noise of the minimum


def test_distribution_rule_never_agrees_from_a_hump_or_a_truncated_search():
    good = dict(alpha=1.36, ci=(1.3, 1.42), target=1.34, favoured="power_law", decades=1.5, mode=None, truncated="")
    assert ch.power_law_distribution(**good).verdict == "agrees"
    assert ch.power_law_distribution(**{**good, "mode": 4}).verdict == "differs"
    assert ch.power_law_distribution(**{**good, "truncated": "cap of 10 cliques reached"}).verdict == "not measured"
    assert ch.power_law_distribution(**{**good, "decades": 0.5}).verdict == "inconclusive"
    assert ch.power_law_distribution(**{**good, "favoured": "exponential"}).verdict == "differs"
    # less than a decade: inconclusive even when a likelihood ratio favours an alternative (checked first)
    assert ch.power_law_distribution(**{**good, "favoured": "lognormal", "decades": 0.6}).verdict == "inconclusive"


def test_hump_counts_only_well_above_the_minimum():
    assert ch.hump_mode(np.repeat([1, 2, 3, 4, 6, 10], [30, 80, 20, 10, 5, 2])) is None     # mode 2: < ⅓ decade up
    assert ch.hump_mode(np.repeat([1, 2, 3, 4, 6, 10], [5, 20, 80, 20, 5, 2])) == 3


def test_clean_power_law_tail_with_a_low_hump_is_read_as_a_power_law():
    """A planted discrete power law (α = 2.5, two decades) below which a hump sits: the whole-range reading says
    'hump', the tail reading recovers α and is not pre-empted by the hump."""
    rng = np.random.default_rng(1)
    tail = np.floor(10 * (1 - rng.random(4000)) ** (-1 / 1.5)).astype(int)            # p(x) ∝ x^-2.5 from 10
    body = rng.binomial(8, 0.5, size=3000) + 1                                           # a hump at 5 (1…9)
    pts = [ch.PointSummary(M=30, lr=0.1, batch_size=64, normalize="standard", diverged=False, steps=np.arange(2),
                           frob=np.ones(2), t_c=0, plateau=(0, 0),
                           phases={"end": ch.PhaseSummary(1, None, 0, {0.5: ch.Distributions(
                               np.concatenate([body, tail]), *(np.array([]),) * 4, False, "")})})]
    d = ch.fit_distribution(pts, "degree", "end", 0.5)
    assert d.whole.mode is not None
    assert ch.power_law_distribution(**d.whole.verdict_inputs(2.5, "")).verdict == "differs"
    assert d.tail.mode is None and d.tail.fit.alpha == pytest.approx(2.5, abs=0.15)
    assert ch.power_law_distribution(**d.tail.verdict_inputs(2.5, "")).verdict != "differs"


def test_s1_proportional_to_m_is_no_test_when_er_graphs_give_it_too():
    assert ch.extensive_s1(1.0, (0.9, 1.1), null_exponent=0.99).verdict == "inconclusive"   # dense: any graph
    assert ch.extensive_s1(1.0, (0.9, 1.1), null_exponent=0.66).verdict == "agrees"         # ER at ⟨k⟩ = 1: 2/3
    assert ch.extensive_s1(0.4, (0.3, 0.5), null_exponent=0.99).verdict == "differs"
    # ⟨k⟩ held at 0.5 (subcritical) vs 4 (supercritical): the ER null tells the two apart
    ms = np.array([30, 60, 120, 240])
    sub = ch.loglog_fit(ms, [m * ch.graphs.er_giant_fraction(m, 0.5, n_graphs=30) for m in ms]).exponent
    sup = ch.loglog_fit(ms, [m * ch.graphs.er_giant_fraction(m, 4.0, n_graphs=30) for m in ms]).exponent
    assert sub < 0.6 and abs(sup - 1) < 0.05


def test_end_frob_interval_around_the_trivial_two_does_not_agree_with_seven_quarters():
    lo, hi = ch.FROB_END_RANGE
    assert hi - 1.75 <= 0.125
    assert ch.in_range(2.0, lo, hi, ci=(1.92, 2.08)).verdict == "differs"
    assert ch.in_range(1.9, lo, hi, ci=(1.7, 2.0)).verdict == "inconclusive"
    assert ch.in_range(1.75, lo, hi, ci=(1.6, 1.85)).verdict == "agrees"


def test_monotone_rule_catches_a_fall_back_a_trend_would_miss():
    rising_then_falling = [0.0, 1.0, 2.0, 3.0, 4.0, 3.0, 3.5, 4.2]       # Spearman ρ > 0 and significant-looking
    assert ch.monotone(rising_then_falling, tol=0.05).verdict == "differs"
    assert ch.monotone([0.0, 1.0, 2.0, 1.98, 3.0], tol=0.05).verdict == "agrees"
    assert ch.monotone([1.0, 1.0, 1.0], tol=0.05).verdict == "not measured"


def test_batch_shift_on_identical_checkpoints_is_not_an_exact_zero():
    """Every B gives the same checkpoint: b = 0 with SE 0, but the interval must carry the grid's resolution."""
    steps = np.array([0, 1, 2, 3, 5, 8, 13, 22, 38, 63, 106, 178, 300])

    def point(b, t_c=38, plateau=(38, 38)):
        return ch.PointSummary(M=50, lr=0.1, batch_size=b, normalize="standard", diverged=False, steps=steps,
                               frob=np.ones(steps.size), t_c=t_c, plateau=plateau, phases={})
    fit, _ = ch.shift_fit([point(b) for b in (32, 64, 128)], "batch_size")
    assert fit.exponent == pytest.approx(0.0, abs=1e-12) and fit.se == pytest.approx(0.0, abs=1e-12)
    lo, hi = fit.ci
    assert hi == pytest.approx(np.log(38 / 22) / np.log(4)) and lo == -hi          # the coarser neighbouring ratio
    assert ch.close_to(fit.exponent, 0.0, ch.FSS_TOL, ci=fit.ci).verdict == "inconclusive"
    wide, _ = ch.shift_fit([point(b) for b in (16, 32, 64, 128, 256)], "batch_size")        # 4 doublings
    assert wide.ci[1] < ch.FSS_TOL and ch.close_to(wide.exponent, 0.0, ch.FSS_TOL, ci=wide.ci).verdict == "agrees"
    flat, _ = ch.shift_fit([point(b, plateau=(13, 106)) for b in (16, 32, 64, 128, 256)], "batch_size")
    assert flat.ci[1] == pytest.approx(np.log(38 / 13) / np.log(16))                       # the plateau dominates


def test_susceptibility_readings_and_threshold_window():
    steps = np.array([0, 1, 2, 3, 5, 8, 13, 22, 38, 63, 106])
    assert ch.transition_window(steps, 38, 38, 2) == (13.0, 106.0)
    assert ch.transition_window(steps, 1, 63, 2) == (0.0, 106.0)
    assert ch.peaks_in_window([5], ch.transition_window(steps, 38, 38, 2)).verdict == "differs"
    assert ch.graphs.fluctuation_susceptibility([10, 12, 14], 20) == pytest.approx(4 / 20)


def test_ncg_distributions_planted_blocks():
    # two blocks of perfectly correlated neurons (sizes 4 and 3) plus 3 independent ones
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 5))
    x = np.column_stack([z[:, [0]].repeat(4, 1), z[:, [1]].repeat(3, 1), z[:, 2:]])
    c = ch.graphs.correlation_matrix(x)
    d = ch.ncg_distributions(c, x, 0.5, max_cliques=100)
    assert sorted(d.degree.tolist()) == [2, 2, 2, 3, 3, 3, 3]
    assert sorted(d.clique_size.tolist()) == [3, 4] and sorted(d.component_size.tolist()) == [3, 4]
    mean_abs = np.abs(x).mean(axis=0)
    want = sorted([mean_abs[:4].sum(), mean_abs[4:7].sum()])
    assert sorted(d.clique_activity.tolist()) == pytest.approx(want)
    assert sorted(d.component_activity.tolist()) == pytest.approx(want)
    assert not d.truncated and d.reason == ""
    capped = ch.ncg_distributions(c, x, 0.5, max_cliques=1)
    assert capped.truncated and "cap" in capped.reason


def test_transition_index_and_config_errors():
    assert ch.transition_index(np.array([1.0, 3.0, np.nan, 2.0])) == 1
    with pytest.raises(ValueError, match="c_th"):
        ch.run(dataclasses.replace(ch.PROFILES["ci"], c_th=0.55), progress=False)
    with pytest.raises(ValueError, match="phase"):
        ch.plot_distributions(None, phase="middle")
    with pytest.raises(ValueError, match="plateau_rel"):
        ch.run(dataclasses.replace(ch.PROFILES["ci"], plateau_rel=1.0), progress=False)


def test_tiny_chapter_end_to_end():
    """One small run of everything (4 tiny trainings; the single Rastermap fit of the test suite)."""
    run = CriticalRunConfig(width=8, steps=60, n_checkpoints=8, n_probe=100)
    cfg = ch.ConnectivityConfig(run=run, thresholds=(0.5, 0.9), dist_thresholds=(0.5,), n_batches=4, batch_probe=50, fss_widths=(5, 8, 12),
                                fss_steps=60, fss_checkpoints=8, lrs=(0.05, 0.1), batch_sizes=(64,),
                                shift_steps=60, shift_checkpoints=8, max_cliques=500, rastermap_pcs=10,
                                rastermap_clusters=5)
    res = ch.run(cfg, progress=False)
    m = res.n_neurons
    assert m == 2 * 8 + 10 and sorted(res.order.tolist()) == list(range(m))
    assert res.corr.shape == (len(res.steps), m, m)
    assert res.t_c == res.steps[int(np.argmax(res.metrics[0.5]["frob"]))]
    assert np.all(res.metrics[0.9]["n_edges"] <= res.metrics[0.5]["n_edges"])      # higher threshold, fewer edges
    assert res.batch["n_edges"].shape == (len(res.steps), 4)
    assert res.delta_i[0] == 0 and np.all(res.s_pred <= np.log(10) + 1e-9)
    assert [p.M for p in res.fss] == [20, 26, 34]
    assert res.raw.normalize == "none" and ch.transition_times(res)["none"][0] == res.raw.t_c
    assert res.plateau[0] <= res.t_c <= res.plateau[1]
    fss = ch.scaling(res)
    assert fss["end"]["s1"].n_points == 3 and set(fss) == set(ch.PHASES)
    for p in res.fss:       # the fixed-t phase sits at the checkpoint nearest to t = 100 (the 60-step run: its end)
        assert p.phases["fixed_t"].step == p.steps[np.argmin(np.abs(p.steps - 100))]
    claims = ch.claims(res)
    ids = [c.id for c in claims]
    for want in ("connectivity.transition_time", "connectivity.transition_time.raw_pixels",
                 "connectivity.fss.fixed_t.frob", "connectivity.fss.transition.frob", "connectivity.fss.end.mean_degree",
                 "connectivity.fss.fixed_t.s1_at_unit_degree", "connectivity.degree_exponent.end",
                 "connectivity.clique_size_exponent.fixed_t", "connectivity.shift.lr", "connectivity.shift.batch"):
        assert want in ids
    assert sum(i.startswith("connectivity.fss.") for i in ids) == 16        # 3 phases × 5 readings + ⟨k⟩ values
    kinds = {c.id: c.kind for c in claims}
    for sensitivity in ("connectivity.transition_time.raw_pixels", "connectivity.fss.transition.frob",
                        "connectivity.fss.end.abs_sum", "connectivity.clique_size_exponent.transition",
                        "connectivity.degree_exponent.end.all_observations", "connectivity.susceptibility_peak.fluctuation"):
        assert kinds[sensitivity] == "finding"
    assert kinds["connectivity.fss.end.s1_at_unit_degree"] == "check"
    assert kinds["connectivity.fss.end.frob"] == kinds["connectivity.susceptibility_peak"] == "reproduction"
    shift = next(c for c in claims if c.id == "connectivity.shift.lr")     # two ν values: too few for a slope
    assert shift.measured is None and shift.verdict == "not measured" and len(shift.detail["t_c"]) == 2
    tc = next(c for c in claims if c.id == "connectivity.transition_time")
    assert tc.measured == res.t_c
    json.dumps([c.as_dict() for c in claims])
    assert "raw pixels give" in ch.discussion(res)
    for plot in (ch.plot_snapshots, ch.plot_metrics, ch.plot_scaling, ch.plot_distributions, ch.plot_shift):
        fig = plot(res)
        assert fig.axes and all(ax.get_xlabel() or not ax.axison for ax in fig.axes if ax.get_label() != "<colorbar>")
        matplotlib.pyplot.close(fig)
