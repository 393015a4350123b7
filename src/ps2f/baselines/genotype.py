"""Per-gene genotype baselines: ElasticNet (PrediXcan-style) and RandomForest on cis dosages.

Each gene is fitted on its own: the features are the ALT-allele dosages of the variants in the
gene's cis window, the target is the normalized (already residualized) expression, and only the
training individuals with finite expression are used for fitting. Every individual (training and
held-out) gets a prediction.

ElasticNet follows PredictDB (``hakyimlab/PredictDb-nextflow``; Gamazon et al., Nat Genet 2015),
which calls R ``cv.glmnet(alpha=0.5, nfolds=10, standardize=TRUE)`` and keeps ``lambda.min``:

* features are standardized on the fitting individuals (mean 0, population SD 1, as glmnet);
* the objective is ``1/(2n) RSS + lambda * (alpha ||b||_1 + (1 - alpha)/2 ||b||_2^2)``
  (glmnet's gaussian family; identical to scikit-learn's ``ElasticNet`` with ``alpha=lambda``,
  ``l1_ratio=alpha``);
* the lambda sequence is glmnet's: ``n_lambdas`` values log-spaced from ``lambda_max`` (the
  smallest lambda with all weights zero) down to ``lambda_max * ratio``, ``ratio = 1e-4`` if
  ``n > p`` else ``1e-2`` (glmnet's ``lambda.min.ratio``);
* each fold re-standardizes on its own training part (as each glmnet call in ``cv.glmnet``
  does) and is fitted on the same lambda sequence; ``lambda.min`` minimizes the mean held-out
  squared error over all individuals (glmnet's fold-size-weighted ``cvm``); ties go to the
  larger lambda;
* the final model is the path on all fitting individuals evaluated at ``lambda.min``, and the
  weights are mapped back to the dosage scale.

The MAF filter (``MAF >= min_maf``, as PredictDB) and the removal of monomorphic variants use
the fitting individuals only, so held-out genotypes never influence the model. SAGE-net (Spiro
et al., Nat Methods 2026) uses the same baseline (scikit-learn ``ElasticNetCV(l1_ratio=0.5)``,
MAF > 0.01 in training individuals) on a +-20 kb window.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ps2f.errors import ConfigError, InputError

__all__ = [
    "ElasticNetConfig",
    "RandomForestConfig",
    "GeneFit",
    "METHODS",
    "NOTE_NO_VARIANTS",
    "NOTE_NONE_SELECTED",
    "NOTE_NO_TRAINING",
    "NOTE_TOO_FEW",
    "NOTE_CONSTANT_EXPRESSION",
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

# coordinate-descent settings. The duality-gap tolerance is relative to ||y||^2 (sklearn's
# convention). The fold paths, which only choose lambda, use 1e-3 instead of sklearn's default
# 1e-4: measured on simulated genes (n = 286, p = 50-2000) that is 2-3x less CPU time and picks
# the same lambda.min except on flat CV curves (then a neighbouring grid point). The final fit,
# whose weights are reported, is solved tightly.
_ENET_TOL_CV = 1e-3
_ENET_TOL_FINAL = 1e-6
_ENET_MAX_ITER = 10_000
# use the precomputed Gram matrix X'X while p <= ratio * n: each coordinate update then costs
# O(p) instead of O(n), which wins up to p ~ 4-5 n in our measurements despite the O(n p^2) setup
_GRAM_MAX_RATIO = 5


@dataclass(frozen=True)
class ElasticNetConfig:
    """Settings of the per-gene ElasticNet (PredictDB defaults).

    Parameters
    ----------
    alpha_l1_ratio : float
        Mixing parameter in (0, 1]: glmnet's ``alpha``, scikit-learn's ``l1_ratio``. PredictDB
        uses 0.5.
    n_folds : int
        Folds of the cross-validation that chooses lambda (>= 2; PredictDB: 10).
    n_lambdas : int
        Length of the lambda path (glmnet's ``nlambda``, 100).
    min_maf : float
        Keep variants with minor-allele frequency ``>= min_maf`` among the fitting individuals,
        in [0, 0.5).
    seed : int
        Seed of the fold assignment (``KFold(shuffle=True, random_state=seed)``).
    """

    alpha_l1_ratio: float = 0.5
    n_folds: int = 10
    n_lambdas: int = 100
    min_maf: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha_l1_ratio <= 1.0:
            raise ConfigError(f"alpha_l1_ratio must be in (0, 1], got {self.alpha_l1_ratio}")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.n_lambdas < 1:
            raise ConfigError(f"n_lambdas must be >= 1, got {self.n_lambdas}")
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
        Variants left after the MAF / monomorphic filter, i.e. the features the model saw. (For
        ElasticNet the number with a nonzero weight is ``len(weights)``, PredictDB's
        ``n.snps.in.model``.)
    weights : pandas.Series or None
        ElasticNet: nonzero weights at ``lambda.min`` on the dosage scale (expression units per
        ALT allele), indexed by variant ID, float64; empty when nothing was selected.
        RandomForest: None.
    cv_r : float
        ElasticNet: mean over the CV folds of the Pearson r between the held-out-fold
        predictions at ``lambda.min`` and the observed expression. A fold whose prediction is
        constant counts as r = 0 (PredictDB's convention); NaN when every fold is constant or
        no CV ran. The same folds chose lambda, so this is optimistic (not nested CV).
        RandomForest: NaN.
    note : str
        ``""``, or why the prediction is constant / NaN (one of the ``NOTE_*`` constants).
    lambda_min : float
        ElasticNet: chosen lambda (PredictDB's ``lambda_min_mse``); NaN otherwise.
    """

    gene: str
    predicted: np.ndarray
    n_variants_in_window: int
    n_variants_used: int
    weights: pd.Series | None
    cv_r: float
    note: str = ""
    lambda_min: float = field(default=math.nan)


def fit_elastic_net(
    dosages: np.ndarray,
    expression: np.ndarray,
    train_mask: np.ndarray,
    variant_ids: np.ndarray,
    config: ElasticNetConfig | None = None,
    gene: str = "",
) -> GeneFit:
    """Fit the PredictDB-style ElasticNet of one gene and predict every individual.

    See the module docstring for the exact procedure (glmnet ``cv.glmnet``, ``alpha=0.5``,
    ``lambda.min``; Gamazon et al., Nat Genet 2015).

    Parameters
    ----------
    dosages : numpy.ndarray, shape (n_individuals, n_variants), float
        ALT-allele dosages in ``[0, 2]`` of the variants in the gene's cis window, for all
        individuals.
    expression : numpy.ndarray, shape (n_individuals,), float64
        Normalized expression; NaN marks individuals to leave out of fitting (they are still
        predicted).
    train_mask : numpy.ndarray, shape (n_individuals,), bool
        True for training individuals.
    variant_ids : numpy.ndarray, shape (n_variants,)
        Variant IDs, used as the index of ``GeneFit.weights``.
    config : ElasticNetConfig, optional
        Defaults to ``ElasticNetConfig()``.
    gene : str
        Gene ID, carried into the result and error messages.

    Returns
    -------
    GeneFit
        ``predicted = dosages @ weights + intercept`` for all individuals; a constant training
        mean with a ``note`` when no variant passes the filter, nothing is selected, the
        expression is constant, or there are fewer fitting individuals than folds. Folds are
        assigned to the fitting individuals in input order, so the result depends only on the
        inputs, their order and ``config.seed``.

    Raises
    ------
    InputError
        If shapes disagree, ``train_mask`` is not boolean, or a dosage is not finite.
    """
    config = ElasticNetConfig() if config is None else config
    prep = _prepare(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
    if isinstance(prep, GeneFit):
        prep.weights = _empty_weights()
        return prep
    x_fit, y_fit, x_all, ids = prep.x_fit, prep.y_fit, prep.x_all, prep.ids
    n, p = x_fit.shape

    def constant(note: str, cv_r: float = math.nan, lam: float = math.nan) -> GeneFit:
        return prep.constant_fit(note, weights=_empty_weights(), cv_r=cv_r, lambda_min=lam)

    if n < config.n_folds:
        return constant(NOTE_TOO_FEW)
    lambdas = _lambda_path(x_fit, y_fit, config.alpha_l1_ratio, config.n_lambdas)
    if lambdas is None:
        return constant(NOTE_CONSTANT_EXPRESSION)

    # cross-validation on the common lambda path: held-out predictions, (n, n_lambdas)
    folds = list(KFold(config.n_folds, shuffle=True, random_state=config.seed).split(x_fit))
    cv_pred = np.empty((n, lambdas.size))
    for train_idx, test_idx in folds:
        coef, intercept = _enet_path_dosage_scale(
            x_fit[train_idx], y_fit[train_idx], lambdas, config.alpha_l1_ratio, _ENET_TOL_CV
        )
        cv_pred[test_idx] = x_fit[test_idx] @ coef + intercept
    cv_mse = np.mean((cv_pred - y_fit[:, None]) ** 2, axis=0)
    best = int(np.argmin(cv_mse))  # first minimum = largest lambda among ties (glmnet)
    lam = float(lambdas[best])
    cv_r = _mean_fold_r(cv_pred[:, best], y_fit, folds)

    # final fit: the path down to lambda.min on all fitting individuals
    coef, intercept = _enet_path_dosage_scale(
        x_fit, y_fit, lambdas[: best + 1], config.alpha_l1_ratio, _ENET_TOL_FINAL
    )
    w, b = coef[:, -1], float(intercept[-1])
    nonzero = np.flatnonzero(w)
    if nonzero.size == 0:
        return constant(NOTE_NONE_SELECTED, cv_r=cv_r, lam=lam)
    predicted = x_all[:, nonzero] @ w[nonzero] + b
    weights = pd.Series(w[nonzero], index=pd.Index(ids[nonzero], name="variant"), name="weight")
    return GeneFit(
        gene=gene,
        predicted=predicted.astype(np.float64),
        n_variants_in_window=prep.n_window,
        n_variants_used=p,
        weights=weights,
        cv_r=cv_r,
        note="",
        lambda_min=lam,
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
    dosages : numpy.ndarray, shape (n_individuals, n_variants), float
        ALT-allele dosages in ``[0, 2]``, all individuals.
    expression : numpy.ndarray, shape (n_individuals,), float64
        Normalized expression; NaN individuals are not fitted but are predicted.
    train_mask : numpy.ndarray, shape (n_individuals,), bool
        True for training individuals.
    variant_ids : numpy.ndarray, shape (n_variants,)
        Variant IDs (only checked for length here).
    config : RandomForestConfig, optional
        Defaults to ``RandomForestConfig()``.
    n_jobs : int
        Threads of the forest (scikit-learn ``n_jobs``). Keep 1 when parallelizing over genes.
    gene : str
        Gene ID, carried into the result and error messages.

    Returns
    -------
    GeneFit
        ``weights`` is None and ``cv_r`` NaN; constant training mean with a ``note`` when no
        variant passes the filter.

    Raises
    ------
    InputError
        If shapes disagree, ``train_mask`` is not boolean, or a dosage is not finite.
    """
    config = RandomForestConfig() if config is None else config
    prep = _prepare(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
    if isinstance(prep, GeneFit):
        return prep
    forest = RandomForestRegressor(
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        max_features=config.max_features,
        random_state=config.seed,
        n_jobs=n_jobs,
    )
    forest.fit(prep.x_fit, prep.y_fit)
    predicted = forest.predict(prep.x_all).astype(np.float64)
    return GeneFit(
        gene=gene,
        predicted=predicted,
        n_variants_in_window=prep.n_window,
        n_variants_used=prep.x_fit.shape[1],
        weights=None,
        cv_r=math.nan,
        note="",
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


def _check_maf(min_maf: float) -> None:
    if not 0.0 <= min_maf < 0.5:
        raise ConfigError(f"min_maf must be in [0, 0.5), got {min_maf}")


def _empty_weights() -> pd.Series:
    return pd.Series(
        np.empty(0, dtype=np.float64), index=pd.Index([], name="variant"), name="weight"
    )


@dataclass
class _Prepared:
    """Filtered float64 design of one gene: fitting rows and all rows."""

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
    if not np.all(np.isfinite(dosages)):
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
    polymorphic = d_fit.max(axis=0) > d_fit.min(axis=0)
    keep = np.flatnonzero(polymorphic & (maf >= min_maf))
    if keep.size == 0:
        return _constant_fit(gene, n_ind, float(y_fit.mean()), n_var, 0, NOTE_NO_VARIANTS)
    x_all = dosages[:, keep].astype(np.float64)
    return _Prepared(
        gene=gene,
        n_window=n_var,
        x_fit=x_all[fit_rows],
        y_fit=y_fit,
        x_all=x_all,
        ids=variant_ids[keep],
    )


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Center and scale columns to population SD 1 (glmnet ``standardize=TRUE``).

    Constant columns keep scale 1 (they are all zero after centering and get weight 0).
    Returns the standardized matrix (Fortran order, for coordinate descent), means and SDs.
    """
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    xs = np.asfortranarray((x - mean) / sd)
    return xs, mean, sd


def _lambda_path(
    x: np.ndarray, y: np.ndarray, l1_ratio: float, n_lambdas: int
) -> np.ndarray | None:
    """Glmnet's lambda sequence (decreasing), or None when y is constant (lambda_max = 0)."""
    n, p = x.shape
    xs, _, _ = _standardize(x)
    lam_max = float(np.max(np.abs(xs.T @ (y - y.mean())))) / (n * l1_ratio)
    if not lam_max > 1e-12 * max(1.0, float(np.abs(y).max())):
        return None
    ratio = 1e-4 if n > p else 1e-2
    return np.geomspace(lam_max, lam_max * ratio, n_lambdas)


def _enet_path_dosage_scale(
    x: np.ndarray,
    y: np.ndarray,
    lambdas: np.ndarray,
    l1_ratio: float,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """ElasticNet path on standardized features, mapped back to the dosage scale.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, p), float64
        Dosages of the individuals to fit.
    y : numpy.ndarray, shape (n,), float64
    lambdas : numpy.ndarray, shape (k,), decreasing
    l1_ratio : float
    tol : float
        Duality-gap tolerance of the coordinate descent, relative to ``||y - mean(y)||^2``.

    Returns
    -------
    coef : numpy.ndarray, shape (p, k)
        Weights per ALT allele at each lambda.
    intercept : numpy.ndarray, shape (k,)
    """
    n, p = x.shape
    xs, mean, sd = _standardize(x)
    y_mean = float(y.mean())
    yc = np.ascontiguousarray(y - y_mean)
    if p <= _GRAM_MAX_RATIO * n:  # coordinate descent on the Gram matrix (measured faster)
        gram = xs.T @ xs
        xy = xs.T @ yc
    else:
        gram, xy = False, None
    with warnings.catch_warnings():
        # at the small-lambda end of a p > n path sklearn may stop short of its duality-gap
        # tolerance; the points that matter (near lambda.min) converge, so this is not worth
        # a warning per gene
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coefs, _ = enet_path(
            xs,
            yc,
            l1_ratio=l1_ratio,
            alphas=lambdas,
            precompute=gram,
            Xy=xy,
            check_input=False,
            copy_X=False,
            tol=tol,
            max_iter=_ENET_MAX_ITER,
        )
    coef = coefs / sd[:, None]
    intercept = y_mean - mean @ coef
    return coef, intercept


def _mean_fold_r(
    pred: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Mean over folds of Pearson r(pred, y) on each held-out fold.

    A fold with constant predictions (or constant y) counts as r = 0, following PredictDB;
    NaN if every fold is constant.
    """
    rs = []
    n_defined = 0
    for _, test_idx in folds:
        a = pred[test_idx] - pred[test_idx].mean()
        b = y[test_idx] - y[test_idx].mean()
        denom = math.sqrt(float(a @ a) * float(b @ b))
        if denom > 0 and np.ptp(pred[test_idx]) > 0:
            rs.append(float(a @ b) / denom)
            n_defined += 1
        else:
            rs.append(0.0)
    return float(np.mean(rs)) if n_defined else math.nan
