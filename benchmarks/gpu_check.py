"""The GPU check (issue 16 §5): one short script, a few minutes on a CUDA machine, printing one JSON object.

1. the recorder benchmark rows on CUDA (``benchmarks/recorder.py``, run as a subprocess);
2. chapters 1 (``updates``) and 6 (``connectivity``) on the ``ci`` profile with ``--device cuda``
   through the command line (``python -m critnotes reproduce … --out …``).

Without CUDA it says so and exits 0.  Exit status 1 when a step fails or times out.

    python benchmarks/gpu_check.py [--out DIR] [--timeout 150]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("updates", "connectivity")      # chapters 1 and 6


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``cmd`` in the repository root; its status, wall time, JSON lines printed and output tail."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", exc.stdout or "", f"timed out after {timeout:g} s"
        out = out.decode() if isinstance(out, bytes) else out
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return {"cmd": " ".join(cmd[1:]), "rc": rc, "ok": rc == 0, "seconds": time.perf_counter() - t0, "json": rows,
            "tail": (out + err)[-1500:] if rc != 0 else ""}


def recorder_rows(timeout: float) -> dict:
    """The recorder benchmark on CUDA, its quick mode if it has one."""
    base = [sys.executable, "benchmarks/recorder.py", "--json", "--device", "cuda"]
    res = _run(base + ["--quick"], timeout)
    if not res["ok"] and "unrecognized arguments" in res["tail"]:
        res = _run(base + ["--repeats", "2"], timeout)
    return res


def chapter(cid: str, out: Path, timeout: float) -> dict:
    res = _run([sys.executable, "-m", "critnotes", "reproduce", cid, "--profile", "ci", "--device", "cuda",
                "--out", str(out)], timeout, env={"CRITNOTES_CACHE": str(out / "cache")})   # trains on the GPU
    path = out / f"{cid}.json"
    if res["ok"] and path.exists():
        saved = json.loads(path.read_text())
        res["result"] = {k: saved[k] for k in ("chapter", "profile", "device", "seconds") if k in saved}
        res["n_claims"] = len(saved.get("claims", []))
    elif res["ok"]:
        res.update(ok=False, tail=f"no {path} written")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="folder for the chapters' JSON (default: a temporary folder)")
    ap.add_argument("--timeout", type=float, default=150.0, help="seconds per step")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_check", "cuda": False,
                          "message": "no CUDA device available: GPU check skipped (nothing to measure on this machine)"}))
        return 0
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="critnotes-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    steps = {"recorder": recorder_rows(args.timeout)}
    for cid in CHAPTERS:
        steps[cid] = chapter(cid, out, args.timeout)
    ok = all(s["ok"] for s in steps.values())
    print(json.dumps({"benchmark": "gpu_check", "cuda": True, "device_name": torch.cuda.get_device_name(0),
                      "torch": torch.__version__, "ok": ok, "seconds": time.perf_counter() - t0, "out": str(out),
                      "steps": steps, "pid": os.getpid()}, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
