"""AlphaGenome (Avsec et al. 2025/2026) through the official ``alphagenome`` client, with a cache.

Each distinct haplotype window is sent once to the AlphaGenome API
(``DnaClient.predict_sequences``: one sequence per request, ``max_workers`` in flight, the
client retrying rate-limit errors); the requested output type's tracks for the configured
ontology terms come back at their native resolution. Each response is cut to
``+- cache_flank_bp`` around the TSS and cached on disk, keyed by the SHA-256 of the sequence
and the output type (plus a fingerprint of the ontology terms, model version, window and
crop), so a re-run, or a run after an interruption, only requests what is missing and a fully
cached run needs neither network nor key.

Score of a haplotype: the selected tracks summed over ``tss_window_bp`` centred on the TSS
(default 384 bp, the span of Enformer's three centre bins), averaged over tracks. The window
is sent in the gene's orientation (as for Enformer: minus-strand genes reverse-complemented),
so by default the tracks read are those on ``+`` (and unstranded ``.``) of the input.

Key: read from the environment variable ``ALPHAGENOME_API_KEY`` only (never from config files;
never logged). Without a key and with uncached sequences the scorer stops with a
:class:`ps2f.errors.ConfigError` that says how to proceed (set the key, or import scores with a
``precomputed`` scorer).

Environment: the client needs ``anndata``, which pins ``pandas<3``, so it lives in its own
environment (``envs/alphagenome.yaml``, or ``make alphagenome-env`` -> ``.venv-alphagenome``;
see :func:`ps2f.pipeline.score.run_score_external` for the ``python`` key). Request
building and response parsing here are plain Python over simple objects (anything with the
attributes ``values``, ``metadata``, ``resolution``), so they are tested without the client.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, Ps2fError
from ps2f.models.scorers.base import SequenceScorer, configured_track_sets, tissue_track_lists

__all__ = [
    "API_KEY_ENV",
    "SUPPORTED_LENGTHS",
    "OUTPUT_TYPES",
    "DEFAULTS",
    "REQUIRED",
    "SequenceRequest",
    "TrackWindow",
    "sequence_key",
    "build_requests",
    "parse_output",
    "ResponseCache",
    "AlphaGenomeService",
    "ClientService",
    "AlphaGenomeScorer",
    "check_tracks",
    "check_config",
    "check_api_key",
    "from_config",
]

log = logging.getLogger(__name__)

API_KEY_ENV = "ALPHAGENOME_API_KEY"
#: Input lengths the service accepts (alphagenome 0.10: 16 kb, 128 kb, 512 kb, 1 Mb).
SUPPORTED_LENGTHS: tuple[int, ...] = (2**14, 2**17, 2**19, 2**20)
#: Track-valued output types (splice junctions and contact maps are not per-position tracks).
OUTPUT_TYPES: tuple[str, ...] = (
    "ATAC",
    "CAGE",
    "DNASE",
    "RNA_SEQ",
    "CHIP_HISTONE",
    "CHIP_TF",
    "PROCAP",
)
REQUIRED: tuple[str, ...] = ()
DEFAULTS: dict[str, Any] = {
    "aggregate": "mean",
    "window_bp": 2**20,
    "output_type": "CAGE",
    "ontology_terms": ["EFO:0002784"],
    "tracks": [],
    "tss_window_bp": 384,
    "cache_dir": "results/cache/alphagenome",
    "cache_flank_bp": 8192,
    "request_batch_size": 16,
    "max_workers": 5,
    "model_version": None,
    "python": None,
    "tissue_tracks": {},
}
_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)
_KEY_HELP = (
    f"export {API_KEY_ENV}=<your key> (keys: https://deepmind.google.com/science/alphagenome; "
    f"on a cluster also pass `--envvars {API_KEY_ENV}` to snakemake), or run AlphaGenome "
    f"elsewhere and import its scores with a scorer of type 'precomputed'"
)


class AlphaGenomeError(Ps2fError):
    """A response from the AlphaGenome service does not have the expected content."""


# ----------------------------------------------------------------------------------------------
# requests


@dataclass(frozen=True)
class SequenceRequest:
    """One sequence to send.

    Attributes
    ----------
    key : str
        SHA-256 (hex) of the ASCII sequence: the cache key.
    sequence : str
        ``ACGTN`` letters, length ``window_bp``, TSS at ``window_bp // 2``.
    """

    key: str
    sequence: str


def sequence_key(sequence: str | bytes) -> str:
    """SHA-256 hex digest of an ASCII sequence (the cache key)."""
    if isinstance(sequence, str):
        sequence = sequence.encode("ascii")
    return hashlib.sha256(sequence).hexdigest()


def build_requests(codes: np.ndarray) -> tuple[list[SequenceRequest], list[str]]:
    """The distinct sequences to request for a batch of windows.

    Parameters
    ----------
    codes : numpy.ndarray, shape (N, L), uint8
        Codes ``A=0, C=1, G=2, T=3, N=4`` (:mod:`ps2f.genome.encoding`).

    Returns
    -------
    requests : list of SequenceRequest
        One per distinct sequence, in order of first appearance.
    keys : list of str
        The key of each of the N rows.

    Raises
    ------
    ValueError
        ``codes`` is not a 2-D uint8 array of codes 0-4.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8 or (codes.size and codes.max() > 4):
        raise ValueError(f"expected (N, L) uint8 codes in 0..4, got {codes.dtype} {codes.shape}")
    requests: dict[str, SequenceRequest] = {}
    keys: list[str] = []
    for row in codes:
        ascii_bytes = _DECODE[row].tobytes()
        k = sequence_key(ascii_bytes)
        if k not in requests:
            requests[k] = SequenceRequest(k, ascii_bytes.decode("ascii"))
        keys.append(k)
    return list(requests.values()), keys


