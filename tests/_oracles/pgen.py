"""Write a PLINK 2 fileset from a VCF, as ``plink2 --vcf IN --make-pgen`` would (no plink2 here).

The genotypes go through pgenlib's own :class:`pgenlib.PgenWriter` (the C library plink2 writes
with), the ``.pvar``/``.psam`` are the text plink2 writes: ``#CHROM POS ID REF ALT QUAL FILTER
INFO`` with INFO/END kept, ``#IID``. Multi-allelic records stay multi-allelic (as plink2 keeps
them); a call with a missing allele is written missing as a whole (PGEN cannot hold ``0|.``;
plink2 refuses half-calls by default). ``phased=False`` drops the phase (an unphased PGEN, as
from a plink 1 ``.bed``); ``dosages=True`` writes ``FORMAT/DS`` as PGEN dosages instead of the
hard calls (biallelic records only; ``plink2 --vcf IN dosage=DS``).
"""

from __future__ import annotations

from pathlib import Path

import cyvcf2
import numpy as np
import pgenlib


def vcf_to_pgen(vcf: Path, stem: Path, phased: bool = True, dosages: bool = False) -> Path:
    """Write ``stem.pgen``/``.pvar``/``.psam`` from every record of ``vcf``; return the .pgen."""
    reader = cyvcf2.VCF(str(vcf))
    samples = list(reader.samples)
    records = list(reader)
    n = len(samples)
    stem.with_suffix(".psam").write_text("#IID\n" + "".join(f"{s}\n" for s in samples))
    with open(stem.with_suffix(".pvar"), "w") as fh:
        fh.write("##fileformat=PVARv1.0\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for rec in records:
            end = rec.INFO.get("END")
            fh.write(
                f"{rec.CHROM}\t{rec.POS}\t{rec.ID or '.'}\t{rec.REF}\t{','.join(rec.ALT) or '.'}"
                f"\t.\t.\t{f'END={end}' if end is not None else '.'}\n"
            )
    allele_cts = [1 + max(len(rec.ALT), 1) for rec in records]
    pgen = stem.with_suffix(".pgen")
    writer = pgenlib.PgenWriter(
        str(pgen).encode(),
        n,
        variant_ct=len(records),
        nonref_flags=False,
        allele_ct_limit=max(allele_cts),
        hardcall_phase_present=phased and not dosages,
        dosage_present=dosages,
    )
    for rec, allele_ct in zip(records, allele_cts, strict=True):
        if dosages:
            ds = np.asarray(rec.format("DS"), dtype=np.float32).reshape(n, -1)[:, 0].copy()
            ds[np.isnan(ds)] = -9
            writer.append_dosages(ds)
            continue
        gt = rec.genotype.array()
        a, b = gt[:, 0].astype(np.int32), gt[:, 1].astype(np.int32)
        missing = (a < 0) | (b < 0)
        codes = np.stack([np.where(missing, -9, a), np.where(missing, -9, b)], axis=1)
        codes = np.ascontiguousarray(codes.reshape(-1), dtype=np.int32)
        if phased:
            phase = np.ascontiguousarray(gt[:, 2] == 1, dtype=np.uint8)
            writer.append_partially_phased(codes, phase, allele_ct=allele_ct)
        else:
            writer.append_alleles(codes, all_phased=False, allele_ct=allele_ct)
    writer.close()
    reader.close()
    return pgen
