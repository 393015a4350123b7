from ps2f.pipeline import setup_logging
from ps2f.pipeline.score import run_score_external

setup_logging(snakemake.log[0])
run_score_external(
    scorer=snakemake.params.scorer,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    reference=snakemake.input.get("reference"),
    store_paths=list(snakemake.input.get("stores", [])),
    contig_aliases=snakemake.params.contig_aliases,
    threads=snakemake.threads,
    out_predictions=snakemake.output.predictions,
    out_haplotype_scores=snakemake.output.haplotype_scores,
    gene_ids=snakemake.params.genes,
)
