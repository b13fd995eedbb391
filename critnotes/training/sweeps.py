"""Sweeps over hyper-parameters (phase diagrams, finite-size scaling) through joblib.

:func:`sweep` maps a picklable function over configs with ``joblib.Parallel``, one progress bar, and
results in input order.  Each call of ``fn`` should go through the run cache (e.g. it calls
:func:`critnotes.training.loop.train` or :func:`critnotes.training.runs.critical_run`), which makes a sweep resumable:
after an interruption, finished points load from the cache and only the rest is computed.  A point
that raises is recorded as a :class:`Failed` value (with the error text), never crashing the sweep;
diverged trainings are ordinary results with ``diverged=True``.

Backends: processes on this machine by default (``n_jobs``, or ``$CRITNOTES_JOBS``).  To run on a
cluster, wrap the call — no code change in the book (``tests/test_dask_sweep.py`` runs a real sweep on a
Dask ``LocalCluster`` and checks it equals the local run, failures included)::

    from joblib import parallel_config
    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")        # or ray: `from ray.util.joblib import register_ray`
    with parallel_config(backend="dask"):           # and backend="ray"
        results = sweep(fn, configs)                # n_jobs=None: every worker of the cluster
"""
from __future__ import annotations

import dataclasses
import os
import traceback
from typing import Any, Callable, Iterable, Sequence

from joblib import Parallel, delayed

from critnotes.training.loop import progress_bar

JOBS_ENV = "CRITNOTES_JOBS"


@dataclasses.dataclass
class Failed:
    """A sweep point whose function raised; ``error`` holds the message."""

    config: Any
    error: str

    @property
    def diverged(self) -> bool:   # failed points are never mistaken for converged ones
        return True


def _call(fn: Callable, cfg: Any) -> Any:
    try:
        return fn(cfg)
    except Exception as exc:  # record, don't crash the sweep
        return Failed(cfg, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")


def default_jobs() -> int:
    """Parallel sweep workers from ``$CRITNOTES_JOBS`` (1 when unset); a clear error unless an integer ≥ 1."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdecimal() or int(raw) < 1:
        raise ValueError(f"${JOBS_ENV} must be a whole number of parallel workers ≥ 1, not {raw!r}; "
                         f"fix or unset ${JOBS_ENV} (unset means 1)")
    return int(raw)


def sweep(fn: Callable[[Any], Any], configs: Sequence[Any] | Iterable[Any], *, n_jobs: int | None = None,
          desc: str = "sweep", progress: bool = True) -> list[Any]:
    """``[fn(c) for c in configs]`` through ``joblib.Parallel``, in order, with one progress bar.

    ``n_jobs=None``: ``$CRITNOTES_JOBS`` if set, else the active joblib backend decides —
    ``parallel_config(n_jobs=…)``, every worker of a Dask or Ray cluster, or 1 (in this process) by default.
    ``fn`` must be picklable (a module-level function) unless the sweep runs in this process.
    """
    configs = list(configs)
    if n_jobs is None and os.environ.get(JOBS_ENV):
        n_jobs = default_jobs()
    bar = progress_bar(len(configs), desc, progress)
    out: list[Any] = []
    for r in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_call)(fn, c) for c in configs):
        out.append(r)
        bar.update(1)
    bar.close()
    return out
