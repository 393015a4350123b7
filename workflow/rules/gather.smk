# Gather steps of the per-gene stages (gene chunks: common.smk, ps2f.pipeline.chunks): each
# writes the table one job over all genes would write, from its chunks' tables in gene-table
# order, so everything downstream (evaluate, figures, the report) reads the same files as
# before chunking. What needs all genes at once happens here: the PredictDB q-values and the
# filtered .db.


rule gather_predictions:
    input:
        chunked(f"{RUN}/chunks/{{model}}/{{chunk}}.predictions.parquet"),
    output:
        f"{RUN}/predictions/{{model}}.parquet",
    wildcard_constraints:
        model="|".join(MODELS + list(SCORERS)),
    log:
        f"{LOGS}/gather/{{model}}.predictions.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_predictions.py"


rule gather_baseline_summary:
    input:
        chunked(f"{RUN}/chunks/{{baseline}}/{{chunk}}.summary.tsv"),
    output:
        f"{RUN}/models/{{baseline}}.summary.tsv",
    log:
        f"{LOGS}/gather/{{baseline}}.summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_tables.py"


rule gather_predictdb:
    input:
        dbs=chunked(f"{RUN}/chunks/elastic_net/{{chunk}}.db"),
        covariances=chunked(f"{RUN}/chunks/elastic_net/{{chunk}}.covariances.txt.gz"),
    output:
        db=f"{RUN}/models/elastic_net.db",
        db_filtered=f"{RUN}/models/elastic_net.filtered.db",
        covariances=f"{RUN}/models/elastic_net.covariances.txt.gz",
    params:
        predictdb=config_subset(config["baselines"]["predictdb"], "max_pval", "min_rho"),
    log:
        f"{LOGS}/gather/predictdb.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_predictdb.py"


rule gather_haplotype_scores:
    input:
        chunked(f"{RUN}/chunks/{{scorer}}/{{chunk}}.haplotypes.parquet"),
    output:
        f"{RUN}/scores/{{scorer}}.haplotypes.parquet",
    wildcard_constraints:
        scorer="|".join(SCORERS) or "(?!)",
    log:
        f"{LOGS}/gather/{{scorer}}.haplotypes.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_tables.py"


rule gather_lead_eqtl:
    input:
        tables=chunked(f"{RUN}/chunks/lead_eqtl/{{chunk}}.parquet", "lead_eqtl"),
    output:
        lead=f"{RUN}/evaluation/lead_eqtl.parquet",
        lead_csv=report(
            f"{RUN}/evaluation/lead_eqtl.csv",
            caption="../report/lead_eqtl_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "lead eQTL per gene"},
        ),
    log:
        f"{LOGS}/gather/lead_eqtl.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_tables.py"


rule gather_lead_eqtl_dosages:
    input:
        tables=chunked(f"{RUN}/chunks/lead_eqtl/{{chunk}}.dosages.parquet", "lead_eqtl"),
    output:
        f"{RUN}/evaluation/lead_eqtl_dosages.parquet",
    log:
        f"{LOGS}/gather/lead_eqtl_dosages.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_tables.py"


rule gather_cis_heritability:
    input:
        tables=chunked(f"{RUN}/chunks/cis_heritability/{{chunk}}.parquet", "cis_heritability"),
    output:
        table=f"{RUN}/evaluation/cis_heritability.parquet",
        table_csv=report(
            f"{RUN}/evaluation/cis_heritability.csv",
            caption="../report/cis_heritability_table.rst",
            category="Tables",
            subcategory=REPORT_TISSUE,
            labels={"table": "cis-heritability per gene"},
        ),
    log:
        f"{LOGS}/gather/cis_heritability.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/gather_tables.py"
