"""Benchmark: a multi-contig, multi-tissue slice run through profiles/slurm (issue 16 item 5).

A GTEx-like cohort of ``--individuals`` x ``--genes`` over ``--contigs`` contigs and ``--tissues``
tissues (``python -m ps2f.simulate.scale``) runs end to end through the repository's SLURM
profile on the single-node cluster of ``tests/cluster/start_slurm.sh`` (root and the Debian
packages ``slurmctld slurmd slurm-client munge``): every job is submitted with sbatch. The
profile is used as written except for what depends on this test cluster (no accounting
database: ``squeue`` status polling and no account; first poll after 1 s), as in
``tests/test_slurm.py``. The fake GPUs are scheduling tokens: the GPU rules get them and run on
the CPU.

Prints the jobs Snakemake submitted per rule (SLURM jobs, from its log), the jobs run on the
submit host, SLURM's final state of every job still listed, the wall time, and each tissue's
median per-gene r on held-out individuals from ``evaluation/cross_tissue.csv``::

    .venv/bin/python benchmarks/slurm_slice.py --workdir /tmp/slurm_slice

Nothing here runs in the test suite (tests/test_slurm.py runs the tiny DAG through SLURM).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
# the sequence models small and short (the point is where jobs run, not what they learn)
S2F = {
    "window_bp": 256,
    "model": {"first_filters": 8, "n_blocks": 2, "block_filters": 8, "pool": 4, "dense": 8},
    "train": {"epochs": 2, "batch_size": 64, "max_items_per_epoch": 2000, "device": "cpu"},
    "r_model_epochs": 5,
}


def _profile_values(profile: dict, key: str) -> list:
    found = [profile["default-resources"].get(key)]
    found += [res.get(key) for res in profile["set-resources"].values()]
    return list(dict.fromkeys(v for v in found if v is not None))


def start_cluster(profile: dict) -> dict[str, str]:
    """Start (or keep) the test cluster with the profile's partitions and GPU types."""
    env = {
        **os.environ,
        "PS2F_SLURM_PARTITIONS": " ".join(_profile_values(profile, "slurm_partition")),
        "PS2F_SLURM_GPUS": " ".join(f"{m}:4" for m in _profile_values(profile, "gpu_model")),
        "PS2F_SLURM_CPUS": "16",
        "PS2F_SLURM_MEM_MB": "64000",
    }
    proc = subprocess.run([str(REPO / "tests/cluster/start_slurm.sh")], env=env, text=True,
                          capture_output=True, timeout=300)  # fmt: skip
    if proc.returncode:
        sys.exit(f"could not start the SLURM test cluster:\n{proc.stdout}{proc.stderr}")
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="emptied first")
    ap.add_argument("--individuals", type=int, default=200)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--contigs", type=int, default=2)
    ap.add_argument("--tissues", type=int, default=2)
    ap.add_argument("--genes-per-chunk", type=int, default=500)
    ap.add_argument("--stop", action="store_true", help="stop the test cluster afterwards")
    args = ap.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    profile = yaml.safe_load(PROFILE.read_text())
    env = start_cluster(profile)

    cohort = work / "cohort"
    tissues = [f"T{i + 1}" for i in range(args.tissues)]
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ps2f.simulate.scale", "--out", str(cohort), "--n-individuals",
         str(args.individuals), "--n-genes", str(args.genes), "--n-contigs", str(args.contigs),
         "--tissues", *tissues, "--jobs", "2", "--no-individual-truth"],
        check=True, capture_output=True,
    )  # fmt: skip
    simulate_s = time.perf_counter() - t0
    contigs = sorted({line.split("\t")[3] for line in (cohort / "genes.tsv").read_text()
                      .splitlines()[1:]}, key=lambda c: int(c.removeprefix("chr")))  # fmt: skip
    config = {
        "name": "slice",
        "simulate": {"enabled": False},
        "contigs": contigs,
        "inputs": {
            "genotypes": str(cohort / "genotypes.vcf.gz"),
            "reference": str(cohort / "reference.fa"),
            "annotation": str(cohort / "genes.tsv"),
        },
        "expression": {"n_genotype_pcs": 3, "n_expression_pcs": 3},
        "tissues": [
            {"name": t, "expression": str(cohort / "tissues" / t / "expression.bed.gz"),
             "covariates": str(cohort / "tissues" / t / "covariates.txt")}
            for t in tissues
        ],  # fmt: skip
        "s2f": S2F,
        "baselines": {
            "cis_window_bp": 1000,
            "elastic_net": {"n_folds": 5, "n_lambdas": 50},
            "random_forest": {"n_estimators": 20},
        },
        "evaluate": {"n_boot": 50},
        "chunks": {"genes_per_chunk": args.genes_per_chunk},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    # the repository's profile, with what depends on this test cluster (see tests/test_slurm.py)
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 1})
    for res in [profile["default-resources"], *profile["set-resources"].values()]:
        res.pop("slurm_account", None)
    (work / "profile").mkdir()
    (work / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(work), "--configfile", str(work / "config.yaml"), "--workflow-profile",
           str(work / "profile"), "--verbose"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    (work / "snakemake.log").write_text(log)
    if proc.returncode:
        sys.exit(f"the run failed (log: {work / 'snakemake.log'}):\n{log[-4000:]}")

    submitted = re.findall(r"Job \S+ has been submitted with SLURM jobid (\d+)", log)
    # the rule (or group) of each: the --comment of its sbatch call (logged with --verbose)
    comments = re.findall(r"^sbatch call: .*?--comment '?(\S+?)'? ", log, re.M)
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", log))
    states = collections.Counter()
    for run_id in run_ids:
        out = subprocess.run(["squeue", "--states=all", "--noheader", "--name", run_id,
                              "--format=%T"], capture_output=True, text=True).stdout  # fmt: skip
        states.update(out.split())
    local = re.findall(r"^localrule (\w+):", log, re.M)
    print(f"cohort: {args.individuals} individuals x {args.genes} genes x {len(contigs)} contigs "
          f"x {len(tissues)} tissues (simulated in {simulate_s:.0f} s); "
          f"chunks.genes_per_chunk {args.genes_per_chunk}")  # fmt: skip
    print(f"wall {wall / 60:.1f} min; SLURM jobs submitted: {len(submitted)}; on the submit host: "
          f"{len(local)} ({', '.join(sorted(set(local))) or '-'})")  # fmt: skip
    print("SLURM states of the jobs squeue still lists:", dict(states))
    # "rule_elastic_net_wildcards_T1_chr1.0000" -> elastic_net; a group job: its group's name
    by_rule = collections.Counter(
        re.sub(r"_wildcards_.*$", "", c).removeprefix("rule_") for c in comments
    )
    print("submitted per rule or group:", dict(sorted(by_rule.items())))
    cross = pd.read_csv(work / "results" / "slice" / "evaluation" / "cross_tissue.csv")
    print(cross.to_string(index=False))
    if args.stop:
        subprocess.run([str(REPO / "tests/cluster/stop_slurm.sh")], env=env, capture_output=True)


if __name__ == "__main__":
    main()
