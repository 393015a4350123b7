"""One function per workflow rule: what each rule does, reachable by tests without Snakemake.

The scripts in ``workflow/scripts/`` only unpack ``snakemake.input/output/params`` and call
these. Each function takes explicit paths and plain config dictionaries (the validated
Snakemake config), reads its inputs, and writes its outputs atomically.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError
from ps2f.schema import PREDICTION_COLUMNS, validate_predictions

__all__ = [
    "setup_logging",
    "atomic_path",
    "write_table",
    "run_phenotypes",
    "gene_windows",
    "run_genotypes",
    "load_inputs",
    "predictions_frame",
    "run_baseline",
]

log = logging.getLogger("ps2f")


def setup_logging(path: str | None, level: int = logging.INFO) -> None:
    """Send ps2f's log records to ``path`` (the rule's ``log:`` file) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary sibling of ``path``; rename it to ``path`` only if the block succeeds.

    A rule killed mid-write therefore never leaves a file that Snakemake would take as complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{''.join(path.suffixes)}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as parquet, TSV or CSV by the file extension, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False)


def _read_table(path: str | Path) -> pd.DataFrame:
    path = str(path)
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, sep="\t")


# --------------------------------------------------------------------------------------------
# phenotypes
# --------------------------------------------------------------------------------------------
def run_phenotypes(
    expression: str,
    annotation: str,
    genotypes: str,
    config: Mapping,
    out_genes: str,
    out_individuals: str,
    out_expression: str,
) -> None:
    """Rule ``phenotypes``: match samples and genes, normalize expression, assign the splits.

    Parameters
    ----------
    expression, annotation, genotypes : str
        Phenotype BED, TSS table and VCF paths.
    config : mapping
        The validated workflow config (sections ``expression``, ``genes``, ``split``,
        ``annotation``, ``contigs``).
    out_genes, out_individuals, out_expression : str
        Output paths (TSV, TSV, parquet).
    """
    from ps2f.io.vcf import read_vcf_samples
    from ps2f.phenotypes import PhenotypeConfig, build_phenotypes

    pcfg = PhenotypeConfig(
        normalization=config["expression"]["normalization"],
        heldout_gene_fraction=config["split"]["heldout_gene_fraction"],
        heldout_individual_fraction=config["split"]["heldout_individual_fraction"],
        seed=config["split"]["seed"],
        min_individuals=config["split"]["min_individuals"],
        gene_ids=tuple(config["genes"]["ids"]),
        max_s2f_genes=config["genes"]["max_s2f_genes"],
        max_baseline_genes=config["genes"]["max_baseline_genes"],
    )
    ph = build_phenotypes(
        expression,
        annotation,
        read_vcf_samples(genotypes),
        pcfg,
        usable_column=config["annotation"]["usable_column"],
        contigs=config["contigs"],
    )
    write_table(ph.genes, out_genes)
    write_table(ph.individuals, out_individuals)
    write_table(ph.expression, out_expression)


# --------------------------------------------------------------------------------------------
# genotypes
# --------------------------------------------------------------------------------------------
def gene_windows(genes: pd.DataFrame, window_bp: int, cis_window_bp: int) -> list[tuple[int, int]]:
    """Windows whose variants the store must hold: sequence-model windows and baseline cis-windows.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table (``tss0``, ``strand``, ``s2f``).
    window_bp : int
        Sequence-model input length L in bp.
    cis_window_bp : int
        Baseline cis-window half-width in bp (TSS +- this).

    Returns
    -------
    list of (int, int)
        0-based half-open windows (unmerged).
    """
    from ps2f.genome.haplotypes import window_start

    s2f = genes.loc[genes["s2f"]]
    starts = window_start(s2f["tss0"].to_numpy(), s2f["strand"].to_numpy(), window_bp)
    wins = [(int(a), int(a) + window_bp) for a in starts]
    wins += [(max(0, int(t) - cis_window_bp), int(t) + cis_window_bp + 1) for t in genes["tss0"]]
    return wins


