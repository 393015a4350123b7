"""Tests of the ground-truth cohort simulator, checked against independent readers and recounts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pyfaidx
import pysam
import pytest

from ps2f import simulate
from ps2f.errors import ConfigError
from ps2f.simulate import OUTPUT_FILES, SimulationConfig, simulate_cohort

GENE_COLUMNS = [
    "gene_id",
    "gene_name",
    "gene_type",
    "chrom",
    "strand",
    "gene_start",
    "gene_end",
    "tss",
]
BED_FIXED = ["#chr", "start", "end", "gene", "length", "strand"]
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def count_motif_py(seq: str, motif: str) -> int:
    """Overlapping matches of the motif or its reverse complement, whole match inside ``seq``."""
    rc = revcomp(motif)
    return sum(
        1 for i in range(len(seq) - len(motif) + 1) if seq[i : i + len(motif)] in (motif, rc)
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    config = SimulationConfig()
    outdir = tmp_path_factory.mktemp("sim")
    paths = simulate_cohort(config, outdir)
    return config, outdir, paths


@pytest.fixture(scope="module")
def fasta(cohort):
    config, _, paths = cohort
    fa = pyfaidx.Fasta(str(paths["reference"]))
    yield str(fa[config.contig][:])
    fa.close()


@pytest.fixture(scope="module")
def genes(cohort):
    return pd.read_csv(cohort[2]["genes"], sep="\t")


@pytest.fixture(scope="module")
def records(cohort):
    """All VCF records as (pos, id, ref, alt, genotypes (n_ind, 2), phased, AC, AN)."""
    vcf = cyvcf2.VCF(str(cohort[2]["genotypes"]))
    out = []
    for v in vcf:
        g = np.array(v.genotypes)
        out.append(
            {
                "pos": v.POS,
                "id": v.ID,
                "ref": v.REF,
                "alt": v.ALT,
                "gt": g[:, :2].astype(int),
                "phased": g[:, 2].astype(bool),
                "ac": v.INFO.get("AC"),
                "an": v.INFO.get("AN"),
            }
        )
    vcf.close()
    return out


def test_all_files_written_and_nothing_else(cohort):
    _, outdir, paths = cohort
    assert set(paths) == set(OUTPUT_FILES)
    for key, name in OUTPUT_FILES.items():
        assert paths[key] == outdir / name
        assert paths[key].stat().st_size > 0
    assert sorted(p.name for p in outdir.iterdir()) == sorted(OUTPUT_FILES.values())


def test_fasta_layout_and_composition(cohort, fasta):
    config, _, paths = cohort
    assert (
        config.contig_length
        == 2 * (config.spacing_bp // 2) + (config.n_genes - 1) * config.spacing_bp
    )
    assert len(fasta) == config.contig_length
    lines = paths["reference"].read_text().splitlines()
    assert lines[0] == f">{config.contig}"
    assert all(len(line) == 60 for line in lines[1:-1]) and 0 < len(lines[-1]) <= 60
    assert set(fasta) == set("ACGT")
    fai = paths["reference_index"].read_text().split("\t")
    assert fai[0] == config.contig and int(fai[1]) == config.contig_length
    gc = (fasta.count("G") + fasta.count("C")) / len(fasta)
    assert 0.38 < gc < 0.44
    n = len(fasta)
    cpg_oe = fasta.count("CG") * n / (fasta.count("C") * fasta.count("G"))
    assert cpg_oe < 0.5  # non-depleted random sequence gives ~1


def test_vcf_refs_match_fasta_and_records_are_well_formed(cohort, fasta, records, genes):
    config, _, paths = cohort
    assert len(records) >= config.n_genes * (config.n_neutral_variants + 1)
    positions = [r["pos"] for r in records]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for r in records:
        assert r["ref"] == fasta[r["pos"] - 1]
        assert len(r["alt"]) == 1 and len(r["alt"][0]) == 1 and r["alt"][0] != r["ref"]
        assert r["id"] == f"{config.contig}_{r['pos']}_{r['ref']}_{r['alt'][0]}"
        assert r["phased"].all()
        assert set(np.unique(r["gt"])) <= {0, 1}
        assert r["an"] == 2 * config.n_individuals and r["ac"] == r["gt"].sum()
    header = cyvcf2.VCF(str(paths["genotypes"]))
    assert header.samples == [f"SIM{i:04d}" for i in range(1, config.n_individuals + 1)]
    assert header.seqnames == [config.contig] and header.seqlens == [config.contig_length]
    raw = header.raw_header
    header.close()
    assert raw.startswith("##fileformat=VCFv4.2")
    # every variant lies in its gene's window
    half = config.window_bp // 2
    lo = genes["tss"].to_numpy() - 1 - half
    gene_of = np.searchsorted(lo, np.array(positions) - 1, side="right") - 1
    offset = np.array(positions) - 1 - lo[gene_of]
    assert (gene_of >= 0).all() and (offset < config.window_bp).all()


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_bcftools_accepts_vcf_and_finds_refs_in_fasta(cohort, records):
    """Oracle: bcftools parses the VCF and errors on any REF that differs from the FASTA."""
    _, _, paths = cohort
    subprocess.run(
        [
            "bcftools",
            "norm",
            "--check-ref",
            "e",
            "-f",
            str(paths["reference"]),
            "-Ou",
            "-o",
            "/dev/null",
            str(paths["genotypes"]),
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["bcftools", "query", "-f", "%POS[\\t%GT]\\n", str(paths["genotypes"])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert len(out) == len(records)
    first = out[0].split("\t")
    assert int(first[0]) == records[0]["pos"]
    assert first[1:] == [f"{a}|{b}" for a, b in records[0]["gt"]]


def test_vcf_is_tabix_queryable(cohort, records):
    config, _, paths = cohort
    a, b = 20_000, 40_000
    expected = [r["pos"] for r in records if a <= r["pos"] <= b]
    assert expected
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    got = [v.POS for v in vcf(f"{config.contig}:{a}-{b}")]
    vcf.close()
    assert got == expected


def test_genes_table(cohort, genes):
    config, _, _ = cohort
    assert list(genes.columns) == GENE_COLUMNS
    assert list(genes["gene_id"]) == [f"SIMG{i:04d}" for i in range(1, config.n_genes + 1)]
    assert (genes["gene_type"] == "protein_coding").all() and (
        genes["chrom"] == config.contig
    ).all()
    assert set(genes["strand"]) == {"+", "-"}
    plus = genes["strand"] == "+"
    assert (genes.loc[plus, "tss"] == genes.loc[plus, "gene_start"]).all()
    assert (genes.loc[~plus, "tss"] == genes.loc[~plus, "gene_end"]).all()
    assert (genes["gene_start"] >= 1).all() and (genes["gene_end"] <= config.contig_length).all()
    assert (genes["gene_start"] < genes["gene_end"]).all()
    flank = config.spacing_bp // 2
    expected_tss = flank + config.spacing_bp * np.arange(config.n_genes) + 1
    assert (genes["tss"].to_numpy() == expected_tss).all()


def test_expression_bed(cohort, genes):
    config, _, paths = cohort
    bed = pd.read_csv(paths["expression"], sep="\t")
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    samples = vcf.samples
    vcf.close()
    assert list(bed.columns[:6]) == BED_FIXED
    assert list(bed.columns[6:]) == samples
    assert list(bed["gene"]) == list(genes["gene_id"])
    assert (bed["start"] == genes["tss"] - 1).all() and (bed["end"] == genes["tss"]).all()
    assert (bed["strand"] == genes["strand"]).all()
    assert (bed["length"] == genes["gene_end"] - genes["gene_start"] + 1).all()
    values = bed[samples].to_numpy()
    assert (values >= 0).all() and np.isfinite(values).all()
    truth = pd.read_parquet(paths["truth"])
    y_obs = truth.pivot(index="gene", columns="individual", values="y_obs").loc[
        bed["gene"], samples
    ]
    np.testing.assert_allclose(np.log1p(values), y_obs.to_numpy(), atol=1e-5)
    with pysam.TabixFile(str(paths["expression"])) as tbx:
        rows = list(tbx.fetch(config.contig, 7_000, 8_000))
    assert [r.split("\t")[3] for r in rows] == ["SIMG0002"]


def test_motif_counts_match_independent_recount(cohort, fasta, genes):
    """Rebuild every haplotype's motif region from VCF + FASTA in pure Python and recount."""
    config, _, paths = cohort
    truth = pd.read_parquet(paths["truth"]).set_index(["gene", "individual"])
    motif, r = config.motif, config.motif_radius_bp
    pattern = re.compile(f"(?=(?:{motif}|{revcomp(motif)}))")
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    samples = vcf.samples
    n_checked = 0
    for gene_id, tss in zip(genes["gene_id"], genes["tss"], strict=True):
        lo = tss - 1 - r  # region [lo, lo + 2r), 0-based
        region = fasta[lo : lo + 2 * r]
        variants = [
            (v.POS - 1 - lo, v.REF, v.ALT[0], [g[:2] for g in v.genotypes])
            for v in vcf(f"{config.contig}:{lo + 1}-{lo + 2 * r}")
        ]
        for i, sample in enumerate(samples):
            counts = []
            for h in range(2):
                seq = list(region)
                for off, ref, alt, gts in variants:
                    assert seq[off] == ref
                    if gts[i][h] == 1:
                        seq[off] = alt
                counts.append(len(pattern.findall("".join(seq))))
            row = truth.loc[(gene_id, sample)]
            assert (row["motif_count_hap1"], row["motif_count_hap2"]) == tuple(counts)
            n_checked += 1
    vcf.close()
    assert n_checked == config.n_genes * config.n_individuals
    # the planted grammar is present: at least one motif copy per gene, and counts vary
    per_gene = truth.groupby(level="gene")["motif_count_hap1"]
    assert (per_gene.max() >= 1).all() and (per_gene.nunique() > 1).all()


