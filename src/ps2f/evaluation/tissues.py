"""Many tissues: each model's median per-gene r per tissue, from the tissues' summary tables.

One row per (tissue, model): the ``median_r`` of the summary (:func:`ps2f.evaluation.summarize`)
with its bootstrap 95% CI and gene count on held-out individuals, of training genes and of
held-out genes (the landing page's cells, :data:`ps2f.evaluation.landing.HEADLINE_CELLS`), and
the model's training status. The tissues' numbers are not pooled: each is its own cohort of
genes and donors, so a model's median r is compared across tissues side by side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ps2f.schema import SUMMARY_COLUMNS, cell_label

__all__ = ["CROSS_TISSUE_CELLS", "CROSS_TISSUE_COLUMNS", "cross_tissue_table"]

#: Cells of the cross-tissue table, by column suffix: held-out individuals of training genes and
#: of held-out genes.
CROSS_TISSUE_CELLS: tuple[tuple[str, str], ...] = (
    (cell_label("train", "heldout"), "train_genes"),
    (cell_label("heldout", "heldout"), "heldout_genes"),
)
#: Columns of :func:`cross_tissue_table`.
CROSS_TISSUE_COLUMNS: tuple[str, ...] = (
    "tissue",
    "model",
    "training",
    *(
        f"{stat}_{suffix}"
        for _, suffix in CROSS_TISSUE_CELLS
        for stat in ("median_r", "ci_low", "ci_high", "n_genes")
    ),
)


def cross_tissue_table(summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each model's median per-gene r per tissue (one row per tissue and model).

    Parameters
    ----------
    summaries : mapping of str to pandas.DataFrame
        ``{tissue: summary table}`` (:data:`ps2f.schema.SUMMARY_COLUMNS`, optionally
        ``training``), in the order the tissues are listed.

    Returns
    -------
    pandas.DataFrame
        :data:`CROSS_TISSUE_COLUMNS`: ``tissue``, ``model`` (every model of the tissue's
        summary, sorted by name; tissues in the given order), ``training`` (the model's
        training status, "" when the summary has none), and per cell of
        :data:`CROSS_TISSUE_CELLS` the ``median_r`` estimate, its CI (float64, unitless) and
        ``n_genes`` (float64; NaN where the model has no such cell, e.g. a baseline fitted
        on training genes only has no held-out genes).

    Raises
    ------
    ValueError
        No tissue, or a summary lacking a column of :data:`ps2f.schema.SUMMARY_COLUMNS`
        (named with its tissue).
    """
    if not summaries:
        raise ValueError("cross-tissue table: no tissue summaries")
    rows = []
    for tissue, summary in summaries.items():
        missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
        if missing:
            raise ValueError(f"summary table of tissue {tissue}: missing columns {missing}")
        by = summary.assign(model=summary["model"].astype(str), cell=summary["cell"].astype(str))
        status = {}
        if "training" in by.columns:
            status = by.groupby("model")["training"].first().astype(str).to_dict()
        median = by.loc[by["statistic"] == "median_r"].set_index(["model", "cell"])
        for model in sorted(by["model"].unique()):
            row = {"tissue": str(tissue), "model": model, "training": status.get(model, "")}
            for cell, suffix in CROSS_TISSUE_CELLS:
                hit = median.loc[(model, cell)] if (model, cell) in median.index else None
                for stat, col in (("median_r", "estimate"), ("ci_low", "ci_low"),
                                  ("ci_high", "ci_high"), ("n_genes", "n_genes")):  # fmt: skip
                    row[f"{stat}_{suffix}"] = float(hit[col]) if hit is not None else np.nan
            rows.append(row)
    out = pd.DataFrame(rows, columns=list(CROSS_TISSUE_COLUMNS))
    floats = [c for c in CROSS_TISSUE_COLUMNS[3:]]
    out[floats] = out[floats].astype(np.float64)
    return out
