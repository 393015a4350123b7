"""Bad genotype (VCF/BCF) and reference (FASTA) inputs: a clear error or a counted policy.

One test per item of ``bad_inputs.md`` ("Genotypes", "Reference") not already covered in
``test_genome.py`` / ``test_haplotypes.py``. Every error must be a ps2f
:class:`~ps2f.errors.InputError` naming the file, the record and the fix; every policy must be
counted in the ingestion stats (which the genotypes rule logs and writes next to the store).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import write_fasta, write_vcf

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import decode
from ps2f.io.fasta import Reference
from ps2f.io.vcf import ingest_vcf, read_vcf_samples
from ps2f.pipeline.genotypes import run_genotypes

#            0         1         2         3
#            0123456789012345678901234567890123456789
SEQ = "ACGTACGTTTGGCCAAACGTAGCTAGCTAGGATCCAAGTT"
SEQ2 = "TTTTGGGGCCCCAAAATTTTGGGGCCCCAAAATTTTGGGG"  # a second contig, different bases
SAMPLES = ["S1", "S2"]
WIN = [(0, len(SEQ))]
needs_bcftools = pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools")


@pytest.fixture
def ref(tmp_path):
    return Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ, "2": SEQ2}))


def vcf_of(tmp_path, records, name="v.vcf.gz", contig="1", samples=SAMPLES, index=True):
    """A bgzipped + tabixed VCF of ``records`` ('POS ID REF ALT GT...' lines)."""
    return write_vcf(tmp_path / name, contig, len(SEQ), samples, records, index=index)


def plain_vcf(tmp_path, records, name="v.vcf", samples=SAMPLES):
    """The same VCF as plain text (write_vcf's intermediate file), no index."""
    gz = vcf_of(tmp_path, records, name + ".gz", samples=samples, index=False)
    gz.unlink()
    return tmp_path / name


# --- the file itself --------------------------------------------------------------------------


def test_not_bgzipped_is_an_error_even_beside_an_index(tmp_path, ref):
    """Plain text or plain gzip next to a .tbi: htslib segfaulted or silently read nothing."""
    good = vcf_of(tmp_path, ["3\tv\tG\tT\t0|1\t0|0"], "good.vcf.gz")
    tbi = good.with_name(good.name + ".tbi")
    plain = plain_vcf(tmp_path, ["3\tv\tG\tT\t0|1\t0|0"], "p.vcf")
    shutil.copy(tbi, str(plain) + ".tbi")
    with pytest.raises(InputError, match=r"p\.vcf: not compressed.*index beside it.*bgzip -c"):
        ingest_vcf(plain, ref, "1", WIN)
    gz = tmp_path / "g.vcf.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    shutil.copy(tbi, str(gz) + ".tbi")
    with pytest.raises(InputError, match=r"g\.vcf\.gz: compressed with gzip, not bgzip.*\| bgzip"):
        ingest_vcf(gz, ref, "1", WIN)
    os.unlink(str(plain) + ".tbi")  # no index at all: both problems named
    with pytest.raises(InputError, match=r"no \.tbi or \.csi index.*also not compressed"):
        ingest_vcf(plain, ref, "1", WIN)
    assert read_vcf_samples(plain) == SAMPLES  # reading the header needs neither


def test_bgzipped_without_index_names_the_command(tmp_path, ref):
    plain = plain_vcf(tmp_path, ["3\tv\tG\tT\t0|1\t0|0"])
    bgz = tmp_path / "b.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgz))
    with pytest.raises(InputError, match=r"b\.vcf\.gz: no \.tbi.*Index it with 'tabix -p vcf"):
        ingest_vcf(bgz, ref, "1", WIN)
    pysam.tabix_index(str(bgz), preset="vcf")
    assert ingest_vcf(bgz, ref, "1", WIN).n_variants == 1


@needs_bcftools
def test_uncompressed_bcf_is_an_error(tmp_path, ref):
    """``bcftools -Ou`` writes level-0 BGZF (fine); a raw BCF stream cannot be indexed."""
    vcf = vcf_of(tmp_path, ["3\tv\tG\tT\t0|1\t0|0"])
    bcf = tmp_path / "u.bcf"
    subprocess.run(["bcftools", "view", "-Ou", "-o", str(bcf), str(vcf)], check=True)
    subprocess.run(["bcftools", "index", str(bcf)], check=True)
    assert ingest_vcf(bcf, ref, "1", WIN).n_variants == 1
    raw = tmp_path / "raw.bcf"
    raw.write_bytes(gzip.decompress(bcf.read_bytes()))
    with pytest.raises(InputError, match=r"raw\.bcf: no \.tbi.*an uncompressed BCF.*-Ob"):
        ingest_vcf(raw, ref, "1", WIN)


def test_unsorted_vcf(tmp_path, ref):
    """The indexer refuses an unsorted VCF; one with a borrowed index is caught on reading."""
    recs = ["3\tv\tG\tT\t0|1\t0|0", "11\tw\tG\tA\t0|1\t0|0", "30\tx\tG\tA\t1|1\t0|0"]
    sorted_vcf = vcf_of(tmp_path, recs, "sorted.vcf.gz")
    plain = plain_vcf(tmp_path, [recs[1], recs[0], recs[2]], "unsorted.vcf")
    bgz = tmp_path / "unsorted.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgz))
    with pytest.raises(OSError):  # so the user meets our "no index ... sort first" message
        pysam.tabix_index(str(bgz), preset="vcf")
    with pytest.raises(InputError, match=r"no \.tbi.*Unsorted positions.*bcftools sort"):
        ingest_vcf(bgz, ref, "1", WIN)
    shutil.copy(str(sorted_vcf) + ".tbi", str(bgz) + ".tbi")
    with pytest.raises(InputError, match=r"record 1:3 comes after 1:11: the file is not sorted"):
        ingest_vcf(bgz, ref, "1", WIN)


@pytest.mark.parametrize("cut", ["half", "one_byte"])
def test_truncated_mid_file_is_an_error(tmp_path, ref, cut):
    """(The EOF block dropped alone: test_genome::test_truncated_and_sites_only_vcfs_are_errors.)"""
    vcf = vcf_of(tmp_path, [f"{p}\tv{p}\t{SEQ[p - 1]}\tN\t0|1\t0|0" for p in range(1, 40)])
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) // 2] if cut == "half" else data[:-1])
    with pytest.raises(InputError, match=r"v\.vcf\.gz: the file is truncated"):
        ingest_vcf(vcf, ref, "1", WIN)


