"""The simulated external cohort (a second population): ps2f.simulate with external_individuals."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from ps2f.errors import ConfigError
from ps2f.simulate import EXTERNAL_OUTPUT_FILES, OUTPUT_FILES, SimulationConfig, simulate_cohort

# --------------------------------------------------------------------------------------------
# off: every file byte-identical to the simulator without an external cohort

#: Small configs (grammar only; and half eQTL, interactions, methylation) and the sha256 of
#: each of their files, pinned on the simulator before the external cohort existed.
GOLDEN = {
    "grammar": (
        SimulationConfig(n_individuals=30, n_genes=4, spacing_bp=4000, seed=3),
        {
            "reference": "060553bfd77628461e1ba9a844b10b08fafe2c0e1bb10e6f6cda83272085df71",
            "reference_index": "9dd031ff0d5c390da9be8a701a75ba46d3bd5b5c2163c4c6d66392a8efc44e27",
            "genotypes": "d20d858139da0b894c85a8937450ba2a713d3ca1c872f8f2abfbeeb9365a0912",
            "genotypes_index": "3f94999f2f94cad9aa159c2f9e7b406b5100332aa45b778e4cf1593e51cdc5ff",
            "genes": "56137ed6416e7ee0f5f526238788f7bbd042f46caa78e64fa01455a10a5f91f7",
            "expression": "53e76a6384c775d4372e693ff9e08fd2c9f26c7f34f02e295b59c851faff658b",
            "expression_index": "7c82da36433b63b7748eec3a0c4cd7fe7a8315c789c05255dede1a9e2423373d",
            "covariates": "07d39b48df94ab20ed189d6580721f3630a1e505415dcbbce770edae896359a1",
            "truth": "98563104490dc94a712e22f41e8896c56b42a269ed2deb7892f297fd3b041588",
            "truth_variants": "69243faf7d371ee3c46ed55fed8d6468f7ccc82c3373e58e7cf65d09567ae1c4",
            "truth_genes": "81e330b0a659f48d75ee32b4594969002f4c50684eb11ca6917a56644b713c3a",
            "grammar": "2bfb6124eb204f6b83b40b3955c2a706230adfb59184087290434093bd57b7ca",
            "config": "0ec7aca7e2b369badb8ef7939d64652c03de3ffa75f3c4d5a58acbc7e9e6cc1d",
        },
    ),
    "mixed": (
        SimulationConfig(
            n_individuals=30,
            n_genes=4,
            spacing_bp=4000,
            seed=4,
            grammar_weight=0.5,
            nonlinearity="interaction",
            modality="methylation",
        ),  # fmt: skip
        {
            "reference": "dfde2a5a7008605089dfb70602ee28f87a55a0436c30c6a202cc749d4e44cb5e",
            "reference_index": "9dd031ff0d5c390da9be8a701a75ba46d3bd5b5c2163c4c6d66392a8efc44e27",
            "genotypes": "efb4f7df1bfb366d5c171ee82e4ae380ad2fb582de3b159cd120290fae67ea42",
            "genotypes_index": "d215616330a94c881e50f533160985894f8f605f14fb218fb779150def67142f",
            "genes": "c9b5c8a6bd2c09f8f21874763a1166ae47b9f65a609d7a4831b42f3f39513b01",
            "expression": "71cc892b6468b99e700c592ed5d18781f766aa249f15fb963936b6d529fe6df9",
            "expression_index": "6fd0cfadd46bafc5d9034264c76443cbb894156cdbccbfab180a19167dd1528d",
            "covariates": "97f2d824dc22d0d38978b1528d5d5da4d962387dcde9e0fbee8f76e21c0e0e2e",
            "truth": "e4d4acc823f597f4ab87a33a6e603e125d88c9fe21a750352c747192e2f8ae24",
            "truth_variants": "0aae650665c74cf6d4041e66261842bb39fdb6e38b23c7d8e7c9d3161de8672b",
            "truth_genes": "6e763c420b9f3059257f54c6a741d7512735d99e55b611a0b9f8b863e2c522d1",
            "grammar": "2a4ef427ff9a48ac99522ac781859efd08fd1d3210e61a48775d16b3cec4a56e",
            "config": "8d5d3d3b0ec323b967216938207ab5b9df76e5d029ef6414ffe941fbd52feed5",
        },
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_off_every_file_is_byte_identical_to_the_simulator_without_it(name, tmp_path):
    config, hashes = GOLDEN[name]
    paths = simulate_cohort(config, tmp_path)
    assert set(paths) == set(OUTPUT_FILES)
    assert {key: _sha256(paths[key]) for key in OUTPUT_FILES} == hashes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FILES.values())


# --------------------------------------------------------------------------------------------
# on: cohort B

#: Cohort B on, with every perturbation frequent enough to occur at this size (mixed
#: mechanism: grammar and eQTLs), and the same cohort with its VCF unperturbed (the
#: perturbations have a stream of their own: the same genotypes and expression).
ON = SimulationConfig(
    n_individuals=50,
    n_genes=8,
    spacing_bp=8000,
    seed=5,
    grammar_weight=0.5,
    external_individuals=40,
    external_missing_fraction=0.1,
    external_swapped_fraction=0.3,
    external_flipped_fraction=0.2,
)
TRUE = ON.replace(
    external_missing_fraction=0.0, external_swapped_fraction=0.0, external_flipped_fraction=0.0
)
EXT_SAMPLES = [f"EXT{i:04d}" for i in range(1, ON.external_individuals + 1)]


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("external")
    return simulate_cohort(ON, root / "on"), simulate_cohort(TRUE, root / "true")


def _records(path: Path) -> list[list[str]]:
    """The VCF's body lines, split on tabs."""
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def _header(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n") for line in fh if line.startswith("#")]


def test_on_files_are_written_under_external(cohorts):
    on, _ = cohorts
    outdir = on["genotypes"].parent
    assert set(on) == set(OUTPUT_FILES) | set(EXTERNAL_OUTPUT_FILES)
    for key, name in (OUTPUT_FILES | EXTERNAL_OUTPUT_FILES).items():
        assert on[key] == outdir / name and on[key].stat().st_size > 0
    assert sorted(p.name for p in (outdir / "external").iterdir()) == sorted(
        Path(name).name for name in EXTERNAL_OUTPUT_FILES.values()
    )
    assert not [p for p in outdir.iterdir() if p.name.startswith(".simulate-")]
    record = json.loads(on["config"].read_text())
    assert record["config"]["external_individuals"] == ON.external_individuals
    ext = record["external"]
    assert ext["individuals"] == ON.external_individuals and ext["population_size"] == 1e4
    assert ext["n_variants"] == len(_records(on["external_genotypes"]))
    harmonization = pd.read_parquet(on["external_harmonization"])
    assert ext["perturbations"] == {
        kind: int((harmonization["perturbation"] == kind).sum())
        for kind in ("missing", "swapped", "swapped_ambiguous", "flipped")
    }
    assert all(n > 0 for n in ext["perturbations"].values()), ext["perturbations"]


def test_b_vcf_is_a_valid_sorted_vcf_of_ext_samples(cohorts):
    on, true = cohorts
    a_header = _header(on["genotypes"])
    b_header = _header(on["external_genotypes"])
    assert b_header[:-1] == a_header[:-1]  # the same meta lines
    assert b_header[-1].split("\t")[9:] == EXT_SAMPLES
    with pysam.VariantFile(str(on["external_genotypes"])) as vcf:  # htslib parses every record
        assert list(vcf.header.samples) == EXT_SAMPLES
        records = list(vcf.fetch(ON.contig, 0, ON.contig_length))  # through the .tbi
    pos = [r.pos for r in records]
    assert pos == sorted(pos) and len(set(pos)) == len(pos)
    assert all(r.info["AC"][0] == sum(sum(s["GT"]) for s in r.samples.values()) for r in records)
    # A's records are those A carries, B's those B carries: some sites are in one cohort only,
    # and a site in both has the same ID (the true alleles) in both
    a = {r[1]: r for r in _records(on["genotypes"])}
    b = {r[1]: r for r in _records(true["external_genotypes"])}
    assert set(a) - set(b) and set(b) - set(a) and set(a) & set(b)
    for rec in b.values():
        assert rec[2] == f"{ON.contig}_{rec[1]}_{rec[3]}_{rec[4]}"
        if rec[1] in a:
            assert a[rec[1]][2:5] == rec[2:5]
    if shutil.which("bcftools"):
        view = subprocess.run(
            ["bcftools", "view", "-H", str(on["external_genotypes"])],
            capture_output=True,
            text=True,
        )
        assert view.returncode == 0 and "[E::" not in view.stderr
        assert len(view.stdout.splitlines()) == len(records)


def test_perturbations_leave_genotypes_and_expression_alone(cohorts):
    on, true = cohorts
    for key in set(OUTPUT_FILES) - {"config"}:
        assert _sha256(on[key]) == _sha256(true[key]), key
    for key in ("external_expression", "external_covariates", "external_truth",
                "external_truth_genes"):  # fmt: skip
        assert _sha256(on[key]) == _sha256(true[key]), key
    assert len(pd.read_parquet(true["external_harmonization"])) == 0


def test_undoing_the_perturbations_gives_b_true_vcf(cohorts):
    """Oracle 1: the written records, each perturbation undone by hand, are the true ones."""
    on, true = cohorts
    want = {r[1]: r for r in _records(true["external_genotypes"])}
    got = {r[1]: r for r in _records(on["external_genotypes"])}
    table = pd.read_parquet(on["external_harmonization"])
    assert table["pos"].is_monotonic_increasing and (table["chrom"] == ON.contig).all()
    complement = str.maketrans("ACGT", "TGCA")
    invert = str.maketrans("01", "10")
    for row in table.itertuples():
        key = str(row.pos)
        assert [want[key][3], want[key][4]] == [row.ref, row.alt]
        if row.perturbation == "missing":
            assert key not in got and pd.isna(row.written_ref) and pd.isna(row.written_alt)
            continue
        rec = got.pop(key)
        assert [rec[3], rec[4]] == [row.written_ref, row.written_alt]
        assert rec[2] == want[key][2]  # the ID of the true alleles
        palindromic = {row.ref, row.alt} in ({"A", "T"}, {"C", "G"})
        if row.perturbation in ("swapped", "swapped_ambiguous"):
            assert row.perturbation == ("swapped_ambiguous" if palindromic else "swapped")
            assert [row.written_ref, row.written_alt] == [row.alt, row.ref]
            assert [g.translate(invert) for g in rec[9:]] == want[key][9:]
            assert int(rec[7].split(";")[0][3:]) == 2 * len(EXT_SAMPLES) - int(
                want[key][7].split(";")[0][3:]
            )
        else:
            assert row.perturbation == "flipped" and not palindromic
            assert row.written_ref == row.ref.translate(complement)
            assert row.written_alt == row.alt.translate(complement)
            assert rec[9:] == want[key][9:]
    # every other record is written as it is
    assert all(rec == want[key] for key, rec in got.items())
    assert set(want) - set(got) == set(table["pos"].astype(str))


def _by_key(store, samples: slice) -> dict[tuple[int, str, str], np.ndarray]:
    """Each variant's haplotypes, shape (n_samples, 2), of the samples selected."""
    hap = store.haplotypes(slice(None))
    return {
        (int(store.pos[i]), store.allele(i, "ref"), store.allele(i)): hap[i][samples]
        for i in range(store.n_variants)
    }


def test_the_pipelines_harmonizer_recovers_b_true_genotypes(cohorts):
    """Oracle 2: ps2f.io.harmonize reads B's VCF back into B's true alleles, counting each fix."""
    from ps2f.io.fasta import Reference
    from ps2f.io.harmonize import Harmonizer, merge_cohorts
    from ps2f.io.vcf import ingest_vcf

    on, true = cohorts
    fasta = Reference(on["reference"])
    windows = [(0, ON.contig_length)]
    a = ingest_vcf(on["genotypes"], fasta, ON.contig, windows)
    b = ingest_vcf(
        on["external_genotypes"], fasta, ON.contig, windows, harmonizer=Harmonizer.from_store(a)
    )
    table = pd.read_parquet(on["external_harmonization"])
    n = table["perturbation"].value_counts()
    assert b.stats.get("harmonized_swapped_ref_alt", 0) == n["swapped"]
    assert b.stats.get("harmonized_strand_flipped", 0) == n["flipped"]
    assert b.stats.get("harmonized_strand_flipped_and_swapped", 0) == 0
    assert b.stats.get("dropped_strand_ambiguous", 0) == n["swapped_ambiguous"]
    merged = merge_cohorts(a, b)
    n_a = ON.n_individuals
    got_b = _by_key(merged, slice(n_a, None))
    got_a = _by_key(merged, slice(0, n_a))
    want_b = _by_key(ingest_vcf(true["external_genotypes"], fasta, ON.contig, windows), slice(None))
    want_a = _by_key(a, slice(None))
    unread = {
        (int(r.pos) - 1, r.ref, r.alt)
        for r in table.itertuples()
        if r.perturbation in ("missing", "swapped_ambiguous")
    }
    assert unread and unread <= set(want_b)
    for key, hap in want_b.items():
        if key in unread:  # not in B's file, or dropped: B's individuals read REF
            assert key not in got_b or not got_b[key].any(), key
        else:
            np.testing.assert_array_equal(got_b[key], hap, err_msg=str(key))
    for key, hap in got_b.items():
        if key not in want_b:  # A's sites B does not carry
            assert not hap.any()
    for key, hap in want_a.items():
        np.testing.assert_array_equal(got_a[key], hap)
    assert merged.stats["external_sites_only"] == len(set(want_b) - set(want_a) - unread)


def _haplotypes(records: list[list[str]]) -> dict[int, np.ndarray]:
    """POS -> ALT carried by each haplotype (2i, 2i + 1: sample i), from VCF body lines."""
    return {
        int(r[1]): np.array([int(a) for gt in r[9:] for a in gt.split("|")], dtype=np.uint8)
        for r in records
    }


def test_b_expression_follows_a_architecture(cohorts):
    """B's BED rows are A's genes; B's genetic values, recomputed from B's true VCF with A's
    grammar, scales, eQTL effects and A's centring, are B's truth; its noise levels are A's."""
    from test_simulate import BED_FIXED, grammar_parts, read_fasta, read_rule

    on, true = cohorts
    bed_a = pd.read_csv(on["expression"], sep="\t")
    bed_b = pd.read_csv(on["external_expression"], sep="\t")
    assert list(bed_b.columns) == BED_FIXED + EXT_SAMPLES
    pd.testing.assert_frame_equal(bed_b[BED_FIXED], bed_a[BED_FIXED])
    truth_a, truth_b = pd.read_parquet(on["truth"]), pd.read_parquet(on["external_truth"])
    assert list(truth_b.columns) == list(truth_a.columns)
    assert list(truth_b["individual"].unique()) == EXT_SAMPLES
    wide = {
        name: {
            col: t.pivot(index="gene", columns="individual", values=col).loc[bed_a["gene"]]
            for col in ("y_true", "y_obs", "covariate_effect")
        }
        for name, t in (("a", truth_a), ("b", truth_b))
    }
    np.testing.assert_allclose(
        np.log1p(bed_b[EXT_SAMPLES].to_numpy()),
        wide["b"]["y_obs"][EXT_SAMPLES].to_numpy(),
        atol=1e-5,
    )
    # genetic values from the files: grammar rescored, eQTL part fitted on A, applied to B
    rule = read_rule(on)
    seq = read_fasta(on["reference"], ON.contig)
    genes = pd.read_csv(on["genes"], sep="\t")
    scales = json.loads(on["config"].read_text())["scales"]
    eqtl = pd.read_parquet(on["truth_variants"]).query("role == 'eqtl'")
    records = {"a": _records(on["genotypes"]), "b": _records(true["external_genotypes"])}
    haps = {c: _haplotypes(rec) for c, rec in records.items()}
    alts = {int(r[1]): r[4] for rec in records.values() for r in rec}
    n_hap = {"a": 2 * ON.n_individuals, "b": 2 * ON.external_individuals}
    truths = {"a": truth_a, "b": truth_b}
    r = ON.causal_radius_bp
    shifted = []
    for gene, tss, strand in zip(genes["gene_id"], genes["tss"], genes["strand"], strict=True):
        lo = tss - 1 - r
        eqtl_pos = eqtl.loc[eqtl["gene"] == gene, "pos"].tolist()
        residual, dosage = {}, {}
        for c in ("a", "b"):
            region = [p for p in haps[c] if lo < p <= lo + 2 * r]
            grammar = []
            for h in range(n_hap[c]):
                s = list(seq[lo : lo + 2 * r])
                for p in region:
                    if haps[c][p][h]:
                        s[p - 1 - lo] = alts[p]
                main, pair = grammar_parts("".join(s), lo, tss - 1, strand == "-", rule)
                grammar.append(
                    scales["grammar_linear"] * main + scales["grammar_interaction"] * pair
                )
            rows = truths[c][truths[c]["gene"] == gene]
            got = rows[["genetic_hap1", "genetic_hap2"]].to_numpy().reshape(-1)
            residual[c] = got - np.array(grammar)
            dosage[c] = np.c_[
                np.ones(n_hap[c]),
                np.array([haps[c].get(p, np.zeros(n_hap[c], np.uint8)) for p in eqtl_pos]).T,
            ].reshape(n_hap[c], -1)
        coef, *_ = np.linalg.lstsq(dosage["a"], residual["a"], rcond=None)
        np.testing.assert_allclose(dosage["a"] @ coef, residual["a"], atol=1e-9)
        np.testing.assert_allclose(dosage["b"] @ coef, residual["b"], atol=1e-9)
        shifted.append(abs(residual["b"].mean()))
    assert max(shifted) > 1e-3  # A's centring: B's eQTL part is not centred on B's mean
    # y_true = the gene's baseline (A's) + the mean of the two haplotypes
    base = {
        c: (t["y_true"] - t[["genetic_hap1", "genetic_hap2"]].mean(axis=1)).groupby(t["gene"])
        for c, t in truths.items()
    }
    assert (base["b"].max() - base["b"].min() < 1e-9).all()
    np.testing.assert_allclose(base["b"].first(), base["a"].first(), atol=1e-12)
    # per gene the hidden factors' effect has A's spread and the noise A's level; B's own h2
    sd = {c: wide[c]["covariate_effect"].std(axis=1, ddof=0) for c in ("a", "b")}
    np.testing.assert_allclose(sd["b"], sd["a"], rtol=1e-9)
    noise = {
        c: (wide[c]["y_obs"] - wide[c]["y_true"] - wide[c]["covariate_effect"]).var(axis=1)
        for c in ("a", "b")
    }
    assert 0.6 < np.median(noise["b"] / noise["a"]) < 1.6
    tg = pd.read_parquet(on["external_truth_genes"]).set_index("gene").loc[bed_a["gene"]]
    assert list(tg.reset_index().columns) == list(pd.read_parquet(on["truth_genes"]).columns)
    y_true, y_obs = wide["b"]["y_true"].to_numpy(), wide["b"]["y_obs"].to_numpy()
    r2 = [
        np.corrcoef(x, y)[0, 1] ** 2 if x.std() > 0 else 0.0
        for x, y in zip(y_true, y_obs, strict=True)
    ]
    np.testing.assert_allclose(tg["h2_realised"], r2, atol=1e-9)
    record = json.loads(on["config"].read_text())["external"]
    assert record["h2_realised_median"] == pytest.approx(np.median(r2))


# --------------------------------------------------------------------------------------------
# the two populations: F_ST


def test_fst_of_the_split_is_near_the_coalescent_expectation():
    """Hudson's F_ST of two samples of 50 over 4 Mb: near t / (t + 2 Ne), growing with t."""
    from ps2f.simulate.external import hudson_fst_terms, split_fst_expectation
    from ps2f.simulate.variants import simulate_split_ancestry

    def fst(t: float, ne_b: float = 1e4) -> float:
        ts = simulate_split_ancestry(50, 50, 4_000_000, 1e4, ne_b, t, 1.25e-8, 1e-8, (7, 8))
        populations = [ts.node(u).population for u in ts.samples()]
        assert populations == [0] * 100 + [1] * 100  # A's haplotypes first, then B's
        g = ts.genotype_matrix()
        num, den = hudson_fst_terms(g[:, :100], g[:, 100:])
        return num.sum() / den.sum()

    assert split_fst_expectation(2000, 1e4, 1e4) == pytest.approx(2000 / 22000)
    assert split_fst_expectation(8000, 1e4, 1e4) == pytest.approx(8000 / 28000)
    # a smaller B population drifts faster: a larger F_ST
    assert split_fst_expectation(2000, 1e4, 5e3) > split_fst_expectation(2000, 1e4, 1e4)
    near, far, small = fst(2000), fst(8000), fst(2000, 5e3)
    assert near > 0.02
    assert near == pytest.approx(2000 / 22000, rel=0.4)
    assert far == pytest.approx(8000 / 28000, rel=0.3)
    assert far > near + 0.1
    assert small == pytest.approx(split_fst_expectation(2000, 1e4, 5e3), rel=0.4)


def test_recorded_fst_is_hudsons_over_both_cohorts_sites(cohorts):
    """simulation.json's F_ST, recomputed from A's VCF and B's true VCF (a site absent from a
    cohort's file is one it does not carry)."""
    from ps2f.simulate.external import hudson_fst_terms

    on, true = cohorts
    a = _haplotypes(_records(on["genotypes"]))
    b = _haplotypes(_records(true["external_genotypes"]))
    sites = sorted(set(a) | set(b))
    n_a, n_b = 2 * ON.n_individuals, 2 * ON.external_individuals
    hap_a = np.array([a.get(p, np.zeros(n_a, np.uint8)) for p in sites])
    hap_b = np.array([b.get(p, np.zeros(n_b, np.uint8)) for p in sites])
    num, den = hudson_fst_terms(hap_a, hap_b)
    record = json.loads(on["config"].read_text())["external"]
    assert record["fst_sites"] == len(sites)
    assert record["fst_hudson"] == pytest.approx(num.sum() / den.sum(), rel=1e-9)
    assert record["fst_expected"] == pytest.approx(2000 / 22000)
    assert json.loads(true["config"].read_text())["external"]["fst_hudson"] == record["fst_hudson"]


# --------------------------------------------------------------------------------------------
# settings, determinism, the other mechanisms


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"external_missing_fraction": -0.1}, "external_missing_fraction must be in"),
        ({"external_swapped_fraction": 1.5}, "external_swapped_fraction must be in"),
        ({"external_flipped_fraction": -0.01}, "external_flipped_fraction must be in"),
        ({"external_flipped_fraction": 2.0}, "external_flipped_fraction must be in"),
        ({"external_population_size": 0.0}, "external_population_size must be > 0"),
        ({"external_population_size": -5e3}, "external_population_size must be > 0"),
        ({"external_split_generations": 0.0}, "external_split_generations must be > 0"),
        ({"external_individuals": -1}, "external_individuals must be >= 0"),
        ({"external_individuals": 3}, r"n_genotype_pcs \(3\) must be < external_individuals"),
    ],
)
def test_invalid_external_settings_raise(changes, message):
    with pytest.raises(ConfigError, match=message):
        SimulationConfig(**changes)


