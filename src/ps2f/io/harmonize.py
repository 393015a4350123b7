"""An external cohort's variants, harmonized to the training cohort's alleles and merged with them.

An external test cohort (config ``external_cohort``: its own VCF/PGEN, phenotypes and
covariates) is read into the same variant store as the training cohort A, so that every model
trained on A predicts its individuals by the same code. Its genotype file may code a site
differently from A's; each of its biallelic records is resolved by :func:`resolve_alleles`
while it is read (:func:`ps2f.io.records.walk_records`), then the two cohorts' stores are merged
(:func:`merge_cohorts`):

* **REF matches the FASTA**: kept as written (a VCF's REF is on the forward strand by the
  specification and was checked against the FASTA, so an A/T or C/G SNV is not ambiguous then).
  One exception: a biallelic indel whose exchanged alleles are one of A's variants (A has
  ``AT>A``, the external cohort ``A>AT`` at the same POS) is a swapped record; its REF cannot
  disagree with the FASTA, since both alleles start with the anchor base
  (``harmonized_swapped_ref_alt``);
* **REF disagrees with the FASTA**, biallelic SNV: its ALT is the FASTA base -> REF and ALT
  swapped, every genotype read as the other allele (``harmonized_swapped_ref_alt``); its REF's
  complement is the FASTA base -> written on the other strand, both alleles complemented
  (``harmonized_strand_flipped``); its ALT's complement is -> both
  (``harmonized_strand_flipped_and_swapped``). An A/T or C/G SNV is **strand-ambiguous** here: a
  swap cannot be told from a strand flip, and the two read the genotypes in opposite ways, so it
  is dropped and counted (``dropped_strand_ambiguous``); its individuals read REF there, as at a
  missing site. This is the rule of the harmonization tools that work without allele
  frequencies (Genotype Harmonizer's ``--ambiguousSnpFilter``, MR harmonization's "drop
  palindromic"): frequencies cannot resolve it between diverged populations;
* **REF disagrees**, indel: a swap is recognised when its exchanged alleles are one of A's
  variants; otherwise, like a multi-allelic record whose REF disagrees, it is the error of the
  training cohort's ingestion (another build, or an unnormalized file);
* after the merge, **a site of A missing in the external cohort** gives its individuals REF, as
  ``bcftools consensus`` does for a site without a record, and, for the genotype baselines,
  dosage 0 (a constant for every external individual, so no per-gene r changes with the value
  imputed; ``external_sites_missing``); **a site only in the external cohort** is kept: its
  carriers' haplotypes carry it (a sequence model reads every variant of a personal genome),
  A's individuals read REF there, and the baselines, fitted on A, have no weight for it
  (``external_sites_only``).

Missing genotypes of a swapped record are read as the FASTA's REF, as everywhere else
(``genotypes.missing_policy``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ps2f.genome.store import VariantStore

__all__ = [
    "MAX_DISAGREEING_FRACTION",
    "SAME",
    "Harmonizer",
    "check_harmonization",
    "check_overlap",
    "merge_cohorts",
    "resolve_alleles",
]

#: Largest fraction of an external cohort's records that may need a swap, a strand flip or
#: dropping: beyond it the file is on another genome build (with four letters, almost every
#: SNV of a wrong build "resolves" as a flip or a swap), not a differently coded cohort.
MAX_DISAGREEING_FRACTION = 0.5

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_DNA = frozenset("ACGT")

#: :func:`resolve_alleles` outcomes
SAME, SWAPPED, FLIPPED, FLIPPED_SWAPPED, AMBIGUOUS, UNRESOLVED = (
    "same",
    "swapped_ref_alt",
    "strand_flipped",
    "strand_flipped_and_swapped",
    "strand_ambiguous",
    "unresolved",
)


def resolve_alleles(
    pos0: int,
    ref: str,
    alt: str,
    fasta_base: str,
    ref_matches: bool,
    cohort_alleles: frozenset[tuple[int, str, str]],
) -> tuple[str, str, str]:
    """How an external cohort's biallelic record lines up with the FASTA and cohort A.

    Parameters
    ----------
    pos0 : int
        0-based position of the record.
    ref, alt : str
        Upper-case alleles as written.
    fasta_base : str
        The FASTA's base at ``pos0`` (upper case).
    ref_matches : bool
        Whether ``ref`` agrees with the FASTA (or could not be checked over ``N``).
    cohort_alleles : frozenset of (int, str, str)
        Cohort A's ``(pos0, ref, alt)`` variants on this contig.

    Returns
    -------
    case : str
        :data:`SAME`, ``"swapped_ref_alt"``, ``"strand_flipped"``,
        ``"strand_flipped_and_swapped"``, ``"strand_ambiguous"`` (to drop) or ``"unresolved"``
        (an error for the caller); the module docstring gives the rules.
    ref, alt : str
        The alleles in the FASTA's forward coding (as given for the last two cases).
    """
    snv = len(ref) == 1 and len(alt) == 1 and ref in _DNA and alt in _DNA
    if ref_matches:
        if (
            not snv
            and (pos0, alt, ref) in cohort_alleles
            and (pos0, ref, alt) not in cohort_alleles
        ):
            return SWAPPED, alt, ref
        return SAME, ref, alt
    if snv:
        cref, calt = ref.translate(_COMPLEMENT), alt.translate(_COMPLEMENT)
        if alt == cref:
            return AMBIGUOUS, ref, alt
        if alt == fasta_base:
            return SWAPPED, alt, ref
        if cref == fasta_base:
            return FLIPPED, cref, calt
        if calt == fasta_base:
            return FLIPPED_SWAPPED, calt, cref
        return UNRESOLVED, ref, alt
    if (pos0, alt, ref) in cohort_alleles:
        return SWAPPED, alt, ref
    return UNRESOLVED, ref, alt


@dataclass(frozen=True)
class Harmonizer:
    """What :func:`ps2f.io.records.walk_records` needs to harmonize an external cohort.

    Attributes
    ----------
    cohort_alleles : frozenset of (int, str, str)
        Cohort A's ``(pos0, ref, alt)`` variants on the contig (from its variant store).
    """

    cohort_alleles: frozenset[tuple[int, str, str]]

    @classmethod
    def from_store(cls, store: VariantStore) -> Harmonizer:
        """The harmonizer for cohort A's ``store`` (one contig)."""
        return cls(frozenset(_keys(store)))


