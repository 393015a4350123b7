"""Oracle: our haplotypes equal ``bcftools consensus -H 1`` / ``-H 2`` byte for byte.

Real dense data (SHAPEIT4 / 1000 Genomes EUR, 300 phased samples, chr20:1-4 Mb, 24,990 sites
of which 1,320 indels; whole GRCh37 chr20 FASTA). For each of 200 windows (half of them centred
on or next to an indel, so that indels fall upstream, downstream and across the TSS) and 20
samples, bcftools builds the consensus of the window plus a 600 bp flank on each side, writes a
liftover chain (``-c``), and the TSS is mapped through that chain: a TSS inside deleted bases
maps to the first base after the ALT (the convention of :mod:`ps2f.genome.haplotypes`). The same
``L`` bases are cut around it (reverse-complemented on the minus strand) and compared with
:meth:`HaplotypeBuilder.haplotypes`. bcftools runs once per sample and haplotype over a FASTA of
all 200 regions (40 calls).
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyfaidx
import pytest
from conftest import SHARED

from ps2f.genome.encoding import decode
from ps2f.genome.haplotypes import HaplotypeBuilder
from ps2f.genome.windows import sequence_windows
from ps2f.io.fasta import Reference
from ps2f.io.vcf import ingest_vcf

CHR20 = SHARED / "1000G_EUR_chr20_GRCh37_fullchr_genotypes_reference_only"
VCF = CHR20 / "genotypes/shapeit4_test_reference_EUR300_phased_chr20_1-4Mb.vcf.gz"
FASTA = CHR20 / "reference/GRCh37_chr20_full_vt-examples.fa.gz"
L = 1000
FLANK = 600
N_WINDOWS = 200
N_SAMPLES = 20

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not VCF.exists(), reason=f"{CHR20} not found"),
    pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed"),
]


def _choose_windows(store) -> pd.DataFrame:
    """TSSs on, beside and near indels (both strands), plus random ones."""
    rng = np.random.default_rng(20)
    indel = np.flatnonzero(store.is_indel())
    picked = indel[np.linspace(0, len(indel) - 1, N_WINDOWS // 2).astype(int)]
    offsets = np.array([0, 1, 2, -1, 150, -150, 400, -400, 3, -3])
    tss = store.pos[picked] + offsets[np.arange(len(picked)) % len(offsets)]
    tss = np.concatenate([tss, rng.integers(1_010_000, 3_990_000, N_WINDOWS - len(tss))])
    strand = np.where(np.arange(N_WINDOWS) % 2 == 0, "+", "-")
    return pd.DataFrame({"chrom": "20", "strand": strand, "tss0": tss})


def _read_fasta(text: str) -> list[str]:
    seqs, cur = [], None
    for line in text.splitlines():
        if line.startswith(">"):
            if cur is not None:
                seqs.append("".join(cur))
            cur = []
        elif line:
            cur.append(line.strip())
    if cur is not None:
        seqs.append("".join(cur))
    return seqs


def _read_chains(path) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Per region: the chain's start (0-based) and its (block, ref gap, alt gap) triples."""
    chains = []
    for block in open(path).read().strip().split("\n\n"):
        lines = block.strip().splitlines()
        start = int(lines[0].split()[5])
        rows = [tuple(int(x) for x in ln.split()) for ln in lines[1:]]
        chains.append((start, [(r[0], r[1], r[2]) if len(r) == 3 else (r[0], 0, 0) for r in rows]))
    return chains


def _lift(chain, tss: int) -> tuple[int, int]:
    """Consensus index of reference position ``tss``, and the number of gaps before it."""
    start, rows = chain
    ref = alt = start
    for n_gaps, (size, dt, dq) in enumerate(rows):
        if tss < ref + size:
            return alt - start + (tss - ref), n_gaps
        ref += size
        alt += size
        if tss < ref + dt:  # inside a gap: first base after the ALT once past it
            return alt - start + min(tss - ref, dq), n_gaps
        ref += dt
        alt += dq
    raise AssertionError("TSS beyond the chain")


