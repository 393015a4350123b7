"""The baseline rules end to end (without Snakemake) and the PredictDB files they write."""

from __future__ import annotations

import copy
import gzip
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ps2f.baselines import ElasticNetConfig, fit_elastic_net
from ps2f.baselines.variant_filters import strand_ambiguous
from ps2f.evaluation.coverage import window_coverage
from ps2f.evaluation.eqtl import LEAD_EQTL_COLUMNS
from ps2f.genome.store import VariantStore
from ps2f.genome.windows import cis_windows
from ps2f.io.predictdb import (
    EXTRA_COLUMNS,
    WEIGHT_COLUMNS,
    bh_qvalues,
    filter_models,
    predictdb_var_ids,
    read_covariances,
    read_predictdb,
    write_predictdb,
)
from ps2f.pipeline import run_baseline
from ps2f.pipeline.common import write_table

N_IND, N_VAR, CONTIG = 120, 90, "chr7"
ALLELES = [("A", "G"), ("C", "T"), ("G", "A"), ("T", "C"), ("A", "T"), ("C", "G"), ("AC", "A")]


def _store(rng: np.random.Generator, samples: list[str]) -> VariantStore:
    """90 variants every 1 kb from 10 kb; every 7th pair strand-ambiguous, one indel kind."""
    pos = 10_000 + 1_000 * np.arange(N_VAR)
    pairs = [ALLELES[i % len(ALLELES)] for i in range(N_VAR)]
    freq = rng.uniform(0.1, 0.5, N_VAR)
    haps = rng.random((N_VAR, 2 * N_IND)) < freq[:, None]  # bit 2 s + h
    ref = [a for a, _ in pairs]
    alt = [b for _, b in pairs]

    def flat(items):
        off = np.zeros(len(items) + 1, np.int64)
        off[1:] = np.cumsum([len(x) for x in items])
        return np.frombuffer("".join(items).encode(), np.uint8).copy(), off

    rb, ro = flat(ref)
    ab, ao = flat(alt)
    return VariantStore(
        contig=CONTIG,
        samples=np.array(samples),
        pos=pos.astype(np.int64),
        ref_bytes=rb,
        ref_offsets=ro,
        alt_bytes=ab,
        alt_offsets=ao,
        ids=np.array([f"rs{1000 + i}" for i in range(N_VAR)]),
        genotypes=np.packbits(haps, axis=1),
    )


