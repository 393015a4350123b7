"""Property test: random variant sets on random references, builder == a slow pure-Python model.

The slow model is written differently from the numba kernels on purpose: it edits a list of
(base, origin) cells the way ``bcftools consensus`` edits its FASTA buffer (``apply_variant``),
then finds the TSS by its origin and cuts the window, padding with N off the contig.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ps2f.genome.encoding import N_CODE, decode, encode
from ps2f.genome.haplotypes import HaplotypeBuilder
from ps2f.genome.store import VariantStore, htslib_anchored_indel

COMP = str.maketrans("ACGTN", "TGCAN")


class FakeReference:
    """Just what the builder needs: N-padded codes of one in-memory contig."""

    def __init__(self, seq: str):
        self.seq = seq

    def fetch_codes(self, contig, start, end):
        out = np.full(end - start, N_CODE, np.uint8)
        lo, hi = max(start, 0), min(end, len(self.seq))
        if hi > lo:
            out[lo - start : hi - start] = encode(self.seq[lo:hi])
        return out


def slow_haplotype(seq, variants, carried, tss, strand, L):
    """One haplotype window, bcftools-consensus style (see module docstring)."""
    cells = [[b, x] for x, b in enumerate(seq)]  # [base, origin]; origin None = inserted
    deleted_by = {}  # deleted reference position -> last cell written by the ALT that removed it
    frz, prev_ins, last_cell = -1, False, None
    for (p, ref, alt), c in zip(variants, carried, strict=True):
        if not c:
            continue
        if p <= frz:
            if not (p == frz and htslib_anchored_indel(ref, alt) and not prev_ins):
                continue  # overlaps the previous ALT: keep the first
            # the anchor is the last cell of the previous ALT, already in place
            at = next(i for i, cell in enumerate(cells) if cell is last_cell) + 1
            ref_span, alt_cells = range(p + 1, p + len(ref)), alt[1:]
        else:
            at = next(i for i, cell in enumerate(cells) if cell[1] == p)
            ref_span, alt_cells = range(p, p + len(ref)), alt
        # replace the REF cells (untouched so far) by the ALT cells, aligned from the left
        n_ref = 0
        while at + n_ref < len(cells) and cells[at + n_ref][1] in ref_span:
            n_ref += 1
        assert n_ref == len(ref_span)
        new = [[b, ref_span[j] if j < len(ref_span) else None] for j, b in enumerate(alt_cells)]
        cells[at : at + n_ref] = new
        tail = new[-1] if new else cells[at - 1]
        for x in ref_span[len(alt_cells) :]:
            deleted_by[x] = tail
        frz, prev_ins, last_cell = p + len(ref) - 1, len(alt) > len(ref), tail
    # map the TSS: its own cell, or the cell after the ALT that deleted it
    origins = [cell[1] for cell in cells]
    if tss in origins:
        pt = origins.index(tss)
    else:
        pt = next(i for i, cell in enumerate(cells) if cell is deleted_by[tss]) + 1
    left = L - L // 2 - 1 if strand == "-" else L // 2
    # N before the contig start / after its end: extend with N cells
    bases = "".join(cell[0] for cell in cells)
    pad = L + len(seq) + 10
    window = ("N" * pad + bases + "N" * pad)[pad + pt - left : pad + pt - left + L]
    return window.translate(COMP)[::-1] if strand == "-" else window


def make_store(variants, genotypes, n_samples):
    """A VariantStore from (pos, ref, alt) rows (already in store order)."""
    pos = np.array([v[0] for v in variants], np.int64)
    refs = [v[1].encode() for v in variants]
    alts = [v[2].encode() for v in variants]

    def flat(items):
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in items])]).astype(np.int64)
        return np.frombuffer(b"".join(items), np.uint8).copy(), offsets

    rb, ro = flat(refs)
    ab, ao = flat(alts)
    packed = (
        np.packbits(genotypes.reshape(len(variants), -1), axis=1)
        if len(variants)
        else np.zeros((0, (2 * n_samples + 7) // 8), np.uint8)
    )
    return VariantStore(
        contig="c",
        samples=np.array([f"S{i}" for i in range(n_samples)]),
        pos=pos,
        ref_bytes=rb,
        ref_offsets=ro,
        alt_bytes=ab,
        alt_offsets=ao,
        ids=np.array([f"v{i}" for i in range(len(variants))]),
        genotypes=packed,
    )


@st.composite
def cases(draw):
    # contigs up to 200 bp, so reference runs span several of the kernels' 32-byte vector
    # blocks (and their overlapping last block) on both strands, as well as the short-run loop
    n = draw(st.one_of(st.integers(8, 40), st.integers(41, 200)))
    seq = "".join(draw(st.lists(st.sampled_from("ACGTACGTACGTN"), min_size=n, max_size=n)))
    bases = st.sampled_from("ACGT")
    variants = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["snv", "mnv", "ins", "del", "complex", "chain", "longdel"]))
        if kind == "chain" and variants:  # start on the last REF base of the previous one
            prev = variants[-1]
            p = prev[0] + len(prev[1]) - 1
            kind = draw(st.sampled_from(["ins", "del", "snv"]))
        else:
            p = draw(st.integers(0, n - 1))
            kind = "snv" if kind == "chain" else kind
        # a long deletion may start far before a window and still cover part of it
        k = draw(st.integers(5, max(5, n // 2))) if kind == "longdel" else draw(st.integers(1, 4))
        kind = "del" if kind == "longdel" else kind
        if kind in ("mnv", "del", "complex") and p + k + 1 > n:
            kind = "snv"
        if kind == "snv":
            ref = seq[p]
            alt = draw(bases.filter(lambda b, r=ref: b != r))
        elif kind == "mnv":
            ref = seq[p : p + k + 1]
            alt = "".join(draw(st.lists(bases, min_size=k + 1, max_size=k + 1)))
            if alt == ref:
                continue
        elif kind == "ins":
            ref = seq[p]
            alt = ref + "".join(draw(st.lists(bases, min_size=k, max_size=k)))
        elif kind == "del":
            ref = seq[p : p + k + 1]
            alt = ref[0]
        else:
            ref = seq[p : p + k + 1]
            m = draw(st.integers(1, 5).filter(lambda m, k=k: m != k + 1))
            alt = "".join(draw(st.lists(bases, min_size=m, max_size=m)))
        variants.append((p, ref, alt))
    variants.sort(key=lambda v: v[0])  # stable: file order within a position
    n_samples = 2
    genotypes = np.array(
        draw(
            st.lists(
                st.lists(st.booleans(), min_size=2 * n_samples, max_size=2 * n_samples),
                min_size=len(variants),
                max_size=len(variants),
            )
        ),
        dtype=np.uint8,
    ).reshape(len(variants), 2 * n_samples)
    n_genes = draw(st.integers(1, 3))
    genes = pd.DataFrame(
        {
            "chrom": "c",
            "strand": draw(st.lists(st.sampled_from("+-"), min_size=n_genes, max_size=n_genes)),
            "tss0": draw(st.lists(st.integers(0, n - 1), min_size=n_genes, max_size=n_genes)),
        }
    )
    L = draw(st.integers(1, 2 * n))
    return seq, variants, genotypes, n_samples, genes, L


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_builder_matches_slow_model(case):
    seq, variants, genotypes, n_samples, genes, L = case
    store = make_store(variants, genotypes, n_samples)
    samples = list(store.samples)
    hb = HaplotypeBuilder(FakeReference(seq), {"c": store}, genes, samples, L)
    gi, ii = np.meshgrid(np.arange(len(genes)), np.arange(n_samples), indexing="ij")
    got = hb.haplotypes(gi.ravel(), ii.ravel())
    assert got.shape == (gi.size, 2, L) and got.dtype == np.uint8
    assert got.max(initial=0) <= N_CODE
    for b, (g, i) in enumerate(zip(gi.ravel(), ii.ravel(), strict=True)):
        tss, strand = int(genes["tss0"][g]), genes["strand"][g]
        for h in range(2):
            want = slow_haplotype(seq, variants, genotypes[:, 2 * i + h], tss, strand, L)
            assert decode(got[b, h]) == want, (g, i, h)
    ref = hb.reference(np.arange(len(genes)))
    for g in range(len(genes)):
        want = slow_haplotype(seq, [], [], int(genes["tss0"][g]), genes["strand"][g], L)
        assert decode(ref[g]) == want


def test_long_deletions_from_upstream_match_slow_model():
    """Deletions starting up to 100 bp before a short window (and what overlaps them) apply."""
    rng = np.random.default_rng(5)
    n_differ = 0
    for _ in range(60):
        n = 160
        seq = "".join(rng.choice(list("ACGT"), n))
        tss, L = int(rng.integers(100, 130)), int(rng.integers(4, 20))
        variants = []
        for _ in range(int(rng.integers(1, 4))):  # deletions from far upstream, maybe nested
            p = int(rng.integers(5, tss - L))
            end = int(rng.integers(max(p + 2, tss - L), min(n, tss + 30)))
            variants.append((p, seq[p:end], seq[p]))
        for _ in range(int(rng.integers(0, 4))):  # SNVs before, under and after them
            p = int(rng.integers(0, n))
            variants.append((p, seq[p], "A" if seq[p] != "A" else "C"))
        variants.sort(key=lambda v: v[0])
        genotypes = rng.integers(0, 2, size=(len(variants), 4)).astype(np.uint8)
        store = make_store(variants, genotypes, 2)
        strand = str(rng.choice(["+", "-"]))
        genes = pd.DataFrame({"chrom": "c", "strand": [strand], "tss0": [tss]})
        hb = HaplotypeBuilder(FakeReference(seq), {"c": store}, genes, list(store.samples), L)
        got = hb.haplotypes(np.array([0, 0]), np.array([0, 1]))
        ref = slow_haplotype(seq, [], [], tss, strand, L)
        for i in range(2):
            for h in range(2):
                want = slow_haplotype(seq, variants, genotypes[:, 2 * i + h], tss, strand, L)
                assert decode(got[i, h]) == want, (variants, tss, strand, L, i, h)
                n_differ += want != ref
    assert n_differ > 50  # the deletions did reach the windows
