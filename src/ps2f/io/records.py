"""Per-record logic shared by the genotype readers (VCF/BCF and PLINK 2 PGEN).

A reader (:mod:`ps2f.io.vcf`, :mod:`ps2f.io.pgen`) checks its files, opens them, and hands
:func:`walk_records` the records of each window; everything that happens to a record from there
on is here, once, so that a store read from a PGEN equals the store read from the VCF it was made
from:

* only records whose POS lies inside the requested windows are kept, and, for the variant store
  (haplotypes), also a record starting before a window whose REF or ``<DEL>`` END reaches into
  it (a long deletion across the TSS from far upstream changes the window however far upstream
  it starts; ``records_overlapping_window_from_upstream``): it is stored once, and the reference
  around it (the deletion's length plus the window's, on each side) is read as one more window,
  since a carrier's TSS-centred window pulls bases from before it. The dosage store keeps
  PredictDB's rule (POS inside a window). Records must come sorted by POS;
* multi-allelic records are split into one row per ALT;
* a symbolic ``<DEL>`` with ``INFO/END`` is stored spelled out, as ``bcftools consensus`` (1.16)
  applies it: REF = the FASTA's bases POS..END, ALT = the anchor base at POS (the bases POS+1..END
  deleted; ``stored_symbolic_deletion``); a ``<DEL>`` without END changes nothing in bcftools
  (it reads no SVLEN) and is counted (``skipped_symbolic_del_without_end``). ``<INS>``, ``<DUP>``,
  ``<INV>`` and ``<CN…>`` carry no sequence (or need a copy-number model) and bcftools consensus
  refuses them, so they are skipped and counted below;
* other symbolic ALTs (``<CN2>``, ``<*>``, ``<INS>``...), the spanning deletion ``*``, breakends
  (including single breakends ``G.``) and ``.`` are skipped (``skipped_alt_*``; a record with no
  ALT at all counts once under ``skipped_alt_missing_or_spanning``), as are ALTs with letters
  other than ``ACGTN`` (``skipped_alt_not_dna``) and ALTs equal to the REF
  (``skipped_alt_equals_ref``); SNVs, MNVs, insertions, deletions and complex substitutions are
  kept (``variants_stored``, ``stored_snv``/``stored_mnv``/``stored_insertion``/
  ``stored_deletion``/``stored_complex``); ``snvs_only=True`` keeps SNVs only
  (``skipped_not_snv``);
* gVCF reference blocks (records whose every ALT is ``<*>`` or ``<NON_REF>``) are skipped before
  the REF check, as ``bcftools consensus`` does (``skipped_gvcf_reference_block``); a record with
  a real ALT beside ``<NON_REF>`` is a variant and its REF is checked;
* the REF is compared with the FASTA: a mismatch, or a REF running past the end of the FASTA's
  contig, is an :class:`~ps2f.errors.InputError`; a REF over ``N`` (or other IUPAC) reference
  bases cannot be checked and is counted as ``ref_unverifiable_over_N``. The reference bases of
  the windows are counted too (``reference_bases_in_windows``, ``reference_bases_N``,
  ``reference_bases_other_iupac``: IUPAC codes are read as ``N``, lower case as upper case);
* a duplicate record (same POS, REF and ALT) is an error;
* missing alleles follow ``missing_policy`` (``"error"`` or ``"reference"``: treated as REF,
  ``genotypes_missing_set_to_ref``); for haplotypes, unphased heterozygous calls are errors.
  Unphased *homozygous* calls carry no phase information and are kept; partly phased input is
  reported (``unphased_homozygous_calls``, ``records_partly_phased``);
* overlapping ALT alleles on one haplotype (e.g. an SNV inside a deletion) are kept in the store
  and resolved when haplotypes are built ("keep the first", as ``bcftools consensus``; see
  :mod:`ps2f.genome.haplotypes`); the alleles that will be dropped are counted
  (``overlapping_alleles_skipped`` haplotype x variant pairs, ``variants_with_overlap_skips``).
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import N_CODE, encode
from ps2f.genome.store import DosageStore, VariantStore
from ps2f.io.fasta import Reference
from ps2f.io.harmonize import AMBIGUOUS, SAME, UNRESOLVED, Harmonizer, resolve_alleles

__all__ = [
    "DOSAGE_FIELDS",
    "MISSING_POLICIES",
    "FormatHints",
    "Record",
    "Walked",
    "check_dosage_field",
    "check_missing_policy",
    "dosage_rows",
    "dosage_store",
    "gt_dosage_rows",
    "merge_windows",
    "missing_to_reference",
    "phased_rows",
    "variant_store",
    "walk_records",
]

log = logging.getLogger(__name__)

MISSING_POLICIES = ("error", "reference")
DOSAGE_FIELDS = ("GT", "DS")


def merge_windows(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping or touching half-open windows.

    Parameters
    ----------
    windows : sequence of (int, int)
        ``(start, end)`` pairs, 0-based half-open, in bp.

    Returns
    -------
    list of (int, int)
        Disjoint, sorted windows covering the same positions.
    """
    out: list[list[int]] = []
    for start, end in sorted((max(0, int(a)), int(b)) for a, b in windows if b > a):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def check_missing_policy(missing_policy: str) -> None:
    """Raise :class:`ConfigError` unless ``missing_policy`` is one of :data:`MISSING_POLICIES`."""
    if missing_policy not in MISSING_POLICIES:
        raise ConfigError(
            f"genotypes.missing_policy must be one of {MISSING_POLICIES}, got {missing_policy!r}"
        )


