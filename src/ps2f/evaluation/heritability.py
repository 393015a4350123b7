"""Each gene's cis-heritability: the ceiling on any model's per-gene r across individuals.

No predictor of a gene's expression from its cis-window genotypes can correlate with the
measured expression better than ``sqrt(h2_cis)`` on new individuals (Variformer, Drusinsky et
al. 2026, reports accuracy against it). Here ``h2_cis`` is estimated per gene from the
training individuals with Haseman-Elston cross-product regression (HE-CP; Haseman & Elston
1972, in the form of GCTA's ``--HEreg``, Yang et al. 2011): with ``y`` standardized over the
individuals and ``K`` the genetic relationship matrix (GRM) of the cis-window variants,
``E[y_i y_j] = h2 K_ij`` for every pair ``i < j``, so the slope of ``y_i y_j`` on ``K_ij``
(ordinary least squares with an intercept, over all pairs) estimates ``h2``. The GRM is
GCTA's: each variant standardized by its allele frequency ``f`` among those individuals,
``z = (x - 2f) / sqrt(2 f (1 - f))``, and ``K = Z Z' / m``.

Standard error: the pairs are not independent, so the OLS standard error understates the
uncertainty; the reported ``cis_h2_se`` is the delete-one-individual jackknife (GCTA reports
both), each replicate dropping every pair of one individual, with ``y`` and ``K`` kept as
standardized on all individuals (the exact replicate would re-standardize; at a few hundred
individuals the difference is of order ``1/n``). The estimate is unbiased, not constrained to
``[0, 1]``: a gene with no cis signal scatters around 0, negative values included.

Two steps, from the variant stores and the phenotypes tables (no torch):

1. :func:`cis_heritability` (rule ``cis_heritability``): the per-gene table.
2. :func:`ceiling_metrics` and :func:`summarize_ceiling` (rule ``evaluate``): each model's
   per-gene ``fraction_of_ceiling = r / sqrt(h2_cis)`` beside its r, and its median per cell.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ps2f.evaluation.eqtl import cis_window_dosages
from ps2f.evaluation.resampling import bootstrap, percentile_ci, seeded_rng
from ps2f.evaluation.tables import empty_metrics, long_metrics, sort_keys
from ps2f.progress import ProgressLog
from ps2f.schema import SUMMARY_COLUMNS

__all__ = [
    "HERITABILITY_COLUMNS",
    "CEILING_METRICS",
    "CEILING_STATISTICS",
    "he_regression",
    "cis_heritability",
    "ceiling_metrics",
    "summarize_ceiling",
]

_LOG = logging.getLogger(__name__)

#: Columns of the per-gene table written by :func:`cis_heritability`, in order.
HERITABILITY_COLUMNS: tuple[str, ...] = (
    "gene",
    "chrom",
    "n",
    "n_variants",
    "cis_h2",
    "cis_h2_se",
    "cis_h2_se_ols",
)
#: Metric names written by :func:`ceiling_metrics`, in output order.
CEILING_METRICS: tuple[str, ...] = ("cis_h2", "fraction_of_ceiling")
#: Statistics written by :func:`summarize_ceiling`, in output order.
CEILING_STATISTICS: tuple[str, ...] = ("median_cis_h2", "median_fraction_of_ceiling")


def he_regression(dosages: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Haseman-Elston cross-product regression of one phenotype on one set of variants.

    Parameters
    ----------
    dosages : numpy.ndarray, shape (n, m)
        ALT-allele dosages (any numeric dtype, values in [0, 2]) of ``n`` individuals at ``m``
        variants; variants without variance among them are dropped.
    y : numpy.ndarray, shape (n,), float
        The phenotype (any scale: it is standardized here), all finite.

    Returns
    -------
    h2 : float
        The HE-CP estimate: OLS slope of ``y_i y_j`` on ``K_ij`` over the pairs ``i < j``
        (intercept fitted), ``y`` standardized to mean 0 and variance 1 (denominator n).
    se_jackknife : float
        Delete-one-individual jackknife standard error.
    se_ols : float
        The OLS standard error of the slope (treats the pairs as independent: too small).

    All three are NaN when ``n < 3``, no variant is polymorphic, ``y`` is constant or the GRM's
    off-diagonal is constant.

    Raises
    ------
    ValueError
        If the shapes disagree or ``y`` has non-finite values.

    Notes
    -----
    Haseman & Elston (1972) Behav. Genet. 2:3-19; the cross-product form and the GRM of Yang et
    al. (2011) Am. J. Hum. Genet. 88:76-82 (GCTA ``--HEreg``). Cost: ``O(n^2 m)`` for the GRM,
    ``O(n^2)`` for the estimate and all ``n`` jackknife replicates (each replicate's sums are
    the full sums minus one individual's row sums).
    """
    x = np.asarray(dosages, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"dosages {x.shape} and y {y.shape} must be (n, m) and (n,)")
    if not np.isfinite(y).all():
        raise ValueError("y must be finite: select the individuals with a measured phenotype")
    nan = (math.nan, math.nan, math.nan)
    n = y.size
    if n < 3:
        return nan
    f = x.mean(axis=0) / 2.0
    poly = (f > 0.0) & (f < 1.0) & (x.std(axis=0) > 0.0)
    if not poly.any() or y.std() == 0.0:
        return nan
    z = (x[:, poly] - 2.0 * f[poly]) / np.sqrt(2.0 * f[poly] * (1.0 - f[poly]))
    k = z @ z.T / poly.sum()
    ys = (y - y.mean()) / y.std()
    p = np.outer(ys, ys)
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(p, 0.0)
    # sums over pairs i < j (the matrices are symmetric with a zero diagonal: halve row sums)
    row_k, row_k2, row_p, row_kp = k.sum(1), (k * k).sum(1), p.sum(1), (k * p).sum(1)
    s_k, s_k2, s_p, s_kp = row_k.sum() / 2, row_k2.sum() / 2, row_p.sum() / 2, row_kp.sum() / 2
    n_pairs = n * (n - 1) / 2

    def slope(npair, sk, sk2, sp, skp):
        sxx = sk2 - sk * sk / npair
        return (skp - sk * sp / npair) / sxx, sxx

    h2, sxx = slope(n_pairs, s_k, s_k2, s_p, s_kp)
    if not sxx > 0.0:
        return nan
    # OLS: residual variance of the pairs regression
    intercept = (s_p - h2 * s_k) / n_pairs
    s_p2 = (p * p).sum() / 2
    rss = s_p2 - intercept * s_p - h2 * s_kp  # sum of squared residuals of the normal equations
    se_ols = math.sqrt(max(rss, 0.0) / (n_pairs - 2) / sxx)
    reps, sxx_r = slope(n_pairs - (n - 1), s_k - row_k, s_k2 - row_k2, s_p - row_p, s_kp - row_kp)
    reps = reps[sxx_r > 0.0]
    if reps.size < 2:
        return float(h2), math.nan, se_ols
    se_jk = math.sqrt((reps.size - 1) / reps.size * ((reps - reps.mean()) ** 2).sum())
    return float(h2), se_jk, se_ols


