from ps2f.pipeline import run_dosages, setup_logging

setup_logging(snakemake.log[0])
run_dosages(
    vcf=snakemake.input.vcf,
    reference=snakemake.input.reference,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    contig=snakemake.wildcards.contig,
    cis_window_bp=snakemake.params.cis_window_bp,
    cis_window_anchor=snakemake.params.cis_window_anchor,
    dosage_field=snakemake.params.dosage_field,
    snvs_only=snakemake.params.snvs_only,
    missing_policy=snakemake.params.missing_policy,
    contig_aliases=snakemake.params.contig_aliases,
    out_store=snakemake.output.store,
    out_stats=snakemake.output.stats,
)