def check_dosage_field(dosage_field: str) -> None:
    """Raise :class:`ConfigError` unless ``dosage_field`` is one of :data:`DOSAGE_FIELDS`."""
    if dosage_field not in DOSAGE_FIELDS:
        raise ConfigError(
            f"baselines.dosage_field must be one of {DOSAGE_FIELDS}, got {dosage_field!r}"
        )


class Record(Protocol):
    """What :func:`walk_records` reads of a record (a ``cyvcf2.Variant`` has all of it).

    ``CHROM`` as the file spells it, ``POS`` 1-based, ``ID`` (None or ``""`` when ``.``),
    ``REF``, ``ALT`` (list of str, empty when ``.``) and ``end`` (1-based inclusive: INFO/END
    when given, else ``POS + len(REF) - 1``).
    """

    CHROM: str
    POS: int
    ID: str | None
    REF: str
    ALT: list[str]
    end: int


@dataclass(frozen=True)
class FormatHints:
    """The format-specific words of the shared error messages (what the file is, how to fix it).

    Attributes
    ----------
    name : str
        ``"VCF"`` or ``"PGEN"``.
    sort : str
        The sentence that says how to sort the file (``{path}`` is filled in).
    normalize : str
        How to line REF alleles up with the FASTA.
    dedup : str
        How to drop duplicate records.
    """

    name: str
    sort: str
    normalize: str
    dedup: str


_GVCF_BLOCK_ALTS = frozenset(("<*>", "<NON_REF>"))


def _skip_reason(ref: str, alt: str) -> str | None:
    if alt in (".", "*", ""):
        return "alt_missing_or_spanning"
    if alt.startswith("<") or "[" in alt or "]" in alt or alt.startswith(".") or alt.endswith("."):
        return "alt_symbolic_or_breakend"  # <DEL>, <CN2>, <*>, mate and single breakends
    if not set(alt.upper()) <= set("ACGTN"):
        return "alt_not_dna"
    if alt.upper() == ref:
        return "alt_equals_ref"
    return None


def _variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "snv" if len(ref) == 1 else "mnv"
    if alt.startswith(ref):
        return "insertion"
    if ref.startswith(alt):
        return "deletion"
    return "complex"


def _inside(windows: list[tuple[int, int]], pos0: int) -> bool:
    """Whether ``pos0`` lies in one of the sorted, disjoint half-open ``windows``."""
    i = bisect.bisect_right(windows, (pos0, float("inf"))) - 1
    return i >= 0 and windows[i][0] <= pos0 < windows[i][1]


def _subtract(windows: list[tuple[int, int]], covered: list[tuple[int, int]]):
    """The parts of sorted, disjoint ``windows`` outside sorted, disjoint ``covered``."""
    out = []
    for start, end in windows:
        for a, b in covered:
            if b <= start or a >= end:
                continue
            if a > start:
                out.append((start, a))
            start = max(start, b)
        if end > start:
            out.append((start, end))
    return out