def test_empty_file_with_or_without_index(tmp_path, ref):
    vcf = vcf_of(tmp_path, ["3\tv\tG\tT\t0|1\t0|0"])
    vcf.write_bytes(b"")  # the .tbi of the old content stays
    for call in (lambda: ingest_vcf(vcf, ref, "1", WIN), lambda: read_vcf_samples(vcf)):
        with pytest.raises(InputError, match=r"v\.vcf\.gz: the file is empty \(0 bytes\)"):
            call()
    os.unlink(str(vcf) + ".tbi")
    with pytest.raises(InputError, match="the file is empty"):
        ingest_vcf(vcf, ref, "1", WIN)


def test_header_only_and_contig_without_records(tmp_path, ref):
    empty = vcf_of(tmp_path, [], "h.vcf.gz")
    with pytest.raises(InputError, match=r"h\.vcf\.gz: the VCF has a header but no records"):
        ingest_vcf(empty, ref, "1", WIN)
    # header declares contigs 1 and 2, records only on 2: asking for 1 is not "no variants"
    plain = tmp_path / "two.vcf"
    plain.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=40>\n##contig=<ID=2,length=40>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
        "2\t5\tv\tG\tA\t.\tPASS\t.\tGT\t0|1\t0|0\n"
    )
    two = pysam.tabix_index(str(plain), preset="vcf")
    with pytest.raises(
        InputError, match=r"two\.vcf\.gz: no records on contig '1'.*bcftools index -s"
    ):
        ingest_vcf(two, ref, "1", WIN)
    assert ingest_vcf(two, ref, "2", WIN).pos.tolist() == [4]


def test_no_record_inside_the_windows_is_logged(tmp_path, ref, caplog):
    vcf = vcf_of(tmp_path, ["30\tx\tG\tA\t1|1\t0|0"])
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        store = ingest_vcf(vcf, ref, "1", [(0, 10)])
    assert store.n_variants == 0 and store.stats["records"] == 0
    assert "no record inside the 1 window(s) (10 bp)" in caplog.text


def test_duplicated_sample_ids_are_named(tmp_path, ref):
    vcf = vcf_of(tmp_path, ["3\tv\tG\tT\t0|1\t1|1"], samples=["S1", "S1"])
    for call in (lambda: read_vcf_samples(vcf), lambda: ingest_vcf(vcf, ref, "1", WIN)):
        with pytest.raises(
            InputError, match=r"v\.vcf\.gz: the header repeats sample ID\(s\) \['S1'\].*reheader"
        ):
            call()


# --- records ----------------------------------------------------------------------------------


