"""Train the personal (p-) model (SAGE-net, Spiro et al. 2026).

Method
------
Input: the item's two haplotypes (and, for a contrastive model, the gene's reference).
Targets: the gene's mean expression over its fit individuals, and the individual's deviation
from that mean divided by the gene's SD over fit individuals (population SD, ``ddof=0``; a gene
with SD 0 gets deviation 0). Loss ``lambda_mean * MSE(mean) + lambda_dev * MSE(deviation)``;
Adam with weight decay, gradient-norm clipping and a per-step LR schedule (SAGE-net: cyclic)
(:mod:`ps2f.training.engine`). Optionally starts from the r-model's trunk and mean head
(SAGE-net's ``start_from_ref``).

Validation metric (early stopping, kept epoch): the median over genes of the per-gene Pearson r
between prediction (mean + deviation head) and observed expression across the *validation
individuals*, over every gene of ``validation_items`` (fit genes and validation genes; each
part's median is logged too). SAGE-net monitors the same cell (training genes x validation
individuals) with a loss instead of r. With ``TrainConfig.early_stopping_genes="validation"``
the median over the validation genes alone is followed instead (the genes the model never
trains on).
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ps2f.evaluation.correlation import group_pearson
from ps2f.models.cnn import S2FCNN
from ps2f.models.config import CNNConfig
from ps2f.training.checkpoint import fingerprint
from ps2f.training.config import VALIDATION_BATCH_KEY, TrainConfig
from ps2f.training.data import (
    HaplotypeSource,
    check_window,
    fetch_contrastive,
    fetch_haplotypes,
    item_arrays,
    require_columns,
)
from ps2f.training.engine import EpochHook, FitTask, Validation, fit
from ps2f.training.predict import predict_individuals

__all__ = ["median_gene_r", "p_model_targets", "train_p_model"]

_LOG = logging.getLogger(__name__)
#: Columns of the p-model's item tables: two index columns, then the value.
_ITEM_COLUMNS = ("gene_index", "individual_index", "observed")


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

    Notes
    -----
    The per-gene r is the benchmark's own (:func:`ps2f.evaluation.correlation.group_pearson`,
    as :func:`ps2f.evaluation.per_gene_metrics` reports it), so the epoch is chosen on the
    statistic the report shows. This is the one import of ``training`` from ``evaluation``
    (a torch-free module of plain NumPy statistics).
    """
    codes, uniques = pd.factorize(np.asarray(gene), sort=True)
    r, n, _, _ = group_pearson(
        codes.astype(np.int64),
        np.asarray(observed, np.float64),
        np.asarray(predicted, np.float64),
        len(uniques),
    )
    r[n < min_individuals] = np.nan
    per_gene = pd.Series(r, index=uniques, dtype=np.float64)
    median = float(np.nanmedian(r)) if np.isfinite(r).any() else math.nan
    return median, per_gene


def _p_validation(
    source: HaplotypeSource,
    validation_items: pd.DataFrame | None,
    batch_size: int,
    early_stopping_genes: str = "all",
) -> Validation | None:
    what = "train_p_model validation_items"
    if validation_items is None or len(validation_items) == 0:
        if early_stopping_genes == "validation":
            raise ValueError(
                f"{what}: none, but s2f.train.early_stopping_genes is 'validation': set "
                "split.validation_gene_fraction (or validation_chromosomes) and "
                "split.validation_individual_fraction above 0"
            )
        return None
    require_columns(validation_items, _ITEM_COLUMNS, what)
    genes, inds, obs = item_arrays(validation_items, _ITEM_COLUMNS, what)
    role = (
        validation_items["validation_gene"].to_numpy(bool)
        if "validation_gene" in validation_items.columns
        else None
    )
    if early_stopping_genes == "validation" and (role is None or not role.any()):
        raise ValueError(
            f"{what}: no validation gene, but s2f.train.early_stopping_genes is 'validation': "
            "set split.validation_gene_fraction (or validation_chromosomes) above 0"
        )

    def evaluate(model: S2FCNN) -> dict[str, float]:
        pred = predict_individuals(
            model, source, genes, inds, batch_size, "p", batch_size_key=VALIDATION_BATCH_KEY
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

    metric = (
        "val_median_r_validation_genes" if early_stopping_genes == "validation" else "val_median_r"
    )
    return Validation(evaluate, metric, higher_is_better=True)


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
        gene is a validation gene, not a fit gene; each part's median r is logged, and
        ``train_config.early_stopping_genes="validation"`` follows the validation genes'). They
        drive early stopping and the kept epoch (see the module docstring). None: every epoch
        runs, the last is kept.
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
        pair, or the window lengths disagree; or a configuration is invalid; or
        ``train_config.early_stopping_genes`` is ``"validation"`` without a validation gene.
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
    require_columns(items, _ITEM_COLUMNS, what)
    check_window(source, cnn_config)
    genes, individuals, observed = item_arrays(items, _ITEM_COLUMNS, what)
    if pd.DataFrame({"g": genes, "i": individuals}).duplicated().any():
        raise ValueError(f"{what}: repeated (gene_index, individual_index) pairs")
    frame = pd.DataFrame({"gene_index": genes, "observed": observed})
    target_mean, target_dev = p_model_targets(frame)
    validation = _p_validation(
        source, validation_items, 2 * train_config.batch_size, train_config.early_stopping_genes
    )
    fetch = functools.partial(
        fetch_contrastive if cnn_config.contrastive else fetch_haplotypes,
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
    task = FitTask(
        "p",
        fetch,
        target_mean,
        target_dev,
        run_fp,
        with_reference=cnn_config.contrastive,
        validation=validation,
        init_from=init_from,
        groups=genes,
    )
    return fit(
        task,
        cnn_config,
        train_config,
        log or _LOG,
        checkpoint=checkpoint,
        progress=progress,
        epoch_end=epoch_end,
    )
