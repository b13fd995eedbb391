"""Device selection: ``auto`` uses CUDA when present, else CPU."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "CRITNOTES_DEVICE"


class DeviceError(ValueError):
    """A device name that is not a torch device, or a device this machine does not have."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` reads ``$CRITNOTES_DEVICE`` (default ``auto``); ``auto`` → ``cuda`` if available else ``cpu``.

    Any torch device string of type ``cpu``, ``cuda`` or ``mps`` is accepted (``cuda:1``); one this
    machine lacks raises a :class:`DeviceError` that names where the name came from and the fix.
    """
    if isinstance(device, torch.device):
        return device
    src = "" if device is not None else f" (from ${DEVICE_ENV})"
    name = (device if device is not None else os.environ.get(DEVICE_ENV, "auto")).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}{src}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise DeviceError(f"device {name!r}{src} requested but CUDA is not available on this machine; "
                              "use --device cpu or --device auto (CUDA when present)")
        if dev.index is not None and dev.index >= n:
            raise DeviceError(f"device {name!r}{src} does not exist: this machine has {n} CUDA device(s) "
                              f"(cuda:0 … cuda:{n - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r}{src} requested but MPS is not available on this machine; "
                          "use --device cpu or --device auto")
    return dev
