"""Records — the frozen dataclasses of settings and results — and their checked replace and JSON form."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

import numpy as np

C = TypeVar("C")


class ConfigError(ValueError):
    """A profile name or a config setting that does not exist."""


def replace_checked(cfg: C, **overrides) -> C:
    """``dataclasses.replace`` that names the unknown field and lists the valid ones."""
    fields = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"{type(cfg).__name__} has no setting {', '.join(map(repr, unknown))}; "
            f"valid settings: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(cfg, **overrides)


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON values: the package's one numpy → JSON conversion.

    Dicts (keys as str), lists, tuples and arrays become dicts/lists; numpy scalars Python scalars;
    a dataclass its fields (its own ``as_dict()`` if it has one); NaN becomes ``None`` and ±inf ±1e308
    (JSON has neither).
    """
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(x.as_dict() if hasattr(x, "as_dict") else dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else (1e308 if x > 0 else -1e308)
    return x


def first_difference(a: Any, b: Any, where: str = "result") -> str | None:
    """Where two results objects first differ (``"result.phases['end'].frob"``: why), else ``None``.

    Compares dataclasses field by field, dicts, lists and tuples item by item, arrays exactly (NaN equal to NaN,
    shapes and dtypes included) and anything else with ``==`` (NaN equal to NaN).  Used to check that a sweep on
    another backend (Dask, Ray) returns exactly what the local run returns."""
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        return next((d for f in dataclasses.fields(a)
                     if (d := first_difference(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}"))), None)
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{where}[{k!r}]"))), None)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{where}[{i}]"))), None)
    if isinstance(a, np.ndarray):
        same = a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
        return None if same else f"{where}: arrays differ"
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return None
    return None if a == b else f"{where}: {a!r:.40} vs {b!r:.40}"
