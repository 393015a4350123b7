"""SAGE-net-family CNN mapping one or more haplotype sequences to expression.

The model follows SAGE-net (Spiro et al., Nat Methods 2026; ``mostafavilabuw/SAGEnet``): one
convolutional trunk is applied to the reference and to every haplotype of an item, the
haplotype embeddings are averaged, and two heads read them: a *mean* head (the gene's mean
expression across individuals, from the reference) and a *deviation* head (the individual's
deviation from that mean, z-scored per gene, from the difference between reference and
personal features). A reference-only "r-model" uses the same module with one sequence (the
reference) and only the mean head.

SAGE-net's own sizes are: first convolution 900 filters x kernel 10; 5 blocks of 256 filters x
kernel 5, each followed by ``AvgPool(10)``; dense layer of 256 units; a 40 kb window (about 2.5 M
parameters). Our defaults (:class:`CNNConfig`) are smaller so that a CPU run is practical:
64 x 10 first convolution, 4 blocks of 64 x 5 with ``AvgPool(4)`` (total stride 256), dense 64.
SAGE-net's own ``pool=10, n_blocks=5`` needs a window that is a multiple of 100,000 bp here
(SAGE-net pools with ``ceil_mode`` instead); at the default 40,960 bp window the closest
SAGE-net-sized trunk is ``first_filters=900, n_blocks=5, block_filters=256, pool=4, dense=256``
(total stride 1,024: 40 positions, averaged by the global pooling).
"""

from __future__ import annotations

import torch
from torch import nn

from ps2f.models.config import CNNConfig

__all__ = ["CNNConfig", "S2FCNN"]


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


class _MaxPool(nn.Module):
    """Non-overlapping max pooling, ``(n, c, L) -> (n, c, L // k)``; ``L`` a multiple of ``k``.

    The same as ``nn.MaxPool1d(k)`` on such lengths, written as a reshape and ``amax``: on CPU
    ``MaxPool1d`` (``max_pool2d_with_indices``) took ~20 % of a training step, this ~1 %.
    """

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (x.shape[-1] // self.kernel, self.kernel)).amax(dim=-1)


def _head(in_features: int, dense: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, dense),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(dense, 1),
    )


