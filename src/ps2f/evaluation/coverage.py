"""Window coverage: how much of each gene's cis signal lies inside a sequence model's window.

A sequence model reads ``L`` bp around the TSS (:func:`ps2f.genome.windows.sequence_windows`);
a variant outside that window cannot change its prediction. On real data most lead cis-eQTLs
lie farther from the TSS than a few kb, so a low per-gene r of a sequence model may mean "cannot
see" (the signal is outside the window) rather than "did not learn". This module states, for
every gene and every sequence model's window length, from tables only (no torch):

``lead_eqtl_in_window``
    Whether the gene's lead cis-eQTL (:func:`ps2f.evaluation.eqtl.lead_eqtls`) lies in
    ``[start, end)`` of the window; NA when the gene has no testable variant.
``lead_eqtl_tss_offset_bp``
    The lead eQTL's signed distance to the TSS in bp, 5'->3' on the gene's strand (positive =
    downstream); the variant sits at window index ``L // 2 + offset``, so it is inside exactly
    when ``-(L // 2) <= offset < L - L // 2``, on either strand.
``egene``
    ``p_bonferroni < eqtl_alpha`` (the eGene call of the variant-level direction accuracy).
``elastic_net_share_in_window``
    The share of the ElasticNet's genetic prediction that its in-window variants carry. With
    ``w`` the gene's PredictDB weights (expression units per ALT allele), ``Sigma`` the
    covariance of their ALT dosages in the fit individuals (PredictDB's covariance file),
    ``y = w . x`` the prediction and ``y_in`` its in-window part (``w`` with the weights of
    variants outside the window set to 0)::

        share = Cov(y, y_in)**2 / (Var(y) Var(y_in))
              = (w' Sigma w_in)**2 / ((w' Sigma w) (w_in' Sigma w_in))

    i.e. the fraction of the variance of the prediction across individuals that the in-window
    part explains (the R^2 of regressing ``y`` on ``y_in``). ``w' Sigma w`` is the variance of a
    PrediXcan prediction from weights and an LD matrix (S-PrediXcan, Barbeira et al. 2018, Nat
    Commun 9:1825, eq. 2). Without LD between the two parts it is the sum of ``w_j**2
    Var(x_j)`` over in-window variants divided by that over all; an out-of-window variant in LD
    with an in-window one counts as seen through it. 1 when every selected variant is inside,
    0 when none is (or the in-window part is constant), NA when the ElasticNet selected no
    variant (or its prediction is constant).

The table is per (model, gene): :func:`window_coverage`; :func:`coverage_metrics` puts the
per-gene values into the metrics table beside each sequence model's r, and
:func:`summarize_coverage` adds per-(model, cell) summary rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ps2f.evaluation.resampling import bootstrap, percentile_ci, seeded_rng
from ps2f.evaluation.tables import ALL_GENES, empty_metrics, long_metrics, sort_keys
from ps2f.genome.windows import sequence_windows
from ps2f.schema import SUMMARY_COLUMNS

__all__ = [
    "COVERAGE_COLUMNS",
    "COVERAGE_METRICS",
    "COVERAGE_STATISTICS",
    "window_offsets",
    "elastic_net_window_shares",
    "window_coverage",
    "coverage_metrics",
    "summarize_coverage",
]

_LOG = logging.getLogger(__name__)

#: Columns of the window-coverage table written by :func:`window_coverage`, in order.
COVERAGE_COLUMNS: tuple[str, ...] = (
    "model",
    "window_bp",
    "gene",
    "s2f",
    "lead_variant_id",
    "lead_eqtl_tss_offset_bp",
    "lead_eqtl_in_window",
    "egene",
    "elastic_net_n_variants",
    "elastic_net_n_in_window",
    "elastic_net_share_in_window",
)
#: Metric names written by :func:`coverage_metrics` (per gene, per sequence model and cell).
COVERAGE_METRICS: tuple[str, ...] = (
    "lead_eqtl_in_window",
    "lead_eqtl_tss_offset_bp",
    "elastic_net_share_in_window",
)
#: Statistic names written by :func:`summarize_coverage`, in output order.
COVERAGE_STATISTICS: tuple[str, ...] = (
    "window_bp",
    "median_elastic_net_share_in_window",
    "frac_lead_eqtl_in_window",
    "frac_egenes_lead_eqtl_in_window",
)


def window_offsets(pos0: np.ndarray, tss0: np.ndarray, strand: np.ndarray) -> np.ndarray:
    """Signed distance of variants to their gene's TSS, 5'->3' on the gene's strand.

    Parameters
    ----------
    pos0, tss0 : numpy.ndarray, shape (V,), int64
        0-based variant and TSS positions in bp.
    strand : numpy.ndarray, shape (V,), str
        ``"+"`` or ``"-"``.

    Returns
    -------
    numpy.ndarray, shape (V,), int64
        ``pos0 - tss0`` on ``+``, ``tss0 - pos0`` on ``-`` (bp; positive = downstream). In an
        ``L``-bp window of :func:`ps2f.genome.windows.sequence_windows` the variant is at index
        ``L // 2 + offset``.
    """
    d = np.asarray(pos0, dtype=np.int64) - np.asarray(tss0, dtype=np.int64)
    return np.where(np.asarray(strand) == "-", -d, d)


def _in_windows(
    pos0: np.ndarray, tss0: np.ndarray, strand: np.ndarray, window_bp: int
) -> np.ndarray:
    """Whether each variant lies in its gene's sequence window (``[start, end)``)."""
    start, end = sequence_windows(tss0, strand, window_bp)
    pos0 = np.asarray(pos0, dtype=np.int64)
    return (pos0 >= start) & (pos0 < end)


