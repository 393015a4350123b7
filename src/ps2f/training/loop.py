"""Train the p-model and the r-model, predict per individual, save and load checkpoints.

Items are (gene, individual) pairs identified by integer indices into the workflow's gene table
and individual table; sequences come from any object satisfying :class:`HaplotypeSource`.
Sequences travel as uint8 codes (:mod:`ps2f.genome.encoding`) to the training device and are
one-hot encoded there with :func:`ps2f.genome.encoding.one_hot`.

Methods
-------
p-model (SAGE-net, Spiro et al. 2026)
    Input: the item's two haplotypes. Targets: the gene's mean expression over its training
    individuals, and the individual's deviation from that mean divided by the gene's SD over
    training individuals (population SD, ``ddof=0``; a gene with SD 0 gets deviation 0). Loss
    ``lambda_mean * MSE(mean) + lambda_dev * MSE(deviation)``; Adam with weight decay and
    gradient-norm clipping.
r-model
    Input: the reference sequence only; target: the gene's mean expression; loss MSE of the
    mean head.
Reference scoring (Huang et al. 2023; Sasse et al. 2023)
    A reference-trained model scores each haplotype on its own and the individual's prediction is
    the average of the two haplotype scores.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ps2f.errors import InputError
from ps2f.genome.encoding import one_hot, reverse_complement_codes
from ps2f.models.cnn import S2FCNN, CNNConfig

__all__ = [
    "HaplotypeSource",
    "TrainConfig",
    "resolve_device",
    "train_p_model",
    "train_r_model",
    "p_model_targets",
    "predict_individuals",
    "save_model",
    "load_model",
]

_LOG = logging.getLogger(__name__)
_CHECKPOINT_FORMAT = "ps2f.S2FCNN"
_CHECKPOINT_VERSION = 1
PREDICTION_MODES = ("p", "reference_scoring")


@runtime_checkable
class HaplotypeSource(Protocol):
    """Anything that materializes TSS-centred, strand-oriented sequences as uint8 codes.

    Attributes
    ----------
    window_bp : int
        Window length ``L`` in bp; the TSS is at the centre.
    """

    window_bp: int

    def haplotypes(self, gene_index: np.ndarray, individual_index: np.ndarray) -> np.ndarray:
        """Return both haplotypes of each (gene, individual) pair.

        Parameters
        ----------
        gene_index, individual_index : numpy.ndarray, shape (batch,), int64
            Row indices into the gene table and the individual table, paired element-wise.

        Returns
        -------
        numpy.ndarray, shape (batch, 2, window_bp), uint8
            Codes ``A=0, C=1, G=2, T=3, N=4``, already reverse-complemented for minus-strand
            genes.
        """
        ...

    def reference(self, gene_index: np.ndarray) -> np.ndarray:
        """Return the reference sequence of each gene.

        Parameters
        ----------
        gene_index : numpy.ndarray, shape (batch,), int64

        Returns
        -------
        numpy.ndarray, shape (batch, window_bp), uint8
        """
        ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by :func:`train_p_model` and :func:`train_r_model`.

    Parameters
    ----------
    epochs : int
        Passes over the (possibly subsampled, see ``max_items_per_epoch``) training items.
    batch_size : int
        Items per optimiser step (an item of the p-model carries two haplotypes).
    lr : float
        Adam learning rate (SAGE-net: 5e-4).
    weight_decay : float
        Adam L2 weight decay (SAGE-net: 1e-5).
    lambda_mean, lambda_dev : float
        Weights of the mean-head and deviation-head MSE terms of the p-model loss.
    grad_clip : float or None
        Maximum global gradient norm (SAGE-net: 1); ``None`` disables clipping.
    seed : int
        Seeds model initialisation, dropout, shuffling and augmentation.
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
    num_workers : int
        DataLoader worker processes materializing batches (0 = in the main process).
    max_items_per_epoch : int or None
        ``None`` uses every item each epoch; otherwise each epoch draws a fresh seeded random
        subset of this many items, which bounds the cost of a CPU run.
    reverse_complement_augment : bool
        Reverse-complement each training item with probability 0.5 (both haplotypes together).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-5
    lambda_mean: float = 1.0
    lambda_dev: float = 1.0
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    max_items_per_epoch: int | None = None
    reverse_complement_augment: bool = False

    def validate(self) -> TrainConfig:
        """Check the settings and return ``self``.

        Raises
        ------
        ValueError
            If a count is not positive, a weight or rate is negative, or the device string is
            not understood; the message names the key.
        """
        for key in ("epochs", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)!r}")
        if self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be >= 0, got {self.num_workers!r}")
        if self.max_items_per_epoch is not None and self.max_items_per_epoch < 1:
            raise ValueError(
                "TrainConfig.max_items_per_epoch must be None or >= 1, "
                f"got {self.max_items_per_epoch!r}"
            )
        for key in ("lr", "weight_decay", "lambda_mean", "lambda_dev"):
            if not float(getattr(self, key)) >= 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be None or > 0, got {self.grad_clip!r}")
        resolve_device(self.device)
        return self


def resolve_device(device: str) -> torch.device:
    """Turn a device setting into a :class:`torch.device`.

    Parameters
    ----------
    device : str
        ``"auto"`` picks CUDA when available, else CPU; anything else is passed to
        :class:`torch.device`.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not a device, or CUDA is requested but not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"TrainConfig.device={device!r} is not a torch device: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"TrainConfig.device={device!r} but CUDA is not available; use 'auto'")
    return dev


