"""Gene windows: every genomic window ps2f reads around a gene, defined once.

All windows are 0-based, half-open ``[start, end)`` intervals in bp on the forward strand of the
contig, computed from plain lengths (never from the workflow config):

* **sequence window** (:func:`sequence_windows`): the ``L``-bp window a sequence model (the
  p-/r-model CNN, Enformer, AlphaGenome, ...) reads, oriented 5'->3' on the gene's strand with
  the TSS at index ``L // 2``. On the ``+`` strand it is ``[tss0 - L//2, tss0 - L//2 + L)``; on
  the ``-`` strand ``[tss0 - L + L//2 + 1, tss0 + L//2 + 1)``, reverse-complemented by the
  haplotype builder (:mod:`ps2f.genome.haplotypes`, which also keeps the TSS centred after
  indels). The start may be negative or the end past the contig: those bases are ``N``.
* **cis-window** (:func:`cis_windows`): the variants a per-gene genotype model sees. PredictDB
  (``get_cis_genotype``) takes 1-based positions in ``[gene_start - flank, gene_end + flank]``,
  i.e. 0-based ``[gene_start0 - flank, gene_end0 + flank)`` with the gene body ``[gene_start0,
  gene_end0)``; flank = 1 Mb there. With ``anchor="tss"`` the body is the TSS base alone
  (SAGE-net: TSS +- 20 kb; the lead cis-eQTL scan, :mod:`ps2f.evaluation.eqtl`). A gene body
  always contains its TSS, so a gene-body cis-window covers the TSS cis-window of equal flank.
* **store windows** (:func:`store_windows`): what the variant store of the ``genotypes`` rule
  must hold: every sequence window of a sequence-model gene widened by ``indel_flank_bp`` on both
  sides (a deletion pulls bases from outside into a TSS-centred window, and an allele may overlap
  the window edge), and every gene's cis-window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError

__all__ = [
    "ANCHORS",
    "sequence_windows",
    "oriented_intervals",
    "cis_windows",
    "store_windows",
]

#: Anchors of a cis-window: the gene body (PredictDB) or the TSS base alone.
ANCHORS: tuple[str, ...] = ("gene_body", "tss")

def sequence_windows(
    tss0: np.ndarray, strand: np.ndarray, window_bp: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's TSS-centred sequence window (see the module docstring).

    Parameters
    ----------
    tss0 : numpy.ndarray, shape (G,), int64
        0-based TSS positions in bp.
    strand : numpy.ndarray, shape (G,), str
        ``"+"`` or ``"-"``.
    window_bp : int
        Window length ``L`` in bp.

    Returns
    -------
    starts, ends : numpy.ndarray, shape (G,), int64
        ``[start, end)`` with ``end - start = L``: ``start = tss0 - L // 2`` on ``+``,
        ``tss0 - L + L // 2 + 1`` on ``-``; not clipped to the contig (may be negative).
    """
    tss0 = np.asarray(tss0, dtype=np.int64)
    minus = np.asarray(strand) == "-"
    half = window_bp // 2
    starts = np.where(minus, tss0 - window_bp + half + 1, tss0 - half)
    return starts, starts + int(window_bp)


def oriented_intervals(
    tss0: int, strand: str, window_bp: int, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Genomic intervals in the index frame of a gene's oriented sequence window.

    Index ``i`` of the window (:func:`sequence_windows`, TSS at ``L // 2``) holds the base at
    ``tss0 - L // 2 + i`` on ``+`` and, reverse-complemented, ``tss0 + L // 2 - i`` on ``-``.
    So an interval ``[s, e)`` maps to ``[s - tss0 + L // 2, e - tss0 + L // 2)`` on ``+`` and is
    mirrored to ``[tss0 + L // 2 - e + 1, tss0 + L // 2 - s + 1)`` on ``-``. This is how a
    model's output bins (computed on the oriented window) are matched to annotation features
    such as exons. Reference coordinates: an individual's indels shift the bases downstream of
    them, which this mapping (like Borzoi's own gene readout) ignores.

    Parameters
    ----------
    tss0 : int
        0-based TSS position, in bp.
    strand : {"+", "-"}
    window_bp : int
        Window length ``L``, in bp.
    starts, ends : numpy.ndarray, shape (n,), int64
        0-based half-open genomic intervals on the forward strand.

    Returns
    -------
    starts, ends : numpy.ndarray, shape (n,), int64
        Half-open intervals of window indices; they may reach outside ``[0, L)``.

    Raises
    ------
    ValueError
        A strand other than ``+``/``-``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    half = int(window_bp) // 2
    if strand == "+":
        return starts - tss0 + half, ends - tss0 + half
    if strand == "-":
        return tss0 + half - ends + 1, tss0 + half - starts + 1
    raise ValueError(f"strand must be '+' or '-', got {strand!r}")


def cis_windows(
    genes: pd.DataFrame, flank_bp: int, anchor: str = "gene_body"
) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's cis-window (see the module docstring).

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table: ``tss0`` and, for ``anchor="gene_body"``, ``gene_start`` and
        ``gene_end`` (0-based half-open; a table without them falls back to the TSS).
    flank_bp : int
        Added on both sides of the anchor, in bp (>= 0).
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


def store_windows(
    genes: pd.DataFrame,
    window_bp: int,
    cis_window_bp: int,
    cis_window_anchor: str,
    indel_flank_bp: int,
) -> list[tuple[int, int]]:
    """Windows whose variants a variant store must hold.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table (``tss0``, ``strand``, ``s2f``; ``gene_start``/``gene_end``
        for ``cis_window_anchor="gene_body"``).
    window_bp : int
        Longest sequence window any model of the run reads around a TSS, in bp.
    cis_window_bp : int
        Cis-window flank in bp, on both sides of the anchor.
    cis_window_anchor : {"gene_body", "tss"}
        The cis-window's anchor (:func:`cis_windows`).
    indel_flank_bp : int
        Extra bp on each side of a sequence window (config ``genotypes.indel_flank_bp``): a
        deletion pulls bases from outside into a TSS-centred window, and an allele may overlap
        the window edge; the haplotype builder warns if a window needs more.

    Returns
    -------
    list of (int, int)
        0-based half-open windows, unmerged: the widened sequence windows of the genes with
        ``s2f`` true, then every gene's cis-window.
    """
    s2f = genes.loc[genes["s2f"]]
    starts, ends = sequence_windows(s2f["tss0"].to_numpy(), s2f["strand"].to_numpy(), window_bp)
    wins = [
        (int(a) - indel_flank_bp, int(b) + indel_flank_bp)
        for a, b in zip(starts, ends, strict=True)
    ]
    lo, hi = cis_windows(genes, cis_window_bp, cis_window_anchor)
    wins += [(int(a), int(b)) for a, b in zip(lo, hi, strict=True)]
    return wins
