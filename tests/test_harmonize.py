"""An external cohort's genotypes, harmonized to the training cohort (ps2f.io.harmonize)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_fasta, write_vcf

from ps2f.errors import InputError
from ps2f.io.fasta import Reference
from ps2f.io.harmonize import (
    Harmonizer,
    check_harmonization,
    merge_cohorts,
    resolve_alleles,
)
from ps2f.io.vcf import ingest_vcf

#            0         1         2         3
#            0123456789012345678901234567890123456789
SEQ = "ACGTACGTTTGGCCAAACGTAGCTAGCTAGGATCCAAGTT"
WINDOWS = [(0, len(SEQ))]

# cohort A, in the FASTA's coding: (POS, REF, ALT, GT of S1, GT of S2)
COHORT_A = [
    "3\ta1\tG\tT\t0|1\t1|1",  # B swaps REF/ALT
    "11\ta2\tG\tA\t1|0\t0|0",  # B is on the other strand
    "14\ta3\tC\tG\t0|1\t0|0",  # palindromic: B swaps it, so it is strand-ambiguous
    "18\ta4\tC\tT\t1|1\t0|1",  # B flips and swaps
    "25\ta5\tAG\tA\t0|1\t0|0",  # deletion; B writes it swapped (as an insertion)
    "30\ta6\tG\tA\t1|0\t0|1",  # missing in B
    "35\ta7\tC\tA\t0|0\t1|0",  # the same in B
]
# the external cohort's true genotypes (FASTA coding) of S4, S5, at the same sites (and one more)
TRUTH_B = {
    (2, "G", "T"): ("1|0", "1|1"),
    (10, "G", "A"): ("0|1", "0|0"),
    (13, "C", "G"): ("1|1", "0|1"),
    (17, "C", "T"): ("0|1", "1|0"),
    (24, "AG", "A"): ("1|0", "0|1"),
    (34, "C", "A"): ("0|1", "1|1"),
    (37, "G", "C"): ("1|0", "0|0"),  # only in B (palindromic, REF matches the FASTA: kept)
}


def _invert(gt: str) -> str:
    return "|".join("." if a == "." else str(1 - int(a)) for a in gt.split("|"))


def _cohort_b_records() -> list[str]:
    t = TRUTH_B
    inv = lambda key: "\t".join(_invert(g) for g in t[key])  # noqa: E731
    same = lambda key: "\t".join(t[key])  # noqa: E731
    return [
        f"3\tb1\tT\tG\t{inv((2, 'G', 'T'))}",  # swapped
        f"11\tb2\tC\tT\t{same((10, 'G', 'A'))}",  # strand-flipped: G>A on the other strand
        f"14\tb3\tG\tC\t{inv((13, 'C', 'G'))}",  # swapped palindromic: ambiguous, dropped
        f"18\tb4\tA\tG\t{inv((17, 'C', 'T'))}",  # flipped (G>A) and swapped (A>G)
        f"25\tb5\tA\tAG\t{inv((24, 'AG', 'A'))}",  # swapped deletion
        f"35\tb7\tC\tA\t{same((34, 'C', 'A'))}",
        f"38\tb8\tG\tC\t{same((37, 'G', 'C'))}",
    ]


@pytest.fixture
def cohorts(tmp_path):
    fa = Reference(write_fasta(tmp_path / "ref.fa", {"1": SEQ}))
    a = write_vcf(tmp_path / "a.vcf.gz", "1", len(SEQ), ["S1", "S2"], COHORT_A)
    b = write_vcf(tmp_path / "b.vcf.gz", "1", len(SEQ), ["S4", "S5"], _cohort_b_records())
    return fa, a, b, tmp_path


def _by_key(store) -> dict[tuple[int, str, str], np.ndarray]:
    hap = store.haplotypes(slice(None))
    return {
        (int(store.pos[i]), store.allele(i, "ref"), store.allele(i)): hap[i]
        for i in range(store.n_variants)
    }


def test_resolve_alleles_cases():
    a_alleles = frozenset({(5, "AT", "A"), (9, "C", "CT")})
    assert resolve_alleles(1, "G", "T", "G", True, a_alleles) == ("same", "G", "T")
    assert resolve_alleles(1, "T", "G", "G", False, a_alleles) == ("swapped_ref_alt", "G", "T")
    assert resolve_alleles(1, "C", "T", "G", False, a_alleles) == ("strand_flipped", "G", "A")
    assert resolve_alleles(1, "A", "C", "G", False, a_alleles) == (
        "strand_flipped_and_swapped",
        "G",
        "T",
    )
    # A/T, C/G: a swap cannot be told from a strand flip once the REF disagrees
    assert resolve_alleles(1, "C", "G", "G", False, a_alleles)[0] == "strand_ambiguous"
    # ... but a palindromic SNV whose REF matches the FASTA is on the forward strand
    assert resolve_alleles(1, "G", "C", "G", True, a_alleles)[0] == "same"
    # indels: a swap is recognised against the training cohort's alleles only
    assert resolve_alleles(5, "A", "AT", "A", True, a_alleles) == ("swapped_ref_alt", "AT", "A")
    assert resolve_alleles(9, "CT", "C", "C", False, a_alleles) == ("swapped_ref_alt", "C", "CT")
    assert resolve_alleles(7, "TT", "T", "C", False, a_alleles)[0] == "unresolved"
    assert resolve_alleles(7, "C", "CA", "C", True, a_alleles)[0] == "same"


def test_external_cohort_is_harmonized_and_merged(cohorts):
    fa, a_vcf, b_vcf, tmp = cohorts
    a = ingest_vcf(a_vcf, fa, "1", WINDOWS)
    b = ingest_vcf(b_vcf, fa, "1", WINDOWS, harmonizer=Harmonizer.from_store(a))
    assert b.stats["harmonized_swapped_ref_alt"] == 2  # the SNV and the deletion
    assert b.stats["harmonized_strand_flipped"] == 1
    assert b.stats["harmonized_strand_flipped_and_swapped"] == 1
    assert b.stats["dropped_strand_ambiguous"] == 1

    merged = merge_cohorts(a, b)
    assert list(merged.samples) == ["S1", "S2", "S4", "S5"]
    assert merged.stats["external_sites_shared"] == 5
    assert merged.stats["external_sites_missing"] == 2  # POS 30, and the dropped POS 14
    assert merged.stats["external_sites_only"] == 1
    assert np.all(np.diff(merged.pos) >= 0)

    # oracle: each cohort's store read from a file written in the FASTA's coding
    truth_b = write_vcf(
        tmp / "truth_b.vcf.gz",
        "1",
        len(SEQ),
        ["S4", "S5"],
        [f"{p + 1}\t.\t{r}\t{x}\t" + "\t".join(gts) for (p, r, x), gts in TRUTH_B.items()],
    )
    want_a = _by_key(a)
    want_b = _by_key(ingest_vcf(truth_b, fa, "1", WINDOWS))
    got = _by_key(merged)
    assert set(got) == set(want_a) | set(want_b)
    for key, hap in got.items():
        np.testing.assert_array_equal(hap[:2], want_a.get(key, np.zeros((2, 2), np.uint8)))
        if key == (13, "C", "G"):  # strand-ambiguous: dropped, the external cohort reads REF
            np.testing.assert_array_equal(hap[2:], 0)
        else:
            np.testing.assert_array_equal(hap[2:], want_b.get(key, np.zeros((2, 2), np.uint8)))


def test_a_missing_call_at_a_swapped_site_reads_the_fastas_ref(cohorts):
    fa, a_vcf, _, tmp = cohorts
    a = ingest_vcf(a_vcf, fa, "1", WINDOWS)
    b_vcf = write_vcf(
        tmp / "b_missing.vcf.gz", "1", len(SEQ), ["S4", "S5"], ["3\tb1\tT\tG\t.|.\t0|1"]
    )
    b = ingest_vcf(
        b_vcf, fa, "1", WINDOWS, missing_policy="reference", harmonizer=Harmonizer.from_store(a)
    )
    # written T>G (swapped): S5's 0|1 is the ALT T on haplotype 1; S4's missing call is REF G
    np.testing.assert_array_equal(b.haplotypes(slice(None))[0], [[0, 0], [1, 0]])


def test_an_unresolvable_record_is_the_ref_mismatch_error(cohorts):
    fa, a_vcf, _, tmp = cohorts
    a = ingest_vcf(a_vcf, fa, "1", WINDOWS)
    b_vcf = write_vcf(
        tmp / "b_bad.vcf.gz", "1", len(SEQ), ["S4", "S5"], ["5\tbad\tTT\tT\t0|1\t0|0"]
    )
    with pytest.raises(InputError, match=r"b_bad.vcf.gz: record 1:5 bad TT>T: REF 'TT'.*external"):
        ingest_vcf(b_vcf, fa, "1", WINDOWS, harmonizer=Harmonizer.from_store(a))


def test_mostly_mismatched_refs_are_another_build():
    stats = {"variants_stored": 40, "harmonized_strand_flipped": 30, "dropped_strand_ambiguous": 5}
    with pytest.raises(InputError, match="b.vcf.gz.*35 of the 45.*another genome build"):
        check_harmonization(stats, "b.vcf.gz", "1")
    check_harmonization({"variants_stored": 90, "harmonized_swapped_ref_alt": 10}, "b", "1")


def test_merge_refuses_a_sample_in_both_cohorts(cohorts):
    fa, a_vcf, _, _ = cohorts
    a = ingest_vcf(a_vcf, fa, "1", WINDOWS)
    with pytest.raises(ValueError, match="both cohorts"):
        merge_cohorts(a, a)
