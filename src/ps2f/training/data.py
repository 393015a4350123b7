"""Training items to batches: the sequence source, item tables, fetches and the epoch loader.

Items are (gene, individual) pairs (p-model) or genes (r-model) identified by integer indices
into the workflow's gene table and individual table; sequences come from any object satisfying
:class:`HaplotypeSource` and travel as uint8 codes (:mod:`ps2f.genome.encoding`), ``(B, H, L)``
per batch, to the training device, where they are one-hot encoded.

Batches are built whole in the DataLoader workers (:class:`Batches`), augmented there
(:mod:`ps2f.training.augment`) with one generator per (seed, epoch, batch), so that a run's
result does not depend on the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ps2f.models.config import CNNConfig
from ps2f.training.augment import augment_codes, batch_rng
from ps2f.training.config import TrainConfig

__all__ = [
    "Batches",
    "HaplotypeSource",
    "check_window",
    "epoch_loader",
    "epoch_order",
    "fetch_contrastive",
    "fetch_haplotypes",
    "fetch_reference",
    "item_arrays",
    "require_columns",
]

#: ``fetch(idx) -> codes``: the uint8 codes ``(len(idx), H, L)`` of the items ``idx``.
Fetch = Callable[[np.ndarray], np.ndarray]


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


def check_window(source: HaplotypeSource, cnn_config: CNNConfig) -> None:
    """Check that the source's windows have the model's length.

    Parameters
    ----------
    source : HaplotypeSource
    cnn_config : CNNConfig

    Raises
    ------
    ValueError
        If ``source.window_bp != cnn_config.window_bp``.
    """
    if int(source.window_bp) != cnn_config.window_bp:
        raise ValueError(
            f"HaplotypeSource.window_bp={source.window_bp} differs from "
            f"CNNConfig.window_bp={cnn_config.window_bp}"
        )


# ----------------------------------------------------------------------------------------------
# item tables


def require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """Check that an item table has the given columns and at least one row.

    Parameters
    ----------
    df : pandas.DataFrame
    columns : tuple of str
    what : str
        The table's name in the error message, e.g. ``"train_p_model items"``.

    Raises
    ------
    ValueError
        If a column is missing or the table is empty.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; expected {list(columns)}")
    if len(df) == 0:
        raise ValueError(f"{what}: no rows to train on")


