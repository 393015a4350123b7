"""Bad annotation and expression tables (docs: ../shared/bad_inputs.md, "Annotation and
expression"): each case stops the phenotypes step with an InputError/ConfigError naming the
file, the line or key and the fix, or is handled by a documented policy counted in the log.

Every input is a few lines written under tmp_path; genotyped samples are passed as a list
(``build_phenotypes``) except in the test of the rule function itself, which reads a VCF.
Already covered elsewhere: a TSS outside its own gene body
(test_phenotypes.py::test_tss_table_gene_body_is_zero_based_half_open), bad covariate files
(test_phenotypes.py::test_covariate_reader_errors), too few training individuals for the
covariates (test_phenotypes.py::test_residualize_fits_on_training_only_and_keeps_means).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, phenotypes_params, write_fasta, write_vcf
from snakemake.utils import validate

from ps2f.errors import ConfigError, InputError
from ps2f.io.tables import read_covariates, read_expression_bed, read_tss_table
from ps2f.phenotypes import PhenotypeConfig, build_phenotypes
from ps2f.pipeline.phenotypes import run_phenotypes

SAMPLES = [f"S{i}" for i in range(12)]
GENES = [f"ENSG0000000000{g}" for g in range(1, 6)]  # ENSG...1 .. ENSG...5
CFG = PhenotypeConfig(min_individuals=5, heldout_individual_fraction=0.25)  # 12 -> 9 + 3
HALF = PhenotypeConfig(min_individuals=5, heldout_individual_fraction=0.5)


def _values(n_genes: int, samples: list[str], seed: int = 0) -> np.ndarray:
    """Positive, varying expression (RPKM-like), shape (n_genes, n_samples)."""
    return np.round(np.random.default_rng(seed).gamma(2.0, 5.0, (n_genes, len(samples))), 3)


def write_bed(
    path: Path,
    genes: list[str],
    samples: list[str] = SAMPLES,
    values: np.ndarray | None = None,
    chrom: str = "chr1",
) -> Path:
    """A QTLtools phenotype BED (``#chr start end gene length strand samples...``)."""
    values = _values(len(genes), samples) if values is None else values
    starts = 1000 * (np.arange(len(genes)) + 1)
    lines = ["\t".join(["#chr", "start", "end", "gene", "length", "strand", *samples])]
    for gene, start, row in zip(genes, starts, values, strict=True):
        fields = [chrom, str(start), str(start + 1), gene, "1", "+", *map(str, row)]
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tss(path: Path, genes: list[str], chrom: str = "chr1", **columns) -> Path:
    """A TSS table; TSS of gene k (1-based) = 1000 * (k + 1) + 1, strand '+' unless given."""
    df = pd.DataFrame(
        {
            "gene_id": genes,
            "chrom": chrom,
            "strand": "+",
            "tss": 1000 * (np.arange(len(genes)) + 1) + 1,
        }
    )
    for name, value in columns.items():
        df[name] = value
    df.to_csv(path, sep="\t", index=False)
    return path


def _build(tmp_path: Path, bed_genes, tss_genes, config=CFG, samples=SAMPLES, **kw):
    bed = write_bed(tmp_path / "expr.bed", bed_genes, kw.pop("bed_samples", samples))
    tss = write_tss(tmp_path / "tss.tsv", tss_genes)
    return build_phenotypes(str(bed), str(tss), samples, config, **kw)


# ----------------------------------------------------------------------------------------------
# genes in one file only; versioned IDs


def test_genes_in_one_file_only_are_dropped_and_counted(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ps2f"):
        ph = _build(tmp_path, [*GENES, "ENSG00000000099"], [*GENES, "ENSG77", "ENSG88"])
    assert ph.genes["gene"].tolist() == GENES
    assert set(ph.expression["gene"]) == set(GENES)
    assert "1 of 6 expressed genes are absent from the annotation" in caplog.text
    assert "['ENSG00000000099']" in caplog.text
    assert "2 of 7 annotated genes have no expression" in caplog.text


def test_no_gene_in_common_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"expr.bed: no gene is both expressed and in .*tss.tsv"):
        _build(tmp_path, GENES, ["ENSG77", "ENSG88"])


def test_versioned_ids_match_unversioned_ones_by_the_documented_rule(tmp_path, caplog):
    bed_ids = [f"{GENES[0]}.5", f"{GENES[1]}.3", GENES[2], f"{GENES[3]}.1", GENES[4]]
    tss_ids = [GENES[0], f"{GENES[1]}.4", f"{GENES[2]}.7", f"{GENES[3]}.1", GENES[4]]
    with caplog.at_level(logging.INFO, logger="ps2f"):
        ph = _build(tmp_path, bed_ids, tss_ids)
    # every gene matched; the expression file's spelling is kept
    assert ph.genes["gene"].tolist() == bed_ids
    assert ph.genes["gene_key"].tolist() == GENES
    assert "3 genes matched only after removing Ensembl version suffixes" in caplog.text
    assert f"e.g. {GENES[0]}.5 in the expression = {GENES[0]} in the annotation" in caplog.text
    # only a final '.<digits>' is a version: PAR_Y genes stay distinct
    par = _build(tmp_path, [f"{GENES[0]}.5_PAR_Y", GENES[1]], [GENES[0], GENES[1]])
    assert par.genes["gene"].tolist() == [GENES[1]]


# ----------------------------------------------------------------------------------------------
# duplicated gene IDs (exact, or differing only in the version) and sample IDs


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        ([GENES[0], GENES[1], GENES[0]], f"{GENES[0]} (lines 2 and 4, as '{GENES[0]}' and"),
        (
            [f"{GENES[0]}.1", GENES[1], f"{GENES[0]}.2"],
            "as 'ENSG00000000001.1' and 'ENSG00000000001.2'",
        ),
    ],
)
def test_duplicated_gene_ids_are_errors_naming_both_lines(tmp_path, ids, shown):
    bed = write_bed(tmp_path / "dup.bed", ids)
    with pytest.raises(InputError, match=re.escape(f"{bed}: gene ")) as err:
        read_expression_bed(bed)
    assert shown in str(err.value) and "keep one row per gene" in str(err.value)
    tss = write_tss(tmp_path / "dup.tsv", ids)
    with pytest.raises(InputError, match=re.escape(f"{tss}: gene ")) as err:
        read_tss_table(tss)
    assert shown in str(err.value) and "keep one row per gene" in str(err.value)