def test_count_helper_agrees_with_regex():
    assert count_motif_py("TGAGTCATGACTCA", "TGAGTCAT") == 2
    assert len(re.findall("(?=(?:TGAGTCAT|ATGACTCA))", "TGAGTCATGACTCA")) == 2


def test_variant_roles_match_single_variant_effects(cohort, fasta, genes):
    config, _, paths = cohort
    tv = pd.read_parquet(paths["truth_variants"])
    assert {"id", "pos", "ref", "alt", "role"} <= set(tv.columns)
    assert set(tv["role"]) == {"disrupts_motif", "creates_motif", "neutral"}
    r, m = config.motif_radius_bp, len(config.motif)
    tss0 = dict(zip(genes["gene_id"], genes["tss"] - 1, strict=True))
    for row in tv.itertuples():
        lo = tss0[row.gene] - r
        p = row.pos - 1
        if not lo <= p < lo + 2 * r:
            assert row.role == "neutral"
            continue
        a, b = max(lo, p - m + 1), min(lo + 2 * r, p + m)  # every match that could cover p
        before = fasta[a:b]
        after = before[: p - a] + row.alt + before[p - a + 1 :]
        delta = count_motif_py(after, config.motif) - count_motif_py(before, config.motif)
        expected = "disrupts_motif" if delta < 0 else "creates_motif" if delta > 0 else "neutral"
        assert row.role == expected, row
    per_gene = tv.groupby("gene")["role"].value_counts().unstack(fill_value=0)
    assert (per_gene["neutral"] == config.n_neutral_variants).all()
    assert (per_gene["creates_motif"] == config.n_near_motifs).all()
    assert per_gene["disrupts_motif"].sum() > 0
    assert ((tv["af"] >= config.af_min) & (tv["af"] <= config.af_max)).all()


