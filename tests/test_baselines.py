"""Tests of the per-gene genotype baselines (ElasticNet, RandomForest) on synthetic dosages.

The glmnet-faithful solver is checked against closed forms (OLS at lambda -> 0, KKT
conditions), against an independent scikit-learn re-derivation of cv.glmnet on the same folds,
and against itself with identical columns merged or not. R glmnet itself is the oracle of
``tests/test_baselines_glmnet.py`` (real data).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import ElasticNet
from sklearn.preprocessing import StandardScaler

from ps2f.baselines import (
    ElasticNetConfig,
    GeneFit,
    RandomForestConfig,
    fit_elastic_net,
    fit_genes,
    fit_random_forest,
)
from ps2f.baselines.elastic_net import (
    PERF_COLUMNS,
    _combine,
    _cv_glmnet,
    _fold_stats,
    balanced_fold_ids,
    predictdb_folds,
)
from ps2f.baselines.gene_fit import NOTE_NO_TRAINING, NOTE_NO_VARIANTS, NOTE_NONE_SELECTED
from ps2f.baselines.glmnet import elastic_net_path, make_design
from ps2f.errors import ConfigError, InputError

N_TRAIN, N_HELDOUT, N_NOISE = 300, 150, 200
CAUSAL = np.array([0, 1, 2])  # column indices of the planted variants
EFFECTS = np.array([0.6, -0.5, 0.4])  # expression units per ALT allele


def _dosages(rng: np.random.Generator, n: int, p: int, lo=0.05, hi=0.5) -> np.ndarray:
    """Independent variants in Hardy-Weinberg equilibrium, ALT frequency in [lo, hi]."""
    freq = rng.uniform(lo, hi, size=p)
    return rng.binomial(2, freq, size=(n, p)).astype(np.float32)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def planted():
    """3 causal variants (h2 ~ 0.6) among 200 noise variants; 300 training + 150 held-out."""
    rng = np.random.default_rng(7)
    n = N_TRAIN + N_HELDOUT
    x = _dosages(rng, n, N_NOISE + CAUSAL.size)
    genetic = x[:, CAUSAL] @ EFFECTS
    noise_sd = np.sqrt(genetic.var() * 0.4 / 0.6)
    y = genetic + rng.normal(0.0, noise_sd, size=n) + 3.0
    train = np.zeros(n, dtype=bool)
    train[:N_TRAIN] = True
    ids = np.array([f"chr1_{1000 + i}_A_G" for i in range(x.shape[1])])
    return x, y, train, ids


@pytest.fixture(scope="module")
def planted_enet(planted):
    x, y, train, ids = planted
    return fit_elastic_net(x, y, train, ids, ElasticNetConfig(), gene="G1")


@pytest.fixture(scope="module")
def planted_rf(planted):
    x, y, train, ids = planted
    return fit_random_forest(x, y, train, ids, RandomForestConfig(n_estimators=100), gene="G1")


# ---------------------------------------------------------------------------------------------
# recovery of planted signal, no signal from noise


def test_enet_recovers_planted_variants(planted, planted_enet):
    x, y, train, ids = planted
    fit = planted_enet
    assert isinstance(fit, GeneFit)
    assert fit.note == ""
    assert fit.n_variants_in_window == x.shape[1]
    assert fit.n_variants_used == x.shape[1]  # all simulated MAFs are >= 0.05
    # the three causal variants carry the three largest weights, with the right sign
    top3 = fit.weights.abs().sort_values(ascending=False).index[:3]
    assert set(top3) == set(ids[CAUSAL])
    np.testing.assert_array_equal(np.sign(fit.weights[ids[CAUSAL]]), np.sign(EFFECTS))
    # shrunk towards zero, but on the dosage scale (per ALT allele), not the standardized one
    ratio = fit.weights[ids[CAUSAL]].to_numpy() / EFFECTS
    assert np.all((ratio > 0.5) & (ratio < 1.1)), ratio
    r_heldout = _pearson(fit.predicted[~train], y[~train])
    assert r_heldout > 0.7
    assert 0.6 < fit.cv_r < 0.9  # inner-CV r tracks the achievable r (sqrt(0.6) ~ 0.77)
    # PredictDB's nested-CV summary: honest and close to the held-out r
    assert set(fit.perf) == set(PERF_COLUMNS)
    assert 0.6 < fit.perf["rho_avg"] < 0.9 and fit.perf["zscore_pval"] < 1e-10
    assert fit.perf["n_snps_in_model"] == len(fit.weights)
    assert fit.perf["rho_avg_squared"] == fit.perf["rho_avg"] ** 2
    assert fit.covariance.shape == (len(fit.weights),) * 2
    cols = pd.Index(ids).get_indexer(fit.weights.index)
    np.testing.assert_allclose(fit.covariance, np.cov(x[train][:, cols].T.astype(float)))
    assert fit.predicted.dtype == np.float64 and fit.predicted.shape == (x.shape[0],)
    assert fit.lambda_min > 0


def test_rf_predicts_planted_signal(planted, planted_rf):
    x, y, train, ids = planted
    fit = planted_rf
    assert fit.weights is None and np.isnan(fit.cv_r) and fit.note == ""
    assert _pearson(fit.predicted[~train], y[~train]) > 0.5


def test_pure_noise_gives_no_heldout_signal(planted):
    x, _, train, ids = planted
    y = np.random.default_rng(11).normal(size=x.shape[0])
    enet = fit_elastic_net(x, y, train, ids, ElasticNetConfig())
    if enet.note == NOTE_NONE_SELECTED:  # the honest outcome: a constant, NaN-r prediction
        assert np.ptp(enet.predicted) == 0
    else:
        assert abs(_pearson(enet.predicted[~train], y[~train])) < 0.3
    rf = fit_random_forest(x, y, train, ids, RandomForestConfig(n_estimators=50))
    assert abs(_pearson(rf.predicted[~train], y[~train])) < 0.3


# ---------------------------------------------------------------------------------------------
# oracles: closed form (OLS), KKT conditions, merged vs unmerged columns, an independent
# cv.glmnet with scikit-learn, PredictDB's fold statistics re-derived with scipy


def _glmnet_lambda_max(x: np.ndarray, y: np.ndarray, alpha: float = 0.5) -> float:
    """lambda_max on the response's scale: max |x_s . (y - mean)| / (n alpha)."""
    return float(np.max(np.abs(StandardScaler().fit_transform(x).T @ (y - y.mean())))) / (
        len(y) * alpha
    )


