"""Model-vs-model comparisons on the genes both models have, from the metrics table only.

For every ordered pair (model, comparator) of models evaluated in the same cell:

``median_delta_r``
    Median over shared genes of the paired difference ``r_model - r_comparator`` of per-gene
    Pearson r, with the two-sided Wilcoxon signed-rank test of a zero median difference
    (:func:`scipy.stats.wilcoxon`; zero differences dropped, the "wilcox" convention). The
    usual way to say that one model beats another gene by gene (e.g. SAGE-net vs PrediXcan).
``frac_genes_better``
    Fraction of shared genes with ``r_model > r_comparator``, with the two-sided sign test
    (exact binomial test of 1/2 over the genes with a non-zero difference,
    :func:`scipy.stats.binomtest`).
``direction_odds_ratio_variant``
    Odds ratio of a correct variant-level direction (``lead_direction_correct``, see
    :mod:`ps2f.evaluation.eqtl`) for the model vs the comparator, on the genes where both have
    a defined direction: the 2 x 2 table ``[[model correct, model wrong], [comparator correct,
    comparator wrong]]``. Estimate: conditional maximum-likelihood odds ratio with its exact
    conditional CI (:func:`scipy.stats.contingency.odds_ratio`, ``kind="conditional"``), and
    the two-sided p-value of Fisher's exact test (:func:`scipy.stats.fisher_exact`): the three
    numbers R's ``fisher.test`` reports. The statistic Shen et al. (2026) give for AlphaGenome
    vs Enformer on GTEx eQTLs (odds ratio 3.0). Fisher's test treats the two models' calls as
    independent samples although they are on the same genes (as the published statistic does).
``direction_odds_ratio_gene``
    The same odds ratio for the gene-level direction (definition (a) of ``notes/anchors.md``):
    on the genes where both models have a defined per-gene r, each model's nominally
    significant genes (``pearson_p < alpha``) are its calls, correct when r > 0. The 2 x 2
    table counts genes: ``[[model's significant genes with r > 0, with r < 0], [comparator's
    significant genes with r > 0, with r < 0]]`` (each row over that model's own significant
    genes); the odds ratio > 1 when the model's significant genes more often have the right
    sign. Same estimate, CI and p-value as above. Shen et al. (2026) report 3.0 for
    AlphaGenome vs Enformer.

CIs of the first two are percentile bootstrap intervals over the shared genes (Efron &
Tibshirani 1993), each (model, comparator, cell, statistic) with its own seeded generator.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import odds_ratio

from ps2f.evaluation.resampling import bootstrap, percentile_ci, seeded_rng
from ps2f.evaluation.tables import ALL_GENES, cell_order
from ps2f.schema import METRIC_COLUMNS

__all__ = [
    "COMPARISON_COLUMNS",
    "COMPARISON_STATISTICS",
    "compare_models",
    "direction_odds_ratio",
]

#: Columns of the comparisons table, in order.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "model",
    "comparator",
    "cell",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    "n_genes",
)
#: Statistic names written by :func:`compare_models`, in output order.
COMPARISON_STATISTICS: tuple[str, ...] = (
    "median_delta_r",
    "frac_genes_better",
    "direction_odds_ratio_gene",
    "direction_odds_ratio_variant",
)


def _wilcoxon_p(delta: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; NaN when every difference is zero."""
    if not np.any(delta != 0):
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-sample / ties notes
        return float(stats.wilcoxon(delta, zero_method="wilcox").pvalue)


def _sign_test_p(delta: np.ndarray) -> float:
    """Two-sided exact sign test over the non-zero differences; NaN when there are none."""
    nonzero = int(np.count_nonzero(delta))
    if nonzero == 0:
        return np.nan
    return float(stats.binomtest(int((delta > 0).sum()), nonzero, 0.5).pvalue)


def direction_odds_ratio(
    model_correct: np.ndarray, comparator_correct: np.ndarray, ci_level: float = 0.95
) -> tuple[float, float, float, float]:
    """Odds ratio of a correct direction, model vs comparator, with Fisher's exact test.

    The 2 x 2 table is ``[[model correct, model wrong], [comparator correct, comparator
    wrong]]``; the estimate is the conditional maximum-likelihood odds ratio with its exact
    conditional CI (:func:`scipy.stats.contingency.odds_ratio`, ``kind="conditional"``:
    :func:`scipy.stats.fisher_exact` itself gives no interval) and the p-value the two-sided
    one of :func:`scipy.stats.fisher_exact`, as R's ``fisher.test``.

    Parameters
    ----------
    model_correct : numpy.ndarray, shape (n_model,), bool
        Whether each of the model's calls (genes) has the right direction.
    comparator_correct : numpy.ndarray, shape (n_comparator,), bool
        The same for the comparator's calls (the same genes for the variant level; each
        model's own significant genes for the gene level).
    ci_level : float, default 0.95
        Coverage of the exact conditional interval.

    Returns
    -------
    (float, float, float, float)
        Conditional MLE odds ratio, CI low, CI high, two-sided Fisher p-value; all NaN when a
        model has no call. The odds ratio is 0 or inf when a cell of the 2 x 2 table is empty.
    """
    a = np.asarray(model_correct, dtype=bool)
    b = np.asarray(comparator_correct, dtype=bool)
    if a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan, np.nan
    table = np.array([[a.sum(), (~a).sum()], [b.sum(), (~b).sum()]], dtype=np.int64)
    res = odds_ratio(table, kind="conditional")
    ci = res.confidence_interval(confidence_level=ci_level)
    p = stats.fisher_exact(table, alternative="two-sided").pvalue
    return float(res.statistic), float(ci.low), float(ci.high), float(p)


