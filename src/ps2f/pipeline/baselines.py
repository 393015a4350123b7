"""Rule ``baselines``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.pipeline.common import load_inputs, log, predictions_frame, write_table


def run_baseline(
    method: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    store_paths: Sequence[str],
    config: Mapping,
    threads: int,
    out_predictions: str,
    out_weights: str,
) -> None:
    """Rule ``baselines``: per-gene ElasticNet or RandomForest on cis-window allele dosages.

    Only training genes are fitted (a genotype model cannot predict a gene whose expression it
    never saw), each on its training individuals, and it predicts every individual.
    """
    from ps2f.baselines.genotype import ElasticNetConfig, RandomForestConfig, fit_genes
    from ps2f.genome.store import VariantStore

    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    stores = {}
    for p in store_paths:
        s = VariantStore.load(p)
        stores[Path(p).stem] = s
    train_mask = (individuals["individual_set"] == "train").to_numpy()
    cis = config["baselines"]["cis_window_bp"]
    fit_idx = np.flatnonzero((genes["gene_set"] == "train").to_numpy())

    def _inputs():
        for g in fit_idx:
            store = stores[genes["chrom"].iloc[g]]
            col = pd.Index(store.samples).get_indexer(individuals["individual"])
            t = int(genes["tss0"].iloc[g])
            rows = store.region(t - cis, t + cis + 1)
            X = store.dosages(rows)[:, col].T.astype(np.float32)
            yield genes["gene"].iloc[g], X, observed[g], train_mask, store.ids[rows]

    section = config["baselines"][method]
    if method == "elastic_net":
        cfg = ElasticNetConfig(**section)
    elif method == "random_forest":
        cfg = RandomForestConfig(**section)
    else:
        raise ValueError(f"unknown baseline {method!r}")
    fits = fit_genes(_inputs(), method, cfg, n_jobs=threads)
    n_ind = len(individuals)
    gi = np.repeat(fit_idx, n_ind)
    ii = np.tile(np.arange(n_ind), len(fit_idx))
    pred = np.concatenate([f.predicted for f in fits]) if fits else np.zeros(0)
    write_table(
        predictions_frame(method, genes, individuals, gi, ii, observed, pred), out_predictions
    )
    rows = []
    for f in fits:
        if f.weights is not None:
            rows += [(f.gene, vid, float(w)) for vid, w in f.weights.items()]
    notes = pd.Series([f.note for f in fits if f.note]).value_counts()
    for note, count in notes.items():
        log.info("%s: %d genes: %s", method, count, note)
    write_table(pd.DataFrame(rows, columns=["gene", "variant_id", "weight"]), out_weights)
