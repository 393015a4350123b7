"""End-to-end: the whole Snakemake DAG on a tiny simulated cohort and on a slice of real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import GEUVADIS, REPO

from ps2f.schema import CELLS, PREDICTION_COLUMNS, cell_label

pytestmark = pytest.mark.workflow

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
FAST_S2F = {
    "window_bp": 512,
    "model": {"first_filters": 16, "n_blocks": 2, "block_filters": 16, "pool": 4, "dense": 16},
    "train": {"epochs": 2, "batch_size": 32, "max_items_per_epoch": 400},
}


def run_workflow(workdir: Path, config: dict) -> str:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    base = [
        *SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(cfg),
        "--cores",
        "2",
    ]
    proc = subprocess.run(base, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = workdir / "results" / config["name"] / "report.html"
    proc = subprocess.run([*base, "--report", str(report)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr


def check_outputs(run: Path, models: set[str]) -> pd.DataFrame:
    preds = pd.read_parquet(run / "evaluation" / "predictions.parquet")
    assert list(preds.columns) == list(PREDICTION_COLUMNS)
    assert set(preds["model"]) == models
    metrics = pd.read_parquet(run / "evaluation" / "metrics.parquet")
    summary = pd.read_parquet(run / "evaluation" / "summary.parquet")
    assert set(metrics["cell"]) <= set(CELLS)
    # every model has defined per-gene r on held-out individuals of training genes
    r = metrics.query("metric == 'pearson_r' and cell == 'train_genes|heldout_individuals'")
    assert set(r.dropna(subset=["value"])["model"]) == models
    assert {"median_r", "frac_positive", "direction_accuracy_nominal"} <= set(summary["statistic"])
    for fig in ("r_distributions", "vs_elastic_net", "direction_accuracy", "window_coverage"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 5000
    # window coverage: per (sequence model, gene), beside each sequence model's r
    coverage = pd.read_parquet(run / "evaluation" / "window_coverage.parquet")
    assert set(coverage["model"]) == {"p_model", "r_model"} & models
    cov_rows = metrics.query("metric == 'lead_eqtl_in_window'")
    assert set(cov_rows["model"]) == {"p_model", "r_model"} & models
    assert cov_rows["value"].dropna().isin([0.0, 1.0]).all()
    assert {"frac_egenes_lead_eqtl_in_window", "median_elastic_net_share_in_window"} <= set(
        summary["statistic"]
    )
    # the cis-heritability ceiling: a table per gene, each model's fraction of it beside its r
    h2 = pd.read_parquet(run / "evaluation" / "cis_heritability.parquet")
    assert len(h2) == h2["gene"].nunique() and h2["cis_h2"].notna().any()
    frac = metrics.query("metric == 'fraction_of_ceiling'")
    assert set(frac.dropna(subset=["value"])["model"]) == models
    assert "median_fraction_of_ceiling" in set(summary["statistic"])
    html = (run / "report.html").read_text(errors="replace")
    assert "r_distributions.png" in html and "direction_accuracy.png" in html
    # sequence models predict the sequence-model genes only; baselines every gene
    # (baselines.genes: all), so ElasticNet is the bar on held-out genes too
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t")
    s2f = set(genes.loc[genes["s2f"], "gene"])
    assert set(preds.query("model == 'p_model'")["gene"]) == s2f
    assert set(preds.query("model == 'elastic_net'")["gene"]) == set(genes["gene"])
    en = metrics[(metrics["metric"] == "pearson_r") & (metrics["model"] == "elastic_net")]
    assert en.loc[en["cell"] == cell_label("heldout", "heldout"), "value"].notna().any()
    return summary


def test_workflow_on_simulated_cohort(tmp_path):
    config = {
        "name": "tiny",
        # and an external test cohort of 30 (another population, its VCF perturbed)
        "simulate": {"enabled": True, "n_individuals": 60, "n_genes": 10, "seed": 3,
                     "external_individuals": 30},
        "contigs": ["sim1"],
        "s2f": FAST_S2F,
        "baselines": {"cis_window_bp": 1000, "random_forest": {"n_estimators": 20}},
        "evaluate": {"n_boot": 50},
    }  # fmt: skip
    run_workflow(tmp_path, config)
    models = {"p_model", "r_model", "elastic_net", "random_forest"}
    summary = check_outputs(tmp_path / "results" / "tiny", models)
    # the external cohort: every model predicts its individuals, in cells and report columns of
    # their own; its harmonization is counted in the variant store's stats
    ext = summary.query("statistic == 'median_r' and cell.str.contains('external_individuals')")
    assert set(ext["model"]) == models
    stats = json.loads((tmp_path / "results/tiny/variants/sim1.stats.json").read_text())
    assert stats["external_sites_shared"] > 0 and stats["n_samples"] == 90
    landing = (tmp_path / "results/tiny/report/landing.rst").read_text()
    assert "median r, training genes, external cohort" in landing
    # the planted eQTL-like variants are in the cis window: ElasticNet must find them
    en = summary.query(
        "model == 'elastic_net' and cell == 'train_genes|heldout_individuals' "
        "and statistic == 'median_r'"
    )["estimate"].item()
    assert en > 0.4
    # the cis-h2 estimate (training individuals) against the planted truth: within 2 jackknife
    # SE on most genes
    h2 = pd.read_parquet(tmp_path / "results" / "tiny" / "evaluation" / "cis_heritability.parquet")
    truth = pd.read_parquet(tmp_path / "results" / "tiny" / "simulated" / "truth_genes.parquet")
    both = h2.merge(truth, on="gene").dropna(subset=["cis_h2"])
    assert len(both) >= 8
    assert ((both["cis_h2"] - both["h2_adjusted"]).abs() < 2 * both["cis_h2_se"]).mean() >= 0.7


@pytest.mark.shared
def test_workflow_on_real_geuvadis_slice(tmp_path):
    d = GEUVADIS
    config = {
        "name": "slice",
        "simulate": {"enabled": False},
        "inputs": {
            "genotypes": str(
                d / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
            ),
            "reference": str(
                d / "reference/GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz"
            ),
            "annotation": str(d / "annotation/gencode.v19.chr22.gene_tss.tsv"),
            "expression": str(
                d / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"
            ),
        },
        "annotation": {"usable_column": "tss_pm50kb_inside_contiguous_sequence"},
        "contigs": ["chr22"],
        "genes": {"max_s2f_genes": 8, "max_baseline_genes": 12},
        "s2f": FAST_S2F,
        "baselines": {"cis_window_bp": 50000, "random_forest": {"n_estimators": 20}},
        "evaluate": {"n_boot": 50},
    }
    run_workflow(tmp_path, config)
    run = tmp_path / "results" / "slice"
    check_outputs(run, {"p_model", "r_model", "elastic_net", "random_forest"})
    stats = yaml.safe_load((run / "variants" / "chr22.stats.json").read_text())
    assert stats["n_samples"] == 358 and stats["variants_stored"] > 1000
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t")
    assert genes["s2f"].sum() == 8 and len(genes) == 20


def test_workflow_on_simulated_methylation(tmp_path):
    """Issue 19: a short-range, unstranded methylation-like phenotype end to end.

    The simulated BED holds beta values of CpG-like rows with strand '.', and no TSS table
    reaches the phenotypes rule: each site is anchored on its BED row, read on the forward
    strand, and its beta values become M-values; baselines, evaluation and report run as for
    expression, labelled methylation.
    """
    config = {
        "name": "meth",
        "simulate": {
            "enabled": True, "modality": "methylation", "n_individuals": 60, "n_genes": 10,
            "causal_radius_bp": 100, "grammar_weight": 1.0, "seed": 3,
        },
        "phenotype": {"modality": "methylation"},
        "expression": {"normalization": "m_value"},
        "contigs": ["sim1"],
        "s2f": FAST_S2F,
        "baselines": {"cis_window_bp": 1000, "random_forest": {"n_estimators": 20}},
        "evaluate": {"n_boot": 50},
    }  # fmt: skip
    run_workflow(tmp_path, config)
    run = tmp_path / "results" / "meth"
    check_outputs(run, {"p_model", "r_model", "elastic_net", "random_forest"})
    # anchors: the simulated sites (the locus table's tss, 1-based), forward strand
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t").set_index("gene")
    loci = pd.read_csv(run / "simulated" / "genes.tsv", sep="\t").set_index("gene_id")
    assert (genes["tss0"] == loci.loc[genes.index, "tss"] - 1).all()
    assert (genes["strand"] == "+").all() and (genes["gene_type"] == "methylation").all()
    assert (genes["gene_end"] - genes["gene_start"] == 2).all()
    # observed = M-values of the written betas = the simulated value - 3 (no covariates here)
    obs = pd.read_parquet(run / "phenotypes" / "expression.parquet")
    truth = pd.read_parquet(run / "simulated" / "truth.parquet")
    both = obs.merge(truth, left_on=["gene", "individual"], right_on=["gene", "individual"])
    assert len(both) == len(obs)
    assert (both["observed"] - (both["y_obs"] - 3.0)).abs().max() < 1e-3
    landing = (run / "report" / "landing.rst").read_text()
    assert landing.startswith("The answer (methylation)") and "modality **methylation**" in landing
    html = (run / "report.html").read_text(errors="replace")
    assert "methylation" in html
