from ps2f.pipeline import run_phenotypes, setup_logging

setup_logging(snakemake.log[0])
run_phenotypes(
    expression=snakemake.input.expression,
    annotation=snakemake.input.get("annotation"),
    genotypes=snakemake.input.genotypes,
    out_genes=snakemake.output.genes,
    out_individuals=snakemake.output.individuals,
    out_expression=snakemake.output.expression,
    expression_settings=snakemake.params.expression,
    split=snakemake.params.split,
    genes=snakemake.params.genes,
    usable_column=snakemake.params.annotation["usable_column"],
    contigs=snakemake.params.contigs,
    contig_aliases=snakemake.params.contig_aliases,
    min_split_individuals=snakemake.params.evaluate["min_individuals"],
    covariates=snakemake.input.get("covariates"),
    reference=snakemake.input.get("reference"),
    dosages=snakemake.input.get("dosages"),
    populations=snakemake.input.get("populations"),
    population=snakemake.params.get("population"),
    modality=snakemake.params.phenotype["modality"],
    external_genotypes=snakemake.input.get("external_genotypes"),
    external_expression=snakemake.input.get("external_expression"),
    external_covariates=snakemake.input.get("external_covariates"),
)
