"""How the heavy analyses grow with their input (issue 16 §4); prints JSON lines.

One line per measurement ``{"analysis", "x_name", "x", "seconds", …}``, then one summary line per
analysis with the log–log growth exponent over the measured range, the input size the ``paper``
profile needs, the time extrapolated to it and whether that is within the budget:

* ``graph_metrics`` (all Fig 1b scalars of an NCG) vs the number of neurons N (chapter 6, paper M ≤ 1,010);
* ``maximal_cliques`` vs edge density at fixed N (bounded by its work budget: ``truncated`` says so);
* ``fit_powerlaw_binned`` vs number of histogram bins, and ``fit_powerlaw`` (``powerlaw.Fit`` inside) vs
  number of raw samples (chapters 1, 5, 6);
* the exact interevent pipeline (:class:`critnotes.probes.interval_probe.IntervalProbe`) vs tracked parameters ×
  steps, and its time-shuffled null (:func:`critnotes.analysis.intervals.shuffled_null`) vs window length (chapter 2).

    python benchmarks/cost_curves.py [--quick]        # --quick: smaller inputs, under a minute
"""
from __future__ import annotations

import argparse
import json
import time
import types

import numpy as np
import torch

from critnotes.analysis import fitting, graphs, intervals
from critnotes.book.chapters import connectivity, interevent
from critnotes.probes import update_recorder as recorder
from critnotes.probes.interval_probe import IntervalProbe

BUDGET_S = 60.0      # one call of an analysis at the paper's size should stay under this on one core


