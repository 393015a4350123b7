"""PLINK 2 input (``.pgen``/``.pvar``/``.psam``): a PGEN's store equals its VCF's store.

Every PGEN here is written by pgenlib's own writer from a VCF (``_oracles.pgen``, standing in
for ``plink2 --vcf --make-pgen``), and both files are read by ps2f: the stores must agree array
by array (real Geuvadis chr22 genotypes; a hand-made multi-allelic case with indels, a <DEL>,
skipped ALTs and missing calls), dosages too (GT and DS), an unphased PGEN is refused for
haplotypes, and broken filesets fail with messages naming the file.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from _oracles.pgen import vcf_to_pgen
from conftest import GEUVADIS, write_fasta, write_vcf
from test_haplotypes import LONG, LONG_CASES, LONG_FLANK, LONG_L, LONG_TSS, long_rec, snv

from ps2f.errors import InputError
from ps2f.genome.encoding import decode
from ps2f.genome.haplotypes import HaplotypeBuilder
from ps2f.io.fasta import Reference
from ps2f.io.genotypes import (
    genotype_companions,
    ingest_genotype_dosages,
    ingest_genotypes,
    read_genotype_samples,
)
from ps2f.io.pgen import ingest_pgen, ingest_pgen_dosages, read_psam_samples
from ps2f.io.vcf import ingest_dosages, ingest_vcf

#            0         1         2         3
#            0123456789012345678901234567890123456789
SEQ = "ACGTACGTTTGGCCAAACGTAGCTAGCTAGGATCCAAGTT"
SAMPLES = ["S1", "S2", "S3", "S4"]
WIN = [(0, len(SEQ))]
FASTA = GEUVADIS / "reference" / "GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz"
PHASED = GEUVADIS / "genotypes" / "qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"

# POS (1-based) 3 = G, 5 = A, 9 = T, 12 = G, 14 = C, 18 = C, 20 = T, 25 = A
MULTI = [
    "3 m1 G A,T,GCC 0|1 2|3 3|0 1|1",  # multi-allelic: SNVs and an insertion
    "5 d1 ACG A 1|0 0|0 ./. 0|1",  # deletion; S3 missing
    "5 s1 A C 0|1 1|0 0|0 0|0",  # same POS as the deletion: kept in file order
    "9 sym T <DEL>@END=11 0|1 0|0 1|1 0|0",  # spelled out from the FASTA
    "12 skip G *,<CN2>,. 1|0 2|0 0|3 0|0",  # nothing stored, each ALT counted
    "14 . C CA,G 0|2 1|1 2|0 0|1",  # ID '.': made up from the alleles
    "18 gv C <*> 0|0 0|0 0|0 0|0",  # gVCF reference block
    "20 mnv TA CG 1|1 0|1 0|0 1|0",
    "25 cx AG T 0|1 0|0 1|0 0|0",
]


def assert_same_store(a, b, dosage_atol=0.0):
    """Every array of two stores (variant or dosage) equal; the ingestion counts too."""
    fields = ["pos", "ref_bytes", "ref_offsets", "alt_bytes", "alt_offsets", "ids", "samples"]
    for name in fields + ["windows"]:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.contig == b.contig
    if hasattr(a, "genotypes"):
        np.testing.assert_array_equal(a.genotypes, b.genotypes)
    else:
        assert a.values.dtype == b.values.dtype and a.dosage_field == b.dosage_field
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=dosage_atol)
    assert a.stats == b.stats


def geuvadis_part(out, region):
    """The Geuvadis phased VCF's records in ``region`` (bcftools view), bgzipped and indexed."""
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools not on the PATH")
    view = ["bcftools", "view", "-r", region, "-Oz", "-o", str(out), str(PHASED)]
    subprocess.run(view, check=True)
    subprocess.run(["bcftools", "index", "-t", str(out)], check=True)
    return out


@pytest.fixture
def ref(tmp_path):
    return Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))


def vcf(tmp_path, records, fmt="GT", name="g.vcf.gz"):
    return write_vcf(tmp_path / name, "1", len(SEQ), SAMPLES, records, fmt=fmt)


