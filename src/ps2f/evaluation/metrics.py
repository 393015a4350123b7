"""Per-gene and cross-gene metrics from the predictions table.

This module reads tables only (no torch): the input is the predictions table of
:mod:`ps2f.schema` and the output is the long metrics table defined there, which
:func:`ps2f.evaluation.summary.summarize` summarizes over genes.

Definitions used throughout
---------------------------
cell
    One (gene set, individual set) pair, labelled by :func:`ps2f.schema.cell_label`, e.g.
    ``"heldout_genes|heldout_individuals"``. Metrics are never pooled across cells.
per-gene r
    Pearson correlation, across the individuals of one cell, between a model's prediction and
    the observed expression of one gene (Sasse et al. 2023; Huang et al. 2023; Spiro et al. 2026,
    SAGE-net). ``pearson_r`` and ``spearman_rho`` with their two-sided p-values under the null of
    no association (exact t / beta distribution of r for bivariate normal data, the p-values that
    :func:`scipy.stats.pearsonr` and :func:`scipy.stats.spearmanr` return).
cross-gene r
    Pearson correlation, across the genes of one cell, between each gene's mean prediction and
    its mean observed expression (Huang et al. 2023, fig. 1; SAGE-net's "cross-gene" metric). It
    measures whether a model ranks genes by expression level, not whether it explains variation
    between people; it is only meaningful when the observed values keep gene means (e.g.
    residualized expression with the gene means added back, as SAGE-net does), not after
    per-gene standardization.
gene-level significance (Sasse et al. 2023)
    A null distribution of r per gene from permutations of the individuals (the observed values
    are shuffled against the predictions, which breaks any association and keeps both
    marginals); ``perm_p`` is the two-sided permutation p-value
    ``(1 + #{|r_null| >= |r|}) / (1 + B)`` (Phipson & Smyth 2010), and ``perm_fdr`` the
    Benjamini-Hochberg adjusted p-value over the genes of one (model, cell) (Benjamini &
    Hochberg 1995). Sasse et al. built their per-gene null from random-weight SNV models and
    applied BH; a permutation null is the model-free equivalent for any predictor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from os import PathLike

import numpy as np
import pandas as pd

from ps2f.evaluation.correlation import corr_pvalue, group_pearson
from ps2f.evaluation.resampling import CHUNK_ELEMENTS, seeded_rng
from ps2f.evaluation.tables import (
    ALL_GENES,
    empty_metrics,
    format_counts,
    long_metrics,
    sort_keys,
    with_cells,
)
from ps2f.schema import validate_predictions

__all__ = [
    "PER_GENE_METRICS",
    "CROSS_GENE_METRICS",
    "PERMUTATION_METRICS",
    "permutation_fdr",
    "per_gene_metrics",
    "permutation_metrics",
    "bh_fdr",
    "cross_gene_metrics",
    "read_predictions",
]

_LOG = logging.getLogger(__name__)

#: Metric names written by :func:`per_gene_metrics`, in output order.
PER_GENE_METRICS: tuple[str, ...] = (
    "pearson_r",
    "pearson_p",
    "spearman_rho",
    "spearman_p",
    "n",
    "mean_observed",
    "mean_predicted",
)
#: Metric names written by :func:`permutation_metrics`, in output order.
PERMUTATION_METRICS: tuple[str, ...] = ("perm_p", "perm_fdr")
#: Metric names written by :func:`cross_gene_metrics`, in output order.
CROSS_GENE_METRICS: tuple[str, ...] = ("cross_gene_pearson_r", "cross_gene_n")
# grouping keys on the predictions table; ``cell`` is derived from the two set columns
_ROW_KEYS = ["model", "gene_set", "individual_set", "gene"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _logger(log: logging.Logger | None) -> logging.Logger:
    return _LOG if log is None else log


def _finite_rows(pred: pd.DataFrame, log: logging.Logger) -> np.ndarray:
    """Mask of rows with finite observed and predicted values; logs the dropped count."""
    ok = np.isfinite(pred["observed"].to_numpy()) & np.isfinite(pred["predicted"].to_numpy())
    if not ok.all():
        log.warning(
            "dropped %d row(s) with NaN or infinite observed/predicted values (%s)",
            int((~ok).sum()),
            format_counts(with_cells(pred.loc[~ok]), np.ones(int((~ok).sum()), dtype=bool)),
        )
    return ok


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def per_gene_metrics(
    predictions: pd.DataFrame,
    min_individuals: int = 3,
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Per-gene correlation across individuals, for every (model, cell, gene).

    For each model, cell (:func:`ps2f.schema.cell_label` of ``gene_set`` and
    ``individual_set``) and gene, correlate ``predicted`` with ``observed`` across the
    individuals of that cell: Pearson r with its two-sided p-value (as
    :func:`scipy.stats.pearsonr`), Spearman rho (Pearson r of average ranks, so ties get mid
    ranks) with its two-sided p-value (as :func:`scipy.stats.spearmanr`, t approximation), and
    the number of individuals used. Computed for all genes at once from group sums (no loop
    over genes).

    Parameters
    ----------
    predictions : pandas.DataFrame
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`); ``observed`` and
        ``predicted`` are float64 (expression and model units; only their variation across
        individuals within a gene matters here). Rows whose ``observed`` or ``predicted`` is
        NaN or infinite are dropped before computing (their number is logged); a gene keeps its
        rows in the output even if none of its rows is usable (then ``n`` = 0).
    min_individuals : int, default 3
        Smallest number of individuals for which r is computed; at least 3 (a p-value needs
        n - 2 >= 1 degrees of freedom).
    log : logging.Logger, optional
        Where to log dropped rows and undefined metrics; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        Long metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with, per (model, cell, gene),
        one row for each of :data:`PER_GENE_METRICS`: ``pearson_r``, ``pearson_p``,
        ``spearman_rho``, ``spearman_p`` (unitless, float64), ``n`` (number of individuals,
        stored as float64), ``mean_observed`` and ``mean_predicted`` (the gene's mean observed
        expression and mean prediction over those individuals, in expression and model units;
        NaN when n = 0; the inputs of the cross-gene r and its bootstrap in
        :func:`ps2f.evaluation.summary.summarize`).
        Sorted by model, cell (in :data:`ps2f.schema.CELLS` order), gene.
        The four correlation values are NaN when n < ``min_individuals``, when the predictions
        are constant across the individuals (or constant up to rounding, spread below 1e-13 of
        the mean, scipy's near-constant threshold), or when the observed values are; the number
        of such genes per model and cell is logged as one warning line per reason.

    Raises
    ------
    ValueError
        If the table fails :func:`ps2f.schema.validate_predictions`, or
        ``min_individuals < 3``.
    """
    log = _logger(log)
    if min_individuals < 3:
        raise ValueError(
            f"min_individuals must be >= 3 (a p-value needs n - 2 >= 1), got {min_individuals}"
        )
    pred = validate_predictions(predictions)
    if pred.empty:
        return empty_metrics()

    ok = _finite_rows(pred, log)
    obs = np.where(ok, pred["observed"].to_numpy(), np.nan)
    prd = np.where(ok, pred["predicted"].to_numpy(), np.nan)

    grouped = pred.groupby(_ROW_KEYS, sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = with_cells(grouped.size().index.to_frame(index=False))
    n_groups = len(keys)

    r, n, const_pred, const_obs = group_pearson(group, prd, obs, n_groups)
    ranks = pd.DataFrame({"p": prd, "o": obs}).groupby(group).rank(method="average")
    rho, _, _, _ = group_pearson(group, ranks["p"].to_numpy(), ranks["o"].to_numpy(), n_groups)

    too_few = n < min_individuals
    reasons = {
        f"fewer than min_individuals={min_individuals} individuals with finite values": too_few,
        "predictions constant across individuals": ~too_few & const_pred,
        "observed expression constant across individuals (predictions not constant)": (
            ~too_few & ~const_pred & const_obs
        ),
    }
    undefined = np.zeros(n_groups, dtype=bool)
    for reason, mask in reasons.items():
        undefined |= mask
        if mask.any():
            log.warning(
                "per-gene r set to NaN for %d gene(s): %s (%s)",
                int(mask.sum()),
                reason,
                format_counts(keys, mask),
            )
    r[undefined] = np.nan
    rho[undefined] = np.nan

    with np.errstate(invalid="ignore", divide="ignore"):
        mean_obs = np.bincount(group, weights=np.where(ok, obs, 0.0), minlength=n_groups) / n
        mean_prd = np.bincount(group, weights=np.where(ok, prd, 0.0), minlength=n_groups) / n
    wide = {
        "pearson_r": r,
        "pearson_p": corr_pvalue(r, n),
        "spearman_rho": rho,
        "spearman_p": corr_pvalue(rho, n),
        "n": n,
        "mean_observed": mean_obs,
        "mean_predicted": mean_prd,
    }
    order = sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    idx = order["_i"].to_numpy()
    return long_metrics(
        order.drop(columns="_i").reset_index(drop=True),
        {k: v[idx] for k, v in wide.items()},
        PER_GENE_METRICS,
    )


def bh_fdr(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up FDR), ignoring NaN.

    For the m non-NaN p-values sorted ascending, ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``
    (Benjamini & Hochberg 1995); a gene is called at FDR level ``f`` when ``q < f``. Equal to
    :func:`scipy.stats.false_discovery_control` with ``method="bh"`` on the non-NaN values
    (which rejects NaN).

    Parameters
    ----------
    pvalues : numpy.ndarray, shape (m,), float64
        p-values in [0, 1]; NaN entries are not tests (they stay NaN and do not count in m).

    Returns
    -------
    numpy.ndarray, shape (m,), float64
        Adjusted p-values in [0, 1], NaN where the input is NaN.

    Raises
    ------
    ValueError
        If a p-value lies outside [0, 1] or the input is not one-dimensional.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    q = np.full(p.shape, np.nan)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    scaled = pv[order] * m / np.arange(1, m + 1)
    adj = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adj
    q[ok] = out
    return q


def permutation_metrics(
    predictions: pd.DataFrame,
    n_permutations: int = 1000,
    seed: int = 0,
    min_individuals: int = 3,
    log: logging.Logger | None = None,
    fdr: bool = True,
) -> pd.DataFrame:
    """Per-gene permutation p-values of r and their Benjamini-Hochberg FDR, per (model, cell).

    For each (model, cell, gene) with a defined Pearson r (see :func:`per_gene_metrics`), the
    observed values are permuted across the gene's individuals ``n_permutations`` times and r
    recomputed, giving the gene's null distribution (Sasse et al. 2023 test each gene's r
    against a gene-specific null, then apply Benjamini-Hochberg). ``perm_p`` is the two-sided
    permutation p-value ``(1 + #{b : |r_b| >= |r|}) / (1 + B)`` (Phipson & Smyth 2010: never
    0; at least ``1 / (1 + B)``), and ``perm_fdr`` the BH-adjusted ``perm_p`` over the genes of
    the same (model, cell) (:func:`bh_fdr`).

    The permutations are vectorized: genes of one (model, cell) with the same number of
    individuals n share one (B, n) matrix of permutations (permuting individuals jointly, as in
    eQTL permutation schemes), and the B null r's of a block of genes come from one gathered
    (genes, B, n) array and a sum over individuals; no Python loop over permutations or genes.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`); rows with a non-finite
        ``observed`` or ``predicted`` are dropped (and counted in the log).
    n_permutations : int, default 1000
        Permutations per gene (B >= 1); the smallest attainable p-value is ``1 / (1 + B)``.
    seed : int, default 0
        Seed; each (model, cell, n) draws from its own generator seeded by ``seed`` and its
        names, so a model's p-values do not depend on the other models in the table.
    min_individuals : int, default 3
        Genes with fewer individuals get NaN (as in :func:`per_gene_metrics`).
    log : logging.Logger, optional
        Where to log dropped rows; default this module's logger.
    fdr : bool, default True
        False leaves ``perm_fdr`` out: for one gene chunk of a gene set, whose FDR
        :func:`permutation_fdr` computes once the chunks' ``perm_p`` rows are gathered. A gene's
        ``perm_p`` does not depend on the other genes of the table.

    Returns
    -------
    pandas.DataFrame
        Long metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with, per (model, cell, gene),
        ``perm_p`` and ``perm_fdr`` (float64 in (0, 1]; NaN where r is undefined: constant
        predictions or observations, or too few individuals). Sorted like
        :func:`per_gene_metrics`.

    Raises
    ------
    ValueError
        If the table fails :func:`ps2f.schema.validate_predictions`, ``n_permutations < 1``
        or ``min_individuals < 3``.
    """
    log = _logger(log)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    if min_individuals < 3:
        raise ValueError(f"min_individuals must be >= 3, got {min_individuals}")
    pred = validate_predictions(predictions)
    if pred.empty:
        return empty_metrics()
    ok = _finite_rows(pred, log)
    grouped = pred.groupby(_ROW_KEYS, sort=True)
    group_all = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = with_cells(grouped.size().index.to_frame(index=False))
    n_groups = len(keys)

    # rows sorted by group, finite rows only: each group's rows are one contiguous block
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(group_all[rows], kind="stable")]
    group = group_all[rows]
    obs = pred["observed"].to_numpy()[rows]
    prd = pred["predicted"].to_numpy()[rows]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    r, _, const_p, const_o = group_pearson(group, prd, obs, n_groups)
    usable = (counts >= min_individuals) & ~const_p & ~const_o & ~np.isnan(r)

    perm_p = np.full(n_groups, np.nan)
    blocks = keys.loc[usable, ["model", "cell"]].assign(n=counts[usable], _g=np.flatnonzero(usable))
    for (model, cell, n), block in blocks.groupby(["model", "cell", "n"], sort=True):
        gids = block["_g"].to_numpy()
        idx = starts[gids][:, None] + np.arange(n)[None, :]  # (G, n) row positions
        zp = _standardize(prd[idx])
        zo = _standardize(obs[idx])
        r_obs = np.abs(np.einsum("gn,gn->g", zp, zo))
        rng = seeded_rng(seed, model, cell, f"permutations n={n}")
        perms = rng.permuted(np.broadcast_to(np.arange(n), (n_permutations, n)), axis=1)
        exceed = np.zeros(len(gids), dtype=np.int64)
        step = max(1, CHUNK_ELEMENTS // (n_permutations * n))
        for a in range(0, len(gids), step):
            b = min(len(gids), a + step)
            null = np.einsum("gbn,gn->gb", zo[a:b][:, perms], zp[a:b])  # (genes, B) null r
            # a tolerance so that a null r equal to |r| up to rounding counts as >=
            exceed[a:b] = (np.abs(null) >= r_obs[a:b, None] - 1e-12).sum(axis=1)
        perm_p[gids] = (1.0 + exceed) / (1.0 + n_permutations)

    order = sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    i = order["_i"].to_numpy()
    table = long_metrics(
        order.drop(columns="_i").reset_index(drop=True), {"perm_p": perm_p[i]}, ("perm_p",)
    )
    return permutation_fdr(table) if fdr else table


def permutation_fdr(perm_p: pd.DataFrame) -> pd.DataFrame:
    """Add ``perm_fdr``, the Benjamini-Hochberg FDR of ``perm_p`` over each (model, cell)'s genes.

    Parameters
    ----------
    perm_p : pandas.DataFrame
        Long metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) of ``perm_p`` rows only, one per
        (model, cell, gene): :func:`permutation_metrics` with ``fdr=False``, or the gathered rows
        of several gene chunks (in any order).

    Returns
    -------
    pandas.DataFrame
        ``perm_p`` and ``perm_fdr`` per (model, cell, gene), sorted by model, cell and gene (as
        :func:`permutation_metrics` returns them).

    Raises
    ------
    ValueError
        A row is not ``perm_p``, or a (model, cell, gene) has two rows.
    """
    if perm_p.empty:
        return empty_metrics()
    if set(perm_p["metric"]) != {"perm_p"}:
        raise ValueError(f"expected perm_p rows only, got {sorted(set(perm_p['metric']))}")
    if perm_p.duplicated(["model", "cell", "gene"]).any():
        raise ValueError("perm_p rows: a (model, cell, gene) appears twice")
    keys = sort_keys(perm_p.loc[:, ["model", "cell", "gene", "value"]], ["model", "cell", "gene"])
    keys = keys.reset_index(drop=True)
    pvalues = keys["value"].to_numpy(np.float64)
    perm_fdr = np.full(len(keys), np.nan)
    for _, members in keys.groupby(["model", "cell"], sort=False).indices.items():
        perm_fdr[members] = bh_fdr(pvalues[members])
    return long_metrics(
        keys.drop(columns="value"), {"perm_p": pvalues, "perm_fdr": perm_fdr}, PERMUTATION_METRICS
    )


def _standardize(a: np.ndarray) -> np.ndarray:
    """Centre each row and scale it to unit Euclidean norm, so that a dot product is Pearson r."""
    d = a - a.mean(axis=1, keepdims=True)
    return d / np.sqrt(np.einsum("gn,gn->g", d, d))[:, None]


def cross_gene_metrics(
    predictions: pd.DataFrame, log: logging.Logger | None = None
) -> pd.DataFrame:
    """Cross-gene Pearson r of gene-mean prediction vs gene-mean expression, per (model, cell).

    For each model and cell, average ``predicted`` and ``observed`` over the individuals of each
    gene (rows with NaN or infinite values dropped first), then correlate the two vectors of
    gene means across genes (Huang et al. 2023, *Nat Genet* 55:2056, fig. 1: "cross-gene"
    correlation; SAGE-net's cross-gene metric). High values show that a model ranks genes by
    their expression level; they say nothing about differences between individuals.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`). The metric is meaningful only
        when ``observed`` keeps gene means (not per-gene standardized expression).
    log : logging.Logger, optional
        Where to log dropped rows and undefined values; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with ``gene`` =
        :data:`ps2f.evaluation.tables.ALL_GENES` (``"__all__"``) and two rows per (model, cell):
        ``cross_gene_pearson_r`` (unitless; NaN with fewer than 3 genes or constant gene means)
        and ``cross_gene_n`` (number of genes with at least one finite row, float64).

    Raises
    ------
    ValueError
        If the table fails :func:`ps2f.schema.validate_predictions`.
    """
    log = _logger(log)
    pred = validate_predictions(predictions)
    ok = _finite_rows(pred, log) if not pred.empty else np.zeros(0, dtype=bool)
    pred = pred.loc[ok]
    if pred.empty:
        return empty_metrics()

    means = with_cells(
        pred.groupby(_ROW_KEYS, sort=True)[["observed", "predicted"]].mean().reset_index()
    )
    grouped = means.groupby(["model", "cell"], sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().index.to_frame(index=False)
    r, n, const_pred, const_obs = group_pearson(
        group, means["predicted"].to_numpy(), means["observed"].to_numpy(), len(keys)
    )
    bad = (n < 3) | const_pred | const_obs
    r[bad] = np.nan
    if bad.any():
        log.warning(
            "cross-gene r set to NaN for %d (model, cell) pair(s): fewer than 3 genes or constant "
            "gene means (%s)",
            int(bad.sum()),
            format_counts(keys, bad),
        )
    keys = keys.assign(gene=ALL_GENES, _i=np.arange(len(keys)))
    order = sort_keys(keys, ["model", "cell"])
    idx = order["_i"].to_numpy()
    return long_metrics(
        order.drop(columns="_i").reset_index(drop=True),
        {"cross_gene_pearson_r": r[idx], "cross_gene_n": n[idx]},
        CROSS_GENE_METRICS,
    )


def read_predictions(paths: Iterable[str | PathLike[str]]) -> pd.DataFrame:
    """Read and concatenate predictions tables from parquet files, validating each and the union.

    Parameters
    ----------
    paths : iterable of str or path-like
        Parquet files, each a predictions table (usually one per model and fold).

    Returns
    -------
    pandas.DataFrame
        The concatenated table with :data:`ps2f.schema.PREDICTION_COLUMNS`, canonical dtypes.

    Raises
    ------
    ValueError
        If ``paths`` is empty, a file fails :func:`ps2f.schema.validate_predictions` (the
        message names the file), or a (model, gene, individual) appears in two files.
    FileNotFoundError
        If a file does not exist.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("read_predictions: no files given")
    frames = [validate_predictions(pd.read_parquet(p), source=p) for p in paths]
    return validate_predictions(
        pd.concat(frames, ignore_index=True), source=f"union of {len(paths)} predictions file(s)"
    )
