"""Gene chunks (issue 16): chunk jobs gather into the tables one job writes, and a killed
chunk job is re-run alone.

The workflow tests run the tiny simulated DAG (``test_faults.TINY``: 6 genes) twice: in
chunks of 2 genes (3 jobs per heavy per-gene stage, the ElasticNet; the light stages in light
chunks of 2 gene chunks: 2 jobs, the per-gene metrics reading one light chunk of the
RandomForest's and the sequence models' predictions and two gene chunks of the ElasticNet's), with one ElasticNet chunk job killed (SIGKILL) on the
first attempt and the run resumed; and in one chunk. Every gathered table must equal
the one-chunk run's exactly.
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
from test_faults import TINY

from ps2f.io.predictdb import (
    read_covariances,
    read_predictdb_tables,
    write_covariances,
    write_predictdb,
)
from ps2f.pipeline.chunks import (
    chunk_contig,
    gather_tables,
    gene_chunks,
    light_chunks,
    run_gather_predictdb,
)
from ps2f.pipeline.common import read_table, write_table

# ------------------------------------------------------------------------------------------
# the chunk list


def _genes(chroms: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"gene": [f"g{i}" for i in range(len(chroms))], "chrom": chroms})


def test_chunks_follow_the_table_and_never_straddle_contigs() -> None:
    genes = _genes(["1"] * 7 + ["2"] * 2 + ["GL000192.1"] * 3)
    chunks = gene_chunks(genes, 3)
    assert list(chunks) == ["1.0000", "1.0001", "1.0002", "2.0000", "GL000192.1.0000"]
    # near-equal sizes (7 genes -> 3 + 2 + 2), in table order, every gene once
    assert [len(v) for v in chunks.values()] == [3, 2, 2, 2, 3]
    assert sum(chunks.values(), []) == genes["gene"].tolist()
    assert [chunk_contig(c) for c in chunks] == ["1", "1", "1", "2", "GL000192.1"]
    assert list(gene_chunks(genes, 100)) == ["1.0000", "2.0000", "GL000192.1.0000"]
    assert [len(v) for v in gene_chunks(genes, 1).values()] == [1] * 12


def test_light_chunks_group_consecutive_chunks_of_one_contig() -> None:
    chunks = gene_chunks(_genes(["1"] * 7 + ["2"] * 2 + ["GL000192.1"] * 3), 1)
    light = light_chunks(chunks, 3)
    # 7 chunks of contig 1 -> 3 + 3 + 1; a light chunk is named by its first gene chunk and
    # never takes chunks of two contigs
    assert light == {
        "1.0000": ["1.0000", "1.0001", "1.0002"],
        "1.0003": ["1.0003", "1.0004", "1.0005"],
        "1.0006": ["1.0006"],
        "2.0000": ["2.0000", "2.0001"],
        "GL000192.1.0000": ["GL000192.1.0000", "GL000192.1.0001", "GL000192.1.0002"],
    }
    # one chunk per job: the gene chunks themselves
    assert light_chunks(chunks, 1) == {c: [c] for c in chunks}
    with pytest.raises(ValueError, match="light_stage_chunks must be >= 1"):
        light_chunks(chunks, 0)


def test_chunks_refuse_a_table_whose_contigs_are_interleaved() -> None:
    with pytest.raises(ValueError, match="contig 1 are not contiguous"):
        gene_chunks(_genes(["1", "2", "1"]), 2)
    with pytest.raises(ValueError, match="genes_per_chunk must be >= 1"):
        gene_chunks(_genes(["1"]), 0)
    with pytest.raises(ValueError, match="not a chunk ID"):
        chunk_contig("chr1")


def test_gathered_tables_keep_chunk_order_and_columns(tmp_path: Path) -> None:
    parts = [
        pd.DataFrame({"gene": ["a", "b"], "r": [0.5, np.nan]}),
        pd.DataFrame({"gene": pd.Series([], dtype=object), "r": pd.Series([], dtype=float)}),
        pd.DataFrame({"gene": ["c"], "r": [1.0]}),
    ]
    paths = []
    for i, part in enumerate(parts):
        paths.append(str(tmp_path / f"{i}.tsv"))
        write_table(part, paths[-1])
    out = gather_tables(paths, [str(tmp_path / "all.tsv"), str(tmp_path / "all.parquet")])
    assert out["gene"].tolist() == ["a", "b", "c"]
    pd.testing.assert_frame_equal(read_table(tmp_path / "all.parquet"), out)
    # every chunk empty: the columns survive
    empty = gather_tables(paths[1:2], str(tmp_path / "none.tsv"))
    assert list(empty.columns) == ["gene", "r"] and empty.empty


def _extra(genes: list[str], pvals: list[float], rho: list[float]) -> pd.DataFrame:
    from ps2f.io.predictdb import EXTRA_COLUMNS

    extra = pd.DataFrame({c: np.nan for c in EXTRA_COLUMNS}, index=range(len(genes)))
    extra["gene"] = genes
    extra["genename"] = genes
    extra["gene_type"] = "protein_coding"
    extra["n.snps.in.model"] = 1
    extra["pred.perf.pval"] = pvals
    extra["rho_avg"] = rho
    return extra


def test_predictdb_merge_recomputes_qvalues_over_all_genes(tmp_path: Path) -> None:
    weights = [
        pd.DataFrame(
            {
                "gene": [g],
                "rsid": [f"rs{i}"],
                "varID": [f"1_{i}_A_G_b37"],
                "ref_allele": ["A"],
                "eff_allele": ["G"],
                "weight": [0.1 * (i + 1)],
            }
        )
        for i, g in enumerate(["a", "b", "c"])
    ]
    chunks = [(["a", "b"], [0.01, 0.04], [0.3, 0.05]), (["c"], [0.03], [0.2])]
    dbs, covs = [], []
    for k, (genes, pvals, rho) in enumerate(chunks):
        extra = _extra(genes, pvals, rho)
        w = pd.concat([weights[i] for i, g in enumerate("abc") if g in genes], ignore_index=True)
        construction = pd.DataFrame({"chromosome": ["1"], "cv_seed": [7]})
        dbs.append(str(tmp_path / f"{k}.db"))
        write_predictdb(dbs[-1], w, extra, 90, "EUR", construction)
        covs.append(str(tmp_path / f"{k}.txt.gz"))
        rsids = {g: f"rs{'abc'.index(g)}" for g in genes}
        write_covariances(covs[-1], [(g, rsids[g], rsids[g], 0.25) for g in genes])
    out = {n: str(tmp_path / n) for n in ("all.db", "filtered.db", "all.txt.gz")}
    run_gather_predictdb(
        dbs, covs, {"max_pval": 0.05, "min_rho": 0.1}, out["all.db"], out["filtered.db"],
        out["all.txt.gz"],
    )
    merged = read_predictdb_tables(out["all.db"])
    assert merged["extra"]["gene"].tolist() == ["a", "b", "c"]
    # BH over the 3 genes: p (0.01, 0.04, 0.03) -> q (0.03, 0.04, 0.04); per chunk it was not
    np.testing.assert_allclose(merged["extra"]["pred.perf.qval"], [0.03, 0.04, 0.04])
    assert merged["weights"]["gene"].tolist() == ["a", "b", "c"]
    assert merged["sample_info"].to_dict("records") == [{"n_samples": 90, "population": "EUR"}]
    assert merged["construction"].to_dict("records") == [{"chromosome": "1", "cv_seed": 7}]
    # the filter runs on the merged table: b fails rho_avg > 0.1
    assert read_predictdb_tables(out["filtered.db"])["extra"]["gene"].tolist() == ["a", "c"]
    assert read_covariances(out["all.txt.gz"])["GENE"].tolist() == ["a", "b", "c"]


def test_predictdb_merge_refuses_chunks_of_different_cohorts(tmp_path: Path) -> None:
    w = pd.DataFrame(columns=["gene", "rsid", "varID", "ref_allele", "eff_allele", "weight"])
    for k, n in enumerate((90, 80)):
        write_predictdb(tmp_path / f"{k}.db", w, _extra([f"g{k}"], [0.5], [0.0]), n, "EUR")
        write_covariances(tmp_path / f"{k}.txt.gz", [])
    with pytest.raises(ValueError, match="disagree on sample_info"):
        run_gather_predictdb(
            [str(tmp_path / "0.db"), str(tmp_path / "1.db")],
            [str(tmp_path / "0.txt.gz"), str(tmp_path / "1.txt.gz")],
            {"max_pval": 0.05, "min_rho": 0.1},
            str(tmp_path / "a.db"),
            str(tmp_path / "b.db"),
            str(tmp_path / "c.txt.gz"),
        )


# ------------------------------------------------------------------------------------------
# the workflow, chunked and not

# Imported by every Python process of the first chunked run (a sitecustomize on PYTHONPATH):
# the ElasticNet job of the chunk holding gene FAIL_GENE is killed (SIGKILL to its own process,
# as the OOM killer or a node failure ends a job) as it starts; every other job runs normally.
_FAIL_ONE_CHUNK = """
import os
import signal
import sys