def test_expression_model_and_realised_h2(cohort):
    config, _, paths = cohort
    truth = pd.read_parquet(paths["truth"])
    base = (
        truth["y_true"] - config.beta * (truth["motif_count_hap1"] + truth["motif_count_hap2"]) / 2
    )
    a_g = base.groupby(truth["gene"])
    assert (a_g.max() - a_g.min() < 1e-9).all()  # y_true is a_g + beta * mean count
    assert ((a_g.first() >= 1) & (a_g.first() <= 3)).all()
    bed = pd.read_csv(paths["expression"], sep="\t").set_index("gene")
    y = np.log1p(bed[bed.columns[5:]].to_numpy())  # (genes, individuals)
    y_true = truth.pivot(index="gene", columns="individual", values="y_true")
    y_true = y_true.loc[bed.index, bed.columns[5:]].to_numpy()
    yc = y - y.mean(axis=1, keepdims=True)
    tc = y_true - y_true.mean(axis=1, keepdims=True)
    r2 = (yc * tc).sum(1) ** 2 / ((yc**2).sum(1) * (tc**2).sum(1))
    assert abs(np.median(r2) - config.h2) < 0.15
    pooled = (yc * tc).sum() ** 2 / ((yc**2).sum() * (tc**2).sum())
    assert abs(pooled - config.h2) < 0.15


SMALL = SimulationConfig(n_individuals=15, n_genes=4, n_neutral_variants=5)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = simulate_cohort(SMALL, tmp_path / "a")
    b = simulate_cohort(SMALL, tmp_path / "b")
    c = simulate_cohort(SimulationConfig(**{**SMALL.__dict__, "seed": 1}), tmp_path / "c")
    for key in OUTPUT_FILES:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    for key in ("reference", "genotypes", "expression", "truth", "truth_variants"):
        assert a[key].read_bytes() != c[key].read_bytes(), key


def test_failure_leaves_no_output(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(simulate, "_write_bed", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cohort(SMALL, out)
    assert list(out.iterdir()) == []


def test_contig_name_is_configurable(tmp_path):
    paths = simulate_cohort(SimulationConfig(**{**SMALL.__dict__, "contig": "chrS"}), tmp_path)
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    ids = [v.ID for v in vcf("chrS:1-100000")]
    vcf.close()
    assert ids and all(i.startswith("chrS_") for i in ids)
    assert set(pd.read_csv(paths["genes"], sep="\t")["chrom"]) == {"chrS"}


@pytest.mark.parametrize(
    "changes",
    [
        {"motif": "GAATTC"},  # its own reverse complement
        {"motif": "TGANTCAT"},
        {"spacing_bp": 2050},
        {"motif_radius_bp": 1200},
        {"h2": 0.0},
        {"h2": 1.5},
        {"af_min": 0.6},
        {"n_individuals": 0},
        {"contig": "chr 1"},
    ],
)
def test_invalid_config_raises(changes):
    with pytest.raises(ConfigError):
        SimulationConfig(**changes)


def test_rejects_non_config(tmp_path: Path):
    with pytest.raises(ConfigError):
        simulate_cohort({"n_genes": 3}, tmp_path)  # type: ignore[arg-type]