def check_harmonization(stats: Mapping[str, int], path: str, contig: str) -> None:
    """Refuse an external cohort whose REF alleles mostly disagree with the FASTA.

    Parameters
    ----------
    stats : mapping of str to int
        The ingestion counts of the external cohort's store (``variants_stored``,
        ``harmonized_*``, ``dropped_strand_ambiguous``).
    path, contig : str
        The external cohort's genotype file and the contig, for the message.

    Raises
    ------
    ps2f.errors.InputError
        More than :data:`MAX_DISAGREEING_FRACTION` of its records were swapped, flipped or
        dropped as strand-ambiguous.
    """
    from ps2f.errors import InputError

    changed = sum(v for k, v in stats.items() if k.startswith("harmonized_"))
    changed += stats.get("dropped_strand_ambiguous", 0)
    total = stats.get("variants_stored", 0) + stats.get("dropped_strand_ambiguous", 0)
    if total and changed > MAX_DISAGREEING_FRACTION * total:
        raise InputError(
            f"{path} {contig}: {changed} of the {total} records of the external cohort disagree "
            f"with the FASTA and would be swapped, strand-flipped or dropped: the file is "
            f"likely on another genome build than the training cohort (lift it over), or on "
            f"another strand convention throughout (align it to the FASTA's forward strand, "
            f"e.g. 'bcftools +fixref')."
        )


def check_overlap(stats: Mapping[str, int], path: str, contig: str) -> None:
    """Refuse an external cohort that shares no variant with the training cohort on a contig.

    Parameters
    ----------
    stats : mapping of str to int
        The merged store's counts (:func:`merge_cohorts`): ``variants_stored`` (cohort A's) and
        ``external_sites_shared``.
    path, contig : str
        The external cohort's genotype file and the contig, for the message.

    Raises
    ------
    ps2f.errors.InputError
        Cohort A has variants in the contig's windows and the external cohort none of them:
        its file lacks the contig's records there (another panel or contig subset), or its
        coordinates are not the training cohort's. Its individuals would read REF at every one
        of A's sites, and every prediction of them would be the same.
    """
    from ps2f.errors import InputError

    if stats.get("variants_stored", 0) and not stats.get("external_sites_shared", 0):
        raise InputError(
            f"{path} {contig}: the external cohort shares none of the training cohort's "
            f"{stats['variants_stored']} variants in the windows in use "
            f"({stats.get('external_variants_stored', 0)} of its own there): its individuals "
            f"would read REF at every one of them. Check that the file holds this contig's "
            f"genotypes and is on the training cohort's genome build (lift it over otherwise), "
            f"or leave the contig out of the run."
        )


