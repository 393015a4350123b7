"""Settings the workflow checks when it is parsed, importable without torch or pandas.

:class:`CNNConfig` (the architecture of the SAGE-net-family CNN) and :func:`check_split_config`
(the chromosome splits) live here (not in :mod:`ps2f.models.cnn` or :mod:`ps2f.phenotypes`) so
that ``workflow/rules/common.smk`` can check a configuration at parse time without paying for a
torch or pandas import in every Snakemake invocation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ps2f.errors import ConfigError
from ps2f.io.contigs import candidate_names

__all__ = ["CNNConfig", "WORKFLOW_KEYS", "HEAD_INPUTS", "check_split_config"]

#: How the heads read the trunk's output (see :class:`CNNConfig`).
HEAD_INPUTS = ("mean", "flatten")

_INT_KEYS = (
    "window_bp",
    "first_filters",
    "first_kernel",
    "n_blocks",
    "block_filters",
    "block_kernel",
    "pool",
    "dense",
    "stem_pool",
)

#: How each :class:`CNNConfig` field is spelled in the workflow config (``s2f`` section).
WORKFLOW_KEYS: dict[str, str] = {
    "window_bp": "s2f.window_bp",
    **{k: f"s2f.model.{k}" for k in (*_INT_KEYS[1:], "dropout", "head_input", "contrastive")},
}


@dataclass(frozen=True)
class CNNConfig:
    """Architecture of :class:`ps2f.models.S2FCNN`.

    Parameters
    ----------
    window_bp : int
        Input length ``L`` in bp (TSS at the centre). Must be a positive multiple of the total
        stride ``stem_pool * pool ** n_blocks`` (see :meth:`validate`).
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
    head_input : {"mean", "flatten"}
        What the heads read: ``"mean"``, the trunk's output averaged over its remaining
        positions (``block_filters`` features; position-invariant: a motif counts the same
        anywhere in the window); ``"flatten"``, all ``block_filters x window_bp / total_stride``
        values (SAGE-net's ``flatten``; position-aware, e.g. for effects that decay with the
        distance to the TSS). At SAGE-net's sizes (40 kb, stride 10^5 with ``ceil_mode``) one
        position remains and the two coincide.
    contrastive : bool
        p-model only: the mean head reads the gene's reference sequence and the deviation head
        the difference between reference and personal features (SAGE-net's default,
        ``split_expr=True``); ``False`` feeds both heads the personal features (SAGE-net's
        "non-contrastive" ablation). Costs one more sequence per item.
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
    head_input: str = "flatten"
    contrastive: bool = True

    @property
    def positions(self) -> int:
        """Positions left after the trunk, ``window_bp // total_stride``."""
        return self.window_bp // self.total_stride

    @property
    def total_stride(self) -> int:
        """Length reduction of the trunk, ``stem_pool * pool ** n_blocks``."""
        return self.stem_pool * self.pool**self.n_blocks

    def validate(self, names: Mapping[str, str] | None = None) -> CNNConfig:
        """Check the configuration and return it unchanged.

        Parameters
        ----------
        names : mapping of str to str, optional
            How to spell each field in error messages (e.g. :data:`WORKFLOW_KEYS`, which names
            the workflow's config keys); ``CNNConfig.<field>`` by default.

        Returns
        -------
        CNNConfig
            ``self``, so that ``CNNConfig(...).validate()`` can be chained.

        Raises
        ------
        ValueError
            If a size is not a positive integer, ``dropout`` is outside ``[0, 1)``, or
            ``window_bp`` is not a positive multiple of ``stem_pool * pool ** n_blocks``, or
            ``head_input`` is unknown; the message names the keys and, for the window, the
            nearest valid lengths.
        """

        def name(key: str) -> str:
            return (names or {}).get(key, f"CNNConfig.{key}")

        for key in _INT_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name(key)} must be a positive integer, got {value!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"{name('dropout')} must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.contrastive, bool):
            raise ValueError(
                f"{name('contrastive')} must be true or false, got {self.contrastive!r}"
            )
        if self.head_input not in HEAD_INPUTS:
            raise ValueError(
                f"{name('head_input')} must be one of {HEAD_INPUTS}, got {self.head_input!r}"
            )
        stride = self.total_stride
        if self.window_bp % stride:
            below = (self.window_bp // stride) * stride
            above = below + stride
            nearest = f"{below} or {above}" if below > 0 else f"{above}"
            raise ValueError(
                f"{name('window_bp')}={self.window_bp} must be a positive multiple of the total "
                f"stride stem_pool * pool**n_blocks = {self.stem_pool} * {self.pool}**{self.n_blocks} "
                f"= {stride}; nearest valid {name('window_bp')}: {nearest} "
                f"(or change {name('stem_pool')} / {name('pool')} / {name('n_blocks')})"
            )
        return self

    def to_dict(self) -> dict[str, int | float]:
        """Return the configuration as a plain dict (safe for ``torch.load(weights_only=True)``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, int | float]) -> CNNConfig:
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

    @classmethod
    def from_workflow(cls, s2f: Mapping) -> CNNConfig:
        """Build and validate the configuration from the workflow's ``s2f`` config section.

        Parameters
        ----------
        s2f : mapping
            The validated ``s2f`` section: ``window_bp`` and the ``model`` mapping.

        Returns
        -------
        CNNConfig

        Raises
        ------
        ValueError
            As :meth:`validate`, naming the workflow keys (``s2f.window_bp``,
            ``s2f.model.pool``, ...).
        """
        return cls(window_bp=s2f["window_bp"], **s2f.get("model", {})).validate(WORKFLOW_KEYS)


def check_split_config(split: Mapping, contigs: Sequence[str]) -> None:
    """Check the chromosome splits of the workflow's ``split`` section against ``contigs``.

    Genes are analysed only on ``contigs``, so a held-out or validation chromosome that is not
    one of them would hold no gene: the split would silently be empty. Names match verbatim or
    with the ``chr`` prefix toggled (:func:`ps2f.io.contigs.candidate_names`). The fractions
    need no joint check: each is in ``[0, 1)`` (the schema) and is taken of what the previous
    split left (held-out of all, validation of the training rest), so training keeps
    ``(1 - heldout) * (1 - validation) > 0`` of them.

    Parameters
    ----------
    split : mapping
        The validated ``split`` section (``heldout_chromosomes``, ``validation_chromosomes``).
    contigs : sequence of str
        The ``contigs`` config key.

    Raises
    ------
    ps2f.errors.ConfigError
        A held-out or validation chromosome not among ``contigs``; the two lists sharing a
        chromosome (validation genes must never be test genes); or the two covering every
        contig (no gene would be left to fit on).
    """

    def norm(name: str) -> str:
        return str(name).removeprefix("chr")

    analysed = {c for contig in contigs for c in candidate_names(str(contig))}
    for key in ("heldout_chromosomes", "validation_chromosomes"):
        absent = [c for c in split.get(key, ()) if str(c) not in analysed]
        if absent:
            raise ConfigError(
                f"split.{key} {absent}: not among contigs {list(contigs)}, so no gene would be "
                f"there; add them to contigs or name analysed chromosomes (chr prefix optional)"
            )
    heldout = {norm(c) for c in split.get("heldout_chromosomes", ())}
    validation = {norm(c) for c in split.get("validation_chromosomes", ())}
    if heldout & validation:
        raise ConfigError(
            f"split.heldout_chromosomes and split.validation_chromosomes share "
            f"{sorted(heldout & validation)}; validation genes must never be held-out (test) genes"
        )
    if (heldout or validation) and {norm(c) for c in contigs} <= heldout | validation:
        raise ConfigError(
            f"split.heldout_chromosomes {list(split.get('heldout_chromosomes', ()))} and "
            f"split.validation_chromosomes {list(split.get('validation_chromosomes', ()))} cover "
            f"every contig {list(contigs)}: no gene would be left to fit the models on; add "
            f"contigs or set aside fewer chromosomes"
        )
