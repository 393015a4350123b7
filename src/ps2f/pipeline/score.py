"""Rule ``score_external``: one configured scorer (Enformer, AlphaGenome, precomputed table).

Every scorer goes through the same loop (:func:`score_genes`): for sequence scorers, each
sequence-model gene's haplotypes are built for all individuals (in chunks bounded by memory)
and scored; table scorers are asked for every gene x individual at once. The two haplotype
scores of a pair are aggregated (``aggregate``: mean or sum) into the prediction, and the
result is written in the shared predictions schema (:mod:`ps2f.schema`), plus the haplotype
scores themselves (``gene, individual, haplotype, score``: the format a ``precomputed``
scorer imports, so scores made on one machine can be evaluated on another).

Run as ``python -m ps2f.pipeline.score ARGS.json`` this module scores in the current
interpreter: that is how a scorer with a ``python`` key (the AlphaGenome client in its own
virtual environment) runs from a workflow whose rules use the core ``.venv``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError, Ps2fError
from ps2f.pipeline.common import (
    chunk_genes,
    load_inputs,
    log,
    predictions_frame,
    read_table,
    s2f_gene_index,
    setup_logging,
    write_table,
)

__all__ = [
    "HAPLOTYPE_SCORE_COLUMNS",
    "SHARED_HAPLOTYPE_SCORE_COLUMNS",
    "run_predictions_from_haplotype_scores",
    "run_score_external",
    "score_genes",
]

#: Columns of the haplotype-score table (the ``precomputed`` scorer's input format + model).
HAPLOTYPE_SCORE_COLUMNS: tuple[str, ...] = ("model", "gene", "individual", "haplotype", "score")
#: Columns of rule ``score_haplotypes``' shared table (a many-tissue run): the above plus
#: ``track_set``, the track list the score reads (:func:`ps2f.models.scorers.track_set_label`,
#: e.g. ``[0,2]``). A scorer with ``tissue_tracks`` scores each distinct list from one forward
#: pass (:func:`ps2f.models.scorers.configured_track_sets`): one row per (gene, individual,
#: haplotype, track set). Each tissue's ``score_external`` job keeps the rows of its own list
#: and writes the per-tissue table in :data:`HAPLOTYPE_SCORE_COLUMNS`.
SHARED_HAPLOTYPE_SCORE_COLUMNS: tuple[str, ...] = (*HAPLOTYPE_SCORE_COLUMNS, "track_set")
_CHUNK_BYTES = 256 * 2**20  # haplotype codes materialized per scoring call
_LOG_EVERY_S = 30.0


def _check_coverage(stores: Mapping[str, Any], genes: pd.DataFrame, window_bp: int, name: str):
    """Refuse windows reaching past the variants the genotypes step ingested.

    The variant store holds variants only inside the windows it was built for (the
    sequence-model window ``s2f.window_bp`` and the baseline cis-window around each gene); a
    haplotype read beyond them would silently carry the reference there.
    """
    from ps2f.genome.windows import sequence_windows

    starts, ends = sequence_windows(genes["tss0"].to_numpy(), genes["strand"].to_numpy(), window_bp)
    bad = [
        i
        for i, (chrom, a, b) in enumerate(
            zip(genes["chrom"].astype(str), starts, ends, strict=True)
        )
        if chrom in stores and not stores[chrom].covers(int(a), int(b))
    ]
    if bad:
        raise InputError(
            f"scorer {name!r} reads {window_bp}-bp windows, but for {len(bad)} of {len(genes)} "
            f"genes (e.g. {genes['gene'].iloc[bad[0]]}) they reach past the windows whose variants "
            f"the genotypes step stored; variants there would be missing from the haplotypes. "
            f"The workflow's genotypes rule stores the longest window of s2f.window_bp and every "
            f"configured scorer, and re-runs when it changes: re-run it (snakemake -R genotypes) "
            f"if this store was built elsewhere or before the scorer was added"
        )


def _builder(
    genes: pd.DataFrame,
    individuals: Sequence[str],
    reference: str,
    stores: Mapping[str, Any],
    window_bp: int,
    contig_aliases: Mapping[str, str],
    threads: int,
):
    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.io.fasta import Reference

    return HaplotypeBuilder(
        Reference(reference, contig_aliases),
        stores,
        genes.reset_index(drop=True),
        list(individuals),
        window_bp,
        n_threads=max(1, int(threads)),
    )


def score_genes(
    scorer: Any,
    genes: pd.DataFrame,
    individuals: Sequence[str],
    builder: Any = None,
    chunk_bytes: int = _CHUNK_BYTES,
) -> np.ndarray:
    """Score both haplotypes of every gene x individual with one scorer.

    Parameters
    ----------
    scorer : ps2f.models.scorers.Scorer
    genes : pandas.DataFrame
        ``gene`` and ``strand`` (and ``tss0``, handed to the scorer when present); row ``g``
        is gene index ``g`` of ``builder``.
    individuals : sequence of str
        Position ``i`` is individual index ``i`` of ``builder``.
    builder : ps2f.genome.haplotypes.HaplotypeBuilder, optional
        Needed when ``scorer.window_bp`` is not None; its window must equal it.
    chunk_bytes : int
        Upper bound on the haplotype codes built per scoring call (>= one individual).

    Returns
    -------
    numpy.ndarray, shape (n_genes, n_individuals, 2) or (n_genes, n_individuals, 2, S), float64
        NaN where the scorer has no score. ``(..., S)`` for a scorer reading S > 1 track sets
        (``scorer.n_track_sets``; its ``score_haplotypes`` returns ``(B, 2, S)``).

    Raises
    ------
    ValueError
        No builder for a sequence scorer, a window mismatch, or a scorer returning the wrong
        shape.
    ps2f.errors.ConfigError
        The scorer ran out of GPU memory (``torch.cuda.OutOfMemoryError``): the message names
        the scorer's ``batch_size`` key to lower.
    """
    from ps2f.models.scorers import HaplotypeBatch

    ids = np.asarray(individuals, dtype=str)
    gene_ids = genes["gene"].astype(str).to_numpy()
    strands = genes["strand"].astype(str).to_numpy()
    tss0 = genes["tss0"].to_numpy(np.int64) if "tss0" in genes.columns else None
    G, n_ind = len(genes), len(ids)
    n_sets = int(getattr(scorer, "n_track_sets", 1))
    per_pair = (2,) if n_sets == 1 else (2, n_sets)
    out = np.full((G, n_ind, *per_pair), np.nan)
    if scorer.window_bp is None:
        gi, ii = np.repeat(np.arange(G), n_ind), np.tile(np.arange(n_ind), G)
        scores = scorer.score_haplotypes(HaplotypeBatch(gene_ids[gi], ids[ii], strands[gi]))
        if np.shape(scores) != (len(gi), 2):
            raise ValueError(f"scorer {scorer.name!r} returned shape {np.shape(scores)}")
        return np.asarray(scores, dtype=np.float64).reshape(G, n_ind, 2)
    if builder is None:
        raise ValueError(f"scorer {scorer.name!r} reads sequence: give a HaplotypeBuilder")
    if builder.window_bp != scorer.window_bp:
        raise ValueError(
            f"builder windows are {builder.window_bp} bp, scorer {scorer.name!r} takes "
            f"{scorer.window_bp}"
        )
    per_call = max(1, int(chunk_bytes) // (2 * scorer.window_bp))
    t0 = last = time.monotonic()
    for g in range(G):
        for a in range(0, n_ind, per_call):
            idx = np.arange(a, min(a + per_call, n_ind))
            codes = builder.haplotypes(np.full(len(idx), g), idx)
            batch = HaplotypeBatch(
                np.full(len(idx), gene_ids[g]),
                ids[idx],
                np.full(len(idx), strands[g]),
                codes,
                None if tss0 is None else np.full(len(idx), tss0[g]),
            )
            try:
                scores = np.asarray(scorer.score_haplotypes(batch), dtype=np.float64)
            except Exception as err:
                if _is_cuda_oom(err):
                    raise _scorer_out_of_memory(scorer, len(idx), err) from err
                raise
            if scores.shape != (len(idx), *per_pair):
                raise ValueError(
                    f"scorer {scorer.name!r} returned shape {scores.shape}, expected "
                    f"{(len(idx), *per_pair)}"
                )
            out[g, idx] = scores
        now = time.monotonic()
        if now - last > _LOG_EVERY_S or g == G - 1:
            log.info("%s: %d/%d genes scored (%.0f s)", scorer.name, g + 1, G, now - t0)
            last = now
    return out


def _is_cuda_oom(err: BaseException) -> bool:
    """True for ``torch.cuda.OutOfMemoryError`` (without importing torch when nothing did)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(err, torch.cuda.OutOfMemoryError)


