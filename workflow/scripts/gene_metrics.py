from ps2f.pipeline import setup_logging
from ps2f.pipeline.evaluate import run_gene_metrics

setup_logging(snakemake.log[0])
run_gene_metrics(
    prediction_paths=list(snakemake.input.predictions),
    evaluate=snakemake.params.evaluate,
    out_metrics=snakemake.output.metrics,
    lead_path=snakemake.input.lead,
    dosages_path=snakemake.input.dosages,
)
