"""Bad workflow configs (docs: ../shared/bad_inputs.md, "Config"): each stops the workflow
when it is parsed, with a message naming the key and the fix.

The checks are the ones the Snakefile runs: ``snakemake.utils.validate`` against
``workflow/schemas/config.schema.yaml``, then ``workflow/rules/common.smk``, which calls
``CNNConfig.from_workflow``, ``check_split_config``, ``check_scorer_configs`` and
``alphagenome.check_api_key``. They are called in-process here, case by case; three
``snakemake -n`` runs check that the Snakefile really stops on them.
Already covered elsewhere: a window that is not a multiple of the stride, through ``snakemake -n``
(test_train_pipeline.py::test_bad_window_fails_when_the_workflow_is_parsed); missing Enformer
weights (test_scorers_models.py::test_weights_errors_name_the_key_and_how_to_get_them, and
through ``snakemake -n``: test_scorers_workflow.py::test_missing_enformer_weights_fail_at_parse_time);
unknown track descriptions (test_scorers_models.py::test_tracks_by_description_need_a_local_targets_file);
no API key once sequences are found uncached
(test_scorers.py::test_alphagenome_missing_key_is_a_clear_error).
"""

from __future__ import annotations

import copy
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ps2f.errors import ConfigError
from ps2f.models.config import CNNConfig, check_split_config
from ps2f.models.scorers import check_scorer_configs
from ps2f.models.scorers import enformer as enf
from ps2f.models.scorers.alphagenome import API_KEY_ENV, check_api_key

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def validated(**sections) -> dict:
    """The embedded default config with ``sections`` merged in, validated as the Snakefile does."""
    cfg = copy.deepcopy(DEFAULT)
    for key, value in sections.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and key in cfg else value
    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


def test_the_embedded_default_passes_every_check():
    cfg = validated()
    assert CNNConfig.from_workflow(cfg["s2f"]).total_stride == 64
    check_split_config(cfg["split"], cfg["contigs"])
    assert check_scorer_configs(cfg["scorers"]) == {}


# ----------------------------------------------------------------------------------------------
# the schema: unknown keys, wrong types, out-of-range values


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        # unknown key (a typo), at the top level, in a section, in a scorer entry
        ({"nmae": "x"}, ["'nmae' was unexpected"]),
        ({"split": {"heldout_gene_fracton": 0.3}}, ["'heldout_gene_fracton' was unexpected", "['split']"]),
        ({"s2f": {"model": {"n_block": 3}}}, ["'n_block' was unexpected", "['model']"]),
        (
            {"scorers": [{"name": "t", "type": "precomputed", "table": "t.tsv", "tabel": "x"}]},
            ["'tabel' was unexpected", "['scorers']"],
        ),
        # wrong type
        ({"s2f": {"window_bp": "40960"}}, ["'40960' is not of type 'integer'", "['s2f']['window_bp']"]),
        ({"contigs": "chr22"}, ["'chr22' is not of type 'array'", "['contigs']"]),
        ({"split": {"seed": 1.5}}, ["1.5 is not of type 'integer'", "['split']['seed']"]),
        ({"simulate": {"enabled": "yes"}}, ["'yes' is not of type 'boolean'", "['enabled']"]),
        ({"expression": {"normalization": "log2"}}, ["'log2' is not one of", "['normalization']"]),
        ({"scorers": {"name": "e"}}, ["is not of type 'array'", "['scorers']"]),
        # window length not positive
        ({"s2f": {"window_bp": 0}}, ["0 is less than the minimum of 16", "['s2f']['window_bp']"]),
        ({"s2f": {"window_bp": -640}}, ["-640 is less than the minimum", "['window_bp']"]),
        # split fractions outside [0, 1) (each is a share of what the previous split left)
        ({"split": {"heldout_gene_fraction": 1.0}}, ["1.0 is greater than or equal to the maximum of 1", "['heldout_gene_fraction']"]),
        ({"split": {"heldout_gene_fraction": -0.1}}, ["-0.1 is less than the minimum of 0", "['heldout_gene_fraction']"]),
        ({"split": {"heldout_individual_fraction": 0}}, ["0 is less than or equal to the minimum of 0", "['heldout_individual_fraction']"]),
        ({"split": {"validation_individual_fraction": 1.5}}, ["1.5 is greater than or equal to the maximum", "['validation_individual_fraction']"]),
    ],
)  # fmt: skip
def test_schema_rejects_unknown_keys_wrong_types_and_ranges(sections, expected):
    with pytest.raises(WorkflowError, match="Error validating config file") as err:
        validated(**sections)
    msg = str(err.value) + "".join(map(str, getattr(err.value, "args", ())))
    for part in expected:
        assert part in msg, (part, msg[:600])