# ----------------------------------------------------------------------------------------------
# responses


@dataclass(frozen=True)
class TrackWindow:
    """The tracks of one response around the TSS (what the cache stores).

    Attributes
    ----------
    values : numpy.ndarray, shape (W, T), float32
        Track values in bins of ``resolution`` bp; row 0 starts at ``start_bp`` of the input.
    start_bp : int
        Input position (0-based, bp) where row 0 starts.
    resolution : int
        Bin size in bp.
    names, strands, ontology_curies : numpy.ndarray, shape (T,), str
        Track metadata (``ontology_curies`` is ``""`` where the response has none).
    """

    values: np.ndarray
    start_bp: int
    resolution: int
    names: np.ndarray
    strands: np.ndarray
    ontology_curies: np.ndarray

    def select(self, tracks: Sequence[str] = ()) -> np.ndarray:
        """Column indices of the tracks to read.

        Parameters
        ----------
        tracks : sequence of str
            Exact track names; empty: every track on ``+`` or unstranded (``.``), i.e. on the
            gene's strand of the gene-oriented input.

        Raises
        ------
        AlphaGenomeError
            An unknown name (the available ones are listed), or no track on ``+``/``.``.
        """
        if tracks:
            pos = {n: i for i, n in enumerate(self.names)}
            missing = [t for t in tracks if t not in pos]
            if missing:
                raise AlphaGenomeError(
                    f"tracks {missing} are not in the response; it has {list(self.names)[:20]}"
                )
            return np.array([pos[t] for t in tracks], dtype=np.int64)
        sel = np.flatnonzero(np.isin(self.strands, ["+", "."]))
        if not len(sel):
            raise AlphaGenomeError(
                f"no track on '+' or '.' among {list(zip(self.names, self.strands, strict=True))[:10]}"
            )
        return sel

    def tss_score(self, tss_bp: int, tss_window_bp: int, tracks: Sequence[str] = ()) -> float:
        """Sum of the selected tracks over ``[tss - w // 2, tss - w // 2 + w)``, mean over tracks.

        Parameters
        ----------
        tss_bp : int
            TSS position in the input (``window_bp // 2``).
        tss_window_bp : int
            Width w in bp; bins partly inside count whole.
        tracks : sequence of str
            See :meth:`select`.

        Raises
        ------
        AlphaGenomeError
            The window reaches past the cached crop (raise ``cache_flank_bp``), or see
            :meth:`select`.
        """
        a = tss_bp - tss_window_bp // 2 - self.start_bp
        b = a + tss_window_bp
        lo, hi = a // self.resolution, -(-b // self.resolution)
        if lo < 0 or hi > len(self.values):
            raise AlphaGenomeError(
                f"tss_window_bp {tss_window_bp} reaches past the cached "
                f"{len(self.values) * self.resolution} bp around the TSS; raise cache_flank_bp"
            )
        cols = self.select(tracks)
        return float(self.values[lo:hi][:, cols].astype(np.float64).sum(axis=0).mean())


