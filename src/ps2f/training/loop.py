"""Train the p-model and the r-model, predict per individual.

Items are (gene, individual) pairs identified by integer indices into the workflow's gene table
and individual table; sequences come from any object satisfying :class:`HaplotypeSource`.
Sequences travel as uint8 codes (:mod:`ps2f.genome.encoding`) to the training device and are
one-hot encoded there with :func:`ps2f.genome.encoding.one_hot`.

Methods
-------
p-model (SAGE-net, Spiro et al. 2026)
    Input: the item's two haplotypes. Targets: the gene's mean expression over its fit
    individuals, and the individual's deviation from that mean divided by the gene's SD over
    fit individuals (population SD, ``ddof=0``; a gene with SD 0 gets deviation 0). Loss
    ``lambda_mean * MSE(mean) + lambda_dev * MSE(deviation)``; Adam with weight decay,
    gradient-norm clipping and a per-step LR schedule (SAGE-net: cyclic). Optionally starts
    from the r-model's trunk and mean head (SAGE-net's ``start_from_ref``).
    Validation metric (early stopping, kept epoch): the median over genes of the per-gene
    Pearson r between prediction (mean + deviation head) and observed expression across the
    *validation individuals*, over every gene of ``validation_items`` (fit genes and
    validation genes; each part's median is logged too). SAGE-net monitors the same cell
    (training genes x validation individuals) with a loss instead of r.
r-model
    Input: the reference sequence only; target: the gene's mean expression; loss MSE of the
    mean head. Validation metric: the MSE of the mean-head prediction on the *validation
    genes* (lower is better; the validation genes' cross-gene r is logged too but not used,
    being undefined or very noisy for the handful of validation genes a small cohort has).
Early stopping
    After every epoch the validation metric is computed; the run stops after ``patience``
    epochs without improvement and the best epoch's weights are returned. An undefined
    (NaN) metric neither improves nor counts towards the patience. Without validation items
    every epoch runs and the last epoch is kept.
Reference scoring (Huang et al. 2023; Sasse et al. 2023)
    A reference-trained model scores each haplotype on its own and the individual's prediction is
    the average of the two haplotype scores.
Devices
    CUDA when available (``device="auto"``): bf16 autocast for the training forward pass,
    pinned host memory, optional ``torch.compile``. CPU: float32, bitwise reproducible for a
    fixed seed and thread count (``torch.use_deterministic_algorithms``). The code path is
    otherwise the same.
Resuming
    With ``checkpoint=path`` a resume checkpoint is written after every epoch
    (:mod:`ps2f.training.checkpoint`) and, if one from the same run exists at the start, training
    resumes after its epoch and ends with the weights an uninterrupted run would have.
Out of GPU memory
    A ``torch.cuda.OutOfMemoryError`` in a training step, a validation pass or a prediction is
    re-raised as :class:`~ps2f.errors.ConfigError` naming the batch size in use and the config
    key to lower (``s2f.train.batch_size`` for training and validation,
    ``s2f.predict_batch_size`` for the prediction rules); the resume checkpoint of the last
    finished epoch stays on disk, but a re-run with another batch size starts afresh (the batch
    size is part of the run's fingerprint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ps2f.errors import ConfigError
from ps2f.genome.encoding import one_hot
from ps2f.models.cnn import S2FCNN
from ps2f.models.config import CNNConfig
from ps2f.models.device import resolve_device
from ps2f.models.serialization import load_model, save_model
from ps2f.training.augment import augment_codes, batch_rng
from ps2f.training.checkpoint import fingerprint, load_resume_state, save_resume_state

__all__ = [
    "HaplotypeSource",
    "TrainConfig",
    "SCHEDULES",
    "resolve_device",
    "train_p_model",
    "train_r_model",
    "p_model_targets",
    "median_gene_r",
    "predict_individuals",
    "save_model",
    "load_model",
]

_LOG = logging.getLogger(__name__)
PREDICTION_MODES = ("p", "reference_scoring")
SCHEDULES = ("cyclic", "onecycle", "cosine", "constant")
#: TrainConfig fields that do not change what a run computes (left out of its fingerprint).
_NOT_RESULT_AFFECTING = ("device", "num_workers", "compile")

EpochHook = Callable[[int, dict[str, float]], None]

#: Config key named by the out-of-memory error of each batch-size setting.
TRAIN_BATCH_KEY = "s2f.train.batch_size"
_VALIDATION_KEY = f"{TRAIN_BATCH_KEY} (validation batches are twice it)"


def _out_of_memory(err: BaseException, what: str, batch_size: int, key: str) -> ConfigError:
    """The error raised instead of ``torch.cuda.OutOfMemoryError``: which batch size to lower."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(
        f"out of GPU memory while {what} in batches of {batch_size}: lower {key} (e.g. halve "
        f"it) and re-run, or free the GPU (nvidia-smi shows what else holds memory). "
        f"torch: {first}"
    )


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

    Defaults follow SAGE-net (Spiro et al. 2026, ``SAGEnet/models.py`` and
    ``script/train_model/train_model.py``) where it has one.

    Parameters
    ----------
    epochs : int
        Maximum passes over the (possibly subsampled, see ``max_items_per_epoch``) training
        items (SAGE-net: 10).
    batch_size : int
        Items per optimiser step (an item of the p-model carries two haplotypes).
    lr : float
        Adam learning rate (SAGE-net: 5e-4); the reference value of the schedule.
    weight_decay : float
        Adam L2 weight decay (SAGE-net: 1e-5).
    lambda_mean, lambda_dev : float
        Weights of the mean-head and deviation-head MSE terms of the p-model loss.
    grad_clip : float or None
        Maximum global gradient norm (SAGE-net: 1); ``None`` disables clipping.
    seed : int
        Seeds model initialisation, dropout, item order and augmentation.
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
    num_workers : int
        DataLoader worker processes materializing batches (0 = in the main process). Results
        do not depend on it.
    max_items_per_epoch : int or None
        ``None`` uses every item each epoch; otherwise each epoch draws a fresh seeded random
        subset of this many items, which bounds the cost of a CPU run.
    reverse_complement_augment : bool
        Reverse-complement each training item with probability 0.5 (both haplotypes together).
    max_shift_bp : int
        Shift each training item by a uniform random ``[-max_shift_bp, max_shift_bp]`` bp,
        filling with N (:mod:`ps2f.training.augment`); 0 = off.
    schedule : {"cyclic", "onecycle", "cosine", "constant"}
        Per-step LR schedule. ``cyclic``: triangular between ``lr / 2`` and ``2 * lr``, half
        cycle ``cycle_steps`` steps (SAGE-net, ``torch.optim.lr_scheduler.CyclicLR``);
        ``onecycle``: warm-up to ``lr`` over 30 % of all steps, then cosine annealing (Smith
        2018); ``cosine``: from ``lr`` to 0 over all steps; ``constant``: ``lr``.
    cycle_steps : int
        Half cycle of ``cyclic``, in optimizer steps (SAGE-net: 2000, PyTorch's default).
    patience : int or None
        Early stopping after this many epochs without a better validation metric (SAGE-net:
        5); ``None`` runs every epoch. The best epoch's weights are kept either way.
    compile : {"auto", True, False}
        ``torch.compile`` the training forward pass; ``"auto"`` = on CUDA only.
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
    max_shift_bp: int = 0
    schedule: str = "cyclic"
    cycle_steps: int = 2000
    patience: int | None = 5
    compile: str | bool = "auto"

    def validate(self) -> TrainConfig:
        """Check the settings and return ``self``.

        Raises
        ------
        ValueError
            If a count is not positive, a weight or rate is negative, the schedule or compile
            setting is unknown, or the device string is not understood; the message names the
            key.
        """
        for key in ("epochs", "batch_size", "cycle_steps"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)!r}")
        for key in ("num_workers", "max_shift_bp", "seed"):
            if int(getattr(self, key)) < 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)!r}")
        for key in ("max_items_per_epoch", "patience"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"TrainConfig.{key} must be None or >= 1, got {value!r}")
        for key in ("lr", "weight_decay", "lambda_mean", "lambda_dev"):
            if not float(getattr(self, key)) >= 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be None or > 0, got {self.grad_clip!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"TrainConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        if self.compile not in ("auto", True, False):
            raise ValueError(
                f"TrainConfig.compile must be 'auto', True or False, got {self.compile!r}"
            )
        resolve_device(self.device)
        return self

    def result_settings(self) -> dict[str, Any]:
        """The settings that determine a run's result (all but device, workers and compile)."""
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items() if k not in _NOT_RESULT_AFFECTING}


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


