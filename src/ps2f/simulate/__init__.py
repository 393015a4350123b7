"""A ground-truth cohort simulator: the pipeline's embedded default and its test bed.

The cohort is written as the standard files real data comes in (FASTA, phased VCF, TSS table,
QTLtools phenotype BED and covariates), so the workflow reads it with the same rules, plus
truth tables: every individual's noise-free expression, every variant's role and effect, and
each gene's realised heritability and the ceiling ``r = sqrt(h2)`` of any predictor.

Layout
    One contig of ``n_genes * spacing_bp`` bp cut into loci of ``spacing_bp``; gene ``g``'s TSS
    is at ``tss0 = spacing_bp // 2 + g * spacing_bp`` (0-based), its strand is random, and its
    *causal region* is ``[tss0 - causal_radius_bp, tss0 + causal_radius_bp)``.
Reference
    A first-order Markov chain with the human G+C fraction and CpG depletion, or (with
    ``reference_fasta``) ``n_genes`` N-free windows of a real FASTA contig, in contig order
    (``truth_genes.source_start``). Either way the planted motif copies below are written in.
Haplotypes (:mod:`ps2f.simulate.variants`)
    One msprime simulation of the whole contig (Baumdicker et al., Genetics 2022): coalescent
    with recombination in a constant population (``population_size``, default Ne = 10^4),
    flat ``recombination_rate`` (1e-8 per bp), infinite-sites mutations at ``mutation_rate``
    (1.25e-8): a neutral site-frequency spectrum (``~ 1/i``) and linkage disequilibrium that
    decays with distance. REF is the reference base (the ancestral allele), ALT the derived
    one (Ts/Tv = 2). A fraction ``indel_fraction`` of the neutral sites outside the causal
    regions become insertions or deletions of 1-10 bp, left-aligned and parsimonious as
    ``bcftools norm`` leaves them (so REF matches the FASTA), unless that would make them
    overlap another variant. The VCF is written locus by locus; no genotype matrix of the
    whole cohort is ever held.
Causal variants
    Take the genotypes of common msprime sites of their own locus (minor-allele frequency >=
    ``causal_min_maf``), so they have realistic frequencies and LD with their neighbours, and
    pairwise LD ``r^2 < 0.8`` among themselves (distinct signals whose effects a regression can
    tell apart; a locus with too few such sites gets fewer causal variants). Per gene,
    ``n_eqtl_variants`` gene-specific variants (sites already in the causal region first,
    others moved into it; never strand-ambiguous A/T or C/G SNVs, which PredictDB-style
    baselines drop) and ``n_grammar_variants`` grammar variants (moved to the SNV that breaks
    a planted motif copy or completes a planted near-copy, see
    :func:`ps2f.simulate.sequence.plant`). A moved site keeps its genotypes, so its LD with
    the rest of the locus (``spacing_bp`` apart at most) is that of its original position;
    ``truth_variants.source_pos`` records it.
Grammar (:class:`ps2f.simulate.grammar.Grammar`)
    The same rule for every gene: exact motifs matched on both strands inside the causal
    region; a match of motif ``k`` centred ``d`` bp from the TSS counts ``exp(-|d| /
    position_decay_bp[k])``, times ``motif_reverse_weights[k]`` if antisense; the motif's score
    ``S_k`` sums its matches, and a haplotype's grammar value is ``G = sum_k motif_effects[k] *
    S_k + sum_p c_p S_i S_j`` over the interacting pairs ``(i, j, c_p)`` of
    ``motif_interactions`` (cooperative if ``c_p > 0``, antagonistic if negative), computed on
    the actual haplotype sequences. By default the grammar is drawn from ``seed`` (a random
    stream of its own, so a seed's other draws change only through the grammar): 2-4 motifs
    of 7-10 bp, mutually dissimilar and none its own reverse complement, activators and
    repressors, antisense weights in ``[0, 1]``, decays of 1/4 to 1 ``causal_radius_bp``, 1-2
    interacting pairs (ranges and reasons in :mod:`ps2f.simulate.grammar`). Each of these
    five keys, when set, is used as given instead. ``grammar.json`` records the grammar used,
    as the config keys that give it. Each gene also gets ``Poisson(motif_copies)`` invariant
    copies of each motif (gene-mean differences the grammar explains).
Expression (:mod:`ps2f.simulate.expression`)
    Per haplotype, gene-specific ``E = sum_j b_j x_j`` with ``b_j ~ N(0, 1)``, centred on the
    cohort (eQTLs move individuals around their gene's mean; the grammar also sets gene
    means, so it is not centred). Grammar and eQTL components are each scaled by one constant
    for all genes (the variance of their per-individual value averaged over genes) and mixed
    as ``g = genetic_sd * (sqrt(w) G + sqrt(1 - w) E)``, ``w = grammar_weight``; an
    individual's genetic value is the mean of its two haplotypes' values. ``nonlinearity``:
    ``interaction`` gives product terms half of each component's variance (the grammar's
    motif pairs, instead of their natural weight in ``G`` -- a grammar given without pairs
    takes ``S_0 S_1``, cis cooperativity of the first two motifs; and ``(d_0 - 2 p_0)(d_1 - 2
    p_1)``, the first two eQTLs' centred dosages: epistasis); ``threshold`` raises each gene's
    individual values below its median to the median. Neither is additive in the dosages,
    which a RandomForest can use and a linear model cannot. Then ``y_true =
    a_g + genetic value`` (log1p units, ``a_g ~ U(2, 4)``) and ``y_obs = max(y_true +
    covariates + noise, 0)``, with hidden factors and noise set from the gene's realised
    genetic variance so that its heritability is ``h2`` and the factors' share
    ``covariate_variance`` (:func:`ps2f.simulate.expression.observe`). The BED holds
    ``expm1(y_obs)`` ("RPKM-like": ``expression.normalization: log1p`` recovers ``y_obs``).
Modality
    ``modality = "methylation"``: a short-range, unstranded phenotype beside expression (the
    SAGE-net contrast). Same draws; every locus is read on the forward strand (no
    transcription direction), the BED holds CpG-like rows ``[tss0, tss0 + 2)`` with strand
    ``.`` and beta values ``1 / (1 + 2^-M)``, ``M = y_obs - 3`` (``expression.normalization:
    m_value`` recovers ``M``), and the workflow anchors them from the BED (no TSS table).
    Its reach is set by ``causal_radius_bp`` and ``grammar_weight`` (the methylation scenario:
    100 bp, grammar only).
Covariates
    ``covariates.txt`` (QTLtools layout) holds the hidden factors (``expression_PC1``...) and
    genotype PCs (``genotype_PC1``...) of an independent msprime simulation of 2 Mb of the
    same individuals' genome: genome-wide PCs, which (unlike PCs of the few simulated loci)
    carry no cis signal when regressed out.
Truth
    ``truth_variants.beta``: the effect of one ALT copy, alone on the reference, on
    ``y_true`` (log1p units) under the additive part of the model (the motifs' main effects
    and the eQTL betas; motif pair terms and nonlinearities left out);
    ``role``: ``eqtl``, ``disrupts_motif`` / ``creates_motif`` (the sign of ``motif_delta``,
    the variant's change of the motif count alone on the reference, when ``grammar_weight >
    0``) or ``neutral``.
    ``truth_genes.h2_realised`` is the squared Pearson r of ``y_true`` with ``y_obs`` across
    all individuals and ``r_ceiling`` its square root; ``*_adjusted`` are the same after
    removing the hidden factors' effect (the ceiling when covariates are regressed out).

External cohort (``external_individuals > 0``; :mod:`ps2f.simulate.external`)
    A test cohort B (samples ``EXT0001``...) from a second population that split from the
    training cohort A's ``external_split_generations`` ago (size ``external_population_size``
    since; the ancestral population and A have ``population_size``): one msprime demography
    samples both, so B has other allele frequencies and LD (``simulation.json`` records
    Hudson's F_ST between them and its coalescent expectation, ``t / (t + 2 Ne)`` for equal
    sizes). Every site is one record for both cohorts (indels, planted and moved sites alike);
    the causal variants are chosen on A; A's VCF holds the records A carries the ALT of, B's
    (``external/genotypes.vcf.gz``) the ones B does (a site whose derived allele drifted to
    fixation in one population is a record with ``AC = AN`` there: the ancestral REF is
    absent from it, as a reference genome's allele may be from a real population). B's expression has A's architecture: the
    same causal variants, effects, grammar, baselines and scales (the eQTL part centred on
    A's mean, the ``threshold`` at A's median), per gene the same hidden-factor and noise
    variances; its own factors, noise and genotype PCs. So B's realised h2 differs with its
    genetic variance (``external/truth_genes.parquet``). B's VCF is written as another
    cohort's may be: a fraction of its SNV records missing (another panel), swapped (REF/ALT
    exchanged, genotypes inverted; strand-ambiguous when A/T or C/G) or on the other strand;
    ``external/harmonization.parquet`` lists each. Off (``0``), every file is byte-identical
    to a run without these settings.

Everything is drawn from one :class:`numpy.random.Generator` seeded with ``seed`` (which also
seeds msprime), except the grammar (one seeded with ``[seed, "gram"]``) and the external
cohort's own draws (its noise, factors and PCs; and its VCF's perturbations: two streams of
their own, so the perturbations change no genotype or expression), so a seed gives
byte-identical files.

At GTEx size (many contigs, several tissues whose causal effects are partly shared, bounded
memory) the same locus model runs contig by contig in :mod:`ps2f.simulate.scale`
(``python -m ps2f.simulate.scale``).
"""

from ps2f.simulate.cohort import EXTERNAL_OUTPUT_FILES, OUTPUT_FILES, simulate_cohort
from ps2f.simulate.config import NONLINEARITIES, SimulationConfig

__all__ = [
    "EXTERNAL_OUTPUT_FILES",
    "NONLINEARITIES",
    "OUTPUT_FILES",
    "SimulationConfig",
    "simulate_cohort",
]
