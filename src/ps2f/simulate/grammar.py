"""The simulator's cis-regulatory grammar: drawn from the seed, or given in the config.

* :class:`Grammar`: the rule every gene shares -- exact k-mer motifs whose matches count by
  position relative to the TSS and orientation relative to the gene, plus products of motif
  pairs -- scored on whole batches of haplotype sequences at once.
* :meth:`Grammar.from_config`: the grammar of a :class:`~ps2f.simulate.SimulationConfig`; every
  grammar key left ``None`` is drawn from ``seed`` (:func:`draw_motifs` and the ranges below),
  with a random stream of its own, so that the rest of a simulation depends on the grammar
  only through what the grammar changes.

The draw (ranges chosen so that any drawn grammar is learnable by the CPU model of
``config/config.yaml``):

* ``K`` motifs, ``K`` uniform in :data:`N_MOTIFS` (2-4: with 40 genes x 3 grammar variants each
  motif still gets ~30 causal variants; more motifs share the same few);
* each of length uniform in :data:`MOTIF_LENGTH` (7-10 bp: a 7-mer matches a random 600 bp
  region on either strand with probability ~0.07, so matches are specific; 10 bp is the first
  convolution's kernel in the CPU model), capped at ``causal_radius_bp // 2 - 2`` (the
  planting slots must fit the causal region), uniform bases, redrawn until the motif is not
  *similar* (shares no 5-mer and is no near-copy, see :func:`similar`) to its own reverse
  complement, to a shift of itself, nor to another motif or its reverse complement -- so no
  motif is its own reverse complement, and a planted copy or near-copy of one never reads as
  another;
* effects ``+-U(0.5, 1.0)`` (:data:`EFFECT`; within a factor 2 of each other, none negligible),
  signs redrawn until there are activators and repressors (``K >= 2``);
* an antisense weight per motif, ``U(0, 1)`` (orientation dependence: 0 = sense only);
* a distance decay per motif, log-uniform in :data:`DECAY_FRACTION` ``x causal_radius_bp``
  (75-300 bp at the default 300: a match at the edge of the causal region still counts
  ``exp(-4)`` at the shortest decay, ``exp(-1)`` at the longest);
* 1-2 interacting motif pairs (:data:`N_PAIRS`, at most ``K (K - 1) / 2``) whose product
  ``c S_i S_j`` adds to the grammar value, ``c = +-U(0.5, 1.0)`` (:data:`PAIR_COEFFICIENT`;
  positive = cooperative, negative = antagonistic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ps2f.genome.encoding import decode, encode, reverse_complement_codes

__all__ = [
    "DECAY_FRACTION",
    "EFFECT",
    "GRAMMAR_KEYS",
    "MOTIF_LENGTH",
    "N_MOTIFS",
    "N_PAIRS",
    "PAIR_COEFFICIENT",
    "Grammar",
    "draw_motifs",
    "similar",
]

#: Config keys of the grammar (each ``None`` = drawn from the seed).
GRAMMAR_KEYS = (
    "motifs",
    "motif_effects",
    "motif_reverse_weights",
    "position_decay_bp",
    "motif_interactions",
)
#: Range (inclusive) of the number of drawn motifs K.
N_MOTIFS = (2, 4)
#: Range (inclusive) of a drawn motif's length, in bp (capped at ``causal_radius_bp // 2 - 2``).
MOTIF_LENGTH = (7, 10)
#: Range of a drawn motif effect's magnitude (relative units).
EFFECT = (0.5, 1.0)
#: Range of a drawn distance decay, as a fraction of ``causal_radius_bp`` (log-uniform).
DECAY_FRACTION = (0.25, 1.0)
#: Range (inclusive) of the number of drawn interacting motif pairs (at most K (K - 1) / 2).
N_PAIRS = (1, 2)
#: Range of a drawn pair coefficient's magnitude (relative units).
PAIR_COEFFICIENT = (0.5, 1.0)
#: Two k-mers are similar when some alignment overlaps this many bp or more ...
SIMILAR_OVERLAP_BP = 5
#: ... with at most this many mismatches.
SIMILAR_MISMATCHES = 1
#: Second word of the grammar stream's seed (``[seed, this]``): "gram" in ASCII.
_GRAMMAR_STREAM = 0x6772616D
_MAX_DRAWS = 10_000


def similar(a: str, b: str, *, same: bool = False) -> bool:
    """Whether two k-mers share a k-mer, or align with few mismatches.

    ``a`` slid along ``b`` (every offset, one strand): similar when some offset matches
    :data:`SIMILAR_OVERLAP_BP` consecutive bases (a shared 5-mer), or its whole overlap is at
    least that long with at most :data:`SIMILAR_MISMATCHES` mismatches (a near-copy).

    Parameters
    ----------
    a, b : str
        Upper-case A/C/G/T.
    same : bool
        ``b`` is ``a`` itself: skip the trivial offset 0.

    Returns
    -------
    bool
    """
    k = SIMILAR_OVERLAP_BP
    for off in range(-(len(b) - 1), len(a)):
        if same and off == 0:
            continue
        lo, hi = max(0, off), min(len(a), off + len(b))
        if hi - lo < k:
            continue
        match = [a[i] == b[i - off] for i in range(lo, hi)]
        if match.count(False) <= SIMILAR_MISMATCHES:
            return True
        run = 0
        for m in match:
            run = run + 1 if m else 0
            if run >= k:
                return True
    return False


def _revcomp(motif: str) -> str:
    return decode(reverse_complement_codes(encode(motif)))


def _acceptable(motif: str, others: list[str]) -> bool:
    """Not similar to its reverse complement, a shift of itself, or another motif (either strand)."""
    rc = _revcomp(motif)
    if motif == rc or similar(motif, rc) or similar(motif, motif, same=True):
        return False
    return not any(o in (motif, rc) or similar(motif, o) or similar(rc, o) for o in others)


def draw_motifs(rng: np.random.Generator, n: int, length_range: tuple[int, int]) -> list[str]:
    """Draw ``n`` mutually dissimilar motifs with uniform bases.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of motifs.
    length_range : (int, int)
        Inclusive range of each motif's length, in bp (uniform).

    Returns
    -------
    list of str
        Upper-case A/C/G/T, none similar (:func:`similar`) to its own reverse complement, to
        a shift of itself, or to another motif or another motif's reverse complement.

    Raises
    ------
    RuntimeError
        If no acceptable set is found (only for lengths far below :data:`MOTIF_LENGTH`).
    """
    motifs: list[str] = []
    for _ in range(_MAX_DRAWS):
        if len(motifs) == n:
            return motifs
        m = int(rng.integers(length_range[0], length_range[1] + 1))
        motif = decode(rng.integers(0, 4, size=m).astype(np.uint8))
        if _acceptable(motif, motifs):
            motifs.append(motif)
    raise RuntimeError(f"could not draw {n} dissimilar motifs of {length_range} bp")


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random signs, redrawn until both occur (when ``n >= 2``)."""
    while True:
        signs = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        if n < 2 or abs(signs.sum()) < n:
            return signs


