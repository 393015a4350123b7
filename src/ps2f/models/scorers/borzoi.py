"""Borzoi (Linder et al. 2025) and Flashzoi (Hingerl et al. 2024) through ``borzoi-pytorch``.

Each haplotype's window (default 524,288 bp, Borzoi's input) is centred on the TSS and oriented
5'->3' on the gene's strand, as :class:`ps2f.genome.haplotypes.HaplotypeBuilder` builds it
(minus-strand genes reverse-complemented, TSS at index ``L // 2``). Borzoi predicts coverage in
32-bp bins; the package's ``TargetLengthCrop`` keeps the centre ``bins_to_return`` bins of the
``L / 32`` it computes (published models: 6,144 of 16,384, i.e. the centre 196,608 bp,
oriented window indices 163,840-360,447; the TSS falls on the first base of bin 3,072). Bin
``b`` covers oriented indices ``[off + 32 b, off + 32 b + 32)`` with ``off = 32 * (L / 32 -
n_bins) / 2``; :func:`output_geometry` computes this from the model, and the scorer checks it
against the shape the model returns.

Readouts (``readout``):

* ``exons``: the gene-expression readout of the Borzoi paper: the bins overlapping any exon of
  the gene (from ``gtf``, union over transcripts, each bin once) are summed (or averaged,
  ``bin_aggregate``). Exons are mapped into the oriented window by
  :func:`ps2f.genome.windows.oriented_intervals` (mirrored on the minus strand, so the output
  bins never need flipping back); exon parts outside the output span are left out (logged).
* ``tss``: ``n_tss_bins`` bins centred on the TSS bin (CAGE tracks).

Per sequence, the coverage of each selected track at the selected bins is

1. averaged over the replicate models (``weights``: one directory or state-dict file per
   replicate, as Borzoi's ensembles average replicate predictions) and, with
   ``average_strands``, over the sequence and its reverse complement (there the gene lies on
   the ``-`` strand, so each track's ``strand_pair`` twin is read at the mirrored bins
   ``n_bins - 1 - b``, as borzoi-pytorch's ``AnnotatedBorzoi.predict_gene_count``; twice the
   compute);
2. optionally returned from Borzoi's squashed training scale to coverage (``unsquash``:
   ``x / scale``, soft clip undone above ``clip_soft``, then the ``1 / 0.75`` power for
   ``sum_sqrt`` tracks; per track from the targets table, as borzoi-pytorch's
   ``undo_squashed_scale``);
3. aggregated over the bins (``bin_aggregate``), optionally ``log1p``-ed (borzoi-pytorch's
   ``predict_gene_count``), and averaged over the tracks.

Memory and speed were not measured (no GPU was available): the published model has 186 M
parameters (0.75 GB in fp32 per replicate, all replicates stay loaded); ``batch_size``
(default 2) bounds the sequences per forward pass.

Tracks: indices into the human head, identifiers (``ENCFF470BSF+``) or descriptions
(``RNA:GM12878``) of a Borzoi targets table (``targets``; default the ``targets.txt`` that
borzoi-pytorch installs, 7,611 human tracks: the columns index, identifier, file, clip,
clip_soft, scale, sum_stat, strand_pair, description). A description selects every track it
names on the gene's (sense) strand: stranded tracks come in pairs whose identifiers end in
``+``/``-``; windows are gene-oriented, so ``+`` is the sense strand and ``-`` tracks are left
out; unstranded tracks are kept.

Weights: local only (``HF_HUB_OFFLINE=1``, ``local_files_only``): a Hugging Face-format
directory (``config.json`` + ``model.safetensors``), e.g. ``huggingface-cli download
johahi/borzoi-replicate-0 --local-dir DIR`` run once where the network is reachable, or a
state-dict file with the architecture from ``hparams`` (``BorzoiConfig`` arguments).

Flashzoi is borzoi-pytorch's ``Borzoi`` class with ``flashed: true`` in its config: its
attention layers are flash-attn 2's ``MHA`` (rotary embeddings, grouped-query attention),
imported when the model is built. borzoi-pytorch 0.5.1 has **no CPU fallback**: without
flash-attn it fails with ``No module named 'flash_attn'``, and flash-attn runs on CUDA GPUs in
fp16/bf16 only. ``flashzoi: true`` therefore needs ``device`` cuda (or auto on a GPU machine)
and bf16; the check compares it with each directory's ``config.json`` so a Borzoi checkpoint
is never run as Flashzoi or the reverse.

Dependency: borzoi-pytorch 0.5.1 declares ``transformers>=4.57.6``; ps2f's core environment pins
4.56.2 (enformer-pytorch 0.8.12), and borzoi-pytorch (which only subclasses
``PretrainedConfig``/``PreTrainedModel``) works with it, so it is installed with ``--no-deps``
(``requirements-nodeps.txt``; the conda env ``envs/borzoi.yaml`` takes the declared versions).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError, Ps2fError
from ps2f.models.scorers.base import (
    DEVICES,
    HaplotypeBatch,
    SequenceScorer,
    configured_track_sets,
    resolve_device,
    tissue_track_lists,
    unique_sequences,
)

__all__ = [
    "SEQUENCE_LENGTH",
    "BIN_BP",
    "DEFAULTS",
    "REQUIRED",
    "READOUTS",
    "bundled_targets",
    "read_targets",
    "resolve_tracks",
    "output_geometry",
    "check_tracks",
    "exon_bins",
    "unsquash",
    "load_borzoi",
    "BorzoiScorer",
    "check_config",
    "from_config",
]

_LOG = logging.getLogger(__name__)

SEQUENCE_LENGTH = 524_288
BIN_BP = 32
#: Total stride of Borzoi's trunk (the transformer runs at 128 bp per position).
_STRIDE = 128
READOUTS: tuple[str, ...] = ("exons", "tss")
_BIN_AGGREGATES = ("sum", "mean")
_PRECISIONS = ("auto", "bf16", "fp32")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_N_HUMAN_TRACKS = 7611  # borzoi-pytorch 0.5.1's human head
# BorzoiConfig defaults (borzoi-pytorch 0.5.1), for torch-free checks at parse time
_ARCH_DEFAULTS = {"bins_to_return": 6144, "return_center_bins_only": True, "flashed": False}
_UNCROPPED_BINS = 16384 - 32  # borzoi-pytorch's crop when return_center_bins_only is false

REQUIRED: tuple[str, ...] = ("weights",)
DEFAULTS: dict[str, Any] = {
    "aggregate": "mean",
    "flashzoi": False,
    "window_bp": SEQUENCE_LENGTH,
    "readout": "exons",
    "gtf": None,
    "n_tss_bins": 3,
    "bin_aggregate": "sum",
    "tracks": ["RNA:GM12878"],
    "targets": None,
    "unsquash": True,
    "log1p": True,
    "average_strands": False,
    "hparams": {},
    "batch_size": 2,
    "device": "auto",
    "precision": "auto",
    "tissue_tracks": {},
}

WEIGHTS_HELP = (
    "Borzoi weights are never downloaded at run time. Once, where the network is reachable: "
    "`huggingface-cli download johahi/borzoi-replicate-0 --local-dir resources/borzoi/rep0` "
    "(replicates 0-3; Flashzoi: johahi/flashzoi-replicate-0..3), copy the directories here and "
    "list them under weights"
)


def _import_borzoi():
    """borzoi-pytorch's ``Borzoi`` and ``BorzoiConfig``, imported offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from borzoi_pytorch import Borzoi
        from borzoi_pytorch.config_borzoi import BorzoiConfig
    except ImportError as exc:
        raise Ps2fError(
            f"the Borzoi scorer needs borzoi-pytorch ({exc}); install it with `pip install "
            f"-r requirements.txt && pip install --no-deps -r requirements-nodeps.txt` (or "
            f"`make`; borzoi-pytorch==0.5.1, intervaltree==3.1.0)"
        ) from exc
    return Borzoi, BorzoiConfig