def parse_output(output: Any, output_type: str, window_bp: int, flank_bp: int) -> TrackWindow:
    """Read one ``predict_sequence`` response and keep ``+- flank_bp`` around the TSS.

    Parameters
    ----------
    output : object
        ``alphagenome.models.dna_output.Output`` or anything with an attribute named
        ``output_type.lower()`` (e.g. ``cage``) holding ``values`` (array ``(positions,
        tracks)``), ``metadata`` (DataFrame with ``name``, ``strand``, optional
        ``ontology_curie``) and ``resolution`` (bp, default 1).
    output_type : str
        E.g. ``"CAGE"``, ``"RNA_SEQ"``.
    window_bp : int
        Length of the sequence sent (TSS at ``window_bp // 2``).
    flank_bp : int
        Half-width of the crop kept.

    Returns
    -------
    TrackWindow

    Raises
    ------
    AlphaGenomeError
        The output type is absent, the values are not ``(positions, tracks)``, no track came
        back (no track of this type for the ontology terms), the metadata do not match the
        values, or the positions do not cover ``window_bp``.
    """
    data = getattr(output, output_type.lower(), None)
    if data is None:
        raise AlphaGenomeError(f"the response has no {output_type} output")
    values = np.asarray(data.values)
    if values.ndim != 2:
        raise AlphaGenomeError(
            f"{output_type} values have shape {values.shape}; expected (positions, tracks)"
        )
    meta = data.metadata
    if not isinstance(meta, pd.DataFrame) or not {"name", "strand"} <= set(meta.columns):
        raise AlphaGenomeError(f"{output_type} metadata must be a table with 'name' and 'strand'")
    if values.shape[1] == 0 or len(meta) == 0:
        raise AlphaGenomeError(
            f"no {output_type} track came back for the requested ontology terms; check "
            f"ontology_terms (e.g. EFO:0002784 = GM12878) and output_type"
        )
    if len(meta) != values.shape[1]:
        raise AlphaGenomeError(
            f"{output_type}: {values.shape[1]} value columns but {len(meta)} metadata rows"
        )
    res = int(getattr(data, "resolution", 1) or 1)
    if values.shape[0] * res != window_bp:
        raise AlphaGenomeError(
            f"{output_type}: {values.shape[0]} positions x {res} bp != the {window_bp} bp sent"
        )
    centre = (window_bp // 2) // res
    half = math.ceil(flank_bp / res)
    lo, hi = max(0, centre - half), min(values.shape[0], centre + half + 1)
    curies = (
        meta["ontology_curie"].fillna("").astype(str).to_numpy()
        if "ontology_curie" in meta.columns
        else np.full(len(meta), "", dtype=object)
    )
    return TrackWindow(
        values=np.ascontiguousarray(values[lo:hi], dtype=np.float32),
        start_bp=lo * res,
        resolution=res,
        names=meta["name"].astype(str).to_numpy().astype(str),
        strands=meta["strand"].astype(str).to_numpy().astype(str),
        ontology_curies=np.asarray(curies).astype(str),
    )


# ----------------------------------------------------------------------------------------------
# cache


class ResponseCache:
    """Responses on disk: ``root/<output_type>/<fingerprint>/<key[:2]>/<key>.npz``.

    Parameters
    ----------
    root : str or pathlib.Path
        Cache directory (created on first write).
    output_type : str
    fingerprint : dict
        Request settings other than the sequence (ontology terms, model version, window,
        crop); hashed into the directory name, so changing them never reuses a stale entry.
    """

    def __init__(self, root: str | Path, output_type: str, fingerprint: Mapping[str, Any]):
        digest = hashlib.sha256(json.dumps(dict(fingerprint), sort_keys=True).encode()).hexdigest()
        self.dir = Path(root) / output_type / digest[:16]
        self.fingerprint = dict(fingerprint)

    def path(self, key: str) -> Path:
        """File of one sequence key."""
        return self.dir / key[:2] / f"{key}.npz"

    def get(self, key: str) -> TrackWindow | None:
        """The cached window, or None (an unreadable entry counts as missing and is removed)."""
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return TrackWindow(
                    values=z["values"],
                    start_bp=int(z["start_bp"]),
                    resolution=int(z["resolution"]),
                    names=z["names"],
                    strands=z["strands"],
                    ontology_curies=z["ontology_curies"],
                )
        except Exception as exc:  # truncated by a kill: request again
            log.warning("unreadable AlphaGenome cache entry %s (%s); requesting again", p, exc)
            p.unlink(missing_ok=True)
            return None

    def put(self, key: str, window: TrackWindow) -> None:
        """Write one entry atomically."""
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "request.json"
        if not meta.exists():
            meta.write_text(json.dumps(self.fingerprint, sort_keys=True, indent=1))
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            values=window.values,
            start_bp=np.int64(window.start_bp),
            resolution=np.int64(window.resolution),
            names=np.asarray(window.names, dtype=str),
            strands=np.asarray(window.strands, dtype=str),
            ontology_curies=np.asarray(window.ontology_curies, dtype=str),
        )
        os.replace(tmp, p)


