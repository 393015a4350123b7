"""Where does p-model training time go: the data path, the model step, or both together?

Builds a simulated cohort with the real pipeline functions (simulate -> phenotypes -> variant
store -> HaplotypeBuilder), then measures, in items (gene x individual pairs, two haplotypes
each) per second:

* data   -- the training DataLoader alone: haplotype batches built from the variant store and
            the FASTA buffers, augmentation, pinned copy to the device and one-hot there;
* model  -- the optimizer step alone on one batch already on the device (forward with bf16
            autocast on CUDA, loss, backward, clipping, Adam);
* both   -- ``train_p_model`` itself for the same number of items (the real loop).

and prints the ratios. On CUDA it also samples the GPU utilization (``nvidia-smi``) during the
"both" run and, with ``--full-epochs N``, times N epochs of p-model training on the whole
cohort (the SAGE-net-scale target: ``--individuals 700 --genes 1000 --window-bp 40960``).

Examples
--------
CPU (this repository's CI machine)::

    .venv/bin/python benchmarks/training.py --individuals 120 --genes 20 --window-bp 4096 \\
        --model cpu --batches 8 --threads 1

GPU::

    python benchmarks/training.py --individuals 700 --genes 1000 --window-bp 40960 \\
        --model sagenet --batch-size 32 --batches 50 --workers 8 --full-epochs 1
"""

from __future__ import annotations

import argparse
import contextlib
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
from snakemake.utils import validate  # noqa: E402

from ps2f.genome.encoding import one_hot  # noqa: E402
from ps2f.models import S2FCNN, CNNConfig  # noqa: E402
from ps2f.pipeline import run_genotypes, run_phenotypes, run_simulate  # noqa: E402
from ps2f.pipeline.common import load_inputs  # noqa: E402
from ps2f.pipeline.train import s2f_builder  # noqa: E402
from ps2f.training import TrainConfig, p_model_targets, resolve_device, train_p_model  # noqa: E402
from ps2f.training.data import Batches, fetch_contrastive, fetch_haplotypes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = {
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


def build_cohort(args: argparse.Namespace, workdir: Path):
    """Simulate a cohort and return (builder, fit items) through the pipeline functions."""
    cfg = {
        "name": "bench",
        "simulate": {
            "enabled": True,
            "n_individuals": args.individuals,
            "n_genes": args.genes,
            "spacing_bp": args.window_bp + 1000,  # one locus per gene covers its window
            "seed": 0,
        },
        "contigs": ["sim1"],
        "split": {"heldout_gene_fraction": 0.0, "heldout_individual_fraction": 0.1},
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
    train_i = np.flatnonzero(individuals["individual_set"].to_numpy() == "train")
    g = np.repeat(np.arange(len(s2f_idx)), len(train_i))
    i = np.tile(train_i, len(s2f_idx))
    items = pd.DataFrame(
        {"gene_index": g, "individual_index": i, "observed": observed[s2f_idx][g, i]}
    )
    print(
        f"cohort: {len(individuals)} individuals x {len(s2f_idx)} genes, {args.window_bp} bp "
        f"windows, {len(items)} training items; built in {time.perf_counter() - t:.1f} s",
        flush=True,
    )
    return builder, items


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
    """Items per second (wall, CPU) of the training DataLoader alone, up to one-hot on the device."""
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
        x = one_hot(codes.to(device, non_blocking=True))
        n += len(x)
    _sync(device)
    return n / (time.perf_counter() - t), n / max(time.process_time() - c, 1e-9)


def bench_model(cnn: CNNConfig, cfg: TrainConfig, device, n_batches: int) -> tuple[float, float]:
    """Items per second (wall, CPU) of the optimizer step alone on one resident batch."""
    torch.manual_seed(0)
    model = S2FCNN(cnn).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step_model = (
        torch.compile(model)
        if (cfg.compile is True or (cfg.compile == "auto" and device.type == "cuda"))
        else model
    )
    per_item = 3 if cnn.contrastive else 2  # [reference,] hap1, hap2 as in the training loop
    codes = torch.randint(
        0, 5, (cfg.batch_size, per_item, cnn.window_bp), dtype=torch.uint8, device=device
    )
    x = one_hot(codes)
    y = torch.randn(cfg.batch_size, device=device)
    amp = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )

    def step() -> None:
        with amp:
            mean, dev = step_model(x[:, 1:], x[:, 0]) if cnn.contrastive else step_model(x)
        loss = torch.nn.functional.mse_loss(mean.float(), y) + torch.nn.functional.mse_loss(
            dev.float(), y
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3 if device.type == "cuda" else 1):  # warm-up (and compile)
        step()
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n_batches):
        step()
    _sync(device)
    n = n_batches * cfg.batch_size
    return n / (time.perf_counter() - t), n / max(time.process_time() - c, 1e-9)


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--individuals", type=int, default=120)
    p.add_argument("--genes", type=int, default=20)
    p.add_argument("--window-bp", type=int, default=4096)
    p.add_argument("--model", choices=sorted(MODELS), default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches timed per measurement")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", choices=["auto", "true", "false"], default="auto")
    p.add_argument("--full-epochs", type=int, default=0, help="CUDA only: time N full epochs")
    p.add_argument("--workdir", default=None, help="keep the cohort here (default: temporary)")
    args = p.parse_args(argv)

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
        f"{args.workers} workers; model '{args.model}' {n_params / 1e6:.2f} M parameters, "
        f"total stride {cnn.total_stride}; batch {args.batch_size}",
        flush=True,
    )
    tmp = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ps2f-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        builder, items = build_cohort(args, tmp)
        bench_data(builder, items, cnn, cfg, device, 1)  # warm-up: numba kernels, worker start
        bench_model(cnn, cfg, device, 1)  # warm-up: allocator, oneDNN / cuDNN plans
        n = args.batches * args.batch_size
        data, data_cpu = bench_data(builder, items, cnn, cfg, device, args.batches)
        model, model_cpu = bench_model(cnn, cfg, device, args.batches)
        both, both_cpu, util = bench_both(builder, items, cnn, cfg, n)
        rows = [
            ("data path alone", data, data_cpu),
            ("model step alone", model, model_cpu),
            ("both (train_p_model)", both, both_cpu),
        ]
        print(
            f"\n{'measurement':<24}{'items/s':>10}{'x model':>9}{'items/CPU-s':>13}{'x model':>9}"
        )
        for name, rate, cpu in rows:
            print(f"{name:<24}{rate:>10.1f}{rate / model:>9.2f}{cpu:>13.1f}{cpu / model_cpu:>9.2f}")
        per_item = 3 if cnn.contrastive else 2
        print(
            f"\nsequence through the model (both): {both * per_item * args.window_bp / 1e6:.2f} "
            f"Mbp/s ({per_item} sequences x {args.window_bp} bp per item"
            f"{': reference + 2 haplotypes' if cnn.contrastive else ''}); items/s is wall time, "
            "items/CPU-s this process's CPU time (less sensitive to a shared machine's load)"
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
    finally:
        if not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
