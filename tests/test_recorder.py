"""The streaming update recorder equals a brute-force store-every-update computation (issue 2, item 6)."""
import math

import numpy as np
import pytest
import torch

from critnotes.analysis.update_stats import bin_edges
from critnotes.probes.base import LayerSlice, Probe, Run
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.loop import TrainConfig, train


class StoreAll(Probe):
    """The naive reference: keep a host copy of every update of the recorded steps."""

    name = "store_all"

    def __init__(self, steps):
        self.steps, self.rows = set(steps), {}

    def wants_delta(self, t):
        return t in self.steps

    def on_update(self, t, delta, run):
        self.rows[t] = delta.cpu().numpy().copy()

    def finish(self, run):
        return self.rows


def _brute_histogram(rows, steps, sl, edges):
    """numpy.histogram of |Δw| of one layer over the given steps, with under/over counts."""
    x = np.abs(np.concatenate([rows[t][sl.start:sl.stop] for t in steps]).astype(np.float64))
    under = int(np.sum(x < edges[0]))
    over = int(np.sum(~(x < edges[-1])))            # >= last edge, inf and nan
    counts = np.histogram(x[(x >= edges[0]) & (x < edges[-1])], bins=edges)[0]
    return counts, under, over


# lr 0.1 gives updates above 2^-8 (overflow bin) and ReLU/MNIST borders give exact zeros; 2^-20 puts
# small non-zero updates into the underflow bin too
SMALL = dict(model="mlp-small", n_train=256, n_test=64, lr=0.1, batch_size=32, seed=3)


@pytest.mark.parametrize("method", ["kernel", "scatter"])
def test_streamed_histogram_equals_brute_force_per_window_and_layer(method):
    windows = ((0, 7), (12, 20))
    rec = UpdateRecorder(windows=windows, sub_bits=2, min_exp=-20, max_exp=-8, method=method)
    ref = StoreAll([t for a, b in windows for t in range(a, b)])
    res = train(TrainConfig(steps=20, **SMALL), [rec, ref], use_cache=False, progress=False)
    stats, rows = res.probes["updates"], res.probes["store_all"]
    edges = bin_edges(2, -20, -8)
    np.testing.assert_array_equal(stats.edges, edges)
    assert stats.counts.shape == (2, len(res.layers), len(edges) - 1)
    np.testing.assert_array_equal(stats.steps, [7, 8])
    seen_under = seen_over = 0
    for w, (a, b) in enumerate(windows):
        for li, sl in enumerate(res.layers):
            counts, under, over = _brute_histogram(rows, range(a, b), sl, edges)
            np.testing.assert_array_equal(stats.counts[w, li], counts)
            assert stats.under[w, li] == under and stats.over[w, li] == over
            seen_under += under
            seen_over += over
        assert stats.n_updates(w) == res.n_params * (b - a)
    assert seen_under > 0 and seen_over > 0        # the test exercised both edge cases
    zeros = sum(int(np.sum(rows[t] == 0)) for t in range(0, 7))
    assert 0 < zeros <= stats.under[0].sum()       # exact zeros are counted as underflow


def _fake_run(values, layers):
    flat = torch.tensor(values, dtype=torch.float32)
    return Run(cfg=None, model=None, data=None, device=torch.device("cpu"), flat=flat, layers=layers)


@pytest.mark.parametrize("method", ["kernel", "scatter"])
def test_hand_computed_bins(method):
    # bins of 2^k (1 + j/2) for k in [-2, 1): edges .25 .375 .5 .75 1 1.5 2
    vals = [0.0, 0.2, 0.25, -0.3, 0.375, 0.49, 1.0, -1.4999, 1.5, 2.0, math.inf, math.nan]
    layers = [LayerSlice("a", 0, 6), LayerSlice("b", 6, 12)]
    run = _fake_run(vals, layers)
    rec = UpdateRecorder(windows=((0, 2),), sub_bits=1, min_exp=-2, max_exp=1, method=method)
    rec.start(run)
    rec.on_update(0, run.flat, run)
    rec.on_update(1, -run.flat, run)              # the sign never matters
    rec.on_update(2, run.flat, run)               # outside the window: ignored
    s = rec.finish(run)
    np.testing.assert_allclose(s.edges, [0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0])
    # two recorded steps, so every value counts twice
    np.testing.assert_array_equal(s.counts[0, 0], [4, 4, 0, 0, 0, 0])   # .25, .3 | .375, .49
    np.testing.assert_array_equal(s.counts[0, 1], [0, 0, 0, 0, 4, 2])   # 1.0, 1.4999 | 1.5
    np.testing.assert_array_equal(s.under[0], [4, 0])                   # 0 and 0.2, twice
    np.testing.assert_array_equal(s.over[0], [0, 6])                    # 2.0, inf, nan, twice
    assert s.steps.tolist() == [2]
    edges, total = s.histogram(0)
    np.testing.assert_array_equal(total, s.counts[0].sum(axis=0))
    assert s.histogram(0, "b")[1].tolist() == s.counts[0, 1].tolist()
    assert s.zero_fraction(0) == pytest.approx(4 / 24)


