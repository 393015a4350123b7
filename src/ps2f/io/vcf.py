"""VCF/BCF ingestion (cyvcf2) into a variant store (phased) or a dosage store (phase not needed).

:func:`ingest_vcf` reads phased calls into a :class:`~ps2f.genome.store.VariantStore` (what
haplotypes are built from); :func:`ingest_dosages` reads ALT allele dosages, from unphased or
phased ``GT`` calls or imputed ``FORMAT/DS``, into a :class:`~ps2f.genome.store.DosageStore`
(what the genotype baselines can read instead). Both apply every check below, phasing aside.

Checks on the file, before any record is read (each failure is an
:class:`~ps2f.errors.InputError` naming the file and the fix): it exists and is not empty; it is
BGZF-compressed (a plain-text, plain-gzip or uncompressed-BCF file cannot answer region
queries); it has a ``.tbi``/``.csi`` index, not older than the file (else it most likely belongs
to an earlier version of it); it ends with the BGZF end-of-file block (else it was truncated);
its header parses (a repeated sample ID is named); it has samples; it has at least one record,
and at least one on the requested contig (a header-only file, or a VCF of another contig, is not
silently read as "no variants"; records on the contig that the index does not find mean the
index belongs to another file).

What happens to each record (window filtering, deletions reaching a window from upstream, sort
order, multi-allelic split, skipped ALTs, REF against the FASTA, duplicates, missing alleles,
phasing, overlaps) is shared with the PLINK 2 reader and listed in :mod:`ps2f.io.records`; each
case is counted in the returned ``stats``. VCF specifics: records come from region queries on
the index, which spans a record from POS to its END (a long deletion starting upstream of a
window comes back with it); htslib's parse errors, a record without ``GT`` and a ``GT`` naming
an allele the record does not have are errors naming the record; a lone ``.`` is a missing
diploid call; haploid calls and calls of ploidy above two are errors (haplotypes need diploid
calls).
"""

from __future__ import annotations

import gzip
import logging
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import cyvcf2
import numpy as np

from ps2f.errors import InputError
from ps2f.genome.store import DosageStore, VariantStore
from ps2f.io.contigs import resolve_contig
from ps2f.io.fasta import Reference
from ps2f.io.harmonize import Harmonizer
from ps2f.io.records import (
    DOSAGE_FIELDS,
    Calls,
    FormatHints,
    Walked,
    check_dosage_field,
    check_missing_policy,
    dosage_rows,
    dosage_store,
    gt_dosage_rows,
    merge_windows,
    missing_to_reference,
    phased_rows,
    variant_store,
    walk_records,
)

__all__ = ["DOSAGE_FIELDS", "ingest_dosages", "ingest_vcf", "merge_windows", "read_vcf_samples"]

log = logging.getLogger(__name__)

VCF_HINTS = FormatHints(
    name="VCF",
    sort=(
        "Sort and re-index: 'bcftools sort -Oz -o sorted.vcf.gz {path} && tabix -p vcf "
        "sorted.vcf.gz'."
    ),
    normalize="an unnormalized VCF (run 'bcftools norm -f FASTA -c e')",
    dedup="'bcftools norm -d exact'",
)


def _check_file(path: str) -> None:
    """Raise :class:`InputError` if ``path`` is missing or empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: VCF file not found; check the 'genotypes' config key.")
    if p.is_dir() or p.stat().st_size == 0:
        raise InputError(
            f"{path}: the file is empty (0 bytes), e.g. an interrupted download or a failed "
            f"upstream step; re-create it."
        )


def _duplicate_header_samples(path: str) -> list[str]:
    """Sample IDs repeated on the ``#CHROM`` line of a text VCF (plain or gzip), else ``[]``."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gz else open)(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    names = line.rstrip("\r\n").split("\t")[9:]
                    return sorted(s for s, c in Counter(names).items() if c > 1)
                if not line.startswith("#"):
                    break
    except (OSError, EOFError):  # not text, or gzip cut short: nothing more to say
        pass
    return []


