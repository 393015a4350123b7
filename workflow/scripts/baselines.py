from ps2f.pipeline import run_baseline, setup_logging

setup_logging(snakemake.log[0])
run_baseline(
    method=snakemake.params.method,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    store_paths=list(snakemake.input.stores),
    baselines=snakemake.params.baselines,
    threads=snakemake.threads,
    out_predictions=snakemake.output.predictions,
    out_summary=snakemake.output.summary,
    out_db=snakemake.output.get("db"),
    out_db_filtered=snakemake.output.get("db_filtered"),
    out_covariances=snakemake.output.get("covariances"),
    run_name=snakemake.params.get("name"),
    gene_ids=snakemake.params.genes,
)
