from ps2f.pipeline import setup_logging
from ps2f.pipeline.chunks import gather_tables

setup_logging(snakemake.log[0])
# every output gets the same table (e.g. a parquet and its CSV copy), from the chunks'
# tables of the input named "tables" (other inputs, e.g. a second table, go to another rule)
gather_tables(list(snakemake.input.get("tables", snakemake.input)), list(snakemake.output))
