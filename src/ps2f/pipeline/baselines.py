"""Rules ``elastic_net`` and ``random_forest``: genotype baselines on cis-window dosages."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ps2f.pipeline.common import load_inputs, log, predictions_frame, write_table

__all__ = ["CHUNK_GENES", "baseline_gene_inputs", "run_baseline"]

# genes whose dosages are unpacked together: one (individuals x variants) uint8 matrix per chunk
# of neighbouring genes, sliced per gene (their +-1 Mb windows overlap heavily)
CHUNK_GENES = 16


def baseline_gene_inputs(
    genes: pd.DataFrame,
    gene_index: np.ndarray,
    individuals: pd.DataFrame,
    observed: np.ndarray,
    stores: Mapping,
    baselines_config: Mapping,
    chunk_genes: int = CHUNK_GENES,
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield each gene's ``(gene, dosages, expression, train_mask, store_rows)``.

    Dosages come from one precomputed matrix per chunk of ``chunk_genes`` consecutive genes
    (in table order, i.e. by contig and TSS), so every variant is unpacked once per chunk
    rather than once per gene.

    Parameters
    ----------
    genes : pandas.DataFrame
        Phenotypes gene table (``gene``, ``chrom``, ``tss0``, ``gene_start``, ``gene_end``).
    gene_index : numpy.ndarray, shape (G,), int
        Rows of ``genes`` to yield, in order.
    individuals : pandas.DataFrame
        Phenotypes individuals table (``individual``, ``individual_set``).
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
        Expression (rows = ``genes``), as :func:`ps2f.pipeline.common.load_inputs` returns.
    stores : mapping of str to VariantStore or DosageStore
        Keyed by contig as spelled in ``genes["chrom"]``.
    baselines_config : mapping
        The ``baselines`` config section (``cis_window_bp``, ``cis_window_anchor``,
        ``snvs_only``, ``drop_ambiguous_strand``).
    chunk_genes : int
        Genes per precomputed dosage matrix.

    Yields
    ------
    tuple
        ``gene`` (str), ``dosages`` (n_individuals, n_variants) ALT dosages of the window's
        usable variants (uint8; float32 from a ``DS`` dosage store), ``expression`` (n_individuals,) float64, ``train_mask``
        (n_individuals,) bool, ``store_rows`` (n_variants,) int64 rows of the contig's store.

    Raises
    ------
    KeyError
        If a gene's contig has no store.
    """
    from ps2f.baselines.variant_filters import baseline_variant_mask
    from ps2f.genome.windows import cis_windows

    starts, ends = cis_windows(
        genes, baselines_config["cis_window_bp"], baselines_config["cis_window_anchor"]
    )
    train_mask = (individuals["individual_set"] == "train").to_numpy()
    usable: dict[str, np.ndarray] = {}
    columns: dict[str, np.ndarray] = {}
    gene_index = np.asarray(gene_index, dtype=np.int64)
    for lo in range(0, gene_index.size, chunk_genes):
        by_contig: dict[str, list[int]] = {}
        for g in gene_index[lo : lo + chunk_genes]:
            by_contig.setdefault(str(genes["chrom"].iloc[g]), []).append(int(g))
        for contig, members in by_contig.items():
            store = stores[contig]
            if contig not in usable:
                mask = baseline_variant_mask(
                    store,
                    snvs_only=baselines_config["snvs_only"],
                    drop_ambiguous=baselines_config["drop_ambiguous_strand"],
                )
                usable[contig] = np.flatnonzero(mask)
                col = pd.Index(store.samples).get_indexer(individuals["individual"])
                if (col < 0).any():
                    missing = individuals["individual"].to_numpy()[col < 0][:3]
                    raise KeyError(f"individuals absent from the {contig} variant store: {missing}")
                columns[contig] = col
            rows = usable[contig]
            pos = store.pos[rows]
            a = np.searchsorted(pos, starts[members], side="left")
            b = np.searchsorted(pos, ends[members], side="left")
            first, last = int(a.min()), int(b.max())
            # (individuals, variants) for the whole chunk, C order: one unpack per chunk
            chunk = np.ascontiguousarray(store.dosages(rows[first:last])[:, columns[contig]].T)
            for g, ga, gb in zip(members, a, b, strict=True):
                yield (
                    str(genes["gene"].iloc[g]),
                    chunk[:, ga - first : gb - first],
                    observed[g],
                    train_mask,
                    rows[ga:gb],
                )