def test_duplicate_record_is_an_error_but_split_alleles_are_kept(tmp_path, ref):
    dup = vcf_of(tmp_path, ["3\tv\tG\tT\t0|1\t0|0", "3\tv\tG\tT\t0|1\t0|0"], "dup.vcf.gz")
    with pytest.raises(
        InputError, match=r"dup\.vcf\.gz: record 1:3 v G>T: duplicate record.*norm -d"
    ):
        ingest_vcf(dup, ref, "1", WIN)
    # two ALTs at one position in two records (bcftools norm -m-): both kept; S1 hap 2 carries
    # both, so the second is dropped there when haplotypes are built, and counted
    split = vcf_of(tmp_path, ["3\ta\tG\tT\t0|1\t1|0", "3\tb\tG\tC\t0|1\t0|0"], "split.vcf.gz")
    store = ingest_vcf(split, ref, "1", WIN)
    assert [store.allele(i) for i in range(2)] == ["T", "C"]
    assert store.stats["overlapping_alleles_skipped"] == 1


@pytest.mark.parametrize(
    "record, contig_of_records, match",
    [
        # records of contig 2 under the name 1 (a wrong chromosome mapping)
        ("5\tv\tG\tA\t0|1\t0|0", "2", r"1:5 v G>A: REF 'G' disagrees.*has 'A' at 1:5"),
        # POS written 0-based (off by one): SEQ[3] is T, the VCF says the base at POS 4 is G
        ("4\tv\tG\tA\t0|1\t0|0", "1", r"1:4 v G>A: REF 'G' disagrees.*has 'T' at 1:4"),
        # a record past the end of the FASTA's contig: a longer contig of another build
        ("41\tv\tA\tC\t0|1\t0|0", "1", r"1:41 v A>C: the REF runs past the end of 1 .*40 bp"),
        ("39\tv\tTTA\tT\t0|1\t0|0", "1", r"1:39 v TTA>T: the REF runs past the end"),
    ],
    ids=["wrong_chromosome", "off_by_one", "past_contig_end", "deletion_past_end"],
)
def test_ref_mismatch_cases(tmp_path, ref, record, contig_of_records, match):
    """(Wrong build: test_genome::test_ref_mismatch_is_an_error_naming_the_record.)"""
    seq = SEQ2 if contig_of_records == "2" else SEQ
    pos = int(record.split()[0])
    if contig_of_records == "2":
        assert seq[pos - 1] == record.split()[2]  # a correct record... of contig 2
    vcf = write_vcf(tmp_path / "v.vcf.gz", "1", 100, SAMPLES, [record])
    with pytest.raises(InputError, match=match):
        ingest_vcf(vcf, ref, "1", [(0, 100)])


def test_contig_spellings_resolve_and_unknown_contigs_are_named(tmp_path):
    """``chrM`` (annotation, VCF) vs ``MT`` (FASTA); ``22`` (VCF) vs ``chr22`` (FASTA)."""
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"MT": SEQ, "chr22": SEQ2}))
    mt = write_vcf(tmp_path / "mt.vcf.gz", "chrM", 40, SAMPLES, ["3\tv\tG\tT\t0|1\t1|1"])
    store = ingest_vcf(mt, fa, "chrM", WIN)
    assert store.contig == "MT" and store.dosages(slice(None)).tolist() == [[1, 2]]
    v22 = write_vcf(tmp_path / "22.vcf.gz", "22", 40, SAMPLES, ["5\tv\tG\tA\t0|1\t0|0"])
    assert ingest_vcf(v22, fa, "chr22", WIN).contig == "chr22"
    with pytest.raises(
        InputError, match=r"22\.vcf\.gz: contig 'chr21' not found.*has: 22.*contig_aliases"
    ):
        ingest_vcf(v22, fa, "chr21", WIN)
    v1 = write_vcf(tmp_path / "1.vcf.gz", "1", 40, SAMPLES, ["3\tv\tG\tT\t0|1\t1|1"])
    with pytest.raises(InputError, match=r"ref\.fa: contig '1' not found.*has: MT, chr22"):
        ingest_vcf(v1, fa, "1", WIN)  # in the VCF, not in the FASTA


