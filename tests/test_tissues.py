"""Many tissues in one run (config ``tissues:``; issue 16 item 2).

Unit tests of the config check, the union tables of the shared variant stores and the
cross-tissue table; then the workflow end to end on a two-tissue cohort of the scale simulator
(``ps2f.simulate.scale``: tissues with different donors and expressed genes, two contigs),
fed through ``inputs:`` like real data: once with both tissues in chunks of 2 genes (2+ chunks
per contig), and once per tissue as today's one-phenotype run on that tissue's BED alone, in one
chunk. Every gathered table of a tissue must equal its one-tissue, one-chunk run's exactly: the
shared stores cover more individuals and genes, and every job selects its own by ID.

The external scorer gives tissue B its own tracks (``tissue_tracks: {B: [1]}``; A reads the
scorer's ``tracks: [0, 2]``): B's one-tissue run reads ``tracks: [1]``, so B's tables equal a
scorer of that set alone, A's the default set's, both read from one forward pass per chunk.
"""

from __future__ import annotations

import copy
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from ps2f.errors import ConfigError, InputError
from ps2f.evaluation.tissues import CROSS_TISSUE_COLUMNS, cross_tissue_table
from ps2f.io.predictdb import read_covariances, read_predictdb_tables
from ps2f.pipeline.common import read_table, write_table
from ps2f.pipeline.tissues import check_tissues, run_cross_tissue, run_store_tables
from ps2f.schema import cell_label

# ------------------------------------------------------------------------------------------
# the config

EXPRESSION = {"covariates": "cov.txt", "normalization": "log1p", "n_genotype_pcs": 3,
              "n_expression_pcs": 10}  # fmt: skip


def test_tissues_fall_back_to_the_expression_section() -> None:
    tissues = [
        {"name": "Liver", "expression": "liver.bed.gz"},
        {"name": "Lung", "expression": "lung.bed.gz", "covariates": "lung.cov.txt",
         "normalization": "none", "n_expression_pcs": 15},  # fmt: skip
        {"name": "Whole_Blood.v8", "expression": "wb.bed.gz", "covariates": None},
    ]
    out = check_tissues(tissues, {"expression": None}, EXPRESSION, simulated=False)
    assert list(out) == ["Liver", "Lung", "Whole_Blood.v8"]
    assert out["Liver"] == {"expression": "liver.bed.gz", "covariates": "cov.txt",
                            "normalization": "log1p", "n_genotype_pcs": 3,
                            "n_expression_pcs": 10}  # fmt: skip
    assert out["Lung"]["covariates"] == "lung.cov.txt"
    assert (out["Lung"]["normalization"], out["Lung"]["n_expression_pcs"]) == ("none", 15)
    assert out["Lung"]["n_genotype_pcs"] == 3
    # an explicit null: no adjustment for that tissue
    assert out["Whole_Blood.v8"]["covariates"] is None
    # none listed: a one-phenotype run
    assert check_tissues([], {"expression": "x.bed.gz"}, EXPRESSION, simulated=True) == {}


