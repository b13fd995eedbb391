"""Sweeps through joblib: resumable through the cache, same results in parallel, backends by config."""
import os
from pathlib import Path

import pytest
from joblib import parallel_config

from critnotes.training import cache
from critnotes.training.sweeps import Failed, sweep

CALLS = Path(os.environ["CRITNOTES_CACHE"]) / "sweep-test-calls.txt"


def _count_call(x):
    CALLS.parent.mkdir(parents=True, exist_ok=True)
    with open(CALLS, "a") as fh:
        fh.write(f"{x}\n")


def cached_square(x):
    """A sweep point that goes through the run cache, like critical_run; x == 3 is 'interrupted'."""
    def compute():
        _count_call(x)
        if x == 3 and os.environ.get("SWEEP_TEST_INTERRUPT") == "1":
            raise KeyboardInterrupt("simulated Ctrl-C in the middle of the sweep")
        return x * x
    return cache.cached("sweep-test", ("square", x), compute)


def square_or_fail(x):
    if x == 2:
        raise RuntimeError("bad point")
    return x * x


def pid_square(x):
    return x * x, os.getpid()


def calls():
    return [int(v) for v in CALLS.read_text().split()] if CALLS.exists() else []


def test_resume_after_interruption_computes_only_missing_points(monkeypatch):
    CALLS.unlink(missing_ok=True)
    monkeypatch.setenv("SWEEP_TEST_INTERRUPT", "1")
    points = [1, 2, 3, 4, 5]
    with pytest.raises(KeyboardInterrupt):
        sweep(cached_square, points, n_jobs=1, progress=False)
    assert calls() == [1, 2, 3]                  # points 1, 2 finished and were cached; 3 interrupted
    monkeypatch.setenv("SWEEP_TEST_INTERRUPT", "0")
    assert sweep(cached_square, points, n_jobs=1, progress=False) == [1, 4, 9, 16, 25]
    assert calls() == [1, 2, 3, 3, 4, 5]         # the rerun computed only 3, 4, 5
    assert sweep(cached_square, points, n_jobs=1, progress=False) == [1, 4, 9, 16, 25]
    assert calls() == [1, 2, 3, 3, 4, 5]         # a third run computes nothing


def test_failures_are_recorded_not_raised():
    out = sweep(square_or_fail, [1, 2, 3], n_jobs=1, progress=False)
    assert out[0] == 1 and out[2] == 9
    assert isinstance(out[1], Failed) and "bad point" in out[1].error and out[1].diverged


def test_two_processes_give_the_same_results():
    pts = list(range(8))
    serial = sweep(square_or_fail, pts, n_jobs=1, progress=False)
    parallel = sweep(square_or_fail, pts, n_jobs=2, progress=False)
    assert [type(v) for v in serial] == [type(v) for v in parallel]
    assert [v for v in serial if not isinstance(v, Failed)] == [v for v in parallel if not isinstance(v, Failed)]


def test_backend_chosen_by_parallel_config_without_code_change():
    with parallel_config(backend="loky"):
        out = sweep(pid_square, range(6), n_jobs=2, progress=False)
    assert [v for v, _ in out] == [x * x for x in range(6)]
    assert os.getpid() not in {p for _, p in out}          # computed in worker processes
    with parallel_config(backend="threading"):
        out = sweep(pid_square, range(4), n_jobs=2, progress=False)
    assert {p for _, p in out} == {os.getpid()}            # threads: same process


def test_first_difference_names_where_two_results_differ():
    import dataclasses

    import numpy as np

    from critnotes.analysis.records import first_difference

    @dataclasses.dataclass
    class R:
        x: np.ndarray
        d: dict
        t: tuple

    a = R(np.array([1.0, np.nan]), {"k": [1, 2.0]}, (float("nan"), "s"))
    same = R(np.array([1.0, np.nan]), {"k": [1, 2.0]}, (float("nan"), "s"))
    assert first_difference(a, same) is None
    assert first_difference(a, R(np.array([1.0, 2.0]), a.d, a.t)) == "result.x: arrays differ"
    assert first_difference(a, R(a.x.astype(np.float32), a.d, a.t)) == "result.x: arrays differ"
    assert first_difference(a, R(a.x, {"k": [1, 3.0]}, a.t)) == "result.d['k'][1]: 2.0 vs 3.0"
    assert first_difference(a, R(a.x, {"j": [1, 2.0]}, a.t)).startswith("result.d: keys")
    assert first_difference(a, R(a.x, a.d, (1.0,))) == "result.t: length 2 vs 1"
    assert first_difference([a], [1]) == "result[0]: R vs int"
