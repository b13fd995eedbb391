"""Recorder overhead and memory: ``python benchmarks/recorder.py [--quick]`` prints one JSON line per row
(issue 2, item 10; issue 16 §1).

Rows ``"path": "flat"`` time the book's :func:`critnotes.training.loop.train` with and without the
:class:`~critnotes.probes.update_recorder.UpdateRecorder` probe (the loop forms Δw once per step in a flat buffer),
plus a naive tracker that copies every step's full update to host memory (as the original work did).
Rows ``"path": "hook"`` time a plain user loop (SGD, batch 64) with and without
``UpdateRecorder.attach(model, optimizer)`` (optimizer step hooks).  Every configuration of a row runs
once per repeat, interleaved; ``*_ms_per_step`` and ``ratio`` (per-repeat ratio of ms/step to the plain
run) are medians, with ``*_iqr`` the quartiles across repeats.  ``peak_mem_mb`` is what the recorder
holds at the end of runs of two lengths (flat in steps; the naive tracker grows linearly).  ``"scaling"``
rows give both paths for 3-layer MLPs 784-h-h-10 of ~10⁴ to ~10⁷ parameters.  ``every_ratio`` times the
documented sampling option ``UpdateRecorder(every=4)`` (a quarter of the steps counted) on the flat path.

Targets on CPU (issue 16): ratio ≤ 1.25 for MLP-large (3.8×10⁶ parameters), ≤ 1.2 for MLP-small (47k).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

from critnotes.probes.base import Probe
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.data import load_dataset
from critnotes.training.loop import TrainConfig, train
from critnotes.training.models import build_model

#: the sampling option timed next to the exact recorder (``UpdateRecorder(every=EVERY)``: every 4th step)
EVERY = 4
#: hidden widths h of the scaling rows (784-h-h-10: ≈1e4, 1e5, 1e6, 1e7 parameters)
SCALING_WIDTHS = (12, 110, 620, 2800)


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
        _sync(self.device)
        self.stamps.append(time.perf_counter())


def _sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def flat_ms(cfg: TrainConfig, probes, device) -> float:
    """ms per step of one uncached train() run (steps 2…end; data loading and evaluation excluded)."""
    timer = StepTimer(device)
    train(cfg, [*probes, timer], device=device, use_cache=False, progress=False)
    return 1000 * (timer.stamps[-1] - timer.stamps[0]) / (cfg.steps - 1)


def hook_ms(cfg: TrainConfig, data, rec: UpdateRecorder | None, device) -> float:
    """ms per step (steps 2…end) of a plain user loop, optionally with ``rec`` attached."""
    model = build_model(cfg.model, hidden=cfg.hidden, seed=cfg.seed).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    x_all, y_all = data
    batches = torch.randint(0, len(y_all), (cfg.steps, 64), generator=torch.Generator().manual_seed(0)).to(device)
    if rec is not None:
        rec.attach(model, opt)
    for t in range(cfg.steps):
        if t == 1:
            _sync(device)
            t0 = time.perf_counter()
        x, y = x_all[batches[t]], y_all[batches[t]]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(device)
    ms = 1000 * (time.perf_counter() - t0) / (cfg.steps - 1)
    if rec is not None:
        rec.detach()
    return ms


def _summary(values) -> tuple[float, list[float]]:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return round(float(med), 3), [round(float(q1), 3), round(float(q3), 3)]


def _timings(cfg, data, repeats, device, naive: bool) -> dict:
    """Interleaved repeats of every configuration; medians and quartiles of ms/step and ratios."""
    ms = {k: [] for k in ("flat_plain", "flat_rec", "flat_every", "naive", "hook_plain", "hook_rec")}
    window = ((0, cfg.steps),)
    for _ in range(repeats):
        ms["flat_plain"].append(flat_ms(cfg, [], device))
        ms["flat_rec"].append(flat_ms(cfg, [UpdateRecorder(windows=window)], device))
        ms["flat_every"].append(flat_ms(cfg, [UpdateRecorder(windows=window, every=EVERY)], device))
        if naive:
            ms["naive"].append(flat_ms(cfg, [NaiveTracker(cfg.steps)], device))
        ms["hook_plain"].append(hook_ms(cfg, data, None, device))
        ms["hook_rec"].append(hook_ms(cfg, data, UpdateRecorder(windows=window), device))
    out = {}
    for path, plain in (("flat", "flat_plain"), ("hook", "hook_plain")):
        rec = f"{path}_rec"
        p_med, p_iqr = _summary(ms[plain])
        r_med, r_iqr = _summary(ms[rec])
        ratio, ratio_iqr = _summary([r / p for r, p in zip(ms[rec], ms[plain])])
        out[path] = {"plain_ms_per_step": p_med, "plain_iqr": p_iqr, "recorded_ms_per_step": r_med,
                     "recorded_iqr": r_iqr, "ratio": ratio, "ratio_iqr": ratio_iqr}
    out["flat"]["every"] = EVERY
    out["flat"]["every_ratio"], out["flat"]["every_ratio_iqr"] = _summary(
        [e / p for e, p in zip(ms["flat_every"], ms["flat_plain"])])
    if naive:
        out["flat"]["naive_ratio"], out["flat"]["naive_ratio_iqr"] = _summary(
            [n / p for n, p in zip(ms["naive"], ms["flat_plain"])])
    return out


def _memory(cfg, data, device, naive: bool) -> dict:
    """MB held by the recorder at the end of runs of ``steps`` and ``2·steps`` (both paths)."""
    mem = {"flat": {}, "hook": {}, "naive": {}}
    for n in (cfg.steps, 2 * cfg.steps):
        r = UpdateRecorder(windows=((0, n),))
        probes = [r] + ([NaiveTracker(n)] if naive else [])
        train(cfg.replace(steps=n), probes, device=device, use_cache=False, progress=False)
        mem["flat"][str(n)] = round(r.state_nbytes() / 2**20, 3)
        if naive:
            mem["naive"][str(n)] = round(probes[1].nbytes() / 2**20, 1)
        h = UpdateRecorder(windows=((0, n),))
        hook_ms(cfg.replace(steps=n), data, h, device)
        mem["hook"][str(n)] = round(h.state_nbytes() / 2**20, 3)
    if not naive:
        del mem["naive"]
    return mem


def bench(cfg: TrainConfig, repeats: int, device: str, row: str, naive: bool = True) -> dict:
    d = load_dataset(cfg.dataset).subset(cfg.n_train, cfg.n_test, seed=cfg.seed).to(device)
    data = (d.x_train, d.y_train)
    n_params = sum(p.numel() for p in build_model(cfg.model, hidden=cfg.hidden).parameters())
    out = {"row": row, "model": cfg.model, "hidden": list(cfg.hidden or ()), "params": n_params,
           "steps": cfg.steps, "device": device, "repeats": repeats, "threads": torch.get_num_threads()}
    out.update(_timings(cfg, data, repeats, device, naive))
    out["peak_mem_mb"] = _memory(cfg, data, device, naive)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps and one repeat: checks that it runs (< 1 min)")
    ap.add_argument("--models", default="mlp-small,mlp-large")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed run (default: 1000 small, 200 large)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5; --quick: 1)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling rows")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    os.environ.setdefault("CRITNOTES_CACHE", "off")
    repeats = args.repeats or (1 if args.quick else 5)
    base = TrainConfig(n_train=1024, n_test=64, lr=0.01)
    warm = base.replace(steps=3)                          # compile/load the counting kernel, fill caches
    train(warm, [UpdateRecorder(windows=((0, 3),))], device=args.device, use_cache=False, progress=False)
    for model in args.models.split(","):
        large = model in ("mlp-large", "cnn", "transformer")
        steps = args.steps or ((20 if large else 60) if args.quick else (200 if large else 1000))
        print(json.dumps(bench(base.replace(model=model, steps=steps), repeats, args.device, "model")), flush=True)
    if not args.no_scaling:
        for h in SCALING_WIDTHS:
            steps = 6 if args.quick else max(20, int(4e8 // (794 * h + h * h)) // 100 * 100 // 10)
            cfg = base.replace(model="mlp-3layer", hidden=(h, h), steps=steps)
            print(json.dumps(bench(cfg, repeats, args.device, "scaling", naive=False)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
