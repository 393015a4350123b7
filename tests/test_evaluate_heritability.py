"""Cis-heritability by Haseman-Elston regression, and each model's fraction of the ceiling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ps2f.evaluation.heritability import (
    CEILING_STATISTICS,
    ceiling_metrics,
    he_regression,
    summarize_ceiling,
)


def _simulate(rng, n, m, h2):
    """Genotypes (n, m) and a phenotype whose share of variance from them is exactly h2."""
    freq = rng.uniform(0.05, 0.5, m)
    x = rng.binomial(2, freq, (n, m)).astype(np.float64)
    g = ((x - x.mean(0)) / x.std(0)) @ rng.normal(0.0, 1.0, m)
    g = (g - g.mean()) / g.std()
    return x, math.sqrt(h2) * g + math.sqrt(1.0 - h2) * rng.normal(size=n)


def test_he_regression_is_the_pairs_regression_and_its_jackknife():
    rng = np.random.default_rng(0)
    x, y = _simulate(rng, 40, 15, 0.5)
    x[:, 3] = 1.0  # a monomorphic variant: dropped
    h2, se, se_ols = he_regression(x, y)
    # brute force over the pairs i < j, the GRM of the polymorphic variants (GCTA's scaling)
    poly = np.delete(x, 3, axis=1)
    f = poly.mean(0) / 2
    z = (poly - 2 * f) / np.sqrt(2 * f * (1 - f))
    k = z @ z.T / z.shape[1]
    ys = (y - y.mean()) / y.std()
    prod = np.outer(ys, ys)
    iu = np.triu_indices(40, 1)
    fit = stats.linregress(k[iu], prod[iu])
    assert h2 == pytest.approx(fit.slope, rel=1e-10)
    assert se_ols == pytest.approx(fit.stderr, rel=1e-10)
    reps = []
    for drop in range(40):
        keep = np.arange(40) != drop
        kk, pp = k[np.ix_(keep, keep)], prod[np.ix_(keep, keep)]
        ju = np.triu_indices(39, 1)
        reps.append(stats.linregress(kk[ju], pp[ju]).slope)
    reps = np.asarray(reps)
    assert se == pytest.approx(math.sqrt(39 / 40 * ((reps - reps.mean()) ** 2).sum()), rel=1e-9)


@pytest.mark.parametrize("h2_true", [0.0, 0.3, 0.6])
def test_he_regression_recovers_a_planted_heritability(h2_true):
    rng = np.random.default_rng(int(h2_true * 10) + 1)
    est = np.array([he_regression(*_simulate(rng, 300, 40, h2_true)) for _ in range(20)])
    h2, se = est[:, 0], est[:, 1]
    # unbiased: the mean of 20 genes within 3 of its standard errors of the truth
    assert abs(h2.mean() - h2_true) < 3 * h2.std(ddof=1) / math.sqrt(20)
    # the jackknife SE covers: most genes within 2 SE of the truth, and it is not the OLS SE's
    # understatement (the spread over genes is not larger than the typical SE)
    assert np.mean(np.abs(h2 - h2_true) < 2 * se) >= 0.85
    assert h2.std(ddof=1) < 1.2 * np.median(se)
    assert np.median(est[:, 2]) < np.median(se)


def test_he_regression_undefined_cases():
    rng = np.random.default_rng(1)
    x, y = _simulate(rng, 30, 5, 0.5)
    assert all(math.isnan(v) for v in he_regression(x[:2], y[:2]))  # n < 3
    assert all(math.isnan(v) for v in he_regression(np.ones((30, 4)), y))  # monomorphic
    assert all(math.isnan(v) for v in he_regression(x, np.ones(30)))  # constant phenotype
    with pytest.raises(ValueError, match="finite"):
        he_regression(x, np.where(np.arange(30) == 4, np.nan, y))
    with pytest.raises(ValueError, match="must be"):
        he_regression(x, y[:10])


def test_fraction_of_the_ceiling_per_gene_and_per_cell():
    metrics = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "cell": ["train_genes|heldout_individuals"] * 4,
            "gene": ["a", "b", "c", "d"],
            "metric": "pearson_r",
            "value": [0.4, 0.3, 0.2, np.nan],
        }
    )
    h2 = pd.DataFrame({"gene": ["a", "b", "c", "d"], "cis_h2": [0.64, -0.1, 0.25, 0.5]})
    rows = ceiling_metrics(metrics, h2)
    frac = rows.query("metric == 'fraction_of_ceiling'").set_index("gene")["value"]
    assert frac["a"] == pytest.approx(0.5)
    assert frac["c"] == pytest.approx(0.4)
    assert math.isnan(frac["b"]) and math.isnan(frac["d"])  # h2 <= 0; r undefined
    summary = summarize_ceiling(pd.concat([metrics, rows]), n_boot=50, seed=0)
    est = summary.set_index("statistic")["estimate"]
    assert list(summary["statistic"]) == list(CEILING_STATISTICS)
    assert est["median_fraction_of_ceiling"] == pytest.approx(0.45)
    assert est["median_cis_h2"] == pytest.approx(np.median([0.64, -0.1, 0.25, 0.5]))
    assert summary.set_index("statistic").loc["median_fraction_of_ceiling", "n_genes"] == 2
