"""A real sweep (two points of chapter 6's finite-size sweep, ci profile) on a Dask LocalCluster equals the
local joblib run, and a failing point is recorded as the same ``Failed`` on both backends."""
import dataclasses
import os

import pytest
from joblib import parallel_config

from critnotes.analysis.records import first_difference
from critnotes.book.chapters import connectivity as ch
from critnotes.training.sweeps import Failed, sweep

distributed = pytest.importorskip("dask.distributed")


def analyse_uncached(spec):
    """``analyse_point`` with the run cache off, so both backends really train (each in its worker)."""
    old = os.environ.get("CRITNOTES_CACHE")
    os.environ["CRITNOTES_CACHE"] = "off"
    try:
        return ch.analyse_point(spec)
    finally:                                # loky workers are reused by later tests
        os.environ.pop("CRITNOTES_CACHE") if old is None else os.environ.__setitem__("CRITNOTES_CACHE", old)


def specs():
    cfg = ch.PROFILES["ci"]
    runs = [dataclasses.replace(cfg.run, width=w, steps=cfg.fss_steps, n_checkpoints=cfg.fss_checkpoints)
            for w in cfg.fss_widths[:2]]
    bad = dataclasses.replace(runs[0], activation="no-such-activation")      # raises before training
    return [ch.PointSpec(r, cfg.c_th, cfg.max_cliques) for r in (runs[0], bad, runs[1])]


def test_dask_local_cluster_sweep_equals_local_run():
    points = specs()
    with parallel_config(backend="loky"):
        local = sweep(analyse_uncached, points, n_jobs=2, progress=False)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        with parallel_config(backend="dask"):
            remote = sweep(analyse_uncached, points, progress=False)      # n_jobs=None: all cluster workers
        workers = client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()
    for out in (local, remote):
        assert isinstance(out[1], Failed) and "unknown activation" in out[1].error and out[1].diverged
        assert not isinstance(out[0], Failed) and not isinstance(out[2], Failed)
        assert [p.M for p in (out[0], out[2])] == [p.run.n_neurons for p in (points[0], points[2])]
    assert local[1].config == remote[1].config
    assert local[1].error.splitlines()[0] == remote[1].error.splitlines()[0]
    for a, b in zip((local[0], local[2]), (remote[0], remote[2])):
        assert first_difference(a, b) is None, first_difference(a, b)