def _open(path: str, samples: Sequence[str] | None = None) -> cyvcf2.VCF:
    _check_file(path)
    try:
        return cyvcf2.VCF(path, samples=list(samples) if samples is not None else None, lazy=True)
    except Exception as exc:
        dup = _duplicate_header_samples(path)
        if dup:
            raise InputError(
                f"{path}: the header repeats sample ID(s) {dup[:5]} on its #CHROM line; htslib "
                f"cannot read it. Rename them (e.g. 'bcftools reheader -s new_names.txt') or drop "
                f"the copies."
            ) from None
        raise InputError(
            f"{path}: cannot read as VCF/BCF ({exc}). Is it a (bgzipped) VCF or BCF? Check it "
            f"with 'bcftools view -h {path}'."
        ) from None


def read_vcf_samples(path: str | Path) -> list[str]:
    """Sample IDs of a VCF/BCF, in file order.

    Parameters
    ----------
    path : str or Path
        VCF (plain, gzip or bgzip) or BCF; no index is needed.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        If the file is missing, empty or unreadable, has no samples, or repeats a sample ID.
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


def _check_region_queryable(path: str) -> None:
    """Raise :class:`InputError` unless ``path`` is BGZF-compressed, indexed and complete."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    what = fix = ""
    if not (head[:4] == _BGZF_EOF[:4] and head[12:14] == b"BC"):
        if head[:2] == b"\x1f\x8b":
            what, fix = "compressed with gzip, not bgzip", f"zcat {path} | bgzip > fixed.vcf.gz"
        elif head[:3] == b"BCF":
            what, fix = "an uncompressed BCF", f"bcftools view -Ob -o fixed.bcf {path}"
        else:
            what, fix = "not compressed", f"bgzip -c {path} > fixed.vcf.gz"
    sort_hint = (
        "if the indexer reports 'Unsorted positions', sort first: "
        f"'bcftools sort -Oz -o sorted.vcf.gz {path}'."
    )
    if not _has_index(path):
        todo = (
            f"It is also {what}, which cannot be indexed: run '{fix}' and index the result"
            if what
            else f"Index it with 'tabix -p vcf {path}' (or 'bcftools index')"
        )
        raise InputError(
            f"{path}: no .tbi or .csi index; region queries need one. {todo}; {sort_hint}"
        )
    if what:  # an index beside a file that cannot have one: made for another file
        raise InputError(
            f"{path}: {what}, so the index beside it cannot belong to it; region queries need a "
            f"BGZF-compressed, indexed file. Run '{fix}' and index the result ('tabix -p vcf' or "
            f"'bcftools index'); {sort_hint}"
        )
    if _truncated(path):
        raise InputError(
            f"{path}: the file is truncated (no BGZF end-of-file block); records after the "
            f"cut would be silently missing. Re-download it or re-compress it with bgzip."
        )
    index = next(Path(path + ext) for ext in (".tbi", ".csi") if Path(path + ext).exists())
    if index.stat().st_mtime < Path(path).stat().st_mtime:
        raise InputError(
            f"{path}: its index {index.name} is older than the file, so it most likely belongs to "
            f"an earlier version of it (the file was replaced after indexing) and region queries "
            f"would miss or misplace records. Re-index: 'tabix -f -p vcf {path}' (or 'bcftools "
            f"index -f'). If the index is right and only copied before the file, 'touch {index}'."
        )


def _records(vcf: cyvcf2.VCF, path: str, region: str) -> Iterator[cyvcf2.Variant]:
    """The records of ``region``, a record htslib cannot parse turned into an InputError."""
    it = iter(vcf(region))
    last = "the start of the region"
    while True:
        try:
            if last == "the start of the region":
                with warnings.catch_warnings():  # cyvcf2 warns "no intervals found" at start
                    warnings.simplefilter("ignore", UserWarning)
                    rec = next(it)
            else:
                rec = next(it)
        except StopIteration:
            return
        except Exception as exc:  # cyvcf2 raises a bare Exception ("error parsing")
            raise InputError(
                f"{path}: cannot parse the record after {last} in {region} ({exc}; htslib's "
                f"message just above names the line and the field). Check it with 'bcftools "
                f"view {path} {region}' and fix or re-create the file."
            ) from None
        last = f"{rec.CHROM}:{rec.POS}"
        yield rec


