"""Rule ``figures`` (workflow/rules/report.smk): the report's figures, from the evaluation tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ps2f.pipeline.common import atomic_path, read_table

__all__ = ["run_figures"]

# units of the observed expression axis, by expression.normalization
_OBSERVED_UNITS = {
    "log1p": "log1p units",
    "none": "as given",
    "m_value": "M-value",
    "log_cpm": "log2 CPM",
    "logit": "log-odds",
}


def run_figures(
    metrics_path: str,
    summary_path: str,
    out_r_distributions: str,
    out_vs_elastic_net: str,
    out_direction_accuracy: str,
    comparisons_path: str | None = None,
    predictions_path: str | None = None,
    dosages_path: str | None = None,
    out_cross_gene_contrast: str | None = None,
    out_gene_examples: str | None = None,
    coverage_path: str | None = None,
    out_window_coverage: str | None = None,
    training_path: str | None = None,
    history_paths: Mapping[str, str] | None = None,
    out_learning_curves: str | None = None,
    *,
    evaluate: Mapping,
    normalization: str,
    modality: str = "expression",
) -> None:
    """Rule ``figures``: the report's figures, from the evaluation tables only.

    Each figure is written to its PNG path and, beside it, as SVG (same stem, ``.svg``).
    ``evaluate`` holds the config ``evaluate`` keys ``alpha``, ``fdr`` and ``set_r_threshold``
    (thresholds shown in panel titles); ``normalization`` is ``expression.normalization``
    (the units of the observed axis) and ``modality`` is ``phenotype.modality`` (what is
    observed, for the same label). With ``coverage_path`` (the
    window-coverage table) and ``out_window_coverage``, also each sequence model's r against
    the ElasticNet's coloured by window coverage (:func:`ps2f.plots.plot_window_coverage`).
    With ``training_path`` (the training table, ``evaluation/training.csv``) models that did
    not converge are labelled "(not converged)" in every figure; ``history_paths`` (model
    name -> its history TSV) and ``out_learning_curves`` draw
    :func:`ps2f.plots.plot_learning_curves`.
    """
    from ps2f.plots import (
        plot_cross_gene_contrast,
        plot_direction_accuracy,
        plot_gene_examples,
        plot_learning_curves,
        plot_r_distributions,
        plot_vs_elastic_net,
        save_figure,
    )

    observed_units = _OBSERVED_UNITS[normalization]
    metrics = pd.read_parquet(metrics_path)
    summary = pd.read_parquet(summary_path)
    comparisons = pd.read_parquet(comparisons_path) if comparisons_path else None
    training = pd.read_csv(training_path) if training_path else None
    jobs = [
        (out_r_distributions, lambda p: plot_r_distributions(metrics, p, training=training)),
        (
            out_vs_elastic_net,
            lambda p: plot_vs_elastic_net(
                metrics, p, comparator="elastic_net", comparisons=comparisons, training=training
            ),
        ),
        (
            out_direction_accuracy,
            lambda p: plot_direction_accuracy(
                summary,
                p,
                alpha=evaluate["alpha"],
                fdr=evaluate["fdr"],
                set_r_threshold=evaluate["set_r_threshold"],
                training=training,
            ),
        ),
    ]
    if out_cross_gene_contrast is not None:
        jobs.append(
            (
                out_cross_gene_contrast,
                lambda p: plot_cross_gene_contrast(summary, p, training=training),
            )
        )
    if out_gene_examples is not None:
        if predictions_path is None:
            raise ValueError("the gene examples figure needs predictions_path")
        preds = pd.read_parquet(predictions_path)
        dosages = pd.read_parquet(dosages_path) if dosages_path else None
        jobs.append(
            (
                out_gene_examples,
                lambda p: plot_gene_examples(
                    preds,
                    metrics,
                    dosages,
                    p,
                    observed_units=observed_units,
                    training=training,
                    phenotype=modality,
                ),
            )
        )
    if out_window_coverage is not None:
        from ps2f.plots import plot_window_coverage

        if coverage_path is None:
            raise ValueError("the window coverage figure needs coverage_path")
        coverage = pd.read_parquet(coverage_path)
        jobs.append(
            (
                out_window_coverage,
                lambda p: plot_window_coverage(metrics, coverage, p, training=training),
            )
        )
    if out_learning_curves is not None:
        histories = {m: read_table(h) for m, h in (history_paths or {}).items()}
        jobs.append((out_learning_curves, lambda p: plot_learning_curves(histories, p)))
    for out, draw in jobs:
        with atomic_path(out) as tmp:
            fig = draw(tmp)
        svg = Path(out).with_suffix(".svg")
        with atomic_path(svg) as tmp:
            save_figure(fig, tmp)
