"""Helpers shared by the per-rule functions: logging, atomic writes, loading the phenotype tables."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.errors import InputError, Ps2fError
from ps2f.schema import PREDICTION_COLUMNS, validate_predictions

__all__ = [
    "log",
    "setup_logging",
    "report_input_errors",
    "atomic_path",
    "write_table",
    "read_table",
    "chunk_genes",
    "load_inputs",
    "predictions_frame",
    "s2f_gene_index",
]

log = logging.getLogger("ps2f")


def setup_logging(path: str | None, level: int = logging.INFO) -> None:
    """Send ps2f's log records to ``path`` (the rule's ``log:`` file) and to stderr.

    Also installs :func:`report_input_errors` as the process's ``sys.excepthook``, so a rule
    script that stops on a bad input (:class:`ps2f.errors.Ps2fError`) ends with that one message
    in the rule's log, where Snakemake points the user, instead of a traceback on stderr only.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    sys.excepthook = report_input_errors


def report_input_errors(exc_type, exc, tb) -> None:
    """``sys.excepthook`` of the rule scripts: a ps2f error is logged as its message alone.

    A :class:`ps2f.errors.Ps2fError` is a bad input or config that the message explains (file,
    record, what to do), so its traceback is noise; it is logged at ERROR level (rule log and
    stderr). So is a full disk or quota (``ENOSPC``/``EDQUOT`` anywhere in the exception's
    chain): one line naming the file, the free space left there and what to do. Any other
    exception is a bug and keeps Python's full traceback. The process exits non-zero either
    way, so Snakemake marks the job failed and removes its outputs.
    """
    if issubclass(exc_type, Ps2fError):
        log.error("%s: %s", exc_type.__name__, exc)
        return
    full = _disk_full(exc)
    if full is not None:
        log.error("%s", _disk_full_message(full))
        return
    sys.__excepthook__(exc_type, exc, tb)


#: errno values of a full disk or an exhausted quota
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException | None) -> BaseException | None:
    """The exception in ``exc``'s chain that reports a full disk or quota, else ``None``.

    Libraries report it as ``OSError(ENOSPC)`` (numpy, pandas), as an ``OSError`` without an
    errno but with the C library's text (pyarrow), or wrapped in another exception.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return exc
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _disk_full_message(exc: BaseException) -> str:
    """One line for a full disk: which file, how much space is left where, what to do."""
    import tempfile

    name = getattr(exc, "filename", None)
    places = [Path(name).parent] if name else [Path.cwd(), Path(tempfile.gettempdir())]
    free = []
    for where in places:
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            free.append(f"{shutil.disk_usage(where).free / 2**30:.1f} GiB free in {where}")
        except OSError:
            free.append(f"free space in {where} unknown")
    return (
        f"disk full (or quota exceeded) while writing {name or 'an output or temporary file'} "
        f"({exc}); now {', '.join(free)} ('df -h'). Free space there or move the run's results "
        f"(snakemake --directory) or TMPDIR to a larger disk, then re-run the same command: "
        f"no half-written output is kept (ps2f writes atomically and Snakemake removes a failed "
        f"job's outputs), and finished jobs are not re-run."
    )


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary sibling of ``path``; rename it to ``path`` only if the block succeeds.

    A rule killed mid-write therefore never leaves a file that Snakemake would take as complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{''.join(path.suffixes)}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        full = _disk_full(exc)
        if isinstance(full, OSError) and not full.filename:
            full.filename = str(path)  # named in the message of a full disk
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as parquet, TSV or CSV by the file extension, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (parquet or CSV by extension, else TSV)."""
    path = str(path)
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="," if path.endswith(".csv") else "\t")


