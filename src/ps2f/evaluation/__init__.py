"""Evaluation: metrics and statistics computed from tables only (no torch, no models).

* :mod:`ps2f.evaluation.metrics`: per-gene r and rho across individuals, permutation p-values
  with Benjamini-Hochberg FDR, and cross-gene r.
* :mod:`ps2f.evaluation.summary`: the summary table over genes (median r, gene-level direction
  accuracy, ...) with bootstrap CIs.
* :mod:`ps2f.evaluation.eqtl`: lead cis-eQTL per gene and the variant-level direction of a
  model's predictions (haplotype contrast).
* :mod:`ps2f.evaluation.compare`: paired model-vs-model tests (Wilcoxon signed-rank, sign
  test, Fisher's exact odds ratio of a correct direction).

Shared by these: :mod:`ps2f.evaluation.correlation` (grouped Pearson r and its p-value),
:mod:`ps2f.evaluation.resampling` (seeded generators, bootstrap, percentile CIs) and
:mod:`ps2f.evaluation.tables` (the long metrics table's keys, order and cell labels).
"""

import importlib

# The re-exports below are imported on first use (PEP 562), not with the package: a job that
# needs one light submodule (the p-model's training and prediction read only
# ps2f.evaluation.correlation) then skips scipy.stats, ~2 CPU-s of start-up per job, which
# thousands of gene-chunk jobs pay. {name: submodule}
_EXPORTS = {
    **dict.fromkeys(
        ("COMPARISON_COLUMNS", "COMPARISON_STATISTICS", "compare_models", "direction_odds_ratio"),
        "compare",
    ),
    **dict.fromkeys(
        ("DOSAGE_COLUMNS", "LEAD_EQTL_COLUMNS", "VARIANT_METRICS", "lead_eqtls", "marginal_ols",
         "variant_direction_metrics"),
        "eqtl",
    ),  # fmt: skip
    **dict.fromkeys(
        ("CROSS_GENE_METRICS", "PER_GENE_METRICS", "PERMUTATION_METRICS", "bh_fdr",
         "cross_gene_metrics", "per_gene_metrics", "permutation_metrics", "read_predictions"),
        "metrics",
    ),  # fmt: skip
    "percentile_ci": "resampling",
    "SUMMARY_STATISTICS": "summary",
    "summarize": "summary",
    "ALL_GENES": "tables",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ALL_GENES",
    "PER_GENE_METRICS",
    "PERMUTATION_METRICS",
    "CROSS_GENE_METRICS",
    "VARIANT_METRICS",
    "SUMMARY_STATISTICS",
    "COMPARISON_COLUMNS",
    "COMPARISON_STATISTICS",
    "LEAD_EQTL_COLUMNS",
    "DOSAGE_COLUMNS",
    "per_gene_metrics",
    "permutation_metrics",
    "bh_fdr",
    "cross_gene_metrics",
    "summarize",
    "percentile_ci",
    "compare_models",
    "direction_odds_ratio",
    "marginal_ols",
    "lead_eqtls",
    "variant_direction_metrics",
    "read_predictions",
]
