"""Per-gene genotype baselines: ElasticNet (PredictDB protocol) and RandomForest on cis dosages.

Each gene is fitted on its own: the features are the ALT-allele dosages of the variants in the
gene's cis window, the target is the normalized, covariate-residualized expression of the
phenotypes step, and only the training individuals with finite expression are fitted (the
*fitting individuals*). Every individual, training and held-out, gets a prediction.

ElasticNet reproduces PredictDB (``hakyimlab/PredictDb-nextflow``,
``bin/gtex_v7_nested_cv_elnet.R``; Gamazon et al., Nat Genet 47:1091, 2015), which calls R
``cv.glmnet(alpha=0.5, nfolds=10, type.measure="mse", foldid=...)`` and keeps ``lambda.min``.
The fits use :mod:`ps2f.baselines.enet`, a reimplementation of glmnet (Friedman et al., J Stat
Softw 2010) that gives glmnet's solutions to its tolerance:

* variants with minor-allele frequency ``>= min_maf`` among the fitting individuals (PredictDB
  filters on its whole cohort; filtering on the fitting individuals keeps held-out genotypes
  out of the model) and polymorphic there;
* ``cv.glmnet``: a glmnet path on all rows (computed lambda sequence, early termination), the
  same lambdas fitted on each of 10 folds, ``lambda.min`` = the largest lambda minimizing the
  mean held-out squared error over all rows; the model is the all-rows path at ``lambda.min``;
* **nested CV** for an honest performance estimate: 5 outer folds; on each outer training part
  a full ``cv.glmnet`` (10 inner folds) picks lambda and predicts the outer test part. Per
  fold: ``r`` = Pearson r (0 when the prediction is constant), Fisher ``z = atanh(r) *
  sqrt(n_test - 3)``, ``R2 = 1 - RSS / sum((y - mean_all)^2)`` and the p-value of ``cor.test``
  (a uniform draw when the prediction is constant, as PredictDB). Combined: ``rho_avg`` = mean
  r, ``rho_se`` = SD of r, ``rho_zscore`` = sum(z) / sqrt(K) (Stouffer), ``zscore_pval`` =
  two-sided normal p, ``rho_avg_squared`` (PredictDB's ``pred.perf.R2``), ``test_R2_avg/sd``,
  ``nested_cv_fisher_pval`` (Fisher's method on the fold p-values). The same statistics over
  the 10 folds of the final ``cv.glmnet`` are the ``cv_*`` columns;
* folds are balanced random assignments (PredictDB's ``generate_fold_ids``), drawn from a
  generator seeded by ``(seed, CRC32(gene))``, so a gene's result does not depend on which
  other genes are fitted or in which order (PredictDB seeds once per chromosome instead);
  :func:`predictdb_folds` returns them, e.g. to hand the same folds to R.

RandomForest: scikit-learn ``RandomForestRegressor`` on the same filtered dosages, with its
out-of-bag predictions as a free performance estimate (``oob_r``).

SAGE-net (Spiro et al., Nat Methods 2026) uses scikit-learn ``ElasticNetCV(l1_ratio=0.5)`` on a
+-20 kb window with MAF > 0.01 in training individuals: the same model family, smaller window.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.ensemble import RandomForestRegressor
from threadpoolctl import threadpool_limits

from ps2f.baselines.enet import GLMNET_THRESH, Design, ElasticNetPath, elastic_net_path, make_design
from ps2f.errors import ConfigError, InputError
from ps2f.io.predictdb import EXTRA_PERF_COLUMNS

__all__ = [
    "ElasticNetConfig",
    "RandomForestConfig",
    "GeneFit",
    "PredictDBFolds",
    "METHODS",
    "PERF_COLUMNS",
    "NOTE_NO_VARIANTS",
    "NOTE_NONE_SELECTED",
    "NOTE_NO_TRAINING",
    "NOTE_TOO_FEW",
    "NOTE_CONSTANT_EXPRESSION",
    "balanced_fold_ids",
    "predictdb_folds",
    "fit_elastic_net",
    "fit_random_forest",
    "fit_genes",
]

METHODS: tuple[str, ...] = ("elastic_net", "random_forest")

NOTE_NO_VARIANTS = "no variants pass MAF"
NOTE_NONE_SELECTED = "no variant selected"
NOTE_NO_TRAINING = "no training individuals with finite expression"
NOTE_TOO_FEW = "too few training individuals for cross-validation"
NOTE_CONSTANT_EXPRESSION = "constant expression in training individuals"

# PredictDB's per-gene model summary columns (after gene, gene_name, gene_type, alpha), in its
# order; ``rho_avg_squared`` and ``zscore_pval`` become ``pred.perf.R2`` / ``pred.perf.pval``
PERF_COLUMNS: tuple[str, ...] = (
    "n_snps_in_window",
    "n_snps_in_model",
    *EXTRA_PERF_COLUMNS,
    "rho_avg_squared",
    "zscore_pval",
    "cv_rho_avg",
    "cv_rho_se",
    "cv_rho_avg_squared",
    "cv_zscore_est",
    "cv_zscore_pval",
    "cv_pval_est",
)


@dataclass(frozen=True)
class ElasticNetConfig:
    """Settings of the per-gene ElasticNet (PredictDB defaults).

    Parameters
    ----------
    alpha_l1_ratio : float
        Mixing parameter in (0, 1]: glmnet's ``alpha`` (PredictDB: 0.5).
    n_folds : int
        Folds of the ``cv.glmnet`` that chooses lambda (>= 2; PredictDB: 10).
    n_outer_folds : int
        Outer folds of the nested CV that estimates performance (PredictDB: 5); 0 skips it
        (the nested statistics are then NaN).
    n_lambdas : int
        Length of the lambda path (glmnet's ``nlambda``, 100).
    min_maf : float
        Keep variants with minor-allele frequency ``>= min_maf`` among the fitting individuals,
        in [0, 0.5).
    seed : int
        Seed of the fold assignments (combined with the gene ID).
    thresh : float
        Coordinate-descent convergence threshold (glmnet's ``thresh``, 1e-7).
    """

    alpha_l1_ratio: float = 0.5
    n_folds: int = 10
    n_outer_folds: int = 5
    n_lambdas: int = 100
    min_maf: float = 0.01
    seed: int = 0
    thresh: float = GLMNET_THRESH

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha_l1_ratio <= 1.0:
            raise ConfigError(f"alpha_l1_ratio must be in (0, 1], got {self.alpha_l1_ratio}")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.n_outer_folds == 1 or self.n_outer_folds < 0:
            raise ConfigError(f"n_outer_folds must be 0 (off) or >= 2, got {self.n_outer_folds}")
        if self.n_lambdas < 1:
            raise ConfigError(f"n_lambdas must be >= 1, got {self.n_lambdas}")
        if not self.thresh > 0:
            raise ConfigError(f"thresh must be > 0, got {self.thresh}")
        _check_maf(self.min_maf)


@dataclass(frozen=True)
class RandomForestConfig:
    """Settings of the per-gene RandomForest (passed to scikit-learn ``RandomForestRegressor``).

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    max_depth : int or None
        Maximum tree depth; None grows until leaves reach ``min_samples_leaf``.
    min_samples_leaf : int
        Minimum individuals per leaf.
    max_features : float or str
        Features considered per split: a fraction in (0, 1], ``"sqrt"`` or ``"log2"``.
    min_maf : float
        Keep variants with minor-allele frequency ``>= min_maf`` among the fitting individuals.
    seed : int
        ``random_state`` of the forest.
    """

    n_estimators: int = 200
    max_depth: int | None = None
    min_samples_leaf: int = 5
    max_features: float | str = "sqrt"
    min_maf: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_estimators < 1:
            raise ConfigError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.max_depth is not None and self.max_depth < 1:
            raise ConfigError(f"max_depth must be None or >= 1, got {self.max_depth}")
        if self.min_samples_leaf < 1:
            raise ConfigError(f"min_samples_leaf must be >= 1, got {self.min_samples_leaf}")
        if isinstance(self.max_features, str):
            if self.max_features not in ("sqrt", "log2"):
                raise ConfigError(
                    f"max_features must be 'sqrt', 'log2' or a fraction, got {self.max_features!r}"
                )
        elif not 0.0 < float(self.max_features) <= 1.0:
            raise ConfigError(f"max_features fraction must be in (0, 1], got {self.max_features}")
        _check_maf(self.min_maf)


@dataclass
class GeneFit:
    """The fitted baseline of one gene and its predictions for every individual.

    Attributes
    ----------
    gene : str
        Gene ID as given by the caller.
    predicted : numpy.ndarray, shape (n_individuals,), float64
        Predicted expression (units of the input expression) for all individuals, training and
        held-out, in input order. Constant (the training mean) when ``note`` says why; NaN only
        when no training individual has finite expression.
    n_variants_in_window : int
        Variants handed in for the gene's cis window.
    n_variants_used : int
        Variants left after the MAF / monomorphic filter: the features the model saw
        (PredictDB's ``n_snps_in_window``). For ElasticNet the number with a nonzero weight is
        ``len(weights)`` (PredictDB's ``n.snps.in.model``).
    weights : pandas.Series or None
        ElasticNet: nonzero weights at ``lambda.min`` on the dosage scale (expression units per
        ALT allele), indexed by variant ID, float64, in input column order; empty when nothing
        was selected. RandomForest: None.
    cv_r : float
        ElasticNet: mean over the folds of the final ``cv.glmnet`` of the Pearson r between the
        held-out predictions at ``lambda.min`` and the observed expression; a constant fold
        counts as 0 (PredictDB), NaN when every fold is constant. The same folds chose lambda,
        so it is optimistic: ``perf["rho_avg"]`` (nested CV) is the honest estimate.
        RandomForest: NaN.
    note : str
        ``""``, or why the prediction is constant / NaN (one of the ``NOTE_*`` constants).
    lambda_min : float
        ElasticNet: chosen lambda (PredictDB's ``lambda_min_mse``); NaN otherwise.
    intercept : float
        ElasticNet: intercept at ``lambda.min`` (expression units); NaN otherwise.
    perf : dict of str to float
        ElasticNet: PredictDB's model summary, keys :data:`PERF_COLUMNS` (NaN where undefined).
        RandomForest: ``n_snps_in_window`` and ``oob_r`` (Pearson r of the out-of-bag
        predictions, NaN when undefined).
    covariance : numpy.ndarray or None, shape (k, k), float64
        ElasticNet: covariance (denominator n - 1, as R ``cov``) of the dosages of the
        ``weights`` variants among the fitting individuals, in ``weights`` order; what
        PredictDB writes to its covariance file. None otherwise.
    """

    gene: str
    predicted: np.ndarray
    n_variants_in_window: int
    n_variants_used: int
    weights: pd.Series | None
    cv_r: float
    note: str = ""
    lambda_min: float = field(default=math.nan)
    intercept: float = field(default=math.nan)
    perf: dict[str, float] = field(default_factory=dict)
    covariance: np.ndarray | None = None


@dataclass(frozen=True)
class PredictDBFolds:
    """Fold assignments of one gene's ElasticNet, 1-based as R's ``foldid``.

    Attributes
    ----------
    outer : numpy.ndarray, shape (n,), int64
        Outer (nested-CV) fold of each fitting individual, 1..``n_outer_folds``; empty when the
        nested CV is off.
    inner : tuple of numpy.ndarray
        For outer fold k (index k - 1): the ``cv.glmnet`` fold, 1..``n_folds``, of each of its
        training rows, in increasing row order.
    final : numpy.ndarray, shape (n,), int64
        ``cv.glmnet`` fold of each fitting individual for the final model.
    """

    outer: np.ndarray
    inner: tuple[np.ndarray, ...]
    final: np.ndarray


def balanced_fold_ids(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Random balanced fold labels, as PredictDB's ``generate_fold_ids``.

    ``rep(1:K, ceiling(n / K))[1:n]`` shuffled: fold sizes differ by at most one.

    Parameters
    ----------
    n : int
        Rows to assign.
    n_folds : int
        K.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (n,), int64
        Labels in 1..K.
    """
    return rng.permutation(np.resize(np.arange(1, n_folds + 1, dtype=np.int64), n))


def predictdb_folds(n: int, config: ElasticNetConfig, gene: str) -> PredictDBFolds:
    """The folds :func:`fit_elastic_net` uses for ``n`` fitting individuals of ``gene``.

    Drawn in PredictDB's order (outer folds, then each outer fold's inner folds, then the final
    model's folds) from ``numpy.random.default_rng([seed, CRC32(gene)])``.

    Parameters
    ----------
    n : int
        Number of fitting individuals.
    config : ElasticNetConfig
    gene : str

    Returns
    -------
    PredictDBFolds
    """
    rng = np.random.default_rng([config.seed, zlib.crc32(gene.encode())])
    k_out = config.n_outer_folds
    outer = balanced_fold_ids(n, k_out, rng) if k_out else np.zeros(0, np.int64)
    inner = tuple(
        balanced_fold_ids(int(np.sum(outer != k)), config.n_folds, rng) for k in range(1, k_out + 1)
    )
    final = balanced_fold_ids(n, config.n_folds, rng)
    return PredictDBFolds(outer=outer, inner=inner, final=final)


def fit_elastic_net(
    dosages: np.ndarray,
    expression: np.ndarray,
    train_mask: np.ndarray,
    variant_ids: np.ndarray,
    config: ElasticNetConfig | None = None,
    gene: str = "",
) -> GeneFit:
    """Fit one gene's ElasticNet with PredictDB's protocol and predict every individual.

    See the module docstring for the exact procedure (``cv.glmnet``, ``alpha=0.5``,
    ``lambda.min``, nested CV; Gamazon et al., Nat Genet 2015; Friedman et al. 2010).

    Parameters
    ----------
    dosages : numpy.ndarray, shape (n_individuals, n_variants), uint8 or float
        ALT-allele dosages in ``[0, 2]`` of the variants in the gene's cis window, for all
        individuals.
    expression : numpy.ndarray, shape (n_individuals,), float64
        Normalized expression; NaN marks individuals to leave out of fitting (they are still
        predicted).
    train_mask : numpy.ndarray, shape (n_individuals,), bool
        True for training individuals.
    variant_ids : numpy.ndarray, shape (n_variants,)
        Variant labels, used as the index of ``GeneFit.weights``.
    config : ElasticNetConfig, optional
        Defaults to ``ElasticNetConfig()``.
    gene : str
        Gene ID: seeds the folds (:func:`predictdb_folds`) and names errors.

    Returns
    -------
    GeneFit
        ``predicted = dosages @ weights + intercept`` for all individuals; a constant training
        mean with a ``note`` when no variant passes the filter, nothing is selected, the
        expression is constant, or there are too few fitting individuals for the folds.

    Raises
    ------
    InputError
        If shapes disagree, ``train_mask`` is not boolean, or a dosage is not finite.
    """
    config = ElasticNetConfig() if config is None else config
    prep = _prepare(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
    if isinstance(prep, GeneFit):
        prep.weights = _empty_weights()
        prep.perf = _perf_nan(n_snps_in_window=float(prep.n_variants_used))
        return prep
    x_fit, y, ids = prep.x_fit, prep.y_fit, prep.ids
    n, p = x_fit.shape
    perf = _perf_nan(n_snps_in_window=float(p), n_snps_in_model=0.0)

    def constant(note: str, cv_r: float = math.nan, lam: float = math.nan) -> GeneFit:
        fit = prep.constant_fit(note, weights=_empty_weights(), cv_r=cv_r, lambda_min=lam)
        fit.perf = perf
        return fit

    k_out = config.n_outer_folds
    smallest_train = n - math.ceil(n / k_out) if k_out else n
    if smallest_train < config.n_folds or (k_out and n < k_out):
        return constant(NOTE_TOO_FEW)
    if not np.ptp(y) > 1e-12 * max(1.0, float(np.abs(y).max())):
        return constant(NOTE_CONSTANT_EXPRESSION)

    design = make_design(x_fit)
    folds = predictdb_folds(n, config, gene)
    rng_p = np.random.default_rng([config.seed, zlib.crc32(gene.encode()), 1])
    center = float(y.mean())
    all_rows = np.arange(n, dtype=np.int64)

    # nested CV: an honest estimate of how well the protocol predicts new individuals
    if k_out:
        fold_stats = []
        for k in range(1, k_out + 1):
            tr = all_rows[folds.outer != k]
            te = all_rows[folds.outer == k]
            cv = _cv_glmnet(design, y, tr, folds.inner[k - 1], config)
            pred = (
                cv.path.predict_design_rows(te)[:, cv.best]
                if cv is not None
                else np.full(te.size, y[tr].mean())
            )
            fold_stats.append(_fold_stats(y[te], pred, center, rng_p))
        perf.update(_combine(fold_stats, nested=True))

    # the model: cv.glmnet on all fitting individuals
    cv = _cv_glmnet(design, y, all_rows, folds.final, config)
    if cv is None:
        return constant(NOTE_CONSTANT_EXPRESSION)
    cv_stats = [
        _fold_stats(y[folds.final == f], cv.cv_pred[folds.final == f], center, rng_p)
        for f in range(1, config.n_folds + 1)
    ]
    perf.update(_combine(cv_stats, nested=False))
    lam = float(cv.path.lambdas[cv.best])
    w = cv.path.weights(cv.best)
    b = float(cv.path.intercept[cv.best])
    in_sample = cv.path.predict_design_rows(all_rows)[:, cv.best]
    perf["in_sample_R2"] = _r2(y, in_sample, center)
    perf["lambda_min_mse"] = lam
    cv_r = _mean_fold_r([s[1] for s in cv_stats], [s[4] for s in cv_stats])
    nonzero = np.flatnonzero(w)
    perf["n_snps_in_model"] = float(nonzero.size)
    if nonzero.size == 0:
        return constant(NOTE_NONE_SELECTED, cv_r=cv_r, lam=lam)
    predicted = prep.x_all[:, nonzero].astype(np.float64) @ w[nonzero] + b
    cov = np.atleast_2d(np.cov(x_fit[:, nonzero].astype(np.float64), rowvar=False, ddof=1))
    return GeneFit(
        gene=gene,
        predicted=predicted,
        n_variants_in_window=prep.n_window,
        n_variants_used=p,
        weights=pd.Series(w[nonzero], index=pd.Index(ids[nonzero], name="variant"), name="weight"),
        cv_r=cv_r,
        note="",
        lambda_min=lam,
        intercept=b,
        perf=perf,
        covariance=cov,
    )


def fit_random_forest(
    dosages: np.ndarray,
    expression: np.ndarray,
    train_mask: np.ndarray,
    variant_ids: np.ndarray,
    config: RandomForestConfig | None = None,
    n_jobs: int = 1,
    gene: str = "",
) -> GeneFit:
    """Fit a RandomForest regressor of one gene on cis dosages and predict every individual.

    scikit-learn ``RandomForestRegressor`` with the settings of ``config`` and
    ``random_state=config.seed``, on the dosages (no standardization; trees do not need it) of
    the variants passing the MAF / monomorphic filter among the fitting individuals.

    Parameters
    ----------
    dosages : numpy.ndarray, shape (n_individuals, n_variants), uint8 or float
        ALT-allele dosages in ``[0, 2]``, all individuals.
    expression : numpy.ndarray, shape (n_individuals,), float64
        Normalized expression; NaN individuals are not fitted but are predicted.
    train_mask : numpy.ndarray, shape (n_individuals,), bool
        True for training individuals.
    variant_ids : numpy.ndarray, shape (n_variants,)
        Variant labels (only checked for length here).
    config : RandomForestConfig, optional
        Defaults to ``RandomForestConfig()``.
    n_jobs : int
        Threads of the forest (scikit-learn ``n_jobs``). Keep 1 when parallelizing over genes.
    gene : str
        Gene ID, carried into the result and error messages.

    Returns
    -------
    GeneFit
        ``weights`` is None and ``cv_r`` NaN; ``perf["oob_r"]`` is the out-of-bag Pearson r
        (NaN with fewer than 3 out-of-bag individuals or a constant OOB prediction). Constant
        training mean with a ``note`` when no variant passes the filter.

    Raises
    ------
    InputError
        If shapes disagree, ``train_mask`` is not boolean, or a dosage is not finite.
    """
    config = RandomForestConfig() if config is None else config
    prep = _prepare(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
    if isinstance(prep, GeneFit):
        prep.perf = {"n_snps_in_window": float(prep.n_variants_used), "oob_r": math.nan}
        return prep
    forest = RandomForestRegressor(
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        max_features=config.max_features,
        random_state=config.seed,
        n_jobs=n_jobs,
        oob_score=True,
    )
    x_fit = prep.x_fit.astype(np.float32)
    with warnings.catch_warnings():
        # few trees leave some individuals without out-of-bag predictions: not worth a warning
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(x_fit, prep.y_fit)
    predicted = forest.predict(prep.x_all.astype(np.float32)).astype(np.float64)
    oob = np.asarray(forest.oob_prediction_, dtype=np.float64).ravel()
    ok = np.isfinite(oob)
    oob_r = _pearson(oob[ok], prep.y_fit[ok]) if ok.sum() >= 3 else math.nan
    return GeneFit(
        gene=gene,
        predicted=predicted,
        n_variants_in_window=prep.n_window,
        n_variants_used=prep.x_fit.shape[1],
        weights=None,
        cv_r=math.nan,
        note="",
        perf={"n_snps_in_window": float(prep.x_fit.shape[1]), "oob_r": oob_r},
    )


def fit_genes(
    gene_inputs: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    method: str,
    config: ElasticNetConfig | RandomForestConfig | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
) -> list[GeneFit]:
    """Fit one baseline per gene, in parallel over genes.

    Parameters
    ----------
    gene_inputs : iterable of (gene, dosages, expression, train_mask, variant_ids)
        One tuple per gene, with the arrays of :func:`fit_elastic_net`. A generator is consumed
        lazily (joblib dispatches a few genes ahead of the workers), so whole-genome inputs need
        not sit in memory at once.
    method : str
        ``"elastic_net"`` or ``"random_forest"``.
    config : ElasticNetConfig or RandomForestConfig, optional
        Must match ``method``; defaults to that method's default config.
    n_jobs : int
        Genes fitted at once (joblib ``n_jobs``; -1 = all cores). Each gene runs single-threaded
        (forest ``n_jobs=1``, BLAS limited to one thread), so there is no nested parallelism and
        the results do not depend on ``n_jobs``.
    backend : str
        joblib backend, ``"loky"`` (processes, default) or ``"threading"``.

    Returns
    -------
    list of GeneFit
        In the order of ``gene_inputs``.

    Raises
    ------
    ConfigError
        If ``method`` is unknown or ``config`` is of the other method's type.
    InputError
        As :func:`fit_elastic_net` for any gene.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown baseline method {method!r}; expected one of {METHODS}")
    expected = ElasticNetConfig if method == "elastic_net" else RandomForestConfig
    if config is None:
        config = expected()
    if not isinstance(config, expected):
        raise ConfigError(
            f"method {method!r} needs a {expected.__name__}, got {type(config).__name__}"
        )
    # BLAS threads: limited inside each worker process (loky), or once for the whole process
    # when genes run in threads of this one (threadpoolctl's limits are process-wide)
    in_process = backend == "threading" or n_jobs == 1
    jobs = (delayed(_fit_one)(method, config, item, not in_process) for item in gene_inputs)
    with threadpool_limits(limits=1) if in_process else nullcontext():
        return list(Parallel(n_jobs=n_jobs, backend=backend)(jobs))


# ----------------------------------------------------------------------------------------------
# internals


def _fit_one(
    method: str,
    config: ElasticNetConfig | RandomForestConfig,
    item: tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    limit_threads: bool,
) -> GeneFit:
    """Fit one gene single-threaded (the unit of work of :func:`fit_genes`)."""
    gene, dosages, expression, train_mask, variant_ids = item
    with threadpool_limits(limits=1) if limit_threads else nullcontext():
        if method == "elastic_net":
            return fit_elastic_net(dosages, expression, train_mask, variant_ids, config, gene=gene)
        return fit_random_forest(
            dosages, expression, train_mask, variant_ids, config, n_jobs=1, gene=gene
        )


@dataclass
class _CV:
    """A ``cv.glmnet`` result: the all-rows path, ``lambda.min``'s index, the CV predictions."""

    path: ElasticNetPath
    best: int
    cv_pred: np.ndarray  # (len(rows),) held-out prediction of each row at lambda.min


def _cv_glmnet(
    design: Design, y: np.ndarray, rows: np.ndarray, foldid: np.ndarray, config: ElasticNetConfig
) -> _CV | None:
    """R ``cv.glmnet(x[rows, ], y[rows], foldid = foldid, alpha, type.measure = "mse")``.

    None when glmnet would fail (constant response on ``rows`` or on a fold's training part);
    PredictDB then predicts the training mean.
    """
    full = elastic_net_path(
        design,
        y,
        rows,
        alpha=config.alpha_l1_ratio,
        n_lambdas=config.n_lambdas,
        thresh=config.thresh,
    )
    if full is None:
        return None
    k = full.lambdas.size
    predmat = np.empty((rows.size, k))
    for f in np.unique(foldid):
        test = foldid == f
        fold = elastic_net_path(
            design,
            y,
            rows[~test],
            alpha=config.alpha_l1_ratio,
            lambdas=full.lambdas,
            thresh=config.thresh,
        )
        if fold is None:
            return None
        pred = fold.predict_design_rows(rows[test])
        kf = pred.shape[1]
        predmat[test, :kf] = pred
        if kf < k:  # a fold that ran out of passes: its last fit fills the rest (cv.glmnet)
            predmat[test, kf:] = pred[:, -1:]
    cvm = np.mean((y[rows, None] - predmat) ** 2, axis=0)
    best = int(np.flatnonzero(cvm <= cvm.min())[0])  # largest lambda among ties (glmnet)
    return _CV(path=full, best=best, cv_pred=predmat[:, best])


def _r2(y: np.ndarray, pred: np.ndarray, center: float) -> float:
    """PredictDB's ``calc_R2`` on a response centred over all fitting rows."""
    tss = float(np.sum((y - center) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / tss if tss > 0 else math.nan


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else math.nan


def _fold_stats(
    y: np.ndarray, pred: np.ndarray, center: float, rng: np.random.Generator
) -> tuple[float, float, float, float, bool]:
    """(R2, r, Fisher z, p-value, defined) of one held-out fold, as PredictDB computes them."""
    n = y.size
    r2 = _r2(y, pred, center)
    defined = bool(np.ptp(pred) > 0)
    r = _pearson(pred, y) if defined else 0.0
    if not np.isfinite(r):
        r, defined = 0.0, False
    with np.errstate(divide="ignore"):
        z = math.atanh(r) * math.sqrt(n - 3) if n > 3 and abs(r) < 1 else math.copysign(math.inf, r)
    if defined and n > 2:
        t = r * math.sqrt((n - 2) / max(1.0 - r * r, 1e-300))
        pval = float(2.0 * stats.t.sf(abs(t), n - 2))
    else:
        pval = float(rng.uniform())  # PredictDB: runif(1) when there is no model
    return r2, r, z, pval, defined


def _combine(fold_stats: list[tuple[float, float, float, float, bool]], nested: bool) -> dict:
    """PredictDB's per-gene summary of K folds: the nested CV's, or the final cv.glmnet's."""
    r2 = np.array([s[0] for s in fold_stats])
    r = np.array([s[1] for s in fold_stats])
    z = np.array([s[2] for s in fold_stats])
    pv = np.array([s[3] for s in fold_stats])
    k = len(fold_stats)
    r2_avg, r2_sd = float(r2.mean()), float(r2.std(ddof=1)) if k > 1 else math.nan
    rho_avg, rho_se = float(r.mean()), float(r.std(ddof=1)) if k > 1 else math.nan
    z_est = float(z.sum() / math.sqrt(k))  # Stouffer
    z_pval = float(2.0 * stats.norm.sf(abs(z_est)))
    fisher = float(stats.chi2.sf(-2.0 * np.sum(np.log(pv)), 2 * k))
    if nested:
        return {
            "test_R2_avg": r2_avg,
            "test_R2_sd": r2_sd,
            "rho_avg": rho_avg,
            "rho_se": rho_se,
            "rho_avg_squared": rho_avg**2,
            "rho_zscore": z_est,
            "zscore_pval": z_pval,
            "nested_cv_fisher_pval": fisher,
        }
    return {
        "cv_R2_avg": r2_avg,
        "cv_R2_sd": r2_sd,
        "cv_rho_avg": rho_avg,
        "cv_rho_se": rho_se,
        "cv_rho_avg_squared": rho_avg**2,
        "cv_zscore_est": z_est,
        "cv_zscore_pval": z_pval,
        "cv_pval_est": fisher,
    }


def _perf_nan(**known: float) -> dict[str, float]:
    perf = dict.fromkeys(PERF_COLUMNS, math.nan)
    perf.update(known)
    return perf


def _mean_fold_r(rs: list[float], defined: list[bool]) -> float:
    """Mean fold r with constant folds as 0 (PredictDB); NaN if every fold is constant."""
    return float(np.mean(rs)) if any(defined) else math.nan


def _check_maf(min_maf: float) -> None:
    if not 0.0 <= min_maf < 0.5:
        raise ConfigError(f"min_maf must be in [0, 0.5), got {min_maf}")


def _empty_weights() -> pd.Series:
    return pd.Series(
        np.empty(0, dtype=np.float64), index=pd.Index([], name="variant"), name="weight"
    )


@dataclass
class _Prepared:
    """Filtered design of one gene: fitting rows and all rows (dosage dtype kept)."""

    gene: str
    n_window: int
    x_fit: np.ndarray  # (n_fit, p) dosages of fitting individuals, kept variants
    y_fit: np.ndarray  # (n_fit,)
    x_all: np.ndarray  # (n_individuals, p)
    ids: np.ndarray  # (p,)

    def constant_fit(self, note: str, **kwargs: object) -> GeneFit:
        return _constant_fit(
            self.gene,
            self.x_all.shape[0],
            float(self.y_fit.mean()),
            self.n_window,
            self.x_fit.shape[1],
            note,
            **kwargs,
        )


def _constant_fit(
    gene: str,
    n_individuals: int,
    value: float,
    n_window: int,
    n_used: int,
    note: str,
    weights: pd.Series | None = None,
    cv_r: float = math.nan,
    lambda_min: float = math.nan,
) -> GeneFit:
    return GeneFit(
        gene=gene,
        predicted=np.full(n_individuals, value, dtype=np.float64),
        n_variants_in_window=n_window,
        n_variants_used=n_used,
        weights=weights,
        cv_r=cv_r,
        note=note,
        lambda_min=lambda_min,
        intercept=value,
    )


def _prepare(
    dosages: np.ndarray,
    expression: np.ndarray,
    train_mask: np.ndarray,
    variant_ids: np.ndarray,
    min_maf: float,
    gene: str,
) -> _Prepared | GeneFit:
    """Validate inputs, select fitting individuals, apply the MAF filter on them.

    Returns a constant / NaN :class:`GeneFit` when nothing can be fitted.
    """
    where = f"gene {gene!r}: " if gene else ""
    dosages = np.asarray(dosages)
    expression = np.asarray(expression, dtype=np.float64)
    train_mask = np.asarray(train_mask)
    variant_ids = np.asarray(variant_ids)
    if dosages.ndim != 2:
        raise InputError(f"{where}dosages must be 2-D (individuals, variants), got {dosages.shape}")
    n_ind, n_var = dosages.shape
    if expression.shape != (n_ind,):
        raise InputError(f"{where}expression shape {expression.shape} != ({n_ind},) individuals")
    if train_mask.shape != (n_ind,) or train_mask.dtype != np.bool_:
        raise InputError(
            f"{where}train_mask must be bool of shape ({n_ind},), got {train_mask.dtype} "
            f"{train_mask.shape}"
        )
    if variant_ids.shape != (n_var,):
        raise InputError(f"{where}variant_ids shape {variant_ids.shape} != ({n_var},) variants")
    if dosages.dtype.kind == "f" and not np.all(np.isfinite(dosages)):
        raise InputError(
            f"{where}dosages contain NaN/inf (missing genotypes); impute or drop them upstream"
        )

    fit_rows = train_mask & np.isfinite(expression)
    if not fit_rows.any():
        return GeneFit(
            gene=gene,
            predicted=np.full(n_ind, np.nan),
            n_variants_in_window=n_var,
            n_variants_used=0,
            weights=None,
            cv_r=math.nan,
            note=NOTE_NO_TRAINING,
        )
    y_fit = expression[fit_rows]
    d_fit = dosages[fit_rows]
    alt_freq = d_fit.mean(axis=0, dtype=np.float64) / 2.0
    maf = np.minimum(alt_freq, 1.0 - alt_freq)
    polymorphic = d_fit.max(axis=0) > d_fit.min(axis=0) if n_var else np.zeros(0, bool)
    keep = np.flatnonzero(polymorphic & (maf >= min_maf))
    if keep.size == 0:
        return _constant_fit(gene, n_ind, float(y_fit.mean()), n_var, 0, NOTE_NO_VARIANTS)
    x_all = dosages[:, keep]
    return _Prepared(
        gene=gene,
        n_window=n_var,
        x_fit=x_all[fit_rows],
        y_fit=y_fit,
        x_all=x_all,
        ids=variant_ids[keep],
    )