def test_memory_does_not_grow_with_steps():
    sizes = []
    for steps in (10, 60):
        rec = UpdateRecorder(windows=((0, steps),))
        train(TrainConfig(steps=steps, **SMALL), [rec], use_cache=False, progress=False)
        sizes.append(rec.state_nbytes())
    assert sizes[0] == sizes[1] > 0


def test_tracked_subset_equals_stored_updates():
    windows = ((2, 9), (11, 18))
    rec = UpdateRecorder(windows=windows, track=40, track_every=3, track_seed=5)
    ref = StoreAll(range(20))
    res = train(TrainConfig(steps=20, **SMALL), [rec, ref], use_cache=False, progress=False)
    s, rows = res.probes["updates"], res.probes["store_all"]
    assert s.tracked_steps.tolist() == [2, 5, 8, 11, 14, 17]
    assert s.tracked.shape == (6, 40) and len(np.unique(s.tracked_index)) == 40
    for row, t in zip(s.tracked, s.tracked_steps):
        np.testing.assert_array_equal(row, rows[t][s.tracked_index])


def test_second_window_is_independent_of_the_first():
    late = ((10, 16),)
    alone = train(TrainConfig(steps=16, **SMALL), [UpdateRecorder(windows=late)], use_cache=False,
                  progress=False).probes["updates"]
    both = train(TrainConfig(steps=16, **SMALL), [UpdateRecorder(windows=((0, 5),) + late)], use_cache=False,
                 progress=False).probes["updates"]
    np.testing.assert_array_equal(both.counts[1], alone.counts[0])
    np.testing.assert_array_equal(both.under[1], alone.under[0])
    assert not np.array_equal(both.counts[0], both.counts[1])


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="min_exp"):
        UpdateRecorder(min_exp=-200)
    with pytest.raises(ValueError, match="windows"):
        UpdateRecorder(windows=((5, 5),))
    with pytest.raises(ValueError, match="method"):
        UpdateRecorder(method="gpu")


def test_tracked_rows_are_preallocated_so_memory_is_flat():
    rec = UpdateRecorder(windows=((0, 30),), track=50, track_every=2)
    res = train(TrainConfig(steps=30, **SMALL), [rec], use_cache=False, progress=False)
    held = rec.state_nbytes()
    rec.start(Run(cfg=None, model=None, data=None, device=torch.device("cpu"),
                  flat=torch.zeros(res.n_params), layers=res.layers))
    assert rec.state_nbytes() == held                   # a fresh start holds as much as the finished run
    assert res.probes["updates"].tracked.shape == (15, 50)


def test_window_outside_the_run_is_an_error_at_start():
    with pytest.raises(ValueError, match=r"\(20, 30\).*10 steps"):
        train(TrainConfig(steps=10, **SMALL), [UpdateRecorder(windows=((0, 5), (20, 30)))], use_cache=False,
              progress=False)


@pytest.mark.parametrize("method", ["kernel", "scatter"])
def test_every_kth_step_equals_brute_force_on_the_sampled_steps(method):
    windows, k = ((0, 10), (3, 17)), 3
    rec = UpdateRecorder(windows=windows, sub_bits=2, min_exp=-20, max_exp=-8, method=method, every=k,
                         track=5, track_every=2)
    ref = StoreAll(range(17))
    res = train(TrainConfig(steps=17, **SMALL), [rec, ref], use_cache=False, progress=False)
    stats, rows = res.probes["updates"], res.probes["store_all"]
    edges = bin_edges(2, -20, -8)
    for w, (a, b) in enumerate(windows):
        sampled = range(a, b, k)
        assert stats.steps[w] == len(sampled)
        for li, sl in enumerate(res.layers):
            counts, under, over = _brute_histogram(rows, sampled, sl, edges)
            np.testing.assert_array_equal(stats.counts[w, li], counts)
            assert stats.under[w, li] == under and stats.over[w, li] == over
    tracked_steps = sorted({t for a, b in windows for t in range(a, b, 2)})
    np.testing.assert_array_equal(stats.tracked_steps, tracked_steps)        # tracking keeps its own grid
    np.testing.assert_array_equal(stats.tracked, np.stack([rows[t][stats.tracked_index] for t in tracked_steps]))
    with pytest.raises(ValueError, match="every must be >= 1"):
        UpdateRecorder(every=0)


def test_log_histogram_equals_numpy_histogram_on_the_recorder_edges():
    from critnotes.analysis.update_stats import log_histogram

    rng = np.random.default_rng(0)
    edges = bin_edges(2, -20, -8)
    vals = np.concatenate([rng.lognormal(-9, 2, 5000) * rng.choice([-1, 1], 5000), edges, -edges[:5],
                           [0.0, -0.0, 1e-40, np.inf, -np.inf, np.nan, 2.0 ** -8, np.nextafter(2.0 ** -8, 0)]])
    x = torch.tensor(vals, dtype=torch.float32)
    a = np.abs(x.numpy().astype(np.float64).ravel())
    ref, _ = np.histogram(a[np.isfinite(a)], bins=edges)        # numpy's last bin is closed: drop 2^max_exp
    ref[-1] -= np.count_nonzero(a == edges[-1])
    np.testing.assert_array_equal(log_histogram(x, 2, -20, -8), ref)
    assert ref.sum() > 4000 and ref[0] > 0 and ref[-1] > 0
    with pytest.raises(TypeError, match="float32"):
        log_histogram(x.double(), 2, -20, -8)
