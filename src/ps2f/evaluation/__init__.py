"""Evaluation: metrics and statistics computed from tables only (no torch, no models).

* :mod:`ps2f.evaluation.metrics`: per-gene r and rho across individuals, permutation p-values
  with Benjamini-Hochberg FDR, cross-gene r, gene-level direction accuracy, and the summary
  table with bootstrap CIs.
* :mod:`ps2f.evaluation.eqtl`: lead cis-eQTL per gene and the variant-level direction of a
  model's predictions (haplotype contrast).
* :mod:`ps2f.evaluation.compare`: paired model-vs-model tests (Wilcoxon signed-rank, sign
  test, Fisher's exact odds ratio of a correct direction).
"""

from ps2f.evaluation.compare import (
    COMPARISON_COLUMNS,
    COMPARISON_STATISTICS,
    compare_models,
    direction_odds_ratio,
)
from ps2f.evaluation.eqtl import (
    DOSAGE_COLUMNS,
    LEAD_EQTL_COLUMNS,
    VARIANT_METRICS,
    lead_eqtls,
    marginal_ols,
    variant_direction_metrics,
)
from ps2f.evaluation.metrics import (
    ALL_GENES,
    CROSS_GENE_METRICS,
    PER_GENE_METRICS,
    PERMUTATION_METRICS,
    SUMMARY_STATISTICS,
    bh_fdr,
    cross_gene_metrics,
    per_gene_metrics,
    percentile_ci,
    permutation_metrics,
    read_predictions,
    summarize,
)

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
