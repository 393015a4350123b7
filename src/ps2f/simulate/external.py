"""The simulated external cohort B: its perturbed VCF, its harmonization truth, and F_ST.

Cohort B (:attr:`~ps2f.simulate.SimulationConfig.external_individuals`) is sampled from a
population that split from the training cohort A's ``t`` generations ago
(:func:`~ps2f.simulate.variants.simulate_split_ancestry`). Its genotypes are written as a real
second cohort's often are: typed on another panel (some of its sites missing), with some
records' REF and ALT exchanged and some written on the other strand. This module draws those
perturbations (:func:`perturb_records`), writes B's VCF locus by locus and keeps the truth of
every perturbed record (:class:`ExternalCohort`), and measures how far apart the two
populations are (:func:`hudson_fst_terms`, :func:`split_fst_expectation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.simulate.variants import VcfWriter

__all__ = [
    "PERTURBATIONS",
    "ExternalCohort",
    "hudson_fst_terms",
    "perturb_records",
    "split_fst_expectation",
]

#: Values of ``harmonization.parquet``'s ``perturbation`` column.
PERTURBATIONS = ("missing", "swapped", "swapped_ambiguous", "flipped")

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_PALINDROMIC = frozenset({("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")})


def hudson_fst_terms(hap_a: np.ndarray, hap_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-site numerator and denominator of Hudson's F_ST between two samples.

    Hudson, Slatkin & Maddison (Genetics 1992), in the form of Bhatia et al. (Genome Res 2013,
    eq. 10): ``N = (p_a - p_b)^2 - p_a (1 - p_a) / (n_a - 1) - p_b (1 - p_b) / (n_b - 1)`` and
    ``D = p_a (1 - p_b) + p_b (1 - p_a)``; F_ST over many sites is ``sum N / sum D`` (a ratio
    of averages), an estimate of ``1 - pi_within / pi_between``.

    Parameters
    ----------
    hap_a : numpy.ndarray, shape (s, n_a), uint8
        ALT carried by each of population A's ``n_a >= 2`` sampled haplotypes.
    hap_b : numpy.ndarray, shape (s, n_b), uint8
        The same sites in population B's ``n_b >= 2`` haplotypes.

    Returns
    -------
    numerator, denominator : numpy.ndarray, shape (s,), float64
    """
    n_a, n_b = hap_a.shape[1], hap_b.shape[1]
    p_a = hap_a.mean(axis=1, dtype=np.float64)
    p_b = hap_b.mean(axis=1, dtype=np.float64)
    numerator = (p_a - p_b) ** 2 - p_a * (1 - p_a) / (n_a - 1) - p_b * (1 - p_b) / (n_b - 1)
    return numerator, p_a * (1 - p_b) + p_b * (1 - p_a)


def split_fst_expectation(
    split_generations: float, population_size: float, external_population_size: float
) -> float:
    """Hudson's F_ST between two populations that split ``t`` generations ago (coalescent).

    ``F_ST = 1 - (T_A + T_B) / (2 T_AB)`` from the expected pairwise coalescence times (in
    generations; mutation rates cancel): between the populations ``T_AB = t + 2 N`` (no
    coalescence before the split, then the ancestral population of ``N``), within A (of size
    ``N``, as the ancestral one) ``T_A = 2 N``, within B (of size ``N_B``) ``T_B = 2 N_B (1 -
    e^{-t / 2 N_B}) + e^{-t / 2 N_B} 2 N``. With ``N_B = N`` this is ``t / (t + 2 N)``.

    Parameters
    ----------
    split_generations : float
        ``t``, generations.
    population_size : float
        Diploid Ne ``N`` of A and of the ancestral population.
    external_population_size : float
        Diploid Ne ``N_B`` of B since the split.

    Returns
    -------
    float
    """
    t, n, n_b = float(split_generations), float(population_size), float(external_population_size)
    stay = np.exp(-t / (2 * n_b))
    t_b = 2 * n_b * (1 - stay) + stay * 2 * n
    return float(1 - (2 * n + t_b) / (2 * (t + 2 * n)))