@pytest.mark.parametrize("snvs_only", [False, True])
def test_multiallelic_pgen_round_trip_equals_vcf_store(tmp_path, ref, snvs_only):
    path = vcf(tmp_path, MULTI)
    pgen = vcf_to_pgen(path, tmp_path / "g")
    kw = {"snvs_only": snvs_only, "missing_policy": "reference"}
    from_vcf = ingest_vcf(path, ref, "1", WIN, **kw)
    from_pgen = ingest_pgen(pgen, ref, "1", WIN, **kw)
    assert_same_store(from_vcf, from_pgen)
    s = from_pgen.stats
    assert s["genotypes_missing_set_to_ref"] == 1 and s["skipped_gvcf_reference_block"] == 1
    assert s["skipped_alt_missing_or_spanning"] == 2 and s["skipped_alt_symbolic_or_breakend"] == 1
    if not snvs_only:
        assert s["stored_symbolic_deletion"] == 1 and s["stored_insertion"] == 2
        assert from_pgen.allele(from_pgen.ids.tolist().index("sym"), "ref") == SEQ[8:11]
        assert "1_14_C_CA" in from_pgen.ids
    # a sample subset (asked for out of order) is kept in file order, as from the VCF
    sub = ["S4", "S2"]
    assert_same_store(
        ingest_vcf(path, ref, "1", WIN, samples=sub, **kw),
        ingest_pgen(pgen, ref, "1", WIN, samples=sub, **kw),
    )
    # windows: only records whose POS lies inside, as from the VCF
    parts = [(4, 9), (19, 30)]
    assert_same_store(
        ingest_vcf(path, ref, "1", parts, **kw), ingest_pgen(pgen, ref, "1", parts, **kw)
    )
    # the dispatcher picks the reader from the suffix
    assert_same_store(from_pgen, ingest_genotypes(pgen, ref, "1", WIN, **kw))
    assert read_genotype_samples(pgen) == read_genotype_samples(path) == SAMPLES


def test_missing_call_follows_the_policy(tmp_path, ref):
    pgen = vcf_to_pgen(vcf(tmp_path, MULTI), tmp_path / "g")
    with pytest.raises(InputError, match=r"g\.pgen: record 1:5 d1 ACG>A: missing genotype.*S3"):
        ingest_pgen(pgen, ref, "1", WIN)


@pytest.mark.shared
def test_geuvadis_pgen_round_trip_equals_vcf_store(tmp_path):
    """Real phased 1000G genotypes of the 358 Geuvadis samples, chr22:19.9-20.6 Mb, through a
    PGEN: the variant store (haplotype bits of every sample) and the GT dosage store equal the
    stores read from the VCF, REFs checked against real GRCh37 sequence."""
    part = geuvadis_part(tmp_path / "part.vcf.gz", "chr22:19900000-20600000")
    pgen = vcf_to_pgen(part, tmp_path / "part")
    reference = Reference(str(FASTA))
    windows = [(19_950_000, 20_100_000), (20_090_000, 20_300_000), (20_400_000, 20_600_000)]
    from_vcf = ingest_vcf(part, reference, "chr22", windows)
    from_pgen = ingest_pgen(pgen, reference, "chr22", windows)
    assert from_pgen.n_variants > 500 and from_pgen.n_samples == 358
    assert_same_store(from_vcf, from_pgen)
    samples = read_psam_samples(pgen)[::7]
    assert_same_store(
        ingest_dosages(part, reference, "chr22", windows, samples=samples),
        ingest_pgen_dosages(pgen, reference, "chr22", windows, samples=samples),
    )


def test_unphased_pgen_is_refused_for_haplotypes_but_gives_dosages(tmp_path, ref):
    records = [r.replace("|", "/") for r in MULTI]
    path = vcf(tmp_path, records)
    pgen = vcf_to_pgen(path, tmp_path / "u", phased=False)
    with pytest.raises(InputError, match=r"u\.pgen: record 1:3 m1.*unphased heterozygous.*"
                       r"stores no phase at all.*plink2 --vcf"):
        ingest_pgen(pgen, ref, "1", WIN, missing_policy="reference")
    kw = {"missing_policy": "reference", "snvs_only": False}
    assert_same_store(
        ingest_dosages(path, ref, "1", WIN, **kw), ingest_pgen_dosages(pgen, ref, "1", WIN, **kw)
    )


