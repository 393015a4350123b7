"""Sequence-model training through the pipeline functions, on the simulated cohort.

* the p-model learns the planted motif effect: per-gene r across held-out individuals on
  training genes >= 0.8 (truth ceiling ~ sqrt(h2) = 0.95 at h2 = 0.9);
* the fit / validation / held-out split is disjoint (the guard against SAGE-net's test ==
  validation gene bug), deterministic, and follows chromosomes when asked;
* the training rule keeps its resume checkpoint beside the model, resumes from it after a kill
  (a real SIGKILL of a subprocess) and ends where an uninterrupted run ends;
* a window that is not a multiple of the CNN's stride fails when the workflow is parsed.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
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
from conftest import REPO, genotypes_params, phenotypes_params
from snakemake.utils import validate

from ps2f.convergence import read_training_record
from ps2f.errors import ConfigError
from ps2f.phenotypes import assign_split
from ps2f.pipeline import run_genotypes, run_phenotypes, run_predict, run_simulate, run_train
from ps2f.pipeline.common import read_table
from ps2f.training import ValidationSplit, checkpoint_path_for, load_model, validation_split

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

# A short-window CPU model (as config/config.yaml) that learns the simulator's motif grammar in
# well under a minute.
LEARN_S2F = {
    "window_bp": 640,  # motifs and causal variants lie within +-300 bp of the TSS
    "r_model_epochs": 5,
    "model": {
        "first_filters": 32,
        "stem_pool": 4,
        "n_blocks": 2,
        "block_filters": 32,
        "pool": 4,
        "dense": 32,
        "dropout": 0.0,
    },
    "train": {
        "epochs": 6,
        "batch_size": 64,
        "lr": 0.005,
        "schedule": "onecycle",
        "patience": 3,
        "max_items_per_epoch": 1500,
        "device": "cpu",
    },
}


def make_config(**sections) -> dict:
    cfg = {
        "name": "t",
        "simulate": {  # the planted motif grammar only, h2 = 0.9: ceiling r ~ sqrt(0.9)
            "enabled": True,
            "n_individuals": 120,
            "n_genes": 30,
            "spacing_bp": 1500,
            "grammar_weight": 1.0,
            "h2": 0.9,
            "covariate_variance": 0.0,
            "seed": 1,
        },
        "contigs": ["sim1"],
        "split": {"heldout_gene_fraction": 0.25, "heldout_individual_fraction": 0.25},
        "s2f": copy.deepcopy(LEARN_S2F),
        "baselines": {"cis_window_bp": 1000},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


class Run:
    """Paths of one simulated run, in the layout the workflow uses."""

    def __init__(self, root: Path, cfg: dict) -> None:
        self.root, self.cfg = root, cfg
        self.sim = root / "simulated"
        self.tables = [str(root / n) for n in ("genes.tsv", "individuals.tsv", "expr.parquet")]
        self.store = str(root / "sim1.npz")

    def prepare(self) -> Run:
        run_simulate(self.cfg["simulate"], "sim1", self.sim)
        run_phenotypes(
            str(self.sim / "expression.bed.gz"),
            str(self.sim / "genes.tsv"),
            str(self.sim / "genotypes.vcf.gz"),
            *self.tables,
            **phenotypes_params(self.cfg),
        )
        run_genotypes(
            str(self.sim / "genotypes.vcf.gz"),
            str(self.sim / "reference.fa"),
            self.tables[0],
            self.tables[1],
            "sim1",
            **genotypes_params(self.cfg),
            out_store=self.store,
            out_stats=str(self.root / "sim1.json"),
        )
        return self

    def train(self, kind: str, out_model: Path, s2f: dict | None = None, **kw) -> None:
        """Rule train_<kind>; ``s2f`` replaces the config's section (schema defaults filled in)."""
        run_train(
            kind,
            *self.tables,
            str(self.sim / "reference.fa"),
            [self.store],
            make_config(s2f=s2f)["s2f"] if s2f else self.cfg["s2f"],
            self.cfg["split"],
            {},
            1,
            str(out_model),
            str(out_model.with_suffix(".history.tsv")),
            progress=False,
            **kw,
        )

    def predict(self, mode: str, model: Path, out: Path) -> pd.DataFrame:
        run_predict(
            mode,
            *self.tables,
            str(self.sim / "reference.fa"),
            [self.store],
            str(model),
            self.cfg["s2f"],
            {},
            1,
            str(out),
        )
        return read_table(out)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Run:
    return Run(tmp_path_factory.mktemp("cohort"), make_config()).prepare()


