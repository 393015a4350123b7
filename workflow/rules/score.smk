# External reference scorers (config `scorers:`; ps2f.models.scorers; ps2f.pipeline.score):
# Enformer, AlphaGenome or a precomputed score table, one job per scorer and gene chunk
# (gathered in gather.smk), each individual's two haplotypes scored separately and averaged
# (the protocol used to evaluate Enformer on personal genomes: Huang 2023, Sasse 2023),
# written to the same predictions table as every other model.
# Each also writes its haplotype scores in the format a `precomputed` scorer imports.


rule score_external:
    input:
        unpack(get_scorer_inputs),
    output:
        predictions=f"{RUN}/chunks/{{scorer}}/{{chunk}}.predictions.parquet",
        haplotype_scores=f"{RUN}/chunks/{{scorer}}/{{chunk}}.haplotypes.parquet",
    params:
        genes=get_chunk_genes,
        scorer=get_scorer_config,
        contig_aliases=get_scorer_contig_aliases,
    wildcard_constraints:
        scorer="|".join(SCORERS) or "(?!)",
    log:
        f"{LOGS}/score_external/{{scorer}}/{{chunk}}.log",
    benchmark:
        f"{LOGS}/score_external/{{scorer}}/{{chunk}}.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(16000),
        runtime=scaled_by_attempt(480),
        gpu=get_scorer_gpu,
    conda:
        get_scorer_env
    script:
        "../scripts/score_external.py"
