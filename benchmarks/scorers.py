"""Benchmark: scorer throughput, haplotype windows per second, on real Geuvadis haplotypes.

Run from the repository root (needs ../shared/data; enformer-pytorch and alphagenome-pt as
``requirements.txt`` installs them):

    .venv/bin/python benchmarks/scorers.py [--genes 2] [--samples 8] [--window-bp 16384]

Issue 18 item 4. Each row runs one scorer through the workflow's own loop
(:func:`ps2f.pipeline.score.score_genes`: haplotypes built from the variant store, each distinct
window of a gene scored once, in batches of ``batch_size``, under ``no_grad``) on ``--genes``
expressed chr22 genes x ``--samples`` Geuvadis individuals, and reports

* ``hap/s``: haplotype windows scored per second of wall time (2 x genes x samples / time),
  the number that sets a run's cost;
* ``distinct/s``: distinct windows (forward passes) per second;
* ``dedup``: distinct windows / haplotypes (1.0 = nothing shared);
* ``cpu_s``, ``hap/cpu_s``: the process's CPU seconds (all threads) and haplotype windows per
  CPU second, the fairer number on a CPU shared with other jobs.

The models are small random-weight models of the real classes, so the rows measure the scoring
path at a size a CPU runs in seconds, not the published models' speed:

* ``enformer``: ``enformer_pytorch.Enformer`` (dim 48, 1 transformer layer, the real 7
  downsamplings and 5,313-track human head), ``type: enformer``;
* ``alphagenome_local``: ``alphagenome_pt.model.AlphaGenome`` (48 channels, 1 transformer
  layer, one CAGE head of 4 tracks), ``type: alphagenome_local``;
* ``torch_module (cnn)``: a 2-layer CNN named by ``callable`` (this file's :func:`small_cnn`);
* ``torch_module (enformer)``: the same Enformer as the first row, through ``callable`` (the
  generic path's overhead against the dedicated scorer).

All models read ``--window-bp`` (default 16,384 bp, so that a 2-core CPU finishes in about a
minute); the dedup factors at the real windows (196,608, 524,288 and 1,048,576 bp: Enformer,
Borzoi, AlphaGenome) are then computed over all ``--dedup-samples`` individuals from the same
variant store, which holds TSS +- 524,288 bp, the longest of them. On a CUDA machine the same
rows run again on the GPU in bf16 autocast (``precision: auto``) and in fp32; without CUDA those
rows read ``skipped``. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "geuvadis_chr22_GRCh37_extended"
VCF = DATA / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
FASTA = DATA / "reference/GRCh37_chr22_Npadded_contiguous_plus_EPO_blocks_17399941-51178282.fa.gz"
TSS = DATA / "annotation/gencode.v19.chr22.gene_tss.tsv"
REAL_WINDOWS = (196_608, 524_288, 1_048_576)
INDEL_FLANK_BP = 1_000  # genotypes.indel_flank_bp's default: the store's margin for indels


def small_cnn(n_tracks: int = 8, bin_bp: int = 128):
    """A 2-layer CNN, ``(N, 4, L)`` -> ``(N, L / bin_bp, n_tracks)`` (the torch_module row)."""
    import torch
    from torch import nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv1d(4, 64, 15, padding=7),
                nn.GELU(),
                nn.MaxPool1d(bin_bp),
                nn.Conv1d(64, 64, 5, padding=2),
                nn.GELU(),
                nn.Conv1d(64, n_tracks, 1),
            )

        def forward(self, x):
            return self.body(x).transpose(1, 2)  # (N, bins, tracks)

    torch.manual_seed(0)
    return SmallCNN()


def _genes(n: int) -> pd.DataFrame:
    """``n`` expressed, usable chr22 genes, 2 Mb apart, both strands."""
    from ps2f.io.tables import read_tss_table

    tss = read_tss_table(TSS, "tss_pm50kb_inside_contiguous_sequence")
    expressed = pd.read_csv(TSS, sep="\t")["in_qtltools_expression"].to_numpy()
    cand = tss.loc[tss["usable"].to_numpy() & expressed].sort_values("tss0")
    rows, last = [], -(10**9)
    for _, g in cand.iterrows():
        if g["tss0"] - last >= 2_000_000 and g["tss0"] > 18_000_000:
            rows.append(g)
            last = g["tss0"]
        if len(rows) == n:
            break
    return pd.DataFrame(rows).reset_index(drop=True)


def _data(n_genes: int, n_dedup: int):
    """Genes, all samples, the FASTA and one variant store over TSS +- 524,288 bp."""
    import cyvcf2

    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    genes = _genes(n_genes)
    samples = cyvcf2.VCF(str(VCF)).samples[:n_dedup]
    ref = Reference(FASTA)
    half = max(REAL_WINDOWS) // 2 + INDEL_FLANK_BP
    windows = [(int(t) - half, int(t) + half) for t in genes["tss0"]]
    t0 = time.monotonic()
    store = ingest_vcf(VCF, ref, "chr22", windows, samples=samples)
    print(
        f"variant store: {len(store.pos):,} variants over {len(genes)} x {2 * half:,} bp "
        f"(TSS +- {max(REAL_WINDOWS) // 2:,} + {INDEL_FLANK_BP:,} bp for indels), "
        f"{len(samples)} samples, {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    return genes, samples, ref, {"chr22": store}


def _builder(genes, samples, ref, stores, window_bp):
    from ps2f.genome.haplotypes import HaplotypeBuilder

    table = genes.assign(gene=genes["gene_id"], chrom="chr22")
    return HaplotypeBuilder(ref, stores, table, list(samples), window_bp, n_threads=1)


def dedup_factor(builder, n_genes: int, n_samples: int, chunk: int = 64) -> tuple[int, int]:
    """(distinct windows, haplotypes) summed over genes, as the scorers count them."""
    distinct = total = 0
    for g in range(n_genes):
        seen = set()
        for a in range(0, n_samples, chunk):
            idx = np.arange(a, min(a + chunk, n_samples))
            codes = builder.haplotypes(np.full(len(idx), g), idx).reshape(len(idx) * 2, -1)
            for row in codes:
                seen.add(hashlib.blake2b(row.data, digest_size=16).digest())
        distinct += len(seen)
        total += 2 * n_samples
    return distinct, total


def _tiny_weights(root: Path, window_bp: int) -> dict:
    """Save the small Enformer and AlphaGenome as users provide them; their scorer configs."""
    import torch
    from alphagenome_pt.heads import HeadName
    from alphagenome_pt.model import AlphaGenome, AlphaGenomeConfig
    from alphagenome_pt.synthetic import synthetic_metadata
    from enformer_pytorch import Enformer

    n_pos = window_bp // 128
    hparams = dict(
        dim=48, depth=1, heads=2, target_length=n_pos * 896 // 1536 // 2 * 2,
        num_downsamples=7, dim_divisible_by=8, attn_dim_key=16,
    )  # fmt: skip
    torch.manual_seed(0)
    enf = Enformer.from_hparams(**hparams)
    torch.save(enf.state_dict(), root / "enformer.pt")
    md = synthetic_metadata([HeadName("cage")], organisms=["human"], num_tracks=4)
    cfg = AlphaGenomeConfig(
        max_seq_len=window_bp, num_channels=48, transformer_layers=1, num_q_heads=2,
        pair_heads=2, metadata=md,
    )  # fmt: skip
    AlphaGenome(cfg).save(root / "alphagenome")
    pd.DataFrame(
        {
            "output_type": ["CAGE"] * 4,
            "name": ["gm_plus", "gm_minus", "other", "Padding"],
            "strand": ["+", "-", "+", "."],
            "ontology_curie": ["EFO:0002784"] * 4,
        }
    ).to_csv(root / "tracks.tsv", sep="\t", index=False)
    base = {"window_bp": window_bp}
    return {
        "enformer": {**base, "type": "enformer", "weights": str(root / "enformer.pt"),
                     "hparams": hparams, "batch_size": 4},
        "alphagenome_local": {**base, "type": "alphagenome_local",
                              "weights": str(root / "alphagenome"),
                              "track_metadata": str(root / "tracks.tsv"), "batch_size": 2},
        "torch_module (cnn)": {**base, "type": "torch_module",
                               "callable": f"{Path(__file__).resolve()}:small_cnn",
                               "tracks": [0, 1], "batch_size": 8},
        "torch_module (enformer)": {**base, "type": "torch_module",
                                    "callable": "enformer_pytorch:Enformer.from_hparams",
                                    "kwargs": hparams, "weights": str(root / "enformer.pt"),
                                    "one_hot_layout": "NLC", "output_key": "human",
                                    "bin_bp": 128, "tracks": [5110], "batch_size": 4},
    }  # fmt: skip


def _row(label, spec, device, precision, genes, samples, builder):
    """Score every gene x sample once with one scorer; its throughput row."""
    import torch

    from ps2f.models.scorers import build_scorer
    from ps2f.pipeline.score import score_genes

    spec = {**spec, "name": "bench", "device": device, "precision": precision}
    scorer = build_scorer(spec, key=label)
    n = min(scorer.batch_size, len(samples))  # warm-up: one full batch (kernel selection)
    scorer.score_sequences(builder.haplotypes(np.zeros(n, int), np.arange(n))[:, 0])
    calls = []
    inner = scorer.score_sequences
    scorer.score_sequences = lambda codes: calls.append(len(codes)) or inner(codes)
    if device == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    scores = score_genes(scorer, genes.assign(gene=genes["gene_id"]), samples, builder)
    if device == "cuda":
        torch.cuda.synchronize()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert np.isfinite(scores).all()
    n_hap, n_distinct = scores.size, sum(calls)
    return {
        "scorer": label,
        "device": device,
        "precision": "bf16" if scorer.bf16 else "fp32",
        "window_bp": scorer.window_bp,
        "batch": scorer.batch_size,
        "haplotypes": n_hap,
        "distinct": n_distinct,
        "dedup": n_distinct / n_hap,
        "seconds": dt,
        "cpu_s": cpu,
        "hap/s": n_hap / dt,
        "distinct/s": n_distinct / dt,
        "hap/cpu_s": n_hap / cpu,
    }


def main(argv=None) -> int:
    """Print the throughput table and the dedup factors."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genes", type=int, default=2, help="genes scored per row (default 2)")
    ap.add_argument("--samples", type=int, default=8, help="individuals per gene (default 8)")
    ap.add_argument("--window-bp", type=int, default=16_384, help="model input (default 16,384)")
    ap.add_argument("--dedup-samples", type=int, default=358, help="for the dedup factors")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--only", nargs="*", help="scorer labels to run (default all)")
    args = ap.parse_args(argv)
    if not VCF.exists():
        print(f"needs {DATA}", file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(args.threads)
    genes, samples, ref, stores = _data(args.genes, max(args.samples, args.dedup_samples))
    print(
        f"genes: {', '.join(f'{g} ({s})' for g, s in zip(genes['gene_id'], genes['strand'], strict=True))}"
    )
    devices = [("cpu", "fp32")]
    if torch.cuda.is_available():
        devices += [("cuda", "auto"), ("cuda", "fp32")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        specs = _tiny_weights(Path(tmp), args.window_bp)
        builder = _builder(genes, samples[: args.samples], ref, stores, args.window_bp)
        for label, spec in specs.items():
            if args.only and label not in args.only:
                continue
            for device, precision in devices:
                row = _row(label, spec, device, precision, genes, samples[: args.samples], builder)
                rows.append(row)
                print(
                    f"  {label} {device} {row['precision']}: {row['hap/s']:.2f} hap/s "
                    f"({row['seconds']:.1f} s)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    if not torch.cuda.is_available():
        skipped = [
            {"scorer": label, "device": "cuda", "precision": "bf16 / fp32"} for label in specs
            if not args.only or label in args.only
        ]  # fmt: skip
        table = pd.concat([table, pd.DataFrame(skipped)], ignore_index=True)
    print()
    print(
        f"scorer throughput: {args.genes} genes x {args.samples} individuals = "
        f"{2 * args.genes * args.samples} haplotype windows per row; {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA")
    )
    fmt = {
        "dedup": "{:.2f}".format, "seconds": "{:.1f}".format,
        "hap/s": "{:.2f}".format, "distinct/s": "{:.2f}".format,
        "cpu_s": "{:.1f}".format, "hap/cpu_s": "{:.2f}".format,
        **{k: "{:,.0f}".format for k in ("window_bp", "batch", "haplotypes", "distinct")},
    }  # fmt: skip
    print(table.to_string(index=False, formatters=fmt, na_rep="skipped"))
    print()
    print(
        f"dedup factor (distinct windows / haplotypes) at the models' real windows, "
        f"{len(genes)} genes x {args.dedup_samples} individuals, from one store over TSS +- "
        f"{max(REAL_WINDOWS) // 2 + INDEL_FLANK_BP:,} bp:"
    )
    for window in (args.window_bp, *REAL_WINDOWS):
        builder = _builder(genes, samples[: args.dedup_samples], ref, stores, window)
        distinct, total = dedup_factor(builder, len(genes), args.dedup_samples)
        print(f"  {window:>9,} bp: {distinct:,} / {total:,} = {distinct / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
