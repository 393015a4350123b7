"""The torch device of a ``device`` setting (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``).

Shared by training (``s2f.train.device``) and the prediction rules: a property of where a model
runs, so it lives with the models.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str) -> torch.device:
    """Turn a device setting into a :class:`torch.device`.

    Parameters
    ----------
    device : str
        ``"auto"`` picks CUDA when available, else CPU; anything else is passed to
        :class:`torch.device`.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not a device, or CUDA is requested but not available (the message
        names ``TrainConfig.device``, the setting it usually comes from).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"TrainConfig.device={device!r} is not a torch device: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"TrainConfig.device={device!r} but CUDA is not available; use 'auto'")
    return dev
