"""Faults a run must survive (../shared/bad_inputs.md, "Faults").

* Snakemake SIGKILLed (its whole process group) while ``train_p`` is mid-training: the killed
  job leaves none of its declared outputs, every file the finished jobs wrote is whole, and a
  plain re-run trusts those, re-runs ``train_p`` only, and resumes it from its checkpoint;
  a re-run of a simulation killed mid-way removes the working folder it left;
* the same seed and inputs give identical metrics tables, in two processes with different
  hash seeds;
* genotype ingestion and haplotype materialization on a cohort 10x the default one stay
  within a memory bound set by one record or one batch, not by the cohort;
* out of GPU memory (simulated on CPU) in training, prediction or an external scorer stops
  with a :class:`~ps2f.errors.ConfigError` naming the batch size to lower.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, genotypes_params, phenotypes_params
from snakemake.utils import validate

from ps2f.errors import ConfigError
from ps2f.genome.store import VariantStore
from ps2f.pipeline.common import read_table
from ps2f.training import checkpoint_path_for, load_model

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TESTS = REPO / "tests"

# The smallest simulated cohort on which every rule does its real work: 6 genes x 40
# individuals, a one-block CNN on 512-bp windows, 3 short epochs.
TINY = {
    "name": "tiny",
    "simulate": {"enabled": True, "n_individuals": 40, "n_genes": 6, "seed": 3},
    "contigs": ["sim1"],
    "s2f": {
        "window_bp": 512,
        "r_model_epochs": 2,
        "model": {"first_filters": 8, "n_blocks": 1, "block_filters": 8, "pool": 4, "dense": 8},
        "train": {"epochs": 3, "batch_size": 16, "max_items_per_epoch": 64, "device": "cpu"},
    },
    "baselines": {"cis_window_bp": 1000, "random_forest": {"n_estimators": 10}},
    "evaluate": {"n_boot": 20, "n_permutations": 50},
}


def _python_env(*paths: Path, **extra: str) -> dict[str, str]:
    """The environment with ``paths`` in front of PYTHONPATH."""
    old = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*map(str, paths), *([old] if old else [])]),
        **extra,
    }


# ------------------------------------------------------------------------------------------
# killed mid-rule, resumed


# Imported by every Python process of the killed run (a sitecustomize on PYTHONPATH): after the
# training rule has written its first resume checkpoint it waits, so the kill lands mid-training
# after a known epoch instead of racing a fast CPU. Nothing else changes.
_HOLD_AFTER_FIRST_CHECKPOINT = """
import sys
import time


class _HoldAfterFirstCheckpoint:
    def find_spec(self, name, path=None, target=None):
        if name != "ps2f.training.checkpoint":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            save = module.save_resume_state

            def save_then_hold(*args, **kwargs):
                save(*args, **kwargs)
                time.sleep(600)

            module.save_resume_state = save_then_hold

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _HoldAfterFirstCheckpoint())
"""


def _snakemake(workdir: Path, *args: str) -> list[str]:
    return [
        *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
        *("--directory", str(workdir), "--configfile", str(workdir / "config.yaml")),
        *("--cores", "2", *args),
    ]


def _incomplete_markers(workdir: Path) -> set[str]:
    """Outputs Snakemake's metadata marks as being written when it was killed."""
    root = workdir / ".snakemake" / "incomplete"
    files = [f for f in root.rglob("*") if f.is_file()] if root.exists() else []
    return {base64.b64decode(f.name).decode() for f in files}


def _check_whole(path: Path) -> None:
    """Read ``path`` completely with the reader its type needs: a torn file fails here."""
    name = path.name
    if name.endswith((".parquet", ".tsv")):
        read_table(path)
    elif name.endswith(".npz"):
        VariantStore.load(path)
    elif name.endswith(".json"):
        json.loads(path.read_text())
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    elif name.endswith(".ckpt"):
        torch.load(path, weights_only=True)
    elif name.endswith((".fa", ".fai", ".txt")):
        text = path.read_text()
        assert text.endswith("\n"), f"{path} does not end with a newline"
    elif not name.endswith(".tbi"):  # an index is checked by reading its data file
        raise AssertionError(f"no reader for {path}")


