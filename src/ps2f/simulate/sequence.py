"""Reference sequence of the cohort simulator, and the grammar's motifs planted in it.

* :func:`markov_background`: random DNA with a human-like G+C fraction and CpG depletion.
* :func:`real_windows`: N-free windows of a user's FASTA (the loci of a "real genome" run).
* :func:`plant`: copies and near-copies of the motifs of a
  :class:`~ps2f.simulate.grammar.Grammar` written into a gene's causal region, with the SNVs
  that break or complete them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import N_CODE, reverse_complement_codes
from ps2f.simulate.grammar import Grammar

__all__ = ["markov_background", "real_windows", "PlantedVariant", "plant"]

_MAX_TRIES = 50  # redraws of a planted element before giving up on it


# --------------------------------------------------------------------------------------------
# background sequence


def transition_matrix(gc: float, cpg_depletion: float) -> np.ndarray:
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


def markov_background(
    rng: np.random.Generator,
    length: int,
    gc: float,
    cpg_depletion: float,
    chunk: int = 1 << 20,
) -> np.ndarray:
    """Random DNA from a first-order Markov chain, without a loop per base.

    Each position ``i`` gets a map ``step[i]: previous base -> base`` (from one uniform draw,
    packed in a byte); the compositions ``step[i] o ... o step[0]`` are a prefix scan
    (Hillis-Steele doubling: ``log2(chunk)`` vectorised passes through a 64 KiB composition
    table), applied to the base before the chunk (the first from the stationary distribution).
    Chunks bound the memory (~20 bytes per base of a chunk).

    Parameters
    ----------
    rng : numpy.random.Generator
    length : int
        Sequence length, in bp.
    gc : float
        Stationary G+C fraction.
    cpg_depletion : float
        Factor dividing ``P(G | C)`` (human DNA: CpG observed/expected ~0.25).
    chunk : int
        Bases generated per vectorised pass.

    Returns
    -------
    numpy.ndarray, shape (length,), uint8 codes in ``0..3``
    """
    trans = transition_matrix(gc, cpg_depletion)
    cum = np.cumsum(trans, axis=1)[:, :-1]
    table = _map_composition_table()
    state = int(rng.choice(4, p=np.linalg.matrix_power(trans, 256)[0]))
    out = np.empty(length, dtype=np.uint8)
    for lo in range(0, length, chunk):
        u = rng.random(min(chunk, length - lo))
        comp = np.zeros(u.shape[0], dtype=np.uint8)
        for prev in range(4):
            nxt = np.searchsorted(cum[prev], u, side="right").astype(np.uint8)
            comp |= nxt << np.uint8(2 * prev)
        d = 1
        while d < comp.shape[0]:
            comp[d:] = table[(comp[d:].astype(np.uint16) << 8) | comp[:-d]]
            d *= 2
        out[lo : lo + comp.shape[0]] = (comp >> np.uint8(2 * state)) & np.uint8(3)
        state = int(out[lo + comp.shape[0] - 1])
    return out


def real_windows(
    path: str, contig: str | None, n: int, length: int, rng: np.random.Generator
) -> tuple[np.ndarray, str, np.ndarray]:
    """Draw ``n`` non-overlapping N-free windows of a FASTA contig, in contig order.

    The contig is cut into consecutive blocks of ``length`` bp; blocks are visited in a random
    order (from ``rng``) and the first ``n`` without any ``N`` (or other non-ACGT letter) are
    kept. Soft-masked (lower-case) bases are upper-cased.

    Parameters
    ----------
    path : str
        FASTA, plain or bgzipped with ``.fai`` and ``.gzi`` (read with pyfaidx).
    contig : str or None
        Contig name (spelling resolved as everywhere in ps2f); ``None``: the longest contig.
    n : int
        Number of windows.
    length : int
        Window length, in bp.
    rng : numpy.random.Generator

    Returns
    -------
    codes : numpy.ndarray, shape (n * length,), uint8 codes in ``0..3``
        The windows, concatenated in contig order.
    contig : str
        The contig's name in the FASTA.
    starts : numpy.ndarray, shape (n,), int64
        0-based start of each window on that contig, increasing.

    Raises
    ------
    InputError
        Missing or unreadable FASTA, unknown contig.
    ConfigError
        Fewer than ``n`` N-free windows on the contig.
    """
    from ps2f.io.fasta import Reference

    ref = Reference(path)
    if contig is None:
        contig = max(ref.fasta.keys(), key=lambda name: len(ref.fasta[name]))
    try:
        name = ref.contig_name(contig)
    except InputError as exc:
        raise InputError(f"simulate.reference_contig: {exc}") from None
    n_blocks = ref.contig_length(name) // length
    kept: list[int] = []
    for block in rng.permutation(n_blocks).tolist():
        codes = ref.fetch_codes(name, block * length, (block + 1) * length)
        if not np.any(codes == N_CODE):
            kept.append(block)
            if len(kept) == n:
                break
    if len(kept) < n:
        raise ConfigError(
            f"{path}: contig {name} has only {len(kept)} N-free windows of {length} bp, "
            f"{n} needed; lower simulate.n_genes or simulate.spacing_bp"
        )
    starts = np.sort(np.asarray(kept, dtype=np.int64)) * length
    out = np.concatenate([ref.fetch_codes(name, int(s), int(s) + length) for s in starts])
    return out.astype(np.uint8), name, starts


# --------------------------------------------------------------------------------------------
# planting


@dataclass(frozen=True)
class PlantedVariant:
    """A causal grammar SNV planted in the reference.

    Attributes
    ----------
    pos0 : int
        0-based contig position.
    ref, alt : int
        Base codes (never a strand-ambiguous A/T or C/G pair).
    motif : int
        Index of the motif it breaks or completes.
    kind : str
        ``"disrupts_motif"`` or ``"creates_motif"``.
    """

    pos0: int
    ref: int
    alt: int
    motif: int
    kind: str


def _ambiguous(a: int, b: int) -> bool:
    """A/T or C/G: codes A=0, C=1, G=2, T=3, so complementary pairs sum to 3."""
    return a + b == 3


def _unambiguous_alt(rng: np.random.Generator, base: int) -> int:
    """A random base that differs from ``base`` and does not pair with it (A/T, C/G)."""
    choices = [b for b in range(4) if b != base and not _ambiguous(b, base)]
    return int(choices[int(rng.integers(len(choices)))])


def plant(
    rng: np.random.Generator,
    ref: np.ndarray,
    region: tuple[int, int],
    grammar: Grammar,
    motif_copies: float,
    n_variants: int,
    avoid: np.ndarray,
) -> tuple[list[PlantedVariant], np.ndarray]:
    """Plant invariant motif copies and causal grammar SNVs in one gene's causal region.

    The region is cut into slots of ``max(m_k) + 2`` bp; a slot holding a position of ``avoid``
    (the region's other variant sites) is not used, so that planted elements never overlap
    another variant. Each motif gets ``Poisson(motif_copies)`` exact copies (random
    orientation); then each causal variant picks a motif uniformly and, with probability 1/2,
    either plants an exact copy and an SNV whose ALT breaks it, or a near-copy (one base off,
    the pair never strand-ambiguous) and the SNV whose ALT completes it. Every element is
    redrawn until planting it changes no motif count except as intended and its SNV alone
    changes its motif's count by exactly -1 or +1 and no other motif's.

    Parameters
    ----------
    rng : numpy.random.Generator
    ref : numpy.ndarray, shape (contig_length,), uint8 codes
        Modified in place.
    region : (int, int)
        The causal region, 0-based half-open, in bp.
    grammar : Grammar
    motif_copies : float
        Mean number of invariant copies per motif.
    n_variants : int
        Causal SNVs wanted (fewer when the region runs out of slots).
    avoid : numpy.ndarray, shape (a,), int64
        0-based positions of other variants in the region.

    Returns
    -------
    variants : list of PlantedVariant
        In planting order.
    covered : numpy.ndarray, shape (c,), int64
        Sorted 0-based positions of every planted element.
    """
    lo, hi = region
    slot = max(m.shape[0] for m in grammar.motifs) + 2
    n_slots = (hi - lo) // slot
    blocked = np.zeros(n_slots, dtype=bool)
    inside = avoid[(avoid >= lo) & (avoid < lo + n_slots * slot)]
    blocked[(inside - lo) // slot] = True
    free = [int(s) for s in rng.permutation(np.flatnonzero(~blocked))]

    def counts() -> np.ndarray:
        return grammar.scores(ref[lo:hi], lo, lo, False)[1]

    def snv_delta(pos0: int, alt: int) -> np.ndarray:
        old = int(ref[pos0])
        before = counts()
        ref[pos0] = alt
        after = counts()
        ref[pos0] = old
        return after - before

    covered: list[int] = []
    planted: list[PlantedVariant] = []
    jobs = [("copy", k) for k in range(grammar.n_motifs) for _ in range(rng.poisson(motif_copies))]
    jobs += [("variant", int(rng.integers(grammar.n_motifs))) for _ in range(n_variants)]
    for job, k in jobs:
        if not free:
            break
        s0 = lo + free.pop() * slot
        motif = grammar.motifs[k]
        m = motif.shape[0]
        start = s0 + int(rng.integers(0, slot - m + 1))
        saved = ref[start : start + m].copy()
        base_counts = counts()
        intended = np.zeros(grammar.n_motifs, dtype=np.int64)
        for _ in range(_MAX_TRIES):
            site = reverse_complement_codes(motif) if rng.random() < 0.5 else motif.copy()
            j = int(rng.integers(m))
            if job == "copy" or rng.random() < 0.5:
                written, kind = site, "disrupts_motif"
                snv = (start + j, int(site[j]), _unambiguous_alt(rng, int(site[j])))
                intended[:] = 0
                intended[k] = 1
            else:
                written, kind = site.copy(), "creates_motif"
                written[j] = _unambiguous_alt(rng, int(site[j]))
                snv = (start + j, int(written[j]), int(site[j]))
                intended[:] = 0
            ref[start : start + m] = written
            if not np.array_equal(counts() - base_counts, intended):
                continue
            if job == "copy":
                break
            want = np.zeros(grammar.n_motifs, dtype=np.int64)
            want[k] = -1 if kind == "disrupts_motif" else 1
            if np.array_equal(snv_delta(snv[0], snv[2]), want):
                planted.append(PlantedVariant(snv[0], snv[1], snv[2], k, kind))
                break
        else:
            ref[start : start + m] = saved
            continue
        covered.extend(range(start, start + m))
    return planted, np.asarray(sorted(covered), dtype=np.int64)