def test_repeated_sample_column_is_an_error(tmp_path):
    bed = write_bed(tmp_path / "e.bed", GENES, ["S1", "S2", "S1"])
    with pytest.raises(InputError, match=r"e.bed: sample IDs repeat in the header: \['S1'\]"):
        read_expression_bed(bed)


# ----------------------------------------------------------------------------------------------
# annotation records: strand, TSS


@pytest.mark.parametrize("strand", [".", "*", "plus", "1", ""])
def test_strand_other_than_plus_minus_is_an_error_naming_the_line(tmp_path, strand):
    tss = write_tss(tmp_path / "t.tsv", GENES, strand=["+", "-", strand, "+", "-"])
    with pytest.raises(
        InputError,
        match=rf"t.tsv: line 4: strand .* for gene {GENES[2]}; strand must be '\+' or '-'",
    ):
        read_tss_table(tss)


@pytest.mark.parametrize("tss", [0, -5, 2.5, "12x", ""])
def test_tss_before_the_sequence_start_or_not_a_position_is_an_error(tmp_path, tss):
    path = write_tss(tmp_path / "t.tsv", GENES, tss=[1001, 2001, tss, 4001, 5001])
    with pytest.raises(InputError, match=r"t.tsv: line 4: TSS .* is not a 1-based position"):
        read_tss_table(path)