# ----------------------------------------------------------------------------------------------
# the service


class AlphaGenomeService(Protocol):
    """Anything that turns sequences into responses (the real client, or a test double)."""

    def predict(self, sequences: list[str]) -> list[Any]:
        """One response per sequence, in order (see :func:`parse_output`)."""
        ...


def _import_client():
    try:
        from alphagenome.models import dna_client
    except ImportError as exc:
        raise Ps2fError(
            f"the AlphaGenome scorer needs the official client ({exc}). Its dependencies "
            f"(anndata: pandas<3) conflict with ps2f's stack, so it has its own environment: "
            f"`snakemake --software-deployment-method conda` (envs/alphagenome.yaml), or "
            f"`make alphagenome-env` and set the scorer's `python: .venv-alphagenome/bin/python`"
        ) from exc
    return dna_client


class ClientService:
    """The official client (``alphagenome.models.dna_client``).

    Parameters
    ----------
    api_key : str
        Never stored beyond the client's request metadata, never logged.
    output_type : str
        One of :data:`OUTPUT_TYPES`.
    ontology_terms : sequence of str
        E.g. ``["EFO:0002784"]`` (GM12878); empty = every ontology (large responses).
    model_version : str, optional
        A ``dna_client.ModelVersion`` name; None = the service's default.
    max_workers : int
        Requests in flight (the client's default is 5).
    connect_timeout_s : float
        How long to wait for the service's channel (the client's default waits forever).

    Raises
    ------
    ps2f.errors.ConfigError
        Unknown output type or model version.
    ps2f.errors.Ps2fError
        The client is not installed, or the service cannot be reached in time.
    """

    def __init__(
        self,
        api_key: str,
        output_type: str,
        ontology_terms: Sequence[str],
        model_version: str | None = None,
        max_workers: int = 5,
        connect_timeout_s: float = 60.0,
    ) -> None:
        dna_client = _import_client()
        try:
            version = dna_client.ModelVersion[model_version] if model_version else None
            outputs = [dna_client.OutputType[output_type]]
        except KeyError as exc:
            raise ConfigError(
                f"unknown AlphaGenome setting {exc}; model versions "
                f"{[v.name for v in dna_client.ModelVersion]}, output types "
                f"{[o.name for o in dna_client.OutputType]}"
            ) from None
        try:
            self._client = dna_client.create(
                api_key, model_version=version, timeout=connect_timeout_s
            )
        except Exception as exc:  # grpc.FutureTimeoutError when offline
            raise Ps2fError(
                f"cannot reach the AlphaGenome service within {connect_timeout_s:g} s "
                f"({type(exc).__name__}); is there network access from this machine? Cached "
                f"sequences need none: only uncached ones are requested"
            ) from exc
        self._outputs = outputs
        self._terms = list(ontology_terms) or None
        self._max_workers = int(max_workers)

    def predict(self, sequences: list[str]) -> list[Any]:
        """``DnaClient.predict_sequences`` for one batch."""
        return self._client.predict_sequences(
            sequences,
            requested_outputs=self._outputs,
            ontology_terms=self._terms,
            progress_bar=False,
            max_workers=self._max_workers,
        )