def perturb_records(
    rng: np.random.Generator,
    refs: list[str],
    alts: list[str],
    missing_fraction: float,
    swapped_fraction: float,
    flipped_fraction: float,
) -> np.ndarray:
    """Draw which of a cohort's records are left out, swapped or strand-flipped.

    Only SNVs are perturbed (indels are written as they are). Each SNV is left out with
    probability ``missing_fraction``; each SNV written is swapped (REF and ALT exchanged,
    genotypes inverted) with probability ``swapped_fraction`` (``swapped_ambiguous`` if it is
    an A/T or C/G SNV, which no harmonizer can tell from a strand flip); each SNV written,
    not swapped and not palindromic is written on the other strand with probability
    ``flipped_fraction``. Three uniforms are drawn per SNV, whatever the fractions, so the
    fractions change which records are perturbed but not the draws of the others.

    Parameters
    ----------
    rng : numpy.random.Generator
        The perturbations' own stream.
    refs, alts : list of str
        The records' true alleles (REF as in the FASTA), in file order.
    missing_fraction, swapped_fraction, flipped_fraction : float
        In ``[0, 1]``.

    Returns
    -------
    numpy.ndarray, shape (v,), object
        Per record: ``""`` (written as it is) or one of :data:`PERTURBATIONS`.
    """
    kinds = np.full(len(refs), "", dtype=object)
    snv = np.array([len(r) == 1 and len(a) == 1 for r, a in zip(refs, alts, strict=True)], bool)
    rows = np.flatnonzero(snv)
    if rows.size == 0:
        return kinds
    palindromic = np.array([(refs[i], alts[i]) in _PALINDROMIC for i in rows.tolist()], bool)
    u = rng.random((rows.size, 3))
    missing = u[:, 0] < missing_fraction
    swapped = ~missing & (u[:, 1] < swapped_fraction)
    flipped = ~missing & ~swapped & ~palindromic & (u[:, 2] < flipped_fraction)
    kinds[rows[missing]] = "missing"
    kinds[rows[swapped & ~palindromic]] = "swapped"
    kinds[rows[swapped & palindromic]] = "swapped_ambiguous"
    kinds[rows[flipped]] = "flipped"
    return kinds