def _fetch_contrastive(
    source: HaplotypeSource, genes: np.ndarray, individuals: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """``(B, 3, L)`` codes: the gene's reference, then the individual's two haplotypes."""
    haps = _fetch_haplotypes(source, genes, individuals, idx)
    ref = _check_codes(
        source.reference(genes[idx]), (len(idx), source.window_bp), "HaplotypeSource.reference"
    )
    return np.concatenate([ref[:, None, :], haps], axis=1)


def _fetch_reference(source: HaplotypeSource, genes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    codes = source.reference(genes[idx])
    codes = _check_codes(codes, (len(idx), source.window_bp), "HaplotypeSource.reference")
    return codes[:, None, :]


class _Batches(Dataset):
    """Whole batches of uint8 codes ``(B, H, L)`` plus float32 targets, one per index.

    Augmentation runs here (in the DataLoader worker), with one generator per (seed, epoch,
    batch) so that the result does not depend on the worker that builds the batch.
    """

    def __init__(
        self,
        fetch: Callable[[np.ndarray], np.ndarray],
        plan: list[np.ndarray],
        targets: tuple[np.ndarray, ...],
        seed: int,
        epoch: int,
        reverse_complement: bool,
        max_shift_bp: int,
    ) -> None:
        self.fetch, self.plan, self.targets = fetch, plan, targets
        self.seed, self.epoch = seed, epoch
        self.reverse_complement, self.max_shift_bp = reverse_complement, max_shift_bp

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        idx = self.plan[i]
        codes = np.ascontiguousarray(self.fetch(idx))
        if self.reverse_complement or self.max_shift_bp:
            rng = batch_rng(self.seed, self.epoch, i)
            codes = np.ascontiguousarray(
                augment_codes(codes, rng, self.reverse_complement, self.max_shift_bp)
            )
        return (torch.from_numpy(codes), *(torch.from_numpy(t[idx]) for t in self.targets))


def _seed_worker(worker_id: int) -> None:
    """Seed NumPy's global RNG in each DataLoader worker from the worker's torch seed."""
    info = torch.utils.data.get_worker_info()
    if info is not None:
        np.random.seed(info.seed % 2**32)


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


def _scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-step LR schedule of ``cfg.schedule`` (see :class:`TrainConfig`)."""
    sched = torch.optim.lr_scheduler
    if cfg.schedule == "cyclic":  # SAGE-net: base lr / 2, max 2 lr, triangular
        return sched.CyclicLR(
            opt,
            base_lr=cfg.lr / 2,
            max_lr=cfg.lr * 2,
            step_size_up=cfg.cycle_steps,
            cycle_momentum=False,
        )
    if cfg.schedule == "onecycle":
        return sched.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=max(total_steps, 2), cycle_momentum=False
        )
    if cfg.schedule == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    return None


@dataclass
class _EarlyStopping:
    """Best-epoch tracking and patience (see the module docstring)."""

    patience: int | None
    higher_is_better: bool
    best: float = math.nan
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, value: float, model: torch.nn.Module) -> bool:
        """Record an epoch's metric; return whether it is the best so far."""
        if not math.isfinite(value):
            return False
        better = not math.isfinite(self.best) or (
            value > self.best if self.higher_is_better else value < self.best
        )
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
            if self.patience is not None and self.bad_epochs >= self.patience:
                self.stopped = True
        return better

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state["stopped"])
        self.best_state = state["best_state"]


@dataclass(frozen=True)
class _Validation:
    """How to score a model after each epoch: ``evaluate(model) -> {name: value}``."""

    evaluate: Callable[[S2FCNN], dict[str, float]]
    metric: str
    higher_is_better: bool


def _rng_state(cuda: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if cuda:
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], cuda: bool) -> None:
    torch.set_rng_state(state["cpu"])
    if cuda and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _progress_stream(progress: bool | TextIO) -> TextIO | None:
    if progress is False or progress is None:
        return None
    return sys.stderr if progress is True else progress


