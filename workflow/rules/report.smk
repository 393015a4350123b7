# Figures from the evaluation tables only; each PNG is flagged for `snakemake --report` (an SVG
# copy is written beside it), and the learning curves from the training histories. The report's
# landing page is workflow/report/workflow.rst: it includes results/<name>/report/landing.rst
# (written by the evaluate rule: the summary and the training status), so the first page of
# the report shows the answer.


report: "../report/workflow.rst"


rule figures:
    input:
        metrics=f"{RUN}/evaluation/metrics.parquet",
        summary=f"{RUN}/evaluation/summary.parquet",
        comparisons=f"{RUN}/evaluation/comparisons.parquet",
        predictions=f"{RUN}/evaluation/predictions.parquet",
        dosages=f"{RUN}/evaluation/lead_eqtl_dosages.parquet",
        coverage=f"{RUN}/evaluation/window_coverage.parquet",
        training=f"{RUN}/evaluation/training.csv",
        **get_histories(),
    output:
        r_distributions=report(
            f"{RUN}/figures/r_distributions.png",
            caption="../report/r_distributions.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "1. per-gene r distributions"},
        ),
        vs_elastic_net=report(
            f"{RUN}/figures/vs_elastic_net.png",
            caption="../report/vs_elastic_net.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "2. per-gene r vs ElasticNet"},
        ),
        direction_accuracy=report(
            f"{RUN}/figures/direction_accuracy.png",
            caption="../report/direction_accuracy.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "3. direction accuracy"},
        ),
        cross_gene_contrast=report(
            f"{RUN}/figures/cross_gene_contrast.png",
            caption="../report/cross_gene_contrast.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "4. cross-gene vs cross-individual r"},
        ),
        gene_examples=report(
            f"{RUN}/figures/gene_examples.png",
            caption="../report/gene_examples.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "5. best and worst genes"},
        ),
        window_coverage=report(
            f"{RUN}/figures/window_coverage.png",
            caption="../report/window_coverage.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "6. cannot see or did not learn: r by window coverage"},
        ),
        learning_curves=report(
            f"{RUN}/figures/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Figures",
            subcategory=REPORT_TISSUE,
            labels={"figure": "7. learning curves"},
        ),
        svg=multiext(
            f"{RUN}/figures/",
            "r_distributions.svg",
            "vs_elastic_net.svg",
            "direction_accuracy.svg",
            "cross_gene_contrast.svg",
            "gene_examples.svg",
            "window_coverage.svg",
            "learning_curves.svg",
        ),
    params:
        evaluate=config_subset(config["evaluate"], "alpha", "fdr", "set_r_threshold"),
        normalization=get_normalization,
        phenotype=config_subset(config["phenotype"], "modality"),
        trained_models=MODELS_S2F,
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


# Many tissues (config `tissues:`): each model's median per-gene r per tissue, one table and one
# figure over every tissue's summary.
if TISSUES:

    rule cross_tissue:
        input:
            summaries=expand(f"{RUN}/evaluation/summary.parquet", tissue=list(TISSUES)),
        output:
            table=report(
                f"{RUN_ROOT}/evaluation/cross_tissue.csv",
                caption="../report/cross_tissue.rst",
                category="Cross-tissue summary",
                labels={"table": "median r per model and tissue"},
            ),
            figure=report(
                f"{RUN_ROOT}/figures/cross_tissue.png",
                caption="../report/cross_tissue.rst",
                category="Cross-tissue summary",
                labels={"figure": "median r per model and tissue"},
            ),
            svg=f"{RUN_ROOT}/figures/cross_tissue.svg",
        params:
            tissues=list(TISSUES),
        log:
            f"{LOGS_ROOT}/cross_tissue.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        conda:
            "../../envs/ps2f.yaml"
        script:
            "../scripts/cross_tissue.py"
