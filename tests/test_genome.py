"""Variant store, VCF ingestion and haplotype construction on hand-checked cases."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import write_fasta, write_vcf

from ps2f.errors import InputError
from ps2f.genome.encoding import decode, encode, one_hot, reverse_complement_codes
from ps2f.genome.haplotypes import HaplotypeBuilder
from ps2f.genome.store import VariantStore
from ps2f.genome.windows import sequence_windows
from ps2f.io.contigs import resolve_contig
from ps2f.io.fasta import Reference
from ps2f.io.vcf import ingest_vcf, merge_windows

#            0         1         2         3
#            0123456789012345678901234567890123456789
SEQ = "ACGTACGTTTGGCCAAACGTAGCTAGCTAGGATCCAAGTT"
SAMPLES = ["S1", "S2", "S3"]


@pytest.fixture
def tiny(tmp_path):
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    recs = [
        # 1-based POS; 0-based = POS-1
        "3\tv1\tG\tT\t0|1\t1|1\t0|0",  # pos0 2
        "11\tv2\tG\tA,C\t1|2\t0|0\t2|0",  # pos0 10, multi-allelic
        "21\tv3\tA\t<DEL>\t1|1\t1|1\t1|1",  # symbolic: skipped
        "25\tv4\tA\tAT\t1|0\t0|0\t0|0",  # insertion: skipped (SNV-only)
        "30\tv5\tG\tA\t0|0\t0|1\t1|0",  # pos0 29
    ]
    vcf = write_vcf(tmp_path / "calls.vcf.gz", "chr1", len(SEQ), SAMPLES, recs)
    return Reference(fa), vcf


def test_encoding_roundtrip_and_one_hot_layout():
    codes = encode("ACGTNacgtR")
    assert decode(codes) == "ACGTNACGTN"
    assert decode(reverse_complement_codes(encode("AACGTN"))) == "NACGTT"
    oh = one_hot(encode("ACGTN"))
    assert oh.shape == (4, 5)
    np.testing.assert_array_equal(oh[:, :4], np.eye(4))
    assert oh[:, 4].sum() == 0  # N is all zeros


def test_merge_windows():
    assert merge_windows([(10, 20), (0, 5), (15, 30), (30, 31), (-5, 2)]) == [(0, 5), (10, 31)]


def test_resolve_contig_prefix_rule_and_error():
    assert resolve_contig("chr22", ["22"], "f") == "22"
    assert resolve_contig("22", ["chr22"], "f") == "chr22"
    assert resolve_contig("chrM", ["MT"], "f") == "MT"
    assert resolve_contig("chr22", ["twentytwo"], "f", {"chr22": "twentytwo"}) == "twentytwo"
    with pytest.raises(InputError, match="contig 'chr22' not found"):
        resolve_contig("chr22", ["1", "2"], "ref.fa")


def test_ingest_splits_multiallelic_skips_symbolic_keeps_indels(tiny):
    ref, vcf = tiny
    store = ingest_vcf(vcf, ref, "chr1", [(0, len(SEQ))])
    assert store.contig == "1"  # FASTA spelling, resolved from chr1
    assert store.pos.tolist() == [2, 10, 10, 24, 29]
    assert [store.allele(i) for i in range(5)] == ["T", "A", "C", "AT", "A"]
    assert store.stats["skipped_symbolic_del_without_end"] == 1  # no INFO/END: bcftools applies nothing
    assert store.stats["stored_insertion"] == 1 and store.stats["stored_snv"] == 4
    assert store.is_indel().tolist() == [False, False, False, True, False]
    assert store.anchored_indel().tolist() == [False, False, False, True, False]
    haps = store.haplotypes(slice(None))  # (V, S, 2)
    assert haps.shape == (5, 3, 2)
    np.testing.assert_array_equal(haps[0], [[0, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(haps[1], [[1, 0], [0, 0], [0, 0]])  # ALT A
    np.testing.assert_array_equal(haps[2], [[0, 1], [0, 0], [1, 0]])  # ALT C
    np.testing.assert_array_equal(store.dosages(slice(None))[4], [0, 1, 1])
    # genotype baselines read SNV dosages only
    assert store.snv_rows(0, len(SEQ)).tolist() == [0, 1, 2, 4]
    assert store.snv_rows(20, 26).tolist() == []
    np.testing.assert_array_equal(store.dosages(store.snv_rows(0, 40))[3], [0, 1, 1])
    snvs = ingest_vcf(vcf, ref, "chr1", [(0, len(SEQ))], snvs_only=True)
    assert snvs.pos.tolist() == [2, 10, 10, 29]
    assert snvs.stats["skipped_not_snv"] == 1


def test_ingest_respects_windows_and_samples(tiny):
    ref, vcf = tiny
    store = ingest_vcf(vcf, ref, "chr1", [(5, 15)], samples=["S3", "S1"])
    assert store.pos.tolist() == [10, 10]
    assert store.samples.tolist() == ["S1", "S3"]  # VCF order
    np.testing.assert_array_equal(store.haplotypes(slice(None))[1], [[0, 1], [1, 0]])


def test_store_save_load_roundtrip(tiny, tmp_path):
    ref, vcf = tiny
    store = ingest_vcf(vcf, ref, "chr1", [(0, 8), (5, 15), (20, 32)])
    store.save(tmp_path / "s.npz")
    back = VariantStore.load(tmp_path / "s.npz")
    assert back.windows.tolist() == [[0, 15], [20, 32]]
    assert back.stats == store.stats and back.stats["variants_stored"] == 5
    assert back.covers(2, 15) and back.covers(-5, 3) and not back.covers(10, 21)
    for name in (
        "pos",
        "ref_bytes",
        "ref_offsets",
        "alt_bytes",
        "alt_offsets",
        "ids",
        "genotypes",
        "samples",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(store, name))
    assert back.region(10, 11) == slice(1, 3)
    assert not list(tmp_path.glob("*.tmp*"))


def test_store_format_1_still_loads(tiny, tmp_path):
    """Stores written before indels were kept (format 1: no windows, no stats) still load."""
    ref, vcf = tiny
    store = ingest_vcf(vcf, ref, "chr1", [(0, len(SEQ))], snvs_only=True)
    fields = {
        k: getattr(store, k)
        for k in ("pos", "ref_bytes", "ref_offsets", "alt_bytes", "alt_offsets", "genotypes")
    }
    np.savez(
        tmp_path / "old.npz",
        format_version=np.int64(1),
        contig=np.str_("1"),
        samples=store.samples,
        ids=store.ids,
        **fields,
    )
    back = VariantStore.load(tmp_path / "old.npz")
    assert back.windows is None and back.stats == {} and back.covers(0, 10**9)
    np.testing.assert_array_equal(back.genotypes, store.genotypes)
    np.savez(tmp_path / "new.npz", format_version=np.int64(99))
    with pytest.raises(ValueError, match="format 99.*re-run the genotypes rule"):
        VariantStore.load(tmp_path / "new.npz")


def test_ref_mismatch_is_an_error_naming_the_record(tmp_path):
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = write_vcf(
        tmp_path / "bad.vcf.gz", "1", len(SEQ), SAMPLES, ["4\tbadref\tA\tG\t0|1\t0|0\t0|0"]
    )
    with pytest.raises(InputError, match=r"1:4 badref.*REF 'A' disagrees.*'T'.*genome build"):
        ingest_vcf(vcf, Reference(fa), "1", [(0, len(SEQ))])


def test_missing_index_unphased_and_missing_genotypes(tmp_path):
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))
    noidx = write_vcf(
        tmp_path / "noidx.vcf", "1", len(SEQ), SAMPLES, ["3\tv\tG\tT\t0|1\t0|0\t0|0"], index=False
    )
    with pytest.raises(InputError, match="no .tbi or .csi index"):
        ingest_vcf(noidx, fa, "1", [(0, 40)])
    unph = write_vcf(
        tmp_path / "unph.vcf.gz", "1", len(SEQ), SAMPLES, ["3\tv\tG\tT\t0/1\t0|0\t1/1"]
    )
    with pytest.raises(InputError, match="unphased heterozygous call.*S1"):
        ingest_vcf(unph, fa, "1", [(0, 40)])
    miss = write_vcf(
        tmp_path / "miss.vcf.gz", "1", len(SEQ), SAMPLES, ["3\tv\tG\tT\t.|.\t0|1\t1|1"]
    )
    with pytest.raises(InputError, match="missing genotype.*missing_policy"):
        ingest_vcf(miss, fa, "1", [(0, 40)])
    store = ingest_vcf(miss, fa, "1", [(0, 40)], missing_policy="reference")
    np.testing.assert_array_equal(store.dosages(slice(None))[0], [0, 1, 2])
    assert store.stats["genotypes_missing_set_to_ref"] == 1


def test_truncated_and_sites_only_vcfs_are_errors(tmp_path):
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))
    vcf = write_vcf(tmp_path / "t.vcf.gz", "1", len(SEQ), SAMPLES, ["3\tv\tG\tT\t0|1\t0|0\t0|0"])
    assert ingest_vcf(vcf, fa, "1", [(0, 40)]).n_variants == 1
    data = vcf.read_bytes()
    vcf.write_bytes(data[:-28])  # drop the BGZF end-of-file block, as a cut download does
    with pytest.raises(InputError, match="t.vcf.gz: the file is truncated"):
        ingest_vcf(vcf, fa, "1", [(0, 40)])
    import pysam

    plain = tmp_path / "s.vcf"
    plain.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=40>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t3\tv\tG\tT\t.\tPASS\t.\n"
    )
    sites = pysam.tabix_index(str(plain), preset="vcf", force=True)
    with pytest.raises(InputError, match="s.vcf.gz: the VCF has no samples"):
        ingest_vcf(sites, fa, "1", [(0, 40)])


def test_partly_phased_input_is_reported(tmp_path):
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))
    recs = ["3\tv\tG\tT\t0/0\t0|1\t1/1", "11\tw\tG\tA\t0|0\t0|1\t1|1", "30\tx\tG\tA\t0/0\t0/0\t0/0"]
    vcf = write_vcf(tmp_path / "part.vcf.gz", "1", len(SEQ), SAMPLES, recs)
    store = ingest_vcf(vcf, fa, "1", [(0, 40)])
    assert store.stats["unphased_homozygous_calls"] == 5
    assert store.stats["records_partly_phased"] == 1
    np.testing.assert_array_equal(store.dosages(slice(None))[0], [0, 1, 2])


def test_long_ref_is_checked_past_the_read_ahead(tmp_path):
    seq = "A" * 10 + "".join("ACGT"[i % 4] for i in range(1500)) + "T" * 10
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": seq}))
    long_ref = seq[5:1505]
    vcf = write_vcf(
        tmp_path / "long.vcf.gz", "1", len(seq), SAMPLES, [f"6\tbig\t{long_ref}\tA\t0|1\t0|0\t0|0"]
    )
    store = ingest_vcf(vcf, fa, "1", [(0, 20)])
    assert store.ref_lengths().tolist() == [1500] and store.stats["stored_deletion"] == 1
    bad = write_vcf(
        tmp_path / "bad.vcf.gz",
        "1",
        len(seq),
        SAMPLES,
        [f"6\tbig\t{long_ref[:-1]}C\tA\t0|1\t0|0\t0|0"],
    )
    with pytest.raises(InputError, match="1:6 big.*disagrees with the FASTA"):
        ingest_vcf(bad, fa, "1", [(0, 20)])


def _builder(ref, vcf, genes, window_bp, samples=SAMPLES):
    store = ingest_vcf(vcf, ref, "chr1", [(0, len(SEQ))])
    return HaplotypeBuilder(ref, {"chr1": store}, genes, samples, window_bp)


def test_haplotypes_plus_strand_hand_checked(tiny):
    ref, vcf = tiny
    # TSS at 0-based 10, L = 8: window [6, 14) = "GTTTGGCC", TSS at index 4
    genes = pd.DataFrame({"chrom": ["chr1"], "strand": ["+"], "tss0": [10]})
    hb = _builder(ref, vcf, genes, 8)
    assert sequence_windows(np.array([10]), np.array(["+"]), 8)[0].tolist() == [6]
    assert decode(hb.reference(np.array([0]))[0]) == "GTTTGGCC"
    h = hb.haplotypes(np.array([0, 0, 0]), np.array([0, 1, 2]))
    assert h.shape == (3, 2, 8)
    # v2 at pos 10 (index 4): S1 = A|C, S2 = G|G, S3 = C|G
    assert [decode(x) for x in h[0]] == ["GTTTAGCC", "GTTTCGCC"]
    assert [decode(x) for x in h[1]] == ["GTTTGGCC", "GTTTGGCC"]
    assert [decode(x) for x in h[2]] == ["GTTTCGCC", "GTTTGGCC"]


def test_haplotypes_minus_strand_hand_checked(tiny):
    ref, vcf = tiny
    # minus strand, TSS 0-based 10, L = 8: forward window [7, 15) = "TTTGGCCA";
    # reverse complement "TGGCCAAA" has the TSS base (G at 10 -> C) at index 4
    genes = pd.DataFrame({"chrom": ["chr1"], "strand": ["-"], "tss0": [10]})
    hb = _builder(ref, vcf, genes, 8)
    assert sequence_windows(np.array([10]), np.array(["-"]), 8)[0].tolist() == [7]
    refw = decode(hb.reference(np.array([0]))[0])
    assert refw == "TGGCCAAA"
    assert refw[4] == "C"
    h = hb.haplotypes(np.array([0]), np.array([0]))
    # S1 hap1 carries A at 10 -> complement T at index 4; hap2 carries C -> G
    assert [decode(x) for x in h[0]] == ["TGGCTAAA", "TGGCGAAA"]


def test_haplotypes_window_off_contig_start_is_n_padded(tiny):
    ref, vcf = tiny
    genes = pd.DataFrame({"chrom": ["chr1"], "strand": ["+"], "tss0": [2]})
    hb = _builder(ref, vcf, genes, 8)  # window [-2, 6)
    h = hb.haplotypes(np.array([0]), np.array([1]))  # S2 is T|T at pos 2
    assert [decode(x) for x in h[0]] == ["NNACTTAC", "NNACTTAC"]


def test_builder_rejects_unknown_individual(tiny):
    ref, vcf = tiny
    genes = pd.DataFrame({"chrom": ["chr1"], "strand": ["+"], "tss0": [10]})
    with pytest.raises(ValueError, match="absent from the variant store"):
        _builder(ref, vcf, genes, 8, samples=["S1", "NOPE"])


@pytest.mark.shared
def test_real_haplotypes_match_a_slow_per_item_oracle():
    """Vectorized builder == per-item splice from cyvcf2 + pyfaidx on real Geuvadis windows."""
    import cyvcf2
    from conftest import GEUVADIS

    vcf_path = str(GEUVADIS / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz")
    ref = Reference(GEUVADIS / "reference/GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz")
    tss = pd.read_csv(GEUVADIS / "annotation/gencode.v19.chr22.gene_tss.tsv", sep="\t")
    tss = tss[tss["tss_pm50kb_inside_contiguous_sequence"]].iloc[::6]
    genes = pd.DataFrame(
        {"chrom": tss["chrom"], "strand": tss["strand"], "tss0": tss["tss"] - 1}
    ).reset_index(drop=True)
    L = 4000
    starts = sequence_windows(genes["tss0"].to_numpy(), genes["strand"].to_numpy(), L)[0]
    store = ingest_vcf(vcf_path, ref, "chr22", [(a, a + L) for a in starts])
    vcf = cyvcf2.VCF(vcf_path)
    samples = list(vcf.samples)[:10]
    hb = HaplotypeBuilder(ref, {"chr22": store}, genes, samples, L)
    gi, ii = np.meshgrid(np.arange(len(genes)), np.arange(len(samples)), indexing="ij")
    got = hb.haplotypes(gi.ravel(), ii.ravel())
    comp = str.maketrans("ACGTN", "TGCAN")
    n_alt = 0
    for b, (g, i) in enumerate(zip(gi.ravel(), ii.ravel(), strict=True)):
        a = int(starts[g])
        seqs = [list(ref.fetch_string("chr22", a, a + L)) for _ in range(2)]
        col = list(vcf.samples).index(samples[i])
        for rec in vcf(f"chr22:{a + 1}-{a + L}"):
            if a <= rec.POS - 1 < a + L:
                for h in (0, 1):
                    if rec.genotype.array()[col][h] == 1:
                        seqs[h][rec.POS - 1 - a] = rec.ALT[0]
                        n_alt += 1
        for h in (0, 1):
            want = "".join(seqs[h])
            if genes["strand"][g] == "-":
                want = want.translate(comp)[::-1]
            assert decode(got[b, h]) == want
    assert n_alt > 50  # the comparison exercised real ALT alleles


def test_stores_from_before_upstream_deletions_load_with_a_warning(tiny, tmp_path, caplog):
    """Format 2 stores lack deletions reaching a window from upstream (issue 20 item 5a): they
    still load, with a warning to rebuild them; stores written now load without one."""
    import logging

    ref, vcf = tiny
    store = ingest_vcf(vcf, ref, "chr1", [(0, len(SEQ))])
    store.save(tmp_path / "now.npz")
    with np.load(tmp_path / "now.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(tmp_path / "v2.npz", **{**arrays, "format_version": np.int64(2)})
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        VariantStore.load(tmp_path / "now.npz")
        assert "Re-run the genotypes rule" not in caplog.text
        back = VariantStore.load(tmp_path / "v2.npz")
    assert re.search(r"v2\.npz: variant store of format 2, written before .* Re-run the "
                     r"genotypes rule", caplog.text)  # fmt: skip
    np.testing.assert_array_equal(back.genotypes, store.genotypes)
    assert back.stats == store.stats and back.windows is not None