def test_pgen_ds_dosages_equal_the_vcf_ds(tmp_path, ref):
    rng = np.random.default_rng(0)
    ds = rng.uniform(0, 2, size=(3, len(SAMPLES))).round(3)
    records = [
        f"{pos} v{pos} {b} {alt} " + " ".join(f"0/1:{x}" for x in row)
        for (pos, b, alt), row in zip(
            [(3, "G", "A"), (9, "T", "C"), (14, "C", "CA")], ds, strict=True
        )
    ]
    records.append("20 miss T G " + " ".join(["0/1:."] + ["0/0:0"] * 3))
    path = vcf(tmp_path, records, fmt="GT:DS")
    pgen = vcf_to_pgen(path, tmp_path / "d", dosages=True)
    kw = {"dosage_field": "DS", "snvs_only": False, "missing_policy": "reference"}
    from_vcf = ingest_dosages(path, ref, "1", WIN, **kw)
    from_pgen = ingest_pgen_dosages(pgen, ref, "1", WIN, **kw)
    # PGEN stores dosages in 1/16,384 steps
    assert_same_store(from_vcf, from_pgen, dosage_atol=0.5 / 16384)
    assert from_pgen.stats["genotypes_missing_set_to_ref"] == 1
    assert from_pgen.values[3, 0] == 0.0
    with pytest.raises(InputError, match=r"record 1:20 miss T>G: missing dosage \(dosage"):
        ingest_pgen_dosages(pgen, ref, "1", WIN, dosage_field="DS")
    assert_same_store(ingest_genotype_dosages(pgen, ref, "1", WIN, **kw), from_pgen)


def test_missing_or_mismatched_companions_are_named(tmp_path, ref):
    pgen = vcf_to_pgen(vcf(tmp_path, MULTI), tmp_path / "g")
    pvar, psam = tmp_path / "g.pvar", tmp_path / "g.psam"
    text = psam.read_text()
    psam.unlink()
    with pytest.raises(InputError, match=r"g\.psam: the \.psam file of the PLINK 2 fileset"):
        ingest_pgen(pgen, ref, "1", WIN)
    with pytest.raises(InputError, match=r"g\.psam: the \.psam file"):
        read_genotype_samples(pgen)
    psam.write_text(text + "S5\n")  # one sample more than the .pgen holds
    with pytest.raises(InputError, match=r"g\.pgen: pgenlib cannot open it with 9 variants.*"
                       r"and 5 samples.*one 'plink2 --make-pgen' run"):
        ingest_pgen(pgen, ref, "1", WIN)
    psam.write_text(text)
    pvar.unlink()
    with pytest.raises(InputError, match=r"g\.pvar: the \.pvar file .* is missing.*\.pvar\.zst"):
        ingest_pgen(pgen, ref, "1", WIN)
    (tmp_path / "g.pgen").write_bytes(b"")
    with pytest.raises(InputError, match=r"g\.pgen: the file is empty"):
        ingest_pgen(pgen, ref, "1", WIN)


def test_zstd_pvar_reads_as_the_plain_one(tmp_path, ref):
    if shutil.which("zstd") is None:
        pytest.skip("zstd not on the PATH")
    records = [r for r in MULTI if "<DEL>" not in r]
    path = vcf(tmp_path, records)
    pgen = vcf_to_pgen(path, tmp_path / "g")
    kw = {"missing_policy": "reference"}
    subprocess.run(["zstd", "-q", "--rm", str(tmp_path / "g.pvar")], check=True)
    assert genotype_companions(pgen)[0] == str(tmp_path / "g.pvar.zst")
    assert_same_store(ingest_vcf(path, ref, "1", WIN, **kw), ingest_pgen(pgen, ref, "1", WIN, **kw))
    # a <DEL> needs INFO/END, which pgenlib does not read from a .pvar.zst
    path = vcf(tmp_path, MULTI, name="del.vcf.gz")
    pgen = vcf_to_pgen(path, tmp_path / "del")
    subprocess.run(["zstd", "-q", "--rm", str(tmp_path / "del.pvar")], check=True)
    with pytest.raises(InputError, match=r"del\.pvar\.zst: record 1:9 has a <DEL> ALT.*zstd -d"):
        ingest_pgen(pgen, ref, "1", WIN, **kw)
    assert ingest_pgen(pgen, ref, "1", [(0, 8)], **kw).n_variants > 0  # not read
    # upstream of a window, its unknown END might reach into it (haplotypes): still an error
    with pytest.raises(InputError, match=r"record 1:9 has a <DEL> ALT.*starts before a window"):
        ingest_pgen(pgen, ref, "1", [(0, 8), (11, 40)], **kw)
    # the dosage store reads records by POS only (PredictDB's rule)
    dos = ingest_pgen_dosages(pgen, ref, "1", [(0, 8), (11, 40)], snvs_only=False, **kw)
    assert dos.n_variants > 0


