"""Rules ``lead_eqtl`` and ``evaluate``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ps2f.pipeline.common import atomic_path, load_inputs, log, read_table, write_table

__all__ = [
    "run_lead_eqtl",
    "run_cis_heritability",
    "run_window_coverage",
    "run_nonlinear_genes",
    "run_top_elastic_net_genes",
    "run_evaluate",
    "run_gene_metrics",
    "gene_metrics",
    "gathered_gene_metrics",
]


def run_lead_eqtl(
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    store_paths: Sequence[str],
    cis_window_bp: int,
    evaluate: Mapping,
    out_lead: str,
    out_lead_csv: str | None,
    out_dosages: str,
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rule ``lead_eqtl``: each gene's lead cis-eQTL in training individuals, and its dosages.

    Stores are keyed by file stem (the contig as spelled in the annotation, as the
    ``genotypes`` rule names them); see :func:`ps2f.evaluation.lead_eqtls`.

    Parameters
    ----------
    genes_path, individuals_path, expression_path : str
        The phenotypes tables.
    store_paths : sequence of str
        Variant stores, one ``<contig>.npz`` per contig.
    cis_window_bp : int
        Config ``baselines.cis_window_bp``: variants within this many bp of the TSS are tested.
    evaluate : mapping
        Config ``evaluate`` keys ``eqtl_min_maf`` (the variants' MAF filter, in training
        individuals) and ``eqtl_alpha`` (the eGene threshold of the log line).
    out_lead, out_lead_csv : str
        The lead-eQTL table (parquet, and the same as CSV unless ``out_lead_csv`` is None: a
        chunk's table, whose CSV the gather step writes).
    out_dosages : str
        The lead variants' dosages in every individual (parquet).
    gene_ids : sequence of str, optional
        A gene chunk (:mod:`ps2f.pipeline.chunks`): these genes only.
    """
    from ps2f.evaluation.eqtl import lead_eqtls
    from ps2f.genome.store import load_stores

    genes, individuals, observed = load_inputs(
        genes_path, individuals_path, expression_path, gene_ids
    )
    stores = load_stores(store_paths)
    lead, dosages = lead_eqtls(
        genes,
        individuals,
        observed,
        stores,
        cis_window_bp=cis_window_bp,
        min_maf=evaluate["eqtl_min_maf"],
        log=log,
    )
    egenes = int((lead["p_bonferroni"] < evaluate["eqtl_alpha"]).sum())
    log.info(
        "lead eQTL: %d genes, %d with a testable variant, %d eGenes (p_bonferroni < %g)",
        len(lead),
        int(lead["variant_id"].notna().sum()),
        egenes,
        evaluate["eqtl_alpha"],
    )
    write_table(lead, out_lead)
    if out_lead_csv is not None:
        write_table(lead, out_lead_csv)
    write_table(dosages, out_dosages)