def _count_reference_bases(text: str, stats: Counter) -> None:
    """Add the ACGT / N / other-IUPAC composition of upper-case ``text`` to ``stats``."""
    counts = np.bincount(np.frombuffer(text.encode("ascii"), dtype=np.uint8), minlength=256)
    n_acgt = int(counts[list(b"ACGT")].sum())
    n_n = int(counts[ord("N")])
    stats["reference_bases_in_windows"] += len(text)
    stats["reference_bases_N"] += n_n
    stats["reference_bases_other_iupac"] += len(text) - n_acgt - n_n


class Walked(NamedTuple):
    """What :func:`walk_records` read: the allele table in store order, one row per ALT."""

    fasta_contig: str
    samples: np.ndarray
    windows: list[tuple[int, int]]
    pos: np.ndarray
    ref: tuple[np.ndarray, np.ndarray]
    alt: tuple[np.ndarray, np.ndarray]
    ids: np.ndarray
    rows: list[np.ndarray]
    stats: Counter

    def allele_table(self) -> dict:
        """The fields both stores share (alleles, IDs, samples, windows) as keywords."""
        return {
            "contig": self.fasta_contig,
            "samples": self.samples,
            "pos": self.pos,
            "ref_bytes": self.ref[0],
            "ref_offsets": self.ref[1],
            "alt_bytes": self.alt[0],
            "alt_offsets": self.alt[1],
            "ids": self.ids,
            "windows": np.asarray(self.windows, dtype=np.int64).reshape(-1, 2),
        }


#: ``calls(rec, where, samples, stats)`` -> ``row(k)``: one record's genotype data as the store
#: row of its ALT number ``k`` (1-based); raises InputError for calls the store cannot hold
Calls = Callable[[Record, str, np.ndarray, Counter], Callable[[int], np.ndarray]]