# ----------------------------------------------------------------------------------------------
# tracks


def bundled_targets() -> Path | None:
    """The Borzoi human targets table installed with borzoi-pytorch (found without importing it)."""
    spec = importlib.util.find_spec("borzoi_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "precomputed" / "targets.txt"
        if path.is_file():
            return path
    return None


def _targets_path(targets: str | Path | None, key: str) -> Path:
    if targets:
        return Path(str(targets))
    path = bundled_targets()
    if path is None:
        raise ConfigError(
            f"{key}: no targets table: borzoi-pytorch (which ships targets.txt) is not "
            f"installed here; set targets to a local copy of Borzoi's targets file "
            f"(calico/borzoi examples/targets_human.txt), or install borzoi-pytorch==0.5.1"
        )
    return path


def read_targets(path: str | Path, key: str = "targets") -> pd.DataFrame:
    """Read a Borzoi targets table.

    Parameters
    ----------
    path : str or pathlib.Path
        Tab-separated with ``identifier`` and ``description`` columns (Borzoi's
        ``targets_human.txt`` / borzoi-pytorch's ``targets.txt``). The track index is the
        ``index`` column if present, else an unnamed integer first column, else the row number.
        ``clip_soft``, ``scale`` and ``sum_stat`` are read when present (for ``unsquash``).
    key : str
        Config key that named the file (for messages).

    Returns
    -------
    pandas.DataFrame
        ``index`` (int64), ``identifier``, ``description`` (str), ``sense`` (bool: the
        identifier does not end in ``-``), and ``clip_soft``, ``scale``, ``sum_stat``,
        ``strand_pair`` if given.

    Raises
    ------
    ps2f.errors.ConfigError
        Missing or unreadable file, missing columns, repeated indices.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{key}: Borzoi targets table {str(path)!r} not found; give a local copy of Borzoi's "
            f"targets file (or leave targets unset to use the one borzoi-pytorch installs)"
        )
    try:
        df = pd.read_csv(path, sep="\t")
    except Exception as exc:
        raise ConfigError(f"{key}: cannot read {path} ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ("identifier", "description") if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{key}: {path} has no {missing} column (has {list(df.columns)[:9]}); expected "
            f"Borzoi's targets layout (index, identifier, file, clip, clip_soft, scale, sum_stat, "
            f"strand_pair, description)"
        )
    first = df.columns[0]
    if "index" in df.columns:
        index = df["index"]
    elif str(first).startswith("Unnamed") and pd.api.types.is_integer_dtype(df[first]):
        index = df[first]
    else:
        index = pd.Series(np.arange(len(df)))
    out = pd.DataFrame(
        {
            "index": index.astype(np.int64).to_numpy(),
            "identifier": df["identifier"].astype(str).to_numpy(),
            "description": df["description"].astype(str).to_numpy(),
        }
    )
    if out["index"].duplicated().any():
        dup = int(out.loc[out["index"].duplicated(), "index"].iloc[0])
        raise ConfigError(f"{key}: {path} lists track index {dup} twice")
    out["sense"] = ~out["identifier"].str.endswith("-")
    for col in ("clip_soft", "scale", "sum_stat", "strand_pair"):
        if col in df.columns:
            out[col] = df[col].to_numpy()
    return out


def resolve_tracks(
    tracks: Sequence[int | str], table: pd.DataFrame | None, key: str = "tracks"
) -> list[int]:
    """Turn track indices, identifiers and descriptions into head indices.

    Parameters
    ----------
    tracks : sequence of int or str
        An index (``6112`` or ``"6112"``); an exact identifier (``"ENCFF470BSF+"``: that
        track); or a description (``"RNA:GM12878"``: every sense-strand or unstranded track
        with it, matched exactly, then case-insensitively).
    table : pandas.DataFrame or None
        From :func:`read_targets`; needed for identifiers and descriptions.
    key : str
        Config key (for messages).

    Returns
    -------
    list of int
        Distinct indices in the order given.

    Raises
    ------
    ps2f.errors.ConfigError
        Empty list, negative index, a name without a table, an unknown name (the closest
        descriptions are listed), or a description with no sense-strand track.
    """
    if not tracks:
        raise ConfigError(f"{key}: give at least one track (e.g. 'RNA:GM12878')")
    out: list[int] = []
    for t in tracks:
        if isinstance(t, (int, np.integer)) or (isinstance(t, str) and t.strip().isdigit()):
            i = int(t)
            if i < 0:
                raise ConfigError(f"{key}: track index {i} is negative")
            hits = [i]
        elif table is None:
            raise ConfigError(f"{key}: track {t!r} is a name, which needs a targets table")
        else:
            name = str(t)
            hit = table.loc[table["identifier"] == name]
            if hit.empty:
                desc = table["description"]
                hit = table.loc[desc == name]
                if hit.empty:
                    hit = table.loc[desc.str.lower() == name.lower()]
                if hit.empty:
                    close = difflib.get_close_matches(name, desc.unique().tolist(), n=5, cutoff=0.5)
                    raise ConfigError(
                        f"{key}: no track identified or described {name!r} in the targets "
                        f"table; closest descriptions: {close}"
                    )
                hit = hit.loc[hit["sense"]]
                if hit.empty:
                    raise ConfigError(
                        f"{key}: every track described {name!r} is an antisense ('-') track; "
                        f"windows are gene-oriented, so the sense tracks end in '+'"
                    )
            hits = hit["index"].astype(int).tolist()
        out.extend(h for h in hits if h not in out)
    return out


# ----------------------------------------------------------------------------------------------
# geometry and readouts


def output_geometry(window_bp: int, bins_to_return: int) -> tuple[int, int]:
    """Where borzoi-pytorch's cropped output bins lie in the input window.

    Parameters
    ----------
    window_bp : int
        Input length ``L`` in bp; a multiple of 128 (the trunk's stride).
    bins_to_return : int
        The crop's target length (``BorzoiConfig.bins_to_return``; ``-1`` = no crop).

    Returns
    -------
    offset_bp : int
        Window index of the first base of output bin 0.
    n_bins : int
        Output bins (32 bp each).

    Raises
    ------
    ps2f.errors.ConfigError
        ``L`` not a multiple of 128, or fewer positions than the crop keeps.

    Notes
    -----
    ``TargetLengthCrop`` cuts ``trim = (target - n) // 2`` bins (floored) from each end of the
    ``n = L / 32`` bins: ``x[-trim:trim]``. For ``L = 524,288`` and 6,144 bins:
    ``(163840, 6144)``.
    The crop is symmetric (an odd difference yields one bin fewer than the target), so the
    output is centred in the window and bin ``b`` of a sequence is bin ``n_bins - 1 - b`` of
    its reverse complement.
    """
    window_bp, target = int(window_bp), int(bins_to_return)
    if window_bp % _STRIDE or window_bp <= 0:
        raise ConfigError(f"window_bp {window_bp} is not a multiple of Borzoi's stride {_STRIDE}")
    n = window_bp // BIN_BP
    if target == -1:
        return 0, n
    if n < target:
        raise ConfigError(
            f"window_bp {window_bp} gives {n} bins of {BIN_BP} bp, fewer than the model's "
            f"{target} output bins (bins_to_return); Borzoi takes {SEQUENCE_LENGTH} bp"
        )
    trim = (target - n) // 2
    if trim == 0:
        return 0, n
    return -trim * BIN_BP, n + 2 * trim


def exon_bins(
    tss0: int,
    strand: str,
    window_bp: int,
    starts: np.ndarray,
    ends: np.ndarray,
    offset_bp: int,
    n_bins: int,
) -> tuple[np.ndarray, float]:
    """Output bins overlapping any exon, in the gene-oriented window.

    Parameters
    ----------
    tss0 : int
        0-based TSS (the window's centre).
    strand : {"+", "-"}
    window_bp : int
        Input length ``L``.
    starts, ends : numpy.ndarray, shape (n_exons,), int64
        0-based half-open exons (forward strand).
    offset_bp, n_bins : int
        From :func:`output_geometry`.

    Returns
    -------
    bins : numpy.ndarray, int64
        Sorted distinct bin indices in ``[0, n_bins)``.
    inside : float
        Fraction of the exons' bp (counted per exon) inside the output span.
    """
    from ps2f.genome.windows import oriented_intervals

    a, b = oriented_intervals(tss0, strand, window_bp, starts, ends)
    span = n_bins * BIN_BP
    ra = np.clip(a - offset_bp, 0, span)
    rb = np.clip(b - offset_bp, 0, span)
    keep = rb > ra
    total = float((b - a).sum())
    inside = float((rb - ra)[keep].sum()) / total if total > 0 else 0.0
    bins = [np.arange(x // BIN_BP, (y - 1) // BIN_BP + 1) for x, y in zip(ra[keep], rb[keep], strict=True)]
    out = np.unique(np.concatenate(bins)) if bins else np.zeros(0, dtype=np.int64)
    return out.astype(np.int64), inside


def unsquash(x, clip_soft, scale, track_transform):
    """Undo Borzoi's squashed training scale (coverage from a prediction).

    ``y = x / scale``; above ``clip_soft`` the soft clip is undone, ``(y - clip_soft) ** 2 +
    clip_soft``; then ``y ** (1 / track_transform)`` (``0.75`` for ``sum_sqrt`` tracks, else
    ``1``). Same as borzoi-pytorch's ``undo_squashed_scale`` (``old_transform=True``, Borzoi's
    targets) with per-track parameters, as ``AnnotatedBorzoi._undo_squashed_scale``.

    Parameters
    ----------
    x : torch.Tensor, shape (N, T, K)
        Predictions of T tracks at K bins.
    clip_soft, scale, track_transform : torch.Tensor, shape (T,)

    Returns
    -------
    torch.Tensor, shape (N, T, K)
    """
    import torch

    y = x / scale[None, :, None]
    c = clip_soft[None, :, None].expand_as(y)
    y = torch.where(y > c, (y - c) ** 2 + c, y)
    return y ** (1.0 / track_transform[None, :, None])


# ----------------------------------------------------------------------------------------------
# loading


def _read_config_json(path: Path, key: str) -> dict[str, Any]:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(
            f"{key}: {path} is a directory without config.json (has "
            f"{sorted(p.name for p in path.iterdir())[:8]}); expected a Hugging Face-format "
            f"directory. {WEIGHTS_HELP}."
        )
    try:
        return json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot read {cfg_path} ({exc})") from exc


def _architecture(path: Path, hparams: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Output geometry and attention kind of one replicate, read without torch."""
    arch = dict(_ARCH_DEFAULTS)
    src = _read_config_json(path, key) if path.is_dir() else dict(hparams or {})
    arch.update({k: v for k, v in src.items() if k in arch})
    if not arch["return_center_bins_only"]:
        arch["bins_to_return"] = _UNCROPPED_BINS
    return arch


def load_borzoi(
    weights: str | Path,
    *,
    flashzoi: bool = False,
    hparams: Mapping[str, Any] | None = None,
    key: str = "weights",
):
    """Load one Borzoi/Flashzoi replicate from a local path, offline.

    Parameters
    ----------
    weights : str or pathlib.Path
        A Hugging Face-format directory (``config.json`` + ``model.safetensors`` or
        ``pytorch_model.bin``) or a state-dict file (``.safetensors``, ``.pt``, ``.pth``,
        ``.bin``).
    flashzoi : bool
        Build the Flashzoi attention (``flashed``); must match a directory's ``config.json``.
    hparams : mapping, optional
        ``BorzoiConfig`` arguments for a state-dict file (default: the published model).
    key : str
        Config key that named the path (for messages).

    Returns
    -------
    borzoi_pytorch.Borzoi
        On the CPU, in eval mode.

    Raises
    ------
    ps2f.errors.ConfigError
        Missing path or weight file, ``flashzoi`` disagreeing with ``config.json``, Flashzoi
        without flash-attn, weights that do not fit the architecture.
    ps2f.errors.Ps2fError
        borzoi-pytorch is not installed.
    """
    from ps2f.models.scorers.enformer import _read_state_dict

    path = Path(weights)
    if not path.exists():
        raise ConfigError(f"{key}: {str(path)!r} does not exist. {WEIGHTS_HELP}.")
    arch = _architecture(path, hparams or {}, key)
    if bool(arch["flashed"]) != bool(flashzoi):
        raise ConfigError(
            f"{key}: {path} holds a {'Flashzoi' if arch['flashed'] else 'Borzoi'} model "
            f"(config.json flashed: {arch['flashed']}) but the scorer says flashzoi: "
            f"{bool(flashzoi)}; set flashzoi to match the weights"
        )
    if flashzoi and importlib.util.find_spec("flash_attn") is None:
        raise ConfigError(
            f"{key}: flashzoi: true needs flash-attn 2 (its attention layers are "
            f"flash_attn.modules.mha.MHA; borzoi-pytorch 0.5.1 has no CPU fallback) and a CUDA "
            f"GPU: `pip install flash-attn --no-build-isolation` on the GPU machine, or score "
            f"with Borzoi weights and flashzoi: false"
        )
    Borzoi, BorzoiConfig = _import_borzoi()
    if path.is_dir():
        if not any((path / f).is_file() for f in _WEIGHT_FILES):
            raise ConfigError(
                f"{key}: {path} has config.json but no weights (one of {list(_WEIGHT_FILES)}). "
                f"{WEIGHTS_HELP}."
            )
        try:
            model, info = Borzoi.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True
            )
        except Exception as exc:
            raise ConfigError(
                f"{key}: cannot load Borzoi from {path} ({type(exc).__name__}: {exc}). "
                f"{WEIGHTS_HELP}."
            ) from exc
        bad = {k: info.get(k) for k in ("missing_keys", "mismatched_keys") if info.get(k)}
        unexpected = list(info.get("unexpected_keys") or [])
    else:
        try:
            state = _read_state_dict(path)
        except Exception as exc:
            raise ConfigError(
                f"{key}: cannot read Borzoi weights from {path} ({type(exc).__name__}: {exc}); "
                f"expected a state dict saved with torch.save or safetensors. {WEIGHTS_HELP}."
            ) from exc
        try:
            model = Borzoi(BorzoiConfig(**{**dict(hparams or {}), "flashed": bool(flashzoi)}))
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise ConfigError(
                f"{key}: the weights in {path} do not fit the architecture (hparams "
                f"{dict(hparams or {})}): {str(exc)[:500]}"
            ) from exc
        bad = {"missing_keys": result.missing_keys} if result.missing_keys else {}
        unexpected = list(result.unexpected_keys)
    if bad or unexpected:
        parts = [f"{k} {list(v)[:5]}" for k, v in bad.items()]
        if unexpected:
            parts.append(f"unexpected_keys {unexpected[:5]}")
        raise ConfigError(
            f"{key}: the weights in {path} do not fit the architecture"
            f"{' of its config.json' if path.is_dir() else ''}: " + "; ".join(parts)
        )
    return model.eval()


# ----------------------------------------------------------------------------------------------
# the scorer


class BorzoiScorer(SequenceScorer):
    """Score haplotypes with Borzoi/Flashzoi replicates: exon or TSS readout of chosen tracks.

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    models : sequence of borzoi_pytorch.Borzoi
        Replicates (e.g. from :func:`load_borzoi`), averaged at the coverage level; same output
        geometry.
    window_bp : int
        Input length L (524,288 for the published models), a multiple of 128.
    tracks : sequence of int
        Human-head track indices (see :func:`resolve_tracks`), averaged.
    readout : {"exons", "tss"}
    exons : mapping of str to ps2f.io.gtf.GeneExons, optional
        Exons by unversioned gene ID (:func:`ps2f.io.gtf.read_gene_exons`); needed for
        ``exons``.
    gtf : str, optional
        The GTF's path (for messages).
    n_tss_bins : int
        Bins read around the TSS for ``tss`` (centred on the TSS bin).
    bin_aggregate : {"sum", "mean"}
    unsquash_params : tuple of numpy.ndarray, optional
        ``(clip_soft, scale, track_transform)`` per track, shape (T,); ``None`` = no
        :func:`unsquash`.
    log1p : bool
        ``log1p`` of each track's aggregate before averaging the tracks.
    strand_pairs : sequence of int, optional
        Each track's ``strand_pair`` (its own index if unstranded): average the prediction
        with that of the reverse-complemented sequence, read from these tracks at mirrored
        bins. ``None``: the sequence alone.
    batch_size : int
        Sequences per forward pass.
    device : {"auto", "cpu", "cuda"}
    precision : {"auto", "bf16", "fp32"}
        ``auto``: bf16 autocast on CUDA, fp32 on CPU; the output head runs in fp32.
    track_sets : sequence of sequence of int, optional
        Every track set read from each forward pass (config ``tissue_tracks``: ``tracks``
        first, then each tissue's); the trunk runs once and each set's head rows are applied
        to its output, then each set is read out alone (unsquash, aggregate, log1p, mean).
        ``unsquash_params`` and ``strand_pairs`` then hold one entry per set (in the form
        above). With S > 1 sets :meth:`score_sequences` returns ``(N, S)``. None:
        ``[tracks]``.

    Raises
    ------
    ps2f.errors.ConfigError
        Inconsistent window, tracks, bins, device or precision.
    """

    def __init__(
        self,
        name: str,
        models: Sequence[Any],
        window_bp: int,
        tracks: Sequence[int],
        readout: str = "exons",
        exons: Mapping[str, Any] | None = None,
        gtf: str | None = None,
        n_tss_bins: int = 3,
        bin_aggregate: str = "sum",
        unsquash_params: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        log1p: bool = True,
        strand_pairs: Sequence[int] | None = None,
        batch_size: int = 2,
        device: str = "auto",
        precision: str = "auto",
        track_sets: Sequence[Sequence[int]] | None = None,
    ) -> None:
        import torch

        if not models:
            raise ConfigError("weights: give at least one replicate")
        self.name = name
        self.window_bp = int(window_bp)
        crops = {int(m.crop.target_length) for m in models}
        if len(crops) != 1:
            raise ConfigError(f"weights: the replicates crop to different lengths {sorted(crops)}")
        self.offset_bp, self.n_bins = output_geometry(self.window_bp, crops.pop())
        if readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.readout = readout
        if readout == "exons" and exons is None:
            raise ConfigError("readout exons needs the genes' exons (gtf)")
        self.exons, self.gtf = exons, gtf
        tss_bin = (self.window_bp // 2 - self.offset_bp) // BIN_BP
        k = int(n_tss_bins)
        lo = tss_bin - (k - 1) // 2
        self.tss_bins = np.arange(lo, lo + k, dtype=np.int64)
        if k < 1 or lo < 0 or lo + k > self.n_bins:
            raise ConfigError(f"n_tss_bins {k}: must be in [1, {self.n_bins}]")
        if bin_aggregate not in _BIN_AGGREGATES:
            raise ConfigError(f"bin_aggregate must be one of {_BIN_AGGREGATES}")
        self.bin_aggregate = bin_aggregate
        n_tracks = min(int(m.human_head.out_channels) for m in models)
        self.tracks = [int(t) for t in tracks]
        if track_sets is not None:
            self.track_sets = [[int(t) for t in ts] for ts in track_sets]
        for ts in [self.tracks, *(self.track_sets or [])]:
            bad = [t for t in ts if not 0 <= t < n_tracks]
            if bad or not ts:
                raise ConfigError(f"tracks {bad or ts}: the human head has {n_tracks} tracks")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        if precision not in _PRECISIONS:
            raise ConfigError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
        self.flashzoi = any(getattr(m, "flashed", False) for m in models)
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        if self.flashzoi and (self.device.type != "cuda" or not self.bf16):
            raise ConfigError(
                "Flashzoi runs on a CUDA GPU in bf16 only (flash-attn; borzoi-pytorch has no CPU "
                f"fallback): got device {self.device.type}, precision {precision}"
            )
        self.models = [m.to(self.device).eval() for m in models]
        sets = [self.tracks] if self.track_sets is None else self.track_sets
        per_set = track_sets is not None
        if per_set and unsquash_params is not None and len(unsquash_params) != len(sets):
            raise ConfigError("unsquash parameters: give one tuple per track set")
        if per_set and strand_pairs is not None and len(strand_pairs) != len(sets):
            raise ConfigError("strand pairs: give one list per track set")
        # per track set: (head rows, strand-pair head rows or None, unsquash params or None)
        self._sets: list[tuple[list, list | None, tuple | None]] = []
        for j, ts in enumerate(sets):
            pairs = None
            if strand_pairs is not None:
                pairs = [int(t) for t in (strand_pairs[j] if per_set else strand_pairs)]
                bad = [t for t in pairs if not 0 <= t < n_tracks]
                if len(pairs) != len(ts) or bad:
                    raise ConfigError(f"strand pairs {pairs[:5]}: need one head track per track")
            params = None
            if unsquash_params is not None:
                params = tuple(  # the readout runs on the CPU in float64
                    torch.tensor(np.array(p, dtype=np.float64))
                    for p in (unsquash_params[j] if per_set else unsquash_params)
                )
                if any(p.shape != (len(ts),) for p in params):
                    raise ConfigError("unsquash parameters must have one value per track")
            heads = self._head_rows(ts)
            self._sets.append((heads, None if pairs is None else self._head_rows(pairs), params))
            if j == 0:
                self.strand_pairs, self.unsquash_params = pairs, params
        self.log1p = bool(log1p)
        self._gene_bins: dict[tuple[str, str, int], np.ndarray] = {}

    def _head_rows(self, tracks: Sequence[int]) -> list:
        """The given tracks' rows of each replicate's output head (a 1x1 convolution)."""
        import torch

        idx = torch.as_tensor(list(tracks))
        return [
            (
                m.human_head.weight.detach()[idx].float().to(self.device),
                m.human_head.bias.detach()[idx].float().to(self.device),
            )
            for m in self.models
        ]

    def describe(self) -> str:
        """Model, replicates, tracks, readout, window, device and precision."""
        how = (
            f"exon bins ({self.gtf})"
            if self.readout == "exons"
            else f"TSS bins {self.tss_bins.tolist()}"
        )
        sets = f", {self.n_track_sets} track sets" if self.n_track_sets > 1 else ""
        return (
            f"{'Flashzoi' if self.flashzoi else 'Borzoi'} {self.name!r}: {len(self.models)} "
            f"replicate(s), tracks {self.tracks[:8]}{'...' if len(self.tracks) > 8 else ''} "
            f"({len(self.tracks)}){sets}, {self.bin_aggregate} over {how} of {self.n_bins} x {BIN_BP} "
            f"bp (window indices {self.offset_bp}-{self.offset_bp + self.n_bins * BIN_BP - 1}), "
            f"unsquash={self.unsquash_params is not None}, log1p={self.log1p}, "
            f"average_strands={self.strand_pairs is not None}, {self.window_bp} "
            f"bp windows, {self.device}, {'bf16' if self.bf16 else 'fp32'} trunk, batch "
            f"{self.batch_size}"
        )

    # -- bins ------------------------------------------------------------------------------

    def bins_for(self, gene: str, strand: str, tss0: int | None) -> np.ndarray:
        """Output bins the readout sums for one gene (the TSS bins for ``tss``).

        Raises
        ------
        ps2f.errors.InputError
            ``exons``: the gene is absent from the GTF, lies on the other strand there or on
            several loci, or none of its exons reaches the output span.
        ValueError
            ``exons`` without the gene's TSS.
        """
        if self.readout == "tss":
            return self.tss_bins
        from ps2f.io.gtf import gene_key

        if tss0 is None:
            raise ValueError(
                f"scorer {self.name!r}: the exon readout needs each gene's TSS (HaplotypeBatch.tss0)"
            )
        cache_key = (gene, strand, int(tss0))
        if cache_key in self._gene_bins:
            return self._gene_bins[cache_key]
        rec = self.exons.get(gene_key(gene))
        if rec is None:
            raise InputError(
                f"scorer {self.name!r}: gene {gene} has no exon records in the GTF {self.gtf} "
                f"(matched without its version); use the GTF of the expression file's annotation "
                f"release, or readout: tss"
            )
        if rec.other_loci:
            raise InputError(
                f"scorer {self.name!r}: gene {gene} has exons on {rec.chrom}{rec.strand} and "
                f"{', '.join(rec.other_loci)} under one ID in the GTF {self.gtf} (a "
                f"pseudoautosomal gene?), so its exons cannot be placed; leave it out of the "
                f"expression file or use readout: tss"
            )
        if rec.strand != strand:
            raise InputError(
                f"scorer {self.name!r}: gene {gene} is on the {strand} strand in the genes table "
                f"but on {rec.strand} in the GTF {self.gtf}; the annotation and the GTF disagree"
            )
        bins, inside = exon_bins(
            int(tss0), strand, self.window_bp, rec.starts, rec.ends, self.offset_bp, self.n_bins
        )
        if not len(bins):
            raise InputError(
                f"scorer {self.name!r}: none of the {len(rec.starts)} exons of gene {gene} in "
                f"{self.gtf} overlaps the model's output (window indices {self.offset_bp}-"
                f"{self.offset_bp + self.n_bins * BIN_BP - 1} around the TSS at {tss0}); check "
                f"that the GTF and the expression file use the same genome build"
            )
        if inside < 1.0:
            _LOG.info(
                "%s: %s: %.0f%% of its exon bp lie outside the output span and are not read",
                self.name,
                gene,
                100 * (1 - inside),
            )
        self._gene_bins[cache_key] = bins
        return bins

    # -- scoring ---------------------------------------------------------------------------

    def score_haplotypes(self, batch: HaplotypeBatch) -> np.ndarray:
        """Score both haplotypes of each pair, each distinct sequence of a gene once.

        Returns
        -------
        numpy.ndarray, shape (B, 2) or (B, 2, S), float64
            ``(B, 2, S)`` for S > 1 ``track_sets``.

        Raises
        ------
        ValueError
            Codes missing or of the wrong length; ``exons`` without ``batch.tss0``.
        ps2f.errors.InputError
            See :meth:`bins_for`.
        """
        codes = batch.codes
        if codes is None:
            raise ValueError(f"scorer {self.name!r} reads sequence but the batch has no codes")
        if codes.shape[2] != self.window_bp:
            raise ValueError(
                f"scorer {self.name!r} takes {self.window_bp}-bp windows, got {codes.shape[2]} bp"
            )
        out = np.empty((len(batch), 2, *self._score_shape(0)[1:]), dtype=np.float64)
        tss0 = batch.tss0 if batch.tss0 is not None else np.full(len(batch), -1)
        keys = pd.Series(
            [f"{g}\t{s}\t{t}" for g, s, t in zip(batch.genes, batch.strands, tss0, strict=True)]
        )
        for _, rows in keys.groupby(keys, sort=False).groups.items():
            rows = np.asarray(rows)
            r0 = rows[0]
            bins = self.bins_for(
                str(batch.genes[r0]),
                str(batch.strands[r0]),
                None if batch.tss0 is None else int(batch.tss0[r0]),
            )
            unique, inverse = unique_sequences(codes[rows].reshape(-1, self.window_bp))
            self.n_windows += len(inverse)  # the dedup factor of the log (SequenceScorer)
            self.n_distinct += len(unique)
            scores = self.score_bins(unique, bins)
            out[rows] = scores[inverse].reshape(len(rows), 2, *scores.shape[1:])
        return out

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score sequences with the TSS readout.

        The exon readout needs each sequence's gene: see :meth:`score_haplotypes`.

        Raises
        ------
        ValueError
            ``readout`` is ``exons``.
        """
        if self.readout != "tss":
            raise ValueError(
                f"scorer {self.name!r}: the exon readout needs each sequence's gene; use "
                f"score_haplotypes"
            )
        return self.score_bins(codes, self.tss_bins)

    def coverage(self, codes: np.ndarray, bins: np.ndarray):
        """Replicate-averaged predictions of the selected tracks at some output bins.

        ``tracks`` (the first track set); :meth:`coverages` gives every set's.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
            Gene-oriented windows, TSS at ``window_bp // 2``.
        bins : numpy.ndarray, shape (K,), int
            Output bins (``[0, n_bins)``).

        Returns
        -------
        torch.Tensor, shape (N, T, K), float32, on the CPU
            Borzoi's (squashed) output scale; T = ``len(tracks)``.
        """
        return self.coverages(codes, bins)[0]

    def coverages(self, codes: np.ndarray, bins: np.ndarray) -> list:
        """:meth:`coverage` of every track set, from one trunk pass per replicate (and strand).

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
        bins : numpy.ndarray, shape (K,), int

        Returns
        -------
        list of torch.Tensor, shape (N, T_s, K), float32, on the CPU
            One per track set; T_s its tracks.
        """
        import torch

        from ps2f.genome.encoding import one_hot

        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.window_bp or codes.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 codes of shape (N, {self.window_bp}), got {codes.dtype} "
                f"{codes.shape}"
            )
        sel = torch.as_tensor(np.asarray(bins, dtype=np.int64), device=self.device)
        # view: (reverse complement?, bins, each set's head rows by replicate)
        views = [(False, sel, [heads for heads, _, _ in self._sets])]
        if self.strand_pairs is not None:  # reverse complement: mirrored bins, paired tracks
            views.append((True, self.n_bins - 1 - sel, [pairs for _, pairs, _ in self._sets]))
        out: list[list] = [[] for _ in self._sets]
        with torch.no_grad():
            for s in range(0, len(codes), self.batch_size):
                c = torch.from_numpy(np.ascontiguousarray(codes[s : s + self.batch_size]))
                x = one_hot(c.to(self.device))  # (n, 4, L): Borzoi's layout, ACGT
                acc: list = [None] * len(self._sets)
                for rc, at, set_heads in views:
                    xi = x.flip(dims=(1, 2)) if rc else x  # ACGT: flipping both = rev. compl.
                    for r, model in enumerate(self.models):
                        ys = self._forward_bins(model, xi, at, [h[r] for h in set_heads])
                        acc = [y if a is None else a + y for a, y in zip(acc, ys, strict=True)]
                for j, a in enumerate(acc):
                    out[j].append((a / (len(self.models) * len(views))).cpu())
        return [torch.cat(o) for o in out]

    def _forward_bins(self, model, x, bins, heads):
        """One replicate's softplus outputs at ``bins``, per head rows ``(w, b)`` of ``heads``.

        The trunk runs once; returns one ``(n, T, K)`` tensor per entry of ``heads``.
        """
        import torch
        import torch.nn.functional as F

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            emb = model.get_embs_after_crop(x)  # (n, dim, n_bins)
            if emb.shape[2] != self.n_bins:
                raise RuntimeError(
                    f"Borzoi returned {emb.shape[2]} bins, expected {self.n_bins} for "
                    f"{self.window_bp}-bp windows"
                )
            # per-bin layers (1x1 convolution, GELU): only the bins read
            h = model.final_joined_convs(emb.index_select(2, bins))
        with torch.autocast(self.device.type, enabled=False):
            h = h.float()
            return [F.softplus(F.conv1d(h, w, b)) for w, b in heads]

    def score_bins(self, codes: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """The readout of :meth:`coverage` at ``bins``: unsquash, aggregate, log1p, track mean.

        Each track set is read out alone, with its own unsquash parameters.

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            ``(N, S)`` for S > 1 ``track_sets``.
        """
        import torch

        cols = []
        for cov, (_, _, params) in zip(self.coverages(codes, bins), self._sets, strict=True):
            y = cov.double()
            if params is not None:
                y = unsquash(y, *params)
            y = y.sum(dim=2) if self.bin_aggregate == "sum" else y.mean(dim=2)
            if self.log1p:
                y = torch.log1p(y)
            cols.append(y.mean(dim=1).numpy())
        return cols[0] if len(cols) == 1 else np.stack(cols, axis=1)


# ----------------------------------------------------------------------------------------------
# config


def _weights_list(spec: Mapping[str, Any], key: str) -> list[Path]:
    w = spec.get("weights")
    paths = [w] if isinstance(w, (str, Path)) else list(w or [])
    if not paths:
        raise ConfigError(f"{key}.weights: give one or more replicate paths. {WEIGHTS_HELP}.")
    return [Path(str(p)) for p in paths]


def _unsquash_params(table: pd.DataFrame, tracks: Sequence[int], key: str):
    missing = [c for c in ("clip_soft", "scale", "sum_stat") if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{key}: unsquash needs the targets table's {missing} columns (Borzoi's targets "
            f"layout); give such a table or set unsquash: false"
        )
    rows = table.set_index("index").reindex(list(tracks))
    absent = [t for t, ok in zip(tracks, rows["identifier"].notna(), strict=True) if not ok]
    if absent:
        raise ConfigError(f"{key}: tracks {absent[:5]} are not in the targets table")
    transform = np.where(rows["sum_stat"].astype(str) == "sum_sqrt", 0.75, 1.0)
    return (
        rows["clip_soft"].to_numpy(np.float64),
        rows["scale"].to_numpy(np.float64),
        transform,
    )


def _strand_pairs(table: pd.DataFrame, tracks: Sequence[int], key: str) -> list[int]:
    if table is None or "strand_pair" not in table.columns:
        raise ConfigError(
            f"{key}: average_strands needs the targets table's strand_pair column (Borzoi's "
            f"targets layout); give such a table or set average_strands: false"
        )
    rows = table.set_index("index").reindex(list(tracks))
    absent = [t for t, ok in zip(tracks, rows["strand_pair"].notna(), strict=True) if not ok]
    if absent:
        raise ConfigError(f"{key}: tracks {absent[:5]} are not in the targets table")
    return rows["strand_pair"].astype(np.int64).tolist()


def _needs_table(spec: Mapping[str, Any]) -> bool:
    every = [*spec["tracks"], *(t for ts in (spec.get("tissue_tracks") or {}).values() for t in ts)]
    named = any(
        not (isinstance(t, (int, np.integer)) or (isinstance(t, str) and t.strip().isdigit()))
        for t in every
    )
    return named or any(bool(spec[k]) for k in ("unsquash", "average_strands", "targets"))


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time checks (torch-free): weights, flashzoi, window, readout, GTF, tracks, options.

    Raises
    ------
    ps2f.errors.ConfigError
    """
    geometries = set()
    for i, path in enumerate(_weights_list(spec, key)):
        k = f"{key}.weights[{i}]"
        if not path.exists():
            raise ConfigError(f"{k}: {str(path)!r} does not exist. {WEIGHTS_HELP}.")
        arch = _architecture(path, spec.get("hparams") or {}, k)
        if bool(arch["flashed"]) != bool(spec["flashzoi"]):
            raise ConfigError(
                f"{k}: {path} holds a {'Flashzoi' if arch['flashed'] else 'Borzoi'} model "
                f"(config.json flashed: {arch['flashed']}) but flashzoi is {spec['flashzoi']}; "
                f"set flashzoi to match the weights"
            )
        geometries.add(int(arch["bins_to_return"]))
    if len(geometries) > 1:
        raise ConfigError(f"{key}.weights: the replicates crop to different lengths {geometries}")
    try:
        _, n_bins = output_geometry(int(spec["window_bp"]), geometries.pop())
    except ConfigError as err:
        raise ConfigError(f"{key}.{err}") from None
    if spec["readout"] not in READOUTS:
        raise ConfigError(f"{key}.readout must be one of {READOUTS}, got {spec['readout']!r}")
    if spec["readout"] == "exons":
        if not spec.get("gtf"):
            raise ConfigError(
                f"{key}: readout exons needs gtf (a GTF with the genes' exon records, e.g. "
                f"GENCODE's annotation of the expression file's release), or use readout: tss"
            )
        if not Path(str(spec["gtf"])).is_file():
            raise ConfigError(f"{key}.gtf: {str(spec['gtf'])!r} not found")
    k = int(spec["n_tss_bins"])
    if not 1 <= k <= n_bins:
        raise ConfigError(f"{key}.n_tss_bins {k}: must be in [1, {n_bins}]")
    for name, allowed in (
        ("bin_aggregate", _BIN_AGGREGATES),
        ("device", DEVICES),
        ("precision", _PRECISIONS),
    ):
        if spec[name] not in allowed:
            raise ConfigError(f"{key}.{name} must be one of {allowed}, got {spec[name]!r}")
    if spec["flashzoi"] and spec["precision"] == "fp32":
        raise ConfigError(f"{key}: Flashzoi (flash-attn) runs in bf16 only; precision: fp32")
    if int(spec["batch_size"]) < 1:
        raise ConfigError(f"{key}.batch_size must be >= 1")
    table = None
    if _needs_table(spec):
        table = read_targets(_targets_path(spec.get("targets"), f"{key}.targets"), f"{key}.targets")
    check_tracks(spec, spec["tracks"], table, f"{key}.tracks", f"{key}.targets")
    for _, tracks, k in tissue_track_lists(spec, key):
        check_tracks(spec, tracks, table, k, f"{k} ({key}.targets)")


def check_tracks(
    spec: Mapping[str, Any],
    tracks: Sequence[int | str],
    table: pd.DataFrame | None,
    key: str,
    targets_key: str = "targets",
) -> list[int]:
    """Resolve one track list of a config (``tracks`` or a ``tissue_tracks`` entry) and check it.

    Parameters
    ----------
    spec : mapping
        The scorer config (``unsquash``, ``average_strands``, ``targets``).
    tracks : sequence of int or str
        Indices, identifiers or descriptions (:func:`resolve_tracks`).
    table : pandas.DataFrame or None
        The targets table (:func:`read_targets`), when the config needs one.
    key : str
        The list's config key, e.g. ``scorers[0].tracks`` or ``scorers[0].tissue_tracks.Liver``.
    targets_key : str
        What names the targets table in messages about its rows.

    Returns
    -------
    list of int

    Raises
    ------
    ps2f.errors.ConfigError
        See :func:`resolve_tracks`; an index past the human head; tracks the targets table
        lacks for ``unsquash`` or ``average_strands``.
    """
    out = resolve_tracks(tracks, table, key=key)
    over = [t for t in out if t >= _N_HUMAN_TRACKS]
    if over:
        raise ConfigError(f"{key} {over}: Borzoi's human head has {_N_HUMAN_TRACKS} tracks")
    if spec["unsquash"]:
        _unsquash_params(table, out, targets_key)
    if spec["average_strands"]:
        _strand_pairs(table, out, targets_key)
    return out


def from_config(spec: Mapping[str, Any], key: str) -> BorzoiScorer:
    """Load the replicates and build the scorer of a ``type: borzoi`` config entry.

    Raises
    ------
    ps2f.errors.ConfigError, ps2f.errors.InputError, ps2f.errors.Ps2fError
        See :func:`load_borzoi`, :func:`ps2f.io.gtf.read_gene_exons` and
        :class:`BorzoiScorer`.
    """
    from ps2f.io.gtf import read_gene_exons

    table = None
    if _needs_table(spec):
        table = read_targets(_targets_path(spec.get("targets"), f"{key}.targets"), f"{key}.targets")
    sets = [resolve_tracks(ts, table, key=f"{key}.tracks") for ts in configured_track_sets(spec)]
    params = [_unsquash_params(table, ts, f"{key}.targets") for ts in sets if spec["unsquash"]]
    pairs = [_strand_pairs(table, ts, f"{key}.targets") for ts in sets if spec["average_strands"]]
    multi = len(sets) > 1
    models = [
        load_borzoi(
            p, flashzoi=bool(spec["flashzoi"]), hparams=spec.get("hparams"), key=f"{key}.weights[{i}]"
        )
        for i, p in enumerate(_weights_list(spec, key))
    ]
    exons = read_gene_exons(spec["gtf"]) if spec["readout"] == "exons" else None
    try:
        return BorzoiScorer(
            spec["name"],
            models,
            window_bp=spec["window_bp"],
            tracks=sets[0],
            readout=spec["readout"],
            exons=exons,
            gtf=None if exons is None else str(spec["gtf"]),
            n_tss_bins=spec["n_tss_bins"],
            bin_aggregate=spec["bin_aggregate"],
            unsquash_params=(params if multi else params[0]) if spec["unsquash"] else None,
            log1p=spec["log1p"],
            strand_pairs=(pairs if multi else pairs[0]) if spec["average_strands"] else None,
            batch_size=spec["batch_size"],
            device=spec["device"],
            precision=spec["precision"],
            track_sets=sets if multi else None,
        )
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None
