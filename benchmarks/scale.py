"""Benchmark: gene chunks must not slow a gene down (issue 16, item 5).

Each per-gene stage (ElasticNet, RandomForest, lead eQTL, cis-heritability, p-model
prediction, r-model reference scoring) is run on the same genes of one workflow run in two
ways, as the workflow's jobs run them: one job over all genes, and ``--chunks`` jobs of a chunk
each (:func:`ps2f.pipeline.chunks.gene_chunks`). Every job is its own process started like a
rule's script (it imports ps2f, reads the phenotypes tables and its contig's variant store,
writes its tables), so the chunks pay their per-job start-up and loading. Timed per job: CPU
seconds of the process (user + system, from ``wait4``) and its peak RSS. Single and chunked runs
of a stage alternate ``--rounds`` times (both sample the same machine load). The ratio column is
genes per CPU-second of the chunked jobs over the single job's (median over rounds): the goal is
>= 0.9.

Inputs come from a workflow run on ``--configfile`` (default: a simulated cohort of
``--individuals`` x ``--genes`` written to ``config.yaml`` in ``--workdir``), built first with
Snakemake up to the phenotypes, the variant store and the two trained sequence models (a few
short epochs: their speed, not their accuracy, is measured here)::

    .venv/bin/python benchmarks/scale.py                     # 838 individuals x 300 genes, 2 chunks
    .venv/bin/python benchmarks/scale.py --genes 600 --chunks 4 --rounds 2
    .venv/bin/python benchmarks/scale.py --stages elastic_net lead_eqtl

Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = (
    "elastic_net",
    "random_forest",
    "lead_eqtl",
    "cis_heritability",
    "predict_p",
    "score_reference",
)


def _config(individuals: int, genes: int) -> dict:
    """A simulated cohort at GTEx's sample size with the workflow's default per-gene settings."""
    return {
        "name": "scale",
        "simulate": {"enabled": True, "n_individuals": individuals, "n_genes": genes, "seed": 1},
        "contigs": ["sim1"],
        "s2f": {
            "window_bp": 640,
            "model": {"first_filters": 16, "n_blocks": 2, "block_filters": 16, "pool": 4},
            "train": {"epochs": 1, "max_items_per_epoch": 2000, "device": "cpu"},
            "r_model_epochs": 1,
        },
    }


def _validated(configfile: Path) -> dict:
    from snakemake.utils import validate

    cfg = yaml.safe_load(configfile.read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return cfg


def _build(workdir: Path, configfile: Path, run: Path, contigs: list[str]) -> None:
    """Run the workflow up to what the per-gene stages read."""
    rel = run.relative_to(workdir)  # Snakemake matches targets relative to --directory
    targets = [
        str(rel / "phenotypes/genes.tsv"),
        *(str(rel / f"variants/{c}.npz") for c in contigs),
        str(rel / "models/p_model.pt"),
        str(rel / "models/r_model.pt"),
    ]
    cmd = [
        *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
        *("--directory", str(workdir), "--configfile", str(configfile), "--cores", "2"),
        *targets,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"building the benchmark's run failed:\n{proc.stderr[-3000:]}")


def _job_kwargs(stage: str, cfg: dict, run: Path, out: Path, genes: list[str]) -> dict:
    """Keyword arguments of the stage's ps2f.pipeline function, as its rule passes them."""
    from ps2f.pipeline.chunks import chunk_contig

    contig = chunk_contig(out.name)
    common = {
        "genes_path": str(run / "phenotypes/genes.tsv"),
        "individuals_path": str(run / "phenotypes/individuals.tsv"),
        "expression_path": str(run / "phenotypes/expression.parquet"),
        "store_paths": [str(run / f"variants/{contig}.npz")],
        "gene_ids": genes,
    }
    if stage in ("elastic_net", "random_forest"):
        kw = {
            "method": stage,
            "baselines": cfg["baselines"],
            "threads": 1,
            "out_predictions": str(out / "predictions.parquet"),
            "out_summary": str(out / "summary.tsv"),
            "run_name": cfg["name"],
        }
        if stage == "elastic_net":
            kw |= {"out_db": str(out / "en.db"), "out_covariances": str(out / "cov.txt.gz")}
        return common | kw
    if stage == "lead_eqtl":
        return common | {
            "cis_window_bp": cfg["baselines"]["cis_window_bp"],
            "evaluate": cfg["evaluate"],
            "out_lead": str(out / "lead.parquet"),
            "out_lead_csv": None,
            "out_dosages": str(out / "dosages.parquet"),
        }
    if stage == "cis_heritability":
        return common | {
            "cis_window_bp": cfg["baselines"]["cis_window_bp"],
            "evaluate": cfg["evaluate"],
            "out_table": str(out / "h2.parquet"),
            "out_csv": None,
        }
    model = "p_model" if stage == "predict_p" else "r_model"
    return common | {
        "mode": "p" if stage == "predict_p" else "reference_scoring",
        "reference": str(run / "simulated/reference.fa"),
        "model_path": str(run / f"models/{model}.pt"),
        "s2f": cfg["s2f"],
        "contig_aliases": cfg["contig_aliases"],
        "threads": 1,
        "out_predictions": str(out / "predictions.parquet"),
    }


