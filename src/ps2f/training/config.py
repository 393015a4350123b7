"""Training settings (:class:`TrainConfig`) and the out-of-memory error that names them.

:func:`resolve_device` lives in :mod:`ps2f.models.device` (the prediction rules and the r-model
scorer need it too) and is re-exported here, where :meth:`TrainConfig.validate` uses it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ps2f.errors import ConfigError
from ps2f.models.device import resolve_device

__all__ = [
    "EARLY_STOPPING_GENES",
    "SCHEDULES",
    "TRAIN_BATCH_KEY",
    "TrainConfig",
    "VALIDATION_BATCH_KEY",
    "out_of_memory_error",
    "resolve_device",
]

SCHEDULES = ("cyclic", "onecycle", "cosine", "constant")
#: Which training genes' validation r early stopping watches (p-model): see TrainConfig.
EARLY_STOPPING_GENES = ("all", "validation")
#: TrainConfig fields left out of a run's fingerprint: they do not change what an epoch computes
#: (device, workers, compile), or change only when training stops (max_minutes: a resumed run
#: continues under the time budget of the config it is resumed with).
_NOT_RESULT_AFFECTING = ("device", "num_workers", "compile", "max_minutes")

#: Config key named by the out-of-memory error of a training step.
TRAIN_BATCH_KEY = "s2f.train.batch_size"
#: ... and of a validation pass (validation batches are ``2 * batch_size``).
VALIDATION_BATCH_KEY = f"{TRAIN_BATCH_KEY} (validation batches are twice it)"


def out_of_memory_error(err: BaseException, what: str, batch_size: int, key: str) -> ConfigError:
    """The error raised instead of ``torch.cuda.OutOfMemoryError``: which batch size to lower.

    Parameters
    ----------
    err : BaseException
        The ``torch.cuda.OutOfMemoryError``; the first line of its message is quoted.
    what : str
        What was running, e.g. ``"training the p-model (epoch 3)"``.
    batch_size : int
        The batch size in use.
    key : str
        The config key that set it (:data:`TRAIN_BATCH_KEY`, :data:`VALIDATION_BATCH_KEY` or
        the prediction rules' ``s2f.predict_batch_size``).

    Returns
    -------
    ps2f.errors.ConfigError
        To be raised ``from err``.
    """
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(
        f"out of GPU memory while {what} in batches of {batch_size}: lower {key} (e.g. halve "
        f"it) and re-run, or free the GPU (nvidia-smi shows what else holds memory). "
        f"torch: {first}"
    )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of ``train_p_model`` and ``train_r_model`` (:mod:`ps2f.training`).

    Defaults follow SAGE-net (Spiro et al. 2026, ``SAGEnet/models.py`` and
    ``script/train_model/train_model.py``) where it has one.

    Parameters
    ----------
    epochs : int
        Maximum passes over the (possibly subsampled, see ``max_items_per_epoch``) training
        items: the epoch ceiling (SAGE-net: 10). When it, not early stopping, ends training,
        the run is recorded as not converged (:mod:`ps2f.convergence`).
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
    max_minutes : float or None
        Wall-clock ceiling in minutes, checked after each epoch against the time recorded in
        the history (training steps plus validation passes, summed over a resume); training
        stops once it is reached and the run is recorded as not converged. ``None``: no
        ceiling.
    individuals_per_gene : int
        p-model only: each batch is made of runs of this many items (individuals) of one gene
        (:func:`ps2f.training.data.epoch_order`), so that the gene's reference and shared
        haplotypes run through the trunk once per batch (the trunk embeds each distinct
        sequence of a batch once). 1 = items in plain random order. Changes what is computed
        (batch composition enters BatchNorm's statistics and each step's gradient), not only
        its speed.
    early_stopping_genes : {"all", "validation"}
        p-model only: the genes whose median validation r (across the validation individuals)
        early stopping and the kept epoch follow. ``"all"``: every training gene, fit and
        validation genes (SAGE-net's cell: how well the model ranks unseen individuals of the
        genes it trains on; many genes, a stable signal). ``"validation"``: the validation
        genes only, which the model never trains on (the unseen-gene signal; few genes, a
        noisy one: give it enough validation genes). Needs validation genes.
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
    max_minutes: float | None = None
    individuals_per_gene: int = 1
    early_stopping_genes: str = "all"

    def validate(self) -> TrainConfig:
        """Check the settings and return ``self``.

        Raises
        ------
        ValueError
            If a count is not positive, a weight or rate is negative, the schedule, early-stopping
            genes or compile setting is unknown, or the device string is not understood; the message names the
            key.
        """
        for key in ("epochs", "batch_size", "cycle_steps", "individuals_per_gene"):
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
        if self.max_minutes is not None and not float(self.max_minutes) > 0:
            raise ValueError(
                f"TrainConfig.max_minutes must be None or > 0, got {self.max_minutes!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be None or > 0, got {self.grad_clip!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"TrainConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        if self.early_stopping_genes not in EARLY_STOPPING_GENES:
            raise ValueError(
                f"TrainConfig.early_stopping_genes must be one of {EARLY_STOPPING_GENES}, "
                f"got {self.early_stopping_genes!r}"
            )
        if self.compile not in ("auto", True, False):
            raise ValueError(
                f"TrainConfig.compile must be 'auto', True or False, got {self.compile!r}"
            )
        resolve_device(self.device)
        return self

    def result_settings(self) -> dict[str, Any]:
        """The settings in a run's fingerprint (all but device, workers, compile, max_minutes)."""
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items() if k not in _NOT_RESULT_AFFECTING}
