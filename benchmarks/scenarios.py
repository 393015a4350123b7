"""The scenario table over simulation seeds: each seed draws its own grammar.

Runs the whole workflow (Snakemake, this checkout's ``Snakefile`` and package) on each scenario
config of ``config/scenarios/`` (grammar_only, mixed, eqtl_only: ``grammar_weight`` 1, 0.5, 0)
for each seed: the scenario's config with ``simulate.seed`` replaced, written to its own run
folder (the split seed and everything else stay the scenario's). ``simulate.seed`` draws the
cohort *and* its grammar (motifs, effects, decays, orientation, motif pairs;
:mod:`ps2f.simulate.grammar`), so the seeds measure how the models fare across grammars.

It reads ``results/<name>/evaluation/summary.parquet`` of each run (``median_r``: the median
over genes of each gene's Pearson r across held-out individuals) and prints:

1. scenario x model x gene set (training genes / held-out genes, held-out individuals both):
   the median over seeds of the per-seed median r, with ``[min, max]`` over seeds, plus the
   truth ceiling (median over genes of ``r_ceiling_adjusted``, the best any predictor can do
   after covariates are regressed out);
2. per seed, the p-model's median r on held-out genes at each ``grammar_weight``, and whether
   it rises with the grammar weight on every seed.

Examples
--------
The full grid (3 scenarios x 5 seeds, ~30 min on 2 CPU cores)::

    .venv/bin/python benchmarks/scenarios.py --out scenarios.tsv

One scenario and one seed (a few minutes), keeping its run folder::

    .venv/bin/python benchmarks/scenarios.py --scenarios mixed --seeds 0 --keep --workdir /tmp/sc

``--out`` writes the per-seed numbers as a tidy TSV: ``scenario, grammar_weight, seed, model,
gene_set, median_r``. A run that fails is reported (with its log's tail) and left out; the
script then exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("grammar_only", "mixed", "eqtl_only")
#: summary.parquet cells read: (gene set, individual set) -> gene-set label of the table.
CELLS = {
    ("train", "heldout"): "training genes",
    ("heldout", "heldout"): "held-out genes",
}
CEILING = "truth ceiling"


def run_config(
    scenario: str, seed: int, rundir: Path, overrides: dict | None = None
) -> tuple[dict, Path]:
    """Write the scenario's config with ``simulate.seed = seed`` into ``rundir``.

    Parameters
    ----------
    scenario : str
        One of :data:`SCENARIOS` (``config/scenarios/<scenario>.yaml``).
    seed : int
        The simulation seed (cohort and grammar).
    rundir : Path
        The run folder (created).
    overrides : dict, optional
        Dotted config keys and their values, e.g. ``{"s2f.train.lr": 0.002}``, set after the seed
        (intermediate sections are created if the scenario config lacks them).

    Returns
    -------
    config : dict
        The written config.
    path : pathlib.Path
        ``rundir / "config.yaml"``.
    """
    cfg = yaml.safe_load((REPO / "config" / "scenarios" / f"{scenario}.yaml").read_text())
    cfg["simulate"]["seed"] = seed
    for key, value in (overrides or {}).items():
        *sections, leaf = key.split(".")
        node = cfg
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    rundir.mkdir(parents=True, exist_ok=True)
    path = rundir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg, path


def run_workflow(cfg: dict, configfile: Path, rundir: Path, cores: int) -> Path | None:
    """Run Snakemake up to the evaluation summary; its path, or None (log tail printed)."""
    summary = Path("results") / cfg["name"] / "evaluation" / "summary.parquet"
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [
        str(snakemake if snakemake.exists() else "snakemake"),
        "-s", str(REPO / "Snakefile"),
        "--directory", str(rundir),
        "--configfile", str(configfile),
        "--cores", str(cores),
        str(summary),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # this checkout's package
    log = rundir / "snakemake.log"
    with open(log, "w") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        print(f"FAILED ({done.returncode}): {' '.join(cmd)}", *tail, sep="\n  ", file=sys.stderr)
        return None
    return rundir / summary


def _cells(summary: pd.DataFrame) -> pd.DataFrame:
    """(model, gene_set, individual_set, statistic, estimate) from either summary layout."""
    s = summary.rename(columns={"metric": "statistic", "value": "estimate"})
    if "cell" in s.columns:  # "train_genes|heldout_individuals"
        parts = s["cell"].str.extract(r"^(\w+?)_genes\|(\w+?)_individuals$")
        s = s.assign(gene_set=parts[0], individual_set=parts[1])
    return s[["model", "gene_set", "individual_set", "statistic", "estimate"]]


def read_run(summary_path: Path, truth_genes: Path) -> pd.DataFrame:
    """Per-seed rows ``model, gene_set, median_r`` of one run (plus the truth ceiling)."""
    s = _cells(pd.read_parquet(summary_path))
    s = s[s["statistic"] == "median_r"]
    rows = []
    for (genes, individuals), label in CELLS.items():
        cell = s[(s["gene_set"] == genes) & (s["individual_set"] == individuals)]
        rows += [
            {"model": m, "gene_set": label, "median_r": float(v)}
            for m, v in zip(cell["model"], cell["estimate"], strict=True)
        ]
    ceiling = float(pd.read_parquet(truth_genes)["r_ceiling_adjusted"].median())
    rows.append({"model": CEILING, "gene_set": "all genes", "median_r": ceiling})
    return pd.DataFrame(rows)


def p_model_epochs(rundir: Path, name: str) -> int | None:
    """Epochs the p-model ran (``evaluation/training.csv``), or None without that table."""
    path = rundir / "results" / name / "evaluation" / "training.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path).set_index("model")
    return int(table.loc["p_model", "epochs_run"]) if "p_model" in table.index else None


def run_grid(
    runs: list[tuple[str, str, int, dict]], workdir: Path | None, keep: bool, cores: int
) -> tuple[pd.DataFrame | None, list[str]]:
    """Run the workflow once per ``(run name, scenario, seed, overrides)``; their numbers.

    Each run gets its own folder ``<root>/<run name>`` under a fresh temporary ``root`` (in
    ``workdir`` when given; removed at the end unless ``keep``) and its config from
    :func:`run_config`.

    Returns
    -------
    per_seed : pandas.DataFrame or None
        Columns ``run, scenario, grammar_weight, seed, epochs, model, gene_set, median_r``
        (:func:`read_run`'s rows; ``epochs``: the p-model's, :func:`p_model_epochs`), or None
        when no run succeeded.
    failed : list of str
        The names of the runs that failed (their log's tail is printed).
    """
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ps2f-scenarios-", dir=workdir))
    rows, failed = [], []
    try:
        for name, scenario, seed, overrides in runs:
            rundir = root / name
            cfg, configfile = run_config(scenario, seed, rundir, overrides)
            print(f"running {name} in {rundir}", flush=True)
            summary = run_workflow(cfg, configfile, rundir, cores)
            if summary is None:
                failed.append(name)
                continue
            sim = rundir / "results" / cfg["name"] / "simulated"
            grammar = json.loads((sim / "grammar.json").read_text())
            print(f"  grammar: {len(grammar['motifs'])} motifs {grammar['roles']}", flush=True)
            rows.append(
                read_run(summary, sim / "truth_genes.parquet").assign(
                    run=name,
                    scenario=scenario,
                    grammar_weight=float(cfg["simulate"]["grammar_weight"]),
                    seed=seed,
                    epochs=p_model_epochs(rundir, cfg["name"]),
                )
            )
    finally:
        if keep:
            print(f"run folders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if not rows:
        return None, failed
    columns = ["run", "scenario", "grammar_weight", "seed", "epochs", "model", "gene_set"]
    return pd.concat(rows, ignore_index=True)[[*columns, "median_r"]], failed


def fmt_range(values: pd.Series) -> str:
    """``median [min, max]`` of ``values``, 3 decimals."""
    return f"{values.median():6.3f} [{values.min():6.3f}, {values.max():6.3f}]"


def print_tables(per_seed: pd.DataFrame) -> bool:
    """Print both tables; whether the p-model's held-out-gene r rises with the grammar weight."""
    order = {name: i for i, name in enumerate(SCENARIOS)}
    seeds = sorted(int(x) for x in per_seed["seed"].unique())
    print(f"\nmedian r on held-out individuals: median [min, max] over seeds {seeds}\n")
    table = (
        per_seed.groupby(["scenario", "grammar_weight", "model", "gene_set"])["median_r"]
        .agg(fmt_range)
        .rename("median [min, max]")
        .reset_index()
    )
    table["n_seeds"] = (
        per_seed.groupby(["scenario", "grammar_weight", "model", "gene_set"]).size().to_numpy()
    )
    table = table.sort_values(
        ["scenario", "model", "gene_set"],
        key=lambda c: c.map(order) if c.name == "scenario" else c,
    )
    print(table.to_string(index=False))

    p = per_seed[(per_seed["model"] == "p_model") & (per_seed["gene_set"] == "held-out genes")]
    wide = p.pivot_table(index="seed", columns="grammar_weight", values="median_r")
    wide = wide[sorted(wide.columns)]
    wide.columns = [f"w={w:g}" for w in wide.columns]
    # strictly increasing over the weights this seed has (a failed run leaves a gap)
    rises = wide.apply(lambda row: bool((row.dropna().diff().dropna() > 0).all()), axis=1)
    print("\np-model, median r on held-out genes (held-out individuals), per grammar_weight\n")
    if wide.shape[1] < 2:
        print(wide.round(3).to_string())
        return False
    print(wide.assign(rises=rises.map({True: "yes", False: "NO"})).round(3).to_string())
    every = bool(rises.all())
    print(f"\nrises with grammar_weight on every seed: {'yes' if every else 'no'}")
    return every


def main(argv: list[str] | None = None) -> int:
    """Run the grid, print the tables; 0 if every run succeeded, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    ap.add_argument("--cores", type=int, default=2, help="Snakemake --cores per run")
    ap.add_argument("--workdir", type=Path, help="where run folders go (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the run folders")
    ap.add_argument("--out", type=Path, help="write the per-seed numbers to this TSV")
    args = ap.parse_args(argv)

    runs = [
        (f"{scenario}_seed{seed}", scenario, seed, {})
        for scenario in args.scenarios
        for seed in args.seeds
    ]
    per_seed, failed = run_grid(runs, args.workdir, args.keep, args.cores)
    if per_seed is not None:
        per_seed = per_seed.drop(columns=["run", "epochs"])
        if args.out:
            per_seed.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
        print_tables(per_seed)
    if failed:
        print(f"failed runs: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
