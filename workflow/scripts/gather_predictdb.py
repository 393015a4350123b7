from ps2f.pipeline import setup_logging
from ps2f.pipeline.chunks import run_gather_predictdb

setup_logging(snakemake.log[0])
run_gather_predictdb(
    db_paths=list(snakemake.input.dbs),
    covariance_paths=list(snakemake.input.covariances),
    predictdb=snakemake.params.predictdb,
    out_db=snakemake.output.db,
    out_db_filtered=snakemake.output.db_filtered,
    out_covariances=snakemake.output.covariances,
)