def test_p_model_learns_the_planted_motif(cohort: Run) -> None:
    model_path = cohort.root / "models" / "p_model.pt"
    t0 = time.perf_counter()
    cohort.train("p", model_path)
    seconds = time.perf_counter() - t0
    assert not checkpoint_path_for(model_path).exists()  # removed once the model is written
    pred = cohort.predict("p", model_path, cohort.root / "p_model.parquet")
    cell = pred.query("gene_set == 'train' and individual_set == 'heldout'")
    r = cell.groupby("gene")[["observed", "predicted"]].apply(
        lambda d: np.corrcoef(d["observed"], d["predicted"])[0, 1]
    )
    truth = pd.read_parquet(cohort.sim / "truth.parquet").merge(cell, on=["gene", "individual"])
    ceiling = truth.groupby("gene")[["y_true", "y_obs"]].apply(
        lambda d: np.corrcoef(d["y_true"], d["y_obs"])[0, 1]
    )
    history = read_table(model_path.with_suffix(".history.tsv"))
    print(
        f"p-model: median per-gene r on held-out individuals of {len(r)} training genes "
        f"{r.median():.3f} (truth ceiling {ceiling.median():.3f}); trained in {seconds:.0f} s; "
        f"kept epoch {load_model(model_path).best_epoch}; "
        f"validation median r by epoch {history['val_median_r'].round(3).tolist()}"
    )
    assert r.median() >= 0.8
    assert {"val_median_r", "lr", "items_per_s", "best", "stopped_by"} <= set(history.columns)
    # why training stopped travels from the model into the predictions file's metadata
    record = read_training_record(cohort.root / "p_model.parquet")
    assert record == load_model(model_path).convergence
    assert record["stopped_by"] == history["stopped_by"].dropna().iloc[-1]
    assert record["epochs_run"] == len(history) and record["max_epochs"] == 6
    # held-out genes are never fitted: the p-model's deviation head does not transfer to them
    assert set(pred.query("gene_set == 'heldout'")["gene"]).isdisjoint(set(r.index))


def test_validation_split_is_disjoint_from_fit_and_heldout(cohort: Run) -> None:
    genes, individuals = read_table(cohort.tables[0]), read_table(cohort.tables[1])
    split = cohort.cfg["split"]
    parts = validation_split(genes, individuals, 0.2, 0.1, split["seed"])
    names = genes["gene"].to_numpy()
    val_g, fit_g = set(names[parts.validation_genes]), set(names[parts.fit_genes])
    held_g = set(genes.loc[genes["gene_set"] == "heldout", "gene"])
    ids = individuals["individual"].to_numpy()
    val_i, fit_i = set(ids[parts.validation_individuals]), set(ids[parts.fit_individuals])
    held_i = set(individuals.loc[individuals["individual_set"] == "heldout", "individual"])
    assert val_g and val_i and held_g and held_i
    assert val_g.isdisjoint(held_g) and val_g.isdisjoint(fit_g) and fit_g.isdisjoint(held_g)
    assert val_i.isdisjoint(held_i) and val_i.isdisjoint(fit_i) and fit_i.isdisjoint(held_i)
    assert val_g | fit_g == set(genes.loc[genes["gene_set"] == "train", "gene"])
    assert val_i | fit_i == set(
        individuals.loc[individuals["individual_set"] == "train", "individual"]
    )
    again = validation_split(genes.sample(frac=1, random_state=3), individuals, 0.2, 0.1, 0)
    assert (
        set(genes.sample(frac=1, random_state=3)["gene"].to_numpy()[again.validation_genes])
        == val_g
    )
    # SAGE-net's bug (test genes == validation genes) is refused, not silently accepted
    bad = ValidationSplit(
        parts.fit_genes,
        parts.heldout_genes,
        parts.fit_individuals,
        parts.validation_individuals,
        parts.heldout_genes,
        parts.heldout_individuals,
    )
    with pytest.raises(AssertionError, match="validation and held-out"):
        bad.check()
    with pytest.raises(ConfigError, match="no fit individual"):
        validation_split(genes, individuals.assign(individual_set="heldout"), 0, 0, 0)


def test_chromosome_splits() -> None:
    chroms = np.array(["chr1", "chr2", "chr17", "chr19", "chr20", "chr21", "chr1", "chr19"])
    ids = [f"g{k}" for k in range(len(chroms))]
    labels = assign_split(ids, 0.5, 0, chroms, ["19", "chr20"])  # chr prefix optional
    np.testing.assert_array_equal(labels == "heldout", np.isin(chroms, ["chr19", "chr20"]))
    genes = pd.DataFrame({"gene": ids, "chrom": chroms, "gene_set": labels})
    individuals = pd.DataFrame({"individual": ["a", "b", "c"], "individual_set": "train"})
    parts = validation_split(genes, individuals, 0.9, 0.0, 0, chromosomes=["chr17", "21"])
    assert sorted(genes["gene"].to_numpy()[parts.validation_genes]) == ["g2", "g5"]
    assert len(parts.validation_individuals) == 0 and len(parts.fit_individuals) == 3
    with pytest.raises(ConfigError, match="one chromosome per ID"):
        assign_split(ids, 0.0, 0, None, ["chr1"])


