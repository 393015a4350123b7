"""Lead cis-eQTL of each gene, and the variant-level direction of a model's predictions.

The variant-level direction accuracy (definition (b) in ``notes/anchors.md``) asks whether a
model's ALT - REF effect at a gene's lead eQTL has the sign of the eQTL effect. Sasse et al.
(2023) compared the sign of each SNV's OLS eQTL beta with Enformer's in-silico mutagenesis
effect; Shen et al. (2026) report the odds ratio of a correct direction between AlphaGenome and
Enformer on GTEx eQTLs. Here the model's direction is read from its predictions by *haplotype
contrast*: across the individuals of an evaluation cell, the model's predictions are regressed
on the lead variant's ALT dosage, and the sign of that slope is the model's ALT - REF
direction. This works for any model that writes a predictions table (sequence models, genotype
baselines, precomputed scores) and needs no access to the model itself.

Two steps, each from tables only (no torch):

1. :func:`lead_eqtls` (rule ``lead_eqtl``): per gene, the marginal OLS regression of observed
   expression on ALT dosage of every SNV in the cis window, in *training* individuals; the lead
   variant is the one with the largest |t|.
2. :func:`variant_direction_metrics` (rule ``evaluate``): per (model, cell, gene), the slope of
   the predictions on the lead variant's dosage and whether its sign matches the eQTL beta.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from scipy import special

from ps2f.evaluation.correlation import group_pearson
from ps2f.evaluation.tables import (
    empty_metrics,
    format_counts,
    long_metrics,
    sort_keys,
    with_cells,
)
from ps2f.genome.windows import cis_windows
from ps2f.schema import validate_predictions

__all__ = [
    "LEAD_EQTL_COLUMNS",
    "DOSAGE_COLUMNS",
    "VARIANT_METRICS",
    "marginal_ols",
    "cis_window_dosages",
    "lead_eqtls",
    "variant_direction_metrics",
]

_LOG = logging.getLogger(__name__)

#: Columns of the lead-eQTL table written by :func:`lead_eqtls`, in order.
LEAD_EQTL_COLUMNS: tuple[str, ...] = (
    "gene",
    "chrom",
    "variant_id",
    "pos",
    "ref",
    "alt",
    "beta",
    "se",
    "t",
    "p",
    "p_bonferroni",
    "n",
    "maf",
    "n_tested",
)
#: Columns of the long dosage table written by :func:`lead_eqtls`, in order.
DOSAGE_COLUMNS: tuple[str, ...] = ("gene", "variant_id", "individual", "individual_set", "dosage")
#: Metric names written by :func:`variant_direction_metrics`, in output order.
VARIANT_METRICS: tuple[str, ...] = ("lead_slope", "lead_direction_correct")

# relative spread under which a vector counts as constant (scipy.stats.pearsonr's threshold)
_NEAR_CONSTANT_RTOL = 1e-13


def marginal_ols(
    dosages: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Simple linear regression of ``y`` on each row of ``dosages``, with an intercept.

    The per-variant model of a cis-eQTL scan (FastQTL/QTLtools nominal pass, Sasse et al. 2023):
    ``y = a + beta * x + e``, fitted by ordinary least squares separately for each variant.
    ``t = r * sqrt((n - 2) / (1 - r**2))`` with ``r`` the Pearson correlation of ``x`` and ``y``,
    and the two-sided p-value from Student's t with ``n - 2`` degrees of freedom (as
    :func:`scipy.stats.linregress`).

    Parameters
    ----------
    dosages : numpy.ndarray, shape (V, n), numeric
        ALT allele dosages (0, 1, 2) of V variants in n individuals; no NaN.
    y : numpy.ndarray, shape (n,), float64
        Expression of the n individuals (e.g. log1p RPKM); no NaN.

    Returns
    -------
    beta, se, t, p : numpy.ndarray, shape (V,), float64
        Slope (expression units per ALT allele), its standard error, t statistic and two-sided
        p-value. All four are NaN for a variant whose dosage is constant, or when ``n < 3``
        or ``y`` is constant.

    Raises
    ------
    ValueError
        If the shapes disagree.
    """
    x = np.asarray(dosages, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[1] != y.shape[0]:
        raise ValueError(f"dosages must be (V, n) and y (n,), got {x.shape} and {y.shape}")
    n = y.shape[0]
    nan = np.full(x.shape[0], np.nan)
    if n < 3:
        return nan, nan.copy(), nan.copy(), nan.copy()
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean()
    sxx = np.einsum("vn,vn->v", dx, dx)
    syy = float(dy @ dy)
    sxy = dx @ dy
    with np.errstate(invalid="ignore", divide="ignore"):
        const_x = sxx <= (_NEAR_CONSTANT_RTOL * np.abs(x.mean(axis=1))) ** 2 * n
        const_x |= sxx == 0
        if syy == 0 or syy <= (_NEAR_CONSTANT_RTOL * abs(y.mean())) ** 2 * n:
            return nan, nan.copy(), nan.copy(), nan.copy()
        beta = sxy / sxx
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
        df = n - 2
        rss = np.maximum(syy * (1.0 - r**2), 0.0)
        se = np.sqrt(rss / df / sxx)
        t = r * np.sqrt(df / np.maximum(1.0 - r**2, 0.0))
        # two-sided t p-value through the regularized incomplete beta function
        p = special.betainc(df / 2.0, 0.5, df / (df + t**2))
        p = np.where(np.isinf(t), 0.0, p)
    for a in (beta, se, t, p):
        a[const_x] = np.nan
    return beta, se, t, np.clip(p, 0.0, 1.0)



def cis_window_dosages(
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    observed: np.ndarray,
    stores: Mapping[str, object],
    cis_window_bp: int,
    min_maf: float,
    snv_only: bool = True,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield each gene's cis-window variants that are polymorphic in its training individuals.

    The variants of the TSS-anchored cis-window ``[tss0 - cis_window_bp, tss0 + cis_window_bp +
    1)`` (:func:`ps2f.genome.windows.cis_windows`, ``anchor="tss"``), SNVs only by default, whose
    minor-allele frequency in the gene's *fitting individuals* (training individuals with finite
    expression) is at least ``min_maf`` (and > 0). The variant set of :func:`lead_eqtls` and
    :func:`ps2f.evaluation.heritability.cis_heritability`.

    Parameters
    ----------
    genes, individuals, observed, stores, cis_window_bp, min_maf, snv_only
        As :func:`lead_eqtls`.

    Yields
    ------
    tuple
        ``g`` (int, row of ``genes``), ``idx`` (numpy.ndarray, shape (p,), int64: rows of the
        contig's store), ``dosages`` (numpy.ndarray, shape (p, n_individuals), ALT dosages in
        {0, 1, 2} of every individual, ``individuals`` order; the store's dtype) and ``use``
        (numpy.ndarray, shape (n_individuals,), bool: the fitting individuals). ``p`` may be 0.

    Raises
    ------
    ValueError
        If ``observed`` does not match the tables, a gene's contig has no store, an individual
        is missing from a store, or an argument is out of range.
    """
    if observed.shape != (len(genes), len(individuals)):
        raise ValueError(
            f"observed has shape {observed.shape}, expected ({len(genes)}, {len(individuals)})"
        )
    if cis_window_bp < 0:
        raise ValueError(f"cis_window_bp must be >= 0, got {cis_window_bp}")
    if not 0.0 <= min_maf <= 0.5:
        raise ValueError(f"min_maf must be in [0, 0.5], got {min_maf}")
    missing = sorted(set(genes["chrom"].astype(str)) - set(stores))
    if missing:
        raise ValueError(f"no variant store for contig(s) {missing}; stores: {sorted(stores)}")
    ind_ids = individuals["individual"].astype(str).to_numpy()
    train = (individuals["individual_set"].astype(str) == "train").to_numpy()
    columns = {}
    snv = {chrom: store.is_snv() for chrom, store in stores.items()}
    for chrom, store in stores.items():
        col = pd.Index(np.asarray(store.samples).astype(str)).get_indexer(ind_ids)
        if (col < 0).any():
            absent = ind_ids[col < 0]
            raise ValueError(
                f"variant store {chrom!r}: {absent.size} individual(s) absent, e.g. {absent[0]!r}"
            )
        columns[chrom] = col

    starts, ends = cis_windows(genes, cis_window_bp, anchor="tss")
    for g in range(len(genes)):
        chrom = str(genes["chrom"].iloc[g])
        store = stores[chrom]
        sl = store.region(int(starts[g]), int(ends[g]))
        idx = np.arange(sl.start, sl.stop)
        if snv_only and idx.size:
            idx = idx[snv[chrom][sl]]
        use = train & np.isfinite(observed[g])
        n_ind = observed.shape[1]
        dose_all = store.dosages(idx)[:, columns[chrom]] if idx.size else np.zeros((0, n_ind))
        if idx.size and use.any():
            af = dose_all[:, use].astype(np.float64).mean(axis=1) / 2.0
            keep = np.minimum(af, 1.0 - af) >= max(min_maf, 1e-12)
            idx, dose_all = idx[keep], dose_all[keep]
        yield g, idx, dose_all, use

def lead_eqtls(
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    observed: np.ndarray,
    stores: Mapping[str, object],
    cis_window_bp: int,
    min_maf: float = 0.05,
    snv_only: bool = True,
    log: logging.Logger | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lead cis-eQTL per gene, from training individuals, and its dosages in every individual.

    For each gene, every variant in its TSS-anchored cis-window ``[tss0 - cis_window_bp, tss0 +
    cis_window_bp + 1)`` (:func:`ps2f.genome.windows.cis_windows` with ``anchor="tss"``, as in
    a FastQTL/QTLtools cis scan; inside the genotype baselines' window, which is anchored on
    the gene body by default) whose minor-allele frequency in
    the training individuals with finite expression is at least ``min_maf`` (and, by default,
    that is an SNV: the haplotypes of the sequence models apply SNVs only) is tested by
    :func:`marginal_ols` on those training individuals. The lead variant is the one with the
    largest |t| (smallest p; the first by position on ties). ``p_bonferroni`` = min(1, p *
    n_tested) is a conservative gene-level p-value of the lead (Bonferroni over the variants
    tested, an approximation of the permutation-based eGene call of FastQTL, Ongen et al. 2016).

    Parameters
    ----------
    genes : pandas.DataFrame
        Phenotypes gene table with columns ``gene`` (str), ``chrom`` (str, key into
        ``stores``) and ``tss0`` (int, 0-based TSS in bp).
    individuals : pandas.DataFrame
        Phenotypes individual table with ``individual`` (str) and ``individual_set``
        (``"train"`` | ``"heldout"``).
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
        Normalized expression, rows in ``genes`` order, columns in ``individuals`` order; NaN
        where missing.
    stores : mapping of str to ps2f.genome.store.VariantStore
        Variant store per contig, keyed as ``genes["chrom"]``.
    cis_window_bp : int
        Half-width of the cis window around the TSS, in bp.
    min_maf : float, default 0.05
        Minor-allele frequency filter in [0, 0.5], computed in the training individuals used.
    snv_only : bool, default True
        Test single-nucleotide variants only.
    log : logging.Logger, optional
        Where to log genes without a testable variant; default this module's logger.

    Returns
    -------
    lead : pandas.DataFrame
        One row per gene of ``genes`` (:data:`LEAD_EQTL_COLUMNS`): ``variant_id`` (str;
        missing, i.e. None/NA, when no variant was testable, with the statistics NaN and
        ``n_tested`` = 0), ``pos`` (int64, 0-based bp; -1 when none), ``ref``,
        ``alt`` (str), ``beta`` (float64, expression units per ALT allele), ``se``, ``t``,
        ``p``, ``p_bonferroni`` (float64), ``n`` (int64, training individuals used), ``maf``
        (float64, in those individuals), ``n_tested`` (int64, variants tested).
    dosages : pandas.DataFrame
        Long table (:data:`DOSAGE_COLUMNS`): the lead variant's ALT dosage (int8 in {0, 1, 2})
        in every individual of ``individuals`` (training and held-out), for genes with a lead.

    Raises
    ------
    ValueError
        If ``observed`` does not match the tables, a gene's contig has no store, an individual
        is missing from a store, or an argument is out of range.
    """
    log = _LOG if log is None else log
    ind_ids = individuals["individual"].astype(str).to_numpy()
    rows = []
    dose_frames = []
    no_variant = 0
    for g, idx, dose_all, use in cis_window_dosages(
        genes, individuals, observed, stores, cis_window_bp, min_maf, snv_only
    ):
        gene = str(genes["gene"].iloc[g])
        chrom = str(genes["chrom"].iloc[g])
        store = stores[chrom]
        y = observed[g]
        d = dose_all[:, use].astype(np.float64)
        n = int(use.sum())
        beta, se, t, p = marginal_ols(d, y[use]) if idx.size and n >= 3 else (np.zeros(0),) * 4
        tested = np.isfinite(t) if idx.size and n >= 3 else np.zeros(0, dtype=bool)
        n_tested = int(tested.sum())
        if n_tested == 0:
            no_variant += 1
            rows.append((gene, chrom, None, -1, None, None, *(np.nan,) * 5, n, np.nan, 0))
            continue
        abs_t = np.where(tested, np.abs(t), -1.0)
        k = int(np.argmax(abs_t))
        v = int(idx[k])
        af = d[k].mean() / 2.0
        vid = str(store.ids[v])
        rows.append(
            (
                gene,
                chrom,
                vid,
                int(store.pos[v]),
                store.allele(v, "ref"),
                store.allele(v, "alt"),
                float(beta[k]),
                float(se[k]),
                float(t[k]),
                float(p[k]),
                float(min(1.0, p[k] * n_tested)),
                n,
                float(min(af, 1.0 - af)),
                n_tested,
            )
        )
        dose_frames.append(
            pd.DataFrame(
                {
                    "gene": gene,
                    "variant_id": vid,
                    "individual": ind_ids,
                    "individual_set": individuals["individual_set"].astype(str).to_numpy(),
                    "dosage": dose_all[k].astype(np.int8),
                }
            )
        )
    if no_variant:
        log.warning(
            "lead eQTL: %d of %d gene(s) have no testable variant (no %s with MAF >= %g in the "
            "training individuals within +-%d bp of the TSS)",
            no_variant,
            len(genes),
            "SNV" if snv_only else "variant",
            min_maf,
            cis_window_bp,
        )
    lead = pd.DataFrame(rows, columns=list(LEAD_EQTL_COLUMNS))
    lead = lead.astype(
        {"pos": np.int64, "n": np.int64, "n_tested": np.int64, "beta": np.float64,
         "se": np.float64, "t": np.float64, "p": np.float64, "p_bonferroni": np.float64,
         "maf": np.float64}
    )  # fmt: skip
    if dose_frames:
        dosages = pd.concat(dose_frames, ignore_index=True)
    else:
        dosages = pd.DataFrame({c: pd.Series(dtype=object) for c in DOSAGE_COLUMNS})
        dosages["dosage"] = dosages["dosage"].astype(np.int8)
    return lead, dosages.loc[:, list(DOSAGE_COLUMNS)]


def variant_direction_metrics(
    predictions: pd.DataFrame,
    lead: pd.DataFrame,
    dosages: pd.DataFrame,
    eqtl_alpha: float = 0.05,
    min_individuals: int = 3,
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Variant-level direction per (model, cell, gene): the model's slope on the lead dosage.

    Haplotype contrast: across the individuals of a cell, ``predicted`` is regressed on the
    lead variant's ALT dosage (OLS with intercept); the slope's sign is the model's ALT - REF
    direction at that variant. It is compared with the sign of the lead eQTL ``beta`` (fitted
    on observed expression of training individuals by :func:`lead_eqtls`); this is direction
    definition (b) of ``notes/anchors.md`` (Sasse et al. 2023 compare eQTL betas with ISM
    effects; Shen et al. 2026 report its odds ratio between two models). The slope reflects
    everything in linkage with the lead variant, as the eQTL beta does.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`).
    lead : pandas.DataFrame
        Lead-eQTL table (:data:`LEAD_EQTL_COLUMNS`) from :func:`lead_eqtls`.
    dosages : pandas.DataFrame
        Dosage table (:data:`DOSAGE_COLUMNS`) from :func:`lead_eqtls`.
    eqtl_alpha : float, default 0.05
        ``lead_direction_correct`` is defined only for genes whose lead eQTL has
        ``p_bonferroni < eqtl_alpha`` (a gene with no eQTL has no direction to get right).
    min_individuals : int, default 3
        Fewest individuals (with finite prediction and a dosage) for a slope.
    log : logging.Logger, optional
        Where to log undefined values; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        Long metrics table (:data:`ps2f.schema.METRIC_COLUMNS`), per (model, cell, gene) with a
        lead variant: ``lead_slope`` (float64, prediction units per ALT allele; NaN when the
        dosage or the predictions are constant in the cell, or fewer than ``min_individuals``
        individuals) and ``lead_direction_correct`` (1.0 if sign(slope) = sign(eQTL beta), 0.0
        if not; NaN when the slope is NaN or exactly 0, or the eQTL fails ``eqtl_alpha``).
        Sorted by model, cell, gene. Empty when no gene has a lead variant.

    Raises
    ------
    ValueError
        If a table lacks its columns or the predictions fail validation.
    """
    log = _LOG if log is None else log
    for name, df, cols in (
        ("lead-eQTL table", lead, LEAD_EQTL_COLUMNS),
        ("dosage table", dosages, DOSAGE_COLUMNS),
    ):
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise ValueError(f"{name}: missing columns {absent}; expected {list(cols)}")
    pred = validate_predictions(predictions)
    have = lead.loc[lead["variant_id"].notna(), ["gene", "beta", "p_bonferroni"]]
    dose = dosages.loc[:, ["gene", "individual", "dosage"]].astype({"gene": str, "individual": str})
    df = pred.merge(dose, on=["gene", "individual"], how="inner")
    df = df.loc[np.isfinite(df["predicted"].to_numpy())]
    if df.empty:
        return empty_metrics()
    grouped = df.groupby(["model", "gene_set", "individual_set", "gene"], sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = with_cells(grouped.size().index.to_frame(index=False))
    x = df["dosage"].to_numpy(dtype=np.float64)
    y = df["predicted"].to_numpy(dtype=np.float64)
    n_groups = len(keys)
    _, n, const_x, const_y = group_pearson(group, x, y, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (np.bincount(group, weights=x, minlength=n_groups) / n)[group]
        dy = y - (np.bincount(group, weights=y, minlength=n_groups) / n)[group]
        sxx = np.bincount(group, weights=dx * dx, minlength=n_groups)
        sxy = np.bincount(group, weights=dx * dy, minlength=n_groups)
        slope = sxy / sxx  # OLS slope of predicted on dosage
    slope[const_y & ~const_x] = 0.0  # predictions that ignore the genotype: no direction
    too_few = n < min_individuals
    slope[too_few | const_x] = np.nan

    info = have.set_index("gene").reindex(keys["gene"])
    beta = info["beta"].to_numpy(dtype=np.float64)
    p_gene = info["p_bonferroni"].to_numpy(dtype=np.float64)
    egene = p_gene < eqtl_alpha
    correct = np.where(np.sign(slope) == np.sign(beta), 1.0, 0.0)
    undefined = np.isnan(slope) | (slope == 0) | ~egene | np.isnan(beta)
    correct[undefined] = np.nan
    for reason, mask in {
        f"fewer than {min_individuals} individuals with a dosage": too_few,
        "lead-variant dosage constant in the cell": ~too_few & const_x,
        "predictions constant across individuals (no ALT - REF direction)": (
            ~too_few & ~const_x & (slope == 0)
        ),
        f"lead eQTL not significant (p_bonferroni >= {eqtl_alpha})": ~egene,
    }.items():
        if mask.any():
            log.warning(
                "variant-level direction undefined for %d gene(s): %s (%s)",
                int(mask.sum()),
                reason,
                format_counts(keys, mask),
            )
    order = sort_keys(keys.assign(_i=np.arange(n_groups)), ["model", "cell", "gene"])
    i = order["_i"].to_numpy()
    return long_metrics(
        order.drop(columns="_i").reset_index(drop=True),
        {"lead_slope": slope[i], "lead_direction_correct": correct[i]},
        VARIANT_METRICS,
    )
