"""Conventions of the long metrics table shared by the evaluation modules (no torch).

Metrics rows are keyed by (model, cell, gene) (:data:`ps2f.schema.METRIC_COLUMNS`): the cell
replaces the predictions table's ``gene_set`` and ``individual_set`` columns
(:func:`ps2f.schema.cell_label`), rows are sorted by model, then cell in
:data:`ps2f.schema.CELLS` order, then gene, and rows that describe a whole cell carry
``gene`` = :data:`ALL_GENES`. The helpers here turn per-key arrays into that table, so that
:mod:`ps2f.evaluation.metrics` and :mod:`ps2f.evaluation.eqtl` write it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ps2f.schema import CELLS, METRIC_COLUMNS, cell_label

__all__ = [
    "ALL_GENES",
    "cell_order",
    "with_cells",
    "sort_keys",
    "format_counts",
    "long_metrics",
    "empty_metrics",
]

#: ``gene`` value of metrics rows that describe a whole cell rather than one gene.
ALL_GENES = "__all__"


def cell_order(cells) -> list[str]:
    """The distinct ``cells`` in report order.

    Parameters
    ----------
    cells : iterable of str
        Cell labels: :data:`ps2f.schema.CELLS` and labels derived from them, such as a cell
        restricted to a gene set (``"<cell>|<set>"``,
        :func:`ps2f.evaluation.gene_sets.subset_cell`).

    Returns
    -------
    list of str
        The labels of :data:`ps2f.schema.CELLS` present, in that order, then the others
        ordered by the :data:`ps2f.schema.CELLS` position of the cell they start with (labels
        starting with none last), then by label.
    """
    present = set(map(str, cells))
    known = [c for c in CELLS if c in present]

    def key(label: str) -> tuple[int, str]:
        base = [i for i, c in enumerate(CELLS) if label.startswith(c + "|")]
        return (base[0] if base else len(CELLS), label)

    return known + sorted(present - set(CELLS), key=key)


def with_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace ``gene_set`` and ``individual_set`` by ``cell`` (labels from :func:`cell_label`).

    Called on group keys and on the few logged rows, never on the full predictions table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with ``gene_set`` and ``individual_set`` columns (str), ``model`` first.

    Returns
    -------
    pandas.DataFrame
        The same rows without the two set columns, with ``cell`` (object, e.g.
        ``"heldout_genes|heldout_individuals"``) as the second column.
    """
    pairs = zip(frame["gene_set"], frame["individual_set"], strict=True)
    cells = [cell_label(g, i) for g, i in pairs]
    out = frame.drop(columns=["gene_set", "individual_set"])
    out.insert(1, "cell", pd.Series(cells, index=frame.index, dtype=object))
    return out


def sort_keys(keys: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sort by model, cell in :data:`CELLS` order, then the remaining columns.

    Parameters
    ----------
    keys : pandas.DataFrame
        Key rows with a ``cell`` column.
    by : list of str
        Sort columns in order; ``"cell"`` sorts in :data:`ps2f.schema.CELLS` order.

    Returns
    -------
    pandas.DataFrame
        ``keys`` reordered (stable sort; index kept).
    """
    order = keys.assign(_cell=pd.Categorical(keys["cell"], categories=CELLS, ordered=True))
    by = ["_cell" if c == "cell" else c for c in by]
    return order.sort_values(by, kind="stable").drop(columns="_cell")


def format_counts(keys: pd.DataFrame, mask: np.ndarray) -> str:
    """Summarize ``mask`` (one bool per row of ``keys``) as "model=.. cell=..: count; ...".

    Parameters
    ----------
    keys : pandas.DataFrame
        Key rows with ``model`` and ``cell`` columns.
    mask : numpy.ndarray, shape (len(keys),), bool
        Rows to count.

    Returns
    -------
    str
        One ``model=<model> cell=<cell>: <count>`` item per (model, cell) with a selected row,
        sorted, joined by ``"; "`` (for log messages).
    """
    counts = keys.loc[mask].groupby(["model", "cell"], sort=True).size()
    return "; ".join(f"model={m} cell={c}: {int(v)}" for (m, c), v in counts.items())


def long_metrics(
    keys: pd.DataFrame, wide: dict[str, np.ndarray], metrics: Sequence[str]
) -> pd.DataFrame:
    """Stack per-key metric arrays into the long metrics table, metric-major within a key.

    Parameters
    ----------
    keys : pandas.DataFrame
        One row per key with ``model``, ``cell`` and ``gene`` columns, in output order.
    wide : dict of str to numpy.ndarray, shape (len(keys),)
        Values of each metric, aligned with ``keys``.
    metrics : sequence of str
        Metrics of ``wide`` to write, in output order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ps2f.schema.METRIC_COLUMNS`, ``len(keys) * len(metrics)`` rows: for each
        key in order, one row per metric in ``metrics`` order; ``value`` float64.
    """
    n_keys = len(keys)
    n_metrics = len(metrics)
    out = pd.DataFrame(
        {
            "model": np.repeat(keys["model"].to_numpy(dtype=object), n_metrics),
            "cell": np.repeat(keys["cell"].to_numpy(dtype=object), n_metrics),
            "gene": np.repeat(keys["gene"].to_numpy(dtype=object), n_metrics),
            "metric": np.tile(np.asarray(metrics, dtype=object), n_keys),
            "value": np.column_stack([wide[m] for m in metrics]).reshape(-1).astype(np.float64),
        }
    )
    return out.loc[:, list(METRIC_COLUMNS)]


def empty_metrics() -> pd.DataFrame:
    """An empty metrics table.

    Returns
    -------
    pandas.DataFrame
        No rows; columns :data:`ps2f.schema.METRIC_COLUMNS`, object dtype except ``value``
        (float64).
    """
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in METRIC_COLUMNS})
    out["value"] = out["value"].astype(np.float64)
    return out
