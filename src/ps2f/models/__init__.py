"""Torch sequence-to-function models (SAGE-net-family CNN).

:class:`CNNConfig` is importable without torch (:mod:`ps2f.models.config`); :class:`S2FCNN` is
imported lazily, on first access, so that ``import ps2f.models.config`` at workflow parse time
does not import torch.
"""

from typing import Any

from ps2f.models.config import CNNConfig

__all__ = ["CNNConfig", "S2FCNN"]


def __getattr__(name: str) -> Any:
    if name == "S2FCNN":
        from ps2f.models.cnn import S2FCNN

        return S2FCNN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
