"""Every rule declares exactly the config it reads: a changed key re-runs exactly its readers.

One complete run of the tiny simulated DAG (``test_faults.TINY``), then, for one key of each
config section, the config with that key changed goes to ``snakemake -n`` with the default
rerun triggers. Snakemake re-runs a job when its ``params`` (or its set of inputs) changed, and
every job downstream of one that re-runs; so the jobs listed must be exactly the rules that read
the key and everything downstream of them, and the jobs whose reason is "params have changed"
must be exactly the readers that are not downstream of another reader. A key that no rule of
the run reads must change nothing.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from test_faults import TINY

pytestmark = pytest.mark.workflow

# The jobs of the tiny run (one contig, no external scorer, no dosage VCF) by what they follow.
# Each per-gene stage runs one job per gene chunk, then a gather job (gene chunks: one here).
EVALUATION = {"evaluate", "figures", "all"}
# a chunk's predictions are gathered, and its per-gene metrics computed (evaluate gathers them)
PREDICTIONS = {"gather_predictions", "gene_metrics"}
ELASTIC_NET = {"elastic_net", "gather_baseline_summary", "gather_predictdb"} | PREDICTIONS
RANDOM_FOREST = {"random_forest", "gather_baseline_summary"} | PREDICTIONS
BASELINES = ELASTIC_NET | RANDOM_FOREST
# the nonlinear genes are chosen from the baselines' out-of-sample estimates (their summaries)
NONLINEAR = {"nonlinear_genes"}
S2F = {"train_r", "train_p", "predict_p", "score_reference"} | PREDICTIONS | EVALUATION
# window_coverage reads the lead eQTLs and the ElasticNet's .db, not the sequence models
COVERAGE = {"window_coverage"}
LEAD_EQTL = {"lead_eqtl", "gather_lead_eqtl", "gather_lead_eqtl_dosages", "gene_metrics"}
# cis_heritability reads the same cis-window variants as lead_eqtl
EQTL = LEAD_EQTL | {"cis_heritability", "gather_cis_heritability"}
# the top-ElasticNet gene set reads the ElasticNet summary only
TOP_EN = {"top_elastic_net_genes"}
CHUNK_JOBS = {
    "elastic_net",
    "random_forest",
    "lead_eqtl",
    "cis_heritability",
    "predict_p",
    "score_reference",
    "gene_metrics",
}
AFTER_GENOTYPES = {"genotypes"} | EQTL | BASELINES | NONLINEAR | TOP_EN | COVERAGE | S2F
# phenotypes is a checkpoint (its gene table gives the chunks): while it is to re-run, a dry
# run lists the gather jobs but not yet the chunk jobs
AFTER_PHENOTYPES = ({"phenotypes"} | AFTER_GENOTYPES) - CHUNK_JOBS
EVERY_JOB = {"simulate"} | AFTER_PHENOTYPES

# (key, new value, jobs whose reason is changed params, every job re-run). The readers
# downstream of another reader re-run as "input files updated by another job".
CASES = [
    ("simulate.seed", 4, {"simulate"}, EVERY_JOB),
    # an external cohort adds files to simulate's outputs (its reason: missing output files)
    # and to the inputs of phenotypes and genotypes; its settings are not read while it is off
    ("simulate.external_individuals", 20, set(), EVERY_JOB),
    ("simulate.external_swapped_fraction", 0.2, set(), set()),
    ("expression.n_expression_pcs", 5, {"phenotypes"}, AFTER_PHENOTYPES),
    # an input, not a param: a new covariate file changes phenotypes' set of inputs
    ("expression.covariates", "results/tiny/simulated/covariates.txt", set(), AFTER_PHENOTYPES),
    # issue 21: the split is assigned by phenotypes, so the baselines and lead eQTLs re-run too
    ("split.seed", 1, {"phenotypes"}, AFTER_PHENOTYPES),
    # read by phenotypes (anchors, allowed normalizations), evaluate and figures (labels)
    ("phenotype.modality", "accessibility", {"phenotypes"}, AFTER_PHENOTYPES),
    ("expression.normalization", "none", {"phenotypes"}, AFTER_PHENOTYPES),
    ("split.heldout_gene_fraction", 0.5, {"phenotypes"}, AFTER_PHENOTYPES),
    ("split.validation_gene_fraction", 0.2, {"train_r", "train_p"}, S2F),
    ("genes.max_baseline_genes", 2, {"phenotypes"}, AFTER_PHENOTYPES),
    ("annotation.usable_column", "usable", {"phenotypes"}, AFTER_PHENOTYPES),
    ("contig_aliases", {"chr1": "1"}, {"phenotypes"}, AFTER_PHENOTYPES),
    ("genotypes.missing_policy", "reference", {"genotypes"}, AFTER_GENOTYPES),
    # the store window is 512 bp and the cis-window flank 1000 bp: a flank of 512 bp must
    # still show (Snakemake compares params as a set of values without their names, so a rule
    # passes its settings as one dict, names included)
    ("genotypes.indel_flank_bp", 512, {"genotypes"}, AFTER_GENOTYPES),
    ("genotypes.indel_flank_bp", 700, {"genotypes"}, AFTER_GENOTYPES),
    ("s2f.train.lr", 0.01, {"train_r", "train_p"}, S2F),
    ("s2f.model.dense", 16, {"train_r", "train_p"}, S2F),
    ("s2f.train.max_minutes", 30, {"train_r", "train_p"}, S2F),
    # batch composition of the p-model only: the r-model's items are genes
    (
        "s2f.train.individuals_per_gene",
        4,
        {"train_p"},
        {"train_p", "predict_p"} | PREDICTIONS | EVALUATION,
    ),
    (
        "s2f.train.early_stopping_genes",
        "validation",
        {"train_p"},
        {"train_p", "predict_p"} | PREDICTIONS | EVALUATION,
    ),
    (
        "s2f.r_model_epochs",
        3,
        {"train_r"},
        {"train_r", "score_reference"} | PREDICTIONS | EVALUATION,
    ),
    ("s2f.predict_batch_size", 64, {"predict_p", "score_reference"}, S2F - {"train_r", "train_p"}),
    # an input of train_p (r_model.pt), not a setting of any training
    (
        "s2f.train.init_from_r_model",
        True,
        set(),
        {"train_p", "predict_p"} | PREDICTIONS | EVALUATION,
    ),
    ("s2f.window_bp", 1024, {"genotypes"}, AFTER_GENOTYPES),
    ("baselines.cis_window_bp", 2000, {"genotypes"}, AFTER_GENOTYPES),
    (
        "baselines.drop_ambiguous_strand",
        False,
        {"elastic_net", "random_forest"},
        BASELINES | NONLINEAR | TOP_EN | COVERAGE | EVALUATION,
    ),
    (
        "baselines.random_forest.n_estimators",
        5,
        {"random_forest"},
        RANDOM_FOREST | NONLINEAR | EVALUATION,
    ),
    # the PredictDB filter runs on the gathered .db (its q-values need every gene)
    (
        "baselines.predictdb.min_rho",
        0.2,
        {"gather_predictdb"},
        {"gather_predictdb"} | COVERAGE | EVALUATION,
    ),
    (
        "baselines.predictdb.variant_key",
        "varID",
        {"elastic_net"},
        ELASTIC_NET | NONLINEAR | TOP_EN | COVERAGE | EVALUATION,
    ),
    # new chunks: each chunk job's params hold its genes; training reads no chunk. The 6 genes
    # now make 3 gene chunks, whose 8 per light chunk are still the 6 genes: only the ElasticNet
    # (a heavy stage) re-runs, then what reads its tables (gene_metrics: its inputs changed)
    (
        "chunks.genes_per_chunk",
        2,
        {"elastic_net"},
        ELASTIC_NET | NONLINEAR | TOP_EN | COVERAGE | EVALUATION,
    ),
    # the tiny run has one gene chunk, so its light chunks stay the same: no job's genes change
    ("chunks.light_stage_chunks", 2, set(), set()),
    ("evaluate.n_boot", 10, {"evaluate"}, EVALUATION),
    # the permutations run per gene chunk; evaluate only gathers their p-values
    ("evaluate.n_permutations", 20, {"gene_metrics"}, {"gene_metrics"} | EVALUATION),
    # the gene-level direction odds ratio reads it too (inside evaluate)
    ("evaluate.alpha", 0.1, {"evaluate", "figures"}, EVALUATION),
    ("evaluate.nonlinear_top_n", 2, NONLINEAR, NONLINEAR | EVALUATION),
    ("evaluate.top_elastic_net_n", 2, TOP_EN, TOP_EN | EVALUATION),
    # read only with split.population.sample_table set: a random-split run ignores them
    ("split.population.heldout", ["POP2"], set(), set()),
    ("split.population.population_column", "pop", set(), set()),
    # a sample table (written by the complete_run fixture) turns the population split on: a
    # new input of phenotypes (Snakemake names that reason, not its params, as for covariates)
    (
        "split.population",
        {"sample_table": "populations.tsv", "heldout": ["POP2"]},
        set(),
        AFTER_PHENOTYPES,
    ),
    (
        "evaluate.eqtl_min_maf",
        0.1,
        {"lead_eqtl", "cis_heritability"},
        EQTL | COVERAGE | EVALUATION,
    ),
    # the eGene threshold: lead_eqtl logs the eGenes, window_coverage flags them
    ("evaluate.eqtl_alpha", 0.01, {"lead_eqtl"}, LEAD_EQTL | COVERAGE | EVALUATION),
    # surprising but real: the split check needs evaluate.min_individuals per individual set
    ("evaluate.min_individuals", 4, {"phenotypes"}, AFTER_PHENOTYPES),
    # read by no rule of this run: the dosages rule runs only on inputs.dosages, and a
    # simulated run reads none of inputs.*
    ("baselines.dosage_field", "DS", set(), set()),
    ("inputs.genotypes", "cohort.vcf.gz", set(), set()),
]


def _changed(config: dict, key: str, value) -> dict:
    """A deep copy of ``config`` with dotted ``key`` set to ``value``."""
    out = copy.deepcopy(config)
    *path, last = key.split(".")
    section = out
    for name in path:
        section = section.setdefault(name, {})
    section[last] = value
    return out


def _snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir`` with this checkout's package (jobs run in ``workdir``)."""
    src = str(REPO / "src")
    path = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [
            *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
            *("--directory", str(workdir), "--configfile", str(configfile), "--cores", "2"),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def _dry_run(workdir: Path, config: dict, name: str) -> tuple[set[str], set[str]]:
    """``snakemake -n`` with ``config``: (jobs re-run as params changed, every job listed)."""
    configfile = workdir / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir, configfile, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    if "Nothing to be done" in out:
        return set(), set()
    stats = re.search(r"Job stats:\n(.*?)\n\n", out, re.S)
    assert stats is not None, out[-3000:]
    jobs = {rule for rule, _ in re.findall(r"^(\w+)\s+(\d+)$", stats.group(1), re.M)}
    reasons = re.search(r"params have changed since last execution:\n\s+(.*)\n", out)
    params = set(reasons.group(1).split(", ")) if reasons else set()
    return params, jobs - {"total"}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory) -> Path:
    """The tiny DAG run to the end once; its workdir (config in ``config.yaml``)."""
    workdir = tmp_path_factory.mktemp("params")
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(TINY))
    proc = _snakemake(workdir, configfile)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (workdir / "populations.tsv").write_text("sample\tpopulation\n")  # read by no dry run
    return workdir


