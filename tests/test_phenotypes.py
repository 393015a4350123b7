"""The phenotypes step: annotation gene bodies, covariate files, training-only residualization."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import GEUVADIS

from ps2f.errors import ConfigError, InputError
from ps2f.io.tables import read_covariates, read_tss_table
from ps2f.phenotypes import PhenotypeConfig, build_phenotypes, residualize, select_covariates

EXPR = GEUVADIS / "expression"


def _write_tss(path, rows, body=True):
    cols = ["gene_id", "gene_name", "gene_type", "chrom", "strand", "tss"]
    if body:
        cols += ["gene_start", "gene_end"]
    pd.DataFrame(rows, columns=cols).to_csv(path, sep="\t", index=False)
    return path


def test_tss_table_gene_body_is_zero_based_half_open(tmp_path):
    rows = [
        ["ENSG1.3", "A", "protein_coding", "chr1", "+", 101, 101, 250],  # 1-based inclusive
        ["ENSG2.1", "B", "lincRNA", "chr1", "-", 900, 500, 900],
    ]
    t = read_tss_table(_write_tss(tmp_path / "t.tsv", rows))
    assert t["tss0"].tolist() == [100, 899]
    assert t["gene_start"].tolist() == [100, 499] and t["gene_end"].tolist() == [250, 900]
    assert t["gene_type"].tolist() == ["protein_coding", "lincRNA"]
    # without a body the gene is its TSS base
    t = read_tss_table(_write_tss(tmp_path / "n.tsv", [r[:6] for r in rows], body=False))
    assert t["gene_start"].tolist() == [100, 899] and t["gene_end"].tolist() == [101, 900]
    bad = [["ENSG3", "C", "x", "chr1", "+", 50, 100, 200]]  # TSS outside its body
    with pytest.raises(InputError, match="containing its TSS"):
        read_tss_table(_write_tss(tmp_path / "b.tsv", bad))


@pytest.mark.shared
def test_real_covariate_files_are_read_and_selected():
    q = read_covariates(EXPR / "qtltools_genes.covariates.pc50.txt.gz")
    assert q.shape == (53, 358) and q.columns[0] == "HG00096"
    assert q.index[0] == "genotypes_1_1_svd_PC1"  # the authors' absolute path is stripped
    sel = select_covariates(q, 3, 10)
    assert list(sel.index[:3]) == [f"genotypes_1_1_svd_PC{i}" for i in (1, 2, 3)]
    assert list(sel.index[3:]) == [f"genes_1_1_svd_PC{i}" for i in range(1, 11)]
    f = read_covariates(EXPR / "fastqtl_covariates.txt.gz")
    assert f.shape == (4, 373) and list(f.index) == ["PC1", "PC2", "PC3", "PHASE1"]
    assert list(select_covariates(f, 3, 0, ["PHASE1"]).index) == ["PC1", "PC2", "PC3", "PHASE1"]
    with pytest.raises(ConfigError, match="only 0 expression-PC rows"):
        select_covariates(f, 3, 2)


def test_select_covariates_orders_by_number_and_knows_peer():
    names = ["InferredCov10", "PC2", "InferredCov2", "sex", "PC1", "InferredCov1", "PC10"]
    cov = pd.DataFrame(np.arange(len(names) * 4.0).reshape(-1, 4), index=names)
    sel = select_covariates(cov, 2, 3, ["sex"])
    assert list(sel.index) == ["PC1", "PC2", "InferredCov1", "InferredCov2", "InferredCov10", "sex"]
    with pytest.raises(ConfigError, match="extra_covariates"):
        select_covariates(cov, 1, 0, ["age"])


def test_covariate_reader_errors(tmp_path):
    p = tmp_path / "c.txt.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("id S1 S2\nPC1 0.1 NA\n")
    with pytest.raises(InputError, match="PC1.*S2"):
        read_covariates(p)
    with pytest.raises(InputError, match="not found"):
        read_covariates(tmp_path / "absent.txt")


@pytest.fixture
def cohort():
    rng = np.random.default_rng(4)
    n, g, k = 200, 6, 3
    cov = rng.normal(size=(n, k))
    effects = rng.normal(size=(k, g))
    y = cov @ effects + rng.normal(size=(n, g)) + np.arange(g) * 2.0  # distinct gene means
    samples = [f"S{i:03d}" for i in range(n)]
    values = pd.DataFrame(y.T, index=[f"G{j}" for j in range(g)], columns=samples)
    covs = pd.DataFrame(cov.T, index=["PC1", "PC2", "PC3"], columns=samples)
    train = np.arange(n) < 150
    return values, covs, train


def test_residualize_fits_on_training_only_and_keeps_means(cohort):
    values, covs, train = cohort
    out = residualize(values, covs, train)
    y, c = values.to_numpy().T, covs.to_numpy().T
    # training part: OLS residual (orthogonal to the covariates) plus the training mean
    rt = out.to_numpy().T[train]
    np.testing.assert_allclose(rt.mean(axis=0), y[train].mean(axis=0), atol=1e-10)
    cc = c[train] - c[train].mean(axis=0)
    np.testing.assert_allclose(cc.T @ (rt - rt.mean(axis=0)), 0.0, atol=1e-8)
    # held-out individuals get the training coefficients: changing them changes nothing else
    moved = values.copy()
    moved.iloc[:, ~train] += 100.0
    out2 = residualize(moved, covs, train)
    np.testing.assert_allclose(out2.to_numpy()[:, train], out.to_numpy()[:, train])
    np.testing.assert_allclose(out2.to_numpy()[:, ~train], out.to_numpy()[:, ~train] + 100.0)
    beta = np.linalg.lstsq(np.column_stack([np.ones(train.sum()), c[train]]), y[train], rcond=None)[
        0
    ]
    expected_heldout = y[~train] - (c[~train] - c[train].mean(axis=0)) @ beta[1:]
    np.testing.assert_allclose(out.to_numpy().T[~train], expected_heldout, atol=1e-10)
    with pytest.raises(InputError, match="training individuals"):
        residualize(values, covs, np.arange(len(train)) < 4)


def test_build_phenotypes_with_covariates(tmp_path, cohort):
    values, covs, _ = cohort
    samples = list(values.columns)
    n_genes = len(values)
    bed = pd.DataFrame(
        {
            "#chr": "chr1",
            "start": 1000 + 5000 * np.arange(n_genes),
            "end": 1001 + 5000 * np.arange(n_genes),
            "gene": [f"{g}.1" for g in values.index],
            "length": 1,
            "strand": "+",
        }
    )
    bed = pd.concat([bed, pd.DataFrame(np.exp(values.to_numpy() / 4), columns=samples)], axis=1)
    bed.to_csv(tmp_path / "e.bed.gz", sep="\t", index=False)
    tss = [
        [
            f"{g}.1",
            g,
            "protein_coding",
            "chr1",
            "+",
            1001 + 5000 * j,
            1001 + 5000 * j,
            3000 + 5000 * j,
        ]
        for j, g in enumerate(values.index)
    ]
    _write_tss(tmp_path / "t.tsv", tss)
    cov = covs.drop(columns=samples[:5])  # five individuals without covariates
    cov.index = ["/some/path/genotypes_PC1", "genes_x_PC1", "genes_x_PC2"]
    cov.rename_axis("SampleID").reset_index().to_csv(tmp_path / "c.txt", sep=" ", index=False)
    cfg = PhenotypeConfig(n_genotype_pcs=1, n_expression_pcs=2, min_individuals=10)
    ph = build_phenotypes(
        str(tmp_path / "e.bed.gz"),
        str(tmp_path / "t.tsv"),
        samples,
        cfg,
        covariates_path=str(tmp_path / "c.txt"),
    )
    assert ph.covariates == ["genotypes_PC1", "genes_x_PC1", "genes_x_PC2"]
    assert len(ph.individuals) == len(samples) - 5
    assert {"gene_start", "gene_end", "gene_type"} <= set(ph.genes.columns)
    assert ph.genes["gene_end"].tolist() == (3000 + 5000 * np.arange(n_genes)).tolist()
    wide = ph.expression.pivot(index="individual", columns="gene", values="observed")
    train = ph.individuals.set_index("individual")["individual_set"].eq("train")
    c = covs.T.loc[wide.index].to_numpy()
    r = wide.to_numpy()[train.loc[wide.index].to_numpy()]
    ct = c[train.loc[wide.index].to_numpy()]
    corr = np.corrcoef(np.column_stack([r, ct]).T)[: r.shape[1], r.shape[1] :]
    assert np.abs(corr).max() < 1e-8  # regressed out on training individuals
    # without a covariate file nothing is adjusted
    plain = build_phenotypes(str(tmp_path / "e.bed.gz"), str(tmp_path / "t.tsv"), samples, cfg)
    assert plain.covariates == [] and len(plain.individuals) == len(samples)


# ----------------------------------------------------------------------------------------------
# issue 20, 5b/5c: the expression BED's TSS cross-checks the annotation's; a GTF is refused

ANNOT = GEUVADIS / "annotation"
CFG = PhenotypeConfig(normalization="none")  # the FastQTL BED is normalized already
REAL_BEDS = [
    "qtltools_geuvadis_EUR358_genes.50percent.chr22.bed.gz",
    "fastqtl_geuvadis_EUR373_phenotypes.chr22.bed.gz",
]


def _bed_samples(bed):
    with gzip.open(bed, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    return [c for c in header[4:] if c not in ("length", "strand", "gene")]


@pytest.mark.shared
@pytest.mark.parametrize("bed_name", REAL_BEDS)
def test_real_annotation_agrees_with_both_real_beds_and_a_moved_tss_is_an_error(
    tmp_path, bed_name, caplog
):
    bed = EXPR / bed_name
    samples = _bed_samples(bed)
    real = ANNOT / "gencode.v19.chr22.gene_tss.tsv"
    ph = build_phenotypes(str(bed), str(real), samples, CFG)
    assert len(ph.genes) > 150
    # QTLtools BED: every TSS agrees; FastQTL BED: 16 genes moved between releases (warned)
    assert ("16 of 354 expressed genes have a TSS" in caplog.text) == ("fastqtl" in bed_name)
    table = pd.read_csv(real, sep="\t", dtype=str, na_filter=False)
    tss = table["tss"].astype(np.int64)
    other_build = tmp_path / "other_build.tsv"
    moved = table.copy()
    moved["tss"] = (tss + 3000 + np.arange(len(tss)) % 7).astype(str)
    if "gene_start" in moved:
        moved["gene_start"] = (moved["gene_start"].astype(np.int64) + 3000).astype(str)
        moved["gene_end"] = (moved["gene_end"].astype(np.int64) + 3010).astype(str)
    moved.to_csv(other_build, sep="\t", index=False)
    with pytest.raises(InputError, match="another genome build") as err:
        build_phenotypes(str(bed), str(other_build), samples, CFG)
    msg = str(err.value)
    assert msg.startswith(f"{other_build}: ") and str(bed) in msg and "ENSG" in msg
    zero_based = tmp_path / "zero_based.tsv"
    shifted = table.copy()
    shifted["tss"] = (tss - 1).astype(str)
    if "gene_start" in shifted:  # keep the body containing the TSS
        shifted["gene_start"] = np.minimum(shifted["gene_start"].astype(np.int64), tss - 1)
    shifted.to_csv(zero_based, sep="\t", index=False)
    with pytest.raises(InputError, match="TSS table is likely 0-based"):
        build_phenotypes(str(bed), str(zero_based), samples, CFG)


@pytest.mark.shared
def test_real_gencode_gtf_given_as_the_annotation_is_an_error_naming_it():
    bed = EXPR / REAL_BEDS[0]
    gtf = ANNOT / "gencode.v19.annotation.chr22.gtf.gz"
    with pytest.raises(InputError, match=f"{gtf}: this looks like a GTF/GFF"):
        build_phenotypes(str(bed), str(gtf), _bed_samples(bed), CFG)