def test_truncated_pgen_names_the_record(tmp_path, ref):
    pgen = vcf_to_pgen(vcf(tmp_path, MULTI), tmp_path / "g")
    data = pgen.read_bytes()
    pgen.write_bytes(data[:-6])  # the last records cut short
    kw = {"missing_policy": "reference"}
    with pytest.raises(InputError, match=r"g\.pgen: record 1:\d+ .*pgenlib cannot read its "
                       r"genotypes .*truncated or corrupt"):
        ingest_pgen(pgen, ref, "1", WIN, **kw)
    with pytest.raises(InputError, match=r"g\.pgen: record 1:\d+ .*truncated or corrupt"):
        ingest_pgen_dosages(pgen, ref, "1", WIN, dosage_field="DS", **kw)
    pgen.write_bytes(data[:12])  # the header cut short
    with pytest.raises(InputError, match=r"g\.pgen: pgenlib cannot open it.*complete"):
        ingest_pgen(pgen, ref, "1", WIN, **kw)


def test_pvar_errors_name_the_record(tmp_path, ref):
    path = vcf(tmp_path, ["3 bad A T 0|1 0|0 0|0 0|0", "5 ok A C 0|1 0|0 0|0 0|0"])
    pgen = vcf_to_pgen(path, tmp_path / "b")
    with pytest.raises(InputError, match=r"b\.pgen: record 1:3 bad A>T: REF 'A' disagrees.*"
                       r"has 'G'.*ref-from-fa"):
        ingest_pgen(pgen, ref, "1", WIN)
    pvar = tmp_path / "b.pvar"
    lines = pvar.read_text().splitlines(keepends=True)
    pvar.write_text("".join(lines[:2] + lines[3:] + lines[2:3]))  # POS 5 before POS 3
    with pytest.raises(InputError, match=r"b\.pvar: record 1:3 comes after 1:5.*--sort-vars"):
        ingest_pgen(pgen, ref, "1", WIN)
    with pytest.raises(InputError, match=r"b\.pvar: contig '2' not found .*the file has: 1\."):
        two = Reference(write_fasta(tmp_path / "r2.fa", {"1": SEQ, "2": SEQ}))
        ingest_pgen(pgen, two, "2", WIN)


def test_psam_layouts(tmp_path):
    psam = tmp_path / "x.psam"
    psam.write_text("#FID\tIID\tSEX\nF1\tA\t1\nF1\tB\t2\n")
    assert read_psam_samples(psam) == ["A", "B"]
    psam.write_text("F1 A 0 0 1 -9\nF2 B 0 0 2 -9\n")  # a .fam
    assert read_psam_samples(psam) == ["A", "B"]
    psam.write_text("#FID\tIID\nF1\tA\nF2\tA\n")
    with pytest.raises(InputError, match=r"x\.psam: sample IDs \(IID\) repeat: \['A'\]"):
        read_psam_samples(psam)
    psam.write_text("#FID\tSEX\nF1\t1\n")
    with pytest.raises(InputError, match="no IID column"):
        read_psam_samples(psam)


