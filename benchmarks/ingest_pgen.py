"""Benchmark: ingesting the same genotypes from a bgzipped VCF and from a PLINK 2 PGEN.

Run from the repository root (see benchmarks/README.md):

    .venv/bin/python benchmarks/ingest_pgen.py [--samples 1000] [--variants 100000] [--repeats 1]

Simulated data, written once to a temporary folder: a random reference contig, ``--variants``
sites (one every ~12 bp; 95% SNVs, 3% deletions, 2% insertions; 2% of the sites carry a
second ALT), phased genotypes of ``--samples`` individuals with allele frequencies from a
U-shaped Beta(0.3, 0.3) (many rare variants, as in a biobank release). The same genotypes are
written as a bgzipped, tabix-indexed VCF (``GT`` only, ``a|b``) and as a PGEN through pgenlib's
writer (``_oracles.pgen``'s layout: phased hard calls, multi-allelic sites kept).

Each reader runs in its own child process (Python started fresh, so its peak RSS is its own):
:func:`ps2f.io.vcf.ingest_vcf` or :func:`ps2f.io.pgen.ingest_pgen` of the whole contig into a
variant store, REF alleles checked against the FASTA. Reported per reader: records per second
of wall time and of the child's CPU time, the child's peak RSS (``ru_maxrss``) and its RSS
before ingestion (the imports), the input size on disk, and a digest of the store's arrays
(the two must be equal). With ``--repeats`` > 1 the children alternate (VCF, PGEN, VCF, ...)
so both see the same machine load, and the medians are printed. Nothing here runs in the test
suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
CONTIG = "chr1"


def simulate(folder: Path, n_samples: int, n_variants: int, seed: int) -> dict:
    """Write ``ref.fa``, ``g.vcf.gz`` (+ ``.tbi``) and ``g.pgen``/``.pvar``/``.psam``."""
    import pgenlib
    import pysam

    rng = np.random.default_rng(seed)
    length = n_variants * 12 + 1000
    seq = rng.choice(np.frombuffer(b"ACGT", np.uint8), size=length)
    with open(folder / "ref.fa", "wb") as fh:
        fh.write(f">{CONTIG}\n".encode())
        for i in range(0, length, 60):
            fh.write(seq[i : i + 60].tobytes() + b"\n")
    pysam.faidx(str(folder / "ref.fa"))

    pos0 = np.sort(rng.choice(np.arange(10, length - 20), size=n_variants, replace=False))
    kind = rng.choice(3, size=n_variants, p=[0.95, 0.03, 0.02])  # SNV, deletion, insertion
    second = rng.random(n_variants) < 0.02
    refs, alts = [], []
    for p, k, two in zip(pos0, kind, second, strict=True):
        base = chr(seq[p])
        others = [b for b in "ACGT" if b != base]
        if k == 1:
            ref, alt = base + chr(seq[p + 1]) + chr(seq[p + 2]), [base]
        elif k == 2:
            ref, alt = base, [base + "T"]
        else:
            ref, alt = base, [others[0]]
        if two:
            alt.append(others[1] if k != 1 else base + chr(seq[p + 1]))
        refs.append(ref)
        alts.append(alt)
    freq = rng.beta(0.3, 0.3, size=n_variants).clip(0.001, 0.999)
    n_alt = np.array([len(a) for a in alts])
    samples = [f"I{i:05d}" for i in range(n_samples)]
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID={CONTIG},length={length}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    )
    (folder / "g.psam").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
    writer = pgenlib.PgenWriter(
        str(folder / "g.pgen").encode(), n_samples, variant_ct=n_variants, nonref_flags=False,
        allele_ct_limit=3, hardcall_phase_present=True,
    )
    phase = np.ones(n_samples, dtype=np.uint8)
    plain = folder / "g.vcf"
    with open(plain, "wb") as vcf, open(folder / "g.pvar", "w") as pvar:
        vcf.write(header.encode())
        pvar.write("#CHROM\tPOS\tID\tREF\tALT\n")
        for lo in range(0, n_variants, 2000):  # in chunks: 1,000 x 100k would take GBs at once
            hi = min(lo + 2000, n_variants)
            # allele index per haplotype: 0 = REF, else which ALT (a second ALT takes a third)
            haps = (rng.random((hi - lo, 2 * n_samples)) < freq[lo:hi, None]).astype(np.int32)
            second = (n_alt[lo:hi, None] == 2) & (haps == 1) & (rng.random(haps.shape) < 1 / 3)
            haps[second] = 2
            # VCF genotype fields as one byte block per record ('a|b\t' per sample)
            cells = np.empty((hi - lo, n_samples, 4), dtype=np.uint8)
            cells[:, :, 0] = haps[:, 0::2] + 48
            cells[:, :, 1] = ord("|")
            cells[:, :, 2] = haps[:, 1::2] + 48
            cells[:, :, 3] = ord("\t")
            cells[:, -1, 3] = ord("\n")
            for i in range(lo, hi):
                site = f"{CONTIG}\t{pos0[i] + 1}\tv{i}\t{refs[i]}\t{','.join(alts[i])}"
                vcf.write(f"{site}\t.\tPASS\t.\tGT\t".encode())
                vcf.write(cells[i - lo].tobytes())
                pvar.write(site + "\n")
                writer.append_partially_phased(haps[i - lo], phase, allele_ct=int(n_alt[i]) + 1)
    writer.close()
    subprocess.run(["bgzip", "-f", "-@2", str(plain)], check=True)
    subprocess.run(["tabix", "-p", "vcf", str(plain) + ".gz"], check=True)
    return {"length": length}


def child(fmt: str, folder: Path) -> None:
    """Ingest one format in this (fresh) process; print one JSON line of measurements."""
    rss_imports_mb = 0.0
    from ps2f.io.fasta import Reference
    from ps2f.io.pgen import ingest_pgen
    from ps2f.io.vcf import ingest_vcf

    reference = Reference(str(folder / "ref.fa"))
    length = reference.contig_length(CONTIG)
    rss_imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = folder / ("g.vcf.gz" if fmt == "vcf" else "g.pgen")
    read = ingest_vcf if fmt == "vcf" else ingest_pgen
    t0, c0 = time.perf_counter(), time.process_time()
    store = read(path, reference, CONTIG, [(0, length)])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    digest = hashlib.sha256()
    for name in ("pos", "ref_bytes", "alt_bytes", "genotypes", "samples", "ids"):
        digest.update(np.ascontiguousarray(getattr(store, name)).tobytes())
    print(json.dumps({
        "records": store.stats["records"],
        "variants_stored": store.n_variants,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_imports_mb": rss_imports_mb,
        "digest": digest.hexdigest()[:16],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1, help="children per format, alternating")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=["vcf", "pgen"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory(prefix="ingest_pgen_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        simulate(folder, args.samples, args.variants, args.seed)
        print(
            f"simulated {args.samples:,} individuals x {args.variants:,} sites in "
            f"{time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        runs: dict[str, list[dict]] = {"vcf": [], "pgen": []}
        for _ in range(args.repeats):
            for fmt in runs:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", fmt, "--folder", str(folder)],
                    capture_output=True, text=True, check=True,
                )
                runs[fmt].append(json.loads(out.stdout.strip().splitlines()[-1]))
        sizes = {
            "vcf": sum(p.stat().st_size for p in folder.glob("g.vcf.gz*")),
            "pgen": sum((folder / f"g.{e}").stat().st_size for e in ("pgen", "pvar", "psam")),
        }
    med = {f: {k: float(np.median([r[k] for r in rs])) for k in rs[0] if k != "digest"}
           for f, rs in runs.items()}
    print(f"{args.samples:,} individuals x {args.variants:,} sites, whole contig into a variant "
          f"store (median of {args.repeats} child process(es) per format)")
    print(f"{'format':8}{'records':>10}{'stored':>10}{'wall s':>9}{'rec/s wall':>12}"
          f"{'rec/s CPU':>11}{'peak RSS MB':>13}{'(imports)':>10}{'on disk MB':>12}")
    for fmt, m in med.items():
        print(f"{fmt:8}{m['records']:>10,.0f}{m['variants_stored']:>10,.0f}{m['wall_s']:>9.1f}"
              f"{m['records'] / m['wall_s']:>12,.0f}{m['records'] / m['cpu_s']:>11,.0f}"
              f"{m['peak_rss_mb']:>13,.0f}{m['rss_imports_mb']:>10,.0f}"
              f"{sizes[fmt] / 2**20:>12,.1f}")
    v, p = med["vcf"], med["pgen"]
    wall_ratio = (p["records"] / p["wall_s"]) / (v["records"] / v["wall_s"])
    print(f"PGEN / VCF: records/s wall x{wall_ratio:.2f}, "
          f"CPU x{(p['records'] / p['cpu_s']) / (v['records'] / v['cpu_s']):.2f}, "
          f"peak RSS x{p['peak_rss_mb'] / v['peak_rss_mb']:.2f}, "
          f"on disk x{sizes['pgen'] / sizes['vcf']:.2f}")
    same = {r["digest"] for rs in runs.values() for r in rs}
    print(f"stores identical: {'yes' if len(same) == 1 else 'NO: ' + str(same)}")


if __name__ == "__main__":
    main()