def test_unchanged_config_reruns_nothing(complete_run: Path) -> None:
    assert _dry_run(complete_run, TINY, "unchanged") == (set(), set())


def _case_id(case) -> str:
    key, value = (case.values if hasattr(case, "values") else case)[:2]
    return f"{key}={value}"


@pytest.mark.parametrize(
    ("key", "value", "params_changed", "reruns"), CASES, ids=[_case_id(c) for c in CASES]
)
def test_changed_key_reruns_exactly_the_rules_that_read_it(
    complete_run: Path, key: str, value, params_changed: set[str], reruns: set[str]
) -> None:
    got = _dry_run(complete_run, _changed(TINY, key, value), key)
    assert got == (params_changed, reruns)


def test_new_split_seed_reruns_the_split_and_the_baselines(complete_run: Path) -> None:
    """Issue 21: a new split.seed re-ran the sequence models only, evaluating the old split."""
    _, jobs = _dry_run(complete_run, _changed(TINY, "split.seed", 7), "seed7")
    # phenotypes is a checkpoint: the dry run lists the baselines' and lead eQTLs' gather jobs
    # (their chunk jobs join the DAG once the new gene table is written)
    gathers = {"gather_predictdb", "gather_baseline_summary", "gather_lead_eqtl"}
    assert {"phenotypes", "gather_predictions"} | gathers <= jobs