def _use_compile(setting: str | bool, cuda: bool) -> bool:
    return cuda if setting == "auto" else bool(setting)


def _fit(
    fetch: Callable[[np.ndarray], np.ndarray],
    n_items: int,
    target_mean: np.ndarray,
    target_dev: np.ndarray | None,
    cnn_config: CNNConfig,
    cfg: TrainConfig,
    log: logging.Logger,
    kind: str,
    *,
    with_reference: bool,
    validation: _Validation | None,
    init_from: S2FCNN | None,
    checkpoint: str | Path | None,
    run_fingerprint: str,
    progress: bool | TextIO,
    epoch_end: EpochHook | None,
) -> S2FCNN:
    """Shared optimisation loop; ``target_dev is None`` trains the mean head only."""
    from tqdm import tqdm

    cfg.validate()
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    lambda_mean = cfg.lambda_mean if target_dev is not None else 1.0
    targets = (target_mean,) if target_dev is None else (target_mean, target_dev)
    n_epoch = n_items if cfg.max_items_per_epoch is None else min(n_items, cfg.max_items_per_epoch)
    steps_per_epoch = math.ceil(n_epoch / cfg.batch_size)
    stream = _progress_stream(progress)
    rng_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
    )
    with torch.random.fork_rng(devices=rng_devices), _deterministic(not cuda):
        torch.manual_seed(cfg.seed)
        model = S2FCNN(cnn_config).to(device)
        with torch.no_grad():  # start the mean head at the average target: no huge first steps
            model.mean_head[-1].bias.fill_(float(target_mean.mean()))
        if init_from is not None:
            _init_from_model(model, init_from, log)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = _scheduler(opt, cfg, cfg.epochs * steps_per_epoch)
        stopper = _EarlyStopping(
            cfg.patience if validation is not None else None,
            validation.higher_is_better if validation is not None else True,
        )
        history: list[dict[str, float]] = []
        start = 1
        resumed = (
            load_resume_state(checkpoint, run_fingerprint, log) if checkpoint is not None else None
        )
        if resumed is not None:
            model.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            if sched is not None:
                sched.load_state_dict(resumed["scheduler"])
            stopper.load_state_dict(resumed["early_stopping"])
            _set_rng_state(resumed["rng"], cuda)
            history = [dict(r) for r in resumed["history"]]
            start = int(resumed["epoch"]) + 1
            log.info(
                "%s-model: resuming from %s after epoch %d of %d%s",
                kind,
                checkpoint,
                start - 1,
                cfg.epochs,
                " (early stopping had ended training)" if stopper.stopped else "",
            )
        step_model: torch.nn.Module = model
        if _use_compile(cfg.compile, cuda) and start <= cfg.epochs and not stopper.stopped:
            step_model = torch.compile(model)
        autocast = (
            functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
            if cuda
            else contextlib.nullcontext
        )
        for epoch in range(start, cfg.epochs + 1):
            if stopper.stopped:
                break
            t0 = time.perf_counter()
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n_items)[:n_epoch]
            plan = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
            loader = DataLoader(
                _Batches(
                    fetch,
                    plan,
                    targets,
                    cfg.seed,
                    epoch,
                    cfg.reverse_complement_augment,
                    cfg.max_shift_bp,
                ),
                batch_size=None,
                shuffle=False,
                num_workers=cfg.num_workers,
                pin_memory=cuda,
                worker_init_fn=_seed_worker if cfg.num_workers else None,
                generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
            )
            model.train()
            sums = torch.zeros(2, dtype=torch.float64, device=device)
            bar = tqdm(
                total=n_epoch,
                desc=f"{kind}-model epoch {epoch}/{cfg.epochs}",
                unit="item",
                file=stream,
                disable=stream is None,
                mininterval=0.5 if stream is not None and stream.isatty() else 30.0,
                leave=True,
            )
            done = 0
            try:
                for step, (codes, *tgt) in enumerate(loader):
                    x = one_hot(codes.to(device, non_blocking=True))
                    tgt = [t.to(device, non_blocking=True) for t in tgt]
                    with autocast():  # contrastive p-model: x = [reference, hap1, hap2]
                        mean, dev = (
                            step_model(x[:, 1:], x[:, 0]) if with_reference else step_model(x)
                        )
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
                    if sched is not None:
                        sched.step()
                    n = len(codes)
                    sums += torch.stack([loss_mean.detach(), loss_dev.detach()]).double() * n
                    done += n
                    if stream is not None:
                        bar.update(n)
                        if step % 20 == 0:
                            # float() waits for the GPU: read the loss every 20th step only
                            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)
            except torch.cuda.OutOfMemoryError as err:
                raise _out_of_memory(
                    err,
                    f"training the {kind}-model (epoch {epoch})",
                    cfg.batch_size,
                    TRAIN_BATCH_KEY,
                ) from err
            finally:
                bar.close()
            seconds = time.perf_counter() - t0
            m, d = (sums / max(done, 1)).tolist()
            record: dict[str, float] = {
                "epoch": epoch,
                "loss": lambda_mean * m + (cfg.lambda_dev * d if target_dev is not None else 0.0),
                "loss_mean": m,
                "loss_dev": d,
            }
            t1 = time.perf_counter()
            if validation is not None:
                record.update(validation.evaluate(model))
                record["best"] = float(stopper.update(epoch, record[validation.metric], model))
            record.update(
                {
                    "lr": float(opt.param_groups[0]["lr"]),
                    "items": done,
                    "seconds": seconds,
                    "items_per_s": done / seconds if seconds > 0 else float("inf"),
                    "validation_seconds": time.perf_counter() - t1,
                }
            )
            history.append(record)
            log.info(
                "%s-model epoch %d/%d: loss %.4f (mean %.4f, deviation %.4f)%s, lr %.2e, "
                "%d items, %.1f items/s on %s",
                kind,
                epoch,
                cfg.epochs,
                record["loss"],
                m,
                d,
                (
                    f", {validation.metric} {record[validation.metric]:.4f}"
                    f"{' (best)' if record['best'] else ''}"
                )
                if validation is not None
                else "",
                record["lr"],
                done,
                record["items_per_s"],
                device,
            )
            if checkpoint is not None:
                save_resume_state(
                    checkpoint,
                    {
                        "fingerprint": run_fingerprint,
                        "epoch": epoch,
                        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "early_stopping": stopper.state_dict(),
                        "rng": _rng_state(cuda),
                        "history": history,
                    },
                )
            if epoch_end is not None:
                epoch_end(epoch, record)
            if stopper.stopped:
                log.info(
                    "%s-model: early stopping after epoch %d (%d epochs without a better %s)",
                    kind,
                    epoch,
                    stopper.bad_epochs,
                    validation.metric if validation is not None else "metric",
                )
        if stopper.best_state is not None:
            model.load_state_dict(stopper.best_state)
            log.info(
                "%s-model: keeping epoch %d (%s %.4f)",
                kind,
                stopper.best_epoch,
                validation.metric if validation is not None else "metric",
                stopper.best,
            )
    model.eval()
    model.history = history
    model.trained_as = kind
    model.best_epoch = stopper.best_epoch or (int(history[-1]["epoch"]) if history else None)
    return model


