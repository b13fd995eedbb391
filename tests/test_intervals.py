"""Intervals between large updates: streamed two-pass result == store-everything brute force."""
import numpy as np
import pytest

from critnotes.analysis import intervals as iv
from critnotes.book.chapters.interevent import large_update_intervals
from critnotes.probes.interval_probe import IntervalProbe, UpdateTrace
from critnotes.training.loop import TrainConfig, train


CFG = TrainConfig(model="mlp", hidden=(6,), n_train=256, n_test=64, steps=300, batch_size=16, lr=0.05)


def test_streamed_intervals_equal_brute_force():
    deltas = train(CFG, [UpdateTrace(window=(0, CFG.steps))], use_cache=False, progress=False).probes["trace"]
    stats = large_update_intervals(CFG, (0.01, 0.05), sub_bits=5, progress=False)
    assert stats.counts.shape == (2, CFG.steps)
    for i, th in enumerate(stats.thresholds):
        # the streamed threshold's exceedance fraction is the true one on the stored updates
        assert stats.realised[i] == pytest.approx(np.mean(np.abs(deltas) >= th), abs=1e-12)
        ref_counts, ref_events = iv.brute_force_intervals(deltas, th)
        np.testing.assert_array_equal(stats.counts[i], ref_counts)
        np.testing.assert_array_equal(stats.events_per_param[i], ref_events)
        assert stats.counts[i].sum() > 100
    # the lower quantile is the higher threshold; within one bin (2^(1/32)) of the exact quantile
    assert stats.thresholds[0] > stats.thresholds[1]
    exact = np.quantile(np.abs(deltas), 1 - 0.01)
    assert abs(np.log2(stats.thresholds[0] / exact)) < 2 / 32


def test_brute_force_hand_case():
    d = np.zeros((10, 3))
    d[[0, 3, 4, 9], 0] = 1.0       # gaps 3, 1, 5
    d[[2, 8], 1] = -2.0            # gap 6 (sign ignored)
    d[5, 2] = 0.5                  # below threshold
    counts, events = iv.brute_force_intervals(d, 1.0)
    assert counts.tolist() == [0, 1, 0, 1, 0, 1, 1, 0, 0, 0]
    assert events.tolist() == [1, 0, 1, 0, 1]   # one param with 0 events, one with 2, one with 4


def test_shuffled_null_matches_monte_carlo():
    rng = np.random.default_rng(0)
    length, n_per = 200, rng.integers(0, 40, size=300)
    events = np.bincount(n_per)
    expected = iv.shuffled_null(events, length)
    assert expected.sum() == pytest.approx(np.sum(np.maximum(n_per - 1, 0)))
    sim = np.zeros(length)
    for _ in range(20):
        for n in n_per:
            if n >= 2:
                sim += np.bincount(np.diff(np.sort(rng.choice(length, n, replace=False))), minlength=length)
    sim /= 20
    assert np.allclose(np.cumsum(sim) / sim.sum(), np.cumsum(expected) / expected.sum(), atol=0.01)
    # single-rate null is geometric-like: burstiness near 0 (Poisson), far below a bursty process
    assert abs(iv.burstiness(iv.shuffled_null(np.bincount([20] * 50), 2000))) < 0.1


def test_fit_intervals_recovers_planted_exponent():
    tau = np.round(iv.fitting.sample_pareto(2.7, 200_000, xmin=0.5, seed=2)).astype(int)   # bins [k-½, k+½)
    counts = np.bincount(tau[tau < 5000], minlength=5000)
    f = iv.fit_intervals(counts, ls_range=(10, 500))
    assert f.mle.alpha == pytest.approx(2.7, abs=0.1)
    assert -f.ls.slope == pytest.approx(2.7, abs=0.25)


def test_bad_input():
    with pytest.raises(ValueError, match="thresholds"):
        train(CFG.replace(steps=3), [IntervalProbe(thresholds=())], use_cache=False, progress=False)
    with pytest.raises(ValueError, match="fraction"):
        iv.threshold_for_quantile(None, 1.5)
    with pytest.raises(ValueError, match="at least 3"):
        iv.interval_bins(2)



def test_fit_intervals_finite_window():
    """A window of T steps holds fewer long intervals (weight (T − τ)/T); the MLE still recovers
    the planted exponent."""
    tau = np.round(iv.fitting.sample_pareto(2.5, 300_000, xmin=0.5, seed=5)).astype(int)
    counts = np.bincount(tau[tau < 2000], minlength=2000) * (2000 - np.arange(2000)) / 2000
    assert iv.fit_intervals(counts, ls_range=(5, 200)).mle.alpha == pytest.approx(2.5, abs=0.06)


def test_linear_bins_hand_case_and_summaries():
    counts = np.zeros(10)
    counts[[1, 2, 5, 7]] = [4, 2, 1, 1]          # 8 intervals; bins of 3 steps: [1,4) [4,7) [7,10)
    x, p = iv.linear_binned_density(counts, 3)
    np.testing.assert_allclose(x, [2.0, 5.0, 8.0])
    np.testing.assert_allclose(p, np.array([6, 1, 1]) / (8 * 3))
    assert np.sum(p * 3) == pytest.approx(1.0)
    tau = np.round(iv.fitting.sample_pareto(2.7, 100_000, xmin=0.5, seed=3)).astype(int)
    f = iv.fit_intervals(np.bincount(tau[tau < 3000], minlength=3000), ls_range=(10, 300))
    assert f.linear_width == 60 and f.ls_linear.x_range[0] == pytest.approx(30.5)
    assert f.frac_one == pytest.approx(np.mean(tau[tau < 3000] == 1))
    assert f.mean == pytest.approx(np.mean(tau[(tau >= 1) & (tau < 3000)]))
    assert set(f.as_dict()) >= {"ls_linear", "mle", "frac_one", "mean", "burstiness"}
    with pytest.raises(ValueError, match="empty"):
        iv.fit_intervals(np.zeros(50))
    with pytest.raises(ValueError, match="width"):
        iv.linear_binned_density(counts, 0)
