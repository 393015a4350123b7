"""Cluster execution: the workflow submitted with profiles/slurm to a real (single-node) SLURM.

The `slurm` tests start SLURM on localhost with tests/cluster/start_slurm.sh (root and the Debian
packages `slurmctld slurmd slurm-client munge`; they skip with the reason otherwise) and submit
the tiny simulated workflow with the repository's own profile. The node is shaped for the
profile: its partitions and (fake) GPU types are read from profiles/slurm, so the profile's
requests are submitted as written; only settings that depend on this test cluster are changed
(`TEST_SETTINGS`). The fake GPUs are scheduling tokens: SLURM allocates `--gpus=a100:1`, torch
finds no CUDA device and trains on the CPU, so outputs can be compared with a local run.
"""

from __future__ import annotations

import copy
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
CLUSTER = REPO / "tests" / "cluster"
GPU_RULES = ("train_p", "train_r", "predict_p", "score_reference")
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]

# Smaller and faster than test_workflow's tiny cohort: the point here is where jobs run.
# device cpu: torch is deterministic on the CPU at a fixed thread count (the rules' `threads:`,
# equal locally and on the cluster), so cluster and local outputs must be identical.
TINY = {
    "name": "tiny",
    "simulate": {"enabled": True, "n_individuals": 40, "n_genes": 6, "seed": 3},
    "contigs": ["sim1"],
    "s2f": {
        "window_bp": 256,
        "model": {"first_filters": 8, "n_blocks": 2, "block_filters": 8, "pool": 4, "dense": 8},
        "train": {"epochs": 1, "batch_size": 32, "max_items_per_epoch": 200, "device": "cpu"},
    },
    "baselines": {
        "cis_window_bp": 1000,
        "elastic_net": {"n_folds": 3, "n_lambdas": 20},
        "random_forest": {"n_estimators": 10},
    },
    "evaluate": {"n_boot": 20},
    # 3 gene chunks: every heavy per-gene stage submits one SLURM job per chunk, the light
    # stages one per 2 chunks (2 jobs), then a gather
    "chunks": {"genes_per_chunk": 2, "light_stage_chunks": 2},
}

# What differs between this test cluster and a real one; everything else is profiles/slurm as is.
TEST_SETTINGS = {
    # no slurmdbd here, hence no sacct: poll squeue (MinJobAge=600 keeps finished jobs listed)
    "slurm-status-command": "squeue",
    # first poll after 1 s, not 40 s: these jobs take seconds (each empty poll adds 10 s to the
    # next wait, so the first polls decide how soon a finished job is seen)
    "slurm-init-seconds-before-status-checks": 1,
    # keep the SLURM log of every job: the test reads which rules ran inside each one
    "slurm-keep-successful-logs": True,
    # the injected failure must fail once, not be retried
    "retries": 0,
}
# The test node: more CPUs and memory than this machine so that the profile's requests are
# schedulable side by side (the jobs use a fraction); four fake GPUs of each type the profile asks for.
NODE_CPUS, NODE_MEM_MB, FAKE_GPUS_PER_TYPE = 16, 64000, 4


def load_profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def profile_values(profile: dict, key: str) -> list:
    """Values of resource `key` in default-resources and set-resources, in order, no repeats."""
    found = [profile.get("default-resources", {}).get(key)]
    found += [res.get(key) for res in profile.get("set-resources", {}).values()]
    return list(dict.fromkeys(v for v in found if v is not None))


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [
        *SNAKEMAKE,
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *args,
    ]


# --- the profile itself (no cluster needed) -------------------------------------------------------


def test_slurm_profile_places_gpu_rules_and_groups_only_cpu_rules():
    profile = load_profile()
    assert profile["executor"] == "slurm"
    partition = profile["default-resources"]["slurm_partition"]
    for rule in GPU_RULES:
        res = profile["set-resources"][rule]
        assert res["gpu"] >= 1 and res.get("gpu_model"), rule
        assert res["slurm_partition"] != partition, f"{rule} is not sent to a GPU partition"
    # a failed group job removes the outputs of all its rules: never group expensive GPU work
    assert not set(profile["groups"]) & set(GPU_RULES)
    # every key is explained where it is set
    for line in PROFILE.read_text().splitlines():
        if re.match(r"^\s*[\w-]+:", line):
            assert "#" in line, f"profiles/slurm/config.yaml: key without a comment: {line!r}"


