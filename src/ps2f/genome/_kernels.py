"""Numba kernels behind :mod:`ps2f.genome.haplotypes` (private; flat arrays + offsets only).

Every kernel is ``njit(nogil=True, cache=True)``: no Python object is touched, so callers may run
them from several threads at once on disjoint output rows.

The rules implemented here (overlap resolution, TSS mapping) are stated in the docstring of
:mod:`ps2f.genome.haplotypes`; :func:`tss_offset` and :func:`emit` walk the same sequence of
applied alleles and must stay in step.

Variants in use are one ``(V, 4)`` int32 (or int64) table ``vinfo``, columns 0-3:
``pos`` (0-based), ``len(REF)``, offset of the ALT codes in ``alt``, ``2 * len(ALT) + anchored``
(``anchored``: an indel sharing its first base, see
:func:`ps2f.genome.store.htslib_anchored_indel`). ``hb`` holds one bit per haplotype and variant,
``uint64`` words, haplotype-major.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint8, uint64

__all__ = [
    "DEBRUIJN_TABLE",
    "haplotype_batch",
    "reference_batch",
    "count_overlap_skips",
]

_DEBRUIJN = 0x03F79D71B4CB0A89
DEBRUIJN_TABLE = np.zeros(64, dtype=np.int64)
for _i in range(64):
    DEBRUIJN_TABLE[(((1 << _i) * _DEBRUIJN) & 0xFFFFFFFFFFFFFFFF) >> 58] = _i
_N = uint8(4)


@njit(nogil=True, cache=True, inline="always")
def _lowest_bit_index(t, table):
    """Index of the single set bit of ``t`` (uint64), by de Bruijn multiplication."""
    return table[(t * uint64(_DEBRUIJN)) >> uint64(58)]


@njit(nogil=True, cache=True, inline="always")
def _word_mask(wi, vlo, vhi):
    """Bits of 64-bit word ``wi`` that fall inside variant range ``[vlo, vhi)``."""
    mask = ~uint64(0)
    base = wi * 64
    if vlo > base:
        mask &= ~uint64(0) << uint64(vlo - base)
    if vhi < base + 64:
        mask &= (uint64(1) << uint64(vhi - base)) - uint64(1)
    return mask


@njit(nogil=True, cache=True, inline="always")
def _copy(row, d, src, s, n, rc, L):
    """Write ``src[s:s+n]`` at output position ``d`` (forward) or reverse-complemented."""
    if rc:
        e = uint64(L - 1 - d)
        s0 = uint64(s)
        for i in range(uint64(n)):
            c = src[s0 + i]
            # complement of codes A,C,G,T,N = 0..4 is T,G,C,A,N: xor 3 unless N
            row[e - i] = c ^ ((((~c) >> uint8(2)) & uint8(1)) * uint8(3))
    else:
        d0 = uint64(d)
        s0 = uint64(s)
        for i in range(uint64(n)):
            row[d0 + i] = src[s0 + i]


@njit(nogil=True, cache=True, inline="always")
def _fill_n(row, d, n, rc, L):
    """Write ``n`` N codes at output position ``d`` (forward) or its mirror (``rc``)."""
    start = L - d - n if rc else d
    for i in range(uint64(n)):
        row[uint64(start) + i] = _N


@njit(nogil=True, cache=True, inline="always")
def _ref_piece(row, q, x0, x1, w0, L, rc, refbuf, roff, r0, r1):
    """Emit reference ``[x0, x1)`` that sits at personal coordinate ``q``; clip to the window."""
    n = x1 - x0
    lo = max(q, w0)
    hi = min(q + n, w0 + L)
    if lo >= hi:
        return
    a = x0 + (lo - q)  # reference coordinate of the first emitted base
    b = a + (hi - lo)
    d = lo - w0  # its output position
    # bases outside the buffer [r0, r1) are N (never reached when the buffer budget holds)
    ca = min(max(a, r0), b)
    cb = max(min(b, r1), ca)
    if ca > a:
        _fill_n(row, d, ca - a, rc, L)
    if cb > ca:
        _copy(row, d + (ca - a), refbuf, roff + (ca - r0), cb - ca, rc, L)
    if b > cb:
        _fill_n(row, d + (cb - a), b - cb, rc, L)


@njit(nogil=True, cache=True)
def tss_offset(hb_row, vlo, vhi, vinfo, r0, tss, table):
    """Personal coordinate of the TSS: bases of the haplotype's sequence from ``r0`` before it.

    ``[vlo, vhi)`` need only cover the variants starting at or before the TSS.
    """
    cur = r0
    q = 0
    frz = r0 - 1
    prev_ins = False
    if vhi <= vlo:
        return tss - r0
    for wi in range(vlo >> 6, ((vhi - 1) >> 6) + 1):
        x = hb_row[wi] & _word_mask(wi, vlo, vhi)
        while x != uint64(0):
            t = x & (~x + uint64(1))
            x ^= t
            v = wi * 64 + _lowest_bit_index(t, table)
            p = vinfo[v, 0]
            r = vinfo[v, 1]
            a = vinfo[v, 3] >> 1
            skip = 0
            if p <= frz:
                if p == frz and (vinfo[v, 3] & 1) and not prev_ins:
                    skip = 1
                else:
                    continue
            s = p + skip
            if tss < s:
                return q + (tss - cur)
            q += s - cur
            if tss < p + r:
                return q + min(tss - s, a - skip)
            q += a - skip
            cur = p + r
            frz = p + r - 1
            prev_ins = a > r
    return q + (tss - cur)


@njit(nogil=True, cache=True, inline="always")
def _flush(row, q, cur, s, w0, L, rc, refbuf, roff, r0, r1, alt, patch_q, patch_a, patch_n, n):
    """Emit the reference run ``[cur, s)`` at personal ``q``, then its ``n`` pending patches."""
    _ref_piece(row, q, cur, s, w0, L, rc, refbuf, roff, r0, r1)
    end = w0 + L
    for i in range(n):
        pq = patch_q[i]
        if patch_n[i] == 1:  # SNV: one byte
            if w0 <= pq < end:
                c = alt[patch_a[i]]
                if rc:
                    row[L - 1 - (pq - w0)] = c ^ ((((~c) >> uint8(2)) & uint8(1)) * uint8(3))
                else:
                    row[pq - w0] = c
            continue
        lo = max(pq, w0)
        hi = min(pq + patch_n[i], end)
        if lo < hi:
            _copy(row, lo - w0, alt, patch_a[i] + (lo - pq), hi - lo, rc, L)


@njit(nogil=True, cache=True)
def emit(
    row, L, rc, w0, hb_row, vlo, vhi, vinfo, alt, refbuf, roff, r0, r1, table,
    patch_q, patch_a, patch_n,
):  # fmt: skip
    """Write personal bases ``[w0, w0 + L)`` of one haplotype into ``row`` (shape (L,)).

    Same-length alleles (SNVs, MNVs) do not interrupt the reference run they sit in: they are
    queued in ``patch_*`` (scratch arrays at least ``vhi - vlo`` long) and written over the run
    once it is copied, so a haplotype costs one long copy per length-changing allele.
    """
    cur = r0  # reference start of the pending run
    q = 0  # its personal coordinate
    frz = r0 - 1
    prev_ins = False
    end = w0 + L
    n_patch = 0
    if vhi > vlo:
        for wi in range(vlo >> 6, ((vhi - 1) >> 6) + 1):
            x = hb_row[wi] & _word_mask(wi, vlo, vhi)
            while x != uint64(0):
                t = x & (~x + uint64(1))
                x ^= t
                v = wi * 64 + _lowest_bit_index(t, table)
                p = vinfo[v, 0]
                r = vinfo[v, 1]
                a0 = vinfo[v, 2]
                a = vinfo[v, 3] >> 1
                skip = 0
                if p <= frz:
                    if p == frz and (vinfo[v, 3] & 1) and not prev_ins:
                        skip = 1
                    else:
                        continue
                if skip == 0 and a == r:
                    pq = q + (p - cur)
                    if pq >= end:
                        break  # past the window: only the run before it is left to write
                    patch_q[n_patch] = pq
                    patch_a[n_patch] = a0
                    patch_n[n_patch] = a
                    n_patch += 1
                    frz = p + r - 1
                    prev_ins = False
                    continue
                s = p + skip
                _flush(row, q, cur, s, w0, L, rc, refbuf, roff, r0, r1, alt, patch_q, patch_a,
                       patch_n, n_patch)  # fmt: skip
                n_patch = 0
                q += s - cur
                if q >= end:
                    return
                n = a - skip
                lo = max(q, w0)
                hi = min(q + n, end)
                if lo < hi:
                    _copy(row, lo - w0, alt, a0 + skip + (lo - q), hi - lo, rc, L)
                q += n
                if q >= end:
                    return
                cur = p + r
                frz = p + r - 1
                prev_ins = a > r
            else:
                continue
            break
    # the reference after the last length-changing allele, with its patches
    _flush(row, q, cur, cur + (end - q), w0, L, rc, refbuf, roff, r0, r1, alt, patch_q, patch_a,
           patch_n, n_patch)  # fmt: skip


@njit(nogil=True, cache=True)
def haplotype_batch(
    out, genes, rows, hb, vinfo, alt, g_vlo, g_vtss, g_vhi, g_r0, g_r1, g_roff, g_tss, g_left,
    g_minus, refbuf, table,
):  # fmt: skip
    """Fill ``out`` (B, 2, L) uint8 with both haplotypes of each (gene, individual) pair.

    ``rows[b]`` is the individual's first haplotype row in ``hb`` (its second is ``rows[b] + 1``).
    Gene ``g`` uses variants ``[g_vlo[g], g_vhi[g])``; ``g_vtss[g]`` ends the ones that can move
    its TSS (``g_vlo[g]`` when none of them changes length: the TSS then stays put).
    """
    L = out.shape[2]
    width = 1
    for b in range(out.shape[0]):
        width = max(width, g_vhi[genes[b]] - g_vlo[genes[b]])
    patch_q = np.empty(width, np.int64)
    patch_a = np.empty(width, np.int64)
    patch_n = np.empty(width, np.int64)
    for b in range(out.shape[0]):
        g = genes[b]
        vlo = g_vlo[g]
        vhi = g_vhi[g]
        r0 = g_r0[g]
        for h in range(2):
            hb_row = hb[rows[b] + h]
            pt = tss_offset(hb_row, vlo, g_vtss[g], vinfo, r0, g_tss[g], table)
            emit(
                out[b, h], L, g_minus[g], pt - g_left[g], hb_row, vlo, vhi, vinfo, alt, refbuf,
                g_roff[g], r0, g_r1[g], table, patch_q, patch_a, patch_n,
            )  # fmt: skip


@njit(nogil=True, cache=True)
def reference_batch(out, genes, g_r0, g_r1, g_roff, g_tss, g_left, g_minus, refbuf):
    """Fill ``out`` (B, L) uint8 with each gene's strand-oriented reference window."""
    L = out.shape[1]
    for b in range(out.shape[0]):
        g = genes[b]
        a = g_tss[g] - g_left[g]
        _ref_piece(out[b], 0, a, a + L, 0, L, g_minus[g], refbuf, g_roff[g], g_r0[g], g_r1[g])