def compare_models(
    metrics: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Paired per-gene comparisons of every ordered pair of models, per cell.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with ``pearson_r`` rows and,
        optionally, ``pearson_p`` (for the gene-level direction odds ratio) and
        ``lead_direction_correct`` rows (variant level).
    n_boot : int, default 1000
        Bootstrap resamples over shared genes (0: no CI).
    seed : int, default 0
        Seed of the bootstrap generators.
    ci_level : float, default 0.95
        Coverage of all intervals, in (0, 1).
    alpha : float, default 0.05
        Nominal significance level of ``pearson_p`` that makes a gene a gene-level call
        (``direction_odds_ratio_gene``; config ``evaluate.alpha``), in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Comparisons table (:data:`COMPARISON_COLUMNS`): per (model, comparator, cell) the rows
        of :data:`COMPARISON_STATISTICS` whose input metrics are present. ``estimate``,
        ``ci_low``, ``ci_high`` (unitless r difference, fraction, or odds ratio), ``p_value``
        (float64; NaN when undefined), ``test`` (``"wilcoxon_signed_rank"``, ``"sign_test"``,
        ``"fisher_exact"``), ``n_genes`` (int64, shared genes used). Sorted by model,
        comparator, cell (:func:`ps2f.evaluation.tables.cell_order`), statistic.

    Raises
    ------
    ValueError
        If a column is missing or an argument is out of range.
    """
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics table: missing columns {missing}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    met = metrics.loc[
        (metrics["gene"] != ALL_GENES)
        & metrics["metric"].isin(["pearson_r", "pearson_p", "lead_direction_correct"])
    ]
    rows: list[tuple] = []
    if not met.empty:
        wide = met.pivot_table(
            index=["cell", "gene"], columns=["metric", "model"], values="value", dropna=False
        )
        present = set(met["cell"])
        for cell in cell_order(present):
            sub = wide.loc[cell]
            present_metrics = set(sub.columns.get_level_values(0))
            r_tab = sub["pearson_r"] if "pearson_r" in present_metrics else None
            p_tab = sub["pearson_p"] if "pearson_p" in present_metrics else None
            d_tab = (
                sub["lead_direction_correct"]
                if "lead_direction_correct" in present_metrics
                else None
            )
            models = sorted(set(met.loc[met["cell"] == cell, "model"]))
            for model in models:
                for ref in models:
                    if model == ref:
                        continue
                    rows += _compare_pair(
                        model, ref, cell, r_tab, p_tab, d_tab, n_boot, seed, ci_level, alpha
                    )
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS)).astype(
        {"estimate": np.float64, "ci_low": np.float64, "ci_high": np.float64,
         "p_value": np.float64, "n_genes": np.int64}
    )  # fmt: skip
    if out.empty:
        return out
    stat = pd.Categorical(out["statistic"], categories=COMPARISON_STATISTICS, ordered=True)
    cells = cell_order(out["cell"])
    out = out.assign(_s=stat, _c=pd.Categorical(out["cell"], categories=cells, ordered=True))
    out = out.sort_values(["model", "comparator", "_c", "_s"], kind="stable")
    return out.drop(columns=["_s", "_c"]).reset_index(drop=True)


def _compare_pair(
    model: str,
    ref: str,
    cell: str,
    r_tab: pd.DataFrame | None,
    p_tab: pd.DataFrame | None,
    d_tab: pd.DataFrame | None,
    n_boot: int,
    seed: int,
    ci_level: float,
    alpha: float,
) -> list[tuple]:
    """Rows of the comparisons table for one (model, comparator, cell)."""
    rows: list[tuple] = []
    if r_tab is not None and model in r_tab.columns and ref in r_tab.columns:
        pair = r_tab[[model, ref]].dropna()
        delta = (pair[model] - pair[ref]).to_numpy()
        n = delta.size
        better = (delta > 0).astype(np.float64)
        boot = {"d": None, "b": None}
        if n_boot > 0 and n > 0:
            rng = seeded_rng(seed, f"{model}\x00{ref}", cell, "paired")
            boot.update(bootstrap({"d": (delta, "median"), "b": (better, "mean")}, n_boot, rng))
        est = float(np.median(delta)) if n else np.nan
        rows.append(
            (model, ref, cell, "median_delta_r", est, *percentile_ci(boot["d"], ci_level),
             _wilcoxon_p(delta), "wilcoxon_signed_rank", n)
        )  # fmt: skip
        est = float(better.mean()) if n else np.nan
        rows.append(
            (model, ref, cell, "frac_genes_better", est, *percentile_ci(boot["b"], ci_level),
             _sign_test_p(delta), "sign_test", n)
        )  # fmt: skip
        if p_tab is not None and model in p_tab.columns and ref in p_tab.columns:
            p = p_tab.loc[pair.index, [model, ref]].to_numpy()
            calls = [pair[m].to_numpy()[p[:, j] < alpha] > 0 for j, m in enumerate((model, ref))]
            est, lo, hi, pv = direction_odds_ratio(calls[0], calls[1], ci_level)
            rows.append(
                (model, ref, cell, "direction_odds_ratio_gene", est, lo, hi, pv, "fisher_exact", n)
            )  # fmt: skip
    if d_tab is not None and model in d_tab.columns and ref in d_tab.columns:
        pair = d_tab[[model, ref]].dropna()
        est, lo, hi, p = direction_odds_ratio(
            pair[model].to_numpy() > 0.5, pair[ref].to_numpy() > 0.5, ci_level
        )
        rows.append(
            (model, ref, cell, "direction_odds_ratio_variant", est, lo, hi, p, "fisher_exact",
             len(pair))
        )  # fmt: skip
    return rows
