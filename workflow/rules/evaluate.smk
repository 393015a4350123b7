# Evaluation from tables only: each gene's lead cis-eQTL (for the variant-level direction) and
# cis-heritability (HE regression: the ceiling on any model's r),
# how much of each gene's cis signal lies inside each sequence model's window (needs no
# trained model: `snakemake window_coverage` before training helps choose s2f.window_bp),
# then per-gene metrics in each (gene set x individual set) cell, permutation FDR, summaries
# with bootstrap CIs and model-vs-model tests. Each model's training status (converged or
# not, from its predictions file's metadata) goes into training.csv and beside its numbers in
# the summary and comparisons tables; landing.rst is the report's first-page table. The
# nonlinear genes (Shen 2026: RandomForest beats ElasticNet most, judged on the training
# individuals' out-of-bag / nested-CV r) are a gene set of the summary and comparisons.
# lead_eqtl, cis_heritability and gene_metrics are light stages: one job per light chunk of
# chunks.light_stage_chunks gene chunks (common.smk).


rule lead_eqtl:
    input:
        **PHENOTYPES,
        stores=get_chunk_store,
    output:
        lead=f"{RUN}/chunks/lead_eqtl/{{chunk}}.parquet",
        dosages=f"{RUN}/chunks/lead_eqtl/{{chunk}}.dosages.parquet",
    params:
        genes=get_light_chunk_genes,
        cis_window_bp=config["baselines"]["cis_window_bp"],
        evaluate=config_subset(config["evaluate"], "eqtl_min_maf", "eqtl_alpha"),
    log:
        f"{LOGS}/lead_eqtl/{{chunk}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/lead_eqtl.py"


rule cis_heritability:
    input:
        **PHENOTYPES,
        stores=get_chunk_store,
    output:
        table=f"{RUN}/chunks/cis_heritability/{{chunk}}.parquet",
    params:
        genes=get_light_chunk_genes,
        cis_window_bp=config["baselines"]["cis_window_bp"],
        evaluate=config_subset(config["evaluate"], "eqtl_min_maf"),
    log:
        f"{LOGS}/cis_heritability/{{chunk}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/cis_heritability.py"


rule window_coverage:
    input:
        genes=PHENOTYPES["genes"],
        lead=f"{RUN}/evaluation/lead_eqtl.parquet",
        db=f"{RUN}/models/elastic_net.db",
        covariances=f"{RUN}/models/elastic_net.covariances.txt.gz",
    output:
        coverage=f"{RUN}/evaluation/window_coverage.parquet",
        coverage_csv=report(
            f"{RUN}/evaluation/window_coverage.csv",
            caption="../report/window_coverage_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "window coverage per gene"},
        ),
    params:
        windows=get_sequence_windows(),
        evaluate=config_subset(config["evaluate"], "eqtl_alpha"),
    log:
        f"{LOGS}/window_coverage.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/window_coverage.py"


rule nonlinear_genes:
    input:
        elastic_net=f"{RUN}/models/elastic_net.summary.tsv",
        random_forest=f"{RUN}/models/random_forest.summary.tsv",
    output:
        genes=report(
            f"{RUN}/evaluation/nonlinear_genes.csv",
            caption="../report/nonlinear_genes_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "nonlinear genes (RandomForest beats ElasticNet)"},
        ),
    params:
        evaluate=config_subset(config["evaluate"], "nonlinear_top_n"),
    log:
        f"{LOGS}/nonlinear_genes.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/nonlinear_genes.py"


rule top_elastic_net_genes:
    input:
        elastic_net=f"{RUN}/models/elastic_net.summary.tsv",
    output:
        genes=report(
            f"{RUN}/evaluation/top_elastic_net_genes.csv",
            caption="../report/top_elastic_net_genes_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "top ElasticNet genes (SAGE-net's selection)"},
        ),
    params:
        evaluate=config_subset(config["evaluate"], "top_elastic_net_n"),
    log:
        f"{LOGS}/top_elastic_net_genes.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/top_elastic_net_genes.py"


# Per-gene metrics (r, direction accuracy, permutation p, lead-eQTL direction) of every model,
# one job per light chunk (common.smk); evaluate gathers them (and computes the permutation FDR over genes).
rule gene_metrics:
    input:
        predictions=get_chunk_predictions,
        lead=f"{RUN}/chunks/lead_eqtl/{{chunk}}.parquet",
        dosages=f"{RUN}/chunks/lead_eqtl/{{chunk}}.dosages.parquet",
    output:
        metrics=f"{RUN}/chunks/metrics/{{chunk}}.parquet",
    params:
        evaluate=config_subset(
            config["evaluate"], "min_individuals", "n_permutations", "seed", "eqtl_alpha"
        ),
    log:
        f"{LOGS}/gene_metrics/{{chunk}}.log",
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(60),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gene_metrics.py"


rule evaluate:
    input:
        predictions=get_predictions(),
        gene_metrics=chunked(f"{RUN}/chunks/metrics/{{chunk}}.parquet", "metrics"),
        nonlinear=f"{RUN}/evaluation/nonlinear_genes.csv",
        top_elastic_net=f"{RUN}/evaluation/top_elastic_net_genes.csv",
        coverage=f"{RUN}/evaluation/window_coverage.parquet",
        heritability=f"{RUN}/evaluation/cis_heritability.parquet",
    output:
        predictions=f"{RUN}/evaluation/predictions.parquet",
        metrics=report(
            f"{RUN}/evaluation/metrics.parquet",
            caption="../report/metrics_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "per-gene metrics (parquet)"},
        ),
        metrics_csv=f"{RUN}/evaluation/metrics.csv",
        summary=report(
            f"{RUN}/evaluation/summary.csv",
            caption="../report/summary_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "summary"},
        ),
        summary_parquet=f"{RUN}/evaluation/summary.parquet",
        comparisons=f"{RUN}/evaluation/comparisons.parquet",
        comparisons_csv=report(
            f"{RUN}/evaluation/comparisons.csv",
            caption="../report/comparisons_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "model vs model"},
        ),
        training=report(
            f"{RUN}/evaluation/training.csv",
            caption="../report/training_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "training status (convergence)"},
        ),
        landing=f"{RUN}/report/landing.rst",
    params:
        evaluate=config_subset(
            config["evaluate"],
            "seed",
            "alpha",
            "fdr",
            "set_r_threshold",
            "n_boot",
        ),
        # the landing page names the modality
        phenotype=config_subset(config["phenotype"], "modality"),
    log:
        f"{LOGS}/evaluate.log",
    benchmark:
        f"{LOGS}/evaluate.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/evaluate.py"
