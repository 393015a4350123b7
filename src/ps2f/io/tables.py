"""Readers for the annotation (TSS table) and expression (QTLtools / FastQTL phenotype BED)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError

__all__ = ["strip_version", "read_tss_table", "read_expression_bed"]

TSS_REQUIRED = ("gene_id", "chrom", "strand", "tss")


def strip_version(gene_id: pd.Series) -> pd.Series:
    """Drop the Ensembl version suffix (``ENSG00000100001.12`` -> ``ENSG00000100001``)."""
    return gene_id.astype(str).str.replace(r"\.\d+$", "", regex=True)


def read_tss_table(path: str | Path, usable_column: str | None = None) -> pd.DataFrame:
    """Read a TSS table: one row per gene with its TSS and strand.

    Parameters
    ----------
    path : str or Path
        Tab-separated file with columns ``gene_id``, ``chrom``, ``strand`` (``+``/``-``) and
        ``tss`` (1-based position of the TSS, as GENCODE-derived tables give it); ``gene_name``
        optional.
    usable_column : str, optional
        Name of a boolean column flagging genes whose sequence window is usable by sequence
        models (e.g. ``tss_pm50kb_inside_contiguous_sequence`` in the shared Geuvadis data).

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_id``, ``gene_key`` (unversioned ID), ``gene_name``, ``chrom``,
        ``strand``, ``tss0`` (0-based TSS, int64), ``usable`` (bool).

    Raises
    ------
    InputError
        Missing columns, a strand other than ``+``/``-``, a non-integer TSS, or a duplicated
        gene (after removing version suffixes).
    """
    path = str(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={"gene_id": str, "chrom": str, "strand": str})
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: TSS table not found; check the 'annotation' config key."
        ) from exc
    missing = [c for c in TSS_REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{path}: TSS table lacks columns {missing}; needs {list(TSS_REQUIRED)}.")
    bad = ~df["strand"].isin(["+", "-"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {i + 2}: strand {df['strand'].iloc[i]!r} for gene "
            f"{df['gene_id'].iloc[i]}; strand must be '+' or '-'."
        )
    tss = pd.to_numeric(df["tss"], errors="coerce")
    if tss.isna().any() or (tss < 1).any():
        i = int(np.flatnonzero((tss.isna() | (tss < 1)).to_numpy())[0])
        raise InputError(
            f"{path}: line {i + 2}: TSS {df['tss'].iloc[i]!r} is not a 1-based position."
        )
    out = pd.DataFrame(
        {
            "gene_id": df["gene_id"],
            "gene_key": strip_version(df["gene_id"]),
            "gene_name": df["gene_name"].astype(str) if "gene_name" in df else df["gene_id"],
            "chrom": df["chrom"],
            "strand": df["strand"],
            "tss0": tss.astype(np.int64) - 1,
        }
    )
    if usable_column:
        if usable_column not in df.columns:
            raise InputError(
                f"{path}: column {usable_column!r} (config annotation.usable_column) "
                f"not found; columns are {list(df.columns)}."
            )
        out["usable"] = df[usable_column].astype(str).str.lower().isin(["true", "1", "yes"])
    else:
        out["usable"] = True
    dup = out["gene_key"].duplicated()
    if dup.any():
        raise InputError(
            f"{path}: gene {out['gene_key'][dup].iloc[0]} appears more than once "
            f"(version suffixes ignored); keep one row per gene."
        )
    return out


def read_expression_bed(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a phenotype BED as written by QTLtools or FastQTL.

    Parameters
    ----------
    path : str or Path
        Tab-separated, optionally gzipped; header ``#chr start end <id> [length strand]
        <samples...>`` (QTLtools has ``gene length strand``; FastQTL has ``TargetID``).

    Returns
    -------
    genes : pandas.DataFrame
        ``gene_id``, ``gene_key`` (unversioned), ``chrom``, ``tss0`` (the BED start).
    values : pandas.DataFrame, shape (n_genes, n_samples), float64
        Expression as in the file, indexed by ``gene_key``, columns = sample IDs.

    Raises
    ------
    InputError
        Unreadable file, too few columns, non-numeric values, or a duplicated gene.
    """
    path = str(path)
    try:
        df = pd.read_csv(path, sep="\t", low_memory=False)
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: expression file not found; check the 'expression' config key."
        ) from exc
    except Exception as exc:
        raise InputError(f"{path}: cannot read as a tab-separated phenotype BED ({exc}).") from exc
    if df.shape[1] < 5:
        raise InputError(
            f"{path}: expected '#chr start end id [length strand] samples...'; "
            f"found {df.shape[1]} columns."
        )
    cols = list(df.columns)
    n_fixed = 6 if [c.lower() for c in cols[4:6]] == ["length", "strand"] else 4
    samples = cols[n_fixed:]
    values = df[samples].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        r, c = np.argwhere(values.isna().to_numpy())[0]
        raise InputError(
            f"{path}: line {r + 2}, sample {samples[c]}: value {df[samples[c]].iloc[r]!r} "
            f"is not a number (NaN is not allowed either: drop or impute that gene)."
        )
    if not np.isfinite(values.to_numpy()).all():
        raise InputError(f"{path}: infinite expression values; fix the upstream quantification.")
    genes = pd.DataFrame(
        {
            "gene_id": df[cols[3]].astype(str),
            "gene_key": strip_version(df[cols[3]]),
            "chrom": df[cols[0]].astype(str),
            "tss0": df[cols[1]].astype(np.int64),
        }
    )
    if genes["gene_key"].duplicated().any():
        raise InputError(
            f"{path}: gene {genes['gene_key'][genes['gene_key'].duplicated()].iloc[0]} "
            f"appears more than once; keep one row per gene."
        )
    values.index = genes["gene_key"].to_numpy()
    dup_samples = pd.Index(samples)[pd.Index(samples).duplicated()]
    if len(dup_samples):
        raise InputError(f"{path}: sample IDs repeat in the header: {list(dup_samples[:5])}.")
    return genes, values.astype(np.float64)
