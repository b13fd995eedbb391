"""Speed of a sweep on a Dask cluster: 4 points of chapter 6's finite-size sweep on a 2-worker
``LocalCluster`` versus the same 4 points serially in this process (goal: ≥ 1.6× on 2 free cores).

The run cache is off, so every point trains.  Serial runs twice: with one torch thread, as each Dask worker
(``speedup``; the results must be identical bit for bit), and with torch's default threads (what a user's
serial loop gets: ``speedup_vs_serial_threads``; a different summation order, so not bit-identical).
Prints one JSON object.

    python benchmarks/sweep.py [--quick]        # default: 5,000-step trainings, a few minutes
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

os.environ["CRITNOTES_CACHE"] = "off"          # before critnotes is imported; the workers inherit it

from dask.distributed import Client, LocalCluster  # noqa: E402
import torch  # noqa: E402
from joblib import parallel_config  # noqa: E402

from critnotes.analysis.records import first_difference  # noqa: E402
from critnotes.book.chapters import connectivity as ch  # noqa: E402
from critnotes.training.sweeps import Failed, sweep  # noqa: E402

GOAL = 1.6     # × over serial with 2 workers


def points(steps: int) -> list[ch.PointSpec]:
    """Two widths × two seeds of the ci finite-size sweep, each a training of ``steps`` steps."""
    cfg = ch.PROFILES["ci"]
    return [ch.PointSpec(dataclasses.replace(cfg.run, width=w, seed=s, steps=steps, n_checkpoints=cfg.fss_checkpoints),
                         cfg.c_th, cfg.max_cliques) for w in cfg.fss_widths[:2] for s in (0, 1)]


def _warm_up() -> None:
    """One tiny point, so imports, data loading and first-call costs are paid before timing (in every worker)."""
    ch.analyse_point(points(10)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the ci profile's 300-step trainings (under a minute)")
    args = ap.parse_args()
    pts = points(ch.PROFILES["ci"].fss_steps if args.quick else 5_000)
    _warm_up()
    t0 = time.perf_counter()
    serial_threads = sweep(ch.analyse_point, pts, n_jobs=1, progress=False)      # torch's default threads
    t_serial_threads = time.perf_counter() - t0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)              # as in each Dask worker (its nanny sets OMP_NUM_THREADS=1): same bits
    t0 = time.perf_counter()
    serial = sweep(ch.analyse_point, pts, n_jobs=1, progress=False)
    t_serial = time.perf_counter() - t0
    torch.set_num_threads(threads)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_warm_up)                  # imports and data loading, which the serial run did before timing
        t0 = time.perf_counter()
        with parallel_config(backend="dask"):
            dask = sweep(ch.analyse_point, pts, progress=False)
        t_dask = time.perf_counter() - t0
    failed = sum(isinstance(r, Failed) for r in serial + dask)
    speedup = t_serial / t_dask
    diff = first_difference(serial, dask)
    print(json.dumps({"benchmark": "sweep", "points": len(pts), "quick": args.quick, "workers": 2,
                      "cpu_count": os.cpu_count(), "serial_s": t_serial, "dask_s": t_dask, "speedup": speedup,
                      "serial_threads": threads, "serial_threads_s": t_serial_threads,
                      "speedup_vs_serial_threads": t_serial_threads / t_dask,
                      "identical": failed == 0 and diff is None, "first_difference": diff,
                      "failed_points": failed, "goal": GOAL, "meets_goal": speedup >= GOAL,
                      "distance_to_goal": speedup - GOAL,
                      "note": "cluster start-up and worker warm-up are not timed; the speed-up is bounded by the free cores"}))


if __name__ == "__main__":
    main()
