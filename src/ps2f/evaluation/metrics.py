"""Per-gene and cross-gene metrics, and their bootstrap summaries, from the predictions table.

This module reads tables only (no torch): the input is the predictions table of
:mod:`ps2f.schema` and the outputs are the long metrics table and the summary table defined there.

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
direction accuracy (gene level)
    Among genes whose per-gene r is nominally significant (``pearson_p < alpha``), the fraction
    with r > 0 (definition (a) in ``notes/anchors.md``; Sasse et al. 2023 report 404 of 599
    significant genes positive for Enformer on ROSMAP).
gene-level significance (Sasse et al. 2023)
    A null distribution of r per gene from permutations of the individuals (the observed values
    are shuffled against the predictions, which breaks any association and keeps both
    marginals); ``perm_p`` is the two-sided permutation p-value
    ``(1 + #{|r_null| >= |r|}) / (1 + B)`` (Phipson & Smyth 2010), and ``perm_fdr`` the
    Benjamini-Hochberg adjusted p-value over the genes of one (model, cell) (Benjamini &
    Hochberg 1995). Sasse et al. built their per-gene null from random-weight SNV models and
    applied BH; a permutation null is the model-free equivalent for any predictor.
direction accuracy, gene level (definition (a))
    Among significant genes, the fraction with r > 0: ``direction_accuracy_nominal``
    (``pearson_p < alpha``), ``direction_accuracy_fdr`` (``perm_fdr < fdr``) and
    ``direction_accuracy_set`` (``perm_fdr < fdr`` and ``|r| > set_r_threshold``, Sasse's
    "set0.2").
direction accuracy, variant level (definition (b))
    See :mod:`ps2f.evaluation.eqtl`: ``lead_direction_correct`` per gene, summarized as
    ``direction_accuracy_variant``.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from collections.abc import Iterable, Sequence
from os import PathLike

import numpy as np
import pandas as pd
from scipy import special

from ps2f.schema import (
    CELLS,
    METRIC_COLUMNS,
    SUMMARY_COLUMNS,
    cell_label,
    validate_predictions,
)

__all__ = [
    "ALL_GENES",
    "PER_GENE_METRICS",
    "CROSS_GENE_METRICS",
    "PERMUTATION_METRICS",
    "SUMMARY_STATISTICS",
    "per_gene_metrics",
    "permutation_metrics",
    "bh_fdr",
    "cross_gene_metrics",
    "summarize",
    "percentile_ci",
    "read_predictions",
]

_LOG = logging.getLogger(__name__)

#: ``gene`` value of metrics rows that describe a whole cell rather than one gene.
ALL_GENES = "__all__"
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
#: Statistic names written by :func:`summarize`, in output order.
SUMMARY_STATISTICS: tuple[str, ...] = (
    "median_r",
    "median_spearman_rho",
    "frac_positive",
    "direction_accuracy_nominal",
    "n_significant",
    "direction_accuracy_fdr",
    "n_significant_fdr",
    "direction_accuracy_set",
    "n_set",
    "direction_accuracy_variant",
    "cross_gene_pearson_r",
)

# grouping keys on the predictions table; ``cell`` is derived from the two set columns
_ROW_KEYS = ["model", "gene_set", "individual_set", "gene"]
# Relative spread under which a vector counts as constant: scipy.stats.pearsonr's
# near-constant threshold (||x - mean(x)|| < 1e-13 * |mean(x)|), below which r is rounding noise.
_NEAR_CONSTANT_RTOL = 1e-13
# Bootstrap resamples are drawn in chunks of at most this many indices (memory bound ~32 MB).
_BOOT_CHUNK_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _logger(log: logging.Logger | None) -> logging.Logger:
    return _LOG if log is None else log


def _with_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace ``gene_set`` and ``individual_set`` by ``cell`` (labels from :func:`cell_label`).

    Called on group keys and on the few logged rows, never on the full predictions table.
    """
    pairs = zip(frame["gene_set"], frame["individual_set"], strict=True)
    cells = [cell_label(g, i) for g, i in pairs]
    out = frame.drop(columns=["gene_set", "individual_set"])
    out.insert(1, "cell", pd.Series(cells, index=frame.index, dtype=object))
    return out


