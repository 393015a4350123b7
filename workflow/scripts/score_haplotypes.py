from ps2f.pipeline import setup_logging
from ps2f.pipeline.score import run_score_external

# a many-tissue run: the haplotype scores of the union of the tissues' genes and individuals
setup_logging(snakemake.log[0])
run_score_external(
    scorer=snakemake.params.scorer,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=None,
    reference=snakemake.input.get("reference"),
    store_paths=list(snakemake.input.get("stores", [])),
    contig_aliases=snakemake.params.contig_aliases,
    threads=snakemake.threads,
    out_predictions=None,
    out_haplotype_scores=snakemake.output.haplotype_scores,
    gene_ids=snakemake.params.genes,
)
