"""Tests of the ground-truth cohort simulator, against independent tools, recounts and theory."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pyfaidx
import pysam
import pytest
import yaml

from ps2f.errors import ConfigError
from ps2f.simulate import OUTPUT_FILES, SimulationConfig, simulate_cohort
from ps2f.simulate import cohort as cohort_module

REPO = Path(__file__).resolve().parents[1]
SHARED_FASTA = (
    REPO.parent
    / "shared/data/1000G_EUR_chr20_GRCh37_fullchr_genotypes_reference_only/reference"
    / "GRCh37_chr20_full_vt-examples.fa.gz"
)
GENE_COLUMNS = ["gene_id", "gene_name", "gene_type", "chrom", "strand", "gene_start", "gene_end", "tss"]  # fmt: skip
BED_FIXED = ["#chr", "start", "end", "gene", "length", "strand"]
_COMPLEMENT = str.maketrans("ACGT", "TGCA")

GRAMMAR = SimulationConfig(n_individuals=80, n_genes=20, seed=1)  # grammar only, drawn (default)
#: The fixed grammar of earlier versions, given explicitly (no motif pairs).
FIXED_GRAMMAR = {
    "motifs": ("TGAGTCAT", "CACGTGAC", "GTAAACAA"),
    "motif_effects": (1.0, 0.7, 0.5),
    "motif_reverse_weights": (0.5, 1.0, 0.2),
    "position_decay_bp": 150.0,
    "motif_interactions": (),
}
FIXED = GRAMMAR.replace(**FIXED_GRAMMAR)
# drawn grammar whose motif pairs carry half its variance (seed 3 draws two pairs)
INTERACTION = GRAMMAR.replace(nonlinearity="interaction", seed=3)
EQTL = SimulationConfig(
    n_individuals=300, n_genes=30, grammar_weight=0.0, covariate_variance=0.0, seed=3
)
POPGEN = SimulationConfig(n_individuals=100, n_genes=10, spacing_bp=30_000, seed=2)
TINY = SimulationConfig(n_individuals=15, n_genes=5, spacing_bp=2000)


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@cache
def _simulate(config: SimulationConfig, root: str) -> dict[str, Path]:
    return simulate_cohort(config, Path(root) / f"sim{abs(hash(config))}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("simulate"))


@pytest.fixture(scope="module")
def grammar(root):
    return GRAMMAR, _simulate(GRAMMAR, root)


@pytest.fixture(scope="module", params=["drawn", "fixed", "interaction"])
def any_grammar(root, request):
    """A drawn grammar, the fixed one given explicitly, and a drawn one under ``interaction``."""
    config = {"drawn": GRAMMAR, "fixed": FIXED, "interaction": INTERACTION}[request.param]
    return config, _simulate(config, root)


@pytest.fixture(scope="module")
def eqtl(root):
    return EQTL, _simulate(EQTL, root)


@pytest.fixture(scope="module")
def popgen(root):
    return POPGEN, _simulate(POPGEN, root)


def read_fasta(path: Path, contig: str) -> str:
    fa = pyfaidx.Fasta(str(path))
    seq = str(fa[contig][:])
    fa.close()
    return seq


def read_vcf(path: Path, region: str | None = None) -> list[dict]:
    vcf = cyvcf2.VCF(str(path))
    out = []
    for v in vcf(region) if region else vcf:
        g = v.genotype.array()
        out.append(
            {"pos": v.POS, "id": v.ID, "ref": v.REF, "alt": v.ALT, "gt": g[:, :2].astype(int),
             "phased": g[:, 2].astype(bool), "ac": v.INFO.get("AC"), "an": v.INFO.get("AN")}
        )  # fmt: skip
    vcf.close()
    return out


# --------------------------------------------------------------------------------------------
# files and formats


def test_all_files_written_and_nothing_else(grammar):
    _, paths = grammar
    outdir = paths["genotypes"].parent
    assert set(paths) == set(OUTPUT_FILES)
    for key, name in OUTPUT_FILES.items():
        assert paths[key] == outdir / name and paths[key].stat().st_size > 0
    assert sorted(p.name for p in outdir.iterdir()) == sorted(OUTPUT_FILES.values())


def test_fasta_layout_and_composition(grammar):
    config, paths = grammar
    seq = read_fasta(paths["reference"], config.contig)
    assert len(seq) == config.contig_length == config.n_genes * config.spacing_bp
    lines = paths["reference"].read_text().splitlines()
    assert lines[0] == f">{config.contig}" and all(len(x) == 60 for x in lines[1:-1])
    assert set(seq) == set("ACGT")
    gc = (seq.count("G") + seq.count("C")) / len(seq)
    assert 0.38 < gc < 0.44
    cpg_oe = seq.count("CG") * len(seq) / (seq.count("C") * seq.count("G"))
    assert cpg_oe < 0.5  # random sequence without depletion gives ~1


def test_vcf_records_are_well_formed_and_refs_match_fasta(grammar):
    config, paths = grammar
    seq = read_fasta(paths["reference"], config.contig)
    records = read_vcf(paths["genotypes"])
    positions = [r["pos"] for r in records]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    kinds = set()
    for r in records:
        ref, (alt,) = r["ref"], r["alt"]
        assert seq[r["pos"] - 1 : r["pos"] - 1 + len(ref)] == ref
        assert r["id"] == f"{config.contig}_{r['pos']}_{ref}_{alt}"
        assert r["phased"].all() and set(np.unique(r["gt"])) <= {0, 1}
        assert r["an"] == 2 * config.n_individuals and r["ac"] == r["gt"].sum() > 0
        if len(ref) == len(alt) == 1:
            kinds.add("snv")
            assert ref != alt
        else:  # VCF indel: shared anchor base, then only the inserted/deleted bases
            assert min(len(ref), len(alt)) == 1 and ref[0] == alt[0]
            kinds.add("deletion" if len(ref) > 1 else "insertion")
    assert kinds == {"snv", "insertion", "deletion"}
    n_indel = sum(max(len(r["ref"]), len(r["alt"][0])) > 1 for r in records)
    assert 0.02 < n_indel / len(records) < 0.09  # indel_fraction = 0.05
    header = cyvcf2.VCF(str(paths["genotypes"]))
    assert header.samples == [f"SIM{i:04d}" for i in range(1, config.n_individuals + 1)]
    assert header.seqnames == [config.contig] and header.seqlens == [config.contig_length]
    header.close()


def test_indels_are_left_aligned(grammar):
    """No indel can be shifted one base left (the same on a repeat's left edge)."""
    config, paths = grammar
    seq = read_fasta(paths["reference"], config.contig)
    for r in read_vcf(paths["genotypes"]):
        ref, alt, p = r["ref"], r["alt"][0], r["pos"] - 1
        if len(ref) > 1:  # deletion of ref[1:]: shiftable iff seq[p] == last deleted base
            assert seq[p] != ref[-1], r
        elif len(alt) > 1:  # insertion of alt[1:] after p: shiftable iff its last base == seq[p]
            assert alt[-1] != seq[p], r


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_bcftools_validates_and_normalization_changes_nothing(grammar, tmp_path):
    """Oracle: bcftools parses the VCF, finds every REF in the FASTA and realigns no indel."""
    config, paths = grammar
    view = subprocess.run(
        ["bcftools", "view", "-H", str(paths["genotypes"])], capture_output=True, text=True
    )
    assert view.returncode == 0 and "[W::" not in view.stderr and "[E::" not in view.stderr
    n = len(view.stdout.splitlines())
    out = tmp_path / "norm.vcf"
    norm = subprocess.run(
        ["bcftools", "norm", "--check-ref", "e", "-f", str(paths["reference"]), "-Ov",
         "-o", str(out), str(paths["genotypes"])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"total/split/realigned/skipped:\t{n}/0/0/0" in norm.stderr
    body = [x for x in out.read_text().splitlines() if not x.startswith("#")]
    assert [x.split("\t")[:5] for x in body] == [
        x.split("\t")[:5] for x in view.stdout.splitlines()
    ]


def test_vcf_round_trips_through_ingestion(grammar):
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    config, paths = grammar
    store = ingest_vcf(
        paths["genotypes"], Reference(paths["reference"]), config.contig,
        [(0, config.contig_length)],
    )  # fmt: skip
    tv = pd.read_parquet(paths["truth_variants"])
    assert store.n_variants == len(tv)
    np.testing.assert_array_equal(store.pos + 1, tv["pos"])
    assert list(store.ids) == list(tv["id"])
    stats = store.stats
    assert stats.get("ref_unverifiable_over_N", 0) == 0
    assert (
        stats["stored_insertion"] + stats["stored_deletion"] == (tv["variant_type"] != "snv").sum()
    )
    assert stats["stored_snv"] == (tv["variant_type"] == "snv").sum()
    # genotypes: the store's bit-packed haplotypes == cyvcf2's calls
    records = read_vcf(paths["genotypes"])
    n_hap = 2 * config.n_individuals
    haps = np.unpackbits(store.genotypes, axis=1)[:, :n_hap]
    for i in (0, len(records) // 2, len(records) - 1):
        np.testing.assert_array_equal(haps[i], records[i]["gt"].reshape(-1))
    np.testing.assert_allclose(haps.mean(axis=1), tv["af"])


def test_genes_table(grammar):
    config, paths = grammar
    genes = pd.read_csv(paths["genes"], sep="\t")
    assert list(genes.columns) == GENE_COLUMNS
    assert list(genes["gene_id"]) == [f"SIMG{i:04d}" for i in range(1, config.n_genes + 1)]
    assert set(genes["strand"]) == {"+", "-"}
    plus = genes["strand"] == "+"
    assert (genes.loc[plus, "tss"] == genes.loc[plus, "gene_start"]).all()
    assert (genes.loc[~plus, "tss"] == genes.loc[~plus, "gene_end"]).all()
    expected = config.spacing_bp // 2 + config.spacing_bp * np.arange(config.n_genes) + 1
    np.testing.assert_array_equal(genes["tss"], expected)
    assert (genes["gene_start"] >= 1).all() and (genes["gene_end"] <= config.contig_length).all()


def test_expression_bed_and_covariates(grammar):
    from ps2f.io.tables import read_covariates

    config, paths = grammar
    genes = pd.read_csv(paths["genes"], sep="\t")
    bed = pd.read_csv(paths["expression"], sep="\t")
    samples = [f"SIM{i:04d}" for i in range(1, config.n_individuals + 1)]
    assert list(bed.columns) == BED_FIXED + samples
    assert list(bed["gene"]) == list(genes["gene_id"])
    assert (bed["start"] == genes["tss"] - 1).all() and (bed["end"] == genes["tss"]).all()
    assert (bed["strand"] == genes["strand"]).all()
    values = bed[samples].to_numpy()
    assert (values >= 0).all() and np.isfinite(values).all()
    truth = pd.read_parquet(paths["truth"])
    y_obs = truth.pivot(index="gene", columns="individual", values="y_obs").loc[
        bed["gene"], samples
    ]
    np.testing.assert_allclose(np.log1p(values), y_obs.to_numpy(), atol=1e-5)
    with pysam.TabixFile(str(paths["expression"])) as tbx:
        rows = list(tbx.fetch(config.contig, 14_000, 16_000))
    assert [r.split("\t")[3] for r in rows] == ["SIMG0002"]
    # covariates: QTLtools layout, read by the phenotypes step's reader
    cov = read_covariates(paths["covariates"])
    assert list(cov.index) == ["genotype_PC1", "genotype_PC2", "genotype_PC3",
                               "expression_PC1", "expression_PC2", "expression_PC3"]  # fmt: skip
    assert list(cov.columns) == samples
    # the hidden factors explain every gene's covariate effect exactly (least squares)
    effect = truth.pivot(index="gene", columns="individual", values="covariate_effect")[samples]
    f = np.c_[np.ones(len(samples)), cov.loc[cov.index.str.startswith("expression")].T]
    resid = effect.T - f @ np.linalg.lstsq(f, effect.T, rcond=None)[0]
    assert np.abs(resid.to_numpy()).max() < 1e-4
    assert (effect.var(axis=1) > 0).all()
    # genotype PCs: unit variance, uncorrelated, and genome-wide: they carry no cis signal of
    # the loci (PCs of the loci themselves explained a median 17% of y_true)
    g = cov.loc[cov.index.str.startswith("genotype")].to_numpy()
    np.testing.assert_allclose(g @ g.T / len(samples), np.eye(3), atol=2e-3)
    y_true = truth.pivot(index="gene", columns="individual", values="y_true")[samples].to_numpy()
    x = np.c_[np.ones(len(samples)), g.T]
    resid = y_true.T - x @ np.linalg.lstsq(x, y_true.T, rcond=None)[0]
    r2 = 1 - resid.var(axis=0) / y_true.var(axis=1)
    assert np.median(r2) < 0.08  # chance: 3 / n_individuals ~ 0.04


# --------------------------------------------------------------------------------------------
# population genetics (msprime): neutral spectrum and LD


def test_site_frequency_spectrum_is_neutral(popgen):
    """Watterson's theta and pi are near 4 Ne mu; derived-allele counts fall off as 1/i."""
    config, paths = popgen
    tv = pd.read_parquet(paths["truth_variants"])
    n = 2 * config.n_individuals
    theta = 4 * config.population_size * config.mutation_rate
    a1 = (1 / np.arange(1, n)).sum()
    assert 0.65 * theta < len(tv) / a1 / config.contig_length < 1.35 * theta
    pi = (2 * tv["af"] * (1 - tv["af"])).sum() * n / (n - 1) / config.contig_length
    assert 0.65 * theta < pi < 1.35 * theta
    counts = np.round(tv.loc[tv["role"] == "neutral", "af"] * n).astype(int).to_numpy()
    bins = [(1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64), (65, n - 1)]
    expected = np.array([sum(1 / i for i in range(a, b + 1)) for a, b in bins])
    observed = np.array([((counts >= a) & (counts <= b)).sum() for a, b in bins])
    ratio = (observed / observed.sum()) / (expected / expected.sum())
    assert ((ratio > 0.6) & (ratio < 1.6)).all(), ratio


def test_linkage_disequilibrium_decays_with_distance(popgen):
    config, paths = popgen
    tv = pd.read_parquet(paths["truth_variants"]).set_index("pos")
    unmoved = set(tv.index[(tv["role"] == "neutral") & (tv["source_pos"] == tv.index)])
    pos, rows = [], []
    for r in read_vcf(paths["genotypes"]):
        h = r["gt"].reshape(-1)
        if r["pos"] in unmoved and 0.1 <= h.mean() <= 0.9:
            pos.append(r["pos"])
            rows.append(h)
    x = np.array(rows, dtype=float)
    x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    r2 = (x @ x.T / x.shape[1]) ** 2
    d = np.abs(np.subtract.outer(pos, pos))
    iu = np.triu_indices(len(pos), 1)
    d, r2 = d[iu], r2[iu]
    near, mid, far = (r2[(d >= a) & (d < b)].mean() for a, b in ((0, 1000), (2000, 5000), (20_000, 200_000)))  # fmt: skip
    assert near > mid > far and near > 3 * far
    assert far < 0.15 and near > 0.3


# --------------------------------------------------------------------------------------------
# the planted mechanism


@cache
def _motif_matches(seq: str, motif: str) -> list[tuple[int, bool]]:
    """(start, forward?) of every overlapping match of the motif or its reverse complement."""
    out = [(m.start(), True) for m in re.finditer(f"(?={motif})", seq)]
    return out + [(m.start(), False) for m in re.finditer(f"(?={revcomp(motif)})", seq)]


def motif_scores(seq: str, start: int, tss0: int, minus: bool, rule: dict) -> list[float]:
    """The rule written out: per motif, sum of position weight * orientation weight."""
    out = []
    for motif, rev_w, decay in zip(rule["motifs"], rule["motif_reverse_weights"], rule["position_decay_bp"], strict=True):  # fmt: skip
        total = 0.0
        for s, forward in _motif_matches(seq, motif):
            d = start + s + (len(motif) - 1) / 2 - tss0
            sense = forward != minus
            total += np.exp(-abs(d) / decay) * (1 if sense else rev_w)
        out.append(total)
    return out


def grammar_parts(seq: str, start: int, tss0: int, minus: bool, rule: dict) -> tuple[float, float]:
    """(sum_k effect_k S_k, sum_p c_p S_i S_j) of one sequence under a grammar.json rule."""
    s = motif_scores(seq, start, tss0, minus, rule)
    main = sum(e * x for e, x in zip(rule["motif_effects"], s, strict=True))
    pairs = sum(c * s[int(i)] * s[int(j)] for i, j, c in rule["motif_interactions"])
    return main, pairs


def read_rule(paths: dict) -> dict:
    return json.loads(paths["grammar"].read_text())


def test_grammar_recomputed_from_vcf_and_fasta_is_the_truth(any_grammar):
    """Rebuild every haplotype's causal region from the files and rescore it by the rule."""
    config, paths = any_grammar
    rule = read_rule(paths)
    if config is FIXED:  # the explicit grammar is used as given
        assert rule["drawn"] == [] and rule["motifs"] == list(FIXED_GRAMMAR["motifs"])
        assert rule["position_decay_bp"] == [150.0] * 3 and rule["motif_interactions"] == []
    else:
        assert rule["drawn"] == ["motifs", "motif_effects", "motif_reverse_weights",
                                 "position_decay_bp", "motif_interactions"]  # fmt: skip
        assert rule["motif_interactions"]
    seq = read_fasta(paths["reference"], config.contig)
    genes = pd.read_csv(paths["genes"], sep="\t")
    truth = pd.read_parquet(paths["truth"])
    scales = json.loads(paths["config"].read_text())["scales"]
    r = config.causal_radius_bp
    main, pairs, counted = [], [], []
    for tss, strand in zip(genes["tss"], genes["strand"], strict=True):
        lo = tss - 1 - r
        region = seq[lo : lo + 2 * r]
        records = read_vcf(paths["genotypes"], f"{config.contig}:{lo + 1}-{lo + 2 * r}")
        assert all(len(v["ref"]) == len(v["alt"][0]) == 1 for v in records)  # SNVs only there
        for i in range(config.n_individuals):
            for h in range(2):
                s = list(region)
                for v in records:
                    assert s[v["pos"] - 1 - lo] == v["ref"]
                    if v["gt"][i, h]:
                        s[v["pos"] - 1 - lo] = v["alt"][0]
                hap = "".join(s)
                m, p = grammar_parts(hap, lo, tss - 1, strand == "-", rule)
                main.append(m)
                pairs.append(p)
                counted.append(sum(len(_motif_matches(hap, m)) for m in rule["motifs"]))
    main_part = scales["grammar_linear"] * np.array(main)
    pair_part = scales["grammar_interaction"] * np.array(pairs)
    got = truth[["genetic_hap1", "genetic_hap2"]].to_numpy().reshape(-1)
    np.testing.assert_allclose(got, main_part + pair_part, rtol=1e-9, atol=1e-12)
    counts = truth[["motif_count_hap1", "motif_count_hap2"]].to_numpy().reshape(-1)
    np.testing.assert_array_equal(counts, counted)
    # the pair terms keep their natural weight, or carry half the variance under "interaction"
    n = config.n_individuals
    pair_var = pair_part.reshape(config.n_genes, n, 2).mean(axis=2).var(axis=1).mean()
    if config.nonlinearity == "interaction":
        assert pair_var == pytest.approx(0.5 * config.genetic_sd**2, rel=1e-9)
    elif rule["motif_interactions"]:
        assert scales["grammar_interaction"] == scales["grammar_linear"] and pair_var > 0
    # y_true = gene baseline + mean of the two haplotypes, baseline in [2, 4]
    base = truth["y_true"] - truth[["genetic_hap1", "genetic_hap2"]].mean(axis=1)
    per_gene = base.groupby(truth["gene"])
    assert (per_gene.max() - per_gene.min() < 1e-9).all()
    assert per_gene.first().between(2, 4).all()
    # the grammar varies within most genes (causal variants segregate)
    assert (truth.groupby("gene")["y_true"].std() > 0).mean() >= 0.9


def test_variant_roles_and_effects_match_single_variant_recount(any_grammar):
    """Planted variants break or complete motif copies of the grammar, drawn or given."""
    config, paths = any_grammar
    rule = read_rule(paths)
    seq = read_fasta(paths["reference"], config.contig)
    genes = pd.read_csv(paths["genes"], sep="\t").set_index("gene_id")
    tv = pd.read_parquet(paths["truth_variants"])
    scale = json.loads(paths["config"].read_text())["scales"]["grammar_linear"]
    r = config.causal_radius_bp
    assert {"disrupts_motif", "creates_motif", "neutral"} == set(tv["role"])
    for row in tv.itertuples():
        tss0 = int(genes.loc[row.gene, "tss"]) - 1
        lo, p = tss0 - r, row.pos - 1
        if not lo <= p < lo + 2 * r:
            assert row.role == "neutral" and row.beta == 0
            continue
        before = seq[lo : lo + 2 * r]
        after = before[: p - lo] + row.alt + before[p - lo + 1 :]
        minus = genes.loc[row.gene, "strand"] == "-"
        delta = sum(len(_motif_matches(after, m)) - len(_motif_matches(before, m)) for m in rule["motifs"])  # fmt: skip
        assert row.motif_delta == delta
        assert row.role == ("disrupts_motif" if delta < 0 else "creates_motif" if delta > 0 else "neutral")  # fmt: skip
        # beta: the main effects' change (pair terms are left out of the additive part)
        d_g = grammar_parts(after, lo, tss0, minus, rule)[0] - grammar_parts(before, lo, tss0, minus, rule)[0]  # fmt: skip
        assert row.beta == pytest.approx(scale * d_g / 2, abs=1e-12)
    causal = tv[tv["role"] != "neutral"]
    per_gene = causal.groupby("gene").size().reindex(genes.index, fill_value=0)
    assert per_gene.mean() > 0.8 * config.n_grammar_variants
    # causal variants are common msprime sites, never strand-ambiguous
    assert (np.minimum(causal["af"], 1 - causal["af"]) >= config.causal_min_maf).all()
    planted = causal[causal["pos"] != causal["source_pos"]]
    assert not (planted["ref"] + planted["alt"]).isin(["AT", "TA", "CG", "GC"]).any()
    # repressors: breaking a copy raises expression, completing one lowers it
    effects = np.array(rule["motif_effects"])
    if (effects < 0).any() and (effects > 0).any():
        assert (causal["beta"] > 0).any() and (causal["beta"] < 0).any()


# --------------------------------------------------------------------------------------------
# the grammar drawn from the seed


def _shares_kmer(a: str, b: str, k: int = 5) -> bool:
    return bool({a[i : i + k] for i in range(len(a) - k + 1)} & {b[i : i + k] for i in range(len(b) - k + 1)})  # fmt: skip


def test_grammar_is_drawn_from_the_seed():
    """Each seed its own valid grammar; the same seed the same grammar."""
    from ps2f.simulate.grammar import DECAY_FRACTION, MOTIF_LENGTH, N_MOTIFS, Grammar

    records = [Grammar.from_config(SimulationConfig(seed=seed)).to_record() for seed in range(40)]
    assert Grammar.from_config(SimulationConfig(seed=7)).to_record() == records[7]
    keys = ("motifs", "motif_effects", "motif_reverse_weights", "position_decay_bp")
    assert len({json.dumps([rec[k] for k in keys]) for rec in records}) == 40
    assert len({len(rec["motifs"]) for rec in records}) == N_MOTIFS[1] - N_MOTIFS[0] + 1
    r = SimulationConfig().causal_radius_bp
    for rec in records:
        motifs = rec["motifs"]
        n = len(motifs)
        assert N_MOTIFS[0] <= n <= N_MOTIFS[1]
        assert all(MOTIF_LENGTH[0] <= len(m) <= MOTIF_LENGTH[1] and set(m) <= set("ACGT") for m in motifs)  # fmt: skip
        assert all(m != revcomp(m) for m in motifs)
        for a, b in itertools.combinations(motifs, 2):  # distinct, and neither holds the other
            assert not _shares_kmer(a, b) and not _shares_kmer(a, revcomp(b))
        effects = np.array(rec["motif_effects"])
        assert (effects > 0).any() and (effects < 0).any()  # activators and repressors
        assert rec["roles"] == ["activator" if e > 0 else "repressor" for e in effects]
        assert all(0.5 <= abs(e) <= 1.0 for e in effects)
        assert all(0 <= w <= 1 for w in rec["motif_reverse_weights"])
        assert all(DECAY_FRACTION[0] * r - 0.1 <= d <= DECAY_FRACTION[1] * r + 0.1 for d in rec["position_decay_bp"])  # fmt: skip
        pairs = [(i, j) for i, j, _ in rec["motif_interactions"]]
        assert pairs and len(set(pairs)) == len(pairs)
        assert all(0 <= i < j < n for i, j in pairs)
    # the draws vary: both orientations of preference, short and long decays, both pair signs
    decays = np.concatenate([rec["position_decay_bp"] for rec in records])
    assert decays.min() < 0.35 * r and decays.max() > 0.85 * r
    coefs = [c for rec in records for *_, c in rec["motif_interactions"]]
    assert min(coefs) < 0 < max(coefs)


def test_drawn_grammar_fits_a_small_causal_region():
    from ps2f.simulate.grammar import Grammar

    for seed in range(10):
        config = SimulationConfig(seed=seed, causal_radius_bp=20, spacing_bp=700)
        motifs = Grammar.from_config(config).to_record()["motifs"]
        assert all(len(m) <= 20 // 2 - 2 and m != revcomp(m) for m in motifs)


def test_explicit_grammar_keys_are_used_and_the_rest_drawn():
    from ps2f.simulate.grammar import Grammar

    given = SimulationConfig(seed=5, **FIXED_GRAMMAR)
    rec = Grammar.from_config(given).to_record()
    assert rec["drawn"] == []
    assert rec["motif_effects"] == [1.0, 0.7, 0.5] and rec["motif_interactions"] == []
    partial = SimulationConfig(seed=5, motifs=("TGAGTCAT", "CACGTGAC"), position_decay_bp=(100, 200))  # fmt: skip
    rec = Grammar.from_config(partial).to_record()
    assert rec["drawn"] == ["motif_effects", "motif_reverse_weights", "motif_interactions"]
    assert rec["motifs"] == ["TGAGTCAT", "CACGTGAC"] and rec["position_decay_bp"] == [100.0, 200.0]
    assert sorted(rec["roles"]) == ["activator", "repressor"]
    assert rec["motif_interactions"][0][:2] == [0, 1]
    # a grammar.json read back as config gives the same grammar
    drawn = Grammar.from_config(SimulationConfig(seed=11)).to_record()
    keys = {k: drawn[k] for k in ("motifs", "motif_effects", "motif_reverse_weights",
                                  "position_decay_bp", "motif_interactions")}  # fmt: skip
    again = Grammar.from_config(SimulationConfig(seed=0, **keys)).to_record()
    assert {k: again[k] for k in keys} == keys
    # under "interaction" a grammar given without pairs gets S_0 S_1 (as before pairs existed)
    inter = Grammar.from_config(given.replace(nonlinearity="interaction"))
    assert inter.interactions == ((0, 1, 1.0),)


def test_the_grammar_stream_leaves_the_other_draws_alone(tmp_path):
    """Same seed, another grammar: same genes, baselines and msprime seeds; other motifs."""
    a = simulate_cohort(TINY, tmp_path / "a")
    b = simulate_cohort(TINY.replace(**FIXED_GRAMMAR), tmp_path / "b")
    assert a["genes"].read_bytes() == b["genes"].read_bytes()
    ja, jb = (json.loads(p["config"].read_text()) for p in (a, b))
    assert ja["msprime_seeds"] == jb["msprime_seeds"]
    ta, tb = (pd.read_parquet(p["truth"]) for p in (a, b))
    base_a, base_b = (t["y_true"] - t[["genetic_hap1", "genetic_hap2"]].mean(axis=1) for t in (ta, tb))  # fmt: skip
    np.testing.assert_allclose(base_a, base_b, atol=1e-12)  # the genes' baselines a_g
    assert read_rule(a)["motifs"] != read_rule(b)["motifs"]


def test_realised_heritability_matches_target(grammar):
    config, paths = grammar
    bed = pd.read_csv(paths["expression"], sep="\t").set_index("gene")
    samples = list(bed.columns[5:])
    y = np.log1p(bed[samples].to_numpy())
    truth = pd.read_parquet(paths["truth"])
    y_true = truth.pivot(index="gene", columns="individual", values="y_true").loc[
        bed.index, samples
    ]
    r = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(y, y_true.to_numpy(), strict=True)])
    assert abs(np.median(r**2) - config.h2) < 0.06
    tg = pd.read_parquet(paths["truth_genes"]).set_index("gene").loc[bed.index]
    np.testing.assert_allclose(tg["h2_realised"], r**2, atol=1e-5)
    np.testing.assert_allclose(tg["r_ceiling"], r, atol=1e-5)
    # without the hidden factors' effect the ceiling is higher: h2 / (1 - covariate_variance)
    target_adjusted = config.h2 / (1 - config.covariate_variance)
    assert abs(tg["h2_adjusted"].median() - target_adjusted) < 0.06
    assert (tg["var_eqtl"] == 0).all() and (tg["n_eqtl_variants"] == 0).all()


def test_eqtl_regression_recovers_planted_effects(eqtl):
    """eQTL-only: OLS of expression on the causal dosages gives back the planted betas."""
    config, paths = eqtl
    tv = pd.read_parquet(paths["truth_variants"])
    assert set(tv["role"]) == {"eqtl", "neutral"}  # no grammar variants when grammar_weight = 0
    causal = tv[tv["role"] == "eqtl"]
    genes = pd.read_csv(paths["genes"], sep="\t").set_index("gene_id")
    bed = pd.read_csv(paths["expression"], sep="\t").set_index("gene")
    samples = list(bed.columns[5:])
    records = {r["id"]: r["gt"].sum(axis=1) for r in read_vcf(paths["genotypes"])}
    est, se, true = [], [], []
    for gene, rows in causal.groupby("gene"):
        # every causal variant lies in the causal region, visible to every model
        tss = genes.loc[gene, "tss"]
        assert ((rows["pos"] - tss).abs() <= config.causal_radius_bp).all()
        x = np.c_[np.ones(len(samples)), np.column_stack([records[i] for i in rows["id"]])]
        y = np.log1p(bed.loc[gene, samples].to_numpy(dtype=float))
        coef, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
        sigma2 = rss[0] / (len(y) - x.shape[1])
        est.extend(coef[1:])
        se.extend(np.sqrt(np.diag(np.linalg.inv(x.T @ x))[1:] * sigma2))
        true.extend(rows["beta"])
    est, se, true = np.array(est), np.array(se), np.array(true)
    assert len(est) >= 0.9 * config.n_genes * config.n_eqtl_variants
    slope = (est @ true) / (true @ true)
    assert 0.85 < slope < 1.15 and np.corrcoef(est, true)[0, 1] > 0.8
    # the planted effects are where OLS says they are, within its standard errors (z ~ N(0, 1);
    # the mean of z has sd ~0.2 here, as the two variants of a gene are in LD)
    z = (est - true) / se
    assert 0.55 < np.mean(z**2) < 1.6 and abs(np.mean(z)) < 0.7
    # noise-free expression is exactly additive in the causal dosages
    truth = pd.read_parquet(paths["truth"])
    y_true = truth.pivot(index="gene", columns="individual", values="y_true")[samples]
    gene = causal["gene"].iloc[0]
    rows = causal[causal["gene"] == gene]
    x = np.c_[np.ones(len(samples)), np.column_stack([records[i] for i in rows["id"]])]
    coef = np.linalg.lstsq(x, y_true.loc[gene].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(coef[1:], rows["beta"], atol=1e-9)


def test_grammar_weight_sets_the_variance_shares(root):
    config = SimulationConfig(n_individuals=60, n_genes=40, grammar_weight=0.5, seed=4)
    tg = pd.read_parquet(_simulate(config, root)["truth_genes"])
    share = tg["var_grammar"].sum() / (tg["var_grammar"] + tg["var_eqtl"]).sum()
    assert 0.35 < share < 0.65
    assert (tg["n_grammar_variants"] > 0).mean() > 0.8 and (tg["n_eqtl_variants"] > 0).mean() > 0.8


@pytest.mark.parametrize("nonlinearity", ["interaction", "threshold"])
def test_nonlinearity_breaks_additivity(root, nonlinearity):
    """eQTL-only: y_true is exactly additive in the causal dosages only without a nonlinearity."""
    base = SimulationConfig(n_individuals=80, n_genes=12, grammar_weight=0.0, seed=6)

    def r2_additive(config):
        paths = _simulate(config, root)
        tv = pd.read_parquet(paths["truth_variants"])
        truth = pd.read_parquet(paths["truth"])
        records = {r["id"]: r["gt"].sum(axis=1) for r in read_vcf(paths["genotypes"])}
        out = []
        for gene, rows in tv[tv["role"] == "eqtl"].groupby("gene"):
            y = truth.loc[truth["gene"] == gene, "y_true"].to_numpy()
            x = np.c_[np.ones(y.size), np.column_stack([records[i] for i in rows["id"]])]
            resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
            out.append(1 - resid.var() / y.var() if y.var() > 0 else 1.0)
        return np.array(out)

    assert (r2_additive(base) > 1 - 1e-9).all()
    assert np.median(r2_additive(base.replace(nonlinearity=nonlinearity))) < 0.97
    if nonlinearity == "threshold":  # at least half of each gene's individuals sit at its floor
        truth = pd.read_parquet(_simulate(base.replace(nonlinearity="threshold"), root)["truth"])
        floor = truth.groupby("gene")["y_true"].transform("min")
        assert ((truth["y_true"] - floor).abs() < 1e-12).groupby(truth["gene"]).mean().min() >= 0.5


# --------------------------------------------------------------------------------------------
# real reference, determinism, failures, config


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_FASTA.exists(), reason="shared chr20 FASTA absent")
def test_real_reference_windows(tmp_path):
    config = TINY.replace(reference_fasta=str(SHARED_FASTA))
    paths = simulate_cohort(config, tmp_path)
    seq = read_fasta(paths["reference"], config.contig)
    assert len(seq) == config.contig_length and set(seq) <= set("ACGT")
    tg = pd.read_parquet(paths["truth_genes"])
    assert (tg["source_contig"] == "20").all()
    starts = tg["source_start"].to_numpy()
    assert (np.diff(starts) >= config.spacing_bp).all() and (starts % config.spacing_bp == 0).all()
    real = pyfaidx.Fasta(str(SHARED_FASTA), sequence_always_upper=True)
    for g, start in enumerate(starts.tolist()):
        ours = seq[g * config.spacing_bp : (g + 1) * config.spacing_bp]
        theirs = str(real["20"][start : start + config.spacing_bp])
        differ = sum(a != b for a, b in zip(ours, theirs, strict=True))
        assert differ < 0.06 * config.spacing_bp  # only the planted motif copies differ
    real.close()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = simulate_cohort(TINY, tmp_path / "a")
    b = simulate_cohort(TINY, tmp_path / "b")
    c = simulate_cohort(TINY.replace(seed=1), tmp_path / "c")
    for key in OUTPUT_FILES:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    for key in ("reference", "genotypes", "expression", "covariates", "truth", "truth_variants",
                "grammar"):  # fmt: skip
        assert a[key].read_bytes() != c[key].read_bytes(), key


def test_failure_leaves_no_output(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cohort_module, "_write_bed", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_cohort(TINY, out)
    assert list(out.iterdir()) == []


def test_contig_name_is_configurable(tmp_path):
    paths = simulate_cohort(TINY.replace(contig="chrS"), tmp_path)
    ids = [r["id"] for r in read_vcf(paths["genotypes"], "chrS:1-100000")]
    assert ids and all(i.startswith("chrS_") for i in ids)
    assert set(pd.read_csv(paths["genes"], sep="\t")["chrom"]) == {"chrS"}


@pytest.mark.parametrize(
    "changes",
    [
        {"motifs": ("GAATTC", "TGAGTCAT", "CACGTGAC")},  # its own reverse complement
        {"motifs": ("TGANTCAT",), "motif_effects": (1.0,), "motif_reverse_weights": (1.0,)},
        {"motifs": ("TGAGTCAT", "CACGTGAC"), "motif_effects": (1.0,)},  # one per motif needed
        {"motif_effects": (1.0, 0.5)},  # drawn motifs: their number is not known in advance
        {"position_decay_bp": (100.0, 150.0)},
        {"position_decay_bp": 0.0},
        {"motif_interactions": ((0, 1, 1.0),)},
        {"motifs": ("TGAGTCAT", "CACGTGAC"), "motif_interactions": ((0, 2, 1.0),)},
        {"motifs": ("TGAGTCAT", "CACGTGAC"), "motif_interactions": ((1, 0, 1.0),)},
        {"motifs": ("TGAGTCAT", "CACGTGAC"), "motif_interactions": ((0, 1, 1.0), (0, 1, 2.0))},
        {"causal_radius_bp": 10, "spacing_bp": 700},  # too small for any drawn motif
        {"spacing_bp": 500},
        {"h2": 0.0},
        {"h2": 0.95, "covariate_variance": 0.1},
        {"grammar_weight": 1.5},
        {"nonlinearity": "quadratic"},
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


def _validated(section: dict) -> dict:
    from snakemake.utils import validate

    cfg = {"simulate": section}
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return cfg


def test_schema_defaults_are_the_dataclass_defaults(tmp_path):
    """The workflow's defaults (schema) and the package's (dataclass) are the same model."""
    fields = {k: v for k, v in _validated({"enabled": True})["simulate"].items() if k != "enabled"}
    assert SimulationConfig(**fields) == SimulationConfig()
    from ps2f.pipeline import run_simulate

    small = _validated({"enabled": True, "n_individuals": 15, "n_genes": 5, "spacing_bp": 2000})
    paths = run_simulate(small["simulate"], "sim1", tmp_path)
    assert paths["truth_genes"].exists()


@pytest.mark.parametrize("path", sorted((REPO / "config" / "scenarios").glob("*.yaml")) + [REPO / "config" / "config.yaml"], ids=lambda p: p.name)  # fmt: skip
def test_scenario_configs_validate(path):
    from snakemake.utils import validate

    cfg = yaml.safe_load(path.read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    sim = {k: v for k, v in cfg["simulate"].items() if k != "enabled"}
    config = SimulationConfig(**sim)
    assert config.causal_radius_bp <= cfg["s2f"]["window_bp"] // 2
    assert config.causal_radius_bp <= cfg["baselines"]["cis_window_bp"]


def test_scenarios_span_the_mechanisms():
    """The expression scenarios span the mechanisms; methylation.yaml is the short-range
    modality's scenario (benchmarks/modality.py), all grammar."""
    configs = {
        p.stem: yaml.safe_load(p.read_text())["simulate"]
        for p in (REPO / "config" / "scenarios").glob("*.yaml")
    }
    weights = {name: sim["grammar_weight"] for name, sim in configs.items()}
    assert weights == {
        "grammar_only": 1.0,
        "eqtl_only": 0.0,
        "mixed": 0.5,
        "methylation": 1.0,
        "external": 0.5,  # scenario mixed, tested on a second population too
    }
    assert {n for n, sim in configs.items() if sim.get("external_individuals")} == {"external"}
    modality = {name: sim.get("modality", "expression") for name, sim in configs.items()}
    assert {name for name, m in modality.items() if m != "expression"} == {"methylation"}


def test_methylation_modality_same_cohort_unstranded_betas(root):
    """Issue 19: the short-range modality beside expression, on the same draws.

    Same FASTA and VCF as the expression cohort of the seed; every locus on the forward strand,
    its grammar rescored forward from the files; the BED holds CpG-like rows with strand '.'
    and beta values whose M-value is y_obs - 3.
    """
    expr = SimulationConfig(n_individuals=30, n_genes=6, causal_radius_bp=100, seed=1)
    meth = expr.replace(modality="methylation")
    pe, pm = _simulate(expr, root), _simulate(meth, root)
    assert read_fasta(pe["reference"], expr.contig) == read_fasta(pm["reference"], meth.contig)
    gz = [subprocess.run(["gzip", "-dc", str(p["genotypes"])], capture_output=True, check=True)
          for p in (pe, pm)]  # fmt: skip
    body = [b"\n".join(line for line in g.stdout.split(b"\n") if not line.startswith(b"##"))
            for g in gz]  # fmt: skip
    assert body[0] == body[1]
    genes = pd.read_csv(pm["genes"], sep="\t")
    assert (genes["strand"] == "+").all()
    minus = np.flatnonzero(pd.read_csv(pe["genes"], sep="\t")["strand"] == "-")
    assert minus.size  # expression: both strands; rescored below: a minus-strand locus
    bed = pd.read_csv(pm["expression"], sep="\t")
    assert (bed["strand"] == ".").all() and (bed["start"] == genes["tss"] - 1).all()
    assert (bed["end"] - bed["start"] == 2).all()
    beta = bed.set_index("gene").iloc[:, 5:]
    assert ((beta > 0) & (beta < 1)).all().all()
    truth = pd.read_parquet(pm["truth"]).pivot(index="gene", columns="individual", values="y_obs")
    m = np.log2(beta / (1 - beta))
    np.testing.assert_allclose(m.loc[truth.index, truth.columns], truth - 3.0, atol=1e-3)
    # the grammar is read on the forward strand: rescore the haplotypes of a locus that is on
    # the minus strand in the expression cohort
    rule = read_rule(pm)
    seq = read_fasta(pm["reference"], meth.contig)
    hap_truth = pd.read_parquet(pm["truth"])
    scales = json.loads(pm["config"].read_text())["scales"]
    r = meth.causal_radius_bp
    tss = int(genes["tss"].iloc[minus[0]])
    lo = tss - 1 - r
    records = read_vcf(pm["genotypes"], f"{meth.contig}:{lo + 1}-{lo + 2 * r}")
    got = []
    for i in range(meth.n_individuals):
        for h in range(2):
            s = list(seq[lo : lo + 2 * r])
            for v in records:
                if v["gt"][i, h]:
                    s[v["pos"] - 1 - lo] = v["alt"][0]
            main, pair = grammar_parts("".join(s), lo, tss - 1, False, rule)
            got.append(scales["grammar_linear"] * main + scales["grammar_interaction"] * pair)
    first = hap_truth[hap_truth["gene"] == genes["gene_id"].iloc[minus[0]]]
    want = first[["genetic_hap1", "genetic_hap2"]].to_numpy().reshape(-1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
