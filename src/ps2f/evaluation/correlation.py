"""Pearson correlation and its p-value, vectorized over groups or resamples (no torch).

The statistics every per-gene metric is built from: :func:`group_pearson` gives Pearson r for
all groups (genes of a cell, (model, cell) pairs) at once from group sums, :func:`corr_pvalue`
its two-sided p-value under independence, and :func:`pearson_rows` the r of each of a stack of
resampled pair sets (the bootstrap of the cross-gene r).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["group_pearson", "corr_pvalue", "pearson_rows"]

# Relative spread under which a vector counts as constant: scipy.stats.pearsonr's
# near-constant threshold (||x - mean(x)|| < 1e-13 * |mean(x)|), below which r is rounding noise.
_NEAR_CONSTANT_RTOL = 1e-13


def group_pearson(
    group: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pearson r of ``x`` vs ``y`` within each group, ignoring rows where either is NaN.

    Parameters
    ----------
    group : numpy.ndarray, shape (rows,), int64
        Group code of each row, in ``0..n_groups-1``.
    x, y : numpy.ndarray, shape (rows,), float64
        Paired values; a row with a NaN in either is left out of its group.
    n_groups : int
        Number of groups.

    Returns
    -------
    r, n : numpy.ndarray, shape (n_groups,), float64
        Pearson r (NaN where undefined) and the number of complete rows per group.
    const_x, const_y : numpy.ndarray, shape (n_groups,), bool
        Whether ``x`` / ``y`` is constant (or constant up to rounding) within the group.
    """
    ok = ~(np.isnan(x) | np.isnan(y))
    w = ok.astype(np.float64)
    n = np.bincount(group, weights=w, minlength=n_groups)
    x0 = np.where(ok, x, 0.0)
    y0 = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(group, weights=x0, minlength=n_groups) / n
        my = np.bincount(group, weights=y0, minlength=n_groups) / n
        dx = np.where(ok, x0 - mx[group], 0.0)
        dy = np.where(ok, y0 - my[group], 0.0)
        sxx = np.bincount(group, weights=dx * dx, minlength=n_groups)
        syy = np.bincount(group, weights=dy * dy, minlength=n_groups)
        sxy = np.bincount(group, weights=dx * dy, minlength=n_groups)

        ext = (
            pd.DataFrame({"x": np.where(ok, x, np.nan), "y": np.where(ok, y, np.nan)})
            .groupby(group)
            .agg(["min", "max"])
            .reindex(range(n_groups))
        )
        const_x = (ext[("x", "max")] == ext[("x", "min")]).to_numpy() | (
            np.sqrt(sxx) < _NEAR_CONSTANT_RTOL * np.abs(mx)
        )
        const_y = (ext[("y", "max")] == ext[("y", "min")]).to_numpy() | (
            np.sqrt(syy) < _NEAR_CONSTANT_RTOL * np.abs(my)
        )
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    r[const_x | const_y | (n < 2)] = np.nan
    return r, n, const_x, const_y


def corr_pvalue(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a correlation coefficient under independence.

    Under bivariate normality and rho = 0, ``(r + 1) / 2 ~ Beta(n/2 - 1, n/2 - 1)``, equivalently
    ``r * sqrt((n - 2) / (1 - r**2)) ~ t(n - 2)``; this is the p-value of
    :func:`scipy.stats.pearsonr` (and, applied to ranks, of :func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    r : numpy.ndarray, float64
        Correlation coefficients in [-1, 1] (NaN allowed).
    n : numpy.ndarray, float64
        Numbers of pairs, same shape; p is NaN where ``n < 3``.

    Returns
    -------
    numpy.ndarray, float64
        p in [0, 1].
    """
    a = n / 2.0 - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * special.betainc(a, a, (1.0 - np.abs(r)) / 2.0)
    p = np.where((n >= 3) & ~np.isnan(r), np.clip(p, 0.0, 1.0), np.nan)
    return p


def pearson_rows(a: np.ndarray) -> np.ndarray:
    """Pearson r within each resample of pairs.

    Parameters
    ----------
    a : numpy.ndarray, shape (B, m, 2), float64
        B resamples of m (x, y) pairs; no NaN.

    Returns
    -------
    numpy.ndarray, shape (B,), float64
        Pearson r of x vs y in each resample; NaN where x or y is exactly constant.
    """
    d = a - a.mean(axis=1, keepdims=True)
    sxy = np.einsum("bm,bm->b", d[..., 0], d[..., 1])
    sxx = np.einsum("bm,bm->b", d[..., 0], d[..., 0])
    syy = np.einsum("bm,bm->b", d[..., 1], d[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r[(sxx == 0) | (syy == 0)] = np.nan
    return r
