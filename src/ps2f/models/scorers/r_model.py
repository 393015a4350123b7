"""The r-model (a ps2f CNN trained on the reference genome) as a scorer.

Each haplotype is embedded by the trunk and read by the mean head alone, exactly as
:func:`ps2f.training.predict_individuals` does in ``reference_scoring`` mode (SAGE-net's
r-model evaluated as Enformer is: Huang et al. 2023, Sasse et al. 2023). The workflow scores
the r-model in its own rule (``score_reference``); this adapter puts it behind the same
interface as the external models, for use from Python (a test checks the two agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ps2f.errors import ConfigError
from ps2f.models.scorers.base import SequenceScorer

__all__ = ["DEFAULTS", "REQUIRED", "RModelScorer", "check_config", "from_config"]

REQUIRED: tuple[str, ...] = ("model",)
DEFAULTS: dict[str, Any] = {"aggregate": "mean", "batch_size": 128, "device": "auto"}


class RModelScorer(SequenceScorer):
    """Score single haplotypes with a trained r-model's mean head.

    Parameters
    ----------
    model : ps2f.models.cnn.S2FCNN
        Trained as an r-model (``trained_as == "r"``) or untrained.
    name : str
        Model name in the predictions table.
    batch_size : int
        Sequences per forward pass.

    Raises
    ------
    ps2f.errors.ConfigError
        The model was trained as a p-model.
    """

    def __init__(self, model, name: str = "r_model", batch_size: int = 128) -> None:
        if model.trained_as not in (None, "r"):
            raise ConfigError(
                f"scorer {name!r}: the model was trained as a {model.trained_as}-model; "
                f"reference scoring needs an r-model"
            )
        self.model = model.eval()
        self.name = name
        self.window_bp = int(model.config.window_bp)
        self.batch_size = int(batch_size)

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Mean-head output of each sequence.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8

        Returns
        -------
        numpy.ndarray, shape (N,), float64
            In training-target units (e.g. log1p RPKM).
        """
        import torch

        from ps2f.genome.encoding import one_hot

        device = next(self.model.parameters()).device
        out = np.empty(len(codes), dtype=np.float64)
        with torch.no_grad():
            for s in range(0, len(codes), self.batch_size):
                c = torch.from_numpy(np.ascontiguousarray(codes[s : s + self.batch_size]))
                mean, _ = self.model.heads(self.model.embed(one_hot(c.to(device))))
                out[s : s + len(c)] = mean.double().cpu().numpy()
        return out


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time check: the model file exists."""
    from pathlib import Path

    if not Path(str(spec["model"])).is_file():
        raise ConfigError(f"{key}.model: {spec['model']!r} not found (a ps2f r_model.pt)")


def from_config(spec: Mapping[str, Any], key: str) -> RModelScorer:
    """Load a saved r-model (:func:`ps2f.models.save_model`) onto the configured device."""
    from ps2f.models import load_model, resolve_device

    try:
        device = resolve_device(spec["device"])
    except ValueError as err:
        raise ConfigError(f"{key}.device: {err}") from None
    model = load_model(spec["model"], map_location=device)
    return RModelScorer(model, name=spec["name"], batch_size=spec["batch_size"])