class _FailOneChunk:
    def find_spec(self, name, path=None, target=None):
        if name != "ps2f.pipeline.baselines":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            run = module.run_baseline

            def fail_one(*args, **kwargs):
                if kwargs["method"] == "elastic_net" and os.environ["FAIL_GENE"] in (
                    kwargs.get("gene_ids") or []
                ):
                    print("killing this chunk job", file=sys.stderr, flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
                return run(*args, **kwargs)

            module.run_baseline = fail_one

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _FailOneChunk())
"""


def _snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
            *("--directory", str(workdir), "--configfile", str(workdir / "config.yaml")),
            *("--cores", "2", *args),
        ],
        capture_output=True,
        text=True,
        env=env,
    )


def _env(*paths: Path) -> dict[str, str]:
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), *filter(None, [old])])}


def _job_stats(proc: subprocess.CompletedProcess) -> dict[str, int]:
    stats = re.search(r"Job stats:\n(.*?)\n\n", proc.stdout + proc.stderr, re.S)
    assert stats is not None, (proc.stdout + proc.stderr)[-3000:]
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", stats.group(1), re.M)}


def _write_config(workdir: Path, genes_per_chunk: int) -> None:
    cfg = copy.deepcopy(TINY)
    cfg["chunks"] = {"genes_per_chunk": genes_per_chunk, "light_stage_chunks": 2}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The tiny DAG in chunks of 2 genes (one chunk job killed first) and in one chunk."""
    chunked = tmp_path_factory.mktemp("chunked")
    _write_config(chunked, 2)
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text(_FAIL_ONE_CHUNK)
    genes = read_table_after_phenotypes(chunked)
    fail_gene = genes["gene"].iloc[2]  # the second chunk's first gene
    env = {**_env(REPO / "src", hook), "FAIL_GENE": str(fail_gene)}
    first = _snakemake(chunked, "--keep-going", env=env)
    assert first.returncode != 0, "the injected failure did not happen"
    # the killed job is the second chunk's ElasticNet
    out = first.stdout + first.stderr
    assert "killing this chunk job" in out, out[-3000:]
    assert re.search(r"Error in rule elastic_net:.*?sim1\.0001", out, re.S), out[-3000:]
    # the re-run (without the failure) runs that chunk's ElasticNet job alone, then what
    # depends on it
    again = _snakemake(chunked, env=_env(REPO / "src"))
    assert again.returncode == 0, again.stderr[-4000:]
    whole = tmp_path_factory.mktemp("whole")
    _write_config(whole, 1000)
    proc = _snakemake(whole, env=_env(REPO / "src"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"chunked": chunked, "whole": whole, "rerun": again}


def read_table_after_phenotypes(workdir: Path) -> pd.DataFrame:
    """Run the DAG up to the phenotypes gene table and read it."""
    target = "results/tiny/phenotypes/genes.tsv"
    proc = _snakemake(workdir, target, env=_env(REPO / "src"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return read_table(workdir / target)


@pytest.mark.workflow
def test_a_killed_chunk_job_is_rerun_alone(runs: dict[str, Path]) -> None:
    stats = _job_stats(runs["rerun"])
    assert stats["elastic_net"] == 1
    for rule in ("random_forest", "lead_eqtl", "cis_heritability", "predict_p", "train_p"):
        assert rule not in stats, stats
    assert stats["gather_predictions"] == 1 and stats["gather_predictdb"] == 1


@pytest.mark.workflow
def test_one_job_per_chunk_and_stage(runs: dict[str, Path]) -> None:
    logs = runs["chunked"] / "logs" / "tiny"
    assert sorted(p.name for p in (logs / "baselines/elastic_net").glob("*.log")) == [
        "sim1.0000.log",
        "sim1.0001.log",
        "sim1.0002.log",
    ]
    # the light stages: one job per 2 gene chunks, named by the first
    light = ("baselines/random_forest", "predict_p", "score_reference", "lead_eqtl",
             "cis_heritability", "gene_metrics")  # fmt: skip
    for stage in light:
        assert sorted(p.name for p in (logs / stage).glob("*.log")) == [
            "sim1.0000.log",
            "sim1.0002.log",
        ]
    whole_logs = runs["whole"] / "logs" / "tiny" / "lead_eqtl"
    assert [p.name for p in whole_logs.glob("*.log")] == ["sim1.0000.log"]


GATHERED = [
    "predictions/elastic_net.parquet",
    "predictions/random_forest.parquet",
    "predictions/p_model.parquet",
    "predictions/r_model.parquet",
    "models/elastic_net.summary.tsv",
    "models/random_forest.summary.tsv",
    "evaluation/lead_eqtl.parquet",
    "evaluation/lead_eqtl.csv",
    "evaluation/lead_eqtl_dosages.parquet",
    "evaluation/cis_heritability.parquet",
    "evaluation/cis_heritability.csv",
    # and downstream of them
    "evaluation/window_coverage.parquet",
    "evaluation/nonlinear_genes.csv",
    "evaluation/metrics.parquet",
    "evaluation/summary.parquet",
    "evaluation/comparisons.parquet",
]


@pytest.mark.workflow
@pytest.mark.parametrize("table", GATHERED)
def test_gathered_tables_equal_the_one_chunk_run(runs: dict[str, Path], table: str) -> None:
    a = runs["chunked"] / "results" / "tiny" / table
    b = runs["whole"] / "results" / "tiny" / table
    if table.endswith((".tsv", ".csv")):
        assert a.read_text() == b.read_text()
    else:
        pd.testing.assert_frame_equal(read_table(a), read_table(b))


@pytest.mark.workflow
def test_gathered_predictdb_equals_the_one_chunk_run(runs: dict[str, Path]) -> None:
    for name in ("elastic_net.db", "elastic_net.filtered.db"):
        a = read_predictdb_tables(runs["chunked"] / "results" / "tiny" / "models" / name)
        b = read_predictdb_tables(runs["whole"] / "results" / "tiny" / "models" / name)
        for table in a:
            pd.testing.assert_frame_equal(a[table], b[table], obj=f"{name}:{table}")
        with sqlite3.connect(runs["chunked"] / "results" / "tiny" / "models" / name) as con:
            assert con.execute("SELECT count(*) FROM weights").fetchone()[0] == len(a["weights"])
    cov = "models/elastic_net.covariances.txt.gz"
    pd.testing.assert_frame_equal(
        read_covariances(runs["chunked"] / "results" / "tiny" / cov),
        read_covariances(runs["whole"] / "results" / "tiny" / cov),
    )