def test_tss_past_the_end_of_the_fasta_contig_is_an_error(tmp_path):
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": "ACGT" * 1000})  # 4,000 bp
    bed = write_bed(tmp_path / "e.bed", GENES)
    tss = write_tss(tmp_path / "t.tsv", GENES)  # TSSs 1001 .. 5001: genes 4 and 5 lie past it
    with pytest.raises(
        InputError,
        match=rf"t.tsv: line 5: TSS 4001 \(1-based\) of gene {GENES[3]} lies past the end of "
        r"chr1 \(4,000 bp in .*ref.fa; 2 genes in all\).*same genome build",
    ):
        build_phenotypes(str(bed), str(tss), SAMPLES, CFG, reference=str(fasta))
    # the annotation's contig spelled differently: resolved by the chr-prefix rule
    write_fasta(tmp_path / "ref1.fa", {"1": "ACGT" * 2000})
    ph = build_phenotypes(str(bed), str(tss), SAMPLES, CFG, reference=str(tmp_path / "ref1.fa"))
    assert len(ph.genes) == 5
    # a contig the FASTA lacks altogether
    write_fasta(tmp_path / "ref2.fa", {"chr2": "ACGT" * 2000})
    with pytest.raises(InputError, match=r"ref2.fa.*chr1"):
        build_phenotypes(str(bed), str(tss), SAMPLES, CFG, reference=str(tmp_path / "ref2.fa"))


# ----------------------------------------------------------------------------------------------
# expression values


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nan", "is not a number"),
        ("NA", "is not a number"),
        ("", "is not a number"),
        ("12,5", "is not a number"),
        ("inf", "is infinite"),
        ("-Inf", "is infinite"),
    ],
)
def test_nan_and_inf_expression_are_errors_naming_line_and_sample(tmp_path, value, problem):
    values = _values(len(GENES), SAMPLES).astype(object)
    values[3, 7] = value
    bed = write_bed(tmp_path / "e.bed", GENES, values=values)
    with pytest.raises(
        InputError,
        match=rf"e.bed: line 5, gene {GENES[3]}, sample S7: value {re.escape(repr(value))} {problem}",
    ):
        read_expression_bed(bed)


def test_non_integer_bed_start_is_an_error(tmp_path):
    bed = write_bed(tmp_path / "e.bed", GENES)
    bed.write_text(bed.read_text().replace("\t3000\t", "\t3000.5\t"))
    with pytest.raises(InputError, match=rf"e.bed: line 4: start '?3000.5'? of {GENES[2]}"):
        read_expression_bed(bed)


def test_negative_values_where_counts_are_expected(tmp_path):
    values = _values(len(GENES), SAMPLES)
    values[1, 4] = -0.25
    bed = write_bed(tmp_path / "e.bed", GENES, values=values)
    tss = write_tss(tmp_path / "t.tsv", GENES)
    with pytest.raises(
        InputError,
        match=rf"e.bed: line 3, phenotype {GENES[1]}, sample S4: value -0.25 is negative and "
        r"cannot be log1p-transformed .*set expression.normalization: none",
    ):
        build_phenotypes(str(bed), str(tss), SAMPLES, CFG)
    # the fix the message names: values are used as given
    ph = build_phenotypes(
        str(bed),
        str(tss),
        SAMPLES,
        dataclasses.replace(CFG, normalization="none"),
    )
    observed = ph.expression.set_index(["gene", "individual"])["observed"]
    assert observed[(GENES[1], "S4")] == -0.25


def test_constant_genes_are_dropped_and_counted(tmp_path, caplog):
    values = _values(len(GENES), SAMPLES)
    values[2] = 0.0  # not expressed in anyone
    values[4] = 7.5
    bed = write_bed(tmp_path / "e.bed", GENES, values=values)
    tss = write_tss(tmp_path / "t.tsv", GENES)
    with caplog.at_level(logging.INFO, logger="ps2f"):
        ph = build_phenotypes(str(bed), str(tss), SAMPLES, CFG)
    assert ph.genes["gene"].tolist() == [GENES[0], GENES[1], GENES[3]]
    assert "2 genes have the same expression in all 12 individuals" in caplog.text
    # constant among the individuals with genotypes only: dropped too
    values[0, :6] = 3.0
    values[0, 6:] = 4.0
    bed = write_bed(tmp_path / "e.bed", GENES, values=values)
    ph = build_phenotypes(str(bed), str(tss), SAMPLES[:6], HALF)
    assert GENES[0] not in ph.genes["gene"].tolist()
    values[:] = 1.0
    bed = write_bed(tmp_path / "e.bed", GENES, values=values)
    with pytest.raises(InputError, match=r"e.bed: every matched gene has the same expression"):
        build_phenotypes(str(bed), str(tss), SAMPLES, CFG)


# ----------------------------------------------------------------------------------------------
# individuals: without genotypes, too few for the splits