def _covariance_key(weights: pd.DataFrame, covariances: pd.DataFrame) -> str:
    """The weights column the covariance file is keyed by: ``rsid`` or ``varID``.

    ``rsid`` is PredictDB's default, ``varID`` that of ``baselines.predictdb.variant_key:
    varID``; the column that holds the file's first IDs is the key.
    """
    if covariances.empty or weights.empty:
        return "rsid"
    first = set(covariances["RSID1"].astype(str).head(100))
    if first <= set(weights["varID"].astype(str)) and not first <= set(
        weights["rsid"].astype(str)
    ):
        return "varID"
    return "rsid"


def _gene_covariance(gene: str, rsids: np.ndarray, cov: pd.DataFrame, source: str) -> np.ndarray:
    """The (k, k) dosage covariance of a gene's model variants, from its covariance rows."""
    index = pd.Index(rsids)
    i = index.get_indexer(cov["RSID1"].to_numpy())
    j = index.get_indexer(cov["RSID2"].to_numpy())
    if (i < 0).any() or (j < 0).any():
        bad = cov.loc[(i < 0) | (j < 0)].iloc[0]
        raise ValueError(
            f"{source}: gene {gene}: covariance row {bad['RSID1']} {bad['RSID2']} names a "
            "variant absent from the gene's weights; the covariance file and the .db come "
            "from different runs (re-run rule elastic_net)"
        )
    k = len(rsids)
    sigma = np.full((k, k), np.nan)
    sigma[i, j] = cov["VALUE"].to_numpy(np.float64)
    sigma[j, i] = sigma[i, j]
    if np.isnan(sigma).any():
        a, b = np.argwhere(np.isnan(sigma))[0]
        raise ValueError(
            f"{source}: gene {gene}: no covariance for variants {rsids[a]} and {rsids[b]}; "
            "the covariance file and the .db come from different runs (re-run rule elastic_net)"
        )
    return sigma


