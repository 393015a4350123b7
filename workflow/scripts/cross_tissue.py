from ps2f.pipeline import setup_logging
from ps2f.pipeline.tissues import run_cross_tissue

setup_logging(snakemake.log[0])
run_cross_tissue(
    summary_paths=dict(zip(snakemake.params.tissues, snakemake.input.summaries, strict=True)),
    out_table=snakemake.output.table,
    out_figure=snakemake.output.figure,
)
