"""Torch sequence-to-function models (SAGE-net-family CNN), their files and devices.

:class:`CNNConfig` is importable without torch (:mod:`ps2f.models.config`); the torch names
(:class:`S2FCNN`, :func:`save_model`, :func:`load_model`, :func:`resolve_device`) are imported
lazily, on first access, so that ``import ps2f.models.config`` at workflow parse time does not
import torch.
"""

import importlib
from typing import Any

from ps2f.models.config import CNNConfig

__all__ = ["CNNConfig", "S2FCNN", "load_model", "resolve_device", "save_model"]

#: Where each lazily imported name lives.
_LAZY = {
    "S2FCNN": "ps2f.models.cnn",
    "load_model": "ps2f.models.serialization",
    "save_model": "ps2f.models.serialization",
    "resolve_device": "ps2f.models.device",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