def test_symbolic_spanning_breakend_and_odd_alts_are_skipped_and_counted(tmp_path, ref):
    recs = [
        "3\tm\tG\t<CN2>,*,T,G]1:5],.G,<*>,R,G\t3|2\t0|1",  # T is ALT 3
        "5\tn\tA\t.\t0|0\t0|0",  # no ALT at all
        "21\td\tA\t<DEL>\t1|1\t0|1",
    ]
    store = ingest_vcf(vcf_of(tmp_path, recs), ref, "1", WIN)
    assert store.pos.tolist() == [2] and store.allele(0) == "T"
    np.testing.assert_array_equal(store.haplotypes(slice(None))[0], [[1, 0], [0, 0]])
    st = store.stats
    assert st["skipped_alt_symbolic_or_breakend"] == 4  # <CN2>, G]1:5], .G, <*>
    assert st["skipped_symbolic_del_without_end"] == 1  # <DEL> with no INFO/END
    assert st["skipped_alt_missing_or_spanning"] == 2  # *, and the record with ALT '.'
    assert st["skipped_alt_not_dna"] == 1  # R
    assert st["skipped_alt_equals_ref"] == 1  # G
    assert st["records"] == 3 and st["variants_stored"] == 1


@pytest.mark.parametrize(
    "line, match",
    [
        ("1\t3\tv\tG\tT\t.\tPASS\t.\tGT\t0|1", r"cannot parse the record after the start"),
        ("1\t3\tv\tG\tT\t.\tPASS\t.\tGT\tx|y\t0|1", r"cannot parse the record after the start"),
        ("1\t3\tv\tG\tT\t.\tPASS\t.\tGT\t0|1\t0|1\n1\t5\tw\tA\tC\t.\tPASS\t.\tGT\t0|1",
         r"cannot parse the record after 1:3"),
        ("1\t3\tv\tG\tT\t.\tPASS\t.\tDP\t5\t6", r"record 1:3 v G>T: the record has no GT"),
        ("1\t3\tv\tG\tT\t.\tPASS\t.\tGT\t0|3\t0|1", r"genotype of S1 names allele 3, but the record has 1 ALT"),
    ],
    ids=["too_few_columns", "non_numeric_gt", "bad_second_record", "no_gt_field", "allele_out_of_range"],
)  # fmt: skip
def test_malformed_records_are_errors_not_library_exceptions(tmp_path, ref, line, match):
    plain = tmp_path / "m.vcf"
    plain.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=40>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n" + line + "\n"
    )
    vcf = pysam.tabix_index(str(plain), preset="vcf")
    with pytest.raises(InputError, match=r"m\.vcf\.gz: .*" + match):
        ingest_vcf(vcf, ref, "1", WIN)


# --- genotype calls ---------------------------------------------------------------------------


@pytest.mark.parametrize("gt", ["./.", ".", "0|.", ".|1"])
def test_missing_calls_follow_the_policy(tmp_path, ref, gt):
    """(``.|.``: test_genome::test_missing_index_unphased_and_missing_genotypes.)"""
    vcf = vcf_of(tmp_path, [f"3\tv\tG\tT\t{gt}\t1|1"])
    with pytest.raises(
        InputError,
        match=r"1:3 v G>T: missing genotype for 1 sample\(s\), e\.g\. S1.*missing_policy",
    ):
        ingest_vcf(vcf, ref, "1", WIN)
    store = ingest_vcf(vcf, ref, "1", WIN, missing_policy="reference")
    want = {"./.": [0, 0], ".": [0, 0], "0|.": [0, 0], ".|1": [0, 1]}[gt]
    np.testing.assert_array_equal(store.haplotypes(slice(None))[0], [want, [1, 1]])
    assert store.stats["genotypes_missing_set_to_ref"] == 1
    with pytest.raises(ConfigError, match="missing_policy must be one of"):
        ingest_vcf(vcf, ref, "1", WIN, missing_policy="drop")


@pytest.mark.parametrize(
    "gts, match",
    [
        (["1", "0|1"], r"1 haploid call\(s\), e\.g\. S1.*fixploidy"),
        (["1", "0"], r"2 haploid call\(s\), e\.g\. S1.*fixploidy"),
        (["0|1|1", "0|1"], r"1 call\(s\) of ploidy above two, e\.g\. S1"),
    ],
    ids=["haploid_beside_diploid", "all_haploid", "triploid"],
)
def test_non_diploid_calls_are_errors(tmp_path, ref, gts, match):
    vcf = vcf_of(tmp_path, ["3\tv\tG\tT\t" + "\t".join(gts)])
    with pytest.raises(InputError, match=r"v\.vcf\.gz: record 1:3 v G>T: " + match):
        ingest_vcf(vcf, ref, "1", WIN)


