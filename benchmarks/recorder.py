"""Recorder overhead and memory: ``python benchmarks/recorder.py --json`` (issue 2, item 10).

For each model, three trainings of the same config run side by side, interleaved, ``--repeats`` times:
plain (no probe), with :class:`critnotes.recorder.UpdateRecorder` recording every step, and with a naive
tracker that copies every step's full update to host memory (as the original work did).  The ratios are
medians of the per-repeat ratios of ms/step (the training loop's own cost of forming Δw — one copy and
one subtraction per step — is part of both recorded costs).  ``peak_mem_mb`` is what each probe holds
at the end of a run (persistent buffers, histograms, stored updates), for two run lengths: flat for the
recorder, linear in steps for the naive tracker.

Targets on CPU (issue 2): ratio ≤ 1.25 for MLP-large, ≤ 1.5 for MLP-small.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

from critnotes.recorder import UpdateRecorder
from critnotes.train import Probe, TrainConfig, train


class NaiveTracker(Probe):
    """Store every step's full update on the host (steps × params float32)."""

    name = "naive"

    def __init__(self, steps: int):
        self.steps, self.rows = steps, []

    def wants_delta(self, t):
        return t < self.steps

    def on_update(self, t, delta, run):
        self.rows.append(delta.to("cpu", copy=True))

    def nbytes(self) -> int:
        return sum(r.untyped_storage().nbytes() for r in self.rows)


class StepTimer(Probe):
    """Wall-clock time between the checkpoints after update 1 and after the last update."""

    name = "timer"

    def __init__(self, device: str):
        self.device, self.stamps = device, []

    def checkpoints(self, steps):
        return (1, steps)

    def on_checkpoint(self, t, run):
        if self.device != "cpu":
            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())


def timed(cfg: TrainConfig, probes, device) -> float:
    """ms per training step of one uncached run (steps 2…end; data loading and evaluation excluded)."""
    timer = StepTimer(device)
    train(cfg, [*probes, timer], device=device, use_cache=False, progress=False)
    return 1000 * (timer.stamps[-1] - timer.stamps[0]) / (cfg.steps - 1)


def bench(model: str, steps: int, repeats: int, device: str) -> dict:
    cfg = TrainConfig(model=model, steps=steps, n_test=256)
    warm = TrainConfig(model=model, steps=3, n_test=256)
    train(warm, [UpdateRecorder(windows=((0, 3),))], device=device, use_cache=False, progress=False)
    plain, rec, naive = [], [], []
    for _ in range(repeats):
        plain.append(timed(cfg, [], device))
        rec.append(timed(cfg, [UpdateRecorder(windows=((0, steps),))], device))
        naive.append(timed(cfg, [NaiveTracker(steps)], device))
    mem = {}
    for n in (steps, 2 * steps):
        r, nv = UpdateRecorder(windows=((0, n),)), NaiveTracker(n)
        train(cfg.replace(steps=n), [r, nv], device=device, use_cache=False, progress=False)
        mem[n] = (r.state_nbytes() / 2**20, nv.nbytes() / 2**20)
    n_params = train(warm, [], device=device, use_cache=False, progress=False).n_params
    return {
        "model": model, "params": n_params, "steps": steps, "device": device, "repeats": repeats,
        "threads": torch.get_num_threads(),
        "plain_ms_per_step": round(statistics.median(plain), 3),
        "recorded_ms_per_step": round(statistics.median(rec), 3),
        "naive_ms_per_step": round(statistics.median(naive), 3),
        "ratio": round(statistics.median(r / p for r, p in zip(rec, plain)), 3),
        "naive_ratio": round(statistics.median(n / p for n, p in zip(naive, plain)), 3),
        "peak_mem_mb": {str(n): round(m[0], 3) for n, m in mem.items()},
        "naive_peak_mem_mb": {str(n): round(m[1], 1) for n, m in mem.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON line per model (default: a readable table)")
    ap.add_argument("--models", default="mlp-small,mlp-large")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed run (default: 400 small, 40 large)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    os.environ.setdefault("CRITNOTES_CACHE", "off")
    for model in args.models.split(","):
        steps = args.steps or (40 if model in ("mlp-large", "cnn", "transformer") else 400)
        row = bench(model, steps, args.repeats, args.device)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{model:12s} {row['params']:>9d} params: plain {row['plain_ms_per_step']:.2f} ms/step, "
                  f"recorded ×{row['ratio']:.2f}, naive ×{row['naive_ratio']:.2f}; memory recorder "
                  f"{row['peak_mem_mb']} MB, naive {row['naive_peak_mem_mb']} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
