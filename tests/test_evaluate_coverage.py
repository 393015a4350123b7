"""Window coverage: lead eQTLs and ElasticNet weights inside / outside / at the edges of a
sequence model's window, on both strands, the NA cases, the metrics and summary rows, and the
simulator's ground truth through the pipeline functions."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, genotypes_params, phenotypes_params

from ps2f.errors import InputError
from ps2f.evaluation.coverage import (
    COVERAGE_COLUMNS,
    COVERAGE_METRICS,
    COVERAGE_STATISTICS,
    coverage_metrics,
    summarize_coverage,
    window_coverage,
    window_offsets,
)
from ps2f.genome.windows import sequence_windows
from ps2f.io.predictdb import (
    predictdb_var_ids,
    read_covariances,
    var_id_positions,
    write_covariances,
)
from ps2f.schema import METRIC_COLUMNS, SUMMARY_COLUMNS, cell_label

TH = cell_label("train", "heldout")
HH = cell_label("heldout", "heldout")
TSS = 10_000


def _genes(strands: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gene": [f"G{i}" for i in range(len(strands))],
            "chrom": "c1",
            "strand": strands,
            "tss0": TSS,
            "s2f": True,
        }
    )


def _lead(genes: pd.DataFrame, pos: list[int | None], p_bonf: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gene": genes["gene"],
            "variant_id": [None if p is None else f"v{p}" for p in pos],
            "pos": [-1 if p is None else p for p in pos],
            "p_bonferroni": p_bonf,
        }
    )


@pytest.mark.parametrize("window_bp", [100, 101, 4096])
def test_lead_eqtl_at_the_window_edges_on_both_strands(window_bp):
    # per strand, a lead at the first and last base of the window (inside) and one base past
    # each end (outside), the window taken from sequence_windows, the one definition
    cases = []
    for strand in "+-":
        (start,), (end,) = sequence_windows(np.array([TSS]), np.array([strand]), window_bp)
        cases += [(strand, start, True), (strand, end - 1, True)]
        cases += [(strand, end, False), (strand, start - 1, False)]
    genes = _genes([c[0] for c in cases])
    lead = _lead(genes, [c[1] for c in cases], [1e-6] * len(cases))
    cov = window_coverage(genes, lead, {"p_model": window_bp})
    assert list(cov.columns) == list(COVERAGE_COLUMNS)
    assert cov["lead_eqtl_in_window"].tolist() == [c[2] for c in cases]
    # inside exactly when -(L // 2) <= offset < L - L // 2, whatever the strand
    half = window_bp // 2
    off = cov["lead_eqtl_tss_offset_bp"].to_numpy()
    assert ((off >= -half) & (off < window_bp - half)).tolist() == [c[2] for c in cases]
    # the edges: the window's first base is offset -L//2 on both strands (5' end)
    assert off[0] == -half and off[1] == window_bp - half - 1  # + strand: start, end - 1
    assert off[4] == window_bp - half - 1 and off[5] == -half  # - strand: reversed
    assert cov["window_bp"].eq(window_bp).all() and cov["egene"].all()


def test_window_offsets_sign_follows_the_strand():
    off = window_offsets(np.array([10_050, 10_050]), np.array([TSS, TSS]), np.array(["+", "-"]))
    assert off.tolist() == [50, -50]  # downstream on +, upstream on -


def test_no_lead_and_egene_and_several_models():
    genes = _genes(["+", "+", "-"])
    lead = _lead(genes, [TSS + 10, None, TSS - 3000], [0.01, np.nan, 0.2])
    cov = window_coverage(genes, lead, {"p_model": 1024, "enformer": 196_608}, eqtl_alpha=0.05)
    assert cov["model"].tolist() == ["p_model"] * 3 + ["enformer"] * 3
    p = cov.loc[cov["model"] == "p_model"]
    assert p["lead_eqtl_in_window"].iloc[0]
    assert pd.isna(p["lead_eqtl_in_window"].iloc[1])  # no testable variant: NA, not False
    assert np.isnan(p["lead_eqtl_tss_offset_bp"].iloc[1])
    assert pd.isna(p["lead_variant_id"].iloc[1])
    assert not p["lead_eqtl_in_window"].iloc[2]  # 3 kb upstream of a 1 kb window
    assert p["lead_eqtl_tss_offset_bp"].iloc[2] == 3000  # minus strand: downstream
    assert p["egene"].tolist() == [True, False, False]
    e = cov.loc[cov["model"] == "enformer"]
    assert e["lead_eqtl_in_window"].iloc[2]  # inside Enformer's 196 kb
    # without ElasticNet tables its columns are NA
    assert cov["elastic_net_share_in_window"].isna().all()
    assert cov["elastic_net_n_variants"].isna().all()
    # a gene absent from the lead table has no lead
    cov2 = window_coverage(genes, lead.iloc[:1], {"p_model": 1024})
    assert cov2["lead_eqtl_in_window"].isna().tolist() == [False, True, True]


def _weights(gene: str, pos0: list[int], w: list[float], contig: str = "22") -> pd.DataFrame:
    ref, alt = ["A"] * len(pos0), ["G"] * len(pos0)
    return pd.DataFrame(
        {
            "gene": gene,
            "rsid": [f"rs{p}" for p in pos0],
            "varID": predictdb_var_ids(contig, np.array(pos0), ref, alt),
            "ref_allele": ref,
            "eff_allele": alt,
            "weight": w,
        }
    )


def _covariances(gene: str, pos0: list[int], sigma: np.ndarray) -> pd.DataFrame:
    iu, ju = np.triu_indices(len(pos0))
    return pd.DataFrame(
        {
            "GENE": gene,
            "RSID1": [f"rs{pos0[i]}" for i in iu],
            "RSID2": [f"rs{pos0[j]}" for j in ju],
            "VALUE": sigma[iu, ju],
        }
    )


def test_elastic_net_share_without_ld_is_the_variance_fraction():
    # + strand, 100-bp window [9950, 10050): one variant inside, two outside, no LD
    genes = _genes(["+", "-"])
    pos = [9_990, 9_900, 12_000]
    w = [0.5, -0.3, 0.2]
    var = np.array([0.4, 0.3, 0.5])
    weights = _weights("G0", pos, w)
    cov = _covariances("G0", pos, np.diag(var))
    out = window_coverage(genes, _lead(genes, [None, None], [np.nan] * 2), {"m": 100},
                          elastic_net_weights=weights, elastic_net_covariances=cov)  # fmt: skip
    contrib = np.array(w) ** 2 * var
    g0 = out.iloc[0]
    assert g0["elastic_net_share_in_window"] == pytest.approx(contrib[0] / contrib.sum())
    assert g0["elastic_net_n_variants"] == 3 and g0["elastic_net_n_in_window"] == 1
    # G1 has no weight: NA share, 0 variants
    g1 = out.iloc[1]
    assert np.isnan(g1["elastic_net_share_in_window"]) and g1["elastic_net_n_variants"] == 0
    # a window holding all of them: 1; a window holding none: 0
    wide = window_coverage(genes, _lead(genes, [None, None], [np.nan] * 2), {"m": 8192},
                           elastic_net_weights=weights, elastic_net_covariances=cov)  # fmt: skip
    assert wide["elastic_net_share_in_window"].iloc[0] == pytest.approx(1.0)
    none = window_coverage(genes, _lead(genes, [None, None], [np.nan] * 2), {"m": 10},
                           elastic_net_weights=weights, elastic_net_covariances=cov)  # fmt: skip
    assert none["elastic_net_share_in_window"].iloc[0] == 0.0
    assert none["elastic_net_n_in_window"].iloc[0] == 0


def test_elastic_net_share_with_ld_is_the_r2_of_the_prediction_on_its_in_window_part():
    # oracle: the squared correlation across individuals of the prediction and its in-window
    # part, computed from dosages; the function sees only weights and their covariance
    rng = np.random.default_rng(3)
    n, k = 500, 6
    base = rng.integers(0, 3, size=(n, k)).astype(float)
    dos = base.copy()
    dos[:, 3] = np.where(rng.random(n) < 0.9, base[:, 0], base[:, 3])  # LD with variant 0
    pos = [10_010, 10_020, 9_990, 30_000, 31_000, 2_000]  # first three inside a 100-bp window
    w = rng.normal(size=k)
    genes = _genes(["-"])
    inside = np.array([True, True, True, False, False, False])
    (start,), (end,) = sequence_windows(np.array([TSS]), np.array(["-"]), 100)
    assert ((np.array(pos) >= start) & (np.array(pos) < end)).tolist() == inside.tolist()
    y, y_in = dos @ w, dos[:, inside] @ w[inside]
    expected = np.corrcoef(y, y_in)[0, 1] ** 2
    sigma = np.cov(dos, rowvar=False)
    out = window_coverage(genes, _lead(genes, [None], [np.nan]), {"m": 100},
                          elastic_net_weights=_weights("G0", pos, list(w)),
                          elastic_net_covariances=_covariances("G0", pos, sigma))  # fmt: skip
    assert out["elastic_net_share_in_window"].iloc[0] == pytest.approx(expected, rel=1e-9)
    # perfect LD: a variant outside, perfectly tagged by one inside, is seen through it
    s = np.array([[1.0, 1.0], [1.0, 1.0]])
    out = window_coverage(genes, _lead(genes, [None], [np.nan]), {"m": 100},
                          elastic_net_weights=_weights("G0", [10_010, 30_000], [0.4, 0.7]),
                          elastic_net_covariances=_covariances("G0", [10_010, 30_000], s))  # fmt: skip
    assert out["elastic_net_share_in_window"].iloc[0] == pytest.approx(1.0)


def test_elastic_net_tables_that_do_not_match(caplog, tmp_path):
    genes = _genes(["+"])
    lead = _lead(genes, [None], [np.nan])
    pos = [10_000, 10_001]
    weights = _weights("G0", pos, [0.1, 0.2])
    partial = _covariances("G0", pos, np.eye(2)).iloc[:1]  # the pair rows are missing
    with pytest.raises(ValueError, match="G0: no covariance for variants rs10000 and rs10001"):
        window_coverage(genes, lead, {"m": 100}, elastic_net_weights=weights,
                        elastic_net_covariances=partial)  # fmt: skip
    other = _covariances("G0", [10_000, 10_005], np.eye(2))
    with pytest.raises(ValueError, match="absent from the gene's weights"):
        window_coverage(genes, lead, {"m": 100}, elastic_net_weights=weights,
                        elastic_net_covariances=other)  # fmt: skip
    stray = _weights("G9", pos, [0.1, 0.2])
    with pytest.raises(ValueError, match="absent from the genes table, e.g. G9"):
        window_coverage(genes, lead, {"m": 100}, elastic_net_weights=stray,
                        elastic_net_covariances=other)  # fmt: skip
    # repeated rsids (VCF ID '.'): the covariance rows cannot be matched, NA with a warning
    dup = weights.assign(rsid=".")
    with caplog.at_level(logging.WARNING):
        out = window_coverage(genes, lead, {"m": 100}, elastic_net_weights=dup,
                              elastic_net_covariances=other)  # fmt: skip
    assert np.isnan(out["elastic_net_share_in_window"].iloc[0])
    assert out["elastic_net_n_in_window"].iloc[0] == 2
    assert "repeat a variant ID" in caplog.text
    with pytest.raises(InputError, match="not chr_pos_ref_alt_build"):
        var_id_positions(["22_12_A"])
    with pytest.raises(ValueError, match="appears more than once"):
        window_coverage(genes, pd.concat([lead, lead]), {"m": 100})
    with pytest.raises(ValueError, match="positive"):
        window_coverage(genes, lead, {"m": 0})
    # the covariance file round trip, and a file that is not one
    path = tmp_path / "c.txt.gz"
    write_covariances(path, [("G0", "rs1", "rs1", 0.5), ("G0", "rs1", "rs2", -0.25)])
    back = read_covariances(path)
    assert back["VALUE"].tolist() == [0.5, -0.25] and back["RSID2"].tolist() == ["rs1", "rs2"]
    (tmp_path / "bad.txt").write_text("a b\n1 2\n")
    with pytest.raises(InputError, match="not a PredictDB covariance file"):
        read_covariances(tmp_path / "bad.txt")


def test_var_id_positions_invert_predictdb_var_ids():
    pos0 = np.array([0, 16051248, 51_000_000])
    for contig, build in (("22", "b37"), ("chr22", "b38")):
        ids = predictdb_var_ids(contig, pos0, ["A", "C", "G"], ["T", "T", "T"], build)
        assert var_id_positions(ids).tolist() == pos0.tolist()


def _metrics_rows(model: str, cell: str, genes: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"model": model, "cell": cell, "gene": genes, "metric": "pearson_r", "value": 0.1}
    )


def test_coverage_metrics_and_summary():
    genes = _genes(["+", "+", "-", "+"])
    # G0 inside (eGene), G1 outside (eGene), G2 no lead, G3 inside (not an eGene)
    lead = _lead(genes, [TSS, TSS + 5000, None, TSS + 1], [0.001, 0.01, np.nan, 0.5])
    pos = [TSS, TSS + 5000]
    weights = pd.concat([_weights("G0", pos, [0.3, 0.3]), _weights("G1", [TSS + 7], [0.2])])
    covs = pd.concat(
        [_covariances("G0", pos, np.eye(2)), _covariances("G1", [TSS + 7], np.eye(1))]
    )
    cov = window_coverage(genes, lead, {"p_model": 1024}, eqtl_alpha=0.05,
                          elastic_net_weights=weights, elastic_net_covariances=covs)  # fmt: skip
    metrics = pd.concat(
        [
            _metrics_rows("p_model", TH, ["G0", "G1", "G2", "G3"]),
            _metrics_rows("p_model", HH, ["G0"]),
            _metrics_rows("elastic_net", TH, ["G0", "G1", "G2", "G3"]),
        ],
        ignore_index=True,
    )
    rows = coverage_metrics(metrics, cov)
    assert list(rows.columns) == list(METRIC_COLUMNS)
    assert set(rows["model"]) == {"p_model"}  # the ElasticNet has no window
    assert len(rows) == 5 * len(COVERAGE_METRICS)
    wide = rows.pivot(index=["cell", "gene"], columns="metric", values="value")
    th = wide.loc[TH]
    assert th["lead_eqtl_in_window"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(th.loc["G2", "lead_eqtl_in_window"])
    assert th.loc["G1", "lead_eqtl_tss_offset_bp"] == 5000
    assert th["elastic_net_share_in_window"].tolist()[:2] == [pytest.approx(0.5), 1.0]
    assert np.isnan(th.loc["G3", "elastic_net_share_in_window"])  # no ElasticNet model
    assert wide.loc[(HH, "G0"), "lead_eqtl_in_window"] == 1.0

    summary = summarize_coverage(pd.concat([metrics, rows]), cov, n_boot=50, seed=1)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["model"].unique().tolist() == ["p_model"]
    assert summary["cell"].unique().tolist() == [TH, HH]  # CELLS order
    s = summary.loc[summary["cell"] == TH].set_index("statistic")
    assert s.index.tolist() == list(COVERAGE_STATISTICS)
    assert s.loc["window_bp", "estimate"] == 1024
    assert s.loc["frac_lead_eqtl_in_window", "estimate"] == pytest.approx(2 / 3)
    assert s.loc["frac_lead_eqtl_in_window", "n_genes"] == 3
    assert s.loc["frac_egenes_lead_eqtl_in_window", "estimate"] == pytest.approx(0.5)
    assert s.loc["frac_egenes_lead_eqtl_in_window", "n_genes"] == 2
    assert s.loc["median_elastic_net_share_in_window", "estimate"] == pytest.approx(0.75)
    lo, hi = s.loc["frac_lead_eqtl_in_window", ["ci_low", "ci_high"]]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0
    h = summary.loc[summary["cell"] == HH].set_index("statistic")
    assert h.loc["frac_egenes_lead_eqtl_in_window", "estimate"] == 1.0
    assert h.loc["median_elastic_net_share_in_window", "estimate"] == pytest.approx(0.5)
    # no sequence model in the metrics: nothing to add
    assert coverage_metrics(metrics.query("model == 'elastic_net'"), cov).empty
    assert summarize_coverage(metrics.query("model == 'elastic_net'"), cov).empty


def test_window_coverage_on_the_simulators_truth(tmp_path):
    """Through the rule functions: causal variants lie within causal_radius_bp of the TSS."""
    from snakemake.utils import validate

    from ps2f.evaluation.eqtl import lead_eqtls
    from ps2f.genome.store import VariantStore
    from ps2f.pipeline import load_inputs, run_genotypes, run_phenotypes, run_simulate, write_table
    from ps2f.pipeline.baselines import run_baseline
    from ps2f.pipeline.evaluate import run_window_coverage

    cfg = {
        "name": "t",
        "contigs": ["sim1"],
        "simulate": {"enabled": True, "n_individuals": 80, "n_genes": 12, "seed": 5,
                     "causal_radius_bp": 300},
        "baselines": {"cis_window_bp": 1000, "cis_window_anchor": "tss",
                      "elastic_net": {"n_outer_folds": 0, "n_folds": 5}},
        "s2f": {"window_bp": 512},
    }  # fmt: skip
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
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
    write_table(lead, tmp_path / "lead.parquet")
    out = {k: str(tmp_path / f"en.{k}") for k in ("parquet", "tsv", "db", "f.db", "cov.txt.gz")}
    run_baseline("elastic_net", ph["genes"], ph["individuals"], ph["expression"],
                 [str(store_path)], cfg["baselines"], 1, out["parquet"], out["tsv"],
                 out["db"], out["f.db"], out["cov.txt.gz"], run_name="t")  # fmt: skip
    # 4096 bp holds the whole TSS +- 1 kb cis-window; 640 bp the causal region TSS +- 300 bp
    windows = {"whole": 4096, "causal": 640, "narrow": 8}
    run_window_coverage(ph["genes"], str(tmp_path / "lead.parquet"), out["db"],
                        out["cov.txt.gz"], windows, {"eqtl_alpha": 0.05},
                        str(tmp_path / "wc.parquet"), str(tmp_path / "wc.csv"))  # fmt: skip
    cov = pd.read_parquet(tmp_path / "wc.parquet")
    assert len(cov) == 3 * len(genes)
    by = {m: sub.set_index("gene") for m, sub in cov.groupby("model")}
    whole, causal, narrow = by["whole"], by["causal"], by["narrow"]
    has_model = whole["elastic_net_share_in_window"].notna()
    assert has_model.sum() >= 8 and whole["egene"].sum() >= 8
    # a window holding every variant any model saw: coverage 1
    assert whole["lead_eqtl_in_window"].dropna().all()
    assert np.allclose(whole.loc[has_model, "elastic_net_share_in_window"], 1.0)
    # leads that are planted causal variants (VCF positions, 1-based) all lie in the 640-bp
    # window, and almost none in an 8-bp one
    truth = pd.read_parquet(sim / "truth_variants.parquet")
    causal_ids = set(truth.loc[truth["role"] != "neutral", "id"])
    is_causal = causal["lead_variant_id"].isin(causal_ids) & causal["egene"]
    assert is_causal.sum() >= 6
    assert causal.loc[is_causal, "lead_eqtl_in_window"].all()
    assert (causal.loc[is_causal, "lead_eqtl_tss_offset_bp"].abs() <= 300).all()
    assert narrow.loc[is_causal, "lead_eqtl_in_window"].mean() <= 0.2
    assert narrow["elastic_net_share_in_window"].median() < 0.2
    assert causal["elastic_net_share_in_window"].median() > narrow[
        "elastic_net_share_in_window"
    ].median()
    assert pd.read_csv(tmp_path / "wc.csv").shape == cov.shape


def test_plot_window_coverage(tmp_path):
    from ps2f.plots import plot_window_coverage

    genes = _genes(["+", "+", "-", "+"])
    lead = _lead(genes, [TSS, TSS + 5000, None, TSS + 1], [0.001, 0.01, np.nan, 0.5])
    cov = window_coverage(genes, lead, {"p_model": 1024, "r_model": 1024})
    names = ["G0", "G1", "G2", "G3"]
    metrics = pd.concat(
        [
            _metrics_rows(m, c, names).assign(value=v)
            for m, v in (("p_model", [0.1, -0.2, 0.0, 0.3]), ("elastic_net", [0.5, 0.6, 0.1, 0]))
            for c in (TH, HH)
        ],
        ignore_index=True,
    )
    fig = plot_window_coverage(metrics, cov, tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 5000
    axes = fig.get_axes()
    assert len(axes) == 2  # p_model x 2 held-out-individual cells; r_model has no metrics
    text = axes[0].texts[0].get_text()
    assert "inside: n=1, median r 0.10 (EN 0.50)" in text
    assert "outside: n=1, median r -0.20 (EN 0.60)" in text
    assert "not eGene: n=2" in text
    assert "1,024-bp window" in axes[0].get_title()
    fig = plot_window_coverage(metrics.query("model != 'elastic_net'"), cov, tmp_path / "x.svg")
    assert "not in the metrics table" in fig.get_axes()[0].texts[0].get_text()