@pytest.mark.workflow
def test_killed_run_leaves_no_complete_output_and_resumes_training(tmp_path: Path) -> None:
    """SIGKILL snakemake's process group mid-``train_p``; a plain re-run resumes after epoch 1."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HOLD_AFTER_FIRST_CHECKPOINT)
    run = tmp_path / "results" / "tiny"
    model = run / "models" / "p_model.pt"
    history = run / "models" / "p_model.history.tsv"
    ckpt = checkpoint_path_for(model)
    target = str(model.relative_to(tmp_path))

    proc = subprocess.Popen(
        _snakemake(tmp_path, target),
        env=_python_env(hook),
        start_new_session=True,  # its own process group: the kill reaches every job
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not ckpt.exists():
            if proc.poll() is not None:
                pytest.fail(f"snakemake ended before train_p's checkpoint:\n{proc.stderr.read()}")
            assert time.monotonic() < deadline, "no training checkpoint within 240 s"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err[-3000:]

    # The killed job left none of its declared outputs; Snakemake's metadata names them.
    assert _incomplete_markers(tmp_path) == {str(p.relative_to(tmp_path)) for p in (model, history)}
    assert not model.exists() and not history.exists()
    # Every file of the finished jobs is whole, and no temporary file was left beside them.
    files = sorted(p for p in run.rglob("*") if p.is_file())
    assert {p.parent.name for p in files} == {"simulated", "phenotypes", "variants", "models"}
    assert [p.name for p in files if p.name.startswith(".")] == []
    for path in files:
        _check_whole(path)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1

    # A re-run (after --unlock, as the stale-lock message asks) re-runs train_p only.
    subprocess.run(_snakemake(tmp_path, "--unlock"), check=True, capture_output=True)
    proc = subprocess.run(_snakemake(tmp_path, target), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    stats = re.search(r"Job stats:\n(.*?)\n\n", proc.stderr, re.S)
    assert stats is not None, proc.stderr[-2000:]
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", stats.group(1), re.M)) == {
        "train_p": "1",
        "total": "1",
    }
    log = (tmp_path / "logs" / "tiny" / "train_p.log").read_text()
    assert "resuming from" in log and "after epoch 1 of 3" in log, log[-2000:]
    assert "p-model epoch 1/3" not in log  # the finished epoch is not trained again
    assert read_table(history)["epoch"].tolist() == [1, 2, 3]
    assert load_model(model).trained_as == "p"
    assert not ckpt.exists()


def test_rerun_of_a_killed_simulation_removes_its_working_folder(tmp_path: Path) -> None:
    """simulate_cohort works in a hidden folder that a kill leaves behind; the re-run clears it."""
    from ps2f.pipeline import run_simulate

    cfg = copy.deepcopy(TINY)
    validate(cfg, str(SCHEMA), set_default=True)
    stale = tmp_path / ".simulate-killed"
    stale.mkdir()
    (stale / "reference.fa").write_text(">sim1\nAC")  # a torn file from the killed run
    paths = run_simulate(cfg["simulate"], "sim1", tmp_path)
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    for path in paths.values():
        _check_whole(path)


# ------------------------------------------------------------------------------------------
# same seed, same metrics


def run_pipeline(out: str) -> None:
    """Every rule of the tiny DAG up to the metrics, through the pipeline functions, in ``out``.

    The rules' own functions with the workflow's wiring, in one process (a Snakemake run pays
    a Python start per job): simulate, phenotypes, genotypes, both CNNs and their predictions,
    both baselines, lead eQTLs, evaluate.
    """
    from ps2f.pipeline import (
        run_baseline,
        run_genotypes,
        run_phenotypes,
        run_predict,
        run_simulate,
        run_train,
    )
    from ps2f.pipeline.evaluate import run_evaluate, run_lead_eqtl

    torch.set_num_threads(1)
    cfg = copy.deepcopy(TINY)
    validate(cfg, str(SCHEMA), set_default=True)
    root = Path(out)
    sim = root / "simulated"
    run_simulate(cfg["simulate"], "sim1", sim)
    tables = [str(root / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    vcf, fasta = str(sim / "genotypes.vcf.gz"), str(sim / "reference.fa")
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        vcf,
        *tables,
        **phenotypes_params(cfg),
    )
    store = str(root / "sim1.npz")
    run_genotypes(vcf, fasta, *tables[:2], "sim1", **genotypes_params(cfg), out_store=store,
                  out_stats=str(root / "sim1.stats.json"))  # fmt: skip
    preds = []
    for kind, mode, name in (("p", "p", "p_model"), ("r", "reference_scoring", "r_model")):
        model = root / f"{name}.pt"
        run_train(
            kind,
            *tables,
            fasta,
            [store],
            cfg["s2f"],
            cfg["split"],
            {},
            1,
            str(model),
            str(root / f"{name}.history.tsv"),
            progress=False,
        )
        preds.append(str(root / f"{name}.parquet"))
        run_predict(mode, *tables, fasta, [store], str(model), cfg["s2f"], {}, 1, preds[-1])
    for method in ("elastic_net", "random_forest"):
        preds.append(str(root / f"{method}.parquet"))
        run_baseline(
            method,
            *tables,
            [store],
            cfg["baselines"],
            1,
            preds[-1],
            str(root / f"{method}.summary.tsv"),
            *(
                str(root / f"en{x}")
                for x in (".db", ".filtered.db", ".cov.txt.gz")
                if "net" in method
            ),
            run_name=cfg["name"],
        )
    lead, dosages = str(root / "lead.parquet"), str(root / "dosages.parquet")
    run_lead_eqtl(
        *tables,
        [store],
        cfg["baselines"]["cis_window_bp"],
        cfg["evaluate"],
        lead,
        str(root / "lead.csv"),
        dosages,
    )
    run_evaluate(
        preds,
        cfg["evaluate"],
        str(root / "predictions.parquet"),
        str(root / "metrics.parquet"),
        str(root / "metrics.csv"),
        str(root / "summary.parquet"),
        str(root / "summary.csv"),
        lead,
        dosages,
        str(root / "comparisons.parquet"),
    )


def test_same_seed_and_inputs_give_identical_metrics(tmp_path: Path) -> None:
    """Two runs in two processes (different hash seeds, so no set or dict order can leak)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import test_faults; test_faults.run_pipeline({str(d)!r})"],
            env=_python_env(TESTS, PYTHONHASHSEED=seed, OMP_NUM_THREADS="1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d, seed in ((tmp_path / "a", "1"), (tmp_path / "b", "2"))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-4000:]
    for table in ("predictions", "metrics", "summary", "comparisons"):
        a = pd.read_parquet(tmp_path / "a" / f"{table}.parquet")
        b = pd.read_parquet(tmp_path / "b" / f"{table}.parquet")
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    metrics = pd.read_parquet(tmp_path / "a" / "metrics.parquet")
    assert set(metrics["model"]) == {"p_model", "r_model", "elastic_net", "random_forest"}
    assert metrics["value"].notna().any()


# ------------------------------------------------------------------------------------------
# memory on a cohort 10x the default


def _config_10x() -> dict:
    """config/config.yaml with 10x the individuals (1,200 x 40 genes), validated."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["simulate"]["n_individuals"] *= 10
    cfg["simulate"]["n_genotype_pcs"] = 0  # covariates play no part in what is measured here
    cfg["expression"]["covariates"] = None
    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


@pytest.fixture(scope="module")
def cohort_10x(tmp_path_factory) -> Path:
    """Simulated cohort 10x the default, with its phenotypes tables (``run_*`` layout)."""
    from ps2f.pipeline import run_phenotypes, run_simulate

    root = tmp_path_factory.mktemp("cohort_10x")
    cfg = _config_10x()
    sim = root / "simulated"
    run_simulate(cfg["simulate"], "sim1", sim)
    tables = [str(root / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        str(sim / "genotypes.vcf.gz"),
        *tables,
        **phenotypes_params(cfg),
    )
    (root / "config.json").write_text(json.dumps(cfg))
    (root / "genotypes_params.json").write_text(json.dumps(genotypes_params(cfg)))
    return root


# Run in a child process: warm up (imports, htslib, the numba kernels' compilation or cache
# load, which alone take ~200 MiB) on the first gene only, print the peak RSS so far, then do
# the measured step on the whole cohort. The parent reads the child's whole-life peak with
# getrusage(RUSAGE_CHILDREN); the difference is what the step itself needed.
_MEASURE = """
import json, resource, sys
from pathlib import Path
import numpy as np
from ps2f.pipeline.common import read_table, write_table

step, root = sys.argv[1], Path(sys.argv[2])
cfg = json.loads((root / "config.json").read_text())
params = json.loads((root / "genotypes_params.json").read_text())
sim = root / "simulated"
genes = read_table(root / "genes.tsv")
write_table(genes.iloc[:1], root / "first_gene.tsv")
individuals = str(root / "individuals.tsv")
if step == "ingest":
    from ps2f.pipeline import run_genotypes

    def ingest(genes_path, store):
        run_genotypes(str(sim / "genotypes.vcf.gz"), str(sim / "reference.fa"), str(genes_path),
                      individuals, "sim1", **params, out_store=str(store),
                      out_stats=str(store) + ".json")

    ingest(root / "first_gene.tsv", root / "first_gene.npz")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ingest(root / "genes.tsv", root / "sim1.npz")
else:
    from ps2f.pipeline.train import s2f_builder

    inds = read_table(individuals)

    def builder(genes_table):
        return s2f_builder(genes_table, inds, str(sim / "reference.fa"),
                            [str(root / "sim1.npz")], cfg["s2f"]["window_bp"], {})[0]

    builder(genes.iloc[:1]).haplotypes(np.array([0]), np.array([0]))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    b = builder(genes)
    gi = np.repeat(np.arange(b.n_genes), len(inds))
    ii = np.tile(np.arange(len(inds)), b.n_genes)
    batch = cfg["s2f"]["train"]["batch_size"]
    total = 0
    for s in range(0, len(gi), batch):
        total += int(b.haplotypes(gi[s:s + batch], ii[s:s + batch]).sum(dtype=np.int64))
    assert total > 0
print(json.dumps({"baseline_kib": base}))
"""

_PEAK_OF_CHILD = """
import json, resource, subprocess, sys
child = subprocess.run([sys.executable, "-c", *sys.argv[1:]], stdout=subprocess.PIPE, text=True)
if child.returncode:
    sys.exit(child.returncode)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({**json.loads(child.stdout.splitlines()[-1]), "peak_kib": peak}))