@pytest.mark.shared
@pytest.mark.workflow
def test_workflow_reads_a_pgen_as_it_reads_the_vcf(tmp_path):
    """``inputs.genotypes`` and ``inputs.dosages`` set to a .pgen: the phenotypes, genotypes
    and dosages rules give the same stores as with the VCF it was made from."""
    import sys

    import yaml
    from conftest import REPO

    from ps2f.genome.store import load_store

    part = geuvadis_part(tmp_path / "real.vcf.gz", "chr22:17400000-22000000")
    pgen = vcf_to_pgen(part, tmp_path / "real")
    d = GEUVADIS
    stores = {}
    for name, genotypes in (("vcf", part), ("pgen", pgen)):
        config = {
            "name": name,
            "simulate": {"enabled": False},
            "inputs": {
                "genotypes": str(genotypes),
                "dosages": str(genotypes),
                "reference": str(FASTA),
                "annotation": str(d / "annotation/gencode.v19.chr22.gene_tss.tsv"),
                "expression": str(
                    d / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"
                ),
            },
            "annotation": {"usable_column": "tss_pm50kb_inside_contiguous_sequence"},
            "contigs": ["chr22"],
            "genes": {"max_s2f_genes": 4, "max_baseline_genes": 6},
            "baselines": {"cis_window_bp": 20000},
        }
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        run = f"results/{name}"
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
             str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
             f"{run}/variants/chr22.npz", f"{run}/dosages/chr22.npz"],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        stores[name] = [
            load_store(workdir / run / f"{kind}/chr22.npz") for kind in ("variants", "dosages")
        ]
    assert stores["pgen"][0].n_variants > 100 and stores["pgen"][1].n_variants > 50
    for a, b in zip(stores["vcf"], stores["pgen"], strict=True):
        assert_same_store(a, b)


def test_headerless_pvar_in_bim_order_reads_the_same(tmp_path, ref):
    path = vcf(tmp_path, MULTI[:3] + MULTI[5:6])
    pgen = vcf_to_pgen(path, tmp_path / "g")
    kw = {"missing_policy": "reference"}
    expected = ingest_pgen(pgen, ref, "1", WIN, **kw)
    pvar = tmp_path / "g.pvar"
    rows = [line.split("\t") for line in pvar.read_text().splitlines() if not line.startswith("#")]
    # .bim order: CHROM ID CM POS ALT REF, no header line
    pvar.write_text("".join(f"{c}\t{i}\t0\t{p}\t{a}\t{r}\n" for c, p, i, r, a, *_ in rows))
    assert_same_store(expected, ingest_pgen(pgen, ref, "1", WIN, **kw))
    assert_same_store(expected, ingest_vcf(path, ref, "1", WIN, **kw))


# --- deletions starting upstream of a window (issue 20, item 5a), as from the VCF ---------------


@pytest.mark.parametrize("case", LONG_CASES, ids=[c[0] for c in LONG_CASES])
def test_pgen_deletion_from_far_upstream_gives_the_vcf_store_and_haplotypes(tmp_path, case):
    """A long deletion (plain or <DEL> with INFO/END) starting before a gene's stored window.

    The .pvar lists it by its POS, outside the window: it must still be kept, with the bases
    and variants around it, and change the carriers' haplotypes exactly as from the VCF (which
    test_haplotypes checks against bcftools consensus).
    """
    from ps2f.genome.windows import store_windows

    name, records, strand = case
    fa = write_fasta(tmp_path / "ref.fa", {"1": LONG})
    by_pos = sorted(records, key=lambda r: int(r.split()[0]))
    path = write_vcf(tmp_path / "v.vcf.gz", "1", len(LONG), ["S1"], by_pos)
    pgen = vcf_to_pgen(path, tmp_path / "g")
    ref = Reference(fa)
    genes = pd.DataFrame({"chrom": ["1"], "strand": [strand], "tss0": [LONG_TSS], "s2f": [True]})
    windows = store_windows(genes, LONG_L, 0, "tss", LONG_FLANK)
    assert all(int(records[0].split()[0]) - 1 < a for a, _ in windows)  # starts outside them
    want, got = ingest_vcf(path, ref, "1", windows), ingest_pgen(pgen, ref, "1", windows)
    if all(r.split()[-1] in ("0|0", "1|1") for r in records):
        # a PGEN stores phase of heterozygous calls only: with none, the homozygous calls read
        # as unphased (module docstring of ps2f.io.pgen); the rest must be equal
        assert got.stats.pop("unphased_homozygous_calls") == len(records)
    assert_same_store(want, got)
    assert got.stats["records_overlapping_window_from_upstream"] == 1
    assert int(records[0].split()[0]) - 1 in got.pos  # the deletion itself is stored
    haps = [
        HaplotypeBuilder(ref, {"1": s}, genes, ["S1"], LONG_L).haplotypes(np.array([0]), [0])[0]
        for s in (want, got)
    ]
    np.testing.assert_array_equal(haps[0], haps[1])
    hb = HaplotypeBuilder(ref, {"1": got}, genes, ["S1"], LONG_L)
    ref_window = decode(hb.reference(np.array([0]))[0])
    carried = [gt == "1" for gt in records[0].split()[-1].split("|")]
    for h in np.flatnonzero(carried):  # the deletion changed the carriers' windows
        assert decode(haps[1][h]) != ref_window, (name, h)


