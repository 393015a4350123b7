"""Shared fixtures: tiny hand-made FASTA/VCF files and the path to ../shared/data."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
GEUVADIS = SHARED / "geuvadis_chr22_GRCh37_extended"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "shared" in item.keywords and not GEUVADIS.exists():
            item.add_marker(pytest.mark.skip(reason=f"real data not found at {SHARED}"))


def write_fasta(path: Path, contigs: dict[str, str]) -> Path:
    """Write a plain FASTA (60 bp lines) and its .fai."""
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def write_vcf(
    path: Path,
    contig: str,
    length: int,
    samples: list[str],
    records: list[str],
    index: bool = True,
    fmt: str = "GT",
) -> Path:
    """Write a VCF from body lines ('POS ID REF ALT GT...' tab-joined after CHROM), bgzip + tabix.

    ``fmt`` is the FORMAT column (``GT``, ``GT:DS`` or ``DS``); each sample field is given whole.
    """
    header = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={contig},length={length}>",
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End of a symbolic allele">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    with open(plain, "w") as fh:
        fh.write("\n".join(header) + "\n")
        for rec in records:
            pos, vid, ref, alt, *gts = rec.split()
            alt, _, info = alt.partition("@")  # 'ALT@INFO' carries an INFO field (END=...)
            fh.write("\t".join([contig, pos, vid, ref, alt, ".", "PASS", info or ".", fmt, *gts]) + "\n")
    if not index:
        with open(plain, "rb") as src, gzip.open(str(plain) + ".gz", "wb") as dst:
            dst.write(src.read())
        return Path(str(plain) + ".gz")
    out = pysam.tabix_index(str(plain), preset="vcf", force=True)
    return Path(out)


def genotypes_params(cfg: dict) -> dict:
    """The ``genotypes`` rule's params (``workflow/rules/genotypes.smk``) from a validated config.

    For tests that call :func:`ps2f.pipeline.run_genotypes` directly, with the values the
    workflow would give it.
    """
    from ps2f.models.scorers import longest_window_bp

    return {
        "window_bp": longest_window_bp(cfg["s2f"]["window_bp"], cfg["scorers"]),
        "cis_window_bp": cfg["baselines"]["cis_window_bp"],
        "cis_window_anchor": cfg["baselines"]["cis_window_anchor"],
        "indel_flank_bp": cfg["genotypes"]["indel_flank_bp"],
        "snvs_only": cfg["genotypes"]["snvs_only"],
        "missing_policy": cfg["genotypes"]["missing_policy"],
        "contig_aliases": cfg["contig_aliases"],
    }


def phenotypes_params(cfg: dict) -> dict:
    """The ``phenotypes`` rule's settings (``workflow/rules/phenotypes.smk``) from a validated config.

    For tests that call :func:`ps2f.pipeline.run_phenotypes` directly: the keyword arguments the
    workflow's script gives it, with whole config sections (the function reads only its keys).
    """
    return {
        "expression_settings": cfg["expression"],
        "split": cfg["split"],
        "genes": cfg["genes"],
        "usable_column": cfg["annotation"]["usable_column"],
        "contigs": cfg["contigs"],
        "contig_aliases": cfg["contig_aliases"],
        "min_split_individuals": cfg["evaluate"]["min_individuals"],
    }