def _baseline_inputs(d, config):
    """run_baseline's input arguments for the tables and store written in ``d``."""
    return dict(
        genes_path=str(d / "genes.tsv"),
        individuals_path=str(d / "individuals.tsv"),
        expression_path=str(d / "expression.parquet"),
        store_paths=[str(d / f"{CONTIG}.npz")],
        baselines=config["baselines"],
        threads=1,
        run_name=config["name"],
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Phenotype tables + a variant store for 4 genes (3 training), and both rules' outputs."""
    d = tmp_path_factory.mktemp("baselines")
    rng = np.random.default_rng(21)
    samples = [f"I{i:03d}" for i in range(N_IND)]
    store = _store(rng, samples)
    store.save(d / f"{CONTIG}.npz")
    dos = store.dosages(slice(None)).T.astype(float)  # (individuals, variants)
    genes = pd.DataFrame(
        {
            "gene": ["G1.1", "G2.1", "G3.1", "G4.1"],
            "gene_key": ["G1", "G2", "G3", "G4"],
            "gene_name": ["ONE", "TWO", "THREE", "FOUR"],
            "gene_type": "protein_coding",
            "chrom": CONTIG,
            "strand": ["+", "-", "+", "+"],
            "tss0": [30_000, 60_000, 80_000, 50_000],
            "gene_start": [30_000, 55_000, 80_000, 50_000],
            "gene_end": [35_000, 60_001, 81_000, 51_000],
            "s2f": False,
            "gene_set": ["train", "train", "train", "heldout"],
        }
    )
    individuals = pd.DataFrame(
        {
            "individual": samples,
            "individual_set": np.where(np.arange(N_IND) < 90, "train", "heldout"),
        }
    )
    # each gene driven by two variants in its window (+-10 kb around the body)
    effects = {
        "G1.1": [(22, 0.8), (24, -0.5)],
        "G2.1": [(50, 0.7), (51, 0.4)],
        "G3.1": [(72, 0.6), (73, 0.5)],
        "G4.1": [(43, 0.5), (44, 0.3)],
    }
    rows = []
    for g, eff in effects.items():
        y = 5.0 + sum(b * dos[:, v] for v, b in eff) + rng.normal(0, 0.5, N_IND)
        rows.append(pd.DataFrame({"gene": g, "individual": samples, "observed": y}))
    write_table(genes, d / "genes.tsv")
    write_table(individuals, d / "individuals.tsv")
    write_table(pd.concat(rows), d / "expression.parquet")
    config = {
        "name": "unit",
        "baselines": {
            "cis_window_bp": 10_000,
            "cis_window_anchor": "gene_body",
            "genes": "all",
            "snvs_only": True,
            "drop_ambiguous_strand": True,
            "elastic_net": {"n_folds": 5, "n_outer_folds": 5, "seed": 3},
            "random_forest": {"n_estimators": 30},
            "predictdb": {
                "genome_build": "b37",
                "population": "",
                "max_pval": 0.05,
                "min_rho": 0.1,
                "variant_key": "rsid",
            },
        },
    }
    common = _baseline_inputs(d, config)
    run_baseline(
        "elastic_net",
        **common,
        out_predictions=str(d / "en.parquet"),
        out_summary=str(d / "en.summary.tsv"),
        out_db=str(d / "en.db"),
        out_db_filtered=str(d / "en.filtered.db"),
        out_covariances=str(d / "en.cov.txt.gz"),
    )
    run_baseline(
        "random_forest",
        **common,
        out_predictions=str(d / "rf.parquet"),
        out_summary=str(d / "rf.summary.tsv"),
    )
    return d, store, dos, genes, individuals, config


def test_db_schema_and_a_genes_weights(run_dir):
    d, store, dos, genes, individuals, config = run_dir
    con = sqlite3.connect(d / "en.db")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"weights", "extra", "sample_info", "construction"}
    cols = {t: [r[1] for r in con.execute(f"PRAGMA table_info('{t}')")] for t in tables}
    assert cols["weights"] == list(WEIGHT_COLUMNS)
    assert cols["extra"] == list(EXTRA_COLUMNS)
    indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"weights_rsid", "weights_gene", "weights_rsid_gene", "gene_model_summary"} <= indexes
    assert con.execute("SELECT n_samples, population FROM sample_info").fetchall() == [(90, "unit")]
    # MetaXcan's queries
    w = pd.read_sql(
        "SELECT rsid, weight, ref_allele, eff_allele, varID FROM weights WHERE gene = 'G1.1'", con
    )
    e = pd.read_sql(
        'SELECT gene, genename, "n.snps.in.model", "pred.perf.R2", "pred.perf.pval" FROM extra', con
    )
    con.close()
    assert set(e["gene"]) == {"G1.1", "G2.1", "G3.1", "G4.1"}  # baselines.genes: all

    # the same gene fitted directly: window = body +- 10 kb, SNVs, no A/T or C/G
    lo, hi = cis_windows(genes, 10_000)
    ref = np.array([store.allele(i, "ref") for i in range(N_VAR)])
    alt = np.array([store.allele(i, "alt") for i in range(N_VAR)])
    usable = (np.char.str_len(ref) == 1) & (np.char.str_len(alt) == 1) & ~strand_ambiguous(ref, alt)
    cols_g1 = np.flatnonzero(usable & (store.pos >= lo[0]) & (store.pos < hi[0]))
    y = pd.read_parquet(d / "expression.parquet").query("gene == 'G1.1'")["observed"].to_numpy()
    train = (individuals["individual_set"] == "train").to_numpy()
    fit = fit_elastic_net(
        dos[:, cols_g1].astype(np.uint8),
        y,
        train,
        store.ids[cols_g1],
        ElasticNetConfig(n_folds=5, n_outer_folds=5, seed=3),
        gene="G1.1",
    )
    got = w.set_index("rsid")["weight"].sort_index()
    assert len(got) >= 2 and {"rs1022", "rs1024"} <= set(got.index)  # the planted variants
    pd.testing.assert_series_equal(
        got, fit.weights.rename_axis("rsid").sort_index(), check_names=False
    )
    g1 = w.set_index("rsid").loc["rs1022"]
    i = 22
    assert (g1["ref_allele"], g1["eff_allele"]) == (ref[i], alt[i])
    assert g1["varID"] == f"7_{store.pos[i] + 1}_{ref[i]}_{alt[i]}_b37"
    assert not any(strand_ambiguous(w["ref_allele"].to_numpy(), w["eff_allele"].to_numpy()))
    row = e.set_index("gene").loc["G1.1"]
    assert row["n.snps.in.model"] == len(fit.weights)
    assert row["pred.perf.R2"] == pytest.approx(fit.perf["rho_avg"] ** 2)
    assert row["pred.perf.pval"] == pytest.approx(fit.perf["zscore_pval"])
    assert fit.perf["rho_avg"] > 0.5 and row["pred.perf.pval"] < 1e-6


