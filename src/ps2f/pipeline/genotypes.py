"""Rule ``genotypes``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ps2f.pipeline.common import atomic_path, read_table


def gene_windows(genes: pd.DataFrame, window_bp: int, cis_window_bp: int) -> list[tuple[int, int]]:
    """Windows whose variants the store must hold: sequence-model windows and baseline cis-windows.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table (``tss0``, ``strand``, ``s2f``).
    window_bp : int
        Sequence-model input length L in bp.
    cis_window_bp : int
        Baseline cis-window half-width in bp (TSS +- this).

    Returns
    -------
    list of (int, int)
        0-based half-open windows (unmerged).
    """
    from ps2f.genome.haplotypes import window_start

    s2f = genes.loc[genes["s2f"]]
    starts = window_start(s2f["tss0"].to_numpy(), s2f["strand"].to_numpy(), window_bp)
    wins = [(int(a), int(a) + window_bp) for a in starts]
    wins += [(max(0, int(t) - cis_window_bp), int(t) + cis_window_bp + 1) for t in genes["tss0"]]
    return wins


def run_genotypes(
    vcf: str,
    reference: str,
    genes_path: str,
    individuals_path: str,
    contig: str,
    config: Mapping,
    out_store: str,
    out_stats: str,
) -> None:
    """Rule ``genotypes``: one contig's phased variants in the windows in use -> variant store."""
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    genes = read_table(genes_path)
    genes = genes.loc[genes["chrom"] == contig]
    individuals = read_table(individuals_path)["individual"].tolist()
    ref = Reference(reference, config["contig_aliases"])
    windows = gene_windows(genes, config["s2f"]["window_bp"], config["baselines"]["cis_window_bp"])
    store = ingest_vcf(
        vcf,
        ref,
        contig,
        windows,
        samples=individuals,
        snvs_only=True,
        missing_policy=config["genotypes"]["missing_policy"],
        contig_aliases=config["contig_aliases"],
    )
    Path(out_store).parent.mkdir(parents=True, exist_ok=True)
    store.save(out_store)
    stats = dict(
        store.stats,
        contig=contig,
        n_samples=store.n_samples,
        store_bytes=Path(out_store).stat().st_size,
    )
    with atomic_path(out_stats) as tmp:
        tmp.write_text(json.dumps(stats, indent=2))
