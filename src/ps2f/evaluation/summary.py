"""Summary statistics over genes, per (model, cell), with percentile bootstrap CIs (no torch).

:func:`summarize` reads the long metrics table of :mod:`ps2f.evaluation.metrics` (and
:mod:`ps2f.evaluation.eqtl`) and writes the summary table of :mod:`ps2f.schema`: the median
per-gene r, the fraction of positive r, the direction accuracies and the cross-gene r of each
(model, cell), each with a bootstrap CI over genes (:mod:`ps2f.evaluation.resampling`).

Definitions
-----------
direction accuracy, gene level (definition (a) in ``notes/anchors.md``)
    Among significant genes, the fraction with r > 0: ``direction_accuracy_nominal``
    (``pearson_p < alpha``), ``direction_accuracy_fdr`` (``perm_fdr < fdr``, the permutation
    FDR of :func:`ps2f.evaluation.metrics.permutation_metrics`) and ``direction_accuracy_set``
    (``perm_fdr < fdr`` and ``|r| > set_r_threshold``, Sasse's "set0.2"). Sasse et al. 2023
    report 404 of 599 significant genes positive for Enformer on ROSMAP.
direction accuracy, variant level (definition (b))
    See :mod:`ps2f.evaluation.eqtl`: ``lead_direction_correct`` per gene, summarized as
    ``direction_accuracy_variant``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ps2f.evaluation.correlation import pearson_rows
from ps2f.evaluation.resampling import bootstrap, percentile_ci, seeded_rng
from ps2f.evaluation.tables import ALL_GENES, cell_order
from ps2f.schema import METRIC_COLUMNS, SUMMARY_COLUMNS

__all__ = ["SUMMARY_STATISTICS", "summarize"]

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


def _fraction_positive_among(
    pos: np.ndarray, mask: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, np.ndarray | None, int]:
    """Fraction of ``pos`` among ``mask`` genes, with a bootstrap over those genes only."""
    k = int(mask.sum())
    if k == 0:
        return np.nan, None, 0
    sub = pos[mask]
    boot = bootstrap({"d": (sub, "mean")}, n_boot, rng)["d"] if n_boot > 0 else None
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
            boot.update(bootstrap(cols, n_boot, seeded_rng(seed, model, cell, "genes")))
        out.append(("median_r", float(np.median(r)), boot["r"], m))
        if has_rho:
            rho_ok = ~np.isnan(cols["rho"][0])
            est = float(np.median(cols["rho"][0][rho_ok])) if rho_ok.any() else np.nan
            out.append(("median_spearman_rho", est, boot["rho"], int(rho_ok.sum())))
        out.append(("frac_positive", float(pos.mean()), boot["pos"], m))
        rng = seeded_rng(seed, model, cell, "significant")
        out.append(("direction_accuracy_nominal", *_fraction_positive_among(pos, sig, n_boot, rng)))
        out.append(("n_significant", float(sig.sum()), boot["sig"], m))
        if has_fdr:
            rng = seeded_rng(seed, model, cell, "significant_fdr")
            out.append(
                ("direction_accuracy_fdr", *_fraction_positive_among(pos, sig_fdr, n_boot, rng))
            )
            out.append(("n_significant_fdr", float(sig_fdr.sum()), boot["sig_fdr"], m))
            rng = seeded_rng(seed, model, cell, "set")
            out.append(
                ("direction_accuracy_set", *_fraction_positive_among(pos, in_set, n_boot, rng))
            )
            out.append(("n_set", float(in_set.sum()), boot["set"], m))

    if "lead_direction_correct" in sub.columns:
        c = sub["lead_direction_correct"].to_numpy()
        c = c[~np.isnan(c)]
        rng = seeded_rng(seed, model, cell, "variant")
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
            est = float(pearson_rows(pairs[None])[0])
        boot_cg = None
        if n_boot > 0 and np.isfinite(est):
            rng = seeded_rng(seed, model, cell, "cross_gene")
            boot_cg = bootstrap({"cg": (pairs, "pearson")}, n_boot, rng)["cg"]
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
    from :func:`ps2f.evaluation.metrics.permutation_metrics`):

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
        :func:`ps2f.evaluation.metrics.cross_gene_metrics` (CI NaN, ``n_genes`` from
        ``cross_gene_n``).

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
        :func:`ps2f.evaluation.metrics.per_gene_metrics`,
        :func:`ps2f.evaluation.metrics.permutation_metrics`,
        :func:`ps2f.evaluation.eqtl.variant_direction_metrics` and
        :func:`ps2f.evaluation.metrics.cross_gene_metrics`.
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
        :func:`ps2f.evaluation.tables.cell_order`) and statistic (in :data:`SUMMARY_STATISTICS` order).
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
    cells = cell_order(out["cell"])
    out["_cell"] = pd.Categorical(out["cell"], categories=cells, ordered=True)
    out = out.sort_values(["model", "_cell", "_stat"], kind="stable")
    return out.drop(columns=["_stat", "_cell"]).reset_index(drop=True)
