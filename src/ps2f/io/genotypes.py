"""One entry point per genotype task, whatever the file format: VCF/BCF, or a PLINK 2 ``.pgen``.

A path ending in ``.pgen`` selects :mod:`ps2f.io.pgen` (its ``.pvar``/``.psam`` beside it);
anything else is read as VCF/BCF by :mod:`ps2f.io.vcf`. Both give the same stores from the same
genotypes (the per-record logic is shared: :mod:`ps2f.io.records`).
"""

from __future__ import annotations

from pathlib import Path

from ps2f.genome.store import DosageStore, VariantStore
from ps2f.io.pgen import (
    ingest_pgen,
    ingest_pgen_dosages,
    is_pgen,
    pgen_companions,
    read_psam_samples,
)
from ps2f.io.vcf import ingest_dosages, ingest_vcf, read_vcf_samples

__all__ = [
    "genotype_companions",
    "genotype_format",
    "sample_rename_command",
    "ingest_genotype_dosages",
    "ingest_genotypes",
    "read_genotype_samples",
]


def genotype_format(path: str | Path) -> str:
    """``"PGEN"`` for a PLINK 2 ``.pgen``, else ``"VCF"`` (VCF or BCF), for messages."""
    return "PGEN" if is_pgen(path) else "VCF"


def sample_rename_command(path: str | Path) -> str:
    """The command that renames the samples of ``path``'s format, quoted, for messages."""
    return "'plink2 --update-ids'" if is_pgen(path) else "'bcftools reheader -s'"


def read_genotype_samples(path: str | Path) -> list[str]:
    """Sample IDs of a VCF/BCF or of a PGEN's ``.psam`` (IIDs), in file order.

    See :func:`ps2f.io.vcf.read_vcf_samples` and :func:`ps2f.io.pgen.read_psam_samples` (the
    errors raised).
    """
    return read_psam_samples(path) if is_pgen(path) else read_vcf_samples(path)


def genotype_companions(path: str | Path) -> list[str]:
    """The files read with ``path`` beside it: a PGEN's ``.pvar`` and ``.psam``; else ``[]``."""
    return list(pgen_companions(path)) if is_pgen(path) else []


def ingest_genotypes(path: str | Path, *args, **kwargs) -> VariantStore:
    """:func:`ps2f.io.pgen.ingest_pgen` for a ``.pgen``, else :func:`ps2f.io.vcf.ingest_vcf`."""
    return (ingest_pgen if is_pgen(path) else ingest_vcf)(path, *args, **kwargs)


def ingest_genotype_dosages(path: str | Path, *args, **kwargs) -> DosageStore:
    """Dosages of a ``.pgen`` (:func:`ps2f.io.pgen.ingest_pgen_dosages`) or a VCF/BCF.

    The latter through :func:`ps2f.io.vcf.ingest_dosages`.
    """
    return (ingest_pgen_dosages if is_pgen(path) else ingest_dosages)(path, *args, **kwargs)
