"""Predictions of a trained CNN: per (gene, individual) pair, or per gene from the reference.

Modes of :func:`predict_individuals`
------------------------------------
``"p"``
    The p-model reads both haplotypes of an individual (and, if contrastive, the gene's
    reference); prediction = mean head + deviation head.
``"reference_scoring"`` (Huang et al. 2023; Sasse et al. 2023)
    A reference-trained model (the r-model) scores each haplotype on its own and the
    individual's prediction is the average of the two haplotype scores.

Predictions run in float32 without autocast and in eval mode (restored afterwards); a
``torch.cuda.OutOfMemoryError`` is re-raised as :class:`~ps2f.errors.ConfigError` naming the
batch-size setting to lower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from ps2f.models.cnn import S2FCNN
from ps2f.training.config import out_of_memory_error
from ps2f.training.data import (
    HaplotypeSource,
    check_window,
    fetch_contrastive,
    fetch_haplotypes,
    fetch_reference,
)

__all__ = ["PREDICTION_MODES", "predict_individuals", "predict_reference"]

PREDICTION_MODES = ("p", "reference_scoring")


@contextlib.contextmanager
def _inference(model: S2FCNN, what: str, batch_size: int, batch_size_key: str) -> Iterator[None]:
    """Eval mode for the block (then the previous mode); out of GPU memory -> ConfigError."""
    was_training = model.training
    model.eval()
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        raise out_of_memory_error(err, what, batch_size, batch_size_key) from err
    finally:
        model.train(was_training)


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
    check_window(source, model.config)
    length = model.config.window_bp
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    contrastive = mode == "p" and model.config.contrastive
    fetch = fetch_contrastive if contrastive else fetch_haplotypes
    per_item = 3 if contrastive else 2
    out = np.empty(genes.size, dtype=np.float64)
    what = f"predicting {genes.size} (gene, individual) pairs"
    with _inference(model, what, batch_size, batch_size_key):
        for start in range(0, genes.size, batch_size):
            idx = np.arange(start, min(start + batch_size, genes.size))
            codes = torch.from_numpy(np.ascontiguousarray(fetch(source, genes, individuals, idx)))
            if cuda:
                codes = codes.pin_memory()
            # Individuals share most haplotypes (common variants) and every item of a gene
            # its reference: embed each distinct sequence once. Exact in eval mode, where the
            # trunk is a per-sequence function. The trunk reads codes (S2FCNN.embed).
            flat = codes.reshape(len(idx) * per_item, length)
            unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
            emb = model.embed(unique.to(device, non_blocking=True))
            emb = emb[inverse.to(device)].reshape(len(idx), per_item, -1)
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
    return out


@torch.no_grad()
def predict_reference(
    model: S2FCNN,
    source: HaplotypeSource,
    gene_index: np.ndarray,
    batch_size: int,
    batch_size_key: str,
) -> np.ndarray:
    """Mean-head prediction of each gene from its reference sequence (the r-model's output).

    Parameters
    ----------
    model : S2FCNN
        Runs on the device its parameters are on, in float32.
    source : HaplotypeSource
    gene_index : numpy.ndarray, shape (n,), int64
        Genes to predict.
    batch_size : int
        Genes per forward pass.
    batch_size_key : str
        The setting that gave ``batch_size``, named in the out-of-memory error.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        Predictions in model units.

    Raises
    ------
    ps2f.errors.ConfigError
        Out of GPU memory: the message names ``batch_size_key``.
    ValueError
        If the source returns codes of another shape or dtype.
    """
    device = next(model.parameters()).device
    out = np.empty(len(gene_index), dtype=np.float64)
    what = f"scoring {len(gene_index)} reference sequences"
    with _inference(model, what, batch_size, batch_size_key):
        for start in range(0, len(gene_index), batch_size):
            idx = np.arange(start, min(start + batch_size, len(gene_index)))
            codes = torch.from_numpy(np.ascontiguousarray(fetch_reference(source, gene_index, idx)))
            mean, _ = model(codes.to(device))  # uint8 codes (S2FCNN.forward)
            out[idx] = mean.double().cpu().numpy()
    return out