def _sort_keys(keys: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sort by model, cell in :data:`CELLS` order, then the remaining columns."""
    order = keys.assign(_cell=pd.Categorical(keys["cell"], categories=CELLS, ordered=True))
    by = ["_cell" if c == "cell" else c for c in by]
    return order.sort_values(by, kind="stable").drop(columns="_cell")


def _count_lines(keys: pd.DataFrame, mask: np.ndarray) -> str:
    """Summarize ``mask`` (one bool per row of ``keys``) as "model=.. cell=..: count; ..."."""
    counts = keys.loc[mask].groupby(["model", "cell"], sort=True).size()
    return "; ".join(f"model={m} cell={c}: {int(v)}" for (m, c), v in counts.items())


def _group_pearson(
    group: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pearson r of ``x`` vs ``y`` within each group, ignoring rows where either is NaN.

    Parameters
    ----------
    group : numpy.ndarray, shape (rows,), int64
        Group code of each row, in ``0..n_groups-1``.
    x, y : numpy.ndarray, shape (rows,), float64
        Paired values; a row with a NaN in either is left out of its group.
    n_groups : int
        Number of groups.

    Returns
    -------
    r, n : numpy.ndarray, shape (n_groups,), float64
        Pearson r (NaN where undefined) and the number of complete rows per group.
    const_x, const_y : numpy.ndarray, shape (n_groups,), bool
        Whether ``x`` / ``y`` is constant (or constant up to rounding) within the group.
    """
    ok = ~(np.isnan(x) | np.isnan(y))
    w = ok.astype(np.float64)
    n = np.bincount(group, weights=w, minlength=n_groups)
    x0 = np.where(ok, x, 0.0)
    y0 = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(group, weights=x0, minlength=n_groups) / n
        my = np.bincount(group, weights=y0, minlength=n_groups) / n
        dx = np.where(ok, x0 - mx[group], 0.0)
        dy = np.where(ok, y0 - my[group], 0.0)
        sxx = np.bincount(group, weights=dx * dx, minlength=n_groups)
        syy = np.bincount(group, weights=dy * dy, minlength=n_groups)
        sxy = np.bincount(group, weights=dx * dy, minlength=n_groups)

        ext = (
            pd.DataFrame({"x": np.where(ok, x, np.nan), "y": np.where(ok, y, np.nan)})
            .groupby(group)
            .agg(["min", "max"])
            .reindex(range(n_groups))
        )
        const_x = (ext[("x", "max")] == ext[("x", "min")]).to_numpy() | (
            np.sqrt(sxx) < _NEAR_CONSTANT_RTOL * np.abs(mx)
        )
        const_y = (ext[("y", "max")] == ext[("y", "min")]).to_numpy() | (
            np.sqrt(syy) < _NEAR_CONSTANT_RTOL * np.abs(my)
        )
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    r[const_x | const_y | (n < 2)] = np.nan
    return r, n, const_x, const_y


def _corr_pvalue(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a correlation coefficient under independence.

    Under bivariate normality and rho = 0, ``(r + 1) / 2 ~ Beta(n/2 - 1, n/2 - 1)``, equivalently
    ``r * sqrt((n - 2) / (1 - r**2)) ~ t(n - 2)``; this is the p-value of
    :func:`scipy.stats.pearsonr` (and, applied to ranks, of :func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    r : numpy.ndarray, float64
        Correlation coefficients in [-1, 1] (NaN allowed).
    n : numpy.ndarray, float64
        Numbers of pairs, same shape; p is NaN where ``n < 3``.

    Returns
    -------
    numpy.ndarray, float64
        p in [0, 1].
    """
    a = n / 2.0 - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * special.betainc(a, a, (1.0 - np.abs(r)) / 2.0)
    p = np.where((n >= 3) & ~np.isnan(r), np.clip(p, 0.0, 1.0), np.nan)
    return p


def _long(keys: pd.DataFrame, wide: dict[str, np.ndarray], metrics: Sequence[str]) -> pd.DataFrame:
    """Stack per-key metric arrays into the long metrics table, metric-major within a key."""
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


def _empty_metrics() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in METRIC_COLUMNS})
    out["value"] = out["value"].astype(np.float64)
    return out


def _finite_rows(pred: pd.DataFrame, log: logging.Logger) -> np.ndarray:
    """Mask of rows with finite observed and predicted values; logs the dropped count."""
    ok = np.isfinite(pred["observed"].to_numpy()) & np.isfinite(pred["predicted"].to_numpy())
    if not ok.all():
        log.warning(
            "dropped %d row(s) with NaN or infinite observed/predicted values (%s)",
            int((~ok).sum()),
            _count_lines(_with_cells(pred.loc[~ok]), np.ones(int((~ok).sum()), dtype=bool)),
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
        NaN when n = 0; the inputs of the cross-gene r and its bootstrap in :func:`summarize`).
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
        return _empty_metrics()

    ok = _finite_rows(pred, log)
    obs = np.where(ok, pred["observed"].to_numpy(), np.nan)
    prd = np.where(ok, pred["predicted"].to_numpy(), np.nan)

    grouped = pred.groupby(_ROW_KEYS, sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = _with_cells(grouped.size().index.to_frame(index=False))
    n_groups = len(keys)

    r, n, const_pred, const_obs = _group_pearson(group, prd, obs, n_groups)
    ranks = pd.DataFrame({"p": prd, "o": obs}).groupby(group).rank(method="average")
    rho, _, _, _ = _group_pearson(group, ranks["p"].to_numpy(), ranks["o"].to_numpy(), n_groups)

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
                _count_lines(keys, mask),
            )
    r[undefined] = np.nan
    rho[undefined] = np.nan

    with np.errstate(invalid="ignore", divide="ignore"):
        mean_obs = np.bincount(group, weights=np.where(ok, obs, 0.0), minlength=n_groups) / n
        mean_prd = np.bincount(group, weights=np.where(ok, prd, 0.0), minlength=n_groups) / n
    wide = {
        "pearson_r": r,
        "pearson_p": _corr_pvalue(r, n),
        "spearman_rho": rho,
        "spearman_p": _corr_pvalue(rho, n),
        "n": n,
        "mean_observed": mean_obs,
        "mean_predicted": mean_prd,
    }
    order = _sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    idx = order["_i"].to_numpy()
    return _long(
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
        return _empty_metrics()
    ok = _finite_rows(pred, log)
    grouped = pred.groupby(_ROW_KEYS, sort=True)
    group_all = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = _with_cells(grouped.size().index.to_frame(index=False))
    n_groups = len(keys)

    # rows sorted by group, finite rows only: each group's rows are one contiguous block
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(group_all[rows], kind="stable")]
    group = group_all[rows]
    obs = pred["observed"].to_numpy()[rows]
    prd = pred["predicted"].to_numpy()[rows]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    r, _, const_p, const_o = _group_pearson(group, prd, obs, n_groups)
    usable = (counts >= min_individuals) & ~const_p & ~const_o & ~np.isnan(r)

    perm_p = np.full(n_groups, np.nan)
    blocks = keys.loc[usable, ["model", "cell"]].assign(n=counts[usable], _g=np.flatnonzero(usable))
    for (model, cell, n), block in blocks.groupby(["model", "cell", "n"], sort=True):
        gids = block["_g"].to_numpy()
        idx = starts[gids][:, None] + np.arange(n)[None, :]  # (G, n) row positions
        zp = _standardize(prd[idx])
        zo = _standardize(obs[idx])
        r_obs = np.abs(np.einsum("gn,gn->g", zp, zo))
        rng = _rng(seed, model, cell, f"permutations n={n}")
        perms = rng.permuted(np.broadcast_to(np.arange(n), (n_permutations, n)), axis=1)
        exceed = np.zeros(len(gids), dtype=np.int64)
        step = max(1, _BOOT_CHUNK_ELEMENTS // (n_permutations * n))
        for a in range(0, len(gids), step):
            b = min(len(gids), a + step)
            null = np.einsum("gbn,gn->gb", zo[a:b][:, perms], zp[a:b])  # (genes, B) null r
            # a tolerance so that a null r equal to |r| up to rounding counts as >=
            exceed[a:b] = (np.abs(null) >= r_obs[a:b, None] - 1e-12).sum(axis=1)
        perm_p[gids] = (1.0 + exceed) / (1.0 + n_permutations)

    perm_fdr = np.full(n_groups, np.nan)
    for _, members in keys.groupby(["model", "cell"], sort=False).indices.items():
        perm_fdr[members] = bh_fdr(perm_p[members])

    order = _sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    i = order["_i"].to_numpy()
    return _long(
        order.drop(columns="_i").reset_index(drop=True),
        {"perm_p": perm_p[i], "perm_fdr": perm_fdr[i]},
        PERMUTATION_METRICS,
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
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with ``gene`` = :data:`ALL_GENES`
        (``"__all__"``) and two rows per (model, cell): ``cross_gene_pearson_r`` (unitless;
        NaN with fewer than 3 genes or constant gene means) and ``cross_gene_n`` (number of genes
        with at least one finite row, float64).

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
        return _empty_metrics()

    means = _with_cells(
        pred.groupby(_ROW_KEYS, sort=True)[["observed", "predicted"]].mean().reset_index()
    )
    grouped = means.groupby(["model", "cell"], sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().index.to_frame(index=False)
    r, n, const_pred, const_obs = _group_pearson(
        group, means["predicted"].to_numpy(), means["observed"].to_numpy(), len(keys)
    )
    bad = (n < 3) | const_pred | const_obs
    r[bad] = np.nan
    if bad.any():
        log.warning(
            "cross-gene r set to NaN for %d (model, cell) pair(s): fewer than 3 genes or constant "
            "gene means (%s)",
            int(bad.sum()),
            _count_lines(keys, bad),
        )
    keys = keys.assign(gene=ALL_GENES, _i=np.arange(len(keys)))
    order = _sort_keys(keys, ["model", "cell"])
    idx = order["_i"].to_numpy()
    return _long(
        order.drop(columns="_i").reset_index(drop=True),
        {"cross_gene_pearson_r": r[idx], "cross_gene_n": n[idx]},
        CROSS_GENE_METRICS,
    )


def _pearson_rows(a: np.ndarray) -> np.ndarray:
    """Pearson r within each resample of pairs, ``a`` of shape (B, m, 2); NaN if constant."""
    d = a - a.mean(axis=1, keepdims=True)
    sxy = np.einsum("bm,bm->b", d[..., 0], d[..., 1])
    sxx = np.einsum("bm,bm->b", d[..., 0], d[..., 0])
    syy = np.einsum("bm,bm->b", d[..., 1], d[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r[(sxx == 0) | (syy == 0)] = np.nan
    return r


_REDUCERS = {
    "median": lambda a: np.median(a, axis=1),
    "nanmedian": lambda a: np.nanmedian(a, axis=1),
    "mean": lambda a: a.mean(axis=1),
    "sum": lambda a: a.sum(axis=1),
    "pearson": _pearson_rows,
}


def _bootstrap(
    columns: dict[str, tuple[np.ndarray, str]], n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Bootstrap distributions of several statistics of the same resampled genes.

    Parameters
    ----------
    columns : dict of str to (numpy.ndarray of shape (genes,) or (genes, k), str)
        Per-gene values and the reducer applied to each resample (``"median"``,
        ``"nanmedian"``, ``"mean"``, ``"sum"``, or ``"pearson"`` for (genes, 2) pairs). All
        arrays have the same first dimension and are resampled with the same indices.
    n_boot : int
        Number of resamples.
    rng : numpy.random.Generator
        Source of the resampling indices.

    Returns
    -------
    dict of str to numpy.ndarray, shape (n_boot,), float64
        The statistic of each resample. Resamples are drawn in chunks to bound memory.
    """
    m = next(iter(columns.values()))[0].shape[0]
    out = {k: np.empty(n_boot, dtype=np.float64) for k in columns}
    chunk = max(1, _BOOT_CHUNK_ELEMENTS // max(m, 1))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, m, size=(stop - start, m))
        for k, (values, how) in columns.items():
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resample: NaN
                out[k][start:stop] = _REDUCERS[how](values[idx])
    return out


def _rng(seed: int, model: str, cell: str, what: str) -> np.random.Generator:
    """Make a generator seeded by ``seed`` and the (model, cell, statistic) name.

    A group's resamples therefore do not depend on which other groups are in the table.
    """
    key = zlib.crc32(f"{model}\x00{cell}\x00{what}".encode())
    return np.random.default_rng([seed, key])


def percentile_ci(boot: np.ndarray | None, ci_level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) of a bootstrap sample.

    Parameters
    ----------
    boot : numpy.ndarray, shape (B,), float64, or None
        Statistic of each resample; NaN resamples (e.g. a correlation of a constant resample)
        are left out.
    ci_level : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    (float, float)
        The ``(1 - ci_level) / 2`` and ``(1 + ci_level) / 2`` quantiles; NaN when ``boot`` is
        None or has no finite value.
    """
    if boot is None:
        return np.nan, np.nan
    b = boot[np.isfinite(boot)]
    if b.size == 0:
        return np.nan, np.nan
    lo, hi = np.quantile(b, [(1.0 - ci_level) / 2.0, (1.0 + ci_level) / 2.0])
    return float(lo), float(hi)


def _fraction_positive_among(
    pos: np.ndarray, mask: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, np.ndarray | None, int]:
    """Fraction of ``pos`` among ``mask`` genes, with a bootstrap over those genes only."""
    k = int(mask.sum())
    if k == 0:
        return np.nan, None, 0
    sub = pos[mask]
    boot = _bootstrap({"d": (sub, "mean")}, n_boot, rng)["d"] if n_boot > 0 else None
    return float(sub.mean()), boot, k


def _summarize_group(
    model: str,
    cell: str,
    sub: pd.DataFrame,
    alpha: float,
    fdr: float,
    set_r_threshold: float,
    n_boot: int,
    seed: int,
) -> list[tuple[str, float, np.ndarray | None, int]]:
    """Statistics of one (model, cell): a list of (statistic, estimate, bootstrap, n_genes)."""
    out: list[tuple[str, float, np.ndarray | None, int]] = []
    r_all = sub["pearson_r"].to_numpy()
    defined = ~np.isnan(r_all)
    r = r_all[defined]
    m = r.size
    has_fdr = "perm_fdr" in sub.columns
    has_rho = "spearman_rho" in sub.columns
    if m == 0:
        names = ["median_r"] + (["median_spearman_rho"] if has_rho else [])
        names += ["frac_positive", "direction_accuracy_nominal", "n_significant"]
        if has_fdr:
            names += [
                "direction_accuracy_fdr",
                "n_significant_fdr",
                "direction_accuracy_set",
                "n_set",
            ]
        out += [(name, np.nan, None, 0) for name in names]
    else:
        pos = (r > 0).astype(np.float64)
        sig = sub["pearson_p"].to_numpy()[defined] < alpha  # NaN p is not significant
        cols: dict[str, tuple[np.ndarray, str]] = {
            "r": (r, "median"),
            "pos": (pos, "mean"),
            "sig": (sig.astype(np.float64), "sum"),
        }
        if has_rho:
            rho = sub["spearman_rho"].to_numpy()[defined]
            cols["rho"] = (rho, "nanmedian")
        if has_fdr:
            sig_fdr = sub["perm_fdr"].to_numpy()[defined] < fdr
            in_set = sig_fdr & (np.abs(r) > set_r_threshold)
            cols["sig_fdr"] = (sig_fdr.astype(np.float64), "sum")
            cols["set"] = (in_set.astype(np.float64), "sum")
        boot: dict[str, np.ndarray | None] = dict.fromkeys(cols)
        if n_boot > 0:
            boot.update(_bootstrap(cols, n_boot, _rng(seed, model, cell, "genes")))
        out.append(("median_r", float(np.median(r)), boot["r"], m))
        if has_rho:
            rho_ok = ~np.isnan(cols["rho"][0])
            est = float(np.median(cols["rho"][0][rho_ok])) if rho_ok.any() else np.nan
            out.append(("median_spearman_rho", est, boot["rho"], int(rho_ok.sum())))
        out.append(("frac_positive", float(pos.mean()), boot["pos"], m))
        rng = _rng(seed, model, cell, "significant")
        out.append(("direction_accuracy_nominal", *_fraction_positive_among(pos, sig, n_boot, rng)))
        out.append(("n_significant", float(sig.sum()), boot["sig"], m))
        if has_fdr:
            rng = _rng(seed, model, cell, "significant_fdr")
            out.append(
                ("direction_accuracy_fdr", *_fraction_positive_among(pos, sig_fdr, n_boot, rng))
            )
            out.append(("n_significant_fdr", float(sig_fdr.sum()), boot["sig_fdr"], m))
            rng = _rng(seed, model, cell, "set")
            out.append(
                ("direction_accuracy_set", *_fraction_positive_among(pos, in_set, n_boot, rng))
            )
            out.append(("n_set", float(in_set.sum()), boot["set"], m))

    if "lead_direction_correct" in sub.columns:
        c = sub["lead_direction_correct"].to_numpy()
        c = c[~np.isnan(c)]
        rng = _rng(seed, model, cell, "variant")
        out.append(
            ("direction_accuracy_variant",
             *_fraction_positive_among(c, np.ones(c.size, dtype=bool), n_boot, rng))
        )  # fmt: skip

    if {"mean_observed", "mean_predicted"} <= set(sub.columns):
        pairs = sub[["mean_predicted", "mean_observed"]].to_numpy()
        pairs = pairs[np.isfinite(pairs).all(axis=1)]
        k = pairs.shape[0]
        est = np.nan
        if k >= 3:
            est = float(_pearson_rows(pairs[None])[0])
        boot_cg = None
        if n_boot > 0 and np.isfinite(est):
            rng = _rng(seed, model, cell, "cross_gene")
            boot_cg = _bootstrap({"cg": (pairs, "pearson")}, n_boot, rng)["cg"]
        out.append(("cross_gene_pearson_r", est, boot_cg, k))
    return out


def summarize(
    metrics: pd.DataFrame,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    fdr: float = 0.05,
    set_r_threshold: float = 0.2,
) -> pd.DataFrame:
    """Summary statistics over genes, per (model, cell), with percentile bootstrap CIs.

    Statistics (:data:`SUMMARY_STATISTICS`), computed from the per-gene rows of each (model,
    cell); "defined genes" are those with a non-NaN ``pearson_r``. A statistic is written only
    when the metrics it needs are in the table (e.g. the FDR statistics need ``perm_fdr`` rows
    from :func:`permutation_metrics`):

    ``median_r``
        Median per-gene Pearson r over the defined genes (the headline number of Sasse et al.
        2023, SAGE-net's checkpoint criterion).
    ``median_spearman_rho``
        Median per-gene Spearman rho over the same genes (needs ``spearman_rho``).
    ``frac_positive``
        Fraction of defined genes with r > 0 (Sasse et al. 2023: 54% for Enformer on ROSMAP).
    ``direction_accuracy_nominal``
        Gene-level direction accuracy, nominal: among the genes with ``pearson_p < alpha`` (no
        multiple-testing correction), the fraction with r > 0.
    ``n_significant``
        Number of defined genes with ``pearson_p < alpha``.
    ``direction_accuracy_fdr``
        Gene-level direction accuracy as Sasse et al. 2023: among genes with ``perm_fdr < fdr``
        (permutation p-values, Benjamini-Hochberg within the (model, cell)), the fraction with
        r > 0 (Enformer on ROSMAP: 404 of 599, 67%).
    ``n_significant_fdr``
        Number of defined genes with ``perm_fdr < fdr``.
    ``direction_accuracy_set``
        The same among genes with ``perm_fdr < fdr`` and ``|r| > set_r_threshold`` (Sasse's
        "set0.2": 168 of 256 positive).
    ``n_set``
        Number of genes in that set.
    ``direction_accuracy_variant``
        Variant-level direction accuracy (definition (b)): the mean of ``lead_direction_correct``
        (:func:`ps2f.evaluation.eqtl.variant_direction_metrics`) over the genes where it is
        defined: the fraction of genes whose lead eQTL's ALT - REF direction the model gets right.
    ``cross_gene_pearson_r``
        Pearson r across genes of ``mean_predicted`` vs ``mean_observed`` (Huang et al. 2023),
        when those rows are present; otherwise copied from the ``cross_gene_pearson_r`` rows of
        :func:`cross_gene_metrics` (CI NaN, ``n_genes`` from ``cross_gene_n``).

    CIs are percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13): genes are
    resampled with replacement ``n_boot`` times, the statistic is recomputed on each resample,
    and the ``(1 - ci_level)/2`` and ``(1 + ci_level)/2`` quantiles are reported (resamples
    whose statistic is undefined are left out). For the medians, ``frac_positive`` and the
    counts, the defined genes are resampled (the same resamples for all); each direction
    accuracy resamples the genes it is computed on (the interval is conditional on that set of
    genes, e.g. on which genes are significant); the cross-gene r resamples (mean prediction,
    mean observed) pairs of genes. The counts' intervals hold each gene's p-value or FDR fixed.
    Each (model, cell, statistic) draws from its own generator seeded by ``seed`` and its
    names, so results are reproducible and do not depend on the other models in the table.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`), e.g. the concatenation of
        :func:`per_gene_metrics`, :func:`permutation_metrics`,
        :func:`ps2f.evaluation.eqtl.variant_direction_metrics` and :func:`cross_gene_metrics`.
    alpha : float, default 0.05
        Nominal significance level for ``pearson_p``, in (0, 1).
    n_boot : int, default 1000
        Number of bootstrap resamples; 0 skips the bootstrap (all CIs NaN).
    seed : int, default 0
        Seed of the bootstrap generators.
    ci_level : float, default 0.95
        Coverage of the bootstrap interval, in (0, 1).
    fdr : float, default 0.05
        FDR level for ``perm_fdr``, in (0, 1).
    set_r_threshold : float, default 0.2
        |r| threshold of ``direction_accuracy_set`` and ``n_set``, in [0, 1).

    Returns
    -------
    pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`): ``estimate``, ``ci_low``,
        ``ci_high`` float64 (r unitless, fractions in [0, 1], counts of genes), ``n_genes``
        int64 (number of genes the statistic was computed on: defined genes, the significant
        genes for a direction accuracy, the genes with a defined variant-level direction, or
        the genes with finite means for the cross-gene r). Sorted by model, cell (in
        :data:`ps2f.schema.CELLS` order) and statistic (in :data:`SUMMARY_STATISTICS` order).
        Statistics are NaN (``n_genes`` = 0) for a (model, cell) with no gene to use.

    Raises
    ------
    ValueError
        If a column of :data:`ps2f.schema.METRIC_COLUMNS` is missing, a (model, cell, gene,
        metric) repeats, per-gene rows lack ``pearson_r`` or ``pearson_p``,
        ``cross_gene_pearson_r`` comes without ``cross_gene_n``, or an argument is out of range.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(
            f"metrics table: missing columns {missing}; expected {list(METRIC_COLUMNS)}"
        )
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 < fdr < 1.0:
        raise ValueError(f"fdr must be in (0, 1), got {fdr}")
    if not 0.0 <= set_r_threshold < 1.0:
        raise ValueError(f"set_r_threshold must be in [0, 1), got {set_r_threshold}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    met = metrics.loc[:, list(METRIC_COLUMNS)].copy()
    for col in ("model", "cell", "gene", "metric"):
        met[col] = met[col].astype(str)
    met["value"] = met["value"].astype(np.float64)
    dup = met.duplicated(["model", "cell", "gene", "metric"])
    if dup.any():
        first = met.loc[dup, ["model", "cell", "gene", "metric"]].iloc[0].tolist()
        raise ValueError(
            f"metrics table: {int(dup.sum())} repeated (model, cell, gene, metric) rows, "
            f"e.g. {first}"
        )

    rows: list[tuple] = []
    done: set[tuple[str, str]] = set()
    per_gene = met.loc[met["gene"] != ALL_GENES]
    if not per_gene.empty:
        wide = per_gene.pivot(index=["model", "cell", "gene"], columns="metric", values="value")
        absent = {"pearson_r", "pearson_p"} - set(wide.columns)
        if absent:
            raise ValueError(f"metrics table: per-gene rows lack metric(s) {sorted(absent)}")
        for (model, cell), sub in wide.groupby(level=["model", "cell"], sort=True):
            for stat, est, boot, n in _summarize_group(
                model, cell, sub, alpha, fdr, set_r_threshold, n_boot, seed
            ):
                lo, hi = percentile_ci(boot, ci_level) if np.isfinite(est) else (np.nan, np.nan)
                rows.append((model, cell, stat, float(est), lo, hi, int(n)))
                if stat == "cross_gene_pearson_r":
                    done.add((model, cell))

    cross = met.loc[met["gene"] == ALL_GENES]
    by_cell = cross.set_index(["model", "cell"])
    cross_r = by_cell.loc[by_cell["metric"] == "cross_gene_pearson_r", "value"]
    cross_n = by_cell.loc[by_cell["metric"] == "cross_gene_n", "value"]
    for (model, cell), value in cross_r.items():
        if (model, cell) not in cross_n.index:
            raise ValueError(
                f"metrics table: cross_gene_pearson_r for model={model} cell={cell} "
                "has no cross_gene_n"
            )
        if (model, cell) in done:  # computed from the per-gene means, with a CI
            continue
        n = int(cross_n.loc[(model, cell)])
        rows.append((model, cell, "cross_gene_pearson_r", float(value), np.nan, np.nan, n))

    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    out = out.astype(
        {
            "model": object,
            "cell": object,
            "statistic": object,
            "estimate": np.float64,
            "ci_low": np.float64,
            "ci_high": np.float64,
            "n_genes": np.int64,
        }
    )
    if out.empty:
        return out
    out["_stat"] = pd.Categorical(out["statistic"], categories=SUMMARY_STATISTICS, ordered=True)
    cells = list(CELLS) + sorted(set(out["cell"]) - set(CELLS))
    out["_cell"] = pd.Categorical(out["cell"], categories=cells, ordered=True)
    out = out.sort_values(["model", "_cell", "_stat"], kind="stable")
    return out.drop(columns=["_stat", "_cell"]).reset_index(drop=True)


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
