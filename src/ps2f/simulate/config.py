"""Settings of the cohort simulator: one frozen dataclass, checked when it is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ps2f.errors import ConfigError
from ps2f.genome.encoding import decode, encode, reverse_complement_codes

__all__ = ["EXTERNAL_FIELDS", "NONLINEARITIES", "SIMULATED_MODALITIES", "SimulationConfig"]

#: Values of :attr:`SimulationConfig.nonlinearity`.
NONLINEARITIES = ("none", "interaction", "threshold")

#: Values of :attr:`SimulationConfig.modality`.
SIMULATED_MODALITIES = ("expression", "methylation")

#: Methylation: the simulated value ``y`` (log1p-expression-like, gene means in [2, 4]) becomes
#: the M-value ``y - METHYLATION_OFFSET`` (means in [-1, 1]: beta values mostly 0.3-0.7).
METHYLATION_OFFSET = 3.0

#: The settings of the external cohort (:attr:`SimulationConfig.external_individuals`); left
#: out of ``simulation.json`` when it is off, so that file is as it was before they existed.
EXTERNAL_FIELDS = (
    "external_individuals",
    "external_split_generations",
    "external_population_size",
    "external_missing_fraction",
    "external_swapped_fraction",
    "external_flipped_fraction",
)

#: Largest indel simulated, in bp (inserted or deleted bases, excluding the anchor base).
MAX_INDEL_BP = 10
_MIN_MOTIF = 4


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of :func:`ps2f.simulate.simulate_cohort` (the model is in :mod:`ps2f.simulate`).

    Attributes
    ----------
    n_individuals : int
        Diploid individuals (VCF and expression samples ``SIM0001``...).
    n_genes : int
        Genes (``SIMG0001``...), one per locus, laid out along one contig.
    spacing_bp : int
        Length of each gene's locus and distance between consecutive TSSs, in bp; the contig is
        ``n_genes * spacing_bp`` long and gene ``g``'s TSS is at ``spacing_bp // 2 + g *
        spacing_bp`` (0-based).
    causal_radius_bp : int
        Half-width of each gene's causal region ``[tss0 - r, tss0 + r)``, in bp: planted motif
        copies, the grammar and every causal variant lie inside it.
    contig : str
        Name of the simulated contig.
    seed : int
        Seed of every random draw (NumPy and msprime); a seed gives byte-identical files.
    population_size : float
        Constant diploid effective population size Ne of the coalescent (msprime).
    mutation_rate : float
        Per-bp, per-generation mutation rate (infinite sites).
    recombination_rate : float
        Per-bp, per-generation recombination rate (flat).
    indel_fraction : float
        Probability that a neutral site outside the causal regions becomes an indel
        (insertion or deletion of 1-10 bp, left-aligned) instead of an SNV.
    reference_fasta : str or None
        FASTA (plain or bgzipped with ``.fai``/``.gzi``) whose N-free ``spacing_bp`` windows
        become the loci; ``None``: a random sequence (``gc_content``, ``cpg_depletion``).
    reference_contig : str or None
        Contig of ``reference_fasta`` to take windows from; ``None``: its longest contig.
    gc_content : float
        Stationary G+C fraction of the random background.
    cpg_depletion : float
        Factor dividing ``P(G | previous base C)`` of the random background (1 = none).
    motifs : tuple of str or None
        The grammar's motifs (A/C/G/T, none its own reverse complement), exact k-mers;
        ``None``: drawn from ``seed`` (see :mod:`ps2f.simulate.grammar`).
    motif_effects : tuple of float or None
        Effect of one match of each motif at the TSS, in the forward orientation (relative
        units; rescaled with the whole grammar, see ``genetic_sd``). Negative = repressor.
        ``None``: drawn (activators and repressors); needs ``motifs`` when set.
    motif_reverse_weights : tuple of float or None
        Effect of a match in the reverse orientation (antisense to the gene), relative to a
        forward one, per motif; ``None``: drawn in ``[0, 1]``; needs ``motifs`` when set.
    position_decay_bp : float, tuple of float, or None
        A match of motif ``k`` centred ``d`` bp from the TSS counts ``exp(-|d| /
        position_decay_bp[k])``, in bp; one number applies to every motif; ``None``: drawn
        per motif. A tuple needs ``motifs``.
    motif_interactions : tuple of (int, int, float), or None
        Interacting motif pairs ``(i, j, c)``, ``0 <= i < j < K``: the product ``c S_i S_j``
        of their scores adds to the grammar value (``()``: none); ``None``: drawn. Pairs
        other than ``()`` need ``motifs``.
    motif_copies : float
        Mean (Poisson) number of invariant exact copies of each motif planted per gene.
    n_grammar_variants : int
        Causal grammar SNVs per gene (each breaks a planted motif copy or completes a planted
        near-copy); used when ``grammar_weight > 0``.
    n_eqtl_variants : int
        Causal gene-specific (eQTL-like) SNVs per gene, effects ``N(0, 1)``; used when
        ``grammar_weight < 1``.
    causal_min_maf : float
        Causal variants take the genotypes of msprime sites with minor-allele frequency at
        least this (in the cohort).
    grammar_weight : float
        Share of the genetic variance (averaged over genes) from the grammar; the rest is from
        the gene-specific variants. In ``[0, 1]``.
    genetic_sd : float
        Standard deviation of an individual's genetic value, averaged (as a variance) over
        genes, in log1p expression units.
    h2 : float
        Target heritability per gene: the genetic share of expression variance, in ``(0, 1]``.
    nonlinearity : {"none", "interaction", "threshold"}
        ``interaction``: half the variance of each component comes from its product terms
        (the grammar's motif pairs, ``S_0 S_1`` for a grammar given without pairs; the first
        two eQTLs' centred dosages) instead of their natural weight (grammar) or none (eQTLs);
        ``threshold``: an individual's genetic value below its gene's median is raised to the
        median.
    n_expression_covariates : int
        Hidden factors (``expression_PC1``...) that shift expression, written as covariates.
    n_genotype_pcs : int
        Genotype PCs (``genotype_PC1``...) written as covariates (no effect on expression),
        computed from an independent simulation of 2 Mb of the same individuals' genome.
    covariate_variance : float
        Share of each gene's expression variance from the hidden factors; ``h2 +
        covariate_variance <= 1``.
    modality : {"expression", "methylation"}
        ``expression``: genes on a random strand, the grammar read 5'->3' on it, a TSS table
        and an RPKM-like BED. ``methylation``: an unstranded, CpG-site-like phenotype: every
        locus (and so the grammar) is read on the forward strand, and the BED holds beta
        values ``1 / (1 + 2^-M)`` of the M-value ``M = y - METHYLATION_OFFSET``, at rows
        ``[tss0, tss0 + 2)`` with strand ``.`` (the workflow anchors them on ``tss0`` without
        a TSS table). The draws are the same for both (a seed gives the same genotypes).
        What makes it short-range is the grammar's reach: ``causal_radius_bp`` (~100) and
        ``grammar_weight`` 1 (config/scenarios/methylation.yaml).
    external_individuals : int
        Diploid individuals of an external test cohort B (samples ``EXT0001``...), written
        under ``external/`` (:data:`~ps2f.simulate.cohort.EXTERNAL_OUTPUT_FILES`); ``0``: none
        (every file byte-identical to a run without these keys). B is sampled from a second
        population that split from the training cohort's ``external_split_generations`` ago (one
        msprime demography, :func:`~ps2f.simulate.variants.simulate_split_ancestry`), so its
        allele frequencies and LD differ; it has the same genes, causal variants, effects,
        grammar, gene baselines and scales as the training cohort, and per gene the same
        hidden-factor and noise variances, with its own factors and noise (its realised ``h2``
        differs with its genetic variance).
    external_split_generations : float
        Generations since the two populations split (``t``, > 0). With equal sizes Hudson's
        F_ST between them is expected near ``t / (t + 2 Ne)``.
    external_population_size : float or None
        Constant diploid Ne of cohort B's population since the split (> 0); ``None``:
        ``population_size``. The ancestral population has ``population_size``.
    external_missing_fraction : float
        Fraction of cohort B's SNV records (sites where B carries the ALT) left out of B's VCF,
        as for a cohort typed on another panel: B's individuals then read REF there. In
        ``[0, 1]``.
    external_swapped_fraction : float
        Fraction of B's written SNV records written with REF and ALT exchanged and every
        genotype inverted (an A/T or C/G one is strand-ambiguous: the pipeline drops it; the
        truth calls it ``swapped_ambiguous``). In ``[0, 1]``.
    external_flipped_fraction : float
        Fraction of B's written, not swapped, non-palindromic (not A/T or C/G) SNV records
        written on the other strand: both alleles complemented, genotypes unchanged. In
        ``[0, 1]``. The three perturbations are drawn from a random stream of their own, so
        they never change the genotypes or the expression of either cohort.
    """

    n_individuals: int = 120
    n_genes: int = 40
    spacing_bp: int = 10_000
    causal_radius_bp: int = 300
    contig: str = "sim1"
    seed: int = 0
    population_size: float = 1.0e4
    mutation_rate: float = 1.25e-8
    recombination_rate: float = 1.0e-8
    indel_fraction: float = 0.05
    reference_fasta: str | None = None
    reference_contig: str | None = None
    gc_content: float = 0.41
    cpg_depletion: float = 4.0
    motifs: tuple[str, ...] | None = None
    motif_effects: tuple[float, ...] | None = None
    motif_reverse_weights: tuple[float, ...] | None = None
    position_decay_bp: float | tuple[float, ...] | None = None
    motif_interactions: tuple[tuple[int, int, float], ...] | None = None
    motif_copies: float = 0.5
    n_grammar_variants: int = 3
    n_eqtl_variants: int = 2
    causal_min_maf: float = 0.05
    grammar_weight: float = 1.0
    genetic_sd: float = 0.35
    h2: float = 0.6
    nonlinearity: str = "none"
    n_expression_covariates: int = 3
    n_genotype_pcs: int = 3
    covariate_variance: float = 0.1
    modality: str = "expression"
    external_individuals: int = 0
    external_split_generations: float = 2000.0
    external_population_size: float | None = None
    external_missing_fraction: float = 0.05
    external_swapped_fraction: float = 0.05
    external_flipped_fraction: float = 0.02

    def __post_init__(self) -> None:
        """Normalize list fields to tuples; reject inconsistent settings (:class:`ConfigError`)."""
        if self.motifs is not None:
            object.__setattr__(self, "motifs", tuple(m.upper() for m in self.motifs))
        for name in ("motif_effects", "motif_reverse_weights"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.position_decay_bp, (list, tuple)):
            object.__setattr__(self, "position_decay_bp", tuple(self.position_decay_bp))
        if self.motif_interactions is not None:
            pairs = tuple(tuple(p) for p in self.motif_interactions)
            object.__setattr__(self, "motif_interactions", pairs)
        problems = self._problems()
        if problems:
            raise ConfigError("invalid SimulationConfig: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        p = []
        for name in ("n_individuals", "n_genes", "causal_radius_bp"):
            if getattr(self, name) < 1:
                p.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "n_grammar_variants",
            "n_eqtl_variants",
            "n_expression_covariates",
            "n_genotype_pcs",
        ):
            if getattr(self, name) < 0:
                p.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_genotype_pcs >= self.n_individuals:
            p.append(f"n_genotype_pcs ({self.n_genotype_pcs}) must be < n_individuals")
        p.extend(self._grammar_problems())
        # the causal region and the indel-free margins around it must fit in a locus
        margin = MAX_INDEL_BP + 2
        if 2 * (self.causal_radius_bp + margin) > self.spacing_bp:
            p.append(
                f"spacing_bp ({self.spacing_bp}) must be >= 2 * (causal_radius_bp + {margin}) "
                f"({2 * (self.causal_radius_bp + margin)})"
            )
        # drawn motifs are shortened to fit (never below _MIN_MOTIF)
        longest = max((len(m) for m in self.motifs or ()), default=_MIN_MOTIF)
        if 2 * self.causal_radius_bp < 4 * (longest + 2):
            p.append(f"causal_radius_bp ({self.causal_radius_bp}) too small for the motifs")
        for name in ("population_size", "genetic_sd"):
            if not getattr(self, name) > 0:
                p.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("mutation_rate", "recombination_rate", "motif_copies"):
            if getattr(self, name) < 0:
                p.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("indel_fraction", "grammar_weight", "covariate_variance"):
            if not 0 <= getattr(self, name) <= 1:
                p.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.causal_min_maf <= 0.5:
            p.append(f"causal_min_maf must be in (0, 0.5], got {self.causal_min_maf}")
        if not 0 < self.h2 <= 1:
            p.append(f"h2 must be in (0, 1], got {self.h2}")
        elif self.h2 + self.covariate_variance > 1 + 1e-12:
            p.append(
                f"h2 + covariate_variance must be <= 1, got {self.h2} + {self.covariate_variance}"
            )
        if self.covariate_variance > 0 and self.n_expression_covariates == 0:
            p.append("covariate_variance > 0 needs n_expression_covariates >= 1")
        if self.modality not in SIMULATED_MODALITIES:
            p.append(f"modality must be one of {SIMULATED_MODALITIES}, got {self.modality!r}")
        if self.nonlinearity not in NONLINEARITIES:
            p.append(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")
        if not 0 < self.gc_content < 1:
            p.append(f"gc_content must be in (0, 1), got {self.gc_content}")
        if self.cpg_depletion < 1:
            p.append(f"cpg_depletion must be >= 1, got {self.cpg_depletion}")
        if not self.contig or any(c.isspace() for c in self.contig) or ":" in self.contig:
            p.append(f"contig must be a non-empty name without spaces or ':', got {self.contig!r}")
        p.extend(self._external_problems())
        return p

    def _external_problems(self) -> list[str]:
        """Problems of the external cohort's keys (checked whether it is on or not)."""
        p = []
        if self.external_individuals < 0:
            p.append(f"external_individuals must be >= 0, got {self.external_individuals}")
        elif 0 < self.external_individuals <= self.n_genotype_pcs:
            p.append(
                f"n_genotype_pcs ({self.n_genotype_pcs}) must be < external_individuals "
                f"({self.external_individuals})"
            )
        if not self.external_split_generations > 0:
            p.append(
                f"external_split_generations must be > 0, got {self.external_split_generations}"
            )
        size = self.external_population_size
        if size is not None and not size > 0:
            p.append(f"external_population_size must be > 0 (or None), got {size}")
        for name in (
            "external_missing_fraction",
            "external_swapped_fraction",
            "external_flipped_fraction",
        ):
            if not 0 <= getattr(self, name) <= 1:
                p.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        return p

    def _grammar_problems(self) -> list[str]:
        """Problems of the explicit grammar keys (``None`` keys are drawn, see ``grammar.py``)."""
        p = []
        decays = self.position_decay_bp
        if decays is not None:
            decays = decays if isinstance(decays, tuple) else (decays,)
            if not decays or not all(d > 0 for d in decays):
                p.append(f"position_decay_bp must be > 0, got {self.position_decay_bp}")
        per_motif = {
            "motif_effects": self.motif_effects,
            "motif_reverse_weights": self.motif_reverse_weights,
            "position_decay_bp": self.position_decay_bp
            if isinstance(self.position_decay_bp, tuple)
            else None,
            "motif_interactions": self.motif_interactions or None,
        }
        if self.motifs is None:
            for name, value in per_motif.items():
                if value is not None:
                    p.append(f"{name} needs explicit motifs (drawn motifs: their number is drawn)")
            return p
        if not self.motifs:
            p.append("motifs must name at least one motif")
        for motif in self.motifs:
            if len(motif) < _MIN_MOTIF or set(motif) - set("ACGT"):
                p.append(f"motif must be >= {_MIN_MOTIF} letters of A/C/G/T, got {motif!r}")
            elif decode(reverse_complement_codes(encode(motif))) == motif:
                p.append(f"motif {motif!r} is its own reverse complement")
        if len(set(self.motifs)) != len(self.motifs):
            p.append(f"motifs repeat: {self.motifs}")
        n = len(self.motifs)
        for name in ("motif_effects", "motif_reverse_weights", "position_decay_bp"):
            if per_motif[name] is not None and len(per_motif[name]) != n:
                p.append(f"{name} needs one value per motif ({n}), got {getattr(self, name)}")
        if any(w < 0 for w in self.motif_reverse_weights or ()):
            p.append("motif_reverse_weights must be >= 0")
        pairs = [tuple(pair[:2]) for pair in self.motif_interactions or ()]
        for pair in self.motif_interactions or ():
            if len(pair) != 3 or not (
                float(pair[0]).is_integer()
                and float(pair[1]).is_integer()
                and 0 <= pair[0] < pair[1] < n
            ):
                p.append(f"motif_interactions: {list(pair)} is not [i, j, c] with 0 <= i < j < {n}")
        if len(set(pairs)) != len(pairs):
            p.append(f"motif_interactions repeat a pair: {self.motif_interactions}")
        return p

    @property
    def contig_length(self) -> int:
        """Length of the simulated contig, in bp."""
        return self.n_genes * self.spacing_bp

    @property
    def external_ne(self) -> float:
        """Diploid Ne of the external cohort's population (``population_size`` if unset)."""
        if self.external_population_size is None:
            return self.population_size
        return self.external_population_size

    @property
    def flank_bp(self) -> int:
        """Distance from a locus start to its TSS, in bp."""
        return self.spacing_bp // 2

    def replace(self, **changes) -> SimulationConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
