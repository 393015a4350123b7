"""Expression enters once: read, match samples and genes, normalize, and assign the splits.

Every consumer (training, scorers, baselines, evaluation) reads the three tables this module
writes, so the normalization and the split assignment are defined here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError
from ps2f.io.tables import read_expression_bed, read_tss_table

__all__ = ["PhenotypeConfig", "Phenotypes", "normalize", "assign_split", "build_phenotypes"]

log = logging.getLogger(__name__)

NORMALIZATIONS = ("log1p", "none")


@dataclass(frozen=True)
class PhenotypeConfig:
    """How expression is normalized and split (the ``expression``/``split`` config sections).

    Attributes
    ----------
    normalization : {"log1p", "none"}
        ``log1p``: natural log of 1 + value (for RPKM/TPM); ``none``: values used as given
        (e.g. FastQTL's rank-inverse-normal file).
    heldout_gene_fraction : float
        Fraction of genes held out from training, drawn separately among sequence-model genes
        and the rest so both keep the fraction.
    heldout_individual_fraction : float
        Fraction of individuals held out from training.
    seed : int
        Seed of both split draws.
    min_individuals : int
        Fewer genotyped individuals with expression than this is an error.
    gene_ids : tuple of str
        Restrict to these genes (unversioned or versioned IDs); empty = all.
    max_s2f_genes : int or None
        Keep at most this many sequence-model genes (the first by TSS), for quick runs.
    """

    normalization: str = "log1p"
    heldout_gene_fraction: float = 0.2
    heldout_individual_fraction: float = 0.2
    seed: int = 0
    min_individuals: int = 20
    gene_ids: tuple[str, ...] = ()
    max_s2f_genes: int | None = None
    max_baseline_genes: int | None = None


@dataclass
class Phenotypes:
    """The three tables every downstream rule reads.

    Attributes
    ----------
    genes : pandas.DataFrame
        ``gene`` (ID as in the expression file), ``gene_key``, ``gene_name``, ``chrom``,
        ``strand``, ``tss0`` (0-based bp), ``s2f`` (bool: sequence models use this gene),
        ``gene_set`` ("train" | "heldout").
    individuals : pandas.DataFrame
        ``individual``, ``individual_set`` ("train" | "heldout").
    expression : pandas.DataFrame
        Long: ``gene``, ``individual``, ``observed`` (float64, normalized).
    """

    genes: pd.DataFrame
    individuals: pd.DataFrame
    expression: pd.DataFrame


def normalize(values: pd.DataFrame, method: str, source: str = "expression") -> pd.DataFrame:
    """Normalize a genes x samples expression matrix.

    Parameters
    ----------
    values : pandas.DataFrame, shape (n_genes, n_samples), float64
    method : {"log1p", "none"}
    source : str
        File name for error messages.

    Returns
    -------
    pandas.DataFrame
        Same shape; ``log1p`` gives natural-log(1 + value) units (e.g. log1p RPKM).

    Raises
    ------
    InputError
        ``log1p`` on negative values (the file is probably already normalized: use ``none``).
    ConfigError
        Unknown method.
    """
    if method == "none":
        return values.copy()
    if method == "log1p":
        if (values.to_numpy() < 0).any():
            gene = values.index[(values < 0).any(axis=1)][0]
            raise InputError(
                f"{source}: negative expression (gene {gene}) cannot be log1p-transformed; "
                f"the file looks normalized already: set expression.normalization: none."
            )
        return np.log1p(values)
    raise ConfigError(f"expression.normalization must be one of {NORMALIZATIONS}, got {method!r}")


def assign_split(ids: Sequence[str], heldout_fraction: float, seed: int) -> np.ndarray:
    """Assign ``"train"``/``"heldout"`` to IDs, deterministically for a seed.

    The IDs are sorted before a seeded permutation, so the assignment does not depend on input
    order. ``round(fraction * n)`` IDs are held out (at least one when the fraction is positive
    and ``n >= 2``).

    Parameters
    ----------
    ids : sequence of str
    heldout_fraction : float in [0, 1)
    seed : int

    Returns
    -------
    numpy.ndarray, shape (len(ids),), str
    """
    if not 0 <= heldout_fraction < 1:
        raise ConfigError(f"held-out fraction must be in [0, 1), got {heldout_fraction}")
    ids = np.asarray(ids, dtype=str)
    n = len(ids)
    n_out = int(round(heldout_fraction * n))
    if heldout_fraction > 0 and n >= 2:
        n_out = min(max(n_out, 1), n - 1)
    order = np.argsort(ids, kind="stable")
    perm = np.random.default_rng(seed).permutation(n)
    out = np.full(n, "train", dtype=object)
    out[order[perm[:n_out]]] = "heldout"
    return out.astype(str)


def build_phenotypes(
    expression_path: str,
    annotation_path: str,
    genotyped_samples: Sequence[str],
    config: PhenotypeConfig,
    usable_column: str | None = None,
    contigs: Sequence[str] | None = None,
) -> Phenotypes:
    """Match expression, annotation and genotypes; normalize; split genes and individuals.

    Parameters
    ----------
    expression_path : str
        Phenotype BED (see :func:`ps2f.io.tables.read_expression_bed`).
    annotation_path : str
        TSS table (see :func:`ps2f.io.tables.read_tss_table`).
    genotyped_samples : sequence of str
        Sample IDs of the VCF.
    config : PhenotypeConfig
    usable_column : str, optional
        TSS-table column flagging genes usable by sequence models.
    contigs : sequence of str, optional
        Keep genes on these contigs (annotation spelling); default all.

    Returns
    -------
    Phenotypes

    Raises
    ------
    InputError
        Too few individuals with both expression and genotypes; no gene in common.
    """
    expr_genes, values = read_expression_bed(expression_path)
    tss = read_tss_table(annotation_path, usable_column)

    samples = [s for s in values.columns if s in set(genotyped_samples)]
    log.info(
        "individuals: %d with expression, %d genotyped, %d in both",
        values.shape[1],
        len(genotyped_samples),
        len(samples),
    )
    if len(samples) < config.min_individuals:
        raise InputError(
            f"{expression_path}: only {len(samples)} individuals have both expression and genotypes "
            f"(need >= {config.min_individuals}); check that sample IDs match the VCF's, e.g. "
            f"expression has {list(values.columns[:3])}, VCF has {list(genotyped_samples[:3])}."
        )

    genes = expr_genes.merge(
        tss.drop(columns=["gene_id"]), on="gene_key", how="left", suffixes=("_bed", "")
    )
    no_annot = genes["strand"].isna()
    if no_annot.any():
        log.warning(
            "%d expressed genes are absent from the annotation %s and are dropped, e.g. %s",
            int(no_annot.sum()),
            annotation_path,
            genes.loc[no_annot, "gene_id"].iloc[0],
        )
    genes = genes.loc[~no_annot].copy()
    if contigs:
        genes = genes.loc[genes["chrom"].isin(list(contigs))]
    if config.gene_ids:
        wanted = {g.split(".")[0] for g in config.gene_ids}
        genes = genes.loc[genes["gene_key"].isin(wanted)]
    if genes.empty:
        raise InputError(
            f"{expression_path}: no gene is both expressed and in {annotation_path} "
            f"(IDs are matched without version suffixes)."
        )
    genes = genes.sort_values(["chrom", "tss0", "gene_key"]).reset_index(drop=True)
    genes["s2f"] = genes["usable"].astype(bool)
    if config.max_s2f_genes is not None:
        keep = genes.index[genes["s2f"]][: config.max_s2f_genes]
        genes["s2f"] = genes.index.isin(keep)
    if config.max_baseline_genes is not None:
        others = genes.index[~genes["s2f"]][config.max_baseline_genes :]
        genes = genes.drop(index=others).reset_index(drop=True)

    genes["gene_set"] = "train"
    for flag in (True, False):
        sel = genes["s2f"] == flag
        genes.loc[sel, "gene_set"] = assign_split(
            genes.loc[sel, "gene_key"].tolist(), config.heldout_gene_fraction, config.seed
        )
    individuals = pd.DataFrame({"individual": samples})
    individuals["individual_set"] = assign_split(
        samples, config.heldout_individual_fraction, config.seed + 1
    )

    norm = normalize(values.loc[genes["gene_key"], samples], config.normalization, expression_path)
    norm.index = genes["gene_id"].to_numpy()
    expression = (
        norm.rename_axis(index="gene", columns="individual")
        .stack()
        .rename("observed")
        .reset_index()
    )
    genes = genes.rename(columns={"gene_id": "gene"})[
        ["gene", "gene_key", "gene_name", "chrom", "strand", "tss0", "s2f", "gene_set"]
    ]
    log.info(
        "genes: %d (%d for sequence models); held out: %d genes, %d individuals",
        len(genes),
        int(genes["s2f"].sum()),
        int((genes["gene_set"] == "heldout").sum()),
        int((individuals["individual_set"] == "heldout").sum()),
    )
    return Phenotypes(
        genes=genes.reset_index(drop=True), individuals=individuals, expression=expression
    )
