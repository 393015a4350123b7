"""Which variants of a gene's cis-window a genotype baseline may use (PredictDB's filters).

PredictDB (``get_filtered_snp_annot``) keeps SNVs only, and no strand-ambiguous SNVs (A/T, T/A,
C/G, G/C), whose allele cannot be matched across genotyping platforms or strands. The window
itself is :func:`ps2f.genome.windows.cis_windows`; the MAF filter is applied per gene on the
fitting individuals (:func:`ps2f.baselines.gene_fit.prepare_gene`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["strand_ambiguous", "baseline_variant_mask"]


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