@needs_bcftools
def test_the_suggested_fixploidy_fix_is_accepted(tmp_path, ref):
    """The haploid error's advice works: ``1`` becomes ``1/1``, a homozygous call needing no phase."""
    vcf = vcf_of(tmp_path, ["3\tv\tG\tT\t1\t0", "11\tw\tG\tA\t0\t1"], "hap.vcf.gz")
    fixed = tmp_path / "fixed.vcf.gz"
    subprocess.run(
        ["bcftools", "+fixploidy", str(vcf), "-Oz", "-o", str(fixed), "--", "-f", "2"],
        check=True,
        capture_output=True,
    )
    pysam.tabix_index(str(fixed), preset="vcf", force=True)
    store = ingest_vcf(fixed, ref, "1", WIN)
    assert store.dosages(slice(None)).tolist() == [[2, 0], [0, 2]]
    assert store.stats["unphased_homozygous_calls"] == 4


# --- the genotypes rule: samples vs the expression matrix --------------------------------------


def _rule_inputs(tmp_path, individuals, gene_end=21, chrom="1"):
    genes = pd.DataFrame(
        {
            "gene": ["g1"],
            "chrom": ["1"],
            "strand": ["+"],
            "tss0": [10],
            "gene_start": [10],
            "gene_end": [gene_end],
            "s2f": [False],
        }
    ).assign(chrom=chrom)
    genes.to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    pd.DataFrame({"individual": individuals}).to_csv(
        tmp_path / "individuals.tsv", sep="\t", index=False
    )
    params = {
        "window_bp": 8,
        "cis_window_bp": 2,
        "cis_window_anchor": "gene_body",
        "indel_flank_bp": 1000,
        "snvs_only": False,
        "missing_policy": "error",
        "contig_aliases": {},
    }
    return str(tmp_path / "genes.tsv"), str(tmp_path / "individuals.tsv"), params


@pytest.mark.parametrize(
    "individuals, match",
    [
        (["NA1", "NA2"], r"none of the 2 expression individuals.*\['NA1', 'NA2'\].*\['S1', 'S2'\]"),
        (["S1", "NA2"], r"1 of the 2 expression individuals have no genotypes, e\.g\. \['NA2'\]"),
    ],
    ids=["disjoint", "partly_absent"],
)
def test_rule_samples_disjoint_from_expression(tmp_path, individuals, match):
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = vcf_of(tmp_path, ["12\tv\tG\tA\t0|1\t1|1"])
    genes, inds, params = _rule_inputs(tmp_path, individuals)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"v\.vcf\.gz: " + match):
        run_genotypes(str(vcf), str(fa), genes, inds, "1", **params, out_store=f"{out}/s.npz",
                      out_stats=f"{out}/s.json")
    assert not out.exists() or not any(out.iterdir())  # nothing a later rule could trust


def test_rule_store_covers_the_gene_body_cis_window(tmp_path):
    """With ``cis_window_anchor: gene_body`` the baselines read gene body +- flank: the store
    must hold it (it held TSS +- flank only, silently losing gene-body variants)."""
    from ps2f.genome.store import VariantStore

    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    # TSS 10, gene body [10, 21), flank 2: window [8, 23); 0-based 19 is in the body
    recs = ["5\tout\tA\tC\t0|1\t0|0", "20\tbody\tT\tA\t0|1\t1|1", "23\tedge\tC\tA\t1|1\t0|0"]
    vcf = vcf_of(tmp_path, recs)
    genes, inds, params = _rule_inputs(tmp_path, ["S2", "S1"])
    out = tmp_path / "out"
    run_genotypes(str(vcf), str(fa), genes, inds, "1", **params, out_store=f"{out}/s.npz",
                  out_stats=f"{out}/s.json")
    store = VariantStore.load(f"{out}/s.npz")
    assert store.ids.tolist() == ["body", "edge"]
    params["cis_window_anchor"] = "tss"  # [8, 13): neither
    run_genotypes(str(vcf), str(fa), genes, inds, "1", **params, out_store=f"{out}/t.npz",
                  out_stats=f"{out}/t.json")
    assert VariantStore.load(f"{out}/t.npz").n_variants == 0


def test_rule_contig_spelled_unlike_the_annotation(tmp_path):
    fa = write_fasta(tmp_path / "ref.fa", {"1": SEQ})
    vcf = vcf_of(tmp_path, ["12\tv\tG\tA\t0|1\t1|1"])
    genes, inds, params = _rule_inputs(tmp_path, SAMPLES, chrom="chr1")
    with pytest.raises(
        InputError, match=r"genes\.tsv: the genes are on 'chr1', the config lists the contig as '1'"
    ):
        run_genotypes(
            str(vcf), str(fa), genes, inds, "1", **params, out_store=f"{tmp_path}/s.npz",
            out_stats=f"{tmp_path}/s.json",
        )


# --- the reference ----------------------------------------------------------------------------


