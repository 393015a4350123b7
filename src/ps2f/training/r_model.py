"""Train the reference (r-) model: the reference sequence -> the gene's mean expression.

Method
------
Input: the gene's reference sequence only; target: the gene's mean expression over its fit
individuals; loss: the MSE of the mean head (:mod:`ps2f.training.engine`). Validation metric
(early stopping, kept epoch): the MSE of the mean-head prediction on the *validation genes*
(lower is better; the validation genes' cross-gene r is logged too but not used, being undefined
or very noisy for the handful of validation genes a small cohort has).

A trained r-model predicts individuals by reference scoring
(:func:`~ps2f.training.predict_individuals` with ``mode="reference_scoring"``).
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ps2f.models.cnn import S2FCNN
from ps2f.models.config import CNNConfig
from ps2f.training.checkpoint import fingerprint
from ps2f.training.config import VALIDATION_BATCH_KEY, TrainConfig
from ps2f.training.data import (
    HaplotypeSource,
    check_window,
    fetch_reference,
    item_arrays,
    require_columns,
)
from ps2f.training.engine import EpochHook, FitTask, Validation, fit
from ps2f.training.predict import predict_reference

__all__ = ["train_r_model"]

_LOG = logging.getLogger(__name__)
#: Columns of the r-model's gene tables: the index column, then the value.
_GENE_COLUMNS = ("gene_index", "mean_observed")


def _r_validation(
    source: HaplotypeSource, validation_genes: pd.DataFrame | None, batch_size: int
) -> Validation | None:
    if validation_genes is None or len(validation_genes) == 0:
        return None
    what = "train_r_model validation_genes"
    require_columns(validation_genes, _GENE_COLUMNS, what)
    genes, target = item_arrays(validation_genes, _GENE_COLUMNS, what)

    def evaluate(model: S2FCNN) -> dict[str, float]:
        pred = predict_reference(model, source, genes, batch_size, VALIDATION_BATCH_KEY)
        ok = len(genes) >= 3 and np.std(pred) > 0 and np.std(target) > 0
        return {
            "val_mse": float(np.mean((pred - target) ** 2)),
            "val_cross_gene_r": float(np.corrcoef(pred, target)[0, 1]) if ok else math.nan,
        }

    return Validation(evaluate, "val_mse", higher_is_better=False)


def train_r_model(
    source: HaplotypeSource,
    genes: pd.DataFrame,
    cnn_config: CNNConfig,
    train_config: TrainConfig,
    log: logging.Logger | None = None,
    *,
    validation_genes: pd.DataFrame | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | TextIO = False,
    epoch_end: EpochHook | None = None,
) -> S2FCNN:
    """Fit the reference (r-) model: reference sequence -> the gene's mean expression.

    Parameters
    ----------
    source : HaplotypeSource
        Provides ``(batch, L)`` reference codes via ``source.reference``.
    genes : pandas.DataFrame
        One row per fit gene: ``gene_index`` (int), ``mean_observed`` (float, the gene's mean
        normalized expression over fit individuals).
    cnn_config, train_config, log
        As in :func:`~ps2f.training.train_p_model` (``lambda_mean`` and ``lambda_dev`` are not
        used: the loss is the MSE of the mean head).
    validation_genes : pandas.DataFrame, optional
        Same columns, one row per validation gene; their MSE drives early stopping and the
        kept epoch (``val_mse``; ``val_cross_gene_r`` is logged).
    checkpoint, progress, epoch_end
        As in :func:`~ps2f.training.train_p_model`.

    Returns
    -------
    S2FCNN
        Fitted model in eval mode with ``history``, ``best_epoch`` and ``trained_as == "r"``.

    Raises
    ------
    ValueError
        If a column is missing, a value is non-finite, a gene repeats, or the window lengths
        disagree.
    ps2f.errors.ConfigError
        Out of GPU memory, as in :func:`~ps2f.training.train_p_model`.
    """
    what = "train_r_model genes"
    require_columns(genes, _GENE_COLUMNS, what)
    check_window(source, cnn_config)
    gene_index, target = item_arrays(genes, _GENE_COLUMNS, what)
    if pd.Series(gene_index).duplicated().any():
        raise ValueError(f"{what}: repeated gene_index values")
    validation = _r_validation(source, validation_genes, 2 * train_config.batch_size)
    arrays: list[Any] = [gene_index, target]
    if validation_genes is not None:
        arrays += [validation_genes["gene_index"].to_numpy()]
        arrays.append(validation_genes["mean_observed"].to_numpy(np.float64))
    run_fp = fingerprint(
        {"kind": "r", "cnn": cnn_config.to_dict(), "train": train_config.result_settings()},
        arrays,
    )
    fetch = functools.partial(fetch_reference, source, gene_index)
    task = FitTask("r", fetch, target.astype(np.float32), None, run_fp, validation=validation)
    return fit(
        task,
        cnn_config,
        train_config,
        log or _LOG,
        checkpoint=checkpoint,
        progress=progress,
        epoch_end=epoch_end,
    )
