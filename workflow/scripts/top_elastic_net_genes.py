from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_top_elastic_net_genes

setup_logging(snakemake.log[0])
run_top_elastic_net_genes(
    elastic_net_summary=snakemake.input.elastic_net,
    evaluate=snakemake.params.evaluate,
    out_genes=snakemake.output.genes,
)