def test_missing_fai_is_built_and_logged(tmp_path, caplog):
    fa = tmp_path / "r.fa"
    fa.write_text(">1 a description\n" + SEQ[:30] + "\n" + SEQ[30:] + "\n")
    bgz = tmp_path / "r2.fa.gz"
    pysam.tabix_compress(str(fa), str(bgz))
    with caplog.at_level(logging.INFO, logger="ps2f"):
        for path in (fa, bgz):
            assert decode(Reference(path).fetch_codes("1", 0, 40)) == SEQ
    assert (tmp_path / "r.fa.fai").exists() and (tmp_path / "r2.fa.gz.gzi").exists()
    assert caplog.text.count("no .fai index; building one") == 2
    # built under hidden per-process names and renamed (parallel jobs never see half an index)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "r.fa", "r.fa.fai", "r2.fa.gz", "r2.fa.gz.fai", "r2.fa.gz.gzi"
    ]  # fmt: skip


def test_missing_fai_in_a_read_only_folder_is_an_error(tmp_path, monkeypatch):
    """(Simulated: tests may run as root, where chmod does not stop writes.)"""
    import pyfaidx

    real_open = pyfaidx.Faidx._open_fai

    def read_only(self, mode):
        if "w" in mode:
            raise PermissionError(13, "Permission denied", self.indexname)
        return real_open(self, mode)

    monkeypatch.setattr(pyfaidx.Faidx, "_open_fai", read_only)
    fa = tmp_path / "r.fa"
    fa.write_text(">1\n" + SEQ + "\n")
    with pytest.raises(
        InputError, match=r"r\.fa: cannot open FASTA .*may not be writable.*folder must be writable"
    ):
        Reference(fa).contig_length("1")


def test_fai_older_than_the_fasta_is_rebuilt(tmp_path, caplog):
    fa = write_fasta(tmp_path / "r.fa", {"1": SEQ})
    fa.write_text(">1\n" + SEQ2[:25] + "\n")  # edited after indexing
    old = fa.stat().st_mtime - 100
    os.utime(str(fa) + ".fai", (old, old))
    with caplog.at_level(logging.INFO, logger="ps2f"):
        r = Reference(fa)
        assert r.contig_length("1") == 25 and r.fetch_string("1", 0, 40) == SEQ2[:25]
    assert "older than the FASTA; rebuilding" in caplog.text


def _fai_from(tmp_path, contigs, line=60):
    """The .fai of another FASTA."""
    other = tmp_path / f"other{len(contigs)}_{line}.fa"
    with open(other, "w") as fh:
        for name, seq in contigs.items():
            fh.write(
                f">{name}\n" + "".join(seq[i : i + line] + "\n" for i in range(0, len(seq), line))
            )
    pysam.faidx(str(other))
    return (tmp_path / (other.name + ".fai")).read_text()


@pytest.mark.parametrize(
    "other, line, match",
    [
        (
            {"chrX": "N" * 20, "1": SEQ},
            60,
            r"'chrX' the index says 20 bp in lines of 20 from byte 6, but no header line '>chrX' ends right before",
        ),
        (
            {"1": SEQ * 2},
            60,
            r"'1' the index says 80 bp in lines of 60 .*, but the first line does not end there",
        ),
        (
            {"1": SEQ},
            16,
            r"'1' the index says 40 bp in lines of 16 .*, but the first line does not end there",
        ),
        (
            {"1": SEQ[:30]},
            60,
            r"'1' the index says 30 bp .*, but the sequence does not end after 30 bp",
        ),
    ],
    ids=["other_fasta", "longer_contig", "other_line_width", "shorter_contig"],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "bgzip"])
def test_fai_not_matching_the_fasta_is_an_error(tmp_path, other, line, match, compressed):
    fa = write_fasta(tmp_path / "r.fa", {"1": SEQ, "2": SEQ2})
    if compressed:
        bgz = tmp_path / "r.fa.gz"
        pysam.tabix_compress(str(fa), str(bgz))
        Reference(bgz).contig_length("1")  # builds a correct .fai + .gzi
        fa = bgz
    fai = _fai_from(tmp_path, other, line)
    with open(str(fa) + ".fai", "w") as fh:  # newer than the FASTA: pyfaidx trusts it
        fh.write(fai)
    with pytest.raises(
        InputError,
        match=r"r\.fa(\.gz)?\.fai does not match the FASTA: for contig "
        + match
        + r".*samtools faidx",
    ):
        Reference(fa).fetch_codes("1", 0, 40)


