"""Torch sequence-to-function models (SAGE-net-family CNN)."""

from ps2f.models.cnn import S2FCNN, CNNConfig

__all__ = ["CNNConfig", "S2FCNN"]
