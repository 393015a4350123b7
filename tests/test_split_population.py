"""Held-out ancestry (``split.population``): individuals split by a population column.

* on the real Geuvadis EUR358 expression with the 1000 Genomes phase 1 sample table: every
  individual of the held-out population (FIN) is ``heldout_population`` and none is trained
  on; individuals absent from the table are not analysed; the random split runs among the
  training populations only; the covariate adjustment is fitted without FIN (scrambling FIN's
  expression leaves every other individual's normalized value unchanged); the sequence models'
  fit / validation individuals contain no FIN;
* through the pipeline on a simulated cohort: the baselines' fits never see the held-out
  population (shuffling and rescaling its expression changes no prediction of anyone: the
  fitted models are the same), and its rows reach the predictions table, the metrics and the
  summary as cells of their own;
* bad tables and configs fail with a message naming the file or key.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import GEUVADIS, SHARED, genotypes_params, phenotypes_params
from test_train_pipeline import make_config

from ps2f.errors import ConfigError, InputError
from ps2f.phenotypes import PhenotypeConfig, build_phenotypes, population_split
from ps2f.pipeline import run_genotypes, run_phenotypes, run_simulate
from ps2f.pipeline.baselines import run_baseline
from ps2f.pipeline.common import read_table, write_table
from ps2f.schema import CELLS, HELDOUT_POPULATION, cell_label, validate_predictions
from ps2f.training import validation_split

PANEL = SHARED / "geuvadis_chr22_GRCh37" / "genotypes" / (
    "1000G_phase1_v3_chr22_SeqArray_subset.samples.tsv"
)
EXPRESSION = GEUVADIS / "expression" / "qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"
COVARIATES = GEUVADIS / "expression" / "qtltools_genes.covariates.pc50.txt.gz"
ANNOTATION = GEUVADIS / "annotation" / "gencode.v19.chr22.gene_tss.tsv"


def _samples_of(bed) -> list[str]:
    with gzip.open(bed, "rt") as fh:
        return fh.readline().rstrip("\n").split("\t")[6:]


def _real_config(**kw) -> PhenotypeConfig:
    return PhenotypeConfig(
        population_table=str(PANEL),
        heldout_populations=("FIN",),
        n_genotype_pcs=3,
        n_expression_pcs=10,
        max_baseline_genes=40,
        max_s2f_genes=20,
        **kw,
    )


@pytest.mark.shared
def test_real_geuvadis_fin_held_out_never_trains(tmp_path):
    samples = _samples_of(EXPRESSION)
    panel = pd.read_csv(PANEL, sep="\t").set_index("sample")["population"]
    ph = build_phenotypes(
        str(EXPRESSION), str(ANNOTATION), samples, _real_config(), covariates_path=str(COVARIATES)
    )
    ind = ph.individuals.set_index("individual")
    in_panel = [s for s in samples if s in panel.index]
    assert len(in_panel) == 330  # 28 of the 358 are phase 3 only: not analysed (logged)
    assert sorted(ind.index) == sorted(in_panel)
    assert (ind["population"] == panel.loc[ind.index]).all()
    fin = ind["population"] == "FIN"
    assert int(fin.sum()) == 86
    assert (ind.loc[fin, "individual_set"] == HELDOUT_POPULATION).all()
    assert (ind.loc[~fin, "individual_set"] != HELDOUT_POPULATION).all()
    # the random held-out draw: round(0.2 * 244) of the CEU/GBR/TSI individuals
    assert ind.loc[~fin, "individual_set"].value_counts().to_dict() == {"train": 195, "heldout": 49}
    # training-only adjustment: scrambling FIN's raw expression moves nobody else
    bed = pd.read_csv(EXPRESSION, sep="\t")
    fin_cols = list(ind.index[fin])
    rng = np.random.default_rng(0)
    bed[fin_cols] = bed[fin_cols].to_numpy()[:, rng.permutation(len(fin_cols))] * 3.0 + 1.0
    bed.to_csv(tmp_path / "scrambled.bed.gz", sep="\t", index=False)
    moved = build_phenotypes(
        str(tmp_path / "scrambled.bed.gz"),
        str(ANNOTATION),
        samples,
        _real_config(),
        covariates_path=str(COVARIATES),
    )
    a = ph.expression.pivot(index="individual", columns="gene", values="observed")
    b = moved.expression.pivot(index="individual", columns="gene", values="observed")
    others = list(ind.index[~fin])
    np.testing.assert_allclose(b.loc[others].to_numpy(), a.loc[others].to_numpy(), atol=1e-9)
    assert not np.allclose(b.loc[fin_cols].to_numpy(), a.loc[fin_cols].to_numpy())
    # the sequence models' fit and validation individuals (epoch choice) hold no FIN either
    split = validation_split(ph.genes, ph.individuals, 0.1, 0.1, seed=0)
    used = ph.individuals["individual"].to_numpy()[
        np.concatenate([split.fit_individuals, split.validation_individuals])
    ]
    assert not set(used) & set(fin_cols)
    assert set(ph.individuals["individual"].to_numpy()[split.heldout_individuals]) >= set(fin_cols)


@pytest.mark.shared
def test_real_geuvadis_train_list_excludes_other_populations():
    samples = _samples_of(EXPRESSION)
    ph = build_phenotypes(
        str(EXPRESSION),
        str(ANNOTATION),
        samples,
        _real_config(train_populations=("GBR", "CEU")),
    )
    pops = ph.individuals.groupby("population")["individual_set"].agg(lambda s: set(s))
    assert sorted(pops.index) == ["CEU", "FIN", "GBR"]  # TSI neither trained on nor held out
    assert pops["FIN"] == {HELDOUT_POPULATION}
    assert pops["CEU"] | pops["GBR"] == {"train", "heldout"}


def _table(path, rows, header=("sample", "pop", "super_pop")):
    pd.DataFrame(rows, columns=list(header)).to_csv(path, sep="\t", index=False)
    return str(path)


def test_population_split_errors(tmp_path):
    good = _table(tmp_path / "p.panel", [("A", "X", "S"), ("B", "Y", "S"), ("C", "Z", "S")])
    out = population_split(["A", "B", "C", "D"], good, "sample", "pop", [], ["Y"])
    assert out.to_dict() == {"A": "X", "B": "Y", "C": "Z"}  # D absent from the table: left out
    out = population_split(["A", "B", "C"], good, "sample", "pop", ["X"], ["Y"])
    assert out.to_dict() == {"A": "X", "B": "Y"}  # Z neither trained on nor held out
    with pytest.raises(ConfigError, match="heldout is empty"):
        population_split(["A"], good, "sample", "pop", [], [])
    with pytest.raises(ConfigError, match="both trained on"):
        population_split(["A"], good, "sample", "pop", ["X", "Y"], ["Y"])
    with pytest.raises(ConfigError, match=r"\['YRI'\].*X \(1\)"):
        population_split(["A"], good, "sample", "pop", [], ["YRI"])
    with pytest.raises(InputError, match="no column.*population_column"):
        population_split(["A"], good, "sample", "population", [], ["Y"])
    with pytest.raises(InputError, match="none of the 2 individuals"):
        population_split(["Q", "R"], good, "sample", "pop", [], ["Y"])
    dup = _table(tmp_path / "d.panel", [("A", "X", "S"), ("A", "Y", "S"), ("B", "Y", "S")])
    with pytest.raises(InputError, match="d.panel.*two populations"):
        population_split(["A", "B"], dup, "sample", "pop", [], ["Y"])
    with pytest.raises(InputError, match="absent.panel.*cannot read"):
        population_split(["A"], str(tmp_path / "absent.panel"), "sample", "pop", [], ["Y"])


# ---------------------------------------------------------------------------------------------
# through the pipeline on a simulated cohort


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Simulated cohort, phenotypes split by a two-population table (POP2 held out)."""
    root = tmp_path_factory.mktemp("ancestry")
    cfg = make_config(
        simulate={"n_individuals": 80, "n_genes": 8},
        split={
            "population": {
                "sample_table": "",
                "population_column": "pop",
                "heldout": ["POP2"],
            }
        },
        baselines={"cis_window_bp": 1000, "elastic_net": {"n_folds": 5, "n_outer_folds": 3}},
    )
    sim = root / "simulated"
    run_simulate(cfg["simulate"], "sim1", sim)
    samples = pd.read_csv(sim / "expression.bed.gz", sep="\t", nrows=0).columns[6:].tolist()
    # every third individual belongs to the held-out population
    table = _table(
        root / "populations.tsv",
        [(s, "POP2" if i % 3 == 0 else "POP1", "ALL") for i, s in enumerate(samples)],
    )
    tables = [str(root / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        str(sim / "genotypes.vcf.gz"),
        *tables,
        **phenotypes_params(cfg),
        populations=table,
        population={k: cfg["split"]["population"][k]
                    for k in ("sample_column", "population_column", "train", "heldout")},
    )  # fmt: skip
    store = str(root / "sim1.npz")
    run_genotypes(
        str(sim / "genotypes.vcf.gz"),
        str(sim / "reference.fa"),
        tables[0],
        tables[1],
        "sim1",
        **genotypes_params(cfg),
        out_store=store,
        out_stats=str(root / "sim1.json"),
    )
    return root, cfg, tables, store, samples


def _baseline(root, cfg, tables, store, method, expression_path, name):
    run_baseline(
        method,
        tables[0],
        tables[1],
        expression_path,
        [store],
        cfg["baselines"],
        1,
        str(root / f"{name}.parquet"),
        str(root / f"{name}.summary.tsv"),
    )
    return validate_predictions(read_table(root / f"{name}.parquet"))


@pytest.mark.parametrize("method", ["elastic_net", "random_forest"])
def test_baselines_never_fit_the_heldout_population(simulated, method):
    root, cfg, tables, store, samples = simulated
    ind = read_table(tables[1])
    away = set(ind.loc[ind["individual_set"] == HELDOUT_POPULATION, "individual"])
    assert away == set(samples[::3])
    pred = _baseline(root, cfg, tables, store, method, tables[2], f"{method}_a")
    assert set(pred.loc[pred["individual_set"] == HELDOUT_POPULATION, "individual"]) == away
    # shuffle and rescale the held-out population's expression: the fitted models, hence all
    # predictions, are unchanged (a fit that used them would move)
    expr = read_table(tables[2])
    rows = expr["individual"].isin(away).to_numpy()
    rng = np.random.default_rng(1)
    expr.loc[rows, "observed"] = rng.permutation(expr.loc[rows, "observed"].to_numpy()) * 5 - 2
    write_table(expr, str(root / f"moved_{method}.parquet"))
    moved = _baseline(root, cfg, tables, store, method, str(root / f"moved_{method}.parquet"),
                      f"{method}_b")  # fmt: skip
    np.testing.assert_array_equal(moved["predicted"].to_numpy(), pred["predicted"].to_numpy())
    # and the metrics of its cells are cells of their own
    from ps2f.evaluation import per_gene_metrics, summarize

    metrics = per_gene_metrics(pred, min_individuals=3)
    cells = set(metrics["cell"])
    own = {cell_label(g, HELDOUT_POPULATION) for g in ("train", "heldout")}
    assert own <= cells <= set(CELLS)
    assert metrics.loc[metrics["cell"].isin(own), "gene"].nunique() == pred["gene"].nunique()
    summary = summarize(metrics, n_boot=0)
    assert own <= set(summary.query("statistic == 'median_r'")["cell"])
    # the report's landing page shows the held-out population beside the random held-out cells
    from ps2f.evaluation.landing import headline_table

    head = headline_table(summary)
    col = "median r, training genes, held-out population"
    expected = summary.query(
        f"statistic == 'median_r' and cell == '{cell_label('train', HELDOUT_POPULATION)}'"
    )["estimate"].iloc[0]
    assert head[col].iloc[0].startswith(f"{expected:.2f}")
    per_cell = metrics.query("metric == 'n'").groupby("cell")["value"].max()
    assert per_cell.loc[list(own)].max() == len(away)


def test_workflow_config_population_keys_validate():
    cfg = make_config(split={"population": {"sample_table": "x.tsv", "heldout": ["YRI"]}})
    pop = cfg["split"]["population"]
    assert pop == {
        "sample_table": "x.tsv",
        "sample_column": "sample",
        "population_column": "population",
        "train": [],
        "heldout": ["YRI"],
    }


@pytest.mark.workflow
def test_phenotypes_rule_reads_the_sample_table(tmp_path):
    """The workflow's phenotypes rule: the table is an input, the keys reach the split."""
    import subprocess
    import sys

    import yaml
    from conftest import REPO
    from test_faults import TINY, _python_env

    def snakemake(*targets: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
             str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
             *targets],
            capture_output=True, text=True, env=_python_env(REPO / "src"),
        )  # fmt: skip

    cfg = {**TINY, "split": {"population": {"sample_table": "pops.tsv", "heldout": ["B"]}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    bed = "results/tiny/simulated/expression.bed.gz"
    proc = snakemake(bed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = pd.read_csv(tmp_path / bed, sep="\t", nrows=0).columns[6:].tolist()
    _table(tmp_path / "pops.tsv", [(s, "B" if i < 15 else "A", "X") for i, s in
                                   enumerate(samples)], header=("sample", "population", "x"))
    proc = snakemake("results/tiny/phenotypes/individuals.tsv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ind = read_table(tmp_path / "results/tiny/phenotypes/individuals.tsv").set_index("individual")
    away = ind["individual_set"] == HELDOUT_POPULATION
    assert sorted(ind.index[away]) == sorted(samples[:15])
    assert (ind.loc[away, "population"] == "B").all()
    assert set(ind.loc[~away, "individual_set"]) == {"train", "heldout"}