def test_soft_masked_n_runs_and_iupac_bases(tmp_path, caplog):
    #        0-9 soft-masked     N run     IUPAC   rest
    seq = SEQ[:10].lower() + "NNNN" + "RYKM" + SEQ[18:]
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": seq}))
    assert decode(fa.fetch_codes("1", 0, 40)) == SEQ[:10] + "N" * 8 + SEQ[18:]
    recs = [
        "3\tsoft\tG\tT\t0|1\t0|0",  # over a lower-case base: checked, agrees
        "12\tinN\tG\tA\t0|1\t0|0",  # over N: cannot be checked
        "16\tinY\tA\tG\t0|1\t0|0",  # over Y (IUPAC): cannot be checked
        "30\tx\tG\tA\t0|1\t0|0",
    ]
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        store = ingest_vcf(vcf_of(tmp_path, recs), fa, "1", WIN)
    st = store.stats
    assert store.n_variants == 4 and st["ref_unverifiable_over_N"] == 2
    assert (st["reference_bases_in_windows"], st["reference_bases_N"]) == (40, 4)
    assert st["reference_bases_other_iupac"] == 4
    assert "4 reference bases in the windows are IUPAC ambiguity codes" in caplog.text
    bad = vcf_of(tmp_path, ["4\tbad\tG\tA\t0|1\t0|0"], "bad.vcf.gz")  # soft-masked 't' there
    with pytest.raises(InputError, match=r"REF 'G' disagrees.*has 'T' at 1:4"):
        ingest_vcf(bad, fa, "1", WIN)


def test_windows_off_the_contig_ends_are_n_padded(ref):
    """(Haplotypes at the edges: test_haplotypes.py cases left_edge_plus / right_edge_minus.)"""
    assert decode(ref.fetch_codes("1", -3, 2)) == "NNNAC"
    assert decode(ref.fetch_codes("1", 38, 43)) == "TTNNN"
    assert decode(ref.fetch_codes("1", -5, 45)) == "N" * 5 + SEQ + "N" * 5
    assert decode(ref.fetch_codes("1", 50, 54)) == "NNNN" and ref.fetch_string("1", 50, 54) == ""
    assert decode(ref.fetch_codes("1", -9, -5)) == "NNNN"


def test_fasta_truncated_after_indexing_is_an_error(tmp_path):
    fa = write_fasta(tmp_path / "r.fa", {"1": SEQ * 3})
    data = fa.read_bytes()
    fa.write_bytes(data[:-30])
    os.utime(str(fa) + ".fai")  # the index looks current
    with pytest.raises(
        InputError,
        match=r"r\.fa\.fai does not match the FASTA: for contig '1' .*does not end after 120 bp",
    ):
        Reference(fa).fetch_codes("1", 0, 120)


def test_gvcf_reference_blocks_are_skipped_before_the_ref_check(tmp_path, ref):
    """A gVCF block whose REF disagrees with the FASTA (SEQ[2] is G) must not abort the contig."""
    recs = [
        "1\tb1\tA\t<NON_REF>\t0/0\t0/0",  # a matching block (unphased 0/0: no phase needed)
        "3\tb2\tC\t<*>\t0/0\t./.",  # a mismatched block with a missing call
        "5\tv\tA\tC,<NON_REF>\t0|1\t1|1",  # a variant: applied, REF checked
        "9\tb3\tA\t<*>,<NON_REF>\t0/0\t0/0",  # mismatched (SEQ[8] is T)
    ]
    store = ingest_vcf(vcf_of(tmp_path, recs), ref, "1", WIN)
    assert store.pos.tolist() == [4] and store.allele(0) == "C"
    st = store.stats
    assert st["skipped_gvcf_reference_block"] == 3
    assert st["skipped_alt_symbolic_or_breakend"] == 1  # the <NON_REF> beside C
    assert st["records"] == 4 and st["variants_stored"] == 1
    # a REF mismatch on an applied variant stays an error, <NON_REF> beside it or not
    bad = ["5\tv\tG\tC,<NON_REF>\t0|1\t1|1"]
    with pytest.raises(InputError, match=r"1:5 v G>C,<NON_REF>: REF 'G' disagrees"):
        ingest_vcf(vcf_of(tmp_path, bad, name="bad.vcf.gz"), ref, "1", WIN)


# --- issue 20, items 6-7: stale indexes, malformed FASTAs, read-only folders -------------------