@njit(nogil=True, cache=True)
def count_overlap_skips(pos, rlen, alen, anchored, genotypes, n_haps):
    """Per variant, how many haplotypes carry its ALT but drop it as overlapping an earlier one.

    Parameters
    ----------
    pos, rlen, alen : numpy.ndarray, shape (V,), int64
    anchored : numpy.ndarray, shape (V,), bool
    genotypes : numpy.ndarray, shape (V, ceil(n_haps / 8)), uint8
        Variant-major bit-packed ALT indicators (big-endian bit order).
    n_haps : int

    Returns
    -------
    numpy.ndarray, shape (V,), int64
    """
    V = pos.shape[0]
    frz = np.full(n_haps, np.iinfo(np.int64).min, dtype=np.int64)
    prev_ins = np.zeros(n_haps, dtype=np.bool_)
    skipped = np.zeros(V, dtype=np.int64)
    for v in range(V):
        p = pos[v]
        row = genotypes[v]
        for hap in range(n_haps):
            if (row[hap >> 3] >> (7 - (hap & 7))) & 1:
                if p <= frz[hap]:
                    if not (p == frz[hap] and anchored[v] and not prev_ins[hap]):
                        skipped[v] += 1
                        continue
                frz[hap] = p + rlen[v] - 1
                prev_ins[hap] = alen[v] > rlen[v]
    return skipped
