"""Rule ``phenotypes``."""

from __future__ import annotations

from collections.abc import Mapping

from ps2f.pipeline.common import log, write_table


def run_phenotypes(
    expression: str,
    annotation: str,
    genotypes: str,
    config: Mapping,
    out_genes: str,
    out_individuals: str,
    out_expression: str,
    covariates: str | None = None,
    reference: str | None = None,
    dosages: str | None = None,
) -> None:
    """Rule ``phenotypes``: match samples and genes, normalize, residualize, assign the splits.

    This is the first rule that reads the expression, annotation and covariate tables, so every
    problem in them stops the workflow here (see :func:`ps2f.phenotypes.build_phenotypes` for
    the errors and the logged policies).

    Parameters
    ----------
    expression, annotation, genotypes : str
        Phenotype BED, TSS table and VCF paths.
    config : mapping
        The validated workflow config (sections ``expression``, ``genes``, ``split``,
        ``annotation``, ``contigs``, ``contig_aliases``, ``evaluate``).
    out_genes, out_individuals, out_expression : str
        Output paths (TSV, TSV, parquet), each written atomically.
    covariates : str, optional
        Covariate file (``expression.covariates``); None or empty: no adjustment.
    reference : str, optional
        FASTA of the genome build; when given, each gene's TSS is checked to lie on its contig.
    dosages : str, optional
        The baselines' dosage VCF (``inputs.dosages``); when given, only individuals that are
        samples of both VCFs are analysed (the others are dropped and counted in the log).

    Raises
    ------
    ps2f.errors.InputError, ps2f.errors.ConfigError
        As :func:`ps2f.phenotypes.build_phenotypes`; nothing is written then.
    """
    from ps2f.errors import InputError
    from ps2f.io.vcf import read_vcf_samples
    from ps2f.phenotypes import PhenotypeConfig, build_phenotypes

    pcfg = PhenotypeConfig(
        normalization=config["expression"]["normalization"],
        heldout_gene_fraction=config["split"]["heldout_gene_fraction"],
        heldout_individual_fraction=config["split"]["heldout_individual_fraction"],
        seed=config["split"]["seed"],
        heldout_chromosomes=tuple(config["split"].get("heldout_chromosomes", ())),
        min_individuals=config["split"]["min_individuals"],
        min_split_individuals=config.get("evaluate", {}).get("min_individuals", 3),
        gene_ids=tuple(config["genes"]["ids"]),
        max_s2f_genes=config["genes"]["max_s2f_genes"],
        max_baseline_genes=config["genes"]["max_baseline_genes"],
        n_genotype_pcs=config["expression"]["n_genotype_pcs"],
        n_expression_pcs=config["expression"]["n_expression_pcs"],
        extra_covariates=tuple(config["expression"]["extra_covariates"]),
        genotype_pc_pattern=config["expression"]["genotype_pc_pattern"],
        expression_pc_pattern=config["expression"]["expression_pc_pattern"],
    )
    samples = read_vcf_samples(genotypes)
    if dosages:
        in_dosages = set(read_vcf_samples(dosages))
        kept = [s for s in samples if s in in_dosages]
        log.info(
            "%s: %d of the %d samples of %s have dosages; only they can be analysed",
            dosages,
            len(kept),
            len(samples),
            genotypes,
        )
        if not kept:
            raise InputError(
                f"{dosages}: none of the {len(samples)} samples of {genotypes} (e.g. "
                f"{samples[:3]}) is a sample of the dosage VCF; the two files name individuals "
                f"differently or belong to different cohorts. Rename samples to match "
                f"('bcftools reheader -s')."
            )
        if len(kept) < len(samples):
            log.warning(
                "%d genotyped samples are not in the dosage VCF %s and are dropped, e.g. %s",
                len(samples) - len(kept),
                dosages,
                [s for s in samples if s not in in_dosages][:3],
            )
        samples = kept
    ph = build_phenotypes(
        expression,
        annotation,
        samples,
        pcfg,
        usable_column=config["annotation"]["usable_column"],
        contigs=config["contigs"],
        covariates_path=covariates or None,
        reference=reference or None,
        contig_aliases=config.get("contig_aliases") or None,
    )
    write_table(ph.genes, out_genes)
    write_table(ph.individuals, out_individuals)
    write_table(ph.expression, out_expression)
