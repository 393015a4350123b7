"""Many tissues in one run (config ``tissues:``): the config check and two rules.

Rule ``store_tables`` writes the union of the tissues' genes and individuals that the shared
variant stores cover; rule ``cross_tissue`` each model's median per-gene r per tissue (one
table and one figure).

A tissue is one phenotype set: its own expression BED, covariates, normalization and PC
counts, hence its own genes, individuals, splits, baselines, p- and r-model and evaluation.
Genotype ingestion is shared: one variant (and dosage) store per contig covers every tissue's
genes and individuals, and each per-tissue job selects its individuals from it by ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ps2f.errors import ConfigError, InputError
from ps2f.pipeline.common import log, read_table, write_table

__all__ = [
    "TISSUE_OVERRIDES",
    "check_tissues",
    "run_store_tables",
    "run_cross_tissue",
]

#: Keys of the ``expression:`` section that a tissue may override.
TISSUE_OVERRIDES: tuple[str, ...] = ("normalization", "n_genotype_pcs", "n_expression_pcs")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_tissues(
    tissues: Sequence[Mapping],
    inputs: Mapping,
    expression: Mapping,
    simulated: bool,
) -> dict[str, dict]:
    """Each tissue's full phenotype settings, by name, in config order.

    Parameters
    ----------
    tissues : sequence of mapping
        Config ``tissues`` (schema-validated): ``name``, ``expression``, optional
        ``covariates`` and overrides of :data:`TISSUE_OVERRIDES`.
    inputs : mapping
        Config ``inputs`` (``inputs.expression`` must be unset in a many-tissue run).
    expression : mapping
        Config ``expression`` (defaults filled in): the fallback of every override, and of
        ``covariates`` when a tissue has no ``covariates`` key (``covariates: null`` = no
        adjustment for that tissue).
    simulated : bool
        Config ``simulate.enabled``.

    Returns
    -------
    dict of str to dict
        ``{name: {"expression", "covariates", "normalization", "n_genotype_pcs",
        "n_expression_pcs"}}``; empty when ``tissues`` is empty (a one-phenotype run).

    Raises
    ------
    ps2f.errors.ConfigError
        A name that is not ``[A-Za-z0-9_.-]+`` or is repeated; ``tissues`` together with
        ``simulate.enabled`` (the embedded simulator writes one tissue: simulate many with
        ``python -m ps2f.simulate.scale``) or with ``inputs.expression``.
    """
    if not tissues:
        return {}
    if simulated:
        raise ConfigError(
            "tissues: a many-tissue run reads real inputs, but simulate.enabled is true; set "
            "simulate.enabled: false and give inputs.genotypes, reference and annotation (a "
            "simulated many-tissue cohort: python -m ps2f.simulate.scale --tissues A B ...)"
        )
    if inputs.get("expression"):
        raise ConfigError(
            f"tissues: each tissue names its expression BED, but inputs.expression is also "
            f"set ({inputs['expression']!r}); remove inputs.expression, or remove tissues for "
            "a one-tissue run"
        )
    out: dict[str, dict] = {}
    for i, spec in enumerate(tissues):
        name = str(spec["name"])
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"tissues[{i}].name {name!r}: use letters, digits, '_', '.' and '-' only (it "
                "names the folder results/<name>/tissues/<tissue>)"
            )
        if name in out:
            raise ConfigError(f"tissues[{i}].name {name!r} is listed twice; names must be unique")
        settings = {
            "expression": spec["expression"],
            "covariates": spec["covariates"] if "covariates" in spec else expression["covariates"],
        }
        settings |= {k: spec.get(k, expression[k]) for k in TISSUE_OVERRIDES}
        out[name] = settings
    return out


def run_store_tables(
    genes_paths: Sequence[str],
    individuals_paths: Sequence[str],
    out_genes: str,
    out_individuals: str,
) -> None:
    """Rule ``store_tables``: the union of the tissues' phenotypes gene and individual tables.

    The shared variant and dosage stores (rules ``genotypes``, ``dosages``) are built from
    these: they hold every tissue's genes' windows and every tissue's individuals, and each
    per-tissue job selects its own individuals from a store by ID.

    Parameters
    ----------
    genes_paths, individuals_paths : sequence of str
        Each tissue's phenotypes ``genes.tsv`` and ``individuals.tsv``, in config order.
    out_genes : str
        Every gene of any tissue once (first tissue's row; ``s2f`` true when the gene is a
        sequence-model gene in any tissue, so its sequence window is stored), in order of
        first appearance.
    out_individuals : str
        Every individual of any tissue once (column ``individual``), in order of first
        appearance.

    Raises
    ------
    ps2f.errors.InputError
        A tissue places a gene on another contig or TSS than an earlier tissue (the tissues'
        tables were built from different annotations).
    """
    genes = pd.concat([read_table(p) for p in genes_paths], ignore_index=True)
    place = genes.groupby("gene", sort=False)[["chrom", "tss0"]].nunique()
    moved = place.index[(place > 1).any(axis=1)]
    if len(moved):
        raise InputError(
            f"{list(genes_paths)}: gene {moved[0]} has different contigs or TSSs in different "
            "tissues; every tissue's table is built from inputs.annotation, so re-run the "
            "phenotypes jobs (snakemake --forcerun phenotypes)"
        )
    s2f = genes.groupby("gene", sort=False)["s2f"].any()
    union = genes.drop_duplicates("gene").reset_index(drop=True)
    union["s2f"] = s2f.reindex(union["gene"]).to_numpy()
    individuals = pd.concat(
        [read_table(p)[["individual"]] for p in individuals_paths], ignore_index=True
    )
    individuals = individuals.drop_duplicates("individual").reset_index(drop=True)
    write_table(union, out_genes)
    write_table(individuals, out_individuals)
    log.info(
        "%d tissues: %d genes (%d sequence-model genes), %d individuals in the shared stores",
        len(genes_paths),
        len(union),
        int(union["s2f"].sum()),
        len(individuals),
    )


def run_cross_tissue(
    summary_paths: Mapping[str, str],
    out_table: str,
    out_figure: str,
) -> None:
    """Rule ``cross_tissue``: each model's median per-gene r per tissue, a table and a figure.

    Parameters
    ----------
    summary_paths : mapping of str to str
        ``{tissue: its evaluation/summary.parquet}``, in config order.
    out_table : str
        CSV of :func:`ps2f.evaluation.tissues.cross_tissue_table`.
    out_figure : str
        PNG of :func:`ps2f.plots.plot_cross_tissue` (an SVG copy beside it).
    """
    from ps2f.evaluation.tissues import cross_tissue_table
    from ps2f.plots import plot_cross_tissue, save_figure

    table = cross_tissue_table({t: read_table(p) for t, p in summary_paths.items()})
    write_table(table, out_table)
    fig = plot_cross_tissue(table, out_figure)
    save_figure(fig, Path(out_figure).with_suffix(".svg"))
    log.info("cross-tissue summary: %d models x %d tissues", table["model"].nunique(),
             table["tissue"].nunique())  # fmt: skip
