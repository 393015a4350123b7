"""Rule ``genotypes``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ps2f.pipeline.common import atomic_path, log, read_table

#: bp read beyond each sequence-model window so that indels pulled in from outside (deletions
#: shorten the haplotype, so the TSS-centred window reaches further out) and alleles overlapping
#: the window edge are in the store; the haplotype builder warns if a window needs more.
INDEL_FLANK_BP = 1000


def gene_windows(
    genes: pd.DataFrame,
    window_bp: int,
    cis_window_bp: int,
    indel_flank_bp: int = INDEL_FLANK_BP,
    cis_window_anchor: str = "gene_body",
) -> list[tuple[int, int]]:
    """Windows whose variants the store must hold: sequence-model windows and baseline cis-windows.

    Parameters
    ----------
    genes : pandas.DataFrame
        The phenotypes gene table (``tss0``, ``strand``, ``s2f``; ``gene_start``/``gene_end``
        for ``cis_window_anchor="gene_body"``).
    window_bp : int
        Longest sequence window read around each TSS in bp (:func:`store_window_bp`).
    cis_window_bp : int
        Baseline cis-window flank in bp, on both sides of the anchor.
    indel_flank_bp : int
        Extra bp read on each side of a sequence-model window (see :data:`INDEL_FLANK_BP`).
    cis_window_anchor : {"gene_body", "tss"}
        The baselines' anchor (config ``baselines.cis_window_anchor``): the store must hold
        exactly the windows :func:`ps2f.baselines.windows.cis_windows` will read.

    Returns
    -------
    list of (int, int)
        0-based half-open windows (unmerged).
    """
    from ps2f.baselines.windows import cis_windows
    from ps2f.genome.haplotypes import window_start

    s2f = genes.loc[genes["s2f"]]
    starts = window_start(s2f["tss0"].to_numpy(), s2f["strand"].to_numpy(), window_bp)
    wins = [(int(a) - indel_flank_bp, int(a) + window_bp + indel_flank_bp) for a in starts]
    lo, hi = cis_windows(genes, cis_window_bp, cis_window_anchor)
    wins += [(int(a), int(b)) for a, b in zip(lo, hi, strict=True)]
    return wins


def store_window_bp(config: Mapping) -> int:
    """Longest sequence window any model of the run reads around a TSS, in bp.

    The p-/r-model read ``s2f.window_bp``; each configured sequence scorer (Enformer,
    AlphaGenome) reads its own ``window_bp`` (its type's default when unset); precomputed
    scorers read no sequence. The variant store must hold the variants of the longest, or a
    scorer's haplotypes would silently carry the reference past the stored windows.

    Parameters
    ----------
    config : mapping
        The validated workflow config (``s2f.window_bp``, ``scorers``).

    Returns
    -------
    int
        Window length in bp.

    Raises
    ------
    ps2f.errors.ConfigError
        A scorer entry is malformed (see :func:`ps2f.models.scorers.with_defaults`).
    """
    from ps2f.models.scorers import with_defaults

    lengths = [int(config["s2f"]["window_bp"])]
    for i, spec in enumerate(config.get("scorers") or ()):
        window = with_defaults(spec, f"scorers[{i}]").get("window_bp")
        if window:
            lengths.append(int(window))
    return max(lengths)


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
    """Rule ``genotypes``: one contig's phased variants in the windows in use -> variant store.

    Every variant type is kept (SNVs, MNVs, indels; symbolic alleles are skipped and counted):
    the haplotype builder applies them all, and the genotype baselines keep SNV dosages only
    (``baselines.snvs_only``, via :meth:`~ps2f.genome.store.VariantStore.is_snv`). The
    optional config keys ``genotypes.snvs_only`` (default false) and
    ``genotypes.indel_flank_bp`` (default :data:`INDEL_FLANK_BP`) override this. The store
    holds the sequence-model windows and the baselines' cis-windows (with their
    ``baselines.cis_window_anchor``). The log reports the sample matching between the VCF and
    the expression individuals, and the ingestion counts (also written to ``out_stats``).
    Nothing is written unless the whole contig was read (both outputs are written atomically).

    Raises
    ------
    ps2f.errors.InputError
        An expression individual has no genotypes in the VCF (named; a separate message when
        no individual matches at all), or any ingestion error of
        :func:`ps2f.io.vcf.ingest_vcf` / :class:`ps2f.io.fasta.Reference`.
    """
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_vcf

    section = config.get("genotypes", {})
    genes = _contig_genes(genes_path, contig)
    individuals, vcf_samples = _matched_samples(vcf, individuals_path)
    ref = Reference(reference, config["contig_aliases"])
    windows = gene_windows(
        genes,
        store_window_bp(config),
        config["baselines"]["cis_window_bp"],
        int(section.get("indel_flank_bp", INDEL_FLANK_BP)),
        config["baselines"].get("cis_window_anchor", "gene_body"),
    )
    store = ingest_vcf(
        vcf,
        ref,
        contig,
        windows,
        samples=individuals,
        snvs_only=bool(section.get("snvs_only", False)),
        missing_policy=section.get("missing_policy", "error"),
        contig_aliases=config["contig_aliases"],
    )
    _write_store(store, out_store, out_stats, contig, len(vcf_samples))


def _contig_genes(genes_path: str, contig: str) -> pd.DataFrame:
    """The genes of ``contig`` from the phenotypes gene table (a respelled contig is an error)."""
    from ps2f.errors import InputError
    from ps2f.io.contigs import candidate_names

    genes = read_table(genes_path)
    chrom = genes["chrom"].astype(str)  # a TSV reads contigs "1".."22" back as integers
    on_contig = chrom == str(contig)
    if not on_contig.any():
        respelled = sorted(set(chrom) & set(candidate_names(str(contig))))
        if respelled:
            raise InputError(
                f"{genes_path}: the genes are on {respelled[0]!r}, the config lists the contig "
                f"as {contig!r}; spell the contigs in the config's 'contigs' as the annotation "
                f"does."
            )
        log.warning(
            "%s: no gene on contig %s (the genes table has %s): its variant store stays empty",
            genes_path,
            contig,
            sorted(set(chrom))[:10],
        )
    return genes.loc[on_contig]


def _matched_samples(vcf: str, individuals_path: str) -> tuple[list[str], list[str]]:
    """The phenotypes' individuals, each checked to be a sample of ``vcf``; and the VCF samples.

    Raises
    ------
    ps2f.errors.InputError
        An individual without genotypes in ``vcf`` (a separate message when none matches).
    """
    from ps2f.errors import InputError
    from ps2f.io.vcf import read_vcf_samples

    individuals = read_table(individuals_path)["individual"].tolist()
    vcf_samples = read_vcf_samples(vcf)
    in_vcf = set(vcf_samples)
    absent = [s for s in individuals if s not in in_vcf]
    if absent and len(absent) == len(individuals):
        raise InputError(
            f"{vcf}: none of the {len(individuals)} expression individuals (e.g. "
            f"{individuals[:3]}) is a VCF sample (e.g. {vcf_samples[:3]}): the two files name "
            f"individuals differently, or belong to different cohorts. Rename the VCF samples "
            f"('bcftools reheader -s') or the expression columns so that they match."
        )
    if absent:
        raise InputError(
            f"{vcf}: {len(absent)} of the {len(individuals)} expression individuals have no "
            f"genotypes, e.g. {absent[:5]}; the phenotypes step should have dropped them: "
            f"re-run it, or check that sample IDs are spelled alike in both files."
        )
    log.info(
        "%s: %d VCF samples, %d expression individuals, %d in both (stored); %d VCF samples "
        "without expression are not stored",
        vcf,
        len(vcf_samples),
        len(individuals),
        len(individuals),
        len(vcf_samples) - len(individuals),
    )
    return individuals, vcf_samples


def run_dosages(
    vcf: str,
    reference: str,
    genes_path: str,
    individuals_path: str,
    contig: str,
    config: Mapping,
    out_store: str,
    out_stats: str,
) -> None:
    """Rule ``dosages``: one contig's ALT allele dosages in the baselines' cis-windows.

    Reads ``inputs.dosages`` (unphased ``GT`` calls or imputed ``DS``, by
    ``baselines.dosage_field``) with :func:`ps2f.io.vcf.ingest_dosages` into a
    :class:`~ps2f.genome.store.DosageStore` that the ``elastic_net`` and ``random_forest`` rules
    read instead of the phased variant store. Only the cis-windows of
    :func:`ps2f.baselines.windows.cis_windows` are read, SNVs only when ``baselines.snvs_only``;
    missing calls follow ``genotypes.missing_policy``. Both outputs are written atomically.

    Raises
    ------
    ps2f.errors.InputError
        An expression individual has no dosages in the VCF, or any ingestion error of
        :func:`ps2f.io.vcf.ingest_dosages`.
    """
    from ps2f.baselines.windows import cis_windows
    from ps2f.io.fasta import Reference
    from ps2f.io.vcf import ingest_dosages

    bl = config["baselines"]
    genes = _contig_genes(genes_path, contig)
    individuals, vcf_samples = _matched_samples(vcf, individuals_path)
    lo, hi = cis_windows(genes, bl["cis_window_bp"], bl.get("cis_window_anchor", "gene_body"))
    store = ingest_dosages(
        vcf,
        Reference(reference, config["contig_aliases"]),
        contig,
        [(int(a), int(b)) for a, b in zip(lo, hi, strict=True)],
        samples=individuals,
        dosage_field=bl.get("dosage_field", "GT"),
        snvs_only=bool(bl.get("snvs_only", True)),
        missing_policy=config.get("genotypes", {}).get("missing_policy", "error"),
        contig_aliases=config["contig_aliases"],
    )
    _write_store(store, out_store, out_stats, contig, len(vcf_samples))


def _write_store(store, out_store: str, out_stats: str, contig: str, n_vcf_samples: int) -> None:
    """Save a variant or dosage store and its ingestion counts (both atomically)."""
    Path(out_store).parent.mkdir(parents=True, exist_ok=True)
    store.save(out_store)
    stats = dict(
        store.stats,
        contig=contig,
        n_samples=store.n_samples,
        vcf_samples=n_vcf_samples,
        vcf_samples_without_expression=n_vcf_samples - store.n_samples,
        store_bytes=Path(out_store).stat().st_size,
    )
    with atomic_path(out_stats) as tmp:
        tmp.write_text(json.dumps(stats, indent=2))
