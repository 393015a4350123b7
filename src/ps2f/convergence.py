"""Why a sequence model's training stopped, and whether it converged (the convergence record).

A model trained by epochs (:func:`ps2f.training.engine.fit`) ends for one of four reasons
(:data:`STOP_REASONS`):

``early_stopping``
    ``patience`` epochs in a row without a better validation metric: **converged** (SAGE-net's
    criterion, Spiro et al. 2026: patience 5).
``epochs``
    The epoch ceiling (``s2f.train.epochs``, ``s2f.r_model_epochs``) ran out while the
    validation metric could still improve: **not converged**. With ``patience: null`` (every
    epoch runs on purpose) this is the reason too: no convergence criterion was applied.
``minutes``
    The wall-clock ceiling ``s2f.train.max_minutes`` was reached (checked after each epoch):
    **not converged**.
``no_validation``
    Every epoch ran without a validation metric (no validation genes or individuals, e.g.
    ``split.validation_*_fraction: 0``): convergence **unknown**; reported as
    "convergence unknown", never as converged.

The record (:func:`training_record`: ``stopped_by``, ``converged``, ``epochs_run``,
``best_epoch``, ``max_epochs``, ``patience``, ``max_minutes``, ``minutes``) travels with the
model (``model.training``, saved by :func:`ps2f.models.save_model`), ends the history TSV (its
last row's ``stopped_by``), and is written by the prediction rules into the predictions parquet
as file-level metadata under :data:`TRAINING_METADATA_KEY` (JSON). The ``evaluate`` rule
gathers it from every predictions file (:func:`training_table`): models without it (genotype
baselines fitted per gene, external scorers) are "n/a (no epochs)". Tables and figures show
:func:`status_label` / :func:`legend_suffix` beside the model's numbers.

This module is torch-free: training writes the record, evaluation and plots read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any

import pandas as pd

from ps2f.errors import InputError

__all__ = [
    "STOP_REASONS",
    "TRAINING_COLUMNS",
    "TRAINING_METADATA_KEY",
    "NO_EPOCHS",
    "add_training_column",
    "legend_suffix",
    "read_training_record",
    "status_label",
    "training_minutes",
    "training_record",
    "training_table",
    "write_predictions",
]

STOP_REASONS: tuple[str, ...] = ("early_stopping", "epochs", "minutes", "no_validation")
#: Key of the record in a predictions parquet's schema metadata.
TRAINING_METADATA_KEY = "ps2f.training"
#: Status of a model that is not trained by epochs (baselines, external scorers).
NO_EPOCHS = "n/a (no epochs)"
_CONVERGED = {"early_stopping": True, "epochs": False, "minutes": False, "no_validation": None}
_STATUS = {
    "early_stopping": "converged",
    "epochs": "not converged (epoch ceiling)",
    "minutes": "not converged (time ceiling)",
    "no_validation": "convergence unknown (no validation)",
}
_RECORD_FIELDS = (
    "stopped_by",
    "converged",
    "epochs_run",
    "best_epoch",
    "max_epochs",
    "patience",
    "max_minutes",
    "minutes",
)
#: Columns of the training table (``evaluation/training.csv``), in order.
TRAINING_COLUMNS: tuple[str, ...] = ("model", "status", *_RECORD_FIELDS)


def training_minutes(history: Iterable[Mapping[str, Any]]) -> float:
    """Training time recorded in a history: the sum of ``seconds`` and ``validation_seconds``.

    Parameters
    ----------
    history : iterable of mapping
        One record per finished epoch (:func:`ps2f.training.engine.fit`).

    Returns
    -------
    float
        Minutes spent in the recorded epochs (training steps plus validation passes; setup,
        checkpoint writes and an epoch cut short by a kill are not counted).
    """
    return sum(float(r.get("seconds", 0.0)) + float(r.get("validation_seconds", 0.0))
               for r in history) / 60.0  # fmt: skip


def training_record(
    stopped_by: str,
    *,
    epochs_run: int,
    best_epoch: int | None,
    max_epochs: int,
    patience: int | None,
    max_minutes: float | None,
    minutes: float,
) -> dict[str, Any]:
    """The convergence record of one training run (plain JSON-able values).

    Parameters
    ----------
    stopped_by : str
        One of :data:`STOP_REASONS`.
    epochs_run : int
        Epochs finished.
    best_epoch : int or None
        The epoch whose weights were kept (1-based).
    max_epochs : int
        The epoch ceiling.
    patience : int or None
        Early-stopping patience in epochs (None: every epoch runs).
    max_minutes : float or None
        The wall-clock ceiling in minutes (None: none).
    minutes : float
        Training time recorded (:func:`training_minutes`).

    Returns
    -------
    dict
        ``stopped_by``, ``converged`` (True, False, or None = unknown), and the other
        arguments.

    Raises
    ------
    ValueError
        If ``stopped_by`` is not a stop reason.
    """
    if stopped_by not in STOP_REASONS:
        raise ValueError(f"stopped_by must be one of {STOP_REASONS}, got {stopped_by!r}")
    return {
        "stopped_by": stopped_by,
        "converged": _CONVERGED[stopped_by],
        "epochs_run": int(epochs_run),
        "best_epoch": None if best_epoch is None else int(best_epoch),
        "max_epochs": int(max_epochs),
        "patience": None if patience is None else int(patience),
        "max_minutes": None if max_minutes is None else float(max_minutes),
        "minutes": round(float(minutes), 4),
    }


def status_label(stopped_by: str | None) -> str:
    """Human status of a stop reason: "converged", "not converged (epoch ceiling)", ...

    Parameters
    ----------
    stopped_by : str or None
        A stop reason, or None / NaN for a model without a training record.

    Returns
    -------
    str
        The status; :data:`NO_EPOCHS` without a record.
    """
    if stopped_by is None or (isinstance(stopped_by, float) and math.isnan(stopped_by)):
        return NO_EPOCHS
    return _STATUS.get(str(stopped_by), f"unknown stop reason {stopped_by!r}")


def legend_suffix(status: str | None) -> str:
    """What figure legends add after a model's name: " (not converged)", or nothing.

    Parameters
    ----------
    status : str or None
        A :func:`status_label` value (None: no training table).

    Returns
    -------
    str
        ``" (not converged)"``, ``" (convergence unknown)"`` or ``""`` (converged, or no epochs).
    """
    if status is None or status == NO_EPOCHS or status == "converged":
        return ""
    if status.startswith("not converged"):
        return " (not converged)"
    return " (convergence unknown)"


def write_predictions(
    frame: pd.DataFrame, path: str | PathLike[str], record: Mapping[str, Any] | None
) -> None:
    """Write a predictions table as parquet, with the training record as schema metadata.

    Parameters
    ----------
    frame : pandas.DataFrame
        The predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`).
    path : str or path-like
        Parquet file (written as is; wrap in :func:`ps2f.pipeline.common.atomic_path`).
    record : mapping or None
        :func:`training_record`, stored as JSON under :data:`TRAINING_METADATA_KEY`; None
        writes none.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if record is not None:
        meta = dict(table.schema.metadata or {})
        meta[TRAINING_METADATA_KEY.encode()] = json.dumps(dict(record)).encode()
        table = table.replace_schema_metadata(meta)
    pq.write_table(table, path)


def read_training_record(path: str | PathLike[str]) -> dict[str, Any] | None:
    """The training record of a predictions parquet, or None when it has none.

    Parameters
    ----------
    path : str or path-like
        A predictions parquet.

    Returns
    -------
    dict or None

    Raises
    ------
    ps2f.errors.InputError
        If the metadata is not a JSON object with a known ``stopped_by`` (names the file).
    """
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(TRAINING_METADATA_KEY.encode())
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError as err:
        raise InputError(
            f"{path}: metadata {TRAINING_METADATA_KEY!r} is not JSON ({err}); re-run the rule "
            "that wrote it"
        ) from err
    if not isinstance(record, dict) or record.get("stopped_by") not in STOP_REASONS:
        raise InputError(
            f"{path}: metadata {TRAINING_METADATA_KEY!r} has no stopped_by among {STOP_REASONS}"
            f" (got {record!r}); re-run the rule that wrote it"
        )
    return record


def training_table(paths: Sequence[str | PathLike[str]]) -> pd.DataFrame:
    """The training status of every model in the predictions files (``evaluation/training.csv``).

    Parameters
    ----------
    paths : sequence of str or path-like
        Predictions parquets; each file's ``model`` values get that file's record.

    Returns
    -------
    pandas.DataFrame
        :data:`TRAINING_COLUMNS`, one row per model, sorted by model: ``status``
        (:func:`status_label`), ``stopped_by`` and the numbers of the record; models without a
        record have ``status`` :data:`NO_EPOCHS` and empty (NA) fields.

    Raises
    ------
    ps2f.errors.InputError
        A file's record is malformed (:func:`read_training_record`).
    """
    rows = []
    for path in paths:
        record = read_training_record(path)
        models = pd.read_parquet(path, columns=["model"])["model"].astype(str).unique()
        for model in models:
            row = {"model": model, "status": status_label(record and record["stopped_by"])}
            row.update({k: (record or {}).get(k) for k in _RECORD_FIELDS})
            rows.append(row)
    out = pd.DataFrame(rows, columns=list(TRAINING_COLUMNS))
    out = out.astype({"converged": "boolean", "epochs_run": "Int64", "best_epoch": "Int64",
                      "max_epochs": "Int64", "patience": "Int64", "max_minutes": "Float64",
                      "minutes": "Float64"})  # fmt: skip
    return out.sort_values("model", kind="stable").reset_index(drop=True)


def add_training_column(
    table: pd.DataFrame, training: pd.DataFrame, model_column: str = "model", name: str = "training"
) -> pd.DataFrame:
    """Add each model's training status as column ``name`` right after ``model_column``.

    Parameters
    ----------
    table : pandas.DataFrame
        A table with a model column (summary, comparisons).
    training : pandas.DataFrame
        :func:`training_table` (``model``, ``status``).
    model_column : str
        The column holding model names.
    name : str
        The new column.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``name``; a model missing from ``training`` gets
        :data:`NO_EPOCHS`.
    """
    status = dict(zip(training["model"].astype(str), training["status"], strict=True))
    out = table.copy()
    values = [status.get(str(m), NO_EPOCHS) for m in out[model_column]]
    out.insert(out.columns.get_loc(model_column) + 1, name, values)
    return out