def _check_has_records(vcf: cyvcf2.VCF, path: str, vcf_contig: str) -> None:
    """Raise :class:`InputError` if ``vcf_contig`` (or the whole file) has no record."""
    if next(_records(vcf, path, vcf_contig), None) is not None:
        return
    fresh = _open(path)  # read in file order, without the index
    any_record = on_contig = False
    try:
        for rec in fresh:
            any_record = True
            if rec.CHROM == vcf_contig:
                on_contig = True
                break
    except Exception:  # a record htslib cannot parse: there are records
        any_record = True
    fresh.close()
    if on_contig:
        raise InputError(
            f"{path}: the file has records on contig {vcf_contig!r}, but its index finds none: "
            f"the index belongs to another file (or an earlier version of this one). Re-index: "
            f"'tabix -f -p vcf {path}' (or 'bcftools index -f {path}')."
        )
    if not any_record:
        raise InputError(
            f"{path}: the VCF has a header but no records; every individual would get the "
            f"reference genome. Re-create it (an interrupted upstream step or a filter that "
            f"removed everything?)."
        )
    raise InputError(
        f"{path}: no records on contig {vcf_contig!r}, though the file has records on other "
        f"contigs (list them with 'bcftools index -s {path}'). Point the 'genotypes' config key "
        f"at the VCF of this contig, or leave the contig out of the run."
    )


