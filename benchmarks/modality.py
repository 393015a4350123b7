"""The SAGE-net contrast in one run: a short-range modality beside expression, over seeds.

SAGE-net (Spiro et al., Nat Methods 2026) found personal-genome models that generalize to
unseen regions on DNA methylation (a local sequence grammar) and much less on expression.
This runs the whole workflow (``benchmarks/scenarios.py``'s machinery: Snakemake, this
checkout's ``Snakefile`` and package, one run folder per run) on the two simulated modalities
for each seed:

* ``expression``: ``config/scenarios/mixed.yaml`` (genes on both strands, half of the genetic
  variance from the shared grammar within +-300 bp of the TSS, half gene-specific eQTLs);
* ``methylation``: ``config/scenarios/methylation.yaml`` (CpG-like sites, unstranded, beta
  values without a TSS table, the grammar alone within +-100 bp).

Both share every ``s2f``, ``split`` and ``baselines`` setting; ``simulate.seed`` draws each
cohort and its grammar (the same seed draws the same genotypes and grammar in both). It
prints (1) modality x model x gene set (training / held-out genes, held-out individuals): the
median over seeds of each run's median per-gene r, ``[min, max]`` over seeds, and the truth
ceiling; (2) per seed, the p-model's median r on held-out genes (held-out regions) per
modality, and whether it is higher on methylation on every seed.

Examples
--------
Three seeds (6 runs, ~10 min on 2 CPU cores)::

    .venv/bin/python benchmarks/modality.py --seeds 0 1 2 --out modality.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import fmt_range, run_grid  # noqa: E402

#: Modality -> its scenario config (``config/scenarios/<name>.yaml``).
MODALITIES = {"expression": "mixed", "methylation": "methylation"}


def print_tables(per_seed: pd.DataFrame) -> bool:
    """Print both tables; whether the p-model's held-out-gene r is higher on methylation."""
    seeds = sorted(int(x) for x in per_seed["seed"].unique())
    print(f"\nmedian r on held-out individuals: median [min, max] over seeds {seeds}\n")
    keys = ["modality", "model", "gene_set"]
    table = per_seed.groupby(keys)["median_r"].agg(fmt_range).rename("median [min, max]")
    table = table.reset_index()
    table["n_seeds"] = per_seed.groupby(keys).size().to_numpy()
    print(table.to_string(index=False))
    p = per_seed[(per_seed["model"] == "p_model") & (per_seed["gene_set"] == "held-out genes")]
    wide = p.pivot_table(index="seed", columns="modality", values="median_r")
    print("\np-model, median r on held-out genes / sites (held-out individuals), per modality\n")
    if set(wide.columns) != set(MODALITIES):
        print(wide.round(3).to_string())
        return False
    wide = wide[list(MODALITIES)]
    higher = wide["methylation"] > wide["expression"]
    print(wide.assign(higher=higher.map({True: "yes", False: "NO"})).round(3).to_string())
    medians = wide.median()
    print(
        f"\nmedian over seeds: methylation {medians['methylation']:.3f}, expression "
        f"{medians['expression']:.3f}; higher on methylation on every seed: "
        f"{'yes' if higher.all() else 'no'}"
    )
    return bool(higher.all())


def main(argv: list[str] | None = None) -> int:
    """Run both modalities on every seed, print the tables; 0 if every run succeeded."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cores", type=int, default=2, help="Snakemake --cores per run")
    ap.add_argument("--workdir", type=Path, help="where run folders go (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the run folders")
    ap.add_argument("--out", type=Path, help="write the per-seed numbers to this TSV")
    args = ap.parse_args(argv)

    runs = [
        (f"{modality}_seed{seed}", scenario, seed, {})
        for modality, scenario in MODALITIES.items()
        for seed in args.seeds
    ]
    per_seed, failed = run_grid(runs, args.workdir, args.keep, args.cores)
    if per_seed is not None:
        modality_of = {scenario: modality for modality, scenario in MODALITIES.items()}
        per_seed = per_seed.assign(modality=per_seed["scenario"].map(modality_of))
        per_seed = per_seed[["modality", "scenario", "seed", "epochs", "model", "gene_set",
                             "median_r"]]  # fmt: skip
        if args.out:
            per_seed.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
        print_tables(per_seed)
    if failed:
        print(f"failed runs: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