def chunk_genes(genes_path: str, gene_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The phenotypes gene table, or only the genes of a chunk (in the table's order).

    Raises
    ------
    ps2f.errors.InputError
        A gene of ``gene_ids`` is not in the gene table (the chunk list is older than the
        table).
    """
    genes = read_table(genes_path)
    if gene_ids is None:
        return genes
    wanted = pd.Index([str(g) for g in gene_ids])
    known = genes["gene"].astype(str)
    missing = wanted.difference(known)
    if len(missing):
        raise InputError(
            f"{genes_path}: genes of this chunk are not in the gene table (e.g. "
            f"{list(missing[:3])}); the chunk list is older than the table: re-run the "
            "workflow (snakemake re-lists the chunks from the current table)"
        )
    return genes.loc[known.isin(wanted).to_numpy()].reset_index(drop=True)


def load_inputs(
    genes_path: str,
    individuals_path: str,
    expression_path: str,
    gene_ids: Sequence[str] | None = None,
):
    """Read the three phenotypes tables and the genes x individuals observed matrix.

    Parameters
    ----------
    genes_path, individuals_path, expression_path : str
        The phenotypes tables.
    gene_ids : sequence of str, optional
        A gene chunk (:func:`ps2f.pipeline.chunks.gene_chunks`): only these genes, in the gene
        table's order; only their expression rows are read from the parquet.

    Returns
    -------
    genes : pandas.DataFrame
    individuals : pandas.DataFrame
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
        Row order = ``genes``, column order = ``individuals``; NaN where absent.

    Raises
    ------
    ps2f.errors.InputError
        A gene of ``gene_ids`` is not in the gene table (the chunk list is older than the
        table).
    """
    genes = chunk_genes(genes_path, gene_ids)
    individuals = read_table(individuals_path)
    if gene_ids is None:
        expr = read_table(expression_path)
    else:
        wanted = [str(g) for g in gene_ids]
        expr = pd.read_parquet(expression_path, filters=[("gene", "in", wanted)])
    wide = expr.pivot(index="gene", columns="individual", values="observed")
    observed = wide.reindex(index=genes["gene"], columns=individuals["individual"]).to_numpy(
        np.float64
    )
    return genes, individuals, observed


def predictions_frame(
    model: str,
    genes: pd.DataFrame,
    individuals: pd.DataFrame,
    gene_index: np.ndarray,
    individual_index: np.ndarray,
    observed: np.ndarray,
    predicted: np.ndarray,
) -> pd.DataFrame:
    """Assemble a predictions table (:data:`ps2f.schema.PREDICTION_COLUMNS`) for one model.

    Parameters
    ----------
    model : str
    genes, individuals : pandas.DataFrame
        Phenotypes tables (``gene``, ``gene_set``; ``individual``, ``individual_set``).
    gene_index, individual_index : numpy.ndarray, shape (B,), int
        Row positions into ``genes`` and ``individuals``.
    observed : numpy.ndarray, shape (n_genes, n_individuals), float64
    predicted : numpy.ndarray, shape (B,), float64

    Returns
    -------
    pandas.DataFrame
        Without the pairs whose ``observed`` is NaN: an external cohort's individuals for a
        gene it does not measure (:func:`ps2f.phenotypes.external_phenotypes`).
    """
    keep = ~np.isnan(observed[gene_index, individual_index])
    if not keep.all():
        gene_index, individual_index = gene_index[keep], individual_index[keep]
        predicted = np.asarray(predicted, dtype=np.float64)[keep]
    df = pd.DataFrame(
        {
            "model": model,
            "gene": genes["gene"].to_numpy()[gene_index],
            "individual": individuals["individual"].to_numpy()[individual_index],
            "gene_set": genes["gene_set"].to_numpy()[gene_index],
            "individual_set": individuals["individual_set"].to_numpy()[individual_index],
            "observed": observed[gene_index, individual_index],
            "predicted": np.asarray(predicted, dtype=np.float64),
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return validate_predictions(df, f"{model} predictions")


def s2f_gene_index(genes: pd.DataFrame) -> np.ndarray:
    """Rows of the phenotypes gene table that sequence models use (column ``s2f``).

    Returns
    -------
    numpy.ndarray, shape (n,), int64

    Raises
    ------
    ps2f.errors.InputError
        No gene is usable by sequence models.
    """
    idx = np.flatnonzero(genes["s2f"].to_numpy().astype(bool))
    if not len(idx):
        raise InputError(
            "no gene is usable by sequence models (genes table column 's2f'); check "
            "annotation.usable_column and genes.max_s2f_genes in the config"
        )
    return idx
