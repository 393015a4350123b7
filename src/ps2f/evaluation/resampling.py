"""Seeded resampling shared by the evaluation statistics: bootstrap, percentile CIs (no torch).

Every (model, cell, statistic) draws from its own generator (:func:`seeded_rng`), seeded by the
user's seed and the names, so a result does not depend on which other models or cells are in
the table. :func:`bootstrap` resamples genes with replacement (the summaries of
:mod:`ps2f.evaluation.summary` and the paired comparisons of :mod:`ps2f.evaluation.compare`),
:func:`percentile_ci` turns a bootstrap sample into an interval (Efron & Tibshirani 1993, ch.
13), and :data:`CHUNK_ELEMENTS` bounds the memory of the bootstrap and of the permutation nulls
of :func:`ps2f.evaluation.metrics.permutation_metrics`.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np

from ps2f.evaluation.correlation import pearson_rows

__all__ = ["CHUNK_ELEMENTS", "seeded_rng", "bootstrap", "percentile_ci"]

#: Resampling index arrays are drawn in chunks of at most this many elements (memory bound
#: ~32 MB of int64).
CHUNK_ELEMENTS = 4_000_000


def seeded_rng(seed: int, model: str, cell: str, what: str) -> np.random.Generator:
    """Make a generator seeded by ``seed`` and the (model, cell, statistic) name.

    A group's resamples therefore do not depend on which other groups are in the table.

    Parameters
    ----------
    seed : int
        The user's seed.
    model, cell, what : str
        Names of the group and of what is drawn (e.g. ``"genes"``, ``"permutations n=40"``).

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng([seed, CRC32(model NUL cell NUL what)])``.
    """
    key = zlib.crc32(f"{model}\x00{cell}\x00{what}".encode())
    return np.random.default_rng([seed, key])


_REDUCERS = {
    "median": lambda a: np.median(a, axis=1),
    "nanmedian": lambda a: np.nanmedian(a, axis=1),
    "mean": lambda a: a.mean(axis=1),
    "sum": lambda a: a.sum(axis=1),
    "pearson": pearson_rows,
}


def bootstrap(
    columns: dict[str, tuple[np.ndarray, str]], n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Bootstrap distributions of several statistics of the same resampled genes.

    Parameters
    ----------
    columns : dict of str to (numpy.ndarray of shape (genes,) or (genes, k), str)
        Per-gene values and the reducer applied to each resample (``"median"``,
        ``"nanmedian"``, ``"mean"``, ``"sum"``, or ``"pearson"`` for (genes, 2) pairs). All
        arrays have the same first dimension and are resampled with the same indices.
    n_boot : int
        Number of resamples.
    rng : numpy.random.Generator
        Source of the resampling indices.

    Returns
    -------
    dict of str to numpy.ndarray, shape (n_boot,), float64
        The statistic of each resample. Resamples are drawn in chunks to bound memory.
    """
    m = next(iter(columns.values()))[0].shape[0]
    out = {k: np.empty(n_boot, dtype=np.float64) for k in columns}
    chunk = max(1, CHUNK_ELEMENTS // max(m, 1))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, m, size=(stop - start, m))
        for k, (values, how) in columns.items():
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resample: NaN
                out[k][start:stop] = _REDUCERS[how](values[idx])
    return out


def percentile_ci(boot: np.ndarray | None, ci_level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) of a bootstrap sample.

    Parameters
    ----------
    boot : numpy.ndarray, shape (B,), float64, or None
        Statistic of each resample; NaN resamples (e.g. a correlation of a constant resample)
        are left out.
    ci_level : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    (float, float)
        The ``(1 - ci_level) / 2`` and ``(1 + ci_level) / 2`` quantiles; NaN when ``boot`` is
        None or has no finite value.
    """
    if boot is None:
        return np.nan, np.nan
    b = boot[np.isfinite(boot)]
    if b.size == 0:
        return np.nan, np.nan
    lo, hi = np.quantile(b, [(1.0 - ci_level) / 2.0, (1.0 + ci_level) / 2.0])
    return float(lo), float(hi)
