"""Numba kernels behind :mod:`ps2f.genome.haplotypes` (private; flat arrays + offsets only).

Every kernel is ``njit(nogil=True, cache=True)``: no Python object is touched, so callers may run
them from several threads at once on disjoint output rows.

The rules implemented here (overlap resolution, TSS mapping) are stated in the docstring of
:mod:`ps2f.genome.haplotypes`; :func:`tss_offset` and :func:`emit` walk the same sequence of
applied alleles and must stay in step.

How a batch is written (each step measured on the chr20 benchmark of
``benchmarks/haplotypes.py``, where copying the output is ~70% of the time):

* Two phases. :func:`emit` walks a haplotype's variants and *plans* its writes (rows ``(op,
  start, source offset, length)`` of a ``plan`` array: a reference run, an ALT allele, a run of
  N); :func:`run_plan` then executes the plan of many haplotypes at once. Walking the variant
  bits and the variant table between the big copies stalled on cache misses (the batch streams
  through the caches); walked together they stay cached (6-10% faster on chr20).
* Copies go in 32-byte vector blocks (:func:`_block_copy`, :func:`_block_revcomp`), the last
  block overlapping the one before it, so no run ends in a byte-by-byte loop (LLVM's own
  vectorized loop left up to 255 bytes to a scalar remainder, and the reverse complement was
  not vectorized at all).
* The first variant-bit words of the pair 4 items ahead are prefetched: each haplotype's bits
  are a random row of ``hb``, usually evicted by the output (~6%).
* The two batch kernels are compiled without numba's reference counting (``_nrt=False``, their
  helpers inlined into them): they allocate nothing, and the per-haplotype increments and
  decrements of the arrays' reference counts (atomic operations) took ~8% of a batch. Output
  rows are addressed as offsets into one flat view of the output.

Variants in use are one ``(V, 4)`` int32 (or int64) table ``vinfo``, columns 0-3:
``pos`` (0-based), ``len(REF)``, offset of the ALT codes in ``alt``, ``2 * len(ALT) + anchored``
(``anchored``: an indel sharing its first base, see
:func:`ps2f.genome.store.htslib_anchored_indel`). ``hb`` holds one bit per haplotype and variant,
``uint64`` words, haplotype-major.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint8, uint64
from numba.extending import intrinsic

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


_W = 32  # bytes per vector block of the reference copies
_AHEAD = 4  # items ahead whose variant bits are prefetched


def _block_codegen(revcomp: bool):
    """LLVM IR of one ``_W``-byte block copy: an unaligned vector load and store."""

    def codegen(context, builder, signature, args):
        vec = ir.VectorType(ir.IntType(8), _W)
        ptrs = []
        for k in (0, 2):
            arr = context.make_array(signature.args[k])(context, builder, args[k])
            off = context.cast(builder, args[k + 1], signature.args[k + 1], types.intp)
            ptrs.append(builder.bitcast(builder.gep(arr.data, [off]), vec.as_pointer()))
        v = builder.load(ptrs[1], align=1)
        if revcomp:  # reverse the block, then complement each code as _comp does
            order = ir.Constant(ir.VectorType(ir.IntType(32), _W), list(range(_W - 1, -1, -1)))
            v = builder.shuffle_vector(v, ir.Constant(vec, None), order)
            one = ir.Constant(vec, [1] * _W)
            bit = builder.and_(builder.lshr(builder.not_(v), ir.Constant(vec, [2] * _W)), one)
            v = builder.xor(v, builder.or_(bit, builder.shl(bit, one)))
        builder.store(v, ptrs[0], align=1)
        return context.get_dummy_value()

    return codegen


def _block_sig(dst, d, src, s):
    ok = all(isinstance(a, types.Array) and a.dtype == types.uint8 for a in (dst, src))
    ok = ok and all(isinstance(i, types.Integer) for i in (d, s))
    return types.void(dst, d, src, s) if ok else None


@intrinsic
def _block_copy(typingctx, dst, d, src, s):
    """``dst[d:d+_W] = src[s:s+_W]`` (uint8 arrays, in bounds, not overlapping)."""
    return _block_sig(dst, d, src, s), _block_codegen(False)


@intrinsic
def _block_revcomp(typingctx, dst, d, src, s):
    """``dst[d:d+_W]`` = the reverse complement of the codes ``src[s:s+_W]``."""
    return _block_sig(dst, d, src, s), _block_codegen(True)


@intrinsic
def _prefetch(typingctx, arr, i):
    """Hint the CPU to cache element ``i`` of the C-contiguous ``arr`` (``llvm.prefetch``)."""

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        off = context.cast(builder, args[1], signature.args[1], types.intp)
        byte_ptr = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(a.data, [off]), byte_ptr)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [byte_ptr], fnty)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    ok = isinstance(arr, types.Array) and arr.layout == "C" and isinstance(i, types.Integer)
    return (types.void(arr, i) if ok else None), codegen


@njit(nogil=True, cache=True, inline="always")
def _comp(c):
    """Complement of code ``c``: A,C,G,T,N = 0..4 becomes T,G,C,A,N (xor 3 unless N)."""
    return c ^ ((((~c) >> uint8(2)) & uint8(1)) * uint8(3))


# plan operations: copy from the reference buffer / the ALT codes, + _REV when reverse-complemented
_REF, _ALT, _REV, _FILL_N = 0, 1, 2, 4


@njit(nogil=True, cache=True, inline="always")
def _fwd(dst, t, src, s, n):
    """``dst[t:t+n] = src[s:s+n]``; runs of at least ``_W`` bytes in vector blocks."""
    if n >= _W:
        i = 0
        while i + _W < n:
            _block_copy(dst, t + i, src, s + i)
            i += _W
        _block_copy(dst, t + n - _W, src, s + n - _W)  # overlaps the previous block
    else:
        t0 = uint64(t)
        s0 = uint64(s)
        for i in range(uint64(n)):
            dst[t0 + i] = src[s0 + i]


@njit(nogil=True, cache=True, inline="always")
def _rev(dst, t, src, s, n):
    """``dst[t:t+n]`` = the reverse complement of ``src[s:s+n]``."""
    if n >= _W:
        e = t + n
        i = 0
        while i + _W < n:
            _block_revcomp(dst, e - i - _W, src, s + i)
            i += _W
        _block_revcomp(dst, t, src, s + n - _W)
    else:
        e = uint64(t + n - 1)
        s0 = uint64(s)
        for i in range(uint64(n)):
            dst[e - i] = _comp(src[s0 + i])


@njit(nogil=True, cache=True, inline="always")
def _put(plan, k, op, t, s, n):
    """Append write ``(op, t, s, n)`` to ``plan`` at row ``k``; return ``k + 1``."""
    plan[k, 0] = op
    plan[k, 1] = t
    plan[k, 2] = s
    plan[k, 3] = n
    return k + 1


@njit(nogil=True, cache=True, inline="always")
def _put_copy(plan, k, o, d, kind, s, n, rc, L):
    """Plan ``src[s:s+n]`` (``kind`` _REF or _ALT) at position ``d`` of row ``o`` (mirrored: rc)."""
    if rc:
        return _put(plan, k, kind + _REV, o + L - d - n, s, n)
    return _put(plan, k, kind, o + d, s, n)


@njit(nogil=True, cache=True, inline="always")
def _put_n(plan, k, o, d, n, rc, L):
    """Plan ``n`` N codes at position ``d`` of row ``o`` (mirrored: rc)."""
    return _put(plan, k, _FILL_N, o + (L - d - n if rc else d), 0, n)


@njit(nogil=True, cache=True, inline="always")
def run_plan(dst, plan, k, refbuf, alt):
    """Execute the first ``k`` writes of ``plan``, in order, into ``dst``."""
    for c in range(k):
        op = plan[c, 0]
        t = plan[c, 1]
        s = plan[c, 2]
        n = plan[c, 3]
        if op == _ALT and n == 1:  # an SNV
            dst[t] = alt[s]
        elif op == _REF:
            _fwd(dst, t, refbuf, s, n)
        elif op == _ALT:
            _fwd(dst, t, alt, s, n)
        elif op == _REF + _REV:
            _rev(dst, t, refbuf, s, n)
        elif op == _ALT + _REV:
            _rev(dst, t, alt, s, n)
        else:
            t0 = uint64(t)
            for i in range(uint64(n)):
                dst[t0 + i] = _N


@njit(nogil=True, cache=True, inline="always")
def _ref_piece(plan, k, o, q, x0, x1, w0, L, rc, roff, r0, r1):
    """Plan reference ``[x0, x1)`` that sits at personal coordinate ``q``, clipped to the window."""
    n = x1 - x0
    lo = max(q, w0)
    hi = min(q + n, w0 + L)
    if lo >= hi:
        return k
    a = x0 + (lo - q)  # reference coordinate of the first emitted base
    b = a + (hi - lo)
    d = lo - w0  # its output position
    # bases outside the buffer [r0, r1) are N (never reached when the buffer budget holds)
    ca = min(max(a, r0), b)
    cb = max(min(b, r1), ca)
    if ca > a:
        k = _put_n(plan, k, o, d, ca - a, rc, L)
    if cb > ca:
        k = _put_copy(plan, k, o, d + (ca - a), _REF, roff + (ca - r0), cb - ca, rc, L)
    if b > cb:
        k = _put_n(plan, k, o, d + (cb - a), b - cb, rc, L)
    return k


@njit(nogil=True, cache=True, inline="always")
def tss_offset(hb, hrow, vlo, vhi, vinfo, r0, tss, table):
    """Personal coordinate of the TSS: bases of ``hb[hrow]``'s sequence from ``r0`` before it.

    ``[vlo, vhi)`` need only cover the variants starting at or before the TSS.
    """
    cur = r0
    q = 0
    frz = r0 - 1
    prev_ins = False
    if vhi <= vlo:
        return tss - r0
    for wi in range(vlo >> 6, ((vhi - 1) >> 6) + 1):
        x = hb[hrow, wi] & _word_mask(wi, vlo, vhi)
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
def _flush(plan, k, o, q, cur, s, w0, L, rc, roff, r0, r1, patch_q, patch_a, patch_n, n):
    """Plan the reference run ``[cur, s)`` at personal ``q``, then its ``n`` pending patches."""
    k = _ref_piece(plan, k, o, q, cur, s, w0, L, rc, roff, r0, r1)
    end = w0 + L
    for i in range(n):
        pq = patch_q[i]
        lo = max(pq, w0)
        hi = min(pq + patch_n[i], end)
        if lo < hi:
            k = _put_copy(plan, k, o, lo - w0, _ALT, patch_a[i] + (lo - pq), hi - lo, rc, L)
    return k


@njit(nogil=True, cache=True, inline="always")
def emit(
    plan, k, o, L, rc, w0, hb, hrow, vlo, vhi, vinfo, roff, r0, r1, table,
    patch_q, patch_a, patch_n,
):  # fmt: skip
    """Plan personal bases ``[w0, w0 + L)`` of haplotype ``hb[hrow]`` into row ``o``; return ``k``.

    Same-length alleles (SNVs, MNVs) do not interrupt the reference run they sit in: they are
    queued in ``patch_*`` (scratch arrays at least ``vhi - vlo`` long) and planned after the run,
    so a haplotype costs one long copy per length-changing allele. At most ``4 (vhi - vlo) + 3``
    writes are planned.
    """
    cur = r0  # reference start of the pending run
    q = 0  # its personal coordinate
    frz = r0 - 1
    prev_ins = False
    end = w0 + L
    n_patch = 0
    if vhi > vlo:
        for wi in range(vlo >> 6, ((vhi - 1) >> 6) + 1):
            x = hb[hrow, wi] & _word_mask(wi, vlo, vhi)
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
                k = _flush(plan, k, o, q, cur, s, w0, L, rc, roff, r0, r1, patch_q, patch_a,
                           patch_n, n_patch)  # fmt: skip
                n_patch = 0
                q += s - cur
                if q >= end:
                    return k
                n = a - skip
                lo = max(q, w0)
                hi = min(q + n, end)
                if lo < hi:
                    k = _put_copy(plan, k, o, lo - w0, _ALT, a0 + skip + (lo - q), hi - lo, rc, L)
                q += n
                if q >= end:
                    return k
                cur = p + r
                frz = p + r - 1
                prev_ins = a > r
            else:
                continue
            break
    # the reference after the last length-changing allele, with its patches
    return _flush(plan, k, o, q, cur, cur + (end - q), w0, L, rc, roff, r0, r1, patch_q, patch_a,
                  patch_n, n_patch)  # fmt: skip


@njit(nogil=True, cache=True, _nrt=False)
def haplotype_batch(
    out, genes, rows, hb, vinfo, alt, g_vlo, g_vtss, g_vhi, g_r0, g_r1, g_roff, g_tss, g_left,
    g_minus, refbuf, table, queue, plan,
):  # fmt: skip
    """Fill ``out`` (B, 2, L) uint8, C-contiguous, with both haplotypes of each pair.

    ``rows[b]`` is the individual's first haplotype row in ``hb`` (its second is ``rows[b] + 1``).
    Gene ``g`` uses variants ``[g_vlo[g], g_vhi[g])``; ``g_vtss[g]`` ends the ones that can move
    its TSS (``g_vlo[g]`` when none of them changes length: the TSS then stays put). Work arrays
    (one set per concurrent call): ``queue`` (3, W) int64 with ``W >= g_vhi[g] - g_vlo[g]`` for
    every gene of the batch, and ``plan`` (C, 4) int64 with ``C >= 4 W + 3``; the plan is run
    whenever the next haplotype might not fit.
    """
    B = out.shape[0]
    L = out.shape[2]
    dst = out.reshape(B * 2 * L)
    patch_q = queue[0]
    patch_a = queue[1]
    patch_n = queue[2]
    need = 4 * queue.shape[1] + 3  # most writes one haplotype can plan
    k = 0
    n_words = hb.shape[1]
    for b in range(B):
        if b + _AHEAD < B:  # the first bit words of a pair a few items ahead
            w = rows[b + _AHEAD] * n_words + (g_vlo[genes[b + _AHEAD]] >> 6)
            _prefetch(hb, w)
            _prefetch(hb, w + n_words)
        g = genes[b]
        vlo = g_vlo[g]
        vhi = g_vhi[g]
        r0 = g_r0[g]
        for h in range(2):
            if k + need > plan.shape[0]:
                run_plan(dst, plan, k, refbuf, alt)
                k = 0
            hrow = rows[b] + h
            pt = tss_offset(hb, hrow, vlo, g_vtss[g], vinfo, r0, g_tss[g], table)
            k = emit(
                plan, k, (2 * b + h) * L, L, g_minus[g], pt - g_left[g], hb, hrow, vlo, vhi, vinfo,
                g_roff[g], r0, g_r1[g], table, patch_q, patch_a, patch_n,
            )  # fmt: skip
    run_plan(dst, plan, k, refbuf, alt)


@njit(nogil=True, cache=True, _nrt=False)
def reference_batch(out, genes, g_r0, g_r1, g_roff, g_tss, g_left, g_minus, refbuf, plan):
    """Fill ``out`` (B, L) uint8, C-contiguous, with each gene's strand-oriented reference.

    ``plan`` is a (C, 4) int64 work array, ``C >= 3``.
    """
    B = out.shape[0]
    L = out.shape[1]
    dst = out.reshape(B * L)
    for b in range(B):
        g = genes[b]
        a = g_tss[g] - g_left[g]
        k = _ref_piece(plan, 0, b * L, 0, a, a + L, 0, L, g_minus[g], g_roff[g], g_r0[g], g_r1[g])
        run_plan(dst, plan, k, refbuf, refbuf)


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