# ----------------------------------------------------------------------------------------------
# batch materialization


def _check_codes(codes: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.shape != shape or codes.dtype != np.uint8:
        raise ValueError(
            f"{what} returned {codes.dtype} array of shape {codes.shape}; "
            f"expected uint8 of shape {shape}"
        )
    return codes


def _fetch_haplotypes(
    source: HaplotypeSource, genes: np.ndarray, individuals: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    codes = source.haplotypes(genes[idx], individuals[idx])
    return _check_codes(codes, (len(idx), 2, source.window_bp), "HaplotypeSource.haplotypes")


def _fetch_reference(source: HaplotypeSource, genes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    codes = source.reference(genes[idx])
    codes = _check_codes(codes, (len(idx), source.window_bp), "HaplotypeSource.reference")
    return codes[:, None, :]


class _Batches(Dataset):
    """Whole batches of uint8 codes ``(B, H, L)`` plus float32 targets, one per index."""

    def __init__(
        self,
        fetch: Callable[[np.ndarray], np.ndarray],
        plan: list[np.ndarray],
        flips: list[np.ndarray] | None,
        targets: tuple[np.ndarray, ...],
    ) -> None:
        self.fetch, self.plan, self.flips, self.targets = fetch, plan, flips, targets

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        idx = self.plan[i]
        codes = np.ascontiguousarray(self.fetch(idx))
        if self.flips is not None and self.flips[i].any():
            flip = self.flips[i]
            codes[flip] = reverse_complement_codes(codes[flip])
        return (torch.from_numpy(codes), *(torch.from_numpy(t[idx]) for t in self.targets))


# ----------------------------------------------------------------------------------------------
# training


@contextlib.contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    """Temporarily switch on ``torch.use_deterministic_algorithms`` (warn only)."""
    if not enabled:
        yield
        return
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    # filling every torch.empty with NaN costs ~30% of a CPU step and buys nothing here
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.utils.deterministic.fill_uninitialized_memory = prev_fill


def _fit(
    fetch: Callable[[np.ndarray], np.ndarray],
    n_items: int,
    target_mean: np.ndarray,
    target_dev: np.ndarray | None,
    cnn_config: CNNConfig,
    cfg: TrainConfig,
    log: logging.Logger,
    kind: str,
) -> S2FCNN:
    """Shared optimisation loop; ``target_dev is None`` trains the mean head only."""
    cfg.validate()
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    lambda_mean = cfg.lambda_mean if target_dev is not None else 1.0
    targets = (target_mean,) if target_dev is None else (target_mean, target_dev)
    rng_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
    )
    with torch.random.fork_rng(devices=rng_devices), _deterministic(not cuda):
        torch.manual_seed(cfg.seed)
        model = S2FCNN(cnn_config).to(device)
        with torch.no_grad():  # start the mean head at the average target: no huge first steps
            model.mean_head[-1].bias.fill_(float(target_mean.mean()))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)
        autocast = (
            functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
            if cuda
            else contextlib.nullcontext
        )
        history: list[dict[str, float]] = []
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            order = rng.permutation(n_items)
            if cfg.max_items_per_epoch is not None:
                order = order[: cfg.max_items_per_epoch]
            plan = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
            flips = None
            if cfg.reverse_complement_augment:
                flip_all = rng.random(len(order)) < 0.5
                flips = [
                    flip_all[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)
                ]
            loader = DataLoader(
                _Batches(fetch, plan, flips, targets),
                batch_size=None,
                shuffle=False,
                num_workers=cfg.num_workers,
                pin_memory=cuda,
            )
            model.train()
            sums = torch.zeros(2, dtype=torch.float64, device=device)
            for codes, *tgt in loader:
                x = one_hot(codes.to(device, non_blocking=True))
                tgt = [t.to(device, non_blocking=True) for t in tgt]
                with autocast():
                    mean, dev = model(x)
                loss_mean = torch.nn.functional.mse_loss(mean.float(), tgt[0])
                loss = lambda_mean * loss_mean
                if target_dev is not None:
                    loss_dev = torch.nn.functional.mse_loss(dev.float(), tgt[1])
                    loss = loss + cfg.lambda_dev * loss_dev
                else:
                    loss_dev = torch.zeros((), device=device)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                sums += torch.stack([loss_mean.detach(), loss_dev.detach()]).double() * len(codes)
            seconds = time.perf_counter() - t0
            n = len(order)
            m, d = (sums / max(n, 1)).tolist()
            record = {
                "epoch": epoch,
                "loss": lambda_mean * m + (cfg.lambda_dev * d if target_dev is not None else 0.0),
                "loss_mean": m,
                "loss_dev": d,
                "items": n,
                "seconds": seconds,
                "items_per_s": n / seconds if seconds > 0 else float("inf"),
            }
            history.append(record)
            log.info(
                "%s-model epoch %d/%d: loss %.4f (mean %.4f, deviation %.4f), %d items, "
                "%.1f items/s on %s",
                kind,
                epoch,
                cfg.epochs,
                record["loss"],
                m,
                d,
                n,
                record["items_per_s"],
                device,
            )
    model.eval()
    model.history = history
    model.trained_as = kind
    return model


def _index_column(df: pd.DataFrame, col: str, what: str) -> np.ndarray:
    values = df[col].to_numpy()
    if not np.issubdtype(values.dtype, np.integer) or (len(values) and values.min() < 0):
        raise ValueError(
            f"{what}: column {col!r} must hold non-negative integers, got {values.dtype}"
        )
    return values.astype(np.int64)


def _require(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; expected {list(columns)}")
    if len(df) == 0:
        raise ValueError(f"{what}: no rows to train on")


def p_model_targets(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Compute the p-model's two targets for every item.

    Parameters
    ----------
    items : pandas.DataFrame
        Columns ``gene_index`` and ``observed`` (training individuals only).

    Returns
    -------
    mean : numpy.ndarray, shape (n_items,), float32
        The item's gene mean of ``observed`` over its rows.
    deviation : numpy.ndarray, shape (n_items,), float32
        ``(observed - mean) / sd`` with the gene's population SD (``ddof=0``); 0 where the SD
        is 0.
    """
    grouped = items.groupby("gene_index")["observed"]
    mean = grouped.transform("mean").to_numpy(np.float64)
    sd = grouped.transform(lambda v: v.std(ddof=0)).to_numpy(np.float64)
    centred = items["observed"].to_numpy(np.float64) - mean
    dev = np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)
    return mean.astype(np.float32), dev.astype(np.float32)


def train_p_model(
    source: HaplotypeSource,
    items: pd.DataFrame,
    cnn_config: CNNConfig,
    train_config: TrainConfig,
    log: logging.Logger | None = None,
) -> S2FCNN:
    """Fit the personal (p-) model on both haplotypes of training genes x training individuals.

    Parameters
    ----------
    source : HaplotypeSource
        Materializes ``(batch, 2, L)`` uint8 haplotype codes; ``source.window_bp`` must equal
        ``cnn_config.window_bp``.
    items : pandas.DataFrame
        One row per (training gene, training individual): ``gene_index`` (int), ``individual_index``
        (int), ``observed`` (float, normalized expression, e.g. log1p RPKM).
    cnn_config : CNNConfig
    train_config : TrainConfig
    log : logging.Logger, optional
        Receives one INFO line per epoch; the module logger by default.

    Returns
    -------
    S2FCNN
        The fitted model in eval mode, on the training device, with ``model.history`` a list of
        one dict per epoch (``epoch, loss, loss_mean, loss_dev, items, seconds, items_per_s``)
        and ``model.trained_as == "p"``.

    Raises
    ------
    ValueError
        If ``items`` lacks a column, has non-finite ``observed``, repeats a (gene, individual)
        pair, or the window lengths disagree; or a configuration is invalid.

    Notes
    -----
    Targets and loss follow SAGE-net (see module docstring). On CPU the run is bitwise
    reproducible for a fixed seed and thread count; on CUDA it uses bf16 autocast and pinned
    memory and is seeded but not bitwise reproducible. The global torch RNG state is left as it
    was.
    """
    what = "train_p_model items"
    _require(items, ("gene_index", "individual_index", "observed"), what)
    _check_window(source, cnn_config)
    genes = _index_column(items, "gene_index", what)
    individuals = _index_column(items, "individual_index", what)
    observed = items["observed"].to_numpy(np.float64)
    if not np.isfinite(observed).all():
        raise ValueError(
            f"{what}: column 'observed' has {int((~np.isfinite(observed)).sum())} non-finite values"
        )
    if pd.DataFrame({"g": genes, "i": individuals}).duplicated().any():
        raise ValueError(f"{what}: repeated (gene_index, individual_index) pairs")
    frame = pd.DataFrame({"gene_index": genes, "observed": observed})
    target_mean, target_dev = p_model_targets(frame)
    fetch = functools.partial(_fetch_haplotypes, source, genes, individuals)
    return _fit(
        fetch, len(items), target_mean, target_dev, cnn_config, train_config, log or _LOG, "p"
    )


def train_r_model(
    source: HaplotypeSource,
    genes: pd.DataFrame,
    cnn_config: CNNConfig,
    train_config: TrainConfig,
    log: logging.Logger | None = None,
) -> S2FCNN:
    """Fit the reference (r-) model: reference sequence -> the gene's mean expression.

    Parameters
    ----------
    source : HaplotypeSource
        Provides ``(batch, L)`` reference codes via ``source.reference``.
    genes : pandas.DataFrame
        One row per training gene: ``gene_index`` (int), ``mean_observed`` (float, the gene's
        mean normalized expression over training individuals).
    cnn_config, train_config, log
        As in :func:`train_p_model` (``lambda_mean`` and ``lambda_dev`` are not used: the loss
        is the MSE of the mean head).

    Returns
    -------
    S2FCNN
        Fitted model in eval mode with ``history`` and ``trained_as == "r"``.

    Raises
    ------
    ValueError
        If a column is missing, a value is non-finite, a gene repeats, or the window lengths
        disagree.
    """
    what = "train_r_model genes"
    _require(genes, ("gene_index", "mean_observed"), what)
    _check_window(source, cnn_config)
    gene_index = _index_column(genes, "gene_index", what)
    target = genes["mean_observed"].to_numpy(np.float64)
    if not np.isfinite(target).all():
        raise ValueError(f"{what}: column 'mean_observed' has non-finite values")
    if pd.Series(gene_index).duplicated().any():
        raise ValueError(f"{what}: repeated gene_index values")
    fetch = functools.partial(_fetch_reference, source, gene_index)
    return _fit(
        fetch,
        len(genes),
        target.astype(np.float32),
        None,
        cnn_config,
        train_config,
        log or _LOG,
        "r",
    )


def _check_window(source: HaplotypeSource, cnn_config: CNNConfig) -> None:
    if int(source.window_bp) != cnn_config.window_bp:
        raise ValueError(
            f"HaplotypeSource.window_bp={source.window_bp} differs from "
            f"CNNConfig.window_bp={cnn_config.window_bp}"
        )


# ----------------------------------------------------------------------------------------------
# prediction


@torch.no_grad()
def predict_individuals(
    model: S2FCNN,
    source: HaplotypeSource,
    gene_index: np.ndarray,
    individual_index: np.ndarray,
    batch_size: int,
    mode: str,
) -> np.ndarray:
    """Predict each (gene, individual) pair from the individual's two haplotypes.

    Parameters
    ----------
    model : S2FCNN
        Runs on the device its parameters are on, in float32 (no autocast: the differences
        between individuals are small relative to the bf16 step).
    source : HaplotypeSource
    gene_index, individual_index : numpy.ndarray, shape (n,), int
        Pairs to predict, element-wise.
    batch_size : int
        Pairs per forward pass.
    mode : {"p", "reference_scoring"}
        ``"p"``: one forward pass on both haplotypes, prediction = mean head + deviation head
        (per-gene ranking across individuals is driven by the deviation head).
        ``"reference_scoring"``: each haplotype is scored alone (``H = 1``) and the prediction is
        the average of the two mean-head outputs (Huang et al. 2023; Sasse et al. 2023).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Predictions in model units.

    Raises
    ------
    ValueError
        If ``mode`` is unknown or does not fit ``model.trained_as``, the index arrays differ in
        shape, or the window lengths disagree.
    """
    if mode not in PREDICTION_MODES:
        raise ValueError(f"mode must be one of {PREDICTION_MODES}, got {mode!r}")
    expected = {"p": "p", "reference_scoring": "r"}[mode]
    if model.trained_as is not None and model.trained_as != expected:
        raise ValueError(
            f"mode={mode!r} needs a model trained as {expected!r}-model, but this "
            f"model was trained as {model.trained_as!r}-model"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    genes = np.asarray(gene_index, dtype=np.int64).reshape(-1)
    individuals = np.asarray(individual_index, dtype=np.int64).reshape(-1)
    if genes.shape != individuals.shape:
        raise ValueError(
            f"gene_index has {genes.size} entries but individual_index has {individuals.size}"
        )
    _check_window(source, model.config)
    length = model.config.window_bp
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    was_training = model.training
    model.eval()
    out = np.empty(genes.size, dtype=np.float64)
    try:
        for start in range(0, genes.size, batch_size):
            idx = np.arange(start, min(start + batch_size, genes.size))
            codes = torch.from_numpy(
                np.ascontiguousarray(_fetch_haplotypes(source, genes, individuals, idx))
            )
            if cuda:
                codes = codes.pin_memory()
            # Individuals share most haplotypes (common variants): embed each distinct
            # sequence once. Exact in eval mode, where the trunk is a per-sequence function.
            flat = codes.reshape(len(idx) * 2, length)
            unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
            x = one_hot(unique.to(device, non_blocking=True))
            emb = model.embed(x)[inverse.to(device)].reshape(len(idx), 2, -1)
            if mode == "p":
                mean, dev = model.heads(emb.mean(dim=1))
                pred = mean + dev
            else:
                mean, _ = model.heads(emb.reshape(len(idx) * 2, -1))
                pred = mean.reshape(len(idx), 2).mean(dim=1)
            out[idx] = pred.double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


# ----------------------------------------------------------------------------------------------
# checkpoints


def save_model(model: S2FCNN, path: str | Path) -> None:
    """Write a checkpoint: config, weights, training history and kind, as plain containers.

    Parameters
    ----------
    model : S2FCNN
    path : str or pathlib.Path
        Destination (``.pt``); parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": _CHECKPOINT_FORMAT,
            "format_version": _CHECKPOINT_VERSION,
            "cnn_config": model.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "history": [dict(r) for r in model.history],
            "trained_as": model.trained_as,
        },
        path,
    )


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> S2FCNN:
    """Read a checkpoint written by :func:`save_model` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or pathlib.Path
    map_location : str or torch.device
        Device to place the weights on.

    Returns
    -------
    S2FCNN
        In eval mode, with ``history`` and ``trained_as`` restored.

    Raises
    ------
    ps2f.errors.InputError
        If the file is not a ps2f checkpoint of a known version.
    """
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise InputError(
            f"{path}: not a ps2f model checkpoint (written by ps2f.training.save_model)"
        )
    if state.get("format_version") != _CHECKPOINT_VERSION:
        raise InputError(
            f"{path}: checkpoint format_version {state.get('format_version')!r}; "
            f"this ps2f reads version {_CHECKPOINT_VERSION}"
        )
    try:
        config = CNNConfig.from_dict(state["cnn_config"])
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: bad cnn_config in checkpoint: {err}") from err
    model = S2FCNN(config)
    model.load_state_dict(state["state_dict"])
    model.history = list(state.get("history", []))
    model.trained_as = state.get("trained_as")
    model.to(map_location)
    model.eval()
    return model