def test_covariance_file_and_filtered_db(run_dir):
    d, store, dos, genes, individuals, config = run_dir
    weights, extra = read_predictdb(d / "en.db")
    with gzip.open(d / "en.cov.txt.gz", "rt") as fh:
        cov = pd.read_csv(fh, sep=" ")
    assert list(cov.columns) == ["GENE", "RSID1", "RSID2", "VALUE"]
    train = (individuals["individual_set"] == "train").to_numpy()
    g1 = weights.query("gene == 'G1.1'")["rsid"].tolist()
    k = len(g1)
    assert (cov["GENE"] == "G1.1").sum() == k * (k + 1) // 2  # upper triangle with diagonal
    idx = [int(r[2:]) - 1000 for r in g1]
    expected = np.cov(dos[train][:, idx], rowvar=False, ddof=1)
    got = cov.query("GENE == 'G1.1'").set_index(["RSID1", "RSID2"])["VALUE"]
    for a in range(k):
        for b in range(a, k):
            assert got[(g1[a], g1[b])] == pytest.approx(expected[a, b], rel=1e-10)
    fw, fe = read_predictdb(d / "en.filtered.db")
    keep = extra[
        (extra["pred.perf.pval"] < 0.05) & (extra["rho_avg"] > 0.1) & (extra["n.snps.in.model"] > 0)
    ]
    assert set(fe["gene"]) == set(keep["gene"]) and set(fw["gene"]) <= set(fe["gene"])
    np.testing.assert_allclose(
        extra["pred.perf.qval"], bh_qvalues(extra["pred.perf.pval"].to_numpy())
    )


def test_covariances_keyed_by_varid(run_dir, tmp_path):
    """predictdb.variant_key: varID keys the covariance file as MetaXcan's --model_db_snp_key
    varID reads it; the window-coverage share finds the key by itself."""
    d, store, dos, genes, individuals, config = run_dir
    cfg = copy.deepcopy(config)
    cfg["baselines"]["predictdb"]["variant_key"] = "varID"
    run_baseline(
        "elastic_net",
        **_baseline_inputs(d, cfg),
        out_predictions=str(tmp_path / "en.parquet"),
        out_summary=str(tmp_path / "en.summary.tsv"),
        out_db=str(tmp_path / "en.db"),
        out_covariances=str(tmp_path / "en.cov.txt.gz"),
    )
    weights, _ = read_predictdb(tmp_path / "en.db")
    by_rsid = read_covariances(d / "en.cov.txt.gz")
    by_varid = read_covariances(tmp_path / "en.cov.txt.gz")
    to_varid = dict(zip(weights["rsid"], weights["varID"], strict=True))
    renamed = by_rsid.assign(
        RSID1=by_rsid["RSID1"].map(to_varid), RSID2=by_rsid["RSID2"].map(to_varid)
    )
    pd.testing.assert_frame_equal(renamed, by_varid)
    assert by_varid["RSID1"].str.endswith("_b37").all()
    shares = [
        window_coverage(
            genes,
            pd.DataFrame(columns=LEAD_EQTL_COLUMNS),
            {"m": 2000},
            elastic_net_weights=weights,
            elastic_net_covariances=cov,
        )["elastic_net_share_in_window"].to_numpy()
        for cov in (by_rsid, by_varid)
    ]
    np.testing.assert_array_equal(shares[0], shares[1])
    assert np.isfinite(shares[0]).any()