def _scorer_out_of_memory(scorer: Any, n_pairs: int, err: BaseException) -> ConfigError:
    """The error raised instead of a scorer's ``torch.cuda.OutOfMemoryError``."""
    batch = getattr(scorer, "batch_size", None)
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(
        f"scorer {scorer.name!r} ran out of GPU memory scoring {n_pairs} individuals' "
        f"haplotypes in batches of {batch if batch is not None else '?'} sequences: lower "
        f"batch_size of the scorer named {scorer.name!r} in the config's scorers: list (e.g. "
        f"halve it) and re-run, or free the GPU (nvidia-smi shows what else holds memory). "
        f"torch: {first}"
    )


def _log_n_content(builder, genes: pd.DataFrame) -> None:
    """Warn about windows that are mostly N (off the contig or outside real sequence)."""
    from ps2f.genome.encoding import N_CODE

    frac = np.array(
        [float((builder.reference(np.array([g]))[0] == N_CODE).mean()) for g in range(len(genes))]
    )
    log.info(
        "reference windows: N fraction median %.3f, max %.3f", float(np.median(frac)), frac.max()
    )
    many = np.flatnonzero(frac > 0.5)
    if len(many):
        log.warning(
            "%d of %d genes have windows more than half N (e.g. %s): their scores see little "
            "sequence",
            len(many),
            len(genes),
            genes["gene"].to_numpy()[many[:3]].tolist(),
        )


