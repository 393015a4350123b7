# Sequence-to-function CNNs: the r-model (reference sequence -> gene mean) and the p-model
# (personal haplotypes -> gene mean + individual deviation), trained on training genes x
# training individuals only; a validation part of those (split.validation_*) chooses the epoch.
# GPU when available; CPU otherwise with identical behaviour. Then each predicts: predict_p
# (personal haplotypes) and score_reference (each haplotype scored by the r-model, below).
#
# Resume: while a training job runs it rewrites <model>.ckpt (e.g. results/<name>/models/
# p_model.ckpt) after every epoch. The checkpoint is deliberately not a declared output, so
# Snakemake does not delete it when the job fails or is killed (nor when a cluster retry
# resubmits it): re-running the rule resumes after the last finished epoch. It is deleted
# once the model is written, and ignored if the settings or data changed.


rule train_r:
    input:
        **PHENOTYPES,
        reference=get_input("reference"),
        stores=get_variant_stores(),
    output:
        model=protected(f"{RUN}/models/r_model.pt"),
        history=f"{RUN}/models/r_model.history.tsv",
    params:
        s2f=get_s2f_settings("train_r"),
        split=get_validation_settings(),
        contig_aliases=config["contig_aliases"],
    log:
        f"{LOGS}/train_r.log",
    benchmark:
        f"{LOGS}/train_r.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(8000),
        runtime=scaled_by_attempt(240),
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/train.py"


rule train_p:
    input:
        **PHENOTYPES,
        reference=get_input("reference"),
        stores=get_variant_stores(),
        **get_p_model_init(),
    output:
        model=protected(f"{RUN}/models/p_model.pt"),
        history=f"{RUN}/models/p_model.history.tsv",
    params:
        s2f=get_s2f_settings("train_p"),
        split=get_validation_settings(),
        contig_aliases=config["contig_aliases"],
    log:
        f"{LOGS}/train_p.log",
    benchmark:
        f"{LOGS}/train_p.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(8000),
        runtime=scaled_by_attempt(480),
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/train.py"


rule predict_p:
    input:
        **PHENOTYPES,
        reference=get_input("reference"),
        stores=get_chunk_store,
        model=f"{RUN}/models/p_model.pt",
    output:
        predictions=f"{RUN}/chunks/p_model/{{chunk}}.predictions.parquet",
    params:
        genes=get_light_chunk_genes,
        s2f=get_s2f_settings("predict_p"),
        contig_aliases=config["contig_aliases"],
        mode="p",
    log:
        f"{LOGS}/predict_p/{{chunk}}.log",
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(8000),
        runtime=scaled_by_attempt(60),
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/predict.py"


# Reference scoring: the r-model (trained on the reference genome) scores each individual's two
# haplotypes separately; the individual's prediction is their mean (the protocol used to
# evaluate Enformer on personal genomes: Huang 2023, Sasse 2023; external models: score.smk).


rule score_reference:
    input:
        **PHENOTYPES,
        reference=get_input("reference"),
        stores=get_chunk_store,
        model=f"{RUN}/models/r_model.pt",
    output:
        predictions=f"{RUN}/chunks/r_model/{{chunk}}.predictions.parquet",
    params:
        genes=get_light_chunk_genes,
        s2f=get_s2f_settings("score_reference"),
        contig_aliases=config["contig_aliases"],
        mode="reference_scoring",
    log:
        f"{LOGS}/score_reference/{{chunk}}.log",
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(8000),
        runtime=scaled_by_attempt(60),
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/predict.py"
