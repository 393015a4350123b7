"""AlphaGenome (Avsec et al. 2025/2026) from local weights, through the ``alphagenome-pt`` port.

The same scoring as the API scorer (:mod:`ps2f.models.scorers.alphagenome`): each distinct
haplotype window (gene-oriented, TSS at ``window_bp // 2``) is run once; the tracks of
``output_type`` whose ontology CURIE is in ``ontology_terms`` are kept (empty: all), those named
in ``tracks`` (empty: every track on ``+`` or ``.``) are summed over ``tss_window_bp`` around the
TSS and averaged. The model's output is read into the API scorer's
:class:`~ps2f.models.scorers.alphagenome.TrackWindow` by its
:func:`~ps2f.models.scorers.alphagenome.parse_output`, so the two types share the selection and
aggregation code and a config switches between them by ``type:`` plus ``weights:`` and
``track_metadata:``.

Port: ``alphagenome-pt`` 1.0.0 (Weaver, Lakshmanan, Lagergren; Apache-2.0), a PyTorch
translation of the official JAX model; ``weights`` is a directory written by its
``AlphaGenome.save`` (``config.json``, ``metadata.json``, ``model.safetensors``), e.g. the
converted release from ``alphagenome-pt download --local-dir DIR --fold all_folds``. Nothing is
downloaded here. The port's metadata hold track counts, not names, so the official track table
(``track_metadata``: one row per track, in head order, with ``output_type``, ``name``,
``strand`` and ``ontology_curie``; padding tracks named ``Padding``) supplies what the API
returns with each response.

Precision: ``auto`` runs the port's ``deepmind`` policy (float32 weights, bfloat16 compute, as
the released JAX model) on CUDA and float32 on CPU. Output: the head's unscaled
``predictions_<res>bp`` at its finest resolution (1 bp for CAGE, RNA-seq, ATAC, DNase, PRO-cap;
128 bp for ChIP), as the API returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError
from ps2f.models.scorers.alphagenome import (
    OUTPUT_TYPES,
    AlphaGenomeError,
    TrackWindow,
    check_tracks,
    parse_output,
)
from ps2f.models.scorers.base import (
    DEVICES,
    SequenceScorer,
    configured_track_sets,
    resolve_device,
    tissue_track_lists,
)

__all__ = [
    "DEFAULTS",
    "REQUIRED",
    "WEIGHT_FILES",
    "read_track_metadata",
    "load_alphagenome",
    "AlphaGenomeLocalScorer",
    "check_config",
    "from_config",
]

REQUIRED: tuple[str, ...] = ("weights", "track_metadata")
DEFAULTS: dict[str, Any] = {
    "aggregate": "mean",
    "window_bp": 2**20,
    "output_type": "CAGE",
    "ontology_terms": ["EFO:0002784"],
    "tracks": [],
    "tss_window_bp": 384,
    "organism": "human",
    "batch_size": 1,
    "device": "auto",
    "precision": "auto",
    "tissue_tracks": {},
}
#: Files of an ``AlphaGenome.save`` directory (alphagenome-pt 1.0.0).
WEIGHT_FILES: tuple[str, ...] = ("config.json", "metadata.json", "model.safetensors")
_PRECISIONS = ("auto", "bf16", "fp32")
_META_COLUMNS = ("output_type", "name", "strand")
WEIGHTS_HELP = (
    "a directory written by alphagenome-pt's AlphaGenome.save (config.json, metadata.json, "
    "model.safetensors), e.g. `alphagenome-pt download --local-dir DIR --fold all_folds` run "
    "once where the network is reachable (pip install alphagenome-pt==1.0.0)"
)


def _import_port():
    try:
        from alphagenome_pt.model import AlphaGenome
    except ImportError as exc:
        raise ConfigError(
            f"scorer type alphagenome_local needs the alphagenome-pt package "
            f"(pip install alphagenome-pt==1.0.0): {exc}"
        ) from exc
    return AlphaGenome


def read_track_metadata(path: str | Path, key: str = "track_metadata") -> pd.DataFrame:
    """Read the track table that names the local model's output tracks.

    Parameters
    ----------
    path : str or pathlib.Path
        TSV (or ``.csv``, ``.parquet``) with columns ``output_type`` (e.g. ``CAGE``), ``name``,
        ``strand`` (``+``, ``-``, ``.``) and optionally ``ontology_curie``; the rows of each
        output type in the order of that head's tracks (the official client's
        ``output_metadata``, padding rows included).
    key : str
        Config key, for messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``output_type`` (upper case), ``name``, ``strand``, ``ontology_curie`` (``""``
        where absent), file order.

    Raises
    ------
    ps2f.errors.ConfigError
        Missing file or column, or a strand other than ``+``/``-``/``.`` (the row is named).
    """
    path = Path(str(path))
    if not path.is_file():
        raise ConfigError(f"{key}: {str(path)!r} does not exist; give the official track table")
    if path.suffix == ".parquet":
        meta = pd.read_parquet(path)
    else:
        meta = pd.read_csv(path, sep="," if path.suffix == ".csv" else "\t", dtype=str)
    missing = [c for c in _META_COLUMNS if c not in meta.columns]
    if missing:
        raise ConfigError(
            f"{key}: {path} lacks columns {missing}; needs {list(_META_COLUMNS)} "
            f"(+ ontology_curie), one row per track in head order"
        )
    meta = meta.reset_index(drop=True)
    meta["output_type"] = meta["output_type"].astype(str).str.upper()
    meta["name"] = meta["name"].astype(str)
    meta["strand"] = meta["strand"].astype(str)
    if "ontology_curie" not in meta.columns:
        meta["ontology_curie"] = ""
    meta["ontology_curie"] = meta["ontology_curie"].fillna("").astype(str)
    bad = np.flatnonzero(~meta["strand"].isin(["+", "-", "."]).to_numpy())
    if len(bad):
        raise ConfigError(
            f"{key}: {path} row {int(bad[0]) + 2} has strand {meta['strand'].iloc[bad[0]]!r}; "
            f"use '+', '-' or '.'"
        )
    return meta[["output_type", "name", "strand", "ontology_curie"]]


def load_alphagenome(path: str | Path, key: str = "weights"):
    """Load an ``alphagenome_pt.model.AlphaGenome`` from a local directory (never downloads).

    Parameters
    ----------
    path : str or pathlib.Path
        A directory written by ``AlphaGenome.save`` (see :data:`WEIGHT_FILES`).

    Returns
    -------
    alphagenome_pt.model.AlphaGenome
        On the CPU, in eval mode.

    Raises
    ------
    ps2f.errors.ConfigError
        The package is missing, a file is missing, or the port cannot read the files.
    """
    path = Path(str(path))
    _check_weights(path, key)
    model_cls = _import_port()
    try:
        model = model_cls.load(path, device="cpu")
    except Exception as exc:
        raise ConfigError(
            f"{key}: alphagenome-pt could not load {path}: {type(exc).__name__}: {exc}; "
            f"expected {WEIGHTS_HELP}"
        ) from exc
    return model.eval()


def _check_weights(path: Path, key: str) -> None:
    if not path.is_dir():
        raise ConfigError(f"{key}: {str(path)!r} is not a directory; expected {WEIGHTS_HELP}")
    missing = [f for f in WEIGHT_FILES if not (path / f).is_file()]
    if missing:
        raise ConfigError(f"{key}: {path} lacks {missing}; expected {WEIGHTS_HELP}")



class AlphaGenomeLocalScorer(SequenceScorer):
    """Score haplotypes with a local AlphaGenome (alphagenome-pt), like the API scorer.

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    model : alphagenome_pt.model.AlphaGenome
        E.g. from :func:`load_alphagenome`.
    track_metadata : pandas.DataFrame
        From :func:`read_track_metadata`.
    window_bp : int
        Input length L (2**20 for the released model's full context); at most the model's
        ``max_seq_len`` and a multiple of its shortest input.
    output_type, ontology_terms, tracks, tss_window_bp
        As for :class:`~ps2f.models.scorers.alphagenome.AlphaGenomeScorer`.
    organism : str
        Organism in the model's metadata (``human``).
    batch_size : int
        Distinct sequences per forward pass.
    device : {"auto", "cpu", "cuda"}
    precision : {"auto", "bf16", "fp32"}
        ``auto``: bf16 compute (the port's ``deepmind`` policy) on CUDA, float32 on CPU.
    track_sets : sequence of sequence of str, optional
        Every track set read from each forward pass (config ``tissue_tracks``: ``tracks``
        first, then each tissue's), each as ``tracks`` is read; with S > 1 sets
        :meth:`score_sequences` returns ``(N, S)``. None: ``[tracks]``.

    Raises
    ------
    ps2f.errors.ConfigError
        Unknown organism or output type for the model, a track table whose row count for the
        output type differs from the head's tracks, no track for the ontology terms, a window
        the model does not accept, or bad batch size, device or precision.
    """

    def __init__(
        self,
        name: str,
        model,
        track_metadata: pd.DataFrame,
        window_bp: int = DEFAULTS["window_bp"],
        output_type: str = DEFAULTS["output_type"],
        ontology_terms: Sequence[str] = tuple(DEFAULTS["ontology_terms"]),
        tracks: Sequence[str] = (),
        tss_window_bp: int = DEFAULTS["tss_window_bp"],
        organism: str = DEFAULTS["organism"],
        batch_size: int = DEFAULTS["batch_size"],
        device: str = DEFAULTS["device"],
        precision: str = DEFAULTS["precision"],
        track_sets: Sequence[Sequence[str]] | None = None,
    ) -> None:
        from alphagenome_pt.precision import get_dtype_policy

        _check_settings(window_bp, output_type, tss_window_bp, batch_size, precision)
        self.name = name
        self.window_bp = int(window_bp)
        self.output_type = output_type
        self.head = output_type.lower()
        self.ontology_terms = [str(t) for t in ontology_terms]
        self.tracks = [str(t) for t in tracks]
        if track_sets is not None:
            self.track_sets = [[str(t) for t in ts] for ts in track_sets]
        self.tss_window_bp = int(tss_window_bp)
        self.batch_size = int(batch_size)
        md = model.metadata
        organisms = md.get_organisms()
        if organism not in organisms:
            raise ConfigError(f"organism {organism!r}: the model has {organisms}")
        self.organism_index = md.get_organism_index(organism)
        heads = md.metadata["heads"]
        if self.head not in heads:
            raise ConfigError(
                f"output_type {output_type}: the model has no {self.head!r} head "
                f"(heads: {sorted(heads)})"
            )
        n_tracks = int(md.get_num_tracks_organism(organism, self.head))
        meta = track_metadata.loc[track_metadata["output_type"] == output_type]
        if len(meta) != n_tracks:
            raise ConfigError(
                f"track_metadata has {len(meta)} {output_type} rows but the model's {organism} "
                f"{self.head} head has {n_tracks} tracks; give the table of these weights"
            )
        keep = ~meta["name"].str.strip().str.casefold().eq("padding").to_numpy()
        if self.ontology_terms:
            keep &= meta["ontology_curie"].isin(self.ontology_terms).to_numpy()
        if not keep.any():
            raise ConfigError(
                f"no {output_type} track for ontology_terms {self.ontology_terms} in "
                f"track_metadata; check ontology_terms (e.g. EFO:0002784 = GM12878)"
            )
        self.columns = np.flatnonzero(keep)
        self.track_meta = meta.iloc[self.columns].reset_index(drop=True)
        min_len = model.encoder_downsample_width**model.stages * model.pair_downsample_width
        if self.window_bp % min_len or self.window_bp > model.max_seq_len:
            raise ConfigError(
                f"window_bp {self.window_bp}: this model takes multiples of {min_len} bp up to "
                f"{model.max_seq_len} bp"
            )
        self._half = math.ceil((self.tss_window_bp // 2) / 128) + 1  # bins kept each side
        if (self._half + 1) * 128 > self.window_bp // 2:
            raise ConfigError(
                f"tss_window_bp {self.tss_window_bp} is too wide for window_bp {self.window_bp}"
            )
        self.device = resolve_device(device)
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        model.dtype_policy = get_dtype_policy("deepmind" if self.bf16 else "float32")
        # run only the head read (the port skips heads whose metadata say enabled: false)
        for h, entry in heads.items():
            entry["enabled"] = h == self.head
        self.model = model.to(self.device).eval()
        # select before the window check, so a bad name fails at build time
        self._probe = TrackWindow(
            values=np.zeros((1, len(self.columns)), dtype=np.float32),
            start_bp=0,
            resolution=1,
            names=self.track_meta["name"].to_numpy().astype(str),
            strands=self.track_meta["strand"].to_numpy().astype(str),
            ontology_curies=self.track_meta["ontology_curie"].to_numpy().astype(str),
        )
        try:
            for ts in [self.tracks, *(self.track_sets or [])]:
                self._probe.select(ts)
        except AlphaGenomeError as exc:
            raise ConfigError(f"tracks: {exc}") from exc

    def describe(self) -> str:
        """Output type, tracks, window, device and precision."""
        read = self.tracks or "+/. strand"
        if self.n_track_sets > 1:
            read = f"sets {[ts or '+/. strand' for ts in self.track_sets]}"
        return (
            f"AlphaGenome (local, alphagenome-pt) {self.name!r}: {self.output_type} "
            f"{len(self.columns)} tracks for {self.ontology_terms or 'all terms'}, "
            f"read {read}, summed over {self.tss_window_bp} bp at the TSS; "
            f"{self.window_bp} bp windows, {self.device}, {'bf16' if self.bf16 else 'fp32'}, "
            f"batch {self.batch_size}"
        )

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score sequences as the API scorer does (see the module docstring).

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
            Strand-oriented windows, TSS at ``window_bp // 2``.

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            Model units (the tracks' predicted signal summed over the TSS window); ``(N, S)``
            for S > 1 ``track_sets``, each read from the same forward pass.
        """
        import torch

        from ps2f.genome.encoding import one_hot

        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.window_bp or codes.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 codes of shape (N, {self.window_bp}), got {codes.dtype} "
                f"{codes.shape}"
            )
        cols = torch.as_tensor(self.columns, device=self.device)
        sets = [self.tracks] if self.track_sets is None else self.track_sets
        out = np.empty((len(codes), len(sets)), dtype=np.float64)
        with torch.no_grad():
            for s in range(0, len(codes), self.batch_size):
                c = torch.from_numpy(np.ascontiguousarray(codes[s : s + self.batch_size]))
                x = one_hot(c.to(self.device)).transpose(1, 2)  # (n, L, 4), the port's layout
                org = torch.full((len(c),), self.organism_index, device=self.device)
                pred = self.model.predict(x, org)[self.head]
                res = min(int(k.split("_")[1][:-2]) for k in pred if k.startswith("predictions_"))
                values = pred[f"predictions_{res}bp"]  # (n, L / res, T)
                if values.shape[:2] != (len(c), self.window_bp // res):
                    raise AlphaGenomeError(
                        f"{self.head} predictions have shape {tuple(values.shape)}, expected "
                        f"({len(c)}, {self.window_bp // res}, T)"
                    )
                # a crop of whole bins around the TSS bin, centred as parse_output expects
                half = math.ceil((self.tss_window_bp // 2) / res) + 1  # <= _half bins of 128
                centre = (self.window_bp // 2) // res
                crop = values[:, centre - half : centre + half].index_select(2, cols)
                crop = crop.float().cpu().numpy()
                for i, v in enumerate(crop):
                    data = SimpleNamespace(
                        values=v, metadata=self.track_meta, resolution=res
                    )
                    window = parse_output(
                        SimpleNamespace(**{self.head: data}),
                        self.output_type,
                        2 * half * res,
                        half * res,
                    )
                    for j, ts in enumerate(sets):
                        out[s + i, j] = window.tss_score(half * res, self.tss_window_bp, ts)
        return out[:, 0] if len(sets) == 1 else out


# ----------------------------------------------------------------------------------------------
# config


def _check_settings(
    window_bp: int,
    output_type: str,
    tss_window_bp: int,
    batch_size: int,
    precision: str,
    key: str = "alphagenome_local",
) -> None:
    if int(window_bp) < 1:
        raise ConfigError(f"{key}.window_bp must be >= 1")
    if output_type not in OUTPUT_TYPES:
        raise ConfigError(f"{key}.output_type {output_type!r}: one of {list(OUTPUT_TYPES)}")
    if not 1 <= int(tss_window_bp) <= int(window_bp):
        raise ConfigError(f"{key}.tss_window_bp must be in [1, window_bp]")
    if int(batch_size) < 1:
        raise ConfigError(f"{key}.batch_size must be >= 1, got {batch_size}")
    if precision not in _PRECISIONS:
        raise ConfigError(f"{key}.precision must be one of {_PRECISIONS}, got {precision!r}")


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time checks (torch-free): settings, weight files and the track table.

    ``tracks`` and each ``tissue_tracks`` list are checked alike (names are matched against
    the track table when the scorer is built).

    Raises
    ------
    ps2f.errors.ConfigError
    """
    _check_settings(
        spec["window_bp"],
        spec["output_type"],
        spec["tss_window_bp"],
        spec["batch_size"],
        spec["precision"],
        key,
    )
    check_tracks(spec["tracks"], f"{key}.tracks")
    for _, tracks, k in tissue_track_lists(spec, key):
        check_tracks(tracks, k)
    if spec["device"] not in DEVICES:
        raise ConfigError(f"{key}.device must be one of {DEVICES}, got {spec['device']!r}")
    _check_weights(Path(str(spec["weights"])), f"{key}.weights")
    meta = read_track_metadata(spec["track_metadata"], f"{key}.track_metadata")
    if not (meta["output_type"] == spec["output_type"]).any():
        raise ConfigError(
            f"{key}.track_metadata has no {spec['output_type']} rows "
            f"(it has {sorted(meta['output_type'].unique())})"
        )


def from_config(spec: Mapping[str, Any], key: str) -> AlphaGenomeLocalScorer:
    """Build the scorer of a ``type: alphagenome_local`` config entry (loads the weights)."""
    sets = configured_track_sets(spec)
    try:
        return AlphaGenomeLocalScorer(
            spec["name"],
            load_alphagenome(spec["weights"], f"{key}.weights"),
            read_track_metadata(spec["track_metadata"], f"{key}.track_metadata"),
            window_bp=spec["window_bp"],
            output_type=spec["output_type"],
            ontology_terms=spec["ontology_terms"],
            tracks=spec["tracks"],
            tss_window_bp=spec["tss_window_bp"],
            organism=spec["organism"],
            batch_size=spec["batch_size"],
            device=spec["device"],
            precision=spec["precision"],
            track_sets=sets if len(sets) > 1 else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{key} (alphagenome_local {spec['name']!r}): {exc}") from exc