def test_external_settings_defaults():
    config = SimulationConfig()
    assert config.external_individuals == 0 and config.external_split_generations == 2000.0
    assert config.external_population_size is None and config.external_ne == 1e4
    assert SimulationConfig(external_population_size=5e3).external_ne == 5e3
    assert (
        config.external_missing_fraction,
        config.external_swapped_fraction,
        config.external_flipped_fraction,
    ) == (0.05, 0.05, 0.02)


#: Methylation with the threshold nonlinearity: B's BED is a beta-value BED, and B's genetic
#: values use A's threshold (A's median) rather than B's own.
METHYLATION = SimulationConfig(
    n_individuals=30,
    n_genes=4,
    spacing_bp=4000,
    causal_radius_bp=100,
    seed=6,
    modality="methylation",
    nonlinearity="threshold",
    external_individuals=25,
)


def test_same_seed_same_external_bytes_methylation_and_threshold(tmp_path):
    first = simulate_cohort(METHYLATION, tmp_path / "a")
    second = simulate_cohort(METHYLATION, tmp_path / "b")
    for key in OUTPUT_FILES | EXTERNAL_OUTPUT_FILES:
        assert _sha256(first[key]) == _sha256(second[key]), key
    other = simulate_cohort(METHYLATION.replace(seed=7), tmp_path / "c")
    for key in ("external_genotypes", "external_expression", "external_truth"):
        assert _sha256(first[key]) != _sha256(other[key]), key
    bed = pd.read_csv(first["external_expression"], sep="\t")
    assert (bed["strand"] == ".").all() and (bed["end"] - bed["start"] == 2).all()
    beta = bed.iloc[:, 6:].to_numpy()
    assert ((beta > 0) & (beta < 1)).all()
    truth = {c: pd.read_parquet(first[k]) for c, k in (("a", "truth"), ("b", "external_truth"))}
    # y_true = a_g + max(mean of the haplotypes, floor): a_g is the smallest y_true - mean
    mean_hap = {c: t[["genetic_hap1", "genetic_hap2"]].mean(axis=1) for c, t in truth.items()}
    baseline = (truth["a"]["y_true"] - mean_hap["a"]).groupby(truth["a"]["gene"]).min()
    genetic = {
        c: (t["y_true"] - t["gene"].map(baseline)).groupby(t["gene"]) for c, t in truth.items()
    }
    # A's values below A's median were raised to it (half of them at least sit on that floor,
    # A's minimum); B's values are floored at A's median, not at B's own
    floor = genetic["a"].min()
    a = truth["a"]["y_true"] - truth["a"]["gene"].map(baseline)
    assert (
        (a - truth["a"]["gene"].map(floor) < 1e-9).groupby(truth["a"]["gene"]).mean() >= 0.5
    ).all()
    assert (genetic["b"].min() >= floor - 1e-9).all()
    b = truth["b"]["y_true"] - truth["b"]["gene"].map(baseline)
    assert (b - truth["b"]["gene"].map(floor) < 1e-9).any()  # some of B raised to A's floor
    assert (genetic["b"].median() - genetic["b"].min() > 1e-6).any()  # not to B's median


def test_the_many_contig_simulator_refuses_an_external_cohort():
    from ps2f.simulate.scale import ScaleConfig

    with pytest.raises(ConfigError, match="external_individuals is not supported at scale"):
        ScaleConfig(mechanism=SimulationConfig(external_individuals=10))
