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

Inputs are one-hot floats or uint8 codes. Codes take the CPU fast path (issue 17): the stem as
m-mer table look-ups with its ReLU and max-pool in one numba pass (:func:`_code_stem`), and each
distinct sequence of a batch through the trunk once, BatchNorm weighted by multiplicity
(:meth:`S2FCNN.embed_unique`); the result equals the one-hot path's up to float rounding.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ps2f.genome.encoding import N_CODE
from ps2f.models._stem_kernels import kmer_codes, stem_backward, stem_forward
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

    def forward(self, x: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        """``counts``: each row's multiplicity in the batch (:func:`_weighted_batch_norm`)."""
        norm = self.norm(x) if counts is None else _weighted_batch_norm(self.norm, x, counts)
        y = torch.relu(self.conv(norm))
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


@functools.lru_cache(maxsize=8)
def _kmer_digits(m: int) -> torch.Tensor:
    """``(5**m, 4 * m)`` float32 0/1 matrix; row ``k`` one-hot encodes the m-mer coded ``k``.

    Column ``t * 4 + b`` is 1 when base ``t`` (most significant first) of the m-mer is ``b``
    (``A, C, G, T``); ``N`` (digit 4) sets no column, as its one-hot is all zeros.
    """
    k = torch.arange(5**m)
    digits = torch.stack([(k // 5 ** (m - 1 - t)) % 5 for t in range(m)], dim=1)  # (5**m, m)
    return (digits[:, :, None] == torch.arange(4)).reshape(5**m, 4 * m).float()


class _CodeStemFunction(torch.autograd.Function):
    """Autograd wrapper of :mod:`ps2f.models._stem_kernels` (CPU tensors)."""

    @staticmethod
    def forward(ctx, tables, bias, kmer, m: int, pool: int, length: int):  # type: ignore[override]
        n, channels = kmer.shape[0], tables.shape[2]
        out = torch.empty(n, channels, length // pool)
        peak = torch.empty(n, length // pool, channels)
        stem_forward(
            kmer.numpy(),
            tables.detach().numpy(),
            bias.detach().numpy(),
            m,
            pool,
            out.numpy(),
            peak.numpy(),
        )
        ctx.save_for_backward(tables, bias, kmer, peak)
        ctx.m, ctx.pool = m, pool
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        tables, bias, kmer, peak = ctx.saved_tensors
        grad_tables = torch.zeros_like(tables)
        grad_bias = torch.zeros_like(bias)
        stem_backward(
            kmer.numpy(),
            tables.detach().numpy(),
            bias.detach().numpy(),
            ctx.m,
            ctx.pool,
            peak.numpy(),
            grad.contiguous().numpy(),
            grad_tables.numpy(),
            grad_bias.numpy(),
        )
        return grad_tables, grad_bias, None, None, None, None


def _code_stem(stem: nn.Sequential, codes: torch.Tensor) -> torch.Tensor:
    """The stem (``conv -> ReLU [-> max-pool]``) applied to sequence codes instead of one-hot.

    A convolution over one-hot input only ever adds kernel columns: output ``c`` at position
    ``l`` is ``bias[c] + sum_k W[c, base(l + k - left), k]`` (``N`` adds nothing). The kernel's
    ``K`` offsets are cut into ``J = ceil(K / 5)`` chunks of ``m = ceil(K / J)`` offsets; each
    chunk's contribution depends only on the m-mer under it, so it is read from a table of all
    ``5**m`` m-mers (``T_j = digits @ W_j``, built from the current weights on every call, so
    autograd reaches ``W``). The stem is then ``J`` row look-ups per position instead of ``4 K``
    multiply-adds per output channel, computed with the ReLU and the max-pool in one pass
    (:mod:`ps2f.models._stem_kernels`), and its weight gradient a scatter-add into the tables.
    The result equals ``stem(one_hot(codes))`` up to float summation order, with ``torch.amax``'s
    tie rule in the max-pool's gradient (a window's maximum held by near-equal values that
    rounding orders differently can send its gradient to another position: rare, and what any
    change of summation order does to a max-pool). CPU only; other devices run the
    convolution on ``one_hot(codes)``.

    Parameters
    ----------
    stem : torch.nn.Sequential
        ``S2FCNN.stem``: ``_SameConv1d(4, C, K)``, ``ReLU`` and optionally ``_MaxPool(s)``.
    codes : torch.Tensor, shape (n, length), uint8
        ``A=0, C=1, G=2, T=3, N=4`` (:mod:`ps2f.genome.encoding`).

    Returns
    -------
    torch.Tensor, shape (n, C, length // s), float32
        What ``stem(one_hot(codes))`` returns.
    """
    weight, bias = stem[0].weight, stem[0].bias  # (C, 4, K), (C,)
    if codes.device.type != "cpu" or weight.dtype != torch.float32:
        from ps2f.genome.encoding import one_hot

        return stem(one_hot(codes, dtype=weight.dtype))
    channels, _, kernel = weight.shape
    chunks = -(-kernel // 5)
    m = -(-kernel // chunks)
    length = codes.shape[1]
    left = (kernel - 1) // 2  # the padding of _SameConv1d (odd: "same"; even: explicit)
    right = chunks * m - 1 - left  # K - 1 - left, plus the zero offsets of the last chunk
    padded = nn.functional.pad(codes, (left, right), value=N_CODE)  # N: zeros, as the padding
    kmer = torch.from_numpy(kmer_codes(padded.numpy(), m, length + (chunks - 1) * m))
    w = nn.functional.pad(weight, (0, chunks * m - kernel))  # zero offsets past K
    w = w.reshape(channels, 4, chunks, m).permute(2, 3, 1, 0).reshape(chunks, 4 * m, channels)
    tables = (_kmer_digits(m) @ w).contiguous()  # (J, 5**m, C)
    pool = stem[2].kernel if len(stem) > 2 else 1
    return _CodeStemFunction.apply(tables, bias.contiguous(), kmer, m, pool, length)


class _WeightedBatchNormFunction(torch.autograd.Function):
    """Training-mode BatchNorm over a batch whose row ``i`` stands for ``counts[i]`` rows.

    With ``N = sum(counts) * length``, ``mu`` and ``sigma`` the counts-weighted mean and (biased)
    SD per channel and ``x_hat = (x - mu) / sigma``, the forward pass is ``gamma * x_hat + beta``
    and the backward pass the repeated batch's BatchNorm gradient summed over each row's
    copies: ``dx_i = gamma / sigma * (G_i - counts_i * (sum(G) + x_hat_i * sum(G * x_hat)) / N)``,
    ``G_i`` the gradient of row ``i`` (already the sum over its copies), sums over rows and
    positions per channel (Ioffe & Szegedy 2015, eq. of the backward pass, with weights).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, counts, eps: float):  # type: ignore[override]
        n, channels, length = x.shape
        total = float(counts.sum()) * length
        flat = x.reshape(n, channels * length)
        mean = (counts @ flat).reshape(channels, length).sum(1) / total
        x_hat = x - mean[:, None]
        var = (counts @ x_hat.square().reshape(n, -1)).reshape(channels, length).sum(1) / total
        inv_std = torch.rsqrt(var + eps)
        x_hat.mul_(inv_std[:, None])
        ctx.save_for_backward(x_hat, inv_std, gamma, counts)
        ctx.total = total
        ctx.mark_non_differentiable(mean, var)
        return torch.addcmul(beta[:, None], x_hat, gamma[:, None]), mean, var

    @staticmethod
    def backward(ctx, grad, _mean, _var):  # type: ignore[override]
        x_hat, inv_std, gamma, counts = ctx.saved_tensors
        grad_beta = grad.sum(dim=(0, 2))
        grad_gamma = torch.einsum("ncl,ncl->c", grad, x_hat)
        shift = torch.addcmul(
            (grad_beta / ctx.total)[:, None], x_hat, (grad_gamma / ctx.total)[:, None]
        )
        grad_x = (grad - shift * counts[:, None, None]) * (gamma * inv_std)[:, None]
        return grad_x, grad_gamma, grad_beta, None, None


def _weighted_batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``bn(x)`` on a batch whose row ``i`` stands for ``counts[i]`` identical sequences.

    In training mode BatchNorm's statistics run over the whole batch, so a batch of distinct
    sequences ``x`` with multiplicities ``counts`` must be normalised with the statistics of
    the batch with every row repeated ``counts[i]`` times: the ``counts``-weighted mean and
    (biased) variance over ``sum(counts) * length`` values, and the unbiased variance for the
    running statistics, as :func:`torch.nn.functional.batch_norm` computes them on the repeated
    batch. Every output row then equals that batch's row (up to float summation order), and
    autograd through the weighted sums gives its gradients. In eval mode it is ``bn(x)``.

    Parameters
    ----------
    bn : torch.nn.BatchNorm1d
        Supplies ``weight``, ``bias``, ``eps``, ``momentum`` (not ``None``) and the running
        statistics, updated in place in training mode.
    x : torch.Tensor, shape (n, channels, length), float32
    counts : torch.Tensor, shape (n,), positive integers

    Returns
    -------
    torch.Tensor, shape (n, channels, length), float32
    """
    if not bn.training:
        return bn(x)
    y, mean, var = _WeightedBatchNormFunction.apply(
        x, bn.weight, bn.bias, counts.to(x.dtype), bn.eps
    )
    total = float(counts.sum()) * x.shape[-1]
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        bn.running_mean.mul_(1 - bn.momentum).add_(mean, alpha=bn.momentum)
        unbiased = var * (total / max(total - 1, 1))
        bn.running_var.mul_(1 - bn.momentum).add_(unbiased, alpha=bn.momentum)
    return y


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

    def embed(self, x: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        """Embed single sequences with the shared trunk.

        Parameters
        ----------
        x : torch.Tensor, shape (n, 4, length) float32 one-hot ACGT, or (n, length) uint8 codes
            Codes (``A=0, C=1, G=2, T=3, N=4``, :mod:`ps2f.genome.encoding`) take the fast stem
            (:func:`_code_stem`: the first convolution as table look-ups), whose output equals
            the one-hot path's up to float summation order; one-hot (or any float ``(n, 4,
            length)`` input, e.g. for input gradients) takes the convolution.
        counts : torch.Tensor, shape (n,), int, optional
            Multiplicity of each sequence in the batch it stands for (matters in training mode
            only): BatchNorm uses the statistics of the batch with row ``i`` repeated
            ``counts[i]`` times (:func:`_weighted_batch_norm`; see :meth:`embed_unique`).

        Returns
        -------
        torch.Tensor, shape (n, embedding_size), float32
            ``embedding_size`` is ``block_filters`` (``head_input="mean"``) or ``block_filters *
            positions`` (``"flatten"``, channel-major).
        """
        y = _code_stem(self.stem, x) if x.dtype == torch.uint8 else self.stem(x)
        for block in self.blocks:
            y = block(y, counts)
        return y.flatten(1) if self.config.head_input == "flatten" else y.mean(dim=-1)

    def embed_unique(self, codes: torch.Tensor) -> torch.Tensor:
        """Embed sequence codes, running the trunk once per distinct sequence.

        The items of a batch share sequences (the items of a gene its reference; individuals
        most haplotypes, as common variants in a window are few): the trunk runs on the distinct
        rows only, with BatchNorm weighted by their multiplicities (:meth:`embed`'s ``counts``),
        and the embeddings are gathered back. Output, BatchNorm running statistics and gradients
        equal those of embedding every row (up to float summation order).

        Parameters
        ----------
        codes : torch.Tensor, shape (n, length), uint8

        Returns
        -------
        torch.Tensor, shape (n, embedding_size), float32
        """
        unique, inverse, counts = torch.unique(
            codes, dim=0, return_inverse=True, return_counts=True
        )
        if len(unique) == len(codes):
            return self.embed(codes)
        return self.embed(unique, counts).index_select(0, inverse)

    def _check(self, x: torch.Tensor, ndim: int, what: str) -> None:
        """``ndim`` is the one-hot layout's; codes have one dimension less."""
        L = self.config.window_bp
        codes = x.dtype == torch.uint8
        ndim -= codes
        shape_ok = x.ndim == ndim and x.shape[-1] == L and (codes or x.shape[-2] == 4)
        if not shape_ok or (x.ndim >= 2 and ndim == 4 - codes and x.shape[1] < 1):
            batch = "(batch, haplotypes, " if ndim == 4 - codes else "(batch, "
            layout = f"{batch}{L}) uint8 codes" if codes else f"{batch}4, {L}) one-hot ACGT"
            raise ValueError(f"S2FCNN expects {what} of shape {layout}, got {tuple(x.shape)}")

    def forward(
        self, x: torch.Tensor, reference: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the gene mean and the individual deviation from an item's sequences.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, haplotypes, 4, length) float32 one-hot ACGT, or (batch, haplotypes, length) uint8 codes
            ``haplotypes`` is 1 for a single sequence (the reference, for the r-model) and 2 for
            an individual's two haplotypes; ``length`` must equal ``config.window_bp``. Codes
            run the trunk once per distinct sequence of the batch (:meth:`embed_unique`): the
            same result up to float summation order, at a fraction of the cost.
        reference : torch.Tensor, shape (batch, 4, length) float32 or (batch, length) uint8, optional
            The gene's reference sequence (contrastive p-model, see the class docstring), in the
            layout of ``x``.

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
        codes = x.dtype == torch.uint8
        embed = self.embed_unique if codes else self.embed
        self._check(x, 4, "x")
        batch, haplotypes = x.shape[:2]
        flat = x.flatten(0, 1)
        if reference is None:
            emb = embed(flat).reshape(batch, haplotypes, -1).mean(dim=1)
            return self.heads(emb)
        self._check(reference, 3, "reference")
        if reference.shape[0] != batch or reference.dtype != x.dtype:
            raise ValueError(
                f"reference has {reference.shape[0]} items of {reference.dtype}, x has {batch} "
                f"of {x.dtype}"
            )
        emb = embed(torch.cat([reference, flat]))  # one trunk call for all sequences
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
