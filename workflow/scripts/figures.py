from ps2f.pipeline import run_figures, setup_logging

setup_logging(snakemake.log[0])
run_figures(
    metrics_path=snakemake.input.metrics,
    summary_path=snakemake.input.summary,
    out_r_distributions=snakemake.output.r_distributions,
    out_vs_elastic_net=snakemake.output.vs_elastic_net,
    out_direction_accuracy=snakemake.output.direction_accuracy,
    comparisons_path=snakemake.input.comparisons,
    predictions_path=snakemake.input.predictions,
    dosages_path=snakemake.input.dosages,
    out_cross_gene_contrast=snakemake.output.cross_gene_contrast,
    out_gene_examples=snakemake.output.gene_examples,
    coverage_path=snakemake.input.coverage,
    out_window_coverage=snakemake.output.window_coverage,
    training_path=snakemake.input.training,
    history_paths={m: snakemake.input[f"history_{m}"] for m in snakemake.params.trained_models},
    out_learning_curves=snakemake.output.learning_curves,
    evaluate=snakemake.params.evaluate,
    normalization=snakemake.params.normalization,
    modality=snakemake.params.phenotype["modality"],
)
