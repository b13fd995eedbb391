"""Chapter `mutual-information`: window series, stability statistics, and the results contract."""
import numpy as np
import pytest

from critnotes.book.chapters import mutual_information as ch
from critnotes.probes.information_probes import InfoRecord


def test_series_averages_mi_within_each_window():
    mi = np.arange(8, dtype=float)                                 # measured after updates 4, 9, …, 39
    rec = InfoRecord(mi_steps=np.arange(4, 40, 5), bins=(16,), pairings=("post",), mi=mi.reshape(8, 1, 1),
                     h_update=-mi.reshape(8, 1), kappa={10: (np.array([20, 30, 40]), np.array([0.5, 1.0, 0.25]),
                                                             np.ones(3))})
    s = ch.series(rec, 10, 16, "post")
    assert np.allclose(s["mi"], [2.5, 4.5, 6.5])                    # windows (10,20], (20,30], (30,40]
    assert np.allclose(s["product"], [1.25, 4.5, 1.625])
    assert ch.trend(s["step"], s["mi"])["rho"] == pytest.approx(1.0)


def test_stability_tells_drift_from_noise():
    rng = np.random.default_rng(0)
    noise = 1.0 + 0.1 * rng.normal(size=300)
    drift = np.linspace(1, 2, 300) + 0.01 * rng.normal(size=300)
    assert ch.stability(noise, 1)["p"] > 0.01 and abs(ch.stability(noise, 1)["rho"]) < 0.2
    st = ch.stability(drift, 1)
    assert st["rho"] > 0.9 and st["p"] < 1e-3                       # high ρ *and* a significant drift


def test_reproduce_ci_follows_results_contract():
    res = ch.reproduce("ci", progress=False)
    ids = {c.id for c in res.claims}
    assert {"mutual-information.rho.lr0.01.b50", "mutual-information.rho.lr0.01.b500",
            "mutual-information.ttest.lr0.1.b50", "mutual-information.kappa_trend.lr0.01.b50"} <= ids
    rho = next(c for c in res.claims if c.id == "mutual-information.rho.lr0.01.b50")
    assert rho.paper == 0.94 and "run_seconds" in rho.detail


def test_unknown_window_is_a_clear_error():
    with pytest.raises(ValueError, match="window"):
        ch.run(ch.PROFILES["ci"].__class__(window=123))
