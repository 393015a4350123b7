"""Fit / validation split of the training genes and individuals, inside the training rules.

The phenotypes step (:func:`ps2f.phenotypes.build_phenotypes`) defines *train* vs *held-out*
genes and individuals: the held-out ones are the final test cells of the predictions table and
are never touched by fitting or model selection. The sequence-model training rules split the
*training* genes and individuals once more, deterministically for a seed, into a **fit** part
(the items the optimiser sees) and a **validation** part (used only to choose the epoch: early
stopping and the kept checkpoint). Validation members stay labelled ``"train"`` in the
predictions table.

SAGE-net (Spiro et al. 2026) splits genes by chromosome into train / validation / test and
individuals 80/10/10; its published code builds its test gene set from the validation
chromosomes, so test genes equal validation genes. :func:`validation_split` refuses any overlap
between validation, fit and held-out members (:meth:`ValidationSplit.check`), which is the
guard against that bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError
from ps2f.phenotypes import assign_split

__all__ = ["ValidationSplit", "validation_split", "VALIDATION_SEED_OFFSETS"]

#: Offsets added to ``split.seed`` for the validation draws of genes and individuals (the
#: phenotypes step uses ``seed`` and ``seed + 1`` for the held-out draws).
VALIDATION_SEED_OFFSETS = (2, 3)


@dataclass(frozen=True)
class ValidationSplit:
    """Row indices of the four disjoint parts of the training genes and individuals.

    Attributes
    ----------
    fit_genes, validation_genes : numpy.ndarray, shape (n,), int64
        Row positions into the gene table given to :func:`validation_split`; both are subsets of
        its ``"train"`` genes.
    fit_individuals, validation_individuals : numpy.ndarray, shape (m,), int64
        Row positions into the individual table; subsets of its ``"train"`` individuals.
    heldout_genes, heldout_individuals : numpy.ndarray, int64
        The ``"heldout"`` rows, for the disjointness check.
    """

    fit_genes: np.ndarray
    validation_genes: np.ndarray
    fit_individuals: np.ndarray
    validation_individuals: np.ndarray
    heldout_genes: np.ndarray
    heldout_individuals: np.ndarray

    def check(self) -> ValidationSplit:
        """Assert that the parts are pairwise disjoint and return ``self``.

        Raises
        ------
        AssertionError
            If a gene or individual is in two parts (e.g. validation genes equal to test genes,
            SAGE-net's bug).
        """
        for kind, parts in (
            ("gene", (self.fit_genes, self.validation_genes, self.heldout_genes)),
            (
                "individual",
                (self.fit_individuals, self.validation_individuals, self.heldout_individuals),
            ),
        ):
            names = ("fit", "validation", "held-out")
            for a in range(3):
                for b in range(a + 1, 3):
                    both = np.intersect1d(parts[a], parts[b])
                    if len(both):
                        raise AssertionError(
                            f"{len(both)} {kind}s are both {names[a]} and {names[b]} "
                            f"(rows {both[:5].tolist()})"
                        )
        return self


def validation_split(
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    gene_fraction: float,
    individual_fraction: float,
    seed: int,
    chromosomes: Sequence[str] = (),
) -> ValidationSplit:
    """Split the training genes and individuals into fit and validation parts.

    Parameters
    ----------
    genes : pandas.DataFrame
        Gene table rows the model may use: ``gene_set`` ("train" | "heldout"), ``chrom``, and
        ``gene_key`` (or ``gene``) as the ID the draw sorts by.
    individuals : pandas.DataFrame
        ``individual``, ``individual_set`` ("train" | "heldout").
    gene_fraction : float in [0, 1)
        Fraction of the training genes set aside for validation (at least one when positive
        and there are >= 2 training genes); not used when ``chromosomes`` is given.
    individual_fraction : float in [0, 1)
        Fraction of the training individuals set aside for validation.
    seed : int
        The ``split.seed``; the draws use ``seed + 2`` (genes) and ``seed + 3`` (individuals).
    chromosomes : sequence of str
        When non-empty, the validation genes are exactly the training genes on these
        chromosomes (``chr`` prefix optional), as SAGE-net.

    Returns
    -------
    ValidationSplit
        Checked for disjointness (:meth:`ValidationSplit.check`).

    Raises
    ------
    ConfigError
        A fraction outside ``[0, 1)``, or no fit gene / fit individual left.
    """
    gene_set = genes["gene_set"].to_numpy().astype(str)
    ind_set = individuals["individual_set"].to_numpy().astype(str)
    train_g = np.flatnonzero(gene_set == "train")
    train_i = np.flatnonzero(ind_set == "train")
    id_col = "gene_key" if "gene_key" in genes.columns else "gene"
    g_offset, i_offset = VALIDATION_SEED_OFFSETS
    gene_labels = assign_split(
        genes[id_col].to_numpy().astype(str)[train_g],
        gene_fraction,
        seed + g_offset,
        genes["chrom"].to_numpy().astype(str)[train_g] if "chrom" in genes.columns else None,
        tuple(chromosomes),
    )
    ind_labels = assign_split(
        individuals["individual"].to_numpy().astype(str)[train_i],
        individual_fraction,
        seed + i_offset,
    )
    split = ValidationSplit(
        fit_genes=train_g[gene_labels == "train"],
        validation_genes=train_g[gene_labels == "heldout"],
        fit_individuals=train_i[ind_labels == "train"],
        validation_individuals=train_i[ind_labels == "heldout"],
        heldout_genes=np.flatnonzero(gene_set != "train"),
        heldout_individuals=np.flatnonzero(ind_set != "train"),
    ).check()
    if len(split.fit_genes) == 0:
        raise ConfigError(
            f"no fit gene left: {len(train_g)} training genes, "
            f"{len(split.validation_genes)} set aside for validation; lower "
            "split.validation_gene_fraction or change split.validation_chromosomes"
        )
    if len(split.fit_individuals) == 0:
        raise ConfigError(
            f"no fit individual left: {len(train_i)} training individuals; lower "
            "split.validation_individual_fraction"
        )
    return split
