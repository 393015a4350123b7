"""Rules ``genotypes`` and ``dosages``: a VCF/BCF or PLINK 2 contig -> variant or dosage store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ps2f.pipeline.common import atomic_path, log, read_table


def run_genotypes(
    vcf: str,
    reference: str,
    genes_path: str,
    individuals_path: str,
    contig: str,
    *,
    window_bp: int,
    cis_window_bp: int,
    cis_window_anchor: str,
    indel_flank_bp: int,
    snvs_only: bool,
    missing_policy: str,
    contig_aliases: Mapping[str, str] | None,
    out_store: str,
    out_stats: str,
    external_vcf: str | None = None,
) -> None:
    """Rule ``genotypes``: one contig's phased variants in the windows in use -> variant store.

    The store holds the variants of :func:`ps2f.genome.windows.store_windows`: the sequence
    windows of the sequence-model genes (the longest window any model of the run reads, widened
    by ``indel_flank_bp``) and every gene's cis-window. Every variant type is kept (SNVs, MNVs,
    indels; symbolic alleles are skipped and counted) unless ``snvs_only``: the haplotype
    builder applies them all, and the genotype baselines keep SNV dosages only (via
    :meth:`~ps2f.genome.store.VariantStore.is_snv`). The log reports the sample matching
    between the VCF and the expression individuals, and the ingestion counts (also written to
    ``out_stats``). Nothing is written unless the whole contig was read (both outputs are
    written atomically).

    Parameters
    ----------
    vcf, reference, genes_path, individuals_path : str
        Phased VCF/BCF (or PLINK 2 ``.pgen``, its ``.pvar``/``.psam`` beside it), FASTA, and
        the phenotypes gene and individual tables.
    contig : str
        The contig as the annotation spells it.
    window_bp : int
        Longest sequence window of the run, in bp (config ``s2f.window_bp`` and every sequence
        scorer's ``window_bp``; the workflow takes the maximum).
    cis_window_bp : int
        Cis-window flank in bp (config ``baselines.cis_window_bp``).
    cis_window_anchor : {"gene_body", "tss"}
        Config ``baselines.cis_window_anchor``.
    indel_flank_bp : int
        Config ``genotypes.indel_flank_bp``.
    snvs_only : bool
        Config ``genotypes.snvs_only``.
    missing_policy : {"error", "reference"}
        Config ``genotypes.missing_policy``.
    contig_aliases : mapping of str to str or None
        Config ``contig_aliases``.
    out_store, out_stats : str
        The variant store (``.npz``) and its ingestion counts (JSON).
    external_vcf : str, optional
        The external test cohort's genotypes (config ``external_cohort``): read over the same
        windows for the individuals of set ``"external"``, harmonized to this cohort's alleles
        (:mod:`ps2f.io.harmonize`; swaps, strand flips and dropped strand-ambiguous SNVs
        counted), and merged into the one store (its samples after this cohort's; each cohort
        reads REF where it has no record, counted: ``external_sites_missing``,
        ``external_sites_only``).

    Raises
    ------
    ps2f.errors.InputError
        An expression individual has no genotypes in the VCF (named; a separate message when
        no individual matches at all), or any ingestion error of
        :func:`ps2f.io.vcf.ingest_vcf` (or :func:`ps2f.io.pgen.ingest_pgen`) /
        :class:`ps2f.io.fasta.Reference`; an external cohort whose records mostly disagree
        with the FASTA (:func:`ps2f.io.harmonize.check_harmonization`), or that shares no
        variant with this cohort in the contig's windows
        (:func:`ps2f.io.harmonize.check_overlap`).
    """
    from ps2f.genome.windows import store_windows
    from ps2f.io.fasta import Reference
    from ps2f.io.genotypes import ingest_genotypes

    genes = _contig_genes(genes_path, contig)
    individuals, vcf_samples = _matched_samples(vcf, individuals_path)
    windows = store_windows(genes, window_bp, cis_window_bp, cis_window_anchor, indel_flank_bp)
    fasta = Reference(reference, contig_aliases)
    store = ingest_genotypes(
        vcf,
        fasta,
        contig,
        windows,
        samples=individuals,
        snvs_only=snvs_only,
        missing_policy=missing_policy,
        contig_aliases=contig_aliases,
    )
    if external_vcf:
        from ps2f.io.harmonize import (
            Harmonizer,
            check_harmonization,
            check_overlap,
            merge_cohorts,
        )

        external, external_samples = _matched_samples(external_vcf, individuals_path, True)
        theirs = ingest_genotypes(
            external_vcf,
            fasta,
            contig,
            windows,
            samples=external,
            snvs_only=snvs_only,
            missing_policy=missing_policy,
            contig_aliases=contig_aliases,
            harmonizer=Harmonizer.from_store(store),
        )
        check_harmonization(theirs.stats, external_vcf, contig)
        store = merge_cohorts(store, theirs)
        st = store.stats
        check_overlap(st, external_vcf, contig)
        log.info(
            "%s %s: external cohort harmonized to %s: %d REF/ALT swapped, %d strand-flipped, "
            "%d flipped and swapped, %d strand-ambiguous SNVs dropped; %d sites shared, %d of "
            "this cohort's sites missing there (its individuals read REF), %d sites only there",
            external_vcf,
            contig,
            vcf,
            st.get("external_harmonized_swapped_ref_alt", 0),
            st.get("external_harmonized_strand_flipped", 0),
            st.get("external_harmonized_strand_flipped_and_swapped", 0),
            st.get("external_dropped_strand_ambiguous", 0),
            st["external_sites_shared"],
            st["external_sites_missing"],
            st["external_sites_only"],
        )
        vcf_samples = vcf_samples + external_samples
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


def _matched_samples(
    vcf: str, individuals_path: str, external: bool = False
) -> tuple[list[str], list[str]]:
    """The phenotypes' individuals, each checked to be a sample of ``vcf``; and the VCF samples.

    The individuals of one cohort: the training cohort's, or with ``external`` the external
    test cohort's (individual set ``"external"``).

    Raises
    ------
    ps2f.errors.InputError
        An individual without genotypes in ``vcf`` (a separate message when none matches).
    """
    from ps2f.errors import InputError
    from ps2f.io.genotypes import genotype_format, read_genotype_samples, sample_rename_command
    from ps2f.schema import EXTERNAL

    table = read_table(individuals_path)
    # (the union table of a many-tissue run has no sets: no external cohort there)
    sets = table.get("individual_set", pd.Series("", index=table.index))
    theirs = sets.astype(str).to_numpy() == EXTERNAL
    individuals = table.loc[theirs if external else ~theirs, "individual"].astype(str).tolist()
    vcf_samples = read_genotype_samples(vcf)
    in_vcf = set(vcf_samples)
    absent = [s for s in individuals if s not in in_vcf]
    if absent and len(absent) == len(individuals):
        kind = genotype_format(vcf)
        raise InputError(
            f"{vcf}: none of the {len(individuals)} expression individuals (e.g. "
            f"{individuals[:3]}) is a {kind} sample (e.g. {vcf_samples[:3]}): the two files name "
            f"individuals differently, or belong to different cohorts. Rename the {kind} samples "
            f"({sample_rename_command(vcf)}) or the expression columns so that they match."
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
    *,
    cis_window_bp: int,
    cis_window_anchor: str,
    dosage_field: str,
    snvs_only: bool,
    missing_policy: str,
    contig_aliases: Mapping[str, str] | None,
    out_store: str,
    out_stats: str,
) -> None:
    """Rule ``dosages``: one contig's ALT allele dosages in the baselines' cis-windows.

    Reads ``inputs.dosages`` (unphased ``GT`` calls or imputed ``DS``, by ``dosage_field``)
    with :func:`ps2f.io.vcf.ingest_dosages` into a :class:`~ps2f.genome.store.DosageStore` that
    the ``elastic_net`` and ``random_forest`` rules read instead of the phased variant store.
    Only the cis-windows of :func:`ps2f.genome.windows.cis_windows` are read, SNVs only when
    ``snvs_only``. Both outputs are written atomically.

    Parameters
    ----------
    vcf, reference, genes_path, individuals_path : str
        Dosage VCF/BCF or PLINK 2 ``.pgen`` (``inputs.dosages``), FASTA, and the phenotypes
        tables.
    contig : str
        The contig as the annotation spells it.
    cis_window_bp : int
        Config ``baselines.cis_window_bp`` (flank in bp).
    cis_window_anchor : {"gene_body", "tss"}
        Config ``baselines.cis_window_anchor``.
    dosage_field : {"GT", "DS"}
        Config ``baselines.dosage_field``.
    snvs_only : bool
        Config ``baselines.snvs_only``.
    missing_policy : {"error", "reference"}
        Config ``genotypes.missing_policy``.
    contig_aliases : mapping of str to str or None
        Config ``contig_aliases``.
    out_store, out_stats : str
        The dosage store (``.npz``) and its ingestion counts (JSON).

    Raises
    ------
    ps2f.errors.InputError
        An expression individual has no dosages in the VCF, or any ingestion error of
        :func:`ps2f.io.vcf.ingest_dosages` (or :func:`ps2f.io.pgen.ingest_pgen_dosages`).
    """
    from ps2f.genome.windows import cis_windows
    from ps2f.io.fasta import Reference
    from ps2f.io.genotypes import ingest_genotype_dosages

    genes = _contig_genes(genes_path, contig)
    individuals, vcf_samples = _matched_samples(vcf, individuals_path)
    lo, hi = cis_windows(genes, cis_window_bp, cis_window_anchor)
    store = ingest_genotype_dosages(
        vcf,
        Reference(reference, contig_aliases),
        contig,
        [(int(a), int(b)) for a, b in zip(lo, hi, strict=True)],
        samples=individuals,
        dosage_field=dosage_field,
        snvs_only=snvs_only,
        missing_policy=missing_policy,
        contig_aliases=contig_aliases,
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
