# External reference scorers (config `scorers:`; ps2f.models.scorers; ps2f.pipeline.score):
# Enformer, AlphaGenome or a precomputed score table, one job per scorer and gene chunk
# (gathered in gather.smk), each individual's two haplotypes scored separately and averaged
# (the protocol used to evaluate Enformer on personal genomes: Huang 2023, Sasse 2023),
# written to the same predictions table as every other model.
# Each also writes its haplotype scores in the format a `precomputed` scorer imports.
# With tissues: a scorer's haplotype scores depend on the sequence, not on the tissue, so they
# are computed once (rule score_haplotypes: one job per scorer and chunk of the union of the
# tissues' genes, every tissue's individuals, the GPU work), and each tissue's score_external
# job only selects its genes and individuals from them and aggregates (a CPU table job, one per
# light chunk: common.smk).
# A scorer's tissue_tracks gives tissues their own tracks: score_haplotypes reads every track
# set from the same forward pass (its params: the whole scorer config), and each tissue's
# score_external reads the rows of its own set (its params: the config with its own tracks).


if not TISSUES:

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
            # a score table or weights replaced by an older-stamped copy re-runs the scorer
            input_stamps=get_scorer_stamps,
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

else:

    rule score_haplotypes:
        input:
            unpack(get_shared_scorer_inputs),
        output:
            haplotype_scores=f"{RUN_ROOT}/chunks/{{scorer}}/{{chunk}}.haplotypes.parquet",
        params:
            genes=get_union_chunk_genes,
            scorer=get_scorer_config,
            contig_aliases=get_scorer_contig_aliases,
            input_stamps=get_scorer_stamps,
        wildcard_constraints:
            scorer="|".join(SCORERS) or "(?!)",
        log:
            f"{LOGS_ROOT}/score_haplotypes/{{scorer}}/{{chunk}}.log",
        benchmark:
            f"{LOGS_ROOT}/score_haplotypes/{{scorer}}/{{chunk}}.benchmark.tsv"
        threads: 2
        resources:
            mem_mb=scaled_by_attempt(16000),
            runtime=scaled_by_attempt(480),
            gpu=get_scorer_gpu,
        conda:
            get_scorer_env
        script:
            "../scripts/score_haplotypes.py"

    rule score_external:
        input:
            **PHENOTYPES,
            shared=get_shared_haplotype_scores,
        output:
            predictions=f"{RUN}/chunks/{{scorer}}/{{chunk}}.predictions.parquet",
            haplotype_scores=f"{RUN}/chunks/{{scorer}}/{{chunk}}.haplotypes.parquet",
        params:
            genes=get_light_chunk_genes,
            scorer=get_tissue_scorer_config,
        wildcard_constraints:
            scorer="|".join(SCORERS) or "(?!)",
        log:
            f"{LOGS}/score_external/{{scorer}}/{{chunk}}.log",
        benchmark:
            f"{LOGS}/score_external/{{scorer}}/{{chunk}}.benchmark.tsv"
        threads: 1
        resources:
            mem_mb=scaled_by_attempt(4000),
            runtime=scaled_by_attempt(30),
        conda:
            "../../envs/ps2f.yaml"
        script:
            "../scripts/score_from_haplotypes.py"
