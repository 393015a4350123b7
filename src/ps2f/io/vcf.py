"""Phased VCF/BCF ingestion (cyvcf2) into a :class:`~ps2f.genome.store.VariantStore`.

What happens to each record, in order (each case is counted in the returned ``stats``):

* only records whose POS lies inside the requested windows are read (region queries on the
  tabix/CSI index; a missing index is an error);
* multi-allelic records are split into one row per ALT;
* symbolic ALTs (``<DEL>``, ``<CN2>``), the spanning deletion ``*``, breakends and ``.`` are skipped
  (``skipped_alt_*``); SNVs, MNVs, insertions, deletions and complex substitutions are kept
  (``variants_stored``, ``stored_snv``/``stored_mnv``/``stored_insertion``/``stored_deletion``/
  ``stored_complex``); ``snvs_only=True`` keeps SNVs only (``skipped_not_snv``);
* the REF is compared with the FASTA: a mismatch is an :class:`~ps2f.errors.InputError`; a REF over
  ``N`` reference bases cannot be checked and is counted as ``ref_unverifiable_over_N``;
* missing alleles follow ``missing_policy`` (``"error"`` or ``"reference"``: treated as REF,
  ``genotypes_missing_set_to_ref``); unphased heterozygous calls and haploid calls are errors
  (haplotypes need phase). Unphased *homozygous* calls carry no phase information and are kept;
  partly phased input is reported (``unphased_homozygous_calls``, ``records_partly_phased``);
* overlapping ALT alleles on one haplotype (e.g. an SNV inside a deletion) are kept in the store
  and resolved when haplotypes are built ("keep the first", as ``bcftools consensus``; see
  :mod:`ps2f.genome.haplotypes`); the alleles that will be dropped are counted
  (``overlapping_alleles_skipped`` haplotype x variant pairs, ``variants_with_overlap_skips``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import cyvcf2
import numpy as np

from ps2f.errors import InputError
from ps2f.genome.encoding import N_CODE, encode
from ps2f.genome.store import VariantStore
from ps2f.io.contigs import resolve_contig
from ps2f.io.fasta import Reference

__all__ = ["merge_windows", "read_vcf_samples", "ingest_vcf"]

log = logging.getLogger(__name__)

MISSING_POLICIES = ("error", "reference")


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


def _open(path: str, samples: Sequence[str] | None = None) -> cyvcf2.VCF:
    if not Path(path).exists():
        raise InputError(f"{path}: VCF file not found; check the 'genotypes' config key.")
    try:
        return cyvcf2.VCF(path, samples=list(samples) if samples is not None else None, lazy=True)
    except Exception as exc:
        raise InputError(
            f"{path}: cannot read as VCF/BCF ({exc}). Is it a (bgzipped) VCF or BCF?"
        ) from exc


def read_vcf_samples(path: str | Path) -> list[str]:
    """Sample IDs of a VCF/BCF, in file order.

    Raises
    ------
    InputError
        If the file cannot be read, has no samples, or repeats a sample ID.
    """
    vcf = _open(str(path))
    samples = list(vcf.samples)
    vcf.close()
    if not samples:
        raise InputError(f"{path}: the VCF has no samples (sites-only); genotypes are needed.")
    dup = [s for s, c in Counter(samples).items() if c > 1]
    if dup:
        raise InputError(
            f"{path}: sample IDs repeat in the header: {dup[:5]}; rename or drop them."
        )
    return samples


# the empty block every complete BGZF file (bgzipped VCF, BCF) ends with (SAM/BAM spec 4.1.2)
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _truncated(path: str) -> bool:
    """True if a BGZF-compressed file lacks the end-of-file block (it was cut short)."""
    with open(path, "rb") as fh:
        if fh.read(4) != _BGZF_EOF[:4]:
            return False  # not BGZF (plain VCF): nothing to check here
        fh.seek(0, 2)
        if fh.tell() < len(_BGZF_EOF):
            return True
        fh.seek(-len(_BGZF_EOF), 2)
        return fh.read() != _BGZF_EOF


def _has_index(path: str) -> bool:
    return any(Path(path + ext).exists() for ext in (".tbi", ".csi"))


def _skip_reason(alt: str) -> str | None:
    if alt in (".", "*", ""):
        return "alt_missing_or_spanning"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return "alt_symbolic_or_breakend"
    if not set(alt.upper()) <= set("ACGTN"):
        return "alt_not_dna"
    return None


def _variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "snv" if len(ref) == 1 else "mnv"
    if alt.startswith(ref):
        return "insertion"
    if ref.startswith(alt):
        return "deletion"
    return "complex"


def ingest_vcf(
    vcf_path: str | Path,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None = None,
    snvs_only: bool = False,
    missing_policy: str = "error",
    contig_aliases: Mapping[str, str] | None = None,
) -> VariantStore:
    """Read the phased variants of ``contig`` inside ``windows`` into a variant store.

    Parameters
    ----------
    vcf_path : str or Path
        bgzipped VCF or BCF with a ``.tbi``/``.csi`` index.
    reference : Reference
        FASTA every REF allele is checked against.
    contig : str
        Contig as named in the annotation; the VCF's and FASTA's spellings are resolved by
        :func:`ps2f.io.contigs.resolve_contig`.
    windows : sequence of (int, int)
        0-based half-open windows in bp; a record is kept if its POS lies inside one.
    samples : sequence of str, optional
        Samples to keep (default all). The store keeps them in VCF order.
    snvs_only : bool
        Skip every ALT that is not a single-nucleotide substitution (for SNV-only baselines;
        haplotypes want every type).
    missing_policy : {"error", "reference"}
        What to do with a missing allele (``.``).
    contig_aliases : mapping of str to str, optional
        Explicit contig renames from the config.

    Returns
    -------
    VariantStore
        With ``stats`` holding the per-reason counts.

    Raises
    ------
    InputError
        Missing index, truncated file, no samples, unknown contig, REF/FASTA mismatch, missing
        genotype under ``missing_policy="error"``, unphased heterozygous or haploid call,
        duplicate record.
    """
    vcf_path = str(vcf_path)
    if missing_policy not in MISSING_POLICIES:
        raise ValueError(
            f"missing_policy must be one of {MISSING_POLICIES}, got {missing_policy!r}"
        )
    if not _has_index(vcf_path):
        raise InputError(
            f"{vcf_path}: no .tbi or .csi index; region queries need one. Compress with "
            f"'bgzip' and index with 'tabix -p vcf {vcf_path}' (or 'bcftools index')."
        )
    if _truncated(vcf_path):
        raise InputError(
            f"{vcf_path}: the file is truncated (no BGZF end-of-file block); records after the "
            f"cut would be silently missing. Re-download it or re-compress it with bgzip."
        )
    vcf = _open(vcf_path, samples)
    if not len(vcf.samples):
        raise InputError(f"{vcf_path}: the VCF has no samples (sites-only); genotypes are needed.")
    vcf_contig = resolve_contig(contig, vcf.seqnames, vcf_path, contig_aliases)
    fasta_contig = reference.contig_name(contig)
    kept_samples = np.array(vcf.samples, dtype=str)
    if samples is not None:
        absent = sorted(set(samples) - set(kept_samples))
        if absent:
            raise InputError(f"{vcf_path}: requested samples absent from the VCF: {absent[:5]}")
    n_samples = len(kept_samples)

    stats: Counter[str] = Counter()
    pos_l: list[int] = []
    ref_l: list[bytes] = []
    alt_l: list[bytes] = []
    id_l: list[str] = []
    gt_l: list[np.ndarray] = []
    seen: set[tuple[int, str, str]] = set()

    merged = merge_windows(windows)
    for start, end in merged:
        ref_codes = reference.fetch_codes(fasta_contig, start, end + 1024)
        for rec in vcf(f"{vcf_contig}:{start + 1}-{end}"):
            pos0 = rec.POS - 1
            if not (start <= pos0 < end):
                continue  # a record overlapping the window from the left
            stats["records"] += 1
            where = f"{vcf_path}: record {rec.CHROM}:{rec.POS} {rec.ID or '.'} {rec.REF}>{','.join(rec.ALT)}"
            ref = rec.REF.upper()
            ref_len = len(ref)
            if pos0 - start + ref_len <= len(ref_codes):
                fasta_seg = ref_codes[pos0 - start : pos0 - start + ref_len]
            else:  # a REF longer than the read-ahead
                fasta_seg = reference.fetch_codes(fasta_contig, pos0, pos0 + ref_len)
            ref_enc = encode(ref)
            if np.any(fasta_seg == N_CODE) or np.any(ref_enc == N_CODE):
                stats["ref_unverifiable_over_N"] += 1
            elif not np.array_equal(fasta_seg, ref_enc):
                fasta_ref = reference.fetch_string(fasta_contig, pos0, pos0 + ref_len)
                raise InputError(
                    f"{where}: REF {ref!r} disagrees with the FASTA {reference.path} which has "
                    f"{fasta_ref!r} at {fasta_contig}:{rec.POS}. Likely causes: a different genome "
                    f"build (e.g. GRCh37 vs GRCh38), a wrong contig mapping, or an unnormalized VCF "
                    f"(run 'bcftools norm -f FASTA -c e')."
                )
            gt = rec.genotype.array()  # (S, ploidy + 1) int16; last column = phased flag
            if gt.shape[1] < 3 or np.any(gt[:, 1] == -2):
                raise InputError(
                    f"{where}: haploid genotype calls; ps2f needs diploid phased genotypes."
                )
            a, b = gt[:, 0], gt[:, 1]
            missing = (a < 0) | (b < 0)
            if missing.any():
                if missing_policy == "error":
                    first = kept_samples[np.flatnonzero(missing)[0]]
                    raise InputError(
                        f"{where}: missing genotype for {int(missing.sum())} sample(s), e.g. {first}. "
                        f"Impute first, or set genotypes.missing_policy: reference to read them as REF."
                    )
                stats["genotypes_missing_set_to_ref"] += int(missing.sum())
                a = np.where(a < 0, 0, a)
                b = np.where(b < 0, 0, b)
            unphased = (gt[:, 2] == 0) & ~missing
            if unphased.any():
                unphased_het = unphased & (a != b)
                if unphased_het.any():
                    first = kept_samples[np.flatnonzero(unphased_het)[0]]
                    raise InputError(
                        f"{where}: {int(unphased_het.sum())} unphased heterozygous call(s), e.g. "
                        f"{first} ({stats['records_partly_phased']} earlier records were partly "
                        f"phased). Haplotypes need phase: phase the VCF (SHAPEIT, Eagle, Beagle) "
                        f"first."
                    )
                # homozygous calls need no phase: kept, but reported
                stats["unphased_homozygous_calls"] += int(unphased.sum())
                if not unphased[~missing].all():
                    stats["records_partly_phased"] += 1
            for k, alt in enumerate(rec.ALT, start=1):
                reason = _skip_reason(alt)
                if reason is None and snvs_only and (ref_len != 1 or len(alt) != 1):
                    reason = "not_snv"
                if reason is not None:
                    stats[f"skipped_{reason}"] += 1
                    continue
                alt = alt.upper()
                key = (pos0, ref, alt)
                if key in seen:
                    raise InputError(
                        f"{where}: duplicate record for {ref}>{alt}; deduplicate with "
                        f"'bcftools norm -d exact'."
                    )
                seen.add(key)
                haps = np.stack([a == k, b == k], axis=1).reshape(-1)
                pos_l.append(pos0)
                ref_l.append(ref.encode())
                alt_l.append(alt.encode())
                id_l.append(rec.ID if rec.ID else f"{rec.CHROM}_{rec.POS}_{ref}_{alt}")
                gt_l.append(np.packbits(haps))
                stats["variants_stored"] += 1
                stats[f"stored_{_variant_type(ref, alt)}"] += 1
    vcf.close()

    order = np.argsort(np.asarray(pos_l, dtype=np.int64), kind="stable")

    def _flat(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        items = [items[i] for i in order]
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in items])
        return np.frombuffer(b"".join(items), dtype=np.uint8).copy(), offsets

    ref_bytes, ref_offsets = _flat(ref_l)
    alt_bytes, alt_offsets = _flat(alt_l)
    n_bytes = (2 * n_samples + 7) // 8
    genotypes = np.stack(gt_l)[order] if gt_l else np.zeros((0, n_bytes), dtype=np.uint8)
    store = VariantStore(
        contig=fasta_contig,
        samples=kept_samples,
        pos=np.asarray(pos_l, dtype=np.int64)[order],
        ref_bytes=ref_bytes,
        ref_offsets=ref_offsets,
        alt_bytes=alt_bytes,
        alt_offsets=alt_offsets,
        ids=np.asarray(id_l, dtype=str)[order] if id_l else np.zeros(0, dtype=str),
        genotypes=genotypes,
        windows=np.asarray(merged, dtype=np.int64).reshape(-1, 2),
    )
    skips = store.overlap_skips()
    stats["overlapping_alleles_skipped"] = int(skips.sum())
    stats["variants_with_overlap_skips"] = int(np.count_nonzero(skips))
    store.stats = dict(stats)
    log.info("%s %s: %s", vcf_path, contig, store.stats)
    if stats["overlapping_alleles_skipped"]:
        log.info(
            "%s %s: %d ALT alleles on %d variants overlap an earlier ALT on the same haplotype "
            "and are dropped when haplotypes are built (keep the first, as bcftools consensus)",
            vcf_path,
            contig,
            stats["overlapping_alleles_skipped"],
            stats["variants_with_overlap_skips"],
        )
    return store
