"""Fit a genotype baseline for many genes in parallel (joblib), one gene per task.

Each gene runs single-threaded (forest ``n_jobs=1``, BLAS limited to one thread) so that the
parallelism is over genes only and the results do not depend on the number of workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import nullcontext

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from ps2f.baselines.elastic_net import ElasticNetConfig, fit_elastic_net
from ps2f.baselines.gene_fit import GeneFit
from ps2f.baselines.random_forest import RandomForestConfig, fit_random_forest
from ps2f.errors import ConfigError
from ps2f.progress import ProgressLog

__all__ = ["METHODS", "fit_genes"]

#: Baseline methods :func:`fit_genes` knows.
METHODS: tuple[str, ...] = ("elastic_net", "random_forest")


def fit_genes(
    gene_inputs: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    method: str,
    config: ElasticNetConfig | RandomForestConfig | None = None,
    n_jobs: int = 1,
    backend: str = "loky",
    log: logging.Logger | None = None,
    total: int | None = None,
) -> list[GeneFit]:
    """Fit one baseline per gene, in parallel over genes.

    Parameters
    ----------
    gene_inputs : iterable of (gene, dosages, expression, train_mask, variant_ids)
        One tuple per gene, with the arrays of
        :func:`ps2f.baselines.elastic_net.fit_elastic_net`. A generator is consumed
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
    log : logging.Logger, optional
        With ``total``: progress lines (genes done / ``total``, rate, time left) at most every
        30 s, as genes finish (:class:`ps2f.progress.ProgressLog`).
    total : int, optional
        Number of genes in ``gene_inputs`` (a generator has no length).

    Returns
    -------
    list of GeneFit
        In the order of ``gene_inputs``.

    Raises
    ------
    ConfigError
        If ``method`` is unknown or ``config`` is of the other method's type.
    InputError
        As :func:`ps2f.baselines.elastic_net.fit_elastic_net` for any gene.
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
    progress = ProgressLog(method, total, log) if log is not None and total is not None else None
    fits = []
    with threadpool_limits(limits=1) if in_process else nullcontext():
        # results come back in input order as they finish, so progress can be logged
        for fit in Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")(jobs):
            fits.append(fit)
            if progress is not None:
                progress.update()
    return fits


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