def _init_from_model(model: S2FCNN, source: S2FCNN, log: logging.Logger) -> None:
    """Copy the trunk and the mean head of ``source`` (an r-model) into ``model``.

    Raises
    ------
    ValueError
        If the two architectures differ.
    """
    if source.config != model.config:
        raise ValueError(
            "init_from model has another architecture: "
            f"{source.config.to_dict()} != {model.config.to_dict()}"
        )
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("deviation_head.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("deviation_head.") for k in missing)
    log.info("initialised trunk and mean head from a trained %s-model", source.trained_as)


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


def _finite(values: np.ndarray, what: str, col: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise ValueError(
            f"{what}: column {col!r} has {int((~np.isfinite(values)).sum())} non-finite values"
        )
    return values


def p_model_targets(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Compute the p-model's two targets for every item.

    Parameters
    ----------
    items : pandas.DataFrame
        Columns ``gene_index`` and ``observed`` (fit individuals only).

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


def median_gene_r(
    gene: np.ndarray, observed: np.ndarray, predicted: np.ndarray, min_individuals: int = 3
) -> tuple[float, pd.Series]:
    """Median over genes of the Pearson r between predicted and observed across individuals.

    Parameters
    ----------
    gene : numpy.ndarray, shape (n,)
        Gene of each (gene, individual) row.
    observed, predicted : numpy.ndarray, shape (n,), float
    min_individuals : int
        Genes with fewer rows get NaN.

    Returns
    -------
    median : float
        ``nanmedian`` of the per-gene r; NaN when no gene has a defined r.
    per_gene : pandas.Series, float64
        r per gene (index = gene); NaN for a constant prediction or observation.
    """
    df = pd.DataFrame(
        {"g": gene, "o": np.asarray(observed, np.float64), "p": np.asarray(predicted, np.float64)}
    )
    df["o"] -= df.groupby("g")["o"].transform("mean")
    df["p"] -= df.groupby("g")["p"].transform("mean")
    df["op"], df["oo"], df["pp"] = df["o"] * df["p"], df["o"] ** 2, df["p"] ** 2
    sums = df.groupby("g")[["op", "oo", "pp"]].sum()
    counts = df.groupby("g").size()
    denom = np.sqrt(sums["oo"] * sums["pp"])
    ok = (denom > 0) & (counts >= min_individuals)
    r = pd.Series(np.nan, index=sums.index, dtype=np.float64)
    r[ok] = sums.loc[ok, "op"] / denom[ok]
    median = float(np.nanmedian(r.to_numpy())) if ok.any() else math.nan
    return median, r


def _p_validation(
    source: HaplotypeSource, validation_items: pd.DataFrame | None, batch_size: int
) -> _Validation | None:
    if validation_items is None or len(validation_items) == 0:
        return None
    what = "train_p_model validation_items"
    _require(validation_items, ("gene_index", "individual_index", "observed"), what)
    genes = _index_column(validation_items, "gene_index", what)
    inds = _index_column(validation_items, "individual_index", what)
    obs = _finite(validation_items["observed"].to_numpy(np.float64), what, "observed")
    role = (
        validation_items["validation_gene"].to_numpy(bool)
        if "validation_gene" in validation_items.columns
        else None
    )

    def evaluate(model: S2FCNN) -> dict[str, float]:
        pred = predict_individuals(
            model, source, genes, inds, batch_size, "p", batch_size_key=_VALIDATION_KEY
        )
        median, per_gene = median_gene_r(genes, obs, pred)
        out = {"val_median_r": median}
        if role is not None:
            val_genes = np.unique(genes[role])
            is_val = per_gene.index.isin(val_genes)
            for name, sel in (("fit_genes", ~is_val), ("validation_genes", is_val)):
                vals = per_gene.to_numpy()[sel]
                out[f"val_median_r_{name}"] = (
                    float(np.nanmedian(vals)) if np.isfinite(vals).any() else math.nan
                )
        return out

    return _Validation(evaluate, "val_median_r", higher_is_better=True)


def train_p_model(
    source: HaplotypeSource,
    items: pd.DataFrame,
    cnn_config: CNNConfig,
    train_config: TrainConfig,
    log: logging.Logger | None = None,
    *,
    validation_items: pd.DataFrame | None = None,
    init_from: S2FCNN | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | TextIO = False,
    epoch_end: EpochHook | None = None,
) -> S2FCNN:
    """Fit the personal (p-) model on both haplotypes of fit genes x fit individuals.

    Parameters
    ----------
    source : HaplotypeSource
        Materializes ``(batch, 2, L)`` uint8 haplotype codes; ``source.window_bp`` must equal
        ``cnn_config.window_bp``.
    items : pandas.DataFrame
        One row per (fit gene, fit individual): ``gene_index`` (int), ``individual_index``
        (int), ``observed`` (float, normalized expression, e.g. log1p RPKM).
    cnn_config : CNNConfig
    train_config : TrainConfig
    log : logging.Logger, optional
        Receives one INFO line per epoch; the module logger by default.
    validation_items : pandas.DataFrame, optional
        (gene, validation individual) rows scored after every epoch: ``gene_index``,
        ``individual_index``, ``observed``, and optionally ``validation_gene`` (bool: the row's
        gene is a validation gene, not a fit gene; used only to log each part's median r).
        They drive early stopping and the kept epoch (see the module docstring). None: every
        epoch runs, the last is kept.
    init_from : S2FCNN, optional
        A trained model (the r-model) of the same architecture whose trunk and mean head
        initialise the p-model; the deviation head starts fresh (SAGE-net's
        ``start_from_ref``).
    checkpoint : str or pathlib.Path, optional
        Resume checkpoint written after every epoch and resumed from when it belongs to this
        run (:mod:`ps2f.training.checkpoint`).
    progress : bool or file-like
        Show a tqdm progress bar per epoch (items/s, loss) on stderr (``True``) or on the given
        stream.
    epoch_end : callable, optional
        Called as ``epoch_end(epoch, record)`` after each epoch's checkpoint is written (for
        tests and monitoring; an exception it raises aborts training like a kill).

    Returns
    -------
    S2FCNN
        The model in eval mode, on the training device, holding the best epoch's weights (the
        last epoch's without validation), with ``model.history`` a list of one dict per epoch
        (``epoch, loss, loss_mean, loss_dev``, the validation values ``val_median_r[...]`` and
        ``best``, then ``lr, items, seconds, items_per_s, validation_seconds``),
        ``model.best_epoch`` and ``model.trained_as == "p"``.

    Raises
    ------
    ValueError
        If ``items`` lacks a column, has non-finite ``observed``, repeats a (gene, individual)
        pair, or the window lengths disagree; or a configuration is invalid.
    ps2f.errors.ConfigError
        Out of GPU memory in a training step or a validation pass: the message names
        ``s2f.train.batch_size`` (``train_config.batch_size``), the setting to lower.

    Notes
    -----
    Targets and loss follow SAGE-net (see the module docstring). On CPU the run is bitwise
    reproducible for a fixed seed and thread count, whatever ``num_workers``; on CUDA it uses
    bf16 autocast and pinned memory and is seeded but not bitwise reproducible. The global
    torch RNG state is left as it was.
    """
    what = "train_p_model items"
    _require(items, ("gene_index", "individual_index", "observed"), what)
    _check_window(source, cnn_config)
    genes = _index_column(items, "gene_index", what)
    individuals = _index_column(items, "individual_index", what)
    observed = _finite(items["observed"].to_numpy(np.float64), what, "observed")
    if pd.DataFrame({"g": genes, "i": individuals}).duplicated().any():
        raise ValueError(f"{what}: repeated (gene_index, individual_index) pairs")
    frame = pd.DataFrame({"gene_index": genes, "observed": observed})
    target_mean, target_dev = p_model_targets(frame)
    validation = _p_validation(source, validation_items, 2 * train_config.batch_size)
    fetch = functools.partial(
        _fetch_contrastive if cnn_config.contrastive else _fetch_haplotypes,
        source,
        genes,
        individuals,
    )
    arrays: list[Any] = [genes, individuals, target_mean, target_dev]
    if validation_items is not None:
        arrays += [validation_items[c].to_numpy() for c in ("gene_index", "individual_index")]
        arrays.append(validation_items["observed"].to_numpy(np.float64))
    if init_from is not None:
        arrays += list(init_from.state_dict().values())
    run_fp = fingerprint(
        {
            "kind": "p",
            "cnn": cnn_config.to_dict(),
            "train": train_config.result_settings(),
            "init": init_from is not None,
        },
        arrays,
    )
    return _fit(
        fetch,
        len(items),
        target_mean,
        target_dev,
        cnn_config,
        train_config,
        log or _LOG,
        "p",
        with_reference=cnn_config.contrastive,
        validation=validation,
        init_from=init_from,
        checkpoint=checkpoint,
        run_fingerprint=run_fp,
        progress=progress,
        epoch_end=epoch_end,
    )


@torch.no_grad()
def _predict_reference(
    model: S2FCNN,
    source: HaplotypeSource,
    gene_index: np.ndarray,
    batch_size: int,
    batch_size_key: str,
) -> np.ndarray:
    """Mean-head prediction from each gene's reference sequence, float64 ``(n,)``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.empty(len(gene_index), dtype=np.float64)
    try:
        for start in range(0, len(gene_index), batch_size):
            idx = np.arange(start, min(start + batch_size, len(gene_index)))
            codes = torch.from_numpy(
                np.ascontiguousarray(_fetch_reference(source, gene_index, idx))
            )
            mean, _ = model(one_hot(codes.to(device)))
            out[idx] = mean.double().cpu().numpy()
    except torch.cuda.OutOfMemoryError as err:
        raise _out_of_memory(
            err, f"scoring {len(gene_index)} reference sequences", batch_size, batch_size_key
        ) from err
    finally:
        model.train(was_training)
    return out


def _r_validation(
    source: HaplotypeSource, validation_genes: pd.DataFrame | None, batch_size: int
) -> _Validation | None:
    if validation_genes is None or len(validation_genes) == 0:
        return None
    what = "train_r_model validation_genes"
    _require(validation_genes, ("gene_index", "mean_observed"), what)
    genes = _index_column(validation_genes, "gene_index", what)
    target = _finite(validation_genes["mean_observed"].to_numpy(np.float64), what, "mean_observed")

    def evaluate(model: S2FCNN) -> dict[str, float]:
        pred = _predict_reference(model, source, genes, batch_size, _VALIDATION_KEY)
        ok = len(genes) >= 3 and np.std(pred) > 0 and np.std(target) > 0
        return {
            "val_mse": float(np.mean((pred - target) ** 2)),
            "val_cross_gene_r": float(np.corrcoef(pred, target)[0, 1]) if ok else math.nan,
        }

    return _Validation(evaluate, "val_mse", higher_is_better=False)


def train_r_model(
    source: HaplotypeSource,
    genes: pd.DataFrame,
    cnn_config: CNNConfig,
    train_config: TrainConfig,
    log: logging.Logger | None = None,
    *,
    validation_genes: pd.DataFrame | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | TextIO = False,
    epoch_end: EpochHook | None = None,
) -> S2FCNN:
    """Fit the reference (r-) model: reference sequence -> the gene's mean expression.

    Parameters
    ----------
    source : HaplotypeSource
        Provides ``(batch, L)`` reference codes via ``source.reference``.
    genes : pandas.DataFrame
        One row per fit gene: ``gene_index`` (int), ``mean_observed`` (float, the gene's mean
        normalized expression over fit individuals).
    cnn_config, train_config, log
        As in :func:`train_p_model` (``lambda_mean`` and ``lambda_dev`` are not used: the loss
        is the MSE of the mean head).
    validation_genes : pandas.DataFrame, optional
        Same columns, one row per validation gene; their MSE drives early stopping and the
        kept epoch (``val_mse``; ``val_cross_gene_r`` is logged).
    checkpoint, progress, epoch_end
        As in :func:`train_p_model`.

    Returns
    -------
    S2FCNN
        Fitted model in eval mode with ``history``, ``best_epoch`` and ``trained_as == "r"``.

    Raises
    ------
    ValueError
        If a column is missing, a value is non-finite, a gene repeats, or the window lengths
        disagree.
    ps2f.errors.ConfigError
        Out of GPU memory, as in :func:`train_p_model`.
    """
    what = "train_r_model genes"
    _require(genes, ("gene_index", "mean_observed"), what)
    _check_window(source, cnn_config)
    gene_index = _index_column(genes, "gene_index", what)
    target = _finite(genes["mean_observed"].to_numpy(np.float64), what, "mean_observed")
    if pd.Series(gene_index).duplicated().any():
        raise ValueError(f"{what}: repeated gene_index values")
    validation = _r_validation(source, validation_genes, 2 * train_config.batch_size)
    arrays: list[Any] = [gene_index, target]
    if validation_genes is not None:
        arrays += [validation_genes["gene_index"].to_numpy()]
        arrays.append(validation_genes["mean_observed"].to_numpy(np.float64))
    run_fp = fingerprint(
        {"kind": "r", "cnn": cnn_config.to_dict(), "train": train_config.result_settings()},
        arrays,
    )
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
        with_reference=False,
        validation=validation,
        init_from=None,
        checkpoint=checkpoint,
        run_fingerprint=run_fp,
        progress=progress,
        epoch_end=epoch_end,
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
    *,
    batch_size_key: str = "the prediction batch size",
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
        ``"p"``: one forward pass on both haplotypes (and, for a contrastive model, the gene's
        reference), prediction = mean head + deviation head (per-gene ranking across
        individuals is driven by the deviation head; a contrastive mean head reads only the
        reference, so it is constant within a gene).
        ``"reference_scoring"``: each haplotype is scored alone (``H = 1``) and the prediction is
        the average of the two mean-head outputs (Huang et al. 2023; Sasse et al. 2023).
    batch_size_key : str
        The setting that gave ``batch_size``, named in the out-of-memory error (the
        prediction rules pass ``"s2f.predict_batch_size"``).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Predictions in model units.

    Raises
    ------
    ps2f.errors.ConfigError
        Out of GPU memory (``torch.cuda.OutOfMemoryError``): the message names
        ``batch_size_key``, the setting to lower.
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
    contrastive = mode == "p" and model.config.contrastive
    fetch = _fetch_contrastive if contrastive else _fetch_haplotypes
    per_item = 3 if contrastive else 2
    out = np.empty(genes.size, dtype=np.float64)
    try:
        for start in range(0, genes.size, batch_size):
            idx = np.arange(start, min(start + batch_size, genes.size))
            codes = torch.from_numpy(np.ascontiguousarray(fetch(source, genes, individuals, idx)))
            if cuda:
                codes = codes.pin_memory()
            # Individuals share most haplotypes (common variants) and every item of a gene
            # its reference: embed each distinct sequence once. Exact in eval mode, where the
            # trunk is a per-sequence function.
            flat = codes.reshape(len(idx) * per_item, length)
            unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
            x = one_hot(unique.to(device, non_blocking=True))
            emb = model.embed(x)[inverse.to(device)].reshape(len(idx), per_item, -1)
            if contrastive:
                mean, dev = model.heads(emb[:, 1:].mean(dim=1), emb[:, 0])
                pred = mean + dev
            elif mode == "p":
                mean, dev = model.heads(emb.mean(dim=1))
                pred = mean + dev
            else:
                mean, _ = model.heads(emb.reshape(len(idx) * 2, -1))
                pred = mean.reshape(len(idx), 2).mean(dim=1)
            out[idx] = pred.double().cpu().numpy()
    except torch.cuda.OutOfMemoryError as err:
        raise _out_of_memory(
            err, f"predicting {genes.size} (gene, individual) pairs", batch_size, batch_size_key
        ) from err
    finally:
        model.train(was_training)
    return out
