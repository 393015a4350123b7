"""Tests of the GTEx-sized, multi-tissue simulator (small sizes): formats, sharing, memory."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import REPO, phenotypes_params

from ps2f.errors import ConfigError
from ps2f.simulate import SimulationConfig
from ps2f.simulate.scale import (
    GRCH38_AUTOSOME_BP,
    SCALE_FILES,
    TISSUE_FILES,
    ScaleConfig,
    genes_per_contig,
    main,
    simulate_scaled_cohort,
)

TISSUES = ("Liver", "Lung", "Whole_Blood")
#: Three contigs, three tissues, some genes and samples missing from each tissue.
SMALL = ScaleConfig(
    n_individuals=80, n_genes=30, n_contigs=3, tissues=TISSUES, gene_dropout=0.2,
    sample_fraction=0.9, seed=7,
)  # fmt: skip
#: Gene-specific effects only, many genes: the effects' correlation between tissues.
EQTL_ONLY = SimulationConfig(grammar_weight=0.0, n_eqtl_variants=2, n_expression_covariates=1,
                             n_genotype_pcs=1, covariate_variance=0.05)  # fmt: skip


def _sharing(s: float, **changes) -> ScaleConfig:
    fields = dict(n_individuals=30, n_genes=300, n_contigs=2, tissues=TISSUES[:2],
                  tissue_sharing=s, seed=11, mechanism=EQTL_ONLY, individual_truth=False)  # fmt: skip
    return ScaleConfig(**(fields | changes))


@cache
def _simulate(config: ScaleConfig, root: str) -> dict[str, Path]:
    return simulate_scaled_cohort(config, Path(root) / f"scale{abs(hash(repr(config)))}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("scale"))


@pytest.fixture(scope="module")
def small(root):
    return SMALL, _simulate(SMALL, root)


def _betas(paths: dict[str, Path], tissues) -> pd.DataFrame:
    """Effect of each eQTL's ALT allele in each tissue (columns), rows by variant ID."""
    cols = {}
    for t in tissues:
        v = pd.read_parquet(paths[f"{t}/truth_variants"])
        cols[t] = v.loc[v["role"] == "eqtl"].set_index("id")["beta"]
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------------------------
# layout and formats


def test_genes_per_contig_follows_autosome_lengths():
    n = genes_per_contig(20_000, 22)
    assert n.sum() == 20_000 and (n >= 1).all()
    expected = 20_000 * np.asarray(GRCH38_AUTOSOME_BP) / sum(GRCH38_AUTOSOME_BP)
    assert np.abs(n - expected).max() < 1.5
    assert n[0] == n.max() and n[20] == n.min()  # chr1 longest, chr21 shortest
    assert genes_per_contig(5, 5).tolist() == [1] * 5
    assert genes_per_contig(7, 1).tolist() == [7]


def test_all_files_written_and_nothing_else(small):
    config, paths = small
    outdir = paths["genotypes"].parent
    expected = set(SCALE_FILES.values()) | {
        f"tissues/{t}/{name}" for t in TISSUES for name in TISSUE_FILES.values()
    }
    written = {str(p.relative_to(outdir)) for p in outdir.rglob("*") if p.is_file()}
    assert written == expected
    assert set(paths) == set(SCALE_FILES) | {f"{t}/{k}" for t in TISSUES for k in TISSUE_FILES}