def test_expression_samples_without_genotypes_are_dropped_and_counted(tmp_path, caplog):
    bed_samples = [*SAMPLES, "NA00001", "NA00002"]
    with caplog.at_level(logging.INFO, logger="ps2f"):
        ph = _build(tmp_path, GENES, GENES, bed_samples=bed_samples)
    assert ph.individuals["individual"].tolist() == SAMPLES
    assert "2 of 14 expression samples in" in caplog.text
    assert "have no genotypes and are dropped, e.g. ['NA00001', 'NA00002']" in caplog.text


def test_disjoint_sample_ids_stop_with_examples(tmp_path):
    with pytest.raises(
        InputError,
        match=r"expr.bed: only 0 individuals have expression and genotypes \(need >= 5, "
        r"split.min_individuals\); check that sample IDs match the VCF's, e.g. expression has "
        r"\['S0', 'S1', 'S2'\], VCF has \['HG00096'",
    ):
        _build(tmp_path, GENES, GENES, samples=["HG00096", "HG00097"], bed_samples=SAMPLES)


def test_fewer_individuals_than_the_split_needs(tmp_path):
    # 6 individuals, 25% held out -> 2 held out: r across them needs >= 3
    with pytest.raises(
        ConfigError,
        match=r"split.heldout_individual_fraction 0.25 of the 6 individuals .* leaves 4 training "
        r"and 2 held-out individuals; each set needs at least 3",
    ):
        _build(tmp_path, GENES, GENES, samples=SAMPLES[:6])
    ok = _build(tmp_path, GENES, GENES, HALF, samples=SAMPLES[:6])
    assert (ok.individuals["individual_set"] == "heldout").sum() == 3


def test_heldout_chromosome_without_genes_is_an_error(tmp_path):
    cfg = dataclasses.replace(CFG, heldout_chromosomes=("chr9",))
    with pytest.raises(
        ConfigError,
        match=r"split.heldout_chromosomes \['chr9'\]: no gene of .*expr.bed and .*tss.tsv lies "
        r"on them.*the genes are on \['chr1'\]",
    ):
        _build(tmp_path, GENES, GENES, cfg)
    # the chr prefix is optional
    ph = _build(
        tmp_path,
        GENES,
        GENES,
        dataclasses.replace(CFG, heldout_chromosomes=("1",)),
    )
    assert set(ph.genes["gene_set"]) == {"heldout"}


# ----------------------------------------------------------------------------------------------
# the rule function: the first rule that reads the tables stops and writes nothing


