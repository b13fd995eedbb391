"""Speed of the perturbation scan (chapter 4): fast exact scan vs a naive full forward per trial.

Both run on the same trials of a trained ``mlp-small`` over the whole training set and must give the
same ΔL; prints trials per second and the speed-up (goal: ≥ 20× on CPU at both ε = 0.01 and ε = 1).
Speed-ups are given in wall time and in process CPU time (steadier on a shared machine).  ε = 1 is the
harder case: a larger step switches more ReLU units on, so more (trial, sample) rows go through the tail.

    python benchmarks/perturbation.py [--quick] [--per-layer 20] [--n-train N] [--device cpu] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from critnotes.analysis import landscape
from critnotes.training.data import load_dataset
from critnotes.training.device import resolve_device
from critnotes.training.loop import TrainConfig, train

GOAL = 20.0     # × over the naive scan, at every ε


def _timed(fn, *args):
    """``fn(*args)`` with its wall and process-CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-layer", type=int, default=20, help="random parameters per layer (5 layers)")
    ap.add_argument("--n-train", type=int, default=None, help="training-set size (default: all 8,000)")
    ap.add_argument("--steps", type=int, default=2000, help="training steps before the scan")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 samples, 500 steps, 8 per layer")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.quick:
        args.per_layer, args.n_train, args.steps = 8, 2000, 500

    dev = resolve_device(args.device)
    cfg = TrainConfig(model="mlp-small", steps=args.steps, n_train=args.n_train)
    model = train(cfg, progress=False).model()
    data = load_dataset(cfg.dataset).subset(cfg.n_train, cfg.n_test, seed=cfg.seed)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    trials = landscape.random_trials(model, args.per_layer, seed=1)
    rows = []
    for eps in (0.01, 1.0):
        (fast, t_fast, c_fast), (ref, t_naive, c_naive) = (
            _timed(f, model, x, y, eps, trials) for f in (landscape.scan, landscape.scan_naive))
        n = fast.size    # trials × signs
        rows.append({"eps": eps, "trials": int(n), "smart_trials_per_s": n / t_fast,
                     "naive_trials_per_s": n / t_naive, "speedup": t_naive / t_fast, "speedup_cpu": c_naive / c_fast,
                     "max_abs_diff": float(np.max(np.abs(fast - ref))), "max_abs_dL": float(np.max(np.abs(ref))),
                     "identical": bool(np.allclose(fast, ref, rtol=1e-9, atol=1e-12))})
    worst = min(r["speedup"] for r in rows)
    out = {"benchmark": "perturbation", "device": dev.type, "n_samples": len(y), "model": cfg.model,
           "dtype": "float64", "quick": args.quick, "results": rows, "speedup_min": worst, "goal": GOAL,
           "meets_goal": worst >= GOAL, "distance_to_goal": worst - GOAL,
           "speedup_cpu_min": min(r["speedup_cpu"] for r in rows)}
    if args.json:
        print(json.dumps(out))
    else:
        for r in rows:
            print(f"ε={r['eps']:g}: smart {r['smart_trials_per_s']:.0f}/s, naive {r['naive_trials_per_s']:.1f}/s, "
                  f"speed-up {r['speedup']:.1f}×, max |Δ| {r['max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
