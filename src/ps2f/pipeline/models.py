"""Rules ``train_p``, ``train_r``, ``predict_p`` and ``score_reference``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError
from ps2f.pipeline.common import atomic_path, load_inputs, log, predictions_frame, write_table


def _s2f_builder(genes, individuals, reference, store_paths, window_bp, contig_aliases):
    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.genome.store import VariantStore
    from ps2f.io.fasta import Reference

    s2f_idx = np.flatnonzero(genes["s2f"].to_numpy())
    if len(s2f_idx) == 0:
        raise InputError(
            "no gene is usable by sequence models (genes table column 's2f'); check "
            "annotation.usable_column and genes.max_s2f_genes in the config"
        )
    stores = {Path(p).stem: VariantStore.load(p) for p in store_paths}
    builder = HaplotypeBuilder(
        Reference(reference, contig_aliases),
        stores,
        genes.iloc[s2f_idx].reset_index(drop=True),
        individuals["individual"].tolist(),
        window_bp,
    )
    return builder, s2f_idx


def _configs(s2f: Mapping):
    from ps2f.models.cnn import CNNConfig
    from ps2f.training.loop import TrainConfig

    cnn = CNNConfig(window_bp=s2f["window_bp"], **s2f["model"]).validate()
    train = TrainConfig(**s2f["train"]).validate()
    return cnn, train


def run_train(
    kind: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    reference: str,
    store_paths: Sequence[str],
    s2f: Mapping,
    contig_aliases: Mapping,
    threads: int,
    out_model: str,
    out_history: str,
) -> None:
    """Rules ``train_p`` / ``train_r``: fit a sequence model on training genes x training individuals.

    Parameters
    ----------
    kind : {"p", "r"}
        ``p``: personal haplotypes -> gene mean + deviation (SAGE-net p-model); ``r``: reference
        sequence -> gene mean (SAGE-net r-model).
    """
    import torch

    from ps2f.training.loop import save_model, train_p_model, train_r_model

    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    builder, s2f_idx = _s2f_builder(
        genes, individuals, reference, store_paths, s2f["window_bp"], contig_aliases
    )
    cnn, train = _configs(s2f)
    train_genes = np.flatnonzero(genes["gene_set"].to_numpy()[s2f_idx] == "train")
    train_inds = np.flatnonzero((individuals["individual_set"] == "train").to_numpy())
    if len(train_genes) == 0:
        raise InputError(
            "no training gene among the sequence-model genes; lower split.heldout_gene_fraction"
        )
    obs = observed[s2f_idx]
    if kind == "p":
        gi = np.repeat(train_genes, len(train_inds))
        ii = np.tile(train_inds, len(train_genes))
        items = pd.DataFrame({"gene_index": gi, "individual_index": ii, "observed": obs[gi, ii]})
        items = items.loc[np.isfinite(items["observed"])].reset_index(drop=True)
        log.info(
            "p-model: %d genes x %d individuals = %d items",
            len(train_genes),
            len(train_inds),
            len(items),
        )
        model = train_p_model(builder, items, cnn, train, log=log)
    elif kind == "r":
        means = np.nanmean(obs[np.ix_(train_genes, train_inds)], axis=1)
        table = pd.DataFrame({"gene_index": train_genes, "mean_observed": means})
        log.info("r-model: %d training genes", len(table))
        model = train_r_model(builder, table, cnn, train, log=log)
    else:
        raise ValueError(f"kind must be 'p' or 'r', got {kind!r}")
    with atomic_path(out_model) as tmp:
        save_model(model, tmp)
    write_table(pd.DataFrame(model.history), out_history)


def run_predict(
    mode: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    reference: str,
    store_paths: Sequence[str],
    model_path: str,
    s2f: Mapping,
    contig_aliases: Mapping,
    threads: int,
    out_predictions: str,
) -> None:
    """Rules ``predict_p`` / ``score_reference``: predict every sequence-model gene x individual.

    Parameters
    ----------
    mode : {"p", "reference_scoring"}
        ``p``: the p-model's mean + deviation from both haplotypes; ``reference_scoring``: the
        r-model scores each haplotype and the two scores are averaged.
    """
    import torch

    from ps2f.training.loop import load_model, predict_individuals, resolve_device

    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    builder, s2f_idx = _s2f_builder(
        genes, individuals, reference, store_paths, s2f["window_bp"], contig_aliases
    )
    model = load_model(model_path, map_location=resolve_device(s2f["train"]["device"]))
    n_ind = len(individuals)
    gi = np.repeat(np.arange(len(s2f_idx)), n_ind)
    ii = np.tile(np.arange(n_ind), len(s2f_idx))
    pred = predict_individuals(model, builder, gi, ii, s2f["predict_batch_size"], mode)
    name = "p_model" if mode == "p" else "r_model"
    write_table(
        predictions_frame(name, genes, individuals, s2f_idx[gi], ii, observed, pred),
        out_predictions,
    )
