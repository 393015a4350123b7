"""Rules ``train_p``, ``train_r``, ``predict_p`` and ``score_reference``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ps2f.convergence import status_label, write_predictions
from ps2f.errors import InputError

__all__ = ["s2f_builder", "run_train", "run_predict"]
from ps2f.pipeline.common import (
    atomic_path,
    load_inputs,
    log,
    predictions_frame,
    s2f_gene_index,
    write_table,
)


def _passive_openmp() -> None:
    """Make idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), unless set.

    Must run before torch is imported to take effect. On a shared CPU machine, spinning
    OpenMP workers of a 2-thread torch process measured 7-10x slower training steps than one
    thread (wall and CPU time); with passive waiting two threads cost the same CPU time per
    item as one. GPU runs are unaffected.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def s2f_builder(
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    reference: str,
    store_paths: Sequence[str],
    window_bp: int,
    contig_aliases: Mapping[str, str] | None,
):
    """The haplotype builder of the sequence-model genes, and their rows in ``genes``.

    Parameters
    ----------
    genes, individuals : pandas.DataFrame
        The phenotypes tables.
    reference : str
        FASTA path.
    store_paths : sequence of str
        Variant stores, one per contig (:func:`ps2f.genome.store.load_stores`).
    window_bp : int
        Sequence window length in bp.
    contig_aliases : mapping of str to str or None
        Config ``contig_aliases``.

    Returns
    -------
    builder : ps2f.genome.haplotypes.HaplotypeBuilder
        Over the genes with ``s2f`` true, in table order.
    s2f_idx : numpy.ndarray, shape (n,), int64
        Their rows in ``genes``.

    Raises
    ------
    ps2f.errors.InputError
        No gene is usable by sequence models.
    """
    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.genome.store import load_stores
    from ps2f.io.fasta import Reference

    s2f_idx = s2f_gene_index(genes)
    stores = load_stores(store_paths)
    builder = HaplotypeBuilder(
        Reference(reference, contig_aliases),
        stores,
        genes.iloc[s2f_idx].reset_index(drop=True),
        individuals["individual"].tolist(),
        window_bp,
    )
    return builder, s2f_idx


def _configs(s2f: Mapping, threads: int):
    """CNN and training settings from the ``s2f`` keys ``window_bp``, ``model`` and ``train``.

    ``train.num_workers`` null is resolved for the device; ``train.init_from_r_model``, if
    present, is skipped (it decides the rule's ``init`` input, not a training setting).
    """
    from ps2f.models.config import CNNConfig
    from ps2f.training import TrainConfig, resolve_device

    cnn = CNNConfig.from_workflow(s2f)
    values = {k: v for k, v in s2f["train"].items() if k not in ("init_from_r_model",)}
    if values["num_workers"] is None:  # the rule's threads on CUDA; on CPU the model needs them
        cuda = resolve_device(values["device"]).type == "cuda"
        values["num_workers"] = max(1, int(threads)) if cuda else 0
    return cnn, TrainConfig(**values).validate()


class _Tee:
    """A text stream writing to several streams (the progress bar: stderr and the rule's log)."""

    def __init__(self, *streams) -> None:
        self.streams = [s for s in streams if s is not None]

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()

    def isatty(self) -> bool:
        return False


def _progress_stream():
    """Standard error plus the stream of the log file set up by :func:`ps2f.pipeline.setup_logging`."""
    import logging
    import sys

    files = [
        h.stream
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and getattr(h, "stream", None) is not None
    ]
    return _Tee(sys.stderr, *files[:1])


