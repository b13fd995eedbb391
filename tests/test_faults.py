"""Fault injection for the run cache: every way an entry can be stale, lie, be planted or be lost."""
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from critnotes.probes.base import Probe
from critnotes.training import cache
from critnotes.training.loop import TrainConfig, train


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A fresh private cache folder, seen as 'first access of this process'."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CRITNOTES_CACHE", str(folder))
    monkeypatch.setattr(cache, "_cleaned", set())
    return folder


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value
    return compute, calls


def write_module(folder, name, body):
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """Import tiny producing modules from a temporary folder (no .pyc, so an edit is always re-read)."""
    folder = tmp_path / "src"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield lambda name, body: write_module(folder, name, body)
    for name in ("tinyprod", "tinyother"):
        sys.modules.pop(name, None)


def entry_files(root, kind):
    return sorted((root / kind).glob("*.pkl"))


# --- stale results after a code change ------------------------------------------------------------
def test_code_change_misses_unchanged_code_hits(root, modules):
    v1 = "def produce(x):\n    return x + 1\n"
    v2 = "def produce(x):\n    return x + 10\n"
    calls = []

    def run():
        mod = sys.modules["tinyprod"]
        return cache.cached("tiny", {"x": 1}, lambda: calls.append(1) or mod.produce(1), code=[mod.produce])

    modules("tinyprod", v1)
    assert run() == 2 and run() == 2 and len(calls) == 1        # computed once, then a hit
    modules("tinyprod", v2)
    assert run() == 11 and len(calls) == 2                      # the edit is a miss: no stale 2
    modules("tinyprod", v2)
    assert run() == 11 and len(calls) == 2                      # re-imported unchanged: a hit
    modules("tinyprod", v1)
    assert run() == 2 and len(calls) == 2                       # back to v1: its entry is still valid


def test_fingerprint_dedupes_modules_and_tracks_each(modules):
    a = modules("tinyprod", "def f():\n    return 1\n\nclass C:\n    pass\n")
    b = modules("tinyother", "def g():\n    return 2\n")
    fp = cache.code_fingerprint
    assert fp([a.f, a.C, a]) == fp([a]) != fp([a, b.g])
    assert fp([b.g, a.f]) == fp([a.f, b.g])
    with pytest.raises(TypeError, match="source is not available.*define the code in a .py module"):
        fp([sys])                                               # a built-in module has no source to hash


def test_nested_entry_misses_when_code_of_inner_cached_call_changes(root, modules):
    """A chapter cell computed from a cached run must go stale when the run's code changes."""
    outer_calls = []

    def outer():
        inner = sys.modules["tinyprod"]
        return cache.cached("outer", "cell", lambda: outer_calls.append(1) or
                            100 * cache.cached("inner", "run", inner.f, code=[inner.f]))

    modules("tinyprod", "def f():\n    return 1\n")
    assert outer() == 100 and outer() == 100 and len(outer_calls) == 1
    modules("tinyprod", "def f():\n    return 2\n")
    assert outer() == 200 and len(outer_calls) == 2


def test_train_call_site_fingerprints_loop_model_data_device_and_probe_modules(monkeypatch):
    class Nop(Probe):
        name = "nop"

    seen = {}
    monkeypatch.setattr(cache, "cached", lambda kind, cfg, compute, **kw: seen.update(kw) or "stub")
    assert train(TrainConfig(steps=1), [Nop()], device="cpu") == "stub"
    names = set(cache._module_hashes(seen["code"]))
    assert {"critnotes.training.loop", "critnotes.training.models", "critnotes.training.data", "critnotes.training.device", __name__} <= names
    assert seen["expect"].__name__ == "TrainResult"


# --- entries that lie -----------------------------------------------------------------------------
def test_corrupted_payload_is_a_miss_checked_before_unpickling(root, monkeypatch):
    compute, calls = counting({"v": 1})
    cache.cached("k", "a", compute)
    (path,) = entry_files(root, "k")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    real_loads = cache.pickle.loads
    monkeypatch.setattr(cache.pickle, "loads", lambda b: pytest.fail("unpickled a corrupted payload"))
    with pytest.warns(cache.CacheWarning, match=f"{path.name}.*SHA-256"):
        assert cache.cached("k", "a", compute) == {"v": 1}
    monkeypatch.setattr(cache.pickle, "loads", real_loads)
    assert len(calls) == 2
    cache.cached("k", "a", compute)                            # overwritten: a silent hit now
    assert len(calls) == 2


def test_entry_copied_over_another_key_is_a_miss(root):
    cache.cached("k", "a", lambda: "result of a")
    cache.cached("k", "b", lambda: "result of b")
    files = {p.read_bytes(): p for p in entry_files(root, "k")}
    pa, pb = (next(p for d, p in files.items() if s.encode() in d) for s in ("result of a", "result of b"))
    shutil.copyfile(pa, pb)
    with pytest.warns(cache.CacheWarning, match=f"{pb.name}.*another key"):
        assert cache.cached("k", "b", lambda: "result of b") == "result of b"
    assert b"result of b" in pb.read_bytes()


