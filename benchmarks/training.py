"""Where does p-model training time go, and how much faster is the CPU step than before issue 17?

Builds a simulated cohort with the real pipeline functions (simulate -> phenotypes -> variant
store -> HaplotypeBuilder), then measures, in items (gene x individual pairs, two haplotypes
each, plus the gene's reference for the contrastive p-model) per second of wall time and per
CPU-second of this process (``time.process_time``; steadier on a shared machine):

* data   -- the training DataLoader alone: haplotype batches built from the variant store and
            the FASTA buffers, augmentation, pinned copy to the device;
* step   -- the optimizer step alone on real batches already in memory, side by side in the
            same process, interleaved over ``--rounds`` rounds (medians reported):
            ``before #17`` is a copy of the step as it was (one-hot input, the stem as a
            convolution, every sequence of the batch through the trunk); ``codes`` is today's
            step (uint8 codes: the stem as m-mer table look-ups, each distinct sequence of a
            batch embedded once, BatchNorm weighted by multiplicity; the same result up to float
            rounding), on the same batches; ``codes, k=..`` the same step on batches of ``k``
            individuals per gene (``s2f.train.individuals_per_gene``: other batches, so other
            results). The ratios are against ``before #17``.
* both   -- ``train_p_model`` itself for the same number of items (the real loop, today's code).

With ``--learning ITEMS`` it also trains the p-model on the cohort for ``ITEMS`` items per
epoch over ``--learning-epochs`` epochs at each ``--individuals-per-gene`` value and each
``--learning-seeds`` simulation seed (each draws its own shared grammar, so the p-model has
something to learn), and prints the validation median per-gene r (held-out individuals, every
gene; the metric early stopping uses) after each epoch, with the CPU time: does grouping
individuals by gene learn as well per item, and per CPU-second?

On CUDA it also samples the GPU utilization (``nvidia-smi``) during "both" and, with
``--full-epochs N``, times N epochs of p-model training on the whole cohort (the SAGE-net-scale
target: ``--individuals 700 --genes 1000 --window-bp 40960``). The CPU fast path is CPU-only:
on CUDA the "codes" rows run the one-hot convolution on codes converted on the device.

Examples
--------
CPU, the real Geuvadis chr22 configuration's model and window (this repository's machine)::

    .venv/bin/python benchmarks/training.py --individuals 300 --genes 60 --window-bp 4096 \
        --model geuvadis --batches 6 --rounds 5 --threads 1

Learning per item and per CPU-second at 1, 4 and 8 individuals per gene::

    .venv/bin/python benchmarks/training.py --individuals 200 --genes 40 --window-bp 4096 \
        --model geuvadis --learning 1500 --learning-epochs 4 --learning-seeds 0 1 2

GPU::

    python benchmarks/training.py --individuals 700 --genes 1000 --window-bp 40960 \
        --model sagenet --batch-size 32 --batches 50 --workers 8 --full-epochs 1
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see ps2f.pipeline.train

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from snakemake.utils import validate  # noqa: E402

from ps2f.genome.encoding import one_hot  # noqa: E402
from ps2f.models import S2FCNN, CNNConfig  # noqa: E402
from ps2f.pipeline import run_genotypes, run_phenotypes, run_simulate  # noqa: E402
from ps2f.pipeline.common import load_inputs  # noqa: E402
from ps2f.pipeline.train import s2f_builder  # noqa: E402
from ps2f.training import TrainConfig, p_model_targets, resolve_device, train_p_model  # noqa: E402
from ps2f.training.data import (  # noqa: E402
    Batches,
    epoch_order,
    fetch_contrastive,
    fetch_haplotypes,
)
from ps2f.training.engine import _deterministic  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GEUVADIS = yaml.safe_load((REPO / "config/geuvadis_chr22.yaml").read_text())["s2f"]
MODELS = {
    # the real run's model (config/geuvadis_chr22.yaml, s2f.model; its window is 4,096 bp)
    "geuvadis": dict(GEUVADIS["model"]),
    # what config/config.yaml trains on CPU
    "cpu": dict(
        first_filters=32, stem_pool=4, n_blocks=2, block_filters=32, pool=4, dense=32, dropout=0.0
    ),
    # ps2f's default architecture (schema defaults)
    "default": dict(first_filters=64, n_blocks=4, block_filters=64, pool=4, dense=64),
    # SAGE-net's sizes (900 x 10 first conv, 5 blocks of 256, dense 256); pool 4 so that a
    # 40,960-bp window is a multiple of the total stride (4**5 = 1,024)
    "sagenet": dict(first_filters=900, n_blocks=5, block_filters=256, pool=4, dense=256),
}


def build_cohort(args: argparse.Namespace, workdir: Path, seed: int = 0):
    """Simulate a cohort; return (builder, fit items, held-out items) via the pipeline functions.

    ``seed`` is ``simulate.seed``: it draws the cohort and its shared grammar.
    """
    cfg = {
        "name": "bench",
        "simulate": {
            "enabled": True,
            "n_individuals": args.individuals,
            "n_genes": args.genes,
            "spacing_bp": args.window_bp + 1000,  # one locus per gene covers its window
            "seed": seed,
        },
        "contigs": ["sim1"],
        "split": {"heldout_gene_fraction": 0.0, "heldout_individual_fraction": 0.2},
        "s2f": {"window_bp": args.window_bp},
        "baselines": {"cis_window_bp": 0},
    }
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    sim = workdir / "sim"
    t = time.perf_counter()
    run_simulate(cfg["simulate"], "sim1", sim)
    run_phenotypes(
        str(sim / "expression.bed.gz"),
        str(sim / "genes.tsv"),
        str(sim / "genotypes.vcf.gz"),
        str(workdir / "genes.tsv"),
        str(workdir / "individuals.tsv"),
        str(workdir / "expression.parquet"),
        expression_settings=cfg["expression"],
        split=cfg["split"],
        genes=cfg["genes"],
        usable_column=cfg["annotation"]["usable_column"],
        contigs=cfg["contigs"],
        contig_aliases=cfg["contig_aliases"],
        min_split_individuals=cfg["evaluate"]["min_individuals"],
    )
    run_genotypes(
        str(sim / "genotypes.vcf.gz"),
        str(sim / "reference.fa"),
        str(workdir / "genes.tsv"),
        str(workdir / "individuals.tsv"),
        "sim1",
        window_bp=cfg["s2f"]["window_bp"],
        cis_window_bp=cfg["baselines"]["cis_window_bp"],
        cis_window_anchor=cfg["baselines"]["cis_window_anchor"],
        indel_flank_bp=cfg["genotypes"]["indel_flank_bp"],
        snvs_only=cfg["genotypes"]["snvs_only"],
        missing_policy=cfg["genotypes"]["missing_policy"],
        contig_aliases=cfg["contig_aliases"],
        out_store=str(workdir / "sim1.npz"),
        out_stats=str(workdir / "sim1.json"),
    )
    genes, individuals, observed = load_inputs(
        str(workdir / "genes.tsv"),
        str(workdir / "individuals.tsv"),
        str(workdir / "expression.parquet"),
    )
    builder, s2f_idx = s2f_builder(
        genes,
        individuals,
        str(sim / "reference.fa"),
        [str(workdir / "sim1.npz")],
        args.window_bp,
        {},
    )

    def pairs(individual_set: str) -> pd.DataFrame:
        ind = np.flatnonzero(individuals["individual_set"].to_numpy() == individual_set)
        g = np.repeat(np.arange(len(s2f_idx)), len(ind))
        i = np.tile(ind, len(s2f_idx))
        return pd.DataFrame(
            {"gene_index": g, "individual_index": i, "observed": observed[s2f_idx][g, i]}
        )

    items, heldout = pairs("train"), pairs("heldout")
    print(
        f"cohort (simulate.seed {seed}): {len(individuals)} individuals x {len(s2f_idx)} genes, "
        f"{args.window_bp} bp windows, {len(items)} training items; built in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    return builder, items, heldout


def load_run(args: argparse.Namespace):
    """(builder, fit items, held-out items) of a finished workflow run's results folder.

    Reads ``phenotypes/{genes,individuals}.tsv``, ``phenotypes/expression.parquet`` and
    ``variants/*.npz`` under ``args.run_dir`` and the FASTA ``args.fasta``; the items are the
    training genes x training individuals (the run's own validation split is not applied).
    """
    run = Path(args.run_dir)
    genes, individuals, observed = load_inputs(
        str(run / "phenotypes/genes.tsv"),
        str(run / "phenotypes/individuals.tsv"),
        str(run / "phenotypes/expression.parquet"),
    )
    stores = sorted(str(p) for p in (run / "variants").glob("*.npz"))
    builder, s2f_idx = s2f_builder(genes, individuals, args.fasta, stores, args.window_bp, {})
    fit_genes = np.flatnonzero(genes["gene_set"].to_numpy()[s2f_idx] == "train")

    def pairs(individual_set: str) -> pd.DataFrame:
        ind = np.flatnonzero(individuals["individual_set"].to_numpy() == individual_set)
        g = np.repeat(fit_genes, len(ind))
        i = np.tile(ind, len(fit_genes))
        obs = observed[s2f_idx][g, i]
        keep = np.isfinite(obs)
        return pd.DataFrame(
            {"gene_index": g[keep], "individual_index": i[keep], "observed": obs[keep]}
        )

    items = pairs("train")
    print(
        f"cohort {run}: {len(fit_genes)} training genes x "
        f"{items['individual_index'].nunique()} training individuals = {len(items)} items, "
        f"{args.window_bp} bp windows",
        flush=True,
    )
    return builder, items, pairs("heldout")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class GpuSampler:
    """Samples ``nvidia-smi`` GPU utilization (%) every 200 ms in a background thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                self.samples.append(float(out.split()[0]))
            self._stop.wait(0.2)

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples)) if self.samples else float("nan")


def bench_data(
    builder, items, cnn: CNNConfig, cfg: TrainConfig, device, n_batches: int
) -> tuple[float, float]:
    """Items per second (wall, CPU) of the training DataLoader alone, up to the model's input."""
    genes = items["gene_index"].to_numpy()
    inds = items["individual_index"].to_numpy()
    mean, dev = p_model_targets(items[["gene_index", "observed"]])
    order = np.random.default_rng(0).permutation(len(items))[: n_batches * cfg.batch_size]
    plan = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]

    def fetch(idx):
        f = fetch_contrastive if cnn.contrastive else fetch_haplotypes
        return f(builder, genes, inds, idx)

    loader = torch.utils.data.DataLoader(
        Batches(fetch, plan, (mean, dev), 0, 1, cfg.reverse_complement_augment, cfg.max_shift_bp),
        batch_size=None,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
    )
    n = 0
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    for codes, *_ in loader:
        x = codes.to(device, non_blocking=True)
        if device.type == "cuda":  # on CPU the model reads the codes
            x = one_hot(x)
        n += len(x)
    _sync(device)
    return n / (time.perf_counter() - t), n / max(time.process_time() - c, 1e-9)


def _loss_step(model, opt, x, targets, with_reference: bool, amp) -> None:
    """Forward, the p-model loss, backward, clipping and Adam: the body of the engine's step."""
    with amp():
        mean, dev = model(x[:, 1:], x[:, 0]) if with_reference else model(x)
    loss = torch.nn.functional.mse_loss(mean.float(), targets[0])
    loss = loss + torch.nn.functional.mse_loss(dev.float(), targets[1])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def step_before_17(model, opt, codes, targets, with_reference: bool, amp) -> None:
    """The training step as it was before issue 17 (``ps2f.training.engine.fit``).

    The batch is one-hot encoded on the device and every sequence of it, the reference of
    every item included, runs through the trunk, whose stem is the convolution over one-hot
    input (``S2FCNN.embed`` on a float tensor still takes exactly that path).
    """
    _loss_step(model, opt, one_hot(codes), targets, with_reference, amp)


def step_codes(model, opt, codes, targets, with_reference: bool, amp) -> None:
    """Today's CPU training step: the model reads the uint8 codes (``S2FCNN.forward``)."""
    _loss_step(model, opt, codes, targets, with_reference, amp)


def real_batches(builder, items, cnn: CNNConfig, cfg: TrainConfig, k: int, n_batches: int, device):
    """``n_batches`` training batches of epoch 1, as the loader builds them, held in memory.

    Returns a list of ``(codes, (mean target, deviation target))`` on ``device`` and the mean
    number of distinct sequences per batch.
    """
    genes = items["gene_index"].to_numpy()
    inds = items["individual_index"].to_numpy()
    mean, dev = p_model_targets(items[["gene_index", "observed"]])
    run = TrainConfig(**{**cfg.__dict__, "individuals_per_gene": k})
    order = epoch_order(len(items), run, 1, n_batches * cfg.batch_size, genes)
    fetch = fetch_contrastive if cnn.contrastive else fetch_haplotypes
    out, distinct = [], []
    for s in range(0, len(order), cfg.batch_size):
        idx = order[s : s + cfg.batch_size]
        codes = torch.from_numpy(np.ascontiguousarray(fetch(builder, genes, inds, idx)))
        distinct.append(len(torch.unique(codes.flatten(0, 1), dim=0)))
        targets = (torch.from_numpy(mean[idx]).to(device), torch.from_numpy(dev[idx]).to(device))
        out.append((codes.to(device), targets))
    return out, float(np.mean(distinct))


def bench_steps(builder, items, cnn: CNNConfig, cfg: TrainConfig, device, args) -> list[tuple]:
    """Items per second (wall, CPU) of each step variant, interleaved over ``args.rounds`` rounds.

    Every variant trains its own model (same initial weights, its own Adam) on the same number
    of real batches per round; medians over rounds are returned as rows ``(name, wall, cpu,
    distinct sequences per batch, per-round CPU rates)``.
    """
    amp = (
        functools.partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext
    )
    seqs = 3 if cnn.contrastive else 2
    variants = []
    for k in args.individuals_per_gene:
        batches, distinct = real_batches(builder, items, cnn, cfg, k, args.batches, device)
        if k == 1:
            variants.append(
                (
                    "before #17 (one-hot, every sequence)",
                    step_before_17,
                    batches,
                    seqs * cfg.batch_size,
                )
            )
        variants.append((f"codes, k={k}" if k > 1 else "codes", step_codes, batches, distinct))
    states = []
    for _name, step, batches, _distinct in variants:
        torch.manual_seed(0)
        model = S2FCNN(cnn).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        codes, targets = batches[0]
        step(model, opt, codes, targets, cnn.contrastive, amp)  # warm-up: numba, oneDNN plans
        states.append((model, opt))
    wall = {v[0]: [] for v in variants}
    cpu = {v[0]: [] for v in variants}
    with _deterministic(True):  # the settings fit trains under on CPU
        for _ in range(args.rounds):
            for (name, step, batches, _), (model, opt) in zip(variants, states, strict=True):
                _sync(device)
                t, c = time.perf_counter(), time.process_time()
                for codes, targets in batches:
                    step(model, opt, codes, targets, cnn.contrastive, amp)
                _sync(device)
                n = sum(len(codes) for codes, _ in batches)
                wall[name].append(n / (time.perf_counter() - t))
                cpu[name].append(n / max(time.process_time() - c, 1e-9))
    return [
        (name, float(np.median(wall[name])), float(np.median(cpu[name])), distinct, cpu[name])
        for name, _, _, distinct in variants
    ]


def bench_both(builder, items, cnn, cfg: TrainConfig, n_items: int) -> tuple[float, float, float]:
    """Items per second (wall, CPU) of one epoch of ``train_p_model`` over ``n_items`` items.

    Also returns the mean GPU utilization (%, NaN without CUDA). The wall rate is the epoch's
    own ``items_per_s``; the CPU rate includes building the model.
    """
    run = TrainConfig(**{**cfg.__dict__, "epochs": 1, "max_items_per_epoch": n_items})
    c = time.process_time()
    with GpuSampler() as gpu:
        model = train_p_model(builder, items, cnn, run)
    cpu = n_items / max(time.process_time() - c, 1e-9)
    return float(model.history[0]["items_per_s"]), cpu, gpu.mean


def bench_learning(args, cnn: CNNConfig, cfg: TrainConfig, workdir: Path) -> pd.DataFrame:
    """Validation median r after each epoch of ``args.learning`` items, per k and seed.

    Returns a tidy table ``seed, k, epoch, items, cpu_s, val_median_r``.
    """
    rows = []
    for seed in args.learning_seeds:
        builder, items, heldout = build_cohort(args, workdir / f"learn{seed}", seed)
        for k in args.individuals_per_gene:
            run = TrainConfig(
                **{
                    **cfg.__dict__,
                    "epochs": args.learning_epochs,
                    "max_items_per_epoch": args.learning,
                    "individuals_per_gene": k,
                    "schedule": "onecycle",
                    "lr": 0.005,
                }
            )
            seen: list[dict] = []
            c = time.process_time()

            def record(epoch: int, rec: dict, seen=seen, c=c) -> None:
                seen.append({**rec, "cpu_s": time.process_time() - c})

            train_p_model(builder, items, cnn, run, validation_items=heldout, epoch_end=record)
            for rec in seen:
                rows.append(
                    {
                        "seed": seed,
                        "k": k,
                        "epoch": int(rec["epoch"]),
                        "items": int(rec["epoch"]) * args.learning,
                        "cpu_s": rec["cpu_s"],
                        "val_median_r": rec["val_median_r"],
                    }
                )
            print(
                f"  seed {seed} k={k}: val median r by epoch "
                + " ".join(f"{r['val_median_r']:.3f}" for r in seen)
                + f"; {seen[-1]['cpu_s']:.0f} CPU-s",
                flush=True,
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--individuals", type=int, default=120)
    p.add_argument("--genes", type=int, default=20)
    p.add_argument("--window-bp", type=int, default=4096)
    p.add_argument("--model", choices=sorted(MODELS), default="geuvadis")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches timed per round and variant")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians reported)")
    p.add_argument(
        "--individuals-per-gene",
        type=int,
        nargs="+",
        default=[1, 4, 8],
        help="k values of the step and learning comparisons (1 is always measured)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", choices=["auto", "true", "false"], default="auto")
    p.add_argument("--full-epochs", type=int, default=0, help="CUDA only: time N full epochs")
    p.add_argument(
        "--learning", type=int, default=0, help="items per epoch of the learning comparison"
    )
    p.add_argument("--learning-epochs", type=int, default=4)
    p.add_argument("--learning-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--learning-out", default=None, help="write the learning table (TSV) here")
    p.add_argument("--skip-speed", action="store_true", help="only the learning comparison")
    p.add_argument("--workdir", default=None, help="keep the cohort here (default: temporary)")
    p.add_argument(
        "--run-dir",
        default=None,
        help="speed on a finished run's cohort (e.g. results/geuvadis_chr22) instead of a "
        "simulated one; needs --fasta",
    )
    p.add_argument("--fasta", default=None, help="the run's reference FASTA (with --run-dir)")
    args = p.parse_args(argv)
    if args.run_dir and not args.fasta:
        p.error("--run-dir needs --fasta")
    if 1 not in args.individuals_per_gene:
        args.individuals_per_gene = [1, *args.individuals_per_gene]

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cnn = CNNConfig(window_bp=args.window_bp, **MODELS[args.model]).validate()
    compile_ = {"auto": "auto", "true": True, "false": False}[args.compile]
    cfg = TrainConfig(
        batch_size=args.batch_size,
        lr=5e-4,
        device=str(device),
        num_workers=args.workers,
        reverse_complement_augment=True,
        schedule="constant",
        patience=None,
        compile=compile_,
    ).validate()
    n_params = sum(p.numel() for p in S2FCNN(cnn).parameters())
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(
        f"device {device} (GPU: {gpu_name}); torch {torch.__version__}; {args.threads} threads, "
        f"{args.workers} workers; model '{args.model}' {n_params / 1e6:.3f} M parameters, "
        f"total stride {cnn.total_stride}; batch {args.batch_size}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    tmp = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ps2f-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_speed:
            speed(args, cnn, cfg, device, tmp)
        if args.learning:
            print(
                f"\nlearning: {args.learning} items x {args.learning_epochs} epochs per run "
                "(onecycle, lr 0.005), validation = held-out individuals x every gene",
                flush=True,
            )
            table = bench_learning(args, cnn, cfg, tmp)
            if args.learning_out:
                table.to_csv(args.learning_out, sep="\t", index=False)
            last = table[table["epoch"] == table["epoch"].max()]
            summary = last.groupby("k").agg(
                median_r=("val_median_r", "median"),
                min_r=("val_median_r", "min"),
                max_r=("val_median_r", "max"),
                cpu_s=("cpu_s", "median"),
            )
            print("\nafter the last epoch, over seeds (median [min, max]):")
            for k, row in summary.iterrows():
                print(
                    f"  k={k}: val median r {row.median_r:.3f} [{row.min_r:.3f}, "
                    f"{row.max_r:.3f}], {row.cpu_s:.0f} CPU-s per run"
                )
    finally:
        if not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)


def speed(args, cnn: CNNConfig, cfg: TrainConfig, device, tmp: Path) -> None:
    """The data / step / both measurements (see the module docstring)."""
    builder, items, _ = load_run(args) if args.run_dir else build_cohort(args, tmp)
    bench_data(builder, items, cnn, cfg, device, 1)  # warm-up: numba kernels, worker start
    data, data_cpu = bench_data(builder, items, cnn, cfg, device, args.batches)
    steps = bench_steps(builder, items, cnn, cfg, device, args)
    base_wall, base_cpu = steps[0][1], steps[0][2]
    both, both_cpu, util = bench_both(builder, items, cnn, cfg, args.batches * args.batch_size)
    seqs = 3 if cnn.contrastive else 2
    print(
        f"\nmodel step, {args.rounds} interleaved rounds of {args.batches} batches "
        f"({seqs * args.batch_size} sequences per batch before deduplication)"
    )
    print(
        f"{'measurement':<40}{'distinct':>9}{'items/s':>10}{'x before':>9}"
        f"{'items/CPU-s':>13}{'x before':>9}"
    )
    for name, wall, cpu, distinct, _ in steps:
        print(
            f"{name:<40}{distinct:>9.1f}{wall:>10.1f}{wall / base_wall:>9.2f}"
            f"{cpu:>13.1f}{cpu / base_cpu:>9.2f}"
        )
    for name, wall, cpu in (
        ("data path alone", data, data_cpu),
        ("both (train_p_model, codes, k=1)", both, both_cpu),
    ):
        print(
            f"{name:<40}{'':>9}{wall:>10.1f}{wall / base_wall:>9.2f}"
            f"{cpu:>13.1f}{cpu / base_cpu:>9.2f}"
        )
    print(
        "per-round items/CPU-s: "
        + "; ".join(
            f"{name}: " + " ".join(f"{v:.0f}" for v in rounds) for name, _, _, _, rounds in steps
        )
    )
    if device.type == "cuda":
        print(f"GPU utilization during 'both': {util:.0f} % (nvidia-smi samples)")
        if args.full_epochs:
            full = TrainConfig(**{**cfg.__dict__, "epochs": args.full_epochs})
            t = time.perf_counter()
            with GpuSampler() as gpu:
                train_p_model(builder, items, cnn, full)
            seconds = time.perf_counter() - t
            print(
                f"full p-model training: {args.full_epochs} epoch(s) x {len(items)} items in "
                f"{seconds / 60:.1f} min ({len(items) * args.full_epochs / seconds:.0f} items/s, "
                f"GPU {gpu.mean:.0f} %)"
            )
    else:
        print("no CUDA device here: GPU utilization and full-cohort timing not measured")


if __name__ == "__main__":
    sys.exit(main())
