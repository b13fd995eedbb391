"""Chapter `mutual-information`: window series, drift and stability statistics, and the results contract."""
import numpy as np
import pytest

from critnotes.book.chapters import mutual_information as ch
from critnotes.book.verdicts import in_range
from critnotes.probes.information_probes import InfoRecord, WindowSeries


def _ws(end, kappa):
    n = len(end)
    return WindowSeries(np.array(end), np.array(kappa), np.ones(n), np.full(n, 0.5), np.full(n, 3.0),
                        np.full(n, 0.1), np.zeros(n, bool))


def test_series_averages_mi_within_each_window():
    mi = np.arange(8, dtype=float)                                 # measured after updates 4, 9, …, 39
    rec = InfoRecord(mi_steps=np.arange(4, 40, 5), bins=(16,), pairings=("post",), mi=mi.reshape(8, 1, 1),
                     h_update=-mi.reshape(8, 1), kappa={10: _ws([20, 30, 40], [0.5, 1.0, 0.25])})
    s = ch.series(rec, 10, 16, "post")
    assert np.allclose(s.mi, [2.5, 4.5, 6.5])                       # windows (10,20], (20,30], (30,40]
    assert np.allclose(s.product, [1.25, 4.5, 1.625])
    assert ch.trend(s.step, s.mi).rho == pytest.approx(1.0)


def test_drift_fails_the_trend_test_that_a_t_test_passes():
    """A slow 5σ drift buried in noise: the one-sample t-test of differences sees nothing, the trend test
    (and so the no-drift claim) does; stationary noise passes it."""
    rng = np.random.default_rng(0)
    step = np.arange(300)
    drift = np.linspace(0, 5, 300) + rng.normal(size=300)
    import scipy.stats
    assert scipy.stats.ttest_1samp(np.diff(drift), 0).pvalue > 0.05
    t = ch.trend(step, drift)
    assert in_range(t.rho, -0.3, 0.3, ci=t.ci).verdict == "differs"
    noise = 1.0 + 0.1 * rng.normal(size=300)
    t = ch.trend(step, noise)
    assert in_range(t.rho, -0.3, 0.3, ci=t.ci).verdict == "agrees"


def test_stability_regression_recovers_planted_autoregression():
    rng = np.random.default_rng(1)
    p = np.zeros(2000)
    for i in range(1, 2000):
        p[i] = 0.6 * p[i - 1] + rng.normal()
    st = ch.stability(p, 1)
    assert st.slope_ci[0] < 0.6 < st.slope_ci[1] and st.rho_ci[0] < st.rho < st.rho_ci[1]


def test_reproduce_ci_follows_results_contract():
    res = ch.reproduce("ci", progress=False)
    c = {x.id: x for x in res.claims}
    assert {"mutual-information.rho.lr0.01.b50", "mutual-information.no_drift.lr0.01.b500",
            "mutual-information.alpha_vs_product.lr0.01.b50", "mutual-information.identity.lr0.1.b50",
            "mutual-information.kappa_noise.lr0.01.b50"} <= set(c)
    assert not any(i.startswith("mutual-information.ttest") for i in c)
    rho = c["mutual-information.rho.lr0.01.b50"]
    assert rho.paper == 0.94 and rho.kind == "reproduction" and "run_seconds" in rho.detail
    assert c["mutual-information.rho.lr0.1.b50"].kind == "finding"


def test_unknown_window_is_a_clear_error():
    with pytest.raises(ValueError, match="window"):
        ch.run(ch.PROFILES["ci"].__class__(window=123))
