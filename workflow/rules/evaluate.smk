# Per-gene metrics across individuals in each (gene set x individual set) cell, and summaries
# with bootstrap CIs. Reads the predictions tables only.


rule evaluate:
    input:
        predictions=get_predictions(),
    output:
        predictions=f"{RUN}/evaluation/predictions.parquet",
        metrics=report(
            f"{RUN}/evaluation/metrics.parquet",
            caption="../report/metrics_table.rst",
            category="Tables",
            labels={"table": "per-gene metrics (parquet)"},
        ),
        metrics_csv=f"{RUN}/evaluation/metrics.csv",
        summary=report(
            f"{RUN}/evaluation/summary.csv",
            caption="../report/summary_table.rst",
            category="Tables",
            labels={"table": "summary"},
        ),
        summary_parquet=f"{RUN}/evaluation/summary.parquet",
    params:
        evaluate=config["evaluate"],
    log:
        f"{LOGS}/evaluate.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/evaluate.py"
