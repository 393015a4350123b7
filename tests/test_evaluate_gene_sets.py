"""Nonlinear genes (Shen 2026) and the gene-level direction odds ratio.

* the nonlinear set ranks RandomForest's out-of-bag r minus ElasticNet's nested-CV r, keeps
  positive margins only, top N, ties by gene ID; genes without both estimates are not ranked;
* it is chosen without held-out individuals: through the pipeline on a simulated cohort,
  shuffling every non-training individual's expression changes neither baseline's estimates
  nor the set;
* its cells in the summary and comparisons equal the statistics recomputed on those genes;
* the gene-level direction odds ratio equals scipy's on the 2 x 2 table of significant genes
  counted by hand, and the evaluate rule's outputs hold both.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import genotypes_params, phenotypes_params
from scipy import stats
from test_train_pipeline import make_config

from ps2f.evaluation import compare_models, summarize
from ps2f.evaluation.gene_sets import (
    NONLINEAR,
    NONLINEAR_COLUMNS,
    TOP_ELASTIC_NET_COLUMNS,
    gene_set_metrics,
    nonlinear_genes,
    subset_cell,
    top_elastic_net_genes,
)
from ps2f.genome.store import load_stores
from ps2f.pipeline import run_genotypes, run_phenotypes, run_simulate
from ps2f.pipeline.baselines import baseline_gene_inputs, run_baseline
from ps2f.pipeline.common import load_inputs, read_table, write_table
from ps2f.pipeline.evaluate import run_nonlinear_genes
from ps2f.schema import METRIC_COLUMNS, cell_label

TH = cell_label("train", "heldout")
HH = cell_label("heldout", "heldout")


def _summaries(rf: dict, en: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.DataFrame({"gene": list(en), "rho_avg": list(en.values()), "note": ""}),
        pd.DataFrame({"gene": list(rf), "oob_r": list(rf.values())}),
    )


def test_nonlinear_genes_rank_positive_margins(caplog):
    en, rf = _summaries(
        rf={"a": 0.5, "b": 0.4, "c": 0.3, "d": 0.2, "e": np.nan, "f": 0.9, "g": 0.35},
        en={"a": 0.1, "b": 0.2, "c": 0.1, "d": 0.4, "e": 0.0, "f": np.nan, "h": 0.5, "g": 0.15},
    )
    with caplog.at_level(logging.INFO):
        out = nonlinear_genes(en, rf, top_n=3)
    assert list(out.columns) == list(NONLINEAR_COLUMNS)
    # margins: a 0.4, b 0.2, c 0.2, g 0.2, d -0.2; e, f, h lack an estimate
    assert out["gene"].tolist() == ["a", "b", "c"]  # b, c, g tie: by gene ID
    assert out["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(out["margin"], [0.4, 0.2, 0.2])
    assert "3 without" in caplog.text
    # fewer positive margins than asked: all of them, with a warning
    with caplog.at_level(logging.WARNING):
        out = nonlinear_genes(en, rf, top_n=10)
    assert out["gene"].tolist() == ["a", "b", "c", "g"] and "only 4 genes" in caplog.text
    assert nonlinear_genes(en, rf, top_n=0).empty
    with pytest.raises(ValueError, match="oob_r"):
        nonlinear_genes(en, rf.rename(columns={"oob_r": "x"}), top_n=3)
    with pytest.raises(ValueError, match="appears twice"):
        nonlinear_genes(pd.concat([en, en]), rf, top_n=3)


def _long(model, cell, genes, **per_gene):
    rows = [
        (model, cell, g, metric, float(v))
        for metric, values in per_gene.items()
        for g, v in zip(genes, values, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def test_top_elastic_net_genes_rank_the_nested_cv_r():
    """SAGE-net's selection: the best ElasticNet genes by training-individual nested-CV r."""
    en = pd.DataFrame(
        {"gene": ["a", "b", "c", "d", "e"], "rho_avg": [0.3, np.nan, 0.5, 0.3, -0.1]}
    )
    top = top_elastic_net_genes(en, top_n=3)
    assert list(top.columns) == list(TOP_ELASTIC_NET_COLUMNS)
    assert top["gene"].tolist() == ["c", "a", "d"]  # ties by gene ID, NaN never ranked
    assert top["rank"].tolist() == [1, 2, 3]
    assert top_elastic_net_genes(en, top_n=10)["gene"].tolist() == ["c", "a", "d", "e"]
    assert top_elastic_net_genes(en, top_n=0).empty
    with pytest.raises(ValueError, match="top_elastic_net_n"):
        top_elastic_net_genes(en, top_n=-1)
    with pytest.raises(ValueError, match="appears twice"):
        top_elastic_net_genes(pd.concat([en, en.head(1)]), top_n=2)
    with pytest.raises(ValueError, match="rho_avg"):
        top_elastic_net_genes(en.drop(columns="rho_avg"), top_n=2)


