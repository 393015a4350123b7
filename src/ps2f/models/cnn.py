"""SAGE-net-family CNN mapping one or more haplotype sequences to expression.

The model follows SAGE-net (Spiro et al., Nat Methods 2026; ``mostafavilabuw/SAGEnet``): one
convolutional trunk is applied to every haplotype of an item, the haplotype embeddings are
averaged, and two heads read the average: a *mean* head (the gene's mean expression across
individuals) and a *deviation* head (the individual's deviation from that mean, z-scored per
gene). A reference-only "r-model" uses the same module with one haplotype (the reference) and
only the mean head.

SAGE-net's own sizes are: first convolution 900 filters x kernel 10; 5 blocks of 256 filters x
kernel 5, each followed by ``AvgPool(10)``; dense layer of 256 units; a 40 kb window (about 2.5 M
parameters). Our defaults (:class:`CNNConfig`) are smaller so that a CPU run is practical:
64 x 10 first convolution, 4 blocks of 64 x 5 with ``AvgPool(4)`` (total stride 256), dense 64.
Set ``first_filters=900, n_blocks=5, block_filters=256, pool=10, dense=256`` to match SAGE-net.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["CNNConfig", "S2FCNN"]


@dataclass(frozen=True)
class CNNConfig:
    """Architecture of :class:`S2FCNN`.

    Parameters
    ----------
    window_bp : int
        Input length ``L`` in bp (TSS at the centre). Must be a positive multiple of
        ``pool ** n_blocks`` (see :meth:`validate`).
    first_filters : int
        Filters of the first convolution (SAGE-net: 900).
    first_kernel : int
        Kernel width of the first convolution, in bp (SAGE-net: 10).
    n_blocks : int
        Number of ``BatchNorm -> conv -> ReLU -> AvgPool`` blocks (SAGE-net: 5).
    block_filters : int
        Filters of each block's convolution (SAGE-net: 256); also the embedding size.
    block_kernel : int
        Kernel width of each block's convolution, in positions (SAGE-net: 5).
    pool : int
        Average-pooling width and stride after each block (SAGE-net: 10).
    dense : int
        Hidden units of each head (SAGE-net: 256).
    dropout : float
        Dropout probability inside each head, in ``[0, 1)``.
    stem_pool : int
        Max-pooling width and stride right after the first convolution (1 = none, as in
        SAGE-net). Pooling the motif-scanner output before the blocks (as Basenji and Enformer
        do) divides the cost of the full-resolution first block by ``stem_pool``; it is what
        makes CPU training on multi-kb windows practical.
    """

    window_bp: int
    first_filters: int = 64
    first_kernel: int = 10
    n_blocks: int = 4
    block_filters: int = 64
    block_kernel: int = 5
    pool: int = 4
    dense: int = 64
    dropout: float = 0.1
    stem_pool: int = 1

    @property
    def total_stride(self) -> int:
        """Length reduction of the trunk, ``stem_pool * pool ** n_blocks``."""
        return self.stem_pool * self.pool**self.n_blocks

    def validate(self) -> CNNConfig:
        """Check the configuration and return it unchanged.

        Returns
        -------
        CNNConfig
            ``self``, so that ``CNNConfig(...).validate()`` can be chained.

        Raises
        ------
        ValueError
            If a size is not a positive integer, ``dropout`` is outside ``[0, 1)``, or
            ``window_bp`` is not a positive multiple of ``pool ** n_blocks``; the message names
            the keys and, for the window, the nearest valid lengths.
        """
        for key in (
            "window_bp",
            "first_filters",
            "first_kernel",
            "n_blocks",
            "block_filters",
            "block_kernel",
            "pool",
            "dense",
            "stem_pool",
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CNNConfig.{key} must be a positive integer, got {value!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"CNNConfig.dropout must be in [0, 1), got {self.dropout!r}")
        stride = self.total_stride
        if self.window_bp % stride:
            below = (self.window_bp // stride) * stride
            above = below + stride
            nearest = f"{below} or {above}" if below > 0 else f"{above}"
            raise ValueError(
                f"CNNConfig.window_bp={self.window_bp} must be a positive multiple of the total "
                f"stride stem_pool * pool**n_blocks = {self.stem_pool} * {self.pool}**{self.n_blocks} "
                f"= {stride}; nearest valid window_bp: {nearest} (or change stem_pool / pool / n_blocks)"
            )
        return self

    def to_dict(self) -> dict[str, int | float]:
        """Return the configuration as a plain dict (safe for ``torch.load(weights_only=True)``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, int | float]) -> CNNConfig:
        """Build a configuration from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If a key is unknown or the values fail :meth:`validate`.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown CNNConfig keys {unknown}; known keys {sorted(known)}")
        return cls(**values).validate()  # type: ignore[arg-type]


class _SameConv1d(nn.Conv1d):
    """Stride-1 convolution whose output has the input's length.

    Odd kernels use ``padding="same"``; even kernels are padded explicitly, ``(k - 1) // 2``
    zeros on the left and ``k // 2`` on the right (the split ``padding="same"`` would use, without
    its warning).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        odd = kernel % 2 == 1
        super().__init__(in_channels, out_channels, kernel, padding="same" if odd else 0)
        self._pad = None if odd else ((kernel - 1) // 2, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._pad is not None:
            x = nn.functional.pad(x, self._pad)
        return super().forward(x)


class _Block(nn.Module):
    """``BatchNorm -> conv(same) -> ReLU [+ input] -> AvgPool``; residual when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_channels)
        self.conv = _SameConv1d(in_channels, out_channels, kernel)
        self.residual = in_channels == out_channels
        self.pool = nn.AvgPool1d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(self.norm(x)))
        if self.residual:
            y = y + x
        return self.pool(y)


def _head(in_features: int, dense: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, dense),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(dense, 1),
    )


class S2FCNN(nn.Module):
    """Sequence-to-expression CNN with a mean head and a deviation head (SAGE-net family).

    Trunk: ``conv(4 -> first_filters, first_kernel, same) -> ReLU``, then ``n_blocks`` x
    ``[BatchNorm -> conv(block_kernel, same) -> ReLU -> AvgPool(pool)]`` with a residual
    connection in every block whose input and output channels agree, then a global average over
    the remaining positions, giving a ``block_filters``-dimensional embedding per haplotype.
    The embeddings of an item's haplotypes are averaged (so the output does not depend on
    haplotype order) and fed to two heads, ``Linear -> ReLU -> Dropout -> Linear``.

    Parameters
    ----------
    config : CNNConfig
        Architecture; validated here.

    Attributes
    ----------
    config : CNNConfig
    mean_head, deviation_head : torch.nn.Sequential
        Heads mapping the embedding to the gene mean and to the individual's deviation.
    history : list of dict
        Per-epoch training records filled by :func:`ps2f.training.train_p_model` and
        :func:`ps2f.training.train_r_model` (empty for an untrained model).
    trained_as : {"p", "r"} or None
        Which training function fitted the model (``None`` if untrained); used by
        :func:`ps2f.training.predict_individuals` to refuse a mode that does not fit the model.

    Raises
    ------
    ValueError
        If ``config`` fails :meth:`CNNConfig.validate`.
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config.validate()
        c = config
        stem: list[nn.Module] = [_SameConv1d(4, c.first_filters, c.first_kernel), nn.ReLU()]
        if c.stem_pool > 1:
            stem.append(nn.MaxPool1d(c.stem_pool))
        self.stem = nn.Sequential(*stem)
        blocks = []
        channels = c.first_filters
        for _ in range(c.n_blocks):
            blocks.append(_Block(channels, c.block_filters, c.block_kernel, c.pool))
            channels = c.block_filters
        self.blocks = nn.Sequential(*blocks)
        self.embedding_size = channels
        self.mean_head = _head(channels, c.dense, c.dropout)
        self.deviation_head = _head(channels, c.dense, c.dropout)
        self.history: list[dict[str, float]] = []
        self.trained_as: str | None = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embed single sequences with the shared trunk.

        Parameters
        ----------
        x : torch.Tensor, shape (n, 4, length), float32 one-hot in ACGT order

        Returns
        -------
        torch.Tensor, shape (n, block_filters), float32
        """
        return self.blocks(self.stem(x)).mean(dim=-1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the gene mean and the individual deviation from an item's haplotypes.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, haplotypes, 4, length), float32 one-hot in ACGT order
            ``haplotypes`` is 1 for the reference sequence and 2 for an individual's two
            haplotypes; ``length`` must equal ``config.window_bp``.

        Returns
        -------
        mean : torch.Tensor, shape (batch,), float32
            Mean-head output (the gene's mean expression, in training-target units).
        deviation : torch.Tensor, shape (batch,), float32
            Deviation-head output (the individual's deviation from the gene mean, in gene SDs).

        Raises
        ------
        ValueError
            If ``x`` is not 4-D with 4 channels and ``config.window_bp`` positions.
        """
        if x.ndim != 4 or x.shape[2] != 4 or x.shape[3] != self.config.window_bp or x.shape[1] < 1:
            raise ValueError(
                "S2FCNN expects x of shape (batch, haplotypes, 4, "
                f"{self.config.window_bp}) (one-hot ACGT), got {tuple(x.shape)}"
            )
        batch, haplotypes = x.shape[0], x.shape[1]
        emb = self.embed(x.reshape(batch * haplotypes, 4, x.shape[3]))
        return self.heads(emb.reshape(batch, haplotypes, -1).mean(dim=1))

    def heads(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the mean and deviation heads to (haplotype-averaged) embeddings.

        Parameters
        ----------
        embedding : torch.Tensor, shape (batch, block_filters), float32

        Returns
        -------
        mean, deviation : torch.Tensor, shape (batch,), float32
        """
        return self.mean_head(embedding).squeeze(-1), self.deviation_head(embedding).squeeze(-1)
