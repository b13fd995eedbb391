"""On-disk cache of runs, keyed by a hash of their config; writes are atomic.

Chapters reuse each other's runs through it: the connectivity, concentration, flux and CCG chapters
all ask for the same training run and only the first one pays for it.  A cache entry is written to a
temporary file in the cache folder and moved into place with :func:`os.replace`, so an interrupted
run never leaves a half-written entry behind.

The folder is ``$CRITNOTES_CACHE`` (``off`` disables caching), else ``~/.cache/critnotes``.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

CACHE_ENV = "CRITNOTES_CACHE"
#: bump when a change to the code makes old cache entries wrong
CACHE_VERSION = 1


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when caching is off."""
    raw = os.environ.get(CACHE_ENV, "")
    if raw.strip().lower() in {"off", "0", "none", "false"}:
        return None
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "critnotes"


def _normalise(obj: Any) -> Any:
    """A JSON-able canonical form of configs (dataclasses, enums, tuples, numpy scalars)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__class__": type(obj).__name__,
                **{f.name: _normalise(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, dict):
        return {str(k): _normalise(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:  # NaN
        return "nan"
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot hash config value of type {type(obj).__name__}: {obj!r}")


def config_key(*parts: Any) -> str:
    """A 20-hex-digit key for the parts of a config (stable across sessions and machines)."""
    text = json.dumps([CACHE_VERSION, *map(_normalise, parts)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def entry_path(kind: str, key: str) -> Path | None:
    root = cache_dir()
    return None if root is None else root / kind / f"{key}.pkl"


def load(kind: str, key: str) -> Any | None:
    """The cached object, or ``None`` if absent (or unreadable, e.g. written by an older version)."""
    path = entry_path(kind, key)
    if path is None or not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # a stale entry from an incompatible version is a cache miss, not a crash
        return None


def save(kind: str, key: str, obj: Any) -> None:
    path = entry_path(kind, key)
    if path is not None:
        atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def cached(kind: str, cfg: Any, compute: Callable[[], Any], *, refresh: bool = False) -> Any:
    """``compute()`` once per distinct ``cfg``; later calls (any chapter, any process) load the result."""
    key = config_key(kind, cfg)
    if not refresh:
        hit = load(kind, key)
        if hit is not None:
            return hit
    obj = compute()
    save(kind, key, obj)
    return obj
