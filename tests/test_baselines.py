"""Tests of the per-gene genotype baselines (ElasticNet, RandomForest) on synthetic dosages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ps2f.baselines import (
    ElasticNetConfig,
    GeneFit,
    RandomForestConfig,
    fit_elastic_net,
    fit_genes,
    fit_random_forest,
)
from ps2f.baselines.genotype import (
    NOTE_NO_TRAINING,
    NOTE_NO_VARIANTS,
    NOTE_NONE_SELECTED,
    _enet_path_dosage_scale,
    _lambda_path,
    _mean_fold_r,
)
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
# oracles: closed form (OLS), KKT conditions, an independent CV with sklearn's ElasticNet


def test_tiny_lambda_equals_ols_on_dosage_scale():
    """With n >> p and lambda -> 0 the ElasticNet is OLS; weights must come back per allele."""
    rng = np.random.default_rng(3)
    n, p = 3000, 6
    x = _dosages(rng, n, p).astype(np.float64)
    x[:, 1] = np.clip(x[:, 0] + rng.binomial(1, 0.3, n), 0, 2)  # LD with variant 0
    x[:, 5] *= 0.5  # a column with a different scale makes any rescaling bug visible
    beta = np.array([0.8, -0.4, 0.0, 0.3, -1.0, 0.6])
    y = 2.0 + x @ beta + rng.normal(0, 0.5, n)
    lam_max = np.max(np.abs(StandardScaler().fit_transform(x).T @ (y - y.mean()))) / (n * 0.5)
    lambdas = np.geomspace(lam_max, lam_max * 1e-9, 60)
    coef, intercept = _enet_path_dosage_scale(x, y, lambdas, 0.5, tol=1e-12)
    design = np.column_stack([np.ones(n), x])
    ols = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(coef[:, -1], ols[1:], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(intercept[-1], ols[0], rtol=1e-6)
    # and at lambda_max everything is zero, intercept = mean
    assert np.all(coef[:, 0] == 0)
    np.testing.assert_allclose(intercept[0], y.mean())


@pytest.mark.parametrize("n, p, ratio", [(200, 50, 1e-4), (100, 300, 1e-2)])
def test_lambda_path_follows_glmnet(n, p, ratio):
    rng = np.random.default_rng(n)
    x = _dosages(rng, n, p).astype(np.float64)
    y = rng.normal(size=n) + x[:, 0]
    lambdas = _lambda_path(x, y, 0.5, 100)
    xs = StandardScaler().fit_transform(x)
    lam_max = np.max(np.abs(xs.T @ (y - y.mean()))) / (n * 0.5)
    assert lambdas.shape == (100,)
    assert lambdas[0] == pytest.approx(lam_max, rel=1e-12)
    assert lambdas[-1] == pytest.approx(lam_max * ratio, rel=1e-12)  # glmnet lambda.min.ratio
    np.testing.assert_allclose(np.diff(np.log(lambdas)), np.log(ratio) / 99, rtol=1e-9)
    assert _lambda_path(x, np.full(n, 1.5), 0.5, 100) is None  # constant expression


def test_cv_r_counts_constant_folds_as_zero():
    y = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0])
    folds = [(np.arange(4, 8), np.arange(4)), (np.arange(4), np.arange(4, 8))]
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0])  # fold 2 constant
    assert _mean_fold_r(pred, y, folds) == pytest.approx(0.5)  # (1 + 0) / 2, PredictDB
    assert np.isnan(_mean_fold_r(np.full(8, 5.0), y, folds))
    assert _mean_fold_r(-y, y, folds) == pytest.approx(-1.0)


def test_enet_solution_satisfies_kkt(planted, planted_enet):
    """Stationarity of glmnet's objective at lambda.min, in the standardized space."""
    x, y, train, ids = planted
    fit = planted_enet
    xs = StandardScaler().fit_transform(x[train].astype(np.float64))
    sd = x[train].astype(np.float64).std(axis=0)
    cols = pd.Index(ids).get_indexer(fit.weights.index)
    b = np.zeros(x.shape[1])
    b[cols] = fit.weights.to_numpy() * sd[cols]  # weights on the standardized scale
    resid = y[train] - fit.predicted[train]
    np.testing.assert_allclose(resid.mean(), 0.0, atol=1e-10)  # intercept is the OLS intercept
    grad = xs.T @ resid / train.sum()
    lam, a = fit.lambda_min, 0.5
    active = b != 0
    # active: grad_j = lam * (a * sign(b_j) + (1 - a) * b_j); inactive: |grad_j| <= lam * a.
    # The final fit is solved to a duality gap of 1e-6 ||y||^2; a scaling or lambda bug
    # violates these by O(lambda).
    np.testing.assert_allclose(
        grad[active], lam * (a * np.sign(b[active]) + (1 - a) * b[active]), atol=1e-3 * lam
    )
    assert np.all(np.abs(grad[~active]) <= lam * a * (1 + 1e-3))


def test_enet_matches_independent_cv_with_sklearn_pipeline():
    """Re-derive lambda.min, weights and predictions with StandardScaler + ElasticNet per fold."""
    rng = np.random.default_rng(5)
    n, p, n_lambdas, folds = 160, 25, 20, 5
    x = _dosages(rng, n, p)
    y = x[:, 3] * 0.5 - x[:, 7] * 0.4 + rng.normal(0, 0.6, n)
    y[[4, 50]] = np.nan
    train = np.ones(n, dtype=bool)
    train[120:] = False
    ids = np.arange(p)
    cfg = ElasticNetConfig(n_folds=folds, n_lambdas=n_lambdas, seed=2)
    fit = fit_elastic_net(x, y, train, ids, cfg)

    rows = train & np.isfinite(y)
    xf, yf = x[rows].astype(np.float64), y[rows]
    lam_max = np.max(np.abs(StandardScaler().fit_transform(xf).T @ (yf - yf.mean()))) / (
        len(yf) * 0.5
    )
    lambdas = np.geomspace(lam_max, lam_max * 1e-4, n_lambdas)  # n > p: ratio 1e-4

    def model(lam):
        return make_pipeline(
            StandardScaler(), ElasticNet(alpha=lam, l1_ratio=0.5, tol=1e-10, max_iter=100_000)
        )

    sq_err = np.zeros(n_lambdas)
    cv_pred = np.zeros((len(yf), n_lambdas))
    splits = list(KFold(folds, shuffle=True, random_state=2).split(xf))
    for tr, te in splits:
        for k, lam in enumerate(lambdas):
            cv_pred[te, k] = model(lam).fit(xf[tr], yf[tr]).predict(xf[te])
    sq_err = np.sum((cv_pred - yf[:, None]) ** 2, axis=0)
    best = int(np.argmin(sq_err))
    assert fit.lambda_min == pytest.approx(lambdas[best], rel=1e-12)
    fold_r = [np.corrcoef(cv_pred[te, best], yf[te])[0, 1] for _, te in splits]
    assert fit.cv_r == pytest.approx(np.mean(fold_r), abs=1e-3)
    ref = model(lambdas[best]).fit(xf, yf)
    ref_w = ref[-1].coef_ / ref[0].scale_
    got_w = np.zeros(p)
    got_w[fit.weights.index.to_numpy()] = fit.weights.to_numpy()
    np.testing.assert_allclose(got_w, ref_w, atol=1e-4 * np.abs(ref_w).max())
    np.testing.assert_allclose(
        fit.predicted, ref.predict(x.astype(np.float64)), atol=1e-4 * np.std(yf)
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
