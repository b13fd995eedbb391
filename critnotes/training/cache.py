"""On-disk cache of runs, keyed by their config and the code that produced them; writes are atomic.

Chapters reuse each other's runs through it: the connectivity, concentration, flux and CCG chapters
all ask for the same training run and only the first one pays for it.  The folder is
``$CRITNOTES_CACHE`` (``off`` disables caching), else ``~/.cache/critnotes``; entries live in
``<folder>/<kind>/<key>.pkl``.

**Key.**  :func:`cached` hashes a canonical JSON text of (entry format, kind, config, code
fingerprint, torch and numpy versions).  The code fingerprint (:func:`code_fingerprint`) is a hash
of the source files of the modules that define the ``code=`` objects, so editing the training loop,
a model or a probe makes old entries misses by themselves.  Entries also record the modules of any
cached call made while they were computed (e.g. the ``train`` run inside a chapter's cell) and miss
when one of those changed.  ``FORMAT_VERSION`` is the version of the entry layout only.

**Entries are checked before they are trusted.**  An entry file is a magic line, a JSON header (key,
key text, config, code modules, payload size and SHA-256) and the pickled payload.  Loading checks
the header against the requested key text and the payload against its SHA-256 *before* unpickling,
and the unpickled object against ``expect=``; any mismatch (a flipped byte, an entry copied over
another key, an object of the wrong type) is a miss with a :class:`CacheWarning` naming the file,
and the entry is recomputed and overwritten.  A result that cannot be saved (read-only folder, full
disk) is returned with a warning instead of being lost.

**Security.**  Unpickling runs code, so a cache must be writable only by you: folders are created
with mode 0o700, and on POSIX a cache folder, kind folder or entry that is group- or
world-writable, or owned by another user, raises :class:`CacheSecurityError` before anything is
loaded.  To share a cache on a course's JupyterHub, give each user their own folder (the default
``~/.cache/critnotes`` is per user); an instructor may pre-fill a cache that others can read but not
write, which students copy into their own folder (``cp -r /srv/course/critnotes-cache
~/.cache/critnotes && chmod -R go-w ~/.cache/critnotes``) — pointing ``$CRITNOTES_CACHE`` at the
instructor's folder itself is refused by design.  On Windows the permission checks are skipped
(POSIX mode bits and owners do not apply there).

**Interrupted writes.**  An entry is written to ``.tmp-<host>-<pid>-<random>`` in its folder and
moved into place with :func:`os.replace`, so a killed run never leaves a half-written entry; the
first cache access of a process removes temporaries of dead processes on this host and any older
than a day (:func:`clean_orphans`).
"""
from __future__ import annotations

import contextvars
import dataclasses
import enum
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import os
import pickle
import re
import socket
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

CACHE_ENV = "CRITNOTES_CACHE"
#: version of the entry layout (header + payload); the code itself is covered by the fingerprint
FORMAT_VERSION = 2
MAGIC = b"critnotes-cache\n"
ORPHAN_AGE_S = 24 * 3600
_MISS = object()
_cleaned: set[str] = set()
_nested: contextvars.ContextVar[tuple[dict, ...]] = contextvars.ContextVar("critnotes_cache_nested", default=())


class CacheSecurityError(RuntimeError):
    """The cache folder or an entry could be written by someone else, so loading it could run their code."""


class CacheWarning(UserWarning):
    """A cache entry was ignored (and recomputed) or a result could not be saved."""


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


def key_text(*parts: Any) -> str:
    """The canonical JSON text a key is hashed from (stable across sessions and machines)."""
    return json.dumps([FORMAT_VERSION, *map(_normalise, parts)], sort_keys=True, separators=(",", ":"))


def config_key(*parts: Any) -> str:
    """A 20-hex-digit key for the parts of a config: a hash of :func:`key_text`."""
    return _digest(key_text(*parts))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# --- code fingerprint -----------------------------------------------------------------------------
def _module_of(obj: Any):
    mod = obj if inspect.ismodule(obj) else inspect.getmodule(obj)
    if mod is None:
        raise TypeError(f"code= takes modules, classes or functions; cannot find the module of {obj!r}")
    return mod


