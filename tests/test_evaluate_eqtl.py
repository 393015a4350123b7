"""Lead cis-eQTLs and the variant-level direction, against scipy, hand-made stores and the
simulator's ground truth."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, genotypes_params, phenotypes_params
from scipy import stats

from ps2f.evaluation import (
    DOSAGE_COLUMNS,
    LEAD_EQTL_COLUMNS,
    lead_eqtls,
    marginal_ols,
    summarize,
    variant_direction_metrics,
)
from ps2f.genome.store import VariantStore
from ps2f.schema import METRIC_COLUMNS, cell_label

TH = cell_label("train", "heldout")
TT = cell_label("train", "train")


def test_marginal_ols_matches_linregress():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(5, 40)).astype(float)
    y = 0.7 * x[2] - 0.2 * x[4] + rng.normal(size=40)
    beta, se, t, p = marginal_ols(x, y)
    for v in range(5):
        lr = stats.linregress(x[v], y)
        assert beta[v] == pytest.approx(lr.slope, rel=1e-10)
        assert se[v] == pytest.approx(lr.stderr, rel=1e-10)
        assert p[v] == pytest.approx(lr.pvalue, rel=1e-8)
        assert t[v] == pytest.approx(lr.slope / lr.stderr, rel=1e-10)


def test_marginal_ols_degenerate():
    x = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 1.0]])
    beta, se, t, p = marginal_ols(x, np.array([0.1, 0.5, 0.2, 0.9]))
    assert np.isnan([beta[0], se[0], t[0], p[0]]).all()  # constant dosage
    assert np.isfinite(p[1])
    assert np.isnan(marginal_ols(x[:, :2], np.array([0.1, 0.2]))[3]).all()  # n < 3
    assert np.isnan(marginal_ols(x, np.full(4, 2.0))[0]).all()  # constant expression
    with pytest.raises(ValueError, match="shape|must be"):
        marginal_ols(x, np.zeros(3))


# --------------------------------------------------------------------------------------------
# a hand-made store: one contig, 40 samples (30 training, 10 held out), 5 variants
# --------------------------------------------------------------------------------------------
def _store(haps: np.ndarray, pos, alleles, samples, contig="c1") -> VariantStore:
    """Build a store from haplotypes (V, S, 2) uint8 and (ref, alt) allele pairs."""
    v, s, _ = haps.shape
    refs = [a for a, _ in alleles]
    alts = [b for _, b in alleles]
    return VariantStore(
        contig=contig,
        samples=np.asarray(samples),
        pos=np.asarray(pos, dtype=np.int64),
        ref_bytes=np.frombuffer("".join(refs).encode(), dtype=np.uint8),
        ref_offsets=np.concatenate([[0], np.cumsum([len(a) for a in refs])]).astype(np.int64),
        alt_bytes=np.frombuffer("".join(alts).encode(), dtype=np.uint8),
        alt_offsets=np.concatenate([[0], np.cumsum([len(a) for a in alts])]).astype(np.int64),
        ids=np.array([f"v{i}" for i in range(v)]),
        genotypes=np.packbits(haps.reshape(v, 2 * s), axis=1),
    )


@pytest.fixture
def cohort():
    rng = np.random.default_rng(1)
    n = 40
    samples = [f"s{i:02d}" for i in range(n)]
    haps = (rng.uniform(size=(5, n, 2)) < 0.4).astype(np.uint8)
    haps[3] = 0
    haps[3, 0, 0] = 1  # v3: MAF 1/80, below the filter
    dose = haps.sum(axis=2).astype(float)
    # v0 at 900 (window), v1 at 1000 (indel, window), v2 at 1100 (window, the eQTL),
    # v3 at 1050 (rare), v4 at 5000 (outside the +-500 bp window, an even stronger effect)
    pos = [900, 1000, 1100, 1050, 5000]
    order = np.argsort(pos)
    haps, dose = haps[order], dose[order]
    pos = np.sort(pos)
    alleles = [("A", "C"), ("G", "GT"), ("C", "T"), ("T", "G"), ("A", "G")]
    alleles = [alleles[i] for i in order]  # v0, v1, v3, v2, v4 by position
    store = _store(haps, pos, alleles, samples)
    store.ids = np.array([f"v{i}" for i in order])
    individuals = pd.DataFrame(
        {"individual": samples, "individual_set": ["train"] * 30 + ["heldout"] * 10}
    )
    y = -0.8 * dose[list(order).index(2)] + 2.0 * dose[4] + 0.3 * rng.normal(size=n)
    y = y + 1.2 * dose[list(order).index(1)]  # the indel has an effect too (not tested)
    y[30:] = rng.normal(size=10) * 50  # held-out individuals are never used
    genes = pd.DataFrame({"gene": ["gA", "gB"], "chrom": ["c1", "c1"], "tss0": [1000, 20000]})
    observed = np.vstack([y, rng.normal(size=n)])
    return genes, individuals, observed, {"c1": store}, dose, order


def test_lead_eqtl_on_hand_made_store(cohort, caplog):
    genes, individuals, observed, stores, dose, order = cohort
    with caplog.at_level(logging.WARNING, logger="ps2f.evaluation.eqtl"):
        lead, dosages = lead_eqtls(
            genes, individuals, observed, stores, cis_window_bp=500, min_maf=0.05
        )
    assert list(lead.columns) == list(LEAD_EQTL_COLUMNS)
    assert list(dosages.columns) == list(DOSAGE_COLUMNS)
    a = lead.set_index("gene").loc["gA"]
    # v4 is outside the window, v1 is an indel, v3 is rare: the lead is v2 (v0 is noise)
    assert a["variant_id"] == "v2" and a["pos"] == 1100 and (a["ref"], a["alt"]) == ("C", "T")
    assert a["n_tested"] == 2 and a["n"] == 30
    d2 = dose[list(order).index(2)]
    lr = stats.linregress(d2[:30], observed[0, :30])
    assert a["beta"] == pytest.approx(lr.slope) and a["beta"] < 0
    assert a["p"] == pytest.approx(lr.pvalue)
    assert a["p_bonferroni"] == pytest.approx(min(1.0, 2 * lr.pvalue))
    # gB has no variant within its window
    b = lead.set_index("gene").loc["gB"]
    assert pd.isna(b["variant_id"]) and b["n_tested"] == 0 and np.isnan(b["beta"])
    assert any("1 of 2 gene(s) have no testable variant" in r.getMessage() for r in caplog.records)
    # dosages of the lead in every individual, held-out ones included
    da = dosages.loc[dosages["gene"] == "gA"]
    assert len(da) == 40 and set(da["variant_id"]) == {"v2"}
    np.testing.assert_array_equal(da["dosage"].to_numpy(), d2.astype(np.int8))
    # with indels allowed, the indel v1 (a real effect) is tested too
    lead2, _ = lead_eqtls(genes, individuals, observed, stores, 500, 0.05, snv_only=False)
    assert lead2.set_index("gene").loc["gA", "n_tested"] == 3


def test_lead_eqtl_errors(cohort):
    genes, individuals, observed, stores, _, _ = cohort
    with pytest.raises(ValueError, match="no variant store"):
        lead_eqtls(genes.assign(chrom="c2"), individuals, observed, stores, 500)
    extra = pd.concat(
        [individuals, pd.DataFrame({"individual": ["zz"], "individual_set": ["train"]})]
    )
    with pytest.raises(ValueError, match="absent"):
        lead_eqtls(genes, extra, np.zeros((2, 41)), stores, 500)
    with pytest.raises(ValueError, match="shape"):
        lead_eqtls(genes, individuals, observed[:, :5], stores, 500)


# --------------------------------------------------------------------------------------------
# the model's direction by haplotype contrast
# --------------------------------------------------------------------------------------------
def _direction_inputs():
    rng = np.random.default_rng(2)
    n = 30
    inds = [f"i{k}" for k in range(n)]
    d = {g: rng.integers(0, 3, size=n) for g in ("g1", "g2", "g3")}
    lead = pd.DataFrame(
        [
            ("g1", "c", "v1", 10, "A", "C", 0.5, 0.1, 5.0, 1e-6, 1e-5, n, 0.3, 10),
            ("g2", "c", "v2", 20, "A", "C", -0.4, 0.1, -4.0, 1e-4, 1e-3, n, 0.3, 10),
            ("g3", "c", "v3", 30, "A", "C", 0.3, 0.2, 1.5, 0.1, 1.0, n, 0.3, 10),  # no eGene
        ],
        columns=list(LEAD_EQTL_COLUMNS),
    )
    dosages = pd.DataFrame(
        [
            (g, f"v{g[1]}", i, "heldout", int(x))
            for g, xs in d.items()
            for i, x in zip(inds, xs, strict=True)
        ],
        columns=list(DOSAGE_COLUMNS),
    )
    rows = []
    for model, sign in (("right", 1.0), ("wrong", -1.0), ("flat", 0.0)):
        for g, xs in d.items():
            beta = lead.set_index("gene").loc[g, "beta"]
            pred = sign * np.sign(beta) * xs + 0.3 * rng.normal(size=n)
            if model == "flat":
                pred = np.full(n, 1.5)
            for i, x, p in zip(inds, xs, pred, strict=True):
                rows.append((model, g, i, "train", "heldout", float(x), float(p)))
    preds = pd.DataFrame(
        rows,
        columns=[
            "model",
            "gene",
            "individual",
            "gene_set",
            "individual_set",
            "observed",
            "predicted",
        ],
    )
    return preds, lead, dosages, d


def test_variant_direction_metrics(caplog):
    preds, lead, dosages, d = _direction_inputs()
    with caplog.at_level(logging.WARNING, logger="ps2f.evaluation.eqtl"):
        met = variant_direction_metrics(preds, lead, dosages, eqtl_alpha=0.05)
    assert list(met.columns) == list(METRIC_COLUMNS)
    w = met.pivot(index=["model", "cell", "gene"], columns="metric", values="value")
    for g in ("g1", "g2", "g3"):
        sub = preds.query("model == 'right' and gene == @g")
        slope = np.polyfit(d[g].astype(float), sub["predicted"].to_numpy(), 1)[0]
        assert w.loc[("right", TH, g), "lead_slope"] == pytest.approx(slope, rel=1e-10)
    assert w.loc[("right", TH, "g1"), "lead_direction_correct"] == 1.0
    assert w.loc[("right", TH, "g2"), "lead_direction_correct"] == 1.0  # negative beta, slope
    assert w.loc[("wrong", TH, "g1"), "lead_direction_correct"] == 0.0
    assert w.loc[("wrong", TH, "g2"), "lead_direction_correct"] == 0.0
    assert np.isnan(w.loc[("right", TH, "g3"), "lead_direction_correct"])  # not an eGene
    assert np.isfinite(w.loc[("right", TH, "g3"), "lead_slope"])
    assert (w.loc["flat", "lead_slope"] == 0).all()  # ignores the genotype: no direction
    assert w.loc["flat", "lead_direction_correct"].isna().all()
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "predictions constant across individuals" in msgs
    assert "lead eQTL not significant" in msgs
    # summarized: right 2/2, wrong 0/2
    s = summarize(pd.concat([met, _r_rows(met)]), n_boot=50)
    acc = s.query("statistic == 'direction_accuracy_variant'").set_index("model")
    assert acc.loc["right", "estimate"] == 1.0 and acc.loc["right", "n_genes"] == 2
    assert acc.loc["wrong", "estimate"] == 0.0
    assert np.isnan(acc.loc["flat", "estimate"]) and acc.loc["flat", "n_genes"] == 0


def _r_rows(met):
    """Minimal per-gene r rows so that summarize has its required metrics."""
    keys = met[["model", "cell", "gene"]].drop_duplicates()
    r = keys.assign(metric="pearson_r", value=0.1)
    p = keys.assign(metric="pearson_p", value=0.5)
    return pd.concat([r, p])[list(METRIC_COLUMNS)]


def test_variant_direction_constant_dosage_and_missing_columns():
    preds, lead, dosages, _ = _direction_inputs()
    dosages.loc[dosages["gene"] == "g1", "dosage"] = 1
    met = variant_direction_metrics(preds, lead, dosages)
    w = met.pivot(index=["model", "cell", "gene"], columns="metric", values="value")
    assert np.isnan(w.loc[("right", TH, "g1"), "lead_slope"])
    with pytest.raises(ValueError, match="missing columns"):
        variant_direction_metrics(preds, lead.drop(columns="beta"), dosages)


# --------------------------------------------------------------------------------------------
# ground truth: on the simulator, the lead eQTLs are the planted motif variants
# --------------------------------------------------------------------------------------------
def _config(**sections) -> dict:
    from snakemake.utils import validate

    cfg = {"name": "t", "contigs": ["sim1"], **sections}
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    validate(cfg, str(schema), set_default=True)
    return cfg


def test_lead_eqtls_recover_simulated_truth(tmp_path):
    from ps2f.pipeline import load_inputs, run_genotypes, run_phenotypes, run_simulate

    cfg = _config(
        simulate={"enabled": True, "n_individuals": 80, "n_genes": 12, "seed": 5},
        baselines={"cis_window_bp": 1000},
        s2f={"window_bp": 512},
    )
    sim = tmp_path / "sim"
    run_simulate(cfg["simulate"], "sim1", sim)
    ph = {k: str(tmp_path / f"{k}.{ext}") for k, ext in
          (("genes", "tsv"), ("individuals", "tsv"), ("expression", "parquet"))}  # fmt: skip
    run_phenotypes(str(sim / "expression.bed.gz"), str(sim / "genes.tsv"),
                   str(sim / "genotypes.vcf.gz"), ph["genes"], ph["individuals"],
                   ph["expression"], **phenotypes_params(cfg))  # fmt: skip
    store_path = tmp_path / "sim1.npz"
    run_genotypes(str(sim / "genotypes.vcf.gz"), str(sim / "reference.fa"), ph["genes"],
                  ph["individuals"], "sim1", **genotypes_params(cfg), out_store=str(store_path),
                  out_stats=str(tmp_path / "s.json"))  # fmt: skip
    genes, individuals, observed = load_inputs(ph["genes"], ph["individuals"], ph["expression"])
    lead, _ = lead_eqtls(
        genes, individuals, observed, {"sim1": VariantStore.load(store_path)}, 1000, 0.05
    )
    truth = pd.read_parquet(sim / "truth_variants.parquet")
    m = lead.merge(truth, left_on="variant_id", right_on="id", how="left", suffixes=("", "_t"))
    egenes = m["p_bonferroni"] < 0.05
    assert egenes.mean() >= 0.75
    causal = m.loc[egenes, "motif_delta"].fillna(0) != 0
    # the lead is a planted motif variant, or (the simulator has coalescent LD) a near-perfect
    # tag of one: most leads, not all, are the causal variant itself
    assert causal.mean() >= 0.6
    agree = np.sign(m.loc[egenes & (m["motif_delta"].fillna(0) != 0), "beta"]) == np.sign(
        m.loc[egenes & (m["motif_delta"].fillna(0) != 0), "beta_t"]
    )
    assert agree.mean() >= 0.9  # ... with the planted direction (activator or repressor)
    assert (m["pos"] + 1 == m["pos_t"]).loc[m["id"].notna()].all()  # 0-based vs VCF 1-based
    assert yaml.safe_load((tmp_path / "s.json").read_text())["n_samples"] == 80
