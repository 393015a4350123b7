"""Phenotype modalities (issue 19, item 1): anchors from the BED, per-modality normalization.

A phenotype row may be a gene (anchor = TSS from the TSS table), a CpG site, a peak or an
intron (anchor = the centre of the BED row, no TSS table). Unit tests of the transforms against
closed forms, of the anchors against hand-computed positions, and of the errors on bad anchors
and out-of-domain values (file, line and sample named). The end-to-end methylation run through
the workflow is ``test_workflow.py::test_workflow_on_simulated_methylation``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ps2f.errors import ConfigError, InputError
from ps2f.phenotypes import (
    EPSILON,
    MODALITY_NORMALIZATIONS,
    PhenotypeConfig,
    beta_to_m,
    build_phenotypes,
    check_modality,
    normalize,
)

SAMPLES = [f"S{i}" for i in range(12)]
CFG = PhenotypeConfig(
    min_individuals=5, heldout_individual_fraction=0.25, modality="methylation",
    normalization="m_value",
)  # fmt: skip


def write_bed(
    path: Path,
    rows: list[tuple[str, int, int, str]],
    values: np.ndarray,
    header: tuple[str, ...] = ("#chr", "start", "end", "id", "length", "strand"),
    samples: list[str] = SAMPLES,
) -> Path:
    """A phenotype BED from ``(id, start, end, strand)`` rows (strand None: no column)."""
    with_strand = len(header) == 6
    lines = ["\t".join([*header, *samples])]
    for (pid, start, end, strand), row in zip(rows, values, strict=True):
        fixed = ["chr1", str(start), str(end), pid]
        if with_strand:
            fixed += [str(end - start), strand]
        lines.append("\t".join([*fixed, *map(str, row)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _betas(n: int, seed: int = 0) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(0.05, 0.95, (n, len(SAMPLES))), 4)


# ------------------------------------------------------------------------------------------
# transforms


def test_beta_to_m_is_log2_ratio_clipped_at_epsilon():
    beta = np.array([0.5, 0.8, 0.2, 0.0, 1.0, 1e-5])
    m = beta_to_m(beta)
    assert m[0] == 0.0
    assert m[1] == pytest.approx(2.0)  # log2(0.8 / 0.2)
    assert m[2] == pytest.approx(-2.0)
    bound = np.log2((1 - EPSILON) / EPSILON)
    assert bound == pytest.approx(9.9643, abs=1e-4)
    assert m[3] == pytest.approx(-bound) and m[4] == pytest.approx(bound)
    assert m[5] == pytest.approx(-bound)  # below epsilon: clipped, not -16.6
    assert np.isfinite(m).all()


def test_normalize_each_method_against_its_closed_form():
    idx, cols = ["a", "b"], ["S1", "S2", "S3"]
    counts = pd.DataFrame([[0.0, 10.0, 30.0], [20.0, 10.0, 0.0]], index=idx, columns=cols)
    lib = pd.Series([100.0, 40.0, 60.0], index=cols)  # the file's totals, more rows than kept
    got = normalize(counts, "log_cpm", library_sizes=lib).to_numpy()
    want = np.log2((counts.to_numpy() + 0.5) / (lib.to_numpy() + 1.0) * 1e6)
    np.testing.assert_allclose(got, want)
    # default library: the column sums of the matrix itself
    got = normalize(counts, "log_cpm").to_numpy()
    np.testing.assert_allclose(got, np.log2((counts.to_numpy() + 0.5) / (np.array([20, 20, 30]) + 1) * 1e6))
    ratios = pd.DataFrame([[0.25, 0.5, 1.0]], index=["j"], columns=cols)
    np.testing.assert_allclose(
        normalize(ratios, "logit").to_numpy()[0],
        [np.log(1 / 3), 0.0, np.log((1 - EPSILON) / EPSILON)],
    )
    np.testing.assert_allclose(normalize(ratios, "m_value").to_numpy()[0], beta_to_m(ratios)[0])


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("m_value", 1.2, r"value 1.2 is outside \[0, 1\] and cannot be a beta value"),
        ("m_value", 57.0, r"percentages: divide by 100"),
        ("logit", -0.1, r"value -0.1 is outside \[0, 1\] and cannot be a ratio"),
        ("log_cpm", -3.0, r"value -3.0 is negative and cannot be log_cpm-transformed"),
    ],
)
def test_out_of_domain_values_name_file_line_phenotype_and_sample(method, value, message):
    values = pd.DataFrame(0.5, index=["cg1", "cg2", "cg3"], columns=["S1", "S2"])
    values.loc["cg2", "S2"] = value
    lines = {"cg1": 2, "cg2": 3, "cg3": 4}
    with pytest.raises(InputError, match=rf"m.bed: line 3, phenotype cg2, sample S2: .*{message}"):
        normalize(values, method, "m.bed", lines=lines)


def test_empty_library_is_an_error_naming_the_sample():
    counts = pd.DataFrame([[0.0, 5.0]], index=["p"], columns=["S1", "S2"])
    with pytest.raises(InputError, match=r"c.bed: sample S1: library size 0.0"):
        normalize(counts, "log_cpm", "c.bed")


@pytest.mark.parametrize(("modality", "allowed"), MODALITY_NORMALIZATIONS.items())
def test_each_modality_takes_only_its_normalizations(modality, allowed):
    for method in ("log1p", "none", "m_value", "log_cpm", "logit"):
        if method in allowed:
            check_modality(modality, method)
        else:
            with pytest.raises(ConfigError, match=rf"{method} does not fit phenotype.modality"):
                check_modality(modality, method)
    with pytest.raises(ConfigError, match="phenotype.modality must be one of"):
        check_modality("proteomics", "none")


# ------------------------------------------------------------------------------------------
# anchors from the BED


def test_methylation_sites_anchored_on_the_bed_without_a_tss_table(tmp_path):
    # a CpG [C, G + 1), a 1-bp site, a 301-bp region (centre 150 bp in) and a stranded row
    rows = [
        ("cg1", 1000, 1002, "."),
        ("cg2", 2000, 2001, "."),
        ("cg3", 3000, 3301, "."),
        ("cg4", 4000, 4010, "-"),
    ]
    betas = _betas(len(rows))
    bed = write_bed(tmp_path / "m.bed", rows, betas)
    ph = build_phenotypes(str(bed), None, SAMPLES, CFG)
    genes = ph.genes.set_index("gene")
    assert genes.loc[["cg1", "cg2", "cg3", "cg4"], "tss0"].tolist() == [1000, 2000, 3150, 4004]
    # unstranded rows are read on the forward strand; a given strand is kept
    assert genes["strand"].tolist() == ["+", "+", "+", "-"]
    assert genes.loc["cg3", ["gene_start", "gene_end"]].tolist() == [3000, 3301]
    assert (genes["gene_type"] == "methylation").all() and genes["s2f"].all()
    # the observed values are the M-values of the betas (no covariates)
    obs = ph.expression.pivot(index="gene", columns="individual", values="observed")
    np.testing.assert_allclose(
        obs.loc[["cg1", "cg2", "cg3", "cg4"], SAMPLES].to_numpy(), beta_to_m(betas)
    )


def test_peaks_without_a_strand_column_use_their_centre_and_log_cpm(tmp_path):
    rows = [("p1", 100, 600, None), ("p2", 5000, 5200, None)]
    counts = np.random.default_rng(1).integers(0, 50, (2, len(SAMPLES)))
    bed = write_bed(tmp_path / "p.bed", rows, counts, header=("#Chr", "start", "end", "pid"))
    cfg = dataclasses.replace(CFG, modality="accessibility", normalization="log_cpm")
    ph = build_phenotypes(str(bed), None, SAMPLES, cfg)
    genes = ph.genes.set_index("gene")
    assert genes.loc[["p1", "p2"], "tss0"].tolist() == [349, 5099]
    assert set(genes["strand"]) == {"+"}
    obs = ph.expression.pivot(index="gene", columns="individual", values="observed")
    lib = counts.sum(axis=0)
    np.testing.assert_allclose(
        obs.loc[["p1", "p2"], SAMPLES].to_numpy(), np.log2((counts + 0.5) / (lib + 1) * 1e6)
    )


def test_a_bed_without_anchor_columns_is_an_error_naming_file_and_line(tmp_path):
    # a phenotype matrix (id, then samples) given where a BED is expected
    counts = np.random.default_rng(2).integers(1, 50, (3, len(SAMPLES)))
    path = tmp_path / "matrix.tsv"
    lines = ["\t".join(["id", *SAMPLES])]
    lines += ["\t".join([f"peak{i}", *map(str, row)]) for i, row in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    cfg = dataclasses.replace(CFG, modality="accessibility", normalization="log_cpm")
    with pytest.raises(
        InputError,
        match=r"matrix.tsv: line 1: the header begins \['id', 'S0', 'S1', 'S2'\], not chr, "
        r"start, end: the phenotype BED has no anchor columns.*inputs.annotation",
    ):
        build_phenotypes(str(path), None, SAMPLES, cfg)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("cg2", 2000, 2000, "."), r"line 3: end '2000' of cg2 is not an integer greater than its start 2000"),
        (("cg2", 2000, 1990, "."), r"line 3: end '1990' of cg2 is not an integer greater"),
        (("cg2", 2000, 2002, "*"), r"line 3: strand '\*' of cg2; the strand column must hold \+ or - or \."),
    ],
)
def test_bad_ends_and_strands_name_the_line(tmp_path, row, message):
    rows = [("cg1", 1000, 1002, "."), row, ("cg3", 3000, 3002, ".")]
    bed = write_bed(tmp_path / "m.bed", rows, _betas(3))
    with pytest.raises(InputError, match=rf"m.bed: {message}"):
        build_phenotypes(str(bed), None, SAMPLES, CFG)


def test_expression_without_tss_table_needs_strands(tmp_path):
    rows = [("g1", 1000, 1001, "+"), ("g2", 2000, 2001, "."), ("g3", 3000, 3001, "-")]
    values = np.random.default_rng(3).gamma(2.0, 5.0, (3, len(SAMPLES)))
    bed = write_bed(tmp_path / "e.bed", rows, values)
    cfg = dataclasses.replace(CFG, modality="expression", normalization="log1p")
    with pytest.raises(InputError, match=r"e.bed: line 3: strand '\.' of g2; .* \+ or -\.$"):
        build_phenotypes(str(bed), None, SAMPLES, cfg)
    nostrand = write_bed(tmp_path / "n.bed", [(p, s, e, None) for p, s, e, _ in rows], values,
                         header=("#chr", "start", "end", "gene"))  # fmt: skip
    with pytest.raises(InputError, match=r"n.bed: line 1: no strand column"):
        build_phenotypes(str(nostrand), None, SAMPLES, cfg)
    # with strands: the anchor is the BED start (the TSS), as QTLtools writes it
    rows[1] = ("g2", 2000, 2001, "-")
    ph = build_phenotypes(str(write_bed(tmp_path / "ok.bed", rows, values)), None, SAMPLES, cfg)
    assert ph.genes.set_index("gene").loc[["g1", "g2", "g3"], "tss0"].tolist() == [1000, 2000, 3000]


def test_wrong_normalization_for_the_modality_and_usable_column_without_table(tmp_path):
    bed = write_bed(tmp_path / "m.bed", [("cg1", 10, 12, "."), ("cg2", 50, 52, ".")], _betas(2))
    with pytest.raises(ConfigError, match=r"log1p does not fit phenotype.modality methylation"):
        build_phenotypes(str(bed), None, SAMPLES, dataclasses.replace(CFG, normalization="log1p"))
    with pytest.raises(ConfigError, match=r"annotation.usable_column 'ok' is set but there is no"):
        build_phenotypes(str(bed), None, SAMPLES, CFG, usable_column="ok")
