"""Column layouts of the tidy tables every stage exchanges (the single place they are defined).

Predictions table
    One row per (model, gene, individual): ``model`` (str), ``gene`` (str, Ensembl ID as in the
    expression file), ``individual`` (str, sample ID), ``gene_set`` ("train" | "heldout"),
    ``individual_set`` ("train" | "heldout" | "heldout_population" | "external"), ``observed`` (float64, normalized expression as
    configured, e.g. log1p RPKM), ``predicted`` (float64, model units; only its ranking across
    individuals within a gene matters to per-gene metrics).
Metrics table
    Long: ``model``, ``cell``, ``gene``, ``metric``, ``value``.
Summary table
    ``model``, ``cell``, ``statistic``, ``estimate``, ``ci_low``, ``ci_high``, ``n_genes``.

A *cell* is one combination of a gene set (:data:`SETS`) and an individual set
(:data:`INDIVIDUAL_SETS`), labelled by :func:`cell_label`: training / held-out genes times
training / held-out individuals, and, when ``split.population`` holds whole populations out
(held-out ancestry, :func:`ps2f.phenotypes.population_split`), their individuals
(``"heldout_population"``) as cells of their own; so are the individuals of an external test
cohort (config ``external_cohort``, ``"external"``: their own genotypes and phenotypes, never
fitted on, :func:`ps2f.phenotypes.external_phenotypes`).
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "PREDICTION_COLUMNS",
    "METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "SETS",
    "INDIVIDUAL_SETS",
    "HELDOUT_POPULATION",
    "EXTERNAL",
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
#: Gene sets, and the individual sets of a random split.
SETS: tuple[str, ...] = ("train", "heldout")
#: ``individual_set`` of the individuals of a held-out population (``split.population``).
HELDOUT_POPULATION = "heldout_population"
#: ``individual_set`` of the individuals of an external test cohort (``external_cohort``).
EXTERNAL = "external"
#: Individual sets: a random split's, the held-out populations', the external cohort's.
INDIVIDUAL_SETS: tuple[str, ...] = (*SETS, HELDOUT_POPULATION, EXTERNAL)


def cell_label(gene_set: str, individual_set: str) -> str:
    """Name the evaluation cell of a (gene set, individual set) pair.

    Parameters
    ----------
    gene_set : str
        ``"train"`` or ``"heldout"``.
    individual_set : str
        One of :data:`INDIVIDUAL_SETS`.

    Returns
    -------
    str
        E.g. ``"train_genes|heldout_individuals"``,
        ``"train_genes|heldout_population_individuals"``,
        ``"heldout_genes|external_individuals"``.

    Raises
    ------
    ValueError
        If ``gene_set`` is not one of :data:`SETS` or ``individual_set`` not one of
        :data:`INDIVIDUAL_SETS`.
    """
    if gene_set not in SETS or individual_set not in INDIVIDUAL_SETS:
        raise ValueError(
            f"gene_set must be in {SETS} and individual_set in {INDIVIDUAL_SETS}, got "
            f"{gene_set!r}, {individual_set!r}"
        )
    return f"{gene_set}_genes|{individual_set}_individuals"


CELLS: tuple[str, ...] = tuple(cell_label(g, i) for g in SETS for i in INDIVIDUAL_SETS)


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
    for col, allowed in (("gene_set", SETS), ("individual_set", INDIVIDUAL_SETS)):
        bad = set(out[col].unique()) - set(allowed)
        if bad:
            raise ValueError(
                f"{source}: column {col!r} has values {sorted(bad)}; allowed {allowed}"
            )
    out["observed"] = out["observed"].astype("float64")
    out["predicted"] = out["predicted"].astype("float64")
    dup = out.duplicated(["model", "gene", "individual"])
    if dup.any():
        first = out.loc[dup, ["model", "gene", "individual"]].iloc[0].tolist()
        raise ValueError(
            f"{source}: {int(dup.sum())} repeated (model, gene, individual) rows, e.g. {first}"
        )
    return out.reset_index(drop=True)
