"""The optimisation loop shared by the p-model and the r-model (:func:`fit`).

:func:`~ps2f.training.train_p_model` and :func:`~ps2f.training.train_r_model` check their
inputs, build a :class:`FitTask` (what to fit: fetch, targets, validation, initial weights,
run fingerprint) and hand it to :func:`fit`, which owns everything else:

Optimisation
    Adam with weight decay, gradient-norm clipping and a per-step LR schedule
    (``TrainConfig.schedule``); the mean head's bias starts at the mean target. Loss
    ``lambda_mean * MSE(mean) + lambda_dev * MSE(deviation)``, or the mean head's MSE alone when
    there is no deviation target (r-model).
Early stopping and ceilings
    After every epoch the validation metric is computed; the run stops after ``patience``
    epochs without improvement and the best epoch's weights are returned. An undefined
    (NaN) metric neither improves nor counts towards the patience. Without validation items
    every epoch runs and the last epoch is kept. Two ceilings end a run that has not
    converged: ``epochs`` and ``max_minutes`` (wall clock, checked after each epoch against
    the training and validation time recorded in the history, so a resumed run continues
    the budget it had). Why the run stopped (:data:`ps2f.convergence.STOP_REASONS`) is
    written to the last history record (``stopped_by``) and to ``model.convergence``.
Devices
    CUDA when available (``device="auto"``): bf16 autocast for the training forward pass,
    pinned host memory, optional ``torch.compile``. CPU: float32, bitwise reproducible for a
    fixed seed and thread count (``torch.use_deterministic_algorithms``). The code path is
    otherwise the same. The global torch RNG state is left as it was.
Resuming
    With ``checkpoint=path`` a resume checkpoint is written after every epoch
    (:mod:`ps2f.training.checkpoint`) and, if one from the same run exists at the start, training
    resumes after its epoch and ends with the weights an uninterrupted run would have.
Out of GPU memory
    A ``torch.cuda.OutOfMemoryError`` in a training step is re-raised as
    :class:`~ps2f.errors.ConfigError` naming ``s2f.train.batch_size``; the resume checkpoint of
    the last finished epoch stays on disk, but a re-run with another batch size starts afresh
    (the batch size is part of the run's fingerprint).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from ps2f.convergence import training_minutes, training_record
from ps2f.genome.encoding import one_hot
from ps2f.models.cnn import S2FCNN
from ps2f.models.config import CNNConfig
from ps2f.models.device import resolve_device
from ps2f.training.checkpoint import load_resume_state, save_resume_state
from ps2f.training.config import TRAIN_BATCH_KEY, TrainConfig, out_of_memory_error
from ps2f.training.data import Fetch, epoch_loader

__all__ = ["EpochHook", "FitTask", "Validation", "fit"]

#: ``epoch_end(epoch, record)``: called after each epoch with its history record.
EpochHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class Validation:
    """How to score a model after each epoch.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(model) -> {name: value}``; the values are added to the epoch's record.
    metric : str
        The name whose value drives early stopping and the kept epoch.
    higher_is_better : bool
    """

    evaluate: Callable[[S2FCNN], dict[str, float]]
    metric: str
    higher_is_better: bool


@dataclass(frozen=True, eq=False)
class FitTask:
    """What one training run fits; everything else comes from the :class:`TrainConfig`.

    Parameters
    ----------
    kind : {"p", "r"}
        Which model is trained (``model.trained_as``, log lines, error messages).
    fetch : callable
        ``fetch(idx) -> (len(idx), H, L)`` uint8 codes of the training items ``idx``.
    target_mean : numpy.ndarray, shape (n_items,), float32
        Mean-head target of each item; its length is the number of items.
    target_dev : numpy.ndarray, shape (n_items,), float32, or None
        Deviation-head target; ``None`` trains the mean head only (loss = its MSE).
    fingerprint : str
        Identity of the run (:func:`ps2f.training.checkpoint.fingerprint`): a resume checkpoint
        is used only when its fingerprint matches.
    with_reference : bool
        The codes are ``[reference, haplotype 1, haplotype 2]`` (contrastive p-model).
    validation : Validation or None
        Scores the model after each epoch; ``None`` runs every epoch and keeps the last.
    init_from : S2FCNN or None
        A trained model whose trunk and mean head initialise the model (same architecture).
    groups : numpy.ndarray, shape (n_items,), int, or None
        The gene of each item, for ``TrainConfig.individuals_per_gene`` batches (p-model);
        ``None``: plain random batches.
    """

    kind: str
    fetch: Fetch
    target_mean: np.ndarray
    target_dev: np.ndarray | None
    fingerprint: str
    with_reference: bool = False
    validation: Validation | None = None
    init_from: S2FCNN | None = None
    groups: np.ndarray | None = None


def fit(
    task: FitTask,
    cnn_config: CNNConfig,
    cfg: TrainConfig,
    log: logging.Logger,
    *,
    checkpoint: str | Path | None,
    progress: bool | TextIO,
    epoch_end: EpochHook | None,
) -> S2FCNN:
    """Train a fresh :class:`S2FCNN` on ``task`` (see the module docstring).

    Parameters
    ----------
    task : FitTask
    cnn_config : CNNConfig
        Architecture of the model to train (and of ``task.init_from``).
    cfg : TrainConfig
        Validated here.
    log : logging.Logger
        Receives one INFO line per epoch, and resume / early-stopping / kept-epoch lines.
    checkpoint : str or pathlib.Path or None
        Resume checkpoint written after every epoch and resumed from when its fingerprint is
        ``task.fingerprint``.
    progress : bool or file-like
        tqdm progress bar per epoch on stderr (``True``) or the given stream.
    epoch_end : callable or None
        ``epoch_end(epoch, record)`` after each epoch's checkpoint is written.

    Returns
    -------
    S2FCNN
        In eval mode, on the training device, holding the best epoch's weights (the last
        epoch's without validation), with ``history`` (the last record's ``stopped_by`` says
        why training stopped), ``best_epoch``, ``trained_as == task.kind`` and ``convergence``
        (:func:`ps2f.convergence.training_record`).

    Raises
    ------
    ValueError
        If ``cfg`` is invalid, or ``task.init_from`` has another architecture.
    ps2f.errors.ConfigError
        Out of GPU memory in a training step (names ``s2f.train.batch_size``) or, from
        ``task.validation``, in a validation pass.
    """
    from tqdm import tqdm

    cfg.validate()
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    kind, validation, target_dev = task.kind, task.validation, task.target_dev
    lambda_mean = cfg.lambda_mean if target_dev is not None else 1.0
    targets = (task.target_mean,) if target_dev is None else (task.target_mean, target_dev)
    n_items = len(task.target_mean)
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
            model.mean_head[-1].bias.fill_(float(task.target_mean.mean()))
        if task.init_from is not None:
            _init_from_model(model, task.init_from, log)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = _scheduler(opt, cfg, cfg.epochs * steps_per_epoch)
        stopper = _EarlyStopping(
            cfg.patience if validation is not None else None,
            validation.higher_is_better if validation is not None else True,
        )
        history: list[dict[str, Any]] = []
        start = 1
        resumed = (
            load_resume_state(checkpoint, task.fingerprint, log) if checkpoint is not None else None
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
        # on CPU the model reads uint8 codes: the stem as table look-ups and each distinct
        # sequence of a batch embedded once (S2FCNN.forward), the same result up to float
        # rounding; CUDA (and a compiled model) keep the one-hot convolution
        as_codes = not cuda and step_model is model
        autocast = (
            functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
            if cuda
            else contextlib.nullcontext
        )
        budget_s = math.inf if cfg.max_minutes is None else 60.0 * float(cfg.max_minutes)
        for epoch in range(start, cfg.epochs + 1):
            if stopper.stopped or 60.0 * training_minutes(history) >= budget_s:
                break
            t0 = time.perf_counter()
            loader = epoch_loader(
                task.fetch, targets, cfg, epoch, n_epoch, pin_memory=cuda, groups=task.groups
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
                    x = codes.to(device, non_blocking=True)
                    x = x if as_codes else one_hot(x)
                    tgt = [t.to(device, non_blocking=True) for t in tgt]
                    with autocast():  # contrastive p-model: x = [reference, hap1, hap2]
                        mean, dev = (
                            step_model(x[:, 1:], x[:, 0]) if task.with_reference else step_model(x)
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
                raise out_of_memory_error(
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
                        "fingerprint": task.fingerprint,
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
        stopped_by = _stop_reason(stopper, history, cfg.epochs, validation is not None)
        if history:
            history[-1]["stopped_by"] = stopped_by
        if stopped_by == "minutes":
            log.info(
                "%s-model: stopping after epoch %d of %d: the time ceiling "
                "s2f.train.max_minutes=%g was reached (%.1f min recorded); not converged",
                kind,
                len(history),
                cfg.epochs,
                cfg.max_minutes,
                training_minutes(history),
            )
        elif stopped_by == "epochs":
            log.warning(
                "%s-model: the epoch ceiling (%d) ended training before early stopping did: "
                "not converged; raise the ceiling to train to convergence",
                kind,
                cfg.epochs,
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
    model.convergence = training_record(
        stopped_by,
        epochs_run=int(history[-1]["epoch"]) if history else 0,
        best_epoch=model.best_epoch,
        max_epochs=cfg.epochs,
        patience=cfg.patience,
        max_minutes=cfg.max_minutes,
        minutes=training_minutes(history),
    )
    return model


def _stop_reason(
    stopper: _EarlyStopping, history: list[dict[str, Any]], max_epochs: int, validated: bool
) -> str:
    """Why the loop of :func:`fit` ended (see :mod:`ps2f.convergence`).

    Early stopping wins over a ceiling reached in the same epoch; the loop ends before the
    epoch ceiling only by early stopping or the time budget.
    """
    if stopper.stopped:
        return "early_stopping"
    if history and int(history[-1]["epoch"]) < max_epochs:
        return "minutes"
    return "epochs" if validated else "no_validation"


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
