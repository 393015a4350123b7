"""Benchmark: personal haplotype batches from ps2f vs GenVarLoader vs a per-item loader vs a copy.

Run from the repository root (needs ../shared/data; see benchmarks/README.md):

    .venv/bin/python benchmarks/haplotypes.py [--batch-size 256] [--batches 24] [--repeats 3]

Two datasets, each with L = 40,000 bp windows and all phased samples:

* ``chr20``: windows tiled over chr20:1-4 Mb (75 windows, + strand), SHAPEIT4 / 1000 Genomes EUR,
  300 samples, 24,990 sites incl. 1,320 indels, whole GRCh37 chr20 FASTA;
* ``geuvadis``: the 86 expressed chr22 genes whose TSS +- 50 kb is real sequence (both strands),
  358 samples, common SNVs.

Every method reads the same random (window, sample) batches, fresh output array per batch:

* ``ps2f``: :class:`ps2f.genome.haplotypes.HaplotypeBuilder` from the saved variant store,
  1 and 2 threads;
* ``GenVarLoader``: ``gvl.write`` + ``Dataset.open(...).with_seqs("haplotypes").with_len(L)``,
  run with the python of a separate venv (``--gvl-python``, default ``/tmp/gvl-venv/bin/python``;
  genvarloader pins an older pyarrow) and reported as skipped when that venv is absent;
* ``per-item``: SAGE-net's pattern, files opened per item (pyfaidx + cyvcf2), ALT alleles spliced
  with a running shift (``SAGEnet/data.py``), on a sample of the items;
* ``numpy copy``: ``ref_windows[genes]`` into a fresh array, same bytes as a haplotype batch (the
  memory-bandwidth bound of materializing batches).

Throughput is haplotype bases produced per second (``B x 2 x L`` per batch), best of
``--repeats`` timed passes over ``--batches`` batches after a warm-up batch. Each ps2f and GVL
stage runs in its own process so its peak RSS is its own. Also reported: the store's size vs the
bgzipped VCF of the same windows (``bcftools view -R``), and how many GVL haplotypes are byte-
identical to ps2f's (they differ where an indel shifts the window: GVL keeps the window's left
end, ps2f keeps the TSS at L // 2). Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
L = 40_000
FLANK = 1_000  # ingestion flank, as the genotypes rule (ps2f.pipeline.genotypes.INDEL_FLANK_BP)


def dataset(name: str) -> dict:
    """Paths, gene windows and samples of one benchmark dataset."""
    if name == "chr20":
        d = SHARED / "1000G_EUR_chr20_GRCh37_fullchr_genotypes_reference_only"
        starts = np.arange(1_000_000, 4_000_000 - L + 1, L)
        genes = pd.DataFrame({"chrom": "20", "strand": "+", "tss0": starts + L // 2})
        return {
            "vcf": d / "genotypes/shapeit4_test_reference_EUR300_phased_chr20_1-4Mb.vcf.gz",
            "fasta": d / "reference/GRCh37_chr20_full_vt-examples.fa.gz",
            "genes": genes,
        }
    d = SHARED / "geuvadis_chr22_GRCh37_extended"
    tss = pd.read_csv(d / "annotation/gencode.v19.chr22.gene_tss.tsv", sep="\t")
    tss = tss[tss["tss_pm50kb_inside_contiguous_sequence"] & tss["in_qtltools_expression"]]
    genes = pd.DataFrame(
        {
            "chrom": tss["chrom"].to_numpy(),
            "strand": tss["strand"].to_numpy(),
            "tss0": tss["tss"] - 1,
        }
    )
    return {
        "vcf": d / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz",
        "fasta": d / "reference/GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz",
        "genes": genes,
    }


def _starts(genes: pd.DataFrame) -> np.ndarray:
    from ps2f.genome.haplotypes import window_start

    return window_start(genes["tss0"].to_numpy(), genes["strand"].to_numpy(), L)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_rate(fn, batches: np.ndarray, repeats: int) -> tuple[float, float]:
    """Best bp/s of ``repeats`` passes of ``fn(i)`` over the batches (after one warm-up call).

    Returns the wall-clock rate and the rate per CPU-second of this process (all its threads):
    the second is robust to other jobs sharing the machine.
    """
    fn(0)
    wall = cpu = np.inf
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for i in range(1, len(batches)):
            fn(i)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    n = (len(batches) - 1) * batches.shape[1] * 2 * L
    return n / wall, n / cpu


# ------------------------------------------------------------------------------------------------
# workers (each in its own process)


def worker_ps2f_ingest(name: str, work: Path) -> dict:
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    ds = dataset(name)
    ref = Reference(ds["fasta"])
    windows = [(int(a) - FLANK, int(a) + L + FLANK) for a in _starts(ds["genes"])]
    t = time.perf_counter()
    store = ingest_vcf(ds["vcf"], ref, ds["genes"]["chrom"].iloc[0], windows)
    ingest_s = time.perf_counter() - t
    store.save(work / f"{name}.npz")
    return {
        "ingest_s": ingest_s,
        "store_bytes": (work / f"{name}.npz").stat().st_size,
        "n_variants": store.n_variants,
        "n_indels": int(store.is_indel().sum()),
        "overlapping_alleles_skipped": store.stats.get("overlapping_alleles_skipped", 0),
        "windows": store.windows.tolist(),
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_ps2f_read(name: str, work: Path, repeats: int) -> dict:
    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.genome.store import VariantStore
    from ps2f.io.fasta import Reference

    ds = dataset(name)
    store = VariantStore.load(work / f"{name}.npz")
    t = time.perf_counter()
    hb = HaplotypeBuilder(
        Reference(ds["fasta"]),
        {ds["genes"]["chrom"].iloc[0]: store},
        ds["genes"],
        list(store.samples),
        L,
    )
    build_s = time.perf_counter() - t
    gi, ii = np.load(work / f"{name}.genes.npy"), np.load(work / f"{name}.inds.npy")
    out = {"build_s": build_s}
    for n in (1, 2):
        hb.n_threads = n
        wall, cpu = _best_rate(lambda i: hb.haplotypes(gi[i], ii[i]), gi, repeats)
        out[f"wall_{n}"], out[f"cpu_{n}"] = wall, cpu
    np.save(work / f"{name}.ps2f_batch1.npy", hb.haplotypes(gi[1], ii[1]))
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


# GenVarLoader runs in its own venv: this script is written to the work folder and run there.
GVL_WORKER = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
import polars as pl
import genvarloader as gvl

spec = json.loads(Path(sys.argv[1]).read_text())
work = Path(spec["work"])
L = spec["L"]
out = {"version": gvl.__version__}
if spec["stage"] == "write":
    bed = pl.DataFrame(spec["bed"])
    t = time.perf_counter()
    gvl.write(work / spec["name"], bed, variants=spec["vcf"], overwrite=True)
    out["write_s"] = time.perf_counter() - t
    out["dataset_bytes"] = sum(p.stat().st_size for p in (work / spec["name"]).rglob("*") if p.is_file())
else:
    ds = gvl.Dataset.open(work / spec["name"], reference=spec["fasta"])
    ds = ds.with_seqs("haplotypes").with_len(L)
    col = {s: i for i, s in enumerate(ds.samples)}
    gi = np.load(spec["genes"])
    ii = np.vectorize(col.__getitem__)(np.array(spec["samples"])[np.load(spec["inds"])])
    def fn(i):
        return ds[gi[i], ii[i]]
    fn(0)
    wall = cpu = np.inf
    for _ in range(spec["repeats"]):
        t, c = time.perf_counter(), time.process_time()
        for i in range(1, len(gi)):
            fn(i)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    n = (len(gi) - 1) * gi.shape[1] * 2 * L
    out["wall"], out["cpu"] = n / wall, n / cpu
    np.save(work / (spec["name"] + ".gvl_batch1.npy"), np.asarray(fn(1)).view(np.uint8))
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_gvl(
    name: str, work: Path, gvl_python: str, samples: list[str], repeats: int, stage: str
) -> dict:
    """One GenVarLoader stage (``write`` or ``read``) in the GenVarLoader venv."""
    ds = dataset(name)
    data = work / "data"  # symlinks: GVL writes its index and FASTA cache next to its inputs
    data.mkdir(exist_ok=True)
    links = {}
    for key in ("vcf", "fasta"):
        for src in Path(ds[key]).parent.glob(Path(ds[key]).name + "*"):
            dst = data / src.name
            if not dst.exists():
                dst.symlink_to(src)
        links[key] = str(data / Path(ds[key]).name)
    starts = _starts(ds["genes"])
    bed = {
        "chrom": ds["genes"]["chrom"].astype(str).tolist(),
        "chromStart": starts.tolist(),
        "chromEnd": (starts + L).tolist(),
        "strand": ds["genes"]["strand"].tolist(),
    }
    script = work / "gvl_worker.py"
    script.write_text(GVL_WORKER)
    spec = {
        "stage": stage, "work": str(work), "name": f"{name}.gvl", "L": L, "bed": bed,
        "vcf": links["vcf"], "fasta": links["fasta"], "samples": samples,
        "genes": str(work / f"{name}.genes.npy"), "inds": str(work / f"{name}.inds.npy"),
        "repeats": repeats,
    }  # fmt: skip
    (work / "gvl_spec.json").write_text(json.dumps(spec))
    res = subprocess.run(
        [gvl_python, str(script), str(work / "gvl_spec.json")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# in-process baselines


def per_item_rate(name: str, samples: list[str], gi: np.ndarray, ii: np.ndarray, n_items: int):
    """SAGE-net-style loader: open the FASTA and the VCF for every item, splice, encode."""
    import cyvcf2
    import pyfaidx

    from ps2f.genome.encoding import encode, reverse_complement_codes

    ds = dataset(name)
    genes = ds["genes"]
    starts = _starts(genes)
    fasta_contig = "20" if name == "chr20" else "22"
    vcf_contig = "20" if name == "chr20" else "chr22"
    items = list(zip(gi.ravel()[:n_items], ii.ravel()[:n_items], strict=True))
    t, c = time.perf_counter(), time.process_time()
    for g, i in items:
        fa = pyfaidx.Fasta(str(ds["fasta"]), as_raw=True, sequence_always_upper=True)
        vcf = cyvcf2.VCF(str(ds["vcf"]))
        col = vcf.samples.index(samples[i])
        a = int(starts[g])
        ref = fa[fasta_contig][a : a + L]
        records = [
            (r.POS - 1 - a, r.REF, r.ALT, r.genotypes[col])
            for r in vcf(f"{vcf_contig}:{a + 1}-{a + L}")
        ]
        for h in (0, 1):
            seq, shift = ref, 0
            for p, r, alts, gt in records:
                if p < 0 or gt[h] <= 0:
                    continue
                alt = alts[gt[h] - 1]
                q = p + shift
                seq = seq[:q] + alt + seq[q + len(r) :]
                shift += len(alt) - len(r)
            codes = encode(seq[:L].ljust(L, "N"))
            if genes["strand"].iloc[g] == "-":
                codes = reverse_complement_codes(codes)
        vcf.close()
        fa.close()
    n = len(items) * 2 * L
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def copy_rate(name: str, gi: np.ndarray, repeats: int) -> tuple[float, float]:
    """``ref_windows[genes]`` into a fresh array, as many bytes as the haplotype batches."""
    from ps2f.io.fasta import Reference

    ds = dataset(name)
    ref = Reference(ds["fasta"])
    contig = ds["genes"]["chrom"].iloc[0]
    windows = np.stack([ref.fetch_codes(contig, int(a), int(a) + L) for a in _starts(ds["genes"])])
    pairs = np.repeat(gi, 2, axis=1)  # (batches, 2 B): each window twice, as two haplotypes
    return _best_rate(lambda i: windows[pairs[i]], gi, repeats)


def vcf_bytes_same_windows(name: str, windows: list, work: Path) -> int | None:
    """Size of ``bcftools view -R windows`` of the input VCF, bgzipped (None without bcftools)."""
    if shutil.which("bcftools") is None:
        return None
    ds = dataset(name)
    bed = work / f"{name}.windows.bed"
    contig = "20" if name == "chr20" else "chr22"
    bed.write_text("".join(f"{contig}\t{max(a, 0)}\t{b}\n" for a, b in windows))
    out = work / f"{name}.windows.vcf.gz"
    subprocess.run(
        ["bcftools", "view", "-R", str(bed), "-Oz", "-o", str(out), str(ds["vcf"])], check=True
    )
    return out.stat().st_size


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--batches", type=int, default=24, help="timed batches (+1 warm-up)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per process")
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating ps2f / GenVarLoader reader processes"
    )
    ap.add_argument("--per-item", type=int, default=40, help="items timed for the per-item loader")
    ap.add_argument("--gvl-python", default="/tmp/gvl-venv/bin/python")
    ap.add_argument("--datasets", nargs="+", default=["chr20", "geuvadis"])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:  # a child process: one stage, JSON on stdout
        stage, name = args.worker.split(":")
        work = Path(args.work)
        res = (
            worker_ps2f_ingest(name, work)
            if stage == "ingest"
            else worker_ps2f_read(name, work, args.repeats)
        )
        print(json.dumps(res))
        return

    import cyvcf2

    from ps2f.genome.encoding import encode

    work = Path(tempfile.mkdtemp(prefix="ps2f-bench-"))
    have_gvl = Path(args.gvl_python).exists()
    rows, notes = [], []
    for name in args.datasets:
        ds = dataset(name)
        if not Path(ds["vcf"]).exists():
            notes.append(f"{name}: data not found under {SHARED}, skipped")
            continue
        samples = list(cyvcf2.VCF(str(ds["vcf"])).samples)
        rng = np.random.default_rng(0)
        shape = (args.batches + 1, args.batch_size)
        gi = rng.integers(0, len(ds["genes"]), shape)
        ii = rng.integers(0, len(samples), shape)
        np.save(work / f"{name}.genes.npy", gi)
        np.save(work / f"{name}.inds.npy", ii)

        def child(stage: str, name: str = name) -> dict:
            res = subprocess.run(
                [sys.executable, __file__, "--worker", f"{stage}:{name}", "--work", str(work),
                 "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            return json.loads(res.stdout.strip().splitlines()[-1])

        def best(results: list[dict], key: str) -> float:
            return max(r[key] for r in results)

        ing = child("ingest")
        gvl_write = run_gvl(name, work, args.gvl_python, samples, 0, "write") if have_gvl else None
        reads, gvl_reads = [], []
        for _ in range(args.rounds):  # alternate, so that both see the same machine load
            reads.append(child("read"))
            if have_gvl:
                gvl_reads.append(
                    run_gvl(name, work, args.gvl_python, samples, args.repeats, "read")
                )
        per_item = per_item_rate(name, samples, gi, ii, args.per_item)
        copy = copy_rate(name, gi, args.repeats)
        vcf_bytes = vcf_bytes_same_windows(name, ing["windows"], work)
        rss = max(r["peak_rss_mb"] for r in reads)
        for n in (1, 2):
            rows.append(
                (name, f"ps2f, {n} thread{'s' * (n > 1)}", best(reads, f"wall_{n}"),
                 best(reads, f"cpu_{n}"), rss)
            )  # fmt: skip
        if gvl_reads:
            rows.append(
                (name, f"GenVarLoader {gvl_reads[0]['version']}", best(gvl_reads, "wall"),
                 best(gvl_reads, "cpu"), max(r["peak_rss_mb"] for r in gvl_reads))
            )  # fmt: skip
        else:
            rows.append((name, "GenVarLoader", None, None, None))
        rows.append((name, "per-item pyfaidx+cyvcf2", *per_item, None))
        rows.append((name, "numpy copy (bound)", *copy, None))

        G = len(ds["genes"])
        notes.append(
            f"{name}: {G} windows x {len(samples)} samples, L = {L:,} bp; store {ing['n_variants']:,} "
            f"variants ({ing['n_indels']:,} indels, {ing['overlapping_alleles_skipped']} "
            f"overlapping ALT alleles dropped), ingest {ing['ingest_s']:.1f} s (peak RSS "
            f"{ing['peak_rss_mb']:.0f} MB), builder {reads[0]['build_s']:.2f} s"
        )
        full_vcf = Path(ds["vcf"]).stat().st_size
        if vcf_bytes:
            notes.append(
                f"{name}: store {ing['store_bytes'] / 1e6:.2f} MB vs bgzipped VCF of the same "
                f"windows {vcf_bytes / 1e6:.2f} MB = {ing['store_bytes'] / vcf_bytes:.2f}x (goal "
                f"<= 1.2x; whole input VCF {full_vcf / 1e6:.2f} MB)"
            )
        p1w, p1c = best(reads, "wall_1"), best(reads, "cpu_1")
        p2w = best(reads, "wall_2")
        goals = []
        if gvl_reads:
            a = np.load(work / f"{name}.ps2f_batch1.npy")
            b = encode(np.load(work / f"{name}.gvl.gvl_batch1.npy")).reshape(a.shape)
            same = float((a == b).all(axis=2).mean())
            gw, gc = best(gvl_reads, "wall"), best(gvl_reads, "cpu")
            notes.append(
                f"{name}: GenVarLoader dataset {gvl_write['dataset_bytes'] / 1e6:.2f} MB, write "
                f"{gvl_write['write_s']:.1f} s (peak RSS {gvl_write['peak_rss_mb']:.0f} MB); "
                f"{100 * same:.1f}% of its haplotypes byte-identical to ps2f's"
            )
            goals.append(
                f"ps2f/GenVarLoader = {p1w / gw:.2f}x wall, {p1c / gc:.2f}x per CPU-s at 1 thread, "
                f"{p2w / gw:.2f}x wall at 2 threads (goal >= 1.5)"
            )
        else:
            notes.append(f"{name}: GenVarLoader skipped ({args.gvl_python} not found)")
        goals.append(f"ps2f/per-item = {p1c / per_item[1]:.0f}x per CPU-s (goal >= 100)")
        goals.append(f"copy/ps2f = {copy[1] / p1c:.2f}x per CPU-s (goal <= 3)")
        notes.append(f"{name}: goals: " + "; ".join(goals))

    print(
        f"\nhaplotype batches: B = {args.batch_size}, {args.batches} timed batches x "
        f"{args.repeats} passes x {args.rounds} rounds, best kept; bp = B x 2 x L bases; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    print(
        f"{'dataset':<10}{'method':<27}{'Gbp/s wall':>11}{'Gbp/CPU-s':>11}"
        f"{'ps2f(1t)/it':>13}{'peak RSS MB':>13}"
    )
    for name, method, wall, cpu, rss in rows:
        ref = next(c for n, m, _, c, _ in rows if n == name and m == "ps2f, 1 thread")

        def fmt(x):
            return "skipped" if x is None else f"{x / 1e9:.3f}" if x >= 1e7 else f"{x / 1e9:.5f}"

        ratio = "" if cpu is None or method.startswith("ps2f") else f"{ref / cpu:.2f}x"
        shown_rss = "" if rss is None else f"{rss:.0f}"
        print(f"{name:<10}{method:<27}{fmt(wall):>11}{fmt(cpu):>11}{ratio:>13}{shown_rss:>13}")
    print("\n(ratio column: ps2f at 1 thread vs the method, per CPU-second)")
    for note in notes:
        print(note)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
