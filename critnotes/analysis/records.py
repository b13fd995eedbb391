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