def test_gene_level_direction_odds_ratio_against_scipy():
    rng = np.random.default_rng(5)
    n = 60
    genes = [f"g{i}" for i in range(n)]
    r_a = rng.normal(0.2, 0.3, size=n)
    r_b = rng.normal(0.0, 0.3, size=n)
    p_a = rng.uniform(0, 0.2, size=n)
    p_b = rng.uniform(0, 0.2, size=n)
    r_b[0] = np.nan  # a gene without r for b is not shared
    met = pd.concat(
        [
            _long("a", TH, genes, pearson_r=r_a, pearson_p=p_a),
            _long("b", TH, genes, pearson_r=r_b, pearson_p=p_b),
        ]
    )
    c = compare_models(met, n_boot=0, alpha=0.1).set_index(["model", "comparator", "statistic"])
    shared = ~np.isnan(r_b)
    sig_a, sig_b = shared & (p_a < 0.1), shared & (p_b < 0.1)
    table = [
        [int((r_a[sig_a] > 0).sum()), int((r_a[sig_a] < 0).sum())],
        [int((r_b[sig_b] > 0).sum()), int((r_b[sig_b] < 0).sum())],
    ]
    orr = stats.contingency.odds_ratio(table, kind="conditional")
    row = c.loc[("a", "b", "direction_odds_ratio_gene")]
    assert row["estimate"] == pytest.approx(orr.statistic)
    ci = orr.confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["p_value"] == pytest.approx(stats.fisher_exact(table).pvalue)
    assert row["test"] == "fisher_exact" and row["n_genes"] == shared.sum()
    assert row["estimate"] > 1  # a's significant genes are mostly positive, b's are not
    rev = c.loc[("b", "a", "direction_odds_ratio_gene")]
    assert rev["estimate"] == pytest.approx(1 / orr.statistic, rel=1e-4)


def test_gene_set_cells_are_the_statistics_of_those_genes():
    rng = np.random.default_rng(2)
    n = 40
    genes = [f"g{i:02d}" for i in range(n)]
    chosen = genes[::4]
    parts = []
    for model, shift in (("random_forest", 0.2), ("elastic_net", 0.0)):
        for cell in (TH, HH):
            r = rng.normal(shift, 0.2, size=n)
            parts.append(_long(model, cell, genes, pearson_r=r, pearson_p=rng.uniform(size=n)))
    met = pd.concat(parts, ignore_index=True)
    subset = gene_set_metrics(met, chosen, NONLINEAR)
    assert set(subset["cell"]) == {subset_cell(TH, NONLINEAR), subset_cell(HH, NONLINEAR)}
    assert set(subset["gene"]) == set(chosen)
    both = pd.concat([met, subset], ignore_index=True)
    s = summarize(both, n_boot=0)
    # report order: the cells, then each cell's subset in the cells' order
    subsets = [subset_cell(TH, NONLINEAR), subset_cell(HH, NONLINEAR)]
    assert list(dict.fromkeys(s["cell"])) == [TH, HH, *subsets]
    s = s.set_index(["model", "cell", "statistic"])
    for model in ("random_forest", "elastic_net"):
        r = met.query("model == @model and cell == @TH and metric == 'pearson_r'")
        want = r.loc[r["gene"].isin(chosen), "value"].median()
        got = s.loc[(model, subset_cell(TH, NONLINEAR), "median_r")]
        assert got["estimate"] == pytest.approx(want) and got["n_genes"] == len(chosen)
    # the cells of the full gene set are unchanged by the extra rows
    alone = summarize(met, n_boot=0).set_index(["model", "cell", "statistic"])
    pd.testing.assert_frame_equal(s.loc[alone.index], alone)
    c = compare_models(both, n_boot=0)
    cell = subset_cell(HH, NONLINEAR)
    got = c.query("model == 'random_forest' and cell == @cell and statistic == 'median_delta_r'")
    wide = met.query("cell == @HH and metric == 'pearson_r' and gene in @chosen").pivot(
        index="gene", columns="model", values="value"
    )
    assert got["estimate"].iloc[0] == pytest.approx(
        np.median(wide["random_forest"] - wide["elastic_net"])
    )
    assert got["n_genes"].iloc[0] == len(chosen)