def run_train(
    kind: str,
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    reference: str,
    store_paths: Sequence[str],
    s2f: Mapping,
    split: Mapping,
    contig_aliases: Mapping,
    threads: int,
    out_model: str,
    out_history: str,
    init_model: str | None = None,
    progress: bool = True,
) -> None:
    """Rules ``train_p`` / ``train_r``: fit a sequence model on the fit part of the training data.

    The training genes and individuals of the phenotypes tables are split once more into fit
    and validation parts (:func:`ps2f.training.validation_split`, settings in ``split``); the
    validation part only chooses the epoch (early stopping, kept weights). Held-out genes and
    individuals are not read. A resume checkpoint is kept beside ``out_model``
    (:func:`ps2f.training.checkpoint_path_for`: ``p_model.pt`` -> ``p_model.ckpt``) while
    training runs, so a re-run after a kill resumes; it is deleted once ``out_model`` is
    written.

    Parameters
    ----------
    kind : {"p", "r"}
        ``p``: personal haplotypes -> gene mean + deviation (SAGE-net p-model); ``r``: reference
        sequence -> gene mean (SAGE-net r-model).
    genes_path, individuals_path, expression_path : str
        The phenotypes tables.
    reference : str
        FASTA path.
    store_paths : sequence of str
        Variant stores (one ``<contig>.npz`` per contig).
    s2f : mapping
        Config ``s2f`` keys ``window_bp``, ``model`` and ``train`` (every key but
        ``init_from_r_model``, given as ``init_model`` instead), and for ``kind="r"``
        ``r_model_epochs`` (null = ``train.epochs``).
    split : mapping
        Config ``split`` keys ``validation_gene_fraction``, ``validation_individual_fraction``,
        ``validation_chromosomes`` and ``seed``.
    contig_aliases : mapping
        Config ``contig_aliases``.
    threads : int
        Torch intra-op threads; also the DataLoader workers on CUDA when
        ``s2f.train.num_workers`` is null.
    out_model, out_history : str
        The model (``.pt``, with its convergence record, :mod:`ps2f.convergence`) and the
        per-epoch history (TSV; the last row's ``stopped_by`` says why training stopped).
    init_model : str, optional
        A trained r-model (``r_model.pt``) initialising the p-model's trunk and mean head
        (``s2f.train.init_from_r_model``).
    progress : bool
        Show a tqdm bar per epoch on stderr and in the log.

    Raises
    ------
    ps2f.errors.InputError
        No sequence-model gene, or no training gene among them.
    ps2f.errors.ConfigError
        The validation split leaves no fit gene or individual; or the GPU ran out of memory
        (the message names ``s2f.train.batch_size``).
    """
    _passive_openmp()
    import torch

    from ps2f.training import (
        checkpoint_path_for,
        load_model,
        resolve_device,
        save_model,
        train_p_model,
        train_r_model,
        validation_split,
    )

    if kind not in ("p", "r"):
        raise ValueError(f"kind must be 'p' or 'r', got {kind!r}")
    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(genes_path, individuals_path, expression_path)
    builder, s2f_idx = s2f_builder(
        genes, individuals, reference, store_paths, s2f["window_bp"], contig_aliases
    )
    cnn, train = _configs(s2f, threads)
    s2f_genes = genes.iloc[s2f_idx].reset_index(drop=True)
    if not (s2f_genes["gene_set"] == "train").any():
        raise InputError(
            "no training gene among the sequence-model genes; lower split.heldout_gene_fraction "
            "or change split.heldout_chromosomes"
        )
    parts = validation_split(
        s2f_genes,
        individuals,
        split["validation_gene_fraction"],
        split["validation_individual_fraction"],
        split["seed"],
        split["validation_chromosomes"],
    )
    log.info(
        "%s-model split: %d fit + %d validation genes (%d held out), %d fit + %d validation "
        "individuals (%d held out); validation genes e.g. %s",
        kind,
        len(parts.fit_genes),
        len(parts.validation_genes),
        len(parts.heldout_genes),
        len(parts.fit_individuals),
        len(parts.validation_individuals),
        len(parts.heldout_individuals),
        s2f_genes["gene"].to_numpy()[parts.validation_genes[:3]].tolist(),
    )
    obs = observed[s2f_idx]
    checkpoint = checkpoint_path_for(out_model)
    stream = _progress_stream() if progress else False
    if kind == "p":

        def grid(g: np.ndarray, i: np.ndarray) -> pd.DataFrame:
            gi, ii = np.repeat(g, len(i)), np.tile(i, len(g))
            df = pd.DataFrame({"gene_index": gi, "individual_index": ii, "observed": obs[gi, ii]})
            return df.loc[np.isfinite(df["observed"])].reset_index(drop=True)

        items = grid(parts.fit_genes, parts.fit_individuals)
        scored = np.concatenate([parts.fit_genes, parts.validation_genes])
        validation = grid(scored, parts.validation_individuals)
        validation["validation_gene"] = np.isin(validation["gene_index"], parts.validation_genes)
        log.info(
            "p-model: %d fit items, %d validation items (validation individuals x all %d "
            "training genes)",
            len(items),
            len(validation),
            len(scored),
        )
        init = None
        if init_model:
            init = load_model(init_model, map_location=resolve_device(train.device))
        model = train_p_model(
            builder,
            items,
            cnn,
            train,
            log=log,
            validation_items=validation,
            init_from=init,
            checkpoint=checkpoint,
            progress=stream,
        )
    else:
        if s2f["r_model_epochs"]:
            train = dataclasses.replace(train, epochs=int(s2f["r_model_epochs"]))
        fit_obs = obs[:, parts.fit_individuals]

        def means(g: np.ndarray) -> pd.DataFrame:
            with np.errstate(all="ignore"):
                m = np.nanmean(fit_obs[g], axis=1) if len(g) else np.zeros(0)
            df = pd.DataFrame({"gene_index": g, "mean_observed": m})
            return df.loc[np.isfinite(df["mean_observed"])].reset_index(drop=True)

        table = means(parts.fit_genes)
        log.info(
            "r-model: %d fit genes, %d validation genes", len(table), len(parts.validation_genes)
        )
        model = train_r_model(
            builder,
            table,
            cnn,
            train,
            log=log,
            validation_genes=means(parts.validation_genes),
            checkpoint=checkpoint,
            progress=stream,
        )
    with atomic_path(out_model) as tmp:
        save_model(model, tmp)
    write_table(pd.DataFrame(model.history), out_history)
    checkpoint.unlink(missing_ok=True)
    log.info(
        "%s-model written to %s (epoch %s of %s kept; stopped by %s: %s)",
        kind,
        out_model,
        model.best_epoch,
        model.convergence["epochs_run"],
        model.convergence["stopped_by"],
        status_label(model.convergence["stopped_by"]),
    )


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
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rules ``predict_p`` / ``score_reference``: predict every sequence-model gene x individual.

    Parameters
    ----------
    mode : {"p", "reference_scoring"}
        ``p``: the p-model's mean + deviation from both haplotypes; ``reference_scoring``: the
        r-model scores each haplotype and the two scores are averaged.
    genes_path, individuals_path, expression_path, reference, store_paths
        As :func:`run_train`.
    model_path : str
        The trained model (``.pt``).
    s2f : mapping
        Config ``s2f`` keys ``window_bp``, ``predict_batch_size`` and ``train.device``.
    contig_aliases : mapping
        Config ``contig_aliases``.
    threads : int
        Torch intra-op threads.
    out_predictions : str
        Predictions table (parquet, :data:`ps2f.schema.PREDICTION_COLUMNS`), with the model's
        convergence record as file-level metadata
        (:data:`ps2f.convergence.TRAINING_METADATA_KEY`; none for a model saved without one).
    gene_ids : sequence of str, optional
        A gene chunk (:mod:`ps2f.pipeline.chunks`): predict these genes only; a chunk without a
        sequence-model gene writes an empty table (with the model's training record).

    Raises
    ------
    ps2f.errors.InputError
        No sequence-model gene, or the model was trained on another window length.
    ps2f.errors.ConfigError
        The GPU ran out of memory: the message names ``s2f.predict_batch_size``.
    """
    _passive_openmp()
    import torch

    from ps2f.training import load_model, predict_individuals, resolve_device

    torch.set_num_threads(max(1, int(threads)))
    genes, individuals, observed = load_inputs(
        genes_path, individuals_path, expression_path, gene_ids
    )
    model = load_model(model_path, map_location=resolve_device(s2f["train"]["device"]))
    name = "p_model" if mode == "p" else "r_model"
    if gene_ids is not None and not genes["s2f"].astype(bool).any():
        log.info("%s: no sequence-model gene in this chunk of %d genes", name, len(genes))
        empty = np.zeros(0, np.int64)
        frame = predictions_frame(name, genes, individuals, empty, empty, observed, np.zeros(0))
        with atomic_path(out_predictions) as tmp:
            write_predictions(frame, tmp, model.convergence)
        return
    builder, s2f_idx = s2f_builder(
        genes, individuals, reference, store_paths, s2f["window_bp"], contig_aliases
    )
    if model.config.window_bp != s2f["window_bp"]:
        raise InputError(
            f"{model_path}: the model was trained on {model.config.window_bp}-bp windows but "
            f"s2f.window_bp is {s2f['window_bp']}; re-run its training rule"
        )
    n_ind = len(individuals)
    gi = np.repeat(np.arange(len(s2f_idx)), n_ind)
    ii = np.tile(np.arange(n_ind), len(s2f_idx))
    pred = predict_individuals(
        model,
        builder,
        gi,
        ii,
        s2f["predict_batch_size"],
        mode,
        batch_size_key="s2f.predict_batch_size",
    )
    frame = predictions_frame(name, genes, individuals, s2f_idx[gi], ii, observed, pred)
    with atomic_path(out_predictions) as tmp:
        write_predictions(frame, tmp, model.convergence)
    log.info(
        "%s predictions written to %s; training: %s",
        name,
        out_predictions,
        status_label(model.convergence["stopped_by"]) if model.convergence else "no record",
    )
