from pathlib import Path

from ps2f.pipeline import run_simulate, setup_logging

setup_logging(snakemake.log[0])
run_simulate(
    snakemake.params.simulate, snakemake.params.contig, Path(snakemake.output.genotypes).parent
)