def test_tiny_lambda_equals_ols_on_dosage_scale():
    """With n >> p and lambda -> 0 the elastic net is OLS; weights must come back per allele."""
    rng = np.random.default_rng(3)
    n, p = 3000, 6
    x = _dosages(rng, n, p).astype(np.float64)
    x[:, 1] = np.clip(x[:, 0] + rng.binomial(1, 0.3, n), 0, 2)  # LD with variant 0
    beta = np.array([0.8, -0.4, 0.0, 0.3, -1.0, 0.6])
    y = 2.0 + x @ beta + rng.normal(0, 0.5, n)
    lam_max = _glmnet_lambda_max(x, y)
    path = elastic_net_path(x, y, lambdas=np.geomspace(lam_max, lam_max * 1e-9, 60), thresh=1e-20)
    ols = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0]
    np.testing.assert_allclose(path.weights(59), ols[1:], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(path.intercept[-1], ols[0], rtol=1e-6)
    # at lambda_max everything is zero (up to rounding: the top variable sits on the boundary)
    np.testing.assert_allclose(path.weights(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(path.intercept[0], y.mean())


@pytest.mark.parametrize("n, p, ratio", [(200, 50, 1e-4), (100, 300, 1e-2), (80, 80, 1e-4)])
def test_lambda_sequence_follows_glmnet(n, p, ratio):
    """glmnet: lambda_max, lambda.min.ratio 1e-2 iff n < p, log-spaced, early stop on dev."""
    rng = np.random.default_rng(n + p)
    x = _dosages(rng, n, p).astype(np.float64)
    y = rng.normal(size=n) + x[:, 0] * 3.0
    path = elastic_net_path(x, y, n_lambdas=100)
    lam = path.lambdas
    assert lam[0] == pytest.approx(_glmnet_lambda_max(x, y), rel=1e-12)
    step = np.log(ratio) / 99
    np.testing.assert_allclose(np.diff(np.log(lam)), step, rtol=1e-9)
    # a truncated path stopped for glmnet's reasons: dev ratio saturated or stalled
    dev = path.dev_ratio
    assert np.all(np.diff(dev) >= -1e-12) and dev[0] == 0
    if lam.size < 100:
        assert dev[-1] > 0.999 or dev[-1] - dev[-2] < 1e-5 * dev[-1]
    assert elastic_net_path(x, np.full(n, 1.5)) is None  # constant response: glmnet errors


def test_merged_identical_columns_give_the_unmerged_solution():
    """Copies share the weight equally and the fit is the one without merging."""
    rng = np.random.default_rng(12)
    n = 150
    base = _dosages(rng, n, 30)
    x = np.column_stack([base, base[:, [0, 0, 5]], base[:, 7:9]])  # 3 copies of v0, 2 of v5...
    y = base[:, 0] * 0.5 + base[:, 5] * 0.3 - base[:, 7] * 0.4 + rng.normal(0, 0.6, n)
    merged = make_design(x, merge_identical=True)
    plain = make_design(x, merge_identical=False)
    assert merged.x.shape[1] == 30 and plain.x.shape[1] == 35
    assert merged.multiplicity[merged.column[0]] == 3
    lam = elastic_net_path(plain, y).lambdas
    a = elastic_net_path(merged, y, lambdas=lam, thresh=1e-16)
    b = elastic_net_path(plain, y, lambdas=lam, thresh=1e-16)
    groups = [[0, 30, 31], [5, 32], [7, 33], [8, 34]]
    for k in (10, 40, len(lam) - 1):
        wa, wb = a.weights(k), b.weights(k)
        single = np.setdiff1d(np.arange(35), np.concatenate(groups))
        np.testing.assert_allclose(wa[single], wb[single], atol=1e-6 * np.abs(wb).max())
        for grp in groups:
            # copies share the weight equally; the unmerged solver approaches the equal split
            # only slowly (the ridge term alone pulls copies together), so compare group sums
            np.testing.assert_allclose(wa[grp], wa[grp[0]])
            assert wa[grp].sum() == pytest.approx(wb[grp].sum(), abs=1e-6 * np.abs(wb).max())
            np.testing.assert_allclose(wb[grp], wa[grp], atol=1e-4 * np.abs(wb).max())
    np.testing.assert_allclose(a.dev_ratio, b.dev_ratio, atol=1e-9)
    np.testing.assert_allclose(a.intercept, b.intercept, atol=1e-8)


def test_enet_solution_satisfies_kkt(planted, planted_enet):
    """Stationarity of glmnet's objective at lambda.min (standardized x and y)."""
    x, y, train, ids = planted
    fit = planted_enet
    xt, yt = x[train].astype(np.float64), y[train]
    xs = StandardScaler().fit_transform(xt)
    sy = yt.std()
    cols = pd.Index(ids).get_indexer(fit.weights.index)
    b = np.zeros(x.shape[1])
    b[cols] = fit.weights.to_numpy() * xt.std(axis=0)[cols] / sy  # standardized coefficients
    resid = (yt - fit.predicted[train]) / sy
    np.testing.assert_allclose(resid.mean(), 0.0, atol=1e-10)  # intercept is the OLS intercept
    grad = xs.T @ resid / train.sum()
    lam, a = fit.lambda_min / sy, 0.5  # glmnet's lambda on the standardized response
    active = b != 0
    # active: grad_j = lam (a sign(b_j) + (1 - a) b_j); inactive: |grad_j| <= lam a. Solved to
    # glmnet's thresh (1e-7 on squared coefficient changes); a scaling bug is off by O(lam).
    np.testing.assert_allclose(
        grad[active], lam * (a * np.sign(b[active]) + (1 - a) * b[active]), atol=2e-3 * lam
    )
    assert np.all(np.abs(grad[~active]) <= lam * a * (1 + 2e-3))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cv_glmnet_matches_independent_sklearn_cv():
    """cv.glmnet re-derived with scikit-learn's ElasticNet on glmnet's standardized problem."""
    rng = np.random.default_rng(5)
    n, p, folds = 160, 25, 5
    x = _dosages(rng, n, p)
    y = x[:, 3] * 0.5 - x[:, 7] * 0.4 + rng.normal(0, 0.6, n)
    cfg = ElasticNetConfig(n_folds=folds, n_lambdas=20, thresh=1e-12)
    foldid = balanced_fold_ids(n, folds, np.random.default_rng(2))
    rows = np.arange(n)
    cv = _cv_glmnet(make_design(x), y, rows, foldid, cfg)
    lambdas = cv.path.lambdas

    def fit_predict(tr, te, lam):
        # glmnet's problem: x and y standardized on the fitting rows (population SD), lambda
        # divided by sd(y); sklearn's ElasticNet(alpha=lambda) then solves the same objective
        xm, xsd = x[tr].mean(0), x[tr].std(0)
        ym, ysd = y[tr].mean(), y[tr].std()
        m = ElasticNet(alpha=lam / ysd, l1_ratio=0.5, tol=1e-10, max_iter=100_000)
        m.fit((x[tr] - xm) / xsd, (y[tr] - ym) / ysd)
        return ym + ysd * m.predict((x[te] - xm) / xsd)

    pred = np.zeros((n, lambdas.size))
    for f in range(1, folds + 1):
        tr, te = rows[foldid != f], rows[foldid == f]
        for k, lam in enumerate(lambdas):
            pred[te, k] = fit_predict(tr, te, lam)
    cvm = np.mean((y[:, None] - pred) ** 2, axis=0)
    assert cv.best == int(np.argmin(cvm))
    np.testing.assert_allclose(cv.cv_pred, pred[:, cv.best], atol=1e-6)
    full = fit_predict(rows, rows, lambdas[cv.best])
    np.testing.assert_allclose(
        cv.path.predict_design_rows(rows)[:, cv.best], full, atol=1e-6 * y.std()
    )


def test_fold_statistics_follow_predictdb():
    """Per fold r, Fisher z, cor.test p, R2 on the centred response; Stouffer and Fisher."""
    rng = np.random.default_rng(0)
    folds = []
    stats_ours = []
    center = 0.3
    for n in (30, 31, 29):
        y = rng.normal(size=n) + center
        pred = y * 0.4 + rng.normal(size=n)
        folds.append((y, pred))
        stats_ours.append(_fold_stats(y, pred, center, rng))
    r = np.array([stats.pearsonr(p, y)[0] for y, p in folds])
    pv = np.array([stats.pearsonr(p, y)[1] for y, p in folds])
    z = np.arctanh(r) * np.sqrt([len(y) - 3 for y, _ in folds])
    r2 = [1 - np.sum((y - p) ** 2) / np.sum((y - center) ** 2) for y, p in folds]
    np.testing.assert_allclose([s[1] for s in stats_ours], r, rtol=1e-12)
    np.testing.assert_allclose([s[2] for s in stats_ours], z, rtol=1e-12)
    np.testing.assert_allclose([s[3] for s in stats_ours], pv, rtol=1e-9)
    np.testing.assert_allclose([s[0] for s in stats_ours], r2, rtol=1e-12)
    nested = _combine(stats_ours, nested=True)
    assert nested["rho_avg"] == pytest.approx(r.mean())
    assert nested["rho_se"] == pytest.approx(r.std(ddof=1))
    assert nested["rho_avg_squared"] == pytest.approx(r.mean() ** 2)
    assert nested["rho_zscore"] == pytest.approx(z.sum() / math.sqrt(3))
    assert nested["zscore_pval"] == pytest.approx(2 * stats.norm.sf(abs(z.sum() / math.sqrt(3))))
    assert nested["nested_cv_fisher_pval"] == pytest.approx(
        stats.combine_pvalues(pv, method="fisher")[1]
    )
    # a constant prediction is r = 0, z = 0 and a uniform p-value (PredictDB's runif)
    r2c, rc, zc, pc, defined = _fold_stats(folds[0][0], np.full(30, 1.0), center, rng)
    assert (rc, zc, defined) == (0.0, 0.0, False) and 0 < pc < 1


def test_folds_are_balanced_and_seeded_by_gene():
    f = balanced_fold_ids(103, 10, np.random.default_rng(0))
    assert sorted(np.bincount(f)[1:]) == [10] * 7 + [11] * 3
    cfg = ElasticNetConfig()
    a, b = predictdb_folds(286, cfg, "ENSG1"), predictdb_folds(286, cfg, "ENSG1")
    c = predictdb_folds(286, cfg, "ENSG2")
    np.testing.assert_array_equal(a.final, b.final)
    assert not np.array_equal(a.final, c.final)
    assert len(a.inner) == 5 and all(
        len(inner) == np.sum(a.outer != k + 1) for k, inner in enumerate(a.inner)
    )


# ---------------------------------------------------------------------------------------------
# filters and edge cases


def test_maf_filter_uses_training_individuals_only():
    rng = np.random.default_rng(1)
    n_tr, n_ho = 200, 100
    n = n_tr + n_ho
    train = np.zeros(n, dtype=bool)
    train[:n_tr] = True
    x = _dosages(rng, n, 6)
    # variant 0: monomorphic in training, polymorphic in held-out (overall MAF ~ 0.17)
    x[:n_tr, 0] = 0
    x[n_tr:, 0] = rng.binomial(2, 0.5, n_ho)
    # variant 1: training MAF 1/400 = 0.0025 < 0.01, overall MAF 21/600 = 0.035 >= 0.01
    x[:, 1] = 0
    x[0, 1] = 1
    x[n_tr : n_tr + 20, 1] = 1
    # variant 2: training MAF 4/400 = 0.01 (kept: MAF >= min_maf, as PredictDB)
    x[:, 2] = 0
    x[:4, 2] = 1
    # expression driven by the held-out-only variants, so keeping them would be visible
    y = 2.0 * x[:, 0] + 2.0 * x[:, 1] + 0.5 * x[:, 3] + rng.normal(0, 0.3, n)
    ids = np.array([f"v{i}" for i in range(6)])
    enet = fit_elastic_net(x, y, train, ids, ElasticNetConfig())
    rf = fit_random_forest(x, y, train, ids, RandomForestConfig(n_estimators=20))
    for fit in (enet, rf):
        assert fit.n_variants_in_window == 6
        assert fit.n_variants_used == 4  # v2..v5
    assert "v0" not in enet.weights.index and "v1" not in enet.weights.index
    assert "v3" in enet.weights.index


def test_zero_variants_gives_constant_training_mean():
    rng = np.random.default_rng(2)
    n = 50
    train = np.arange(n) < 40
    y = rng.normal(size=n)
    y[5] = np.nan
    expected = y[train & np.isfinite(y)].mean()
    for x in (np.zeros((n, 0), np.float32), np.full((n, 3), 2.0, np.float32)):
        ids = np.arange(x.shape[1])
        enet = fit_elastic_net(x, y, train, ids, gene="G")
        rf = fit_random_forest(x, y, train, ids, gene="G")
        for fit in (enet, rf):
            assert fit.note == NOTE_NO_VARIANTS
            assert fit.n_variants_used == 0 and fit.n_variants_in_window == x.shape[1]
            np.testing.assert_array_equal(fit.predicted, np.full(n, expected))
            assert np.isnan(fit.cv_r)
        assert enet.weights is not None and enet.weights.empty
        assert rf.weights is None


def test_no_variant_selected_is_constant_with_note():
    rng = np.random.default_rng(4)
    n = 120
    x = _dosages(rng, n, 3)
    y = rng.normal(size=n)
    train = np.arange(n) < 100
    fit = fit_elastic_net(x, y, train, np.arange(3), ElasticNetConfig(n_folds=5))
    assert fit.note == NOTE_NONE_SELECTED
    assert fit.weights.empty
    np.testing.assert_array_equal(fit.predicted, np.full(n, y[train].mean()))


def test_nan_expression_skipped_in_fit_but_predicted(planted):
    x, y, train, ids = planted
    y = y.copy()
    missing = np.array([3, 17, 120])  # training individuals without expression
    y[missing] = np.nan
    for fitter, cfg in (
        (fit_elastic_net, ElasticNetConfig()),
        (fit_random_forest, RandomForestConfig(n_estimators=30)),
    ):
        with_nan = fitter(x, y, train, ids, cfg)
        masked = train.copy()
        masked[missing] = False
        dropped = fitter(x, y, masked, ids, cfg)
        assert np.all(np.isfinite(with_nan.predicted))
        np.testing.assert_array_equal(with_nan.predicted, dropped.predicted)


def test_no_training_expression_gives_nan():
    x = np.ones((10, 2), np.float32)
    x[::2, 0] = 0
    y = np.full(10, np.nan)
    fit = fit_elastic_net(x, y, np.ones(10, bool), np.arange(2))
    assert fit.note == NOTE_NO_TRAINING and np.all(np.isnan(fit.predicted))


def test_bad_inputs_raise():
    x = np.zeros((10, 2), np.float32)
    y = np.zeros(10)
    ok = np.ones(10, bool)
    with pytest.raises(InputError, match="train_mask"):
        fit_elastic_net(x, y, ok.astype(int), np.arange(2))
    with pytest.raises(InputError, match="expression"):
        fit_elastic_net(x, y[:9], ok, np.arange(2))
    with pytest.raises(InputError, match="variant_ids"):
        fit_random_forest(x, y, ok, np.arange(3))
    x_nan = x.copy()
    x_nan[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit_elastic_net(x_nan, y, ok, np.arange(2))
    with pytest.raises(ConfigError):
        ElasticNetConfig(alpha_l1_ratio=0)
    with pytest.raises(ConfigError):
        RandomForestConfig(max_features="all")
    with pytest.raises(ConfigError, match="unknown"):
        fit_genes([], "lasso", None, 1)
    with pytest.raises(ConfigError, match="RandomForestConfig"):
        fit_genes([], "random_forest", ElasticNetConfig(), 1)


# ---------------------------------------------------------------------------------------------
# determinism and gene-level parallelism


def _assert_fits_equal(a: GeneFit, b: GeneFit) -> None:
    assert a.gene == b.gene and a.note == b.note
    np.testing.assert_array_equal(a.predicted, b.predicted)
    if a.weights is None:
        assert b.weights is None
    else:
        assert a.weights.equals(b.weights)
    for f in ("cv_r", "lambda_min", "n_variants_used"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.perf.keys() == b.perf.keys()
    np.testing.assert_array_equal(list(a.perf.values()), list(b.perf.values()))


def test_same_seed_same_predictions(planted, planted_enet, planted_rf):
    x, y, train, ids = planted
    _assert_fits_equal(planted_enet, fit_elastic_net(x, y, train, ids, gene="G1"))
    again = fit_random_forest(x, y, train, ids, RandomForestConfig(n_estimators=100), gene="G1")
    _assert_fits_equal(planted_rf, again)
    other = fit_random_forest(x, y, train, ids, RandomForestConfig(n_estimators=100, seed=1))
    assert not np.array_equal(other.predicted, planted_rf.predicted)


@pytest.mark.parametrize(
    "method, config",
    [
        ("elastic_net", ElasticNetConfig(n_folds=5)),
        ("random_forest", RandomForestConfig(n_estimators=30)),
    ],
)
def test_fit_genes_parallel_equals_serial(method, config):
    rng = np.random.default_rng(9)
    n = 120
    train = np.arange(n) < 90
    genes = []
    for g in range(5):
        x = _dosages(rng, n, 30 + 10 * g)
        y = x[:, g] * 0.7 + rng.normal(0, 0.5, n)
        genes.append((f"ENSG{g:011d}", x, y, train, np.arange(x.shape[1])))
    genes.append(("ENSG_EMPTY", np.zeros((n, 0), np.float32), y, train, np.arange(0)))
    serial = fit_genes(genes, method, config, n_jobs=1)
    parallel = fit_genes(iter(genes), method, config, n_jobs=2)
    threads = fit_genes(genes, method, config, n_jobs=2, backend="threading")
    assert [f.gene for f in serial] == [g[0] for g in genes]
    for a, b, c in zip(serial, parallel, threads, strict=True):
        _assert_fits_equal(a, b)
        _assert_fits_equal(a, c)
    assert serial[-1].note == NOTE_NO_VARIANTS
    # the per-gene entry point gives the same answer as the batch one
    fitter = fit_elastic_net if method == "elastic_net" else fit_random_forest
    _assert_fits_equal(serial[0], fitter(*genes[0][1:], config, gene=genes[0][0]))


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ElasticNetConfig().n_folds = 3  # type: ignore[misc]
