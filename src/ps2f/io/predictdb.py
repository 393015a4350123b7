"""PredictDB model files: the SQLite ``.db`` and the covariance file PrediXcan/MetaXcan read.

Layout as written by PredictDB (``hakyimlab/PredictDb-nextflow``, ``bin/make_db.R`` and
``bin/filter_db.R``; GTEx v7/v8 models), so ``PrediXcan.py``, ``SPrediXcan.py`` and
``MulTiXcan`` take our models unchanged:

``weights``      ``gene, rsid, varID, ref_allele, eff_allele, weight``: one row per variant
                 with a nonzero weight; ``weight`` is expression units per copy of
                 ``eff_allele`` (the VCF ALT), and ``varID`` is ``chr_pos_ref_alt_build``
                 (e.g. ``22_16051249_T_C_b37``; GTEx v8 spells ``chr22_..._b38``).
``extra``        one row per gene: ``gene, genename, gene_type, alpha, n_snps_in_window,
                 n.snps.in.model, lambda_min_mse, test_R2_avg, test_R2_sd, cv_R2_avg,
                 cv_R2_sd, in_sample_R2, nested_cv_fisher_pval, rho_avg, rho_se, rho_zscore,
                 pred.perf.R2, pred.perf.pval, pred.perf.qval`` (see
                 :mod:`ps2f.baselines.elastic_net` for their definitions).
``sample_info``  ``n_samples, population``.
``construction`` ``chromosome, cv_seed``.

Indexes as PredictDB's: ``weights(rsid)``, ``weights(gene)``, ``weights(rsid, gene)``,
``extra(gene)``. The covariance file is space-separated text (gzipped when the name ends in
``.gz``) with header ``GENE RSID1 RSID2 VALUE``: for every gene, the upper triangle (diagonal
included) of the dosage covariance of its model's variants, as PredictDB's ``do_covariance``.
MetaXcan's most common failure is variant IDs that do not match the user's data ("0% of model
SNPs used"): ``rsid`` here is the VCF ID of our input, ``varID`` the position-based ID.
"""

from __future__ import annotations

import gzip
import math
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError

__all__ = [
    "WEIGHT_COLUMNS",
    "EXTRA_COLUMNS",
    "EXTRA_PERF_COLUMNS",
    "predictdb_var_ids",
    "bh_qvalues",
    "write_predictdb",
    "read_predictdb",
    "read_predictdb_tables",
    "filter_models",
    "write_covariances",
    "read_covariances",
    "var_id_positions",
]

WEIGHT_COLUMNS: tuple[str, ...] = ("gene", "rsid", "varID", "ref_allele", "eff_allele", "weight")
#: Columns of the ``extra`` table that PredictDB copies unchanged, under the same name, from its
#: per-gene model summary (the ElasticNet's ``GeneFit.perf``), in PredictDB's order.
EXTRA_PERF_COLUMNS: tuple[str, ...] = (
    "lambda_min_mse",
    "test_R2_avg",
    "test_R2_sd",
    "cv_R2_avg",
    "cv_R2_sd",
    "in_sample_R2",
    "nested_cv_fisher_pval",
    "rho_avg",
    "rho_se",
    "rho_zscore",
)
#: Columns of the ``extra`` table, in PredictDB's order.
EXTRA_COLUMNS: tuple[str, ...] = (
    "gene",
    "genename",
    "gene_type",
    "alpha",
    "n_snps_in_window",
    "n.snps.in.model",
    *EXTRA_PERF_COLUMNS,
    "pred.perf.R2",
    "pred.perf.pval",
    "pred.perf.qval",
)
_TEXT = {"gene", "genename", "gene_type", "rsid", "varID", "ref_allele", "eff_allele"}
_INTEGER = {"n_snps_in_window", "n.snps.in.model"}


def predictdb_var_ids(
    contig: str, pos0: np.ndarray, ref: Sequence[str], alt: Sequence[str], build: str = "b37"
) -> np.ndarray:
    """PredictDB variant IDs ``chr_pos_ref_alt_build`` (1-based position).

    Parameters
    ----------
    contig : str
        Contig name in any spelling (``22`` or ``chr22``).
    pos0 : numpy.ndarray, shape (V,), int
        0-based positions.
    ref, alt : sequence of str, length V
        Alleles; ``alt`` is the effect allele.
    build : str
        Suffix, e.g. ``b37`` or ``b38``. GTEx convention: ``22_...`` for b37 (no ``chr``),
        ``chr22_...`` for b38.

    Returns
    -------
    numpy.ndarray, shape (V,), str
        E.g. ``22_16051249_T_C_b37``.
    """
    bare = contig[3:] if contig.lower().startswith("chr") else contig
    chrom = f"chr{bare}" if build.lower() == "b38" else bare
    pos1 = (np.asarray(pos0, dtype=np.int64) + 1).astype(str)
    parts = [np.full(pos1.shape, chrom), pos1, np.asarray(ref, str), np.asarray(alt, str)]
    out = parts[0]
    for part in parts[1:]:
        out = np.char.add(np.char.add(out, "_"), part)
    return np.char.add(out, f"_{build}").astype(str)


