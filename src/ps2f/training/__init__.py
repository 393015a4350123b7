"""Fitting and applying the CNN models: p-model, r-model, predictions, checkpoints."""

from ps2f.training.loop import (
    HaplotypeSource,
    TrainConfig,
    load_model,
    p_model_targets,
    predict_individuals,
    resolve_device,
    save_model,
    train_p_model,
    train_r_model,
)

__all__ = [
    "HaplotypeSource",
    "TrainConfig",
    "load_model",
    "p_model_targets",
    "predict_individuals",
    "resolve_device",
    "save_model",
    "train_p_model",
    "train_r_model",
]
