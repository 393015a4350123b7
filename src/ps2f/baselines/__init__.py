"""Genotype baselines fitted per gene on cis-window dosages (PrediXcan-style ElasticNet, RF)."""

from ps2f.baselines.genotype import (
    METHODS,
    ElasticNetConfig,
    GeneFit,
    RandomForestConfig,
    fit_elastic_net,
    fit_genes,
    fit_random_forest,
)

__all__ = [
    "METHODS",
    "ElasticNetConfig",
    "RandomForestConfig",
    "GeneFit",
    "fit_elastic_net",
    "fit_random_forest",
    "fit_genes",
]
