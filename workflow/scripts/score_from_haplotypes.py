from ps2f.pipeline import setup_logging
from ps2f.pipeline.score import run_predictions_from_haplotype_scores

setup_logging(snakemake.log[0])
run_predictions_from_haplotype_scores(
    scorer=snakemake.params.scorer,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    haplotype_paths=list(snakemake.input.shared),
    out_predictions=snakemake.output.predictions,
    out_haplotype_scores=snakemake.output.haplotype_scores,
    gene_ids=snakemake.params.genes,
)
