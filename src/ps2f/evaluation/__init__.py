"""Evaluation: metrics and summary statistics computed from the predictions table only.

Nothing here imports torch or a model; see :mod:`ps2f.evaluation.metrics` for the definitions
(per-gene r across individuals, cross-gene r, gene-level direction accuracy, bootstrap CIs).
"""

from ps2f.evaluation.metrics import (
    ALL_GENES,
    CROSS_GENE_METRICS,
    PER_GENE_METRICS,
    SUMMARY_STATISTICS,
    cross_gene_metrics,
    per_gene_metrics,
    read_predictions,
    summarize,
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