def _time(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def _emit(rows: list, **row) -> None:
    rows.append(row)
    print(json.dumps(row), flush=True)


def _summary(rows: list, analysis: str, paper_x: float, note: str) -> None:
    """Growth exponent b of seconds ∝ x^b between the two largest inputs (the asymptotic regime; small
    inputs measure call overhead) and the extrapolation to ``paper_x``."""
    pts = sorted((r["x"], r["seconds"]) for r in rows if r["analysis"] == analysis and r["seconds"] > 0)[-2:]
    x, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    b, a = np.polyfit(x, t, 1) if len(pts) >= 2 else (float("nan"), float("nan"))
    at_paper = float(np.exp(a + b * np.log(paper_x)))
    print(json.dumps({"summary": analysis, "growth_exponent": float(b), "paper_x": paper_x,
                      "extrapolated_paper_s": at_paper, "budget_s": BUDGET_S, "within_budget": at_paper <= BUDGET_S,
                      "note": note}), flush=True)


def activity(n_neurons: int, n_samples: int = 300, seed: int = 0) -> np.ndarray:
    """Synthetic activity with a few shared modes (a connected NCG with a heavy degree tail)."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(size=(n_samples, 4)) @ rng.normal(size=(4, n_neurons)) * rng.pareto(2.0, n_neurons)
    return modes + rng.normal(size=(n_samples, n_neurons))


def graph_curve(rows: list, sizes) -> None:
    for n in sizes:
        c = graphs.correlation_matrix(activity(n))
        sec, m = _time(graphs.graph_metrics, c, 0.5)
        _emit(rows, analysis="graph_metrics", x_name="neurons", x=n, seconds=sec, n_edges=m.n_edges)
        sec, _ = _time(graphs.forman_curvature, graphs.adjacency(c, 0.5), True)
        _emit(rows, analysis="forman_augmented", x_name="neurons", x=n, seconds=sec)


def clique_curve(rows: list, n: int, densities) -> None:
    rng = np.random.default_rng(1)
    for p in densities:
        a = np.triu(rng.random((n, n)) < p, 1)
        sec, cl = _time(graphs.maximal_cliques, a | a.T)
        _emit(rows, analysis="maximal_cliques", x_name="edge_density", x=p, seconds=sec, neurons=n,
              n_cliques=len(cl.cliques), visits=cl.visits, truncated=cl.truncated, reason=cl.reason)


def ncg_clique_curve(rows: list, sizes) -> None:
    """The hard case of issue 12: dense correlation graphs with large cliques (each clique costs many visits)."""
    for n in sizes:
        a = graphs.adjacency(graphs.correlation_matrix(activity(n, seed=5)), 0.3)
        sec, cl = _time(graphs.maximal_cliques, a)
        _emit(rows, analysis="maximal_cliques_ncg", x_name="neurons", x=n, seconds=sec,
              edge_density=float(a.mean()), n_cliques=len(cl.cliques), largest=max(map(len, cl.cliques), default=0),
              visits=cl.visits, truncated=cl.truncated, reason=cl.reason)


def fit_curves(rows: list, bins, raw_sizes) -> None:
    x = fitting.sample_pareto(2.5, 200_000, seed=2)
    for nb in bins:
        edges = np.geomspace(1.0, x.max() * 1.01, nb + 1)
        counts, _ = np.histogram(x, edges)
        sec, _ = _time(fitting.fit_powerlaw_binned, edges, counts)
        _emit(rows, analysis="fit_powerlaw_binned", x_name="bins", x=nb, seconds=sec)
    for n in raw_sizes:
        sec, f = _time(fitting.fit_powerlaw, x[:n])
        _emit(rows, analysis="fit_powerlaw", x_name="samples", x=n, seconds=sec, alpha=f.alpha)


def interval_curves(rows: list, params, steps, lengths) -> None:
    gen = torch.Generator().manual_seed(3)
    for n in params:
        for t_max in steps:
            run = types.SimpleNamespace(flat=torch.zeros(n), device=torch.device("cpu"))
            probe = IntervalProbe(thresholds=(2.0, 3.0), window=(0, t_max))
            probe.start(run)
            deltas = torch.randn(16, n, generator=gen)           # cycled: the probe's cost does not depend on values
            t0 = time.perf_counter()
            for t in range(t_max):
                probe.on_update(t, deltas[t % 16], run)
            st = probe.finish(run)
            _emit(rows, analysis="interval_probe", x_name="params_x_steps", x=n * t_max, params=n, steps=t_max,
                  seconds=time.perf_counter() - t0, events=st.n_events(0))
    for length in lengths:
        epp = np.bincount(np.random.default_rng(4).poisson(length * 0.01, 100_000))
        sec, _ = _time(intervals.shuffled_null, epp, length)
        _emit(rows, analysis="shuffled_null", x_name="window_steps", x=length, seconds=sec, distinct_counts=int(epp.size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (under a minute)")
    args = ap.parse_args()
    q = args.quick
    rows: list = []
    paper_m = max(connectivity.PROFILES["paper"].run.n_neurons,
                  2 * max(connectivity.PROFILES["paper"].fss_widths) + 10)
    graph_curve(rows, (50, 200, 500, 1000) if q else (50, 100, 200, 500, 1000, 2000))
    clique_curve(rows, 200 if q else 400, (0.05, 0.2, 0.5, 0.8) if q else (0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9))
    ncg_clique_curve(rows, (300,) if q else (500, 1000, 2000))
    fit_curves(rows, (50, 400, 1600) if q else (50, 100, 200, 400, 800, 1600, 3200),
               (1_000, 10_000, 30_000) if q else (1_000, 3_000, 10_000, 30_000, 100_000, 300_000))
    paper_steps = interevent.PROFILES["paper"].mlp_steps
    interval_curves(rows, (10_000, 100_000) if q else (10_000, 100_000), (100, 1_000) if q else (300, 3_000),
                    (3_000, 10_000) if q else (3_000, 10_000, 30_000))
    _summary(rows, "graph_metrics", paper_m, "O(N²) adjacency work; paper M from chapter 6's paper profile")
    _summary(rows, "forman_augmented", paper_m, "triangles by packed-row popcounts, O(E·N/8) bytes")
    _summary(rows, "fit_powerlaw_binned", len(recorder.bin_edges()) - 1,
             "x_min search refits every candidate edge (≈ bins²); the recorder's default histogram size")
    _summary(rows, "fit_powerlaw", 1_000_000, "raw samples; fit_powerlaw(max_samples=…) subsamples to bound it")
    _summary(rows, "interval_probe", 101_770 * paper_steps,
             "mlp-medium (≈10⁵ parameters) × the paper's 30,000 steps, probe cost only (training excluded)")
    _summary(rows, "shuffled_null", paper_steps, "window of the paper's 30,000 steps")
    cl = [r for r in rows if r["analysis"].startswith("maximal_cliques")]
    print(json.dumps({"summary": "maximal_cliques", "max_seconds": max(r["seconds"] for r in cl),
                      "truncated": [[r["analysis"], r["x"], r["reason"]] for r in cl if r["truncated"]],
                      "within_budget": max(r["seconds"] for r in cl) <= BUDGET_S,
                      "note": "exponential in density; bounded by the cap and work budget, flagged as truncated"}))


if __name__ == "__main__":
    main()
