from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_window_coverage

setup_logging(snakemake.log[0])
run_window_coverage(
    genes_path=snakemake.input.genes,
    lead_path=snakemake.input.lead,
    elastic_net_db=snakemake.input.db,
    elastic_net_covariances=snakemake.input.covariances,
    windows=snakemake.params.windows,
    evaluate=snakemake.params.evaluate,
    out_coverage=snakemake.output.coverage,
    out_coverage_csv=snakemake.output.coverage_csv,
)
