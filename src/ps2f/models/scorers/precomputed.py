"""Haplotype scores computed elsewhere, imported as one more model.

For users without an AlphaGenome key, runs made offline or on another machine (the
``score_external`` rule writes every scorer's haplotype scores in this same format, under
``results/<run>/scores/<name>.haplotypes.parquet``), or any model ps2f does not run itself.

Table format (parquet, or tab-separated text: ``.tsv``, ``.txt``, optionally ``.gz``; ``.csv``
is comma-separated), one row per haplotype:

========== ===================================================================================
gene       gene ID as in the expression file; Ensembl version suffixes are ignored
individual sample ID as in the VCF / expression file
haplotype  ``1`` or ``2``: the first or second allele of the phased VCF genotype
           (``bcftools consensus -H 1`` / ``-H 2``)
score      float, model units, finite
========== ===================================================================================

Other columns are ignored. Both haplotypes of a (gene, individual) pair must be present; pairs
missing from the table are left out of the predictions (counted in the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError
from ps2f.io.tables import strip_version
from ps2f.models.scorers.base import HaplotypeBatch

__all__ = [
    "TABLE_COLUMNS",
    "HAPLOTYPES",
    "DEFAULTS",
    "REQUIRED",
    "read_score_table",
    "PrecomputedScorer",
    "check_config",
    "from_config",
]

TABLE_COLUMNS: tuple[str, ...] = ("gene", "individual", "haplotype", "score")
HAPLOTYPES: tuple[int, ...] = (1, 2)
REQUIRED: tuple[str, ...] = ("table",)
DEFAULTS: dict[str, Any] = {"aggregate": "mean"}

_FORMAT_HELP = (
    "one row per haplotype with columns gene, individual, haplotype (1 or 2: first/second "
    "allele of the phased genotype), score (finite float)"
)


def _read(path: Path) -> pd.DataFrame:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if name.endswith(".csv"):
        return pd.read_csv(path, dtype={"gene": str, "individual": str})
    if name.endswith((".tsv", ".txt", ".tab")):
        return pd.read_csv(path, sep="\t", dtype={"gene": str, "individual": str})
    raise InputError(
        f"{path}: unknown score-table format; use .parquet, .tsv/.txt (tab-separated, optionally "
        f".gz) or .csv"
    )


def read_score_table(path: str | Path, key: str = "table") -> pd.DataFrame:
    """Read and check a score table (see the module docstring for the format).

    Parameters
    ----------
    path : str or pathlib.Path
    key : str
        The config key that named the file (for messages).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(gene_key, individual)`` (``gene_key``: the gene ID without version),
        columns ``hap1``, ``hap2`` (float64), ``gene`` (the ID as written in the table).

    Raises
    ------
    ps2f.errors.ConfigError
        The file does not exist.
    ps2f.errors.InputError
        Unreadable file, missing column, empty table, missing ID, haplotype not 1/2,
        non-numeric or non-finite score, a repeated (gene, individual, haplotype), or a pair
        with one haplotype only. Row numbers in messages count data rows from 1.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{key}: score table {str(path)!r} not found (expected {_FORMAT_HELP}); the path is "
            f"relative to the working directory"
        )
    try:
        df = _read(path)
    except InputError:
        raise
    except Exception as exc:  # pyarrow/pandas parse errors: one clear message
        raise InputError(
            f"{path}: cannot read the score table ({type(exc).__name__}: {exc})"
        ) from exc
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: score table lacks columns {missing} (has {list(df.columns)[:10]}); expected "
            f"{_FORMAT_HELP}"
        )
    if df.empty:
        raise InputError(f"{path}: score table has no rows")
    df = df.reset_index(drop=True)
    for col in ("gene", "individual"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            raise InputError(f"{path}: row {int(np.flatnonzero(bad)[0]) + 1}: empty {col!r}")
    hap = pd.to_numeric(df["haplotype"], errors="coerce")
    bad = ~hap.isin(HAPLOTYPES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: row {i + 1}: haplotype {df['haplotype'].iloc[i]}; must be 1 or 2 (the "
            f"first/second allele of the phased genotype); {int(bad.sum())} such rows"
        )
    score = pd.to_numeric(df["score"], errors="coerce").astype(np.float64)
    bad = ~np.isfinite(score.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: row {i + 1}: score {str(df['score'].iloc[i])!r} is not a finite number; "
            f"{int(bad.sum())} such rows (drop the pair, or fix the upstream run)"
        )
    long = pd.DataFrame(
        {
            "gene": df["gene"].astype(str),
            "gene_key": strip_version(df["gene"]),
            "individual": df["individual"].astype(str),
            "haplotype": hap.astype(np.int64),
            "score": score,
        }
    )
    dup = long.duplicated(["gene_key", "individual", "haplotype"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        r = long.iloc[i]
        raise InputError(
            f"{path}: row {i + 1}: (gene {r['gene']}, individual {r['individual']}, haplotype "
            f"{r['haplotype']}) appears more than once ({int(dup.sum())} repeats; gene version "
            f"suffixes are ignored)"
        )
    wide = long.pivot(index=["gene_key", "individual"], columns="haplotype", values="score")
    wide = wide.reindex(columns=list(HAPLOTYPES))
    half = wide.isna().any(axis=1)
    if half.any():
        g, ind = wide.index[np.flatnonzero(half.to_numpy())[0]]
        raise InputError(
            f"{path}: {int(half.sum())} (gene, individual) pairs have one haplotype only, e.g. "
            f"gene {g}, individual {ind}; give both haplotypes 1 and 2"
        )
    wide.columns = ["hap1", "hap2"]
    genes = long.drop_duplicates(["gene_key", "individual"]).set_index(["gene_key", "individual"])
    wide["gene"] = genes["gene"].reindex(wide.index)
    return wide


class PrecomputedScorer:
    """A model whose haplotype scores come from a table (:func:`read_score_table`).

    Parameters
    ----------
    name : str
        Model name in the predictions table.
    table : pandas.DataFrame
        As returned by :func:`read_score_table`.
    source : str
        Where the table came from (for the log).
    """

    window_bp: int | None = None

    def __init__(self, name: str, table: pd.DataFrame, source: str = "table") -> None:
        self.name = name
        self.table = table
        self.source = source

    def score_haplotypes(self, batch: HaplotypeBatch) -> np.ndarray:
        """Look up both haplotype scores of each pair; NaN for pairs not in the table.

        Returns
        -------
        numpy.ndarray, shape (B, 2), float64
        """
        keys = pd.MultiIndex.from_arrays(
            [
                strip_version(pd.Series(batch.genes, dtype=str)),
                pd.Series(batch.individuals, dtype=str),
            ]
        )
        return self.table[["hap1", "hap2"]].reindex(keys).to_numpy(np.float64)

    def describe(self) -> str:
        """Table size and example IDs (to diagnose ID mismatches)."""
        genes = self.table.index.get_level_values(0).unique()
        inds = self.table.index.get_level_values(1).unique()
        return (
            f"precomputed scores {self.source}: {len(genes)} genes x {len(inds)} individuals, "
            f"e.g. genes {list(genes[:3])}, individuals {list(inds[:3])}"
        )


def check_config(spec: Mapping[str, Any], key: str) -> None:
    """Parse-time check: the table file exists (its contents are checked when read).

    Raises
    ------
    ps2f.errors.ConfigError
    """
    if not Path(str(spec["table"])).is_file():
        raise ConfigError(
            f"{key}.table: score table {str(spec['table'])!r} not found (expected "
            f"{_FORMAT_HELP}); the path is relative to the working directory"
        )


def from_config(spec: Mapping[str, Any], key: str) -> PrecomputedScorer:
    """Read the table of a ``type: precomputed`` scorer.

    Raises
    ------
    ps2f.errors.ConfigError, ps2f.errors.InputError
        See :func:`read_score_table`.
    """
    table = read_score_table(spec["table"], key=f"{key}.table")
    return PrecomputedScorer(spec["name"], table, source=str(spec["table"]))
