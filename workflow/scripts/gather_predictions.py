from ps2f.pipeline import setup_logging
from ps2f.pipeline.chunks import gather_predictions

setup_logging(snakemake.log[0])
gather_predictions(list(snakemake.input), snakemake.output[0])