class S2FCNN(nn.Module):
    """Sequence-to-expression CNN with a mean head and a deviation head (SAGE-net family).

    Trunk: ``conv(4 -> first_filters, first_kernel, same) -> ReLU [-> MaxPool(stem_pool)]``,
    then ``n_blocks`` x ``[BatchNorm -> conv(block_kernel, same) -> ReLU -> AvgPool(pool)]``
    with a residual connection in every block whose input and output channels agree, then
    either a global average over the remaining positions (``head_input="mean"``: a
    ``block_filters``-dimensional embedding per sequence) or their flattened values
    (``"flatten"``, as SAGE-net: ``block_filters * positions``). A shared dense layer ``fc``
    (``Linear -> ReLU``, SAGE-net's ``fc0``) maps an embedding to ``dense`` features, and two
    heads (``Linear -> ReLU -> Dropout -> Linear``, SAGE-net's ``fclayers`` + output) read them.

    The embeddings of an item's haplotypes are averaged (so the output does not depend on
    haplotype order): the *personal* features ``p = fc(mean_h embed(haplotype_h))``. Without a
    reference sequence both heads read ``p`` (the r-model, and a non-contrastive p-model).
    With the reference (the contrastive p-model, SAGE-net's default ``split_expr``), the mean
    head reads the reference features ``r = fc(embed(reference))`` and the deviation head
    reads ``r - p``: an individual whose haplotypes equal the reference gets the same deviation
    output whatever the gene, so the deviation head never has to learn each gene's own
    baseline (Spiro et al. 2026, ``pSAGEnet.forward``).

    Parameters
    ----------
    config : CNNConfig
        Architecture; validated here.

    Attributes
    ----------
    config : CNNConfig
    embedding_size : int
        Width of :meth:`embed`'s output.
    fc : torch.nn.Sequential
        Shared dense layer, embedding -> ``dense`` features.
    mean_head, deviation_head : torch.nn.Sequential
        Heads mapping features to the gene mean and to the individual's deviation.
    history : list of dict
        Per-epoch training records filled by :func:`ps2f.training.train_p_model` and
        :func:`ps2f.training.train_r_model` (empty for an untrained model).
    trained_as : {"p", "r"} or None
        Which training function fitted the model (``None`` if untrained); used by
        :func:`ps2f.training.predict_individuals` to refuse a mode that does not fit the model.
    best_epoch : int or None
        The epoch whose weights the model holds (chosen on the validation metric), or ``None``.

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
            stem.append(_MaxPool(c.stem_pool))
        self.stem = nn.Sequential(*stem)
        blocks = []
        channels = c.first_filters
        for _ in range(c.n_blocks):
            blocks.append(_Block(channels, c.block_filters, c.block_kernel, c.pool))
            channels = c.block_filters
        self.blocks = nn.Sequential(*blocks)
        self.embedding_size = channels * (c.positions if c.head_input == "flatten" else 1)
        self.fc = nn.Sequential(nn.Linear(self.embedding_size, c.dense), nn.ReLU())
        self.mean_head = _head(c.dense, c.dense, c.dropout)
        self.deviation_head = _head(c.dense, c.dense, c.dropout)
        self.history: list[dict[str, float]] = []
        self.trained_as: str | None = None
        self.best_epoch: int | None = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embed single sequences with the shared trunk.

        Parameters
        ----------
        x : torch.Tensor, shape (n, 4, length), float32 one-hot in ACGT order

        Returns
        -------
        torch.Tensor, shape (n, embedding_size), float32
            ``embedding_size`` is ``block_filters`` (``head_input="mean"``) or ``block_filters *
            positions`` (``"flatten"``, channel-major).
        """
        y = self.blocks(self.stem(x))
        return y.flatten(1) if self.config.head_input == "flatten" else y.mean(dim=-1)

    def _check(self, x: torch.Tensor, ndim: int, what: str) -> None:
        L = self.config.window_bp
        shape_ok = x.ndim == ndim and x.shape[-2] == 4 and x.shape[-1] == L
        if not shape_ok or (ndim == 4 and x.shape[1] < 1):
            layout = "(batch, haplotypes, 4, " if ndim == 4 else "(batch, 4, "
            raise ValueError(
                f"S2FCNN expects {what} of shape {layout}{L}) (one-hot ACGT), got {tuple(x.shape)}"
            )

    def forward(
        self, x: torch.Tensor, reference: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the gene mean and the individual deviation from an item's sequences.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, haplotypes, 4, length), float32 one-hot in ACGT order
            ``haplotypes`` is 1 for a single sequence (the reference, for the r-model) and 2 for
            an individual's two haplotypes; ``length`` must equal ``config.window_bp``.
        reference : torch.Tensor, shape (batch, 4, length), float32, optional
            The gene's reference sequence (contrastive p-model, see the class docstring).

        Returns
        -------
        mean : torch.Tensor, shape (batch,), float32
            Mean-head output (the gene's mean expression, in training-target units).
        deviation : torch.Tensor, shape (batch,), float32
            Deviation-head output (the individual's deviation from the gene mean, in gene SDs).

        Raises
        ------
        ValueError
            If ``x`` (or ``reference``) does not have the shape above.
        """
        self._check(x, 4, "x")
        batch, haplotypes, _, length = x.shape
        flat = x.reshape(batch * haplotypes, 4, length)
        if reference is None:
            emb = self.embed(flat).reshape(batch, haplotypes, -1).mean(dim=1)
            return self.heads(emb)
        self._check(reference, 3, "reference")
        if reference.shape[0] != batch:
            raise ValueError(f"reference has {reference.shape[0]} items, x has {batch}")
        emb = self.embed(torch.cat([reference, flat]))  # one trunk call for all sequences
        personal = emb[batch:].reshape(batch, haplotypes, -1).mean(dim=1)
        return self.heads(personal, emb[:batch])

    def heads(
        self, embedding: torch.Tensor, reference_embedding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the shared dense layer and the two heads to trunk embeddings.

        Parameters
        ----------
        embedding : torch.Tensor, shape (batch, embedding_size), float32
            The (haplotype-averaged) personal embedding, or a single sequence's.
        reference_embedding : torch.Tensor, shape (batch, embedding_size), float32, optional
            The reference's embedding: mean head on it, deviation head on the difference of
            the two sequences' features (contrastive p-model). Without it both heads read
            ``embedding``.

        Returns
        -------
        mean, deviation : torch.Tensor, shape (batch,), float32
        """
        personal = self.fc(embedding)
        if reference_embedding is None:
            return self.mean_head(personal).squeeze(-1), self.deviation_head(personal).squeeze(-1)
        ref = self.fc(reference_embedding)
        return self.mean_head(ref).squeeze(-1), self.deviation_head(ref - personal).squeeze(-1)