# ----------------------------------------------------------------------------------------------
# window length vs the model's stride (common.smk: CNNConfig.from_workflow)


@pytest.mark.parametrize(
    ("window", "model", "nearest"),
    [
        (1000, {}, "= 64; nearest valid s2f.window_bp: 960 or 1024"),  # default model, stride 64
        (40, {}, "= 64; nearest valid s2f.window_bp: 64 "),  # shorter than one stride
        (640, {"pool": 3}, "= 36; nearest valid s2f.window_bp: 612 or 648"),
        (640, {"n_blocks": 3}, "= 256; nearest valid s2f.window_bp: 512 or 768"),
    ],
)
def test_window_must_be_a_positive_multiple_of_the_stride(window, model, nearest):
    cfg = validated(s2f={"window_bp": window, "model": {**DEFAULT["s2f"]["model"], **model}})
    with pytest.raises(
        ValueError, match=rf"s2f.window_bp={window} must be a positive multiple"
    ) as e:
        CNNConfig.from_workflow(cfg["s2f"])
    assert nearest in str(e.value) and "s2f.model.stem_pool" in str(e.value)


# ----------------------------------------------------------------------------------------------
# chromosome splits (common.smk: check_split_config)


@pytest.mark.parametrize(
    ("split", "contigs", "message"),
    [
        ({"heldout_chromosomes": ["chr9"]}, ["chr21", "chr22"], r"split.heldout_chromosomes \['chr9'\]: not among contigs \['chr21', 'chr22'\]"),
        ({"validation_chromosomes": ["20"]}, ["chr21", "chr22"], r"split.validation_chromosomes \['20'\]: not among contigs"),
        ({"heldout_chromosomes": ["chr21"], "validation_chromosomes": ["21"]}, ["chr21", "chr22"], r"share \['21'\]; validation genes must never be held-out"),
        ({"heldout_chromosomes": ["chr21", "22"]}, ["chr21", "chr22"], r"cover every contig \['chr21', 'chr22'\]: no gene would be left to fit"),
        ({"heldout_chromosomes": ["21"], "validation_chromosomes": ["chr22"]}, ["chr21", "chr22"], r"cover every contig"),
    ],
)  # fmt: skip
def test_split_chromosomes_must_hold_genes(split, contigs, message):
    cfg = validated(split=split, contigs=contigs)
    with pytest.raises(ConfigError, match=message):
        check_split_config(cfg["split"], cfg["contigs"])


def test_split_chromosomes_accept_either_chr_spelling():
    cfg = validated(
        split={"heldout_chromosomes": ["19"], "validation_chromosomes": ["chr17"]},
        contigs=["chr17", "chr19", "chr22"],
    )
    check_split_config(cfg["split"], cfg["contigs"])
    check_split_config({"heldout_chromosomes": ["chr1"]}, ["1", "2"])


# ----------------------------------------------------------------------------------------------
# Enformer: weights that exist but cannot be used; track names


def _enformer(weights: Path, **kw) -> list[dict]:
    return [{"name": "enf", "type": "enformer", "weights": str(weights), **kw}]


def _zip_weights(path: Path) -> Path:
    """A file that starts like torch.save's zip format (only the start is read at parse time)."""
    path.write_bytes(b"PK\x03\x04" + bytes(64))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"enf.pt is empty \(an interrupted copy\?\)"),
        (b"<html>404 Not Found</html>", r"enf.pt is neither a torch.save checkpoint nor a safetensors file"),
        (b"version https://git-lfs.github.com/spec/v1\n", r"neither a torch.save checkpoint .* starts with b'version h"),
    ],
)  # fmt: skip
def test_unusable_enformer_weights_file_fails_at_parse_time(tmp_path, content, message):
    (tmp_path / "enf.pt").write_bytes(content)
    with pytest.raises(ConfigError, match=rf"scorers\[0\].weights: .*{message}") as err:
        check_scorer_configs(_enformer(tmp_path / "enf.pt"))
    assert "never downloaded at run time" in str(err.value)


def test_unreadable_enformer_weights_fail_at_parse_time(tmp_path):
    # a path that exists but cannot be opened for reading (a socket; chmod 000 would not stop
    # root, which runs CI containers)
    path = tmp_path / "enf.pt"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        with pytest.raises(ConfigError, match=r"scorers\[0\].weights: cannot read .*enf.pt \("):
            check_scorer_configs(_enformer(path))
    finally:
        sock.close()
    # a Hugging Face directory whose weight file is broken
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"pytorch_model.bin is empty"):
        check_scorer_configs(_enformer(hf))