def run_cis_heritability(
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    store_paths: Sequence[str],
    cis_window_bp: int,
    evaluate: Mapping,
    out_table: str,
    out_csv: str | None,
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rule ``cis_heritability``: each gene's cis-h2 in training individuals (HE regression).

    See :func:`ps2f.evaluation.heritability.cis_heritability`; the variants are those of the
    lead-eQTL scan (rule ``lead_eqtl``).

    Parameters
    ----------
    genes_path, individuals_path, expression_path : str
        The phenotypes tables.
    store_paths : sequence of str
        Variant stores, one ``<contig>.npz`` per contig.
    cis_window_bp : int
        Config ``baselines.cis_window_bp``: variants within this many bp of the TSS.
    evaluate : mapping
        Config ``evaluate`` key ``eqtl_min_maf`` (the variants' MAF filter).
    out_table, out_csv : str
        The per-gene table (parquet, and the same as CSV unless ``out_csv`` is None).
    gene_ids : sequence of str, optional
        A gene chunk (:mod:`ps2f.pipeline.chunks`): these genes only.
    """
    import numpy as np

    from ps2f.evaluation.heritability import cis_heritability
    from ps2f.genome.store import load_stores

    genes, individuals, observed = load_inputs(
        genes_path, individuals_path, expression_path, gene_ids
    )
    table = cis_heritability(
        genes,
        individuals,
        observed,
        load_stores(store_paths),
        cis_window_bp=cis_window_bp,
        min_maf=evaluate["eqtl_min_maf"],
        log=log,
    )
    h2 = table["cis_h2"].to_numpy(np.float64)
    se = table["cis_h2_se"].to_numpy(np.float64)
    log.info(
        "cis-heritability (HE regression): %d genes, %d with an estimate, median cis_h2 %.3f; "
        "%d with cis_h2 > 2 jackknife SE",
        len(table),
        int(np.isfinite(h2).sum()),
        float(np.nanmedian(h2)) if np.isfinite(h2).any() else float("nan"),
        int((h2 > 2 * se).sum()),
    )
    write_table(table, out_table)
    if out_csv is not None:
        write_table(table, out_csv)


def run_window_coverage(
    genes_path: str,
    lead_path: str,
    elastic_net_db: str | None,
    elastic_net_covariances: str | None,
    windows: Mapping[str, int],
    evaluate: Mapping,
    out_coverage: str,
    out_coverage_csv: str,
) -> None:
    """Rule ``window_coverage``: each gene's cis signal inside each sequence model's window.

    Needs no model: the lead eQTLs and the ElasticNet's PredictDB files only (see
    :mod:`ps2f.evaluation.coverage`), so a window length can be chosen before training.

    Parameters
    ----------
    genes_path : str
        The phenotypes gene table.
    lead_path : str
        The lead-eQTL table of rule ``lead_eqtl``.
    elastic_net_db, elastic_net_covariances : str or None
        The ElasticNet's PredictDB ``.db`` and covariance file; None leaves the ElasticNet
        columns NA.
    windows : mapping of str to int
        Window length in bp of each sequence model (``s2f.window_bp`` for the p- and r-model,
        each sequence scorer's ``window_bp``).
    evaluate : mapping
        Config ``evaluate`` key ``eqtl_alpha`` (the eGene threshold).
    out_coverage, out_coverage_csv : str
        The window-coverage table (parquet, and the same as CSV).
    """
    from ps2f.evaluation.coverage import window_coverage
    from ps2f.io.predictdb import read_covariances, read_predictdb

    genes = read_table(genes_path)
    lead = pd.read_parquet(lead_path)
    weights = covariances = None
    if elastic_net_db and elastic_net_covariances:
        weights, _ = read_predictdb(elastic_net_db)
        covariances = read_covariances(elastic_net_covariances)
    coverage = window_coverage(
        genes,
        lead,
        dict(windows),
        eqtl_alpha=evaluate["eqtl_alpha"],
        elastic_net_weights=weights,
        elastic_net_covariances=covariances,
        source=str(elastic_net_db),
        log=log,
    )
    for model, sub in coverage.loc[coverage["s2f"]].groupby("model", sort=False):
        inside = sub["lead_eqtl_in_window"]
        egene = sub["egene"].to_numpy(bool)
        log.info(
            "%s (%d-bp window), %d sequence-model genes: lead eQTL inside for %d of %d genes "
            "with one and %d of %d eGenes; median ElasticNet share in the window %.3f (%d genes "
            "with a model)",
            model,
            int(sub["window_bp"].iloc[0]),
            len(sub),
            int(inside.sum()),
            int(inside.notna().sum()),
            int(inside[egene].sum()),
            int(egene.sum()),
            float(sub["elastic_net_share_in_window"].median()),
            int(sub["elastic_net_share_in_window"].notna().sum()),
        )
    write_table(coverage, out_coverage)
    write_table(coverage, out_coverage_csv)


def run_nonlinear_genes(
    elastic_net_summary: str,
    random_forest_summary: str,
    evaluate: Mapping,
    out_genes: str,
) -> None:
    """Rule ``nonlinear_genes``: the genes where RandomForest beats ElasticNet most.

    Chosen from the baselines' out-of-sample estimates on training individuals only
    (RandomForest's out-of-bag r, ElasticNet's nested-CV ``rho_avg``), never from held-out
    individuals; see :mod:`ps2f.evaluation.gene_sets`.

    Parameters
    ----------
    elastic_net_summary, random_forest_summary : str
        The baselines' per-gene summaries (``models/<method>.summary.tsv``).
    evaluate : mapping
        Config ``evaluate`` key ``nonlinear_top_n`` (Shen et al. 2026: 300; 0 = no set).
    out_genes : str
        The set (CSV, :data:`ps2f.evaluation.gene_sets.NONLINEAR_COLUMNS`), written
        atomically.
    """
    from ps2f.evaluation.gene_sets import nonlinear_genes

    genes = nonlinear_genes(
        read_table(elastic_net_summary),
        read_table(random_forest_summary),
        top_n=evaluate["nonlinear_top_n"],
        log=log,
    )
    write_table(genes, out_genes)


def run_top_elastic_net_genes(elastic_net_summary: str, evaluate: Mapping, out_genes: str) -> None:
    """Rule ``top_elastic_net_genes``: the genes ElasticNet predicts best (SAGE-net's selection).

    Chosen from ElasticNet's nested-CV ``rho_avg`` on training individuals only; see
    :func:`ps2f.evaluation.gene_sets.top_elastic_net_genes`.

    Parameters
    ----------
    elastic_net_summary : str
        The ElasticNet's per-gene summary (``models/elastic_net.summary.tsv``).
    evaluate : mapping
        Config ``evaluate`` key ``top_elastic_net_n`` (0 = no set).
    out_genes : str
        The set (CSV, :data:`ps2f.evaluation.gene_sets.TOP_ELASTIC_NET_COLUMNS`).
    """
    from ps2f.evaluation.gene_sets import top_elastic_net_genes

    genes = top_elastic_net_genes(
        read_table(elastic_net_summary), top_n=evaluate["top_elastic_net_n"], log=log
    )
    write_table(genes, out_genes)


def gene_metrics(
    preds: pd.DataFrame,
    evaluate: Mapping,
    lead: pd.DataFrame | None = None,
    dosages: pd.DataFrame | None = None,
    fdr: bool = True,
) -> list[pd.DataFrame]:
    """The per-gene metrics of every (model, cell, gene): r, permutation p, lead-eQTL direction.

    Parameters
    ----------
    preds : pandas.DataFrame
        Predictions of every model (:func:`ps2f.evaluation.read_predictions`).
    evaluate : mapping
        Config ``evaluate`` keys ``min_individuals``, ``n_permutations``, ``seed`` and
        ``eqtl_alpha``.
    lead, dosages : pandas.DataFrame, optional
        Rule ``lead_eqtl``'s tables; without them the variant-level metrics are left out.
    fdr : bool, default True
        False leaves the permutation FDR out (a gene chunk's table: the FDR needs every gene).

    Returns
    -------
    list of pandas.DataFrame
        Long metrics tables, each sorted by model, cell and gene: per-gene r and direction
        accuracy (:func:`ps2f.evaluation.per_gene_metrics`), permutation p-values (and FDR),
        and the lead-eQTL direction metrics when ``lead`` is given.
    """
    from ps2f.evaluation import per_gene_metrics, permutation_metrics, variant_direction_metrics

    parts = [
        per_gene_metrics(preds, min_individuals=evaluate["min_individuals"], log=log),
        permutation_metrics(
            preds,
            n_permutations=evaluate["n_permutations"],
            seed=evaluate["seed"],
            min_individuals=evaluate["min_individuals"],
            log=log,
            fdr=fdr,
        ),
    ]
    if lead is not None and dosages is not None:
        parts.append(
            variant_direction_metrics(
                preds,
                lead,
                dosages,
                eqtl_alpha=evaluate["eqtl_alpha"],
                min_individuals=evaluate["min_individuals"],
                log=log,
            )
        )
    return parts


def run_gene_metrics(
    prediction_paths: Sequence[str],
    evaluate: Mapping,
    out_metrics: str,
    lead_path: str | None = None,
    dosages_path: str | None = None,
) -> None:
    """Rule ``gene_metrics``: the per-gene metrics of one gene chunk, for every model.

    The permutation p-values and every other per-gene metric depend only on the gene's own
    rows (the permutations of a (model, cell, number of individuals) come from one seeded
    generator), so a chunk's rows equal an all-gene run's; the permutation FDR, which needs
    every gene, is left to rule ``evaluate``.

    Parameters
    ----------
    prediction_paths : sequence of str
        The chunk's predictions of every model.
    evaluate : mapping
        As :func:`gene_metrics`.
    out_metrics : str
        Long metrics table (parquet): the parts of :func:`gene_metrics` with ``fdr=False``.
    lead_path, dosages_path : str, optional
        The chunk's lead-eQTL tables.
    """
    from ps2f.evaluation import read_predictions
    from ps2f.evaluation.tables import empty_metrics

    preds = read_predictions(list(prediction_paths))
    lead = pd.read_parquet(lead_path) if lead_path is not None else None
    dosages = pd.read_parquet(dosages_path) if dosages_path is not None else None
    parts = [p for p in gene_metrics(preds, evaluate, lead, dosages, fdr=False) if len(p)]
    table = pd.concat(parts, ignore_index=True) if parts else empty_metrics()
    log.info(
        "gene metrics: %d rows, %d genes, %d models",
        len(table),
        table["gene"].nunique(),
        table["model"].nunique(),
    )
    write_table(table, out_metrics)


def gathered_gene_metrics(paths: Sequence[str]) -> list[pd.DataFrame]:
    """The parts of :func:`gene_metrics` from the gene chunks' tables of rule ``gene_metrics``.

    Each part is put back in its all-gene order (model, cell, gene; a stable sort keeps each
    gene's metric rows in order) and the permutation FDR is computed over every gene of each
    (model, cell) (:func:`ps2f.evaluation.metrics.permutation_fdr`).

    Parameters
    ----------
    paths : sequence of str
        The chunks' metrics tables (parquet).

    Returns
    -------
    list of pandas.DataFrame
        As :func:`gene_metrics` returns (the lead-eQTL part only when a chunk has its rows).
    """
    from ps2f.evaluation.eqtl import VARIANT_METRICS
    from ps2f.evaluation.metrics import permutation_fdr
    from ps2f.evaluation.tables import sort_keys

    frames = [pd.read_parquet(p) for p in paths]
    table = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    metric = table["metric"]
    by = ["model", "cell", "gene"]
    perm = table.loc[metric == "perm_p"]
    variant = table.loc[metric.isin(VARIANT_METRICS)]
    per_gene = table.loc[~metric.isin(("perm_p", *VARIANT_METRICS))]
    parts = [
        sort_keys(per_gene, by).reset_index(drop=True),
        permutation_fdr(perm),
    ]
    if len(variant):
        parts.append(sort_keys(variant, by).reset_index(drop=True))
    return parts


def run_evaluate(
    prediction_paths: Sequence[str],
    evaluate: Mapping,
    out_predictions: str,
    out_metrics: str,
    out_metrics_csv: str,
    out_summary: str,
    out_summary_csv: str,
    lead_path: str | None = None,
    dosages_path: str | None = None,
    out_comparisons: str | None = None,
    out_comparisons_csv: str | None = None,
    coverage_path: str | None = None,
    out_training: str | None = None,
    out_landing: str | None = None,
    heritability_path: str | None = None,
    nonlinear_path: str | None = None,
    top_elastic_net_path: str | None = None,
    gene_metrics_paths: Sequence[str] | None = None,
    modality: str = "expression",
) -> None:
    """Rule ``evaluate``: metrics per cell, summaries with bootstrap CIs, model comparisons.

    The per-gene metrics (:func:`gene_metrics`) are computed here, or, with
    ``gene_metrics_paths``, read from the gene chunks' tables of rule ``gene_metrics`` (then
    ``lead_path`` and ``dosages_path`` are not read): their permutation FDR over all genes is
    computed here, and the table equals the one computed here (:func:`gathered_gene_metrics`).

    ``evaluate`` holds the config ``evaluate`` keys ``alpha``, ``fdr``, ``set_r_threshold``,
    ``n_permutations``, ``n_boot``, ``min_individuals``, ``eqtl_alpha`` and ``seed``. Without a
    lead-eQTL table the variant-level metrics are left out. With a window-coverage table
    (rule ``window_coverage``), each sequence model's per-gene coverage joins the metrics
    (:func:`ps2f.evaluation.coverage.coverage_metrics`) and its summary rows the summary
    (:func:`ps2f.evaluation.coverage.summarize_coverage`). With a nonlinear-genes table (rule
    ``nonlinear_genes``), the summary and the comparisons also cover each cell restricted to
    those genes (cells ``<cell>|nonlinear_genes``,
    :func:`ps2f.evaluation.gene_sets.gene_set_metrics`); the metrics table itself keeps one
    row per (model, cell, gene, metric).

    Every model's training status is read from its predictions file's metadata
    (:func:`ps2f.convergence.training_table`) and shown beside its numbers: column
    ``training`` of the summary table (after ``model``) and the comparisons table (after
    ``model``; ``comparator_training`` after ``comparator``). ``out_training`` (CSV) gets the
    training table, ``out_landing`` the report's landing-page section
    (:func:`ps2f.evaluation.landing.landing_rst`). With a cis-heritability table (rule
    ``cis_heritability``), every per-gene r gets its gene's ``cis_h2`` and
    ``fraction_of_ceiling`` (:func:`ps2f.evaluation.heritability.ceiling_metrics`) and every
    (model, cell) their medians (:func:`ps2f.evaluation.heritability.summarize_ceiling`).
    """
    from ps2f.convergence import add_training_column, training_table
    from ps2f.evaluation import compare_models, cross_gene_metrics, read_predictions, summarize
    from ps2f.evaluation.gene_sets import NONLINEAR, TOP_ELASTIC_NET, gene_set_metrics
    from ps2f.evaluation.tables import sort_keys

    preds = read_predictions(list(prediction_paths))
    training = training_table(list(prediction_paths))
    if gene_metrics_paths is not None:
        parts = gathered_gene_metrics(gene_metrics_paths)
    else:
        lead = pd.read_parquet(lead_path) if lead_path is not None else None
        dosages = pd.read_parquet(dosages_path) if dosages_path is not None else None
        parts = gene_metrics(preds, evaluate, lead, dosages)
    parts.append(cross_gene_metrics(preds, log=log))
    coverage = pd.read_parquet(coverage_path) if coverage_path is not None else None
    if coverage is not None:
        from ps2f.evaluation.coverage import coverage_metrics

        parts.append(coverage_metrics(pd.concat(parts, ignore_index=True), coverage))
    if heritability_path is not None:
        from ps2f.evaluation.heritability import ceiling_metrics

        parts.append(
            ceiling_metrics(pd.concat(parts, ignore_index=True), pd.read_parquet(heritability_path))
        )
    metrics = pd.concat([p for p in parts if len(p)], ignore_index=True)
    with_sets = metrics
    for name, path in ((NONLINEAR, nonlinear_path), (TOP_ELASTIC_NET, top_elastic_net_path)):
        if path is None:
            continue
        chosen = read_table(path)["gene"].astype(str)
        subset = gene_set_metrics(metrics, chosen, name)
        log.info(
            "%s: %d chosen, %d of them evaluated", name, len(chosen), subset["gene"].nunique()
        )
        if len(subset):
            with_sets = pd.concat([with_sets, subset], ignore_index=True)
    summary = summarize(
        with_sets,
        alpha=evaluate["alpha"],
        fdr=evaluate["fdr"],
        set_r_threshold=evaluate["set_r_threshold"],
        n_boot=evaluate["n_boot"],
        seed=evaluate["seed"],
    )
    if coverage is not None:
        from ps2f.evaluation.coverage import summarize_coverage

        extra = summarize_coverage(
            metrics, coverage, n_boot=evaluate["n_boot"], seed=evaluate["seed"]
        )
        if len(extra):
            summary = pd.concat([summary, extra], ignore_index=True)
            summary = sort_keys(summary, ["model", "cell"]).reset_index(drop=True)
    if heritability_path is not None:
        from ps2f.evaluation.heritability import summarize_ceiling

        extra = summarize_ceiling(metrics, n_boot=evaluate["n_boot"], seed=evaluate["seed"])
        if len(extra):
            summary = pd.concat([summary, extra], ignore_index=True)
            summary = sort_keys(summary, ["model", "cell"]).reset_index(drop=True)
    summary = add_training_column(summary, training)
    write_table(preds, out_predictions)
    write_table(metrics, out_metrics)
    write_table(metrics, out_metrics_csv)
    write_table(summary, out_summary)
    write_table(summary, out_summary_csv)
    if out_comparisons is not None:
        comparisons = compare_models(
            with_sets, n_boot=evaluate["n_boot"], seed=evaluate["seed"], alpha=evaluate["alpha"]
        )
        comparisons = add_training_column(comparisons, training)
        comparisons = add_training_column(
            comparisons, training, model_column="comparator", name="comparator_training"
        )
        write_table(comparisons, out_comparisons)
        if out_comparisons_csv is not None:
            write_table(comparisons, out_comparisons_csv)
    if out_training is not None:
        write_table(training, out_training)
    if out_landing is not None:
        from ps2f.evaluation.landing import landing_rst

        with atomic_path(out_landing) as tmp:
            tmp.write_text(landing_rst(summary, training, modality), encoding="utf-8")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        log.info("training:\n%s", training.to_string(index=False))
        log.info("summary:\n%s", summary.to_string(index=False))