def cis_heritability(
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    observed: np.ndarray,
    stores: Mapping[str, object],
    cis_window_bp: int,
    min_maf: float = 0.05,
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Each gene's cis-heritability from its training individuals (:func:`he_regression`).

    The variants are those the lead-eQTL scan tests (:func:`ps2f.evaluation.eqtl.
    cis_window_dosages`: SNVs within ``cis_window_bp`` of the TSS with minor-allele frequency
    ``>= min_maf`` in the gene's training individuals with finite expression), the phenotype
    the normalized, covariate-residualized expression of those individuals. Held-out
    individuals are never used: the ceiling is estimated where the models are fitted.

    Parameters
    ----------
    genes, individuals, observed, stores, cis_window_bp, min_maf
        As :func:`ps2f.evaluation.eqtl.lead_eqtls`.
    log : logging.Logger, optional
        Where to log the genes without an estimate; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        One row per gene of ``genes`` (:data:`HERITABILITY_COLUMNS`): ``gene``, ``chrom``
        (str), ``n`` (int64, individuals used), ``n_variants`` (int64), ``cis_h2``,
        ``cis_h2_se`` (jackknife), ``cis_h2_se_ols`` (float64; NaN without an estimate).

    Raises
    ------
    ValueError
        As :func:`ps2f.evaluation.eqtl.cis_window_dosages`.
    """
    log = _LOG if log is None else log
    rows = []
    progress = ProgressLog("cis_heritability", len(genes), log)
    for g, idx, dose_all, use in cis_window_dosages(
        genes, individuals, observed, stores, cis_window_bp, min_maf
    ):
        progress.update()
        n = int(use.sum())
        if idx.size and n:
            h2, se, se_ols = he_regression(dose_all[:, use].T, observed[g][use])
        else:
            h2 = se = se_ols = math.nan
        rows.append(
            (str(genes["gene"].iloc[g]), str(genes["chrom"].iloc[g]), n, int(idx.size), h2, se, se_ols)
        )
    out = pd.DataFrame(rows, columns=list(HERITABILITY_COLUMNS)).astype(
        {"n": np.int64, "n_variants": np.int64, "cis_h2": np.float64, "cis_h2_se": np.float64,
         "cis_h2_se_ols": np.float64}
    )  # fmt: skip
    missing = int(out["cis_h2"].isna().sum())
    if missing:
        log.warning(
            "cis-heritability: no estimate for %d of %d gene(s) (no SNV with MAF >= %g within "
            "+-%d bp of the TSS, or fewer than 3 training individuals)",
            missing,
            len(out),
            min_maf,
            cis_window_bp,
        )
    return out


def _fraction(r: np.ndarray, h2: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(h2 > 0.0, r / np.sqrt(np.where(h2 > 0.0, h2, 1.0)), np.nan)


def ceiling_metrics(metrics: pd.DataFrame, heritability: pd.DataFrame) -> pd.DataFrame:
    """Each model's per-gene r as a fraction of the gene's cis-heritability ceiling.

    For every per-gene ``pearson_r`` row, two rows: ``cis_h2`` (the gene's estimate, NaN
    without one) and ``fraction_of_ceiling`` = ``r / sqrt(cis_h2)`` (NaN where ``cis_h2 <= 0``
    or undefined, or r is NaN). A value above 1 is possible: both r and ``cis_h2`` are
    estimates.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with per-gene ``pearson_r`` rows.
    heritability : pandas.DataFrame
        Table of :func:`cis_heritability` (:data:`HERITABILITY_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ps2f.schema.METRIC_COLUMNS`, keys sorted by model, cell, gene; empty
        without per-gene r rows.
    """
    r_rows = metrics.loc[metrics["metric"] == "pearson_r", ["model", "cell", "gene", "value"]]
    if r_rows.empty:
        return empty_metrics()
    keys = sort_keys(r_rows, ["model", "cell", "gene"]).reset_index(drop=True)
    h2 = (
        heritability.astype({"gene": str})
        .set_index("gene")["cis_h2"]
        .reindex(keys["gene"].astype(str))
        .to_numpy(np.float64)
    )
    r = keys["value"].to_numpy(np.float64)
    wide = {"cis_h2": h2, "fraction_of_ceiling": _fraction(r, h2)}
    return long_metrics(keys, wide, CEILING_METRICS)


def summarize_ceiling(
    metrics: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Summary rows of the ceiling per (model, cell), with bootstrap CIs over genes.

    ``median_cis_h2``
        Median ``cis_h2`` over the cell's genes with an estimate.
    ``median_fraction_of_ceiling``
        Median ``fraction_of_ceiling`` over the genes where it is defined (``cis_h2 > 0``).

    CIs are percentile bootstrap intervals over those genes (one seeded generator per (model,
    cell, statistic)), as :func:`ps2f.evaluation.summarize`.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table with the rows of :func:`ceiling_metrics`.
    n_boot : int, default 1000
        Bootstrap resamples (0: CIs NaN).
    seed : int, default 0
        Seed of the bootstrap generators.
    ci_level : float, default 0.95
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ps2f.schema.SUMMARY_COLUMNS`, sorted by model and cell; empty without
        ceiling rows.
    """
    sub = metrics.loc[metrics["metric"].isin(CEILING_METRICS)]
    rows = []
    for (model, cell), part in sub.groupby(["model", "cell"], sort=True):
        for stat, metric in zip(CEILING_STATISTICS, CEILING_METRICS, strict=True):
            values = part.loc[part["metric"] == metric, "value"].to_numpy(np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                rows.append((model, cell, stat, np.nan, np.nan, np.nan, 0))
                continue
            boot = None
            if n_boot > 0:
                boot = bootstrap(
                    {"v": (values, "median")}, n_boot, seeded_rng(seed, model, cell, stat)
                )["v"]
            lo, hi = percentile_ci(boot, ci_level)
            rows.append((model, cell, stat, float(np.median(values)), lo, hi, int(values.size)))
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype(
        {"estimate": np.float64, "ci_low": np.float64, "ci_high": np.float64, "n_genes": np.int64}
    )
    if out.empty:
        return out
    return sort_keys(out, ["model", "cell"]).reset_index(drop=True)
