from ps2f.pipeline import run_predict, setup_logging

setup_logging(snakemake.log[0])
run_predict(
    mode=snakemake.params.mode,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    reference=snakemake.input.reference,
    store_paths=list(snakemake.input.stores),
    model_path=snakemake.input.model,
    s2f=snakemake.params.s2f,
    contig_aliases=snakemake.params.contig_aliases,
    threads=snakemake.threads,
    out_predictions=snakemake.output.predictions,
    gene_ids=snakemake.params.genes,
)
