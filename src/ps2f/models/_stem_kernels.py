"""Numba kernels of the CNN's stem on sequence codes (private; see :func:`ps2f.models.cnn._code_stem`).

The stem is ``conv(4 -> C, K) -> ReLU -> max-pool(s)`` on one-hot input. On one-hot input the
convolution's output at position ``l`` is ``bias + sum_j T_j[kmer[l + j m]]``: the kernel's
offsets cut into ``J`` chunks of ``m``, ``T_j`` the table of chunk ``j``'s contribution for
each of the ``5**m`` m-mers (``N`` contributes nothing), ``kmer`` the base-5 code of the m-mer
starting at each position of the padded sequence (:func:`kmer_codes`). The kernels compute, in
one pass over the positions, that sum, the max-pool and the ReLU (forward), and the gradient of
the tables and the bias (backward) with ``torch.amax``'s tie rule: a window's gradient is shared
equally by the positions holding its maximum, and a window whose maximum is <= 0 (ReLU) passes
none.

Every position's value is computed by the same expression (``bias``, then ``T_0``, ``T_1``,
... in order) in both kernels, so the backward pass finds exactly the maxima the forward pass
found. The expression is written out in each kernel on purpose: as a shared ``inline="always"``
helper it measured 1.3-1.5x slower (the backward pass's per-position row no longer vectorized). Outputs and gradients are ``(n, C, positions)`` (the layout of the blocks that follow),
read and written through a tile of ``_TILE`` positions x ``C`` channels: a position's ``C``
values written straight into that layout would be ``positions * 4`` bytes apart, in one L1
cache set (measured 1.6x slower). All kernels are ``njit(nogil=True, cache=True)`` and serial.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kmer_codes", "stem_forward", "stem_backward"]

_TILE = 16


@njit(nogil=True, cache=True)
def kmer_codes(padded, m, span):  # pragma: no cover - numba
    """Base-5 code of the m-mer starting at each of the first ``span`` positions of each row.

    Parameters
    ----------
    padded : numpy.ndarray, shape (n, span + m - 1), uint8
        Codes ``0..4`` (``N = 4``), padded with ``N``.
    m, span : int

    Returns
    -------
    numpy.ndarray, shape (n, span), int64
        ``sum_t padded[i, l + t] * 5**(m - 1 - t)``.
    """
    n = padded.shape[0]
    out = np.empty((n, span), np.int64)
    top = 5 ** (m - 1)
    for i in range(n):
        code = 0
        for t in range(m - 1):
            code = code * 5 + padded[i, t]
        for q in range(span):
            code = code * 5 + padded[i, q + m - 1]
            out[i, q] = code
            code -= padded[i, q] * top
    return out


@njit(nogil=True, cache=True)
def stem_forward(kmer, tables, bias, m, pool, out, peak):  # pragma: no cover - numba
    """Pooled, rectified stem output of rows ``kmer``.

    Parameters
    ----------
    kmer : numpy.ndarray, shape (n, length + (J - 1) * m), int64
    tables : numpy.ndarray, shape (J, 5**m, C), float32
    bias : numpy.ndarray, shape (C,), float32
    m, pool : int
    out : numpy.ndarray, shape (n, C, length // pool), float32
        Written: ``max(0, max over the window of the convolution)``.
    peak : numpy.ndarray, shape (n, length // pool, C), float32
        Written: the window's maximum before the ReLU (for :func:`stem_backward`).
    """
    n = kmer.shape[0]
    n_chunks, _, channels = tables.shape
    positions = out.shape[2]
    y = np.empty(channels, np.float32)
    tile = np.empty((_TILE, channels), np.float32)
    for i in range(n):
        for p0 in range(0, positions, _TILE):
            width = min(_TILE, positions - p0)
            for dp in range(width):
                p = p0 + dp
                best = tile[dp]
                best[:] = -np.inf
                for s in range(pool):
                    at = p * pool + s
                    y[:] = bias
                    for j in range(n_chunks):
                        row = kmer[i, at + j * m]
                        for c in range(channels):
                            y[c] += tables[j, row, c]
                    for c in range(channels):
                        if y[c] > best[c] or y[c] != y[c]:  # NaN propagates, as in amax
                            best[c] = y[c]
                for c in range(channels):
                    peak[i, p, c] = best[c]
            for c in range(channels):
                for dp in range(width):
                    v = tile[dp, c]
                    out[i, c, p0 + dp] = v if v > 0 else np.float32(0.0)


@njit(nogil=True, cache=True)
def stem_backward(
    kmer, tables, bias, m, pool, peak, grad, grad_tables, grad_bias
):  # pragma: no cover
    """Accumulate the gradient of the tables and the bias (see the module docstring).

    Parameters
    ----------
    kmer, tables, bias, m, pool
        As given to :func:`stem_forward`.
    peak : numpy.ndarray, shape (n, positions, C), float32
        :func:`stem_forward`'s ``peak``.
    grad : numpy.ndarray, shape (n, C, positions), float32
        Gradient of the output.
    grad_tables : numpy.ndarray, shape (J, 5**m, C), float32
        Added to.
    grad_bias : numpy.ndarray, shape (C,), float32
        Added to.
    """
    n = kmer.shape[0]
    n_chunks, _, channels = tables.shape
    positions = peak.shape[1]
    y = np.empty((pool, channels), np.float32)
    share = np.empty(channels, np.float32)
    part = np.empty(channels, np.float32)
    tile = np.empty((_TILE, channels), np.float32)
    for i in range(n):
        for p0 in range(0, positions, _TILE):
            width = min(_TILE, positions - p0)
            for c in range(channels):
                for dp in range(width):
                    tile[dp, c] = grad[i, c, p0 + dp]
            for dp in range(width):
                p = p0 + dp
                share[:] = 0
                for s in range(pool):
                    at = p * pool + s
                    y[s, :] = bias
                    for j in range(n_chunks):
                        row = kmer[i, at + j * m]
                        for c in range(channels):
                            y[s, c] += tables[j, row, c]
                    for c in range(channels):
                        if y[s, c] == peak[i, p, c]:
                            share[c] += 1
                for c in range(channels):
                    top = peak[i, p, c]
                    share[c] = tile[dp, c] / share[c] if top > 0 else np.float32(0.0)
                for s in range(pool):
                    at = p * pool + s
                    for c in range(channels):  # adding 0 where not a maximum: vectorizes
                        part[c] = share[c] if y[s, c] == peak[i, p, c] else np.float32(0.0)
                        grad_bias[c] += part[c]
                    for j in range(n_chunks):
                        row = kmer[i, at + j * m]
                        for c in range(channels):
                            grad_tables[j, row, c] += part[c]
