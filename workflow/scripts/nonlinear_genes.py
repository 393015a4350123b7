from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_nonlinear_genes

setup_logging(snakemake.log[0])
run_nonlinear_genes(
    elastic_net_summary=snakemake.input.elastic_net,
    random_forest_summary=snakemake.input.random_forest,
    evaluate=snakemake.params.evaluate,
    out_genes=snakemake.output.genes,
)
