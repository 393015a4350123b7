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
        s2f=config["s2f"],
        contig_aliases=config["contig_aliases"],
        mode="reference_scoring",
    log:
        f"{LOGS}/score_reference.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../../envs/ps2f-gpu.yaml"
    script:
        "../scripts/predict.py"
