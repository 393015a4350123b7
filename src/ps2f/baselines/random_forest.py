"""Per-gene RandomForest on cis dosages (scikit-learn ``RandomForestRegressor``).

The same inputs, MAF filter and result as the ElasticNet (:mod:`ps2f.baselines.gene_fit`); the
forest's out-of-bag predictions give a free performance estimate (``oob_r``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from ps2f.baselines.gene_fit import GeneFit, check_maf, pearson_r, prepare_gene
from ps2f.errors import ConfigError

__all__ = ["RandomForestConfig", "fit_random_forest"]


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
        check_maf(self.min_maf)


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
    prep = prepare_gene(dosages, expression, train_mask, variant_ids, config.min_maf, gene)
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
    oob_r = pearson_r(oob[ok], prep.y_fit[ok]) if ok.sum() >= 3 else math.nan
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
