# Figures from the metrics and summary tables only; each is flagged for `snakemake --report`.


rule figures:
    input:
        metrics=f"{RUN}/evaluation/metrics.parquet",
        summary=f"{RUN}/evaluation/summary.parquet",
    output:
        r_distributions=report(
            f"{RUN}/figures/r_distributions.png",
            caption="../report/r_distributions.rst",
            category="Figures",
            labels={"figure": "per-gene r distributions"},
        ),
        vs_elastic_net=report(
            f"{RUN}/figures/vs_elastic_net.png",
            caption="../report/vs_elastic_net.rst",
            category="Figures",
            labels={"figure": "per-gene r vs ElasticNet"},
        ),
        direction_accuracy=report(
            f"{RUN}/figures/direction_accuracy.png",
            caption="../report/direction_accuracy.rst",
            category="Figures",
            labels={"figure": "direction accuracy"},
        ),
    log:
        f"{LOGS}/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/figures.py"