def _gaps_in(chain, lo: int, hi: int) -> int:
    """Indel gaps whose consensus position lies in ``[lo, hi)``."""
    start, rows = chain
    alt, n = 0, 0
    for size, dt, dq in rows:
        alt += size
        if (dt or dq) and lo <= alt < hi:
            n += 1
        alt += dq
    return n


def test_haplotypes_equal_bcftools_consensus(tmp_path):
    import cyvcf2

    comp = str.maketrans("ACGTN", "TGCAN")
    ref = Reference(FASTA)
    all_samples = cyvcf2.VCF(str(VCF)).samples
    samples = all_samples[:: len(all_samples) // N_SAMPLES][:N_SAMPLES]
    probe = ingest_vcf(VCF, ref, "20", [(1_000_000, 4_000_000)], samples=samples[:1])
    genes = _choose_windows(probe)
    starts = sequence_windows(genes["tss0"].to_numpy(), genes["strand"].to_numpy(), L)[0]
    regions = [(int(a) - FLANK, int(a) + L + FLANK) for a in starts]
    store = ingest_vcf(VCF, ref, "20", regions, samples=samples)
    hb = HaplotypeBuilder(ref, {"20": store}, genes, samples, L)

    # one FASTA with every region, in bcftools' ">chr:from-to" (1-based) header form
    fa = pyfaidx.Fasta(str(FASTA), sequence_always_upper=True, as_raw=True)
    with open(tmp_path / "regions.fa", "w") as fh:
        for a, b in regions:
            seq = fa["20"][a:b]
            fh.write(f">20:{a + 1}-{b}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))

    def consensus(job):
        sample, h = job
        chain = tmp_path / f"{sample}.{h}.chain"
        res = subprocess.run(
            ["bcftools", "consensus", "-f", str(tmp_path / "regions.fa"), "-s", sample,
             "-H", str(h), "-c", str(chain), str(VCF)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return _read_fasta(res.stdout), _read_chains(chain)

    jobs = [(s, h) for s in samples for h in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(jobs, pool.map(consensus, jobs), strict=True))

    gi, ii = np.meshgrid(np.arange(N_WINDOWS), np.arange(len(samples)), indexing="ij")
    got = hb.haplotypes(gi.ravel(), ii.ravel()).reshape(N_WINDOWS, len(samples), 2, L)
    n_indel_events = n_shifted = 0
    for i, sample in enumerate(samples):
        for h in (1, 2):
            seqs, chains = results[(sample, h)]
            assert len(seqs) == len(chains) == N_WINDOWS
            for w in range(N_WINDOWS):
                tss = int(genes["tss0"][w])
                minus = genes["strand"][w] == "-"
                left = L - L // 2 - 1 if minus else L // 2
                c, _ = _lift(chains[w], tss)
                assert c - left >= 0 and c - left + L <= len(seqs[w])
                want = seqs[w][c - left : c - left + L]
                if minus:
                    want = want.translate(comp)[::-1]
                have = decode(got[w, i, h - 1])
                assert have == want, (
                    f"window {w} ({genes['strand'][w]} TSS 20:{tss + 1}) sample {sample} "
                    f"hap {h}: first difference at {next(k for k in range(L) if have[k] != want[k])}"
                )
                n_indel_events += _gaps_in(chains[w], c - left, c - left + L)
                n_shifted += c != tss - (regions[w][0])
    # the comparison exercised real indels, and the TSS really moved in many haplotypes
    print(f"oracle: {N_WINDOWS} windows x {len(samples)} samples x 2 haplotypes, "
          f"{n_indel_events} indel alleles inside the windows, {n_shifted} shifted TSSs")  # fmt: skip
    assert n_indel_events > 500
    assert n_shifted > 200
