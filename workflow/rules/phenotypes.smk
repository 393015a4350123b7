# Expression enters once: samples matched, genes matched, normalized, residualized on the
# covariates (fitted on training individuals only), splits assigned (at random, and by
# population with split.population: held-out ancestry). A checkpoint: the gene chunks of the
# per-gene stages are cut from its gene table (common.smk).


checkpoint phenotypes:
    input:
        expression=get_input("expression"),
        **get_annotation_input(),
        genotypes=get_input("genotypes"),
        **get_genotype_companions("genotypes"),
        reference=get_input("reference"),
        **get_covariates_input(),
        **get_dosages_input(),
        **get_genotype_companions("dosages"),
        **get_population_input(),
    output:
        genes=PHENOTYPES["genes"],
        individuals=PHENOTYPES["individuals"],
        expression=PHENOTYPES["expression"],
    params:
        expression=config_subset(
            config["expression"],
            "normalization",
            "n_genotype_pcs",
            "n_expression_pcs",
            "extra_covariates",
            "genotype_pc_pattern",
            "expression_pc_pattern",
        ),
        split=config_subset(
            config["split"],
            "heldout_gene_fraction",
            "heldout_individual_fraction",
            "heldout_chromosomes",
            "seed",
            "min_individuals",
        ),
        # only with a sample table: without one, these keys are read by no rule
        **get_population_params(),
        genes=config["genes"],
        annotation=config["annotation"],
        phenotype=config["phenotype"],
        contigs=CONTIGS,
        contig_aliases=config["contig_aliases"],
        # the held-out and training individuals must each allow a per-gene r
        evaluate=config_subset(config["evaluate"], "min_individuals"),
        # an input replaced by an older-stamped copy re-runs the run (mtime alone misses it)
        input_stamps=get_input_stamps(),
    log:
        f"{LOGS}/phenotypes.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/phenotypes.py"
