"""The cohort simulator's driver: one pass over the genes, streaming genotypes to the VCF."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from ps2f.errors import ConfigError
from ps2f.genome.encoding import decode, encode
from ps2f.simulate.config import (
    EXTERNAL_FIELDS,
    MAX_INDEL_BP,
    METHYLATION_OFFSET,
    SimulationConfig,
)
from ps2f.simulate.expression import (
    Components,
    GeneticScales,
    GenotypePCs,
    external_genetic_values,
    genetic_values,
    observe,
    observe_external,
    observe_levels,
    per_individual,
)
from ps2f.simulate.external import ExternalCohort, split_fst_expectation
from ps2f.simulate.grammar import Grammar
from ps2f.simulate.sequence import markov_background, plant, real_windows
from ps2f.simulate.variants import (
    VcfWriter,
    left_align_indel,
    locus_sites,
    simulate_ancestry,
    simulate_split_ancestry,
    snv_alts,
)

__all__ = ["EXTERNAL_OUTPUT_FILES", "OUTPUT_FILES", "simulate_cohort"]

#: Keys of the dictionary :func:`simulate_cohort` returns, and the file name of each in ``outdir``.
OUTPUT_FILES: dict[str, str] = {
    "reference": "reference.fa",
    "reference_index": "reference.fa.fai",
    "genotypes": "genotypes.vcf.gz",
    "genotypes_index": "genotypes.vcf.gz.tbi",
    "genes": "genes.tsv",
    "expression": "expression.bed.gz",
    "expression_index": "expression.bed.gz.tbi",
    "covariates": "covariates.txt",
    "truth": "truth.parquet",
    "truth_variants": "truth_variants.parquet",
    "truth_genes": "truth_genes.parquet",
    "grammar": "grammar.json",
    "config": "simulation.json",
}

#: Keys and file names (under ``outdir``) of the external cohort's files, returned and written
#: only with :attr:`~ps2f.simulate.SimulationConfig.external_individuals` > 0.
EXTERNAL_OUTPUT_FILES: dict[str, str] = {
    "external_genotypes": "external/genotypes.vcf.gz",
    "external_genotypes_index": "external/genotypes.vcf.gz.tbi",
    "external_expression": "external/expression.bed.gz",
    "external_expression_index": "external/expression.bed.gz.tbi",
    "external_covariates": "external/covariates.txt",
    "external_truth": "external/truth.parquet",
    "external_truth_genes": "external/truth_genes.parquet",
    "external_harmonization": "external/harmonization.parquet",
}

#: Random streams of the external cohort's own draws (``[seed, stream]``): its noise, hidden
#: factors and genotype PCs; and the perturbations of its VCF.
_EXTERNAL_STREAM = 0x65787463  # "extc"
_PERTURB_STREAM = 0x70657274  # "pert"

_FASTA_LINE = 60
_DECIMALS = 6
_MARGIN_BP = MAX_INDEL_BP + 2  # indel-free margin around each causal region and locus end
#: Length of the unlinked genome simulated for the genotype PCs, in bp.
PC_GENOME_BP = 2_000_000
#: Largest LD r^2 between two causal variants of one gene.
MAX_CAUSAL_R2 = 0.8


def simulate_cohort(config: SimulationConfig, outdir: str | Path) -> dict[str, Path]:
    """Simulate a cohort with a known expression mechanism and write it as standard files.

    Parameters
    ----------
    config : SimulationConfig
        Sizes, mechanism and seed (the model is described in :mod:`ps2f.simulate`).
    outdir : str or pathlib.Path
        Directory to write into (created if missing). Files are written under a temporary
        directory inside it and moved in at the end, so a failure leaves no partial output.

    Returns
    -------
    dict of str to pathlib.Path
        Paths keyed as in :data:`OUTPUT_FILES`:

        * ``reference.fa`` (+ ``.fai``): one contig, 60 bp upper-case lines.
        * ``genotypes.vcf.gz`` (+ ``.tbi``): VCFv4.2, biallelic SNVs and left-aligned indels,
          phased ``GT``, INFO ``AC``/``AN``, IDs ``<contig>_<POS>_<REF>_<ALT>``, samples
          ``SIM0001``...
        * ``genes.tsv``: ``gene_id, gene_name, gene_type, chrom, strand, gene_start, gene_end,
          tss`` (1-based, closed; ``tss`` is ``gene_start`` on ``+``, ``gene_end`` on ``-``).
        * ``expression.bed.gz`` (+ ``.tbi``): QTLtools phenotype BED ``#chr start end gene length
          strand <samples>``, ``start = tss - 1``, ``end = tss``, values ``expm1(y_obs)``;
          with ``modality = "methylation"``: ``end = tss + 1``, strand ``.``, beta values
          (:func:`_write_bed`).
        * ``covariates.txt``: QTLtools covariates, ``id <samples>`` then rows
          ``genotype_PC1``... (genome-wide genotype PCs, see :func:`_genotype_pcs`; no effect)
          and ``expression_PC1``... (the hidden factors that shift expression).
        * ``truth.parquet``: ``gene, individual, y_true, y_obs, genetic_hap1, genetic_hap2,
          covariate_effect, motif_count_hap1, motif_count_hap2`` (log1p units).
        * ``truth_variants.parquet``: every VCF record: ``id, chrom, pos`` (1-based)``, ref,
          alt, variant_type, gene, af, source_pos, motif_delta, role, beta`` (see
          :mod:`ps2f.simulate`).
        * ``truth_genes.parquet``: ``gene, h2_realised, r_ceiling, h2_adjusted,
          r_ceiling_adjusted, var_genetic, var_grammar, var_eqtl, n_grammar_variants,
          n_eqtl_variants, source_contig, source_start`` (``var_*``: variance across
          individuals of the genetic value and of its two parts, log1p units squared;
          ``source_*``: the locus's window of ``reference_fasta``, 0-based start, else null).
        * ``grammar.json``: the grammar used, drawn or given, as the ``simulate`` config keys
          that give it explicitly (see :meth:`~ps2f.simulate.grammar.Grammar.to_record`).
        * ``simulation.json``: the config used and the scales of the mechanism.

        With ``config.external_individuals > 0`` also the external cohort B (keys and names in
        :data:`EXTERNAL_OUTPUT_FILES`, under ``external/``), the same standard files as A's:

        * ``external/genotypes.vcf.gz`` (+ ``.tbi``): samples ``EXT0001``..., the records B
          carries the ALT of (IDs as in A's VCF: those of the true alleles), perturbed as a
          second cohort's file may be (:mod:`ps2f.simulate.external`): SNV records left out,
          written with REF and ALT exchanged (genotypes inverted) or on the other strand.
        * ``external/expression.bed.gz`` (+ ``.tbi``), ``external/covariates.txt``: as A's,
          B's samples (its own genotype PCs and hidden factors, the same row names).
        * ``external/truth.parquet``, ``external/truth_genes.parquet``: as A's, for B
          (``h2_realised``: B's, which differs from A's with its allele frequencies).
        * ``external/harmonization.parquet``: one row per perturbed record, ``chrom, pos, ref,
          alt, written_ref, written_alt, perturbation`` (``missing``, ``swapped``,
          ``swapped_ambiguous``, ``flipped``).

        and ``simulation.json`` gains the external settings and an ``external`` record
        (perturbation counts, B's number of records, Hudson's F_ST between A and B over all
        sites and its coalescent expectation).

    Raises
    ------
    ConfigError
        If ``config`` is not a :class:`SimulationConfig`, or the reference FASTA has too few
        N-free windows.
    InputError
        If ``config.reference_fasta`` cannot be read.
    """
    if not isinstance(config, SimulationConfig):
        raise ConfigError(f"config must be a SimulationConfig, got {type(config).__name__}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".simulate-", dir=outdir))
    try:
        _simulate(config, tmp)
        paths = {}
        files = dict(OUTPUT_FILES)
        if config.external_individuals:
            files |= EXTERNAL_OUTPUT_FILES
            (outdir / "external").mkdir(exist_ok=True)
        for key, name in files.items():  # data files precede their indexes
            os.replace(tmp / name, outdir / name)
            paths[key] = outdir / name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


# --------------------------------------------------------------------------------------------
# one locus


@dataclass
class _Locus:
    """What one gene's pass leaves behind (small: no genotypes)."""

    grammar_linear: np.ndarray  # (2n,)
    grammar_interaction: np.ndarray  # (2n,)
    eqtl_linear: np.ndarray  # (2n,)
    eqtl_interaction: np.ndarray  # (n,): per individual
    motif_counts: np.ndarray  # (2n,) int64
    variants: pd.DataFrame
    # for tissues with their own effects (ps2f.simulate.scale)
    grammar_scores: np.ndarray  # (2n, K): motif scores S_k per haplotype
    score_delta: np.ndarray  # (v, K): change of S_k by each variant alone on the reference
    eqtl_haplotypes: np.ndarray  # (e, 2n) float64: ALT carried, the eQTL rows of `variants`
    eqtl_pair_coefficient: float  # c of the product of the first two eQTLs (0: fewer than 2)


def _ids(prefix: str, n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _unambiguous(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Replace strand-ambiguous ALTs (A/T, C/G) by the transition partner of REF."""
    transition = (ref + 2) % 4
    return np.where(ref.astype(np.int64) + alt == 3, transition, alt).astype(np.uint8)


def _distinct_signals(hap: np.ndarray, candidates: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` candidates (in order) whose pairwise LD r^2 stays below the limit.

    Causal variants in (near-)perfect LD have effects no regression can tell apart; like the
    conditionally independent signals of real eQTL maps, each pair of causal variants of a
    gene has ``r^2 <`` :data:`MAX_CAUSAL_R2` (across haplotypes).

    Parameters
    ----------
    hap : numpy.ndarray, shape (s, 2n), uint8
    candidates : numpy.ndarray, shape (c,), int
        Row indices of ``hap``, in order of preference.
    n : int

    Returns
    -------
    numpy.ndarray, shape (<= n,), int64
    """
    chosen: list[int] = []
    for i in candidates.tolist():
        if len(chosen) == n:
            break
        x = hap[i].astype(np.float64)
        ok = True
        for j in chosen:
            r = np.corrcoef(x, hap[j])[0, 1]
            if r * r >= MAX_CAUSAL_R2:
                ok = False
                break
        if ok:
            chosen.append(i)
    return np.asarray(chosen, dtype=np.int64)


def _make_indels(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    ref: np.ndarray,
    locus: tuple[int, int],
    region: tuple[int, int],
    eligible: np.ndarray,
    occupied: set[int],
    pos0: np.ndarray,
    refs: list[str],
    alts: list[str],
    vtype: np.ndarray,
) -> None:
    """Turn some eligible SNV sites into left-aligned indels, in place.

    Each eligible site becomes, with a probability that makes indels ``indel_fraction`` of all
    the locus's sites, a deletion or an insertion (1/2 each) of ``min(Geometric(1/2), 10)`` bp
    anchored at the site, left-aligned by :func:`~ps2f.simulate.variants.left_align_indel`.
    It stays an SNV if its left-aligned span would leave the locus (minus a margin), touch the
    causal region's margin, or overlap another variant or planted element (``occupied``,
    updated).
    """
    left, right = locus
    lo, hi = region
    p_indel = min(1.0, cfg.indel_fraction * pos0.size / max(int(eligible.sum()), 1))
    draw = rng.random(pos0.size) < p_indel
    for site in np.flatnonzero(eligible & draw).tolist():
        k = min(int(rng.geometric(0.5)), MAX_INDEL_BP)
        p0 = int(pos0[site])
        if p0 + k + 1 >= right - _MARGIN_BP:
            continue  # too close to the locus end: stays an SNV
        if rng.random() < 0.5:  # deletion of k bases after the anchor
            anchor, _ = left_align_indel(ref, p0, None, k)
            span = range(anchor, anchor + k + 1)
            r_al, a_al = decode(ref[anchor : anchor + k + 1]), decode(ref[anchor : anchor + 1])
        else:  # insertion of k random bases after the anchor
            inserted = rng.integers(0, 4, size=k).astype(np.uint8)
            anchor, ins = left_align_indel(ref, p0, inserted, 0)
            span = range(anchor, anchor + 1)
            r_al = decode(ref[anchor : anchor + 1])
            a_al = r_al + decode(ins)
        others = occupied - {p0}
        inside_locus = anchor >= left and span[-1] < right - _MARGIN_BP
        off_region = span[-1] < lo - _MARGIN_BP or anchor >= hi + _MARGIN_BP
        if inside_locus and off_region and not others.intersection(span):
            occupied.discard(p0)
            occupied.update(span)
            pos0[site], refs[site], alts[site] = anchor, r_al, a_al
            vtype[site] = "deletion" if len(r_al) > 1 else "insertion"


def _score_region(
    grammar: Grammar,
    ref: np.ndarray,
    region: tuple[int, int],
    tss0: int,
    minus: bool,
    offsets: np.ndarray,
    alt_codes: np.ndarray,
    alleles: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grammar scores of every haplotype of a causal region, and of each SNV alone.

    Parameters
    ----------
    grammar : Grammar
    ref : numpy.ndarray, shape (contig_length,), uint8 codes
    region : (int, int)
        The causal region, 0-based half-open.
    tss0 : int
    minus : bool
    offsets : numpy.ndarray, shape (v,), int64
        The region's SNVs, as offsets from its start.
    alt_codes : numpy.ndarray, shape (v,), uint8
    alleles : numpy.ndarray, shape (h, v), bool
        ALT carried by each haplotype.

    Returns
    -------
    scores : numpy.ndarray, shape (h, K), float64
        Motif scores per haplotype (each distinct haplotype built and scanned once).
    counts : numpy.ndarray, shape (h,), int64
        Matches of all motifs per haplotype.
    d_linear : numpy.ndarray, shape (v,), float64
        Change of the linear grammar value by each SNV alone on the reference.
    d_count : numpy.ndarray, shape (v,), int64
        Change of the match count by each SNV alone on the reference.
    d_scores : numpy.ndarray, shape (v, K), float64
        Change of each motif score by each SNV alone on the reference.
    """
    lo, hi = region
    region_ref = ref[lo:hi]
    s_ref, c_ref = grammar.scores(region_ref, lo, tss0, minus)
    if offsets.size == 0:
        h = alleles.shape[0]
        return (
            np.broadcast_to(s_ref, (h, grammar.n_motifs)).copy(),
            np.full(h, int(c_ref.sum()), dtype=np.int64),
            np.zeros(0),
            np.zeros(0, dtype=np.int64),
            np.zeros((0, grammar.n_motifs)),
        )
    unique, inverse = np.unique(alleles, axis=0, return_inverse=True)
    seqs = np.broadcast_to(region_ref, (unique.shape[0], hi - lo)).copy()
    seqs[:, offsets] = np.where(unique, alt_codes[None, :], seqs[:, offsets])
    s_u, c_u = grammar.scores(seqs, lo, tss0, minus)
    inverse = inverse.reshape(-1)
    single = np.broadcast_to(region_ref, (offsets.size, hi - lo)).copy()
    single[np.arange(offsets.size), offsets] = alt_codes
    s_1, c_1 = grammar.scores(single, lo, tss0, minus)
    return (
        s_u[inverse],
        c_u[inverse].sum(axis=1),
        grammar.linear(s_1) - grammar.linear(s_ref),
        c_1.sum(axis=1) - c_ref.sum(),
        s_1 - s_ref,
    )


def _simulate_locus(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    grammar: Grammar,
    ref: np.ndarray,
    ts,
    gene: int,
    tss0: int,
    minus: bool,
    writer: VcfWriter,
    external: ExternalCohort | None = None,
) -> _Locus:
    """One gene's locus: causal sites, planting, alleles, indels, VCF records, components.

    Draws from ``rng`` in a fixed order, modifies ``ref`` inside the gene's causal region
    (planted elements) and appends the locus's records to ``writer``.

    With ``external`` (cohort B), ``ts`` holds A's haplotypes, then B's: every site is one
    record for both cohorts (the same position and alleles: indels, planted and moved sites
    alike); the causal variants are chosen on A's frequencies and LD; the eQTL components are
    centred on A's mean; ``writer`` gets the records A carries the ALT of, ``external`` those B
    does (and every site's F_ST terms). The returned components and motif counts cover A's
    haplotypes then B's; ``variants`` holds A's records (``af``: A's).
    """
    left = gene * cfg.spacing_bp
    right = left + cfg.spacing_bp
    lo, hi = tss0 - cfg.causal_radius_bp, tss0 + cfg.causal_radius_bp
    pos, hap = locus_sites(ts, left, right)
    n_sites, n_hap = hap.shape
    n_train = n_hap if external is None else external.n_training_haplotypes
    train = hap if external is None else hap[:, :n_train]  # cohort A
    p = train.mean(axis=1) if n_sites else np.zeros(0)
    in_region = (pos >= lo) & (pos < hi)

    # causal sites: common msprime sites, eQTLs preferring sites already in the causal region
    n_gram = cfg.n_grammar_variants if cfg.grammar_weight > 0 else 0
    n_eqtl = cfg.n_eqtl_variants if cfg.grammar_weight < 1 else 0
    common = rng.permutation(np.flatnonzero(np.minimum(p, 1 - p) >= cfg.causal_min_maf))
    common = common[np.argsort(~in_region[common], kind="stable")]
    chosen = _distinct_signals(train, common, n_eqtl + n_gram)
    if chosen.size < n_eqtl + n_gram:  # too few: share them in proportion
        n_eqtl = int(np.ceil(chosen.size * n_eqtl / (n_eqtl + n_gram)))
    eqtl_sites, gram_sites = chosen[:n_eqtl], chosen[n_eqtl:]

    planted, covered = plant(
        rng, ref, (lo, hi), grammar, cfg.motif_copies, gram_sites.size, pos[in_region]
    )
    gram_sites = gram_sites[: len(planted)]  # unused ones stay neutral where they are

    # alleles of every site (SNVs first; indels below)
    new_pos = pos.copy()
    ref_b = ref[pos].copy() if n_sites else np.zeros(0, np.uint8)
    alt_b = snv_alts(rng, ref_b)
    role = np.full(n_sites, "neutral", dtype=object)
    for site, pv in zip(gram_sites.tolist(), planted, strict=True):
        new_pos[site], ref_b[site], alt_b[site] = pv.pos0, pv.ref, pv.alt
        role[site] = pv.kind
    occupied = set(new_pos.tolist()) | set(covered.tolist())
    for site in eqtl_sites.tolist():
        role[site] = "eqtl"
        if not in_region[site]:  # move it into the causal region, off every other element
            free = np.setdiff1d(np.arange(lo, hi), np.fromiter(occupied, np.int64))
            occupied.discard(int(pos[site]))
            new_pos[site] = int(rng.choice(free))
            occupied.add(int(new_pos[site]))
            ref_b[site] = ref[new_pos[site]]
            alt_b[site] = snv_alts(rng, ref_b[site : site + 1])[0]
        alt_b[site] = _unambiguous(ref_b[site : site + 1], alt_b[site : site + 1])[0]
    refs = [chr(b"ACGT"[b]) for b in ref_b.tolist()]
    alts = [chr(b"ACGT"[b]) for b in alt_b.tolist()]
    vtype = np.full(n_sites, "snv", dtype=object)

    # neutral sites outside the causal region (and its margin) may become indels
    eligible = (role == "neutral") & ((new_pos < lo - _MARGIN_BP) | (new_pos >= hi + _MARGIN_BP))
    _make_indels(
        rng, cfg, ref, (left, right), (lo, hi), eligible, occupied, new_pos, refs, alts, vtype
    )

    order = np.argsort(new_pos, kind="stable")
    new_pos, hap = new_pos[order], hap[order]
    train = hap if external is None else hap[:, :n_train]
    refs, alts = [refs[i] for i in order], [alts[i] for i in order]
    role, vtype, src = role[order], vtype[order], pos[order]
    is_eqtl = role == "eqtl"

    # grammar: score every distinct haplotype of the causal region (SNVs only there)
    reg = np.flatnonzero((new_pos >= lo) & (new_pos < hi))
    alt_codes = encode("".join(alts[i] for i in reg))
    scores, counts, d_lin, d_cnt, d_sc = _score_region(
        grammar, ref, (lo, hi), tss0, minus, new_pos[reg] - lo, alt_codes, hap[reg].T.astype(bool)
    )
    d_grammar = np.zeros(n_sites)
    d_count = np.zeros(n_sites, dtype=np.int64)
    d_grammar[reg], d_count[reg] = d_lin, d_cnt
    score_delta = np.zeros((n_sites, grammar.n_motifs))
    score_delta[reg] = d_sc

    # gene-specific effects (standard normal per ALT allele; a product term for interactions)
    b = np.zeros(n_sites)
    b[is_eqtl] = rng.standard_normal(int(is_eqtl.sum()))
    x = hap[is_eqtl].astype(np.float64)
    eqtl_linear = b[is_eqtl] @ x if x.size else np.zeros(n_hap)
    if x.shape[0] >= 2:  # epistasis between the first two: product of their centred dosages
        dosage = x[:2].reshape(2, -1, 2).sum(axis=2)
        dosage -= dosage[:, : n_train // 2].mean(axis=1, keepdims=True)  # A's mean dosage
        pair_coefficient = float(rng.standard_normal())
        eqtl_interaction = pair_coefficient * dosage[0] * dosage[1]
    else:
        pair_coefficient = 0.0
        eqtl_interaction = np.zeros(n_hap // 2)
    # gene-specific effects move individuals around their gene's mean, not the mean itself
    # (cohort A's mean: B's differs with its allele frequencies, as a real population's would)
    eqtl_linear = eqtl_linear - eqtl_linear[:n_train].mean()
    eqtl_interaction = eqtl_interaction - eqtl_interaction[: n_train // 2].mean()

    ids = [
        f"{cfg.contig}_{q + 1}_{r}_{a}"
        for q, r, a in zip(new_pos.tolist(), refs, alts, strict=True)
    ]
    if external is None:
        if n_sites:
            writer.write(new_pos, refs, alts, hap)
    else:
        in_a = train.any(axis=1)
        if in_a.any():
            rows = np.flatnonzero(in_a).tolist()
            writer.write(
                new_pos[in_a], [refs[i] for i in rows], [alts[i] for i in rows], train[in_a]
            )
        external.write(new_pos, refs, alts, hap[:, n_train:], ids)
        external.add_fst(hap)
    # a motif change is causal only where the grammar has an effect (grammar_weight > 0)
    d_role = d_count if cfg.grammar_weight > 0 else np.zeros_like(d_count)
    role = np.where(
        is_eqtl,
        "eqtl",
        np.select([d_role < 0, d_role > 0], ["disrupts_motif", "creates_motif"], "neutral"),
    )
    variants = pd.DataFrame(
        {
            "id": ids,
            "chrom": cfg.contig,
            "pos": new_pos + 1,
            "ref": refs,
            "alt": alts,
            "variant_type": vtype.astype(str),
            "af": train.mean(axis=1) if n_sites else np.zeros(0),
            "source_pos": src + 1,
            "motif_delta": d_count,
            "role": role.astype(str),
            "_d_grammar": d_grammar,
            "_b_eqtl": b,
        }
    )
    if external is not None:  # A's records only
        variants = variants[train.any(axis=1)].reset_index(drop=True)
    return _Locus(
        grammar_linear=grammar.linear(scores),
        grammar_interaction=grammar.interaction(scores),
        eqtl_linear=np.asarray(eqtl_linear, dtype=np.float64),
        eqtl_interaction=np.asarray(eqtl_interaction, dtype=np.float64),
        motif_counts=np.asarray(counts, dtype=np.int64),
        variants=variants,
        grammar_scores=scores,
        score_delta=score_delta,
        eqtl_haplotypes=x,
        eqtl_pair_coefficient=pair_coefficient,
    )


# --------------------------------------------------------------------------------------------
# the whole cohort


def _simulate(cfg: SimulationConfig, tmp: Path) -> None:
    rng = np.random.default_rng(cfg.seed)
    n_ind, n_genes = cfg.n_individuals, cfg.n_genes
    n_ext = cfg.external_individuals
    grammar = Grammar.from_config(cfg)

    if cfg.reference_fasta:
        ref, source_contig, source_start = real_windows(
            cfg.reference_fasta, cfg.reference_contig, n_genes, cfg.spacing_bp, rng
        )
    else:
        ref = markov_background(rng, cfg.contig_length, cfg.gc_content, cfg.cpg_depletion)
        source_contig, source_start = None, None
    samples = _ids("SIM", n_ind)
    gene_ids = _ids("SIMG", n_genes)
    tss0 = cfg.flank_bp + cfg.spacing_bp * np.arange(n_genes)
    minus = rng.random(n_genes) < 0.5
    if cfg.modality == "methylation":  # unstranded: read on the forward strand (same draws)
        minus[:] = False
    gene_len = rng.integers(min(1000, cfg.flank_bp), cfg.flank_bp + 1, size=n_genes)
    baseline = rng.uniform(2.0, 4.0, size=n_genes)
    seeds = tuple(int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    source = f"ps2f.simulate (msprime; seed={cfg.seed})"
    external = None
    if n_ext:  # cohort B: a second population, one msprime demography with A's
        ts = simulate_split_ancestry(
            n_ind,
            n_ext,
            cfg.contig_length,
            cfg.population_size,
            cfg.external_ne,
            cfg.external_split_generations,
            cfg.mutation_rate,
            cfg.recombination_rate,
            seeds,
        )
        (tmp / "external").mkdir()
        external = ExternalCohort(
            2 * n_ind,
            VcfWriter(
                tmp / EXTERNAL_OUTPUT_FILES["external_genotypes"],
                cfg.contig,
                cfg.contig_length,
                _ids("EXT", n_ext),
                source,
            ),
            np.random.default_rng([cfg.seed, _PERTURB_STREAM]),
            cfg.external_missing_fraction,
            cfg.external_swapped_fraction,
            cfg.external_flipped_fraction,
        )
    else:
        ts = simulate_ancestry(
            n_ind,
            cfg.contig_length,
            cfg.population_size,
            cfg.mutation_rate,
            cfg.recombination_rate,
            seeds,
        )

    writer = VcfWriter(
        tmp / OUTPUT_FILES["genotypes"],
        cfg.contig,
        cfg.contig_length,
        samples,
        source,
    )
    n_hap = 2 * (n_ind + n_ext)  # A's haplotypes, then B's
    comp = Components(
        *(np.zeros((n_genes, n_hap)) for _ in range(3)), np.zeros((n_genes, n_ind + n_ext))
    )
    motif_counts = np.zeros((n_genes, n_hap), dtype=np.int64)
    tables = []
    try:
        for g in range(n_genes):
            locus = _simulate_locus(
                rng, cfg, grammar, ref, ts, g, int(tss0[g]), bool(minus[g]), writer, external
            )
            comp.grammar_linear[g] = locus.grammar_linear
            comp.grammar_interaction[g] = locus.grammar_interaction
            comp.eqtl_linear[g] = locus.eqtl_linear
            comp.eqtl_interaction[g] = locus.eqtl_interaction
            motif_counts[g] = locus.motif_counts
            tables.append(locus.variants.assign(gene=gene_ids[g]))
    finally:
        writer.close()
        if external is not None:
            external.close()
    if n_ext:  # split the cohorts: A's arrays as without B
        comp, comp_b = _split_components(comp, n_ind)
        motif_counts, motif_counts_b = motif_counts[:, : 2 * n_ind], motif_counts[:, 2 * n_ind :]

    # expression
    hap_values, ind_values, scales = genetic_values(
        comp, cfg.grammar_weight, cfg.genetic_sd, cfg.nonlinearity
    )
    y_true = baseline[:, None] + ind_values
    obs = observe(rng, y_true, cfg.h2, cfg.covariate_variance, cfg.n_expression_covariates)

    variants = pd.concat(tables, ignore_index=True)
    variants["beta"] = (
        scales.grammar_linear * variants.pop("_d_grammar")
        + scales.eqtl_linear * variants.pop("_b_eqtl")
    ) / 2
    variants = variants[
        ["id", "chrom", "pos", "ref", "alt", "variant_type", "gene", "af", "source_pos",
         "motif_delta", "role", "beta"]
    ]  # fmt: skip

    counts = variants.groupby("gene")["role"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(gene_ids, fill_value=0)
    source_windows = (source_contig, source_start)
    truth, truth_genes = _truth_tables(
        gene_ids, samples, y_true, obs, hap_values, comp, scales, motif_counts, counts,
        source_windows,
    )  # fmt: skip
    plus = ~minus
    tss1 = tss0 + 1
    genes = pd.DataFrame(
        {
            "gene_id": gene_ids,
            "gene_name": _ids("SimGene", n_genes),
            "gene_type": "protein_coding",
            "chrom": cfg.contig,
            "strand": np.where(plus, "+", "-"),
            "gene_start": np.where(plus, tss1, tss1 - gene_len + 1).astype(np.int64),
            "gene_end": np.where(plus, tss1 + gene_len - 1, tss1).astype(np.int64),
            "tss": tss1.astype(np.int64),
        }
    )

    _write_fasta(tmp / OUTPUT_FILES["reference"], cfg.contig, ref)
    genes.to_csv(tmp / OUTPUT_FILES["genes"], sep="\t", index=False)
    _write_bed(tmp / "expression.bed", genes, samples, obs["y_obs"], cfg.modality)
    pcs = _genotype_pcs(rng, cfg)
    covariates = np.vstack([pcs.result(cfg.n_genotype_pcs), obs["factors"]])
    names = [f"genotype_PC{i}" for i in range(1, cfg.n_genotype_pcs + 1)]
    names += [f"expression_PC{i}" for i in range(1, cfg.n_expression_covariates + 1)]
    _write_covariates(tmp / OUTPUT_FILES["covariates"], names, samples, covariates)
    truth.to_parquet(tmp / OUTPUT_FILES["truth"], index=False)
    variants.to_parquet(tmp / OUTPUT_FILES["truth_variants"], index=False)
    truth_genes.to_parquet(tmp / OUTPUT_FILES["truth_genes"], index=False)
    record = {"seed": cfg.seed, "nonlinearity": cfg.nonlinearity, **grammar.to_record()}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in record.items()]
    (tmp / OUTPUT_FILES["grammar"]).write_text("{\n" + ",\n".join(lines) + "\n}\n")
    record = {
        "generator": "ps2f.simulate.simulate_cohort",
        "config": _config_record(cfg),
        "msprime_seeds": list(seeds),
        "scales": dataclasses.asdict(scales),
        "n_variants": int(writer.n_records),
        "genotype_pc_sites": pcs.n_sites,
    }
    if external is not None:
        record["external"] = _simulate_external(
            cfg, tmp, external, comp_b, comp, scales, motif_counts_b, baseline, y_true, obs,
            genes, names, counts, source_windows,
        )  # fmt: skip
    (tmp / OUTPUT_FILES["config"]).write_text(json.dumps(record, indent=2) + "\n")


def _split_components(comp: Components, n_ind: int) -> tuple[Components, Components]:
    """Cohort A's and cohort B's columns of components computed on both (A's first)."""
    parts = []
    for cols, ind in ((slice(0, 2 * n_ind), slice(0, n_ind)),
                      (slice(2 * n_ind, None), slice(n_ind, None))):  # fmt: skip
        parts.append(
            Components(
                comp.grammar_linear[:, cols],
                comp.grammar_interaction[:, cols],
                comp.eqtl_linear[:, cols],
                comp.eqtl_interaction[:, ind],
            )
        )
    return parts[0], parts[1]


def _truth_tables(
    gene_ids: list[str],
    samples: list[str],
    y_true: np.ndarray,
    obs: dict[str, np.ndarray],
    hap_values: np.ndarray,
    comp: Components,
    scales: GeneticScales,
    motif_counts: np.ndarray,
    counts: pd.DataFrame,
    source_windows: tuple,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``truth.parquet`` and ``truth_genes.parquet`` of one cohort.

    Parameters
    ----------
    gene_ids, samples : list of str
    y_true : numpy.ndarray, shape (n_genes, n_individuals), float64
    obs : dict
        From :func:`~ps2f.simulate.expression.observe` (or ``observe_external``).
    hap_values : numpy.ndarray, shape (n_genes, 2 * n_individuals), float64
    comp : Components
        The cohort's raw components.
    scales : GeneticScales
    motif_counts : numpy.ndarray, shape (n_genes, 2 * n_individuals), int64
    counts : pandas.DataFrame
        Causal variants per gene (index) and role (columns).
    source_windows : (list or None, numpy.ndarray or None)
        ``source_contig`` and ``source_start`` of each gene's locus.
    """
    n_genes, n_ind = y_true.shape
    source_contig, source_start = source_windows
    hap_pairs = hap_values.reshape(n_genes, n_ind, 2)
    grammar_roles = [c for c in ("disrupts_motif", "creates_motif") if c in counts.columns]
    truth_genes = pd.DataFrame(
        {
            "gene": gene_ids,
            "h2_realised": obs["h2_realised"],
            "r_ceiling": np.sqrt(obs["h2_realised"]),
            "h2_adjusted": obs["h2_adjusted"],
            "r_ceiling_adjusted": np.sqrt(obs["h2_adjusted"]),
            "var_genetic": y_true.var(axis=1),
            "var_grammar": per_individual(
                scales.grammar_linear * comp.grammar_linear
                + scales.grammar_interaction * comp.grammar_interaction
            ).var(axis=1),
            "var_eqtl": (
                per_individual(scales.eqtl_linear * comp.eqtl_linear)
                + scales.eqtl_interaction * comp.eqtl_interaction
            ).var(axis=1),
            "n_grammar_variants": counts[grammar_roles].sum(axis=1).to_numpy(np.int64)
            if grammar_roles
            else 0,
            "n_eqtl_variants": counts["eqtl"].to_numpy(np.int64) if "eqtl" in counts else 0,
            "source_contig": source_contig,
            "source_start": source_start if source_start is not None else None,
        }
    )
    truth = pd.DataFrame(
        {
            "gene": np.repeat(gene_ids, n_ind),
            "individual": np.tile(samples, n_genes),
            "y_true": y_true.reshape(-1),
            "y_obs": obs["y_obs"].reshape(-1),
            "genetic_hap1": hap_pairs[:, :, 0].reshape(-1),
            "genetic_hap2": hap_pairs[:, :, 1].reshape(-1),
            "covariate_effect": obs["covariate_effect"].reshape(-1),
            "motif_count_hap1": motif_counts[:, 0::2].reshape(-1),
            "motif_count_hap2": motif_counts[:, 1::2].reshape(-1),
        }
    )
    return truth, truth_genes


def _simulate_external(
    cfg: SimulationConfig,
    tmp: Path,
    external: ExternalCohort,
    comp: Components,
    training: Components,
    scales: GeneticScales,
    motif_counts: np.ndarray,
    baseline: np.ndarray,
    y_true_training: np.ndarray,
    obs_training: dict[str, np.ndarray],
    genes: pd.DataFrame,
    covariate_names: list[str],
    counts: pd.DataFrame,
    source_windows: tuple,
) -> dict:
    """Cohort B's expression and files (its VCF is written already); its ``simulation.json`` record.

    The architecture is A's: the same genes, baselines ``a_g``, scales (and threshold floor),
    per-gene hidden-factor and noise levels and loadings; B's own haplotypes, hidden factors,
    noise and genotype PCs (a stream of their own, ``[seed, _EXTERNAL_STREAM]``).
    """
    rng = np.random.default_rng([cfg.seed, _EXTERNAL_STREAM])
    samples = _ids("EXT", cfg.external_individuals)
    hap_values, ind_values = external_genetic_values(comp, training, scales, cfg.nonlinearity)
    y_true = baseline[:, None] + ind_values
    pcs = _genotype_pcs(rng, cfg, external=True)
    covariate_sd, noise_sd = observe_levels(y_true_training, cfg.h2, cfg.covariate_variance)
    obs = observe_external(rng, y_true, covariate_sd, noise_sd, obs_training["loadings"])
    truth, truth_genes = _truth_tables(
        list(genes["gene_id"]), samples, y_true, obs, hap_values, comp, scales, motif_counts,
        counts, source_windows,
    )  # fmt: skip
    files = {k: tmp / name for k, name in EXTERNAL_OUTPUT_FILES.items()}
    _write_bed(
        files["external_expression"].with_suffix(""), genes, samples, obs["y_obs"], cfg.modality
    )
    covariates = np.vstack([pcs.result(cfg.n_genotype_pcs), obs["factors"]])
    _write_covariates(files["external_covariates"], covariate_names, samples, covariates)
    truth.to_parquet(files["external_truth"], index=False)
    truth_genes.to_parquet(files["external_truth_genes"], index=False)
    external.write_harmonization(files["external_harmonization"], cfg.contig)
    return {
        "individuals": cfg.external_individuals,
        "split_generations": cfg.external_split_generations,
        "population_size": cfg.external_ne,
        "missing_fraction": cfg.external_missing_fraction,
        "swapped_fraction": cfg.external_swapped_fraction,
        "flipped_fraction": cfg.external_flipped_fraction,
        "n_variants": int(external.writer.n_records),
        "perturbations": external.counts(),
        "fst_hudson": external.fst,
        "fst_sites": external.fst_sites,
        "fst_expected": split_fst_expectation(
            cfg.external_split_generations, cfg.population_size, cfg.external_ne
        ),
        "h2_realised_median": float(np.median(obs["h2_realised"])),
        "training_h2_realised_median": float(np.median(obs_training["h2_realised"])),
        "genotype_pc_sites": pcs.n_sites,
    }


def _config_record(cfg: SimulationConfig) -> dict:
    """The settings as ``simulation.json`` records them.

    Without an external cohort its keys are left out, so the file is byte-identical to the one
    written before they existed.
    """
    record = dataclasses.asdict(cfg)
    if not cfg.external_individuals:
        for name in EXTERNAL_FIELDS:
            del record[name]
    return record


def _genotype_pcs(
    rng: np.random.Generator, cfg: SimulationConfig, external: bool = False
) -> GenotypePCs:
    """Genome-wide genotype PCs: from an independent simulation of the rest of the genome.

    PCs of the simulated loci themselves would be dominated by their own LD blocks and absorb
    cis-genetic signal when regressed out (with 60 loci, a median 17% of the genetic variance
    in a test); real genotype PCs come from the whole genome, where no gene's locus weighs. So
    the same individuals get :data:`PC_GENOME_BP` bp of unlinked genome from a second msprime
    run of the same population, streamed in 1 Mb slices. (One panmictic population has no
    structure: the PCs are as uninformative as real ones of a homogeneous cohort.)
    ``external``: the external cohort B's individuals, from B's population
    (:func:`~ps2f.simulate.variants.simulate_split_ancestry` sampling B only).
    """
    n = cfg.external_individuals if external else cfg.n_individuals
    pcs = GenotypePCs(n)
    seeds = tuple(int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    if cfg.n_genotype_pcs == 0:
        return pcs
    if external:  # B's population: its own size since the split, the ancestral one before
        ts = simulate_split_ancestry(
            0,
            n,
            PC_GENOME_BP,
            cfg.population_size,
            cfg.external_ne,
            cfg.external_split_generations,
            cfg.mutation_rate,
            cfg.recombination_rate,
            seeds,
        )
    else:
        ts = simulate_ancestry(
            n,
            PC_GENOME_BP,
            cfg.population_size,
            cfg.mutation_rate,
            cfg.recombination_rate,
            seeds,
        )
    step = 1_000_000
    for left in range(0, PC_GENOME_BP, step):
        pcs.add(locus_sites(ts, left, left + step)[1])
    return pcs


# --------------------------------------------------------------------------------------------
# writers


def _write_fasta(path: Path, name: str, codes: np.ndarray) -> None:
    seq = decode(codes)
    with open(path, "w") as fh:
        fh.write(f">{name}\n")
        for i in range(0, len(seq), _FASTA_LINE):
            fh.write(seq[i : i + _FASTA_LINE] + "\n")
    pysam.faidx(str(path))


def _write_bed(
    plain: Path, genes: pd.DataFrame, samples: list[str], y_obs: np.ndarray, modality: str
) -> None:
    """Write the QTLtools phenotype BED at ``plain``, then bgzip and tabix it to ``plain.gz``.

    Expression: ``[tss - 1, tss)``, the gene's strand, values ``expm1(y_obs)``. Methylation:
    CpG-like rows ``[tss - 1, tss + 1)``, strand ``.``, beta values of ``M = y_obs -``
    :data:`~ps2f.simulate.config.METHYLATION_OFFSET`.
    """
    methylation = modality == "methylation"
    if methylation:
        values = np.round(1.0 / (1.0 + np.exp2(-(y_obs - METHYLATION_OFFSET))), _DECIMALS)
    else:
        values = np.round(np.expm1(y_obs), _DECIMALS)
    bed = pd.DataFrame(
        {
            "#chr": genes["chrom"],
            "start": genes["tss"] - 1,
            "end": genes["tss"] + 1 if methylation else genes["tss"],
            "gene": genes["gene_id"],
            "length": 2 if methylation else genes["gene_end"] - genes["gene_start"] + 1,
            "strand": "." if methylation else genes["strand"],
        }
    )
    bed = pd.concat([bed, pd.DataFrame(values, columns=samples)], axis=1)
    bed = bed.sort_values(["#chr", "start"], kind="stable")
    bed.to_csv(plain, sep="\t", index=False, float_format=f"%.{_DECIMALS}f")
    pysam.tabix_index(str(plain), preset="bed", force=True)


def _write_covariates(path: Path, names: list[str], samples: list[str], values: np.ndarray) -> None:
    """QTLtools covariate layout: header ``id <samples>``, one covariate per row."""
    table = pd.DataFrame(
        np.round(values, _DECIMALS), index=pd.Index(names, name="id"), columns=samples
    )
    table.to_csv(path, sep="\t", float_format=f"%.{_DECIMALS}f")