def _worker(spec: str) -> None:
    """One job: the stage's pipeline function with the given keyword arguments (a JSON file)."""
    args = json.loads(Path(spec).read_text())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ps2f.pipeline import setup_logging

    setup_logging(args.pop("log"))
    stage = args.pop("stage")
    if stage in ("elastic_net", "random_forest"):
        from ps2f.pipeline.baselines import run_baseline as run
    elif stage == "lead_eqtl":
        from ps2f.pipeline.evaluate import run_lead_eqtl as run
    elif stage == "cis_heritability":
        from ps2f.pipeline.evaluate import run_cis_heritability as run
    else:
        from ps2f.pipeline.train import run_predict as run
    run(**args)
    # this job's own peak RSS (VmHWM): ru_maxrss from wait4 would also hold the benchmark
    # process's high-water mark at fork time, which exec keeps
    status = Path("/proc/self/status")
    if status.exists():
        hwm = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
        print(f"PEAK_RSS_MB {int(hwm.group(1)) / 1024}", file=sys.stderr)


def _run_job(stage: str, kwargs: dict) -> tuple[float, float]:
    """Run one job in its own process: (CPU seconds, peak RSS in MB)."""
    out = Path(kwargs.get("out_predictions") or kwargs.get("out_lead") or kwargs["out_table"])
    spec = out.parent / f"{stage}.json"
    spec.write_text(json.dumps({**kwargs, "stage": stage, "log": str(out.parent / "job.log")}))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(spec)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{stage} job failed:\n{err[-3000:]}")
    peak = re.findall(r"^PEAK_RSS_MB (\S+)$", err, re.M)
    return usage.ru_utime + usage.ru_stime, float(peak[-1]) if peak else usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the run here (else a temp dir)")
    ap.add_argument("--configfile", type=Path, default=None, help="a workflow config to use")
    ap.add_argument("--individuals", type=int, default=838, help="simulated individuals (GTEx v8)")
    ap.add_argument("--genes", type=int, default=300, help="simulated genes, all timed")
    ap.add_argument(
        "--chunks", type=int, default=2, help="chunks the genes are cut into (2: 150 genes each)"
    )
    ap.add_argument("--rounds", type=int, default=1, help="single/chunked alternations per stage")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker)
        return

    from ps2f.pipeline.chunks import gene_chunks
    from ps2f.pipeline.common import read_table

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ps2f-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = args.configfile or workdir / "config.yaml"
    if args.configfile is None:
        configfile.write_text(yaml.safe_dump(_config(args.individuals, args.genes)))
    cfg = _validated(configfile)
    run = workdir / "results" / cfg["name"]
    t0 = time.perf_counter()
    _build(workdir, configfile, run, cfg["contigs"])
    print(f"# run built in {time.perf_counter() - t0:.0f} s: {run}", flush=True)
    genes = read_table(run / "phenotypes/genes.tsv")
    one = gene_chunks(genes, len(genes))
    per_chunk = -(-max(len(v) for v in one.values()) // args.chunks)
    chunks = gene_chunks(genes, per_chunk)
    n_genes = len(genes)
    n_ind = len(read_table(run / "phenotypes/individuals.tsv"))
    print(
        f"# {n_genes} genes x {n_ind} individuals; single job vs {len(chunks)} chunk jobs of "
        f"{per_chunk} genes or fewer; {args.rounds} round(s); {os.cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.1f} at the start",
        flush=True,
    )
    print(
        "stage              genes/CPU-s single  genes/CPU-s chunked  chunked/single  "
        "peak RSS MB single  max chunk"
    )
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        for stage in args.stages:
            ratios, single_rate, chunk_rate, rss_single, rss_chunk = [], [], [], [], []
            for r in range(args.rounds):
                cpu1, rss1 = 0.0, 0.0
                for chunk, ids in one.items():
                    out = tmp / f"{stage}-{r}-single" / chunk
                    out.mkdir(parents=True)
                    c, m = _run_job(stage, _job_kwargs(stage, cfg, run, out, ids))
                    cpu1, rss1 = cpu1 + c, max(rss1, m)
                cpu_k, rss_k = 0.0, 0.0
                for chunk, ids in chunks.items():
                    out = tmp / f"{stage}-{r}-chunks" / chunk
                    out.mkdir(parents=True)
                    c, m = _run_job(stage, _job_kwargs(stage, cfg, run, out, ids))
                    cpu_k, rss_k = cpu_k + c, max(rss_k, m)
                single_rate.append(n_genes / cpu1)
                chunk_rate.append(n_genes / cpu_k)
                ratios.append(cpu1 / cpu_k)
                rss_single.append(rss1)
                rss_chunk.append(rss_k)
            row = (
                stage,
                statistics.median(single_rate),
                statistics.median(chunk_rate),
                statistics.median(ratios),
                max(rss_single),
                max(rss_chunk),
            )
            rows.append(row)
            print(
                f"{row[0]:<18} {row[1]:>18.2f}  {row[2]:>19.2f}  {row[3]:>13.2f}x  "
                f"{row[4]:>18.0f}  {row[5]:>9.0f}",
                flush=True,
            )
    worst = min(rows, key=lambda r: r[3])
    print(
        f"# goal: chunked/single >= 0.9 per stage; lowest {worst[3]:.2f}x ({worst[0]}); "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
