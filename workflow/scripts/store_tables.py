from ps2f.pipeline import setup_logging
from ps2f.pipeline.tissues import run_store_tables

setup_logging(snakemake.log[0])
run_store_tables(
    genes_paths=snakemake.input.genes,
    individuals_paths=snakemake.input.individuals,
    out_genes=snakemake.output.genes,
    out_individuals=snakemake.output.individuals,
)
