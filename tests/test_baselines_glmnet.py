"""Oracle: our ElasticNet against R glmnet (PredictDB's engine) on real Geuvadis chr22 genes.

Same genes, same individuals, same covariate-adjusted expression, same folds (glmnet's
``foldid``), same standardization (glmnet's own): the CV correlations (every gene's final
``cv.glmnet``, and PredictDB's nested 5 x 10 CV for two genes) must agree within 0.02 and the
selected variant sets must largely overlap (median Jaccard >= 0.8). Skips without ``Rscript`` or
R's glmnet (Debian: ``apt-get install r-cran-glmnet``) or without ``../shared/data``.
"""

from __future__ import annotations

import time

import cyvcf2
import numpy as np
import pandas as pd
import pytest
from _oracles.rglmnet import RGlmnetGene, glmnet_available, run_r_glmnet
from conftest import GEUVADIS
from threadpoolctl import threadpool_limits

from ps2f.baselines import ElasticNetConfig, fit_elastic_net
from ps2f.baselines.elastic_net import predictdb_folds
from ps2f.baselines.variant_filters import strand_ambiguous
from ps2f.genome.windows import cis_windows
from ps2f.phenotypes import PhenotypeConfig, build_phenotypes

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not glmnet_available(), reason="Rscript with R package glmnet not found"),
]

N_GENES = 6
N_NESTED = 2  # genes that also run the 5 x 10 nested CV (6x the fits); the rest cv.glmnet only
FLANK = 150_000  # gene body +- 150 kb keeps the test short; the benchmark uses PredictDB's 1 Mb


@pytest.fixture(scope="module")
def real_genes():
    d = GEUVADIS
    vcf_path = str(d / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz")
    vcf = cyvcf2.VCF(vcf_path)
    ph = build_phenotypes(
        str(d / "expression/qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz"),
        str(d / "annotation/gencode.v19.chr22.gene_tss.tsv"),
        list(vcf.samples),
        PhenotypeConfig(n_genotype_pcs=3, n_expression_pcs=10),
        covariates_path=str(d / "expression/qtltools_genes.covariates.pc50.txt.gz"),
    )
    train = (ph.individuals["individual_set"] == "train").to_numpy()
    wide = ph.expression.pivot(index="gene", columns="individual", values="observed")
    wide = wide.loc[:, ph.individuals["individual"]]
    col = pd.Index(vcf.samples).get_indexer(ph.individuals["individual"])
    # a fixed random draw of training genes (not chosen for agreement)
    pool = ph.genes.loc[ph.genes["gene_set"] == "train"].reset_index(drop=True)
    pick = pool.iloc[np.sort(np.random.default_rng(2026).choice(len(pool), N_GENES, replace=False))]
    starts, ends = cis_windows(pick, FLANK)
    out = []
    for (_, g), a, b in zip(pick.iterrows(), starts, ends, strict=True):
        pos, ref, alt, dos = [], [], [], []
        for rec in vcf(f"{g['chrom']}:{a + 1}-{b}"):
            if len(rec.ALT) != 1 or len(rec.REF) != 1 or len(rec.ALT[0]) != 1:
                continue
            if not a <= rec.POS - 1 < b:
                continue
            pos.append(rec.POS)
            ref.append(rec.REF)
            alt.append(rec.ALT[0])
            dos.append(rec.genotype.array()[col, :2].sum(axis=1))
        x = np.array(dos, dtype=np.uint8).T
        keep = ~strand_ambiguous(np.array(ref), np.array(alt))
        x = x[:, keep]
        af = x[train].mean(axis=0) / 2
        x = x[:, (np.minimum(af, 1 - af) >= 0.01) & (np.ptp(x[train], axis=0) > 0)]
        out.append((g["gene"], x, wide.loc[g["gene"]].to_numpy(), train))
    return out


def test_elastic_net_agrees_with_r_glmnet(real_genes):
    nested = ElasticNetConfig()  # alpha 0.5, 10 folds, 5 outer folds, glmnet's thresh
    plain = ElasticNetConfig(n_outer_folds=0)  # cv.glmnet only
    ours, r_inputs, cpu_ours = [], [], 0.0
    for i, (gene, x, y, train) in enumerate(real_genes):
        cfg = nested if i < N_NESTED else plain
        with threadpool_limits(limits=1):  # one core, as R (and as the workflow's workers)
            t = time.process_time()
            fit = fit_elastic_net(x, y, train, np.arange(x.shape[1]), cfg, gene=gene)
            cpu_ours += time.process_time() - t
        ours.append(fit)
        # the same fitting rows, columns and folds for R
        r_inputs.append(
            RGlmnetGene(gene, x[train], y[train], predictdb_folds(int(train.sum()), cfg, gene))
        )
    per_gene, weights = run_r_glmnet(r_inputs, alpha=nested.alpha_l1_ratio)
    rows = []
    for fit, (_, r) in zip(ours, per_gene.iterrows(), strict=True):
        assert fit.gene == r["gene"]
        ours_set = set(fit.weights.index)
        r_set = set(weights.loc[weights["gene"] == fit.gene, "column"])
        union = ours_set | r_set
        rows.append(
            {
                "gene": fit.gene,
                "p": fit.n_variants_used,
                "rho_avg_ours": fit.perf["rho_avg"],
                "rho_avg_glmnet": r["rho_avg"],
                "cv_r_ours": fit.perf["cv_rho_avg"],
                "cv_r_glmnet": r["cv_rho_avg"],
                "lambda_ratio": fit.lambda_min / r["lambda_min"],
                "n_ours": len(ours_set),
                "n_glmnet": len(r_set),
                "jaccard": len(ours_set & r_set) / len(union) if union else 1.0,
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"\n{table.to_string(index=False, float_format='%.4f')}\n"
        f"CPU s for all genes: ours {cpu_ours:.1f}, glmnet {per_gene['cpu_s'].sum():.1f}"
    )
    assert table["rho_avg_ours"].notna().sum() == N_NESTED
    np.testing.assert_allclose(table["rho_avg_ours"], table["rho_avg_glmnet"], atol=0.02)
    np.testing.assert_allclose(table["cv_r_ours"], table["cv_r_glmnet"], atol=0.02)
    assert table["jaccard"].median() >= 0.8
    assert (np.abs(table["lambda_ratio"] - 1) < 1e-3).mean() >= 0.5  # same lambda.min mostly