def run_genotypes(
    vcf: str,
    reference: str,
    genes_path: str,
    individuals_path: str,
    contig: str,
    config: Mapping,
    out_store: str,
    out_stats: str,
) -> None:
    """Rule ``genotypes``: one contig's phased variants in the windows in use -> variant store."""
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    genes = _read_table(genes_path)
    genes = genes.loc[genes["chrom"] == contig]
    individuals = _read_table(individuals_path)["individual"].tolist()
    ref = Reference(reference, config["contig_aliases"])
    windows = gene_windows(genes, config["s2f"]["window_bp"], config["baselines"]["cis_window_bp"])
    store = ingest_vcf(
        vcf,
        ref,
        contig,
        windows,
        samples=individuals,
        snvs_only=True,
        missing_policy=config["genotypes"]["missing_policy"],
        contig_aliases=config["contig_aliases"],
    )
    Path(out_store).parent.mkdir(parents=True, exist_ok=True)
    store.save(out_store)
    stats = dict(store.stats, contig=contig, n_samples=store.n_samples, store_bytes=Path(out_store).stat().st_size)
    with atomic_path(out_stats) as tmp:
        tmp.write_text(json.dumps(stats, indent=2))


# --------------------------------------------------------------------------------------------
# shared loading for model rules
# --------------------------------------------------------------------------------------------
def load_inputs(genes_path: str, individuals_path: str, expression_path: str):
    """Read the three phenotypes tables and the genes x individuals observed matrix.

    Returns
    -------
    genes : pandas.DataFrame
    individuals : pandas.DataFrame
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
        Row order = ``genes``, column order = ``individuals``; NaN where absent.
    """
    genes = _read_table(genes_path)
    individuals = _read_table(individuals_path)
    expr = _read_table(expression_path)
    wide = expr.pivot(index="gene", columns="individual", values="observed")
    observed = wide.reindex(index=genes["gene"], columns=individuals["individual"]).to_numpy(np.float64)
    return genes, individuals, observed