def test_phenotypes_rule_fails_early_and_writes_nothing(tmp_path):
    vcf = write_vcf(
        tmp_path / "g.vcf.gz", "chr1", 8000, SAMPLES, ["1500 v1 A G " + " ".join(["0|1"] * 12)]
    )
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": "ACGT" * 1000})
    bed = write_bed(tmp_path / "e.bed", GENES)
    tss = write_tss(tmp_path / "t.tsv", GENES)
    cfg = {
        "contigs": ["chr1"],
        "split": {"min_individuals": 5, "heldout_individual_fraction": 0.25},
    }
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    out = [str(tmp_path / "out" / n) for n in ("genes.tsv", "individuals.tsv", "expr.parquet")]
    with pytest.raises(InputError, match=r"t.tsv: line 5: TSS 4001 .* past the end of chr1"):
        run_phenotypes(
            str(bed), str(tss), str(vcf), *out, **phenotypes_params(cfg), reference=str(fasta)
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # evaluate.min_individuals reaches the split check
    cfg["evaluate"]["min_individuals"] = 4
    with pytest.raises(ConfigError, match=r"leaves 9 training and 3 held-out individuals"):
        run_phenotypes(str(bed), str(tss), str(vcf), *out, **phenotypes_params(cfg))
    cfg["evaluate"]["min_individuals"] = 3
    run_phenotypes(str(bed), str(tss), str(vcf), *out, **phenotypes_params(cfg))
    assert pd.read_csv(out[0], sep="\t")["gene"].tolist() == GENES


def test_workflow_reports_a_bad_input_in_the_rule_log_without_a_traceback(tmp_path):
    """Through Snakemake: the phenotypes job fails in seconds, its log holds the ps2f message
    (where Snakemake sends the user), stderr has no traceback, and no output is left behind."""
    import subprocess
    import sys

    import yaml

    vcf = write_vcf(
        tmp_path / "g.vcf.gz", "chr1", 8000, SAMPLES, ["1500 v1 A G " + " ".join(["0|1"] * 12)]
    )
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": "ACGT" * 1000})  # 4 kb: the 4th TSS is past
    config = {
        "name": "bad",
        "simulate": {"enabled": False},
        "contigs": ["chr1"],
        "inputs": {
            "genotypes": str(vcf),
            "reference": str(fasta),
            "annotation": str(write_tss(tmp_path / "t.tsv", GENES)),
            "expression": str(write_bed(tmp_path / "e.bed", GENES)),
        },
        "split": {"min_individuals": 5},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).with_name("snakemake")
    proc = subprocess.run(
        [str(snakemake), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "phenotypes"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "bad" / "phenotypes.log").read_text()
    assert re.search(r"ERROR ps2f: InputError: .*t\.tsv: line 5: TSS 4001 .* past the end", log)
    assert "Traceback" not in log and "Traceback" not in proc.stderr
    assert not (tmp_path / "results" / "bad" / "phenotypes").exists() or not any(
        (tmp_path / "results" / "bad" / "phenotypes").iterdir()
    )


# ----------------------------------------------------------------------------------------------
# a GTF given as the annotation (issue 20, 5c)

GTF_HEADER = (
    "##description: evidence-based annotation of the human genome (GRCh37), version 19\n"
    "##provider: GENCODE\n##format: gtf\n"
)
GTF_GENE = (
    'chr22\tHAVANA\tgene\t16062157\t16063236\t.\t+\t.\tgene_id "ENSG00000233866.1"; '
    'gene_type "lincRNA";\n'
)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("gz", [False, True])
def test_gtf_given_as_the_annotation_is_an_error_naming_the_file(tmp_path, header, gz):
    import gzip

    text = (GTF_HEADER if header else "") + GTF_GENE * 3
    path = tmp_path / ("gencode.gtf.gz" if gz else "gencode.gtf")
    with (gzip.open if gz else open)(path, "wt") as fh:
        fh.write(text)
    with pytest.raises(InputError, match=re.escape(f"{path}: this looks like a GTF/GFF")) as err:
        read_tss_table(path)
    assert "not a TSS table" in str(err.value) and "'gene_id', 'chrom'" in str(err.value)


def test_ragged_or_empty_annotation_is_an_error_naming_the_file(tmp_path):
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text(
        "gene_id\tchrom\tstrand\ttss\n"
        f"{GENES[0]}\tchr1\t+\t1001\n{GENES[1]}\tchr1\t+\t2001\textra\textra\n"
    )
    with pytest.raises(InputError, match=re.escape(f"{ragged}: TSS table is not a tab-separated")):
        read_tss_table(ragged)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InputError, match=re.escape(f"{empty}: TSS table is not a tab-separated")):
        read_tss_table(empty)


def test_almost_every_gene_held_out_is_logged(tmp_path, caplog):
    """Issue 20 item 6: a split holding out most genes used to pass without a word."""
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        _build(tmp_path, GENES, GENES, dataclasses.replace(CFG, heldout_gene_fraction=0.7))
    assert re.search(r"split.heldout_gene_fraction 0.7 holds out \d+ of the \d+ sequence-model "
                     r"genes \(\d+%\): the p-/r-models train on \d+ genes only", caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        _build(tmp_path, GENES, GENES, dataclasses.replace(CFG, heldout_chromosomes=("1",)))
    assert "split.heldout_chromosomes ['1'] holds out" in caplog.text and "(100%)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ps2f"):
        _build(tmp_path, GENES, GENES, dataclasses.replace(CFG, heldout_gene_fraction=0.2))
    assert "holds out" not in caplog.text


def test_input_replaced_by_an_older_copy_reruns_the_run(tmp_path):
    """Issue 20 item 7: Snakemake's mtime trigger misses an input replaced by a copy with an
    older time stamp (cp -p, rsync -a, a restored backup); the phenotypes job's input stamps
    (size, mtime) are params, so any change re-runs it, and everything after it."""
    import os
    import subprocess
    import sys

    import yaml

    vcf = write_vcf(
        tmp_path / "g.vcf.gz", "chr1", 8000, SAMPLES, ["1500 v1 A G " + " ".join(["0|1"] * 12)]
    )
    fasta = write_fasta(tmp_path / "ref.fa", {"chr1": "ACGT" * 2000})
    bed = write_bed(tmp_path / "e.bed", GENES)
    config = {
        "name": "stamps",
        "simulate": {"enabled": False},
        "contigs": ["chr1"],
        "inputs": {
            "genotypes": str(vcf),
            "reference": str(fasta),
            "annotation": str(write_tss(tmp_path / "t.tsv", GENES)),
            "expression": str(bed),
        },
        "split": {"min_individuals": 5, "heldout_individual_fraction": 0.25},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).with_name("snakemake")
    target = "results/stamps/phenotypes/genes.tsv"

    def run(*args):
        return subprocess.run(
            [str(snakemake), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
             "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", *args, target],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    assert run().returncode == 0
    assert "Nothing to be done" in run("-n").stdout + run("-n").stderr
    # the expression replaced by another table whose time stamp is a day older
    stamp = bed.stat().st_mtime - 86_400
    write_bed(bed, GENES, values=_values(len(GENES), SAMPLES, seed=1))
    os.utime(bed, (stamp, stamp))
    dry = run("-n")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0 and re.search(r"(rule|checkpoint) phenotypes:", out), out
    assert "Params have changed" in out or "params have changed" in out.lower(), out


# --- issue 20, item 7: a lab's own files (compression, separators, covariate layouts) ---------


def test_gzipped_tables_without_a_gz_name_are_read(tmp_path):
    """Was: "'utf-8' codec can't decode byte 0x8b" (pandas goes by the file name alone)."""
    import gzip

    bed, tss = write_bed(tmp_path / "e.bed", GENES), write_tss(tmp_path / "t.tsv", GENES)
    (tmp_path / "e.txt").write_bytes(gzip.compress(bed.read_bytes()))
    (tmp_path / "t.txt").write_bytes(gzip.compress(tss.read_bytes()))
    genes, values = read_expression_bed(tmp_path / "e.txt")
    pd.testing.assert_frame_equal(values, read_expression_bed(bed)[1])
    pd.testing.assert_frame_equal(read_tss_table(tmp_path / "t.txt"), read_tss_table(tss))


@pytest.mark.parametrize("sep, what, cmd", [(",", "commas", "tr ','"), (" ", "spaces", "tr -s ' '")])
def test_comma_or_space_separated_tables_name_the_separator(tmp_path, sep, what, cmd):
    """Was: 'found 1 columns' / 'lacks columns [all of them]'."""
    bed = write_bed(tmp_path / "e.bed", GENES)
    bed.write_text(bed.read_text().replace("\t", sep))
    with pytest.raises(InputError, match=rf"e\.bed: .*found 1 columns\. Its header line is "
                       rf"separated by {what}.*{re.escape(cmd)}"):  # fmt: skip
        read_expression_bed(bed)
    tss = write_tss(tmp_path / "t.tsv", GENES)
    tss.write_text(tss.read_text().replace("\t", sep))
    with pytest.raises(InputError, match=rf"t\.tsv: TSS table lacks columns .* by {what}"):
        read_tss_table(tss)


def test_covariates_one_sample_per_row_are_named_with_the_transpose(tmp_path):
    """PLINK .eigenvec and other sample-per-row tables: was 'value 'S0' is not a finite number'
    (.eigenvec) or a PC count error listing sample IDs as covariate names."""
    from ps2f.phenotypes import select_covariates

    pcs = pd.DataFrame(np.random.default_rng(0).normal(size=(len(SAMPLES), 3)),
                       columns=["PC1", "PC2", "PC3"])  # fmt: skip
    plink = pcs.copy()
    plink.insert(0, "IID", SAMPLES)
    plink.insert(0, "#FID", SAMPLES)
    plink.to_csv(tmp_path / "pcs.eigenvec", sep="\t", index=False)
    with pytest.raises(InputError, match=r"pcs\.eigenvec: a PLINK \.eigenvec-style table .* "
                       r"datamash transpose"):  # fmt: skip
        read_covariates(tmp_path / "pcs.eigenvec")
    pcs.insert(0, "sample", SAMPLES)
    pcs.to_csv(tmp_path / "cov.txt", sep="\t", index=False)
    cov = read_covariates(tmp_path / "cov.txt")  # reads: one "covariate" per sample
    with pytest.raises(InputError, match=r"cov\.txt: the genotype-PC covariates are columns "
                       r"\(\['PC1', 'PC2', 'PC3'\]\.\.\.\) and the rows are samples"):  # fmt: skip
        select_covariates(cov, 2, 0, source=str(tmp_path / "cov.txt"))
    # the right layout works
    cov_t = pcs.set_index("sample").T.rename_axis("id")
    cov_t.to_csv(tmp_path / "right.txt", sep="\t")
    assert list(select_covariates(read_covariates(tmp_path / "right.txt"), 2, 0).index) == [
        "PC1", "PC2"]  # fmt: skip


def test_text_covariate_asks_for_a_numeric_code(tmp_path):
    (tmp_path / "c.txt").write_text("id\tS0\tS1\tS2\nPC1\t0.1\t0.2\t0.3\nsex\tmale\tfemale\tmale\n")
    with pytest.raises(InputError, match=r"c\.txt: line 3, covariate 'sex', sample S0: value "
                       r"'male' is not a finite number \(a category: code it as numbers"):  # fmt: skip
        read_covariates(tmp_path / "c.txt")


@pytest.mark.parametrize(
    "vcf_ids, bed_ids, hint",
    [
        ([f"s{i}" for i in range(12)], SAMPLES, "letter case only"),
        ([f"{s}_{s}" for s in SAMPLES], SAMPLES, r"FID_IID .*plink2 --export vcf id-paste=iid"),
        ([f"GTEX-{i:04d}" for i in range(12)], [f"GTEX-{i:04d}-0011-R10a-SM-{i}" for i in range(12)],
         "GTEx-style sample IDs"),
    ],
    ids=["case", "plink_fid_iid", "gtex"],
)  # fmt: skip
def test_sample_ids_spelled_differently_name_the_pattern(tmp_path, vcf_ids, bed_ids, hint):
    """Was: the examples alone ('expression has [...], VCF has [...]')."""
    with pytest.raises(InputError, match=rf"only 0 individuals have expression and genotypes.*"
                       rf"VCF has .*\]\. .*{hint}"):  # fmt: skip
        _build(tmp_path, GENES, GENES, samples=vcf_ids, bed_samples=bed_ids)


def test_annotations_from_other_tools_name_the_format(tmp_path):
    """A headerless BED of genes (was: 'lacks columns [all]'); BioMart's 1/-1 strands."""
    bed = tmp_path / "genes.bed"
    bed.write_text("chr1\t1000\t2000\tENSG00000000001\t0\t+\nchr1\t3000\t4000\tENSG2\t0\t-\n")
    with pytest.raises(InputError, match=r"genes\.bed: this looks like a BED file .*start \+ 1 "
                       r"on '\+', end on '-'"):  # fmt: skip
        read_tss_table(bed)
    tss = write_tss(tmp_path / "t.tsv", GENES, strand=["1", "-1", "1", "1", "-1"])
    with pytest.raises(InputError, match=r"line 2: strand '1' .*BioMart writes 1 / -1"):
        read_tss_table(tss)


def test_windows_line_endings_are_read_right(tmp_path):
    """CRLF tables (Excel, Windows editors): no '\\r' left on the last sample or column."""
    bed, tss = write_bed(tmp_path / "e.bed", GENES), write_tss(tmp_path / "t.tsv", GENES)
    (tmp_path / "e_crlf.bed").write_bytes(bed.read_bytes().replace(b"\n", b"\r\n"))
    (tmp_path / "t_crlf.tsv").write_bytes(tss.read_bytes().replace(b"\n", b"\r\n"))
    genes, values = read_expression_bed(tmp_path / "e_crlf.bed")
    assert list(values.columns) == SAMPLES
    pd.testing.assert_frame_equal(values, read_expression_bed(bed)[1])
    pd.testing.assert_frame_equal(read_tss_table(tmp_path / "t_crlf.tsv"), read_tss_table(tss))
