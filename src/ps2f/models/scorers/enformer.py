"""Enformer (Avsec et al. 2021) through ``enformer-pytorch``, scoring each haplotype at its TSS.

Protocol (Huang et al. 2023; Sasse et al. 2023): each haplotype's 196,608-bp window, centred on
the TSS, is scored alone; the score is a CAGE track summed over the TSS bins (default the three
centre output bins 447-449 of 896 x 128 bp), and the individual's prediction is the mean (or
sum) of their two haplotypes. Published track choices: **5110**, CAGE GM12878, for LCL cohorts
(Huang 2023, Geuvadis); **4980**, CAGE brain, for ROSMAP DLPFC (Sasse 2023; SAGE-net's Enformer
comparison). Several tracks are averaged.

Orientation: the adapter scores the window as :class:`ps2f.genome.haplotypes.HaplotypeBuilder`
builds it, 5'->3' on the gene's strand, so a minus-strand gene's input is the reverse complement
of its forward-strand window (Enformer was trained with reverse-complement augmentation). With
an even L the TSS falls at position ``L // 2``, the first base of output bin ``n_bins // 2``
(448 of 896), so the centre bins 447-449 cover the TSS +- one 128-bp bin.

Layout: ps2f's one-hot is ``(N, 4, L)`` (:mod:`ps2f.genome.encoding`); Enformer takes
``(N, L, 4)``. The conversion happens in :func:`to_enformer_layout`, here and nowhere else.

Weights are read from a local path only (``HF_HUB_OFFLINE=1``, ``local_files_only=True``):

* a Hugging Face-format directory (``config.json`` + ``pytorch_model.bin`` or
  ``model.safetensors``), e.g. made once on a machine with internet by
  ``from_pretrained('EleutherAI/enformer-official-rough').save_pretrained(DIR,
  safe_serialization=False)`` (enformer-pytorch's modules share tensors, which the default
  safetensors format refuses) or ``huggingface-cli download EleutherAI/enformer-official-rough
  --local-dir DIR``;
* or a state-dict file (``.pt``/``.pth``/``.bin``: ``torch.save(model.state_dict())``;
  ``.safetensors``), with the architecture from the config's ``hparams`` (default: the
  published Enformer).

Memory (inference under ``torch.no_grad``): one 196,608-bp forward pass *with* autograd needs
~14 GB of GPU memory (the figure reported for enformer-pytorch; not measured here). Without it activations are freed layer by
layer and the peak is set by the full-resolution stem (768 channels x 196,608 positions,
~0.6 GB per tensor per sequence in float32). Measured here on CPU with the published
architecture (251 M parameters, random weights), float32, ``no_grad``: peak resident memory
1.3 GB before the forward pass (weights + runtime), 3.9 GB at batch 1 and 6.4 GB at batch 2,
i.e. ~2.5 GB of activations per sequence. bf16 autocast halves the activations, so on a GPU
a batch of 4 needs roughly 1.5 GB + 4 x 1.3 GB ~ 7 GB (an estimate from those numbers: no GPU
was available to measure); ``batch_size: 4`` fits a 16-GB GPU; raise it on larger ones.

Precision: ``precision: auto`` runs the trunk in bf16 autocast on CUDA (float32 on CPU) and
the output head in float32. bf16 keeps ~3 significant digits, which can be coarser than the
effect of one SNV at a TSS: set ``precision: fp32`` when haplotype differences matter more
than speed.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, Ps2fError
from ps2f.models.scorers.base import (
    DEVICES,
    SequenceScorer,
    configured_track_sets,
    resolve_device,
    tissue_track_lists,
)

__all__ = [
    "SEQUENCE_LENGTH",
    "PUBLISHED_TRACKS",
    "DEFAULTS",
    "REQUIRED",
    "WEIGHTS_HELP",
    "read_targets",
    "resolve_tracks",
    "centre_bins",
    "load_enformer",
    "to_enformer_layout",
    "EnformerScorer",
    "check_tracks",
    "check_config",
    "from_config",
]

SEQUENCE_LENGTH = 196_608
#: Tracks used by the published personal-genome evaluations of Enformer.
PUBLISHED_TRACKS: dict[str, int] = {
    "CAGE GM12878 (Huang 2023)": 5110,
    "CAGE brain (Sasse 2023)": 4980,
}
REQUIRED: tuple[str, ...] = ("weights",)
DEFAULTS: dict[str, Any] = {
    "aggregate": "mean",
    "window_bp": SEQUENCE_LENGTH,
    "head": "human",
    "tracks": [5110],
    "targets_file": None,
    "tss_bins": None,
    "batch_size": 4,
    "device": "auto",
    "precision": "auto",
    "use_tf_gamma": None,
    "hparams": {},
    "tissue_tracks": {},
}
# EnformerConfig's defaults (the published model), for torch-free checks at parse time
_ARCH_DEFAULTS = {
    "dim": 1536,
    "depth": 11,
    "heads": 8,
    "target_length": 896,
    "num_downsamples": 7,
    "output_heads": {"human": 5313, "mouse": 1643},
}
_TF_GAMMA_POSITIONS = 1536  # enformer-pytorch's precomputed TF gamma features: 1536 positions
_TF_GAMMA_FEATURES = 192  # ... and dim // heads = 192 relative-position features
_PRECISIONS = ("auto", "bf16", "fp32")
_WEIGHT_FILES = (
    "pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "model.safetensors.index.json",
)

WEIGHTS_HELP = (
    "Enformer weights are never downloaded at run time. Once, on a machine with internet: "
    '`pip install enformer-pytorch==0.8.12` then `python -c "from enformer_pytorch import '
    "from_pretrained; from_pretrained('EleutherAI/enformer-official-rough')"
    ".save_pretrained('resources/enformer', safe_serialization=False)\"` (or `huggingface-cli "
    "download EleutherAI/enformer-official-rough --local-dir resources/enformer`), copy the "
    "directory here and give its path"
)


def _import_enformer():
    """enformer-pytorch's ``Enformer`` class, imported offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from enformer_pytorch import Enformer
    except ImportError as exc:
        raise Ps2fError(
            f"the Enformer scorer needs enformer-pytorch ({exc}); install it with "
            f"`pip install -r requirements.txt` or `pip install 'ps2f[enformer]'` (pins "
            f"enformer-pytorch==0.8.12, transformers==4.56.2)"
        ) from exc
    return Enformer