@pytest.mark.parametrize(
    ("tissues", "inputs", "simulated", "match"),
    [
        ([{"name": "A", "expression": "a"}, {"name": "A", "expression": "b"}], {}, False,
         r"tissues\[1\].name 'A' is listed twice"),
        ([{"name": "A/B", "expression": "a"}], {}, False, r"tissues\[0\].name 'A/B': use"),
        ([{"name": "A", "expression": "a"}], {}, True, "simulate.enabled is true"),
        ([{"name": "A", "expression": "a"}], {"expression": "x.bed.gz"}, False,
         "inputs.expression is also set"),
    ],
)  # fmt: skip
def test_tissues_config_errors_say_what_to_fix(tissues, inputs, simulated, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_tissues(tissues, inputs, EXPRESSION, simulated)


def test_schema_requires_a_name_and_a_bed_per_tissue() -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
    cfg = {"name": "t", "tissues": [{"name": "A", "expression": "a.bed.gz"}]}
    validate(cfg, schema, set_default=True)
    # no override is filled in: the tissue falls back to the expression section
    assert cfg["tissues"] == [{"name": "A", "expression": "a.bed.gz"}]
    for bad in ({"name": "A"}, {"expression": "a"}, {"name": "A", "expression": "a", "x": 1},
                {"name": "A B", "expression": "a"}):  # fmt: skip
        with pytest.raises(WorkflowError):
            validate({"name": "t", "tissues": [bad]}, schema, set_default=True)


# ------------------------------------------------------------------------------------------
# the union tables of the shared stores


def _gene_table(genes, chroms, tss0, s2f) -> pd.DataFrame:
    return pd.DataFrame({"gene": genes, "chrom": chroms, "tss0": tss0, "strand": "+",
                         "s2f": s2f, "gene_set": "train"})  # fmt: skip


def test_store_tables_hold_every_tissues_genes_and_individuals(tmp_path: Path) -> None:
    paths = {}
    for t, genes, s2f, inds in (
        ("A", ["g1", "g2", "g3"], [True, False, False], ["i1", "i2", "i3"]),
        ("B", ["g2", "g4", "g3"], [True, True, False], ["i4", "i2"]),
    ):
        chroms = ["1" if g != "g4" else "2" for g in genes]
        tss0 = [100 * int(g[1]) for g in genes]
        paths[t] = (str(tmp_path / f"{t}.genes.tsv"), str(tmp_path / f"{t}.ind.tsv"))
        write_table(_gene_table(genes, chroms, tss0, s2f), paths[t][0])
        write_table(pd.DataFrame({"individual": inds, "individual_set": "train"}), paths[t][1])
    out = (str(tmp_path / "genes.tsv"), str(tmp_path / "individuals.tsv"))
    run_store_tables([paths["A"][0], paths["B"][0]], [paths["A"][1], paths["B"][1]], *out)
    genes = read_table(out[0])
    assert genes["gene"].tolist() == ["g1", "g2", "g3", "g4"]
    # a sequence-model gene in any tissue has its sequence window stored
    assert genes["s2f"].tolist() == [True, True, False, True]
    assert read_table(out[1])["individual"].tolist() == ["i1", "i2", "i3", "i4"]
    # tables of different annotations
    write_table(_gene_table(["g2"], ["1"], [999], [True]), paths["B"][0])
    with pytest.raises(InputError, match="gene g2 has different contigs or TSSs"):
        run_store_tables([paths["A"][0], paths["B"][0]], [paths["A"][1]] * 2, *out)


# ------------------------------------------------------------------------------------------
# the cross-tissue table


def _summary(models: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = []
    for model, cells in models.items():
        for cell, r in cells.items():
            for stat, value in (("median_r", r), ("frac_positive", 0.9)):
                rows.append({"model": model, "training": "converged" if model == "p_model"
                             else "n/a (no epochs)", "cell": cell, "statistic": stat,
                             "estimate": value, "ci_low": value - 0.1, "ci_high": value + 0.1,
                             "n_genes": 5})  # fmt: skip
    return pd.DataFrame(rows)


def test_cross_tissue_table_has_each_models_median_r_per_tissue(tmp_path: Path) -> None:
    train, heldout = cell_label("train", "heldout"), cell_label("heldout", "heldout")
    other = cell_label("train", "train")
    summaries = {
        "Lung": _summary({"p_model": {train: 0.4, heldout: 0.3, other: 0.9},
                          "elastic_net": {train: 0.6}}),  # fmt: skip
        "Liver": _summary({"p_model": {train: 0.2, heldout: 0.1}, "elastic_net": {train: 0.5}}),
    }
    table = cross_tissue_table(summaries)
    assert list(table.columns) == list(CROSS_TISSUE_COLUMNS)
    assert list(zip(table["tissue"], table["model"], strict=True)) == [
        ("Lung", "elastic_net"), ("Lung", "p_model"), ("Liver", "elastic_net"),
        ("Liver", "p_model"),
    ]  # fmt: skip
    np.testing.assert_allclose(table["median_r_train_genes"], [0.6, 0.4, 0.5, 0.2])
    np.testing.assert_allclose(table["ci_high_train_genes"], [0.7, 0.5, 0.6, 0.3])
    # a baseline fitted on training genes only has no held-out-genes cell
    np.testing.assert_allclose(table["median_r_heldout_genes"], [np.nan, 0.3, np.nan, 0.1])
    assert table["training"].tolist()[:2] == ["n/a (no epochs)", "converged"]
    # written by the rule as a CSV and a figure (PNG + SVG)
    paths = {}
    for t, s in summaries.items():
        paths[t] = str(tmp_path / f"{t}.parquet")
        write_table(s, paths[t])
    run_cross_tissue(paths, str(tmp_path / "x.csv"), str(tmp_path / "x.png"))
    pd.testing.assert_frame_equal(read_table(tmp_path / "x.csv"), table)
    assert (tmp_path / "x.png").stat().st_size > 1000 and (tmp_path / "x.svg").exists()
    with pytest.raises(ValueError, match="summary table of tissue Lung: missing columns"):
        cross_tissue_table({"Lung": summaries["Lung"].drop(columns="n_genes")})


# ------------------------------------------------------------------------------------------
# the workflow: two tissues in chunks vs each tissue alone in one chunk

NAME = "mt"
TISSUES = ("A", "B")
BASE = {
    "name": NAME,
    "simulate": {"enabled": False},
    "contigs": ["chr1", "chr2"],
    "expression": {"n_genotype_pcs": 3, "n_expression_pcs": 3},
    "s2f": {
        "window_bp": 512,
        "r_model_epochs": 2,
        "model": {"first_filters": 8, "n_blocks": 1, "block_filters": 8, "pool": 4, "dense": 8},
        "train": {"epochs": 3, "batch_size": 16, "max_items_per_epoch": 64, "device": "cpu"},
    },
    "baselines": {"cis_window_bp": 1000, "random_forest": {"n_estimators": 10}},
    "evaluate": {"n_boot": 20, "n_permutations": 50},
    # an external scorer (a user's torch model): its haplotypes are scored once for both tissues
    "scorers": [{"name": "my_cnn", "type": "torch_module",
                 "callable": f"{REPO / 'tests' / 'user_models.py'}:conv_tracks",
                 "kwargs": {"n_tracks": 3, "bin_bp": 32}, "window_bp": 512, "tracks": [0, 2],
                 "device": "cpu"}],
}  # fmt: skip


TISSUE_B_TRACKS = [1]  # tissue B's own track of my_cnn (A reads the scorer's tracks [0, 2])


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    src = str(REPO / "src")
    path = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [
            *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
            *("--directory", str(workdir), "--configfile", str(workdir / "config.yaml")),
            *("--cores", "2", *args),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def _run(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def _many_tissue_config(cohort: Path, genes_per_chunk: int) -> dict:
    cfg = copy.deepcopy(BASE)
    cfg["inputs"] = {k: str(cohort / f) for k, f in (("genotypes", "genotypes.vcf.gz"),
                     ("reference", "reference.fa"), ("annotation", "genes.tsv"))}  # fmt: skip
    cfg["tissues"] = [
        {"name": t, "expression": str(cohort / "tissues" / t / "expression.bed.gz"),
         "covariates": str(cohort / "tissues" / t / "covariates.txt")}  # fmt: skip
        for t in TISSUES
    ]
    cfg["chunks"] = {"genes_per_chunk": genes_per_chunk}
    cfg["scorers"][0]["tissue_tracks"] = {"B": TISSUE_B_TRACKS}
    return cfg


def _one_tissue_config(cohort: Path, tissue: str) -> dict:
    cfg = _many_tissue_config(cohort, 1000)
    for scorer in cfg["scorers"]:  # the tissue's own tracks, as a one-tissue scorer's tracks
        scorer["tracks"] = scorer.pop("tissue_tracks", {}).get(tissue, scorer["tracks"])
    spec = cfg.pop("tissues")[TISSUES.index(tissue)]
    cfg["inputs"]["expression"] = spec["expression"]
    cfg["expression"]["covariates"] = spec["covariates"]
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A two-tissue cohort; the run of both tissues in chunks of 2 genes, and each alone."""
    from ps2f.simulate.scale import ScaleConfig, simulate_scaled_cohort

    cohort = tmp_path_factory.mktemp("cohort")
    config = ScaleConfig(n_individuals=60, n_genes=12, n_contigs=2, tissues=TISSUES,
                         gene_dropout=0.2, sample_fraction=0.85, seed=0,
                         individual_truth=False)  # fmt: skip
    simulate_scaled_cohort(config, cohort)
    out = {"cohort": cohort, "tissues": tmp_path_factory.mktemp("tissues")}
    _run(out["tissues"], _many_tissue_config(cohort, 2))
    for t in TISSUES:
        out[t] = tmp_path_factory.mktemp(f"alone_{t}")
        _run(out[t], _one_tissue_config(cohort, t))
    return out


def _tissue_dir(runs: dict[str, Path], tissue: str) -> Path:
    return runs["tissues"] / "results" / NAME / "tissues" / tissue


def _alone_dir(runs: dict[str, Path], tissue: str) -> Path:
    return runs[tissue] / "results" / NAME


@pytest.mark.workflow
def test_the_tissues_differ_in_donors_and_genes(runs: dict[str, Path]) -> None:
    """The cohort is a real test of the union stores: neither tissue has all donors or genes."""
    tables = {t: {k: read_table(_tissue_dir(runs, t) / "phenotypes" / f"{k}.tsv")
                  for k in ("genes", "individuals")} for t in TISSUES}  # fmt: skip
    ind = {t: set(tables[t]["individuals"]["individual"]) for t in TISSUES}
    genes = {t: set(tables[t]["genes"]["gene"]) for t in TISSUES}
    assert ind["A"] - ind["B"] and ind["B"] - ind["A"]
    assert genes["A"] != genes["B"]
    union_genes = read_table(runs["tissues"] / "results" / NAME / "phenotypes" / "genes.tsv")
    assert set(union_genes["gene"]) == genes["A"] | genes["B"]


@pytest.mark.workflow
def test_variant_stores_are_built_once_over_every_tissue(runs: dict[str, Path]) -> None:
    from ps2f.genome.store import VariantStore

    root = runs["tissues"] / "results" / NAME
    assert sorted(p.name for p in (root / "variants").glob("*.npz")) == ["chr1.npz", "chr2.npz"]
    assert not list((root / "tissues").glob("*/variants"))
    logs = runs["tissues"] / "logs" / NAME / "genotypes"
    assert sorted(p.name for p in logs.glob("*.log")) == ["chr1.log", "chr2.log"]
    union = read_table(root / "phenotypes" / "individuals.tsv")["individual"].tolist()
    for t in TISSUES:
        own = read_table(_tissue_dir(runs, t) / "phenotypes" / "individuals.tsv")
        assert set(own["individual"]) < set(union)
    for contig in ("chr1", "chr2"):
        store = VariantStore.load(root / "variants" / f"{contig}.npz")
        # every tissue's donors (in the VCF's order), each job selects its own by ID
        assert sorted(np.asarray(store.samples).astype(str)) == sorted(union)


@pytest.mark.workflow
def test_every_contig_has_several_chunks_per_tissue(runs: dict[str, Path]) -> None:
    """Several ElasticNet chunks per contig; the light stages (default: 8 gene chunks per job)
    in one job per contig, so each tissue's per-gene metrics join the two partitions."""
    for t in TISSUES:
        logs = runs["tissues"] / "logs" / NAME / "tissues" / t
        chunks = [p.stem for p in (logs / "baselines" / "elastic_net").glob("*.log")]
        light = sorted(p.stem for p in (logs / "lead_eqtl").glob("*.log"))
        assert light == sorted(p.stem for p in (logs / "gene_metrics").glob("*.log"))
        for contig in ("chr1", "chr2"):
            assert sum(c.startswith(f"{contig}.") for c in chunks) >= 2, (t, chunks)
            assert [c for c in light if c.startswith(f"{contig}.")] == [f"{contig}.0000"]


@pytest.mark.workflow
def test_external_scorer_scores_each_haplotype_once_for_every_tissue(runs) -> None:
    """The scorer's model runs once per chunk of the union genes (rule score_haplotypes), over
    every tissue's donors; each tissue's score_external job only reads those scores."""
    logs = runs["tissues"] / "logs" / NAME
    shared = sorted((logs / "score_haplotypes" / "my_cnn").glob("*.log"))
    root = runs["tissues"] / "results" / NAME
    tables = sorted((root / "chunks" / "my_cnn").glob("*.haplotypes.parquet"))
    assert [p.stem for p in shared] == [p.name.removesuffix(".haplotypes.parquet")
                                        for p in tables]  # fmt: skip
    assert all("ConvTracks, output" in p.read_text() for p in shared)
    # chunks of at most 2 genes of one contig, covering the union's sequence-model genes once
    union = read_table(root / "phenotypes" / "genes.tsv").set_index("gene")
    per_chunk = [pd.read_parquet(p)["gene"].unique() for p in tables]
    assert all(len(g) <= 2 and union.loc[g, "chrom"].nunique() <= 1 for g in per_chunk)
    scored = np.concatenate(per_chunk)
    assert len(scored) == len(set(scored)) and set(scored) == set(union.index[union["s2f"]])
    for t in TISSUES:
        own = sorted((logs / "tissues" / t / "score_external" / "my_cnn").glob("*.log"))
        assert own
        for p in own:
            text = p.read_text()
            assert "from the shared haplotype scores" in text and "ConvTracks" not in text
    # every (gene, donor) pair of both tissues was scored by the shared jobs: the union
    scores = pd.concat([pd.read_parquet(p) for p in tables])
    for t in TISSUES:
        mine = read_table(_tissue_dir(runs, t) / "scores" / "my_cnn.haplotypes.parquet")
        assert set(zip(mine["gene"], mine["individual"], strict=True)) <= set(
            zip(scores["gene"], scores["individual"], strict=True)
        )


@pytest.mark.workflow
def test_tissue_tracks_are_read_from_the_one_shared_forward_pass(runs) -> None:
    """With tissue_tracks, each shared chunk holds both track sets, scored by one job whose
    model ran once per distinct haplotype window; each tissue reads its own set's rows."""
    from ps2f.pipeline.score import HAPLOTYPE_SCORE_COLUMNS, SHARED_HAPLOTYPE_SCORE_COLUMNS

    root = runs["tissues"] / "results" / NAME
    logs = runs["tissues"] / "logs" / NAME / "score_haplotypes" / "my_cnn"
    tables = sorted((root / "chunks" / "my_cnn").glob("*.haplotypes.parquet"))
    scores = pd.concat([pd.read_parquet(p) for p in tables], ignore_index=True)
    assert list(scores.columns) == list(SHARED_HAPLOTYPE_SCORE_COLUMNS)
    assert set(scores["track_set"]) == {"[0,2]", "[1]"}
    sets = {k: g.set_index(["gene", "individual", "haplotype"])["score"].sort_index()
            for k, g in scores.groupby("track_set")}  # fmt: skip
    # the same pairs in both sets, with different numbers (another track read)
    assert sets["[0,2]"].index.equals(sets["[1]"].index)
    assert not np.allclose(sets["[0,2]"].to_numpy(), sets["[1]"].to_numpy())
    scored = [p.read_text() for p in logs.glob("*.log")]
    scored = [text for text in scored if "distinct of" in text]  # chunks with a sequence gene
    assert scored
    for text in scored:
        # one job and one model per chunk: each distinct window scored once, for both sets
        assert "2 track sets ['[0,2]', '[1]'] from each forward pass" in text
        assert "tracks sets [[0, 2], [1]]" in text  # the scorer's own line
    for t, label in (("A", "[0,2]"), ("B", "[1]")):
        mine = read_table(_tissue_dir(runs, t) / "scores" / "my_cnn.haplotypes.parquet")
        assert list(mine.columns) == list(HAPLOTYPE_SCORE_COLUMNS)
        got = mine.set_index(["gene", "individual", "haplotype"])["score"]
        want = sets[label].reindex(got.index)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


GATHERED = [
    "phenotypes/genes.tsv",
    "phenotypes/individuals.tsv",
    "phenotypes/expression.parquet",
    "predictions/elastic_net.parquet",
    "predictions/random_forest.parquet",
    "predictions/p_model.parquet",
    "predictions/r_model.parquet",
    "predictions/my_cnn.parquet",
    "scores/my_cnn.haplotypes.parquet",
    "models/elastic_net.summary.tsv",
    "models/random_forest.summary.tsv",
    "evaluation/lead_eqtl.parquet",
    "evaluation/lead_eqtl_dosages.parquet",
    "evaluation/cis_heritability.parquet",
    "evaluation/window_coverage.parquet",
    "evaluation/nonlinear_genes.csv",
    "evaluation/metrics.parquet",
    "evaluation/summary.parquet",
    "evaluation/comparisons.parquet",
    # the training histories and status, but for their wall-clock columns
    "models/p_model.history.tsv",
    "models/r_model.history.tsv",
    "evaluation/training.csv",
]
WALL_CLOCK = ["seconds", "items_per_s", "validation_seconds", "minutes"]


@pytest.mark.workflow
@pytest.mark.parametrize("tissue", TISSUES)
@pytest.mark.parametrize("table", GATHERED)
def test_each_tissue_equals_its_one_tissue_one_chunk_run(
    runs: dict[str, Path], tissue: str, table: str
) -> None:
    a = _tissue_dir(runs, tissue) / table
    b = _alone_dir(runs, tissue) / table
    if table.endswith(("history.tsv", "training.csv")):
        pd.testing.assert_frame_equal(
            read_table(a).drop(columns=WALL_CLOCK, errors="ignore"),
            read_table(b).drop(columns=WALL_CLOCK, errors="ignore"),
        )
    elif table.endswith((".tsv", ".csv")):
        assert a.read_text() == b.read_text()
    else:
        pd.testing.assert_frame_equal(read_table(a), read_table(b))


@pytest.mark.workflow
@pytest.mark.parametrize("tissue", TISSUES)
def test_each_tissues_predictdb_equals_its_one_tissue_run(
    runs: dict[str, Path], tissue: str
) -> None:
    for name in ("elastic_net.db", "elastic_net.filtered.db"):
        a = read_predictdb_tables(_tissue_dir(runs, tissue) / "models" / name)
        b = read_predictdb_tables(_alone_dir(runs, tissue) / "models" / name)
        for table in a:
            pd.testing.assert_frame_equal(a[table], b[table], obj=f"{name}:{table}")
        with sqlite3.connect(_tissue_dir(runs, tissue) / "models" / name) as con:
            assert con.execute("SELECT count(*) FROM weights").fetchone()[0] == len(a["weights"])
    cov = "models/elastic_net.covariances.txt.gz"
    pd.testing.assert_frame_equal(
        read_covariances(_tissue_dir(runs, tissue) / cov),
        read_covariances(_alone_dir(runs, tissue) / cov),
    )


@pytest.mark.workflow
def test_cross_tissue_summary_has_a_row_per_model_and_tissue(runs: dict[str, Path]) -> None:
    root = runs["tissues"] / "results" / NAME
    table = read_table(root / "evaluation" / "cross_tissue.csv")
    models = ["elastic_net", "my_cnn", "p_model", "r_model", "random_forest"]
    assert list(zip(table["tissue"], table["model"], strict=True)) == [
        (t, m) for t in TISSUES for m in models
    ]
    for t in TISSUES:
        alone = read_table(_alone_dir(runs, t) / "evaluation" / "summary.parquet")
        cell = cell_label("train", "heldout")
        want = alone.loc[(alone["statistic"] == "median_r") & (alone["cell"] == cell)]
        want = want.set_index("model")["estimate"].reindex(models).to_numpy()
        got = table.loc[table["tissue"] == t, "median_r_train_genes"].to_numpy()
        np.testing.assert_array_equal(got, want)
    assert (root / "figures" / "cross_tissue.png").stat().st_size > 1000
    for t in TISSUES:
        for fig in ("r_distributions.png", "learning_curves.png"):
            assert (root / "tissues" / t / "figures" / fig).exists()


def _dry_run_jobs(workdir: Path, config: dict) -> tuple[dict[str, int], set[str]]:
    """``snakemake -n`` with ``config``: (job counts by rule, rules re-run as params changed)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    if "Nothing to be done" in out:
        return {}, set()
    stats = re.search(r"Job stats:\n(.*?)\n\n", out, re.S)
    assert stats is not None, out[-3000:]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", stats.group(1), re.M)}
    counts.pop("total", None)
    reasons = re.search(r"params have changed since last execution:\n\s+(.*)\n", out)
    return counts, set(reasons.group(1).split(", ")) if reasons else set()


def _dry_run_reasons(workdir: Path, config: dict, *args: str) -> dict[tuple[str, str], str]:
    """``snakemake -n ARGS`` with ``config``: {(rule, its wildcards): the job's reason}."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir, "-n", *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:\n)", out):
        rule = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):\n", block)
        reason = re.search(r"^\s+reason: (.*)$", block, re.M)
        if rule and reason:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs[rule.group(1), wildcards.group(1) if wildcards else ""] = reason.group(1)
    return jobs


@pytest.mark.workflow
def test_a_tissues_tracks_are_params_of_its_own_jobs_only(runs: dict[str, Path]) -> None:
    """Changing tissue B's tissue_tracks changes the params of the shared scoring jobs and of
    B's score_external jobs; A's re-run only because the shared tables they read are rewritten.

    Snakemake gives a job one reason, the first it finds: a job whose input is re-made reads
    "input files updated", so the params of the per-tissue jobs are checked with
    ``--allowed-rules score_external`` (the shared tables then stay as they are).
    """
    workdir = runs["tissues"]
    cfg = _many_tissue_config(runs["cohort"], 2)
    changed = copy.deepcopy(cfg)
    changed["scorers"][0]["tissue_tracks"] = {"B": [0]}
    try:
        jobs = _dry_run_reasons(workdir, changed)
        alone = _dry_run_reasons(workdir, changed, "--allowed-rules", "score_external")
    finally:
        (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    params = "Params have changed since last execution"
    shared = [r for (rule, _), r in jobs.items() if rule == "score_haplotypes"]
    assert shared and all(params in r for r in shared), shared
    # nothing upstream of the scorer re-runs; every tissue's scorer predictions do
    assert not {rule for rule, _ in jobs} & {"phenotypes", "store_tables", "genotypes"}
    rerun = {w.split(",")[0] for (rule, w), _ in jobs.items() if rule == "score_external"}
    assert rerun == {"tissue=A", "tissue=B"}
    own = {w: r for (rule, w), r in alone.items() if rule == "score_external"}
    assert own and all(w.startswith("tissue=B,") for w in own), sorted(own)
    assert all(params in r and "'tracks': [0]" in r for r in own.values())


@pytest.mark.workflow
def test_a_tissues_settings_rerun_that_tissues_phenotypes(runs: dict[str, Path]) -> None:
    """The per-tissue overrides are the phenotypes jobs' params (test_params' rule, per tissue).

    A tissue's phenotypes job re-runs alone; the shared stores then re-run (their union tables
    are rewritten), and so everything downstream of them in every tissue.
    """
    workdir = runs["tissues"]
    cfg = _many_tissue_config(runs["cohort"], 2)
    try:
        assert _dry_run_jobs(workdir, cfg) == ({}, set())
        # an override equal to the expression section's value changes nothing
        same = copy.deepcopy(cfg)
        same["tissues"][1]["n_expression_pcs"] = 3
        assert _dry_run_jobs(workdir, same) == ({}, set())
        changed = copy.deepcopy(cfg)
        changed["tissues"][1]["n_expression_pcs"] = 2
        counts, params = _dry_run_jobs(workdir, changed)
        assert params == {"phenotypes"}
        assert counts["phenotypes"] == 1 and counts["store_tables"] == 1
        assert counts["genotypes"] == 2 and counts["evaluate"] == 2
        # the section's value reaches every tissue that does not override it
        section = copy.deepcopy(same)
        section["expression"]["n_expression_pcs"] = 2
        counts, params = _dry_run_jobs(workdir, section)
        assert params == {"phenotypes"} and counts["phenotypes"] == 1
        section["tissues"][0]["normalization"] = "none"
        counts, params = _dry_run_jobs(workdir, section)
        assert "phenotypes" in params and counts["phenotypes"] == 1
    finally:
        (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
