"""Run R glmnet on the same genes and folds as :func:`ps2f.baselines.fit_elastic_net`.

An oracle for ``tests/test_baselines_glmnet.py`` and ``benchmarks/baselines.py``, kept with the
tests (not in the package): it writes each gene's dosage
matrix, response and fold assignments as raw binary files, runs one ``Rscript`` over all of
them, and reads back, per gene, the PredictDB statistics and the selected variants. The R side
follows PredictDB's ``nested_cv_elastic_net_perf`` and final ``cv.glmnet`` (``type.measure =
"mse"``, ``foldid`` given, ``lambda.min``), with glmnet's defaults otherwise
(``standardize = TRUE``, ``thresh = 1e-7``, ``nlambda = 100``). Timings are CPU seconds of the
R process per gene (``proc.time()``: user + system), excluding file reading.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ps2f.baselines.elastic_net import PredictDBFolds
from ps2f.errors import InputError

__all__ = ["R_SCRIPT", "RGlmnetGene", "glmnet_available", "run_r_glmnet"]

R_SCRIPT = r"""
suppressMessages(library(glmnet))
args <- commandArgs(trailingOnly = TRUE)
man <- read.table(args[1], header = TRUE, sep = "\t", stringsAsFactors = FALSE)
alpha <- as.numeric(args[2])
out_genes <- args[3]
out_weights <- args[4]

fold_r <- function(pred, obs) if (sd(pred) != 0) cor(as.numeric(pred), obs) else 0

cat("gene\trho_avg\tcv_rho_avg\tlambda_min\tn_snps_in_model\tcpu_s\telapsed_s\n", file = out_genes)
cat("gene\tcolumn\tweight\n", file = out_weights)
for (g in seq_len(nrow(man))) {
  n <- man$n[g]; p <- man$p[g]; k_out <- man$k_outer[g]
  x <- matrix(as.numeric(readBin(man$x[g], "raw", n * p)), nrow = n, ncol = p)
  y <- readBin(man$y[g], "double", n)
  outer <- readBin(man$outer[g], "integer", n)
  inner <- readBin(man$inner[g], "integer", man$n_inner[g])
  final <- readBin(man$final[g], "integer", n)
  t0 <- proc.time()
  r_outer <- rep(NA_real_, k_out)
  off <- 0
  for (k in seq_len(k_out)) {
    tr <- which(outer != k); te <- which(outer == k)
    fid <- inner[off + seq_along(tr)]; off <- off + length(tr)
    pred <- tryCatch({
      fit <- cv.glmnet(x[tr, , drop = FALSE], y[tr], alpha = alpha, foldid = fid,
                       type.measure = "mse")
      predict(fit, x[te, , drop = FALSE], s = "lambda.min")
    }, error = function(e) rep(mean(y[tr]), length(te)))
    r_outer[k] <- fold_r(pred, y[te])
  }
  fit <- cv.glmnet(x, y, alpha = alpha, foldid = final, type.measure = "mse", keep = TRUE)
  best <- which.min(fit$cvm)
  r_cv <- sapply(seq_len(max(final)), function(f) {
    idx <- which(final == f); fold_r(fit$fit.preval[idx, best], y[idx])
  })
  beta <- as.numeric(fit$glmnet.fit$beta[, best])
  tt <- proc.time() - t0
  cpu <- tt[["user.self"]] + tt[["sys.self"]]
  nz <- which(beta != 0)
  cat(sprintf("%s\t%.10g\t%.10g\t%.10g\t%d\t%.6f\t%.6f\n", man$gene[g],
              if (k_out > 0) mean(r_outer) else NA, mean(r_cv), fit$lambda[best], length(nz),
              cpu, tt[["elapsed"]]), file = out_genes, append = TRUE)
  if (length(nz))
    write.table(data.frame(gene = man$gene[g], column = nz - 1, weight = beta[nz]),
                out_weights, sep = "\t", quote = FALSE, row.names = FALSE,
                col.names = FALSE, append = TRUE)
}
"""


@dataclass(frozen=True)
class RGlmnetGene:
    """One gene's inputs for :func:`run_r_glmnet`.

    Attributes
    ----------
    gene : str
    x : numpy.ndarray, shape (n, p), uint8
        Dosages of the fitting individuals (already filtered: R fits every column).
    y : numpy.ndarray, shape (n,), float64
    folds : PredictDBFolds
        From :func:`ps2f.baselines.elastic_net.predictdb_folds` for this gene and ``n``.
    """

    gene: str
    x: np.ndarray
    y: np.ndarray
    folds: PredictDBFolds


def glmnet_available() -> bool:
    """True when ``Rscript`` is on PATH and R's glmnet package loads."""
    if shutil.which("Rscript") is None:
        return False
    proc = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(glmnet))"], capture_output=True, text=True
    )
    return proc.returncode == 0


