"""Device selection: ``auto`` uses CUDA when present, else CPU."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "CRITNOTES_DEVICE"


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` reads ``$CRITNOTES_DEVICE`` (default ``auto``); ``auto`` → ``cuda`` if available else ``cpu``."""
    if isinstance(device, torch.device):
        return device
    name = (device or os.environ.get(DEVICE_ENV, "auto")).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available here; use --device cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return torch.device(name)
