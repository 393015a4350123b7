"""Readers for the annotation (TSS table), expression (QTLtools / FastQTL phenotype BED) and covariates."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError

__all__ = ["strip_version", "read_tss_table", "read_expression_bed", "read_covariates"]

TSS_REQUIRED = ("gene_id", "chrom", "strand", "tss")
#: Header names of a phenotype BED's strand column (column 6), lower case.
STRAND_COLUMNS = ("strand", "strd")


def strip_version(gene_id: pd.Series) -> pd.Series:
    """Drop the Ensembl version suffix (``ENSG00000100001.12`` -> ``ENSG00000100001``).

    The rule: a final ``.<digits>`` is removed, nothing else (``ENSG….14_PAR_Y`` keeps its
    ``_PAR_Y`` and stays distinct from ``ENSG…``). Expression and annotation are matched on the
    result, so ``ENSG….12`` in one file and ``ENSG…`` or ``ENSG….13`` in the other are one gene
    (the phenotypes log counts such matches).

    Parameters
    ----------
    gene_id : pandas.Series of str

    Returns
    -------
    pandas.Series of str
    """
    return gene_id.astype(str).str.replace(r"\.\d+$", "", regex=True)


def _raw_header(path: str, sep: str) -> list[str]:
    """The header fields exactly as written (``read_csv`` renames repeated names)."""
    row = pd.read_csv(
        path, compression=_compression(path), sep=sep, header=None, nrows=1, dtype=str,
        na_filter=False,
    )
    return [str(v) for v in row.iloc[0]]


def _raw_cell(path: str, row: int, column: int, sep: str = "\t") -> str:
    """Field (``row``, ``column``) of the data rows exactly as written, for messages.

    ``read_csv`` turns ``NA`` and empty fields into NaN and numbers into NumPy scalars.
    """
    raw = pd.read_csv(
        path, compression=_compression(path), sep=sep, dtype=str, na_filter=False,
        skiprows=range(1, row + 1), nrows=1,
    )
    return str(raw.iat[0, column])


def _first_duplicate(keys: pd.Series, ids: pd.Series) -> str | None:
    """Describe the first repeated key: ``"ENSG1 (lines 2 and 5, as 'ENSG1.1' and 'ENSG1.2')"``.

    Line numbers count the header as line 1 (row ``i`` is line ``i + 2``).
    """
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return None
    key = keys.iloc[int(np.flatnonzero(dup)[0])]
    rows = np.flatnonzero((keys == key).to_numpy())[:2]
    return (
        f"{key} (lines {rows[0] + 2} and {rows[1] + 2}, as {ids.iloc[rows[0]]!r} and "
        f"{ids.iloc[rows[1]]!r})"
    )


def _compression(path: str) -> str:
    """``"gzip"`` for a gzip/bgzip file whatever its name (pandas goes by the extension alone)."""
    try:
        with open(path, "rb") as fh:
            return "gzip" if fh.read(2) == b"\x1f\x8b" else "infer"
    except OSError:
        return "infer"  # read_csv names the problem


def _separator_hint(path: str) -> str:
    """A sentence on a header line that is not tab-separated (a CSV, spaces), else ``""``."""
    try:
        first = _first_line(path).rstrip("\r\n")
    except (OSError, EOFError):
        return ""
    if "\t" in first:
        return ""
    seps = ((",", "commas (a CSV)", "tr ',' '\\t'"), (" ", "spaces", "tr -s ' ' '\\t'"))
    for sep, what, cmd in seps:
        if sep in first:
            return (
                f" Its header line is separated by {what}, not tabs: convert it, e.g. "
                f"\"{cmd} < {path} > fixed.tsv\", and point the config at fixed.tsv."
            )
    return ""


def _first_line(path: str) -> str:
    """The file's first line (gzip-aware), ``""`` for an empty file."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", errors="replace") as fh:
        return fh.readline()


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
        A GTF/GFF given instead (``#`` header or 9-column records), an unparseable table,
        missing columns, a strand other than ``+``/``-``, a non-integer TSS, a gene body that
        is not an integer interval containing the TSS, or a duplicated gene (after removing
        version suffixes).
    """
    path = str(path)
    try:
        first = _first_line(path)
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: TSS table not found; check the 'annotation' config key."
        ) from exc
    fields = first.rstrip("\r\n").split("\t")
    if first.startswith("#") or (len(fields) == 9 and fields[6] in ("+", "-", ".")):
        raise InputError(
            f"{path}: this looks like a GTF/GFF annotation (line 1: {first[:60].rstrip()!r}), "
            f"not a TSS table; the 'annotation' key needs a tab-separated table with header "
            f"{list(TSS_REQUIRED)} (tss 1-based: a 'gene' record's start on '+', its end on '-')."
        )
    if (
        len(fields) >= 3
        and fields[1].strip().isdigit()
        and fields[2].strip().isdigit()
        and not set(TSS_REQUIRED) <= set(fields)
    ):
        raise InputError(
            f"{path}: this looks like a BED file (line 1: {first[:60].rstrip()!r}: no header, "
            f"start and end in columns 2-3), not a TSS table; the 'annotation' key needs a "
            f"tab-separated table with header {list(TSS_REQUIRED)}, tss 1-based (from a BED6 of "
            f"genes: start + 1 on '+', end on '-')."
        )
    try:
        df = pd.read_csv(  # as written; see below
            path, compression=_compression(path), sep="\t", dtype=str, na_filter=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: TSS table is not a tab-separated table with one header line "
            f"({exc}); the 'annotation' key needs columns {list(TSS_REQUIRED)}."
        ) from exc
    missing = [c for c in TSS_REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: TSS table lacks columns {missing}; needs {list(TSS_REQUIRED)}."
            + _separator_hint(path)
        )
    bad = ~df["strand"].isin(["+", "-"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        biomart = set(df["strand"]) <= {"1", "-1"}
        raise InputError(
            f"{path}: line {i + 2}: strand {df['strand'].iloc[i]!r} for gene "
            f"{df['gene_id'].iloc[i]}; strand must be '+' or '-'."
            + (" (BioMart writes 1 / -1: map 1 to '+' and -1 to '-'.)" if biomart else "")
        )
    tss = pd.to_numeric(df["tss"], errors="coerce")
    bad = tss.isna() | (tss < 1) | (tss != tss.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {i + 2}: TSS {df['tss'].iloc[i]!r} of gene {df['gene_id'].iloc[i]} "
            f"is not a 1-based position (an integer >= 1)."
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
    dup = _first_duplicate(out["gene_key"], out["gene_id"])
    if dup:
        raise InputError(
            f"{path}: gene {dup} appears more than once (IDs are compared without version "
            f"suffixes); keep one row per gene."
        )
    return out


def read_expression_bed(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a phenotype BED as written by QTLtools or FastQTL.

    Parameters
    ----------
    path : str or Path
        Tab-separated, optionally gzipped; header ``#chr start end <id> [<gid or length>
        strand] <samples...>`` (QTLtools has ``pid gid strand``, the GTEx/Geuvadis files
        ``gene length strand``; FastQTL has ``TargetID``). The sixth column is read as the
        strand when its header is ``strand`` or ``strd``.

    Returns
    -------
    genes : pandas.DataFrame
        ``gene_id``, ``gene_key`` (unversioned), ``chrom``, ``tss0`` (the BED start, int64),
        ``end`` (the BED end as written, float64, NaN where not a number: checked only where
        the anchor comes from the BED, :func:`ps2f.phenotypes.bed_anchors`), ``strand`` (the
        strand column as written, ``""`` without one) and ``bed_line`` (1-based line of the
        row, the header is line 1).
    values : pandas.DataFrame, shape (n_genes, n_samples), float64
        Expression as in the file, indexed by ``gene_key``, columns = sample IDs.

    Raises
    ------
    InputError
        Unreadable file, too few columns, no sample column, a non-integer start, a missing,
        non-numeric or infinite value, a duplicated gene (after removing version suffixes) or a
        repeated sample ID. Messages name the line (the header is line 1) and the sample.
    """
    path = str(path)
    try:
        df = pd.read_csv(path, compression=_compression(path), sep="\t", low_memory=False)
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: expression file not found; check the 'expression' config key."
        ) from exc
    except Exception as exc:
        raise InputError(f"{path}: cannot read as a tab-separated phenotype BED ({exc}).") from exc
    if df.shape[1] < 5:
        raise InputError(
            f"{path}: expected '#chr start end id [length strand] samples...'; "
            f"found {df.shape[1]} columns." + _separator_hint(path)
        )
    cols = list(df.columns)
    # QTLtools: '#chr start end pid gid strand' (GTEx/Geuvadis variant: 'gene length strand')
    n_fixed = 6 if len(cols) >= 6 and str(cols[5]).lower() in STRAND_COLUMNS else 4
    samples = cols[n_fixed:]
    if not samples:
        raise InputError(
            f"{path}: no sample columns after {cols[:n_fixed]}; expected "
            f"'#chr start end id [length strand] sample1 sample2 ...'."
        )
    header = _raw_header(path, sep="\t")[n_fixed:]  # pandas renames a repeat 'S1' to 'S1.1'
    dup_samples = pd.Index(header)[pd.Index(header).duplicated()]
    if len(dup_samples):
        raise InputError(
            f"{path}: sample IDs repeat in the header: {list(dup_samples[:5])}; keep one "
            f"column per sample."
        )
    start = pd.to_numeric(df[cols[1]], errors="coerce")
    bad = start.isna() | (start < 0) | (start != start.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {i + 2}: start {_raw_cell(path, i, 1)!r} of "
            f"{df[cols[3]].iloc[i]} is not a 0-based position (column 2 of a phenotype BED is "
            f"the TSS, 0-based)."
        )
    values = df[samples].apply(pd.to_numeric, errors="coerce")
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        problem = (
            "is infinite; fix the upstream quantification or drop that gene"
            if np.isinf(arr[r, c])
            else "is not a number (NaN / NA is not allowed either: drop or impute that gene "
            "upstream)"
        )
        raise InputError(
            f"{path}: line {r + 2}, gene {df[cols[3]].iloc[r]}, sample {samples[c]}: value "
            f"{_raw_cell(path, r, n_fixed + c)!r} {problem}."
        )
    genes = pd.DataFrame(
        {
            "gene_id": df[cols[3]].astype(str),
            "gene_key": strip_version(df[cols[3]]),
            "chrom": df[cols[0]].astype(str),
            "tss0": start.astype(np.int64),
            # checked only where the anchor comes from the BED (ps2f.phenotypes.bed_anchors)
            "end": pd.to_numeric(df[cols[2]], errors="coerce"),
            "strand": df[cols[5]].astype(str).str.strip() if n_fixed == 6 else "",
            "bed_line": np.arange(len(df), dtype=np.int64) + 2,
        }
    )
    dup = _first_duplicate(genes["gene_key"], genes["gene_id"])
    if dup:
        raise InputError(
            f"{path}: gene {dup} appears more than once (IDs are compared without version "
            f"suffixes); keep one row per gene."
        )
    values.index = genes["gene_key"].to_numpy()
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
        df = pd.read_csv(path, compression=_compression(path), sep=r"\s+", dtype=str)
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
    header = _raw_header(path, sep=r"\s+")
    if [h.lstrip("#").upper() for h in header[:2]] == ["FID", "IID"]:
        raise InputError(
            f"{path}: a PLINK .eigenvec-style table (header {header[:3]}...: one sample per "
            f"row); ps2f reads one covariate per row with the sample IDs in the header "
            f"(QTLtools/GTEx layout). Transpose it without FID, e.g. \"cut -f2- {path} | "
            f"datamash transpose > covariates.txt\"."
        )
    names = df.iloc[:, 0].astype(str).str.replace(r"^.*/", "", regex=True)
    samples = pd.Index(header[1:])
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
        raw = df.iloc[r, c + 1]
        text = isinstance(raw, str) and re.search(r"[A-Za-z]", raw) and raw.lower() != "nan"
        raise InputError(
            f"{path}: line {r + 2}, covariate {names.iloc[r]!r}, sample {samples[c]}: value "
            f"{raw!r} is not a finite number ("
            + (
                "a category: code it as numbers, e.g. sex as 0/1, one 0/1 row per level beyond "
                "the first"
                if text
                else "impute or drop it"
            )
            + ")."
        )
    values.index = pd.Index(names.to_numpy(), name="covariate")
    values.columns = samples
    return values.astype(np.float64)
