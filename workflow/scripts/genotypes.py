from ps2f.pipeline import run_genotypes, setup_logging

setup_logging(snakemake.log[0])
run_genotypes(
    vcf=snakemake.input.vcf,
    reference=snakemake.input.reference,
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    contig=snakemake.wildcards.contig,
    **snakemake.params.settings,
    out_store=snakemake.output.store,
    out_stats=snakemake.output.stats,
    external_vcf=snakemake.input.get("external_genotypes"),
)