def test_pgen_upstream_deletion_read_once_across_windows_as_the_vcf(tmp_path):
    """Stored once, the SNV before it read too; dosages keep POS-inside-a-window (PredictDB)."""
    records = [long_rec(12_000, 22_000, "1|0"), snv(11_800, "1|1"), snv(19_500, "0|1"),
               long_rec(25_000, 25_400, "0|1", symbolic=True)]  # fmt: skip
    fa = write_fasta(tmp_path / "ref.fa", {"1": LONG})
    path = write_vcf(tmp_path / "v.vcf.gz", "1", len(LONG), ["S1"], sorted(
        records, key=lambda r: int(r.split()[0])))  # fmt: skip
    pgen = vcf_to_pgen(path, tmp_path / "g")
    ref = Reference(fa)
    windows = [(19_400, 19_600), (20_000, 20_600), (25_200, 25_300)]
    got = ingest_pgen(pgen, ref, "1", windows)
    assert_same_store(ingest_vcf(path, ref, "1", windows), got)
    assert list(got.pos) == [11_800, 12_000, 19_500, 25_000]
    assert got.stats["records_overlapping_window_from_upstream"] == 2
    assert got.covers(11_000, 19_600) and got.covers(20_000, 21_000)
    kw = {"snvs_only": False}
    dos = ingest_pgen_dosages(pgen, ref, "1", windows, **kw)
    assert_same_store(ingest_dosages(path, ref, "1", windows, **kw), dos)
    assert list(dos.pos) == [19_500]
    # SNVs only: no upstream records (they are never SNVs), as from the VCF
    snvs = ingest_pgen(pgen, ref, "1", windows, snvs_only=True)
    assert_same_store(ingest_vcf(path, ref, "1", windows, snvs_only=True), snvs)
    assert list(snvs.pos) == [19_500]


def test_pgen_symbolic_records_spanning_a_window_from_upstream_as_the_vcf(tmp_path):
    """Other symbolic ALTs with INFO/END span a window too (the VCF index uses END): same
    upstream records, windows read and counts; a gVCF block is never one."""
    records = [
        f"5001\tdup\t{LONG[5000]}\t<DUP>@END=19500\t0|1",
        f"6001\tgv\t{LONG[6000]}\t<*>@END=19450\t0|0",
        f"7001\tinv\t{LONG[7000]}\t<INV>\t1|0",
        long_rec(12_000, 22_000, "1|0"), snv(11_800, "1|1"), snv(19_500, "0|1"),
        f"19551\tdel2\t{LONG[19_550]}\t<DEL>@END=19590\t1|1",
    ]  # fmt: skip
    fa = write_fasta(tmp_path / "ref.fa", {"1": LONG})
    path = write_vcf(tmp_path / "v.vcf.gz", "1", len(LONG), ["S1"], sorted(
        records, key=lambda r: int(r.split()[0])))  # fmt: skip
    pgen = vcf_to_pgen(path, tmp_path / "g")
    ref = Reference(fa)
    windows = [(19_400, 19_600), (20_000, 20_600)]
    got = ingest_pgen(pgen, ref, "1", windows)
    assert_same_store(ingest_vcf(path, ref, "1", windows), got)
    assert got.stats["records_overlapping_window_from_upstream"] == 2  # <DUP> and the deletion
    assert got.stats["skipped_gvcf_reference_block"] == 1
    assert list(got.pos) == [11_800, 12_000, 19_500, 19_550]
    assert got.covers(5_000, 20_600)  # read around the <DUP> too