def _keys(store: VariantStore) -> Iterable[tuple[int, str, str]]:
    for i in range(store.n_variants):
        yield int(store.pos[i]), store.allele(i, "ref"), store.allele(i)


def merge_cohorts(cohort: VariantStore, external: VariantStore) -> VariantStore:
    """One store of both cohorts: cohort A's samples, then the external cohort's.

    Parameters
    ----------
    cohort : VariantStore
        Cohort A's store (the training cohort), S_A samples.
    external : VariantStore
        The external cohort's store of the same contig and windows, harmonized at ingestion
        (:class:`Harmonizer`), S_B samples; no sample may be in both.

    Returns
    -------
    VariantStore
        The union of the two allele tables (a variant is the same when POS, REF and ALT are):
        cohort A's rows in their order, each external-only row after A's rows at its position,
        genotypes of shape (V, ceil(2 (S_A + S_B) / 8)); a cohort reads REF where it has no
        record. ``stats``: A's ingestion counts, the external cohort's prefixed ``external_``,
        and ``external_sites_shared``, ``external_sites_missing`` (A's variants with no
        external record), ``external_sites_only``.

    Raises
    ------
    ValueError
        Different contigs, or a sample in both stores.
    """
    if cohort.contig != external.contig:
        raise ValueError(f"contigs differ: {cohort.contig!r} and {external.contig!r}")
    both = set(cohort.samples.astype(str)) & set(external.samples.astype(str))
    if both:
        raise ValueError(f"samples in both cohorts, e.g. {sorted(both)[:3]}")
    a_keys = list(_keys(cohort))
    index = {k: i for i, k in enumerate(a_keys)}
    b_keys = list(_keys(external))
    b_only = [j for j, k in enumerate(b_keys) if k not in index]
    # merged order: by position; at one position A's rows first (their order), then B's own
    pos = np.concatenate([cohort.pos, external.pos[b_only]]).astype(np.int64)
    source = np.concatenate([np.zeros(len(a_keys), np.int8), np.ones(len(b_only), np.int8)])
    order = np.lexsort((np.arange(len(pos)), source, pos))
    keys = [a_keys[i] if i < len(a_keys) else b_keys[b_only[i - len(a_keys)]] for i in order]
    ids = np.concatenate([cohort.ids.astype(str), external.ids.astype(str)[b_only]])[order]

    s_a, s_b = cohort.n_samples, external.n_samples
    bits = np.zeros((len(keys), 2 * (s_a + s_b)), dtype=np.uint8)
    where = np.empty(len(pos), dtype=np.int64)
    where[order] = np.arange(len(pos))  # merged row of each concatenated row
    if len(a_keys):
        bits[where[: len(a_keys)], : 2 * s_a] = np.unpackbits(
            cohort.genotypes, axis=1, count=2 * s_a
        )
    if len(b_keys):
        only_at = {j: len(a_keys) + n for n, j in enumerate(b_only)}
        b_row = np.array(
            [where[index[k]] if k in index else where[only_at[j]] for j, k in enumerate(b_keys)],
            dtype=np.int64,
        )
        bits[b_row, 2 * s_a :] = np.unpackbits(external.genotypes, axis=1, count=2 * s_b)

    def flat(alleles: list[str]) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.zeros(len(alleles) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(x) for x in alleles])
        return np.frombuffer("".join(alleles).encode(), dtype=np.uint8).copy(), offsets

    ref_bytes, ref_offsets = flat([k[1] for k in keys])
    alt_bytes, alt_offsets = flat([k[2] for k in keys])
    windows = [
        w for store in (cohort, external) if store.windows is not None for w in store.windows
    ]
    shared = len(b_keys) - len(b_only)
    stats = Counter(cohort.stats)
    stats.update({f"external_{k}": v for k, v in external.stats.items()})
    stats.update(
        external_sites_shared=shared,
        external_sites_missing=len(a_keys) - shared,
        external_sites_only=len(b_only),
    )
    from ps2f.io.records import merge_windows

    return VariantStore(
        contig=cohort.contig,
        samples=np.concatenate([cohort.samples.astype(str), external.samples.astype(str)]),
        pos=pos[order],
        ref_bytes=ref_bytes,
        ref_offsets=ref_offsets,
        alt_bytes=alt_bytes,
        alt_offsets=alt_offsets,
        ids=ids,
        genotypes=np.packbits(bits, axis=1),
        stats=dict(stats),
        windows=(
            np.asarray(merge_windows([(int(a), int(b)) for a, b in windows]), np.int64)
            if windows
            else None
        ),
    )
