# Reference scoring: a model trained on the reference genome scores each individual's two
# haplotypes separately; the individual's prediction is their mean (the protocol used to
# evaluate Enformer on personal genomes: Huang 2023, Sasse 2023).


rule score_reference:
    input:
        **PHENOTYPES,
        reference=get_input("reference"),
        stores=get_variant_stores(),
        model=f"{RUN}/models/r_model.pt",
    output:
        predictions=f"{RUN}/predictions/r_model.parquet",
    params:
        s2f=get_s2f_settings("score_reference"),
        contig_aliases=config["contig_aliases"],
        mode="reference_scoring",
    log:
        f"{LOGS}/score_reference.log",
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(8000),
        runtime=scaled_by_attempt(60),
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/predict.py"


# External reference scorers (config `scorers:`; ps2f.models.scorers): Enformer, AlphaGenome or
# a precomputed score table, one job per scorer, scored by the same protocol and written to
# the same predictions table as every other model. Each also writes its haplotype scores in
# the format a `precomputed` scorer imports.

rule score_external:
    input:
        unpack(get_scorer_inputs),
    output:
        predictions=f"{RUN}/predictions/{{scorer}}.parquet",
        haplotype_scores=f"{RUN}/scores/{{scorer}}.haplotypes.parquet",
    params:
        scorer=get_scorer_config,
        contig_aliases=get_scorer_contig_aliases,
    wildcard_constraints:
        scorer="|".join(SCORERS) or "(?!)",
    log:
        f"{LOGS}/score_external/{{scorer}}.log",
    benchmark:
        f"{LOGS}/score_external/{{scorer}}.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(16000),
        runtime=scaled_by_attempt(480),
        gpu=get_scorer_gpu,
    conda:
        get_scorer_env
    script:
        "../scripts/score_external.py"