def walk_records(
    path: str,
    reference: Reference,
    fasta_contig: str,
    samples: np.ndarray,
    windows: Sequence[tuple[int, int]],
    records_in: Callable[[int, int], Iterable[Record]],
    snvs_only: bool,
    calls: Calls,
    hints: FormatHints,
    upstream_overlaps: bool = False,
    harmonizer: Harmonizer | None = None,
) -> Walked:
    """Read the records of each window into the allele table and store rows (module docstring).

    Parameters
    ----------
    path : str
        The genotype file, for messages.
    reference : Reference
        FASTA every REF allele is checked against.
    fasta_contig : str
        The contig as the FASTA spells it.
    samples : numpy.ndarray, shape (S,), str
        The samples ``calls`` returns rows for, in store order.
    windows : sequence of (int, int)
        0-based half-open windows in bp (merged here).
    records_in : callable
        ``records_in(start, end)``: the file's records starting in ``[start, end)``, in file
        order, and with ``upstream_overlaps`` also those starting before ``start`` whose
        ``end`` passes it (more may come: a record starting before ``start`` that does not
        reach it, or any without ``upstream_overlaps``, is dropped here).
    snvs_only : bool
        Skip every ALT that is not a single-nucleotide substitution.
    calls : callable
        See :data:`Calls`.
    hints : FormatHints
        The format's words for the error messages.
    upstream_overlaps : bool
        Keep records starting before a window that reach into it, and read the reference
        around them as more windows (the variant store; module docstring). Ignored with
        ``snvs_only`` (such records are never SNVs).
    harmonizer : Harmonizer, optional
        Read an external cohort: each biallelic record is lined up with the FASTA and cohort
        A's alleles (swapped REF/ALT, strand flips, strand-ambiguous SNVs dropped; counted, see
        :mod:`ps2f.io.harmonize`) instead of failing on a REF that disagrees with the FASTA.

    Returns
    -------
    Walked
        ``windows``: the windows read, the requested ones and those read around records kept
        as upstream overlaps, merged.

    Raises
    ------
    InputError
        An unsorted file, a REF that disagrees with the FASTA or runs past its contig, a
        ``<DEL>`` running past the contig, a duplicate record; and whatever ``calls`` raises.
    """
    contig_len = reference.contig_length(fasta_contig)
    stats: Counter[str] = Counter(records=0)
    pos_l: list[int] = []
    ref_l: list[bytes] = []
    alt_l: list[bytes] = []
    id_l: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[tuple[int, str, str]] = set()

    upstream_overlaps = upstream_overlaps and not snvs_only  # such records are never SNVs
    todo = merge_windows(windows)
    done: list[tuple[int, int]] = []  # windows read so far, sorted and disjoint
    taken: set[tuple] = set()  # records kept as upstream overlaps (not to be read again)
    while todo:
        extra: list[tuple[int, int]] = []
        for start, end in todo:
            # one read per window (+ read-ahead for REFs that start inside and run past its end)
            ref_text = reference.fetch_string(fasta_contig, start, end + 1024)
            _count_reference_bases(ref_text[: end - start], stats)
            ref_codes = encode(ref_text)
            prev_pos = 0
            for rec in records_in(start, end):
                if rec.POS < prev_pos:
                    raise InputError(
                        f"{path}: record {rec.CHROM}:{rec.POS} comes after {rec.CHROM}:{prev_pos}: "
                        f"the file is not sorted, so its index cannot be trusted. "
                        f"{hints.sort.format(path=path)}"
                    )
                prev_pos = rec.POS
                pos0 = rec.POS - 1
                if pos0 < start:
                    # a record overlapping the window from the left (a long deletion starting far
                    # upstream): kept for haplotypes unless its POS lies in a window read before
                    if (
                        not upstream_overlaps
                        or rec.end <= start
                        or _inside(done, pos0)
                        or (rec.ALT and all(a in _GVCF_BLOCK_ALTS for a in rec.ALT))
                    ):
                        continue
                    rec_key = (rec.POS, rec.REF, tuple(rec.ALT), rec.ID)
                    if rec_key in taken:
                        continue
                    taken.add(rec_key)
                    stats["records_overlapping_window_from_upstream"] += 1
                    # the bases such a deletion pulls into a TSS-centred window, on both sides
                    # (as the haplotype builder's deletion budget, plus the window's own length)
                    reach = (rec.end - pos0) + (end - start)
                    extra += [(pos0 - reach, start), (end, end + reach)]
                elif pos0 >= end:
                    continue
                elif taken and (rec.POS, rec.REF, tuple(rec.ALT), rec.ID) in taken:
                    continue  # kept already, as overlapping a later window from upstream
                stats["records"] += 1
                if rec.ALT and all(a in _GVCF_BLOCK_ALTS for a in rec.ALT):
                    # gVCF reference block: no sequence change; skipped before the REF check
                    # (its REF is often a placeholder), as bcftools consensus skips it
                    stats["skipped_gvcf_reference_block"] += 1
                    continue
                where = f"{path}: record {rec.CHROM}:{rec.POS} {rec.ID or '.'} {rec.REF}>{','.join(rec.ALT) or '.'}"
                ref = rec.REF.upper()
                ref_len = len(ref)
                if pos0 + ref_len > contig_len:
                    raise InputError(
                        f"{where}: the REF runs past the end of {fasta_contig} in the FASTA "
                        f"{reference.path} ({contig_len:,} bp). The {hints.name} was called on "
                        f"another genome build or contig: use the matching FASTA, or lift the "
                        f"{hints.name} over."
                    )
                if start <= pos0 and pos0 - start + ref_len <= len(ref_codes):
                    fasta_seg = ref_codes[pos0 - start : pos0 - start + ref_len]
                else:  # a REF longer than the read-ahead, or starting before the window
                    fasta_seg = reference.fetch_codes(fasta_contig, pos0, pos0 + ref_len)
                ref_enc = encode(ref)
                mismatch = False
                if np.any(fasta_seg == N_CODE) or np.any(ref_enc == N_CODE):
                    stats["ref_unverifiable_over_N"] += 1
                else:
                    mismatch = not np.array_equal(fasta_seg, ref_enc)
                alleles = list(enumerate(rec.ALT, start=1))
                if harmonizer is not None and len(rec.ALT) == 1:
                    case, h_ref, h_alt = resolve_alleles(
                        pos0,
                        ref,
                        rec.ALT[0].upper(),
                        "ACGTN"[int(fasta_seg[0])] if len(fasta_seg) else "N",
                        not mismatch,
                        harmonizer.cohort_alleles,
                    )
                    if case == AMBIGUOUS:
                        stats["dropped_strand_ambiguous"] += 1
                        continue
                    if case != UNRESOLVED:
                        mismatch = False
                        if case != SAME:
                            stats[f"harmonized_{case}"] += 1
                            ref, ref_len = h_ref, len(h_ref)
                            # after a swap the stored ALT is the written REF: row 0
                            alleles = [(0 if "swapped" in case else 1, h_alt)]
                if mismatch:
                    fasta_ref = reference.fetch_string(fasta_contig, pos0, pos0 + ref_len)
                    raise InputError(
                        f"{where}: REF {ref!r} disagrees with the FASTA {reference.path} which "
                        f"has {fasta_ref!r} at {fasta_contig}:{rec.POS}. Likely causes: a "
                        f"different genome build (e.g. GRCh37 vs GRCh38), a wrong contig "
                        f"mapping, or {hints.normalize}."
                        + (
                            " (An external cohort's record: neither its swap nor its strand "
                            "flip matches the FASTA or a variant of the training cohort.)"
                            if harmonizer is not None
                            else ""
                        )
                    )
                row = calls(rec, where, samples, stats)
                if not rec.ALT:
                    stats["skipped_alt_missing_or_spanning"] += 1
                for k, alt in alleles:
                    alt_ref = ref
                    if alt == "<DEL>":
                        # spelled out as bcftools consensus applies it: the bases POS+1..END
                        # deleted, the anchor base at POS kept (END from INFO/END; bcftools 1.16
                        # reads no SVLEN, so a <DEL> without END changes nothing and is counted)
                        if rec.end <= pos0 + ref_len:
                            stats["skipped_symbolic_del_without_end"] += 1
                            continue
                        if snvs_only:
                            stats["skipped_not_snv"] += 1
                            continue
                        if rec.end > contig_len:
                            raise InputError(
                                f"{where}: the <DEL> runs to END={rec.end:,}, past the end of "
                                f"{fasta_contig} in the FASTA {reference.path} "
                                f"({contig_len:,} bp). Use the matching FASTA, or lift the "
                                f"{hints.name} over."
                            )
                        alt_ref = reference.fetch_string(fasta_contig, pos0, rec.end).upper()
                        alt = alt_ref[0]
                        stats["stored_symbolic_deletion"] += 1
                    reason = _skip_reason(alt_ref, alt)
                    if reason is None and snvs_only and (ref_len != 1 or len(alt) != 1):
                        reason = "not_snv"
                    if reason is not None:
                        stats[f"skipped_{reason}"] += 1
                        continue
                    alt = alt.upper()
                    key = (pos0, alt_ref, alt)
                    if key in seen:
                        raise InputError(
                            f"{where}: duplicate record for {ref}>{alt}; deduplicate with "
                            f"{hints.dedup}."
                        )
                    seen.add(key)
                    pos_l.append(pos0)
                    ref_l.append(alt_ref.encode())
                    alt_l.append(alt.encode())
                    id_l.append(rec.ID if rec.ID else f"{rec.CHROM}_{rec.POS}_{alt_ref}_{alt}")
                    rows.append(row(k))
                    stats["variants_stored"] += 1
                    stats[f"stored_{_variant_type(alt_ref, alt)}"] += 1
            bisect.insort(done, (start, end))
        # windows the kept upstream records call for, less what was read already
        todo = _subtract(merge_windows(extra), done)

    order = np.argsort(np.asarray(pos_l, dtype=np.int64), kind="stable")

    def _flat(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        items = [items[i] for i in order]
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in items])
        return np.frombuffer(b"".join(items), dtype=np.uint8).copy(), offsets

    return Walked(
        fasta_contig=fasta_contig,
        samples=samples,
        windows=merge_windows(done),
        pos=np.asarray(pos_l, dtype=np.int64)[order],
        ref=_flat(ref_l),
        alt=_flat(alt_l),
        ids=np.asarray(id_l, dtype=str)[order] if id_l else np.zeros(0, dtype=str),
        rows=[rows[i] for i in order],
        stats=stats,
    )


