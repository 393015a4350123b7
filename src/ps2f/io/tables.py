"""Readers for the annotation (TSS table), expression (QTLtools / FastQTL phenotype BED) and covariates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError

__all__ = ["strip_version", "read_tss_table", "read_expression_bed", "read_covariates"]

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
        ``tss`` (1-based position of the TSS, as GENCODE-derived tables give it); optional
        ``gene_name``, ``gene_type``, and ``gene_start``/``gene_end`` (1-based, inclusive: the
        gene body, as in a GTF).
    usable_column : str, optional
        Name of a boolean column flagging genes whose sequence window is usable by sequence
        models (e.g. ``tss_pm50kb_inside_contiguous_sequence`` in the shared Geuvadis data).

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_id``, ``gene_key`` (unversioned ID), ``gene_name``, ``gene_type``
        (``""`` when absent), ``chrom``, ``strand``, ``tss0`` (0-based TSS, int64),
        ``gene_start``, ``gene_end`` (the gene body, 0-based half-open, int64; without those
        columns the body is the TSS base ``[tss0, tss0 + 1)``), ``usable`` (bool).

    Raises
    ------
    InputError
        Missing columns, a strand other than ``+``/``-``, a non-integer TSS, a gene body that
        is not an integer interval containing the TSS, or a duplicated gene (after removing
        version suffixes).
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
    tss0 = tss.astype(np.int64) - 1
    if ("gene_start" in df.columns) != ("gene_end" in df.columns):
        raise InputError(
            f"{path}: TSS table has only one of gene_start/gene_end; give both or neither."
        )
    if "gene_start" in df.columns:
        start = pd.to_numeric(df["gene_start"], errors="coerce")
        end = pd.to_numeric(df["gene_end"], errors="coerce")
        bad = start.isna() | end.isna() | (start < 1) | (end < start)
        bad |= ~bad & ((tss0 < start - 1) | (tss0 >= end))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path}: line {i + 2}: gene body {df['gene_start'].iloc[i]!r}-"
                f"{df['gene_end'].iloc[i]!r} of {df['gene_id'].iloc[i]} is not a 1-based "
                f"inclusive interval containing its TSS {df['tss'].iloc[i]!r}."
            )
        gene_start = start.astype(np.int64) - 1
        gene_end = end.astype(np.int64)
    else:
        gene_start, gene_end = tss0, tss0 + 1
    out = pd.DataFrame(
        {
            "gene_id": df["gene_id"],
            "gene_key": strip_version(df["gene_id"]),
            "gene_name": df["gene_name"].astype(str) if "gene_name" in df else df["gene_id"],
            "gene_type": df["gene_type"].astype(str) if "gene_type" in df else "",
            "chrom": df["chrom"],
            "strand": df["strand"],
            "tss0": tss0,
            "gene_start": gene_start,
            "gene_end": gene_end,
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


def read_covariates(path: str | Path) -> pd.DataFrame:
    """Read a covariate file as QTLtools, FastQTL, GTEx and PredictDB ship them.

    Parameters
    ----------
    path : str or Path
        Optionally gzipped text, whitespace-separated (tabs or spaces), one covariate per row:
        a header ``<id column name> <sample IDs...>`` (e.g. ``SampleID`` or ``id``), then
        ``<covariate name> <values...>``. Covariate names that are paths (QTLtools writes
        ``/some/dir/genotypes_1_1_svd_PC1``) are reduced to their last component.

    Returns
    -------
    pandas.DataFrame, shape (n_covariates, n_samples), float64
        Indexed by covariate name, columns = sample IDs, in file order.

    Raises
    ------
    InputError
        Missing file, fewer than two columns, a non-numeric or missing value, or a repeated
        covariate name or sample ID.
    """
    path = str(path)
    try:
        df = pd.read_csv(path, sep=r"\s+", dtype=str)
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: covariate file not found; check expression.covariates in the config."
        ) from exc
    except Exception as exc:
        raise InputError(f"{path}: cannot read as a whitespace-separated table ({exc}).") from exc
    if df.shape[1] < 2 or df.empty:
        raise InputError(
            f"{path}: expected a header 'id sample1 sample2 ...' and one row per covariate; "
            f"found {df.shape[1]} columns and {len(df)} rows."
        )
    names = df.iloc[:, 0].astype(str).str.replace(r"^.*/", "", regex=True)
    samples = pd.Index(df.columns[1:])
    if samples.duplicated().any():
        raise InputError(
            f"{path}: sample IDs repeat in the header: {list(samples[samples.duplicated()][:5])}."
        )
    if names.duplicated().any():
        raise InputError(
            f"{path}: covariate {names[names.duplicated()].iloc[0]!r} appears more than once."
        )
    values = df.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(
        values.to_numpy(dtype=np.float64, na_value=np.nan)
    )
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: covariate {names.iloc[r]!r}, sample {samples[c]}: value "
            f"{df.iloc[r, c + 1]!r} is not a finite number (impute or drop it)."
        )
    values.index = pd.Index(names.to_numpy(), name="covariate")
    values.columns = samples
    return values.astype(np.float64)