@dataclass
class ExternalCohort:
    """Cohort B while the loci are simulated: its VCF, its perturbations and F_ST sums.

    Parameters
    ----------
    n_training_haplotypes : int
        ``2 n_A``: the combined haplotypes of a locus are A's, then B's.
    writer : VcfWriter
        B's VCF (samples ``EXT0001``...).
    rng : numpy.random.Generator
        The perturbations' own stream.
    missing_fraction, swapped_fraction, flipped_fraction : float
        See :func:`perturb_records`.
    """

    n_training_haplotypes: int
    writer: VcfWriter
    rng: np.random.Generator
    missing_fraction: float
    swapped_fraction: float
    flipped_fraction: float
    rows: list[tuple] = field(default_factory=list)
    fst_numerator: float = 0.0
    fst_denominator: float = 0.0
    fst_sites: int = 0

    def add_fst(self, hap: np.ndarray) -> None:
        """Add a locus's sites to the F_ST sums.

        Parameters
        ----------
        hap : numpy.ndarray, shape (s, 2 n_A + 2 n_B), uint8
            Every site of the locus (segregating in A, in B or both), both cohorts.
        """
        if hap.shape[0] == 0:
            return
        n = self.n_training_haplotypes
        num, den = hudson_fst_terms(hap[:, :n], hap[:, n:])
        self.fst_numerator += float(num.sum())
        self.fst_denominator += float(den.sum())
        self.fst_sites += hap.shape[0]

    def write(
        self,
        pos0: np.ndarray,
        refs: list[str],
        alts: list[str],
        hap_b: np.ndarray,
        ids: list[str],
    ) -> None:
        """Perturb and write a locus's records where B carries the ALT; keep the truth.

        Parameters
        ----------
        pos0 : numpy.ndarray, shape (v,), int64
            0-based positions, sorted.
        refs, alts : list of str
            True alleles (REF as in the FASTA).
        hap_b : numpy.ndarray, shape (v, 2 n_B), uint8
            B's haplotypes (ALT carried).
        ids : list of str
            The records' IDs (those of the true alleles, as in A's VCF).
        """
        carried = np.flatnonzero(hap_b.any(axis=1))
        if carried.size == 0:
            return
        idx = carried.tolist()
        refs, alts = [refs[i] for i in idx], [alts[i] for i in idx]
        ids, pos0, gt = [ids[i] for i in idx], pos0[carried], hap_b[carried]
        kinds = perturb_records(
            self.rng,
            refs,
            alts,
            self.missing_fraction,
            self.swapped_fraction,
            self.flipped_fraction,
        )
        w_refs, w_alts = list(refs), list(alts)
        gt = gt.copy()
        for i in np.flatnonzero(kinds != "").tolist():
            kind = kinds[i]
            if kind in ("swapped", "swapped_ambiguous"):
                w_refs[i], w_alts[i] = alts[i], refs[i]
                gt[i] = 1 - gt[i]
            elif kind == "flipped":
                w_refs[i], w_alts[i] = (
                    refs[i].translate(_COMPLEMENT),
                    alts[i].translate(_COMPLEMENT),
                )
            written = kind != "missing"
            self.rows.append(
                (
                    int(pos0[i]) + 1,
                    refs[i],
                    alts[i],
                    w_refs[i] if written else None,
                    w_alts[i] if written else None,
                    kind,
                )
            )
        keep = np.flatnonzero(kinds != "missing")
        if keep.size:
            k = keep.tolist()
            self.writer.write(
                pos0[keep],
                [w_refs[i] for i in k],
                [w_alts[i] for i in k],
                gt[keep],
                ids=[ids[i] for i in k],
            )

    @property
    def fst(self) -> float:
        """Hudson's F_ST between A and B over every site added (NaN before any)."""
        if self.fst_denominator <= 0:
            return float("nan")
        return self.fst_numerator / self.fst_denominator

    def counts(self) -> dict[str, int]:
        """Records per perturbation, in the order of :data:`PERTURBATIONS`."""
        kinds = [row[-1] for row in self.rows]
        return {kind: kinds.count(kind) for kind in PERTURBATIONS}

    def harmonization_table(self, contig: str) -> pd.DataFrame:
        """One row per perturbed record of B (``harmonization.parquet``).

        Returns
        -------
        pandas.DataFrame
            ``chrom, pos`` (1-based), ``ref, alt`` (the true alleles, REF as in the FASTA),
            ``written_ref, written_alt`` (as in B's VCF; null for ``missing``),
            ``perturbation`` (one of :data:`PERTURBATIONS`); sorted by position.
        """
        table = pd.DataFrame(
            self.rows, columns=["pos", "ref", "alt", "written_ref", "written_alt", "perturbation"]
        )
        table.insert(0, "chrom", contig)
        return table.astype({"pos": np.int64})

    def write_harmonization(self, path: Path, contig: str) -> None:
        """Write :meth:`harmonization_table` to a parquet file (string columns, even empty)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [("chrom", pa.string()), ("pos", pa.int64())]
            + [
                (name, pa.string())
                for name in ("ref", "alt", "written_ref", "written_alt", "perturbation")
            ]
        )
        table = pa.Table.from_pandas(self.harmonization_table(contig), schema, preserve_index=False)
        pq.write_table(table, path)

    def close(self) -> None:
        """Finish B's VCF and index it."""
        self.writer.close()
