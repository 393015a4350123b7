"""Benchmark: `snakemake -n` of a genome-wide DAG with 1 or many tissues (issue 16 item 5).

Needs a GTEx-sized simulated cohort (``python -m ps2f.simulate.scale --out COHORT``) and one
finished phenotypes checkpoint of one of its tissues (a run of ``CONFIG`` up to
``results/<name>/phenotypes/genes.tsv``). Every one of ``--tissues`` tissues reads that tissue's
BED under its own name, and its phenotypes outputs are hard links of the finished one (what the
checkpoint writes for the same BED), so the dry run lists every chunk job, as after all
checkpoints have run::

    .venv/bin/python benchmarks/dryrun.py --config /tmp/gtx_dag/config.yaml \\
        --phenotypes /tmp/gtx_dag/results/gtex/phenotypes --tissues 49

Prints the job count, wall seconds, CPU seconds (user + system) and the peak RSS of the
Snakemake process (wall equals CPU on an otherwise idle machine: the dry run is one thread). Nothing here runs
in the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="a one-tissue config (inputs.expression)")
    ap.add_argument("--phenotypes", type=Path, required=True, help="its finished phenotypes folder")
    ap.add_argument("--tissues", type=int, default=49)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the workdir (to profile the dry run)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ps2f-dryrun-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = yaml.safe_load(args.config.read_text())
    bed = cfg["inputs"].pop("expression")
    cov = cfg.get("expression", {}).pop("covariates", None)
    cfg["tissues"] = [
        {"name": f"T{i:02d}", "expression": bed, "covariates": cov} for i in range(args.tissues)
    ]
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    for i in range(args.tissues):
        d = work / "results" / cfg["name"] / "tissues" / f"T{i:02d}" / "phenotypes"
        d.mkdir(parents=True)
        for f in args.phenotypes.iterdir():
            os.link(f, d / f.name)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(work), "--configfile", str(work / "config.yaml"), "--cores", "2", "-n",
           "--quiet", "rules", "--rerun-triggers", "mtime"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        sys.exit(out[-3000:])
    total = re.findall(r"^total\s+(\d+)", out, re.M)
    print(f"tissues={args.tissues} jobs={total[0] if total else '?'} wall_s={wall:.1f} "
          f"cpu_s={usage.ru_utime + usage.ru_stime:.1f} "
          f"peak_rss_mb={usage.ru_maxrss / 1024:.0f}")  # fmt: skip
    if args.keep:
        print(f"workdir kept: {work}; the command: {' '.join(cmd)}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
