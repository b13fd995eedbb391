"""Chapter `mutual-information`: window series, drift and stability statistics, and the results contract."""
import numpy as np
import pytest

from critnotes.book.chapters import mutual_information as ch
import scipy.stats

from critnotes.book.verdicts import in_range
from critnotes.probes.information_probes import InfoRecord, WindowSeries


def _ws(end, kappa):
    n = len(end)
    return WindowSeries(np.array(end), np.array(kappa), np.ones(n), np.full(n, 0.5), np.full(n, 3.0),
                        np.full(n, 0.1), np.zeros(n, bool), np.arange(n, dtype=float))


def test_series_averages_mi_within_each_window():
    mi = np.arange(8, dtype=float)                                 # measured after updates 4, 9, …, 39
    rec = InfoRecord(mi_steps=np.arange(4, 40, 5), bins=(16,), pairings=("post",), mi=mi.reshape(8, 1, 1),
                     mi_quantile=2 * mi, mi_shuffled=0 * mi, check_bins=16,
                     kappa={10: _ws([20, 30, 40], [0.5, 1.0, 0.25])})
    s = ch.series(rec, 10, 16, "post")
    assert np.allclose(s.mi, [2.5, 4.5, 6.5])                       # windows (10,20], (20,30], (30,40]
    assert np.allclose(s.product, [1.25, 4.5, 1.625])
    assert np.allclose(s.mi_quantile, 2 * s.mi) and np.allclose(s.entropy, [0, 1, 2])   # window entropy as recorded
    assert ch.trend(s.step, s.mi).rho == pytest.approx(1.0)


def test_drift_fails_the_trend_test_that_the_paper_t_test_passes():
    """A slow 5σ drift buried in noise: the paper's t-test of differences (Fig S11) sees nothing, our trend
    bound does; stationary noise passes both."""
    rng = np.random.default_rng(0)
    step = np.arange(300)
    drift = np.linspace(0, 5, 300) + rng.normal(size=300)
    st = ch.stability(drift, 1)
    assert st.mean_diff == pytest.approx((drift[-1] - drift[0]) / 299)        # it only sees the two ends
    assert st.ttest_p == pytest.approx(scipy.stats.ttest_1samp(np.diff(drift), 0).pvalue)
    assert ch.no_mean_shift(st.ttest_p, st.n).verdict == "agrees"
    t = ch.trend(step, drift)
    assert in_range(t.rho, -0.3, 0.3, ci=t.ci).verdict == "differs"
    noise = 1.0 + 0.1 * rng.normal(size=300)
    t = ch.trend(step, noise)
    assert in_range(t.rho, -0.3, 0.3, ci=t.ci).verdict == "agrees"
    assert ch.no_mean_shift(1e-4, 3).verdict == "inconclusive"


def test_rho_measures_persistence_not_invariance():
    """A steady product (constant + noise) has ρ near 0, a product tripling over training ρ near 1: the Fig 3E
    statistic cannot show invariance (so no claim reads it as such)."""
    rng = np.random.default_rng(3)
    steady = 1.0 + 0.05 * rng.normal(size=100)
    tripling = np.linspace(1.0, 3.0, 100) + 0.05 * rng.normal(size=100)
    assert abs(ch.stability(steady, 1).rho) < 0.3 and ch.stability(tripling, 1).rho > 0.9


def test_stability_recovers_planted_autoregression():
    """Gaussian AR(1) with φ = 0.6: Spearman ρ at lag 1 is (6/π)·arcsin(φ/2)."""
    rng = np.random.default_rng(1)
    p = np.zeros(4000)
    for i in range(1, 4000):
        p[i] = 0.6 * p[i - 1] + rng.normal()
    st = ch.stability(p, 1)
    assert st.rho_ci[0] < 6 / np.pi * np.arcsin(0.3) < st.rho_ci[1]


def test_partial_spearman_removes_a_shared_trend():
    """Two independent noises riding on the same trend with the step: plain Spearman is significant, the
    partial ρ given the step is not; a real link beyond the trend survives."""
    rng = np.random.default_rng(4)
    step = np.arange(80.0)
    x, y = step + 10 * rng.normal(size=80), step + 10 * rng.normal(size=80)
    assert scipy.stats.spearmanr(x, y).pvalue < 1e-6
    assert ch.partial_spearman(x, y, step).p > 0.05
    e = 10 * rng.normal(size=80)
    linked = ch.partial_spearman(step + e, step + e + 2 * rng.normal(size=80), step)
    assert linked.rho > 0.8 and linked.p < 1e-6


def test_mi_trend_needs_both_binnings():
    assert ch.trend_cross_checked(0.9, 1e-6, 0.1, 0.6, sign=+1).verdict == "inconclusive"
    assert ch.trend_cross_checked(0.9, 1e-6, 0.8, 1e-5, sign=+1).verdict == "agrees"


def test_reproduce_ci_follows_results_contract():
    res = ch.reproduce("ci", progress=False)
    c = {x.id: x for x in res.claims}
    assert {"mutual-information.rho.lr0.01.b50", "mutual-information.no_trend.lr0.01.b500",
            "mutual-information.s11_ttest.lr0.1.b50", "mutual-information.alpha_vs_product.lr0.01.b50",
            "mutual-information.kappa_noise.lr0.01.b50"} <= set(c)
    assert not any(".identity." in i or ".no_drift." in i for i in c)
    rho = c["mutual-information.rho.lr0.01.b50"]
    assert rho.paper == 0.94 and rho.kind == "reproduction" and "run_seconds" in rho.detail
    assert "not that P is invariant" in rho.statement
    assert c["mutual-information.rho.lr0.1.b50"].kind == "reproduction"          # Fig S10's "similar results"
    for k in ("mi_trend", "kappa_trend"):                                        # Fig 3D is stated for lr 0.01
        assert c[f"mutual-information.{k}.lr0.1.b50"].kind == "finding"
    assert c["mutual-information.mi_vs_entropy.lr0.01.b50"].kind == "finding"
    assert c["mutual-information.mi_trend.lr0.01.b50"].rule == "trend_cross_checked"
    assert c["mutual-information.mi_trend.lr0.01.b50"].detail["magnitude"] is False      # released code: signed Δw
    assert "signed Δw" in rho.statement


def test_unknown_window_is_a_clear_error():
    with pytest.raises(ValueError, match="window"):
        ch.run(ch.PROFILES["ci"].__class__(window=123))

