"""Device selection: ``"auto"`` picks cuda > mps > cpu without touching CUDA when it is absent."""

from __future__ import annotations

import logging

import torch

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)


class DeviceError(DifaceError, ValueError):
    """The requested torch device is not available."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/``"cpu"``/``"cuda[:i]"``/``"mps"`` into a :class:`torch.device`.

    ``"auto"`` returns cuda if ``torch.cuda.is_available()``, else mps if available, else cpu.
    An explicit device that is not available raises :class:`DeviceError`.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was requested but CUDA is not available here; use --device auto or cpu")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device {device!r} was requested but MPS is not available here; use auto or cpu")
    return dev


def canonical_device(device: torch.device) -> torch.device:
    """``device`` with an index: ``cuda`` is the current GPU (``cuda:0`` unless set otherwise), as a
    parameter moved there reports it, so ``cuda`` and ``cuda:0`` compare equal; other devices as given."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device