def test_predictions_and_summaries(run_dir):
    d, store, dos, genes, individuals, config = run_dir
    for name in ("en", "rf"):
        p = pd.read_parquet(d / f"{name}.parquet")
        # baselines.genes: all -> the held-out gene G4 too, fitted on training individuals
        assert set(p["gene"]) == {"G1.1", "G2.1", "G3.1", "G4.1"} and len(p) == 4 * N_IND
        assert set(p.loc[p["gene"] == "G4.1", "gene_set"]) == {"heldout"}
        held = p[p["individual_set"] == "heldout"]
        r = held.groupby("gene").apply(lambda t: np.corrcoef(t["observed"], t["predicted"])[0, 1])
        assert (r > 0.3).all(), r
    rf = pd.read_csv(d / "rf.summary.tsv", sep="\t")
    assert rf["oob_r"].between(0.2, 1).all() and "lambda_min" not in rf
    en = pd.read_csv(d / "en.summary.tsv", sep="\t")
    assert {"rho_avg", "zscore_pval", "cv_rho_avg", "lambda_min", "n_variants_in_model"} <= set(
        en.columns
    )
    assert (en["n_variants_in_window"] == en["n_variants_used"]).all()  # all variants common


def test_training_genes_only(run_dir, tmp_path):
    d, store, dos, genes, individuals, config = run_dir
    cfg = {"name": "unit", "baselines": {**config["baselines"], "genes": "train"}}
    run_baseline(
        "random_forest",
        **_baseline_inputs(d, cfg),
        out_predictions=str(tmp_path / "rf.parquet"),
        out_summary=str(tmp_path / "rf.summary.tsv"),
    )
    p = pd.read_parquet(tmp_path / "rf.parquet")
    assert set(p["gene"]) == {"G1.1", "G2.1", "G3.1"} and set(p["gene_set"]) == {"train"}
    # the same fits as with genes: all (each gene's fit depends on its own data and seed)
    full = pd.read_parquet(d / "rf.parquet").query("gene != 'G4.1'")
    pd.testing.assert_frame_equal(p.reset_index(drop=True), full.reset_index(drop=True))


def test_var_ids_qvalues_and_round_trip(tmp_path):
    assert predictdb_var_ids("chr22", np.array([16051248]), ["T"], ["C"]).tolist() == [
        "22_16051249_T_C_b37"
    ]
    assert predictdb_var_ids("22", np.array([9]), ["A"], ["G"], "b38").tolist() == [
        "chr22_10_A_G_b38"
    ]
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5])
    q = bh_qvalues(p)
    ok = np.isfinite(p)
    np.testing.assert_allclose(q[ok], stats.false_discovery_control(p[ok]))
    assert np.isnan(q[1])
    extra = pd.DataFrame({c: [1.0, 2.0] for c in EXTRA_COLUMNS})
    extra["gene"], extra["genename"], extra["gene_type"] = ["A", "B"], ["a", "b"], ["x", "y"]
    extra["pred.perf.pval"], extra["rho_avg"] = [0.01, 0.5], [0.3, 0.3]
    extra["lambda_min_mse"] = [np.nan, 0.1]
    weights = pd.DataFrame(
        {
            "gene": ["A", "B"],
            "rsid": ["rs1", "rs2"],
            "varID": ["1_2_A_G_b37", "1_3_C_T_b37"],
            "ref_allele": ["A", "C"],
            "eff_allele": ["G", "T"],
            "weight": [0.5, -0.25],
        }
    )
    write_predictdb(tmp_path / "m.db", weights, extra, 10, "pop")
    w, e = read_predictdb(tmp_path / "m.db")
    pd.testing.assert_frame_equal(w, weights)
    assert e["lambda_min_mse"].isna().tolist() == [True, False]  # NaN stored as NULL (R's NA)
    fw, fe = filter_models(w, e)
    assert fe["gene"].tolist() == ["A"] and fw["gene"].tolist() == ["A"]
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away
