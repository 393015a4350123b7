from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_lead_eqtl

setup_logging(snakemake.log[0])
run_lead_eqtl(
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    store_paths=list(snakemake.input.stores),
    cis_window_bp=snakemake.params.cis_window_bp,
    evaluate=snakemake.params.evaluate,
    out_lead=snakemake.output.lead,
    out_lead_csv=None,
    out_dosages=snakemake.output.dosages,
    gene_ids=snakemake.params.genes,
)
