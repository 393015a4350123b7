"""Fitting and applying the CNN models: p-model, r-model, predictions, checkpoints, splits."""

from ps2f.training.checkpoint import checkpoint_path_for
from ps2f.training.loop import (
    SCHEDULES,
    HaplotypeSource,
    TrainConfig,
    load_model,
    median_gene_r,
    p_model_targets,
    predict_individuals,
    resolve_device,
    save_model,
    train_p_model,
    train_r_model,
)
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