# ----------------------------------------------------------------------------------------------
# tracks and bins


def read_targets(path: str | Path, key: str = "targets_file") -> pd.DataFrame:
    """Read a local Enformer targets table (the Basenji ``targets_human.txt`` layout).

    Parameters
    ----------
    path : str or pathlib.Path
        Tab-separated, with a ``description`` column. The track index is the ``index`` column
        if present, else an unnamed integer first column, else the row number (0-based).
    key : str
        Config key that named the file (for messages).

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (int64) and ``description`` (str).

    Raises
    ------
    ps2f.errors.ConfigError
        Missing file, no ``description`` column, or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{key}: Enformer targets table {str(path)!r} not found. ps2f ships none: use the "
            f"targets_human.txt of the Enformer/Basenji release, saved locally, or give tracks "
            f"by index (e.g. 5110 = CAGE GM12878, 4980 = CAGE brain)"
        )
    try:
        df = pd.read_csv(path, sep="\t")
    except Exception as exc:
        raise ConfigError(f"{key}: cannot read {path} ({type(exc).__name__}: {exc})") from exc
    if "description" not in df.columns:
        raise ConfigError(f"{key}: {path} has no 'description' column (has {list(df.columns)[:8]})")
    first = df.columns[0]
    if "index" in df.columns:
        index = df["index"]
    elif (str(first).startswith("Unnamed") or str(first) == "") and pd.api.types.is_integer_dtype(
        df[first]
    ):
        index = df[first]
    else:
        index = pd.Series(np.arange(len(df)))
    return pd.DataFrame(
        {"index": index.astype(np.int64).to_numpy(), "description": df["description"].astype(str)}
    )


def resolve_tracks(
    tracks: Sequence[int | str], targets_file: str | Path | None = None, key: str = "tracks"
) -> list[int]:
    """Turn track indices and/or descriptions into indices.

    Parameters
    ----------
    tracks : sequence of int or str
        Indices (``5110``, or the string ``"5110"``) or exact descriptions (e.g.
        ``"CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_"``); a description is matched
        exactly, then case-insensitively.
    targets_file : str or pathlib.Path, optional
        Local targets table (:func:`read_targets`); needed for descriptions.
    key : str
        Config key (for messages).

    Returns
    -------
    list of int

    Raises
    ------
    ps2f.errors.ConfigError
        Empty list, negative index, a description without a targets file, an unknown
        description (the closest ones are listed), or one matching several tracks.
    """
    if not tracks:
        raise ConfigError(f"{key}: give at least one track (e.g. 5110, CAGE GM12878)")
    out: list[int] = []
    table: pd.DataFrame | None = None
    for t in tracks:
        if isinstance(t, (int, np.integer)) or (isinstance(t, str) and t.strip().isdigit()):
            i = int(t)
            if i < 0:
                raise ConfigError(f"{key}: track index {i} is negative")
            out.append(i)
            continue
        if targets_file is None:
            raise ConfigError(
                f"{key}: track {t!r} is a description, which needs a local targets table "
                f"(set targets_file); or give the track's index (5110 = CAGE GM12878, 4980 = CAGE "
                f"brain)"
            )
        if table is None:
            table = read_targets(targets_file, key=f"{key} (targets_file)")
        desc = table["description"]
        hit = table.loc[desc == t]
        if hit.empty:
            hit = table.loc[desc.str.lower() == str(t).lower()]
        if hit.empty:
            close = difflib.get_close_matches(str(t), desc.tolist(), n=5, cutoff=0.5)
            raise ConfigError(
                f"{key}: no track described {t!r} in {targets_file}; closest: {close}"
            )
        if len(hit) > 1:
            raise ConfigError(
                f"{key}: {len(hit)} tracks are described {t!r} (indices "
                f"{hit['index'].tolist()[:10]}); give the index you mean"
            )
        out.append(int(hit["index"].iloc[0]))
    return out


def centre_bins(n_bins: int, k: int = 3) -> list[int]:
    """The ``k`` output bins centred on bin ``n_bins // 2`` (the TSS bin of a centred window).

    ``centre_bins(896) == [447, 448, 449]`` (Huang 2023; Sasse 2023).
    """
    lo = n_bins // 2 - (k - 1) // 2
    return list(range(lo, lo + k))


# ----------------------------------------------------------------------------------------------
# loading


def _alias_groups(model) -> dict[str, set[str]]:
    """State-dict names that share storage (enformer-pytorch registers modules twice)."""
    groups: dict[tuple, set[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        groups.setdefault((t.data_ptr(), t.shape, t.dtype), set()).add(name)
    return {n: g for g in groups.values() for n in g}


def _read_state_dict(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not state:
        raise ValueError("not a state dict (expected a mapping of parameter names to tensors)")
    return dict(state)


def load_enformer(
    weights: str | Path, *, hparams: Mapping[str, Any] | None = None, key: str = "weights"
):
    """Load Enformer weights from a local path, offline.

    Parameters
    ----------
    weights : str or pathlib.Path
        A Hugging Face-format directory (``config.json`` + weights) or a state-dict file
        (``.pt``, ``.pth``, ``.bin``, ``.safetensors``).
    hparams : mapping, optional
        ``EnformerConfig`` arguments for a state-dict file (default: the published model);
        ignored for a directory, whose ``config.json`` defines the architecture.
    key : str
        Config key that named the path (for messages).

    Returns
    -------
    enformer_pytorch.Enformer
        On the CPU, in eval mode.

    Raises
    ------
    ps2f.errors.ConfigError
        Missing path, a directory without ``config.json`` or weights, an unreadable file, or
        weights that do not fit the architecture. Messages name ``key`` and say how to obtain
        the weights.
    ps2f.errors.Ps2fError
        enformer-pytorch is not installed.
    """
    path = Path(weights)
    if not path.exists():
        raise ConfigError(f"{key}: {str(path)!r} does not exist. {WEIGHTS_HELP}.")
    Enformer = _import_enformer()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{key}: {path} is a directory without config.json (has "
                f"{sorted(p.name for p in path.iterdir())[:8]}); expected a Hugging Face-format "
                f"directory. {WEIGHTS_HELP}."
            )
        if not any((path / f).is_file() for f in _WEIGHT_FILES):
            raise ConfigError(
                f"{key}: {path} has config.json but no weights (one of {list(_WEIGHT_FILES)}). "
                f"{WEIGHTS_HELP}."
            )
        try:
            model, info = Enformer.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True
            )
        except Exception as exc:
            raise ConfigError(
                f"{key}: cannot load Enformer from {path} ({type(exc).__name__}: {exc}). "
                f"{WEIGHTS_HELP}."
            ) from exc
        bad = {k: info.get(k) for k in ("missing_keys", "mismatched_keys") if info.get(k)}
        if bad:
            raise ConfigError(
                f"{key}: the weights in {path} do not fit its config.json: "
                + "; ".join(f"{k} {list(v)[:5]}" for k, v in bad.items())
            )
    else:
        try:
            state = _read_state_dict(path)
        except Exception as exc:
            raise ConfigError(
                f"{key}: cannot read Enformer weights from {path} ({type(exc).__name__}: {exc}); "
                f"expected a state dict saved with torch.save or safetensors. {WEIGHTS_HELP}."
            ) from exc
        model = Enformer.from_hparams(**dict(hparams or {}))
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ConfigError(
                f"{key}: the weights in {path} do not fit the architecture (hparams "
                f"{dict(hparams or {})}): {str(exc)[:500]}"
            ) from exc
        aliases = _alias_groups(model)
        loaded = set(state)
        missing = [k for k in result.missing_keys if not (aliases.get(k, {k}) & loaded)]
        if missing or result.unexpected_keys:
            raise ConfigError(
                f"{key}: the weights in {path} do not fit the architecture (hparams "
                f"{dict(hparams or {})}): missing {missing[:5]}, unexpected "
                f"{list(result.unexpected_keys)[:5]}"
            )
    return model.eval()


def to_enformer_layout(x):
    """ps2f one-hot ``(N, 4, L)`` -> Enformer's ``(N, L, 4)`` (the only place this happens).

    Parameters
    ----------
    x : torch.Tensor, shape (N, 4, L), float
        One-hot in ACGT order, N = zeros (:func:`ps2f.genome.encoding.one_hot`).

    Returns
    -------
    torch.Tensor, shape (N, L, 4)

    Raises
    ------
    ValueError
        ``x`` is not ``(N, 4, L)``.
    """
    if x.ndim != 3 or x.shape[1] != 4:
        raise ValueError(f"expected one-hot of shape (N, 4, L), got {tuple(x.shape)}")
    return x.transpose(1, 2)


# ----------------------------------------------------------------------------------------------
# the scorer



class EnformerScorer(SequenceScorer):
    """Score haplotypes with Enformer: selected tracks, summed over TSS bins, averaged over tracks.

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    model : enformer_pytorch.Enformer
        E.g. from :func:`load_enformer`.
    window_bp : int
        Input length L (196,608 for the published model); a multiple of
        ``2 ** num_downsamples`` giving at least ``target_length`` positions.
    tracks : sequence of int
        Output track indices of ``head`` (see :func:`resolve_tracks`).
    tss_bins : sequence of int, optional
        Output bins summed per track; default :func:`centre_bins` (447-449 of 896).
    head : str
        Output head (``human`` or ``mouse``).
    batch_size : int
        Sequences per forward pass (see the module docstring for memory).
    device : {"auto", "cpu", "cuda"}
    precision : {"auto", "bf16", "fp32"}
        ``auto``: bf16 autocast on CUDA, float32 on CPU. The head always runs in float32.
    use_tf_gamma : bool, optional
        Use enformer-pytorch's precomputed TensorFlow gamma positional features (matches the
        TF model more closely; only for the published dimensions with 1536 positions).
        ``None``: on exactly when the dimensions allow it.
    track_sets : sequence of sequence of int, optional
        Every track set read from each forward pass (config ``tissue_tracks``: ``tracks``
        first, then each tissue's); with S > 1 sets :meth:`score_sequences` returns
        ``(N, S)``. None: ``[tracks]``.

    Raises
    ------
    ps2f.errors.ConfigError
        Window length, bins, tracks, head, device or precision inconsistent with the model.
    """

    def __init__(
        self,
        name: str,
        model,
        window_bp: int,
        tracks: Sequence[int],
        tss_bins: Sequence[int] | None = None,
        head: str = "human",
        batch_size: int = 4,
        device: str = "auto",
        precision: str = "auto",
        use_tf_gamma: bool | None = None,
        track_sets: Sequence[Sequence[int]] | None = None,
    ) -> None:
        self.name = name
        self.window_bp = int(window_bp)
        cfg = model.config
        stride = 2**cfg.num_downsamples
        if self.window_bp % stride:
            raise ConfigError(
                f"window_bp {self.window_bp} is not a multiple of Enformer's total stride {stride}"
            )
        n_pos = self.window_bp // stride
        target = model.crop_final.target_length
        self.n_bins = n_pos if target == -1 else int(target)
        if n_pos < self.n_bins:
            raise ConfigError(
                f"window_bp {self.window_bp} gives {n_pos} positions, fewer than the model's "
                f"{self.n_bins} output bins; Enformer takes {SEQUENCE_LENGTH} bp"
            )
        self.tss_bins = list(centre_bins(self.n_bins) if tss_bins is None else map(int, tss_bins))
        bad = [b for b in self.tss_bins if not 0 <= b < self.n_bins]
        if bad or not self.tss_bins:
            raise ConfigError(f"tss_bins {self.tss_bins}: must be in [0, {self.n_bins})")
        if head not in model.output_heads:
            raise ConfigError(f"head {head!r}: the model has heads {list(model.output_heads)}")
        self.head = head
        n_tracks = int(model.output_heads[head])
        self.tracks = [int(t) for t in tracks]
        if track_sets is not None:
            self.track_sets = [[int(t) for t in ts] for ts in track_sets]
        for ts in [self.tracks, *(self.track_sets or [])]:
            bad = [t for t in ts if not 0 <= t < n_tracks]
            if bad or not ts:
                raise ConfigError(f"tracks {bad or ts}: the {head} head has {n_tracks} tracks")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        if precision not in _PRECISIONS:
            raise ConfigError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
        self.bf16 = precision == "bf16" or (precision == "auto" and self.device.type == "cuda")
        tf_ok = n_pos == _TF_GAMMA_POSITIONS and cfg.dim // cfg.heads == _TF_GAMMA_FEATURES
        if use_tf_gamma and not tf_ok:
            raise ConfigError(
                f"use_tf_gamma needs {_TF_GAMMA_POSITIONS} positions and dim/heads = "
                f"{_TF_GAMMA_FEATURES} (the published Enformer at {SEQUENCE_LENGTH} bp)"
            )
        self.use_tf_gamma = tf_ok if use_tf_gamma is None else bool(use_tf_gamma)
        for module in model.modules():
            if hasattr(module, "use_tf_gamma"):
                module.use_tf_gamma = self.use_tf_gamma
        self.model = model.to(self.device).eval()

    def describe(self) -> str:
        """Tracks, bins, window, device and precision."""
        tracks = self.tracks if self.n_track_sets == 1 else f"sets {self.track_sets}"
        return (
            f"Enformer {self.name!r}: {self.head} tracks {tracks} summed over bins "
            f"{self.tss_bins} of {self.n_bins}, {self.window_bp} bp windows, {self.device}, "
            f"{'bf16' if self.bf16 else 'fp32'} trunk, tf_gamma={self.use_tf_gamma}, "
            f"batch {self.batch_size}"
        )

    def score_sequences(self, codes: np.ndarray) -> np.ndarray:
        """Score sequences: mean over ``tracks`` of the sum over ``tss_bins``.

        With several ``track_sets``, one forward pass per batch and that readout per set.

        Parameters
        ----------
        codes : numpy.ndarray, shape (N, window_bp), uint8
            Strand-oriented windows, TSS at ``window_bp // 2``.

        Returns
        -------
        numpy.ndarray, shape (N,) or (N, S), float64
            Model units (the track's predicted coverage); ``(N, S)`` for S > 1 track sets.
        """
        import torch

        from ps2f.genome.encoding import one_hot

        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.window_bp or codes.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 codes of shape (N, {self.window_bp}), got {codes.dtype} "
                f"{codes.shape}"
            )
        sets = [self.tracks] if self.track_sets is None else self.track_sets
        out = np.empty((len(codes), len(sets)), dtype=np.float64)
        bins = torch.as_tensor(self.tss_bins, device=self.device)
        tracks = [torch.as_tensor(ts, device=self.device) for ts in sets]
        head = self.model.heads[self.head]
        with torch.no_grad():
            for s in range(0, len(codes), self.batch_size):
                c = torch.from_numpy(np.ascontiguousarray(codes[s : s + self.batch_size]))
                x = to_enformer_layout(one_hot(c.to(self.device)))  # (n, L, 4)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    emb = self.model(x, return_only_embeddings=True)  # (n, bins, 2 * dim)
                if emb.shape[:2] != (len(c), self.n_bins):
                    raise RuntimeError(
                        f"Enformer returned embeddings of shape {tuple(emb.shape)}, expected "
                        f"({len(c)}, {self.n_bins}, C)"
                    )
                with torch.autocast(self.device.type, enabled=False):
                    y = head(emb.index_select(1, bins).float())  # (n, n_bins_sel, n_tracks)
                for j, t in enumerate(tracks):
                    score = y.index_select(2, t).sum(dim=1).mean(dim=1)
                    out[s : s + len(c), j] = score.double().cpu().numpy()
        return out[:, 0] if len(sets) == 1 else out


# ----------------------------------------------------------------------------------------------
# config


def _architecture(spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The model dimensions the config implies, read without torch (config.json or hparams)."""
    path = Path(str(spec["weights"]))
    arch = dict(_ARCH_DEFAULTS)
    if path.is_dir():
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise ConfigError(
                f"{key}.weights: {path} is a directory without config.json; expected a Hugging "
                f"Face-format directory. {WEIGHTS_HELP}."
            )
        try:
            arch.update({k: v for k, v in json.loads(cfg_path.read_text()).items() if k in arch})
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{key}.weights: cannot read {cfg_path} ({exc})") from exc
    else:
        arch.update({k: v for k, v in dict(spec.get("hparams") or {}).items() if k in arch})
    return arch


def _check_weights_file(path: Path, key: str, advice: str = WEIGHTS_HELP) -> None:
    """A weights file must be readable, non-empty, and a torch.save zip/pickle or safetensors.

    Only the first bytes are read (torch-free); :func:`load_enformer` reads the rest. ``advice``
    ends each message (how to obtain usable weights).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot read {path} ({exc.strerror}); check its permissions. {advice}."
        ) from exc
    if not head:
        raise ConfigError(f"{key}: {path} is empty (an interrupted copy?). {advice}.")
    zip_file = head.startswith(b"PK\x03\x04")  # torch.save since torch 1.6
    pickle = head.startswith(b"\x80")  # legacy torch.save
    safetensors = len(head) == 9 and head[8:9] == b"{"  # 8-byte header length, then JSON
    if not (zip_file or pickle or safetensors):
        raise ConfigError(
            f"{key}: {path} is neither a torch.save checkpoint nor a safetensors file (it "
            f"starts with {head!r}); give a state dict or a Hugging Face-format directory. "
            f"{advice}."
        )


def check_tracks(
    spec: Mapping[str, Any],
    tracks: Sequence[int | str],
    key: str,
    heads: Mapping[str, int] | None = None,
) -> list[int]:
    """Resolve one track list of a config (``tracks`` or a ``tissue_tracks`` entry) and check it.

    Parameters
    ----------
    spec : mapping
        The scorer config (``targets_file``, ``head``, ``weights``/``hparams``).
    tracks : sequence of int or str
        Indices or descriptions (:func:`resolve_tracks`).
    key : str
        The list's config key, e.g. ``scorers[0].tracks`` or ``scorers[0].tissue_tracks.Brain``.
    heads : mapping of str to int, optional
        The model's tracks per head; default read from the config (torch-free).

    Returns
    -------
    list of int

    Raises
    ------
    ps2f.errors.ConfigError
        See :func:`resolve_tracks`; an index past the head's tracks.
    """
    if heads is None:
        heads = dict(_architecture(spec, key.split(".")[0])["output_heads"])
    out = resolve_tracks(tracks, spec.get("targets_file"), key=key)
    over = [t for t in out if t >= int(heads[spec["head"]])]
    if over:
        raise ConfigError(f"{key} {over}: the {spec['head']} head has {heads[spec['head']]} tracks")
    return out


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time checks (torch-free): weights path, window, bins, tracks, options.

    ``tracks`` and each ``tissue_tracks`` list are checked alike (:func:`check_tracks`).

    The weights must exist and be readable: a directory needs ``config.json``, and a
    state-dict file (or a directory's weight file) must start like a torch.save or safetensors
    file. Loading them fully (a directory without weight files, weights that do not fit the
    architecture) is checked by :func:`load_enformer`.

    Raises
    ------
    ps2f.errors.ConfigError
    """
    weights = spec.get("weights")
    if not weights or not Path(str(weights)).exists():
        raise ConfigError(f"{key}.weights: {str(weights)!r} does not exist. {WEIGHTS_HELP}.")
    path = Path(str(weights))
    arch = _architecture(spec, key)  # a directory's config.json
    if path.is_dir():
        for name in _WEIGHT_FILES[:2]:  # the single-file layouts (shards are listed in a .json)
            if (path / name).is_file():
                _check_weights_file(path / name, f"{key}.weights")
    else:
        _check_weights_file(path, f"{key}.weights")
    window = int(spec["window_bp"])
    stride = 2 ** int(arch["num_downsamples"])
    if window % stride or window // stride < int(arch["target_length"]):
        raise ConfigError(
            f"{key}.window_bp {window}: must be a multiple of {stride} giving at least "
            f"{arch['target_length']} output positions (Enformer: {SEQUENCE_LENGTH})"
        )
    n_bins = int(arch["target_length"]) if int(arch["target_length"]) != -1 else window // stride
    bins = spec.get("tss_bins")
    if bins is not None and (not bins or any(not 0 <= int(b) < n_bins for b in bins)):
        raise ConfigError(f"{key}.tss_bins {bins}: each must be in [0, {n_bins})")
    heads = dict(arch["output_heads"])
    if spec["head"] not in heads:
        raise ConfigError(f"{key}.head {spec['head']!r}: the model has heads {list(heads)}")
    check_tracks(spec, spec["tracks"], f"{key}.tracks", heads)
    for _, tracks, k in tissue_track_lists(spec, key):
        check_tracks(spec, tracks, k, heads)
    if spec.get("targets_file") and not Path(str(spec["targets_file"])).is_file():
        read_targets(spec["targets_file"], key=f"{key}.targets_file")  # raises the clear error
    for k, allowed in (("device", DEVICES), ("precision", _PRECISIONS)):
        if spec[k] not in allowed:
            raise ConfigError(f"{key}.{k} must be one of {allowed}, got {spec[k]!r}")
    if int(spec["batch_size"]) < 1:
        raise ConfigError(f"{key}.batch_size must be >= 1")


def from_config(spec: Mapping[str, Any], key: str) -> EnformerScorer:
    """Load the weights and build the scorer of a ``type: enformer`` config entry.

    Raises
    ------
    ps2f.errors.ConfigError, ps2f.errors.Ps2fError
        See :func:`load_enformer` and :class:`EnformerScorer`.
    """
    model = load_enformer(spec["weights"], hparams=spec.get("hparams"), key=f"{key}.weights")
    tracks = resolve_tracks(spec["tracks"], spec.get("targets_file"), key=f"{key}.tracks")
    sets = [
        resolve_tracks(ts, spec.get("targets_file"), key=f"{key}.tissue_tracks")
        for ts in configured_track_sets(spec)
    ]
    try:
        return EnformerScorer(
            spec["name"],
            model,
            window_bp=spec["window_bp"],
            tracks=tracks,
            tss_bins=spec.get("tss_bins"),
            head=spec["head"],
            batch_size=spec["batch_size"],
            device=spec["device"],
            precision=spec["precision"],
            use_tf_gamma=spec.get("use_tf_gamma"),
            track_sets=sets if len(sets) > 1 else None,
        )
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None
