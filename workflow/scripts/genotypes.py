from ps2f.pipeline import run_genotypes, setup_logging

setup_logging(snakemake.log[0])
run_genotypes(
    vcf=snakemake.input.vcf,
    reference=snakemake.input.reference,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    contig=snakemake.wildcards.contig,
    window_bp=snakemake.params.window_bp,
    cis_window_bp=snakemake.params.cis_window_bp,
    cis_window_anchor=snakemake.params.cis_window_anchor,
    indel_flank_bp=snakemake.params.indel_flank_bp,
    snvs_only=snakemake.params.snvs_only,
    missing_policy=snakemake.params.missing_policy,
    contig_aliases=snakemake.params.contig_aliases,
    out_store=snakemake.output.store,
    out_stats=snakemake.output.stats,
)