def predictions_frame(
    model: str,
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    gene_index: np.ndarray,
    individual_index: np.ndarray,
    observed: np.ndarray,
    predicted: np.ndarray,
) -> pd.DataFrame:
    """Assemble a predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`) for one model.

    Parameters
    ----------
    model : str
    genes, individuals : pandas.DataFrame
        Phenotypes tables (``gene``, ``gene_set``; ``individual``, ``individual_set``).
    gene_index, individual_index : numpy.ndarray, shape (B,), int
        Row positions into ``genes`` and ``individuals``.
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
    predicted : numpy.ndarray, shape (B,), float64

    Returns
    -------
    pandas.DataFrame
    """
    df = pd.DataFrame(
        {
            "model": model,
            "gene": genes["gene"].to_numpy()[gene_index],
            "individual": individuals["individual"].to_numpy()[individual_index],
            "gene_set": genes["gene_set"].to_numpy()[gene_index],
            "individual_set": individuals["individual_set"].to_numpy()[individual_index],
            "observed": observed[gene_index, individual_index],
            "predicted": np.asarray(predicted, dtype=np.float64),
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return validate_predictions(df, f"{model} predictions")


# --------------------------------------------------------------------------------------------
# baselines
# --------------------------------------------------------------------------------------------
def run_baseline(
    method: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    store_paths: Sequence[str],
    config: Mapping,
    threads: int,
    out_predictions: str,
    out_weights: str,
) -> None:
    """Rule ``baselines``: per-gene ElasticNet or RandomForest on cis-window allele dosages.

    Only training genes are fitted (a genotype model cannot predict a gene whose expression it
    never saw), each on its training individuals, and it predicts every individual.
    """
    from ps2f.baselines.genotype import ElasticNetConfig, RandomForestConfig, fit_genes
    from ps2f.genome.store import VariantStore

    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    stores = {}
    for p in store_paths:
        s = VariantStore.load(p)
        stores[Path(p).stem] = s
    train_mask = (individuals["individual_set"] == "train").to_numpy()
    cis = config["baselines"]["cis_window_bp"]
    fit_idx = np.flatnonzero((genes["gene_set"] == "train").to_numpy())

    def _inputs():
        for g in fit_idx:
            store = stores[genes["chrom"].iloc[g]]
            col = pd.Index(store.samples).get_indexer(individuals["individual"])
            t = int(genes["tss0"].iloc[g])
            rows = store.region(t - cis, t + cis + 1)
            X = store.dosages(rows)[:, col].T.astype(np.float32)
            yield genes["gene"].iloc[g], X, observed[g], train_mask, store.ids[rows]

    section = config["baselines"][method]
    if method == "elastic_net":
        cfg = ElasticNetConfig(**section)
    elif method == "random_forest":
        cfg = RandomForestConfig(**section)
    else:
        raise ValueError(f"unknown baseline {method!r}")
    fits = fit_genes(_inputs(), method, cfg, n_jobs=threads)
    n_ind = len(individuals)
    gi = np.repeat(fit_idx, n_ind)
    ii = np.tile(np.arange(n_ind), len(fit_idx))
    pred = np.concatenate([f.predicted for f in fits]) if fits else np.zeros(0)
    write_table(predictions_frame(method, genes, individuals, gi, ii, observed, pred), out_predictions)
    rows = []
    for f in fits:
        if f.weights is not None:
            rows += [(f.gene, vid, float(w)) for vid, w in f.weights.items()]
    notes = pd.Series([f.note for f in fits if f.note]).value_counts()
    for note, count in notes.items():
        log.info("%s: %d genes: %s", method, count, note)
    write_table(pd.DataFrame(rows, columns=["gene", "variant_id", "weight"]), out_weights)


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------
def run_simulate(simulate: Mapping, contig: str, outdir: str | Path) -> None:
    """Rule ``simulate``: write the ground-truth cohort (the embedded default) into ``outdir``."""
    from ps2f.simulate import SimulationConfig, simulate_cohort

    fields = {k: v for k, v in simulate.items() if k != "enabled"}
    paths = simulate_cohort(SimulationConfig(contig=contig, **fields), outdir)
    log.info("simulated cohort written: %s", {k: str(v) for k, v in paths.items()})


# --------------------------------------------------------------------------------------------
# sequence models
# --------------------------------------------------------------------------------------------
def _s2f_builder(genes, individuals, reference, store_paths, window_bp, contig_aliases):
    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.genome.store import VariantStore
    from ps2f.io.fasta import Reference

    s2f_idx = np.flatnonzero(genes["s2f"].to_numpy())
    if len(s2f_idx) == 0:
        raise InputError("no gene is usable by sequence models (genes table column 's2f'); check "
                         "annotation.usable_column and genes.max_s2f_genes in the config")
    stores = {Path(p).stem: VariantStore.load(p) for p in store_paths}
    builder = HaplotypeBuilder(
        Reference(reference, contig_aliases),
        stores,
        genes.iloc[s2f_idx].reset_index(drop=True),
        individuals["individual"].tolist(),
        window_bp,
    )
    return builder, s2f_idx


def _configs(s2f: Mapping):
    from ps2f.models.cnn import CNNConfig
    from ps2f.training.loop import TrainConfig

    cnn = CNNConfig(window_bp=s2f["window_bp"], **s2f["model"]).validate()
    train = TrainConfig(**s2f["train"]).validate()
    return cnn, train


def run_train(
    kind: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    reference: str,
    store_paths: Sequence[str],
    s2f: Mapping,
    contig_aliases: Mapping,
    threads: int,
    out_model: str,
    out_history: str,
) -> None:
    """Rules ``train_p`` / ``train_r``: fit a sequence model on training genes x training individuals.

    Parameters
    ----------
    kind : {"p", "r"}
        ``p``: personal haplotypes -> gene mean + deviation (SAGE-net p-model); ``r``: reference
        sequence -> gene mean (SAGE-net r-model).
    """
    import torch

    from ps2f.training.loop import save_model, train_p_model, train_r_model

    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    builder, s2f_idx = _s2f_builder(genes, individuals, reference, store_paths, s2f["window_bp"],
                                    contig_aliases)
    cnn, train = _configs(s2f)
    train_genes = np.flatnonzero((genes["gene_set"].to_numpy()[s2f_idx] == "train"))
    train_inds = np.flatnonzero((individuals["individual_set"] == "train").to_numpy())
    if len(train_genes) == 0:
        raise InputError("no training gene among the sequence-model genes; lower split.heldout_gene_fraction")
    obs = observed[s2f_idx]
    if kind == "p":
        gi = np.repeat(train_genes, len(train_inds))
        ii = np.tile(train_inds, len(train_genes))
        items = pd.DataFrame({"gene_index": gi, "individual_index": ii, "observed": obs[gi, ii]})
        items = items.loc[np.isfinite(items["observed"])].reset_index(drop=True)
        log.info("p-model: %d genes x %d individuals = %d items", len(train_genes), len(train_inds), len(items))
        model = train_p_model(builder, items, cnn, train, log=log)
    elif kind == "r":
        means = np.nanmean(obs[np.ix_(train_genes, train_inds)], axis=1)
        table = pd.DataFrame({"gene_index": train_genes, "mean_observed": means})
        log.info("r-model: %d training genes", len(table))
        model = train_r_model(builder, table, cnn, train, log=log)
    else:
        raise ValueError(f"kind must be 'p' or 'r', got {kind!r}")
    with atomic_path(out_model) as tmp:
        save_model(model, tmp)
    write_table(pd.DataFrame(model.history), out_history)


def run_predict(
    mode: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    reference: str,
    store_paths: Sequence[str],
    model_path: str,
    s2f: Mapping,
    contig_aliases: Mapping,
    threads: int,
    out_predictions: str,
) -> None:
    """Rules ``predict_p`` / ``score_reference``: predict every sequence-model gene x individual.

    Parameters
    ----------
    mode : {"p", "reference_scoring"}
        ``p``: the p-model's mean + deviation from both haplotypes; ``reference_scoring``: the
        r-model scores each haplotype and the two scores are averaged.
    """
    import torch

    from ps2f.training.loop import load_model, predict_individuals, resolve_device

    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    builder, s2f_idx = _s2f_builder(genes, individuals, reference, store_paths, s2f["window_bp"],
                                    contig_aliases)
    model = load_model(model_path, map_location=resolve_device(s2f["train"]["device"]))
    n_ind = len(individuals)
    gi = np.repeat(np.arange(len(s2f_idx)), n_ind)
    ii = np.tile(np.arange(n_ind), len(s2f_idx))
    pred = predict_individuals(model, builder, gi, ii, s2f["predict_batch_size"], mode)
    name = "p_model" if mode == "p" else "r_model"
    write_table(predictions_frame(name, genes, individuals, s2f_idx[gi], ii, observed, pred), out_predictions)


# --------------------------------------------------------------------------------------------
# evaluation and figures
# --------------------------------------------------------------------------------------------
def run_evaluate(
    prediction_paths: Sequence[str],
    config: Mapping,
    out_predictions: str,
    out_metrics: str,
    out_metrics_csv: str,
    out_summary: str,
    out_summary_csv: str,
) -> None:
    """Rule ``evaluate``: per-gene metrics per cell and their summaries with bootstrap CIs."""
    from ps2f.evaluation.metrics import cross_gene_metrics, per_gene_metrics, read_predictions, summarize

    preds = read_predictions(list(prediction_paths))
    metrics = pd.concat(
        [per_gene_metrics(preds, min_individuals=config["min_individuals"], log=log), cross_gene_metrics(preds)],
        ignore_index=True,
    )
    summary = summarize(metrics, alpha=config["alpha"], n_boot=config["n_boot"], seed=config["seed"])
    write_table(preds, out_predictions)
    write_table(metrics, out_metrics)
    write_table(metrics, out_metrics_csv)
    write_table(summary, out_summary)
    write_table(summary, out_summary_csv)
    view = summary.loc[summary["statistic"].isin(["median_r", "frac_positive", "direction_accuracy_nominal"])]
    log.info("summary:\n%s", view.to_string(index=False))


def run_figures(
    metrics_path: str,
    summary_path: str,
    out_r_distributions: str,
    out_vs_elastic_net: str,
    out_direction_accuracy: str,
) -> None:
    """Rule ``figures``: the report's figures, from the metrics and summary tables only."""
    from ps2f.plots import plot_direction_accuracy, plot_r_distributions, plot_vs_reference

    metrics = pd.read_parquet(metrics_path)
    summary = pd.read_parquet(summary_path)
    for fn, out, kwargs in (
        (plot_r_distributions, out_r_distributions, {}),
        (plot_vs_reference, out_vs_elastic_net, {"reference_model": "elastic_net"}),
        (plot_direction_accuracy, out_direction_accuracy, {}),
    ):
        data = summary if fn is plot_direction_accuracy else metrics
        with atomic_path(out) as tmp:
            fn(data, tmp, **kwargs)
