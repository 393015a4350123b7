"""Allele dosages without phase (``inputs.dosages``): unphased GT or imputed DS -> DosageStore.

The genotype baselines need dosages, not haplotypes (PredictDB/PrediXcan fit unphased or
imputed dosages). Checked here: hand-made records (unphased and multi-allelic calls, fractional
DS, missing values, out-of-range and absent DS, a REF mismatch), the store's round trip, the
baselines giving identical fits from a dosage store and from the phased store of the same
genotypes, and on real data: PrediXcan's own dosage file equals what we read from its VCF, and
GT dosages of the phased Geuvadis VCF equal the phased store's.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import GEUVADIS, SHARED, write_fasta, write_vcf

from ps2f.errors import ConfigError, InputError
from ps2f.genome.store import DosageStore, VariantStore, load_store
from ps2f.io.fasta import Reference
from ps2f.io.vcf import ingest_dosages, ingest_vcf

#            0         1         2         3
#            0123456789012345678901234567890123456789
SEQ = "ACGTACGTTTGGCCAAACGTAGCTAGCTAGGATCCAAGTT"
SAMPLES = ["S1", "S2", "S3"]
WIN = [(0, len(SEQ))]


@pytest.fixture
def ref(tmp_path):
    return Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))


def vcf(tmp_path, records, fmt="GT", name="d.vcf.gz"):
    return write_vcf(tmp_path / name, "1", len(SEQ), SAMPLES, records, fmt=fmt)


def test_unphased_and_multiallelic_calls_give_dosages(tmp_path, ref):
    # POS 3 = G, POS 12 = G, POS 14 = C (1-based)
    path = vcf(
        tmp_path,
        [
            "3\ta\tG\tT\t0/1\t1/1\t0|0",  # unphased heterozygote: fine for dosages
            "12\tb\tG\tA,C\t1/2\t2/2\t0/1",  # multi-allelic: one row per ALT
            "14\tc\tCA\tC\t0/1\t0/0\t1/1",  # an indel: dropped with snvs_only
        ],
    )
    with pytest.raises(InputError, match="unphased heterozygous.*inputs.dosages"):
        ingest_vcf(path, ref, "1", WIN)  # haplotypes still refuse it, pointing here
    store = ingest_dosages(path, ref, "1", WIN)
    assert store.ids.tolist() == ["a", "b", "b"]
    assert [store.allele(i) for i in range(3)] == ["T", "A", "C"]
    assert store.values.dtype == np.uint8
    np.testing.assert_array_equal(store.dosages(slice(None)), [[1, 2, 0], [1, 0, 1], [1, 2, 0]])
    assert store.stats["skipped_not_snv"] == 1 and store.stats["unphased_calls"] == 8
    keep_indels = ingest_dosages(path, ref, "1", WIN, snvs_only=False)
    np.testing.assert_array_equal(keep_indels.dosages(3), [1, 0, 2])


def test_imputed_ds_is_read_as_float(tmp_path, ref):
    path = vcf(
        tmp_path,
        [
            "3\ta\tG\tT\t0/1:0.93\t1/1:1.88\t0/0:0.02",
            "12\tb\tG\tA,C\t1/2:0.9,1.05\t./.:0,2\t0/0:0,0",
        ],
        fmt="GT:DS",
    )
    store = ingest_dosages(path, ref, "1", WIN, dosage_field="DS")
    assert store.values.dtype == np.float32 and store.dosage_field == "DS"
    np.testing.assert_allclose(
        store.dosages(slice(None)),
        [[0.93, 1.88, 0.02], [0.9, 0.0, 0.0], [1.05, 2.0, 0.0]],
        atol=1e-6,
    )
    # the missing GT of S2 does not matter when DS is read; with GT it does
    with pytest.raises(InputError, match=r"record 1:12 b G>A,C: missing genotype for 1 sample"):
        ingest_dosages(path, ref, "1", WIN, dosage_field="GT")


@pytest.mark.parametrize(
    "records, fmt, match",
    [
        (["3\ta\tG\tT\t0/1\t1/1\t0/0"], "GT", r"record 1:3 a G>T: the record has no DS"),
        (["3\ta\tG\tT\t0.5\t2.5\t0"], "DS", r"record 1:3 a G>T: dosage DS = 2.5 of S2 is outside"),
        (["3\ta\tG\tT\t0.5\t-0.1\t0"], "DS", r"DS = -0.1.* of S2 is outside \[0, 2\]"),
        (
            ["3\ta\tG\tT\t0.5\t.\t0"],
            "DS",
            r"missing dosage \(DS '\.'\) for 1 sample\(s\), e\.g\. S2",
        ),
        (["3\ta\tC\tT\t0.5\t1\t0"], "DS", r"REF 'C' disagrees with the FASTA .* 'G'"),
    ],
    ids=["no_ds", "above_two", "negative", "missing", "ref_mismatch"],
)
def test_bad_dosages_are_errors_naming_the_record(tmp_path, ref, records, fmt, match):
    path = vcf(tmp_path, records, fmt=fmt)
    with pytest.raises(InputError, match=match):
        ingest_dosages(path, ref, "1", WIN, dosage_field="DS")


def test_missing_dosage_policy_and_unknown_field(tmp_path, ref):
    path = vcf(tmp_path, ["3\ta\tG\tT\t0.5\t.\t1"], fmt="DS")
    store = ingest_dosages(path, ref, "1", WIN, dosage_field="DS", missing_policy="reference")
    np.testing.assert_allclose(store.dosages(0), [0.5, 0.0, 1.0])
    assert store.stats["genotypes_missing_set_to_ref"] == 1
    with pytest.raises(ConfigError, match="dosage_field must be one of"):
        ingest_dosages(path, ref, "1", WIN, dosage_field="HDS")


def test_dosage_store_round_trip_and_kinds(tmp_path, ref):
    path = vcf(tmp_path, ["3\ta\tG\tT\t0.5:0/1\t1.5:1/1\t0:0/0"], fmt="DS:GT")
    store = ingest_dosages(path, ref, "1", WIN, dosage_field="DS")
    store.save(tmp_path / "d.npz")
    back = load_store(tmp_path / "d.npz")
    assert isinstance(back, DosageStore) and back.dosage_field == "DS"
    np.testing.assert_array_equal(back.values, store.values)
    assert back.stats == store.stats and back.covers(0, 40) and not back.covers(0, 41)
    with pytest.raises(ValueError, match="dosages store .*haplotypes need the phased"):
        VariantStore.load(tmp_path / "d.npz")
    phased = ingest_vcf(
        vcf(tmp_path, ["3\ta\tG\tT\t0|1\t1|1\t0|0"], name="p.vcf.gz"), ref, "1", WIN
    )
    phased.save(tmp_path / "p.npz")
    assert isinstance(load_store(tmp_path / "p.npz"), VariantStore)
    with pytest.raises(ValueError, match="not a dosage store"):
        DosageStore.load(tmp_path / "p.npz")


def test_baselines_fit_a_dosage_store_as_the_phased_store(tmp_path):
    """The same genotypes as a phased store and as a GT dosage store: identical fits."""
    from test_baselines_predictdb import CONTIG, N_IND, _store

    from ps2f.pipeline.baselines import run_baseline
    from ps2f.pipeline.common import read_table, write_table

    rng = np.random.default_rng(5)
    samples = [f"I{i:03d}" for i in range(N_IND)]
    phased = _store(rng, samples)
    as_dosages = DosageStore(
        contig=phased.contig,
        samples=phased.samples,
        pos=phased.pos,
        ref_bytes=phased.ref_bytes,
        ref_offsets=phased.ref_offsets,
        alt_bytes=phased.alt_bytes,
        alt_offsets=phased.alt_offsets,
        ids=phased.ids,
        values=phased.dosages(slice(None)),
    )
    (tmp_path / "phased").mkdir()
    (tmp_path / "dosages").mkdir()
    phased.save(tmp_path / "phased" / f"{CONTIG}.npz")
    as_dosages.save(tmp_path / "dosages" / f"{CONTIG}.npz")
    dos = phased.dosages(slice(None)).T.astype(float)
    genes = pd.DataFrame(
        {
            "gene": ["G1", "G2"],
            "gene_name": ["ONE", "TWO"],
            "chrom": CONTIG,
            "strand": ["+", "-"],
            "tss0": [30_000, 60_000],
            "gene_start": [30_000, 55_000],
            "gene_end": [35_000, 60_001],
            "s2f": False,
            "gene_set": "train",
        }
    )
    individuals = pd.DataFrame(
        {
            "individual": samples,
            "individual_set": np.where(np.arange(N_IND) < 90, "train", "heldout"),
        }
    )
    y = {"G1": 5 + 0.8 * dos[:, 22] - 0.5 * dos[:, 24], "G2": 5 + 0.7 * dos[:, 50]}
    expr = pd.concat(
        pd.DataFrame({"gene": g, "individual": samples, "observed": v + rng.normal(0, 0.5, N_IND)})
        for g, v in y.items()
    )
    write_table(genes, tmp_path / "genes.tsv")
    write_table(individuals, tmp_path / "individuals.tsv")
    write_table(expr, tmp_path / "expression.parquet")
    config = {
        "name": "unit",
        "baselines": {
            "cis_window_bp": 10_000,
            "cis_window_anchor": "gene_body",
            "genes": "all",
            "snvs_only": True,
            "drop_ambiguous_strand": True,
            "elastic_net": {"n_folds": 5, "n_outer_folds": 3, "seed": 3},
            "predictdb": {
                "genome_build": "b37",
                "population": "",
                "max_pval": 0.05,
                "min_rho": 0.1,
                "variant_key": "rsid",
            },
        },
    }
    out = {}
    for kind in ("phased", "dosages"):
        run_baseline(
            "elastic_net",
            str(tmp_path / "genes.tsv"),
            str(tmp_path / "individuals.tsv"),
            str(tmp_path / "expression.parquet"),
            [str(tmp_path / kind / f"{CONTIG}.npz")],
            config["baselines"],
            1,
            str(tmp_path / kind / "pred.parquet"),
            str(tmp_path / kind / "summary.tsv"),
            out_db=str(tmp_path / kind / "en.db"),
            run_name=config["name"],
        )
        out[kind] = read_table(tmp_path / kind / "pred.parquet")
    assert out["phased"]["predicted"].std() > 0.1  # a real fit, not a constant
    pd.testing.assert_frame_equal(out["phased"], out["dosages"])


# --- real data --------------------------------------------------------------------------------

PREDIXCAN = SHARED / "geuvadis_chr22_GRCh37" / "genotypes"
FASTA = GEUVADIS / "reference" / "GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz"
PHASED = GEUVADIS / "genotypes" / "qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
REAL = (17_400_000, 22_000_000)  # 0-based span of real sequence in FASTA


@pytest.mark.shared
def test_predixcan_vcf_dosages_equal_predixcans_own_dosage_file():
    """The PrediXcan example VCF (unphased GT + DS) read as GT and as DS equals the original
    PrediXcan dosage text file it was converted from, SNP by SNP and sample by sample, REF
    alleles (one insertion among them) checked against real GRCh37 sequence."""
    if not (PREDIXCAN / "predixcan_example_chr22.vcf.gz").exists():
        pytest.skip("PrediXcan example files not in ../shared")
    reference = Reference(str(FASTA))
    path = PREDIXCAN / "predixcan_example_chr22.vcf.gz"
    gt = ingest_dosages(path, reference, "chr22", [REAL], dosage_field="GT", snvs_only=False)
    ds = ingest_dosages(path, reference, "chr22", [REAL], dosage_field="DS", snvs_only=False)
    assert gt.n_variants > 1000 and gt.stats["unphased_calls"] > 0
    assert gt.stats["stored_insertion"] == 1
    assert gt.stats["ref_unverifiable_over_N"] < gt.n_variants // 5  # most REFs were checked
    np.testing.assert_array_equal(gt.values, ds.values)
    samples = pd.read_csv(PREDIXCAN / "predixcan_example_samples.txt", sep="\t", header=None)[0]
    assert gt.samples.tolist() == samples.tolist()
    rows = []
    with gzip.open(PREDIXCAN / "predixcan_example_chr22.dosage.txt.gz", "rt") as fh:
        for line in fh:
            f = line.split()
            if REAL[0] < int(f[2]) <= REAL[1]:
                rows.append(f)
    table = pd.DataFrame([r[:5] for r in rows], columns=["chrom", "rsid", "pos", "ref", "alt"])
    text = np.array([r[6:] for r in rows], dtype=float)
    assert table["rsid"].tolist() == gt.ids.tolist()
    assert table["pos"].astype(int).tolist() == (gt.pos + 1).tolist()
    assert table["ref"].tolist() == [gt.allele(i, "ref") for i in range(gt.n_variants)]
    assert table["alt"].tolist() == [gt.allele(i) for i in range(gt.n_variants)]
    np.testing.assert_array_equal(text, gt.values)


@pytest.mark.shared
def test_gt_dosages_of_a_phased_vcf_equal_the_phased_store():
    reference = Reference(str(FASTA))
    window = [(20_000_000, 20_600_000)]
    phased = ingest_vcf(PHASED, reference, "chr22", window, snvs_only=True)
    dosages = ingest_dosages(PHASED, reference, "chr22", window, dosage_field="GT")
    assert phased.n_variants > 100 and dosages.stats["unphased_calls"] == 0
    np.testing.assert_array_equal(phased.ids, dosages.ids)
    np.testing.assert_array_equal(phased.dosages(slice(None)), dosages.values)


@pytest.mark.shared
@pytest.mark.workflow
def test_workflow_baselines_read_predixcan_dosages(tmp_path):
    """``inputs.dosages``: the baselines run on PrediXcan's unphased imputed-style dosages (DS),
    on the individuals in both VCFs and the expression, without the phased store."""
    import sqlite3
    import subprocess
    import sys

    import yaml
    from conftest import REPO

    path = PREDIXCAN / "predixcan_example_chr22.vcf.gz"
    if not path.exists():
        pytest.skip("PrediXcan example files not in ../shared")
    config = {
        "name": "dos",
        "inputs": {
            "genotypes": str(PHASED),
            "dosages": str(path),
            "reference": str(FASTA),
            "annotation": str(GEUVADIS / "annotation/gencode.v19.chr22.gene_tss.tsv"),
            "expression": str(
                GEUVADIS / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"
            ),
        },
        "contigs": ["chr22"],
        "genes": {"max_s2f_genes": 2, "max_baseline_genes": 10},
        "baselines": {
            "cis_window_bp": 200_000,
            "dosage_field": "DS",
            "elastic_net": {"n_outer_folds": 0},
            "random_forest": {"n_estimators": 20},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "results" / "dos"
    targets = [f"results/dos/predictions/{m}.parquet" for m in ("elastic_net", "random_forest")]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", *targets,
         "results/dos/models/elastic_net.db"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not (run / "variants").exists()  # the phased store was never needed
    individuals = pd.read_csv(run / "phenotypes" / "individuals.tsv", sep="\t")
    assert len(individuals) == 330  # of 358 Geuvadis individuals, those PrediXcan's file has
    stats = yaml.safe_load((run / "dosages" / "chr22.stats.json").read_text())
    assert stats["n_samples"] == 330 and stats["variants_stored"] > 100
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t")
    for target in targets:  # every gene, held-out genes included (baselines.genes: all)
        preds = pd.read_parquet(tmp_path / target)
        assert set(preds["gene"]) == set(genes["gene"]) and preds["predicted"].notna().all()
        assert set(preds["individual"]) == set(individuals["individual"])
    with sqlite3.connect(run / "models" / "elastic_net.db") as con:
        rsids = pd.read_sql("SELECT rsid FROM weights", con)["rsid"]
    assert len(rsids) and rsids.str.startswith("rs").all()


@pytest.mark.shared
def test_dosage_vcf_naming_other_individuals_stops_the_phenotypes_rule(tmp_path):
    from ps2f.pipeline.phenotypes import run_phenotypes

    other = write_vcf(tmp_path / "other.vcf.gz", "22", 100, ["X1", "X2"], ["3\ta\tG\tT\t0/1\t1/1"])
    settings = {
        "expression_settings": {"normalization": "log1p", "n_genotype_pcs": 0,
                                "n_expression_pcs": 0, "extra_covariates": [],
                                "genotype_pc_pattern": "g(\\d+)",
                                "expression_pc_pattern": "e(\\d+)"},
        "split": {"heldout_gene_fraction": 0.2, "heldout_individual_fraction": 0.2,
                  "heldout_chromosomes": [], "seed": 0, "min_individuals": 20},
        "genes": {"ids": [], "max_s2f_genes": None, "max_baseline_genes": None},
        "usable_column": None,
        "contigs": ["chr22"],
        "contig_aliases": {},
        "min_split_individuals": 3,
    }  # fmt: skip
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"other\.vcf\.gz: none of the 358 samples of .*HG00096"):
        run_phenotypes(
            str(GEUVADIS / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"),
            str(GEUVADIS / "annotation/gencode.v19.chr22.gene_tss.tsv"),
            str(PHASED),
            str(out / "genes.tsv"),
            str(out / "individuals.tsv"),
            str(out / "expression.parquet"),
            **settings,
            dosages=str(other),
        )
    assert not out.exists()
