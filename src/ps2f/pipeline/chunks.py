"""Gene chunks: the per-gene stages run as one job per chunk, then gathered into one table.

Every per-gene stage (ElasticNet, p-model prediction, r-model reference scoring, each external
scorer) runs as one job per *gene chunk*: at most ``chunks.genes_per_chunk`` consecutive genes
of the phenotypes gene table (sorted by contig, TSS and gene), never two contigs in one chunk,
so a job opens only its contig's variant store. The light stages (RandomForest, lead eQTL,
cis-heritability, per-gene metrics: a fraction of a CPU-second per gene) run one job per
*light chunk* of ``chunks.light_stage_chunks`` consecutive gene chunks of one contig
(:func:`light_chunks`). A gather step per stage writes the tables an unchunked run writes, row for row: chunks
follow the gene table's order, and no per-gene result depends on which other genes share its
job (every per-gene random stream is seeded by the gene or by its model and cell, never by a
position in the job). What depends on all genes together is done at the gather: the
Benjamini-Hochberg q-values of the PredictDB ``extra`` table and the filtered ``.db``.

The chunk list is known once the phenotypes rule has written the gene table (the workflow's
``phenotypes`` rule is a Snakemake checkpoint), so the DAG has ``genes / genes_per_chunk`` jobs
per heavy stage and ``light_stage_chunks`` times fewer per light stage, never a job per gene or
per individual.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ps2f.pipeline.common import atomic_path, log, read_table, write_table

__all__ = [
    "gene_chunks",
    "light_chunks",
    "chunk_contig",
    "gather_tables",
    "gather_predictions",
    "gather_covariances",
    "run_gather_predictdb",
]


def gene_chunks(genes: pd.DataFrame, genes_per_chunk: int) -> dict[str, list[str]]:
    """Split the phenotypes gene table into chunks of consecutive genes of one contig.

    Each contig's genes (in table order: the phenotypes rule sorts by contig, TSS and gene) are
    cut into ``ceil(n / genes_per_chunk)`` chunks of near-equal size (sizes differ by at most
    one; ``numpy.array_split``), named ``<contig>.<k>`` with ``k`` zero-padded to 4 digits.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table (columns ``gene`` and ``chrom``).
    genes_per_chunk : int
        Config ``chunks.genes_per_chunk``: the most genes in one job (>= 1).

    Returns
    -------
    dict of str to list of str
        Chunk ID -> its gene IDs, chunks in gene-table order.

    Raises
    ------
    ValueError
        ``genes_per_chunk < 1``, or a contig's genes are not contiguous in the table (the
        chunks would not follow the table's order).
    """
    if genes_per_chunk < 1:
        raise ValueError(f"chunks.genes_per_chunk must be >= 1, got {genes_per_chunk}")
    chrom = genes["chrom"].astype(str).to_numpy()
    ids = genes["gene"].astype(str).to_numpy()
    chunks: dict[str, list[str]] = {}
    seen: set[str] = set()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]]) if len(chrom) else []
    bounds = list(starts) + [len(chrom)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        contig = chrom[a]
        if contig in seen:
            raise ValueError(
                f"gene table: the genes of contig {contig} are not contiguous; the phenotypes "
                "rule writes them sorted by contig and TSS: re-run it"
            )
        seen.add(contig)
        n_chunks = -(-(b - a) // genes_per_chunk)
        for k, part in enumerate(np.array_split(ids[a:b], n_chunks)):
            chunks[f"{contig}.{k:04d}"] = part.tolist()
    return chunks


def light_chunks(chunks: Mapping[str, Sequence[str]], per_job: int) -> dict[str, list[str]]:
    """Group the gene chunks of each contig into the larger chunks of the light stages.

    The light per-gene stages (RandomForest, lead eQTL, cis-heritability, per-gene metrics)
    take a fraction of a CPU-second per gene, so a job of ``genes_per_chunk`` genes is mostly
    start-up and scheduler latency, and its jobs would make most of the DAG. Each of their jobs
    takes ``per_job`` consecutive gene chunks of one contig instead (config
    ``chunks.light_stage_chunks``). A light chunk is named by its first gene chunk, so with
    ``per_job`` 1 the light chunks are the gene chunks, names included.

    Parameters
    ----------
    chunks : mapping of str to sequence of str
        Gene chunks in gene-table order, as :func:`gene_chunks` returns them.
    per_job : int
        Gene chunks per light-stage job (>= 1).

    Returns
    -------
    dict of str to list of str
        Light chunk ID -> the IDs of its gene chunks, in order.

    Raises
    ------
    ValueError
        ``per_job < 1``.
    """
    if per_job < 1:
        raise ValueError(f"chunks.light_stage_chunks must be >= 1, got {per_job}")
    out: dict[str, list[str]] = {}
    contig, n = None, 0
    for chunk in chunks:
        c = chunk_contig(chunk)
        if c != contig:
            contig, n = c, 0
        if n % per_job == 0:
            members = out[chunk] = []
        members.append(chunk)
        n += 1
    return out


def chunk_contig(chunk: str) -> str:
    """The contig of chunk ID ``<contig>.<k>`` (contig names may themselves contain dots)."""
    contig, sep, k = chunk.rpartition(".")
    if not sep or not k.isdigit():
        raise ValueError(f"{chunk!r} is not a chunk ID <contig>.<k>")
    return contig


def gather_tables(paths: Sequence[str], out: str | Sequence[str]) -> pd.DataFrame:
    """Concatenate the chunk tables of one stage, in the given (chunk) order, into ``out``.

    Parameters
    ----------
    paths : sequence of str
        The chunks' tables (parquet, CSV or TSV by extension, as
        :func:`ps2f.pipeline.common.write_table` writes them), in chunk order.
    out : str or sequence of str
        Output path(s); each gets the same table, in its own format.

    Returns
    -------
    pandas.DataFrame
        The gathered table. Empty chunk tables add no rows (their columns still count, so a
        run whose every chunk is empty writes an empty table with the stage's columns).
    """
    frames = [read_table(p) for p in paths]
    nonempty = [f for f in frames if len(f)]
    if nonempty:
        table = pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1 else nonempty[0]
    else:
        table = frames[0] if frames else pd.DataFrame()
    for path in [out] if isinstance(out, str) else out:
        write_table(table, path)
    return table


def gather_predictions(paths: Sequence[str], out: str) -> None:
    """Concatenate one model's chunk predictions, keeping the training record metadata.

    The p- and r-model's predictions carry their model's convergence record as parquet
    metadata (:data:`ps2f.convergence.TRAINING_METADATA_KEY`); every chunk of a model carries
    the same record, which the gathered table keeps.

    Parameters
    ----------
    paths : sequence of str
        The model's chunk predictions (parquet), in chunk order.
    out : str
        The model's predictions table (parquet).

    Raises
    ------
    ValueError
        The chunks carry different training records (written by different models: re-run
        the chunks).
    """
    from ps2f.convergence import read_training_record, write_predictions

    records = [read_training_record(p) for p in paths]
    if any(r != records[0] for r in records[1:]):
        raise ValueError(
            f"{out}: its chunks were predicted by different models (training records differ); "
            "re-run the chunk jobs of this model (snakemake -R with the model's rule)"
        )
    frames = [pd.read_parquet(p) for p in paths]
    nonempty = [f for f in frames if len(f)] or frames[:1]
    table = pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1 else nonempty[0]
    with atomic_path(out) as tmp:
        write_predictions(table, tmp, records[0] if records else None)
    log.info("%s: %d rows from %d chunks", out, len(table), len(paths))


def gather_covariances(paths: Sequence[str], out: str) -> None:
    """Concatenate PredictDB covariance files (``GENE RSID1 RSID2 VALUE``), header once.

    Parameters
    ----------
    paths : sequence of str
        Chunk covariance files (gzipped when ``.gz``), in chunk order.
    out : str
        Output (gzipped when ``.gz``), written atomically.

    Raises
    ------
    ValueError
        A file's header is not PredictDB's.
    """
    header = "GENE RSID1 RSID2 VALUE\n"
    opener = gzip.open if str(out).endswith(".gz") else open
    with atomic_path(out) as tmp, opener(tmp, "wt") as dst:
        dst.write(header)
        for path in paths:
            with (gzip.open if str(path).endswith(".gz") else open)(path, "rt") as src:
                if src.readline() != header:
                    raise ValueError(f"{path}: not a PredictDB covariance file (header)")
                shutil.copyfileobj(src, dst)


def run_gather_predictdb(
    db_paths: Sequence[str],
    covariance_paths: Sequence[str],
    predictdb: Mapping,
    out_db: str,
    out_db_filtered: str,
    out_covariances: str,
) -> None:
    """Rule ``gather_predictdb``: one PredictDB ``.db`` + covariance file from the chunks'.

    As PredictDB-nextflow merges its per-chromosome databases: the ``weights``, ``extra`` and
    ``construction`` rows of every chunk in one database (one ``sample_info`` row, the same in
    every chunk), ``pred.perf.qval`` recomputed over all genes (Benjamini-Hochberg, as
    PredictDB computes it on the whole model set), then PredictDB's published-model filter.

    Parameters
    ----------
    db_paths, covariance_paths : sequence of str
        The chunks' ``.db`` and covariance files, in chunk order.
    predictdb : mapping
        Config ``baselines.predictdb`` keys ``max_pval`` and ``min_rho`` (the filter).
    out_db, out_db_filtered, out_covariances : str
        The merged database, the filtered one, the merged covariance file.
    """
    from ps2f.io.predictdb import (
        bh_qvalues,
        filter_models,
        read_predictdb_tables,
        write_predictdb,
    )

    tables = [read_predictdb_tables(p) for p in db_paths]
    info = {
        (int(t["sample_info"]["n_samples"].iloc[0]), str(t["sample_info"]["population"].iloc[0]))
        for t in tables
    }
    if len(info) != 1:
        raise ValueError(
            f"{out_db}: the chunk databases disagree on sample_info ({sorted(info)}); re-run "
            "the elastic_net chunk jobs"
        )
    (n_samples, population), = info

    def cat(name: str) -> pd.DataFrame:
        frames = [t[name] for t in tables if len(t[name])] or [tables[0][name]]
        return pd.concat(frames, ignore_index=True)

    weights, extra = cat("weights"), cat("extra")
    extra["pred.perf.qval"] = bh_qvalues(extra["pred.perf.pval"].to_numpy(np.float64))
    construction = (
        cat("construction").drop_duplicates().sort_values("chromosome").reset_index(drop=True)
    )
    write_predictdb(out_db, weights, extra, n_samples, population, construction)
    fw, fe = filter_models(weights, extra, predictdb["max_pval"], predictdb["min_rho"])
    write_predictdb(out_db_filtered, fw, fe, n_samples, population, construction)
    gather_covariances(covariance_paths, out_covariances)
    log.info(
        "PredictDB: %d genes (%d weights) from %d chunks in %s; %d genes pass pval < %g and "
        "rho_avg > %g",
        len(extra),
        len(weights),
        len(db_paths),
        out_db,
        len(fe),
        predictdb["max_pval"],
        predictdb["min_rho"],
    )
