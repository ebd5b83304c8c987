"""Run-time device choice: the core never hard-codes a device."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name``: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` when CUDA is asked for but absent.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda[:N]")