def _dispatch(python: str, kwargs: Mapping[str, Any]) -> None:
    """Run :func:`run_score_external` with another interpreter, streaming its log into ours."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(dict(kwargs), fh)
        args_path = fh.name
    cmd = [python, "-m", "ps2f.pipeline.score", args_path]
    log.info("scoring with %s (the scorer's `python`)", python)
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("| %s", line.rstrip())
        rc = proc.wait()
    except OSError as exc:
        raise Ps2fError(
            f"cannot run {python}: {exc}; create it with `make alphagenome-env`"
        ) from exc
    finally:
        Path(args_path).unlink(missing_ok=True)
    if rc != 0:
        raise Ps2fError(f"scoring with {python} failed (exit status {rc}); its log is above")


def run_score_external(
    scorer: Mapping[str, Any],
    genes_path: str,
    individuals_path: str,
    expression_path: str | None,
    reference: str | None,
    store_paths: Sequence[str],
    contig_aliases: Mapping[str, str],
    threads: int,
    out_predictions: str | None,
    out_haplotype_scores: str,
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rule ``score_external``: predictions of one configured scorer (on one gene chunk).

    With ``expression_path`` and ``out_predictions`` None, rule ``score_haplotypes`` of a
    many-tissue run: the haplotype scores only, of every gene and individual of any tissue
    (the union tables of rule ``store_tables``), scored once and read by every tissue's
    ``score_external`` job (:func:`run_predictions_from_haplotype_scores`). That table has
    :data:`SHARED_HAPLOTYPE_SCORE_COLUMNS`: one score per track set of the scorer (its
    ``tracks`` and each distinct ``tissue_tracks`` list, all read from one forward pass).

    Parameters
    ----------
    scorer : mapping
        One entry of the config's ``scorers:`` list (``name``, ``type``, ``aggregate``, and
        the type's keys; see :mod:`ps2f.models.scorers`). With a ``python`` key naming another
        interpreter, scoring runs there (``python -m ps2f.pipeline.score``).
    genes_path, individuals_path : str
        The phenotypes tables (or the union tables of a many-tissue run).
    expression_path : str or None
        The phenotypes expression table; None: haplotype scores only (``out_predictions``
        None too).
    reference : str or None
        FASTA (unused by table scorers).
    store_paths : sequence of str
        Variant stores, one ``<contig>.npz`` per contig (unused by table scorers).
    contig_aliases : mapping
        The config's ``contig_aliases``.
    threads : int
        Haplotype-building threads and torch intra-op threads.
    out_predictions : str or None
        Predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`); None with
        ``expression_path`` None.
    out_haplotype_scores : str
        Haplotype scores (:data:`HAPLOTYPE_SCORE_COLUMNS`; with ``out_predictions`` None,
        :data:`SHARED_HAPLOTYPE_SCORE_COLUMNS`).
    gene_ids : sequence of str, optional
        A gene chunk (:mod:`ps2f.pipeline.chunks`): score these genes only. A chunk with no
        sequence-model gene, or none the scorer has a score for, writes empty tables (the
        gathered table is checked instead).

    Raises
    ------
    ps2f.errors.ConfigError
        Invalid scorer config, missing weights/table/key; or the scorer ran out of GPU memory
        (the message names its ``batch_size``).
    ValueError
        Predictions asked of a scorer with several track sets (``tissue_tracks``: their
        predictions are made per tissue from the shared table).
    ps2f.errors.InputError
        No sequence-model gene (sequence scorers), windows reaching past the variants the
        variant store holds, or the scorer has no score for any pair (e.g. gene or sample IDs
        of a precomputed table match nothing).
    """
    from ps2f.models.scorers import (
        aggregate_haplotypes,
        build_scorer,
        configured_track_sets,
        track_set_label,
    )

    python = scorer.get("python")
    if python and os.path.abspath(python) != os.path.abspath(sys.executable):
        _dispatch(
            python,
            {
                "scorer": {**scorer, "python": None},
                "genes_path": genes_path,
                "individuals_path": individuals_path,
                "expression_path": expression_path,
                "reference": reference,
                "store_paths": list(store_paths),
                "contig_aliases": dict(contig_aliases),
                "threads": threads,
                "out_predictions": out_predictions,
                "out_haplotype_scores": out_haplotype_scores,
                "gene_ids": None if gene_ids is None else list(gene_ids),
            },
        )
        return
    name = scorer["name"]
    labels = [track_set_label(t) for t in configured_track_sets(scorer)]
    if out_predictions is not None and len(labels) > 1:
        raise ValueError(
            f"scorer {name!r} reads {len(labels)} track sets (tissue_tracks): its predictions are "
            f"made per tissue from the shared haplotype scores (rule score_haplotypes)"
        )
    model = build_scorer(scorer, key=f"scorers ({name})")
    log.info("%s", model.describe())
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, int(threads)))
    if (expression_path is None) != (out_predictions is None):
        raise ValueError("expression_path and out_predictions are given together or not at all")
    n_sets = int(getattr(model, "n_track_sets", 1))
    if n_sets != len(labels):
        raise ValueError(f"scorer {name!r} scores {n_sets} track sets, its config {len(labels)}")
    if expression_path is None:
        genes, individuals = chunk_genes(genes_path, gene_ids), read_table(individuals_path)
        observed = None
    else:
        genes, individuals, observed = load_inputs(
            genes_path, individuals_path, expression_path, gene_ids
        )
    ind_ids = individuals["individual"].astype(str).tolist()
    if model.window_bp is None:
        gene_idx = np.arange(len(genes))
        builder = None
    elif gene_ids is not None and not genes["s2f"].astype(bool).any():
        log.info("%s: no sequence-model gene in this chunk of %d genes", name, len(genes))
        if out_predictions is None:
            _write_shared_scores(name, genes, individuals, dict.fromkeys(labels),
                                 out_haplotype_scores)  # fmt: skip
        else:
            _write_scores(name, genes, individuals, observed, None, out_predictions,
                          out_haplotype_scores)  # fmt: skip
        return
    else:
        gene_idx = s2f_gene_index(genes)
        from ps2f.genome.store import load_stores

        stores = load_stores(store_paths)
        _check_coverage(stores, genes.iloc[gene_idx], model.window_bp, name)
        builder = _builder(
            genes.iloc[gene_idx],
            ind_ids,
            reference,
            stores,
            model.window_bp,
            contig_aliases,
            threads,
        )
        _log_n_content(builder, genes.iloc[gene_idx])
    sub = genes.iloc[gene_idx].reset_index(drop=True)
    scores = score_genes(model, sub, ind_ids, builder)  # (G, I, 2) or (G, I, 2, S)
    if scores.ndim == 3:
        scores = scores[..., None]
    G, n_ind = scores.shape[:2]
    gi, ii = np.repeat(np.arange(G), n_ind), np.tile(np.arange(n_ind), G)
    flats = [scores[..., j].reshape(-1, 2) for j in range(len(labels))]
    preds_by_set = [aggregate_haplotypes(f, scorer.get("aggregate", "mean")) for f in flats]
    ok = np.logical_or.reduce([np.isfinite(p) for p in preds_by_set])  # a score in any set
    if not ok.any():
        message = (
            f"scorer {name!r} gave no score for any of the {len(ok)} (gene, individual) pairs "
            f"(genes e.g. {sub['gene'].head(3).tolist()}, individuals e.g. {ind_ids[:3]}); "
            f"{model.describe()}. Check that gene and sample IDs match the expression file."
        )
        if gene_ids is None:
            raise InputError(message)
        log.warning("%s (in this chunk; the gathered table is checked)", message)
    elif not ok.all():
        log.warning(
            "%s: %d of %d pairs have no score and are left out (%d genes, %d individuals with "
            "at least one score)",
            name,
            int((~ok).sum()),
            len(ok),
            len(np.unique(gi[ok])),
            len(np.unique(ii[ok])),
        )
    scored = {}
    for label, flat, pred in zip(labels, flats, preds_by_set, strict=True):
        keep = np.isfinite(pred)
        scored[label] = (gene_idx[gi[keep]], ii[keep], flat[keep], pred[keep])
    if out_predictions is None:
        preds = _write_shared_scores(name, genes, individuals, scored, out_haplotype_scores)
    else:
        preds = _write_scores(name, genes, individuals, observed, scored[labels[0]],
                              out_predictions, out_haplotype_scores)  # fmt: skip
    extra = f"; {len(labels)} track sets {labels} from each forward pass" if len(labels) > 1 else ""
    if hasattr(model, "n_requested"):
        extra += f"; {model.n_cached} sequences from the cache, {model.n_requested} requested"
    if getattr(model, "n_windows", 0):
        extra += (
            f"; {model.n_distinct} distinct of {model.n_windows} haplotype windows scored "
            f"(dedup factor {model.n_distinct / model.n_windows:.3f})"
        )
    log.info(
        "%s: %d %s (%d genes x %d individuals)%s",
        name,
        len(preds),
        "predictions" if out_predictions else "individuals' haplotype scores",
        preds["gene"].nunique(),
        preds["individual"].nunique(),
        extra,
    )