def test_contigs_fasta_vcf_and_genes_agree(small):
    config, paths = small
    n_per = genes_per_contig(config.n_genes, config.n_contigs)
    spacing = config.mechanism.spacing_bp
    fasta = pysam.FastaFile(str(paths["reference"]))
    assert list(fasta.references) == ["chr1", "chr2", "chr3"]
    assert list(fasta.lengths) == (n_per * spacing).tolist()
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    assert vcf.seqnames == ["chr1", "chr2", "chr3"] and vcf.seqlens == list(fasta.lengths)
    assert vcf.samples == [f"SIM{i:04d}" for i in range(1, 81)]
    seen, last = [], ("", 0)
    for v in vcf:
        ref = fasta.fetch(v.CHROM, v.POS - 1, v.POS - 1 + len(v.REF))
        assert ref == v.REF and v.ID == f"{v.CHROM}_{v.POS}_{v.REF}_{v.ALT[0]}"
        assert (v.CHROM, v.POS) > last or v.CHROM != last[0]
        last = (v.CHROM, v.POS)
        if not seen or seen[-1] != v.CHROM:
            seen.append(v.CHROM)
    assert seen == ["chr1", "chr2", "chr3"]  # each contig once, in order
    for contig in seen:  # the index answers region queries on every contig
        assert len(list(vcf(contig))) > 50
    genes = pd.read_csv(paths["genes"], sep="\t")
    assert genes["gene_id"].tolist() == [f"SIMG{i:04d}" for i in range(1, 31)]
    assert genes.groupby("chrom", sort=False).size().tolist() == n_per.tolist()
    # TSS in the middle of each locus, along each contig
    for _contig, sub in genes.groupby("chrom"):
        assert sub["tss"].tolist() == (spacing // 2 + 1 + spacing * np.arange(len(sub))).tolist()


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_bcftools_checks_every_ref_against_the_fasta(small):
    _, paths = small
    norm = subprocess.run(
        ["bcftools", "norm", "--check-ref", "e", "-f", str(paths["reference"]), "-Ou",
         "-o", "/dev/null", str(paths["genotypes"])],
        capture_output=True, text=True,
    )  # fmt: skip
    assert norm.returncode == 0, norm.stderr
    n = int(subprocess.run(["bcftools", "index", "-n", str(paths["genotypes"])],
                           capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert f"total/split/realigned/skipped:\t{n}/0/0/0" in norm.stderr


def test_each_tissue_has_its_own_matrix(small):
    config, paths = small
    genes = pd.read_csv(paths["genes"], sep="\t").set_index("gene_id")
    vcf_samples = cyvcf2.VCF(str(paths["genotypes"])).samples
    sample_sets, gene_sets = [], []
    for t in TISSUES:
        bed = pd.read_csv(paths[f"{t}/expression"], sep="\t")
        samples = list(bed.columns[6:])
        assert list(bed.columns[:6]) == ["#chr", "start", "end", "gene", "length", "strand"]
        assert len(samples) == config.tissue_samples == 72
        assert samples == sorted(samples) and set(samples) <= set(vcf_samples)
        truth_genes = pd.read_parquet(paths[f"{t}/truth_genes"])
        assert len(truth_genes) == config.n_genes
        assert bed["gene"].tolist() == truth_genes.loc[truth_genes["expressed"], "gene"].tolist()
        g = genes.loc[bed["gene"]]
        assert (bed["#chr"].to_numpy() == g["chrom"].to_numpy()).all()
        assert (bed["end"].to_numpy() == g["tss"].to_numpy()).all()
        assert (bed.iloc[:, 6:].to_numpy() >= 0).all()
        cov = pd.read_csv(paths[f"{t}/covariates"], sep="\t", index_col=0)
        assert list(cov.columns) == samples
        assert list(cov.index) == ["genotype_PC1", "genotype_PC2", "genotype_PC3",
                                   "expression_PC1", "expression_PC2", "expression_PC3"]  # fmt: skip
        truth = pd.read_parquet(paths[f"{t}/truth"])
        assert len(truth) == len(bed) * len(samples)
        y = truth.pivot(index="gene", columns="individual", values="y_obs").loc[bed["gene"]]
        assert np.allclose(np.expm1(y[samples].to_numpy()), bed.iloc[:, 6:], atol=1e-6)
        with pysam.TabixFile(str(paths[f"{t}/expression"])) as tbx:
            assert sorted(tbx.contigs) == sorted(set(bed["#chr"]))
        sample_sets.append(frozenset(samples))
        gene_sets.append(frozenset(bed["gene"]))
    # tissues draw their own samples and genes (0.2 dropout of 30 genes, 0.9 of 80 samples)
    assert len(set(sample_sets)) == 3 and len(set(gene_sets)) == 3
    # genotype PCs are the cohort's, the same in every tissue for a shared sample
    pcs = [pd.read_csv(paths[f"{t}/covariates"], sep="\t", index_col=0) for t in TISSUES]
    both = sorted(sample_sets[0] & sample_sets[1])
    assert np.array_equal(pcs[0].loc["genotype_PC1", both], pcs[1].loc["genotype_PC1", both])
    assert not np.allclose(
        pcs[0].loc["expression_PC1", both], pcs[1].loc["expression_PC1", both]
    )


def test_phenotypes_stage_reads_one_tissue(small, tmp_path):
    """The workflow's phenotypes rule function accepts a tissue's BED with the TSS table and VCF."""
    from snakemake.utils import validate

    from ps2f.pipeline import run_phenotypes

    config, paths = small
    cfg = {"name": "t", "contigs": ["chr1", "chr2", "chr3"],
           "expression": {"n_genotype_pcs": 3, "n_expression_pcs": 3}}  # fmt: skip
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    tissue = TISSUES[1]
    out = {k: str(tmp_path / f"{k}.{ext}") for k, ext in
           (("genes", "tsv"), ("individuals", "tsv"), ("expression", "parquet"))}  # fmt: skip
    run_phenotypes(
        str(paths[f"{tissue}/expression"]), str(paths["genes"]), str(paths["genotypes"]),
        out["genes"], out["individuals"], out["expression"],
        covariates=str(paths[f"{tissue}/covariates"]), reference=str(paths["reference"]),
        **phenotypes_params(cfg),
    )  # fmt: skip
    bed = pd.read_csv(paths[f"{tissue}/expression"], sep="\t")
    genes = pd.read_csv(out["genes"], sep="\t")
    individuals = pd.read_csv(out["individuals"], sep="\t")
    expression = pd.read_parquet(out["expression"])
    assert sorted(genes["gene"] if "gene" in genes else genes["gene_id"]) == sorted(bed["gene"])
    assert set(genes["chrom"]) == {"chr1", "chr2", "chr3"}
    assert sorted(individuals.iloc[:, 0]) == sorted(bed.columns[6:])
    assert expression.shape[0] > 0 and np.isfinite(expression.select_dtypes("number")).all().all()


# --------------------------------------------------------------------------------------------
# the model


def test_expression_is_the_tissue_effects_times_the_vcf_dosages(tmp_path):
    """Oracle: with eQTLs only, each tissue's y_true is a_g + sum_j beta_j dosage_j exactly.

    The dosages are read back from the VCF (cyvcf2), the betas from the tissue's
    truth_variants: so each tissue's effects reach its expression through the written genotypes.
    """
    config = _sharing(0.3, n_genes=24, n_contigs=3, n_individuals=40, individual_truth=True,
                      tissues=TISSUES)  # fmt: skip
    paths = simulate_scaled_cohort(config, tmp_path / "sim")
    vcf = cyvcf2.VCF(str(paths["genotypes"]))
    samples = vcf.samples
    n_checked = 0
    for t in TISSUES:
        variants = pd.read_parquet(paths[f"{t}/truth_variants"])
        truth = pd.read_parquet(paths[f"{t}/truth"])
        for gene, eqtls in variants.loc[variants["role"] == "eqtl"].groupby("gene"):
            rows = truth.loc[truth["gene"] == gene]
            cols = [samples.index(s) for s in rows["individual"]]
            dosage = []
            for _, v in eqtls.iterrows():
                (rec,) = [r for r in vcf(f"{v['chrom']}:{v['pos']}-{v['pos']}") if r.ID == v["id"]]
                dosage.append(rec.genotype.array()[cols, :2].sum(axis=1))
            x = np.column_stack([np.ones(len(cols)), np.array(dosage).T])
            fitted = x[:, 1:] @ eqtls["beta"].to_numpy()
            resid = rows["y_true"].to_numpy() - fitted
            assert np.ptp(resid) < 1e-9, (t, gene)  # a constant: the gene's baseline
            n_checked += 1
    assert n_checked >= 3 * 20


def test_unshared_grammar_recomputed_from_vcf_and_fasta_is_each_tissues_truth(tmp_path):
    """Oracle: rebuild every haplotype's causal region (FASTA + VCF, per contig) and score it
    with each tissue's own motif effects and pair coefficients (``simulation.json``)."""
    from test_simulate import _motif_matches, grammar_parts, read_vcf

    config = ScaleConfig(n_individuals=12, n_genes=6, n_contigs=2, tissues=TISSUES[:2],
                         tissue_sharing=0.3, share_grammar=False, seed=5,
                         mechanism=SimulationConfig(grammar_weight=1.0))  # fmt: skip
    paths = simulate_scaled_cohort(config, tmp_path / "sim")
    rule = json.loads(paths["grammar"].read_text())
    tissues = json.loads(paths["config"].read_text())["tissues"]
    fasta = pysam.FastaFile(str(paths["reference"]))
    genes = pd.read_csv(paths["genes"], sep="\t")
    r = config.mechanism.causal_radius_bp
    haplotypes = []  # (gene, individual index, haplotype index, sequence, region start, tss0, minus)
    for gene, chrom, tss, strand in genes[["gene_id", "chrom", "tss", "strand"]].itertuples(
        index=False
    ):
        lo = tss - 1 - r
        region = fasta.fetch(chrom, lo, lo + 2 * r)
        records = read_vcf(paths["genotypes"], f"{chrom}:{lo + 1}-{lo + 2 * r}")
        for i in range(config.n_individuals):
            for h in range(2):
                s = list(region)
                for v in records:
                    assert s[v["pos"] - 1 - lo] == v["ref"]
                    if v["gt"][i, h]:
                        s[v["pos"] - 1 - lo] = v["alt"][0]
                haplotypes.append((gene, i, h, "".join(s), lo, tss - 1, strand == "-"))
    values = []
    for record, t in zip(tissues, TISSUES[:2], strict=True):
        own = rule | {"motif_effects": record["motif_effects"],
                      "motif_interactions": record["motif_interactions"]}  # fmt: skip
        truth = pd.read_parquet(paths[f"{t}/truth"]).set_index(["gene", "individual"])
        got, expected, counts, counted = [], [], [], []
        for gene, i, h, seq, lo, tss0, minus in haplotypes:
            main, pairs = grammar_parts(seq, lo, tss0, minus, own)
            expected.append(record["scales"]["grammar_linear"] * main
                            + record["scales"]["grammar_interaction"] * pairs)  # fmt: skip
            row = truth.loc[(gene, f"SIM{i + 1:04d}")]
            got.append(row[f"genetic_hap{h + 1}"])
            counts.append(row[f"motif_count_hap{h + 1}"])
            counted.append(sum(len(_motif_matches(seq, m)) for m in rule["motifs"]))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(counts, counted)
        values.append(np.array(got))
    assert tissues[0]["motif_effects"] != tissues[1]["motif_effects"]
    assert not np.allclose(values[0], values[1])


def test_sharing_one_gives_identical_effects_in_every_tissue(root):
    paths = _simulate(_sharing(1.0, n_genes=60, individual_truth=True), root)
    betas = _betas(paths, TISSUES[:2])
    assert len(betas) > 60 and (betas.iloc[:, 0] != 0).all()
    assert np.array_equal(betas.iloc[:, 0], betas.iloc[:, 1])
    truths = [pd.read_parquet(paths[f"{t}/truth"]) for t in TISSUES[:2]]
    assert np.array_equal(truths[0]["genetic_hap1"], truths[1]["genetic_hap1"])
    assert not np.allclose(truths[0]["y_obs"], truths[1]["y_obs"])  # own noise and baselines


@pytest.mark.parametrize("s, lo, hi", [(0.0, -0.15, 0.15), (0.5, 0.35, 0.65)])
def test_sharing_sets_the_correlation_of_effects_across_genes(root, s, lo, hi):
    """Across ~600 eQTLs, r of one variant's effects in two tissues is near s (SE ~0.04)."""
    betas = _betas(_simulate(_sharing(s), root), TISSUES[:2])
    assert len(betas) > 500
    r = np.corrcoef(betas.iloc[:, 0], betas.iloc[:, 1])[0, 1]
    assert lo < r < hi, r


def test_unshared_grammar_mixes_motif_effects(root):
    shared = _sharing(0.0, n_genes=20, mechanism=SimulationConfig())
    own = _sharing(0.0, n_genes=20, mechanism=SimulationConfig(), share_grammar=False)
    records = {}
    for name, config in (("shared", shared), ("own", own)):
        paths = _simulate(config, root)
        records[name] = json.loads(paths["config"].read_text())["tissues"]
    a, b = records["shared"]
    assert a["motif_effects"] == b["motif_effects"]
    a, b = records["own"]
    assert a["motif_effects"] != b["motif_effects"]
    assert all(0.5 <= abs(e) <= 1.0 for e in a["motif_effects"] + b["motif_effects"])


# --------------------------------------------------------------------------------------------
# reproducibility, bad settings, command line, memory


def _digests(outdir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(outdir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(outdir.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_in_one_or_two_processes_other_seed_differs(tmp_path):
    config = ScaleConfig(n_individuals=20, n_genes=8, n_contigs=2, tissues=TISSUES[:2],
                         gene_dropout=0.3, sample_fraction=0.8, seed=3)  # fmt: skip
    simulate_scaled_cohort(config, tmp_path / "a")
    simulate_scaled_cohort(config, tmp_path / "b", jobs=2)
    simulate_scaled_cohort(ScaleConfig(**(vars(config) | {"seed": 4})), tmp_path / "c")
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert a == b and len(a) == len(SCALE_FILES) + 2 * len(TISSUE_FILES)
    assert all(a[k] != c[k] for k in ("genotypes.vcf.gz", "tissues/Liver/expression.bed.gz"))


@pytest.mark.parametrize(
    "changes",
    [
        {"n_contigs": 0},
        {"n_contigs": 23},
        {"n_genes": 2, "n_contigs": 3},
        {"tissues": ()},
        {"tissues": ("Lung", "Lung")},
        {"tissues": ("Whole Blood",)},
        {"tissues": "Lung"},
        {"tissue_sharing": 1.5},
        {"gene_dropout": 1.0},
        {"sample_fraction": 0.0},
        {"sample_fraction": 0.01, "n_individuals": 100},
        {"contig_prefix": "chr "},
        {"mechanism": SimulationConfig(reference_fasta="x.fa")},
        {"mechanism": {"h2": 0.5}},
    ],
)
def test_invalid_config_raises(changes):
    with pytest.raises(ConfigError):
        ScaleConfig(**changes)


def test_rejects_non_config_and_bad_jobs(tmp_path):
    with pytest.raises(ConfigError, match="ScaleConfig"):
        simulate_scaled_cohort(SimulationConfig(), tmp_path)
    with pytest.raises(ConfigError, match="jobs"):
        simulate_scaled_cohort(ScaleConfig(n_genes=3, n_contigs=1), tmp_path, jobs=0)
    assert list(tmp_path.iterdir()) == []


def test_a_tissue_without_expressed_genes_still_gets_every_file(tmp_path):
    config = ScaleConfig(n_individuals=10, n_genes=2, n_contigs=2, tissues=("A", "B"),
                         gene_dropout=0.99, seed=0)  # fmt: skip
    paths = simulate_scaled_cohort(config, tmp_path)
    record = json.loads(paths["config"].read_text())["tissues"]
    assert [r["n_expressed_genes"] for r in record] == [0, 0]
    for t in ("A", "B"):
        bed = pd.read_csv(paths[f"{t}/expression"], sep="\t")
        assert bed.empty and list(bed.columns[:6]) == ["#chr", "start", "end", "gene", "length",
                                                       "strand"]  # fmt: skip
        truth = pd.read_parquet(paths[f"{t}/truth"])
        assert truth.empty and list(truth.columns) == ["gene", "individual", "y_true", "y_obs",
            "genetic_hap1", "genetic_hap2", "covariate_effect", "motif_count_hap1",
            "motif_count_hap2"]  # fmt: skip
        assert not pd.read_parquet(paths[f"{t}/truth_genes"])["expressed"].any()


def test_failure_leaves_no_output(tmp_path, monkeypatch):
    from ps2f.simulate import scale

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(scale, "_write_tissue", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_scaled_cohort(ScaleConfig(n_individuals=10, n_genes=3, n_contigs=2), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bgzf_parts_join_into_one_file_and_a_truncated_part_is_an_error(tmp_path):
    from ps2f.simulate.variants import concatenate_bgzf

    texts = [b"##header\n", b"chr1\t1\n" * 50_000, b"", b"chr2\t5\n"]
    parts = []
    for i, text in enumerate(texts):
        with pysam.BGZFile(str(tmp_path / f"{i}.gz"), "wb") as fh:
            fh.write(text)
        parts.append(tmp_path / f"{i}.gz")
    concatenate_bgzf(parts, tmp_path / "all.gz")
    with pysam.BGZFile(str(tmp_path / "all.gz"), "rb") as fh:
        assert fh.read() == b"".join(texts)
    done = subprocess.run(["gzip", "-t", str(tmp_path / "all.gz")], capture_output=True)
    assert done.returncode == 0, done.stderr
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(parts[1].read_bytes()[:-10])
    with pytest.raises(ValueError, match="cut.gz: not a complete BGZF file"):
        concatenate_bgzf([parts[0], truncated], tmp_path / "bad.gz")


def test_command_line_writes_the_cohort_and_rejects_bad_settings(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["--out", str(out), "--n-individuals", "12", "--n-genes", "4", "--n-contigs", "2",
               "--tissues", "A", "B", "C", "--tissue-sharing", "0.2", "--contig-prefix", "",
               "--set", "h2=0.3", "--set", "spacing_bp=4000", "--no-individual-truth"])  # fmt: skip
    assert rc == 0
    record = json.loads((out / "simulation.json").read_text())
    assert record["contigs"] == ["1", "2"] and record["config"]["tissue_sharing"] == 0.2
    assert record["config"]["mechanism"]["h2"] == 0.3
    assert list(pysam.FastaFile(str(out / "reference.fa")).lengths) == [8000, 8000]
    assert sorted(p.name for p in (out / "tissues").iterdir()) == ["A", "B", "C"]
    assert not (out / "tissues" / "A" / "truth.parquet").exists()
    assert main(["--out", str(tmp_path / "x"), "--tissue-sharing", "2"]) == 2
    assert "tissue_sharing must be in [0, 1]" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--jobs", "0"]) == 2
    assert "jobs must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--set", "no_such_key=1"])
    assert not (tmp_path / "x").exists()


# The peak RSS of this interpreter's own address space: VmHWM (Linux). Not ru_maxrss: exec keeps
# the forking process's high-water mark in it, so a child of a pytest process that has grown to
# 1.6 GB over the suite reports >= 1.6 GB whatever it allocates.
_PEAK_RSS = """
import re, resource, sys
from pathlib import Path
from ps2f.simulate.scale import main
assert main(sys.argv[1:]) == 0
status = Path("/proc/self/status")
if status.exists():
    print("PEAK_MB", int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read_text()).group(1)) / 1024)
else:
    print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _peak_rss_mb(tmp_path: Path, name: str, n_genes: int, n_contigs: int) -> float:
    args = ["--out", str(tmp_path / name), "--n-individuals", "200", "--n-genes", str(n_genes),
            "--n-contigs", str(n_contigs), "--set", "spacing_bp=4000"]  # fmt: skip
    # one thread per pool (OpenBLAS, Arrow), as in a Snakemake job of one thread: the pools are
    # sized by the cores the process sees, and each thread's buffers count in RSS
    threads = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", **threads}
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split("PEAK_MB")[-1])


def test_peak_memory_does_not_grow_with_the_number_of_contigs(tmp_path):
    """Bounded memory: 5.7x the genes over 10x the contigs costs (almost) no RSS.

    Each run is a fresh interpreter; its peak RSS (``ru_maxrss``) covers the whole run. Both
    runs' largest contig has 107 genes, so what a run holds per contig is the same. Holding
    every gene's components and truth rows (~0.1 MB a gene at 200 individuals and 3 tissues)
    would add ~100 MB to the large run (measured here: +11 to +27 MB, run-to-run noise ~15 MB).
    """
    small = _peak_rss_mb(tmp_path, "small", 212, 2)
    large = _peak_rss_mb(tmp_path, "large", 1200, 20)
    print(f"peak RSS: {small:.0f} MB (212 genes), {large:.0f} MB (1,200 genes)")
    assert large < small + 40, (small, large)
    assert large < 1000, large
