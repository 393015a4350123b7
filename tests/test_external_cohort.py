"""An external test cohort (config ``external_cohort``): trained on one cohort, tested on another.

The cohorts come from the simulator's two-population demography (``simulate.external_individuals``:
cohort B split from cohort A's population, other allele frequencies and LD, its VCF perturbed as
another cohort's would be: sites missing, REF/ALT swapped, strand flipped). Each is read here as
real data would be (its own VCF, BED and covariates):

* the external individuals are never fitted on: cohort A's phenotypes, variant store and every
  baseline prediction are identical with and without cohort B, and scrambling B's expression
  moves nothing; B's individuals get predictions, cells ``*|external_individuals`` and
  landing-page columns of their own;
* its genotypes are harmonized to A's alleles: the genotypes rule's counts equal the simulator's
  record of what it perturbed (swaps, flips, strand-ambiguous drops, missing sites) inside the
  store's windows, and B's stored haplotypes are its true alleles there;
* bad external cohorts fail with a message naming the file: a sample in both cohorts, no
  phenotype shared, another genome build, no variant shared.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import genotypes_params, phenotypes_params, write_vcf
from test_train_pipeline import make_config

from ps2f.errors import InputError
from ps2f.genome.store import VariantStore
from ps2f.pipeline import run_genotypes, run_phenotypes
from ps2f.pipeline.baselines import run_baseline
from ps2f.pipeline.common import read_table, write_table
from ps2f.schema import EXTERNAL, cell_label, validate_predictions
from ps2f.simulate import EXTERNAL_OUTPUT_FILES, SimulationConfig, simulate_cohort

N_A, N_B = 80, 40


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """Cohort A's and cohort B's files, as a user would hold them (no simulator settings)."""
    root = tmp_path_factory.mktemp("external")
    sim = root / "sim"
    simulate_cohort(
        SimulationConfig(
            n_individuals=N_A,
            n_genes=8,
            seed=5,
            external_individuals=N_B,
            external_swapped_fraction=0.1,
            external_flipped_fraction=0.1,
        ),
        sim,
    )
    files = {k: sim / v for k, v in EXTERNAL_OUTPUT_FILES.items()}
    return root, sim, files


def _config():
    return make_config(
        simulate={"n_individuals": N_A, "n_genes": 8},
        expression={"covariates": "x", "n_genotype_pcs": 3, "n_expression_pcs": 3},
        baselines={"cis_window_bp": 1000, "elastic_net": {"n_folds": 5, "n_outer_folds": 3}},
    )


def _prepare(root, sim, files, name, external=True, external_expression=None):
    """Phenotypes and the variant store of one run, with or without cohort B."""
    cfg = _config()
    out = root / name
    out.mkdir()
    tables = [str(out / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    ext = (
        {
            "external_genotypes": str(files["external_genotypes"]),
            "external_expression": str(external_expression or files["external_expression"]),
            "external_covariates": str(files["external_covariates"]),
        }
        if external
        else {}
    )
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        str(sim / "genotypes.vcf.gz"),
        *tables,
        **phenotypes_params(cfg),
        covariates=str(sim / "covariates.txt"),
        **ext,
    )
    store = str(out / "sim1.npz")
    run_genotypes(
        str(sim / "genotypes.vcf.gz"),
        str(sim / "reference.fa"),
        tables[0],
        tables[1],
        "sim1",
        **genotypes_params(cfg),
        out_store=store,
        out_stats=str(out / "sim1.json"),
        external_vcf=ext.get("external_genotypes"),
    )
    return cfg, tables, store


def _baseline(cfg, tables, store, method, out):
    run_baseline(
        method,
        tables[0],
        tables[1],
        tables[2],
        [store],
        cfg["baselines"],
        1,
        str(out / f"{method}.parquet"),
        str(out / f"{method}.summary.tsv"),
    )
    pred = validate_predictions(read_table(out / f"{method}.parquet"))
    return pred.sort_values(["gene", "individual"], ignore_index=True)


@pytest.fixture(scope="module")
def runs(cohorts):
    root, sim, files = cohorts
    with_b = _prepare(root, sim, files, "with_b")
    without_b = _prepare(root, sim, files, "without_b", external=False)
    return with_b, without_b


def test_external_individuals_are_never_fitted(cohorts, runs):
    root, sim, files = cohorts
    (cfg, tables, store), (_, tables0, store0) = runs
    ind = read_table(tables[1])
    ext = ind.loc[ind["individual_set"] == EXTERNAL, "individual"]
    assert len(ext) == N_B and ext.str.startswith("EXT").all()
    # cohort A: the same genes, individuals, split and normalized expression as without B
    a = read_table(tables0[1])
    pd.testing.assert_frame_equal(
        ind[ind["individual_set"] != EXTERNAL].reset_index(drop=True), a, check_dtype=False
    )
    pd.testing.assert_frame_equal(read_table(tables[0]), read_table(tables0[0]))
    expr, expr0 = read_table(tables[2]), read_table(tables0[2])
    pd.testing.assert_frame_equal(
        expr[~expr["individual"].isin(ext)].reset_index(drop=True), expr0, check_dtype=False
    )
    # cohort A's haplotypes in the merged store: those of its own store at its own sites
    merged, alone = VariantStore.load(store), VariantStore.load(store0)
    assert list(merged.samples) == [*alone.samples, *ext]
    keys = {(int(p), merged.allele(i, "ref"), merged.allele(i)): i for i, p in
            enumerate(merged.pos)}  # fmt: skip
    hap, hap0 = merged.haplotypes(slice(None)), alone.haplotypes(slice(None))
    for i in range(alone.n_variants):
        j = keys[(int(alone.pos[i]), alone.allele(i, "ref"), alone.allele(i))]
        np.testing.assert_array_equal(hap[j, : len(alone.samples)], hap0[i])
    # sites only cohort B carries read REF in cohort A
    only_b = sorted(set(range(merged.n_variants)) - {keys[(int(alone.pos[i]), alone.allele(
        i, "ref"), alone.allele(i))] for i in range(alone.n_variants)})  # fmt: skip
    assert not hap[only_b, : len(alone.samples)].any()

    # every baseline: cohort A's predictions exactly as without B; B's scrambled expression
    # changes nothing (a fit that used it would move)
    scrambled = root / "scrambled.parquet"
    rows = expr["individual"].isin(ext).to_numpy()
    moved = expr.copy()
    rng = np.random.default_rng(2)
    moved.loc[rows, "observed"] = rng.permutation(moved.loc[rows, "observed"].to_numpy()) * 3 + 1
    write_table(moved, str(scrambled))
    for method in ("elastic_net", "random_forest"):
        out_b, out_0, out_s = (root / f"{method}_{k}" for k in ("b", "0", "s"))
        for d in (out_b, out_0, out_s):
            d.mkdir()
        pred = _baseline(cfg, tables, store, method, out_b)
        pred0 = _baseline(cfg, tables0, store0, method, out_0)
        mine = pred[~pred["individual"].isin(ext)].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, pred0, check_dtype=False)
        sets = pred.loc[pred["individual"].isin(ext), "individual_set"]
        assert set(sets) == {EXTERNAL} and pred.loc[sets.index, "predicted"].notna().all()
        pred_s = _baseline(cfg, [tables[0], tables[1], str(scrambled)], store, method, out_s)
        np.testing.assert_array_equal(pred_s["predicted"], pred["predicted"])

    # the external cells: metrics, summary and the landing page's columns of their own
    from ps2f.evaluation import per_gene_metrics, summarize
    from ps2f.evaluation.landing import headline_table

    metrics = per_gene_metrics(pred, min_individuals=3)
    own = {cell_label(g, EXTERNAL) for g in ("train", "heldout")}
    assert own <= set(metrics["cell"])
    n = metrics.query("metric == 'n'").groupby("cell")["value"].max()
    assert n.loc[list(own)].max() == N_B
    summary = summarize(metrics, n_boot=0)
    head = headline_table(summary)
    want = summary.query(
        f"statistic == 'median_r' and cell == '{cell_label('train', EXTERNAL)}'"
    )["estimate"].iloc[0]
    assert head["median r, training genes, external cohort"].iloc[0].startswith(f"{want:.2f}")


def test_external_genotypes_are_harmonized(cohorts, runs):
    root, sim, files = cohorts
    (cfg, tables, store), _ = runs
    merged = VariantStore.load(store)
    stats = merged.stats
    perturbed = pd.read_parquet(files["external_harmonization"])
    starts, ends = merged.windows[:, 0], merged.windows[:, 1]
    pos0 = perturbed["pos"].to_numpy() - 1
    inside = perturbed[((pos0[:, None] >= starts) & (pos0[:, None] < ends)).any(axis=1)]
    kinds = inside["perturbation"].value_counts()
    # the simulator perturbed some records of each kind inside the store's windows
    assert kinds.get("swapped", 0) > 0 and kinds.get("flipped", 0) > 0
    assert stats["external_harmonized_swapped_ref_alt"] == kinds.get("swapped", 0)
    assert stats["external_harmonized_strand_flipped"] == kinds.get("flipped", 0)
    assert stats["external_dropped_strand_ambiguous"] == kinds.get("swapped_ambiguous", 0)
    # B's haplotypes are its true alleles, except at the sites it lacks (missing, dropped):
    # the truth is B's VCF with the perturbations undone (the simulator's record)
    lost = {(int(p) - 1, r, a) for p, r, a, k in inside[["pos", "ref", "alt", "perturbation"]]
            .itertuples(index=False) if k in ("missing", "swapped_ambiguous")}  # fmt: skip
    truth = _true_external_genotypes(files)
    hap = merged.haplotypes(slice(None))
    n_a = N_A
    checked = 0
    for i in range(merged.n_variants):
        key = (int(merged.pos[i]), merged.allele(i, "ref"), merged.allele(i))
        if key in lost:
            assert not hap[i, n_a:].any()
        elif key in truth:
            np.testing.assert_array_equal(hap[i, n_a:], truth[key])
            checked += 1
        else:  # not polymorphic in B: its individuals carry REF
            assert not hap[i, n_a:].any()
    assert checked > 0.5 * merged.n_variants


def _true_external_genotypes(files) -> dict[tuple[int, str, str], np.ndarray]:
    """B's VCF records in the FASTA's orientation (perturbations undone): (pos0, ref, alt) ->
    haplotypes (n_individuals, 2) uint8."""
    record = pd.read_parquet(files["external_harmonization"]).dropna(subset=["written_ref"])
    undo = {(int(p), wr, wa): (r, a, k) for p, r, a, wr, wa, k in record[
        ["pos", "ref", "alt", "written_ref", "written_alt", "perturbation"]
    ].itertuples(index=False)}  # fmt: skip
    out = {}
    with gzip.open(files["external_genotypes"], "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            pos, ref, alt = int(f[1]), f[3], f[4]
            gt = np.array([[int(x) for x in g.split("|")] for g in f[9:]], dtype=np.uint8)
            ref, alt, kind = undo.get((pos, ref, alt), (ref, alt, "same"))
            if kind in ("swapped", "swapped_ambiguous"):
                gt = 1 - gt
            out[(pos - 1, ref, alt)] = gt
    return out


def test_bad_external_cohorts_fail_with_the_file_named(cohorts, tmp_path):
    root, sim, files = cohorts
    cfg = _config()
    tables = [str(tmp_path / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]

    def phenotypes(**ext):
        run_phenotypes(
            str(sim / "expression.bed.gz"),
            str(sim / "genes.tsv"),
            str(sim / "genotypes.vcf.gz"),
            *tables,
            **phenotypes_params(cfg),
            covariates=str(sim / "covariates.txt"),
            **ext,
        )

    # a sample in both cohorts: the external BED names one of cohort A's individuals
    bed = pd.read_csv(files["external_expression"], sep="\t")
    a_sample = pd.read_csv(sim / "expression.bed.gz", sep="\t", nrows=0).columns[6]
    clash = tmp_path / "clash.bed"
    bed.rename(columns={bed.columns[6]: a_sample}).to_csv(clash, sep="\t", index=False)
    with pytest.raises(InputError, match=rf"{a_sample}"):
        phenotypes(
            external_genotypes=str(files["external_genotypes"]),
            external_expression=str(clash),
        )
    # no gene of the run in the external BED
    other = tmp_path / "other_genes.bed"
    bed.assign(gene=["OTHER" + str(i) for i in range(len(bed))]).to_csv(
        other, sep="\t", index=False
    )
    with pytest.raises(InputError, match="other_genes.bed"):
        phenotypes(
            external_genotypes=str(files["external_genotypes"]),
            external_expression=str(other),
        )
    assert not any(shutil.os.path.exists(t) for t in tables)  # nothing half-written

    def genotypes(external_vcf):
        run_genotypes(
            str(sim / "genotypes.vcf.gz"),
            str(sim / "reference.fa"),
            tables[0],
            tables[1],
            "sim1",
            **genotypes_params(cfg),
            out_store=str(tmp_path / "s.npz"),
            out_stats=str(tmp_path / "s.json"),
            external_vcf=str(external_vcf),
        )

    # another genome build: B's records all disagree with the FASTA (every REF/ALT swapped)
    phenotypes(
        external_genotypes=str(files["external_genotypes"]),
        external_expression=str(files["external_expression"]),
    )
    swapped = tmp_path / "swapped.vcf.gz"
    with gzip.open(files["external_genotypes"], "rt") as fh:
        lines = fh.read().splitlines()
    samples = [c for c in lines[[i for i, x in enumerate(lines) if x.startswith("#CHROM")][0]]
               .split("\t")[9:]]  # fmt: skip
    records = []
    for line in lines:
        if line.startswith("#"):
            continue
        f = line.split("\t")
        inv = ["|".join(str(1 - int(a)) for a in g.split("|")) for g in f[9:]]
        records.append("\t".join([f[1], f[2], f[4], f[3], *inv]))
    length = int(
        next(x for x in lines if x.startswith("##contig")).split("length=")[1].rstrip(">")
    )
    write_vcf(swapped, "sim1", length, samples, records)
    with pytest.raises(InputError, match="swapped.vcf.gz"):
        genotypes(swapped)
    assert not (tmp_path / "s.npz").exists()

    # no site in common: B's file keeps only the records at positions cohort A does not carry
    with gzip.open(sim / "genotypes.vcf.gz", "rt") as fh:
        a_positions = {line.split("\t")[1] for line in fh if not line.startswith("#")}
    disjoint = tmp_path / "disjoint.vcf.gz"
    kept = []
    for line in lines:
        f = line.split("\t")
        if not line.startswith("#") and f[1] not in a_positions:
            kept.append("\t".join([f[1], f[2], f[3], f[4], *f[9:]]))
    assert kept
    write_vcf(disjoint, "sim1", length, samples, kept)
    with pytest.raises(InputError, match="disjoint.vcf.gz sim1: the external cohort shares none"):
        genotypes(disjoint)
    assert not (tmp_path / "s.npz").exists()
