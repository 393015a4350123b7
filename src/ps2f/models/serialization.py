"""Save and load a trained :class:`~ps2f.models.cnn.S2FCNN` (the final model file, ``.pt``).

Not the per-epoch resume checkpoint of a training run: that is
:mod:`ps2f.training.checkpoint`. The file holds plain containers only (config dict, tensors,
history records), so :func:`load_model` reads it with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ps2f.errors import InputError
from ps2f.models.cnn import S2FCNN
from ps2f.models.config import CNNConfig

__all__ = ["save_model", "load_model"]

_CHECKPOINT_FORMAT = "ps2f.S2FCNN"
# 2: shared dense layer ``fc``, head_input and contrastive in the config
# 3: ``convergence``, the record of why training stopped (:mod:`ps2f.convergence`); version 2
#    files are read with ``convergence = None`` (unknown)
_CHECKPOINT_VERSION = 3
_READABLE_VERSIONS = (2, 3)


def save_model(model: S2FCNN, path: str | Path) -> None:
    """Write the final model: config, weights, history, kind, kept epoch and training record.

    Parameters
    ----------
    model : S2FCNN
    path : str or pathlib.Path
        Destination (``.pt``); parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": _CHECKPOINT_FORMAT,
            "format_version": _CHECKPOINT_VERSION,
            "cnn_config": model.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "history": [dict(r) for r in model.history],
            "trained_as": model.trained_as,
            "best_epoch": getattr(model, "best_epoch", None),
            "convergence": getattr(model, "convergence", None),
        },
        path,
    )


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> S2FCNN:
    """Read a checkpoint written by :func:`save_model` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or pathlib.Path
    map_location : str or torch.device
        Device to place the weights on.

    Returns
    -------
    S2FCNN
        In eval mode, with ``history``, ``trained_as``, ``best_epoch`` and ``convergence``
        (why training stopped, :mod:`ps2f.convergence`; None in a version-2 file) restored.

    Raises
    ------
    ps2f.errors.InputError
        If the file is not a ps2f checkpoint of a known version.
    """
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a ps2f model checkpoint (written by ps2f.models.save_model)")
    if state.get("format_version") not in _READABLE_VERSIONS:
        raise InputError(
            f"{path}: checkpoint format_version {state.get('format_version')!r}; "
            f"this ps2f reads versions {', '.join(map(str, _READABLE_VERSIONS))}: re-run the "
            "training rule to write it again"
        )
    try:
        config = CNNConfig.from_dict(state["cnn_config"])
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: bad cnn_config in checkpoint: {err}") from err
    model = S2FCNN(config)
    model.load_state_dict(state["state_dict"])
    model.history = list(state.get("history", []))
    model.trained_as = state.get("trained_as")
    model.best_epoch = state.get("best_epoch")
    model.convergence = state.get("convergence")
    model.to(map_location)
    model.eval()
    return model