def test_valid_pickle_of_the_wrong_type_is_a_miss(root):
    cache.cached("k", "a", lambda: "a string", expect=None)
    with pytest.warns(cache.CacheWarning, match="holds a str, not the expected"):
        assert cache.cached("k", "a", lambda: {"ok": True}, expect=dict) == {"ok": True}
    assert cache.cached("k", "a", lambda: pytest.fail("recomputed"), expect=dict) == {"ok": True}


def test_bare_pickle_planted_at_an_entry_path_is_a_miss(root):
    cache.cached("k", "a", lambda: 1)
    (path,) = entry_files(root, "k")
    path.write_bytes(cache.pickle.dumps(2))
    with pytest.warns(cache.CacheWarning, match="not a critnotes cache entry"):
        assert cache.cached("k", "a", lambda: 1) == 1


# --- code execution: only private folders are loaded ----------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_insecure_folders_and_files_are_refused(root, monkeypatch):
    cache.cached("k", "a", lambda: 1)
    assert (root.stat().st_mode & 0o777, (root / "k").stat().st_mode & 0o777) == (0o700, 0o700)
    (path,) = entry_files(root, "k")
    for target, mode in ((root, 0o777), (root / "k", 0o770), (path, 0o666)):
        old = target.stat().st_mode & 0o777
        target.chmod(mode)
        with pytest.raises(cache.CacheSecurityError, match=f"{re.escape(str(target))} is group.*chmod go-w"):
            cache.cached("k", "a", lambda: pytest.fail("computed before the security check"))
        target.chmod(old)
    monkeypatch.setattr(cache.os, "geteuid", lambda: os.stat(root).st_uid + 1)
    with pytest.raises(cache.CacheSecurityError, match=f"{re.escape(str(root))} is owned by user id .*CRITNOTES_CACHE"):
        cache.cached("k", "a", lambda: 1)


# --- unwritable cache: the result is kept ---------------------------------------------------------
def test_unwritable_location_returns_the_result_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CRITNOTES_CACHE", str(blocker / "cache"))
    with pytest.warns(cache.CacheWarning, match=f"could not save to {re.escape(str(blocker / 'cache' / 'k'))}.*CACHE"):
        assert cache.cached("k", "a", lambda: 42) == 42


def test_full_disk_returns_the_result_with_a_warning(root, monkeypatch):
    def full(path, *chunks):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(cache, "atomic_write_bytes", full)
    with pytest.warns(cache.CacheWarning, match="No space left.*returned but not cached"):
        assert cache.cached("k", "a", lambda: [1, 2]) == [1, 2]


# --- killed writes and their orphans --------------------------------------------------------------
def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_orphan_cleanup_removes_dead_and_old_temporaries_only(root, monkeypatch):
    host = cache._tmp_prefix().split("-")[1]
    (root / "k").mkdir(parents=True)
    dead = dead_pid()
    names = {"dead": f"k/.tmp-{host}-{dead}-abc", "live": f"k/.tmp-{host}-{os.getpid()}-abc",
             "other-host": f".tmp-elsewhere-{dead}-abc", "old": f"k/.tmp-elsewhere-{dead}-old",
             "legacy": "k/.tmp-q1w2e3"}
    for n in names.values():
        (root / n).write_bytes(b"x" * 10)
    two_days_ago = time.time() - 2 * 86400
    os.utime(root / names["old"], (two_days_ago, two_days_ago))
    cache.cached("k", "a", lambda: 1)                          # first access of this process cleans
    left = {k for k, n in names.items() if (root / n).exists()}
    assert left == {"live", "other-host", "legacy"}
    (root / names["live"]).unlink()
    (root / names["dead"]).write_bytes(b"x")
    cache.cached("k", "a", lambda: 1)                          # later accesses do not rescan
    assert (root / names["dead"]).exists()


CHILD = """
import os, sys, time
from critnotes.training import cache
real_fdopen = os.fdopen

class Slow:                                  # writes 64 KiB at a time, slowly, so the kill lands mid-write
    def __init__(self, fh): self.fh = fh
    def __enter__(self): return self
    def __exit__(self, *exc): return self.fh.__exit__(*exc)
    def __getattr__(self, name): return getattr(self.fh, name)
    def write(self, b):
        mv = memoryview(b)
        for i in range(0, len(mv), 1 << 16):
            self.fh.write(mv[i:i + (1 << 16)]); self.fh.flush(); time.sleep(0.01)

os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
cache.cached("big", "payload", lambda: bytes(8 << 20))
print("finished")
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_during_write_leaves_no_entry_and_the_orphan_is_cleaned(root, monkeypatch):
    env = {**os.environ, "CRITNOTES_CACHE": str(root), "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE)
    deadline = time.time() + 20
    tmp = []
    while time.time() < deadline and not any(p.stat().st_size > 1 << 20 for p in tmp):
        time.sleep(0.02)
        tmp = list((root / "big").glob(".tmp-*")) if (root / "big").exists() else []
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.stdout.read() == b"" and len(tmp) == 1 and f"-{child.pid}-" in tmp[0].name
    assert tmp[0].stat().st_size < (8 << 20)                    # killed mid-write
    assert entry_files(root, "big") == []                      # no partial entry was published
    compute, calls = counting(b"recomputed")
    assert cache.cached("big", "payload", compute, expect=bytes) == b"recomputed" and calls == [1]
    assert not tmp[0].exists()                                 # the next start removed the orphan