def _diploid_alleles(
    gt: np.ndarray, samples: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split cyvcf2 genotypes into the allele indices of the two haplotypes.

    Parameters
    ----------
    gt : numpy.ndarray, shape (S, ploidy + 1), int16
        ``Genotypes.array()``: allele indices (-1 missing, -2 "no such allele" for samples of
        lower ploidy), then the phased flag.
    samples : numpy.ndarray, shape (S,), str
    where : str
        The record, for error messages.

    Returns
    -------
    a, b : numpy.ndarray, shape (S,), int16
        Allele index of haplotype 1 and 2; -1 where missing (a lone ``.`` is missing on both).
    phased : numpy.ndarray, shape (S,), bool

    Raises
    ------
    InputError
        A haploid call (other than ``.``) or a call of ploidy above two.
    """
    ploidy = gt.shape[1] - 1
    phased = gt[:, ploidy] == 1
    if ploidy > 2:
        extra = np.flatnonzero(np.any(gt[:, 2:ploidy] != -2, axis=1))
        if extra.size:
            raise InputError(
                f"{where}: {extra.size} call(s) of ploidy above two, e.g. {samples[extra[0]]}; "
                f"ps2f needs diploid phased genotypes."
            )
    a = gt[:, 0]
    b = gt[:, 1] if ploidy >= 2 else np.full_like(a, -2)
    lone = b == -2
    if lone.any():
        haploid = np.flatnonzero(lone & (a != -1))
        if haploid.size:
            raise InputError(
                f"{where}: {haploid.size} haploid call(s), e.g. {samples[haploid[0]]}; ps2f needs "
                f"diploid phased genotypes. Haploid regions (chrX/chrY outside the PARs in males, "
                f"chrM) must be coded as homozygous diploid calls, e.g. with 'bcftools +fixploidy "
                f"IN.vcf.gz -- -f 2', or left out of the run."
            )
        b = np.where(lone, -1, b).astype(a.dtype)  # a lone '.': missing on both haplotypes
    return a, b, phased


def _walk_contig(
    vcf_path: str,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None,
    snvs_only: bool,
    contig_aliases: Mapping[str, str] | None,
    calls: Calls,
    upstream_overlaps: bool = False,
    harmonizer: Harmonizer | None = None,
) -> Walked:
    """Check the file, then read ``contig``'s records in ``windows``: the part both stores share.

    The file checks of the module docstring, then region reads through
    :func:`ps2f.io.records.walk_records` (sort order, REF against the FASTA, multi-allelic
    splitting, skipped ALTs, duplicates); ``calls`` turns each record's genotypes into store
    rows (haplotype bits or dosages). With ``upstream_overlaps`` (haplotypes), a record starting
    before a window whose REF (or ``<DEL>`` END) reaches into it is kept too, and the reference
    around it is read as one more window (the region queries return such records: the index
    spans a record from POS to its END).
    """
    _check_file(vcf_path)
    _check_region_queryable(vcf_path)
    vcf = _open(vcf_path, samples)
    if not len(vcf.samples):
        raise InputError(f"{vcf_path}: the VCF has no samples (sites-only); genotypes are needed.")
    vcf_contig = resolve_contig(contig, vcf.seqnames, vcf_path, contig_aliases)
    fasta_contig = reference.contig_name(contig)
    reference.contig_length(fasta_contig)  # an unknown contig fails before any record is read
    kept_samples = np.array(vcf.samples, dtype=str)
    if samples is not None:
        absent = sorted(set(samples) - set(kept_samples))
        if absent:
            raise InputError(f"{vcf_path}: requested samples absent from the VCF: {absent[:5]}")
    _check_has_records(vcf, vcf_path, vcf_contig)

    def records_in(start: int, end: int) -> Iterator[cyvcf2.Variant]:
        return _records(vcf, vcf_path, f"{vcf_contig}:{start + 1}-{end}")

    walked = walk_records(
        vcf_path, reference, fasta_contig, kept_samples, windows, records_in, snvs_only, calls,
        VCF_HINTS, upstream_overlaps=upstream_overlaps, harmonizer=harmonizer,
    )
    vcf.close()
    return walked


def _gt_alleles(
    rec: cyvcf2.Variant, where: str, samples: np.ndarray, stats: Counter, missing_policy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A record's ``GT`` as allele indices per haplotype, missing alleles per the policy.

    Returns
    -------
    a, b : numpy.ndarray, shape (S,), int16
        Allele index of the first and second call (0 where missing under ``"reference"``).
    phased, missing : numpy.ndarray, shape (S,), bool
    """
    try:
        gt = rec.genotype.array()
    except Exception:  # cyvcf2 raises a bare Exception without a GT field
        raise InputError(f"{where}: the record has no GT (genotype) field.") from None
    a, b, phased = _diploid_alleles(gt, samples, where)
    bad = np.flatnonzero((a > len(rec.ALT)) | (b > len(rec.ALT)))
    if bad.size:
        raise InputError(
            f"{where}: genotype of {samples[bad[0]]} names allele "
            f"{max(a[bad[0]], b[bad[0]])}, but the record has {len(rec.ALT)} ALT(s); the "
            f"file is corrupt or was subset without updating GT (use 'bcftools view -a' "
            f"or 'bcftools norm -m-')."
        )
    a, b, missing = missing_to_reference(a, b, where, samples, stats, missing_policy)
    return a, b, phased, missing


def ingest_vcf(
    vcf_path: str | Path,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None = None,
    snvs_only: bool = False,
    missing_policy: str = "error",
    contig_aliases: Mapping[str, str] | None = None,
    harmonizer: Harmonizer | None = None,
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
        0-based half-open windows in bp; a record is kept if its POS lies inside one, or if it
        starts before one and its REF (``<DEL>``: END) reaches into it; the store's ``windows``
        then include the reference read around such a record (see the module docstring).
    samples : sequence of str, optional
        Samples to keep (default all). The store keeps them in VCF order.
    snvs_only : bool
        Skip every ALT that is not a single-nucleotide substitution (for SNV-only baselines;
        haplotypes want every type).
    missing_policy : {"error", "reference"}
        What to do with a missing allele (``.``).
    contig_aliases : mapping of str to str, optional
        Explicit contig renames from the config.
    harmonizer : ps2f.io.harmonize.Harmonizer, optional
        Read an external cohort, lined up with the training cohort's alleles
        (:mod:`ps2f.io.harmonize`).

    Returns
    -------
    VariantStore
        With ``stats`` holding the per-reason counts.

    Raises
    ------
    ConfigError
        An unknown ``missing_policy``.
    InputError
        A file that is missing, empty, not bgzipped, unindexed, truncated, unreadable, without
        samples, without records (or without records on ``contig``) or unsorted; a record that
        does not parse, has no GT or names an absent allele; an unknown contig; a REF that
        disagrees with the FASTA or runs past its contig; a missing genotype
        under ``missing_policy="error"``; an unphased heterozygous, haploid or polyploid call;
        a duplicate record.
    """
    vcf_path = str(vcf_path)
    check_missing_policy(missing_policy)

    def phased_calls(rec, where, samples, stats):
        a, b, phased, missing = _gt_alleles(rec, where, samples, stats, missing_policy)
        return phased_rows(a, b, phased, missing, where, samples, stats)

    walked = _walk_contig(
        vcf_path,
        reference,
        contig,
        windows,
        samples,
        snvs_only,
        contig_aliases,
        phased_calls,
        upstream_overlaps=True,
        harmonizer=harmonizer,
    )
    return variant_store(vcf_path, contig, reference, walked)


def ingest_dosages(
    vcf_path: str | Path,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None = None,
    dosage_field: str = "GT",
    snvs_only: bool = True,
    missing_policy: str = "error",
    contig_aliases: Mapping[str, str] | None = None,
) -> DosageStore:
    """Read the ALT allele dosages of ``contig`` inside ``windows``; phase is not needed.

    The input of the genotype baselines when the VCF is unphased (hard calls ``0/1``) or
    imputed (``FORMAT/DS``, e.g. Minimac/Beagle output, PrediXcan's dosages): every check of
    :func:`ingest_vcf` applies (file, sort order, REF against the FASTA, splitting, skipped
    ALTs, duplicates) except phasing. Multi-allelic records split per ALT: with ``GT``, the
    dosage of ALT ``k`` counts the calls equal to ``k``; with ``DS`` (``Number=A``), column
    ``k``. PrediXcan (Gamazon et al. 2015) fits the same dosages of the ALT allele.

    Parameters
    ----------
    vcf_path : str or Path
        bgzipped VCF or BCF with a ``.tbi``/``.csi`` index.
    reference : Reference
        FASTA every REF allele is checked against.
    contig : str
        Contig as named in the annotation.
    windows : sequence of (int, int)
        0-based half-open windows in bp; a record is kept if its POS lies inside one.
    samples : sequence of str, optional
        Samples to keep (default all), kept in VCF order.
    dosage_field : {"GT", "DS"}
        ``GT``: integer dosages from the calls, phased or not (``uint8``); ``DS``: the expected
        ALT dosage the imputation wrote (``float32``, in [0, 2]).
    snvs_only : bool
        Skip every ALT that is not a single-nucleotide substitution (the baselines' default).
    missing_policy : {"error", "reference"}
        A missing call (``./.``) or dosage (``.``): an error, or dosage 0 (counted as
        ``genotypes_missing_set_to_ref``).
    contig_aliases : mapping of str to str, optional
        Explicit contig renames from the config.

    Returns
    -------
    DosageStore
        ``values`` of shape (V, S), ``uint8`` for ``GT`` or ``float32`` for ``DS``.

    Raises
    ------
    ConfigError
        An unknown ``dosage_field`` or ``missing_policy``.
    InputError
        Every file and record error of :func:`ingest_vcf` but phasing; a record without the
        ``DS`` field, or whose ``DS`` has fewer values than ALTs; a dosage outside [0, 2] or
        not finite.
    """
    vcf_path = str(vcf_path)
    check_missing_policy(missing_policy)
    check_dosage_field(dosage_field)

    def gt_calls(rec, where, samples, stats):
        a, b, phased, missing = _gt_alleles(rec, where, samples, stats, missing_policy)
        return gt_dosage_rows(a, b, phased, missing, stats)

    def ds_calls(rec, where, samples, stats):
        ds = rec.format("DS")
        if ds is None:
            raise InputError(
                f"{where}: the record has no DS (imputed dosage) field; set "
                f"baselines.dosage_field: GT to read dosages from the genotype calls."
            )
        ds = np.asarray(ds, dtype=np.float32).reshape(len(samples), -1)
        if ds.shape[1] < len(rec.ALT):
            raise InputError(
                f"{where}: DS has {ds.shape[1]} value(s) per sample for {len(rec.ALT)} ALTs; "
                f"DS must be Number=A (one dosage per ALT). Split the record first "
                f"('bcftools norm -m-any')."
            )
        # htslib's missing value and its end-of-vector marker both read as NaN here
        return dosage_rows(ds, len(rec.ALT), where, samples, stats, missing_policy)

    walked = _walk_contig(
        vcf_path,
        reference,
        contig,
        windows,
        samples,
        snvs_only,
        contig_aliases,
        gt_calls if dosage_field == "GT" else ds_calls,
    )
    return dosage_store(vcf_path, contig, reference, walked, dosage_field)
