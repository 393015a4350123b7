"""Which variants a gene's genotype baseline sees: its cis window and the variant filters.

One definition, used by the baselines and by the ``genotypes`` rule (which must store every
variant a baseline may need):

* **window** (PredictDB, ``get_cis_genotype``): variants with 1-based position in
  ``[gene_start - flank, gene_end + flank]``, i.e. 0-based ``[gene_start0 - flank, gene_end0 +
  flank)`` with the gene body ``[gene_start0, gene_end0)`` 0-based half-open; ``flank`` = 1 Mb
  in PredictDB. With ``anchor="tss"`` the body is the TSS base alone (SAGE-net: TSS +- 20 kb).
  A gene body always contains its TSS, so gene-body windows cover TSS windows of equal flank.
* **variant filters** (PredictDB, ``get_filtered_snp_annot``): SNVs only, and no
  strand-ambiguous SNVs (A/T, T/A, C/G, G/C), whose allele cannot be matched across genotyping
  platforms or strands. The MAF filter is applied per gene on the fitting individuals
  (:mod:`ps2f.baselines.genotype`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError

__all__ = ["ANCHORS", "cis_windows", "strand_ambiguous", "baseline_variant_mask"]

ANCHORS: tuple[str, ...] = ("gene_body", "tss")


def cis_windows(
    genes: pd.DataFrame, flank_bp: int, anchor: str = "gene_body"
) -> tuple[np.ndarray, np.ndarray]:
    """Cis window of every gene, 0-based half-open.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table: ``tss0`` and, for ``anchor="gene_body"``, ``gene_start`` and
        ``gene_end`` (0-based half-open; a table without them falls back to the TSS).
    flank_bp : int
        Added on both sides, in bp (>= 0).
    anchor : {"gene_body", "tss"}

    Returns
    -------
    starts, ends : numpy.ndarray, shape (n_genes,), int64
        ``[start, end)``; starts are clipped at 0.

    Raises
    ------
    ConfigError
        Unknown anchor or negative flank.
    """
    if anchor not in ANCHORS:
        raise ConfigError(f"cis_window_anchor must be one of {ANCHORS}, got {anchor!r}")
    if flank_bp < 0:
        raise ConfigError(f"cis_window_bp must be >= 0, got {flank_bp}")
    tss0 = genes["tss0"].to_numpy(np.int64)
    if anchor == "gene_body" and {"gene_start", "gene_end"} <= set(genes.columns):
        lo = genes["gene_start"].to_numpy(np.int64)
        hi = genes["gene_end"].to_numpy(np.int64)
    else:
        lo, hi = tss0, tss0 + 1
    return np.maximum(lo - flank_bp, 0), hi + flank_bp


def strand_ambiguous(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Mask of strand-ambiguous SNVs: A/T, T/A, C/G or G/C (case-insensitive).

    Parameters
    ----------
    ref, alt : numpy.ndarray, shape (V,), str
        Alleles; anything that is not a single base is never ambiguous.

    Returns
    -------
    numpy.ndarray, shape (V,), bool
    """
    pair = np.char.add(
        np.char.upper(np.asarray(ref, dtype=str)), np.char.upper(np.asarray(alt, dtype=str))
    )
    return np.isin(pair, ["AT", "TA", "CG", "GC"])


def baseline_variant_mask(store, snvs_only: bool = True, drop_ambiguous: bool = True) -> np.ndarray:
    """Variants of a variant or dosage store that a baseline may use.

    Parameters
    ----------
    store : VariantStore or DosageStore
    snvs_only : bool
        Keep single-nucleotide variants only.
    drop_ambiguous : bool
        Drop strand-ambiguous SNVs (:func:`strand_ambiguous`).

    Returns
    -------
    numpy.ndarray, shape (V,), bool
    """
    keep = np.ones(store.n_variants, dtype=bool)
    snv = store.is_snv()
    if snvs_only:
        keep &= snv
    if drop_ambiguous and store.n_variants:
        first_ref = store.ref_bytes[store.ref_offsets[:-1]]
        first_alt = store.alt_bytes[store.alt_offsets[:-1]]
        ref = first_ref.view("S1").astype(str)
        alt = first_alt.view("S1").astype(str)
        keep &= ~(snv & strand_ambiguous(ref, alt))
    return keep
