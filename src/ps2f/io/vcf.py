"""VCF/BCF ingestion (cyvcf2) into a variant store (phased) or a dosage store (phase not needed).

:func:`ingest_vcf` reads phased calls into a :class:`~ps2f.genome.store.VariantStore` (what
haplotypes are built from); :func:`ingest_dosages` reads ALT allele dosages, from unphased or
phased ``GT`` calls or imputed ``FORMAT/DS``, into a :class:`~ps2f.genome.store.DosageStore`
(what the genotype baselines can read instead). Both apply every check below, phasing aside.

Checks on the file, before any record is read (each failure is an
:class:`~ps2f.errors.InputError` naming the file and the fix): it exists and is not empty; it is
BGZF-compressed (a plain-text, plain-gzip or uncompressed-BCF file cannot answer region
queries); it has a ``.tbi``/``.csi`` index; it ends with the BGZF end-of-file block (else it was
truncated); its header parses (a repeated sample ID is named); it has samples; it has at least
one record, and at least one on the requested contig (a header-only file, or a VCF of another
contig, is not silently read as "no variants").

What happens to each record, in order (each case is counted in the returned ``stats``):

* only records whose POS lies inside the requested windows are read (region queries on the
  index), and, for the variant store (haplotypes), also a record starting before a window whose
  REF or ``<DEL>`` END reaches into it (a long deletion across the TSS from far upstream changes
  the window however far upstream it starts; ``records_overlapping_window_from_upstream``): it
  is stored once, and the reference around it (the deletion's length plus the window's, on each
  side) is read as one more window, since a carrier's TSS-centred window pulls bases from before
  it. The dosage store keeps PredictDB's rule (POS inside a window); records must come back
  sorted by POS (an unsorted file with a stale index is an error),
  parse (htslib's parse errors, a record without ``GT``, a ``GT`` naming an allele the record
  does not have: errors naming the record);
* multi-allelic records are split into one row per ALT;
* a symbolic ``<DEL>`` with ``INFO/END`` is stored spelled out, as ``bcftools consensus`` (1.16)
  applies it: REF = the FASTA's bases POS..END, ALT = the anchor base at POS (the bases POS+1..END
  deleted; ``stored_symbolic_deletion``); a ``<DEL>`` without END changes nothing in bcftools
  (it reads no SVLEN) and is counted (``skipped_symbolic_del_without_end``). ``<INS>``, ``<DUP>``,
  ``<INV>`` and ``<CN…>`` carry no sequence (or need a copy-number model) and bcftools consensus
  refuses them, so they are skipped and counted below;
* other symbolic ALTs (``<CN2>``, ``<*>``, ``<INS>``...), the spanning deletion ``*``, breakends (including
  single breakends ``G.``) and ``.`` are skipped (``skipped_alt_*``; a record with no ALT at all
  counts once under ``skipped_alt_missing_or_spanning``), as are ALTs with letters other than
  ``ACGTN`` (``skipped_alt_not_dna``) and ALTs equal to the REF (``skipped_alt_equals_ref``);
  SNVs, MNVs, insertions, deletions and complex substitutions are kept (``variants_stored``,
  ``stored_snv``/``stored_mnv``/``stored_insertion``/``stored_deletion``/``stored_complex``);
  ``snvs_only=True`` keeps SNVs only (``skipped_not_snv``);
* gVCF reference blocks (records whose every ALT is ``<*>`` or ``<NON_REF>``) are skipped before
  the REF check, as ``bcftools consensus`` does (``skipped_gvcf_reference_block``); a record with
  a real ALT beside ``<NON_REF>`` is a variant and its REF is checked;
* the REF is compared with the FASTA: a mismatch, or a REF running past the end of the FASTA's
  contig, is an :class:`~ps2f.errors.InputError`; a REF over ``N`` (or other IUPAC) reference
  bases cannot be checked and is counted as ``ref_unverifiable_over_N``. The reference bases of
  the windows are counted too (``reference_bases_in_windows``, ``reference_bases_N``,
  ``reference_bases_other_iupac``: IUPAC codes are read as ``N``, lower case as upper case);
* missing alleles follow ``missing_policy`` (``"error"`` or ``"reference"``: treated as REF,
  ``genotypes_missing_set_to_ref``; a lone ``.`` is a missing diploid call); unphased heterozygous
  calls, haploid calls and calls of ploidy above two are errors (haplotypes need phase).
  Unphased *homozygous* calls carry no phase information and are kept; partly phased input is
  reported (``unphased_homozygous_calls``, ``records_partly_phased``);
* overlapping ALT alleles on one haplotype (e.g. an SNV inside a deletion) are kept in the store
  and resolved when haplotypes are built ("keep the first", as ``bcftools consensus``; see
  :mod:`ps2f.genome.haplotypes`); the alleles that will be dropped are counted
  (``overlapping_alleles_skipped`` haplotype x variant pairs, ``variants_with_overlap_skips``).
"""

from __future__ import annotations

