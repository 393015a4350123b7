"""Hand-built haplotype cases: indels up/downstream of the TSS on each strand, a deletion across
the TSS, contig edges, overlapping alleles; each also checked against ``bcftools consensus``."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import write_fasta, write_vcf

from ps2f.genome.encoding import decode
from ps2f.genome.haplotypes import HaplotypeBuilder
from ps2f.genome.store import htslib_anchored_indel
from ps2f.io.fasta import Reference
from ps2f.io.vcf import ingest_vcf

#      0         1         2         3         4         5
#      012345678901234567890123456789012345678901234567890123456789
SEQ = "GCTAAAGACAATTACATAACATACACGTCAGCACGAAACTTGTTGGCCCAGTGTGAATCG"
TSS, L = 30, 10  # + strand window [25, 35), TSS at index 5; - strand forward [26, 36)
COMP = str.maketrans("ACGTN", "TGCAN")


def rc(s: str) -> str:
    return s.translate(COMP)[::-1]


def other(pos: int) -> str:
    """A base different from the reference at ``pos``."""
    return "A" if SEQ[pos] != "A" else "C"


def rec(pos0: int, ref: str, alt: str, gt: str = "1|0") -> str:
    assert SEQ[pos0 : pos0 + len(ref)] == ref
    return f"{pos0 + 1}\tv{pos0}\t{ref}\t{alt}\t{gt}"


# (name, records, tss, strand, L, expected hap 1, expected hap 2, ALT alleles dropped as overlaps)
CASES = [
    # insertion upstream (+): the far upstream end leaves the window, the TSS stays at L // 2
    ("ins_up_plus", [rec(27, SEQ[27], SEQ[27] + "TT")], TSS, "+", L,
     SEQ[27] + "TT" + SEQ[28:35], SEQ[25:35], 0),
    ("ins_down_plus", [rec(32, SEQ[32], SEQ[32] + "CC")], TSS, "+", L,
     SEQ[25:33] + "CC", SEQ[25:35], 0),
    # deletion upstream (+): more upstream reference is pulled in
    ("del_up_plus", [rec(26, SEQ[26:29], SEQ[26])], TSS, "+", L,
     SEQ[23:27] + SEQ[29:35], SEQ[25:35], 0),
    ("del_down_plus", [rec(31, SEQ[31:34], SEQ[31])], TSS, "+", L,
     SEQ[25:32] + SEQ[34:37], SEQ[25:35], 0),
    # minus strand: upstream is to the right on the forward strand
    ("ins_up_minus", [rec(32, SEQ[32], SEQ[32] + "CC")], TSS, "-", L,
     rc(SEQ[26:33] + "CC" + SEQ[33]), rc(SEQ[26:36]), 0),
    ("del_up_minus", [rec(31, SEQ[31:34], SEQ[31])], TSS, "-", L,
     rc(SEQ[26:32] + SEQ[34:38]), rc(SEQ[26:36]), 0),
    ("ins_down_minus", [rec(27, SEQ[27], SEQ[27] + "TT")], TSS, "-", L,
     rc("TT" + SEQ[28:36]), rc(SEQ[26:36]), 0),
    ("del_down_minus", [rec(26, SEQ[26:29], SEQ[26])], TSS, "-", L,
     rc(SEQ[24:27] + SEQ[29:36]), rc(SEQ[26:36]), 0),
    # a deletion across the TSS: the TSS maps to the first base after the ALT
    ("del_across_tss_plus", [rec(28, SEQ[28:33], SEQ[28])], TSS, "+", L,
     SEQ[24:29] + SEQ[33:38], SEQ[25:35], 0),
    ("del_across_tss_minus", [rec(28, SEQ[28:33], SEQ[28])], TSS, "-", L,
     rc(SEQ[25:29] + SEQ[33:39]), rc(SEQ[26:36]), 0),
    # symbolic <DEL> with INFO/END, spelled out as bcftools consensus does (POS+1..END deleted):
    # across the TSS, running past the window's end, and with no END (nothing applied)
    ("sv_del_across_tss_plus", [f"29\tsv\t{SEQ[28]}\t<DEL>@END=33\t1|0"], TSS, "+", L,
     SEQ[24:29] + SEQ[33:38], SEQ[25:35], 0),
    ("sv_del_across_tss_minus", [f"29\tsv\t{SEQ[28]}\t<DEL>@END=33\t1|1"], TSS, "-", L,
     rc(SEQ[25:29] + SEQ[33:39]), rc(SEQ[25:29] + SEQ[33:39]), 0),
    ("sv_del_past_window_end", [f"33\tsv\t{SEQ[32]}\t<DEL>@END=50\t0|1"], TSS, "+", L,
     SEQ[25:35], SEQ[25:33] + SEQ[50:52], 0),
    ("sv_del_without_end", [f"29\tsv\t{SEQ[28]}\t<DEL>\t1|1"], TSS, "+", L,
     SEQ[25:35], SEQ[25:35], 0),
    # MNV: no shift
    ("mnv", [rec(29, SEQ[29:31], other(29) + other(30))], TSS, "+", L,
     SEQ[25:29] + other(29) + other(30) + SEQ[31:35], SEQ[25:35], 0),
    # contig edges: N outside, indels still shift inside
    ("left_edge_plus", [rec(3, SEQ[3:6], SEQ[3])], 2, "+", L,
     "NNN" + SEQ[0:4] + SEQ[6:9], "NNN" + SEQ[0:7], 0),
    ("right_edge_minus", [rec(58, SEQ[58], SEQ[58] + "A")], 57, "-", L,
     rc(SEQ[53:59] + "A" + SEQ[59] + "NN"), rc(SEQ[53:60] + "NNN"), 0),
    # overlaps, resolved like bcftools consensus: an SNV inside a deletion is dropped on the
    # haplotype carrying both (hap 1) and applied where alone (hap 2)
    ("snv_inside_deletion", [rec(26, SEQ[26:30], SEQ[26]), rec(28, SEQ[28], other(28), "1|1")],
     TSS, "+", L, SEQ[22:27] + SEQ[30:35], SEQ[25:28] + other(28) + SEQ[29:35], 1),
    # an insertion anchored on an SNV's base is applied after it ("C>T" + "C>CAA" = "TAA")
    ("snv_then_insertion", [rec(27, SEQ[27], other(27)), rec(27, SEQ[27], SEQ[27] + "AA", "1|1")],
     TSS, "+", L, other(27) + "AA" + SEQ[28:35], SEQ[27] + "AA" + SEQ[28:35], 0),
    # ... but an SNV after an insertion at the same position is dropped
    ("insertion_then_snv", [rec(27, SEQ[27], SEQ[27] + "AA"), rec(27, SEQ[27], other(27), "1|1")],
     TSS, "+", L, SEQ[27] + "AA" + SEQ[28:35], SEQ[25:27] + other(27) + SEQ[28:35], 1),
    # an insertion anchored on the last deleted base follows the deletion's ALT
    ("deletion_then_insertion", [rec(26, SEQ[26:29], SEQ[26]), rec(28, SEQ[28], SEQ[28] + "GG")],
     TSS, "+", L, SEQ[25:27] + "GG" + SEQ[29:35], SEQ[25:35], 0),
    # two insertions at one position: the second is dropped
    ("two_insertions", [rec(27, SEQ[27], SEQ[27] + "A"), rec(27, SEQ[27], SEQ[27] + "GG", "1|1")],
     TSS, "+", L, SEQ[26:28] + "A" + SEQ[28:35], SEQ[27] + "GG" + SEQ[28:35], 1),
]  # fmt: skip


def _build(tmp_path, records, tss, strand, window_bp):
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(SEQ), ["S1"], records)
    ref = Reference(fa)
    store = ingest_vcf(vcf, ref, "1", [(0, len(SEQ))])
    genes = pd.DataFrame({"chrom": ["1"], "strand": [strand], "tss0": [tss]})
    return HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], window_bp), store, fa, vcf


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hand_built_haplotypes(tmp_path, case):
    name, records, tss, strand, window_bp, want1, want2, n_skipped = case
    hb, store, _, _ = _build(tmp_path, records, tss, strand, window_bp)
    got = [decode(x) for x in hb.haplotypes(np.array([0]), np.array([0]))[0]]
    assert got == [want1, want2]
    assert store.stats["overlapping_alleles_skipped"] == n_skipped
    # the TSS base sits at L // 2 whenever it survives on the haplotype
    ref_tss = SEQ[tss] if strand == "+" else rc(SEQ[tss])
    assert decode(hb.reference(np.array([0]))[0])[window_bp // 2] == ref_tss


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_hand_built_cases_equal_bcftools_consensus(tmp_path):
    from test_haplotypes_oracle import _lift, _read_chains, _read_fasta

    for k, (name, records, tss, strand, window_bp, *_) in enumerate(CASES):
        d = tmp_path / str(k)
        d.mkdir()
        hb, _, fa, vcf = _build(d, records, tss, strand, window_bp)
        got = hb.haplotypes(np.array([0]), np.array([0]))[0]
        for h in (1, 2):
            chain = d / f"{h}.chain"
            out = subprocess.run(
                ["bcftools", "consensus", "-f", str(fa), "-s", "S1", "-H", str(h), "-c",
                 str(chain), str(vcf)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            cons = "N" * 50 + _read_fasta(out)[0] + "N" * 50
            c, _ = _lift(_read_chains(chain)[0], tss)
            left = window_bp - window_bp // 2 - 1 if strand == "-" else window_bp // 2
            want = cons[50 + c - left : 50 + c - left + window_bp]
            assert decode(got[h - 1]) == (rc(want) if strand == "-" else want), (name, h)


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
@pytest.mark.parametrize(
    "ref, alt",
    [("C", "CAA"), ("CA", "C"), ("C", "T"), ("CA", "TG"), ("CA", "A"), ("C", "GAA"),
     ("CAT", "CGAT"), ("CAG", "CTTG"), ("CAGT", "CT"), ("CAGT", "CGTT")],
)  # fmt: skip
def test_anchored_indel_rule_matches_bcftools(tmp_path, ref, alt):
    """Whether bcftools applies ``ref>alt`` starting on the last base of an applied SNV."""
    seq = "GGGG" + ref + "TTTTTTTTTT"
    fa = write_fasta(tmp_path / "ref.fa", {"1": seq})
    snv_alt = "G" if ref[0] != "G" else "T"
    records = [f"5\ta\t{ref[0]}\t{snv_alt}\t1|0", f"5\tb\t{ref}\t{alt}\t1|0"]
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(seq), ["S1"], records)
    out = subprocess.run(
        ["bcftools", "consensus", "-f", str(fa), "-s", "S1", "-H", "1", str(vcf)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    applied = "overlaps with another variant" not in out.stderr
    assert applied == htslib_anchored_indel(ref, alt)
    # and the builder does what bcftools did
    store = ingest_vcf(vcf, Reference(fa), "1", [(0, len(seq))])
    assert store.stats["overlapping_alleles_skipped"] == (0 if applied else 1)


def test_batches_threads_out_one_hot_and_torch(tmp_path):
    records = [rec(26, SEQ[26:29], SEQ[26]), rec(32, SEQ[32], SEQ[32] + "CC", "0|1")]
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(SEQ), ["S1"], records)
    ref = Reference(fa)
    store = ingest_vcf(vcf, ref, "1", [(0, len(SEQ))])
    genes = pd.DataFrame({"chrom": "1", "strand": ["+", "-", "+", "-"], "tss0": [30, 30, 3, 56]})
    one = HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], 12)
    many = HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], 12, n_threads=2)
    g = np.tile(np.arange(4), 10)
    i = np.zeros_like(g)
    want = one.haplotypes(g, i)
    np.testing.assert_array_equal(many.haplotypes(g, i), want)
    buf = np.empty_like(want)
    assert one.haplotypes(g, i, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    oh = one.haplotypes(g[:3], i[:3], one_hot=True)
    assert oh.shape == (3, 2, 4, 12) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.argmax(axis=2)[oh.sum(axis=2) > 0], want[:3][want[:3] < 4])
    torch = pytest.importorskip("torch")
    t = one.haplotypes(g[:3], i[:3], one_hot=True, device="cpu")
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (3, 2, 4, 12)
    np.testing.assert_array_equal(t.numpy(), oh)
    with pytest.raises(IndexError):
        one.haplotypes(np.array([4]), np.array([0]))
    with pytest.raises(ValueError, match="gene indices"):
        one.haplotypes(np.array([0, 1]), np.array([0]))
    import pickle

    clone = pickle.loads(pickle.dumps(many))  # DataLoader workers (spawn) pickle the builder
    np.testing.assert_array_equal(clone.haplotypes(g, i), want)


def test_builder_warns_when_window_outruns_the_ingested_windows(tmp_path, caplog):
    records = [rec(26, SEQ[26:29], SEQ[26])]
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(SEQ), ["S1"], records)
    ref = Reference(fa)
    store = ingest_vcf(vcf, ref, "1", [(20, 40)])  # only the window, no flank
    genes = pd.DataFrame({"chrom": ["1"], "strand": ["+"], "tss0": [30]})
    with caplog.at_level(logging.WARNING):
        HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], 10)
    assert "reach past the windows" in caplog.text
    caplog.clear()
    store = ingest_vcf(vcf, ref, "1", [(0, 60)])
    with caplog.at_level(logging.WARNING):
        HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], 10)
    assert "reach past" not in caplog.text


@pytest.mark.gpu
def test_haplotypes_on_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    hb, *_ = _build(tmp_path, [rec(26, SEQ[26:29], SEQ[26])], TSS, "-", L)
    t = hb.haplotypes(np.array([0, 0]), np.array([0, 0]), one_hot=True, device="cuda")
    assert t.device.type == "cuda" and tuple(t.shape) == (2, 2, 4, L)
    want = hb.haplotypes(np.array([0, 0]), np.array([0, 0]), one_hot=True)
    np.testing.assert_array_equal(t.cpu().numpy(), want)


# A deletion starting far outside a gene's stored window (issue 20, item 5a): kept at ingestion
# and applied by the builder, on both haplotypes, as bcftools consensus applies it.
LONG = "".join(np.random.default_rng(20).choice(list("ACGT"), 30_000))
LONG_TSS, LONG_L, LONG_FLANK = 20_000, 1_000, 100  # stored window [19_400, 20_600)


def long_rec(pos0: int, ref_end: int, gt: str, symbolic: bool = False) -> str:
    """A deletion of ``LONG[pos0 + 1 : ref_end]``, plain REF/ALT or a ``<DEL>`` with END."""
    if symbolic:
        return f"{pos0 + 1}\tsv{pos0}\t{LONG[pos0]}\t<DEL>@END={ref_end}\t{gt}"
    return f"{pos0 + 1}\td{pos0}\t{LONG[pos0:ref_end]}\t{LONG[pos0]}\t{gt}"


def snv(pos0: int, gt: str) -> str:
    alt = "A" if LONG[pos0] != "A" else "C"
    return f"{pos0 + 1}\ts{pos0}\t{LONG[pos0]}\t{alt}\t{gt}"


# (name, records, strand): an SNV just before each deletion lands in the carriers' windows (it
# lies outside the stored window: ingestion must read around the deletion too), and an SNV
# inside the window under the deletion is dropped on the carrying haplotypes only
LONG_CASES = [
    ("hom_across_tss_plus", [long_rec(12_000, 22_000, "1|1"), snv(11_800, "1|0"),
                             snv(19_990, "1|1")], "+"),
    ("het_across_tss_plus", [long_rec(12_000, 22_000, "0|1"), snv(11_800, "1|1"),
                             snv(19_990, "1|1")], "+"),
    ("het_across_tss_minus", [long_rec(12_000, 22_000, "1|0"), snv(11_700, "1|1"),
                              snv(20_300, "0|1")], "-"),
    ("sv_hom_across_tss_plus", [long_rec(12_000, 22_000, "1|1", True), snv(11_800, "0|1")], "+"),
    ("sv_het_across_tss_minus", [long_rec(12_000, 22_000, "0|1", True), snv(22_200, "1|1")],
     "-"),
    # over the window start only: the TSS stays, the upstream half comes from before POS
    ("het_over_window_start_plus", [long_rec(10_000, 19_700, "1|0"), snv(9_900, "1|1"),
                                    snv(19_600, "1|1")], "+"),
    ("hom_over_window_start_minus", [long_rec(10_000, 19_700, "1|1"), snv(9_990, "1|1")], "-"),
    ("sv_het_over_window_start_plus", [long_rec(10_000, 19_700, "0|1", True),
                                       snv(9_900, "1|0")], "+"),
]  # fmt: skip


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
@pytest.mark.parametrize("case", LONG_CASES, ids=[c[0] for c in LONG_CASES])
def test_deletion_from_far_upstream_equals_bcftools_consensus(tmp_path, case, caplog):
    from test_haplotypes_oracle import _lift, _read_chains, _read_fasta

    from ps2f.genome.windows import store_windows

    name, records, strand = case
    fa = write_fasta(tmp_path / "ref.fa", {"1": LONG})
    by_pos = sorted(records, key=lambda r: int(r.split()[0]))
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(LONG), ["S1"], by_pos)
    ref = Reference(fa)
    genes = pd.DataFrame({"chrom": ["1"], "strand": [strand], "tss0": [LONG_TSS], "s2f": [True]})
    windows = store_windows(genes, LONG_L, 0, "tss", LONG_FLANK)
    assert all(int(records[0].split()[0]) - 1 < a for a, _ in windows)  # starts outside them
    store = ingest_vcf(vcf, ref, "1", windows)
    assert store.stats["records_overlapping_window_from_upstream"] == 1
    with caplog.at_level(logging.WARNING):
        hb = HaplotypeBuilder(ref, {"1": store}, genes, ["S1"], LONG_L)
    assert "reach past" not in caplog.text
    got = hb.haplotypes(np.array([0]), np.array([0]))[0]
    left = LONG_L - LONG_L // 2 - 1 if strand == "-" else LONG_L // 2
    for h in (1, 2):
        chain = tmp_path / f"{h}.chain"
        out = subprocess.run(
            ["bcftools", "consensus", "-f", str(fa), "-s", "S1", "-H", str(h), "-c", str(chain),
             str(vcf)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cons = _read_fasta(out)[0]
        c, _ = _lift(_read_chains(chain)[0], LONG_TSS)
        want = cons[c - left : c - left + LONG_L]
        assert decode(got[h - 1]) == (rc(want) if strand == "-" else want), (name, h)
    # the carrier's window differs from the reference's (the deletion is not silently dropped)
    carried = [gt == "1" for gt in records[0].split()[-1].split("|")]
    ref_window = decode(hb.reference(np.array([0]))[0])
    for h in np.flatnonzero(carried):
        assert decode(got[h]) != ref_window


def test_upstream_deletion_read_once_across_windows(tmp_path):
    """A deletion reaching two windows from upstream is stored once, with the bases around it."""
    records = [long_rec(12_000, 22_000, "1|0"), snv(11_800, "1|1"), snv(19_500, "0|1")]
    fa = write_fasta(tmp_path / "ref.fa", {"1": LONG})
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", len(LONG), ["S1"], sorted(
        records, key=lambda r: int(r.split()[0])))  # fmt: skip
    ref = Reference(fa)
    store = ingest_vcf(vcf, ref, "1", [(19_400, 19_600), (20_000, 20_600)])
    assert list(store.pos) == [11_800, 12_000, 19_500]  # the SNV before it read too
    assert store.stats["records_overlapping_window_from_upstream"] == 1
    assert store.stats["variants_stored"] == 3
    assert store.covers(11_000, 19_600) and store.covers(20_000, 21_000)
    # the dosage store (genotype baselines) keeps PredictDB's rule: POS inside a window
    from ps2f.io.vcf import ingest_dosages

    dos = ingest_dosages(vcf, ref, "1", [(19_400, 19_600), (20_000, 20_600)], snvs_only=False)
    assert list(dos.pos) == [19_500]
