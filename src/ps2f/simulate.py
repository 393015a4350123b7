"""A small ground-truth cohort simulator: the pipeline's embedded default dataset.

The cohort is written as the same standard files the real data uses (FASTA, VCF, TSS table,
QTLtools BED), so the workflow reads it with the same rules, plus two truth tables.

Layout
    One contig (``config.contig``) of length ``2 * flank + (n_genes - 1) * spacing_bp`` with
    ``flank = spacing_bp // 2``. Gene ``g`` (0-based) has its TSS at the 0-based position
    ``tss0 = flank + g * spacing_bp`` (1-based ``tss = tss0 + 1``); its *window* is
    ``[tss0 - window_bp // 2, tss0 - window_bp // 2 + window_bp)`` and its *motif region* is
    ``[tss0 - motif_radius_bp, tss0 + motif_radius_bp)`` (0-based, half-open). All variants of a
    gene lie in its window.
Background sequence
    A first-order Markov chain whose probability of ``G`` after ``C`` is divided by
    ``cpg_depletion`` (as in human DNA), tuned so that its stationary G+C fraction is
    ``gc_content`` with equal A/T and C/G frequencies.
Planted grammar
    One non-palindromic motif, counted on both strands: a *motif count* is the number of start
    positions ``s`` with ``seq[s:s + len(motif)]`` equal to the motif or to its reverse complement
    and the whole match inside the motif region. Each gene receives ``1 + Poisson(extra_motifs)``
    exact copies (random orientation) and ``n_near_motifs`` near-motifs (one base off) at
    non-overlapping places in its motif region. A fraction ``disrupt_fraction`` of the copies get an
    SNV that breaks them, every near-motif an SNV whose ALT completes it (both redrawn until the
    SNV alone changes the reference's count by exactly -1 or +1), and
    ``n_neutral_variants`` further SNVs are placed anywhere in the window where, on the
    reference, they change no motif count.
Genotypes
    Biallelic SNVs; allele frequency ``~ Uniform(af_min, af_max)``; the two haplotypes of every
    individual drawn independently at every site (no LD).
Expression
    Per haplotype ``y_hap = a_g + beta * motif_count(haplotype)`` with ``a_g ~ Uniform(1, 3)``;
    motif counts are computed on the actual haplotype sequences (reference window with the ALT
    alleles applied). Per individual ``y_true = (y_hap1 + y_hap2) / 2`` (log1p scale) and
    ``y_obs = max(y_true + e, 0)`` with ``e ~ Normal(0, s_g^2)``, where
    ``s_g^2 = V_g (1 - h2) / h2`` and ``V_g = beta^2 / 2 * sum_v delta_v^2 p_v (1 - p_v)`` is the
    expected variance of ``y_true`` under the additive model (``delta_v`` the motif-count change of
    variant ``v`` alone on the reference, ``p_v`` its allele frequency). The expression file holds
    ``expm1(y_obs)`` ("RPKM-like").

Everything is drawn from one :class:`numpy.random.Generator` seeded with ``config.seed``, so a
seed gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from ps2f.errors import ConfigError
from ps2f.genome.encoding import ALPHABET, decode, encode, reverse_complement_codes

__all__ = ["SimulationConfig", "OUTPUT_FILES", "simulate_cohort"]

#: Keys of the dictionary :func:`simulate_cohort` returns, and the file name of each in ``outdir``.
OUTPUT_FILES: dict[str, str] = {
    "reference": "reference.fa",
    "reference_index": "reference.fa.fai",
    "genotypes": "genotypes.vcf.gz",
    "genotypes_index": "genotypes.vcf.gz.tbi",
    "genes": "genes.tsv",
    "expression": "expression.bed.gz",
    "expression_index": "expression.bed.gz.tbi",
    "truth": "truth.parquet",
    "truth_variants": "truth_variants.parquet",
    "config": "simulation.json",
}

_MIN_GAP_BP = 100  # least distance between two neighbouring gene windows, in bp
_FASTA_LINE = 60
_BED_DECIMALS = 6
_MAX_TRIES = 50  # redraws of a planted SNV before giving up on it


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of :func:`simulate_cohort`.

    Attributes
    ----------
    n_individuals : int
        Number of diploid individuals (VCF and expression samples ``SIM0001``...).
    n_genes : int
        Number of genes (``SIMG0001``...), laid out along one contig.
    window_bp : int
        Length of each gene's window centred on its TSS, in bp; all its variants lie inside.
    spacing_bp : int
        Distance between consecutive TSSs, in bp; at least ``window_bp + 100``.
    motif : str
        The planted motif (A/C/G/T, not its own reverse complement), counted on both strands.
    motif_radius_bp : int
        Half-width of the motif region around the TSS, in bp; the region is
        ``[tss0 - radius, tss0 + radius)`` and must fit in the window.
    beta : float
        Effect of one motif copy on one haplotype, in log1p expression units.
    h2 : float
        Expected heritability ``var(y_true) / var(y)`` per gene, in ``(0, 1]``.
    n_neutral_variants : int
        SNVs per gene that change no motif count on the reference.
    contig : str
        Name of the single contig.
    seed : int
        Seed of the :class:`numpy.random.Generator` behind every random draw.
    n_near_motifs : int
        Near-motifs (motif with one base changed) planted per gene; each gets an SNV whose ALT
        completes the motif.
    extra_motifs : float
        Mean of the Poisson number of exact motif copies per gene beyond the first.
    disrupt_fraction : float
        Probability, per exact motif copy, of an SNV whose ALT breaks it.
    af_min, af_max : float
        Bounds of the uniform ALT allele frequency of every SNV.
    gc_content : float
        Stationary G+C fraction of the background Markov chain.
    cpg_depletion : float
        Factor by which ``P(G | previous base C)`` is divided (1 = no depletion).
    """

    n_individuals: int = 120
    n_genes: int = 40
    window_bp: int = 2000
    spacing_bp: int = 5000
    motif: str = "TGAGTCAT"
    motif_radius_bp: int = 300
    beta: float = 0.5
    h2: float = 0.6
    n_neutral_variants: int = 20
    contig: str = "sim1"
    seed: int = 0
    n_near_motifs: int = 2
    extra_motifs: float = 2.0
    disrupt_fraction: float = 0.5
    af_min: float = 0.05
    af_max: float = 0.5
    gc_content: float = 0.41
    cpg_depletion: float = 4.0

    def __post_init__(self) -> None:
        """Reject inconsistent settings with a :class:`~ps2f.errors.ConfigError`."""
        problems = []
        for name in ("n_individuals", "n_genes", "window_bp", "motif_radius_bp"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_neutral_variants", "n_near_motifs"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        motif = self.motif.upper()
        if len(motif) < 4 or set(motif) - set("ACGT"):
            problems.append(f"motif must be >= 4 letters of A/C/G/T, got {self.motif!r}")
        elif decode(reverse_complement_codes(encode(motif))) == motif:
            problems.append(f"motif {self.motif!r} is its own reverse complement")
        if self.spacing_bp < self.window_bp + _MIN_GAP_BP:
            problems.append(
                f"spacing_bp ({self.spacing_bp}) must be >= window_bp + {_MIN_GAP_BP} "
                f"({self.window_bp + _MIN_GAP_BP})"
            )
        if self.motif_radius_bp > self.window_bp // 2:
            problems.append(
                f"motif_radius_bp ({self.motif_radius_bp}) must be <= window_bp // 2 "
                f"({self.window_bp // 2})"
            )
        slot = len(motif) + 2
        if (2 * self.motif_radius_bp) // slot < 1 + self.n_near_motifs:
            problems.append(
                f"motif region (2 * {self.motif_radius_bp} bp) too small for 1 motif + "
                f"{self.n_near_motifs} near-motifs"
            )
        if not 0 < self.h2 <= 1:
            problems.append(f"h2 must be in (0, 1], got {self.h2}")
        if not 0 <= self.disrupt_fraction <= 1:
            problems.append(f"disrupt_fraction must be in [0, 1], got {self.disrupt_fraction}")
        if not 0 < self.af_min <= self.af_max < 1:
            problems.append(f"need 0 < af_min <= af_max < 1, got {self.af_min}, {self.af_max}")
        if not 0 < self.gc_content < 1:
            problems.append(f"gc_content must be in (0, 1), got {self.gc_content}")
        if self.cpg_depletion < 1:
            problems.append(f"cpg_depletion must be >= 1, got {self.cpg_depletion}")
        if self.extra_motifs < 0:
            problems.append(f"extra_motifs must be >= 0, got {self.extra_motifs}")
        if not self.contig or any(c.isspace() for c in self.contig) or ":" in self.contig:
            problems.append(
                f"contig must be a non-empty name without spaces or ':', got {self.contig!r}"
            )
        if problems:
            raise ConfigError("invalid SimulationConfig: " + "; ".join(problems))

    @property
    def flank_bp(self) -> int:
        """Distance from the contig start to the first TSS (and last TSS to the end), in bp."""
        return self.spacing_bp // 2

    @property
    def contig_length(self) -> int:
        """Length of the simulated contig, in bp."""
        return 2 * self.flank_bp + (self.n_genes - 1) * self.spacing_bp


def simulate_cohort(config: SimulationConfig, outdir: str | Path) -> dict[str, Path]:
    """Simulate a cohort with a planted motif grammar and write it as standard files.

    Parameters
    ----------
    config : SimulationConfig
        Sizes, planted mechanism and seed (see the module docstring for the model).
    outdir : str or pathlib.Path
        Directory to write into (created if missing). Files are written under temporary names
        and renamed at the end, so a failure leaves no half-written output.

    Returns
    -------
    dict of str to pathlib.Path
        Paths of the written files, keyed as in :data:`OUTPUT_FILES`:

        * ``reference.fa`` (+ ``.fai``): one contig, 60 bp upper-case lines.
        * ``genotypes.vcf.gz`` (+ ``.tbi``): VCFv4.2, biallelic SNVs, phased ``GT``, INFO
          ``AC``/``AN``, IDs ``<contig>_<pos>_<ref>_<alt>``, samples ``SIM0001``...
        * ``genes.tsv``: ``gene_id, gene_name, gene_type, chrom, strand, gene_start, gene_end,
          tss`` (1-based, closed; ``tss`` is ``gene_start`` on ``+``, ``gene_end`` on ``-``).
        * ``expression.bed.gz`` (+ ``.tbi``): QTLtools phenotype BED ``#chr start end gene length
          strand <samples>``, ``start = tss - 1``, ``end = tss``, values ``expm1(y_obs)``.
        * ``truth.parquet``: ``gene, individual, y_true, y_obs, motif_count_hap1,
          motif_count_hap2`` (``y_*`` on the log1p scale).
        * ``truth_variants.parquet``: ``id, chrom, pos (1-based), ref, alt, gene, af,
          motif_delta, role`` with role ``disrupts_motif | creates_motif | neutral`` from the
          sign of ``motif_delta`` (the motif-count change of that SNV alone on the reference).
        * ``simulation.json``: the config used.

    Raises
    ------
    ConfigError
        If ``config`` is not a :class:`SimulationConfig`.
    """
    if not isinstance(config, SimulationConfig):
        raise ConfigError(f"config must be a SimulationConfig, got {type(config).__name__}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cohort = _simulate(config)
    tmp = Path(tempfile.mkdtemp(prefix=".simulate-", dir=outdir))
    try:
        _write_all(cohort, config, tmp)
        paths = {}
        for key, name in OUTPUT_FILES.items():  # data files precede their indexes
            os.replace(tmp / name, outdir / name)
            paths[key] = outdir / name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


# --------------------------------------------------------------------------------------------
# simulation


@dataclass
class _Cohort:
    reference: np.ndarray  # (contig_length,) uint8 codes
    samples: list[str]
    genes: pd.DataFrame
    variants: pd.DataFrame  # id, chrom, pos, ref, alt, gene, af, motif_delta, role
    genotypes: np.ndarray  # (n_variants, n_individuals, 2) uint8 in {0, 1}
    truth: pd.DataFrame
    y_obs: np.ndarray  # (n_genes, n_individuals) float64, log1p scale, >= 0


def _ids(prefix: str, n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _transition_matrix(gc: float, cpg_depletion: float) -> np.ndarray:
    """(4, 4) Markov transition probabilities (row = previous base, ACGT) with CpG depletion.

    Every row is one base distribution ``q``, except that ``P(G | C)`` is divided by
    ``cpg_depletion`` (row renormalized); ``q`` is tuned by fixed-point iteration so that the
    stationary composition is ``((1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2)``.
    """
    target = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    q = target.copy()
    for _ in range(50):
        trans = np.tile(q, (4, 1))
        trans[1, 2] /= cpg_depletion
        trans /= trans.sum(axis=1, keepdims=True)
        stationary = np.linalg.matrix_power(trans, 256)[0]
        q = q * target / stationary
        q /= q.sum()
    return trans


def _map_composition_table() -> np.ndarray:
    """Composition table of maps {0..3} -> {0..3}, each packed in a byte (2 bits per input).

    A map ``f`` is the byte ``sum_p f(p) << 2p``; ``table[(f << 8) | g]`` is ``f o g``, i.e.
    ``p -> f(g(p))``. Shape (65536,), uint8.
    """
    packed = np.arange(256)
    unpacked = (packed[:, None] >> (2 * np.arange(4))) & 3  # (256, 4): f(p)
    composed = unpacked[packed[:, None, None], unpacked[None, :, :]]  # [f, g, p] = f(g(p))
    return (composed << (2 * np.arange(4))).sum(axis=-1).astype(np.uint8).reshape(-1)


def _markov_sequence(rng: np.random.Generator, length: int, trans: np.ndarray) -> np.ndarray:
    """Sample ``length`` codes from a first-order Markov chain without a loop per base.

    Each position ``i`` gets a map ``step[i]: previous state -> state`` (from one uniform draw,
    packed in a byte); the compositions ``step[i] o ... o step[0]`` are a prefix scan
    (Hillis-Steele doubling: ``log2(length)`` vectorised passes through a 64 KiB composition
    table), then applied to a start state drawn from the row mean of ``trans``.
    """
    cum = np.cumsum(trans, axis=1)[:, :-1]
    u = rng.random(length)
    comp = np.zeros(length, dtype=np.uint8)
    for prev in range(4):
        nxt = np.searchsorted(cum[prev], u, side="right").astype(np.uint8)
        comp |= nxt << np.uint8(2 * prev)
    table = _map_composition_table()
    d = 1
    while d < length:
        comp[d:] = table[(comp[d:].astype(np.uint16) << 8) | comp[:-d]]
        d *= 2
    start = int(rng.choice(4, p=np.linalg.matrix_power(trans, 256)[0]))
    return ((comp >> np.uint8(2 * start)) & np.uint8(3)).astype(np.uint8)


def _count_motif(seqs: np.ndarray, motif: np.ndarray, motif_rc: np.ndarray) -> np.ndarray:
    """Count motif matches on both strands fully inside each sequence.

    Parameters
    ----------
    seqs : numpy.ndarray, shape (..., R), uint8 codes
    motif, motif_rc : numpy.ndarray, shape (m,), uint8 codes
        The motif and its reverse complement.

    Returns
    -------
    numpy.ndarray, shape (...), int64
    """
    m = motif.shape[0]
    n = seqs.shape[-1] - m + 1
    fwd = np.ones(seqs.shape[:-1] + (n,), dtype=bool)
    rev = fwd.copy()
    for j in range(m):  # loop over motif positions, vectorised over sequences and offsets
        col = seqs[..., j : j + n]
        fwd &= col == motif[j]
        rev &= col == motif_rc[j]
    return fwd.sum(axis=-1) + rev.sum(axis=-1)


def _plant(
    rng: np.random.Generator,
    ref: np.ndarray,
    tss0: int,
    cfg: SimulationConfig,
    motif: np.ndarray,
    motif_rc: np.ndarray,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], set[int]]:
    """Plant motif copies and near-motifs in ``ref`` (in place) around one TSS.

    Returns the SNVs that break copies and complete near-motifs as ``(pos0, alt_code)`` (each
    changes the reference's motif count by exactly -1 or +1 when applied alone), and the set of
    positions covered by planted elements.
    """
    m = motif.shape[0]
    slot = m + 2
    region_start = tss0 - cfg.motif_radius_bp
    n_slots = (2 * cfg.motif_radius_bp) // slot
    k = min(1 + int(rng.poisson(cfg.extra_motifs)), n_slots - cfg.n_near_motifs)
    chosen = rng.choice(n_slots, size=k + cfg.n_near_motifs, replace=False)
    offsets = rng.integers(0, slot - m + 1, size=chosen.size)
    reverse = rng.random(chosen.size) < 0.5
    starts = region_start + chosen * slot + offsets
    breaking: list[tuple[int, int]] = []
    completing: list[tuple[int, int]] = []
    covered: set[int] = set()
    region = (region_start, tss0 + cfg.motif_radius_bp)
    for i, start in enumerate(starts.tolist()):
        site = (motif_rc if reverse[i] else motif).copy()
        covered.update(range(start, start + m))
        if i < k:  # exact copy, maybe with a breaking SNV
            ref[start : start + m] = site
            if rng.random() < cfg.disrupt_fraction:
                # redraw the rare SNV whose ALT breaks this copy but forms an overlapping one
                for _ in range(_MAX_TRIES):
                    j = int(rng.integers(m))
                    snv = (start + j, (int(site[j]) + int(rng.integers(1, 4))) % 4)
                    if _snv_delta(ref, snv, region, motif, motif_rc) == -1:
                        breaking.append(snv)
                        break
        else:  # near-motif: one base off; its SNV restores the motif base
            # the motif overlaps its reverse complement shifted, so some one-off variants
            # are an exact copy on the other strand: redraw those
            for _ in range(_MAX_TRIES):
                j = int(rng.integers(m))
                near = site.copy()
                near[j] = (int(site[j]) + int(rng.integers(1, 4))) % 4
                ref[start : start + m] = near
                snv = (start + j, int(site[j]))
                if _snv_delta(ref, snv, region, motif, motif_rc) == 1:
                    completing.append(snv)
                    break
    return breaking, completing, covered


def _snv_delta(
    ref: np.ndarray,
    snv: tuple[int, int],
    region: tuple[int, int],
    motif: np.ndarray,
    motif_rc: np.ndarray,
) -> int:
    """Motif-count change of one SNV ``(pos0, alt_code)`` applied alone to the reference."""
    pos0 = np.array([snv[0]], dtype=np.int64)
    alt = np.array([snv[1]], dtype=np.uint8)
    return int(_single_deltas(ref, pos0, alt, region, motif, motif_rc)[0])


def _single_deltas(
    ref: np.ndarray,
    pos0: np.ndarray,
    alt: np.ndarray,
    region: tuple[int, int],
    motif: np.ndarray,
    motif_rc: np.ndarray,
) -> np.ndarray:
    """Motif-count change of each SNV applied alone to the reference, shape (n,), int64."""
    lo, hi = region
    deltas = np.zeros(pos0.shape[0], dtype=np.int64)
    inside = np.flatnonzero((pos0 >= lo) & (pos0 < hi))
    if inside.size == 0:
        return deltas
    seqs = np.broadcast_to(ref[lo:hi], (inside.size, hi - lo)).copy()
    seqs[np.arange(inside.size), pos0[inside] - lo] = alt[inside]
    base = _count_motif(ref[lo:hi], motif, motif_rc)
    deltas[inside] = _count_motif(seqs, motif, motif_rc) - base
    return deltas


def _haplotype_counts(
    ref_region: np.ndarray,
    offsets: np.ndarray,
    alt: np.ndarray,
    alleles: np.ndarray,
    motif: np.ndarray,
    motif_rc: np.ndarray,
) -> np.ndarray:
    """Motif counts of haplotype sequences of one motif region.

    Parameters
    ----------
    ref_region : numpy.ndarray, shape (R,), uint8 codes
    offsets : numpy.ndarray, shape (v,), int
        Variant positions relative to the region start (all inside it).
    alt : numpy.ndarray, shape (v,), uint8 codes
    alleles : numpy.ndarray, shape (h, v), bool
        ALT allele carried by each haplotype.

    Returns
    -------
    numpy.ndarray, shape (h,), int64
        Counts on the sequences built by applying the ALT alleles; each distinct haplotype is
        built and scanned once.
    """
    n_hap = alleles.shape[0]
    if offsets.size == 0:
        return np.full(n_hap, _count_motif(ref_region, motif, motif_rc), dtype=np.int64)
    if alleles.shape[1] < 64:  # pack each haplotype's alleles in one integer: fast unique
        keys = alleles.astype(np.uint64) @ (
            np.uint64(1) << np.arange(alleles.shape[1], dtype=np.uint64)
        )
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        unique = alleles[first]
    else:
        unique, inverse = np.unique(alleles, axis=0, return_inverse=True)
    seqs = np.broadcast_to(ref_region, (unique.shape[0], ref_region.shape[0])).copy()
    cols = seqs[:, offsets]
    seqs[:, offsets] = np.where(unique, alt[None, :], cols)
    return _count_motif(seqs, motif, motif_rc)[inverse.reshape(-1)]


def _simulate(cfg: SimulationConfig) -> _Cohort:
    rng = np.random.default_rng(cfg.seed)
    motif = encode(cfg.motif.upper())
    motif_rc = reverse_complement_codes(motif)
    n_ind, n_genes = cfg.n_individuals, cfg.n_genes
    half = cfg.window_bp // 2

    ref = _markov_sequence(
        rng, cfg.contig_length, _transition_matrix(cfg.gc_content, cfg.cpg_depletion)
    )
    samples = _ids("SIM", n_ind)
    gene_ids = _ids("SIMG", n_genes)
    tss0 = cfg.flank_bp + cfg.spacing_bp * np.arange(n_genes)
    strand = np.where(rng.random(n_genes) < 0.5, "+", "-")
    gene_len = rng.integers(min(1000, cfg.flank_bp), cfg.flank_bp + 1, size=n_genes)
    a_g = rng.uniform(1.0, 3.0, size=n_genes)

    var_tables: list[pd.DataFrame] = []
    gt_blocks: list[np.ndarray] = []
    counts = np.empty((n_genes, n_ind, 2), dtype=np.int64)
    y_true = np.empty((n_genes, n_ind))
    y_obs = np.empty((n_genes, n_ind))
    for g in range(n_genes):
        t = int(tss0[g])
        lo, hi = t - cfg.motif_radius_bp, t + cfg.motif_radius_bp
        w_lo = t - half
        breaking, completing, covered = _plant(rng, ref, t, cfg, motif, motif_rc)
        planted = breaking + completing
        planted_pos = np.array([p for p, _ in planted], dtype=np.int64)
        planted_alt = np.array([a for _, a in planted], dtype=np.uint8)

        # neutral SNVs: anywhere in the window off the planted elements, no effect on the reference
        free = np.setdiff1d(np.arange(w_lo, w_lo + cfg.window_bp), np.fromiter(covered, int))
        n_cand = min(free.size, 3 * cfg.n_neutral_variants + 10)
        cand = rng.choice(free, size=n_cand, replace=False)
        cand_alt = ((ref[cand] + rng.integers(1, 4, size=n_cand)) % 4).astype(np.uint8)
        ok = _single_deltas(ref, cand, cand_alt, (lo, hi), motif, motif_rc) == 0
        keep = np.flatnonzero(ok)[: cfg.n_neutral_variants]

        pos0 = np.concatenate([planted_pos, cand[keep]])
        alt = np.concatenate([planted_alt, cand_alt[keep]])
        order = np.argsort(pos0, kind="stable")
        pos0, alt = pos0[order], alt[order]
        refb = ref[pos0]
        delta = _single_deltas(ref, pos0, alt, (lo, hi), motif, motif_rc)
        af = rng.uniform(cfg.af_min, cfg.af_max, size=pos0.size)
        gt = (rng.random((pos0.size, n_ind, 2)) < af[:, None, None]).astype(np.uint8)

        in_region = (pos0 >= lo) & (pos0 < hi)
        alleles = gt[in_region].reshape(int(in_region.sum()), n_ind * 2).T.astype(bool)
        c = _haplotype_counts(
            ref[lo:hi], pos0[in_region] - lo, alt[in_region], alleles, motif, motif_rc
        )
        counts[g] = c.reshape(n_ind, 2)
        y_true[g] = a_g[g] + cfg.beta * counts[g].mean(axis=1)
        v_g = cfg.beta**2 / 2 * float(np.sum(delta.astype(float) ** 2 * af * (1 - af)))
        noise_var = v_g * (1 - cfg.h2) / cfg.h2 if v_g > 0 else cfg.beta**2 * (1 - cfg.h2)
        y_obs[g] = np.maximum(y_true[g] + rng.normal(0.0, np.sqrt(noise_var), n_ind), 0.0)

        ref_l = [chr(ALPHABET[b]) for b in refb.tolist()]
        alt_l = [chr(ALPHABET[b]) for b in alt.tolist()]
        pos1 = (pos0 + 1).tolist()
        var_tables.append(
            pd.DataFrame(
                {
                    "id": [
                        f"{cfg.contig}_{p}_{r}_{a}"
                        for p, r, a in zip(pos1, ref_l, alt_l, strict=True)
                    ],
                    "chrom": cfg.contig,
                    "pos": np.asarray(pos1, dtype=np.int64),
                    "ref": ref_l,
                    "alt": alt_l,
                    "gene": gene_ids[g],
                    "af": af,
                    "motif_delta": delta,
                    "role": np.select(
                        [delta < 0, delta > 0], ["disrupts_motif", "creates_motif"], "neutral"
                    ),
                }
            )
        )
        gt_blocks.append(gt)

    tss1 = tss0 + 1
    plus = strand == "+"
    genes = pd.DataFrame(
        {
            "gene_id": gene_ids,
            "gene_name": _ids("SimGene", n_genes),
            "gene_type": "protein_coding",
            "chrom": cfg.contig,
            "strand": strand,
            "gene_start": np.where(plus, tss1, tss1 - gene_len + 1).astype(np.int64),
            "gene_end": np.where(plus, tss1 + gene_len - 1, tss1).astype(np.int64),
            "tss": tss1.astype(np.int64),
        }
    )
    truth = pd.DataFrame(
        {
            "gene": np.repeat(gene_ids, n_ind),
            "individual": np.tile(samples, n_genes),
            "y_true": y_true.reshape(-1),
            "y_obs": y_obs.reshape(-1),
            "motif_count_hap1": counts[:, :, 0].reshape(-1),
            "motif_count_hap2": counts[:, :, 1].reshape(-1),
        }
    )
    return _Cohort(
        reference=ref,
        samples=samples,
        genes=genes,
        variants=pd.concat(var_tables, ignore_index=True),
        genotypes=np.concatenate(gt_blocks, axis=0),
        truth=truth,
        y_obs=y_obs,
    )


# --------------------------------------------------------------------------------------------
# writers


def _write_all(cohort: _Cohort, cfg: SimulationConfig, tmp: Path) -> None:
    _write_fasta(tmp / OUTPUT_FILES["reference"], cfg.contig, cohort.reference)
    _write_vcf(tmp / "genotypes.vcf", cohort, cfg)
    cohort.genes.to_csv(tmp / OUTPUT_FILES["genes"], sep="\t", index=False)
    _write_bed(tmp / "expression.bed", cohort)
    cohort.truth.to_parquet(tmp / OUTPUT_FILES["truth"], index=False)
    cohort.variants.to_parquet(tmp / OUTPUT_FILES["truth_variants"], index=False)
    record = {"generator": "ps2f.simulate.simulate_cohort", **dataclasses.asdict(cfg)}
    (tmp / OUTPUT_FILES["config"]).write_text(json.dumps(record, indent=2) + "\n")


def _write_fasta(path: Path, name: str, codes: np.ndarray) -> None:
    seq = decode(codes)
    lines = [seq[i : i + _FASTA_LINE] for i in range(0, len(seq), _FASTA_LINE)]
    path.write_text(f">{name}\n" + "\n".join(lines) + "\n")
    pysam.faidx(str(path))


def _write_vcf(plain: Path, cohort: _Cohort, cfg: SimulationConfig) -> None:
    """Write the VCF uncompressed at ``plain``, then bgzip and tabix it to ``plain.gz``."""
    header = [
        "##fileformat=VCFv4.2",
        f"##source=ps2f.simulate (seed={cfg.seed})",
        f"##reference={OUTPUT_FILES['reference']}",
        f"##contig=<ID={cfg.contig},length={cfg.contig_length}>",
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called '
        'genotypes">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + cohort.samples
        ),
    ]
    gt = cohort.genotypes
    n_var, n_ind = gt.shape[0], gt.shape[1]
    cells = np.empty((n_var, n_ind, 4), dtype=np.uint8)
    cells[..., 0] = ord("0") + gt[..., 0]
    cells[..., 1] = ord("|")
    cells[..., 2] = ord("0") + gt[..., 1]
    cells[..., 3] = ord("\t")
    cells[:, -1, 3] = ord("\n")
    rows = cells.reshape(n_var, n_ind * 4)
    ac = gt.sum(axis=(1, 2)).tolist()
    an = 2 * n_ind
    v = cohort.variants
    with open(plain, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        for i, (chrom, pos, vid, ref, alt) in enumerate(
            zip(v["chrom"], v["pos"], v["id"], v["ref"], v["alt"], strict=True)
        ):
            fh.write(
                f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\tAC={ac[i]};AN={an}\tGT\t".encode()
            )
            fh.write(rows[i].tobytes())
    pysam.tabix_index(str(plain), preset="vcf", force=True)


def _write_bed(plain: Path, cohort: _Cohort) -> None:
    """Write the QTLtools phenotype BED at ``plain``, then bgzip and tabix it to ``plain.gz``."""
    genes = cohort.genes
    values = np.round(np.expm1(cohort.y_obs), _BED_DECIMALS)
    bed = pd.DataFrame(
        {
            "#chr": genes["chrom"],
            "start": genes["tss"] - 1,
            "end": genes["tss"],
            "gene": genes["gene_id"],
            "length": genes["gene_end"] - genes["gene_start"] + 1,
            "strand": genes["strand"],
        }
    )
    bed = pd.concat([bed, pd.DataFrame(values, columns=cohort.samples)], axis=1)
    bed = bed.sort_values(["#chr", "start"], kind="stable")
    bed.to_csv(plain, sep="\t", index=False, float_format=f"%.{_BED_DECIMALS}f")
    pysam.tabix_index(str(plain), preset="bed", force=True)