def run_baseline(
    method: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    store_paths: Sequence[str],
    baselines: Mapping,
    threads: int,
    out_predictions: str,
    out_summary: str,
    out_db: str | None = None,
    out_db_filtered: str | None = None,
    out_covariances: str | None = None,
    run_name: str | None = None,
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rules ``elastic_net`` / ``random_forest``: per-gene baselines on cis-window dosages.

    Each gene is fitted on its training individuals and every individual is predicted.
    ``baselines.genes: all`` (default) fits held-out genes too: they are held out from the
    sequence models, and a per-gene genotype model, which needs the gene's own expression,
    is the bar there (SAGE-net compares its p-model on test genes with PrediXcan models
    fitted on those genes; Spiro et al. 2026). ``train`` fits training genes only. Genes are
    fitted in parallel (``threads`` joblib workers, one gene per worker at a time).

    Parameters
    ----------
    method : {"elastic_net", "random_forest"}
    genes_path, individuals_path, expression_path : str
        The phenotypes tables.
    store_paths : sequence of str
        One store per contig, named ``<contig>.npz``: the phased variant stores, or the dosage
        stores of ``inputs.dosages`` (:func:`ps2f.genome.store.load_store` opens either).
    baselines : mapping
        Config ``baselines`` keys ``genes``, ``cis_window_bp``, ``cis_window_anchor``,
        ``snvs_only``, ``drop_ambiguous_strand`` and the method's own section (``elastic_net``
        or ``random_forest``); with ``out_db``, also ``predictdb``.
    threads : int
        Parallel workers.
    out_predictions : str
        Predictions table (parquet, :data:`ps2f.schema.PREDICTION_COLUMNS`).
    out_summary : str
        Per-gene TSV: window, variant counts, note, and the method's performance estimates
        (ElasticNet: PredictDB's model summary; RandomForest: out-of-bag r).
    out_db, out_db_filtered, out_covariances : str, optional
        ElasticNet only: PredictDB ``.db`` with every fitted gene, the same filtered as
        PredictDB publishes models (``baselines.predictdb``), and the covariance file.
    run_name : str, optional
        Config ``name``: the PredictDB population when ``baselines.predictdb.population`` is
        empty.
    gene_ids : sequence of str, optional
        A gene chunk (:mod:`ps2f.pipeline.chunks`): fit these genes only. The chunk's ``.db``
        is merged with the others' by :func:`ps2f.pipeline.chunks.run_gather_predictdb`, which
        also writes the filtered ``.db`` (give no ``out_db_filtered`` here).

    Raises
    ------
    ValueError
        Unknown ``method``, or PredictDB files requested with neither a population nor
        ``run_name``.
    """
    from ps2f.baselines import ElasticNetConfig, RandomForestConfig, fit_genes
    from ps2f.genome.store import load_stores
    from ps2f.genome.windows import cis_windows

    genes, individuals, observed = load_inputs(
        genes_path, individuals_path, expression_path, gene_ids
    )
    stores = load_stores(store_paths, phased=False)
    bl = baselines
    if bl["genes"] == "all":
        fit_idx = np.arange(len(genes))
    else:
        fit_idx = np.flatnonzero((genes["gene_set"] == "train").to_numpy())
    section = dict(bl[method])
    if method == "elastic_net":
        cfg = ElasticNetConfig(**section)
    elif method == "random_forest":
        cfg = RandomForestConfig(**section)
    else:
        raise ValueError(f"unknown baseline {method!r}")
    population = None
    if method == "elastic_net" and out_db:
        population = bl["predictdb"]["population"] or run_name
        if not population:
            raise ValueError("PredictDB files need baselines.predictdb.population or run_name")
    inputs = baseline_gene_inputs(genes, fit_idx, individuals, observed, stores, bl)
    log.info(
        "%s: %d genes (%d held-out; baselines.genes: %s), %d individuals (%d training), "
        "window %s +- %d bp, %d workers",
        method,
        fit_idx.size,
        int((genes["gene_set"].to_numpy()[fit_idx] != "train").sum()),
        bl["genes"],
        len(individuals),
        int((individuals["individual_set"] == "train").sum()),
        bl["cis_window_anchor"],
        bl["cis_window_bp"],
        threads,
    )
    t0 = time.perf_counter()
    fits = fit_genes(inputs, method, cfg, n_jobs=threads, log=log, total=int(fit_idx.size))
    wall = time.perf_counter() - t0
    log.info(
        "%s: fitted %d genes in %.1f s wall (%.2f s per gene per worker)",
        method,
        len(fits),
        wall,
        wall * threads / max(len(fits), 1),
    )

    n_ind = len(individuals)
    gi = np.repeat(fit_idx, n_ind)
    ii = np.tile(np.arange(n_ind), len(fit_idx))
    pred = np.concatenate([f.predicted for f in fits]) if fits else np.zeros(0)
    write_table(
        predictions_frame(method, genes, individuals, gi, ii, observed, pred), out_predictions
    )
    starts, ends = cis_windows(genes, bl["cis_window_bp"], bl["cis_window_anchor"])
    summary = pd.DataFrame(
        {
            "gene": [f.gene for f in fits],
            "gene_name": genes["gene_name"].to_numpy()[fit_idx],
            "chrom": genes["chrom"].to_numpy()[fit_idx],
            "window_start": starts[fit_idx],
            "window_end": ends[fit_idx],
            "n_variants_in_window": [f.n_variants_in_window for f in fits],
            "n_variants_used": [f.n_variants_used for f in fits],
            "note": [f.note for f in fits],
        }
    )
    if method == "elastic_net":
        summary["n_variants_in_model"] = [len(f.weights) for f in fits]
        summary["cv_r"] = [f.cv_r for f in fits]
        summary["lambda_min"] = [f.lambda_min for f in fits]
    perf = pd.DataFrame([f.perf for f in fits])
    summary = pd.concat([summary, perf.drop(columns="n_snps_in_window", errors="ignore")], axis=1)
    write_table(summary, out_summary)
    for note, count in pd.Series([f.note for f in fits if f.note]).value_counts().items():
        log.info("%s: %d genes: %s", method, count, note)
    if method == "elastic_net" and len(fits):
        log.info(
            "elastic_net: median nested-CV rho_avg %.3f; %d genes with a model",
            float(np.nanmedian(summary["rho_avg"]))
            if summary["rho_avg"].notna().any()
            else math.nan,
            int((summary["n_variants_in_model"] > 0).sum()),
        )
    if method == "elastic_net" and out_db:
        _write_predictdb_outputs(
            fits,
            genes,
            fit_idx,
            individuals,
            stores,
            cfg,
            bl["predictdb"],
            population,
            out_db,
            out_db_filtered,
            out_covariances,
        )


def _write_predictdb_outputs(
    fits: list,
    genes: pd.DataFrame,
    fit_idx: np.ndarray,
    individuals: pd.DataFrame,
    stores: Mapping,
    cfg,
    pdb: Mapping,
    population: str,
    out_db: str,
    out_db_filtered: str | None,
    out_cov: str | None,
) -> None:
    """The ElasticNet models as PredictDB files (``.db``, filtered ``.db``, covariances).

    ``pdb`` is the config's ``baselines.predictdb``; ``population`` the ``.db``'s
    ``sample_info.population``.
    """
    from ps2f.io.predictdb import (
        EXTRA_PERF_COLUMNS,
        bh_qvalues,
        filter_models,
        predictdb_var_ids,
        write_covariances,
        write_predictdb,
    )

    weight_frames = []
    cov_rows: list[tuple[str, str, str, float]] = []
    for f, g in zip(fits, fit_idx, strict=True):
        if f.weights is None or f.weights.empty:
            continue
        store = stores[str(genes["chrom"].iloc[g])]
        rows = f.weights.index.to_numpy(np.int64)
        ref = [store.allele(int(i), "ref") for i in rows]
        alt = [store.allele(int(i), "alt") for i in rows]
        rsid = store.ids[rows].astype(str)
        weight_frames.append(
            pd.DataFrame(
                {
                    "gene": f.gene,
                    "rsid": rsid,
                    "varID": predictdb_var_ids(
                        str(genes["chrom"].iloc[g]), store.pos[rows], ref, alt, pdb["genome_build"]
                    ),
                    "ref_allele": ref,
                    "eff_allele": alt,
                    "weight": f.weights.to_numpy(np.float64),
                }
            )
        )
        iu, ju = np.triu_indices(len(rows))
        cov = f.covariance
        # the covariance file is keyed like the .db column MetaXcan joins on
        # (--model_db_snp_key): rsid by default, varID with predictdb.variant_key: varID
        key = rsid if pdb["variant_key"] == "rsid" else weight_frames[-1]["varID"].to_numpy()
        cov_rows.extend(
            (f.gene, key[i], key[j], float(cov[i, j])) for i, j in zip(iu, ju, strict=True)
        )
    weights = (
        pd.concat(weight_frames, ignore_index=True)
        if weight_frames
        else pd.DataFrame(columns=["gene", "rsid", "varID", "ref_allele", "eff_allele", "weight"])
    )
    perf = pd.DataFrame([f.perf for f in fits])
    extra = pd.DataFrame(
        {
            "gene": [f.gene for f in fits],
            "genename": genes["gene_name"].to_numpy()[fit_idx],
            "gene_type": genes["gene_type"].to_numpy()[fit_idx] if "gene_type" in genes else "",
            "alpha": cfg.alpha_l1_ratio,
            "n_snps_in_window": [f.n_variants_used for f in fits],
            "n.snps.in.model": [len(f.weights) if f.weights is not None else 0 for f in fits],
            **{c: perf[c].to_numpy() for c in EXTRA_PERF_COLUMNS},
            "pred.perf.R2": perf["rho_avg_squared"].to_numpy(),
            "pred.perf.pval": perf["zscore_pval"].to_numpy(),
        }
    )
    extra["pred.perf.qval"] = bh_qvalues(extra["pred.perf.pval"].to_numpy())
    n_train = int((individuals["individual_set"] == "train").sum())
    construction = pd.DataFrame(
        {"chromosome": sorted(set(genes["chrom"].to_numpy()[fit_idx])), "cv_seed": cfg.seed}
    )
    write_predictdb(out_db, weights, extra, n_train, population, construction)
    if out_db_filtered:
        fw, fe = filter_models(weights, extra, pdb["max_pval"], pdb["min_rho"])
        write_predictdb(out_db_filtered, fw, fe, n_train, population, construction)
    if out_cov:
        write_covariances(out_cov, cov_rows)
    log.info("PredictDB: %d genes (%d weights) in %s", len(extra), len(weights), out_db)
