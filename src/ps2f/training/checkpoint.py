"""Per-epoch resume checkpoints of a training run (the final model: :func:`ps2f.models.save_model`).

A resume checkpoint holds everything the next epoch depends on: model weights, optimizer and
LR-scheduler state, the torch RNG states (dropout), the epoch number, the early-stopping state
(best metric, best epoch, best weights, epochs without improvement) and the history so far. It
is written atomically after every epoch, so a run killed at any moment leaves either the
previous epoch's checkpoint or the new one, never a torn file.

Each checkpoint carries a *fingerprint* of everything that determines the run's result (model
and training settings, the training and validation items and targets, the initial weights). A
checkpoint whose fingerprint differs from the current run's (the config or the data changed) is
ignored with a warning and overwritten, never resumed from.

In the workflow the checkpoint sits next to the rule's output (``results/<name>/models/
p_model.ckpt`` beside ``p_model.pt``) and is deliberately **not** a declared output: Snakemake
deletes the declared outputs of a failed or killed job, but leaves other files alone, so a
re-run of the rule finds the checkpoint and resumes. The training rule deletes it after the
final model has been written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["fingerprint", "save_resume_state", "load_resume_state", "checkpoint_path_for"]

_FORMAT = "ps2f.resume"
_VERSION = 1


def checkpoint_path_for(model_path: str | Path) -> Path:
    """The resume checkpoint that belongs to a final model path (``x.pt`` -> ``x.ckpt``).

    Parameters
    ----------
    model_path : str or pathlib.Path

    Returns
    -------
    pathlib.Path
    """
    return Path(model_path).with_suffix(".ckpt")


def fingerprint(settings: Mapping[str, Any], arrays: Iterable[np.ndarray | torch.Tensor]) -> str:
    """SHA-256 over JSON-serializable settings and the bytes of arrays.

    Parameters
    ----------
    settings : mapping
        Plain values (dicts, lists, numbers, strings, None); serialized with sorted keys.
    arrays : iterable of numpy.ndarray or torch.Tensor
        Hashed in order, with their dtype and shape.

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().contiguous()
            a = a.float().numpy() if a.dtype == torch.bfloat16 else a.numpy()
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_resume_state(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write a resume checkpoint atomically (temporary sibling, then rename).

    Parameters
    ----------
    path : str or pathlib.Path
    state : mapping
        Plain containers and tensors only (loadable with ``torch.load(weights_only=True)``);
        must include ``fingerprint``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"format": _FORMAT, "format_version": _VERSION, **state}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_resume_state(
    path: str | Path, expected_fingerprint: str, log: logging.Logger
) -> dict[str, Any] | None:
    """Read a resume checkpoint if it exists and belongs to this run.

    Parameters
    ----------
    path : str or pathlib.Path
    expected_fingerprint : str
        :func:`fingerprint` of the current run.
    log : logging.Logger
        Receives a warning when a checkpoint exists but cannot be used.

    Returns
    -------
    dict or None
        The stored state, or ``None`` when there is no usable checkpoint (absent, unreadable,
        another format, or another run's fingerprint).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a torn or foreign file: start afresh rather than fail
        log.warning("ignoring unreadable training checkpoint %s (%s); starting afresh", path, err)
        return None
    if (
        not isinstance(state, dict)
        or state.get("format") != _FORMAT
        or state.get("format_version") != _VERSION
    ):
        log.warning("ignoring %s: not a ps2f resume checkpoint; starting afresh", path)
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log.warning(
            "ignoring training checkpoint %s: it was written for other settings or data "
            "(fingerprint differs); starting afresh and overwriting it",
            path,
        )
        return None
    return state
