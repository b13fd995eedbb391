"""Layer discovery on any PyTorch model: the one place that decides which modules are "layers".

Every tool that needs a model's layers (probes, CCG extraction, perturbation scans, criticality
metrics) asks :func:`find_layers` instead of walking a particular model class by hand, so the same
tools work on the book's MLPs and on a user's own network.
"""
from __future__ import annotations

import fnmatch
from typing import Iterable

from torch import nn


def find_layers(model: nn.Module, *, types: type | tuple[type, ...] | None = (nn.Linear,),
                names: str | Iterable[str] | None = None) -> dict[str, nn.Module]:
    """Submodules of ``model`` in definition order, as ``{qualified name: module}``.

    ``types`` keeps modules of these classes (``None``: any class); ``names`` keeps modules whose
    qualified name (as in :meth:`torch.nn.Module.named_modules`, e.g. ``"encoder.0"``) matches one of
    these exact names or shell patterns (``"blocks.*.fc"``).  Each name or pattern must match at least
    one module, so a typo is an error rather than an empty selection; with explicit ``names`` the
    result keeps the model's order, not the order of ``names``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"find_layers needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(names, str):
        names = [names]
    patterns = None if names is None else list(names)
    every = [(n, m) for n, m in model.named_modules() if n]        # "" is the model itself
    if patterns is not None:
        known = [n for n, _ in every]
        for p in patterns:
            if not any(fnmatch.fnmatchcase(n, p) for n in known):
                raise ValueError(f"no module of {type(model).__name__} is named {p!r}; "
                                 f"its modules are: {', '.join(known) or '(none)'}")
        every = [(n, m) for n, m in every if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if types is not None:
        every = [(n, m) for n, m in every if isinstance(m, types)]
    if not every:
        what = "any" if types is None else "/".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ValueError(f"{type(model).__name__} has no {what} layer"
                         + ("" if patterns is None else f" among the modules named {patterns}"))
    return dict(every)
