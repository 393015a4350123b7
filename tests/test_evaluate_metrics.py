"""Metrics against scipy and hand computations."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ps2f.evaluation import (
    ALL_GENES,
    COMPARISON_COLUMNS,
    PER_GENE_METRICS,
    SUMMARY_STATISTICS,
    bh_fdr,
    compare_models,
    cross_gene_metrics,
    direction_odds_ratio,
    per_gene_metrics,
    permutation_metrics,
    read_predictions,
    summarize,
)
from ps2f.schema import METRIC_COLUMNS, SUMMARY_COLUMNS, cell_label

TT = cell_label("train", "train")
TH = cell_label("train", "heldout")
HH = cell_label("heldout", "heldout")


def _pred(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _gene(model, gene, obs, pred, gene_set="heldout", individual_set="heldout", start=0):
    return [
        {
            "model": model,
            "gene": gene,
            "individual": f"ind{start + i}",
            "gene_set": gene_set,
            "individual_set": individual_set,
            "observed": o,
            "predicted": p,
        }
        for i, (o, p) in enumerate(zip(obs, pred, strict=True))
    ]


def _wide(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics.pivot(index=["model", "cell", "gene"], columns="metric", values="value")


def test_known_r_and_layout():
    # r = 1, r = -1 and a hand-made r = 0 (x symmetric, y = x**2)
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    rows = (
        _gene("m", "g_pos", x, 3 * x + 1)
        + _gene("m", "g_neg", x, -x)
        + _gene("m", "g_zero", x, x**2)
    )
    met = per_gene_metrics(_pred(rows))
    assert list(met.columns) == list(METRIC_COLUMNS)
    assert len(met) == 3 * len(PER_GENE_METRICS)
    assert set(met["metric"]) == set(PER_GENE_METRICS)
    w = _wide(met)
    assert w.loc[("m", HH, "g_pos"), "pearson_r"] == pytest.approx(1.0)
    assert w.loc[("m", HH, "g_neg"), "pearson_r"] == pytest.approx(-1.0)
    assert w.loc[("m", HH, "g_zero"), "pearson_r"] == pytest.approx(0.0, abs=1e-12)
    assert w.loc[("m", HH, "g_zero"), "pearson_p"] == pytest.approx(1.0)
    assert w.loc[("m", HH, "g_pos"), "pearson_p"] == pytest.approx(0.0, abs=1e-12)
    assert (w["n"] == 5).all()


def test_matches_scipy_random():
    rng = np.random.default_rng(1)
    rows = []
    expected = {}
    for m in ("a", "b"):
        for g in range(6):
            n = int(rng.integers(4, 30))
            obs = rng.normal(size=n)
            pred = 0.4 * obs + rng.normal(size=n)
            rows += _gene(m, f"g{g}", obs, pred)
            expected[(m, HH, f"g{g}")] = (stats.pearsonr(pred, obs), stats.spearmanr(pred, obs), n)
    w = _wide(per_gene_metrics(_pred(rows)))
    for key, (pr, sr, n) in expected.items():
        assert w.loc[key, "pearson_r"] == pytest.approx(pr.statistic, rel=1e-10)
        assert w.loc[key, "pearson_p"] == pytest.approx(pr.pvalue, rel=1e-8)
        assert w.loc[key, "spearman_rho"] == pytest.approx(sr.statistic, rel=1e-10)
        assert w.loc[key, "spearman_p"] == pytest.approx(sr.pvalue, rel=1e-8)
        assert w.loc[key, "n"] == n


def test_spearman_ties():
    obs = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0, 0.5])
    pred = np.array([0.1, 0.3, 0.3, 0.2, 0.9, 0.4, 0.9, 0.1])
    w = _wide(per_gene_metrics(_pred(_gene("m", "g", obs, pred))))
    sr = stats.spearmanr(pred, obs)
    assert w.loc[("m", HH, "g"), "spearman_rho"] == pytest.approx(sr.statistic, rel=1e-12)
    assert w.loc[("m", HH, "g"), "spearman_p"] == pytest.approx(sr.pvalue, rel=1e-10)
    # with ties, rho differs from the Pearson r of raw values and from the no-tie formula
    d = stats.rankdata(pred, method="ordinal") - stats.rankdata(obs, method="ordinal")
    naive = 1 - 6 * (d**2).sum() / (len(d) * (len(d) ** 2 - 1))
    assert abs(w.loc[("m", HH, "g"), "spearman_rho"] - naive) > 1e-3


def test_constant_and_too_few_are_nan_and_logged(caplog):
    x = np.arange(5.0)
    rows = (
        _gene("m", "const_pred", x, np.full(5, 2.0))
        + _gene("m", "const_pred2", x, np.full(5, 0.0))
        + _gene("m", "const_obs", np.full(5, 0.1), x)
        + _gene("m", "two", x[:2], x[:2])
        + _gene("m", "ok", x, x[::-1] + 0.01 * x**2)
    )
    with caplog.at_level(logging.WARNING, logger="ps2f.evaluation.metrics"):
        met = per_gene_metrics(_pred(rows))
    w = _wide(met)
    for g in ("const_pred", "const_pred2", "const_obs", "two"):
        for metric in ("pearson_r", "pearson_p", "spearman_rho", "spearman_p"):
            assert np.isnan(w.loc[("m", HH, g), metric]), (g, metric)
    assert w.loc[("m", HH, "two"), "n"] == 2
    assert w.loc[("m", HH, "const_pred"), "n"] == 5
    assert np.isfinite(w.loc[("m", HH, "ok"), "pearson_r"])
    # one line per reason, with counts, not one per gene
    msgs = [r.getMessage() for r in caplog.records]
    const_pred = [m for m in msgs if "predictions constant" in m]
    assert len(const_pred) == 1 and "for 2 gene(s)" in const_pred[0]
    assert f"model=m cell={HH}: 2" in const_pred[0]
    assert sum("observed expression constant" in m for m in msgs) == 1
    assert sum("fewer than min_individuals=3" in m and "for 1 gene(s)" in m for m in msgs) == 1


def test_min_individuals_argument():
    x = np.arange(4.0)
    rows = _gene("m", "g", x, x + np.array([0.0, 0.3, -0.2, 0.1]))
    assert np.isnan(_wide(per_gene_metrics(_pred(rows), min_individuals=5))["pearson_r"].iloc[0])
    assert np.isfinite(_wide(per_gene_metrics(_pred(rows), min_individuals=4))["pearson_r"].iloc[0])
    with pytest.raises(ValueError, match="min_individuals"):
        per_gene_metrics(_pred(rows), min_individuals=2)


def test_nan_rows_dropped_and_counted(caplog):
    obs = np.array([1.0, 2.0, np.nan, 4.0, 3.0, 7.0])
    pred = np.array([1.5, 1.0, 9.0, 4.5, np.inf, 6.0])
    with caplog.at_level(logging.WARNING, logger="ps2f.evaluation.metrics"):
        w = _wide(per_gene_metrics(_pred(_gene("m", "g", obs, pred))))
    keep = np.isfinite(obs) & np.isfinite(pred)
    assert w.loc[("m", HH, "g"), "n"] == 4
    assert w.loc[("m", HH, "g"), "pearson_r"] == pytest.approx(
        stats.pearsonr(pred[keep], obs[keep]).statistic, rel=1e-12
    )
    assert w.loc[("m", HH, "g"), "spearman_rho"] == pytest.approx(
        stats.spearmanr(pred[keep], obs[keep]).statistic, rel=1e-12
    )
    assert any("dropped 2 row(s)" in r.getMessage() for r in caplog.records)


def test_gene_with_no_usable_row_kept_with_n_zero():
    rows = _gene("m", "g", [np.nan] * 4, [1.0, 2.0, 3.0, 4.0]) + _gene(
        "m", "h", [1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0]
    )
    w = _wide(per_gene_metrics(_pred(rows)))
    assert w.loc[("m", HH, "g"), "n"] == 0
    assert np.isnan(w.loc[("m", HH, "g"), "pearson_r"])


def test_cells_separated():
    # the same gene, training individuals (perfect positive) and held-out individuals (negative)
    x = np.arange(6.0)
    rows = _gene("m", "g", x, x, gene_set="train", individual_set="train") + _gene(
        "m", "g", x, -x + np.array([0, 0.5, 0, 0.2, 0, 0]), "train", "heldout", start=100
    )
    met = per_gene_metrics(_pred(rows))
    r = met.loc[met["metric"] == "pearson_r"]
    assert list(r["cell"]) == [TT, TH]  # two rows, cells in schema order
    assert r["value"].iloc[0] == pytest.approx(1.0)
    assert r["value"].iloc[1] < -0.9
    assert (met.loc[met["metric"] == "n", "value"] == 6).all()


def test_models_sorted_and_separated():
    x = np.arange(5.0)
    rows = _gene("z_model", "g", x, x) + _gene("a_model", "g", x, -x)
    met = per_gene_metrics(_pred(rows))
    r = met.loc[met["metric"] == "pearson_r"].set_index("model")["value"]
    assert list(r.index) == ["a_model", "z_model"]
    assert r["a_model"] == pytest.approx(-1.0) and r["z_model"] == pytest.approx(1.0)


def test_cross_gene_uses_gene_means():
    rng = np.random.default_rng(3)
    rows, means_obs, means_pred = [], [], []
    for g in range(5):
        n = 3 + 2 * g  # unequal numbers of individuals: sums would give another r
        obs = g + rng.normal(size=n)
        pred = rng.normal(size=n) + (g % 3)
        rows += _gene("m", f"g{g}", obs, pred)
        means_obs.append(obs.mean())
        means_pred.append(pred.mean())
    # an extra gene whose only rows are NaN is ignored
    rows += _gene("m", "g_nan", [np.nan] * 4, [1.0] * 4)
    cg = cross_gene_metrics(_pred(rows))
    assert list(cg.columns) == list(METRIC_COLUMNS)
    assert set(cg["gene"]) == {ALL_GENES}
    vals = cg.set_index("metric")["value"]
    assert vals["cross_gene_pearson_r"] == pytest.approx(
        np.corrcoef(means_pred, means_obs)[0, 1], rel=1e-12
    )
    assert vals["cross_gene_n"] == 5


def test_cross_gene_too_few_genes_nan():
    rows = _gene("m", "g0", [1.0, 2.0], [1.0, 3.0]) + _gene("m", "g1", [3.0, 4.0], [0.0, 1.0])
    vals = cross_gene_metrics(_pred(rows)).set_index("metric")["value"]
    assert np.isnan(vals["cross_gene_pearson_r"])
    assert vals["cross_gene_n"] == 2


def _metrics(model, cell, r, p):
    rows = []
    for i, (ri, pi) in enumerate(zip(r, p, strict=True)):
        rows.append((model, cell, f"g{i}", "pearson_r", ri))
        rows.append((model, cell, f"g{i}", "pearson_p", pi))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _stat(summary, stat, model="m", cell=HH):
    sel = summary.loc[
        (summary["model"] == model) & (summary["cell"] == cell) & (summary["statistic"] == stat)
    ]
    assert len(sel) == 1
    return sel.iloc[0]


def test_summarize_by_hand():
    r = [0.5, -0.2, 0.1, np.nan, 0.3, 0.05]
    p = [0.01, 0.02, 0.5, np.nan, 0.03, 0.2]
    s = summarize(_metrics("m", HH, r, p), alpha=0.05, n_boot=200)
    assert list(s.columns) == list(SUMMARY_COLUMNS)
    med = _stat(s, "median_r")
    assert med["estimate"] == pytest.approx(0.1)  # median of 0.5, -0.2, 0.1, 0.3, 0.05
    assert med["n_genes"] == 5
    frac = _stat(s, "frac_positive")
    assert frac["estimate"] == pytest.approx(4 / 5)
    # significant: 0.5 (+), -0.2 (-), 0.3 (+)
    da = _stat(s, "direction_accuracy_nominal")
    assert da["estimate"] == pytest.approx(2 / 3)
    assert da["n_genes"] == 3
    ns = _stat(s, "n_significant")
    assert ns["estimate"] == 3 and ns["n_genes"] == 5
    # a stricter alpha keeps only the first gene
    s2 = summarize(_metrics("m", HH, r, p), alpha=0.015, n_boot=0)
    assert _stat(s2, "direction_accuracy_nominal")["estimate"] == 1.0
    assert _stat(s2, "n_significant")["estimate"] == 1
    assert np.isnan(_stat(s2, "median_r")["ci_low"])  # n_boot=0: no CI


def test_summarize_no_significant_gene():
    s = summarize(_metrics("m", HH, [0.1, -0.1, 0.2], [0.5, 0.6, 0.7]), n_boot=50)
    da = _stat(s, "direction_accuracy_nominal")
    assert np.isnan(da["estimate"]) and da["n_genes"] == 0
    assert _stat(s, "n_significant")["estimate"] == 0


def test_summarize_all_nan_model():
    s = summarize(_metrics("m", HH, [np.nan] * 3, [np.nan] * 3), n_boot=50)
    for stat in ("median_r", "frac_positive", "direction_accuracy_nominal"):
        row = _stat(s, stat)
        assert np.isnan(row["estimate"]) and row["n_genes"] == 0
    # statistics whose inputs (perm_fdr, lead_direction_correct, gene means) are absent
    assert not {"direction_accuracy_fdr", "direction_accuracy_variant"} & set(s["statistic"])


def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(7)
    r = np.tanh(rng.normal(0.1, 0.3, size=80))
    p = rng.uniform(size=80) ** 3
    met = pd.concat([_metrics("m", HH, r, p), _metrics("m", TH, r[::-1], p)])
    s1 = summarize(met, n_boot=300, seed=11)
    s2 = summarize(met, n_boot=300, seed=11)
    s3 = summarize(met, n_boot=300, seed=12)
    pd.testing.assert_frame_equal(s1, s2)
    assert not np.allclose(s1["ci_low"], s3["ci_low"], equal_nan=True)
    for _, row in s1.iterrows():
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"], row.to_dict()
        assert row["ci_low"] < row["ci_high"]
    # a group's CI does not depend on the other groups in the table
    alone = summarize(_metrics("m", HH, r, p), n_boot=300, seed=11)
    pd.testing.assert_frame_equal(alone, s1.loc[s1["cell"] == HH].reset_index(drop=True))
    # the interval is sensible: the median's CI is near the normal-theory width
    med = _stat(s1, "median_r")
    assert 0.02 < med["ci_high"] - med["ci_low"] < 0.4


def test_summarize_carries_cross_gene_and_orders():
    met = pd.concat(
        [
            _metrics("b", HH, [0.2, 0.3, -0.1], [0.01, 0.2, 0.04]),
            _metrics("a", TT, [0.2, 0.3, -0.1], [0.01, 0.2, 0.04]),
            pd.DataFrame(
                [
                    ("b", HH, ALL_GENES, "cross_gene_pearson_r", 0.8),
                    ("b", HH, ALL_GENES, "cross_gene_n", 3.0),
                ],
                columns=list(METRIC_COLUMNS),
            ),
        ]
    )
    s = summarize(met, n_boot=20)
    cg = _stat(s, "cross_gene_pearson_r", model="b")
    assert cg["estimate"] == 0.8 and cg["n_genes"] == 3
    assert np.isnan(cg["ci_low"]) and np.isnan(cg["ci_high"])
    assert list(s["model"].unique()) == ["a", "b"]
    # only the statistics whose input metrics are present, in SUMMARY_STATISTICS order
    expected = [
        "median_r",
        "frac_positive",
        "direction_accuracy_nominal",
        "n_significant",
        "cross_gene_pearson_r",
    ]
    assert list(s.loc[s["model"] == "b", "statistic"]) == expected
    assert [x for x in SUMMARY_STATISTICS if x in expected] == expected
    assert s["n_genes"].dtype == np.int64


def test_summarize_rejects_bad_input():
    met = _metrics("m", HH, [0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="repeated"):
        summarize(pd.concat([met, met]))
    with pytest.raises(ValueError, match="missing columns"):
        summarize(met.drop(columns="cell"))
    with pytest.raises(ValueError, match="alpha"):
        summarize(met, alpha=1.5)
    with pytest.raises(ValueError, match="pearson_p"):
        summarize(met.loc[met["metric"] == "pearson_r"])


def test_end_to_end_pipeline_recovers_signal():
    rng = np.random.default_rng(5)
    rows = []
    for g in range(40):
        obs = rng.normal(size=30)
        rows += _gene("good", f"g{g}", obs, obs + 0.5 * rng.normal(size=30))
        rows += _gene("noise", f"g{g}", obs, rng.normal(size=30))
    df = _pred(rows)
    s = summarize(pd.concat([per_gene_metrics(df), cross_gene_metrics(df)]), n_boot=200)
    assert _stat(s, "median_r", model="good")["estimate"] > 0.7
    assert _stat(s, "frac_positive", model="good")["estimate"] == 1.0
    assert abs(_stat(s, "median_r", model="noise")["estimate"]) < 0.15
    assert _stat(s, "n_significant", model="noise")["estimate"] <= 8


def test_read_predictions(tmp_path):
    x = np.arange(4.0)
    a = _pred(_gene("m1", "g", x, x))
    b = _pred(_gene("m2", "g", x, -x))
    a.to_parquet(tmp_path / "a.parquet")
    b.to_parquet(tmp_path / "b.parquet")
    both = read_predictions([tmp_path / "a.parquet", str(tmp_path / "b.parquet")])
    assert len(both) == 8 and set(both["model"]) == {"m1", "m2"}
    a.to_parquet(tmp_path / "a2.parquet")
    with pytest.raises(ValueError, match="repeated"):
        read_predictions([tmp_path / "a.parquet", tmp_path / "a2.parquet"])
    a.drop(columns="observed").to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="bad.parquet"):
        read_predictions([tmp_path / "bad.parquet"])
    with pytest.raises(ValueError, match="no files"):
        read_predictions([])


# --------------------------------------------------------------------------------------------
# gene means, permutation p-values, Benjamini-Hochberg
# --------------------------------------------------------------------------------------------
def test_gene_means_rows():
    obs = np.array([1.0, 2.0, np.nan, 4.0])
    pred = np.array([0.5, 0.1, 0.2, 0.3])
    w = _wide(per_gene_metrics(_pred(_gene("m", "g", obs, pred))))
    keep = np.isfinite(obs)
    assert w.loc[("m", HH, "g"), "mean_observed"] == pytest.approx(obs[keep].mean())
    assert w.loc[("m", HH, "g"), "mean_predicted"] == pytest.approx(pred[keep].mean())


def test_bh_hand_computed():
    # sorted 0.01, 0.04, 0.045 -> m p / i = 0.03, 0.06, 0.045 -> step-up minimum from the top:
    # 0.03, 0.045, 0.045 (the 0.06 is lowered by the larger p-value ranked after it)
    q = bh_fdr(np.array([0.04, 0.045, 0.01]))
    np.testing.assert_allclose(q, [0.045, 0.045, 0.03])
    # NaN is not a test: it stays NaN and m counts the 5 others
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005, 0.2])
    np.testing.assert_allclose(bh_fdr(p), [0.025, 0.05, np.nan, 0.05, 0.025, 0.2], equal_nan=True)
    assert np.isnan(bh_fdr(np.array([np.nan]))).all()
    assert bh_fdr(np.array([0.9, 0.95])).max() <= 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bh_fdr(np.array([0.5, 1.2]))


def test_bh_matches_scipy():
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, size=20)])
    np.testing.assert_allclose(bh_fdr(p), stats.false_discovery_control(p, method="bh"))


def _null_and_signal(n_genes=300, n=30, effect=0.0, seed=0, model="m"):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_genes):
        obs = rng.normal(size=n)
        rows += _gene(model, f"g{g}", obs, effect * obs + rng.normal(size=n))
    return _pred(rows)


def test_permutation_pvalues_uniform_under_null():
    df = _null_and_signal(effect=0.0)
    met = permutation_metrics(df, n_permutations=199, seed=1)
    assert list(met.columns) == list(METRIC_COLUMNS)
    w = _wide(met)
    p = w["perm_p"].to_numpy()
    assert p.min() >= 1 / 200 and p.max() <= 1.0
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.02 < (p < 0.05).mean() < 0.09
    # and close to the exact t-test p-value of r gene by gene (same hypothesis)
    exact = _wide(per_gene_metrics(df))["pearson_p"].to_numpy()
    assert np.corrcoef(p, exact)[0, 1] > 0.97
    # no gene survives BH under the null (or almost none)
    assert (w["perm_fdr"] < 0.05).sum() <= 2


def test_permutation_pvalues_small_under_signal():
    df = _null_and_signal(n_genes=20, effect=1.5, seed=2)
    w = _wide(permutation_metrics(df, n_permutations=500))
    np.testing.assert_allclose(w["perm_p"], 1 / 501)  # no null r reaches the observed r
    assert (w["perm_fdr"] < 0.01).all()


def test_permutation_pvalue_matches_exact_enumeration():
    import itertools

    obs = np.array([0.3, -1.2, 0.8, 2.0, 0.1, -0.4])
    pred = np.array([0.5, -0.3, 0.2, 1.1, -0.6, 0.0])
    r_obs = abs(np.corrcoef(pred, obs)[0, 1])
    null = [abs(np.corrcoef(pred, obs[list(pi)])[0, 1]) for pi in itertools.permutations(range(6))]
    exact = np.mean(np.array(null) >= r_obs - 1e-12)
    w = _wide(permutation_metrics(_pred(_gene("m", "g", obs, pred)), n_permutations=20000))
    assert w["perm_p"].iloc[0] == pytest.approx(exact, abs=0.015)


def test_permutation_undefined_genes_and_mixed_sizes():
    x = np.arange(8.0)
    rows = (
        _gene("m", "const", x, np.full(8, 1.0))
        + _gene("m", "two", x[:2], x[:2])
        + _gene("m", "n8", x, x + np.array([0, 1, 0, 1, 0, 1, 0, 1.0]))
        + _gene("m", "n5", x[:5], x[:5] ** 2)
        + _gene("m", "nan_row", np.r_[x[:5], np.nan], np.r_[x[:5] * 2 + 0.1 * x[:5] ** 2, 1.0])
    )
    w = _wide(permutation_metrics(_pred(rows), n_permutations=99))
    assert np.isnan(w.loc[("m", HH, "const"), "perm_p"])
    assert np.isnan(w.loc[("m", HH, "two"), "perm_fdr"])
    for g in ("n8", "n5", "nan_row"):
        assert 0 < w.loc[("m", HH, g), "perm_p"] <= 0.05, g
    # BH over the 3 defined genes only
    defined = w["perm_p"].dropna()
    np.testing.assert_allclose(w["perm_fdr"].dropna(), bh_fdr(defined.to_numpy()))


def test_permutations_reproducible_and_independent_of_other_models():
    a = _null_and_signal(n_genes=15, effect=0.3, seed=5, model="a")
    b = _null_and_signal(n_genes=15, effect=0.3, seed=6, model="b")
    alone = permutation_metrics(a, n_permutations=99, seed=3)
    both = permutation_metrics(pd.concat([a, b]), n_permutations=99, seed=3)
    pd.testing.assert_frame_equal(alone, both.loc[both["model"] == "a"].reset_index(drop=True))
    other = permutation_metrics(a, n_permutations=99, seed=4)
    assert not np.allclose(alone["value"], other["value"])
    with pytest.raises(ValueError, match="n_permutations"):
        permutation_metrics(a, n_permutations=0)


# --------------------------------------------------------------------------------------------
# summaries of the new metrics
# --------------------------------------------------------------------------------------------
def _long_rows(model, cell, **per_gene):
    rows = []
    for metric, values in per_gene.items():
        for i, v in enumerate(values):
            rows.append((model, cell, f"g{i}", metric, float(v)))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def test_summarize_fdr_set_variant_and_cross_gene_by_hand():
    r = np.array([0.5, -0.3, 0.15, 0.25, -0.1, 0.6, np.nan])
    p = np.array([0.001, 0.01, 0.02, 0.03, 0.5, 0.001, np.nan])
    fdr = np.array([0.01, 0.04, 0.04, 0.2, 0.6, 0.01, np.nan])
    direction = np.array([1, 0, 1, np.nan, 1, 1, np.nan])
    mean_obs = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan])
    mean_pred = np.array([1.5, 1.0, 3.5, 3.0, 6.0, 5.0, np.nan])
    met = _long_rows(
        "m", HH, pearson_r=r, pearson_p=p, spearman_rho=r * 0.9, perm_fdr=fdr,
        lead_direction_correct=direction, mean_observed=mean_obs, mean_predicted=mean_pred,
    )  # fmt: skip
    s = summarize(met, alpha=0.05, fdr=0.05, set_r_threshold=0.2, n_boot=300)
    # FDR < 0.05: genes 0 (+), 1 (-), 2 (+), 5 (+)
    da = _stat(s, "direction_accuracy_fdr")
    assert da["estimate"] == pytest.approx(3 / 4) and da["n_genes"] == 4
    assert _stat(s, "n_significant_fdr")["estimate"] == 4
    # set: FDR < 0.05 and |r| > 0.2: genes 0 (+), 1 (-), 5 (+)
    st = _stat(s, "direction_accuracy_set")
    assert st["estimate"] == pytest.approx(2 / 3) and st["n_genes"] == 3
    assert _stat(s, "n_set")["estimate"] == 3
    # variant level: 5 defined directions, 4 correct
    dv = _stat(s, "direction_accuracy_variant")
    assert dv["estimate"] == pytest.approx(4 / 5) and dv["n_genes"] == 5
    assert dv["ci_low"] <= dv["estimate"] <= dv["ci_high"]
    cg = _stat(s, "cross_gene_pearson_r")
    assert cg["estimate"] == pytest.approx(np.corrcoef(mean_pred[:6], mean_obs[:6])[0, 1])
    assert cg["n_genes"] == 6
    assert cg["ci_low"] < cg["estimate"] < cg["ci_high"]  # a bootstrap CI now
    rho = _stat(s, "median_spearman_rho")
    assert rho["estimate"] == pytest.approx(np.median(r[:6] * 0.9))
    # a stricter set threshold keeps genes 0 and 5 only
    s2 = summarize(met, set_r_threshold=0.55, n_boot=0)
    assert _stat(s2, "n_set")["estimate"] == 1
    assert _stat(s2, "direction_accuracy_set")["estimate"] == 1.0
    with pytest.raises(ValueError, match="fdr"):
        summarize(met, fdr=0.0)
    with pytest.raises(ValueError, match="set_r_threshold"):
        summarize(met, set_r_threshold=1.0)


def test_summarize_no_fdr_significant_gene_is_nan():
    met = _long_rows(
        "m", HH, pearson_r=[0.1, 0.2, -0.1], pearson_p=[0.5, 0.4, 0.3], perm_fdr=[0.6, 0.6, 0.6]
    )
    s = summarize(met, n_boot=20)
    for stat in ("direction_accuracy_fdr", "direction_accuracy_set"):
        row = _stat(s, stat)
        assert np.isnan(row["estimate"]) and row["n_genes"] == 0 and np.isnan(row["ci_low"])
    assert _stat(s, "n_significant_fdr")["estimate"] == 0


def test_full_pipeline_on_permutations_sane():
    df = pd.concat(
        [
            _null_and_signal(60, effect=0.0, seed=8),
            _null_and_signal(60, effect=1.0, seed=9, model="s"),
        ]
    )
    met = pd.concat([per_gene_metrics(df), permutation_metrics(df, n_permutations=199)])
    s = summarize(met, n_boot=100)
    assert _stat(s, "n_significant_fdr", model="s")["estimate"] == 60
    assert _stat(s, "direction_accuracy_fdr", model="s")["estimate"] == 1.0
    assert _stat(s, "n_significant_fdr", model="m")["estimate"] <= 2


# --------------------------------------------------------------------------------------------
# model vs model
# --------------------------------------------------------------------------------------------
def test_compare_models_against_scipy():
    rng = np.random.default_rng(11)
    n = 25
    r_ref = np.tanh(rng.normal(0.3, 0.2, size=n))
    r_mod = r_ref + rng.normal(0.05, 0.1, size=n)
    r_mod[3] = r_ref[3]  # a tie: dropped by the Wilcoxon test and the sign test
    ref_dir = (rng.uniform(size=n) < 0.5).astype(float)
    mod_dir = (rng.uniform(size=n) < 0.8).astype(float)
    met = pd.concat(
        [
            _long_rows("ref", TH, pearson_r=r_ref, lead_direction_correct=ref_dir),
            _long_rows("mod", TH, pearson_r=r_mod, lead_direction_correct=mod_dir),
            # a gene only the model has is not a shared gene
            pd.DataFrame([("mod", TH, "extra", "pearson_r", 0.9)], columns=list(METRIC_COLUMNS)),
        ]
    )
    c = compare_models(met, n_boot=200)
    assert list(c.columns) == list(COMPARISON_COLUMNS)
    row = c.query("model == 'mod' and comparator == 'ref'").set_index("statistic")
    delta = r_mod - r_ref
    assert row.loc["median_delta_r", "estimate"] == pytest.approx(np.median(delta))
    assert row.loc["median_delta_r", "p_value"] == pytest.approx(stats.wilcoxon(delta).pvalue)
    assert row.loc["median_delta_r", "n_genes"] == n
    lo, hi = row.loc["median_delta_r", ["ci_low", "ci_high"]]
    assert lo <= np.median(delta) <= hi
    k = int((delta > 0).sum())
    assert row.loc["frac_genes_better", "estimate"] == pytest.approx(k / n)
    assert row.loc["frac_genes_better", "p_value"] == pytest.approx(
        stats.binomtest(k, n - 1).pvalue
    )
    mc, rc = int(mod_dir.sum()), int(ref_dir.sum())
    table = [[mc, n - mc], [rc, n - rc]]
    orr = stats.contingency.odds_ratio(table, kind="conditional")
    ci = orr.confidence_interval(0.95)
    o = row.loc["direction_odds_ratio_variant"]
    assert o["estimate"] == pytest.approx(orr.statistic)
    assert (o["ci_low"], o["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert o["p_value"] == pytest.approx(stats.fisher_exact(table).pvalue)
    assert o["test"] == "fisher_exact"
    # the reverse pair is the mirror image
    rev = c.query("model == 'ref' and comparator == 'mod'").set_index("statistic")
    assert rev.loc["median_delta_r", "estimate"] == pytest.approx(np.median(-delta))
    assert rev.loc["direction_odds_ratio_variant", "estimate"] == pytest.approx(
        1 / orr.statistic, rel=1e-4
    )


def test_direction_odds_ratio_hand_table():
    # model right on 8 of 10 genes, comparator on 4 of 10: sample OR = (8*6)/(2*4) = 6
    m = np.array([1] * 8 + [0] * 2, dtype=bool)
    r = np.array([1] * 4 + [0] * 6, dtype=bool)
    est, lo, hi, p = direction_odds_ratio(m, r)
    assert lo < est < hi and 3 < est < 7  # conditional MLE is shrunk towards 1 from 6
    assert p == pytest.approx(stats.fisher_exact([[8, 2], [4, 6]]).pvalue)
    assert np.isnan(direction_odds_ratio(np.array([], bool), np.array([], bool))[0])


def test_compare_models_all_equal_and_no_shared_gene():
    met = pd.concat(
        [
            _long_rows("a", HH, pearson_r=[0.1, 0.2, 0.3]),
            _long_rows("b", HH, pearson_r=[0.1, 0.2, 0.3]),
            _long_rows("c", TT, pearson_r=[0.1, 0.2, 0.3]),
        ]
    )
    c = compare_models(met, n_boot=50)
    ab = c.query("model == 'a' and comparator == 'b'").set_index("statistic")
    assert ab.loc["median_delta_r", "estimate"] == 0.0
    assert np.isnan(ab.loc["median_delta_r", "p_value"])  # every difference is zero
    assert set(c["cell"]) == {HH}  # model c alone in its cell: nothing to compare
