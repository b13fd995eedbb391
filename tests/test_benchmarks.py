"""Benchmark scripts that must behave on any machine: the GPU check without CUDA says so and exits 0."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_without_cuda_exits_0_and_says_so():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}          # hide any GPU: the no-CUDA path on every machine
    p = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["cuda"] is False and "no CUDA device" in out["message"]