def test_phenotypes_step_splits_genes_by_chromosome(tmp_path: Path, cohort: Run) -> None:
    cfg = make_config(split={"heldout_chromosomes": ["sim1"]})
    out = [str(tmp_path / n) for n in ("g.tsv", "i.tsv", "e.parquet")]
    run_phenotypes(
        str(cohort.sim / "expression.bed.gz"),
        str(cohort.sim / "genes.tsv"),
        str(cohort.sim / "genotypes.vcf.gz"),
        *out,
        **phenotypes_params(cfg),
    )
    assert set(read_table(out[0])["gene_set"]) == {"heldout"}  # every gene is on sim1


def test_train_rule_resumes_after_sigkill(cohort: Run, tmp_path: Path, caplog) -> None:
    """SIGKILL the training rule's function mid-run; re-running it resumes from its checkpoint."""
    s2f = copy.deepcopy(LEARN_S2F)
    s2f["train"].update(epochs=4, max_items_per_epoch=192, batch_size=32)
    s2f["model"]["dropout"] = 0.1  # dropout draws from the torch RNG: its state must resume too
    reference = tmp_path / "uninterrupted" / "p_model.pt"
    cohort.train("p", reference, s2f=s2f)

    killed = tmp_path / "killed" / "p_model.pt"
    ckpt = checkpoint_path_for(killed)
    script = (
        "import sys, time, pickle\n"
        "from test_train_pipeline import Run\n"
        "run, s2f, out = pickle.load(open(sys.argv[1], 'rb'))\n"
        "import ps2f.training.engine as engine\n"
        "real = engine.save_resume_state\n"
        "def slow(*a, **k):\n"
        "    real(*a, **k)\n"
        "    time.sleep(600)\n"  # hold after the first checkpoint, waiting to be killed
        "engine.save_resume_state = slow\n"
        "run.train('p', out, s2f=s2f)\n"
    )
    args = tmp_path / "args.pkl"
    args.write_bytes(pickle.dumps((cohort, s2f, killed)))
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    proc = subprocess.Popen([sys.executable, "-c", script, str(args)], env=env)
    try:
        deadline = time.monotonic() + 240
        while not ckpt.exists():
            assert proc.poll() is None, "training subprocess ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not killed.exists()
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1

    with caplog.at_level("INFO", logger="ps2f"):
        cohort.train("p", killed, s2f=s2f)  # the re-run
    assert "resuming from" in caplog.text and "after epoch 1 of 4" in caplog.text
    log = killed.with_suffix(".history.tsv")
    assert not ckpt.exists()
    torch.testing.assert_close(
        load_model(killed).state_dict(), load_model(reference).state_dict(), rtol=0, atol=0
    )
    assert read_table(log)["epoch"].tolist() == [1, 2, 3, 4]


def test_p_model_can_start_from_the_r_model(cohort: Run, tmp_path: Path, caplog) -> None:
    s2f = copy.deepcopy(LEARN_S2F)
    s2f["r_model_epochs"] = 2
    s2f["train"].update(epochs=1, max_items_per_epoch=64, init_from_r_model=True)
    r_path, p_path = tmp_path / "r_model.pt", tmp_path / "p_model.pt"
    cohort.train("r", r_path, s2f=s2f)
    assert len(load_model(r_path).history) == 2  # s2f.r_model_epochs, not train.epochs
    with caplog.at_level("INFO", logger="ps2f"):
        cohort.train("p", p_path, s2f=s2f, init_model=str(r_path))
    assert "initialised trunk and mean head from a trained r-model" in caplog.text
    p, r = load_model(p_path), load_model(r_path)
    assert p.trained_as == "p" and p.config == r.config


def test_too_few_validation_individuals_for_early_stopping(caplog) -> None:
    """Issue 20 item 6: one validation individual left r undefined every epoch, silently."""
    genes = pd.DataFrame({"gene": ["g0", "g1", "g2"], "chrom": "1", "gene_set": "train"})

    def inds(n):
        return pd.DataFrame({"individual": [f"i{k}" for k in range(n)], "individual_set": "train"})

    with caplog.at_level(logging.WARNING, logger="ps2f"):
        one = validation_split(genes, inds(12), 0.3, 0.1, 0)  # the r-model: no minimum
        raised = validation_split(genes, inds(12), 0.3, 0.1, 0, min_validation_individuals=3)
    assert len(one.validation_individuals) == 1 and len(raised.validation_individuals) == 3
    assert set(one.validation_individuals) < set(raised.validation_individuals)  # same draw
    assert re.search(r"validation_individual_fraction 0.1 of the 12 training individuals sets "
                     r"aside 1 validation individual\(s\); .* needs 3, so 3 are set aside",
                     caplog.text)  # fmt: skip
    none = validation_split(genes, inds(12), 0.3, 0, 0, min_validation_individuals=3)
    assert len(none.validation_individuals) == 0  # no validation at all is a choice
    with pytest.raises(
        ConfigError,
        match=r"validation_individual_fraction 0.3: only 3 training individuals, so 1 "
        r"validation individual\(s\) at most .* silently never trigger. Add individuals",
    ):
        validation_split(genes, inds(3), 0.3, 0.3, 0, min_validation_individuals=3)