# ----------------------------------------------------------------------------------------------
# the scorer


class AlphaGenomeScorer(SequenceScorer):
    """Score haplotypes with AlphaGenome through the API, caching every response.

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    window_bp : int
        One of :data:`SUPPORTED_LENGTHS` (1,048,576: the model's full context).
    output_type : str
        One of :data:`OUTPUT_TYPES`.
    ontology_terms : sequence of str
        Ontology CURIEs of the tracks (``EFO:0002784``: GM12878, for LCLs).
    tracks : sequence of str
        Exact track names to read; empty: all tracks on ``+``/``.`` (see
        :meth:`TrackWindow.select`), averaged.
    tss_window_bp : int
        Width summed around the TSS, in bp.
    cache_dir : str or pathlib.Path
        Response cache (:class:`ResponseCache`).
    cache_flank_bp : int
        Half-width of the crop cached around the TSS, in bp (>= ``tss_window_bp / 2``).
    request_batch_size : int
        Sequences per ``predict_sequences`` call; the cache is written after each.
    max_workers : int
        Requests in flight.
    model_version : str, optional
    service_factory : callable, optional
        Returns an :class:`AlphaGenomeService`; default: :class:`ClientService` with the key
        from ``ALPHAGENOME_API_KEY``. Called only when a sequence is not cached.
    track_sets : sequence of sequence of str, optional
        Every track set read from each response (config ``tissue_tracks``: ``tracks`` first,
        then each tissue's; one request per sequence serves them all, so the ontology terms
        must cover every set's tracks); with S > 1 sets :meth:`score_sequences` returns
        ``(N, S)``. None: ``[tracks]``.

    Attributes
    ----------
    n_cached, n_requested : int
        Distinct sequences served from the cache and requested, so far.
    """

    def __init__(
        self,
        name: str,
        window_bp: int = DEFAULTS["window_bp"],
        output_type: str = DEFAULTS["output_type"],
        ontology_terms: Sequence[str] = tuple(DEFAULTS["ontology_terms"]),
        tracks: Sequence[str] = (),
        tss_window_bp: int = DEFAULTS["tss_window_bp"],
        cache_dir: str | Path = DEFAULTS["cache_dir"],
        cache_flank_bp: int = DEFAULTS["cache_flank_bp"],
        request_batch_size: int = DEFAULTS["request_batch_size"],
        max_workers: int = DEFAULTS["max_workers"],
        model_version: str | None = None,
        service_factory: Callable[[], AlphaGenomeService] | None = None,
        track_sets: Sequence[Sequence[str]] | None = None,
    ) -> None:
        _check_settings(
            window_bp, output_type, tss_window_bp, cache_flank_bp, request_batch_size, max_workers
        )
        self.name = name
        self.window_bp = int(window_bp)
        self.output_type = output_type
        self.ontology_terms = [str(t) for t in ontology_terms]
        self.tracks = [str(t) for t in tracks]
        if track_sets is not None:
            self.track_sets = [[str(t) for t in ts] for ts in track_sets]
        self.tss_window_bp = int(tss_window_bp)
        self.cache_flank_bp = int(cache_flank_bp)
        self.request_batch_size = int(request_batch_size)
        self.max_workers = int(max_workers)
        self.model_version = model_version
        self.cache = ResponseCache(
            cache_dir,
            output_type,
            {
                "ontology_terms": sorted(self.ontology_terms),
                "model_version": model_version,
                "window_bp": self.window_bp,
                "cache_flank_bp": self.cache_flank_bp,
            },
        )
        self._service_factory = service_factory
        self._service: AlphaGenomeService | None = None
        self.n_cached = 0
        self.n_requested = 0

    def describe(self) -> str:
        """Output, ontology, tracks, window and cache (never the key)."""
        tracks = self.tracks or "on + / ."
        if self.n_track_sets > 1:
            tracks = f"sets {[ts or 'on + / .' for ts in self.track_sets]}"
        return (
            f"AlphaGenome {self.name!r}: {self.output_type} {self.ontology_terms} tracks "
            f"{tracks} summed over {self.tss_window_bp} bp at the TSS, "
            f"{self.window_bp} bp windows, cache {self.cache.dir}"
        )

    def _get_service(self, n_missing: int) -> AlphaGenomeService:
        if self._service is None:
            if self._service_factory is not None:
                self._service = self._service_factory()
            else:
                key = os.environ.get(API_KEY_ENV, "").strip()
                if not key:
                    raise ConfigError(
                        f"AlphaGenome scorer {self.name!r}: {n_missing} sequences are not in the "
                        f"cache ({self.cache.dir}) and {API_KEY_ENV} is not set; {_KEY_HELP}"
                    )
                self._service = ClientService(
                    key, self.output_type, self.ontology_terms, self.model_version, self.max_workers
                )
        return self._service

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score sequences from the cache, requesting the missing ones in batches.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            ``(N, S)`` for S > 1 ``track_sets``, each read from the same response.

        Raises
        ------
        ps2f.errors.ConfigError
            Uncached sequences and no ``ALPHAGENOME_API_KEY``.
        ps2f.errors.Ps2fError
            The client is not installed, a request failed (the batches already answered stay
            cached), or a response is malformed.
        """
        if codes.shape[1:] != (self.window_bp,):
            raise ValueError(f"expected codes of shape (N, {self.window_bp}), got {codes.shape}")
        requests, keys = build_requests(codes)
        windows = {r.key: self.cache.get(r.key) for r in requests}
        missing = [r for r in requests if windows[r.key] is None]
        self.n_cached += len(requests) - len(missing)
        if missing:
            service = self._get_service(len(missing))
            for s in range(0, len(missing), self.request_batch_size):
                batch = missing[s : s + self.request_batch_size]
                try:
                    outputs = list(service.predict([r.sequence for r in batch]))
                except Ps2fError:
                    raise
                except Exception as exc:
                    raise Ps2fError(
                        f"AlphaGenome request failed after {s} of {len(missing)} new sequences "
                        f"(those are cached; re-run to resume): {type(exc).__name__}: {exc}"
                    ) from exc
                if len(outputs) != len(batch):
                    raise AlphaGenomeError(
                        f"{len(batch)} sequences sent but {len(outputs)} responses came back"
                    )
                for r, out in zip(batch, outputs, strict=True):
                    w = parse_output(out, self.output_type, self.window_bp, self.cache_flank_bp)
                    self.cache.put(r.key, w)
                    windows[r.key] = w
                self.n_requested += len(batch)
                log.info(
                    "AlphaGenome %s: %d/%d new sequences answered and cached",
                    self.name,
                    s + len(batch),
                    len(missing),
                )
        tss = self.window_bp // 2
        if self.track_sets is None:
            return np.array(
                [windows[k].tss_score(tss, self.tss_window_bp, self.tracks) for k in keys],
                dtype=np.float64,
            )
        return np.array(
            [[windows[k].tss_score(tss, self.tss_window_bp, ts) for ts in self.track_sets]
             for k in keys],
            dtype=np.float64,
        ).reshape(len(keys), len(self.track_sets))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# config


def _check_settings(
    window_bp: int,
    output_type: str,
    tss_window_bp: int,
    cache_flank_bp: int,
    request_batch_size: int,
    max_workers: int,
    key: str = "alphagenome",
) -> None:
    if int(window_bp) not in SUPPORTED_LENGTHS:
        raise ConfigError(
            f"{key}.window_bp {window_bp}: AlphaGenome accepts {list(SUPPORTED_LENGTHS)} bp"
        )
    if output_type not in OUTPUT_TYPES:
        raise ConfigError(f"{key}.output_type {output_type!r}: one of {list(OUTPUT_TYPES)}")
    if int(tss_window_bp) < 1:
        raise ConfigError(f"{key}.tss_window_bp must be >= 1")
    if not int(tss_window_bp) // 2 < int(cache_flank_bp) <= int(window_bp) // 2:
        raise ConfigError(
            f"{key}.cache_flank_bp {cache_flank_bp}: must exceed tss_window_bp / 2 "
            f"({int(tss_window_bp) // 2}) and be at most window_bp / 2"
        )
    if int(request_batch_size) < 1 or int(max_workers) < 1:
        raise ConfigError(f"{key}.request_batch_size and max_workers must be >= 1")


def check_tracks(tracks: Any, key: str) -> None:
    """Check one track list (``tracks`` or a ``tissue_tracks`` entry at config key ``key``).

    Exact track names (strings), or empty for every track on ``+``/``.``; the names themselves
    are checked against the response (``alphagenome_local``: the track table, at build time).

    Raises
    ------
    ps2f.errors.ConfigError
        Not a list of strings.
    """
    if not isinstance(tracks, (list, tuple)) or not all(isinstance(t, str) for t in tracks):
        raise ConfigError(
            f"{key} {tracks!r}: give a list of exact track names (strings), or [] for every "
            f"track on + or unstranded"
        )


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time checks (no client import, no key needed).

    ``tracks`` and each ``tissue_tracks`` list are checked alike (:func:`check_tracks`).

    Raises
    ------
    ps2f.errors.ConfigError
    """
    _check_settings(
        spec["window_bp"],
        spec["output_type"],
        spec["tss_window_bp"],
        spec["cache_flank_bp"],
        spec["request_batch_size"],
        spec["max_workers"],
        key,
    )
    check_tracks(spec["tracks"], f"{key}.tracks")
    for _, tracks, k in tissue_track_lists(spec, key):
        check_tracks(tracks, k)
    if spec.get("python") and not os.access(str(spec["python"]), os.X_OK):
        raise ConfigError(
            f"{key}.python: {spec['python']!r} is not an executable; create it with "
            f"`make alphagenome-env` (-> .venv-alphagenome/bin/python)"
        )