def item_arrays(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> list[np.ndarray]:
    """Read an item table's index columns and its value column as checked arrays.

    Parameters
    ----------
    df : pandas.DataFrame
        Has ``columns`` (see :func:`require_columns`).
    columns : tuple of str
        Index columns (e.g. ``gene_index``, ``individual_index``), then one value column (e.g.
        ``observed``).
    what : str
        The table's name in the error message.

    Returns
    -------
    list of numpy.ndarray, each shape (len(df),)
        One int64 array per index column, then the value column as float64.

    Raises
    ------
    ValueError
        If an index column does not hold non-negative integers or the value column has a
        non-finite value; the message names the column.
    """
    *index_columns, value_column = columns
    out = [_index_column(df, col, what) for col in index_columns]
    values = df[value_column].to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(
            f"{what}: column {value_column!r} has {int((~np.isfinite(values)).sum())} "
            "non-finite values"
        )
    return [*out, values]


def _index_column(df: pd.DataFrame, col: str, what: str) -> np.ndarray:
    values = df[col].to_numpy()
    if not np.issubdtype(values.dtype, np.integer) or (len(values) and values.min() < 0):
        raise ValueError(
            f"{what}: column {col!r} must hold non-negative integers, got {values.dtype}"
        )
    return values.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# fetching codes


def _check_codes(codes: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.shape != shape or codes.dtype != np.uint8:
        raise ValueError(
            f"{what} returned {codes.dtype} array of shape {codes.shape}; "
            f"expected uint8 of shape {shape}"
        )
    return codes


def fetch_haplotypes(
    source: HaplotypeSource, genes: np.ndarray, individuals: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """Both haplotypes of the items ``idx``.

    Parameters
    ----------
    source : HaplotypeSource
    genes, individuals : numpy.ndarray, shape (n_items,), int64
        Gene and individual index of every item.
    idx : numpy.ndarray, shape (batch,), int
        The items to fetch.

    Returns
    -------
    numpy.ndarray, shape (batch, 2, window_bp), uint8

    Raises
    ------
    ValueError
        If the source returns another shape or dtype.
    """
    codes = source.haplotypes(genes[idx], individuals[idx])
    return _check_codes(codes, (len(idx), 2, source.window_bp), "HaplotypeSource.haplotypes")


def fetch_contrastive(
    source: HaplotypeSource, genes: np.ndarray, individuals: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """The gene's reference, then the individual's two haplotypes, of the items ``idx``.

    Parameters
    ----------
    source, genes, individuals, idx
        As in :func:`fetch_haplotypes`.

    Returns
    -------
    numpy.ndarray, shape (batch, 3, window_bp), uint8
        ``[reference, haplotype 1, haplotype 2]`` per item (the contrastive p-model's input).

    Raises
    ------
    ValueError
        If the source returns another shape or dtype.
    """
    haps = fetch_haplotypes(source, genes, individuals, idx)
    ref = _check_codes(
        source.reference(genes[idx]), (len(idx), source.window_bp), "HaplotypeSource.reference"
    )
    return np.concatenate([ref[:, None, :], haps], axis=1)


def fetch_reference(source: HaplotypeSource, genes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The reference sequence of the genes ``genes[idx]``.

    Parameters
    ----------
    source : HaplotypeSource
    genes : numpy.ndarray, shape (n_items,), int64
        Gene index of every item.
    idx : numpy.ndarray, shape (batch,), int
        The items to fetch.

    Returns
    -------
    numpy.ndarray, shape (batch, 1, window_bp), uint8

    Raises
    ------
    ValueError
        If the source returns another shape or dtype.
    """
    codes = source.reference(genes[idx])
    codes = _check_codes(codes, (len(idx), source.window_bp), "HaplotypeSource.reference")
    return codes[:, None, :]


# ----------------------------------------------------------------------------------------------
# batches of one epoch


class Batches(Dataset):
    """Whole batches of uint8 codes ``(B, H, L)`` plus float32 targets, one per index.

    Augmentation runs here (in the DataLoader worker), with one generator per (seed, epoch,
    batch) so that the result does not depend on the worker that builds the batch.

    Parameters
    ----------
    fetch : callable
        ``fetch(idx) -> (len(idx), H, L)`` uint8 codes, e.g. :func:`fetch_haplotypes` with its
        first three arguments bound.
    plan : list of numpy.ndarray, each shape (B,), int
        The items of each batch, in order.
    targets : tuple of numpy.ndarray, each shape (n_items,), float32
        Per-item targets (mean, and deviation for the p-model), indexed like ``fetch``.
    seed, epoch : int
        Seed the augmentation generator of each batch (:func:`~ps2f.training.augment.batch_rng`).
    reverse_complement : bool
        Reverse-complement each item with probability 1/2.
    max_shift_bp : int
        Largest shift in bp (0 = no shift).
    """

    def __init__(
        self,
        fetch: Fetch,
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


def epoch_order(
    n_items: int,
    cfg: TrainConfig,
    epoch: int,
    n_epoch: int,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The items of one epoch, in the order they are batched.

    Parameters
    ----------
    n_items : int
        Items ``0 .. n_items - 1``.
    cfg : TrainConfig
        Supplies ``seed`` and ``individuals_per_gene`` (``k``).
    epoch : int
        1-based; with ``cfg.seed`` it seeds the order (``numpy.random.default_rng([seed,
        epoch])``), so a resumed run visits the items an uninterrupted one would.
    n_epoch : int
        Items per epoch (``max_items_per_epoch``): the first ``n_epoch`` of the order.
    groups : numpy.ndarray, shape (n_items,), int, optional
        The gene of each item. With ``k > 1`` the random permutation is regrouped: each gene's
        items (in permutation order) are cut into runs of ``k`` (the last run of a gene may be
        shorter), and the runs are shuffled, so that a batch of ``batch_size`` items holds
        about ``batch_size / k`` genes with ``k`` individuals each. ``None`` or ``k = 1``: the
        permutation itself.

    Returns
    -------
    numpy.ndarray, shape (n_epoch,), int64
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(n_items)
    k = cfg.individuals_per_gene
    if k > 1 and groups is not None:
        by_gene = order[np.argsort(np.asarray(groups)[order], kind="stable")]
        gene = np.asarray(groups)[by_gene]
        first = np.flatnonzero(np.r_[True, gene[1:] != gene[:-1]])  # each gene's first row
        rank = np.arange(n_items) - np.repeat(first, np.diff(np.r_[first, n_items]))
        runs = np.split(by_gene, np.flatnonzero(rank % k == 0)[1:])
        order = np.concatenate([runs[i] for i in rng.permutation(len(runs))])
    return order[:n_epoch].astype(np.int64)


def epoch_loader(
    fetch: Fetch,
    targets: tuple[np.ndarray, ...],
    cfg: TrainConfig,
    epoch: int,
    n_epoch: int,
    pin_memory: bool,
    groups: np.ndarray | None = None,
) -> DataLoader:
    """The DataLoader of one epoch: a seeded random order of the items, in whole batches.

    Parameters
    ----------
    fetch, targets
        As in :class:`Batches`; ``len(targets[0])`` is the number of items.
    cfg : TrainConfig
        Supplies ``seed``, ``batch_size``, ``num_workers`` and the augmentation settings.
    epoch, n_epoch, groups
        The epoch's items and their order (:func:`epoch_order`).
    pin_memory : bool
        Pin the host memory of each batch (on CUDA).

    Returns
    -------
    torch.utils.data.DataLoader
        Yields ``(codes, *targets)`` per batch: uint8 ``(B, H, L)`` and float32 ``(B,)``.
    """
    order = epoch_order(len(targets[0]), cfg, epoch, n_epoch, groups)
    plan = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
    return DataLoader(
        Batches(
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
        pin_memory=pin_memory,
        worker_init_fn=_seed_worker if cfg.num_workers else None,
        generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
    )
