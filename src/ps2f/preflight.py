"""Pre-flight check before S-PrediXcan / PrediXcan: what fraction of each model's variants match.

Usage::

    python -m ps2f.preflight --db results/geuvadis_chr22/models/elastic_net.db --gwas sumstats.tsv.gz
    python -m ps2f.preflight --db models/elastic_net.db --vcf target.vcf.gz --out matches.tsv

For each ``.db`` it prints how many of the model's variants MetaXcan would use against the GWAS
table (S-PrediXcan) or the target VCF (Predict.py), and a reason for every one it would not use
(:mod:`ps2f.io.variant_match`), with what to do about the commonest. ``--key`` and
``--keep-non-rsid`` mirror MetaXcan's ``--model_db_snp_key`` and ``--keep_non_rsid``. The exit
status is 0 unless ``--min-fraction`` is given and a model falls below it (then 1), or an input
cannot be read (2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from ps2f.errors import InputError
from ps2f.io.variant_match import (
    match_variants,
    read_gwas_variants,
    read_model_variants,
    read_vcf_variants,
    summarize_matches,
)

__all__ = ["main", "ADVICE"]

#: What to do about each reason, printed under a model's table when the reason occurs.
ADVICE: dict[str, str] = {
    "non_rs_id_dropped": "S-PrediXcan drops IDs without 'rs': add --keep_non_rsid.",
    "id_format": (
        "the variants are there under other IDs: run MetaXcan with --model_db_snp_key varID "
        "(ps2f: baselines.predictdb.variant_key: varID keys the covariances the same way) and "
        "--keep_non_rsid, or rename the GWAS IDs to the model's."
    ),
    "build_suffix": (
        "the GWAS IDs are the model's varIDs but for the _b37/_b38 suffix or the chr prefix: "
        "set baselines.predictdb.genome_build to the GWAS's convention and join on varID "
        "(--model_db_snp_key varID --keep_non_rsid), or rename the GWAS IDs."
    ),
    "other_position": (
        "the rsIDs are there at other positions: the GWAS is on another genome build; join on "
        "rsid (--model_db_snp_key rsid) or lift the GWAS over to the model's build."
    ),
    "strand_flip": (
        "alleles on the other strand: MetaXcan does not flip strands; align the GWAS alleles "
        "to the forward strand of the model's build."
    ),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ps2f.preflight",
        description="What fraction of each PredictDB model's variants MetaXcan will use, and why "
        "not the rest.",
    )
    p.add_argument("--db", nargs="+", required=True, help="PredictDB .db file(s)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--gwas", help="GWAS summary statistics (S-PrediXcan's input)")
    target.add_argument("--vcf", help="target genotypes VCF/BCF (Predict.py's input)")
    p.add_argument(
        "--key",
        choices=("rsid", "varID"),
        default="rsid",
        help="the model column MetaXcan joins on (--model_db_snp_key; default rsid)",
    )
    p.add_argument(
        "--keep-non-rsid",
        action="store_true",
        help="as S-PrediXcan's --keep_non_rsid (implied with --vcf: Predict.py keeps them)",
    )
    p.add_argument("--out", help="write every model variant's status to this TSV")
    p.add_argument(
        "--min-fraction",
        type=float,
        default=0.0,
        help="exit 1 if a model uses fewer than this fraction of its variants",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; see the module docstring. Returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.gwas:
            target = read_gwas_variants(args.gwas)
            keep = args.keep_non_rsid
            what = f"GWAS {args.gwas} ({len(target):,} variants; S-PrediXcan)"
        else:
            target = read_vcf_variants(args.vcf)
            keep = True
            what = f"VCF {args.vcf} ({len(target):,} variant alleles; Predict.py)"
        models = {db: read_model_variants(db) for db in args.db}
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = 0
    tables = []
    print(f"target: {what}; key {args.key}" + ("" if keep else ", IDs without 'rs' dropped"))
    for db, model in models.items():
        matches = match_variants(model, target, key=args.key, keep_non_rsid=keep)
        summary = summarize_matches(matches)
        used = float(summary.loc[summary["status"] == "used", "fraction"].sum())
        print(
            f"\n{db}: {len(model):,} variants in {model['gene'].nunique():,} genes; "
            f"{used:.1%} used ({int(matches['swapped'].sum()):,} with REF/ALT swapped, "
            "which MetaXcan handles)"
        )
        print(summary.to_string(index=False, formatters={"fraction": "{:.1%}".format}))
        for reason in summary["status"]:
            if reason in ADVICE:
                print(f"  {reason}: {ADVICE[reason]}")
        if used < args.min_fraction:
            status = 1
        tables.append(matches.assign(db=str(db)))
    if args.out:
        pd.concat(tables, ignore_index=True).to_csv(args.out, sep="\t", index=False)
        print(f"\nper-variant statuses: {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