def test_slurm_profile_resources_in_dry_run(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -r requirements.txt")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    proc = subprocess.run(
        snakemake_cmd(tmp_path, "--workflow-profile", str(PROFILE.parent), "--dry-run"),
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    # every rule the profile names exists (a renamed rule would silently lose its placement),
    # also rules this config's DAG does not run (e.g. dosages without inputs.dosages)
    profile = load_profile()
    listed = subprocess.run(
        snakemake_cmd(tmp_path, "--list-rules"), capture_output=True, text=True, cwd=REPO
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    rules = set(listed.stdout.split())
    assert {"train_p", "dosages", "genotypes"} <= rules, listed.stdout
    named = set(profile["set-resources"]) | set(profile["groups"])
    assert named <= rules, f"profiles/slurm names rules the workflow lacks: {named - rules}"
    res = profile["set-resources"]["train_p"]
    block = re.search(r"\nrule train_p:\n(.*?)\n\n", out, re.S)
    assert block, out[-3000:]
    for item in (
        f"gpu={res['gpu']}",
        f"gpu_model={res['gpu_model']}",
        f"slurm_partition={res['slurm_partition']}",
    ):
        assert item in block.group(1), f"train_p lacks {item}: {block.group(1)}"
    for group in set(profile["groups"].values()):
        assert f"Group job {group} " in out, f"no group job {group}"


# --- a real SLURM cluster ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the single-node test cluster (skip, with the reason, where that is impossible)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a SLURM test cluster (tests/cluster/start_slurm.sh)")
    missing = [
        t for t in ("slurmctld", "slurmd", "sbatch", "squeue", "munged") if not shutil.which(t)
    ]
    if missing:
        pytest.skip(
            f"SLURM not installed ({', '.join(missing)} missing): "
            "apt-get install slurmctld slurmd slurm-client munge"
        )
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -r requirements.txt")
    # one session at a time on this machine's test cluster (another may be starting or stopping it)
    lock = open(Path(tempfile.gettempdir()) / "ps2f-slurm.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    profile = load_profile()
    env = {
        **os.environ,
        "PS2F_SLURM_PARTITIONS": " ".join(profile_values(profile, "slurm_partition")),
        "PS2F_SLURM_GPUS": " ".join(
            f"{m}:{FAKE_GPUS_PER_TYPE}" for m in profile_values(profile, "gpu_model")
        ),
        "PS2F_SLURM_CPUS": str(NODE_CPUS),
        "PS2F_SLURM_MEM_MB": str(NODE_MEM_MB),
    }
    was_up = subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout
    was_up = "UP" in was_up
    try:
        proc = subprocess.run(
            [str(CLUSTER / "start_slurm.sh")], env=env, capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        lock.close()
        pytest.skip("tests/cluster/start_slurm.sh did not finish in 180 s")
    if proc.returncode != 0:
        lock.close()
        pytest.skip(
            f"could not start the SLURM test cluster (exit {proc.returncode}): "
            f"{(proc.stdout + proc.stderr).strip()[-1500:]}"
        )
    yield env
    if not was_up:
        subprocess.run([str(CLUSTER / "stop_slurm.sh")], env=env, capture_output=True)
    lock.close()


def write_profile(path: Path, extra_resources: dict | None = None) -> Path:
    """profiles/slurm with TEST_SETTINGS (and `extra_resources` merged into set-resources)."""
    profile = copy.deepcopy(load_profile())
    profile.update(TEST_SETTINGS)
    # no accounting database here: sbatch would reject any account
    for res in [profile["default-resources"], *profile["set-resources"].values()]:
        res.pop("slurm_account", None)
    for rule, res in (extra_resources or {}).items():
        profile["set-resources"].setdefault(rule, {}).update(res)
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(profile))
    return path


def slurm_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """SLURM's own table of the jobs of one Snakemake run: job id -> state, comment, partition."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T|%k|%P"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        jobid, state, comment, partition = line.split("|")
        jobs[jobid] = {"state": state, "comment": comment, "partition": partition}
    return jobs


def run_id(log: str) -> str:
    found = re.findall(r"SLURM run ID: (\S+)", log)
    assert len(found) == 1, log[-3000:]
    return found[0]


def rules_inside_slurm_jobs(workdir: Path, jobids) -> set[str]:
    """Rules that finished inside the given SLURM jobs, read from the jobs' own SLURM logs."""
    rules = set()
    for jobid in jobids:
        (log,) = (workdir / ".snakemake" / "slurm_logs").rglob(f"{jobid}.log")
        rules |= set(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log.read_text()))
    return rules


def outputs(run: Path) -> dict[str, float]:
    return {str(p.relative_to(run)): p.stat().st_mtime for p in run.rglob("*") if p.is_file()}


@pytest.mark.slurm
@pytest.mark.workflow
def test_workflow_on_slurm_fails_cleanly_resumes_and_matches_local_run(
    slurm_cluster, tmp_path, request
):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for d in (local, cluster):
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump(TINY))

    # The reference: a local run (profiles/default), alongside the first cluster run and at a
    # lower CPU priority (the cluster run waits on its jobs, the local run fills the gaps).
    local_run = subprocess.Popen(
        ["nice", "-n", "10", *snakemake_cmd(local)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    request.addfinalizer(local_run.kill)  # if an assertion below stops the test early

    # 1. A job that fails on the cluster: the last job (the `summarize` group: evaluate +
    # figures) asks for 100 MB; SLURM kills it when it exceeds that. Everything else succeeds.
    groups = load_profile()["groups"]
    starved = {rule: {"mem_mb": 100} for rule, group in groups.items() if group == "summarize"}
    assert starved, "profiles/slurm has no `summarize` group"
    first = subprocess.run(
        snakemake_cmd(
            cluster, "--workflow-profile", str(write_profile(tmp_path / "p1", starved)), "--verbose"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log1 = first.stdout + first.stderr
    (tmp_path / "cluster-1.log").write_text(log1)  # kept for a look after a failure
    assert first.returncode == 1, log1[-4000:]
    assert "Exiting because a job execution failed" in log1
    jobs1 = slurm_jobs(run_id(log1))
    failed = {j: v for j, v in jobs1.items() if v["state"] != "COMPLETED"}
    assert len(failed) == 1, jobs1
    ((failed_id, failed_job),) = failed.items()
    assert (
        failed_job["state"] in {"FAILED", "OUT_OF_MEMORY"} and "summarize" in failed_job["comment"]
    )
    # reported as failed, pointing to the job's SLURM log, where SLURM says why
    (failed_log,) = (cluster / ".snakemake" / "slurm_logs").rglob(f"{failed_id}.log")
    assert "Error in group summarize" in log1 and str(failed_log) in log1
    assert "exceeded memory limit" in failed_log.read_text()
    # stopped cleanly: nothing left queued or running, no lock, the failed job's outputs removed
    assert not list((cluster / ".snakemake" / "locks").glob("*"))
    run = cluster / "results" / "tiny"
    assert not (run / "evaluation" / "metrics.parquet").exists()
    predictions = {p.name for p in (run / "predictions").glob("*.parquet")}
    assert {"p_model.parquet", "r_model.parquet"} < predictions
    finished = outputs(run)

    # The GPU request the plugin built for train_p, and what SLURM granted
    gpu = load_profile()["set-resources"]["train_p"]
    (sbatch,) = [
        line
        for line in log1.splitlines()
        if line.startswith("sbatch call:") and "--comment rule_train_p " in line
    ]
    assert f"--gpus={gpu['gpu_model']}:{gpu['gpu']}" in sbatch, sbatch
    assert f"-p {gpu['slurm_partition']} " in sbatch, sbatch
    (train_p_id,) = [j for j, v in jobs1.items() if v["comment"] == "rule_train_p"]
    granted = subprocess.run(
        ["scontrol", "show", "job", train_p_id], capture_output=True, text=True
    ).stdout
    assert f"TresPerJob=gres:gpu:{gpu['gpu_model']}:{gpu['gpu']}" in granted, granted
    assert jobs1[train_p_id]["partition"] == gpu["slurm_partition"]

    # 2. Fixed (the profile's own memory request) and re-run: only the failed job is redone.
    second = subprocess.run(
        snakemake_cmd(cluster, "--workflow-profile", str(write_profile(tmp_path / "p2"))),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log2 = second.stdout + second.stderr
    (tmp_path / "cluster-2.log").write_text(log2)
    assert second.returncode == 0, log2[-4000:]
    jobs2 = slurm_jobs(run_id(log2))
    assert [v["comment"] for v in jobs2.values()] == [failed_job["comment"]], jobs2
    assert all(v["state"] == "COMPLETED" for v in jobs2.values()), jobs2
    after = outputs(run)
    assert {f: after[f] for f in finished} == finished, "finished outputs were redone"

    local_log = local_run.communicate(timeout=600)[0]
    (tmp_path / "local.log").write_text(local_log)
    assert local_run.returncode == 0, local_log[-4000:]

    # Every job of the DAG ran inside a SLURM job: the rules the local run executed are exactly
    # those that finished inside the SLURM jobs of the two cluster runs.
    # (the phenotypes checkpoint is logged as "checkpoint phenotypes:")
    local_rules = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", local_log, re.M))
    local_rules -= {"all"}
    assert {"train_p", "predict_p", "evaluate"} <= local_rules
    completed = [j for j, v in {**jobs1, **jobs2}.items() if v["state"] == "COMPLETED"]
    assert rules_inside_slurm_jobs(cluster, completed) == local_rules
    n_submitted = len(re.findall(r"has been submitted with SLURM jobid", log1 + log2))
    assert n_submitted == len(jobs1) + len(jobs2)

    # Same outputs as the local run: every table, exactly.
    assert predictions == {p.name for p in (local / "results/tiny/predictions").glob("*.parquet")}
    tables = sorted(p.relative_to(local) for p in (local / "results").rglob("*.parquet"))
    assert any("evaluation/metrics.parquet" in str(t) for t in tables)
    for table in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(cluster / table),
            pd.read_parquet(local / table),
            check_exact=True,
            obj=str(table),
        )