"""


def _step_mib(step: str, root: Path) -> float:
    """MiB the step's peak RSS rose above the warmed-up child's peak."""
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_CHILD, _MEASURE, step, str(root)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    return (out["peak_kib"] - out["baseline_kib"]) / 1024


def test_ingestion_and_haplotypes_memory_is_bounded_by_a_chunk(cohort_10x: Path) -> None:
    """Peak RSS of VCF -> store and of all items' haplotypes, on 1,200 individuals x 40 genes.

    Each bound is a fixed 8 MiB (allocator and library buffers: repeated runs of either step
    measured 0-3.6 MiB here) plus what the step must hold, and is checked to be far below a
    cohort-sized buffer, so that the test can fail:

    * ingestion: + 4x the finished store in memory (~1/3 MiB). It reads one record at a time
      and keeps each record's genotypes bit-packed (2 bits per individual): the store, its
      sorting copy and the compressor's buffers. Holding the file's genotypes as cyvcf2 hands
      them out (records x individuals x 3 int16: 2 alleles and the phase) would not fit;
    * materializing every (gene, individual) item in training-sized batches: + 8 batches of
      codes (batch x 2 x L bytes). The builder keeps one reference buffer per gene and one bit
      per haplotype and variant; every item at once (items x 2 x L bytes, ~59 MiB) would not
      fit.
    """
    cfg = json.loads((cohort_10x / "config.json").read_text())
    ingest = _step_mib("ingest", cohort_10x)
    store = VariantStore.load(cohort_10x / "sim1.npz")
    n_ind = store.n_samples
    assert n_ind == 1200 and store.n_variants > 500
    fields = ("pos", "ref_bytes", "ref_offsets", "alt_bytes", "alt_offsets", "ids", "genotypes")
    store_mib = sum(getattr(store, f).nbytes for f in fields) / 2**20
    ingest_bound = 8 + 4 * store_mib
    with gzip.open(cohort_10x / "simulated" / "genotypes.vcf.gz", "rt") as fh:
        n_records = sum(1 for line in fh if not line.startswith("#"))
    assert n_records * n_ind * 3 * 2 / 2**20 > ingest_bound
    assert ingest < ingest_bound, f"ingestion needed {ingest:.1f} MiB > {ingest_bound:.1f}"

    haplotypes = _step_mib("haplotypes", cohort_10x)
    genes = read_table(cohort_10x / "genes.tsv")
    window, batch = cfg["s2f"]["window_bp"], cfg["s2f"]["train"]["batch_size"]
    hap_bound = 8 + 8 * batch * 2 * window / 2**20
    assert int(genes["s2f"].sum()) * n_ind * 2 * window / 2**20 > 4 * hap_bound
    assert haplotypes < hap_bound, f"haplotypes needed {haplotypes:.1f} MiB > {hap_bound:.1f}"


# ------------------------------------------------------------------------------------------
# out of GPU memory


def _out_of_memory(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_training_out_of_gpu_memory_names_the_batch_size(monkeypatch) -> None:
    from ps2f.models.cnn import S2FCNN
    from ps2f.models.config import CNNConfig
    from ps2f.training import TrainConfig, train_p_model

    class Source:
        window_bp = 64
        codes = np.random.default_rng(0).integers(0, 4, size=(2, 4, 2, 64), dtype=np.uint8)

        def haplotypes(self, gene_index, individual_index):
            return self.codes[gene_index, individual_index]

        def reference(self, gene_index):
            return self.codes[gene_index, 0, 0]

    items = pd.DataFrame(
        {"gene_index": np.repeat([0, 1], 4), "individual_index": np.tile(np.arange(4), 2)}
    )
    items["observed"] = np.linspace(0.0, 1.0, len(items))
    cnn = CNNConfig(window_bp=64, first_filters=4, n_blocks=1, block_filters=4, dense=4)
    monkeypatch.setattr(S2FCNN, "forward", _out_of_memory)
    with pytest.raises(ConfigError, match=r"lower s2f\.train\.batch_size") as err:
        train_p_model(Source(), items, cnn, TrainConfig(epochs=1, batch_size=8, device="cpu"))
    assert "training the p-model (epoch 1) in batches of 8" in str(err.value)
    assert isinstance(err.value.__cause__, torch.cuda.OutOfMemoryError)


def test_prediction_rule_out_of_gpu_memory_names_the_batch_size(
    cohort_10x: Path, tmp_path: Path, monkeypatch
) -> None:
    from ps2f.models.cnn import S2FCNN
    from ps2f.models.config import CNNConfig
    from ps2f.pipeline import run_predict
    from ps2f.training import save_model

    cfg = json.loads((cohort_10x / "config.json").read_text())
    model = S2FCNN(CNNConfig.from_workflow(cfg["s2f"]))
    model.trained_as = "p"
    save_model(model, tmp_path / "p_model.pt")
    store = cohort_10x / "sim1.npz"
    if not store.exists():  # written by the memory test; built here when this runs alone
        from ps2f.pipeline import run_genotypes

        sim = cohort_10x / "simulated"
        run_genotypes(
            str(sim / "genotypes.vcf.gz"),
            str(sim / "reference.fa"),
            str(cohort_10x / "genes.tsv"),
            str(cohort_10x / "individuals.tsv"),
            "sim1",
            **genotypes_params(cfg),
            out_store=str(store),
            out_stats=str(tmp_path / "stats.json"),
        )
    monkeypatch.setattr(S2FCNN, "embed", _out_of_memory)
    tables = [str(cohort_10x / n) for n in ("genes.tsv", "individuals.tsv", "expression.parquet")]
    with pytest.raises(ConfigError, match=r"lower s2f\.predict_batch_size") as err:
        run_predict(
            "p",
            *tables,
            str(cohort_10x / "simulated" / "reference.fa"),
            [str(cohort_10x / "sim1.npz")],
            str(tmp_path / "p_model.pt"),
            cfg["s2f"],
            {},
            1,
            str(tmp_path / "p_model.parquet"),
        )
    assert f"in batches of {cfg['s2f']['predict_batch_size']}" in str(err.value)
    assert not (tmp_path / "p_model.parquet").exists()


def test_scorer_out_of_gpu_memory_names_the_batch_size() -> None:
    from ps2f.pipeline.score import score_genes

    class Builder:
        window_bp = 16

        def haplotypes(self, gene_index, individual_index):
            return np.zeros((len(gene_index), 2, self.window_bp), dtype=np.uint8)

    class Scorer:
        name, window_bp, batch_size = "enformer", 16, 4
        score_haplotypes = staticmethod(_out_of_memory)

    genes = pd.DataFrame({"gene": ["G1"], "strand": ["+"]})
    with pytest.raises(ConfigError, match="lower batch_size of the scorer named 'enformer'") as e:
        score_genes(Scorer(), genes, ["I1", "I2"], Builder())
    assert "in batches of 4 sequences" in str(e.value)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_is_one_line_naming_the_file_not_a_traceback(tmp_path):
    """Issue 20 item 6: a full disk ended in a library traceback. /dev/full answers every write
    with ENOSPC; the rule output's temporary file is made a link to it."""
    script = tmp_path / "rule.py"
    script.write_text(
        "import os, sys\n"
        "import pandas as pd\n"
        "from pathlib import Path\n"
        "from ps2f.pipeline.common import setup_logging, write_table\n"
        "setup_logging(sys.argv[1])\n"
        "out = Path(sys.argv[2])\n"
        "os.symlink('/dev/full', out.with_name(f'.{out.name}.{os.getpid()}.tmp.parquet'))\n"
        "write_table(pd.DataFrame({'a': range(100_000)}), out)\n"
    )
    out = tmp_path / "res" / "table.parquet"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "rule.log"), str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    log = (tmp_path / "rule.log").read_text()
    assert re.search(
        rf"ERROR ps2f: disk full \(or quota exceeded\) while writing {re.escape(str(out))} "
        rf"\(.*No space left on device.*\); now [\d.]+ GiB free in {re.escape(str(out.parent))}",
        log,
    ), log
    assert "Traceback" not in proc.stderr and "Traceback" not in log
    assert list(out.parent.iterdir()) == []  # nothing half-written left behind