def test_readable_enformer_weights_pass_the_parse_time_check(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"target_length": 896}')
    _zip_weights(tmp_path / "hf" / "pytorch_model.bin")
    header = b'{"__metadata__":{}}'
    (tmp_path / "enf.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    for weights in (
        _zip_weights(tmp_path / "enf.pt"),
        tmp_path / "hf",
        tmp_path / "enf.safetensors",
    ):
        assert check_scorer_configs(_enformer(weights))["enf"]["tracks"] == [5110]


def test_unknown_enformer_track_fails_at_parse_time(tmp_path):
    weights = _zip_weights(tmp_path / "enf.pt")
    with pytest.raises(ConfigError, match=r"scorers\[0\].tracks \[6000\]: the human head has 5313"):
        check_scorer_configs(_enformer(weights, tracks=[5110, 6000]))
    with pytest.raises(ConfigError, match=r"needs a local targets table"):
        check_scorer_configs(_enformer(weights, tracks=["CAGE:GM12878"]))
    targets = tmp_path / "targets_human.txt"
    pd.DataFrame(
        {"index": [5110], "identifier": ["CNhs12331"], "description": ["CAGE:B lymphoblastoid"]}
    ).to_csv(targets, sep="\t", index=False)
    with pytest.raises(ConfigError, match=r"no track described 'CAGE:GM12878'"):
        check_scorer_configs(_enformer(weights, tracks=["CAGE:GM12878"], targets_file=str(targets)))
    ok = check_scorer_configs(
        _enformer(weights, tracks=["cage:b lymphoblastoid"], targets_file=str(targets))
    )
    assert enf.resolve_tracks(ok["enf"]["tracks"], targets) == [5110]


# ----------------------------------------------------------------------------------------------
# AlphaGenome without an API key (common.smk: check_api_key)


def test_alphagenome_without_a_key_or_a_cache_fails_at_parse_time(tmp_path):
    spec = check_scorer_configs(
        [{"name": "ag", "type": "alphagenome", "cache_dir": str(tmp_path / "cache")}]
    )["ag"]
    for environ in ({}, {API_KEY_ENV: "  "}):
        with pytest.raises(
            ConfigError,
            match=r"scorers\[0\] \(alphagenome 'ag'\): ALPHAGENOME_API_KEY is not set in the "
            r"environment and the response cache .*cache' holds nothing.*export ALPHAGENOME_API_KEY"
            r".*--envvars ALPHAGENOME_API_KEY.*'precomputed'",
        ):
            check_api_key(spec, "scorers[0]", environ)
    check_api_key(spec, "scorers[0]", {API_KEY_ENV: "k"})
    # a cache with answers may serve the run without a key (checked again per sequence)
    cached = tmp_path / "cache" / "CAGE" / "0123456789abcdef" / "ab"
    cached.mkdir(parents=True)
    (cached / "abcd.npz").write_bytes(b"")
    check_api_key(spec, "scorers[0]", {})


# ----------------------------------------------------------------------------------------------
# the Snakefile stops on them when it is parsed


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"splt": {"seed": 1}}, "'splt' was unexpected"),
        ({"s2f": {"window_bp": 1000}}, "s2f.window_bp=1000 must be a positive multiple of the total stride"),
        ({"split": {"heldout_chromosomes": ["chr9"]}}, "config: split.heldout_chromosomes ['chr9']: not among contigs ['sim1']"),
        ({"scorers": [{"name": "ag", "type": "alphagenome"}]}, "config: scorers[0] (alphagenome 'ag'): ALPHAGENOME_API_KEY is not set"),
        ({"phenotype": {"modality": "methylation"}}, "config: expression.normalization: log1p does not fit phenotype.modality methylation; use one of ['m_value', 'none']"),
        ({"simulate": {"modality": "methylation"}}, "config: simulate.modality is methylation but phenotype.modality is expression"),
        ({"simulate": {"enabled": False}, "inputs": {"genotypes": "g.vcf.gz", "reference": "r.fa", "expression": "e.bed"}}, "config: inputs.annotation is not set; phenotype.modality expression needs the TSS table"),
        ({"external_cohort": {"genotypes": "b.vcf.gz", "expression": "b.bed"}}, "config: external_cohort ['expression', 'genotypes'] set in a simulated run"),
        ({"simulate": {"enabled": False}, "inputs": {"genotypes": "g.vcf.gz", "reference": "r.fa", "expression": "e.bed", "annotation": "t.tsv"}, "external_cohort": {"genotypes": "b.vcf.gz"}}, "config: external_cohort needs ['expression'] too"),
    ],
)  # fmt: skip
def test_snakemake_dry_run_stops_at_parse_time(tmp_path, sections, expected):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(sections))
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config" / "config.yaml"),
            str(tmp_path / "bad.yaml"),
            "-n",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and expected in out, out[-3000:]
    assert "Job stats" not in out  # no DAG was built