def elastic_net_window_shares(
    genes: pd.DataFrame,
    weights: pd.DataFrame,
    covariances: pd.DataFrame,
    windows_bp: Mapping[str, int],
    source: str = "elastic_net",
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Share of each gene's ElasticNet prediction carried by variants inside each window.

    See the module docstring for the definition (the R^2 of the prediction on its in-window
    part, from the weights and the dosage covariance).

    Parameters
    ----------
    genes : pandas.DataFrame
        Phenotypes gene table: ``gene`` (str), ``tss0`` (int, 0-based bp), ``strand``.
    weights : pandas.DataFrame
        PredictDB ``weights`` table (:data:`ps2f.io.predictdb.WEIGHT_COLUMNS`): ``gene``,
        ``rsid``, ``varID`` (``chr_pos_ref_alt_build``, 1-based position), ``weight``.
    covariances : pandas.DataFrame
        PredictDB covariance rows ``GENE, RSID1, RSID2, VALUE`` (upper triangle with the
        diagonal, dosage units squared), as :func:`ps2f.io.predictdb.read_covariances` returns.
    windows_bp : mapping of str to int
        Window length ``L`` in bp by model name.
    source : str
        Named in messages (e.g. the ``.db`` path).
    log : logging.Logger, optional
        Where genes with repeated variant IDs are reported; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        One row per (model, gene of ``genes``), models in ``windows_bp`` order: ``model``,
        ``gene``, ``elastic_net_n_variants`` (int64, variants with a nonzero weight),
        ``elastic_net_n_in_window`` (int64), ``elastic_net_share_in_window`` (float64 in
        [0, 1]; NaN without a selected variant, with a constant prediction, or when the gene's
        rsids repeat so that the covariance file cannot be matched).

    Raises
    ------
    ValueError
        A weight's gene is not in ``genes``, or the covariances do not match the weights.
    ps2f.errors.InputError
        A ``varID`` is not ``chr_pos_ref_alt_build``.
    """
    from ps2f.io.predictdb import var_id_positions

    log = _LOG if log is None else log
    gene_ids = genes["gene"].astype(str).to_numpy()
    row_of = pd.Index(gene_ids)
    w = weights.loc[weights["weight"].to_numpy(np.float64) != 0.0]
    unknown = sorted(set(w["gene"].astype(str)) - set(gene_ids))
    if unknown:
        raise ValueError(
            f"{source}: weights for {len(unknown)} gene(s) absent from the genes table, e.g. "
            f"{unknown[0]}; the .db comes from another run"
        )
    models = list(windows_bp)
    n_var = np.zeros(len(genes), dtype=np.int64)
    n_in = np.zeros((len(models), len(genes)), dtype=np.int64)
    share = np.full((len(models), len(genes)), np.nan)
    cov_by_gene = dict(tuple(covariances.groupby("GENE", sort=False)))
    tss = genes["tss0"].to_numpy(np.int64)
    strand = genes["strand"].astype(str).to_numpy()
    repeated = []
    key = _covariance_key(w, covariances)
    for gene, sub in w.groupby("gene", sort=False):
        g = int(row_of.get_loc(str(gene)))
        rsids = sub[key].astype(str).to_numpy()
        coef = sub["weight"].to_numpy(np.float64)
        pos = var_id_positions(sub["varID"].astype(str).tolist())
        n_var[g] = coef.size
        if pd.Index(rsids).has_duplicates:
            repeated.append(str(gene))
            sigma = None
        else:
            empty = covariances.iloc[:0]
            sigma = _gene_covariance(str(gene), rsids, cov_by_gene.get(gene, empty), source)
        total = float(coef @ sigma @ coef) if sigma is not None else np.nan
        for m, model in enumerate(models):
            inside = _in_windows(
                pos, np.full(pos.size, tss[g]), np.full(pos.size, strand[g]), windows_bp[model]
            )
            n_in[m, g] = int(inside.sum())
            if sigma is None or not total > 0.0:
                continue
            part = np.where(inside, coef, 0.0)
            var_in = float(part @ sigma @ part)
            if var_in <= 0.0:
                share[m, g] = 0.0
                continue
            cross = float(coef @ sigma @ part)
            share[m, g] = min(max(cross * cross / (total * var_in), 0.0), 1.0)
    if repeated:
        log.warning(
            "%s: %d gene(s) repeat a variant ID (rsid) among their weights, so the covariance "
            "file cannot be matched: ElasticNet share NA, e.g. %s",
            source,
            len(repeated),
            repeated[0],
        )
    return pd.DataFrame(
        {
            "model": np.repeat(np.asarray(models, dtype=object), len(genes)),
            "gene": np.tile(gene_ids.astype(object), len(models)),
            "elastic_net_n_variants": np.tile(n_var, len(models)),
            "elastic_net_n_in_window": n_in.reshape(-1),
            "elastic_net_share_in_window": share.reshape(-1),
        }
    )


def window_coverage(
    genes: pd.DataFrame,
    lead: pd.DataFrame,
    windows_bp: Mapping[str, int],
    eqtl_alpha: float = 0.05,
    elastic_net_weights: pd.DataFrame | None = None,
    elastic_net_covariances: pd.DataFrame | None = None,
    source: str = "elastic_net",
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Per (sequence model, gene): whether the gene's cis signal lies inside the model's window.

    Definitions in the module docstring.

    Parameters
    ----------
    genes : pandas.DataFrame
        Phenotypes gene table: ``gene`` (str), ``tss0`` (int, 0-based bp), ``strand``
        (``"+"``/``"-"``) and ``s2f`` (bool: the gene is one the sequence models read).
    lead : pandas.DataFrame
        Lead-eQTL table (:data:`ps2f.evaluation.eqtl.LEAD_EQTL_COLUMNS`): ``gene``,
        ``variant_id`` (missing when no variant was testable), ``pos`` (0-based bp),
        ``p_bonferroni``. Genes absent from it count as having no lead eQTL.
    windows_bp : mapping of str to int
        Window length ``L`` in bp of each sequence model, e.g. ``{"p_model": 4096, "r_model":
        4096, "enformer": 196608}``.
    eqtl_alpha : float, default 0.05
        eGene threshold on ``p_bonferroni``, in (0, 1).
    elastic_net_weights, elastic_net_covariances : pandas.DataFrame, optional
        The ElasticNet's PredictDB ``weights`` and covariance rows (see
        :func:`elastic_net_window_shares`); without them the ElasticNet columns are NA.
    source : str
        Named in messages about the ElasticNet files.
    log : logging.Logger, optional
        Where problems are reported; default this module's logger.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COVERAGE_COLUMNS`, one row per (model, gene), models in ``windows_bp``
        order, genes in table order: ``window_bp`` (int64), ``s2f`` (bool),
        ``lead_variant_id`` (str; missing without a lead), ``lead_eqtl_tss_offset_bp`` (float64 bp; NaN
        without a lead), ``lead_eqtl_in_window`` (pandas ``boolean``; NA without a lead),
        ``egene`` (bool), ``elastic_net_n_variants``, ``elastic_net_n_in_window`` (Int64; NA
        without ElasticNet tables), ``elastic_net_share_in_window`` (float64).

    Raises
    ------
    ValueError
        An argument is out of range, a window length is not positive, a gene repeats in
        ``lead``, or the ElasticNet tables do not match (see
        :func:`elastic_net_window_shares`).
    """
    if not 0.0 < eqtl_alpha < 1.0:
        raise ValueError(f"eqtl_alpha must be in (0, 1), got {eqtl_alpha}")
    bad = {m: L for m, L in windows_bp.items() if int(L) < 1}
    if bad:
        raise ValueError(f"window lengths must be positive (bp), got {bad}")
    if lead["gene"].duplicated().any():
        gene = lead.loc[lead["gene"].duplicated(), "gene"].iloc[0]
        raise ValueError(f"lead-eQTL table: gene {gene} appears more than once")
    models = list(windows_bp)
    n = len(genes)
    gene_ids = genes["gene"].astype(str).to_numpy()
    tss = genes["tss0"].to_numpy(np.int64)
    strand = genes["strand"].astype(str).to_numpy()
    led = lead.set_index(lead["gene"].astype(str)).reindex(gene_ids)
    has_lead = led["variant_id"].notna().to_numpy()
    pos = np.where(has_lead, led["pos"].fillna(-1).to_numpy(np.float64), 0).astype(np.int64)
    offset = np.where(has_lead, window_offsets(pos, tss, strand), 0).astype(np.float64)
    offset[~has_lead] = np.nan
    egene = (led["p_bonferroni"].to_numpy(np.float64) < eqtl_alpha) & has_lead
    variant = np.where(has_lead, led["variant_id"].astype(object).to_numpy(), None)
    frames = []
    for model in models:
        window = int(windows_bp[model])
        inside = pd.array(_in_windows(pos, tss, strand, window), dtype="boolean")
        inside[~has_lead] = pd.NA
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "window_bp": np.full(n, window, dtype=np.int64),
                    "gene": gene_ids.astype(object),
                    "s2f": genes["s2f"].to_numpy(bool),
                    "lead_variant_id": variant,
                    "lead_eqtl_tss_offset_bp": offset,
                    "lead_eqtl_in_window": inside,
                    "egene": egene,
                }
            )
        )
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    )
    if elastic_net_weights is not None and elastic_net_covariances is not None and models:
        shares = elastic_net_window_shares(
            genes, elastic_net_weights, elastic_net_covariances, windows_bp, source, log
        )
        out = out.merge(shares, on=["model", "gene"], how="left", validate="one_to_one")
        for col in ("elastic_net_n_variants", "elastic_net_n_in_window"):
            out[col] = out[col].astype("Int64")
    else:
        out["elastic_net_n_variants"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["elastic_net_n_in_window"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["elastic_net_share_in_window"] = np.full(len(out), np.nan)
    return out.loc[:, list(COVERAGE_COLUMNS)]


def _sequence_model_keys(metrics: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """(model, cell, gene) of the per-gene ``pearson_r`` rows of the models in ``coverage``."""
    keys = metrics.loc[
        (metrics["metric"] == "pearson_r")
        & (metrics["gene"] != ALL_GENES)
        & metrics["model"].isin(coverage["model"].unique()),
        ["model", "cell", "gene"],
    ]
    return keys.astype(str).drop_duplicates()


def coverage_metrics(metrics: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
    """The coverage of each sequence model's genes as rows of the long metrics table.

    For every per-gene ``pearson_r`` row of a model in ``coverage`` (so in every cell where the
    model predicted the gene), one row per :data:`COVERAGE_METRICS`: ``lead_eqtl_in_window``
    (1.0 inside, 0.0 outside, NaN without a lead eQTL), ``lead_eqtl_tss_offset_bp`` (bp) and
    ``elastic_net_share_in_window`` (in [0, 1] or NaN). They sit beside the model's r, so a
    user can split r by coverage.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table (:data:`ps2f.schema.METRIC_COLUMNS`) with per-gene ``pearson_r`` rows.
    coverage : pandas.DataFrame
        Window-coverage table (:data:`COVERAGE_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ps2f.schema.METRIC_COLUMNS`; keys sorted by model, cell, gene. Empty
        when no model of ``coverage`` has per-gene rows.
    """
    keys = _sequence_model_keys(metrics, coverage)
    if keys.empty:
        return empty_metrics()
    keys = sort_keys(keys, ["model", "cell", "gene"]).reset_index(drop=True)
    cov = coverage.astype({"model": str, "gene": str}).set_index(["model", "gene"])
    idx = pd.MultiIndex.from_frame(keys[["model", "gene"]])
    aligned = cov.reindex(idx)
    wide = {
        "lead_eqtl_in_window": aligned["lead_eqtl_in_window"]
        .astype("Float64")
        .to_numpy(np.float64, na_value=np.nan),
        "lead_eqtl_tss_offset_bp": aligned["lead_eqtl_tss_offset_bp"].to_numpy(np.float64),
        "elastic_net_share_in_window": aligned["elastic_net_share_in_window"].to_numpy(np.float64),
    }
    return long_metrics(keys, wide, COVERAGE_METRICS)


def summarize_coverage(
    metrics: pd.DataFrame,
    coverage: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Summary rows of window coverage per (sequence model, cell), with bootstrap CIs.

    Over the genes with a per-gene ``pearson_r`` row of the model in the cell (defined or not:
    coverage does not depend on the fit):

    ``window_bp``
        The model's window length in bp (no CI).
    ``median_elastic_net_share_in_window``
        Median ``elastic_net_share_in_window`` over the genes where it is defined.
    ``frac_lead_eqtl_in_window``
        Fraction of the genes with a lead eQTL whose lead eQTL is inside the window.
    ``frac_egenes_lead_eqtl_in_window``
        The same among eGenes (``p_bonferroni < evaluate.eqtl_alpha``): the genes with a cis
        signal a linear model can find.

    CIs are percentile bootstrap intervals over the genes each statistic is computed on
    (:func:`ps2f.evaluation.resampling.bootstrap`, one seeded generator per (model, cell,
    statistic)), as :func:`ps2f.evaluation.summarize`.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Metrics table with per-gene ``pearson_r`` rows (:data:`ps2f.schema.METRIC_COLUMNS`).
    coverage : pandas.DataFrame
        Window-coverage table (:data:`COVERAGE_COLUMNS`).
    n_boot : int, default 1000
        Bootstrap resamples (0: CIs NaN).
    seed : int, default 0
        Seed of the bootstrap generators.
    ci_level : float, default 0.95
        Coverage of the intervals, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ps2f.schema.SUMMARY_COLUMNS`, :data:`COVERAGE_STATISTICS` for each
        (model, cell), sorted by model and cell; estimates NaN with ``n_genes`` 0 where no gene
        qualifies.
    """
    keys = _sequence_model_keys(metrics, coverage)
    cov = coverage.astype({"model": str, "gene": str})
    joined = keys.merge(cov, on=["model", "gene"], how="left")
    rows = []
    for (model, cell), sub in joined.groupby(["model", "cell"], sort=True):
        window = cov.loc[cov["model"] == model, "window_bp"]
        rows.append((model, cell, "window_bp", float(window.iloc[0]), np.nan, np.nan, len(sub)))
        share = sub["elastic_net_share_in_window"].to_numpy(np.float64)
        share = share[np.isfinite(share)]
        inside = sub["lead_eqtl_in_window"].astype("boolean")
        has = inside.notna().to_numpy()
        flags = inside.to_numpy(dtype=np.float64, na_value=np.nan)
        eg = has & sub["egene"].fillna(False).to_numpy(bool)
        for stat, values, reducer in (
            ("median_elastic_net_share_in_window", share, "median"),
            ("frac_lead_eqtl_in_window", flags[has], "mean"),
            ("frac_egenes_lead_eqtl_in_window", flags[eg], "mean"),
        ):
            if values.size == 0:
                rows.append((model, cell, stat, np.nan, np.nan, np.nan, 0))
                continue
            est = float(np.median(values) if reducer == "median" else values.mean())
            boot = None
            if n_boot > 0:
                rng = seeded_rng(seed, model, cell, stat)
                boot = bootstrap({"v": (values, reducer)}, n_boot, rng)["v"]
            lo, hi = percentile_ci(boot, ci_level)
            rows.append((model, cell, stat, est, lo, hi, int(values.size)))
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).astype(
        {"estimate": np.float64, "ci_low": np.float64, "ci_high": np.float64, "n_genes": np.int64}
    )
    if out.empty:
        return out
    return sort_keys(out, ["model", "cell"]).reset_index(drop=True)
