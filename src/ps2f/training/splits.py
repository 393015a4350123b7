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

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError
from ps2f.phenotypes import assign_split

__all__ = [
    "MIN_VALIDATION_INDIVIDUALS",
    "ValidationSplit",
    "validation_split",
    "VALIDATION_SEED_OFFSETS",
]

log = logging.getLogger(__name__)

#: Offsets added to ``split.seed`` for the validation draws of genes and individuals (the
#: phenotypes step uses ``seed`` and ``seed + 1`` for the held-out draws).
VALIDATION_SEED_OFFSETS = (2, 3)

#: Fewest validation individuals a per-gene r (the p-model's early-stopping metric) needs.
MIN_VALIDATION_INDIVIDUALS = 3


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
    min_validation_individuals: int = 0,
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
    min_validation_individuals : int
        With ``individual_fraction > 0``, the fewest validation individuals: the p-model's
        early stopping follows per-gene r across them, which needs
        :data:`MIN_VALIDATION_INDIVIDUALS` (with fewer, r is undefined every epoch and early
        stopping would silently never trigger). A fraction that gives fewer is raised to this
        count (the same seeded draw, taken further; logged as a warning) while one training
        individual is left to fit; otherwise it is an error. 0 (the default) checks nothing.

    Returns
    -------
    ValidationSplit
        Checked for disjointness (:meth:`ValidationSplit.check`).

    Raises
    ------
    ConfigError
        A fraction outside ``[0, 1)``, no fit gene / fit individual left, or fewer validation
        individuals than ``min_validation_individuals``.
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
    ind_ids = individuals["individual"].to_numpy().astype(str)[train_i]
    ind_labels = assign_split(ind_ids, individual_fraction, seed + i_offset)
    n_val = int((ind_labels == "heldout").sum())
    if 0 < n_val < min_validation_individuals < len(train_i):
        # the same seeded draw, taken further: a superset of the validation individuals
        ind_labels = assign_split(
            ind_ids, min_validation_individuals / len(train_i), seed + i_offset
        )
        log.warning(
            "split.validation_individual_fraction %s of the %d training individuals sets aside "
            "%d validation individual(s); the per-gene r that early stopping follows needs %d, "
            "so %d are set aside",
            individual_fraction,
            len(train_i),
            n_val,
            min_validation_individuals,
            min_validation_individuals,
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
    n_val = len(split.validation_individuals)
    if individual_fraction > 0 and n_val < min_validation_individuals:
        raise ConfigError(
            f"split.validation_individual_fraction {individual_fraction}: only {len(train_i)} "
            f"training individuals, so {n_val} validation individual(s) at most with one left "
            f"to fit; the per-gene r across them that early stopping follows needs at least "
            f"{min_validation_individuals}, so early stopping would silently never trigger. Add "
            f"individuals (or lower split.heldout_individual_fraction), or set "
            f"split.validation_individual_fraction to 0 to train for s2f.train.epochs without "
            f"validation."
        )
    return split
