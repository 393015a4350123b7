"""Personal haplotype sequences around each gene's TSS, built on the fly (never written to disk).

Window convention (defined once, in :mod:`ps2f.genome.windows`): a window of ``L`` bp is
oriented 5'->3' on the gene's strand, and the TSS is at index ``L // 2``; its reference span is
:func:`~ps2f.genome.windows.sequence_windows`, reverse-complemented on the ``-`` strand. Bases
beyond a contig end are ``N``. For a haplotype that carries only SNVs/MNVs this is the whole
story: the reference window with its ALT bases.

Indels (the window is defined on the reference, the TSS stays at the centre):

* Each haplotype's sequence is the reference with its ALT alleles spliced in, left to right, as
  ``bcftools consensus -H 1`` / ``-H 2`` builds it. The TSS is then mapped into that sequence
  and the window is cut around it: the forward-strand output holds ``left`` bases before the
  mapped TSS and ``right`` after it (``left = L // 2`` on ``+``, ``L - L // 2 - 1`` on ``-``,
  ``right = L - left``), reverse-complemented on ``-``. So an insertion upstream pushes the far
  upstream end out of the window and a deletion upstream pulls more upstream reference in; the
  downstream half is unchanged (and vice versa downstream). SAGE-net (Spiro et al. 2026,
  ``SAGEnet/data.py``) splices with the same running shift but keeps the window's *left end*
  fixed and then truncates or N-pads the right end to ``L``, so its TSS drifts by the net
  length of the indels upstream (on ``+``); ps2f pads with ``N`` only off a contig end.
* Mapping the TSS: an allele replacing REF bases ``[p, p + len(REF))`` by ALT aligns the two
  from their first base (the VCF anchor base of an indel maps to itself, the rest of the longer
  allele is the gap), which is what the liftover chain of ``bcftools consensus -c`` records.
  A TSS inside deleted bases (offset ``k >= len(ALT)`` into the REF) maps to the first base
  after the ALT allele, on both strands.
* Overlapping alleles on one haplotype follow ``bcftools consensus`` (``apply_variant`` in
  ``consensus.c``): variants are taken in store order (position, then VCF record order); an
  ALT whose position is at or before the last REF base of the previously applied ALT on that
  haplotype is dropped, "keep the first" (e.g. an SNV inside a deletion), except an indel
  anchored on its first base (:func:`ps2f.genome.store.htslib_anchored_indel`) that starts
  exactly on that last base and does not follow an insertion: it is applied after the previous
  ALT (``C>T`` then ``C>CAA`` at one position gives ``TAA``). The ingestion log counts the
  dropped alleles (``overlapping_alleles_skipped``).
* Each gene's buffer is its window widened by the deletion budget (all bases the deletions in
  it remove) and a margin, then moved back to the start of any allele whose REF reaches into
  it, however far upstream it starts (a 10 kb deletion across the TSS), and of the alleles
  overlapping that one in turn; alleles ending before the buffer cannot change it.

Implementation (GenVarLoader's design: flat buffers + offsets, haplotypes reconstructed at read
time): the reference of each gene's buffer is read once; the genotypes are transposed into one
bit vector per haplotype (``uint64`` words over the variants in use), so a haplotype visits only
the variants it carries (lowest-set-bit iteration) and copies reference runs between them. The
kernels are numba ``njit(nogil=True)``; batches may be split over threads. A batch is written
in two phases: the variant walks of many haplotypes plan their writes (reference runs, ALT
alleles, N runs), then the plan is executed as vector block copies into the output (see
:mod:`ps2f.genome._kernels` for why, with measurements).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ps2f.genome import encoding
from ps2f.genome._kernels import DEBRUIJN_TABLE, haplotype_batch, reference_batch
from ps2f.genome.encoding import encode
from ps2f.genome.store import VariantStore
from ps2f.genome.windows import sequence_windows

__all__ = ["HaplotypeBuilder"]

log = logging.getLogger(__name__)

_CHUNK_VARIANTS = 8192  # variants transposed at a time (bounds the unpacked temporary)
_MARGIN = 16  # bp of reference kept beyond the deletion budget on each side of a buffer


def _hap_bits(store: VariantStore, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Haplotype-major bit vectors of ``rows`` for samples ``cols``.

    Returns
    -------
    numpy.ndarray, shape (2 * len(cols), ceil(len(rows) / 64)), uint64
        Bit ``j`` of word ``w`` of row ``2 i + h`` is 1 if haplotype ``h`` of individual ``i``
        carries the ALT of ``rows[64 w + j]``.
    """
    hap_cols = (2 * cols[:, None] + np.arange(2)).ravel()
    n_words = (len(rows) + 63) // 64
    out = np.zeros((len(hap_cols), n_words), dtype=np.uint64)
    for c0 in range(0, len(rows), _CHUNK_VARIANTS):
        chunk = rows[c0 : c0 + _CHUNK_VARIANTS]
        bits = np.unpackbits(store.genotypes[chunk], axis=1, count=2 * store.n_samples)
        bits = np.ascontiguousarray(bits[:, hap_cols].T)  # (2I, n)
        pad = (-bits.shape[1]) % 64
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        words = np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)
        out[:, c0 // 64 : c0 // 64 + words.shape[1]] = words
    return out


class HaplotypeBuilder:
    """Materialize ``(B, 2, L)`` haplotype codes for batches of (gene, individual) pairs.

    SNVs, MNVs, insertions and deletions are applied as ``bcftools consensus -H 1/-H 2`` would,
    with the TSS kept at index ``L // 2`` (see the module docstring for every rule).

    Parameters
    ----------
    reference : Reference
        The FASTA (anything with ``fetch_codes(contig, start, end)`` returning N-padded uint8
        codes).
    stores : mapping of str to VariantStore
        One store per contig, keyed by the contig name used in ``genes["chrom"]``.
    genes : pandas.DataFrame
        ``chrom``, ``strand`` (``+``/``-``), ``tss0`` (0-based); row ``i`` is gene index ``i``.
    individuals : sequence of str
        Sample IDs; position ``j`` is individual index ``j``. All must be in every store.
    window_bp : int
        Window length L in bp.
    n_threads : int, optional
        Threads a large batch is split over (the kernels release the GIL). Keep 1 inside
        DataLoader worker processes.

    Raises
    ------
    ValueError
        An individual or a contig is absent from the stores, a strand is not ``+``/``-``, or
        ``window_bp < 1``.

    Notes
    -----
    Memory: each gene's reference buffer (``L`` + twice the deletion budget and margin) plus one
    bit per haplotype and variant in use; each batch call also takes ~0.3 MB of work arrays
    (the kernel's plan of writes) per thread. A window that reaches past the windows a store was
    ingested with is logged as a warning (variants there were never read; raise the ingestion
    flank, ``indel_flank_bp`` of :func:`ps2f.genome.windows.store_windows`).
    """

    def __init__(
        self,
        reference: Any,
        stores: Mapping[str, VariantStore],
        genes: pd.DataFrame,
        individuals: Sequence[str],
        window_bp: int,
        *,
        n_threads: int = 1,
    ):
        self.window_bp = L = int(window_bp)
        if L < 1:
            raise ValueError(f"window_bp must be >= 1, got {window_bp}")
        self.n_threads = max(1, int(n_threads))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = -1
        strand = genes["strand"].to_numpy().astype(str)
        bad = sorted(set(strand) - {"+", "-"})
        if bad:
            raise ValueError(f"gene strands must be '+' or '-', got {bad[:5]}")
        n_genes = len(genes)
        chroms = genes["chrom"].to_numpy().astype(str)
        tss = genes["tss0"].to_numpy().astype(np.int64)
        self.minus = strand == "-"
        self.starts, _ = sequence_windows(tss, strand, L)
        left = tss - self.starts
        right = L - left
        individuals = list(individuals)
        self._n_individuals = len(individuals)

        g_r0 = np.zeros(n_genes, np.int64)
        g_r1 = np.zeros(n_genes, np.int64)
        g_vlo = np.zeros(n_genes, np.int64)
        g_vhi = np.zeros(n_genes, np.int64)
        # per contig: the store rows in use, padded to a multiple of 64 (one hb word boundary)
        pos_parts: list[np.ndarray] = []
        rlen_parts: list[np.ndarray] = []
        aoff_parts: list[np.ndarray] = []
        alt_parts: list[np.ndarray] = []
        anchor_parts: list[np.ndarray] = []
        bit_parts: list[np.ndarray] = []
        n_var = 0  # global variant slots so far (a multiple of 64)
        n_alt = 0
        uncovered: list[int] = []
        for chrom in pd.unique(chroms):
            if chrom not in stores:
                raise ValueError(f"no variant store for contig {chrom!r} (have {list(stores)})")
            store = stores[chrom]
            cols = pd.Index(store.samples).get_indexer(individuals)
            if (cols < 0).any():
                missing = [individuals[i] for i in np.flatnonzero(cols < 0)[:5]]
                raise ValueError(
                    f"individuals {missing} are absent from the variant store of {chrom}"
                )
            gidx = np.flatnonzero(chroms == chrom)
            rlen = store.ref_lengths()
            cumdel = np.concatenate([[0], np.cumsum(np.maximum(rlen - store.alt_lengths(), 0))])
            # the furthest any allele up to each row reaches (its REF end): the first row whose
            # reach passes a point is the first allele overlapping or following it
            reach = np.maximum.accumulate(store.pos + rlen) if len(rlen) else rlen
            lo = np.zeros(len(gidx), np.int64)
            hi = np.zeros(len(gidx), np.int64)
            for k, g in enumerate(gidx):
                # the buffer [r0, r1) to a fixpoint: the window widened by the deletion budget D
                # (every base a haplotype can pull into the window) and a margin, and moved back
                # to the start of any allele reaching into it, however far upstream it starts
                # (a long deletion across the TSS), so such alleles and the ones overlapping
                # them in turn are applied (see module docstring)
                budget, r0 = 0, int(tss[g] - left[g] - _MARGIN)
                while True:
                    r0 = min(r0, int(tss[g] - left[g] - budget - _MARGIN))
                    r1 = int(tss[g] + right[g] + budget + _MARGIN)
                    a = int(np.searchsorted(reach, r0, side="right"))
                    b = int(np.searchsorted(store.pos, r1))
                    new_budget = int(cumdel[b] - cumdel[a]) if b > a else 0
                    new_r0 = min(r0, int(store.pos[a])) if b > a else r0
                    if new_budget == budget and new_r0 == r0:
                        break
                    budget, r0 = new_budget, new_r0
                g_r0[g], g_r1[g], lo[k], hi[k] = r0, r1, a, b
                if not store.covers(r0, r1):
                    uncovered.append(int(g))
            # keep only the store rows some gene uses; each gene's rows stay contiguous
            used = np.zeros(store.n_variants + 1, np.int64)
            np.add.at(used, lo, 1)
            np.add.at(used, hi, -1)
            used = np.cumsum(used[:-1]) > 0
            rows = np.flatnonzero(used)
            new_index = np.cumsum(used) - 1
            if len(rows):
                g_vlo[gidx] = n_var + np.where(hi > lo, new_index[np.minimum(lo, len(used) - 1)], 0)
            else:
                g_vlo[gidx] = n_var
            g_vhi[gidx] = g_vlo[gidx] + (hi - lo)
            n_slots = (len(rows) + 63) // 64 * 64
            pad = n_slots - len(rows)
            alt_len = store.alt_lengths()[rows]
            pos_parts.append(np.concatenate([store.pos[rows], np.zeros(pad, np.int64)]))
            rlen_parts.append(np.concatenate([rlen[rows], np.ones(pad, np.int64)]))
            aoff_parts.append(n_alt + np.cumsum(np.concatenate([alt_len, np.zeros(pad, np.int64)])))
            take = np.repeat(store.alt_offsets[rows] - np.cumsum(alt_len) + alt_len, alt_len)
            alt_parts.append(encode(store.alt_bytes[take + np.arange(len(take))]))
            anchor_parts.append(np.concatenate([store.anchored_indel()[rows], np.zeros(pad, bool)]))
            bit_parts.append(_hap_bits(store, rows, cols))
            n_var += n_slots
            n_alt += int(alt_len.sum())

        v_pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, np.int64)
        v_rlen = np.concatenate(rlen_parts) if rlen_parts else np.zeros(0, np.int64)
        v_aoff = np.concatenate([[0], *aoff_parts]).astype(np.int64)
        v_alen = np.diff(v_aoff)
        v_anchor = np.concatenate(anchor_parts) if anchor_parts else np.zeros(0, bool)
        vinfo = np.stack([v_pos, v_rlen, v_aoff[:-1], 2 * v_alen + v_anchor], axis=1)
        # 16 bytes per variant (4 per cache line) whenever positions fit, as on human contigs
        small = vinfo.size == 0 or vinfo.max() < np.iinfo(np.int32).max
        self._vinfo = np.ascontiguousarray(vinfo, dtype=np.int32 if small else np.int64)
        self._alt = np.concatenate(alt_parts) if alt_parts else np.zeros(0, np.uint8)
        # variants that can move each TSS: those starting at or before it, if one changes length
        g_vtss = g_vlo.copy()
        shifts = np.concatenate([[0], np.cumsum(v_rlen != v_alen)])
        for g in range(n_genes):
            t = g_vlo[g] + int(np.searchsorted(v_pos[g_vlo[g] : g_vhi[g]], tss[g], side="right"))
            if shifts[t] > shifts[g_vlo[g]]:
                g_vtss[g] = t
        self._g_vtss = g_vtss
        self._hb = (
            np.concatenate(bit_parts, axis=1)
            if bit_parts
            else np.zeros((2 * len(individuals), 0), np.uint64)
        )
        self._g_vlo, self._g_vhi, self._g_r0, self._g_r1 = g_vlo, g_vhi, g_r0, g_r1
        # kernel work arrays: the queue of same-length alleles holds at most one gene's variants;
        # the plan of writes, at least two haplotypes' worth (see ps2f.genome._kernels)
        self._queue_width = max(1, int((g_vhi - g_vlo).max(initial=0)))
        self._plan_rows = max(8192, 2 * (4 * self._queue_width + 3))
        self._g_tss = tss
        self._g_left = left.astype(np.int64)
        self._g_minus = self.minus.copy()
        lengths = g_r1 - g_r0
        self._g_roff = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._refbuf = np.empty(int(lengths.sum()), dtype=np.uint8)
        for g in range(n_genes):
            o = self._g_roff[g]
            self._refbuf[o : o + lengths[g]] = reference.fetch_codes(
                chroms[g], int(g_r0[g]), int(g_r1[g])
            )
        self._table = DEBRUIJN_TABLE
        if uncovered:
            need = int(
                max(max(self.starts[g] - g_r0[g], g_r1[g] - self.starts[g] - L) for g in uncovered)
            )
            log.warning(
                "%d of %d gene windows (with their indel budget) reach past the windows the "
                "variant store was ingested with; variants there were never read and count as "
                "REF. Re-run the genotypes step with an ingestion flank of at least %d bp.",
                len(uncovered),
                n_genes,
                need,
            )
        log.info(
            "HaplotypeBuilder: %d genes x %d individuals, L = %d bp, %d variants in use, "
            "reference buffers %.1f MB, haplotype bits %.1f MB",
            n_genes,
            len(individuals),
            L,
            int(sum(len(p) for p in pos_parts)),
            self._refbuf.nbytes / 1e6,
            self._hb.nbytes / 1e6,
        )

    # ------------------------------------------------------------------------------------------
    @property
    def n_genes(self) -> int:
        """Number of genes G."""
        return len(self._g_tss)

    def n_variants(self, gene_index: int) -> int:
        """Number of variants whose position lies inside gene ``gene_index``'s reference window."""
        g = int(gene_index)
        sl = self._vinfo[self._g_vlo[g] : self._g_vhi[g], 0].astype(np.int64)
        a, b = np.searchsorted(sl, [self.starts[g], self.starts[g] + self.window_bp])
        return int(b - a)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pool"] = None  # thread pools do not pickle (DataLoader workers rebuild them)
        state["_pool_pid"] = -1
        return state

    def _check_index(self, index: Any, n: int, what: str) -> np.ndarray:
        idx = np.ascontiguousarray(index, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"{what} index out of range [0, {n}): {idx.min()}..{idx.max()}")
        return idx

    def _run(self, fn, out: np.ndarray, items: tuple, shared: tuple, work: tuple = ()) -> None:
        """Call ``fn(out[c], *[x[c] for x in items], *shared, *w)`` on chunks ``c`` over threads.

        ``w`` are int64 work arrays of the shapes in ``work``, fresh for each call.
        """
        B = out.shape[0]
        n = min(self.n_threads, max(1, B // 4))

        def extra() -> tuple:
            return tuple(np.empty(shape, np.int64) for shape in work)

        if n <= 1:
            fn(out, *items, *shared, *extra())
            return
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="ps2f-haps")
            self._pool_pid = os.getpid()
        bounds = np.linspace(0, B, n + 1).astype(int)
        futures = [
            self._pool.submit(fn, out[a:b], *[x[a:b] for x in items], *shared, *extra())
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            if b > a
        ]
        for f in futures:
            f.result()

    def reference(self, gene_index: np.ndarray) -> np.ndarray:
        """Reference codes of each gene's window, strand-oriented.

        Parameters
        ----------
        gene_index : numpy.ndarray, shape (B,), int

        Returns
        -------
        numpy.ndarray, shape (B, L), uint8
        """
        g = self._check_index(gene_index, self.n_genes, "gene")
        out = np.empty((len(g), self.window_bp), dtype=np.uint8)
        self._run(
            reference_batch,
            out,
            (g,),
            (
                self._g_r0,
                self._g_r1,
                self._g_roff,
                self._g_tss,
                self._g_left,
                self._g_minus,
                self._refbuf,
            ),
            work=((3, 4),),
        )
        return out

    def haplotypes(
        self,
        gene_index: np.ndarray,
        individual_index: np.ndarray,
        *,
        out: np.ndarray | None = None,
        one_hot: bool = False,
        device: Any = None,
    ):
        """Both haplotypes of each (gene, individual) pair, strand-oriented, TSS at ``L // 2``.

        Parameters
        ----------
        gene_index : numpy.ndarray, shape (B,), int
        individual_index : numpy.ndarray, shape (B,), int
        out : numpy.ndarray, shape (B, 2, L), uint8, optional
            C-contiguous buffer to fill (avoids allocating a fresh batch).
        one_hot : bool
            Return ``(B, 2, 4, L)`` float32 one-hot (ACGT, N = zeros; see
            :func:`ps2f.genome.encoding.one_hot`) instead of codes.
        device : str or torch.device, optional
            Return a torch tensor on this device; the uint8 codes are moved and one-hot encoded
            there (4 x 4 = 16 x fewer bytes to transfer than float32 one-hot).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            ``(B, 2, L)`` uint8 codes (see :mod:`ps2f.genome.encoding`), or ``(B, 2, 4, L)``
            float32 with ``one_hot=True``.

        Raises
        ------
        IndexError
            A gene or individual index is out of range.
        ValueError
            The two index arrays differ in length, or ``out`` has the wrong shape or dtype.
        """
        g = self._check_index(gene_index, self.n_genes, "gene")
        ind = self._check_index(individual_index, self._n_individuals, "individual")
        if len(g) != len(ind):
            raise ValueError(f"{len(g)} gene indices but {len(ind)} individual indices")
        B, L = len(g), self.window_bp
        if out is None:
            out = np.empty((B, 2, L), dtype=np.uint8)
        elif out.shape != (B, 2, L) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous uint8 of shape {(B, 2, L)}")
        self._run(
            haplotype_batch,
            out,
            (g, 2 * ind),
            (
                self._hb,
                self._vinfo,
                self._alt,
                self._g_vlo,
                self._g_vtss,
                self._g_vhi,
                self._g_r0,
                self._g_r1,
                self._g_roff,
                self._g_tss,
                self._g_left,
                self._g_minus,
                self._refbuf,
                self._table,
            ),
            work=((3, self._queue_width), (self._plan_rows, 4)),
        )
        if device is not None:
            import torch

            codes = torch.from_numpy(out).to(device)
            return encoding.one_hot(codes) if one_hot else codes
        return encoding.one_hot(out) if one_hot else out