def test_vcf_index_older_than_the_file_is_an_error(tmp_path, ref):
    """A VCF replaced after indexing: was reported as 'no records on contig'."""
    vcf = vcf_of(tmp_path, ["3\ta\tG\tA\t1|0\t0|0"])
    keep = tmp_path / "old.tbi"
    os.replace(str(vcf) + ".tbi", keep)
    vcf_of(tmp_path, ["3\ta\tT\tA\t1|0\t0|0"], contig="2")  # replaced, then the old index back
    os.replace(keep, str(vcf) + ".tbi")
    old = vcf.stat().st_mtime - 100
    os.utime(str(vcf) + ".tbi", (old, old))
    with pytest.raises(InputError, match=r"v\.vcf\.gz: its index v\.vcf\.gz\.tbi is older .*"
                       r"tabix -f -p vcf .*touch"):  # fmt: skip
        ingest_vcf(vcf, ref, "2", WIN)
    os.utime(str(vcf) + ".tbi")  # newer now, but still another file's index
    with pytest.raises(InputError, match=r"has records on contig '2', but its index finds none"):
        ingest_vcf(vcf, ref, "2", WIN)
    pysam.tabix_index(str(vcf), preset="vcf", force=True)  # the suggested fix
    assert ingest_vcf(vcf, ref, "2", WIN).stats["variants_stored"] == 1


@pytest.mark.parametrize(
    "text, match",
    [
        (">1\nACGTACGTAC\nACGTAC\nACGTACGTAC\nAC\n", r"not all one width.*>1 at line 3.*seqkit"),
        (">1\nACGTACGTAC\n\nACGTACGTAC\n", r"blank line sits inside a contig"),
        (">1\nACGT\n>1\nACGT\n", r"contig name \"1\" appears twice"),
        ("ACGTACGT\n>1\nACGT\n", r"not a FASTA: the first line is not a '>' header"),
        (">1\rACGTACGTAC\rACGT\r", r"carriage return alone .*tr '\\r' '\\n'"),
        (">1\nACGT ACGTA\nACGTACGTAC\n", r"1:5 holds ' ', not a base letter"),
    ],
    ids=["ragged", "blank_line", "duplicate_contig", "no_header", "cr_line_ends", "space"],
)
def test_malformed_fasta_names_the_problem_and_a_fix_that_works(tmp_path, text, match):
    """Was: 'run samtools faidx' (which fails on these too), or a silently empty/odd contig."""
    fa = tmp_path / "r.fa"
    fa.write_bytes(text.encode())
    with pytest.raises(InputError, match=match):
        Reference(fa).fetch_string("1", 0, 20)


def test_crlf_fasta_reads_right(tmp_path):
    fa = tmp_path / "r.fa"
    fa.write_bytes((">1 desc\r\n" + SEQ[:30] + "\r\n" + SEQ[30:] + "\r\n").encode())
    assert Reference(fa).fetch_string("1", 0, 40) == SEQ


def test_plain_gzip_fasta_names_bgzip(tmp_path):
    fa = tmp_path / "r.fa.gz"
    # a header time whose bytes are carriage returns (and none of the compressed bytes a line
    # feed): was read as a FASTA with lone-CR line ends, depending on the clock
    with gzip.GzipFile(fa, "wb", mtime=0x0D0D0D0D) as fh:
        fh.write((">1\n" + SEQ + "\n").encode())
    with pytest.raises(InputError, match=r"gzip, not bgzip.*zcat .*r\.fa\.gz \| bgzip"):
        Reference(fa).fetch_string("1", 0, 20)


@pytest.mark.parametrize("matching", [True, False])
def test_older_fai_in_a_read_only_folder_is_checked_not_rebuilt(tmp_path, monkeypatch, caplog,
                                                                matching):  # fmt: skip
    """(Simulated as above.) Was: a forced rebuild that failed with 'cannot open FASTA'."""
    import pyfaidx

    fa = write_fasta(tmp_path / "r.fa", {"1": SEQ, "2": SEQ2})
    if not matching:  # the index of another layout
        (tmp_path / "r.fa.fai").write_text(_fai_from(tmp_path, {"1": SEQ, "2": SEQ2}, line=7))
    old = fa.stat().st_mtime - 100
    os.utime(str(fa) + ".fai", (old, old))
    real_open = pyfaidx.Faidx._open_fai

    def read_only(self, mode):
        if "w" in mode:
            raise PermissionError(13, "Permission denied", self.indexname)
        return real_open(self, mode)

    monkeypatch.setattr(pyfaidx.Faidx, "_open_fai", read_only)
    if matching:
        with caplog.at_level(logging.WARNING, logger="ps2f"):
            assert Reference(fa).fetch_string("2", 0, 40) == SEQ2
        assert "cannot be rebuilt" in caplog.text and "read-only folder" in caplog.text
    else:
        with pytest.raises(InputError, match=r"r\.fa\.fai does not match the FASTA"):
            Reference(fa).fetch_string("2", 0, 40)
