# Genotype baselines (PrediXcan style) on cis-window allele dosages (of the phased variant
# store, or of inputs.dosages: unphased or imputed), fitted per gene on training individuals,
# on every gene (baselines.genes: all; held-out genes are held out from the sequence models
# only) or on training genes (train): ElasticNet with PredictDB's protocol (cv.glmnet
# lambda.min, nested CV, PredictDB .db + covariances for PrediXcan/MetaXcan) and RandomForest.
# One job per method and gene chunk (RandomForest, ~15x cheaper per gene: per light chunk;
# common.smk), parallel over genes inside (joblib, `threads` workers); gathered into one predictions table and summary per method, and one PredictDB
# .db + covariance file merged from the chunks' as PredictDB-nextflow merges its chromosomes'.


rule elastic_net:
    input:
        **PHENOTYPES,
        stores=get_baseline_store,
    output:
        predictions=f"{RUN}/chunks/elastic_net/{{chunk}}.predictions.parquet",
        summary=f"{RUN}/chunks/elastic_net/{{chunk}}.summary.tsv",
        db=f"{RUN}/chunks/elastic_net/{{chunk}}.db",
        covariances=f"{RUN}/chunks/elastic_net/{{chunk}}.covariances.txt.gz",
    params:
        method="elastic_net",
        genes=get_chunk_genes,
        baselines=get_baseline_settings("elastic_net"),
        # the PredictDB population when baselines.predictdb.population is empty
        name=config["name"],
    log:
        f"{LOGS}/baselines/elastic_net/{{chunk}}.log",
    benchmark:
        f"{LOGS}/baselines/elastic_net/{{chunk}}.benchmark.tsv"
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
        stores=get_baseline_store,
    output:
        predictions=f"{RUN}/chunks/random_forest/{{chunk}}.predictions.parquet",
        summary=f"{RUN}/chunks/random_forest/{{chunk}}.summary.tsv",
    params:
        method="random_forest",
        genes=get_light_chunk_genes,
        baselines=get_baseline_settings("random_forest"),
    log:
        f"{LOGS}/baselines/random_forest/{{chunk}}.log",
    benchmark:
        f"{LOGS}/baselines/random_forest/{{chunk}}.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(120),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/baselines.py"

