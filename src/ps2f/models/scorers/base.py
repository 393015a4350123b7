"""The one scorer interface every reference-scoring model implements.

A *scorer* gives each haplotype of each (gene, individual) pair a number; the workflow's
``score_external`` rule (:func:`ps2f.pipeline.score.run_score_external`) aggregates the two
haplotypes (``mean`` or ``sum``) into the prediction of the shared predictions table
(:mod:`ps2f.schema`), so evaluation never knows which model produced a row. This is the
protocol used to evaluate Enformer on personal genomes: each haplotype is scored alone and the
scores are combined (Huang et al. 2023, Sasse et al. 2023).

Sequence scorers (the r-model, Enformer, AlphaGenome) read the haplotype codes built by
:class:`ps2f.genome.haplotypes.HaplotypeBuilder`: ``(B, 2, L)`` uint8, oriented 5'->3' on the
gene's strand (minus-strand genes reverse-complemented), TSS at index ``L // 2``. Table
scorers (precomputed scores) set ``window_bp = None`` and read only the IDs.

This module imports neither torch nor any model library.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ps2f.errors import ConfigError

__all__ = [
    "AGGREGATIONS",
    "DEVICES",
    "resolve_device",
    "HaplotypeBatch",
    "Scorer",
    "SequenceScorer",
    "aggregate_haplotypes",
    "unique_sequences",
    "track_set_label",
    "tissue_track_lists",
    "tissue_tracks_of",
    "configured_track_sets",
]

AGGREGATIONS: tuple[str, ...] = ("mean", "sum")
#: ``device`` values of the torch scorers.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(device: str):
    """The torch device of a scorer's ``device`` setting.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``auto``: CUDA when available, else CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ps2f.errors.ConfigError
        An unknown value, or ``cuda`` without a CUDA device.
    """
    import torch

    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was requested but no CUDA device is available")
    return torch.device(device)


@dataclass(frozen=True)
class HaplotypeBatch:
    """The (gene, individual) pairs of one scoring call, with their haplotypes.

    Parameters
    ----------
    genes : numpy.ndarray, shape (B,), str
        Gene IDs as in the phenotypes tables (the expression file's IDs).
    individuals : numpy.ndarray, shape (B,), str
        Sample IDs.
    strands : numpy.ndarray, shape (B,), str
        ``"+"`` or ``"-"``: the gene's strand (the codes are already oriented on it).
    codes : numpy.ndarray, shape (B, 2, L), uint8, or None
        Both haplotypes (``A=0, C=1, G=2, T=3, N=4``; :mod:`ps2f.genome.encoding`), TSS at
        ``L // 2``; ``None`` for scorers with ``window_bp = None``.
    tss0 : numpy.ndarray, shape (B,), int64, or None
        Each pair's 0-based TSS position (the genes table's ``tss0``, the centre of its
        window), for scorers that place annotation in the window (Borzoi's exon readout);
        ``None`` when the caller does not give it.

    Raises
    ------
    ValueError
        Lengths differ, or ``codes`` is not ``(B, 2, L)`` uint8.
    """

    genes: np.ndarray
    individuals: np.ndarray
    strands: np.ndarray
    codes: np.ndarray | None = None
    tss0: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.genes)
        if len(self.individuals) != n or len(self.strands) != n:
            raise ValueError(
                f"HaplotypeBatch: {n} genes, {len(self.individuals)} individuals and "
                f"{len(self.strands)} strands; they must be equal"
            )
        if self.tss0 is not None and np.shape(self.tss0) != (n,):
            raise ValueError(f"HaplotypeBatch.tss0 must have shape ({n},), got {np.shape(self.tss0)}")
        if self.codes is not None:
            c = self.codes
            if c.dtype != np.uint8 or c.ndim != 3 or c.shape[:2] != (n, 2):
                raise ValueError(
                    f"HaplotypeBatch.codes must be uint8 of shape ({n}, 2, L), got "
                    f"{c.dtype} {c.shape}"
                )

    def __len__(self) -> int:
        return len(self.genes)


@runtime_checkable
class Scorer(Protocol):
    """What the scoring rule needs from a model.

    Attributes
    ----------
    name : str
        The model's name in the predictions table.
    window_bp : int or None
        Input length L in bp (TSS at ``L // 2``), or ``None`` if the scorer reads no sequence.
    """

    name: str
    window_bp: int | None

    def score_haplotypes(self, batch: HaplotypeBatch) -> np.ndarray:
        """Score each haplotype.

        Parameters
        ----------
        batch : HaplotypeBatch
            ``codes`` is ``(B, 2, window_bp)`` uint8 for sequence scorers, ``None`` otherwise.

        Returns
        -------
        numpy.ndarray, shape (B, 2) or (B, 2, S), float64
            Model units; NaN where the scorer has no score for a pair (e.g. absent from a
            precomputed table): such pairs are left out of the predictions. ``(B, 2, S)``
            for a scorer reading S > 1 track sets (``n_track_sets``; config
            ``tissue_tracks``).
        """
        ...

    def describe(self) -> str:
        """One line for the log: what is scored and how (no secrets)."""
        ...


# ----------------------------------------------------------------------------------------------
# track sets: one forward pass, one readout per set (config `tissue_tracks`)


def track_set_label(tracks: Sequence[Any]) -> str:
    """The name of a track list in the shared haplotype-score table (column ``track_set``).

    The list as configured, in compact JSON: ``[0,2]``, ``["CAGE:brain"]``, ``[]`` (a scorer
    without tracks, or an AlphaGenome scorer's "every track on + or ."). Two spellings of the
    same tracks (``5110`` and ``"5110"``) are two sets, each scored (their readouts are equal).

    Parameters
    ----------
    tracks : sequence of int or str

    Returns
    -------
    str
    """
    return json.dumps(list(tracks), separators=(",", ":"))


def tissue_track_lists(spec: Mapping[str, Any], key: str) -> list[tuple[str, list, str]]:
    """The ``tissue_tracks`` entries of a scorer config, checked for shape.

    Parameters
    ----------
    spec : mapping
        A scorer config with its defaults filled in.
    key : str
        Where the spec sits in the config, e.g. ``"scorers[0]"``.

    Returns
    -------
    list of (str, list, str)
        ``(tissue, tracks, key of the list)``, the key being ``<key>.tissue_tracks.<tissue>``
        (what each type's track check names in its messages).

    Raises
    ------
    ps2f.errors.ConfigError
        ``tissue_tracks`` is not a mapping, or an entry is not a list.
    """
    mapping = spec.get("tissue_tracks") or {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"{key}.tissue_tracks {mapping!r}: give a mapping of tissue name to its track list, "
            f"e.g. {{Brain: [4980]}}"
        )
    out = []
    for tissue, tracks in mapping.items():
        k = f"{key}.tissue_tracks.{tissue}"
        if not isinstance(tracks, (list, tuple)):
            raise ConfigError(
                f"{k} {tracks!r}: give a list of tracks, in the form of {key}.tracks"
            )
        out.append((str(tissue), list(tracks), k))
    return out


def tissue_tracks_of(spec: Mapping[str, Any], tissue: str | None) -> list:
    """The tracks a tissue reads: its ``tissue_tracks`` entry, else the scorer's ``tracks``.

    Parameters
    ----------
    spec : mapping
        A scorer config (a type without tracks, ``precomputed``, gives ``[]``).
    tissue : str or None
        None: the scorer's ``tracks``.

    Returns
    -------
    list
    """
    mapping = spec.get("tissue_tracks") or {}
    if tissue is not None and tissue in mapping:
        return list(mapping[tissue])
    return list(spec.get("tracks") or [])


def configured_track_sets(spec: Mapping[str, Any]) -> list[list]:
    """The distinct track lists a scorer reads from each forward pass, in scoring order.

    The scorer's ``tracks`` first, then each ``tissue_tracks`` list in config order, each
    list once (compared by :func:`track_set_label`). Every type's ``from_config`` scores these
    sets, and rule ``score_haplotypes`` labels its scores with them, in this order.

    Parameters
    ----------
    spec : mapping
        A scorer config.

    Returns
    -------
    list of list
        S >= 1 track lists, as configured (not yet resolved to indices).
    """
    sets = [tissue_tracks_of(spec, None)]
    seen = {track_set_label(sets[0])}
    for tracks in (spec.get("tissue_tracks") or {}).values():
        label = track_set_label(tracks)
        if label not in seen:
            seen.add(label)
            sets.append(list(tracks))
    return sets


def unique_sequences(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a code matrix, in order of first appearance.

    Individuals share many haplotypes (common variants only, short windows), and every scorer
    is a per-sequence function in inference mode, so scoring each distinct sequence once is
    exact. Rows are compared by a 128-bit BLAKE2b digest.

    Parameters
    ----------
    codes : numpy.ndarray, shape (N, L), uint8

    Returns
    -------
    unique : numpy.ndarray, shape (U, L), uint8
    inverse : numpy.ndarray, shape (N,), int64
        ``unique[inverse] == codes``.
    """
    codes = np.ascontiguousarray(codes)
    first: dict[bytes, int] = {}
    inverse = np.empty(len(codes), dtype=np.int64)
    keep: list[int] = []
    for i, row in enumerate(codes):
        d = hashlib.blake2b(row.data, digest_size=16).digest()
        j = first.get(d)
        if j is None:
            j = first[d] = len(keep)
            keep.append(i)
        inverse[i] = j
    return codes[np.asarray(keep, dtype=np.int64)], inverse


def aggregate_haplotypes(scores: np.ndarray, how: str) -> np.ndarray:
    """Combine the two haplotype scores of each pair into one prediction.

    Parameters
    ----------
    scores : numpy.ndarray, shape (B, 2), float
    how : {"mean", "sum"}
        ``mean``: the protocol of Huang et al. 2023 and Sasse et al. 2023 (each haplotype
        scored alone, then averaged); ``sum``: total over both copies. Per-gene r across
        individuals is the same for both.

    Returns
    -------
    numpy.ndarray, shape (B,), float64
        NaN where either haplotype is NaN.

    Raises
    ------
    ValueError
        Unknown ``how`` or wrong shape.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != 2:
        raise ValueError(f"haplotype scores must have shape (B, 2), got {scores.shape}")
    if how == "mean":
        return scores.mean(axis=1)
    if how == "sum":
        return scores.sum(axis=1)
    raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {how!r}")


class SequenceScorer(ABC):
    """Base class of scorers that read sequence: checks shapes and scores each sequence once.

    Subclasses set ``name`` and ``window_bp`` and implement :meth:`score_sequences`.
    ``n_windows`` and ``n_distinct`` count the haplotype windows asked for and the distinct
    ones scored (the dedup factor of a run is their ratio; the scoring log reports it).

    A scorer that reads several track sets from one forward pass (config ``tissue_tracks``)
    sets ``track_sets`` to its S lists; with S > 1, :meth:`score_sequences` returns
    ``(N, S)`` and :meth:`score_haplotypes` ``(B, 2, S)``, column ``s`` being exactly what a
    scorer of set ``s`` alone returns. ``track_sets`` None (or one set): the single-set shapes.
    """

    name: str
    window_bp: int
    n_windows: int = 0
    n_distinct: int = 0
    track_sets: list[list] | None = None

    @property
    def n_track_sets(self) -> int:
        """S, the track sets read from each forward pass (1 without ``track_sets``)."""
        return 1 if self.track_sets is None else len(self.track_sets)

    def _score_shape(self, n: int) -> tuple[int, ...]:
        """``(n,)`` for one track set, ``(n, S)`` for several."""
        return (n,) if self.n_track_sets == 1 else (n, self.n_track_sets)

    def score_haplotypes(self, batch: HaplotypeBatch) -> np.ndarray:
        """Score both haplotypes of each pair (distinct sequences once; see :class:`Scorer`).

        Returns
        -------
        numpy.ndarray, shape (B, 2) or (B, 2, S), float64
            ``(B, 2, S)`` when the scorer reads S > 1 track sets (``track_sets``).

        Raises
        ------
        ValueError
            ``batch.codes`` is missing or its length is not ``window_bp``, or
            :meth:`score_sequences` returns the wrong shape.
        """
        codes = batch.codes
        if codes is None:
            raise ValueError(f"scorer {self.name!r} reads sequence but the batch has no codes")
        if codes.shape[2] != self.window_bp:
            raise ValueError(
                f"scorer {self.name!r} takes {self.window_bp}-bp windows, got {codes.shape[2]} bp"
            )
        unique, inverse = unique_sequences(codes.reshape(-1, codes.shape[2]))
        self.n_windows += len(inverse)
        self.n_distinct += len(unique)
        scores = np.asarray(self.score_sequences(unique), dtype=np.float64)
        if scores.shape != self._score_shape(len(unique)):
            raise ValueError(
                f"scorer {self.name!r}: score_sequences returned shape {scores.shape}, expected "
                f"{self._score_shape(len(unique))}"
            )
        return scores[inverse].reshape(len(batch), 2, *scores.shape[1:])

    @abstractmethod
    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score single sequences.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
            Strand-oriented windows, TSS at ``window_bp // 2``.

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            ``(N, S)`` when the scorer reads S > 1 track sets (``track_sets``).
        """

    def describe(self) -> str:
        """One line for the log."""
        return f"{type(self).__name__} {self.name!r}, {self.window_bp} bp windows"
