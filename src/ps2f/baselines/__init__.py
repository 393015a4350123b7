"""Genotype baselines fitted per gene on cis-window dosages (PrediXcan-style ElasticNet, RF).

* :mod:`ps2f.baselines.gene_fit`: one gene's inputs (validation, MAF filter on the fitting
  individuals) and its result, :class:`GeneFit`.
* :mod:`ps2f.baselines.elastic_net`: ElasticNet with PredictDB's protocol (``cv.glmnet``,
  ``lambda.min``, nested CV), on the glmnet path solver of :mod:`ps2f.baselines.glmnet`.
* :mod:`ps2f.baselines.random_forest`: scikit-learn RandomForest with out-of-bag r.
* :mod:`ps2f.baselines.parallel`: :func:`fit_genes`, either method over many genes (joblib).
"""

from ps2f.baselines.elastic_net import ElasticNetConfig, fit_elastic_net
from ps2f.baselines.gene_fit import GeneFit
from ps2f.baselines.parallel import METHODS, fit_genes
from ps2f.baselines.random_forest import RandomForestConfig, fit_random_forest

__all__ = [
    "METHODS",
    "ElasticNetConfig",
    "RandomForestConfig",
    "GeneFit",
    "fit_elastic_net",
    "fit_random_forest",
    "fit_genes",
]