def check_api_key(
    spec: Mapping[str, Any], key: str, environ: Mapping[str, str] | None = None
) -> None:
    """Parse-time check that a run can be answered: a key in the environment, or a cache.

    Called by ``workflow/rules/common.smk`` (not by :func:`check_config`, which must also pass
    where only the cache will be read). Without ``ALPHAGENOME_API_KEY`` and with no cached
    response at all under ``cache_dir``, every sequence would need the service: stop before any
    job runs. With some cached responses the run may still need the key for the others; that
    is checked when a sequence is found missing (:meth:`AlphaGenomeScorer.score_sequences`).

    Parameters
    ----------
    spec : mapping
        A ``type: alphagenome`` config entry with defaults filled in (``cache_dir``).
    key : str
        Where the spec sits in the config, e.g. ``"scorers[0]"``.
    environ : mapping, optional
        The environment (default ``os.environ``).

    Raises
    ------
    ps2f.errors.ConfigError
        No key and an empty (or absent) cache.
    """
    environ = os.environ if environ is None else environ
    if environ.get(API_KEY_ENV, "").strip():
        return
    cache = Path(str(spec["cache_dir"]))
    if cache.is_dir() and next(cache.rglob("*.npz"), None) is not None:
        return
    raise ConfigError(
        f"{key} (alphagenome {spec.get('name')!r}): {API_KEY_ENV} is not set in the environment "
        f"and the response cache {str(cache)!r} holds nothing, so no sequence can be scored; "
        f"{_KEY_HELP}"
    )


def from_config(spec: Mapping[str, Any], key: str) -> AlphaGenomeScorer:
    """Build the scorer of a ``type: alphagenome`` config entry (no request is made yet)."""
    sets = configured_track_sets(spec)
    return AlphaGenomeScorer(
        spec["name"],
        window_bp=spec["window_bp"],
        output_type=spec["output_type"],
        ontology_terms=spec["ontology_terms"],
        tracks=spec["tracks"],
        tss_window_bp=spec["tss_window_bp"],
        cache_dir=spec["cache_dir"],
        cache_flank_bp=spec["cache_flank_bp"],
        request_batch_size=spec["request_batch_size"],
        max_workers=spec["max_workers"],
        model_version=spec.get("model_version"),
        track_sets=sets if len(sets) > 1 else None,
    )
