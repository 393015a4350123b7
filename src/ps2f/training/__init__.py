"""Fitting and applying the CNN models: p-model, r-model, predictions, checkpoints, splits.

Modules: :mod:`~ps2f.training.config` (:class:`TrainConfig`), :mod:`~ps2f.training.data`
(sequence source, item tables, batches), :mod:`~ps2f.training.engine` (the optimisation loop,
early stopping, resuming), :mod:`~ps2f.training.p_model` and :mod:`~ps2f.training.r_model` (what
each model fits and how it is validated), :mod:`~ps2f.training.predict`,
:mod:`~ps2f.training.augment`, :mod:`~ps2f.training.checkpoint` (resume state) and
:mod:`~ps2f.training.splits`.

``save_model``, ``load_model`` and ``resolve_device`` live in :mod:`ps2f.models` (the r-model
scorer needs them, and ``ps2f.models`` imports nothing from ``ps2f.training``); they are part of
this package's API too, re-exported here.
"""

from ps2f.models.device import resolve_device
from ps2f.models.serialization import load_model, save_model
from ps2f.training.checkpoint import checkpoint_path_for
from ps2f.training.config import SCHEDULES, TrainConfig
from ps2f.training.data import HaplotypeSource
from ps2f.training.p_model import median_gene_r, p_model_targets, train_p_model
from ps2f.training.predict import predict_individuals
from ps2f.training.r_model import train_r_model
from ps2f.training.splits import ValidationSplit, validation_split

__all__ = [
    "SCHEDULES",
    "HaplotypeSource",
    "TrainConfig",
    "ValidationSplit",
    "checkpoint_path_for",
    "load_model",
    "median_gene_r",
    "p_model_targets",
    "predict_individuals",
    "resolve_device",
    "save_model",
    "train_p_model",
    "train_r_model",
    "validation_split",
]
