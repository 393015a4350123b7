"""Column layouts of the tidy tables every stage exchanges (the single place they are defined).

Predictions table
    One row per (model, gene, individual): ``model`` (str), ``gene`` (str, Ensembl ID as in the
    expression file), ``individual`` (str, sample ID), ``gene_set`` ("train" | "heldout"),
    ``individual_set`` ("train" | "heldout"), ``observed`` (float64, normalized expression as
    configured, e.g. log1p RPKM), ``predicted`` (float64, model units; only its ranking across
    individuals within a gene matters to per-gene metrics).
Metrics table
    Long: ``model``, ``cell``, ``gene``, ``metric``, ``value``.
Summary table
    ``model``, ``cell``, ``statistic``, ``estimate``, ``ci_low``, ``ci_high``, ``n_genes``.

A *cell* is one of the four combinations of training / held-out genes and training / held-out
individuals, labelled by :func:`cell_label`.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "PREDICTION_COLUMNS",
    "METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "SETS",
    "CELLS",
    "cell_label",
    "validate_predictions",
]

PREDICTION_COLUMNS: tuple[str, ...] = (
    "model",
    "gene",
    "individual",
    "gene_set",
    "individual_set",
    "observed",
    "predicted",
)
METRIC_COLUMNS: tuple[str, ...] = ("model", "cell", "gene", "metric", "value")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model",
    "cell",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "n_genes",
)
SETS: tuple[str, ...] = ("train", "heldout")


def cell_label(gene_set: str, individual_set: str) -> str:
    """Name the evaluation cell of a (gene set, individual set) pair.

    Parameters
    ----------
    gene_set, individual_set : str
        Each ``"train"`` or ``"heldout"``.

    Returns
    -------
    str
        E.g. ``"train_genes|heldout_individuals"``.

    Raises
    ------
    ValueError
        If either set is not one of :data:`SETS`.
    """
    if gene_set not in SETS or individual_set not in SETS:
        raise ValueError(f"sets must be in {SETS}, got {gene_set!r}, {individual_set!r}")
    return f"{gene_set}_genes|{individual_set}_individuals"


CELLS: tuple[str, ...] = tuple(cell_label(g, i) for g in SETS for i in SETS)


def validate_predictions(df: pd.DataFrame, source: str = "predictions table") -> pd.DataFrame:
    """Check a predictions table against the schema and return it with canonical dtypes.

    Parameters
    ----------
    df : pandas.DataFrame
        Table with at least :data:`PREDICTION_COLUMNS`.
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`PREDICTION_COLUMNS`, in that order.

    Raises
    ------
    ValueError
        If a column is missing, a set label is unknown, or a (model, gene, individual) repeats.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source}: missing columns {missing}; expected {list(PREDICTION_COLUMNS)}"
        )
    out = df.loc[:, list(PREDICTION_COLUMNS)].copy()
    for col in ("model", "gene", "individual", "gene_set", "individual_set"):
        out[col] = out[col].astype(str)
    for col in ("gene_set", "individual_set"):
        bad = set(out[col].unique()) - set(SETS)
        if bad:
            raise ValueError(f"{source}: column {col!r} has values {sorted(bad)}; allowed {SETS}")
    out["observed"] = out["observed"].astype("float64")
    out["predicted"] = out["predicted"].astype("float64")
    dup = out.duplicated(["model", "gene", "individual"])
    if dup.any():
        first = out.loc[dup, ["model", "gene", "individual"]].iloc[0].tolist()
        raise ValueError(
            f"{source}: {int(dup.sum())} repeated (model, gene, individual) rows, e.g. {first}"
        )
    return out.reset_index(drop=True)
