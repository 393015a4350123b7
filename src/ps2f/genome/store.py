"""The variant store: a compact, flat-array copy of the phased genotypes ps2f needs.

One store holds the variants of one contig that fall in the windows in use. Layout (all NumPy
arrays, saved together in one zlib-compressed ``.npz``):

``pos``          (V,) int64, 0-based position of the REF allele's first base, sorted ascending
                 (records at one position keep their VCF order, ALTs of a split record their
                 ALT order: the order in which overlapping alleles are resolved)
``ref``/``alt``  allele bytes concatenated, with ``ref_offsets``/``alt_offsets`` (V + 1,) int64
``ids``          (V,) str, the VCF ID (or ``contig_pos_ref_alt`` when the VCF has ``.``)
``genotypes``    (V, ceil(2 S / 8)) uint8, bit-packed ALT indicator per haplotype: bit ``2 s + h``
                 (NumPy ``packbits`` big-endian bit order) is 1 if haplotype ``h`` of sample ``s``
                 carries the ALT allele
``samples``      (S,) str
``windows``      (K, 2) int64, the 0-based half-open windows whose variants were read (merged)
``stats``        the ingestion counts, as JSON text

Variant types are first class: SNVs, MNVs (``len(REF) == len(ALT) > 1``), insertions, deletions
and complex substitutions. Multi-allelic records are split, one row per ALT, so a haplotype
carries at most one ALT of the original record. The REF of every row was checked against the
FASTA at ingestion.

A :class:`DosageStore` holds the same allele table with ALT allele *dosages* instead of
haplotype bits: ``values`` (V, S), ``uint8`` counts from ``GT`` calls (phased or not) or
``float32`` imputed dosages from ``FORMAT/DS``. It is what the genotype baselines read from an
unphased or imputed VCF (PrediXcan's input); no haplotype can be built from it. Its ``.npz``
adds ``kind = "dosages"``; :func:`load_store` opens either kind.

Size: the bit-packed matrix costs 1 bit per haplotype and variant in memory; on disk the
``.npz`` is zlib-compressed (``numpy.savez_compressed``), which shrinks the long zero runs of
rare variants. Measured on the SHAPEIT4/1000G EUR chr20:1-4 Mb panel (24,990 sites, 300
samples, 60% with AC <= 6) the store is ~0.4x the bgzipped VCF of the same windows (see
``benchmarks/haplotypes.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

__all__ = ["DosageStore", "VariantStore", "htslib_anchored_indel", "load_store", "load_stores"]

log = logging.getLogger(__name__)

_FORMAT_VERSION = 3
#: format 2: as 3, but written before ingestion kept records reaching a window from upstream
_FORMAT_WITHOUT_UPSTREAM = 2


def htslib_anchored_indel(ref: str, alt: str) -> bool:
    """Whether ``bcftools consensus`` treats ``REF>ALT`` as an indel anchored on its first base.

    htslib (``bcf_set_variant_type``) calls an allele pair an indel when, after trimming the
    common prefix (and, if neither side is exhausted, the common suffix), only one side has
    bases left; ``bcftools consensus`` then keeps the first base (``trim_beg``) if REF and ALT
    share it. Only such alleles may start on the last base of a previously applied allele on
    the same haplotype (see :mod:`ps2f.genome.haplotypes`).

    Parameters
    ----------
    ref, alt : str
        Upper-case alleles.

    Returns
    -------
    bool
    """
    if len(ref) == len(alt) or not ref or not alt or ref[0] != alt[0]:
        return False
    i = 0
    while i < len(ref) and i < len(alt) and ref[i] == alt[i]:
        i += 1
    if i == len(ref) or i == len(alt):
        return True  # one side exhausted by the common prefix: a pure insertion or deletion
    re, ae = len(ref) - 1, len(alt) - 1
    while re > i and ae > i and ref[re] == alt[ae]:
        re -= 1
        ae -= 1
    if ae == i and re != i:
        return ref[re] == alt[ae]
    if re == i and ae != i:
        return ref[re] == alt[ae]
    return False


@dataclass
class _AlleleTable:
    """What both stores share: samples, positions, alleles and IDs of one contig's variants."""

    contig: str
    samples: np.ndarray
    pos: np.ndarray
    ref_bytes: np.ndarray
    ref_offsets: np.ndarray
    alt_bytes: np.ndarray
    alt_offsets: np.ndarray
    ids: np.ndarray

    def _check_alleles(self) -> None:
        v = len(self.pos)
        if not (len(self.ref_offsets) == len(self.alt_offsets) == v + 1 == len(self.ids) + 1):
            raise ValueError("variant store arrays disagree in length")
        if v > 1 and np.any(np.diff(self.pos) < 0):
            raise ValueError("variant store positions must be sorted")
        if v and (np.any(np.diff(self.ref_offsets) < 1) or np.any(np.diff(self.alt_offsets) < 1)):
            raise ValueError("every REF and ALT allele must have at least one base")

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

    @cached_property
    def _snv_mask(self) -> np.ndarray:
        return (self.ref_lengths() == 1) & (self.alt_lengths() == 1)

    def is_snv(self) -> np.ndarray:
        """Mask of single-nucleotide variants, shape (V,), bool."""
        return self._snv_mask

    def is_indel(self) -> np.ndarray:
        """Mask of length-changing variants (insertions, deletions, complex), shape (V,), bool."""
        return self.ref_lengths() != self.alt_lengths()

    def snv_rows(self, start: int, end: int) -> np.ndarray:
        """Row indices of the SNVs whose position lies in ``[start, end)`` (0-based bp).

        Returns
        -------
        numpy.ndarray, shape (n,), int64
            Ascending; usable with :meth:`dosages` and ``ids`` (genotype baselines use SNVs only).
        """
        rows = self.region(start, end)
        return rows.start + np.flatnonzero(self._snv_mask[rows])

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

    def covers(self, start: int, end: int) -> bool:
        """Whether the ingested windows cover ``[start, end)`` (clipped at 0); True if unknown."""
        windows = getattr(self, "windows", None)
        if windows is None:
            return True
        start = max(int(start), 0)
        if end <= start:
            return True
        i = int(np.searchsorted(windows[:, 0], start, side="right")) - 1
        return i >= 0 and windows[i, 1] >= end

    def _arrays(self) -> dict[str, np.ndarray]:
        """The shared arrays, as :func:`numpy.savez_compressed` keywords."""
        return {
            "format_version": np.int64(_FORMAT_VERSION),
            "contig": np.str_(self.contig),
            "samples": self.samples.astype(str),
            "pos": self.pos,
            "ref_bytes": self.ref_bytes,
            "ref_offsets": self.ref_offsets,
            "alt_bytes": self.alt_bytes,
            "alt_offsets": self.alt_offsets,
            "ids": self.ids.astype(str),
        }

    @staticmethod
    def _fields(z) -> dict:
        """The shared fields, from an open ``.npz``."""
        return {
            k: z[k]
            for k in (
                "samples",
                "pos",
                "ref_bytes",
                "ref_offsets",
                "alt_bytes",
                "alt_offsets",
                "ids",
            )
        } | {"contig": str(z["contig"])}


