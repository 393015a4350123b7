"""Expression enters once: read, match samples and genes, normalize, residualize, split.

Every consumer (training, scorers, baselines, evaluation) reads the three tables this module
writes, so the normalization, the covariate adjustment and the split assignment are defined
here and nowhere else.

Covariates (optional) follow PredictDB (Gamazon et al., Nat Genet 2015; ``PredictDb-nextflow``
regresses each gene on genotype PCs and expression PCs / PEER factors before fitting) and
SAGE-net (Spiro et al., Nat Methods 2026: 3 genotype PCs + 10 expression PCs regressed out,
gene means added back). Here the regression is fitted on **training individuals only** and
applied to everyone, so held-out individuals' expression never shapes the adjustment; each
gene's training mean is added back so that gene means, and the cross-gene metrics built on
them, keep their meaning. The covariate values themselves come from the input file as shipped
(expression PCs are typically computed by the data provider over all samples, an unsupervised
step that uses no phenotype labels of this benchmark).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ps2f.errors import ConfigError, InputError
from ps2f.io.contigs import candidate_names
from ps2f.io.tables import _raw_cell, read_covariates, read_expression_bed, read_tss_table
from ps2f.schema import HELDOUT_POPULATION

__all__ = [
    "MODALITIES",
    "MODALITY_NORMALIZATIONS",
    "EPSILON",
    "PhenotypeConfig",
    "Phenotypes",
    "external_phenotypes",
    "GENOTYPE_PC_PATTERN",
    "EXPRESSION_PC_PATTERN",
    "normalize",
    "check_modality",
    "beta_to_m",
    "bed_anchors",
    "assign_split",
    "population_split",
    "select_covariates",
    "residualize",
    "build_phenotypes",
]

log = logging.getLogger(__name__)

NORMALIZATIONS = ("log1p", "none", "m_value", "log_cpm", "logit")

#: Phenotype modalities (config ``phenotype.modality``).
MODALITIES = ("expression", "methylation", "accessibility", "splicing")

#: The normalizations that fit each modality's values (the first is the usual one):
#: expression (RPKM/TPM: log1p; counts: log_cpm; already normalized: none), methylation
#: (beta values: m_value; M-values: none), accessibility (peak counts: log_cpm; RPKM-like:
#: log1p; normalized: none), splicing (intron or junction usage ratios: logit; normalized:
#: none).
MODALITY_NORMALIZATIONS: dict[str, tuple[str, ...]] = {
    "expression": ("log1p", "none", "log_cpm"),
    "methylation": ("m_value", "none"),
    "accessibility": ("log_cpm", "log1p", "none"),
    "splicing": ("logit", "none"),
}

#: Beta values and ratios are clipped into ``[EPSILON, 1 - EPSILON]`` before the M-value or
#: logit transform, so 0 and 1 (fully unmethylated / methylated sites, always or never used
#: junctions) map to finite values: M within +-9.96, logit within +-6.91.
EPSILON = 1e-3

#: limma-voom's log-CPM offsets (Law et al., Genome Biology 2014): ``log2((count + 0.5) /
#: (library + 1) * 1e6)``.
CPM_COUNT_OFFSET = 0.5
CPM_LIBRARY_OFFSET = 1.0

# Covariate names recognised as genotype PCs / expression PCs (matched whole, case-insensitive;
# the first non-empty group is the PC's number). Genotype PCs: QTLtools ``genotypes_1_1_svd_PC3``,
# FastQTL/GTEx v8 ``PC3``, GTEx v6 ``C3``, ``geno_PC3``, ``gPC3``. Expression: QTLtools
# ``genes_1_1_svd_PC3``, ``expression_PC3``, ``expr_PC3``, ``ePC3``, PEER factors ``InferredCov3``
# (GTEx), ``PEER3``, ``peer_factor_3``.
GENOTYPE_PC_PATTERN = r"(?:genotypes?\w*?_|geno_?|g)?PC_?(\d+)|C(\d+)"
EXPRESSION_PC_PATTERN = (
    r"(?:genes?\w*?_|expr(?:ession)?_?|e)PC_?(\d+)|(?:InferredCov|PEER|peer_?factor)_?(\d+)"
)


@dataclass(frozen=True)
class PhenotypeConfig:
    """How expression is normalized and split (the ``expression``/``split`` config sections).

    Attributes
    ----------
    modality : {"expression", "methylation", "accessibility", "splicing"}
        What the phenotype BED measures (config ``phenotype.modality``): it decides the
        normalizations allowed (:data:`MODALITY_NORMALIZATIONS`) and, without a TSS table,
        each row's anchor (:func:`bed_anchors`).
    normalization : {"log1p", "none", "m_value", "log_cpm", "logit"}
        ``log1p``: natural log of 1 + value (for RPKM/TPM); ``none``: values used as given
        (e.g. FastQTL's rank-inverse-normal file); ``m_value``: beta values to M-values;
        ``log_cpm``: counts to log2 counts per million; ``logit``: ratios to log-odds (see
        :func:`normalize`).
    heldout_gene_fraction : float
        Fraction of genes held out from training, drawn separately among sequence-model genes
        and the rest so both keep the fraction. Ignored when ``heldout_chromosomes`` is given.
    heldout_chromosomes : tuple of str
        When non-empty, the held-out genes are exactly the genes on these chromosomes (names
        matched verbatim or with the ``chr`` prefix toggled), as SAGE-net splits genes.
    heldout_individual_fraction : float
        Fraction of individuals held out from training.
    seed : int
        Seed of both split draws.
    min_individuals : int
        Fewer genotyped individuals with expression than this is an error.
    min_split_individuals : int
        The training and the held-out individuals must each number at least this many (a
        per-gene Pearson r across individuals needs at least 3; the workflow passes
        ``evaluate.min_individuals``); fewer is an error naming
        ``split.heldout_individual_fraction``.
    gene_ids : tuple of str
        Restrict to these genes (unversioned or versioned IDs); empty = all.
    max_s2f_genes : int or None
        Keep at most this many sequence-model genes (the first by TSS), for quick runs.
    max_baseline_genes : int or None
        Keep at most this many other (genotype-baseline-only) genes, for quick runs.
    n_genotype_pcs, n_expression_pcs : int
        Genotype PCs and expression PCs / PEER factors (the first by number) regressed out when
        a covariate file is given.
    extra_covariates : tuple of str
        Further covariate rows to regress out, by name (e.g. ``sex``, ``PHASE1``).
    genotype_pc_pattern, expression_pc_pattern : str
        Regular expressions recognising the two kinds of PCs by row name (see
        :data:`GENOTYPE_PC_PATTERN`).
    population_table : str or None
        Held-out ancestry (config ``split.population``): a sample table (TSV with a header,
        e.g. 1000 Genomes' ``integrated_call_samples*.panel``) giving each individual's
        population; None = no population split. See :func:`population_split`.
    sample_column, population_column : str
        Its columns of sample IDs and population labels.
    train_populations, heldout_populations : tuple of str
        Populations trained on (empty: every population not held out) and held out whole.
    """

    normalization: str = "log1p"
    modality: str = "expression"
    heldout_gene_fraction: float = 0.2
    heldout_individual_fraction: float = 0.2
    seed: int = 0
    heldout_chromosomes: tuple[str, ...] = ()
    min_individuals: int = 20
    min_split_individuals: int = 3
    gene_ids: tuple[str, ...] = ()
    max_s2f_genes: int | None = None
    max_baseline_genes: int | None = None
    n_genotype_pcs: int = 3
    n_expression_pcs: int = 10
    extra_covariates: tuple[str, ...] = ()
    genotype_pc_pattern: str = GENOTYPE_PC_PATTERN
    expression_pc_pattern: str = EXPRESSION_PC_PATTERN
    population_table: str | None = None
    sample_column: str = "sample"
    population_column: str = "population"
    train_populations: tuple[str, ...] = ()
    heldout_populations: tuple[str, ...] = ()


@dataclass
class Phenotypes:
    """The three tables every downstream rule reads.

    Attributes
    ----------
    genes : pandas.DataFrame
        ``gene`` (ID as in the expression file), ``gene_key``, ``gene_name``, ``gene_type``,
        ``chrom``, ``strand``, ``tss0`` (0-based bp), ``gene_start``, ``gene_end`` (gene body,
        0-based half-open bp; the TSS base when the annotation has no body), ``s2f`` (bool:
        sequence models use this gene), ``gene_set`` ("train" | "heldout"). For a phenotype
        anchored on its BED row (no TSS table, :func:`bed_anchors`) a "gene" is that
        phenotype: ``tss0`` is its anchor, ``gene_start``/``gene_end`` its BED row,
        ``gene_type`` the modality.
    individuals : pandas.DataFrame
        ``individual``, ``individual_set`` ("train" | "heldout" | "heldout_population"), and
        ``population`` (str) with a population split.
    expression : pandas.DataFrame
        Long: ``gene``, ``individual``, ``observed`` (float64, normalized and, with
        covariates, residualized with the training mean added back).
    covariates : list of str
        Names of the covariates regressed out (empty without a covariate file).
    """

    genes: pd.DataFrame
    individuals: pd.DataFrame
    expression: pd.DataFrame
    covariates: list[str] = field(default_factory=list)


def check_modality(modality: str, normalization: str) -> None:
    """Reject a modality or a normalization that does not fit it.

    Parameters
    ----------
    modality : str
        Config ``phenotype.modality``.
    normalization : str
        Config ``expression.normalization``.

    Raises
    ------
    ConfigError
        Unknown modality or normalization, or a normalization not in
        :data:`MODALITY_NORMALIZATIONS` for the modality (e.g. ``log1p`` of beta values).
    """
    if modality not in MODALITIES:
        raise ConfigError(f"phenotype.modality must be one of {MODALITIES}, got {modality!r}")
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            f"expression.normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
        )
    allowed = MODALITY_NORMALIZATIONS[modality]
    if normalization not in allowed:
        raise ConfigError(
            f"expression.normalization: {normalization} does not fit phenotype.modality "
            f"{modality}; use one of {list(allowed)} ({allowed[0]} for "
            f"{_RAW_VALUES[modality]})."
        )


#: What the first normalization of each modality expects, for messages.
_RAW_VALUES = {
    "expression": "RPKM/TPM",
    "methylation": "beta values in [0, 1]",
    "accessibility": "peak read counts",
    "splicing": "usage ratios in [0, 1]",
}


def beta_to_m(beta: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Methylation beta values to M-values, ``log2(b / (1 - b))`` after clipping.

    The M-value (Du et al., BMC Bioinformatics 2010) is the log2 ratio of methylated to
    unmethylated signal; it is close to homoscedastic where beta values are not (their variance
    shrinks near 0 and 1). Beta values are clipped into ``[epsilon, 1 - epsilon]`` first, so
    fully (un)methylated sites give finite M-values (``+-9.96`` with the default
    :data:`EPSILON`).

    Parameters
    ----------
    beta : numpy.ndarray, any shape, float64
        Beta values in ``[0, 1]`` (checked by :func:`normalize`, not here).
    epsilon : float
        Clipping bound, in ``(0, 0.5)``.

    Returns
    -------
    numpy.ndarray
        Same shape, float64 M-values.
    """
    b = np.clip(np.asarray(beta, dtype=np.float64), epsilon, 1.0 - epsilon)
    return np.log2(b / (1.0 - b))


def _first_bad(
    values: pd.DataFrame, bad: np.ndarray, source: str, lines: Mapping[str, int] | None
) -> str:
    """``"<file>: line 7, phenotype X, sample S: value 1.2"`` for the first True of ``bad``."""
    r, c = np.argwhere(bad)[0]
    key = values.index[r]
    line = f"line {lines[key]}, " if lines is not None and key in lines else ""
    return (
        f"{source}: {line}phenotype {key}, sample {values.columns[c]}: value "
        f"{float(values.iat[r, c])!r}"
    )


def normalize(
    values: pd.DataFrame,
    method: str,
    source: str = "expression",
    lines: Mapping[str, int] | None = None,
    library_sizes: pd.Series | None = None,
) -> pd.DataFrame:
    """Normalize a phenotypes x samples matrix (genes, CpG sites, peaks or introns).

    Parameters
    ----------
    values : pandas.DataFrame, shape (n_phenotypes, n_samples), float64
    method : {"log1p", "none", "m_value", "log_cpm", "logit"}
        * ``log1p``: natural log(1 + value), for RPKM/TPM (units: log1p RPKM);
        * ``none``: values as given;
        * ``m_value``: beta values in ``[0, 1]`` to M-values (:func:`beta_to_m`, clipped at
          :data:`EPSILON`);
        * ``log_cpm``: read counts (>= 0) to limma-voom's log2 counts per million, ``log2((x
          + 0.5) / (library + 1) * 1e6)`` (Law et al., Genome Biology 2014);
        * ``logit``: ratios in ``[0, 1]`` (e.g. an intron's share of its cluster's reads, as
          leafcutter counts it) to natural log-odds, clipped at :data:`EPSILON` like beta
          values.
    source : str
        File name for error messages.
    lines : mapping of str to int, optional
        Line of each phenotype (index value) in ``source``, for error messages.
    library_sizes : pandas.Series, optional
        ``log_cpm``: each sample's library size (its total count over every row of the
        file, not only the rows kept); default the column sums of ``values``.

    Returns
    -------
    pandas.DataFrame
        Same shape, index and columns.

    Raises
    ------
    InputError
        Negative values with ``log1p`` (the file is probably already normalized: use
        ``none``) or ``log_cpm``; values outside ``[0, 1]`` with ``m_value`` or ``logit``
        (M-values or percentages given instead); a library size that is not positive. Each
        message names the file, the line (with ``lines``), the phenotype and the sample.
    ConfigError
        Unknown method.
    """
    if method == "none":
        return values.copy()
    if method not in NORMALIZATIONS:
        raise ConfigError(
            f"expression.normalization must be one of {NORMALIZATIONS}, got {method!r}"
        )
    arr = values.to_numpy(dtype=np.float64)
    if method in ("log1p", "log_cpm"):
        negative = arr < 0
        if negative.any():
            fix = (
                "the file looks normalized already (e.g. rank-inverse-normal): set "
                "expression.normalization: none"
                if method == "log1p"
                else "log_cpm needs read counts; give raw counts or set "
                "expression.normalization: none for normalized values"
            )
            raise InputError(
                f"{_first_bad(values, negative, source, lines)} is negative and cannot be "
                f"{method}-transformed ({int(negative.sum())} negative values in all); {fix}."
            )
        if method == "log1p":
            return np.log1p(values)
        lib = (values.sum(axis=0) if library_sizes is None else library_sizes)[values.columns]
        lib = lib.to_numpy(dtype=np.float64)
        if not (lib > 0).all():
            c = int(np.flatnonzero(~(lib > 0))[0])
            raise InputError(
                f"{source}: sample {values.columns[c]}: library size {float(lib[c])!r} (the sum of "
                f"its counts over every row); log_cpm needs at least one read per sample: "
                f"drop the sample or fix its column."
            )
        out = np.log2((arr + CPM_COUNT_OFFSET) / (lib + CPM_LIBRARY_OFFSET) * 1e6)
        return pd.DataFrame(out, index=values.index, columns=values.columns)
    # m_value, logit: fractions in [0, 1]
    outside = (arr < 0) | (arr > 1)
    if outside.any():
        what = "a beta value" if method == "m_value" else "a ratio"
        hint = (
            "values in [0, 100] are percentages: divide by 100; M-values or log-odds are "
            "normalized already: set expression.normalization: none"
        )
        raise InputError(
            f"{_first_bad(values, outside, source, lines)} is outside [0, 1] and cannot be "
            f"{what} ({int(outside.sum())} such values in all); {hint}."
        )
    if method == "m_value":
        out = beta_to_m(arr)
    else:
        p = np.clip(arr, EPSILON, 1.0 - EPSILON)
        out = np.log(p / (1.0 - p))
    return pd.DataFrame(out, index=values.index, columns=values.columns)


#: Header names accepted for a phenotype BED's first three columns where the anchor comes from
#: the BED itself (matched case-insensitively, a leading ``#`` removed).
_ANCHOR_HEADER = (
    ("chr", "chrom", "chromosome", "contig", "seqnames", "seqname"),
    ("start", "chromstart", "begin"),
    ("end", "chromend", "stop"),
)


def bed_anchors(
    bed_genes: pd.DataFrame, modality: str, source: str, header: Sequence[str]
) -> pd.DataFrame:
    """Each phenotype's anchor, strand and body from the phenotype BED itself (no TSS table).

    The anchor plays the TSS's part everywhere downstream (the ``tss0`` column of the gene
    table): sequence windows are centred on it, cis-windows are built around it.

    * ``expression``: the anchor is the BED start (QTLtools and FastQTL write the TSS as
      ``[TSS - 1, TSS)``); the strand column must give ``+`` or ``-``; the body is the TSS.
    * other modalities: the anchor is the centre base of ``[start, end)``, ``start + (end -
      start - 1) // 2`` (the left one of the two middle bases of an even-width row: a CpG
      written ``[C, G + 1)`` is anchored on its C). For a peak this is its centre; to anchor
      on a summit instead, write the row as ``[summit, summit + 1)`` (a narrowPeak's start +
      column 10). An intron (splicing) is anchored on its centre, so its two splice sites are
      in the sequence window only when the intron is shorter than the window. The body is
      ``[start, end)`` (cis-windows with ``cis_window_anchor: gene_body`` cover the feature).
      The strand is the strand column's ``+``/``-`` where given; ``.`` or no strand column
      means unstranded, read on the forward strand (a CpG site or an ATAC peak has no
      transcription direction, so no orientation is more right than the other, and the
      reference orientation is the one a reader of the genome browser sees). A model that
      should not depend on the orientation can be trained on both with
      ``s2f.train.reverse_complement_augment: true`` (off by default). The count of
      unstranded rows is logged.

    Parameters
    ----------
    bed_genes : pandas.DataFrame
        As returned by :func:`ps2f.io.tables.read_expression_bed` (``gene_id``, ``chrom``,
        ``tss0`` = BED start, ``end``, ``strand``, ``bed_line``).
    modality : str
        One of :data:`MODALITIES`.
    source : str
        The BED's path, for messages.
    header : sequence of str
        The BED's header fields (its first three must name chr, start and end).

    Returns
    -------
    pandas.DataFrame
        ``bed_genes`` with ``tss0`` replaced by the anchor (0-based bp, int64), ``strand``
        (``+``/``-``), ``gene_start``, ``gene_end`` (0-based half-open, int64).

    Raises
    ------
    InputError
        The header's first three columns are not chr, start and end (a matrix without anchor
        columns); an end that is not an integer greater than the start; with ``expression``,
        no strand column or a strand other than ``+``/``-``; a strand other than ``+``, ``-``
        or ``.``. Messages name the file and the line (the header is line 1).
    """
    names = [str(h).strip().lstrip("#").strip().lower() for h in list(header)[:3]]
    if len(names) < 3 or any(n not in ok for n, ok in zip(names, _ANCHOR_HEADER, strict=False)):
        raise InputError(
            f"{source}: line 1: the header begins {list(header)[:4]}, not chr, start, end: the "
            f"phenotype BED has no anchor columns. Without a TSS table (inputs.annotation) each "
            f"{modality} phenotype's position comes from the BED: write it as '#chr start end "
            f"id [gid strand] samples...' (0-based half-open start and end, as BED), or give "
            f"inputs.annotation."
        )
    genes = bed_genes.copy()
    start = genes["tss0"].to_numpy(np.int64)
    end = genes["end"].to_numpy(np.float64)
    bad = ~np.isfinite(end) | (end <= start) | (end != np.round(end))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: line {int(genes['bed_line'].iloc[i])}: end "
            f"{_raw_cell(source, int(genes['bed_line'].iloc[i]) - 2, 2)!r} of "
            f"{genes['gene_id'].iloc[i]} is not an integer greater than its start "
            f"{int(start[i])}; column 3 is the 0-based half-open end (a CpG or a 1-bp site: "
            f"start + 1)."
        )
    end = end.astype(np.int64)
    strand = genes["strand"].astype(str).to_numpy()
    no_column = bool((strand == "").all())  # read_expression_bed: "" without a strand column
    if no_column and modality != "expression":
        strand = np.full(len(strand), ".", dtype=object)
    allowed = ("+", "-") if modality == "expression" else ("+", "-", ".")
    bad = ~np.isin(strand, allowed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if no_column:
            raise InputError(
                f"{source}: line 1: no strand column (column 6, 'strand'); an expression BED "
                f"without a TSS table needs each gene's strand to orient its window. Add the "
                f"column, or give inputs.annotation."
            )
        raise InputError(
            f"{source}: line {int(genes['bed_line'].iloc[i])}: strand {strand[i]!r} of "
            f"{genes['gene_id'].iloc[i]}; the strand column must hold {' or '.join(allowed)}"
            f"{'' if modality == 'expression' else ' (. = unstranded)'}."
        )
    if modality == "expression":
        anchor, lo, hi = start, start, start + 1
    else:
        anchor, lo, hi = start + (end - start - 1) // 2, start, end
        unstranded = ~np.isin(strand, ("+", "-"))
        if unstranded.any():
            log.info(
                "%d of %d %s phenotypes in %s are unstranded (strand '.' or no strand column) "
                "and are read on the forward strand",
                int(unstranded.sum()),
                len(strand),
                modality,
                source,
            )
        strand = np.where(unstranded, "+", strand)
    genes["tss0"] = anchor.astype(np.int64)
    genes["strand"] = strand
    genes["gene_start"] = lo.astype(np.int64)
    genes["gene_end"] = hi.astype(np.int64)
    return genes


def assign_split(
    ids: Sequence[str],
    heldout_fraction: float,
    seed: int,
    chromosomes: Sequence[str] | None = None,
    heldout_chromosomes: Sequence[str] = (),
) -> np.ndarray:
    """Assign ``"train"``/``"heldout"`` to IDs, deterministically for a seed.

    The IDs are sorted before a seeded permutation, so the assignment does not depend on input
    order. ``round(fraction * n)`` IDs are held out (at least one when the fraction is positive
    and ``n >= 2``). With ``heldout_chromosomes``, the held-out IDs are instead exactly those on
    these chromosomes (SAGE-net's gene split), and the fraction and seed are not used.

    Parameters
    ----------
    ids : sequence of str
    heldout_fraction : float in [0, 1)
    seed : int
    chromosomes : sequence of str, optional
        Chromosome of each ID; required when ``heldout_chromosomes`` is non-empty.
    heldout_chromosomes : sequence of str
        Chromosomes whose IDs are held out; a name matches verbatim or with the ``chr`` prefix
        toggled (``chr19`` = ``19``; :func:`ps2f.io.contigs.candidate_names`).

    Returns
    -------
    numpy.ndarray, shape (len(ids),), str

    Raises
    ------
    ConfigError
        A fraction outside ``[0, 1)``, or ``heldout_chromosomes`` without one chromosome per ID.
    """
    if not 0 <= heldout_fraction < 1:
        raise ConfigError(f"held-out fraction must be in [0, 1), got {heldout_fraction}")
    if len(heldout_chromosomes):
        if chromosomes is None or len(chromosomes) != len(ids):
            raise ConfigError("a chromosome split needs one chromosome per ID")
        wanted = {c for name in heldout_chromosomes for c in candidate_names(str(name))}
        held = np.isin(np.asarray(chromosomes, dtype=str), sorted(wanted))
        return np.where(held, "heldout", "train").astype(str)
    ids = np.asarray(ids, dtype=str)
    n = len(ids)
    n_out = int(round(heldout_fraction * n))
    if heldout_fraction > 0 and n >= 2:
        n_out = min(max(n_out, 1), n - 1)
    order = np.argsort(ids, kind="stable")
    perm = np.random.default_rng(seed).permutation(n)
    out = np.full(n, "train", dtype=object)
    out[order[perm[:n_out]]] = "heldout"
    return out.astype(str)


def population_split(
    samples: Sequence[str],
    table_path: str,
    sample_column: str,
    population_column: str,
    train_populations: Sequence[str],
    heldout_populations: Sequence[str],
) -> pd.Series:
    """Each individual's population and its role in a held-out-ancestry split.

    Held-out ancestry (Rastogi et al., Genome Biology 2026, evaluate fine-tuned Enformer on
    held-out populations of Geuvadis): individuals are split by a population label instead of
    at random, so a model trained on some populations is tested on another. Individuals of a
    held-out population are never trained on (nor used to fit covariates, choose epochs or
    pick gene sets); their predictions form cells of their own (individual set
    :data:`ps2f.schema.HELDOUT_POPULATION`).

    Parameters
    ----------
    samples : sequence of str
        Individuals with expression and genotypes.
    table_path : str
        Sample table: tab-separated, one header line, one row per sample (extra rows and
        columns are ignored), e.g. 1000 Genomes' ``integrated_call_samples_v3.20130502.ALL.panel``
        (``sample pop super_pop gender``) or ``*.samples.tsv`` (``sample family population
        gender``).
    sample_column, population_column : str
        Header names of the sample-ID and population columns.
    train_populations : sequence of str
        Populations whose individuals may be trained on (then split at random into training
        and held-out individuals as without this option); empty = every population that is
        not held out.
    heldout_populations : sequence of str
        Populations held out whole (at least one).

    Returns
    -------
    pandas.Series
        Indexed by the kept samples (input order), values their population (str). Samples
        whose population is neither trained on nor held out, and samples absent from the table,
        are left out: a documented policy, counted in the log by the caller.

    Raises
    ------
    InputError
        The table cannot be read, lacks a named column, repeats a sample with two populations,
        or names none of ``samples``.
    ConfigError
        No held-out population; a population both trained on and held out; a named
        population absent from the table (the error lists those present).
    """
    heldout = [str(p) for p in heldout_populations]
    train = [str(p) for p in train_populations]
    if not heldout:
        raise ConfigError(
            f"split.population.sample_table {table_path} is set but "
            "split.population.heldout is empty; name the population(s) to hold out (e.g. "
            "[YRI]) or set sample_table to '' for a random split only."
        )
    both = sorted(set(train) & set(heldout))
    if both:
        raise ConfigError(
            f"split.population: {both} both trained on (train) and held out (heldout); a "
            "population is one or the other."
        )
    try:
        table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(
            f"{table_path}: cannot read the sample table of split.population ({e}); it must "
            "be a tab-separated file with a header line."
        ) from e
    table.columns = [str(c).strip().lstrip("#") for c in table.columns]
    absent = [c for c in (sample_column, population_column) if c not in table.columns]
    if absent:
        raise InputError(
            f"{table_path}: no column {absent} (columns: {list(table.columns)[:10]}); set "
            "split.population.sample_column / population_column to the header names (1000 "
            "Genomes .panel files: 'sample' and 'pop')."
        )
    table = table[[sample_column, population_column]].apply(lambda c: c.str.strip())
    table = table.drop_duplicates()
    dup = table[sample_column].duplicated(keep=False)
    if dup.any():
        rows = table.loc[dup].head(4).to_numpy().tolist()
        raise InputError(
            f"{table_path}: {int(dup.sum())} rows give one sample two populations, e.g. {rows}; "
            "keep one row per sample."
        )
    pop_of = table.set_index(sample_column)[population_column]
    present = pop_of.value_counts()
    unknown = [p for p in [*train, *heldout] if p not in present.index]
    if unknown:
        raise ConfigError(
            f"split.population: population(s) {unknown} are not in column "
            f"'{population_column}' of {table_path}; it has "
            f"{', '.join(f'{k} ({v})' for k, v in present.items())}."
        )
    known = [s for s in samples if s in pop_of.index]
    if not known:
        raise InputError(
            f"{table_path}: none of the {len(samples)} individuals (e.g. {list(samples[:3])}) "
            f"is in column '{sample_column}' (e.g. {pop_of.index[:3].tolist()}); the table "
            "must name samples as the VCF does."
        )
    pops = pop_of.loc[known]
    keep = pops.isin(heldout) | (pops.isin(train) if train else ~pops.isin(heldout))
    return pops.loc[keep].astype(str)


def select_covariates(
    covariates: pd.DataFrame,
    n_genotype_pcs: int,
    n_expression_pcs: int,
    extra: Sequence[str] = (),
    genotype_pc_pattern: str = GENOTYPE_PC_PATTERN,
    expression_pc_pattern: str = EXPRESSION_PC_PATTERN,
    source: str = "covariates",
) -> pd.DataFrame:
    """Pick the first genotype PCs, the first expression PCs and named extra covariates.

    Parameters
    ----------
    covariates : pandas.DataFrame, shape (n_covariates, n_samples), float64
        As returned by :func:`ps2f.io.tables.read_covariates`.
    n_genotype_pcs, n_expression_pcs : int
        How many of each kind, taken in order of their number (PC1, PC2, ...).
    extra : sequence of str
        Row names to add as they are.
    genotype_pc_pattern, expression_pc_pattern : str
        Regular expressions matched against the whole row name, case-insensitively; the first
        non-empty group is the PC's number.
    source : str
        File name for error messages.

    Returns
    -------
    pandas.DataFrame, shape (n_selected, n_samples), float64
        Genotype PCs, then expression PCs, then ``extra``.

    Raises
    ------
    ConfigError
        Fewer PCs of a kind than requested, a negative count, or an unknown extra covariate.
    InputError
        The file has one sample per row (the PCs are its columns): it must be transposed.
    """
    names = list(covariates.index.astype(str))

    def pick(pattern: str, n: int, kind: str, key: str) -> list[str]:
        if n < 0:
            raise ConfigError(f"expression.{key} must be >= 0, got {n}")
        rx = re.compile(pattern, re.IGNORECASE)
        found = []
        for name in names:
            m = rx.fullmatch(name)
            if m:
                number = next(g for g in m.groups() if g is not None)
                found.append((int(number), name))
        found.sort()
        in_header = [str(c) for c in covariates.columns if rx.fullmatch(str(c))]
        if len(found) < n <= len(in_header):
            raise InputError(
                f"{source}: the {kind} covariates are columns ({in_header[:3]}...) and the rows "
                f"are samples (e.g. {names[:3]}); ps2f reads one covariate per row with the "
                f"sample IDs in the header (QTLtools/GTEx layout). Transpose the file, e.g. "
                f"\"datamash transpose < {source} > covariates.txt\"."
            )
        if len(found) < n:
            raise ConfigError(
                f"{source}: expression.{key} = {n} but only {len(found)} {kind} rows are "
                f"recognised (pattern {pattern!r}); rows are e.g. {names[:6]}. Lower the number "
                f"or set expression.{key[2:-1]}_pattern."
            )
        return [name for _, name in found[:n]]

    chosen = pick(genotype_pc_pattern, n_genotype_pcs, "genotype-PC", "n_genotype_pcs")
    chosen += pick(expression_pc_pattern, n_expression_pcs, "expression-PC", "n_expression_pcs")
    missing = [c for c in extra if c not in names]
    if missing:
        raise ConfigError(
            f"{source}: expression.extra_covariates {missing} not found; rows are {names[:10]}..."
        )
    chosen += [c for c in extra if c not in chosen]
    return covariates.loc[chosen]


def residualize(values: pd.DataFrame, covariates: pd.DataFrame, train: np.ndarray) -> pd.DataFrame:
    """Regress every gene on the covariates (training individuals only); add the mean back.

    For gene g with expression ``y`` and covariate matrix ``C`` (samples x k), ordinary least
    squares with an intercept is fitted on the training individuals; every individual's value
    becomes ``y - (C - mean_train(C)) @ beta``. On training individuals this is the OLS
    residual plus the gene's training mean; held-out individuals are adjusted with the same
    coefficients, so nothing about them enters the fit.

    Parameters
    ----------
    values : pandas.DataFrame, shape (n_genes, n_samples), float64
        Normalized expression.
    covariates : pandas.DataFrame, shape (k, n_samples), float64
        Columns must include every column of ``values``.
    train : numpy.ndarray, shape (n_samples,), bool
        Training individuals, in the column order of ``values``.

    Returns
    -------
    pandas.DataFrame
        Same shape, index and columns as ``values``.

    Raises
    ------
    InputError
        If a sample lacks covariates or there are not more training individuals than
        covariates + 1.
    """
    train = np.asarray(train, dtype=bool)
    absent = [s for s in values.columns if s not in covariates.columns]
    if absent:
        raise InputError(f"covariates missing for samples {absent[:5]}")
    c = covariates[values.columns].to_numpy(np.float64).T  # (n, k)
    y = values.to_numpy(np.float64).T  # (n, g)
    k = c.shape[1]
    if train.sum() <= k + 1:
        raise InputError(
            f"{int(train.sum())} training individuals cannot be regressed on {k} covariates "
            f"(need more than {k + 1}); lower expression.n_genotype_pcs, "
            f"expression.n_expression_pcs or expression.extra_covariates."
        )
    cc = c - c[train].mean(axis=0)
    y_train = y[train] - y[train].mean(axis=0)
    beta, *_ = np.linalg.lstsq(cc[train], y_train, rcond=None)
    out = y - cc @ beta
    return pd.DataFrame(out.T, index=values.index, columns=values.columns)


def _match_genes(
    expr_genes: pd.DataFrame, tss: pd.DataFrame, expression_path: str, annotation_path: str
) -> pd.DataFrame:
    """Join expressed genes to the annotation on ``gene_key``; log what each file lacks.

    Returns the expressed, annotated genes: the expression file's ``gene_id``, ``chrom_bed``
    and ``tss0_bed``, the annotation's other columns, and ``annotation_line`` (1-based line of
    the gene in the annotation, header = line 1).
    """
    annot = tss.rename(columns={"gene_id": "annotation_gene_id"})
    annot["annotation_line"] = np.arange(len(annot)) + 2
    genes = expr_genes.merge(annot, on="gene_key", how="left", suffixes=("_bed", ""))
    no_annot = genes["strand"].isna()
    if no_annot.any():
        log.warning(
            "%d of %d expressed genes are absent from the annotation %s and are dropped, e.g. %s",
            int(no_annot.sum()),
            len(genes),
            annotation_path,
            genes.loc[no_annot, "gene_id"].iloc[:3].tolist(),
        )
    genes = genes.loc[~no_annot].copy()
    genes["annotation_line"] = genes["annotation_line"].astype(np.int64)
    unexpressed = ~tss["gene_key"].isin(expr_genes["gene_key"])
    if unexpressed.any():
        log.info(
            "%d of %d annotated genes have no expression in %s and are not used, e.g. %s",
            int(unexpressed.sum()),
            len(tss),
            expression_path,
            tss.loc[unexpressed, "gene_id"].iloc[:3].tolist(),
        )
    versions = genes["gene_id"] != genes["annotation_gene_id"]
    if versions.any():
        i = int(np.flatnonzero(versions.to_numpy())[0])
        log.info(
            "%d genes matched only after removing Ensembl version suffixes (e.g. %s in the "
            "expression = %s in the annotation); the expression file's IDs are kept",
            int(versions.sum()),
            genes["gene_id"].iloc[i],
            genes["annotation_gene_id"].iloc[i],
        )
    return genes


TSS_MISMATCH_MAX_FRACTION = 0.1
"""Share of genes whose annotation TSS may differ from the expression BED's (logged)."""


def _check_tss_against_bed(genes: pd.DataFrame, expression_path: str, annotation_path: str) -> None:
    """Cross-check each gene's TSS in the annotation against the expression BED's start.

    QTLtools and FastQTL phenotype BEDs put the TSS in ``start``/``end`` (0-based start =
    TSS - 1), so the BED start must equal the annotation's 0-based TSS (``tss0``): they agree
    for every real Geuvadis gene (590/590 and 198/198). Any disagreement means one of the two
    files is off: an annotation from another genome build (TSS shifted by kb) or a TSS table
    written 0-based (every TSS 1 bp before the BED's), and would silently move every sequence
    window and cis-window. A gene agrees when the two positions are equal (0 bp tolerance).
    Policy: when at most ``TSS_MISMATCH_MAX_FRACTION`` (10 %) of the genes disagree, as
    between GENCODE releases of one build (16/354 genes between the shared FastQTL BED and
    GENCODE v19), the count is logged as a warning and the annotation's TSS is used; more is
    systematic and an error.

    Parameters
    ----------
    genes : pandas.DataFrame
        Output of :func:`_match_genes` (``gene_id``, ``tss0_bed``, ``tss0``, ``annotation_line``).
    expression_path, annotation_path : str
        For the message.

    Raises
    ------
    InputError
        More than 10 % of the genes' TSS differ from the BED start; names the count, up to 3 genes with both positions
        (1-based) and the likely cause (0/1-based offset when most genes differ by the same
        1 bp, otherwise a different genome build or annotation release).
    """
    diff = genes["tss0"].to_numpy(np.int64) - genes["tss0_bed"].to_numpy(np.int64)
    off = diff != 0
    if not off.any():
        return
    rows = genes.loc[off].iloc[:3]
    shown = ", ".join(
        f"{r.gene_id} (annotation line {r.annotation_line}: TSS {int(r.tss0) + 1}; BED start "
        f"{int(r.tss0_bed)}, i.e. TSS {int(r.tss0_bed) + 1})"
        for r in rows.itertuples()
    )
    if off.mean() <= TSS_MISMATCH_MAX_FRACTION:
        log.warning(
            "%d of %d expressed genes have a TSS in %s that differs from the expression BED %s "
            "(a few genes moved between annotation releases; the annotation's TSS is used), "
            "e.g. %s",
            int(off.sum()),
            len(genes),
            annotation_path,
            expression_path,
            shown,
        )
        return
    d, n = np.unique(diff[off], return_counts=True)
    d = d[np.argmax(n): np.argmax(n) + 1]  # the commonest difference
    if abs(int(d[0])) == 1 and n.max() > len(genes) / 2:
        cause = (
            f"{int(n.max())} TSS are 1 bp {'before' if d[0] < 0 else 'after'} the BED's: "
            f"the two files disagree on 0/1-based coordinates "
            f"{'(the TSS table is likely 0-based) ' if d[0] < 0 else ''}; the table's 'tss' "
            f"must be the 1-based TSS (= BED start + 1)"
        )
    else:
        cause = (
            f"differences of {int(np.min(np.abs(diff[off])))}-{int(np.max(np.abs(diff[off])))} "
            f"bp: the annotation is likely from another genome build or release than the "
            f"expression file; use an annotation of the same build (e.g. GENCODE v19 for GRCh37)"
        )
    raise InputError(
        f"{annotation_path}: {int(off.sum())} of {len(genes)} expressed genes have a TSS that "
        f"differs from the expression BED {expression_path} (QTLtools/FastQTL put the TSS at "
        f"start + 1), e.g. {shown}; {cause}."
    )


def _check_tss_in_reference(
    genes: pd.DataFrame,
    reference: str,
    annotation_path: str,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Every gene's TSS must lie on its contig in the FASTA (same build as the annotation).

    Parameters
    ----------
    genes : pandas.DataFrame
        ``chrom``, ``tss0`` (0-based bp), ``gene_id``, ``annotation_line``.
    reference : str
        FASTA path (its ``.fai`` gives the contig lengths).
    annotation_path : str
        For the message.
    aliases : mapping of str to str, optional
        Contig renames (config ``contig_aliases``).

    Raises
    ------
    InputError
        A contig missing from the FASTA, or a TSS at or past its contig's end: the annotation
        and the FASTA are of different builds, or the contig is truncated.
    """
    from ps2f.io.fasta import Reference

    ref = Reference(reference, aliases)
    for chrom, rows in genes.groupby("chrom", sort=False):
        length = ref.contig_length(str(chrom))
        past = rows["tss0"].to_numpy() >= length
        if past.any():
            row = rows.iloc[int(np.flatnonzero(past)[0])]
            raise InputError(
                f"{annotation_path}: line {row['annotation_line']}: TSS {int(row['tss0']) + 1} "
                f"(1-based) of gene {row['gene_id']} lies past the end of {chrom} "
                f"({length:,} bp in {reference}; {int(past.sum())} genes in all). The "
                f"annotation and the FASTA must be of the same genome build."
            )


def _sample_id_hint(expression: Sequence[str], genotyped: Sequence[str]) -> str:
    """A sentence on how two sample-ID spellings relate (case, PLINK FID_IID, GTEx), else ""."""
    expr = {str(s) for s in expression}
    vcf = [str(s) for s in genotyped]
    if not expr or not vcf:
        return ""
    half = max(1, len(vcf) // 2)
    upper = {s.upper() for s in expr}
    if sum(s.upper() in upper for s in vcf) >= half:
        return " They differ in letter case only: rename one side to match."
    if sum(s.partition("_")[2] in expr for s in vcf) >= half:
        return (
            " The VCF's IDs are FID_IID (as 'plink --recode vcf' writes them): re-export with "
            "'plink2 --export vcf id-paste=iid', or rename with 'bcftools reheader -s'."
        )
    donors = {s.split("-")[0] + "-" + s.split("-")[1] for s in expr if s.count("-") >= 2}
    if sum(s in donors for s in vcf) >= half:
        return (
            " The expression has GTEx-style sample IDs (GTEX-XXXX-tissue-aliquot) and the VCF "
            "donor IDs (GTEX-XXXX): rename the expression columns to the donor ID (the first two "
            "'-'-separated fields)."
        )
    stripped = {s.strip() for s in expr}
    if sum(s.strip() in stripped for s in vcf) >= half:
        return " They differ by spaces around the IDs: strip them."
    return ""


def _genes_from_bed(
    expr_genes: pd.DataFrame, modality: str, expression_path: str
) -> pd.DataFrame:
    """The gene table of a run without a TSS table: anchors from the BED (:func:`bed_anchors`).

    Returns the columns :func:`_match_genes` returns (``annotation_line`` is the BED line;
    ``gene_name`` the ID, ``gene_type`` the modality, every row usable by sequence models).
    """
    header = list(pd.read_csv(expression_path, sep="\t", nrows=0).columns)
    genes = bed_anchors(expr_genes, modality, expression_path, header)
    genes["gene_name"] = genes["gene_id"]
    genes["gene_type"] = modality
    genes["usable"] = True
    genes["annotation_line"] = genes["bed_line"]
    log.info(
        "no TSS table: %d %s phenotypes anchored on %s of their rows in %s",
        len(genes),
        modality,
        "the start (the TSS)" if modality == "expression" else "the centre",
        expression_path,
    )
    return genes


def build_phenotypes(
    expression_path: str,
    annotation_path: str | None,
    genotyped_samples: Sequence[str],
    config: PhenotypeConfig,
    usable_column: str | None = None,
    contigs: Sequence[str] | None = None,
    covariates_path: str | None = None,
    reference: str | None = None,
    contig_aliases: Mapping[str, str] | None = None,
) -> Phenotypes:
    """Match expression, annotation, genotypes and covariates; normalize; residualize; split.

    Policies (each applied here, counted in the log, and nowhere else):

    * gene IDs are matched without Ensembl version suffixes
      (:func:`ps2f.io.tables.strip_version`); matches whose versions differ are counted;
    * expressed genes absent from the annotation are dropped (warning with the count);
      annotated genes without expression are not used (info with the count);
    * expression samples without genotypes (or without covariates) are dropped (warning);
    * genes whose expression is the same in every individual are dropped (warning).

    Everything else is an error: see Raises.

    Parameters
    ----------
    expression_path : str
        Phenotype BED (see :func:`ps2f.io.tables.read_expression_bed`).
    annotation_path : str or None
        TSS table (see :func:`ps2f.io.tables.read_tss_table`). None: each phenotype's anchor,
        strand and body come from the BED itself (:func:`bed_anchors`; CpG sites, peaks,
        introns).
    genotyped_samples : sequence of str
        Sample IDs of the VCF.
    config : PhenotypeConfig
    usable_column : str, optional
        TSS-table column flagging genes usable by sequence models.
    contigs : sequence of str, optional
        Keep genes on these contigs (annotation spelling); default all.
    covariates_path : str, optional
        Covariate file (:func:`ps2f.io.tables.read_covariates`); the covariates chosen by
        ``config`` are regressed out (:func:`residualize`). Individuals without covariates are
        dropped (logged). None: no adjustment.
    reference : str, optional
        FASTA (with its ``.fai``) of the genome build; when given, every kept gene's TSS must
        lie on its contig there (:func:`_check_tss_in_reference`).
    contig_aliases : mapping of str to str, optional
        Contig renames between the annotation and the FASTA (config ``contig_aliases``).

    Returns
    -------
    Phenotypes

    Raises
    ------
    InputError
        Malformed expression, annotation or covariate file (see :mod:`ps2f.io.tables`); too
        few individuals with expression, genotypes (and covariates); no gene in common; every
        gene constant; a TSS that differs from the expression BED's start
        of more than 10 % of genes
        (:func:`_check_tss_against_bed`: other build, 0-based table); a TSS past its contig's end in ``reference`` or a contig it lacks;
        values that do not fit the normalization (:func:`normalize`: negative values with
        ``log1p`` or ``log_cpm``, beta values or ratios outside [0, 1]); without a TSS table,
        a BED without anchor columns or with a bad end or strand (:func:`bed_anchors`).
    ConfigError
        A normalization that does not fit the modality (:func:`check_modality`);
        ``usable_column`` without a TSS table; the covariate file lacks the requested PCs; ``heldout_chromosomes`` hold no gene; the
        individual split leaves fewer than ``min_split_individuals`` in a set.
    """
    check_modality(config.modality, config.normalization)
    if not annotation_path and usable_column:
        raise ConfigError(
            f"annotation.usable_column {usable_column!r} is set but there is no TSS table "
            f"(inputs.annotation) to read it from; set it to null."
        )
    expr_genes, values = read_expression_bed(expression_path)
    tss = read_tss_table(annotation_path, usable_column) if annotation_path else None
    cov = _configured_covariates(covariates_path, config)

    genotyped = set(genotyped_samples)
    samples = [s for s in values.columns if s in genotyped]
    no_genotypes = [s for s in values.columns if s not in genotyped]
    if no_genotypes:
        log.warning(
            "%d of %d expression samples in %s have no genotypes and are dropped, e.g. %s",
            len(no_genotypes),
            values.shape[1],
            expression_path,
            no_genotypes[:3],
        )
    if cov is not None:
        lacking = [s for s in samples if s not in set(cov.columns)]
        if lacking:
            log.warning(
                "%d individuals with expression and genotypes have no covariates in %s and "
                "are dropped, e.g. %s",
                len(lacking),
                covariates_path,
                lacking[:3],
            )
            samples = [s for s in samples if s in set(cov.columns)]
    log.info(
        "individuals: %d with expression, %d genotyped, %d in both",
        values.shape[1],
        len(genotyped_samples),
        len(samples),
    )
    population = None
    if config.population_table:
        population = population_split(
            samples,
            config.population_table,
            config.sample_column,
            config.population_column,
            config.train_populations,
            config.heldout_populations,
        )
        dropped = [s for s in samples if s not in population.index]
        if dropped:
            log.warning(
                "split.population: %d of %d individuals are in neither the training nor the "
                "held-out populations (or absent from %s) and are not analysed, e.g. %s",
                len(dropped),
                len(samples),
                config.population_table,
                dropped[:3],
            )
        samples = [s for s in samples if s in population.index]
        log.info(
            "split.population: individuals per population: %s",
            ", ".join(f"{k} {v}" for k, v in population.value_counts().sort_index().items()),
        )
    if len(samples) < config.min_individuals:
        raise InputError(
            f"{expression_path}: only {len(samples)} individuals have expression and genotypes "
            f"{'and covariates ' if cov is not None else ''}"
            f"(need >= {config.min_individuals}, split.min_individuals); check that sample IDs "
            f"match the VCF's, e.g. expression has {list(values.columns[:3])}, VCF has "
            f"{list(genotyped_samples[:3])}.{_sample_id_hint(values.columns, genotyped_samples)}"
        )

    if tss is not None:
        genes = _match_genes(expr_genes, tss, expression_path, annotation_path)
    else:
        genes = _genes_from_bed(expr_genes, config.modality, expression_path)
    if contigs:
        genes = genes.loc[genes["chrom"].isin(list(contigs))]
    if config.gene_ids:
        wanted = {g.split(".")[0] for g in config.gene_ids}
        genes = genes.loc[genes["gene_key"].isin(wanted)]
    if genes.empty:
        raise InputError(
            f"{expression_path}: no gene is both expressed and in "
            f"{annotation_path or 'the BED (no TSS table)'}"
            f"{' on contigs ' + str(list(contigs)) if contigs else ''}"
            f"{' among genes.ids' if config.gene_ids else ''} (IDs are matched without version "
            f"suffixes); check the 'contigs' and 'genes.ids' config keys and the two files' IDs."
        )
    if tss is not None:
        _check_tss_against_bed(genes, expression_path, annotation_path)
    if reference is not None:
        _check_tss_in_reference(
            genes, reference, annotation_path or expression_path, contig_aliases
        )
    span = values.loc[genes["gene_key"], samples].to_numpy()
    constant = span.max(axis=1) == span.min(axis=1)
    if constant.any():
        log.warning(
            "%d genes have the same expression in all %d individuals (nothing to predict) and "
            "are dropped, e.g. %s",
            int(constant.sum()),
            len(samples),
            genes["gene_id"].to_numpy()[constant][:3].tolist(),
        )
        genes = genes.loc[~constant]
        if genes.empty:
            raise InputError(
                f"{expression_path}: every matched gene has the same expression in all "
                f"{len(samples)} individuals; check the expression file's columns."
            )
    genes = genes.sort_values(["chrom", "tss0", "gene_key"]).reset_index(drop=True)
    genes["s2f"] = genes["usable"].astype(bool)
    if config.max_s2f_genes is not None:
        keep = genes.index[genes["s2f"]][: config.max_s2f_genes]
        genes["s2f"] = genes.index.isin(keep)
    if config.max_baseline_genes is not None:
        others = genes.index[~genes["s2f"]][config.max_baseline_genes :]
        genes = genes.drop(index=others).reset_index(drop=True)

    genes["gene_set"] = "train"
    for flag in (True, False):
        sel = genes["s2f"] == flag
        genes.loc[sel, "gene_set"] = assign_split(
            genes.loc[sel, "gene_key"].tolist(),
            config.heldout_gene_fraction,
            config.seed,
            genes.loc[sel, "chrom"].astype(str).tolist(),
            config.heldout_chromosomes,
        )
    s2f_sets = genes.loc[genes["s2f"], "gene_set"]
    n_held = int((s2f_sets == "heldout").sum())
    how = (
        f"split.heldout_chromosomes {list(config.heldout_chromosomes)}"
        if config.heldout_chromosomes
        else f"split.heldout_gene_fraction {config.heldout_gene_fraction}"
    )
    if len(s2f_sets) and n_held > len(s2f_sets) / 2:
        # legitimate for external scorers alone (nothing trained), so a warning, not an error
        log.warning(
            "%s holds out %d of the %d sequence-model genes (%.0f%%): the p-/r-models train on "
            "%d genes only (none: they cannot be trained; fine if only external scorers run). "
            "Intended? SAGE-net holds out chr19 and chr20, ~7%% of genes.",
            how,
            n_held,
            len(s2f_sets),
            100 * n_held / len(s2f_sets),
            len(s2f_sets) - n_held,
        )
    if config.heldout_chromosomes and not (genes["gene_set"] == "heldout").any():
        raise ConfigError(
            f"split.heldout_chromosomes {list(config.heldout_chromosomes)}: no gene of "
            f"{expression_path} and {annotation_path} lies on them, so nothing would be held "
            f"out; the genes are on {sorted(genes['chrom'].astype(str).unique())[:10]}. Name "
            f"one of those (chr prefix optional) or use split.heldout_gene_fraction."
        )
    individuals = pd.DataFrame({"individual": samples})
    if population is None:
        individuals["individual_set"] = assign_split(
            samples, config.heldout_individual_fraction, config.seed + 1
        )
    else:
        # the random split runs among the training populations only; held-out populations
        # are a set of their own
        pops = population.loc[samples].to_numpy().astype(str)
        away = np.isin(pops, list(config.heldout_populations))
        labels = np.full(len(samples), HELDOUT_POPULATION, dtype=object)
        labels[~away] = assign_split(
            [s for s, a in zip(samples, away, strict=True) if not a],
            config.heldout_individual_fraction,
            config.seed + 1,
        )
        individuals["individual_set"] = labels.astype(str)
        individuals["population"] = pops
    counts = individuals["individual_set"].value_counts()
    n_train, n_heldout = int(counts.get("train", 0)), int(counts.get("heldout", 0))
    need = config.min_split_individuals
    n_away = int(counts.get(HELDOUT_POPULATION, 0))
    if population is not None and n_away < need:
        raise ConfigError(
            f"split.population.heldout {list(config.heldout_populations)}: {n_away} of the "
            f"individuals with expression and genotypes ({expression_path}) belong to them; "
            f"a per-gene r needs at least {need} (evaluate.min_individuals). Hold out a "
            f"larger population."
        )
    if n_train < need or (config.heldout_individual_fraction > 0 and n_heldout < need):
        raise ConfigError(
            f"split.heldout_individual_fraction {config.heldout_individual_fraction} of the "
            f"{len(samples)} individuals with expression and genotypes ({expression_path}) "
            f"leaves {n_train} training and {n_heldout} held-out individuals; each set needs at "
            f"least {need} (evaluate.min_individuals: r across individuals). Add individuals or "
            f"change the fraction."
        )

    norm = normalize(
        values.loc[genes["gene_key"], samples],
        config.normalization,
        expression_path,
        lines=dict(zip(expr_genes["gene_key"], expr_genes["bed_line"], strict=True)),
        # a sample's library: its counts over every row of the file, kept or not
        library_sizes=values[samples].sum(axis=0),
    )
    norm.index = genes["gene_id"].to_numpy()
    covariate_names: list[str] = []
    if cov is not None and len(cov):
        train = (individuals["individual_set"] == "train").to_numpy()
        adjusted = residualize(norm, cov, train)
        tr = norm.to_numpy()[:, train]
        explained = 1.0 - adjusted.to_numpy()[:, train].var(axis=1) / np.maximum(
            tr.var(axis=1), 1e-300
        )
        log.info(
            "regressed out %d covariates (%s) fitted on %d training individuals; median "
            "fraction of training variance removed per gene: %.3f",
            len(cov),
            ", ".join(cov.index),
            int(train.sum()),
            float(np.median(explained)),
        )
        norm = adjusted
        covariate_names = list(cov.index)
    expression = (
        norm.rename_axis(index="gene", columns="individual")
        .stack()
        .rename("observed")
        .reset_index()
    )
    genes = genes.rename(columns={"gene_id": "gene"})[
        [
            "gene",
            "gene_key",
            "gene_name",
            "gene_type",
            "chrom",
            "strand",
            "tss0",
            "gene_start",
            "gene_end",
            "s2f",
            "gene_set",
        ]
    ]
    log.info(
        "genes: %d (%d for sequence models); held out: %d genes, %d individuals%s",
        len(genes),
        int(genes["s2f"].sum()),
        int((genes["gene_set"] == "heldout").sum()),
        int((individuals["individual_set"] == "heldout").sum()),
        f", {n_away} individuals of held-out population(s) "
        f"{list(config.heldout_populations)}" if population is not None else "",
    )
    return Phenotypes(
        genes=genes.reset_index(drop=True),
        individuals=individuals,
        expression=expression,
        covariates=covariate_names,
    )


def _configured_covariates(
    covariates_path: str | None, config: PhenotypeConfig
) -> pd.DataFrame | None:
    """The covariates the run selects (:func:`select_covariates`) from a file; None without one."""
    if not covariates_path:
        return None
    return select_covariates(
        read_covariates(covariates_path),
        config.n_genotype_pcs,
        config.n_expression_pcs,
        config.extra_covariates,
        config.genotype_pc_pattern,
        config.expression_pc_pattern,
        source=covariates_path,
    )


def external_phenotypes(
    expression_path: str,
    genotyped_samples: Sequence[str],
    genes: pd.DataFrame,
    cohort_individuals: Sequence[str],
    config: PhenotypeConfig,
    covariates_path: str | None = None,
) -> Phenotypes:
    """An external test cohort's phenotypes, on the training cohort's genes (config ``external_cohort``).

    The external cohort (its own phenotype BED, genotypes and covariates) is never fitted on:
    every model trained on cohort A predicts its individuals, which form the individual set
    :data:`ps2f.schema.EXTERNAL` (cells of their own). Its phenotypes are prepared as a cohort
    of its own would be: normalized with the run's normalization, and residualized on its own
    covariates (the same covariate selection as cohort A's: ``n_genotype_pcs``,
    ``n_expression_pcs``, ``extra_covariates``) fitted on all its individuals
    (:func:`residualize`). Policies, counted in the log: phenotypes (BED rows) matched to A's
    genes by unversioned ID; A's genes the external BED lacks, and genes constant across the
    external individuals, have no external rows (no external r for them); external samples
    without genotypes (or covariates) are dropped.

    Parameters
    ----------
    expression_path : str
        The external cohort's phenotype BED (:func:`ps2f.io.tables.read_expression_bed`).
    genotyped_samples : sequence of str
        Samples of its genotype file.
    genes : pandas.DataFrame
        Cohort A's gene table (:attr:`Phenotypes.genes`: ``gene``, ``gene_key``).
    cohort_individuals : sequence of str
        Cohort A's individuals: none may also be an external individual.
    config : PhenotypeConfig
        The run's (``normalization``, covariate selection, ``min_split_individuals``).
    covariates_path : str, optional
        The external cohort's covariate file; None: no adjustment.

    Returns
    -------
    Phenotypes
        ``genes``: the subset of ``genes`` it measures; ``individuals``: ``individual``,
        ``individual_set`` (``"external"``); ``expression``: long ``gene``, ``individual``,
        ``observed`` (float64).

    Raises
    ------
    InputError
        An individual in both cohorts (a model would be tested on an individual it was trained
        or tuned on); fewer than ``min_split_individuals`` external individuals with
        phenotypes and genotypes (and covariates); no gene in common with cohort A; a
        malformed BED or covariate file, or values that do not fit the normalization.
    ConfigError
        The covariate file lacks the covariates the run selects.
    """
    from ps2f.schema import EXTERNAL

    expr_genes, values = read_expression_bed(expression_path)
    both = sorted(set(values.columns) & set(cohort_individuals))
    if both:
        raise InputError(
            f"{expression_path}: {len(both)} phenotype samples are also individuals of the "
            f"training cohort, e.g. {both[:3]}: a model would be tested on people it was fitted "
            f"or tuned on. Remove them from one cohort (or rename them, if they are different "
            f"people with the same sample ID)."
        )
    genotyped = set(genotyped_samples)
    samples = [s for s in values.columns if s in genotyped]
    if len(samples) < values.shape[1]:
        log.warning(
            "external cohort: %d of %d phenotype samples in %s have no genotypes and are "
            "dropped, e.g. %s",
            values.shape[1] - len(samples),
            values.shape[1],
            expression_path,
            [s for s in values.columns if s not in genotyped][:3],
        )
    cov = _configured_covariates(covariates_path, config)
    if cov is not None:
        lacking = [s for s in samples if s not in set(cov.columns)]
        if lacking:
            log.warning(
                "external cohort: %d individuals have no covariates in %s and are dropped, e.g. %s",
                len(lacking),
                covariates_path,
                lacking[:3],
            )
            samples = [s for s in samples if s in set(cov.columns)]
    if len(samples) < config.min_split_individuals:
        raise InputError(
            f"{expression_path}: only {len(samples)} external individuals have phenotypes and "
            f"genotypes{' and covariates' if cov is not None else ''}; a per-gene r needs at "
            f"least {config.min_split_individuals} (evaluate.min_individuals). Check that the "
            f"BED's sample IDs match the external genotype file's (BED has "
            f"{list(values.columns[:3])}, genotypes have {list(genotyped_samples)[:3]})."
        )
    in_b = set(values.index)
    shared = genes.loc[genes["gene_key"].isin(in_b)]
    log.info(
        "external cohort: %d of the run's %d genes are in %s (%d absent: no external r for "
        "them); %d of its %d phenotypes are not genes of the run",
        len(shared),
        len(genes),
        expression_path,
        len(genes) - len(shared),
        len(in_b - set(genes["gene_key"])),
        len(in_b),
    )
    if shared.empty:
        raise InputError(
            f"{expression_path}: none of the run's {len(genes)} genes (e.g. "
            f"{genes['gene'].head(3).tolist()}) is a phenotype of the external cohort (e.g. "
            f"{expr_genes['gene_id'].head(3).tolist()}); the two BEDs name genes differently "
            f"or measure different phenotypes (IDs are matched without version suffixes)."
        )
    span = values.loc[shared["gene_key"], samples].to_numpy()
    constant = span.max(axis=1) == span.min(axis=1)
    if constant.any():
        log.warning(
            "external cohort: %d genes have the same value in all %d external individuals and "
            "get no external r, e.g. %s",
            int(constant.sum()),
            len(samples),
            shared["gene"].to_numpy()[constant][:3].tolist(),
        )
        shared = shared.loc[~constant]
    norm = normalize(
        values.loc[shared["gene_key"], samples],
        config.normalization,
        expression_path,
        lines=dict(zip(expr_genes["gene_key"], expr_genes["bed_line"], strict=True)),
        library_sizes=values[samples].sum(axis=0),
    )
    norm.index = shared["gene"].to_numpy()
    if cov is not None and len(cov):
        norm = residualize(norm, cov, np.ones(len(samples), dtype=bool))
        log.info(
            "external cohort: regressed out %d covariates (%s) fitted on its %d individuals",
            len(cov),
            ", ".join(cov.index),
            len(samples),
        )
    expression = (
        norm.rename_axis(index="gene", columns="individual")
        .stack()
        .rename("observed")
        .reset_index()
    )
    log.info(
        "external cohort: %d individuals, %d genes (%s)",
        len(samples),
        len(shared),
        expression_path,
    )
    return Phenotypes(
        genes=shared.reset_index(drop=True),
        individuals=pd.DataFrame({"individual": samples, "individual_set": EXTERNAL}),
        expression=expression,
        covariates=list(cov.index) if cov is not None else [],
    )