def _magnitudes(rng: np.random.Generator, n: int, bounds: tuple[float, float]) -> np.ndarray:
    return np.round(rng.uniform(bounds[0], bounds[1], size=n), 3)


@dataclass(frozen=True)
class Grammar:
    """The shared cis-regulatory rule: exact motifs scored by position and orientation.

    A *match* of motif ``k`` is a start ``s`` with ``seq[s:s+m]`` equal to the motif (forward)
    or its reverse complement (reverse), the whole match inside the scored sequence. A match
    centred ``d`` bp from the TSS (``d = s + (m - 1) / 2 - tss0``) counts
    ``exp(-|d| / decay_bp[k])``, times 1 if it reads 5'->3' on the gene's strand (sense) or
    ``reverse_weights[k]`` if antisense. The motif's *score* ``S_k`` sums its matches; the
    haplotype's linear grammar value is ``sum_k effects[k] * S_k`` and its interaction term is
    ``sum_p c_p S_i S_j`` over the pairs ``(i, j, c_p)`` of ``interactions``.

    Attributes
    ----------
    motifs : tuple of numpy.ndarray, each shape (m_k,), uint8 codes
    effects : numpy.ndarray, shape (K,), float64
        Relative units; negative = repressor.
    reverse_weights : numpy.ndarray, shape (K,), float64
        Antisense match weight relative to a sense one, ``>= 0``.
    decay_bp : numpy.ndarray, shape (K,), float64
        Distance decay of each motif, in bp.
    interactions : tuple of (int, int, float)
        Interacting pairs ``(i, j, c)``, ``i < j``: the product ``c S_i S_j``.
    drawn : tuple of str
        The config keys (of :data:`GRAMMAR_KEYS`) that were drawn from the seed.
    """

    motifs: tuple[np.ndarray, ...]
    effects: np.ndarray
    reverse_weights: np.ndarray
    decay_bp: np.ndarray
    interactions: tuple[tuple[int, int, float], ...] = ()
    drawn: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config) -> Grammar:
        """The grammar of a :class:`~ps2f.simulate.SimulationConfig`, drawing what it leaves open.

        Every grammar key (:data:`GRAMMAR_KEYS`) that is ``None`` is drawn (module docstring)
        from a generator seeded with ``[config.seed, "gram"]``, in the order of
        :data:`GRAMMAR_KEYS`; keys that are set are used as given (a scalar
        ``position_decay_bp`` for every motif). With ``nonlinearity: interaction`` a grammar
        of two or more motifs without pairs gets ``(0, 1, 1.0)``: the product ``S_0 S_1``.

        Parameters
        ----------
        config : SimulationConfig
            Already validated (list lengths match the motifs, indices in range).

        Returns
        -------
        Grammar
        """
        rng = np.random.default_rng([config.seed, _GRAMMAR_STREAM])
        drawn = tuple(k for k in GRAMMAR_KEYS if getattr(config, k) is None)
        r = config.causal_radius_bp
        if config.motifs is None:
            n = int(rng.integers(N_MOTIFS[0], N_MOTIFS[1] + 1))
            longest = min(MOTIF_LENGTH[1], r // 2 - 2)
            motifs = draw_motifs(rng, n, (min(MOTIF_LENGTH[0], longest), longest))
        else:
            motifs = list(config.motifs)
            n = len(motifs)
        if config.motif_effects is None:
            effects = _signs(rng, n) * _magnitudes(rng, n, EFFECT)
        else:
            effects = np.asarray(config.motif_effects, dtype=np.float64)
        if config.motif_reverse_weights is None:
            reverse = _magnitudes(rng, n, (0.0, 1.0))
        else:
            reverse = np.asarray(config.motif_reverse_weights, dtype=np.float64)
        if config.position_decay_bp is None:
            lo, hi = np.log(DECAY_FRACTION)
            decay = np.round(r * np.exp(rng.uniform(lo, hi, size=n)), 1)
        else:
            decay = np.broadcast_to(
                np.asarray(config.position_decay_bp, dtype=np.float64), (n,)
            ).copy()
        if config.motif_interactions is None:
            pairs = list(itertools.combinations(range(n), 2))
            n_pairs = int(rng.integers(N_PAIRS[0], min(N_PAIRS[1], len(pairs)) + 1))
            chosen = sorted(rng.choice(len(pairs), size=n_pairs, replace=False).tolist())
            coef = _signs(rng, n_pairs) * _magnitudes(rng, n_pairs, PAIR_COEFFICIENT)
            interactions = tuple(
                (*pairs[c], float(x)) for c, x in zip(chosen, coef.tolist(), strict=True)
            )
        else:
            interactions = tuple(
                (int(i), int(j), float(c)) for i, j, c in config.motif_interactions
            )
        if config.nonlinearity == "interaction" and not interactions and n >= 2:
            interactions = ((0, 1, 1.0),)
        return cls(
            motifs=tuple(encode(m) for m in motifs),
            effects=effects.astype(np.float64),
            reverse_weights=reverse.astype(np.float64),
            decay_bp=decay.astype(np.float64),
            interactions=interactions,
            drawn=drawn,
        )

    def to_record(self) -> dict:
        """The grammar as the ``simulate`` config keys that give it explicitly (JSON-ready).

        Returns
        -------
        dict
            ``motifs``, ``motif_effects``, ``motif_reverse_weights``, ``position_decay_bp``
            (one per motif, bp), ``motif_interactions`` (``[i, j, c]``), plus ``roles``
            (``activator`` / ``repressor`` per motif) and ``drawn`` (the keys drawn from the
            seed).
        """
        return {
            "motifs": [decode(m) for m in self.motifs],
            "motif_effects": self.effects.tolist(),
            "motif_reverse_weights": self.reverse_weights.tolist(),
            "position_decay_bp": self.decay_bp.tolist(),
            "motif_interactions": [[i, j, c] for i, j, c in self.interactions],
            "roles": ["activator" if e > 0 else "repressor" for e in self.effects.tolist()],
            "drawn": list(self.drawn),
        }

    @property
    def n_motifs(self) -> int:
        """Number of motifs K."""
        return len(self.motifs)

    def matches(self, seqs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Forward and reverse matches of motif ``k``.

        Parameters
        ----------
        seqs : numpy.ndarray, shape (..., R), uint8 codes
        k : int

        Returns
        -------
        fwd, rev : numpy.ndarray, shape (..., R - m + 1), bool
            ``fwd[..., s]``: the motif starts at ``s``; ``rev``: its reverse complement does.
        """
        motif = self.motifs[k]
        rc = reverse_complement_codes(motif)
        m = motif.shape[0]
        n = seqs.shape[-1] - m + 1
        fwd = np.ones(seqs.shape[:-1] + (max(n, 0),), dtype=bool)
        rev = fwd.copy()
        for j in range(m):  # loop over motif positions, vectorised over sequences and starts
            col = seqs[..., j : j + n]
            fwd &= col == motif[j]
            rev &= col == rc[j]
        return fwd, rev

    def scores(
        self, seqs: np.ndarray, start: int, tss0: int, minus: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Motif scores and match counts of sequences that begin at contig position ``start``.

        Parameters
        ----------
        seqs : numpy.ndarray, shape (..., R), uint8 codes
            Sequences of the contig interval ``[start, start + R)`` (0-based, in bp).
        start : int
            0-based contig position of ``seqs[..., 0]``.
        tss0 : int
            0-based TSS position.
        minus : bool
            The gene is on the minus strand (its sense matches are the reverse ones).

        Returns
        -------
        scores : numpy.ndarray, shape (..., K), float64
            ``S_k`` per sequence.
        counts : numpy.ndarray, shape (..., K), int64
            Number of matches (both orientations) per motif.
        """
        out = np.zeros(seqs.shape[:-1] + (self.n_motifs,), dtype=np.float64)
        counts = np.zeros(seqs.shape[:-1] + (self.n_motifs,), dtype=np.int64)
        for k in range(self.n_motifs):
            fwd, rev = self.matches(seqs, k)
            m = self.motifs[k].shape[0]
            centre = start + np.arange(fwd.shape[-1]) + (m - 1) / 2
            w = np.exp(-np.abs(centre - tss0) / self.decay_bp[k])
            w_sense, w_anti = w, w * self.reverse_weights[k]
            w_fwd, w_rev = (w_anti, w_sense) if minus else (w_sense, w_anti)
            out[..., k] = fwd @ w_fwd + rev @ w_rev
            counts[..., k] = fwd.sum(axis=-1) + rev.sum(axis=-1)
        return out, counts

    def linear(self, scores: np.ndarray) -> np.ndarray:
        """Linear grammar value ``sum_k effects[k] * S_k``, shape ``scores.shape[:-1]``."""
        return scores @ self.effects

    def interaction(self, scores: np.ndarray) -> np.ndarray:
        """Interaction term ``sum_p c_p S_i S_j`` (zeros without pairs), shape ``scores.shape[:-1]``."""
        out = np.zeros(scores.shape[:-1])
        for i, j, c in self.interactions:
            out += c * scores[..., i] * scores[..., j]
        return out