def missing_to_reference(
    a: np.ndarray,
    b: np.ndarray,
    where: str,
    samples: np.ndarray,
    stats: Counter,
    missing_policy: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``missing_policy`` to a record's allele indices.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (S,), int
        Allele index of the first and second call; negative where missing.
    where : str
        The record, for error messages.
    samples : numpy.ndarray, shape (S,), str
    stats : collections.Counter
        Gets ``genotypes_missing_set_to_ref`` (samples with a missing allele).
    missing_policy : {"error", "reference"}

    Returns
    -------
    a, b : numpy.ndarray, shape (S,)
        As given: a missing allele stays negative, which matches no ALT number ``k >= 1``,
        so every store row reads it as REF under ``"reference"`` (and the REF row ``k = 0`` of
        a harmonized, swapped record does not count it as carrying the REF allele's letters).
    missing : numpy.ndarray, shape (S,), bool
        Samples with a missing allele.

    Raises
    ------
    InputError
        A missing allele under ``missing_policy="error"``.
    """
    missing = (a < 0) | (b < 0)
    if missing.any():
        if missing_policy == "error":
            first = samples[np.flatnonzero(missing)[0]]
            raise InputError(
                f"{where}: missing genotype for {int(missing.sum())} sample(s), e.g. {first}. "
                f"Impute first, or set genotypes.missing_policy: reference to read them as REF."
            )
        stats["genotypes_missing_set_to_ref"] += int(missing.sum())
    return a, b, missing


def phased_rows(
    a: np.ndarray,
    b: np.ndarray,
    phased: np.ndarray,
    missing: np.ndarray,
    where: str,
    samples: np.ndarray,
    stats: Counter,
) -> Callable[[int], np.ndarray]:
    """A record's variant-store rows: the bit-packed haplotype indicator of each ALT.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (S,), int
        Allele index of haplotype 1 and 2 (missing already resolved).
    phased, missing : numpy.ndarray, shape (S,), bool
    where : str
        The record, for error messages.
    samples : numpy.ndarray, shape (S,), str
    stats : collections.Counter
        Gets ``unphased_homozygous_calls`` and ``records_partly_phased``.

    Returns
    -------
    callable
        ``row(k)`` -> numpy.ndarray, shape (ceil(2 S / 8),), uint8: bit ``2 s + h`` set if
        haplotype ``h`` of sample ``s`` carries ALT ``k`` (the store's layout).

    Raises
    ------
    InputError
        An unphased heterozygous call (haplotypes need phase).
    """
    unphased = ~phased & ~missing
    if unphased.any():
        unphased_het = unphased & (a != b)
        if unphased_het.any():
            first = samples[np.flatnonzero(unphased_het)[0]]
            raise InputError(
                f"{where}: {int(unphased_het.sum())} unphased heterozygous call(s), e.g. "
                f"{first} ({stats['records_partly_phased']} earlier records were partly "
                f"phased). Haplotypes need phase: phase the genotypes (SHAPEIT, Eagle, Beagle) "
                f"first. (The genotype baselines alone can read unphased or imputed "
                f"dosages: inputs.dosages.)"
            )
        # homozygous calls need no phase: kept, but reported
        stats["unphased_homozygous_calls"] += int(unphased.sum())
        if not unphased[~missing].all():
            stats["records_partly_phased"] += 1
    return lambda k: np.packbits(np.stack([a == k, b == k], axis=1).reshape(-1))


def gt_dosage_rows(
    a: np.ndarray, b: np.ndarray, phased: np.ndarray, missing: np.ndarray, stats: Counter
) -> Callable[[int], np.ndarray]:
    """A record's dosage-store rows from its calls: ``row(k)`` = copies of ALT ``k``, (S,) uint8.

    ``a``, ``b``, ``phased``, ``missing`` as in :func:`phased_rows`; phase is not needed, the
    unphased calls are counted (``unphased_calls``).
    """
    stats["unphased_calls"] += int((~phased & ~missing).sum())
    return lambda k: (a == k).astype(np.uint8) + (b == k)


def dosage_rows(
    ds: np.ndarray,
    n_alt: int,
    where: str,
    samples: np.ndarray,
    stats: Counter,
    missing_policy: str,
    field: str = "DS",
) -> Callable[[int], np.ndarray]:
    """A record's dosage-store rows from imputed ALT dosages (VCF ``FORMAT/DS``, PGEN dosages).

    Parameters
    ----------
    ds : numpy.ndarray, shape (S, n), float32
        Expected ALT dosage per sample and ALT (n >= ``n_alt``); NaN where missing.
    n_alt : int
        The record's ALT count.
    where : str
        The record, for error messages.
    samples : numpy.ndarray, shape (S,), str
    stats : collections.Counter
        Gets ``genotypes_missing_set_to_ref``.
    missing_policy : {"error", "reference"}
        A missing dosage: an error, or 0.
    field : str
        How the format names the dosage, for messages.

    Returns
    -------
    callable
        ``row(k)`` -> numpy.ndarray, shape (S,), float32: the dosage of ALT ``k``.

    Raises
    ------
    InputError
        A missing dosage under ``"error"``; a dosage outside [0, 2] or not finite.
    """
    ds = ds[:, : max(n_alt, 1)]
    missing = np.isnan(ds)
    if missing.any():
        if missing_policy == "error":
            first = samples[np.flatnonzero(missing.any(axis=1))[0]]
            raise InputError(
                f"{where}: missing dosage ({field} '.') for {int(missing.any(axis=1).sum())} "
                f"sample(s), e.g. {first}. Impute first, or set genotypes.missing_policy: "
                f"reference to read them as 0."
            )
        stats["genotypes_missing_set_to_ref"] += int(missing.any(axis=1).sum())
        ds = np.where(missing, 0.0, ds)
    bad = ~np.isfinite(ds) | (ds < 0) | (ds > 2)
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise InputError(
            f"{where}: dosage {field} = {ds[i, j]} of {samples[i]} is outside [0, 2]; {field} "
            f"must be the expected count of the ALT allele in a diploid genotype."
        )
    return lambda k: ds[:, k - 1].copy()


def variant_store(path: str, contig: str, reference: Reference, walked: Walked) -> VariantStore:
    """The variant store of ``walked`` (rows = haplotype bits), overlaps counted, counts logged."""
    stats = walked.stats
    n_bytes = (2 * len(walked.samples) + 7) // 8
    store = VariantStore(
        **walked.allele_table(),
        genotypes=np.stack(walked.rows) if walked.rows else np.zeros((0, n_bytes), np.uint8),
    )
    skips = store.overlap_skips()
    stats["overlapping_alleles_skipped"] = int(skips.sum())
    stats["variants_with_overlap_skips"] = int(np.count_nonzero(skips))
    store.stats = dict(stats)
    _log_ingestion(path, contig, reference, walked)
    if stats["overlapping_alleles_skipped"]:
        log.info(
            "%s %s: %d ALT alleles on %d variants overlap an earlier ALT on the same haplotype "
            "and are dropped when haplotypes are built (keep the first, as bcftools consensus)",
            path,
            contig,
            stats["overlapping_alleles_skipped"],
            stats["variants_with_overlap_skips"],
        )
    return store


def dosage_store(
    path: str, contig: str, reference: Reference, walked: Walked, dosage_field: str
) -> DosageStore:
    """The dosage store of ``walked`` (``uint8`` for ``GT``, ``float32`` for ``DS``), logged."""
    dtype = np.uint8 if dosage_field == "GT" else np.float32
    store = DosageStore(
        **walked.allele_table(),
        values=(
            np.stack(walked.rows).astype(dtype, copy=False)
            if walked.rows
            else np.zeros((0, len(walked.samples)), dtype)
        ),
        dosage_field=dosage_field,
        stats=dict(walked.stats),
    )
    _log_ingestion(path, contig, reference, walked)
    return store


def _log_ingestion(path: str, contig: str, reference: Reference, walked: Walked) -> None:
    """Log the ingestion counts and the warnings they call for."""
    stats = walked.stats
    log.info("%s %s: %s", path, contig, dict(stats))
    if not stats["records"]:
        log.warning(
            "%s %s: no record inside the %d window(s) (%d bp): every individual gets the "
            "reference sequence there",
            path,
            contig,
            len(walked.windows),
            sum(b - a for a, b in walked.windows),
        )
    if stats["records_overlapping_window_from_upstream"]:
        log.info(
            "%s %s: %d records start before a window and reach into it (long deletions); they "
            "are stored and applied to the haplotypes, and the variants around them read too",
            path,
            contig,
            stats["records_overlapping_window_from_upstream"],
        )
    if stats["reference_bases_other_iupac"]:
        log.warning(
            "%s %s: %d reference bases in the windows are IUPAC ambiguity codes; they are read "
            "as N (all-zero one-hot), and REF alleles over them are not checked (%d records)",
            reference.path,
            contig,
            stats["reference_bases_other_iupac"],
            stats["ref_unverifiable_over_N"],
        )