def _source_hash(mod) -> str:
    """SHA-256 of a module's source file as it is on disk now (read directly: no stale line cache)."""
    try:
        path = inspect.getsourcefile(mod)
        if path is None:
            raise OSError("no source file")
        src = Path(path).read_bytes()
    except (OSError, TypeError) as e:
        raise TypeError(f"cannot fingerprint module {mod.__name__!r}: its source is not available ({e}); "
                        f"define the code in a .py module, or run without the cache") from None
    return hashlib.sha256(src).hexdigest()


def _module_hashes(objs: Iterable[Any]) -> dict[str, str]:
    mods = {m.__name__: m for m in map(_module_of, objs)}
    return {name: _source_hash(m) for name, m in sorted(mods.items())}


def code_fingerprint(objs: Iterable[Any]) -> str:
    """SHA-256 of the source of the modules defining ``objs`` (modules, classes or functions; deduped)."""
    return _fingerprint(_module_hashes(objs))


def _fingerprint(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("torch", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _current_hash(name: str) -> str | None:
    try:
        return _source_hash(importlib.import_module(name))
    except Exception:  # a module that is gone or has no source: the entry cannot be trusted
        return None


# --- files ----------------------------------------------------------------------------------------
def _tmp_prefix() -> str:
    host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
    return f".tmp-{host}-{os.getpid()}-"


_TMP_RE = re.compile(r"^\.tmp-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-[^-]+$")


def _make_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)


def atomic_write_bytes(path: Path, *chunks: bytes) -> None:
    """Write ``chunks`` to ``path`` so that readers see either the old file or the whole new one.

    Missing folders are created with mode 0o700; the temporary file is ``.tmp-<host>-<pid>-…``.
    """
    path = Path(path)
    _make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def clean_orphans(root: Path | None = None, max_age_s: float = ORPHAN_AGE_S) -> list[Path]:
    """Remove temporaries under ``root`` left by dead processes on this host or older than ``max_age_s``."""
    root = Path(root) if root is not None else cache_dir()
    if root is None or not root.is_dir():
        return []
    host = _tmp_prefix().split("-")[1]
    removed = []
    for p in root.rglob(".tmp-*"):
        try:
            old = time.time() - p.lstat().st_mtime > max_age_s
            m = _TMP_RE.match(p.name)
            dead = bool(m) and m["host"] == host and os.name == "posix" and not _alive(int(m["pid"]))
            if old or dead:
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # it exists but belongs to another user
        pass
    return True


def check_private(path: Path) -> None:
    """Raise :class:`CacheSecurityError` if ``path`` is group/world-writable or not owned by you (POSIX)."""
    if os.name != "posix":
        return
    st = os.stat(path)
    fix = (f"Fix: `chmod go-w {path}` if the folder is yours, or set ${CACHE_ENV} to a private folder "
           f"(e.g. ~/.cache/critnotes)")
    if st.st_mode & 0o022:
        raise CacheSecurityError(f"refusing to use the cache: {path} is group- or world-writable (mode "
                                 f"{oct(st.st_mode & 0o777)}), so someone else could plant an entry that runs "
                                 f"code when it is unpickled. {fix}.")
    if st.st_uid != os.geteuid():
        raise CacheSecurityError(f"refusing to use the cache: {path} is owned by user id {st.st_uid}, not you "
                                 f"({os.geteuid()}); loading their pickles would run their code. Copy the entries "
                                 f"into a folder of your own and set ${CACHE_ENV} to it.")


def _prepare(kind: str) -> Path | None:
    """The cache folder after the security checks of what exists, and (once per process) orphan cleanup."""
    root = cache_dir()
    if root is None:
        return None
    for p in (root, root / kind):
        if p.exists():
            check_private(p)
    if str(root) not in _cleaned:
        _cleaned.add(str(root))
        clean_orphans(root)
    return root


def entry_path(kind: str, key: str) -> Path | None:
    root = cache_dir()
    return None if root is None else root / kind / f"{key}.pkl"


def _load(root: Path, kind: str, key: str, text: str, expect):
    """The entry's object and its header, or ``(_MISS, None)``; lying entries warn (see module doc)."""
    path = root / kind / f"{key}.pkl"
    if not path.exists():
        return _MISS, None
    check_private(path)

    def bad(why):
        warnings.warn(f"critnotes cache: ignoring {path}: {why}; recomputing and overwriting it", CacheWarning,
                      stacklevel=4)
        return _MISS, None

    data = path.read_bytes()
    nl = data.find(b"\n", len(MAGIC))
    try:
        if not data.startswith(MAGIC) or nl < 0:
            raise ValueError
        head = json.loads(data[len(MAGIC):nl])
        if not isinstance(head, dict):
            raise ValueError
    except ValueError:
        return bad("not a critnotes cache entry (no header; an old format or a foreign file)")
    if head.get("format") != FORMAT_VERSION:
        return _MISS, None                                     # an older layout: a plain miss
    if head.get("key") != key or head.get("key_text") != text:
        return bad("it was written for another key (copied or renamed entry)")
    payload = memoryview(data)[nl + 1:]
    if len(payload) != head.get("size") or hashlib.sha256(payload).hexdigest() != head.get("sha256"):
        return bad("its payload does not match its SHA-256 (corrupted or truncated)")
    if any(_current_hash(name) != h for name, h in head.get("modules", {}).items()):
        return _MISS, None                                     # code it depended on changed: a plain miss
    try:
        obj = pickle.loads(payload)
    except Exception as e:
        return bad(f"it does not unpickle ({type(e).__name__}: {e})")
    if expect is not None and not isinstance(obj, expect):
        return bad(f"it holds a {type(obj).__name__}, not the expected {expect}")
    return obj, head


def load(kind: str, key: str, *, key_text: str | None = None, expect=None) -> Any | None:
    """The cached object, or ``None`` when absent, stale or failing a check (``key_text`` defaults to ``key``)."""
    root = _prepare(kind)
    obj = _MISS if root is None else _load(root, kind, key, key if key_text is None else key_text, expect)[0]
    return None if obj is _MISS else obj


def save(kind: str, key: str, obj: Any, *, key_text: str | None = None, config: Any = None,
         modules: dict[str, str] | None = None) -> Path | None:
    """Write ``obj`` as entry ``key`` of ``kind`` with its header (see module doc); the path written."""
    path = entry_path(kind, key)
    if path is None:
        return None
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    head = {"format": FORMAT_VERSION, "kind": kind, "key": key, "key_text": key if key_text is None else key_text,
            "config": _normalise(config), "modules": modules or {}, "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest()}
    _make_private_dir(path.parent.parent)
    atomic_write_bytes(path, MAGIC, json.dumps(head, sort_keys=True).encode() + b"\n", payload)
    return path


def cached(kind: str, cfg: Any, compute: Callable[[], Any], *, code: Iterable[Any] = (), refresh: bool = False,
           expect: type | tuple[type, ...] | None = None) -> Any:
    """``compute()`` once per distinct (``cfg``, source of ``code``, torch/numpy versions); later calls load it.

    ``code``: the modules, classes or functions whose defining modules produce the entry;
    ``expect``: the type(s) the entry must have.  Raises :class:`CacheSecurityError` (before any
    compute) when the cache folder is not private.
    """
    root = _prepare(kind)
    if root is None:
        return compute()
    modules = _module_hashes(code)
    text = key_text(kind, cfg, {"code": _fingerprint(modules), **_versions()})
    key = _digest(text)
    if not refresh:
        obj, head = _load(root, kind, key, text, expect)
        if obj is not _MISS:
            _record(head["modules"])
            return obj
    frames = _nested.get()
    token = _nested.set(frames + (dict(modules),))
    try:
        obj = compute()
        modules = _nested.get()[-1]
    finally:
        _nested.reset(token)
    _record(modules)
    try:
        save(kind, key, obj, key_text=text, config=cfg, modules=modules)
    except OSError as e:
        warnings.warn(f"critnotes cache: could not save to {root / kind} ({e}); the result is returned but "
                      f"not cached. Fix: free disk space or make the folder writable, or set ${CACHE_ENV} to "
                      f"a writable folder (or to 'off').", CacheWarning, stacklevel=2)
    return obj


def _record(modules: dict[str, str]) -> None:
    """Add ``modules`` to the dependencies of the enclosing :func:`cached` computation, if any."""
    frames = _nested.get()
    if frames:
        frames[-1].update(modules)