def run_r_glmnet(
    genes: list[RGlmnetGene], alpha: float = 0.5, workdir: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every gene with R glmnet, PredictDB's protocol, the given folds.

    Parameters
    ----------
    genes : list of RGlmnetGene
    alpha : float
        glmnet's ``alpha``.
    workdir : str or Path, optional
        Where to write the exchange files (default: a temporary directory, removed after).

    Returns
    -------
    per_gene : pandas.DataFrame
        ``gene``, ``rho_avg`` (nested-CV mean fold r; NaN without outer folds), ``cv_rho_avg``
        (mean fold r of the final ``cv.glmnet`` at ``lambda.min``), ``lambda_min``,
        ``n_snps_in_model``, ``cpu_s`` and ``elapsed_s`` (R's time for the gene's fits).
    weights : pandas.DataFrame
        ``gene``, ``column`` (0-based column of ``x``), ``weight`` (per ALT allele).

    Raises
    ------
    InputError
        If R or glmnet is missing, or the R script fails (its stderr is in the message).
    """
    if shutil.which("Rscript") is None:
        raise InputError("Rscript not found: install R and r-cran-glmnet")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        rows = []
        for i, g in enumerate(genes):
            x = np.asarray(g.x)
            if x.dtype != np.uint8:
                raise InputError(f"gene {g.gene}: x must be uint8 dosages, got {x.dtype}")
            n, p = x.shape
            paths = {k: d / f"{i}.{k}" for k in ("x", "y", "outer", "inner", "final")}
            np.asfortranarray(x).T.tofile(paths["x"])  # column-major, as R's matrix()
            np.asarray(g.y, dtype="<f8").tofile(paths["y"])
            np.asarray(g.folds.outer, dtype="<i4").tofile(paths["outer"])
            inner = (
                np.concatenate(g.folds.inner).astype("<i4") if g.folds.inner else np.zeros(0, "<i4")
            )
            inner.tofile(paths["inner"])
            np.asarray(g.folds.final, dtype="<i4").tofile(paths["final"])
            rows.append(
                dict(
                    gene=g.gene,
                    n=n,
                    p=p,
                    k_outer=len(g.folds.inner),
                    n_inner=inner.size,
                    **{k: str(v) for k, v in paths.items()},
                )
            )
        man = d / "manifest.tsv"
        pd.DataFrame(rows).to_csv(man, sep="\t", index=False)
        script = d / "predictdb_glmnet.R"
        script.write_text(R_SCRIPT)
        out_genes, out_weights = d / "genes.tsv", d / "weights.tsv"
        proc = subprocess.run(
            [
                "Rscript",
                str(script),
                str(man),
                repr(float(alpha)),
                str(out_genes),
                str(out_weights),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise InputError(f"R glmnet failed:\n{proc.stderr[-3000:]}")
        per_gene = pd.read_csv(out_genes, sep="\t", dtype={"gene": str})
        weights = pd.read_csv(out_weights, sep="\t", dtype={"gene": str})
    return per_gene, weights
