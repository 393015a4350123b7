# Genotype baselines (PrediXcan style): per-gene ElasticNet / RandomForest on cis-window allele
# dosages, fitted on training individuals. One job per method, parallel over genes inside.


rule baselines:
    input:
        **PHENOTYPES,
        stores=get_variant_stores(),
    output:
        predictions=f"{RUN}/predictions/{{baseline}}.parquet",
        weights=f"{RUN}/models/{{baseline}}.weights.tsv",
    params:
        config=config,
    log:
        f"{LOGS}/baselines/{{baseline}}.log",
    benchmark:
        f"{LOGS}/baselines/{{baseline}}.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/baselines.py"
