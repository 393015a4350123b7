"""How many of a PredictDB model's variants a GWAS table or a target VCF will match, and why not.

MetaXcan's most reported failure is "0 % of model's SNPs used": S-PrediXcan and Predict.py join
the model's variants to the user's by one ID column (the `.db`'s ``rsid``, or the column named
by ``--model_db_snp_key``, e.g. ``varID``), and S-PrediXcan drops every GWAS ID without "rs" in
it unless ``--keep_non_rsid`` is given. A model keyed by rsIDs meets a GWAS keyed by
``chr_pos_ref_alt``, a varID with a ``_b37`` suffix meets one without, a build-38 GWAS meets a
build-37 model — each silently uses nothing. :func:`match_variants` joins the two the way
MetaXcan will and gives every model variant that would not be used a reason, found by looking
the variant up by position and alleles too:

``used``
    The key matches (alleles equal, or swapped: MetaXcan flips the weight's sign).
``non_rs_id_dropped``
    The key matches, but it has no "rs" and S-PrediXcan drops it without ``--keep_non_rsid``.
``build_suffix``
    A target ID equals the model's varID once the build suffix (``_b37``/``_b38``) and ``chr``
    prefix are removed from both: rename, or rebuild the model with the GWAS's
    ``predictdb.genome_build`` and join on ``varID``.
``id_format``
    The same chromosome, position and alleles are there under another ID (e.g. an rsID model
    against ``chr:pos`` GWAS IDs): use the other key (``--model_db_snp_key varID``) or
    rename the GWAS IDs.
``other_position``
    Joined on ``varID``: the model's rsID is there at another position: the GWAS is probably on another genome build (lift it
    over, or build the model on the GWAS's build).
``strand_flip``
    The position is there with the complementary alleles (a strand flip; MetaXcan does not
    fix these).
``other_alleles``
    The position is there with different alleles (another variant at the same site).
``absent``
    Nothing at that position (or, without positions in the target, nothing with that ID).

No network; the files are read with the standard library, pandas and cyvcf2.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError

__all__ = [
    "REASONS",
    "MATCH_COLUMNS",
    "read_model_variants",
    "read_gwas_variants",
    "read_vcf_variants",
    "match_variants",
    "summarize_matches",
]

#: Status of a model variant, in the order they are tested (the first that applies wins).
REASONS: tuple[str, ...] = (
    "used",
    "non_rs_id_dropped",
    "build_suffix",
    "id_format",
    "other_position",
    "strand_flip",
    "other_alleles",
    "absent",
)
#: Columns of :func:`match_variants`'s table.
MATCH_COLUMNS: tuple[str, ...] = (
    "gene",
    "rsid",
    "varID",
    "ref_allele",
    "eff_allele",
    "key",
    "status",
    "swapped",
)

# GWAS column names (lower case) by role: GWAS-SSF (GWAS Catalog), PLINK, METAL, LDSC, MetaXcan
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("variant_id", "rsid", "snp", "snpid", "snp_id", "markername", "id", "rs_id", "varid"),
    "chrom": ("chromosome", "chr", "chrom", "#chrom", "#chr", "chrom_b37", "chrom_b38"),
    "pos": ("base_pair_location", "bp", "pos", "position", "pos_b37", "pos_b38"),
    "a1": ("effect_allele", "a1", "alt", "allele1", "ea", "tested_allele"),
    "a2": ("other_allele", "non_effect_allele", "a2", "ref", "allele2", "nea"),
}
_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
_SUFFIX = re.compile(r"_b3[678]$", re.IGNORECASE)


def _bare_chrom(chrom: pd.Series) -> pd.Series:
    return chrom.astype(str).str.replace(r"^chr", "", regex=True, flags=re.IGNORECASE)


def read_model_variants(db_path: str | Path) -> pd.DataFrame:
    """The ``weights`` table of a PredictDB ``.db`` and each variant's position.

    Parameters
    ----------
    db_path : str or pathlib.Path
        A PredictDB SQLite file (ps2f's, PredictDB-nextflow's, or GTEx's).

    Returns
    -------
    pandas.DataFrame
        ``gene, rsid, varID, ref_allele, eff_allele`` (str) and ``chrom`` (str, without
        ``chr``), ``pos`` (int64, 1-based) parsed from ``varID`` (``chr_pos_ref_alt[_build]``).

    Raises
    ------
    InputError
        If the file is not a SQLite database with a ``weights`` table of those columns, or a
        varID cannot be parsed.
    """
    path = Path(db_path)
    if not path.is_file():
        raise InputError(f"{path}: no such PredictDB file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            weights = pd.read_sql_query(
                "SELECT gene, rsid, varID, ref_allele, eff_allele FROM weights", con
            )
        finally:
            con.close()
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise InputError(
            f"{path}: not a PredictDB .db with a weights(gene, rsid, varID, ref_allele, "
            f"eff_allele) table ({exc})"
        ) from exc
    weights = weights.astype(str)
    parts = weights["varID"].str.split("_", expand=True)
    if parts.shape[1] < 4:
        raise InputError(f"{path}: varID {weights['varID'].iloc[0]!r} is not chr_pos_ref_alt")
    pos = pd.to_numeric(parts[1], errors="coerce")
    if pos.isna().any():
        bad = weights.loc[pos.isna(), "varID"].iloc[0]
        raise InputError(f"{path}: varID {bad!r} is not chr_pos_ref_alt[_build]")
    weights["chrom"] = _bare_chrom(parts[0])
    weights["pos"] = pos.astype(np.int64)
    return weights


def _find_column(columns: list[str], role: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[a] for a in _ALIASES[role] if a in lower), None)


def read_gwas_variants(path: str | Path) -> pd.DataFrame:
    """The variants of a GWAS summary-statistics table (any common column naming).

    Parameters
    ----------
    path : str or pathlib.Path
        Tab-, comma- or whitespace-separated text, optionally gzipped, with a header. Columns
        are found by name, case-insensitively: the ID (``variant_id``, ``rsid``, ``SNP``,
        ``MarkerName``, ...), and where present chromosome (``chromosome``, ``CHR``, ...),
        1-based position (``base_pair_location``, ``BP``, ``POS``, ...) and the two alleles
        (``effect_allele``/``A1``/``ALT`` and ``other_allele``/``A2``/``REF``).

    Returns
    -------
    pandas.DataFrame
        ``id`` (str), ``chrom`` (str without ``chr``; None when absent), ``pos`` (Int64),
        ``a1``, ``a2`` (str upper case; None when absent).

    Raises
    ------
    InputError
        If the file cannot be parsed or has neither an ID column nor chromosome + position.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype=str, comment=None)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read as a GWAS table with a header ({exc})") from exc
    cols = list(table.columns)
    found = {role: _find_column(cols, role) for role in _ALIASES}
    if found["id"] is None and (found["chrom"] is None or found["pos"] is None):
        raise InputError(
            f"{path}: no variant ID column ({', '.join(_ALIASES['id'])}) and no chromosome + "
            f"position columns; its columns are {cols[:12]}. Rename one to a standard name "
            "(GWAS-SSF: variant_id or rsid, chromosome, base_pair_location)."
        )
    out = pd.DataFrame(index=table.index)
    out["id"] = table[found["id"]].astype(str) if found["id"] else None
    out["chrom"] = _bare_chrom(table[found["chrom"]]) if found["chrom"] else None
    out["pos"] = (
        pd.to_numeric(table[found["pos"]], errors="coerce").astype("Int64")
        if found["pos"]
        else pd.array([pd.NA] * len(table), dtype="Int64")
    )
    for role in ("a1", "a2"):
        out[role] = table[found[role]].astype(str).str.upper() if found[role] else None
    return out