def _haplotype_frame(
    name: str,
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    gene_rows: np.ndarray,
    individual_rows: np.ndarray,
    flat: np.ndarray,
) -> pd.DataFrame:
    """The haplotype-score table (:data:`HAPLOTYPE_SCORE_COLUMNS`) of scored pairs.

    ``gene_rows``, ``individual_rows`` (B,) index the phenotypes tables; ``flat`` (B, 2) holds
    the two haplotype scores of each pair.
    """
    return pd.DataFrame(
        {
            "model": name,
            "gene": np.repeat(genes["gene"].to_numpy()[gene_rows], 2),
            "individual": np.repeat(
                individuals["individual"].astype(str).to_numpy()[individual_rows], 2
            ),
            "haplotype": np.tile(np.array([1, 2], dtype=np.int64), len(gene_rows)),
            "score": np.asarray(flat, dtype=np.float64).reshape(-1),
        },
        columns=list(HAPLOTYPE_SCORE_COLUMNS),
    )


def _write_shared_scores(
    name: str,
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    scored: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None],
    out_haplotype_scores: str,
) -> pd.DataFrame:
    """Write rule ``score_haplotypes``' table (:data:`SHARED_HAPLOTYPE_SCORE_COLUMNS`).

    ``scored`` maps each track-set label to what :func:`_write_scores` takes as ``scored``
    (None: nothing scored). Returns the pairs scored in any set (``gene``, ``individual``).
    """
    frames = []
    empty = np.zeros(0, np.int64)
    for label, one in scored.items():
        gene_rows, individual_rows, flat, _ = one or (empty, empty, np.zeros((0, 2)), None)
        frame = _haplotype_frame(name, genes, individuals, gene_rows, individual_rows, flat)
        frames.append(frame.assign(track_set=label))
    haps = pd.concat(frames, ignore_index=True)[list(SHARED_HAPLOTYPE_SCORE_COLUMNS)]
    write_table(haps, out_haplotype_scores)
    return haps.iloc[::2][["gene", "individual"]].drop_duplicates()


