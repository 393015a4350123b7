# Genotype baselines (PrediXcan style) on cis-window allele dosages (of the phased variant
# store, or of inputs.dosages: unphased or imputed), fitted per gene on training individuals,
# on every gene (baselines.genes: all; held-out genes are held out from the sequence models
# only) or on training genes (train): ElasticNet with PredictDB's protocol (cv.glmnet
# lambda.min, nested CV, PredictDB .db + covariances for PrediXcan/MetaXcan) and RandomForest. One job per method,
# parallel over genes inside (joblib, `threads` workers).


rule elastic_net:
    input:
        **PHENOTYPES,
        stores=get_baseline_stores(),
    output:
        predictions=f"{RUN}/predictions/elastic_net.parquet",
        summary=f"{RUN}/models/elastic_net.summary.tsv",
        db=f"{RUN}/models/elastic_net.db",
        db_filtered=f"{RUN}/models/elastic_net.filtered.db",
        covariances=f"{RUN}/models/elastic_net.covariances.txt.gz",
    params:
        method="elastic_net",
        baselines=get_baseline_settings("elastic_net"),
        # the PredictDB population when baselines.predictdb.population is empty
        name=config["name"],
    log:
        f"{LOGS}/baselines/elastic_net.log",
    benchmark:
        f"{LOGS}/baselines/elastic_net.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(120),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/baselines.py"


rule random_forest:
    input:
        **PHENOTYPES,
        stores=get_baseline_stores(),
    output:
        predictions=f"{RUN}/predictions/random_forest.parquet",
        summary=f"{RUN}/models/random_forest.summary.tsv",
    params:
        method="random_forest",
        baselines=get_baseline_settings("random_forest"),
    log:
        f"{LOGS}/baselines/random_forest.log",
    benchmark:
        f"{LOGS}/baselines/random_forest.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(120),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/baselines.py"
