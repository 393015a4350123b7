from ps2f.pipeline import run_evaluate, setup_logging

setup_logging(snakemake.log[0])
run_evaluate(
    prediction_paths=list(snakemake.input.predictions),
    evaluate=snakemake.params.evaluate,
    out_predictions=snakemake.output.predictions,
    out_metrics=snakemake.output.metrics,
    out_metrics_csv=snakemake.output.metrics_csv,
    out_summary=snakemake.output.summary_parquet,
    out_summary_csv=snakemake.output.summary,
    gene_metrics_paths=list(snakemake.input.gene_metrics),
    out_comparisons=snakemake.output.comparisons,
    out_comparisons_csv=snakemake.output.comparisons_csv,
    coverage_path=snakemake.input.coverage,
    out_training=snakemake.output.training,
    out_landing=snakemake.output.landing,
    heritability_path=snakemake.input.heritability,
    nonlinear_path=snakemake.input.nonlinear,
    top_elastic_net_path=snakemake.input.top_elastic_net,
    modality=snakemake.params.phenotype["modality"],
)
