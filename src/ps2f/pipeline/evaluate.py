"""Rules ``evaluate`` and ``figures``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ps2f.pipeline.common import atomic_path, log, write_table


def run_evaluate(
    prediction_paths: Sequence[str],
    config: Mapping,
    out_predictions: str,
    out_metrics: str,
    out_metrics_csv: str,
    out_summary: str,
    out_summary_csv: str,
) -> None:
    """Rule ``evaluate``: per-gene metrics per cell and their summaries with bootstrap CIs."""
    from ps2f.evaluation.metrics import (
        cross_gene_metrics,
        per_gene_metrics,
        read_predictions,
        summarize,
    )

    preds = read_predictions(list(prediction_paths))
    metrics = pd.concat(
        [
            per_gene_metrics(preds, min_individuals=config["min_individuals"], log=log),
            cross_gene_metrics(preds),
        ],
        ignore_index=True,
    )
    summary = summarize(
        metrics, alpha=config["alpha"], n_boot=config["n_boot"], seed=config["seed"]
    )
    write_table(preds, out_predictions)
    write_table(metrics, out_metrics)
    write_table(metrics, out_metrics_csv)
    write_table(summary, out_summary)
    write_table(summary, out_summary_csv)
    view = summary.loc[
        summary["statistic"].isin(["median_r", "frac_positive", "direction_accuracy_nominal"])
    ]
    log.info("summary:\n%s", view.to_string(index=False))


def run_figures(
    metrics_path: str,
    summary_path: str,
    out_r_distributions: str,
    out_vs_elastic_net: str,
    out_direction_accuracy: str,
) -> None:
    """Rule ``figures``: the report's figures, from the metrics and summary tables only."""
    from ps2f.plots import plot_direction_accuracy, plot_r_distributions, plot_vs_reference

    metrics = pd.read_parquet(metrics_path)
    summary = pd.read_parquet(summary_path)
    for fn, out, kwargs in (
        (plot_r_distributions, out_r_distributions, {}),
        (plot_vs_reference, out_vs_elastic_net, {"reference_model": "elastic_net"}),
        (plot_direction_accuracy, out_direction_accuracy, {}),
    ):
        data = summary if fn is plot_direction_accuracy else metrics
        with atomic_path(out) as tmp:
            fn(data, tmp, **kwargs)