def _save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``numpy.savez_compressed`` to ``path`` atomically: a temp file, then a rename.

    The temporary file is a hidden, per-process sibling (``.<name>.<pid>.tmp.npz``), so a
    killed write leaves nothing a Snakemake wildcard or a concurrent writer could mistake for a
    store.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _windows_array(windows: np.ndarray | None) -> dict[str, np.ndarray]:
    return {
        "windows": windows if windows is not None else np.zeros((0, 2), np.int64),
        "has_windows": np.bool_(windows is not None),
    }


@dataclass
class VariantStore(_AlleleTable):
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
    windows : numpy.ndarray, shape (K, 2), int64, optional
        Merged 0-based half-open windows whose variants the store holds; ``None`` if unknown.
        Variants outside them were never read (the haplotype builder warns when a window
        reaches past them).
    """

    genotypes: np.ndarray
    stats: dict = field(default_factory=dict)
    windows: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._check_alleles()
        v = len(self.pos)
        if self.genotypes.shape != (v, (2 * len(self.samples) + 7) // 8):
            raise ValueError(f"genotypes shape {self.genotypes.shape} does not fit {v} variants")
        if self.windows is not None:
            self.windows = np.asarray(self.windows, dtype=np.int64).reshape(-1, 2)

    @cached_property
    def _anchored(self) -> np.ndarray:
        out = np.zeros(self.n_variants, dtype=bool)
        for i in np.flatnonzero(self.is_indel()):
            out[i] = htslib_anchored_indel(self.allele(int(i), "ref"), self.allele(int(i)))
        return out

    def anchored_indel(self) -> np.ndarray:
        """Mask of indels anchored on a shared first base, shape (V,), bool.

        See :func:`htslib_anchored_indel`.
        """
        return self._anchored

    def overlap_skips(self) -> np.ndarray:
        """Per variant, the haplotypes whose ALT is dropped as overlapping an earlier ALT.

        Resolves overlaps over the whole store, in store order, with the rule of
        :mod:`ps2f.genome.haplotypes` ("keep the first", as ``bcftools consensus``).

        Returns
        -------
        numpy.ndarray, shape (V,), int64
            Number of haplotypes (of the 2 S) that carry the ALT but will not get it.
        """
        from ps2f.genome._kernels import count_overlap_skips

        return count_overlap_skips(
            self.pos.astype(np.int64),
            self.ref_lengths(),
            self.alt_lengths(),
            self.anchored_indel(),
            np.ascontiguousarray(self.genotypes),
            2 * self.n_samples,
        )

    def haplotypes(self, rows: slice | np.ndarray) -> np.ndarray:
        """Unpacked ALT indicators, shape (n_rows, S, 2), uint8 (0 = REF, 1 = ALT)."""
        bits = np.unpackbits(self.genotypes[rows], axis=1, count=2 * self.n_samples)
        return bits.reshape(bits.shape[0], self.n_samples, 2)

    def dosages(self, rows: slice | np.ndarray) -> np.ndarray:
        """ALT allele dosages, shape (n_rows, S), uint8 in {0, 1, 2}."""
        return self.haplotypes(rows).sum(axis=2, dtype=np.uint8)

    def save(self, path: str | Path) -> None:
        """Write the store to ``path`` (compressed ``.npz``) atomically: a temp file, then a rename.

        The temporary file is a hidden, per-process sibling (``.<name>.<pid>.tmp.npz``), so a
        killed write leaves nothing a Snakemake wildcard or a concurrent writer could mistake
        for a store.
        """
        _save_npz(
            path,
            self._arrays()
            | _windows_array(self.windows)
            | {
                "genotypes": self.genotypes,
                "stats": np.str_(json.dumps(self.stats, default=int)),
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> VariantStore:
        """Read a store written by :meth:`save`.

        Stores of format 1 (uncompressed, before indels were kept) still load, without
        ``windows`` and ``stats``; stores of formats 1 and 2 (before deletions reaching a window
        from upstream were kept) load with a logged warning to rebuild them.

        Raises
        ------
        ValueError
            If the file was written by an incompatible version of ps2f, or is a
            :class:`DosageStore` (no haplotypes can be built from dosages).
        """
        with np.load(path, allow_pickle=False) as z:
            version = _check_version(path, z)
            if "kind" in z.files and str(z["kind"]) != "haplotypes":
                raise ValueError(
                    f"{path}: a {z['kind']} store (unphased or imputed dosages); haplotypes need "
                    f"the phased variant store of the genotypes rule"
                )
            v2 = version >= 2  # version 1: no windows, no stats
            if version <= _FORMAT_WITHOUT_UPSTREAM:
                log.warning(
                    "%s: variant store of format %d, written before ingestion kept deletions "
                    "that start before a window and reach into it: such a long deletion is "
                    "missing from the haplotypes. Re-run the genotypes rule to rebuild it "
                    "(snakemake -R genotypes).",
                    path,
                    version,
                )
            return cls(
                **cls._fields(z),
                genotypes=z["genotypes"],
                stats=json.loads(str(z["stats"])) if v2 else {},
                windows=z["windows"] if v2 and bool(z["has_windows"]) else None,
            )


@dataclass
class DosageStore(_AlleleTable):
    """ALT allele dosages of one contig's biallelic variants, for the genotype baselines.

    Built by :func:`ps2f.io.vcf.ingest_dosages` from a VCF/BCF whose calls need not be phased
    (``GT``) or that carries imputed dosages (``FORMAT/DS``). Same allele table as
    :class:`VariantStore` (multi-allelic records split, every REF checked against the FASTA),
    so the baselines, the PredictDB writer and
    :func:`ps2f.baselines.variant_filters.baseline_variant_mask` read either store alike.

    Attributes
    ----------
    contig, samples, pos, ref_bytes, ref_offsets, alt_bytes, alt_offsets, ids
        As in :class:`VariantStore`.
    values : numpy.ndarray, shape (V, S), uint8 or float32
        ALT allele dosage of each variant and sample, in [0, 2]: ``uint8`` counts from ``GT``,
        ``float32`` expected dosages from ``DS``.
    dosage_field : {"GT", "DS"}
        The FORMAT field the dosages were read from.
    stats : dict
        Ingestion counts, for the log.
    windows : numpy.ndarray, shape (K, 2), int64, optional
        Merged 0-based half-open windows whose variants were read.
    """

    values: np.ndarray
    dosage_field: str = "GT"
    stats: dict = field(default_factory=dict)
    windows: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._check_alleles()
        if self.values.shape != (len(self.pos), len(self.samples)):
            raise ValueError(
                f"dosage matrix shape {self.values.shape} does not fit {len(self.pos)} variants x "
                f"{len(self.samples)} samples"
            )
        if self.dosage_field not in ("GT", "DS"):
            raise ValueError(f"dosage field must be GT or DS, got {self.dosage_field!r}")
        if self.windows is not None:
            self.windows = np.asarray(self.windows, dtype=np.int64).reshape(-1, 2)

    def dosages(self, rows: slice | np.ndarray) -> np.ndarray:
        """ALT allele dosages, shape (n_rows, S): uint8 in {0, 1, 2} (GT) or float32 in [0, 2] (DS)."""
        return self.values[rows]

    def save(self, path: str | Path) -> None:
        """Write the store to ``path`` (compressed ``.npz``, ``kind = "dosages"``) atomically."""
        _save_npz(
            path,
            self._arrays()
            | _windows_array(self.windows)
            | {
                "kind": np.str_("dosages"),
                "dosage_field": np.str_(self.dosage_field),
                "values": self.values,
                "stats": np.str_(json.dumps(self.stats, default=int)),
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> DosageStore:
        """Read a store written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a dosage store of this version.
        """
        with np.load(path, allow_pickle=False) as z:
            _check_version(path, z)
            if "kind" not in z.files or str(z["kind"]) != "dosages":
                raise ValueError(f"{path}: not a dosage store (see ps2f.genome.store.load_store)")
            return cls(
                **cls._fields(z),
                values=z["values"],
                dosage_field=str(z["dosage_field"]),
                stats=json.loads(str(z["stats"])),
                windows=z["windows"] if bool(z["has_windows"]) else None,
            )


def _check_version(path: str | Path, z) -> int:
    version = int(z["format_version"])
    if version not in (1, _FORMAT_WITHOUT_UPSTREAM, _FORMAT_VERSION):
        raise ValueError(
            f"{path}: variant store format {version}, expected {_FORMAT_VERSION}; "
            f"delete it and re-run the genotypes rule"
        )
    return version


def load_store(path: str | Path) -> VariantStore | DosageStore:
    """Open a phased :class:`VariantStore` or a :class:`DosageStore`, whichever ``path`` holds.

    Parameters
    ----------
    path : str or Path
        A ``.npz`` written by :meth:`VariantStore.save` or :meth:`DosageStore.save`.

    Returns
    -------
    VariantStore or DosageStore
    """
    with np.load(path, allow_pickle=False) as z:
        kind = str(z["kind"]) if "kind" in z.files else "haplotypes"
    return DosageStore.load(path) if kind == "dosages" else VariantStore.load(path)


def load_stores(
    paths: Iterable[str | Path], phased: bool = True
) -> dict[str, VariantStore | DosageStore]:
    """Open one store per contig, keyed by contig.

    The workflow names each store after its contig as the annotation spells it
    (``results/<run>/variants/<contig>.npz``, ``.../dosages/<contig>.npz``), so the key is the
    file name without ``.npz``: the value of the genes table's ``chrom`` column.

    Parameters
    ----------
    paths : iterable of str or Path
        ``.npz`` stores, one per contig.
    phased : bool, default True
        True: phased :class:`VariantStore` files only (haplotypes are built from them; a
        :class:`DosageStore` is refused). False: either kind, as :func:`load_store` opens it
        (the genotype baselines read dosages of both).

    Returns
    -------
    dict of str to VariantStore or DosageStore

    Raises
    ------
    ValueError
        A file of another ps2f version, or a dosage store where ``phased`` is true.
    """
    open_one = VariantStore.load if phased else load_store
    return {Path(p).stem: open_one(p) for p in paths}
