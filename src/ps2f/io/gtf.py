"""Exons of genes from a GTF annotation (GENCODE/Ensembl layout).

Used by readouts that aggregate a model's coverage over a gene's exons (the Borzoi scorer's
``exons`` readout, the gene-expression readout of Linder et al. 2025). A gene's exons are the
``exon`` records of every one of its transcripts (their union); the scorer takes the model's
bins overlapping any of them once.

Coordinates: GTF records are 1-based and closed (``start..end``); this module returns 0-based
half-open ``[start, end)``, as the rest of ps2f.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ps2f.errors import InputError

__all__ = ["GeneExons", "gene_key", "read_gene_exons"]

_GENE_ID = re.compile(r'gene_id\s+"([^"]+)"')
_VERSION = re.compile(r"\.\d+$")


def gene_key(gene_id: str) -> str:
    """The gene ID without its version suffix (``ENSG00000100031.14`` -> ``ENSG00000100031``).

    Expression files and annotations of different GENCODE releases version the same gene
    differently; genes are matched on this key.
    """
    return _VERSION.sub("", str(gene_id))


@dataclass(frozen=True)
class GeneExons:
    """The exons of one gene.

    Parameters
    ----------
    gene_id : str
        As written in the GTF (with its version).
    chrom : str
        Contig as spelled in the GTF.
    strand : str
        ``"+"`` or ``"-"``.
    starts, ends : numpy.ndarray, shape (n_exons,), int64
        0-based half-open exon intervals, sorted by start; exons shared by several transcripts
        appear once.
    other_loci : tuple of str
        Other ``contig`` + strand combinations the same gene ID has exons on (e.g. ``chrY+``
        for a pseudoautosomal gene, which GENCODE up to v19 lists on chrX and chrY under one
        ID); their exons are not in ``starts``/``ends``. Users of the exons must refuse such a
        gene rather than guess its locus.
    """

    gene_id: str
    chrom: str
    strand: str
    starts: np.ndarray
    ends: np.ndarray
    other_loci: tuple[str, ...] = ()


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt")
    return open(path)


def read_gene_exons(path: str | Path, genes: Iterable[str] | None = None) -> dict[str, GeneExons]:
    """Read the exons of (some) genes from a GTF file.

    Parameters
    ----------
    path : str or pathlib.Path
        GTF (plain or gzip/bgzip), 9 tab-separated columns; ``exon`` records carry a
        ``gene_id "..."`` attribute. Other feature types and ``#`` lines are skipped.
    genes : iterable of str, optional
        Gene IDs to keep (versions ignored); ``None`` keeps every gene.

    Returns
    -------
    dict of str to GeneExons
        Keyed by the unversioned gene ID (:func:`gene_key`). A gene with exons on several
        contigs or strands keeps those of the first record's locus and lists the others in
        ``other_loci``.

    Raises
    ------
    ps2f.errors.InputError
        Missing or unreadable file; an exon record with fewer than 9 columns, no ``gene_id``,
        non-integer or inverted coordinates, or a strand other than ``+``/``-``. Messages name
        the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"GTF {str(path)!r} not found; give a GENCODE/Ensembl GTF with exon records")
    wanted = None if genes is None else {gene_key(g) for g in genes}
    found: dict[str, dict] = {}
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 9:
                    raise InputError(
                        f"{path}:{lineno}: {len(cols)} tab-separated columns, a GTF record has 9 "
                        f"(line starts {line[:60]!r}); is this a GTF?"
                    )
                if cols[2] != "exon":
                    continue
                m = _GENE_ID.search(cols[8])
                if m is None:
                    raise InputError(
                        f"{path}:{lineno}: exon record without a gene_id attribute "
                        f"({cols[8][:80]!r})"
                    )
                key = gene_key(m.group(1))
                if wanted is not None and key not in wanted:
                    continue
                try:
                    start, end = int(cols[3]) - 1, int(cols[4])
                except ValueError:
                    raise InputError(
                        f"{path}:{lineno}: exon start/end {cols[3]!r}/{cols[4]!r} are not integers"
                    ) from None
                if start < 0 or end <= start:
                    raise InputError(
                        f"{path}:{lineno}: exon {cols[3]}..{cols[4]} is empty or inverted "
                        f"(GTF coordinates are 1-based, start <= end)"
                    )
                if cols[6] not in ("+", "-"):
                    raise InputError(
                        f"{path}:{lineno}: exon strand {cols[6]!r}; expected + or -"
                    )
                rec = found.setdefault(
                    key,
                    {
                        "gene_id": m.group(1),
                        "chrom": cols[0],
                        "strand": cols[6],
                        "iv": set(),
                        "other": [],
                    },
                )
                if (rec["chrom"], rec["strand"]) != (cols[0], cols[6]):
                    locus = f"{cols[0]}{cols[6]}"
                    if locus not in rec["other"]:
                        rec["other"].append(locus)
                    continue
                rec["iv"].add((start, end))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read GTF {path} ({type(exc).__name__}: {exc})") from exc
    out = {}
    for key, rec in found.items():
        iv = np.array(sorted(rec["iv"]), dtype=np.int64).reshape(-1, 2)
        out[key] = GeneExons(
            rec["gene_id"], rec["chrom"], rec["strand"], iv[:, 0], iv[:, 1], tuple(rec["other"])
        )
    return out