import bisect
import gzip
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import cyvcf2
import numpy as np

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import N_CODE, encode
from ps2f.genome.store import DosageStore, VariantStore
from ps2f.io.contigs import resolve_contig
from ps2f.io.fasta import Reference

__all__ = ["DOSAGE_FIELDS", "ingest_dosages", "ingest_vcf", "merge_windows", "read_vcf_samples"]

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


_GVCF_BLOCK_ALTS = frozenset(("<*>", "<NON_REF>"))


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


def _count_reference_bases(text: str, stats: Counter) -> None:
    """Add the ACGT / N / other-IUPAC composition of upper-case ``text`` to ``stats``."""
    counts = np.bincount(np.frombuffer(text.encode("ascii"), dtype=np.uint8), minlength=256)
    n_acgt = int(counts[list(b"ACGT")].sum())
    n_n = int(counts[ord("N")])
    stats["reference_bases_in_windows"] += len(text)
    stats["reference_bases_N"] += n_n
    stats["reference_bases_other_iupac"] += len(text) - n_acgt - n_n


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


class _Walked(NamedTuple):
    """What :func:`_walk_contig` read: the allele table in store order, one row per ALT."""

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
_Calls = Callable[[cyvcf2.Variant, str, np.ndarray, Counter], Callable[[int], np.ndarray]]


def _walk_contig(
    vcf_path: str,
    reference: Reference,
    contig: str,
    windows: Sequence[tuple[int, int]],
    samples: Sequence[str] | None,
    snvs_only: bool,
    contig_aliases: Mapping[str, str] | None,
    calls: _Calls,
    upstream_overlaps: bool = False,
) -> _Walked:
    """Check the file, then read ``contig``'s records in ``windows``: the part both stores share.

    File checks, region reads, sort order, REF against the FASTA, multi-allelic splitting,
    skipped ALTs and duplicates, as listed in the module docstring; ``calls`` turns each
    record's genotypes into store rows (haplotype bits or dosages). With ``upstream_overlaps``
    (haplotypes), a record starting before a window whose REF (or ``<DEL>`` END) reaches into
    it is kept too, and the reference around it is read as one more window (see the module
    docstring).
    """
    _check_file(vcf_path)
    _check_region_queryable(vcf_path)
    vcf = _open(vcf_path, samples)
    if not len(vcf.samples):
        raise InputError(f"{vcf_path}: the VCF has no samples (sites-only); genotypes are needed.")
    vcf_contig = resolve_contig(contig, vcf.seqnames, vcf_path, contig_aliases)
    fasta_contig = reference.contig_name(contig)
    contig_len = reference.contig_length(fasta_contig)
    kept_samples = np.array(vcf.samples, dtype=str)
    if samples is not None:
        absent = sorted(set(samples) - set(kept_samples))
        if absent:
            raise InputError(f"{vcf_path}: requested samples absent from the VCF: {absent[:5]}")
    _check_has_records(vcf, vcf_path, vcf_contig)

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
            region = f"{vcf_contig}:{start + 1}-{end}"
            for rec in _records(vcf, vcf_path, region):
                if rec.POS < prev_pos:
                    raise InputError(
                        f"{vcf_path}: record {rec.CHROM}:{rec.POS} comes after {rec.CHROM}:{prev_pos}: "
                        f"the file is not sorted, so its index cannot be trusted. Sort and re-index: "
                        f"'bcftools sort -Oz -o sorted.vcf.gz {vcf_path} && tabix -p vcf "
                        f"sorted.vcf.gz'."
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
                where = f"{vcf_path}: record {rec.CHROM}:{rec.POS} {rec.ID or '.'} {rec.REF}>{','.join(rec.ALT) or '.'}"
                ref = rec.REF.upper()
                ref_len = len(ref)
                if pos0 + ref_len > contig_len:
                    raise InputError(
                        f"{where}: the REF runs past the end of {fasta_contig} in the FASTA "
                        f"{reference.path} ({contig_len:,} bp). The VCF was called on another genome "
                        f"build or contig: use the matching FASTA, or lift the VCF over."
                    )
                if start <= pos0 and pos0 - start + ref_len <= len(ref_codes):
                    fasta_seg = ref_codes[pos0 - start : pos0 - start + ref_len]
                else:  # a REF longer than the read-ahead, or starting before the window
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
                row = calls(rec, where, kept_samples, stats)
                if not rec.ALT:
                    stats["skipped_alt_missing_or_spanning"] += 1
                for k, alt in enumerate(rec.ALT, start=1):
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
                                f"{fasta_contig} in the FASTA {reference.path} ({contig_len:,} bp). "
                                f"Use the matching FASTA, or lift the VCF over."
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
                            f"'bcftools norm -d exact'."
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
    vcf.close()

    order = np.argsort(np.asarray(pos_l, dtype=np.int64), kind="stable")

    def _flat(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        items = [items[i] for i in order]
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in items])
        return np.frombuffer(b"".join(items), dtype=np.uint8).copy(), offsets

    return _Walked(
        fasta_contig=fasta_contig,
        samples=kept_samples,
        windows=merge_windows(done),
        pos=np.asarray(pos_l, dtype=np.int64)[order],
        ref=_flat(ref_l),
        alt=_flat(alt_l),
        ids=np.asarray(id_l, dtype=str)[order] if id_l else np.zeros(0, dtype=str),
        rows=[rows[i] for i in order],
        stats=stats,
    )


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
    missing = (a < 0) | (b < 0)
    if missing.any():
        if missing_policy == "error":
            first = samples[np.flatnonzero(missing)[0]]
            raise InputError(
                f"{where}: missing genotype for {int(missing.sum())} sample(s), e.g. {first}. "
                f"Impute first, or set genotypes.missing_policy: reference to read them as REF."
            )
        stats["genotypes_missing_set_to_ref"] += int(missing.sum())
        a = np.where(a < 0, 0, a)
        b = np.where(b < 0, 0, b)
    return a, b, phased, missing