# ---------------------------------------------------------------------------------------------
# through the pipeline: no held-out individual in the choice


def test_nonlinear_set_ignores_heldout_individuals(tmp_path):
    cfg = make_config(
        simulate={"n_individuals": 60, "n_genes": 10},
        baselines={
            "cis_window_bp": 1000,
            "elastic_net": {"n_folds": 4, "n_outer_folds": 3},
            "random_forest": {"n_estimators": 30},
        },
    )
    sim = tmp_path / "simulated"
    run_simulate(cfg["simulate"], "sim1", sim)
    tables = [str(tmp_path / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        str(sim / "genotypes.vcf.gz"),
        *tables,
        **phenotypes_params(cfg),
    )
    store = str(tmp_path / "sim1.npz")
    run_genotypes(str(sim / "genotypes.vcf.gz"), str(sim / "reference.fa"), tables[0], tables[1],
                  "sim1", **genotypes_params(cfg), out_store=store,
                  out_stats=str(tmp_path / "sim1.json"))  # fmt: skip
    ind = read_table(tables[1])
    heldout = set(ind.loc[ind["individual_set"] != "train", "individual"])
    assert heldout
    # make three genes nonlinear: overdominance at one cis variant (heterozygotes high), an
    # effect a linear model of allele dosage cannot fit and a forest can
    genes, _, observed = load_inputs(*tables)
    noise = np.random.default_rng(4)
    expr = read_table(tables[2])
    planted = []
    for gene, x, _, _, _ in baseline_gene_inputs(
        genes, np.arange(len(genes)), ind, observed, load_stores([store], phased=False),
        cfg["baselines"],
    ):  # fmt: skip
        het = (x == 1).mean(axis=0)
        if len(planted) < 3 and x.shape[1] and het.max() > 0.3:
            y = 2.0 * (x[:, int(het.argmax())] == 1) + noise.normal(0, 0.3, size=len(ind))
            at = expr["gene"].to_numpy() == gene
            order = pd.Index(ind["individual"]).get_indexer(expr.loc[at, "individual"])
            expr.loc[at, "observed"] = y[order]
            planted.append(gene)
    assert len(planted) == 3
    write_table(expr, tables[2])
    rows = expr["individual"].isin(heldout).to_numpy()
    expr.loc[rows, "observed"] = np.random.default_rng(3).permutation(
        expr.loc[rows, "observed"].to_numpy()
    ) * 4.0
    write_table(expr, str(tmp_path / "moved.parquet"))
    sets = []
    for tag, expression in (("a", tables[2]), ("b", str(tmp_path / "moved.parquet"))):
        for method in ("elastic_net", "random_forest"):
            run_baseline(method, tables[0], tables[1], expression, [store], cfg["baselines"], 1,
                         str(tmp_path / f"{method}_{tag}.parquet"),
                         str(tmp_path / f"{method}_{tag}.tsv"))  # fmt: skip
        out = tmp_path / f"nonlinear_{tag}.csv"
        run_nonlinear_genes(
            str(tmp_path / f"elastic_net_{tag}.tsv"),
            str(tmp_path / f"random_forest_{tag}.tsv"),
            {"nonlinear_top_n": 3},
            str(out),
        )
        sets.append(read_table(out))
    assert sorted(sets[0]["gene"]) == sorted(planted)
    pd.testing.assert_frame_equal(sets[0], sets[1])
    # while the held-out individuals' predictions were evaluated on the moved values
    a = read_table(tmp_path / "random_forest_a.parquet")
    b = read_table(tmp_path / "random_forest_b.parquet")
    held = a["individual"].isin(heldout).to_numpy()
    assert not np.allclose(a.loc[held, "observed"], b.loc[held, "observed"])
