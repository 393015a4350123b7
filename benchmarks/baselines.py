"""Benchmark: ps2f's ElasticNet vs R glmnet on PredictDB's protocol, real Geuvadis chr22.

Run from the repository root (needs ../shared/data and, for the R side, ``Rscript`` with the
glmnet package, e.g. Debian ``r-cran-glmnet``; see benchmarks/README.md):

    .venv/bin/python benchmarks/baselines.py [--genes N] [--jobs 2] [--out baselines.tsv]

Data and protocol (PredictDB, ``hakyimlab/PredictDb-nextflow``): all expressed chr22 genes of
the QTLtools BED (590 with annotation), all 358 individuals as the fitting set (PredictDB has no
held-out individuals), log1p RPKM residualized on 3 genotype PCs + 10 expression PCs; per gene
the SNVs in gene body +- 1 Mb (no strand-ambiguous SNVs, MAF >= 0.01); ``cv.glmnet(alpha=0.5,
foldid)`` with lambda.min, nested 5 outer x 10 inner folds for the performance estimate, then
the final 10-fold ``cv.glmnet``: 66 glmnet paths per gene. Both sides get identical inputs and
fold assignments (:func:`ps2f.baselines.elastic_net.predictdb_folds`).

Timed, per gene, excluding data loading:

* ``ours_cpu``: ps2f single process, ``time.process_time`` around each gene's
  :func:`~ps2f.baselines.fit_elastic_net` (one core: BLAS limited to one thread, as in the
  workflow's workers; the inputs come from
  :func:`ps2f.pipeline.baselines.baseline_gene_inputs`, i.e. one precomputed dosage matrix per
  chunk of 16 genes, as the workflow does);
* ``ours_wall_parallel``: the whole set again with :func:`~ps2f.baselines.fit_genes` and
  ``--jobs`` joblib workers (the workflow's setting), wall seconds / genes;
* ``glmnet_cpu``: R's ``proc.time()`` user + system around the same gene's fits (one core,
  glmnet 4.1 as Debian ships it), ``glmnet_wall`` its elapsed time.

CPU time is the comparable per-core number on a shared machine (wall time there depends on what
else runs). Also reported: how close the two fits are (nested-CV ``rho_avg``, the final model's
CV r and selected variants). ``--genes N`` times a random subset (seeded by ``--seed``) and says
which genes it ran. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "geuvadis_chr22_GRCh37_extended"
VCF = DATA / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
FASTA = DATA / "reference/GRCh37_chr22_Npadded_contiguous_plus_EPO_blocks_17399941-51178282.fa.gz"
TSS = DATA / "annotation/gencode.v19.chr22.gene_tss.tsv"
EXPR = DATA / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"
COV = DATA / "expression/qtltools_genes.covariates.pc50.txt.gz"


def load(flank: int, n_genes: int | None, seed: int):
    """Phenotypes (all individuals fitting), the variant store, and each gene's inputs."""
    from ps2f.genome.windows import cis_windows
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf, read_vcf_samples
    from ps2f.phenotypes import PhenotypeConfig, build_phenotypes
    from ps2f.pipeline.baselines import baseline_gene_inputs

    samples = read_vcf_samples(str(VCF))
    ph = build_phenotypes(
        str(EXPR),
        str(TSS),
        samples,
        PhenotypeConfig(heldout_individual_fraction=0.0, n_genotype_pcs=3, n_expression_pcs=10),
        covariates_path=str(COV),
    )
    genes, individuals = ph.genes, ph.individuals
    assert (individuals["individual_set"] == "train").all()
    pick = np.arange(len(genes))
    if n_genes is not None and n_genes < len(genes):
        pick = np.sort(np.random.default_rng(seed).choice(len(genes), n_genes, replace=False))
    t = time.perf_counter()
    store = ingest_vcf(
        str(VCF),
        Reference(str(FASTA)),
        "chr22",
        [(int(a), int(b)) for a, b in zip(*cis_windows(genes.iloc[pick], flank), strict=True)],
        samples=list(individuals["individual"]),
    )
    print(f"variant store: {store.n_variants} SNVs in {time.perf_counter() - t:.1f} s", flush=True)
    wide = ph.expression.pivot(index="gene", columns="individual", values="observed")
    observed = wide.reindex(index=genes["gene"], columns=individuals["individual"]).to_numpy()
    section = {
        "cis_window_bp": flank,
        "cis_window_anchor": "gene_body",
        "snvs_only": True,
        "drop_ambiguous_strand": True,
    }
    inputs = list(
        baseline_gene_inputs(genes, pick, individuals, observed, {"chr22": store}, section)
    )
    return genes.iloc[pick].reset_index(drop=True), inputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genes", type=int, default=None, help="time a random subset of N genes")
    ap.add_argument("--seed", type=int, default=0, help="seed of the --genes subset")
    ap.add_argument("--jobs", type=int, default=2, help="joblib workers of the parallel run")
    ap.add_argument("--flank", type=int, default=1_000_000, help="cis window: gene body +- bp")
    ap.add_argument("--no-glmnet", action="store_true", help="time ps2f only")
    ap.add_argument("--out", default=None, help="per-gene TSV of the timings and fits")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from ps2f.baselines import ElasticNetConfig, fit_elastic_net, fit_genes
    from ps2f.baselines.elastic_net import predictdb_folds
    from ps2f.baselines.gene_fit import prepare_gene

    sys.path.insert(0, str(REPO / "tests"))  # the R glmnet oracle lives with the tests
    from _oracles.rglmnet import RGlmnetGene, glmnet_available, run_r_glmnet

    cfg = ElasticNetConfig()  # PredictDB: alpha 0.5, 10 inner folds, 5 outer folds
    genes, inputs = load(args.flank, args.genes, args.seed)
    print(
        f"{len(inputs)} genes ({'all' if args.genes is None else f'random subset, seed {args.seed}'}"
        f"): {', '.join(genes['gene'].head(12))}{' ...' if len(genes) > 12 else ''}",
        flush=True,
    )
    # numba compiles (or loads its cache) once: not part of any gene's time
    g0 = inputs[0]
    fit_elastic_net(g0[1][:, :50], g0[2], g0[3], g0[4][:50], ElasticNetConfig(n_outer_folds=0))

    rows, r_inputs, fits, kept_ids = [], [], [], {}
    for gene, x, y, train, ids in inputs:
        # one core, as R: BLAS threads (used by the small matrix products) would add their
        # spin-waiting to the process's CPU time
        with threadpool_limits(limits=1):
            t = time.process_time()
            fit = fit_elastic_net(x, y, train, ids, cfg, gene=gene)
            cpu = time.process_time() - t
        fits.append(fit)
        prep = prepare_gene(x, y, train, ids, cfg.min_maf, gene)  # the columns and rows R gets
        rows.append({"gene": gene, "p": fit.n_variants_used, "ours_cpu": cpu})
        if not isinstance(prep, type(fit)):
            kept_ids[gene] = prep.ids
            r_inputs.append(
                RGlmnetGene(
                    gene, prep.x_fit, prep.y_fit, predictdb_folds(len(prep.y_fit), cfg, gene)
                )
            )
        print(f"  {gene}: p = {fit.n_variants_used}, ours {cpu:.2f} s CPU", flush=True)
    table = pd.DataFrame(rows)
    table["rho_avg_ours"] = [f.perf["rho_avg"] for f in fits]
    table["cv_r_ours"] = [f.perf["cv_rho_avg"] for f in fits]
    table["n_ours"] = [len(f.weights) for f in fits]

    t = time.perf_counter()
    parallel = fit_genes(iter(inputs), "elastic_net", cfg, n_jobs=args.jobs)
    wall_parallel = time.perf_counter() - t
    same = all(
        np.array_equal(a.predicted, b.predicted) for a, b in zip(fits, parallel, strict=True)
    )

    have_r = not args.no_glmnet and glmnet_available()
    if have_r:
        t = time.perf_counter()
        per_gene, weights = run_r_glmnet(r_inputs, alpha=cfg.alpha_l1_ratio)
        r_wall_total = time.perf_counter() - t
        per_gene = per_gene.rename(
            columns={
                "rho_avg": "rho_avg_glmnet",
                "cv_rho_avg": "cv_r_glmnet",
                "cpu_s": "glmnet_cpu",
                "elapsed_s": "glmnet_wall",
                "n_snps_in_model": "n_glmnet",
            }
        )
        table = table.merge(per_gene.drop(columns="lambda_min"), on="gene", how="left")
        jac = []
        for f in fits:
            a = set(f.weights.index)
            # R reports 0-based columns of the filtered design: map them to our variant IDs
            cols = weights.loc[weights["gene"] == f.gene, "column"].to_numpy()
            b = set(kept_ids[f.gene][cols]) if f.gene in kept_ids else set()
            jac.append(len(a & b) / len(a | b) if a | b else 1.0)
        table["jaccard"] = jac

    n = len(table)
    print()
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
        print(f"per-gene table: {args.out}")
    print(f"genes: {n}; variants per gene (median): {table['p'].median():.0f}")
    print(f"{'seconds per gene':<44}{'ps2f':>10}{'glmnet':>10}{'ratio':>8}")
    ours_cpu = table["ours_cpu"].mean()
    if have_r:
        g_cpu, g_wall = table["glmnet_cpu"].mean(), r_wall_total / n
        print(
            f"{'CPU, one core (mean)':<44}{ours_cpu:>10.2f}{g_cpu:>10.2f}{ours_cpu / g_cpu:>8.2f}"
        )
        med = table["ours_cpu"].median(), table["glmnet_cpu"].median()
        print(
            f"{'CPU, one core (median)':<44}{med[0]:>10.2f}{med[1]:>10.2f}{med[0] / med[1]:>8.2f}"
        )
        print(
            f"{f'wall, ps2f {args.jobs} workers vs glmnet 1 process':<44}"
            f"{wall_parallel / n:>10.2f}{g_wall:>10.2f}{wall_parallel / n / g_wall:>8.2f}"
        )
        d_rho = (table["rho_avg_ours"] - table["rho_avg_glmnet"]).abs()
        d_cv = (table["cv_r_ours"] - table["cv_r_glmnet"]).abs()
        print(
            f"\nnested-CV rho_avg, median over genes: ps2f {table['rho_avg_ours'].median():.4f}, "
            f"glmnet {table['rho_avg_glmnet'].median():.4f}; |difference| median "
            f"{d_rho.median():.4f}, max {d_rho.max():.4f}, genes within 0.02: "
            f"{(d_rho <= 0.02).mean():.1%}"
        )
        print(
            f"final cv.glmnet CV r |difference|: median {d_cv.median():.4f}, max {d_cv.max():.4f}; "
            f"selected variants Jaccard: median {table['jaccard'].median():.3f}, "
            f"mean {table['jaccard'].mean():.3f}"
        )
    else:
        print(f"{'CPU, one core (mean)':<44}{ours_cpu:>10.2f}{'-':>10}")
        print(f"{f'wall, ps2f {args.jobs} workers':<44}{wall_parallel / n:>10.2f}")
        print("(glmnet not timed: --no-glmnet, or Rscript / R glmnet missing)")
    print(f"parallel run identical to the serial one: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
