# Expression enters once: samples matched, genes matched, normalized, residualized on the
# covariates (fitted on training individuals only), splits assigned (at random, and by
# population with split.population: held-out ancestry); per tissue with `tissues:`. A checkpoint: the gene chunks of the
# per-gene stages are cut from its gene table (common.smk).


checkpoint phenotypes:
    input:
        unpack(get_expression_inputs),
        **get_annotation_input(),
        genotypes=get_input("genotypes"),
        **get_genotype_companions("genotypes"),
        reference=get_input("reference"),
        **get_dosages_input(),
        **get_genotype_companions("dosages"),
        **get_population_input(),
        **get_external_inputs("genotypes", "expression", "covariates"),
    output:
        genes=PHENOTYPES["genes"],
        individuals=PHENOTYPES["individuals"],
        expression=PHENOTYPES["expression"],
    params:
        expression=get_expression_settings,
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
        input_stamps=get_input_stamps,
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


# Many tissues: the shared variant and dosage stores (genotypes.smk) cover the union of the
# tissues' genes and individuals (GTEx tissues have different donors and expressed genes). Not
# defined without tissues: the stores then read the phenotypes tables themselves.
if TISSUES:

    # a checkpoint: with external scorers, their haplotypes are scored once per chunk of these
    # union genes (rule score_haplotypes), and every tissue reads them
    checkpoint store_tables:
        input:
            unpack(get_tissue_tables),
        output:
            genes=f"{RUN_ROOT}/phenotypes/genes.tsv",
            individuals=f"{RUN_ROOT}/phenotypes/individuals.tsv",
        log:
            f"{LOGS_ROOT}/store_tables.log",
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../../envs/ps2f.yaml"
        script:
            "../scripts/store_tables.py"
