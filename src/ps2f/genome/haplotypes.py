"""Personal haplotype sequences around each gene's TSS, built on the fly (never written to disk).

Window convention (stated once): a window of ``L`` bp is oriented 5'->3' on the gene's strand,
and the TSS is at index ``L // 2``. On the ``+`` strand the window is reference
``[tss0 - L//2, tss0 - L//2 + L)``; on the ``-`` strand it is ``[tss0 - L + L//2 + 1,
tss0 + L//2 + 1)``, reverse-complemented. Bases beyond a contig end are ``N``.

This version applies SNVs; stores that contain indels are rejected with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ps2f.genome.encoding import encode, reverse_complement_codes
from ps2f.genome.store import VariantStore
from ps2f.io.fasta import Reference

__all__ = ["window_start", "HaplotypeBuilder"]


def window_start(tss0: np.ndarray, strand: np.ndarray, window_bp: int) -> np.ndarray:
    """Forward-strand start of each gene's window (see module docstring).

    Parameters
    ----------
    tss0 : numpy.ndarray, shape (G,), int64
        0-based TSS positions.
    strand : numpy.ndarray, shape (G,), str
        ``"+"`` or ``"-"``.
    window_bp : int
        Window length L in bp.

    Returns
    -------
    numpy.ndarray, shape (G,), int64
    """
    tss0 = np.asarray(tss0, dtype=np.int64)
    minus = np.asarray(strand) == "-"
    half = window_bp // 2
    return np.where(minus, tss0 - window_bp + half + 1, tss0 - half)


class HaplotypeBuilder:
    """Materialize ``(B, 2, L)`` haplotype codes for batches of (gene, individual) pairs.

    The reference window of every gene is read once (``G x L`` bytes); each gene's variants are
    kept as flat arrays (position in the window, ALT code, packed genotype row), so a batch is a
    handful of vectorized gathers and scatters with no Python loop per item or per base.

    Parameters
    ----------
    reference : Reference
        The FASTA.
    stores : mapping of str to VariantStore
        One store per contig, keyed by the contig name used in ``genes["chrom"]``.
    genes : pandas.DataFrame
        ``chrom``, ``strand``, ``tss0``; row ``i`` is gene index ``i``.
    individuals : sequence of str
        Sample IDs; position ``j`` is individual index ``j``. All must be in every store.
    window_bp : int
        Window length L in bp.

    Raises
    ------
    ValueError
        An individual is absent from a store, or a store holds indels in a window (indel-aware
        haplotypes are not implemented yet; ingest with ``snvs_only=True``).
    """

    def __init__(
        self,
        reference: Reference,
        stores: Mapping[str, VariantStore],
        genes: pd.DataFrame,
        individuals: Sequence[str],
        window_bp: int,
    ):
        self.window_bp = int(window_bp)
        L = self.window_bp
        n_genes = len(genes)
        self.minus = genes["strand"].to_numpy() == "-"
        self.starts = window_start(genes["tss0"].to_numpy(), genes["strand"].to_numpy(), L)
        self._ref = np.empty((n_genes, L), dtype=np.uint8)
        chroms = genes["chrom"].to_numpy()
        for g in range(n_genes):
            self._ref[g] = reference.fetch_codes(
                chroms[g], int(self.starts[g]), int(self.starts[g]) + L
            )

        individuals = list(individuals)
        rel_pos, alt_code, counts = [], [], np.zeros(n_genes, dtype=np.int64)
        self._sample_col: dict[str, np.ndarray] = {}
        for chrom in pd.unique(chroms):
            store = stores[chrom]
            col = pd.Index(store.samples).get_indexer(individuals)
            if (col < 0).any():
                missing = [individuals[i] for i in np.flatnonzero(col < 0)[:5]]
                raise ValueError(
                    f"individuals {missing} are absent from the variant store of {chrom}"
                )
            self._sample_col[chrom] = col
        # one column-index array per gene's contig
        self._cols = (
            np.stack([self._sample_col[c] for c in chroms]) if n_genes else np.zeros((0, 0), int)
        )
        genotypes = []
        for g in range(n_genes):
            store = stores[chroms[g]]
            rows = store.region(int(self.starts[g]), int(self.starts[g]) + L)
            snv = store.is_snv()[rows]
            if not snv.all():
                raise ValueError(
                    f"the variant store of {chroms[g]} has indels in the window of gene index {g}; "
                    f"this haplotype builder applies SNVs only: ingest with snvs_only=True"
                )
            pos = store.pos[rows] - self.starts[g]
            alts = np.frombuffer(
                store.alt_bytes[
                    store.alt_offsets[rows.start] : store.alt_offsets[rows.stop]
                ].tobytes(),
                np.uint8,
            )
            rel_pos.append(pos)
            alt_code.append(encode(alts))
            genotypes.append(store.genotypes[rows])
            counts[g] = len(pos)
        self._offsets = np.zeros(n_genes + 1, dtype=np.int64)
        self._offsets[1:] = np.cumsum(counts)
        self._rel_pos = np.concatenate(rel_pos) if rel_pos else np.zeros(0, np.int64)
        self._alt = np.concatenate(alt_code) if alt_code else np.zeros(0, np.uint8)
        width = max((x.shape[1] for x in genotypes), default=1)
        self._geno = (
            np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in genotypes])
            if genotypes
            else np.zeros((0, width), np.uint8)
        )

    @property
    def n_genes(self) -> int:
        """Number of genes G."""
        return self._ref.shape[0]

    def n_variants(self, gene_index: int) -> int:
        """Number of variants inside gene ``gene_index``'s window."""
        return int(self._offsets[gene_index + 1] - self._offsets[gene_index])

    def reference(self, gene_index: np.ndarray) -> np.ndarray:
        """Reference codes of each gene's window, strand-oriented.

        Parameters
        ----------
        gene_index : numpy.ndarray, shape (B,), int

        Returns
        -------
        numpy.ndarray, shape (B, L), uint8
        """
        gene_index = np.asarray(gene_index, dtype=np.int64)
        out = self._ref[gene_index]
        minus = self.minus[gene_index]
        if minus.any():
            out[minus] = reverse_complement_codes(out[minus])
        return out

    def haplotypes(self, gene_index: np.ndarray, individual_index: np.ndarray) -> np.ndarray:
        """Both haplotypes of each (gene, individual) pair, strand-oriented, TSS at ``L // 2``.

        Parameters
        ----------
        gene_index : numpy.ndarray, shape (B,), int
        individual_index : numpy.ndarray, shape (B,), int

        Returns
        -------
        numpy.ndarray, shape (B, 2, L), uint8
            Codes (see :mod:`ps2f.genome.encoding`).
        """
        g = np.asarray(gene_index, dtype=np.int64)
        ind = np.asarray(individual_index, dtype=np.int64)
        B, L = len(g), self.window_bp
        out = np.repeat(self._ref[g][:, None, :], 2, axis=1)
        counts = self._offsets[g + 1] - self._offsets[g]
        total = int(counts.sum())
        if total:
            item = np.repeat(np.arange(B), counts)
            # row of each (item, variant): offsets[g] + 0..count-1
            within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            rows = self._offsets[g][item] + within
            sample = self._cols[g[item], ind[item]]
            for h in (0, 1):
                bit = 2 * sample + h
                carried = (self._geno[rows, bit >> 3] >> (7 - (bit & 7))) & 1
                sel = carried.astype(bool)
                out[item[sel], h, self._rel_pos[rows[sel]]] = self._alt[rows[sel]]
        minus = self.minus[g]
        if minus.any():
            out[minus] = reverse_complement_codes(out[minus])
        assert out.shape == (B, 2, L)
        return out