def _write_scores(
    name: str,
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    observed: np.ndarray,
    scored: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    out_predictions: str,
    out_haplotype_scores: str,
) -> pd.DataFrame:
    """Write a scorer's haplotype scores and predictions; ``scored`` None writes empty tables.

    ``scored`` is (gene rows (B,), individual rows (B,) of the phenotypes tables, haplotype
    scores (B, 2), predictions (B,)). Returns the predictions table.
    """
    if scored is None:
        empty = np.zeros(0, np.int64)
        scored = (empty, empty, np.zeros((0, 2)), np.zeros(0))
    gene_rows, individual_rows, flat, pred = scored
    haps = _haplotype_frame(name, genes, individuals, gene_rows, individual_rows, flat)
    write_table(haps, out_haplotype_scores)
    preds = predictions_frame(name, genes, individuals, gene_rows, individual_rows, observed, pred)
    write_table(preds, out_predictions)
    return preds


def run_predictions_from_haplotype_scores(
    scorer: Mapping[str, Any],
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    haplotype_paths: Sequence[str],
    out_predictions: str,
    out_haplotype_scores: str,
    gene_ids: Sequence[str] | None = None,
) -> None:
    """Rule ``score_external`` of a many-tissue run: one tissue's predictions of one scorer.

    The scorer ran once for every tissue (rule ``score_haplotypes``, on the union of the
    tissues' genes and individuals; its haplotype scores depend on the sequence only, not on
    the tissue). This job selects the tissue's pairs from them and writes the same two tables
    as :func:`run_score_external` would for the tissue alone: the sequence-model genes of the
    chunk (every gene of it for a table scorer) x the tissue's individuals, the two haplotype
    scores aggregated as the scorer's ``aggregate`` says; pairs without a score are left out.
    A scorer whose model computes each sequence alone gives the same numbers either way; a
    scorer that batches sequences (torch models) may differ in the last bits, as between two
    batch sizes.

    The tissue's scores are the shared rows whose ``track_set`` is the label
    (:func:`ps2f.models.scorers.track_set_label`) of ``scorer["tracks"]``: the workflow hands
    this job the scorer's config with ``tracks`` set to the tissue's own list (its
    ``tissue_tracks`` entry, else the scorer's ``tracks``). A shared table without a
    ``track_set`` column was written before track sets existed, when the scorer read its
    ``tracks`` only; the workflow re-runs it when ``tissue_tracks`` is set (its params change),
    so such a table is read whole.

    Parameters
    ----------
    scorer : mapping
        The scorer's config (``name``, ``type``, ``aggregate``, and ``tracks``: the tissue's).
    genes_path, individuals_path, expression_path : str
        The tissue's phenotypes tables.
    haplotype_paths : sequence of str
        Haplotype-score tables of rule ``score_haplotypes``
        (:data:`SHARED_HAPLOTYPE_SCORE_COLUMNS`) holding every pair of the chunk (the shared
        chunks its genes fall in).
    out_predictions, out_haplotype_scores : str
        As :func:`run_score_external`'s.
    gene_ids : sequence of str, optional
        The tissue's gene chunk.

    Raises
    ------
    ps2f.errors.InputError
        A chunk gene the shared scores lack for the tissue's track set (the shared tables are
        older than the tissue's phenotypes or tracks), or, for a whole-table run (``gene_ids``
        None), no score for any pair.
    """
    import pyarrow.parquet as pq

    from ps2f.models.scorers import aggregate_haplotypes, tissue_tracks_of, track_set_label

    name = scorer["name"]
    genes, individuals, observed = load_inputs(
        genes_path, individuals_path, expression_path, gene_ids
    )
    if scorer["type"] == "precomputed":
        gene_idx = np.arange(len(genes))
    else:
        gene_idx = s2f_gene_index(genes) if genes["s2f"].astype(bool).any() else np.zeros(0, int)
    ind_ids = individuals["individual"].astype(str).to_numpy()
    want = genes["gene"].astype(str).to_numpy()[gene_idx]
    label = track_set_label(tissue_tracks_of(scorer, None))
    tables = []
    for p in haplotype_paths:
        filters = [("gene", "in", list(want))]
        if "track_set" in pq.read_schema(p).names:
            filters.append(("track_set", "==", label))
        tables.append(pd.read_parquet(p, filters=filters, columns=list(HAPLOTYPE_SCORE_COLUMNS)))
    haps = pd.concat(tables, ignore_index=True) if tables else None
    if len(want) and (haps is None or not set(want) <= set(haps["gene"].astype(str))):
        seen = set() if haps is None else set(haps["gene"].astype(str))
        raise InputError(
            f"{list(haplotype_paths)[:3]}: the shared haplotype scores of scorer {name!r} lack "
            f"genes of this chunk for track set {label} (e.g. {sorted(set(want) - seen)[:3]}); "
            f"they are older than this tissue's phenotypes or tracks: re-run the workflow"
        )
    G, n_ind = len(gene_idx), len(ind_ids)
    flat = np.full((G * n_ind, 2), np.nan)
    if G:
        wide = haps.pivot_table(
            index=["gene", "individual"], columns="haplotype", values="score", aggfunc="first"
        )
        pairs = pd.MultiIndex.from_arrays([np.repeat(want, n_ind), np.tile(ind_ids, G)])
        flat = wide.reindex(index=pairs, columns=[1, 2]).to_numpy(np.float64)
    gi, ii = np.repeat(np.arange(G), n_ind), np.tile(np.arange(n_ind), G)
    pred = aggregate_haplotypes(flat, scorer.get("aggregate", "mean"))
    ok = np.isfinite(pred)
    if G and not ok.any() and gene_ids is None:
        raise InputError(
            f"scorer {name!r} has no shared score for any of the {len(pred)} (gene, individual) "
            f"pairs of this tissue; check that its sample IDs match the expression file"
        )
    if G and not ok.all():
        log.warning("%s: %d of %d pairs have no score and are left out", name,
                    int((~ok).sum()), len(ok))  # fmt: skip
    scored = (gene_idx[gi[ok]], ii[ok], flat[ok], pred[ok]) if G else None
    preds = _write_scores(
        name, genes, individuals, observed, scored, out_predictions, out_haplotype_scores
    )
    log.info(
        "%s: %d predictions (%d genes x %d individuals) from the shared haplotype scores of %d "
        "tables",
        name,
        len(preds),
        preds["gene"].nunique(),
        preds["individual"].nunique(),
        len(haplotype_paths),
    )


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m ps2f.pipeline.score ARGS.json``: keyword arguments of run_score_external."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m ps2f.pipeline.score ARGS.json", file=sys.stderr)
        return 2
    setup_logging(None)
    kwargs = json.loads(Path(argv[0]).read_text())
    try:
        run_score_external(**kwargs)
    except Ps2fError as err:
        log.error("%s: %s", type(err).__name__, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