def _check_missing_policy(missing_policy: str) -> None:
    if missing_policy not in MISSING_POLICIES:
        raise ConfigError(
            f"genotypes.missing_policy must be one of {MISSING_POLICIES}, got {missing_policy!r}"
        )


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
    _check_missing_policy(missing_policy)

    def phased_calls(rec, where, samples, stats):
        a, b, phased, missing = _gt_alleles(rec, where, samples, stats, missing_policy)
        unphased = ~phased & ~missing
        if unphased.any():
            unphased_het = unphased & (a != b)
            if unphased_het.any():
                first = samples[np.flatnonzero(unphased_het)[0]]
                raise InputError(
                    f"{where}: {int(unphased_het.sum())} unphased heterozygous call(s), e.g. "
                    f"{first} ({stats['records_partly_phased']} earlier records were partly "
                    f"phased). Haplotypes need phase: phase the VCF (SHAPEIT, Eagle, Beagle) "
                    f"first. (The genotype baselines alone can read unphased or imputed "
                    f"dosages: inputs.dosages.)"
                )
            # homozygous calls need no phase: kept, but reported
            stats["unphased_homozygous_calls"] += int(unphased.sum())
            if not unphased[~missing].all():
                stats["records_partly_phased"] += 1
        return lambda k: np.packbits(np.stack([a == k, b == k], axis=1).reshape(-1))

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
    )
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
    _log_ingestion(vcf_path, contig, reference, walked)
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


DOSAGE_FIELDS = ("GT", "DS")


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
    _check_missing_policy(missing_policy)
    if dosage_field not in DOSAGE_FIELDS:
        raise ConfigError(
            f"baselines.dosage_field must be one of {DOSAGE_FIELDS}, got {dosage_field!r}"
        )

    def gt_calls(rec, where, samples, stats):
        a, b, phased, missing = _gt_alleles(rec, where, samples, stats, missing_policy)
        stats["unphased_calls"] += int((~phased & ~missing).sum())
        return lambda k: (a == k).astype(np.uint8) + (b == k)

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
        ds = ds[:, : max(len(rec.ALT), 1)]
        # htslib's missing value and its end-of-vector marker both read as NaN here
        missing = np.isnan(ds)
        if missing.any():
            if missing_policy == "error":
                first = samples[np.flatnonzero(missing.any(axis=1))[0]]
                raise InputError(
                    f"{where}: missing dosage (DS '.') for {int(missing.any(axis=1).sum())} "
                    f"sample(s), e.g. {first}. Impute first, or set genotypes.missing_policy: "
                    f"reference to read them as 0."
                )
            stats["genotypes_missing_set_to_ref"] += int(missing.any(axis=1).sum())
            ds = np.where(missing, 0.0, ds)
        bad = ~np.isfinite(ds) | (ds < 0) | (ds > 2)
        if bad.any():
            i, j = (int(x[0]) for x in np.nonzero(bad))
            raise InputError(
                f"{where}: dosage DS = {ds[i, j]} of {samples[i]} is outside [0, 2]; DS must be "
                f"the expected count of the ALT allele in a diploid genotype."
            )
        return lambda k: ds[:, k - 1].copy()

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
    _log_ingestion(vcf_path, contig, reference, walked)
    return store


def _log_ingestion(vcf_path: str, contig: str, reference: Reference, walked: _Walked) -> None:
    """Log the ingestion counts and the warnings they call for."""
    stats = walked.stats
    log.info("%s %s: %s", vcf_path, contig, dict(stats))
    if not stats["records"]:
        log.warning(
            "%s %s: no record inside the %d window(s) (%d bp): every individual gets the "
            "reference sequence there",
            vcf_path,
            contig,
            len(walked.windows),
            sum(b - a for a, b in walked.windows),
        )
    if stats["records_overlapping_window_from_upstream"]:
        log.info(
            "%s %s: %d records start before a window and reach into it (long deletions); they "
            "are stored and applied to the haplotypes, and the variants around them read too",
            vcf_path,
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