def read_vcf_variants(path: str | Path) -> pd.DataFrame:
    """The variants of a target VCF/BCF (one row per ALT allele), as :func:`read_gwas_variants`.

    Parameters
    ----------
    path : str or pathlib.Path
        VCF or BCF, plain or bgzipped (no index needed).

    Returns
    -------
    pandas.DataFrame
        ``id`` (the VCF ID; ``.`` kept), ``chrom`` (without ``chr``), ``pos`` (Int64, 1-based),
        ``a1`` (ALT), ``a2`` (REF).

    Raises
    ------
    InputError
        If cyvcf2 cannot open the file.
    """
    from cyvcf2 import VCF

    try:
        vcf = VCF(str(path), lazy=True, threads=1)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot open as VCF/BCF ({exc})") from exc
    rows = []
    try:
        for rec in vcf:
            for alt in rec.ALT:
                rows.append((str(rec.ID or "."), rec.CHROM, rec.POS, alt.upper(), rec.REF.upper()))
    finally:
        vcf.close()
    out = pd.DataFrame(rows, columns=["id", "chrom", "pos", "a1", "a2"])
    out["chrom"] = _bare_chrom(out["chrom"])
    out["pos"] = out["pos"].astype("Int64")
    return out


def match_variants(
    model: pd.DataFrame,
    target: pd.DataFrame,
    key: str = "rsid",
    keep_non_rsid: bool = False,
) -> pd.DataFrame:
    """Each model variant's fate when MetaXcan joins the model to ``target``, with a reason.

    Parameters
    ----------
    model : pandas.DataFrame
        From :func:`read_model_variants`.
    target : pandas.DataFrame
        From :func:`read_gwas_variants` or :func:`read_vcf_variants`.
    key : {"rsid", "varID"}, default "rsid"
        The model column MetaXcan joins on (its ``--model_db_snp_key``; default ``rsid``).
    keep_non_rsid : bool, default False
        S-PrediXcan's ``--keep_non_rsid``: without it, IDs without "rs" are dropped. Predict.py
        (a target VCF) does not drop them: pass True.

    Returns
    -------
    pandas.DataFrame
        :data:`MATCH_COLUMNS`, one row per model variant: ``key`` (the joined ID), ``status``
        (one of :data:`REASONS`), ``swapped`` (bool: used with REF/ALT swapped).

    Raises
    ------
    ValueError
        If ``key`` is not ``rsid`` or ``varID``.
    """
    if key not in ("rsid", "varID"):
        raise ValueError(f"key must be 'rsid' or 'varID', got {key!r}")
    m = model.reset_index(drop=True)
    ids = m[key].astype(str)
    target_ids = target["id"].astype(str) if target["id"].notna().any() else pd.Series([], dtype=str)
    by_id = target.assign(id=target_ids).drop_duplicates("id").set_index("id")
    hit = ids.isin(by_id.index)
    status = np.full(len(m), "absent", dtype=object)
    swapped = np.zeros(len(m), dtype=bool)
    ref, alt = m["ref_allele"].str.upper(), m["eff_allele"].str.upper()

    # 1. the key matches
    if hit.any():
        t = by_id.reindex(ids[hit])
        if t["a1"].notna().any():
            swapped[hit.to_numpy()] = (
                (t["a1"].to_numpy() == ref[hit].to_numpy())
                & (t["a2"].to_numpy() == alt[hit].to_numpy())
            )
        dropped = (~ids[hit].str.contains("rs", case=False)).to_numpy() & (not keep_non_rsid)
        status[np.flatnonzero(hit)] = np.where(dropped, "non_rs_id_dropped", "used")
    rest = ~hit.to_numpy()

    # 2. varIDs that differ only by build suffix / chr prefix
    undecided = rest & (status == "absent")
    if undecided.any() and len(target_ids):

        def norm(values: pd.Series) -> pd.Series:
            values = values.str.replace(_SUFFIX, "", regex=True)
            return values.str.replace(r"^chr", "", regex=True, flags=re.IGNORECASE)

        suffix = norm(m["varID"].astype(str)).isin(set(norm(target_ids))).to_numpy()
        status[undecided & suffix] = "build_suffix"
    # 3. by position and alleles, where the target has positions
    has_pos = bool(target["pos"].notna().any()) and bool(target["chrom"].notna().any())
    undecided = rest & (status == "absent")
    if has_pos and undecided.any():
        left = pd.DataFrame(
            {
                "row": np.flatnonzero(undecided),
                "chrom": m.loc[undecided, "chrom"].astype(str).to_numpy(),
                "pos": m.loc[undecided, "pos"].to_numpy(np.int64),
                "ref": ref[undecided].to_numpy(),
                "alt": alt[undecided].to_numpy(),
            }
        )
        right = target.dropna(subset=["pos"])[["chrom", "pos", "a1", "a2"]]
        right = right.astype({"chrom": str, "pos": np.int64})
        both = left.merge(right, on=["chrom", "pos"], how="inner")
        if len(both):
            a1 = both["a1"].fillna("").astype(str)
            a2 = both["a2"].fillna("").astype(str)
            no_alleles = both["a1"].isna() | both["a2"].isna()
            same = no_alleles | ((a1 == both["alt"]) & (a2 == both["ref"])) | (
                (a1 == both["ref"]) & (a2 == both["alt"])
            )
            cref = both["ref"].str.translate(_COMPLEMENT)
            calt = both["alt"].str.translate(_COMPLEMENT)
            ambiguous = (cref == both["alt"]) & (calt == both["ref"])
            flip = ~ambiguous & (
                ((a1 == calt) & (a2 == cref)) | ((a1 == cref) & (a2 == calt))
            )
            # per model variant the most useful finding: same alleles > strand flip > other
            rank = np.where(same, 0, np.where(flip, 1, 2))
            best = pd.Series(rank).groupby(both["row"].to_numpy()).min()
            labels = np.array(["id_format", "strand_flip", "other_alleles"], dtype=object)
            status[best.index.to_numpy()] = labels[best.to_numpy()]
    # 4. the rsID is there, at another position (another build)
    undecided = rest & (status == "absent")
    if undecided.any() and has_pos:
        rs_hit = m["rsid"].astype(str).isin(by_id.index).to_numpy()
        status[undecided & rs_hit] = "other_position"
    out = m[["gene", "rsid", "varID", "ref_allele", "eff_allele"]].copy()
    out["key"] = ids.to_numpy()
    out["status"] = status
    out["swapped"] = swapped
    return out


def summarize_matches(matches: pd.DataFrame) -> pd.DataFrame:
    """Counts per status, with the share of the model's variants and genes touched.

    Parameters
    ----------
    matches : pandas.DataFrame
        From :func:`match_variants`.

    Returns
    -------
    pandas.DataFrame
        One row per status of :data:`REASONS` that occurs: ``status``, ``variants`` (int),
        ``fraction`` (of the model's variants), ``genes`` (int, genes with such a variant).
    """
    n = max(len(matches), 1)
    rows = []
    for reason in REASONS:
        sub = matches.loc[matches["status"] == reason]
        if len(sub):
            rows.append((reason, len(sub), len(sub) / n, sub["gene"].nunique()))
    return pd.DataFrame(rows, columns=["status", "variants", "fraction", "genes"])
