"""Gene sets chosen from the baselines' own performance estimates (tables only, no torch).

Nonlinear genes (Shen et al. 2026)
    Shen et al. compare AlphaGenome, Enformer, ElasticNet and RandomForest on GTEx and report
    the "nonlinear" gene-tissue pairs: the 300 where RandomForest beats ElasticNet by the
    largest margin of per-gene Pearson r. Here the margin is taken on **training individuals
    only**, from each baseline's honest out-of-sample estimate made while fitting:

    * RandomForest: ``oob_r``, the Pearson r of the out-of-bag predictions of the training
      individuals (each predicted by the trees that did not see it; Breiman 2001);
    * ElasticNet: ``rho_avg``, PredictDB's nested cross-validation r (mean over the outer
      folds of the Pearson r of held-out-fold predictions; ``PredictDb-nextflow``).

    ``margin = oob_r - rho_avg``; the ``top_n`` genes with the largest positive margin form the
    set. Chosen on the held-out individuals' r, the set would favour RandomForest over
    ElasticNet on those same individuals by construction (selection on the evaluation data:
    the chance part of the margin does not repeat); chosen on the training individuals'
    in-sample r, it would pick the genes where RandomForest overfits most (its in-sample r is
    near 1). The two estimators differ (out-of-bag vs nested K-fold), so the margin is a
    ranking device, not a test. A positive margin does not say that RandomForest predicts
    well: where ElasticNet's r is near zero or negative, a small forest r ranks high.

Top ElasticNet genes (SAGE-net's gene selection)
    SAGE-net (Spiro et al. 2026) reports its parity with linear models on the genes its
    PrediXcan-style model predicts best on validation data, where ps2f's medians run over all
    genes, most of them without cis signal. :func:`top_elastic_net_genes` picks the ``top_n``
    genes with the largest ElasticNet nested-CV ``rho_avg`` (training individuals only, as
    above), so the published comparison can be read off directly.

Each set enters the evaluation as cells of their own: each cell's per-gene metrics of the set's
genes under the label :func:`subset_cell` (e.g.
``"heldout_genes|heldout_individuals|nonlinear_genes"``), which the summary and the paired
model comparisons treat like any other cell.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ps2f.evaluation.tables import ALL_GENES
from ps2f.schema import METRIC_COLUMNS

__all__ = [
    "NONLINEAR",
    "NONLINEAR_COLUMNS",
    "TOP_ELASTIC_NET",
    "TOP_ELASTIC_NET_COLUMNS",
    "nonlinear_genes",
    "top_elastic_net_genes",
    "subset_cell",
    "gene_set_metrics",
]

_LOG = logging.getLogger(__name__)

#: Name of the nonlinear gene set in cell labels.
NONLINEAR = "nonlinear_genes"
#: Columns of the nonlinear-genes table, in order.
NONLINEAR_COLUMNS: tuple[str, ...] = (
    "rank",
    "gene",
    "random_forest_oob_r",
    "elastic_net_rho_avg",
    "margin",
)

#: Name of the top-ElasticNet gene set in cell labels.
TOP_ELASTIC_NET = "top_elastic_net_genes"
#: Columns of the top-ElasticNet-genes table, in order.
TOP_ELASTIC_NET_COLUMNS: tuple[str, ...] = ("rank", "gene", "elastic_net_rho_avg")


def nonlinear_genes(
    elastic_net_summary: pd.DataFrame,
    random_forest_summary: pd.DataFrame,
    top_n: int,
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """The genes where RandomForest beats ElasticNet most, on training individuals only.

    Parameters
    ----------
    elastic_net_summary : pandas.DataFrame
        The ``elastic_net`` rule's per-gene summary (``models/elastic_net.summary.tsv``):
        ``gene`` and ``rho_avg`` (nested-CV Pearson r on training individuals, NaN when the
        gene has no model or too few individuals).
    random_forest_summary : pandas.DataFrame
        The ``random_forest`` rule's per-gene summary: ``gene`` and ``oob_r`` (out-of-bag
        Pearson r on training individuals).
    top_n : int
        Size of the set (Shen et al. 2026: 300); 0 = no set. Fewer genes are returned when
        fewer have a positive margin (logged).
    log : logging.Logger, optional
        Where the counts go; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        :data:`NONLINEAR_COLUMNS`: ``rank`` (int64, 1 = largest margin), ``gene`` (str),
        ``random_forest_oob_r``, ``elastic_net_rho_avg``, ``margin`` (float64, unitless r
        difference, > 0). Sorted by margin descending, ties by gene ID. Genes missing from
        either table or with a NaN estimate are not ranked (their number is logged).

    Raises
    ------
    ValueError
        A table lacks its column, a gene repeats, or ``top_n`` is negative.
    """
    log = _LOG if log is None else log
    if top_n < 0:
        raise ValueError(f"evaluate.nonlinear_top_n must be >= 0, got {top_n}")
    for name, table, col in (
        ("elastic_net summary", elastic_net_summary, "rho_avg"),
        ("random_forest summary", random_forest_summary, "oob_r"),
    ):
        missing = [c for c in ("gene", col) if c not in table.columns]
        if missing:
            raise ValueError(
                f"{name}: missing column(s) {missing}; it must be the baselines rule's "
                "per-gene summary (models/<method>.summary.tsv)"
            )
        dup = table["gene"].astype(str).duplicated()
        if dup.any():
            raise ValueError(
                f"{name}: gene {table['gene'].astype(str)[dup].iloc[0]!r} appears twice"
            )
    en = elastic_net_summary[["gene", "rho_avg"]].astype({"gene": str, "rho_avg": np.float64})
    rf = random_forest_summary[["gene", "oob_r"]].astype({"gene": str, "oob_r": np.float64})
    both = rf.merge(en, on="gene", how="outer")
    both = both.rename(columns={"oob_r": "random_forest_oob_r", "rho_avg": "elastic_net_rho_avg"})
    both["margin"] = both["random_forest_oob_r"] - both["elastic_net_rho_avg"]
    defined = both["margin"].notna()
    ranked = both.loc[defined & (both["margin"] > 0)]
    ranked = ranked.sort_values(["margin", "gene"], ascending=[False, True], kind="stable")
    out = ranked.head(top_n).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    log.info(
        "nonlinear genes: %d genes with both estimates (%d without: no model, too few "
        "training individuals, or fitted by one baseline only); RandomForest's out-of-bag r "
        "beats ElasticNet's nested-CV r on %d; kept the top %d (evaluate.nonlinear_top_n = %d)%s",
        int(defined.sum()),
        int((~defined).sum()),
        len(ranked),
        len(out),
        top_n,
        f", margin {out['margin'].iloc[-1]:.3f} to {out['margin'].iloc[0]:.3f}" if len(out) else "",
    )
    if 0 < len(out) < top_n:
        log.warning(
            "nonlinear genes: only %d genes have a positive margin, fewer than "
            "evaluate.nonlinear_top_n = %d",
            len(out),
            top_n,
        )
    return out.loc[:, list(NONLINEAR_COLUMNS)].astype(
        {"rank": np.int64, "gene": object, "random_forest_oob_r": np.float64,
         "elastic_net_rho_avg": np.float64, "margin": np.float64}
    )  # fmt: skip


def top_elastic_net_genes(
    elastic_net_summary: pd.DataFrame, top_n: int, log: logging.Logger | None = None
) -> pd.DataFrame:
    """The genes the ElasticNet predicts best on training individuals (SAGE-net's selection).

    Parameters
    ----------
    elastic_net_summary : pandas.DataFrame
        The ``elastic_net`` rule's per-gene summary: ``gene`` and ``rho_avg`` (nested-CV
        Pearson r on training individuals; NaN without a model).
    top_n : int
        Size of the set; 0 = no set. Only genes with a finite ``rho_avg`` are ranked.
    log : logging.Logger, optional
        Where the counts go; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        :data:`TOP_ELASTIC_NET_COLUMNS`: ``rank`` (int64, 1 = best), ``gene`` (str),
        ``elastic_net_rho_avg`` (float64), sorted by ``rho_avg`` descending, ties by gene ID.

    Raises
    ------
    ValueError
        The table lacks ``gene`` or ``rho_avg``, a gene repeats, or ``top_n`` is negative.
    """
    log = _LOG if log is None else log
    if top_n < 0:
        raise ValueError(f"evaluate.top_elastic_net_n must be >= 0, got {top_n}")
    missing = [c for c in ("gene", "rho_avg") if c not in elastic_net_summary.columns]
    if missing:
        raise ValueError(
            f"elastic_net summary: missing column(s) {missing}; it must be the elastic_net "
            "rule's per-gene summary (models/elastic_net.summary.tsv)"
        )
    en = elastic_net_summary[["gene", "rho_avg"]].astype({"gene": str, "rho_avg": np.float64})
    dup = en["gene"].duplicated()
    if dup.any():
        raise ValueError(f"elastic_net summary: gene {en['gene'][dup].iloc[0]!r} appears twice")
    ranked = en.loc[np.isfinite(en["rho_avg"])]
    ranked = ranked.sort_values(["rho_avg", "gene"], ascending=[False, True], kind="stable")
    out = ranked.head(top_n).reset_index(drop=True)
    out = out.rename(columns={"rho_avg": "elastic_net_rho_avg"})
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    log.info(
        "top ElasticNet genes: %d genes with a nested-CV r, kept the top %d "
        "(evaluate.top_elastic_net_n = %d)%s",
        len(ranked),
        len(out),
        top_n,
        f", rho_avg {out['elastic_net_rho_avg'].iloc[-1]:.3f} to "
        f"{out['elastic_net_rho_avg'].iloc[0]:.3f}"
        if len(out)
        else "",
    )
    return out.loc[:, list(TOP_ELASTIC_NET_COLUMNS)].astype(
        {"rank": np.int64, "gene": object, "elastic_net_rho_avg": np.float64}
    )


def subset_cell(cell: str, name: str) -> str:
    """Label of the cell ``cell`` restricted to gene set ``name``.

    Parameters
    ----------
    cell : str
        A cell label (:func:`ps2f.schema.cell_label`).
    name : str
        Gene-set name, e.g. :data:`NONLINEAR`.

    Returns
    -------
    str
        ``"<cell>|<name>"``, e.g. ``"train_genes|heldout_individuals|nonlinear_genes"``.
    """
    return f"{cell}|{name}"


def gene_set_metrics(metrics: pd.DataFrame, genes, name: str) -> pd.DataFrame:
    """The per-gene metrics rows of a gene set, relabelled as cells of their own.

    Statistics over genes (:func:`ps2f.evaluation.summarize`,
    :func:`ps2f.evaluation.compare_models`) of these rows are those of the set within each
    cell. Per-gene values are copied unchanged (``perm_fdr`` stays the Benjamini-Hochberg
    value over the whole cell); whole-cell rows (``gene`` = ``__all__``) are not copied (the
    summary recomputes the cross-gene r from the per-gene means).

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`).
    genes : iterable of str
        The set's gene IDs.
    name : str
        The set's name (cell suffix, :func:`subset_cell`).

    Returns
    -------
    pandas.DataFrame
        :data:`ps2f.schema.METRIC_COLUMNS`; the rows of ``metrics`` whose gene is in the set,
        ``cell`` replaced by :func:`subset_cell` of it. Empty when no gene is in the set.
    """
    wanted = set(map(str, genes))
    sel = metrics["gene"].astype(str).isin(wanted) & (metrics["gene"] != ALL_GENES)
    out = metrics.loc[sel, list(METRIC_COLUMNS)].copy()
    out["cell"] = [subset_cell(str(c), name) for c in out["cell"]]
    return out.reset_index(drop=True)
