"""The variant store: a compact, flat-array copy of the phased genotypes ps2f needs.

One store holds the variants of one contig that fall in the cis-windows in use. Layout (all
NumPy arrays, saved together in one ``.npz``):

``pos``          (V,) int64, 0-based position of the REF allele's first base, sorted ascending
``ref``/``alt``  allele bytes concatenated, with ``ref_offsets``/``alt_offsets`` (V + 1,) int64
``ids``          (V,) str, the VCF ID (or ``contig_pos_ref_alt`` when the VCF has ``.``)
``genotypes``    (V, ceil(2 S / 8)) uint8, bit-packed ALT indicator per haplotype: bit ``2 s + h``
                 (NumPy ``packbits`` big-endian bit order) is 1 if haplotype ``h`` of sample ``s``
                 carries the ALT allele
``samples``      (S,) str

Multi-allelic records are split, one row per ALT, so a haplotype carries at most one ALT of the
original record. The REF of every row was checked against the FASTA at ingestion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["VariantStore"]

_FORMAT_VERSION = 1


@dataclass
class VariantStore:
    """Phased biallelic variants of one contig, genotypes bit-packed per haplotype.

    Attributes
    ----------
    contig : str
        Contig name as spelled in the FASTA.
    samples : numpy.ndarray, shape (S,), str
    pos : numpy.ndarray, shape (V,), int64
        0-based positions, sorted ascending.
    ref_bytes, alt_bytes : numpy.ndarray, uint8
        Concatenated allele letters (upper case).
    ref_offsets, alt_offsets : numpy.ndarray, shape (V + 1,), int64
    ids : numpy.ndarray, shape (V,), str
    genotypes : numpy.ndarray, shape (V, ceil(2 S / 8)), uint8
        Bit-packed haplotype ALT indicators (see module docstring).
    stats : dict
        Ingestion counts (records read, skipped by reason, ...), for the log.
    """

    contig: str
    samples: np.ndarray
    pos: np.ndarray
    ref_bytes: np.ndarray
    ref_offsets: np.ndarray
    alt_bytes: np.ndarray
    alt_offsets: np.ndarray
    ids: np.ndarray
    genotypes: np.ndarray
    stats: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = len(self.pos)
        if not (len(self.ref_offsets) == len(self.alt_offsets) == v + 1 == len(self.ids) + 1):
            raise ValueError("variant store arrays disagree in length")
        if self.genotypes.shape != (v, (2 * len(self.samples) + 7) // 8):
            raise ValueError(f"genotypes shape {self.genotypes.shape} does not fit {v} variants")
        if v > 1 and np.any(np.diff(self.pos) < 0):
            raise ValueError("variant store positions must be sorted")

    @property
    def n_variants(self) -> int:
        """Number of (split, biallelic) variants V."""
        return len(self.pos)

    @property
    def n_samples(self) -> int:
        """Number of samples S."""
        return len(self.samples)

    def ref_lengths(self) -> np.ndarray:
        """REF allele lengths in bp, shape (V,), int64."""
        return np.diff(self.ref_offsets)

    def alt_lengths(self) -> np.ndarray:
        """ALT allele lengths in bp, shape (V,), int64."""
        return np.diff(self.alt_offsets)

    def is_snv(self) -> np.ndarray:
        """Mask of single-nucleotide variants, shape (V,), bool."""
        return (self.ref_lengths() == 1) & (self.alt_lengths() == 1)

    def allele(self, i: int, which: str = "alt") -> str:
        """Letters of the REF (``which="ref"``) or ALT allele of variant ``i``."""
        buf, off = (
            (self.ref_bytes, self.ref_offsets)
            if which == "ref"
            else (self.alt_bytes, self.alt_offsets)
        )
        return buf[off[i] : off[i + 1]].tobytes().decode("ascii")

    def region(self, start: int, end: int) -> slice:
        """Rows of variants whose position lies in ``[start, end)`` (0-based bp)."""
        lo, hi = np.searchsorted(self.pos, [start, end], side="left")
        return slice(int(lo), int(hi))

    def haplotypes(self, rows: slice | np.ndarray) -> np.ndarray:
        """Unpacked ALT indicators, shape (n_rows, S, 2), uint8 (0 = REF, 1 = ALT)."""
        bits = np.unpackbits(self.genotypes[rows], axis=1, count=2 * self.n_samples)
        return bits.reshape(bits.shape[0], self.n_samples, 2)

    def dosages(self, rows: slice | np.ndarray) -> np.ndarray:
        """ALT allele dosages, shape (n_rows, S), uint8 in {0, 1, 2}."""
        return self.haplotypes(rows).sum(axis=2, dtype=np.uint8)

    def save(self, path: str | Path) -> None:
        """Write the store to ``path`` (``.npz``) atomically: a temp file, then a rename."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            format_version=np.int64(_FORMAT_VERSION),
            contig=np.str_(self.contig),
            samples=self.samples.astype(str),
            pos=self.pos,
            ref_bytes=self.ref_bytes,
            ref_offsets=self.ref_offsets,
            alt_bytes=self.alt_bytes,
            alt_offsets=self.alt_offsets,
            ids=self.ids.astype(str),
            genotypes=self.genotypes,
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> VariantStore:
        """Read a store written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file was written by an incompatible version of ps2f.
        """
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != _FORMAT_VERSION:
                raise ValueError(
                    f"{path}: variant store format {int(z['format_version'])}, "
                    f"expected {_FORMAT_VERSION}; delete it and re-run the genotypes rule"
                )
            return cls(
                contig=str(z["contig"]),
                samples=z["samples"],
                pos=z["pos"],
                ref_bytes=z["ref_bytes"],
                ref_offsets=z["ref_offsets"],
                alt_bytes=z["alt_bytes"],
                alt_offsets=z["alt_offsets"],
                ids=z["ids"],
                genotypes=z["genotypes"],
            )
