from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_cis_heritability

setup_logging(snakemake.log[0])
run_cis_heritability(
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    store_paths=list(snakemake.input.stores),
    cis_window_bp=snakemake.params.cis_window_bp,
    evaluate=snakemake.params.evaluate,
    out_table=snakemake.output.table,
    out_csv=None,
    gene_ids=snakemake.params.genes,
)
