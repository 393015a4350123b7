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
"""

from __future__ import annotations

import logging
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
    "SUMMARY_STATISTICS",
    "per_gene_metrics",
    "cross_gene_metrics",
    "summarize",
    "read_predictions",
]

_LOG = logging.getLogger(__name__)

#: ``gene`` value of metrics rows that describe a whole cell rather than one gene.
ALL_GENES = "__all__"
#: Metric names written by :func:`per_gene_metrics`, in output order.
PER_GENE_METRICS: tuple[str, ...] = ("pearson_r", "pearson_p", "spearman_rho", "spearman_p", "n")
#: Metric names written by :func:`cross_gene_metrics`, in output order.
CROSS_GENE_METRICS: tuple[str, ...] = ("cross_gene_pearson_r", "cross_gene_n")
#: Statistic names written by :func:`summarize`, in output order.
SUMMARY_STATISTICS: tuple[str, ...] = (
    "median_r",
    "frac_positive",
    "direction_accuracy_nominal",
    "n_significant",
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
        ``spearman_rho``, ``spearman_p`` (unitless, float64) and ``n`` (number of individuals,
        stored as float64). Sorted by model, cell (in :data:`ps2f.schema.CELLS` order), gene.
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

    wide = {
        "pearson_r": r,
        "pearson_p": _corr_pvalue(r, n),
        "spearman_rho": rho,
        "spearman_p": _corr_pvalue(rho, n),
        "n": n,
    }
    order = _sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    idx = order["_i"].to_numpy()
    return _long(
        order.drop(columns="_i").reset_index(drop=True),
        {k: v[idx] for k, v in wide.items()},
        PER_GENE_METRICS,
    )


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


_REDUCERS = {
    "median": lambda a: np.median(a, axis=1),
    "mean": lambda a: a.mean(axis=1),
    "sum": lambda a: a.sum(axis=1),
}


def _bootstrap(
    columns: dict[str, tuple[np.ndarray, str]], n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Bootstrap distributions of several statistics of the same resampled genes.

    Parameters
    ----------
    columns : dict of str to (numpy.ndarray of shape (genes,), str)
        Per-gene values and the reducer applied to each resample (``"median"``, ``"mean"``,
        ``"sum"``). All arrays have the same length and are resampled with the same indices.
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
            out[k][start:stop] = _REDUCERS[how](values[idx])
    return out


def _rng(seed: int, model: str, cell: str, what: str) -> np.random.Generator:
    """Make a generator seeded by ``seed`` and the (model, cell, statistic) name.

    A group's resamples therefore do not depend on which other groups are in the table.
    """
    key = zlib.crc32(f"{model}\x00{cell}\x00{what}".encode())
    return np.random.default_rng([seed, key])


def summarize(
    metrics: pd.DataFrame,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Summary statistics over genes, per (model, cell), with percentile bootstrap CIs.

    Statistics (:data:`SUMMARY_STATISTICS`), computed from the ``pearson_r`` and ``pearson_p``
    rows of each (model, cell); "defined genes" are those with a non-NaN ``pearson_r``:

    ``median_r``
        Median per-gene Pearson r over the defined genes (the headline number of Sasse et al.
        2023, SAGE-net's checkpoint criterion).
    ``frac_positive``
        Fraction of defined genes with r > 0 (Sasse et al. 2023: 54% for Enformer on ROSMAP).
    ``direction_accuracy_nominal``
        Gene-level direction accuracy: among the genes with ``pearson_p < alpha`` (nominal,
        no multiple-testing correction), the fraction with r > 0. NaN (with ``n_genes`` = 0)
        when no gene is significant.
    ``n_significant``
        Number of defined genes with ``pearson_p < alpha``.
    ``cross_gene_pearson_r``
        Copied from the ``cross_gene_pearson_r`` rows when the table has them (CI NaN,
        ``n_genes`` from ``cross_gene_n``).

    CIs are percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13): genes are
    resampled with replacement ``n_boot`` times, the statistic is recomputed on each resample,
    and the ``(1 - ci_level)/2`` and ``(1 + ci_level)/2`` quantiles are reported. For
    ``median_r``, ``frac_positive`` and ``n_significant`` the defined genes are resampled (the
    same resamples for all three); for ``direction_accuracy_nominal`` the significant genes are
    (the interval is conditional on the set of significant genes). Each (model, cell, statistic)
    draws from its own generator seeded by ``seed`` and its names, so results are reproducible
    and do not depend on the other models in the table.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`), e.g. the concatenation of
        :func:`per_gene_metrics` and :func:`cross_gene_metrics`.
    alpha : float, default 0.05
        Nominal significance level for ``pearson_p``, in (0, 1).
    n_boot : int, default 1000
        Number of bootstrap resamples; 0 skips the bootstrap (all CIs NaN).
    seed : int, default 0
        Seed of the bootstrap generators.
    ci_level : float, default 0.95
        Coverage of the bootstrap interval, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Summary table (:data:`ps2f.schema.SUMMARY_COLUMNS`): ``estimate``, ``ci_low``,
        ``ci_high`` float64 (r unitless, fractions in [0, 1], counts of genes), ``n_genes``
        int64 (number of genes the statistic was computed on: defined genes, or significant
        genes for ``direction_accuracy_nominal``, or ``cross_gene_n``). Sorted by model, cell
        (in :data:`ps2f.schema.CELLS` order) and statistic (in :data:`SUMMARY_STATISTICS` order).
        Per-gene statistics are NaN (``n_genes`` = 0) for a (model, cell) with no defined gene.

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

    q = [(1.0 - ci_level) / 2.0, (1.0 + ci_level) / 2.0]
    rows: list[tuple] = []

    def add(model: str, cell: str, stat: str, est: float, boot: np.ndarray | None, n: int) -> None:
        if boot is None or boot.size == 0 or np.isnan(est):
            lo = hi = np.nan
        else:
            lo, hi = np.quantile(boot, q)
        rows.append((model, cell, stat, float(est), float(lo), float(hi), int(n)))

    per_gene = met.loc[(met["gene"] != ALL_GENES) & met["metric"].isin(["pearson_r", "pearson_p"])]
    if not per_gene.empty:
        wide = per_gene.pivot(index=["model", "cell", "gene"], columns="metric", values="value")
        absent = {"pearson_r", "pearson_p"} - set(wide.columns)
        if absent:
            raise ValueError(f"metrics table: per-gene rows lack metric(s) {sorted(absent)}")
        for (model, cell), sub in wide.groupby(level=["model", "cell"], sort=True):
            r_all = sub["pearson_r"].to_numpy()
            defined = ~np.isnan(r_all)
            r = r_all[defined]
            sig = sub["pearson_p"].to_numpy()[defined] < alpha  # NaN p is not significant
            m = r.size
            if m == 0:
                for stat in SUMMARY_STATISTICS[:4]:
                    add(model, cell, stat, np.nan, None, 0)
                continue
            pos = (r > 0).astype(np.float64)
            sigf = sig.astype(np.float64)
            boot: dict[str, np.ndarray | None] = {"r": None, "pos": None, "sig": None}
            if n_boot > 0:
                boot.update(
                    _bootstrap(
                        {"r": (r, "median"), "pos": (pos, "mean"), "sig": (sigf, "sum")},
                        n_boot,
                        _rng(seed, model, cell, "genes"),
                    )
                )
            add(model, cell, "median_r", float(np.median(r)), boot["r"], m)
            add(model, cell, "frac_positive", float(pos.mean()), boot["pos"], m)
            k = int(sig.sum())
            if k == 0:
                add(model, cell, "direction_accuracy_nominal", np.nan, None, 0)
            else:
                pos_sig = pos[sig]
                b_dir = None
                if n_boot > 0:
                    rng = _rng(seed, model, cell, "significant")
                    b_dir = _bootstrap({"d": (pos_sig, "mean")}, n_boot, rng)["d"]
                add(model, cell, "direction_accuracy_nominal", float(pos_sig.mean()), b_dir, k)
            add(model, cell, "n_significant", float(k), boot["sig"], m)

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
        rows.append(
            (
                model,
                cell,
                "cross_gene_pearson_r",
                float(value),
                np.nan,
                np.nan,
                int(cross_n.loc[(model, cell)]),
            )
        )

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
