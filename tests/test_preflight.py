"""The pre-flight check: which model variants MetaXcan will use against a GWAS table or a VCF."""

from __future__ import annotations

import gzip
import sqlite3

import pandas as pd
import pytest
from conftest import GEUVADIS

from ps2f.errors import InputError
from ps2f.io.predictdb import EXTRA_COLUMNS, predictdb_var_ids, write_predictdb
from ps2f.io.variant_match import (
    match_variants,
    read_gwas_variants,
    read_model_variants,
    summarize_matches,
)
from ps2f.preflight import main

# (rsid, 1-based position, ref, alt): one gene's model
MODEL = [
    ("rs1", 1000, "A", "G"),  # GWAS has it by rsID
    ("rs2", 2000, "C", "T"),  # GWAS has it by rsID with REF/ALT swapped
    ("rs3", 3000, "G", "A"),  # GWAS keys it chr:pos (id_format)
    ("rs4", 4000, "A", "C"),  # GWAS has the varID without the build suffix
    ("rs5", 5000, "C", "A"),  # GWAS has it at another position (another build): an rsID join
    # does not care, a varID join misses it
    ("rs6", 6000, "A", "G"),  # GWAS has the position with the alleles on the other strand
    ("rs7", 7000, "A", "G"),  # GWAS has another variant at the position
    ("rs8", 8000, "G", "T"),  # not in the GWAS
]


def _write_db(path, model=MODEL, contig="22"):
    ref = [m[2] for m in model]
    alt = [m[3] for m in model]
    weights = pd.DataFrame(
        {
            "gene": "ENSG1",
            "rsid": [m[0] for m in model],
            "varID": predictdb_var_ids(contig, [m[1] - 1 for m in model], ref, alt, "b37"),
            "ref_allele": ref,
            "eff_allele": alt,
            "weight": 0.1,
        }
    )
    extra = pd.DataFrame({c: [None] for c in EXTRA_COLUMNS}).assign(gene="ENSG1")
    write_predictdb(path, weights, extra, 100, "unit")


@pytest.fixture
def files(tmp_path):
    _write_db(tmp_path / "m.db")
    gwas = pd.DataFrame(
        {
            "variant_id": ["rs1", "rs2", "22:3000", "22_4000_A_C", "rs5", "x6", "x7", "rs99"],
            "chromosome": ["22", "chr22", "22", "22", "22", "22", "22", "22"],
            "base_pair_location": [1000, 2000, 3000, 4000, 5500, 6000, 7000, 9000],
            "effect_allele": ["G", "C", "A", "C", "A", "C", "T", "A"],
            "other_allele": ["A", "T", "G", "A", "C", "T", "A", "C"],
            "beta": 0.0,
        }
    )
    with gzip.open(tmp_path / "gwas.tsv.gz", "wt") as fh:
        gwas.to_csv(fh, sep="\t", index=False)
    return tmp_path


def test_every_variant_gets_its_reason(files):
    model = read_model_variants(files / "m.db")
    assert model["pos"].tolist() == [m[1] for m in MODEL] and set(model["chrom"]) == {"22"}
    gwas = read_gwas_variants(files / "gwas.tsv.gz")
    assert gwas["chrom"].tolist()[:2] == ["22", "22"]  # chr prefix removed
    got = match_variants(model, gwas).set_index("rsid")
    assert got["status"].to_dict() == {
        "rs1": "used",
        "rs2": "used",
        "rs3": "id_format",
        "rs4": "build_suffix",
        "rs5": "used",
        "rs6": "strand_flip",
        "rs7": "other_alleles",
        "rs8": "absent",
    }
    assert got["swapped"].to_dict() == {**{r: False for r in got.index}, "rs2": True}
    summary = summarize_matches(got.reset_index()).set_index("status")
    assert summary.loc["used", "variants"] == 3 and summary.loc["used", "fraction"] == 0.375
    # joined on varID: rsIDs are found by position, rs5 (at another position) by its rsID;
    # S-PrediXcan drops IDs without "rs" unless --keep_non_rsid
    by_var = match_variants(model, gwas, key="varID").set_index("rsid")["status"]
    assert by_var[["rs1", "rs3", "rs4", "rs5"]].tolist() == [
        "id_format", "id_format", "build_suffix", "other_position"
    ]
    exact = gwas.assign(id=gwas["id"].replace("22:3000", "22_3000_G_A_b37"))
    by_var = match_variants(model, exact, key="varID").set_index("rsid")["status"]
    assert by_var["rs3"] == "non_rs_id_dropped"
    assert match_variants(model, exact, key="varID", keep_non_rsid=True).set_index("rsid").loc[
        "rs3", "status"
    ] == "used"


def test_preflight_command_prints_fractions_and_advice(files, capsys):
    out = files / "matches.tsv"
    assert main(["--db", str(files / "m.db"), "--gwas", str(files / "gwas.tsv.gz"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "37.5% used" in text and "--model_db_snp_key varID" in text
    assert "_b37/_b38 suffix" in text and "strand" in text
    assert len(pd.read_csv(out, sep="\t")) == len(MODEL)
    # a model under the required fraction fails the check
    assert main(["--db", str(files / "m.db"), "--gwas", str(files / "gwas.tsv.gz"), "--min-fraction", "0.5"]) == 1


def test_preflight_bad_inputs_name_the_file(files, capsys):
    (files / "bad.tsv").write_text("a\tb\n1\t2\n")
    assert main(["--db", str(files / "m.db"), "--gwas", str(files / "bad.tsv")]) == 2
    err = capsys.readouterr().err
    assert "bad.tsv" in err and "variant_id" in err
    (files / "not.db").write_text("not sqlite")
    with pytest.raises(InputError, match="not.db"):
        read_model_variants(files / "not.db")
    con = sqlite3.connect(files / "empty.db")
    con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(InputError, match="weights"):
        read_model_variants(files / "empty.db")


@pytest.mark.shared
def test_preflight_against_the_real_vcf(tmp_path, capsys):
    """A model built from the real Phase 1 VCF's records: Predict.py would use all of them."""
    from cyvcf2 import VCF

    vcf_path = GEUVADIS.parent / "geuvadis_chr22_GRCh37" / "genotypes" / "predixcan_example_chr22.vcf.gz"
    model = []
    for rec in VCF(str(vcf_path)):
        if len(rec.REF) == 1 and len(rec.ALT) == 1 and len(rec.ALT[0]) == 1 and rec.ID:
            model.append((rec.ID, rec.POS, rec.REF, rec.ALT[0]))
        if len(model) == 50:
            break
    _write_db(tmp_path / "real.db", model)
    assert main(["--db", str(tmp_path / "real.db"), "--vcf", str(vcf_path)]) == 0
    assert "100.0% used" in capsys.readouterr().out
