from ps2f.pipeline import run_phenotypes, setup_logging

setup_logging(snakemake.log[0])
run_phenotypes(
    expression=snakemake.input.expression,
    annotation=snakemake.input.annotation,
    genotypes=snakemake.input.genotypes,
    config=snakemake.config,
    out_genes=snakemake.output.genes,
    out_individuals=snakemake.output.individuals,
    out_expression=snakemake.output.expression,
    covariates=snakemake.input.get("covariates"),
    reference=snakemake.input.get("reference"),
    dosages=snakemake.input.get("dosages"),
)
