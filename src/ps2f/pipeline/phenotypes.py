"""Rule ``phenotypes``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ps2f.pipeline.common import log, write_table

__all__ = ["run_phenotypes"]


def _population_settings(pop: Mapping | None, populations: str | None) -> dict:
    """PhenotypeConfig's population fields from config ``split.population`` and its table."""
    if not populations:
        return {}
    if not pop:
        raise ValueError("a population sample table needs the split.population settings")
    return {
        "population_table": populations,
        "sample_column": pop["sample_column"],
        "population_column": pop["population_column"],
        "train_populations": tuple(pop["train"]),
        "heldout_populations": tuple(pop["heldout"]),
    }


def run_phenotypes(
    expression: str,
    annotation: str | None,
    genotypes: str,
    out_genes: str,
    out_individuals: str,
    out_expression: str,
    *,
    expression_settings: Mapping,
    split: Mapping,
    genes: Mapping,
    usable_column: str | None,
    contigs: Sequence[str],
    contig_aliases: Mapping[str, str],
    min_split_individuals: int,
    covariates: str | None = None,
    reference: str | None = None,
    dosages: str | None = None,
    populations: str | None = None,
    population: Mapping | None = None,
    modality: str = "expression",
    external_genotypes: str | None = None,
    external_expression: str | None = None,
    external_covariates: str | None = None,
) -> None:
    """Rule ``phenotypes``: match samples and genes, normalize, residualize, assign the splits.

    This is the first rule that reads the expression, annotation and covariate tables, so every
    problem in them stops the workflow here (see :func:`ps2f.phenotypes.build_phenotypes` for
    the errors and the logged policies).

    Parameters
    ----------
    expression, annotation, genotypes : str
        Phenotype BED, TSS table and genotypes (VCF/BCF or PLINK 2 .pgen) paths; ``annotation``
        None or empty: the anchors come from the BED (:func:`ps2f.phenotypes.bed_anchors`).
    out_genes, out_individuals, out_expression : str
        Output paths (TSV, TSV, parquet), each written atomically.
    expression_settings : mapping
        Config ``expression`` keys ``normalization``, ``n_genotype_pcs``, ``n_expression_pcs``,
        ``extra_covariates``, ``genotype_pc_pattern`` and ``expression_pc_pattern`` (the
        covariate file itself is ``covariates``).
    split : mapping
        Config ``split`` keys ``heldout_gene_fraction``, ``heldout_individual_fraction``,
        ``heldout_chromosomes``, ``seed`` and ``min_individuals``.
    genes : mapping
        Config ``genes`` (``ids``, ``max_s2f_genes``, ``max_baseline_genes``).
    usable_column : str or None
        Config ``annotation.usable_column``: the TSS-table column of genes usable by sequence
        models; None = all genes.
    contigs : sequence of str
        Config ``contigs``: the contigs analysed, spelled as in the annotation.
    contig_aliases : mapping of str to str
        Config ``contig_aliases``; empty = the automatic chr-prefix rule only.
    min_split_individuals : int
        Config ``evaluate.min_individuals``: the training and the held-out individuals must
        each number at least this many (a per-gene r needs them).
    covariates : str, optional
        Covariate file (``expression.covariates``); None or empty: no adjustment.
    reference : str, optional
        FASTA of the genome build; when given, each gene's TSS is checked to lie on its contig.
    dosages : str, optional
        The baselines' dosage VCF or PGEN (``inputs.dosages``); when given, only individuals
        that are samples of both genotype files are analysed (the others are dropped and
        counted in the log).
    populations : str, optional
        Sample table of ``split.population.sample_table``: held-out ancestry
        (:func:`ps2f.phenotypes.population_split`); None or empty: random individual split only.
    population : mapping, optional
        Config ``split.population`` keys ``sample_column``, ``population_column``, ``train``
        and ``heldout``; needed with ``populations``.
    modality : str
        Config ``phenotype.modality`` (:data:`ps2f.phenotypes.MODALITIES`).
    external_genotypes, external_expression, external_covariates : str, optional
        An external test cohort (config ``external_cohort``): its genotype file, phenotype
        BED and covariate file (optional). Its individuals join the tables as individual set
        ``"external"``, on the genes it measures
        (:func:`ps2f.phenotypes.external_phenotypes`).

    Raises
    ------
    ps2f.errors.InputError, ps2f.errors.ConfigError
        As :func:`ps2f.phenotypes.build_phenotypes` and
        :func:`ps2f.phenotypes.external_phenotypes`; nothing is written then.
    """
    from ps2f.errors import InputError
    from ps2f.io.genotypes import genotype_format, read_genotype_samples, sample_rename_command
    from ps2f.phenotypes import PhenotypeConfig, build_phenotypes

    pcfg = PhenotypeConfig(
        normalization=expression_settings["normalization"],
        modality=modality,
        heldout_gene_fraction=split["heldout_gene_fraction"],
        heldout_individual_fraction=split["heldout_individual_fraction"],
        seed=split["seed"],
        heldout_chromosomes=tuple(split["heldout_chromosomes"]),
        min_individuals=split["min_individuals"],
        min_split_individuals=min_split_individuals,
        gene_ids=tuple(genes["ids"]),
        max_s2f_genes=genes["max_s2f_genes"],
        max_baseline_genes=genes["max_baseline_genes"],
        n_genotype_pcs=expression_settings["n_genotype_pcs"],
        n_expression_pcs=expression_settings["n_expression_pcs"],
        extra_covariates=tuple(expression_settings["extra_covariates"]),
        genotype_pc_pattern=expression_settings["genotype_pc_pattern"],
        expression_pc_pattern=expression_settings["expression_pc_pattern"],
        **_population_settings(population, populations),
    )
    samples = read_genotype_samples(genotypes)
    if dosages:
        in_dosages = set(read_genotype_samples(dosages))
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
                f"{samples[:3]}) is a sample of the dosage {genotype_format(dosages)}; the two "
                f"files name individuals differently or belong to different cohorts. Rename "
                f"samples to match ({sample_rename_command(dosages)})."
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
        annotation or None,
        samples,
        pcfg,
        usable_column=usable_column,
        contigs=contigs,
        covariates_path=covariates or None,
        reference=reference or None,
        contig_aliases=contig_aliases or None,
    )
    individuals, expression = ph.individuals, ph.expression
    if external_genotypes:
        import pandas as pd

        from ps2f.phenotypes import external_phenotypes

        ext = external_phenotypes(
            external_expression,
            read_genotype_samples(external_genotypes),
            ph.genes,
            ph.individuals["individual"].tolist(),
            pcfg,
            covariates_path=external_covariates or None,
        )
        individuals = pd.concat([individuals, ext.individuals], ignore_index=True)
        expression = pd.concat([expression, ext.expression], ignore_index=True)
    write_table(ph.genes, out_genes)
    write_table(individuals, out_individuals)
    write_table(expression, out_expression)