def bh_qvalues(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (NaN p-values stay NaN and are not counted).

    Parameters
    ----------
    pvalues : numpy.ndarray, shape (m,), float64

    Returns
    -------
    numpy.ndarray, shape (m,), float64
    """
    p = np.asarray(pvalues, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def write_predictdb(
    path: str | Path,
    weights: pd.DataFrame,
    extra: pd.DataFrame,
    n_samples: int,
    population: str,
    construction: pd.DataFrame | None = None,
) -> None:
    """Write a PredictDB SQLite model database, atomically (temp file, then rename).

    Parameters
    ----------
    path : str or Path
        Output ``.db``; replaced if it exists.
    weights : pandas.DataFrame
        Columns :data:`WEIGHT_COLUMNS`.
    extra : pandas.DataFrame
        Columns :data:`EXTRA_COLUMNS`; NaN is written as NULL (R's NA).
    n_samples : int
        Individuals the models were trained on (``sample_info``).
    population : str
        ``sample_info.population``.
    construction : pandas.DataFrame, optional
        ``chromosome``, ``cv_seed`` rows (default: none).

    Raises
    ------
    InputError
        If a column is missing, or a weight's gene is not in ``extra``.
    """
    for name, df, cols in (("weights", weights, WEIGHT_COLUMNS), ("extra", extra, EXTRA_COLUMNS)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"{path}: {name} table lacks columns {missing}")
    orphan = set(weights["gene"]) - set(extra["gene"])
    if orphan:
        raise InputError(f"{path}: weights for genes absent from extra, e.g. {sorted(orphan)[:3]}")
    if construction is None:
        construction = pd.DataFrame({"chromosome": pd.Series([], dtype=str), "cv_seed": []})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        con = sqlite3.connect(tmp)
        try:
            _write_table(con, "extra", extra, EXTRA_COLUMNS)
            _write_table(con, "weights", weights, WEIGHT_COLUMNS)
            _write_table(
                con,
                "sample_info",
                pd.DataFrame({"n_samples": [int(n_samples)], "population": [population]}),
                ("n_samples", "population"),
                integer={"n_samples"},
                text={"population"},
            )
            _write_table(
                con,
                "construction",
                construction,
                ("chromosome", "cv_seed"),
                integer={"cv_seed"},
                text={"chromosome"},
            )
            con.execute("CREATE INDEX weights_rsid ON weights (rsid)")
            con.execute("CREATE INDEX weights_gene ON weights (gene)")
            con.execute("CREATE INDEX weights_rsid_gene ON weights (rsid, gene)")
            con.execute("CREATE INDEX gene_model_summary ON extra (gene)")
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_predictdb(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the ``weights`` and ``extra`` tables of a PredictDB ``.db``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    weights, extra : pandas.DataFrame
        As stored (NULL read as NaN / None).

    Raises
    ------
    InputError
        If the file is missing or lacks either table.
    """
    path = str(path)
    if not Path(path).is_file():
        raise InputError(f"{path}: PredictDB file not found")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"weights", "extra"} <= tables:
            raise InputError(f"{path}: not a PredictDB database (tables {sorted(tables)})")
        weights = pd.read_sql_query("SELECT * FROM weights", con)
        extra = pd.read_sql_query("SELECT * FROM extra", con)
    finally:
        con.close()
    return weights, extra


def read_predictdb_tables(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read every table of a PredictDB ``.db``: weights, extra, sample_info, construction.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of str to pandas.DataFrame
        Keyed by table name; ``construction`` is empty (columns ``chromosome``, ``cv_seed``)
        when the database has none.

    Raises
    ------
    InputError
        If the file is missing or lacks ``weights``, ``extra`` or ``sample_info``.
    """
    weights, extra = read_predictdb(path)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "sample_info" not in tables:
            raise InputError(f"{path}: PredictDB database without a sample_info table")
        info = pd.read_sql_query("SELECT * FROM sample_info", con)
        if "construction" in tables:
            construction = pd.read_sql_query("SELECT * FROM construction", con)
        else:
            construction = pd.DataFrame({"chromosome": pd.Series([], dtype=str), "cv_seed": []})
    finally:
        con.close()
    return {"weights": weights, "extra": extra, "sample_info": info, "construction": construction}


def filter_models(
    weights: pd.DataFrame, extra: pd.DataFrame, max_pval: float = 0.05, min_rho: float = 0.1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PredictDB's published-model filter: ``pred.perf.pval < max_pval``, ``rho_avg > min_rho``.

    Also drops genes without a weight (PredictDB's models need at least one SNP).

    Parameters
    ----------
    weights, extra : pandas.DataFrame
        Tables as for :func:`write_predictdb`.
    max_pval, min_rho : float

    Returns
    -------
    weights, extra : pandas.DataFrame
        The kept genes' rows.
    """
    keep = (
        (extra["pred.perf.pval"] < max_pval)
        & (extra["rho_avg"] > min_rho)
        & (extra["n.snps.in.model"] >= 1)
    )
    genes = set(extra.loc[keep, "gene"])
    return weights.loc[weights["gene"].isin(genes)].copy(), extra.loc[keep].copy()


def write_covariances(path: str | Path, rows: Iterable[tuple[str, str, str, float]]) -> None:
    """Write a PredictDB covariance file (``GENE RSID1 RSID2 VALUE``), atomically.

    Parameters
    ----------
    path : str or Path
        Output; gzipped when it ends in ``.gz``.
    rows : iterable of (gene, rsid1, rsid2, value)
        Written in the given order; values with ``repr`` precision.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(tmp, "wt") as fh:
            fh.write("GENE RSID1 RSID2 VALUE\n")
            for gene, a, b, v in rows:
                fh.write(f"{gene} {a} {b} {float(v)!r}\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_covariances(path: str | Path) -> pd.DataFrame:
    """Read a PredictDB covariance file (``GENE RSID1 RSID2 VALUE``, gzipped or not).

    Parameters
    ----------
    path : str or Path
        As written by :func:`write_covariances` (or PredictDB's ``do_covariance``).

    Returns
    -------
    pandas.DataFrame
        Columns ``GENE``, ``RSID1``, ``RSID2`` (str) and ``VALUE`` (float64: the covariance of
        the two variants' ALT dosages, in dosage units squared), one row per stored pair.

    Raises
    ------
    InputError
        If the file is missing or its header is not ``GENE RSID1 RSID2 VALUE``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: PredictDB covariance file not found")
    cov = pd.read_csv(
        path,
        sep=" ",
        dtype={"GENE": str, "RSID1": str, "RSID2": str, "VALUE": np.float64},
        keep_default_na=False,
    )
    expected = ["GENE", "RSID1", "RSID2", "VALUE"]
    if list(cov.columns) != expected:
        raise InputError(
            f"{path}: header {list(cov.columns)} is not {expected}; "
            "not a PredictDB covariance file"
        )
    return cov


def var_id_positions(var_ids: Sequence[str]) -> np.ndarray:
    """0-based positions of PredictDB variant IDs ``chr_pos_ref_alt_build``.

    The inverse of :func:`predictdb_var_ids` for the position (alleles never contain ``_``,
    so the ID splits into five fields from the right whatever the contig's spelling).

    Parameters
    ----------
    var_ids : sequence of str, length V
        E.g. ``22_16051249_T_C_b37`` or ``chr22_16051249_T_C_b38``.

    Returns
    -------
    numpy.ndarray, shape (V,), int64
        0-based positions in bp (``pos - 1``).

    Raises
    ------
    InputError
        If an ID does not have the five fields or its position is not a positive integer.
    """
    out = np.empty(len(var_ids), dtype=np.int64)
    for i, vid in enumerate(var_ids):
        parts = str(vid).rsplit("_", 4)
        if len(parts) != 5 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise InputError(
                f"variant ID {vid!r} is not chr_pos_ref_alt_build (e.g. 22_16051249_T_C_b37)"
            )
        out[i] = int(parts[1]) - 1
    return out


def _write_table(
    con: sqlite3.Connection,
    name: str,
    df: pd.DataFrame,
    columns: Sequence[str],
    integer: set[str] = _INTEGER,
    text: set[str] = _TEXT,
) -> None:
    decl = ", ".join(
        f'"{c}" {"TEXT" if c in text else "INTEGER" if c in integer else "REAL"}' for c in columns
    )
    con.execute(f'CREATE TABLE "{name}" ({decl})')

    def cell(c: str, v: object) -> object:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if c in text:
            return str(v)
        if c in integer:
            return int(v)
        return float(v)

    records = (
        tuple(cell(c, v) for c, v in zip(columns, row, strict=True))
        for row in df[list(columns)].itertuples(index=False, name=None)
    )
    marks = ", ".join("?" * len(columns))
    con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', records)
