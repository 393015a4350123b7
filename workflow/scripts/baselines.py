from ps2f.pipeline import run_baseline, setup_logging

setup_logging(snakemake.log[0])
run_baseline(
    method=snakemake.wildcards.baseline,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    store_paths=list(snakemake.input.stores),
    config=snakemake.config,
    threads=snakemake.threads,
    out_predictions=snakemake.output.predictions,
    out_weights=snakemake.output.weights,
)
