"""Per-gene ElasticNet on cis dosages with PredictDB's protocol (cv.glmnet, nested CV).

One gene's inputs, filter and result are those of :mod:`ps2f.baselines.gene_fit`.

ElasticNet reproduces PredictDB (``hakyimlab/PredictDb-nextflow``,
``bin/gtex_v7_nested_cv_elnet.R``; Gamazon et al., Nat Genet 47:1091, 2015), which calls R
``cv.glmnet(alpha=0.5, nfolds=10, type.measure="mse", foldid=...)`` and keeps ``lambda.min``.
The fits use :mod:`ps2f.baselines.glmnet`, a reimplementation of glmnet (Friedman et al., J Stat
Softw 2010) that gives glmnet's solutions to its tolerance:

* variants with minor-allele frequency ``>= min_maf`` among the fitting individuals (PredictDB
  filters on its whole cohort; filtering on the fitting individuals keeps held-out genotypes
  out of the model) and polymorphic there (:func:`ps2f.baselines.gene_fit.prepare_gene`);
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

SAGE-net (Spiro et al., Nat Methods 2026) uses scikit-learn ``ElasticNetCV(l1_ratio=0.5)`` on a
+-20 kb window with MAF > 0.01 in training individuals: the same model family, smaller window.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ps2f.baselines.gene_fit import (
    NOTE_CONSTANT_EXPRESSION,
    NOTE_NONE_SELECTED,
    NOTE_TOO_FEW,
    GeneFit,
    check_maf,
    pearson_r,
    prepare_gene,
)
from ps2f.baselines.glmnet import (
    GLMNET_THRESH,
    Design,
    ElasticNetPath,
    elastic_net_path,
    make_design,
)
from ps2f.errors import ConfigError
from ps2f.io.predictdb import EXTRA_PERF_COLUMNS

__all__ = [
    "ElasticNetConfig",
    "PredictDBFolds",
    "PERF_COLUMNS",
    "balanced_fold_ids",
    "predictdb_folds",
    "fit_elastic_net",
]

# PredictDB's per-gene model summary columns (after gene, gene_name, gene_type, alpha), in its
# order; ``rho_avg_squared`` and ``zscore_pval`` become ``pred.perf.R2`` / ``pred.perf.pval``,
# the ones the .db's ``extra`` table keeps under their own name are EXTRA_PERF_COLUMNS
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
        check_maf(self.min_maf)


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
    prep = prepare_gene(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
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


# ----------------------------------------------------------------------------------------------
# internals


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


def _fold_stats(
    y: np.ndarray, pred: np.ndarray, center: float, rng: np.random.Generator
) -> tuple[float, float, float, float, bool]:
    """(R2, r, Fisher z, p-value, defined) of one held-out fold, as PredictDB computes them."""
    n = y.size
    r2 = _r2(y, pred, center)
    defined = bool(np.ptp(pred) > 0)
    r = pearson_r(pred, y) if defined else 0.0
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


def _empty_weights() -> pd.Series:
    return pd.Series(
        np.empty(0, dtype=np.float64), index=pd.Index([], name="variant"), name="weight"
    )
