"""One gene's inputs and result, shared by the genotype baselines.

Each gene is fitted on its own: the features are the ALT-allele dosages of the variants in the
gene's cis window, the target is the normalized, covariate-residualized expression of the
phenotypes step, and only the training individuals with finite expression are fitted (the
*fitting individuals*). Every individual, training and held-out, gets a prediction.

:func:`prepare_gene` validates one gene's arrays, selects the fitting individuals and keeps the
variants with minor-allele frequency ``>= min_maf`` among them that are polymorphic there
(filtering on the fitting individuals keeps held-out genotypes out of the model); when nothing
can be fitted it returns the constant (or NaN) :class:`GeneFit` that both
:func:`ps2f.baselines.elastic_net.fit_elastic_net` and
:func:`ps2f.baselines.random_forest.fit_random_forest` return, with a ``NOTE_*`` saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError

__all__ = [
    "GeneFit",
    "PreparedGene",
    "NOTE_NO_VARIANTS",
    "NOTE_NONE_SELECTED",
    "NOTE_NO_TRAINING",
    "NOTE_TOO_FEW",
    "NOTE_CONSTANT_EXPRESSION",
    "prepare_gene",
    "constant_fit",
    "check_maf",
    "pearson_r",
]

# values of GeneFit.note: why a gene's prediction is constant (or NaN)
NOTE_NO_VARIANTS = "no variants pass MAF"
NOTE_NONE_SELECTED = "no variant selected"
NOTE_NO_TRAINING = "no training individuals with finite expression"
NOTE_TOO_FEW = "too few training individuals for cross-validation"
NOTE_CONSTANT_EXPRESSION = "constant expression in training individuals"


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
        ElasticNet: PredictDB's model summary, keys
        :data:`ps2f.baselines.elastic_net.PERF_COLUMNS` (NaN where undefined).
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


@dataclass
class PreparedGene:
    """Filtered design of one gene: fitting rows and all rows (dosage dtype kept).

    Attributes
    ----------
    gene : str
        Gene ID.
    n_window : int
        Variants handed in for the gene's cis window.
    x_fit : numpy.ndarray, shape (n_fit, p), dosage dtype
        Dosages of the fitting individuals at the kept variants.
    y_fit : numpy.ndarray, shape (n_fit,), float64
        Expression of the fitting individuals.
    x_all : numpy.ndarray, shape (n_individuals, p), dosage dtype
        Dosages of all individuals at the kept variants, in input order.
    ids : numpy.ndarray, shape (p,)
        Variant labels of the kept variants.
    """

    gene: str
    n_window: int
    x_fit: np.ndarray  # (n_fit, p) dosages of fitting individuals, kept variants
    y_fit: np.ndarray  # (n_fit,)
    x_all: np.ndarray  # (n_individuals, p)
    ids: np.ndarray  # (p,)

    def constant_fit(self, note: str, **kwargs: object) -> GeneFit:
        """The training mean for every individual, with ``note``; see :func:`constant_fit`."""
        return constant_fit(
            self.gene,
            self.x_all.shape[0],
            float(self.y_fit.mean()),
            self.n_window,
            self.x_fit.shape[1],
            note,
            **kwargs,
        )


def constant_fit(
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
    """A fit that predicts ``value`` for every individual (no model could be fitted).

    Parameters
    ----------
    gene : str
        Gene ID.
    n_individuals : int
        Length of ``predicted``.
    value : float
        The prediction (expression units): the fitting individuals' mean, or NaN; also the
        ``intercept``.
    n_window, n_used : int
        ``n_variants_in_window`` and ``n_variants_used``.
    note : str
        Why the prediction is constant (a ``NOTE_*`` constant).
    weights : pandas.Series, optional
        ElasticNet: empty weights; None for RandomForest.
    cv_r, lambda_min : float, default NaN
        Carried into the result.

    Returns
    -------
    GeneFit
    """
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


def prepare_gene(
    dosages: np.ndarray,
    expression: np.ndarray,
    train_mask: np.ndarray,
    variant_ids: np.ndarray,
    min_maf: float,
    gene: str,
) -> PreparedGene | GeneFit:
    """Validate inputs, select fitting individuals, apply the MAF filter on them.

    Parameters
    ----------
    dosages : numpy.ndarray, shape (n_individuals, n_variants), uint8 or float
        ALT-allele dosages in ``[0, 2]`` of the variants in the gene's cis window, all
        individuals.
    expression : numpy.ndarray, shape (n_individuals,), float64
        Normalized expression; NaN marks individuals to leave out of fitting.
    train_mask : numpy.ndarray, shape (n_individuals,), bool
        True for training individuals.
    variant_ids : numpy.ndarray, shape (n_variants,)
        Variant labels.
    min_maf : float
        Keep variants with minor-allele frequency ``>= min_maf`` among the fitting
        individuals (and polymorphic there).
    gene : str
        Gene ID, carried into the result and error messages.

    Returns
    -------
    PreparedGene or GeneFit
        The filtered design; or, when nothing can be fitted, a :class:`GeneFit` predicting
        NaN (:data:`NOTE_NO_TRAINING`) or the training mean (:data:`NOTE_NO_VARIANTS`).

    Raises
    ------
    InputError
        If shapes disagree, ``train_mask`` is not boolean, or a dosage is not finite.
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
        return constant_fit(gene, n_ind, math.nan, n_var, 0, NOTE_NO_TRAINING)
    y_fit = expression[fit_rows]
    d_fit = dosages[fit_rows]
    alt_freq = d_fit.mean(axis=0, dtype=np.float64) / 2.0
    maf = np.minimum(alt_freq, 1.0 - alt_freq)
    polymorphic = d_fit.max(axis=0) > d_fit.min(axis=0) if n_var else np.zeros(0, bool)
    keep = np.flatnonzero(polymorphic & (maf >= min_maf))
    if keep.size == 0:
        return constant_fit(gene, n_ind, float(y_fit.mean()), n_var, 0, NOTE_NO_VARIANTS)
    x_all = dosages[:, keep]
    return PreparedGene(
        gene=gene,
        n_window=n_var,
        x_fit=x_all[fit_rows],
        y_fit=y_fit,
        x_all=x_all,
        ids=variant_ids[keep],
    )


def check_maf(min_maf: float) -> None:
    """Check a ``min_maf`` setting.

    Parameters
    ----------
    min_maf : float
        Minor-allele frequency threshold.

    Raises
    ------
    ConfigError
        If ``min_maf`` is not in [0, 0.5).
    """
    if not 0.0 <= min_maf < 0.5:
        raise ConfigError(f"min_maf must be in [0, 0.5), got {min_maf}")


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two vectors.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (n,), float64
        Paired values, finite.

    Returns
    -------
    float
        r, or NaN when either vector is constant.
    """
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else math.nan
