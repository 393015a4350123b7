"""End to end: a workflow config enabling a precomputed score table lands it in the evaluation.

The real ``score_external`` rule runs (simulate -> phenotypes -> score_external); a dry run of
the whole DAG shows ``evaluate`` reading the table's predictions beside the built-in models,
and the evaluation code run on them gives that model its per-gene metrics. (The full DAG with
training runs in tests/test_workflow.py; repeating it here would add minutes.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from ps2f.pipeline.evaluate import run_evaluate

pytestmark = pytest.mark.workflow

CONFIG = {
    "name": "tiny",
    "simulate": {"enabled": True, "n_individuals": 30, "n_genes": 6, "seed": 3},
    "contigs": ["sim1"],
    "s2f": {
        "window_bp": 512,
        "model": {"first_filters": 16, "n_blocks": 2, "block_filters": 16, "pool": 4, "dense": 16},
    },
    "baselines": {"cis_window_bp": 1000},
}


def _snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(cfg), "--cores", "2", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True)


def _schema_defaults(section: str) -> dict:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"][section]["properties"]
    return {k: v["default"] for k, v in props.items()}


def test_precomputed_table_is_evaluated_beside_the_other_models(tmp_path):
    run = tmp_path / "results" / "tiny"
    proc = _snakemake(tmp_path, CONFIG, "results/tiny/phenotypes/genes.tsv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t")
    inds = pd.read_csv(run / "phenotypes" / "individuals.tsv", sep="\t")
    # a table made elsewhere: 4 of the 6 genes (with version suffixes), one unknown gene
    rng = np.random.default_rng(0)
    kept = genes["gene"].tolist()[:4]
    rows = [
        (f"{g}.7", i, h, rng.normal()) for g in kept for i in inds["individual"] for h in (1, 2)
    ]
    rows += [("ENSG_UNKNOWN", inds["individual"].iloc[0], h, 0.0) for h in (1, 2)]
    table = tmp_path / "alphagenome_scores.tsv"
    pd.DataFrame(rows, columns=["gene", "individual", "haplotype", "score"]).to_csv(
        table, sep="\t", index=False
    )
    config = {
        **CONFIG,
        "scorers": [{"name": "ag_table", "type": "precomputed", "table": str(table)}],
    }
    proc = _snakemake(
        tmp_path,
        config,
        "results/tiny/predictions/ag_table.parquet",
        "results/tiny/scores/ag_table.haplotypes.parquet",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule score_external" in proc.stderr
    pred = pd.read_parquet(run / "predictions" / "ag_table.parquet")
    assert set(pred["model"]) == {"ag_table"} and set(pred["gene"]) == set(kept)
    assert len(pred) == len(kept) * len(inds)
    src = pd.DataFrame(rows[: 2 * len(kept) * len(inds)], columns=["gene", "individual", "h", "s"])
    mean = src.groupby([src["gene"].str.replace(".7", ""), "individual"])["s"].mean()
    np.testing.assert_allclose(
        pred.set_index(["gene", "individual"])["predicted"],
        mean.loc[pred.set_index(["gene", "individual"]).index],
    )
    haps = pd.read_parquet(run / "scores" / "ag_table.haplotypes.parquet")
    assert len(haps) == 2 * len(pred)
    # one job per gene chunk (the 6 genes make one chunk)
    log = (tmp_path / "logs" / "tiny" / "score_external" / "ag_table" / "sim1.0000.log").read_text()
    assert "pairs have no score" in log

    # the whole DAG: evaluate reads the table's predictions with the built-in models'
    proc = _snakemake(tmp_path, config, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluate = re.search(r"rule evaluate:\n\s+input: ([^\n]+)", proc.stdout + proc.stderr)
    assert evaluate is not None
    inputs = evaluate.group(1).split(", ")
    for model in ("p_model", "r_model", "elastic_net", "random_forest", "ag_table"):
        assert f"results/tiny/predictions/{model}.parquet" in inputs

    # ... and the evaluation code gives it per-gene metrics like any model
    other = pred.assign(model="other", predicted=pred["predicted"] + rng.normal(size=len(pred)))
    other_path = tmp_path / "other.parquet"
    other.to_parquet(other_path)
    cfg = {**_schema_defaults("evaluate"), "n_permutations": 20, "n_boot": 10}
    out = {k: str(tmp_path / "eval" / f"{k}.parquet") for k in ("p", "m", "mc", "s", "sc")}
    run_evaluate(
        [str(run / "predictions" / "ag_table.parquet"), str(other_path)], cfg, *out.values()
    )
    metrics = pd.read_parquet(out["m"])
    r = metrics.query("model == 'ag_table' and metric == 'pearson_r'")
    assert r["gene"].nunique() == len(kept) and r["value"].notna().any()
    assert "ag_table" in set(pd.read_parquet(out["s"])["model"])


def test_missing_enformer_weights_fail_at_parse_time(tmp_path):
    config = {
        **CONFIG,
        "scorers": [{"name": "enformer", "type": "enformer", "weights": "weights/enformer"}],
    }
    proc = _snakemake(tmp_path, config, "-n")
    assert proc.returncode != 0
    msg = proc.stdout + proc.stderr
    assert "scorers[0].weights: 'weights/enformer' does not exist" in msg
    assert "never downloaded at run time" in msg and "enformer-official-rough" in msg


def test_torch_module_scorer_runs_in_the_workflow(tmp_path):
    """A user's model named by 'file.py:function' is scored by the real score_external rule on
    the simulated cohort; its window (longer than s2f.window_bp) is what the variant store holds,
    and the job needs the callable's file (an input: editing it re-runs the scorer)."""
    user_file = tmp_path / "models" / "my_cnn.py"
    user_file.parent.mkdir()
    user_file.write_text((REPO / "tests" / "user_models.py").read_text())
    scorer = {
        "name": "my_cnn",
        "type": "torch_module",
        "callable": "models/my_cnn.py:conv_tracks",  # relative to the working directory
        "kwargs": {"n_tracks": 3, "bin_bp": 32},
        "window_bp": 1024,
        "tracks": [0, 2],
        "device": "cpu",
    }
    config = {**CONFIG, "scorers": [scorer]}
    proc = _snakemake(tmp_path, config, "results/tiny/predictions/my_cnn.parquet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "results" / "tiny"
    pred = pd.read_parquet(run / "predictions" / "my_cnn.parquet")
    genes = pd.read_csv(run / "phenotypes" / "genes.tsv", sep="\t")
    inds = pd.read_csv(run / "phenotypes" / "individuals.tsv", sep="\t")
    assert set(pred["model"]) == {"my_cnn"}
    assert len(pred) == int(genes["s2f"].sum()) * len(inds)
    assert pred["predicted"].notna().all() and pred.groupby("gene")["predicted"].std().gt(0).any()
    logs = sorted((tmp_path / "logs" / "tiny" / "score_external" / "my_cnn").glob("*.log"))
    log = "".join(p.read_text() for p in logs)  # one job per gene chunk
    assert logs and log.count("ConvTracks, output") == len(logs)
    assert "ConvTracks, output (N, 32, 3) read as N,bins,tracks" in log
    assert "sum over bins 15-17 of 32 x 32 bp; 1024 bp windows" in log
    # the store holds the scorer's 1,024-bp windows (s2f.window_bp is 512)
    from ps2f.genome.store import load_stores

    store = load_stores([str(run / "variants" / "sim1.npz")])["sim1"]
    tss = int(genes["tss0"].iloc[0])
    assert store.covers(tss - 512, tss + 512)
    # editing the model's file re-runs the scorer (and only what follows it)
    user_file.write_text(user_file.read_text() + "\n# edited\n")
    proc = _snakemake(tmp_path, config, "results/tiny/predictions/my_cnn.parquet", "-n")
    assert proc.returncode == 0 and "score_external" in proc.stdout, proc.stdout[-2000:]
    assert "genotypes" not in re.findall(r"^rule (\w+):", proc.stdout, re.M)
    # a callable that is not there stops the run when the workflow is parsed
    bad = {**config, "scorers": [{**scorer, "callable": "models/my_cnn.py:build"}]}
    proc = _snakemake(tmp_path, bad, "-n")
    assert proc.returncode != 0
    assert "scorers[0].callable: 'models/my_cnn.py' " in proc.stdout + proc.stderr
    assert "defines no 'build' at top level" in proc.stdout + proc.stderr
