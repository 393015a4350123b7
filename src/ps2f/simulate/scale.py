"""A GTEx-sized, multi-tissue cohort: many contigs, several tissues, in bounded memory.

:func:`~ps2f.simulate.simulate_cohort` writes one contig and one expression matrix; this
module writes a cohort the size of GTEx v8 (838 genotyped donors, ~20,000 expressed genes over
the 22 autosomes, several tissues) with the same locus model, in the same formats, contig by
contig. No genes x individuals x variants array is ever built: a process holds one contig's
per-gene components (``tissues x genes of the contig x 2 individuals`` floats each, ~70 MB for
chr1 at GTEx size) and keeps them on disk between the two passes (``.simulate-scale-*/parts``
in ``outdir``, deleted at the end).

Layout
    Contigs ``chr1``... (``contig_prefix`` + ``1..n_contigs``, the GRCh38 spelling GTEx v8
    uses). The genes are shared among the contigs in proportion to the GRCh38 lengths of the
    autosomes of the same numbers (:data:`GRCH38_AUTOSOME_BP`; largest remainders, at least
    one gene each) and numbered along them (``SIMG00001``... in contig order). Each contig is
    laid out as the one contig of :mod:`ps2f.simulate` (loci of ``spacing_bp``, a TSS in the
    middle of each), ``n_genes_on_contig * spacing_bp`` bp long.
Haplotypes and loci
    Exactly the model of :mod:`ps2f.simulate`, per contig: one msprime simulation of the
    whole contig (coalescent with recombination, so LD decays along it as in the one-contig
    cohort; for 838 individuals a 9 Mb contig takes about a second), then each locus in turn
    (causal sites, planted motifs, indels, VCF records) with that module's own code. The
    grammar is one rule for every contig and tissue (drawn from ``seed`` as there).
Tissues
    Causal variants are the same in every tissue (a variant is causal or not by its sequence
    and locus), their effects are not. For tissue ``t`` a gene's eQTL effects are

        ``b_t = sqrt(s) * b + sqrt(1 - s) * z_t``,   ``s = tissue_sharing``,

    with ``b ~ N(0, 1)`` the gene's shared effects (drawn as in :mod:`ps2f.simulate`) and
    ``z_t ~ N(0, 1)`` independent per tissue, so ``b_t ~ N(0, 1)`` and the correlation of one
    variant's effects in two tissues is ``s``: ``s = 1`` gives every tissue identical effects,
    ``s = 0`` independent ones. The coefficient of the eQTL product term (``nonlinearity:
    interaction``) is mixed in the same way. With ``share_grammar`` (default) the grammar's
    motif effects and pair coefficients are the same in every tissue (one TF vocabulary and
    activity); without it each tissue's are mixed the same way, ``e_t = sqrt(s) e + sqrt(1 -
    s) z_t``, with ``z_t`` drawn as a grammar's effects are (``+-U(0.5, 1.0)``). So with
    ``share_grammar`` ``s`` acts on the eQTL part only, and a gene's genetic values in two
    tissues correlate about ``w + (1 - w) s`` (``w = grammar_weight``, the grammar's share of
    the genetic variance). Each tissue
    scales its components to ``genetic_sd`` on its own (means over all its genes, as
    :func:`ps2f.simulate.expression.genetic_values`), then draws its own baselines ``a_g ~
    U(2, 4)``, hidden factors (shared by all its genes), loadings and noise
    (:func:`ps2f.simulate.expression.observe`; the median variance for genes without genetic
    variance is taken per contig). A fraction ``gene_dropout`` of the genes, drawn per tissue,
    is left out of the tissue's matrix (not expressed there), and each tissue has expression
    for a random ``sample_fraction`` of the individuals (GTEx tissues are sampled from subsets
    of the donors); the genotype PCs, computed once from all individuals (see
    :func:`ps2f.simulate.cohort._genotype_pcs`), are the same in every tissue.

Everything is drawn from generators seeded with ``seed`` and a stream label (contig ``c``'s
loci: ``[seed, c]``; tissue ``t``'s grammar effects: ``[seed, "tiss", t]``, its eQTL effects on
contig ``c``: ``[seed, "tiss", t, c]``; its samples, factors and observation: ``[seed, "obsv",
t]`` and ``[seed, "obsv", t, c]``; the genotype PCs: ``[seed, "pcs"]``), so a seed gives
byte-identical files whatever ``jobs``, and a tissue's draws do not depend on how many tissues
follow it.

The command line (``python -m ps2f.simulate.scale --help``) writes the same files as
:func:`simulate_scaled_cohort`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from ps2f.errors import ConfigError
from ps2f.genome.encoding import decode
from ps2f.simulate.cohort import _genotype_pcs, _ids, _simulate_locus, _write_covariates
from ps2f.simulate.config import SimulationConfig
from ps2f.simulate.expression import (
    Components,
    GeneticScales,
    apply_genetic_scales,
    component_variances,
    genetic_scales,
    observe,
    per_individual,
)
from ps2f.simulate.grammar import EFFECT, Grammar
from ps2f.simulate.sequence import markov_background
from ps2f.simulate.variants import VcfWriter, concatenate_bgzf, simulate_ancestry

__all__ = [
    "BGZF_LEVEL",
    "GRCH38_AUTOSOME_BP",
    "SCALE_FILES",
    "TISSUE_FILES",
    "ScaleConfig",
    "genes_per_contig",
    "main",
    "simulate_scaled_cohort",
]

#: GRCh38 autosome lengths in bp (chr1..chr22), the weights that share the genes among contigs.
GRCH38_AUTOSOME_BP = (
    248_956_422, 242_193_529, 198_295_559, 190_214_555, 181_538_259, 170_805_979,
    159_345_973, 145_138_636, 138_394_717, 133_797_422, 135_086_622, 133_275_309,
    114_364_328, 107_043_718, 101_991_189, 90_338_345, 83_257_441, 80_373_285,
    58_617_616, 64_444_167, 46_709_983, 50_818_468,
)  # fmt: skip

#: Files shared by every tissue, in ``outdir`` (keys of :func:`simulate_scaled_cohort`'s result).
SCALE_FILES: dict[str, str] = {
    "reference": "reference.fa",
    "reference_index": "reference.fa.fai",
    "genotypes": "genotypes.vcf.gz",
    "genotypes_index": "genotypes.vcf.gz.tbi",
    "genes": "genes.tsv",
    "grammar": "grammar.json",
    "config": "simulation.json",
}
#: Files of each tissue, in ``outdir/tissues/<tissue>/`` (keys ``<tissue>/<key>``).
TISSUE_FILES: dict[str, str] = {
    "expression": "expression.bed.gz",
    "expression_index": "expression.bed.gz.tbi",
    "covariates": "covariates.txt",
    "truth": "truth.parquet",
    "truth_variants": "truth_variants.parquet",
    "truth_genes": "truth_genes.parquet",
}

#: zlib level of the bgzipped VCF and BEDs: 1 writes random-looking genotypes ~8x faster than
#: the default level into ~1.6x larger files (the default-level VCF took most of the run).
BGZF_LEVEL = 1
_DECIMALS = 6
_FASTA_LINE = 60
_TISSUE_STREAM = 0x74697373  # "tiss"
_OBSERVE_STREAM = 0x6F627376  # "obsv"
_PC_STREAM = 0x70637300  # "pcs\0"
_TISSUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VARIANT_COLUMNS = ["id", "chrom", "pos", "ref", "alt", "variant_type", "gene", "af",
                    "source_pos", "motif_delta", "role", "beta"]  # fmt: skip


def _default_mechanism() -> SimulationConfig:
    # half grammar, half gene-specific eQTLs: tissue_sharing acts on the eQTL half
    return SimulationConfig(grammar_weight=0.5)


@dataclass(frozen=True)
class ScaleConfig:
    """Settings of :func:`simulate_scaled_cohort` (the model is in :mod:`ps2f.simulate.scale`).

    Attributes
    ----------
    n_individuals : int
        Diploid individuals genotyped (``SIM0001``...); GTEx v8: 838.
    n_genes : int
        Genes over all contigs (``SIMG00001``...), at least ``n_contigs``.
    n_contigs : int
        Autosomes simulated, 1-22, named ``contig_prefix + "1"``...
    tissues : tuple of str
        Tissue names (letters, digits, ``_.-``; e.g. GTEx's ``Whole_Blood``), at least one;
        each gets its own expression matrix, covariates and truth tables.
    tissue_sharing : float
        ``s`` in ``[0, 1]``: correlation between tissues of a causal variant's effect
        (``sqrt(s) shared + sqrt(1 - s) tissue-specific``).
    share_grammar : bool
        The grammar's motif effects are the same in every tissue (else mixed like eQTLs).
    gene_dropout : float
        In ``[0, 1)``: probability that a gene is left out of a tissue's matrix (per tissue).
    sample_fraction : float
        In ``(0, 1]``: share of the individuals with expression in each tissue (a random
        subset per tissue, at least 2 individuals).
    contig_prefix : str
        Prefix of the contig names (``"chr"``: ``chr1``...; ``""``: ``1``...).
    seed : int
        Seed of every draw; a seed gives byte-identical files.
    mechanism : SimulationConfig
        The locus and expression model (spacing, grammar, eQTLs, heritability, covariates:
        see :class:`~ps2f.simulate.SimulationConfig`); its ``n_individuals``, ``n_genes``,
        ``contig`` and ``seed`` are replaced by this config's; ``reference_fasta`` is not
        supported here. Default: the simulator's defaults with ``grammar_weight = 0.5``.
    individual_truth : bool
        Write each tissue's ``truth.parquet`` (genes x individuals rows: ~0.5 GB per tissue
        at GTEx size); the other truth tables are always written.
    """

    n_individuals: int = 838
    n_genes: int = 20_000
    n_contigs: int = 22
    tissues: tuple[str, ...] = ("Adipose_Subcutaneous", "Muscle_Skeletal", "Whole_Blood")
    tissue_sharing: float = 0.5
    share_grammar: bool = True
    gene_dropout: float = 0.0
    sample_fraction: float = 1.0
    contig_prefix: str = "chr"
    seed: int = 0
    mechanism: SimulationConfig = field(default_factory=_default_mechanism)
    individual_truth: bool = True

    def __post_init__(self) -> None:
        """Normalize ``tissues`` to a tuple; reject inconsistent settings (:class:`ConfigError`)."""
        if isinstance(self.tissues, str):
            raise ConfigError(f"tissues must be a list of names, got the string {self.tissues!r}")
        object.__setattr__(self, "tissues", tuple(self.tissues))
        p = []
        if not 1 <= self.n_contigs <= len(GRCH38_AUTOSOME_BP):
            p.append(f"n_contigs must be in 1..{len(GRCH38_AUTOSOME_BP)}, got {self.n_contigs}")
        if self.n_genes < self.n_contigs:
            p.append(f"n_genes ({self.n_genes}) must be >= n_contigs ({self.n_contigs})")
        if not self.tissues:
            p.append("tissues must name at least one tissue")
        for t in self.tissues:
            if not isinstance(t, str) or not _TISSUE_NAME.match(t):
                p.append(f"tissue name {t!r} must be letters, digits and _.- (a folder name)")
        if len(set(self.tissues)) != len(self.tissues):
            p.append(f"tissues repeat: {self.tissues}")
        if not 0 <= self.tissue_sharing <= 1:
            p.append(f"tissue_sharing must be in [0, 1], got {self.tissue_sharing}")
        if not 0 <= self.gene_dropout < 1:
            p.append(f"gene_dropout must be in [0, 1), got {self.gene_dropout}")
        if not 0 < self.sample_fraction <= 1:
            p.append(f"sample_fraction must be in (0, 1], got {self.sample_fraction}")
        if any(c.isspace() for c in self.contig_prefix) or ":" in self.contig_prefix:
            p.append(f"contig_prefix must have no spaces or ':', got {self.contig_prefix!r}")
        if not isinstance(self.mechanism, SimulationConfig):
            p.append(f"mechanism must be a SimulationConfig, got {type(self.mechanism).__name__}")
        elif self.mechanism.reference_fasta is not None:
            p.append("mechanism.reference_fasta is not supported at scale (random reference only)")
        elif self.mechanism.external_individuals:
            p.append(
                "mechanism.external_individuals is not supported at scale (simulate_cohort "
                "draws an external cohort)"
            )
        if p:
            raise ConfigError("invalid ScaleConfig: " + "; ".join(p))
        n_samples = self.tissue_samples
        if n_samples < 2 or (
            isinstance(self.mechanism, SimulationConfig)
            and self.mechanism.n_genotype_pcs >= n_samples
        ):
            raise ConfigError(
                f"invalid ScaleConfig: each tissue has {n_samples} individuals "
                f"(sample_fraction x n_individuals); it needs at least 2 and more than "
                f"n_genotype_pcs ({self.mechanism.n_genotype_pcs})"
            )
        self.contig_config(0, 1)  # the locus model at this size: raises ConfigError if invalid

    @property
    def contigs(self) -> list[str]:
        """Contig names, in file order."""
        return [f"{self.contig_prefix}{i}" for i in range(1, self.n_contigs + 1)]

    @property
    def tissue_samples(self) -> int:
        """Individuals with expression in each tissue."""
        return max(2, int(round(self.sample_fraction * self.n_individuals)))

    def contig_config(self, index: int, n_genes: int) -> SimulationConfig:
        """The one-contig model of contig ``index`` (0-based) holding ``n_genes`` genes."""
        return self.mechanism.replace(
            n_individuals=self.n_individuals,
            n_genes=n_genes,
            contig=self.contigs[index],
            seed=self.seed,
        )

    def to_record(self) -> dict:
        """The config as JSON-ready values."""
        record = dataclasses.asdict(self)
        record["tissues"] = list(self.tissues)
        return record


def genes_per_contig(n_genes: int, n_contigs: int) -> np.ndarray:
    """Share ``n_genes`` among the first ``n_contigs`` autosomes in proportion to their length.

    Largest-remainder rounding of ``n_genes * length / total`` (GRCh38 lengths,
    :data:`GRCH38_AUTOSOME_BP`), each contig getting at least one gene.

    Parameters
    ----------
    n_genes : int
        At least ``n_contigs``.
    n_contigs : int
        1-22.

    Returns
    -------
    numpy.ndarray, shape (n_contigs,), int64
        Genes per contig, summing to ``n_genes``.
    """
    w = np.asarray(GRCH38_AUTOSOME_BP[:n_contigs], dtype=np.float64)
    spare = n_genes - n_contigs  # one each first
    exact = spare * w / w.sum()
    out = np.floor(exact).astype(np.int64)
    left = spare - int(out.sum())
    out[np.argsort(-(exact - out), kind="stable")[:left]] += 1
    return out + 1


# --------------------------------------------------------------------------------------------
# tissue effects


def _mix(s: float, shared: np.ndarray | float, specific: np.ndarray | float):
    """``sqrt(s) shared + sqrt(1 - s) specific`` (exactly ``shared`` at ``s = 1``)."""
    return np.sqrt(s) * shared + np.sqrt(1 - s) * specific


def _tissue_grammars(cfg: ScaleConfig, grammar: Grammar) -> list[Grammar]:
    """Each tissue's grammar: the shared one, or its effects mixed with tissue-specific ones."""
    if cfg.share_grammar:
        return [grammar] * len(cfg.tissues)
    out = []
    for t in range(len(cfg.tissues)):
        rng = np.random.default_rng([cfg.seed, _TISSUE_STREAM, t])
        k = grammar.n_motifs
        z = np.where(rng.random(k) < 0.5, -1.0, 1.0) * rng.uniform(*EFFECT, size=k)
        zc = np.where(rng.random(len(grammar.interactions)) < 0.5, -1.0, 1.0) * rng.uniform(
            *EFFECT, size=len(grammar.interactions)
        )
        pairs = tuple(
            (i, j, float(_mix(cfg.tissue_sharing, c, zc[p])))
            for p, (i, j, c) in enumerate(grammar.interactions)
        )
        effects = _mix(cfg.tissue_sharing, grammar.effects, z)
        out.append(dataclasses.replace(grammar, effects=effects, interactions=pairs))
    return out


@dataclass
class _TissueLocus:
    """One gene's raw components and variant effects in one tissue."""

    grammar_linear: np.ndarray  # (2n,)
    grammar_interaction: np.ndarray  # (2n,)
    eqtl_linear: np.ndarray  # (2n,)
    eqtl_interaction: np.ndarray  # (n,)
    d_grammar: np.ndarray  # (v,) change of the linear grammar value by each variant alone
    b_eqtl: np.ndarray  # (v,) eQTL effect per ALT allele (0 off the eQTLs)


def _tissue_locus(
    rng: np.random.Generator,
    s: float,
    grammar: Grammar,
    shared_grammar: bool,
    locus,
    b_shared: np.ndarray,
    d_shared: np.ndarray,
    is_eqtl: np.ndarray,
) -> _TissueLocus:
    """Weigh one locus's haplotypes with a tissue's effects (see the module docstring).

    ``b_shared``, ``d_shared`` and ``is_eqtl`` are the locus's variants' columns ``_b_eqtl``,
    ``_d_grammar`` and ``role == "eqtl"`` as arrays.
    """
    n_hap = locus.grammar_scores.shape[0]
    x = locus.eqtl_haplotypes
    b = np.zeros_like(b_shared)
    b[is_eqtl] = _mix(s, b_shared[is_eqtl], rng.standard_normal(int(is_eqtl.sum())))
    coefficient = float(_mix(s, locus.eqtl_pair_coefficient, rng.standard_normal()))
    eqtl_linear = b[is_eqtl] @ x if x.size else np.zeros(n_hap)
    if x.shape[0] >= 2:  # as in ps2f.simulate.cohort._simulate_locus, with this tissue's c
        dosage = x[:2].reshape(2, -1, 2).sum(axis=2)
        dosage -= dosage.mean(axis=1, keepdims=True)
        eqtl_interaction = coefficient * dosage[0] * dosage[1]
    else:
        eqtl_interaction = np.zeros(n_hap // 2)
    if shared_grammar:
        g_lin, g_int = locus.grammar_linear, locus.grammar_interaction
        d_grammar = d_shared
    else:
        g_lin = grammar.linear(locus.grammar_scores)
        g_int = grammar.interaction(locus.grammar_scores)
        d_grammar = grammar.linear(locus.score_delta)
    return _TissueLocus(
        grammar_linear=np.asarray(g_lin, dtype=np.float64),
        grammar_interaction=np.asarray(g_int, dtype=np.float64),
        eqtl_linear=np.asarray(eqtl_linear - eqtl_linear.mean(), dtype=np.float64),
        eqtl_interaction=np.asarray(eqtl_interaction - eqtl_interaction.mean(), np.float64),
        d_grammar=np.asarray(d_grammar, dtype=np.float64),
        b_eqtl=b,
    )


# --------------------------------------------------------------------------------------------
# the cohort


def simulate_scaled_cohort(
    config: ScaleConfig, outdir: str | Path, progress=None, jobs: int = 1
) -> dict[str, Path]:
    """Simulate a many-contig, multi-tissue cohort in bounded memory; write standard files.

    Two passes over the contigs: the first simulates each contig (msprime, then locus by
    locus, streaming the VCF and FASTA) and keeps only per-gene components on disk; the
    second, once every tissue's scales are known (means over all genes), writes each tissue's
    expression and truth contig by contig. Peak memory grows with the genes of the largest
    contig times the individuals, not with the cohort.

    Parameters
    ----------
    config : ScaleConfig
        Sizes, tissues, sharing and seed (the model is in :mod:`ps2f.simulate.scale`).
    outdir : str or pathlib.Path
        Directory to write into (created if missing). Files are written in a temporary
        directory inside it and moved in at the end, so a failure leaves no partial output.
    progress : callable, optional
        Called with one line of text after each contig of pass 1 and each tissue of pass 2
        (e.g. ``print``).
    jobs : int
        Processes: pass 1 simulates up to ``jobs`` contigs at once, pass 2 writes up to
        ``jobs`` tissues at once (each process holds one contig's arrays). The files are the
        same for every ``jobs``. The processes are spawned, so with ``jobs > 1`` a script must
        call this under ``if __name__ == "__main__":`` (the command line does).

    Returns
    -------
    dict of str to pathlib.Path
        The shared files keyed as in :data:`SCALE_FILES` and each tissue's keyed
        ``"<tissue>/<key>"`` as in :data:`TISSUE_FILES` (in ``outdir/tissues/<tissue>/``):

        * ``reference.fa`` (+ ``.fai``): one record per contig, 60 bp lines.
        * ``genotypes.vcf.gz`` (+ ``.tbi``): one VCF of every contig (as
          :func:`~ps2f.simulate.simulate_cohort`'s; IDs ``<contig>_<POS>_<REF>_<ALT>``).
        * ``genes.tsv``: the TSS table of every gene (as the one-contig cohort's).
        * ``grammar.json``: the shared grammar; ``simulation.json``: the config, the genes per
          contig, each tissue's grammar effects, scales and numbers of genes and samples.
        * per tissue ``expression.bed.gz`` (+ ``.tbi``): QTLtools BED of the tissue's genes
          and samples, values ``expm1(y_obs)``; ``covariates.txt``: genotype PCs (shared) and
          the tissue's hidden factors; ``truth.parquet`` (if ``individual_truth``),
          ``truth_variants.parquet`` (every VCF record, ``beta`` in this tissue) and
          ``truth_genes.parquet`` (every gene, with ``expressed``): the columns of
          :func:`~ps2f.simulate.simulate_cohort`'s, over the tissue's samples.

    Raises
    ------
    ConfigError
        If ``config`` is not a :class:`ScaleConfig`.
    """
    if not isinstance(config, ScaleConfig):
        raise ConfigError(f"config must be a ScaleConfig, got {type(config).__name__}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a positive integer, got {jobs!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".simulate-scale-", dir=outdir))
    try:
        _Run(config, tmp, progress or (lambda line: None), jobs).run()
        paths = {}
        for key, name in SCALE_FILES.items():  # data files precede their indexes
            os.replace(tmp / name, outdir / name)
            paths[key] = outdir / name
        for tissue in config.tissues:
            target = outdir / "tissues" / tissue
            target.mkdir(parents=True, exist_ok=True)
            for key, name in TISSUE_FILES.items():
                if key == "truth" and not config.individual_truth:
                    (target / name).unlink(missing_ok=True)
                    continue
                os.replace(tmp / "tissues" / tissue / name, target / name)
                paths[f"{tissue}/{key}"] = target / name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


class _Run:
    """One simulation: the state shared by the two passes (all of it small)."""

    def __init__(self, cfg: ScaleConfig, tmp: Path, progress, jobs: int):
        self.cfg = cfg
        self.tmp = tmp
        self.progress = progress
        self.jobs = jobs
        self.mech = cfg.contig_config(0, 1)
        self.grammar = Grammar.from_config(self.mech)
        self.tissue_grammars = _tissue_grammars(cfg, self.grammar)
        self.n_per_contig = genes_per_contig(cfg.n_genes, cfg.n_contigs)

    def _map(self, fn, *iterables):
        """``map`` in this process (``jobs == 1``) or in ``jobs`` fresh ones, results in order."""
        if self.jobs == 1:
            yield from map(fn, *iterables)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent may hold library threads (pyarrow, BLAS)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
            yield from pool.map(fn, *iterables)

    def run(self) -> None:
        cfg = self.cfg
        parts = self.tmp / "parts"
        parts.mkdir()
        t0 = time.perf_counter()

        # pass 1: each contig's genome (in parallel with jobs > 1), then the parts joined
        lengths = [int(n) * cfg.mechanism.spacing_bp for n in self.n_per_contig]
        header = VcfWriter(
            parts / "header.vcf.gz",
            cfg.contigs[0],
            lengths[0],
            _ids("SIM", cfg.n_individuals),
            f"ps2f.simulate.scale (msprime per contig; seed={cfg.seed})",
            contigs=list(zip(cfg.contigs, lengths, strict=True)),
            compresslevel=BGZF_LEVEL,
        )
        header.close(index=False)
        n = cfg.n_contigs
        results = []
        for c, result in enumerate(self._map(_simulate_contig, [cfg] * n, range(n), [parts] * n)):
            results.append(result)
            self.progress(
                f"contig {cfg.contigs[c]}: {self.n_per_contig[c]} genes simulated "
                f"({time.perf_counter() - t0:.0f} s)"
            )
        vcf = self.tmp / SCALE_FILES["genotypes"]
        concatenate_bgzf([parts / "header.vcf.gz"] + [parts / f"{c}.vcf.gz" for c in range(n)], vcf)
        pysam.tabix_index(str(vcf), preset="vcf", force=True)
        with open(self.tmp / SCALE_FILES["reference"], "wb") as fasta:
            for c in range(n):
                with open(parts / f"{c}.fa", "rb") as part:
                    shutil.copyfileobj(part, fasta)
        pysam.faidx(str(self.tmp / SCALE_FILES["reference"]))
        for c in range(n):
            for suffix in (".vcf.gz", ".fa"):
                (parts / f"{c}{suffix}").unlink()
        self.genes = pd.concat([r["genes"] for r in results], ignore_index=True)
        self.genes.to_csv(self.tmp / SCALE_FILES["genes"], sep="\t", index=False)
        self.n_variants = sum(r["n_variants"] for r in results)
        self.msprime_seeds = [r["msprime_seeds"] for r in results]
        variance_sums = sum(r["variance_sums"] for r in results)

        # pass 2: each tissue's expression (in parallel with jobs > 1)
        t1 = time.perf_counter()
        mech = self.mech
        scales = [
            genetic_scales(m, mech.grammar_weight, mech.genetic_sd, mech.nonlinearity)
            for m in variance_sums / cfg.n_genes
        ]
        pcs = _genotype_pcs(np.random.default_rng([cfg.seed, _PC_STREAM]), mech)
        genotype_pcs = pcs.result(mech.n_genotype_pcs)
        self.genotype_pc_sites = pcs.n_sites
        k = len(cfg.tissues)
        self.tissue_records = []
        tasks = ([cfg] * k, range(k), scales, [genotype_pcs] * k, [self.genes] * k, [self.tmp] * k)
        for t, record in enumerate(self._map(_write_tissue, *tasks)):
            record["motif_effects"] = self.tissue_grammars[t].effects.tolist()
            record["motif_interactions"] = [
                [i, j, c] for i, j, c in self.tissue_grammars[t].interactions
            ]
            self.tissue_records.append(record)
            self.progress(
                f"tissue {cfg.tissues[t]}: expression written ({time.perf_counter() - t1:.0f} s)"
            )
        shutil.rmtree(parts)
        self._write_records()

    def _write_records(self) -> None:
        cfg = self.cfg
        record = {"seed": cfg.seed, "nonlinearity": self.mech.nonlinearity,
                  **self.grammar.to_record()}  # fmt: skip
        lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in record.items()]
        (self.tmp / SCALE_FILES["grammar"]).write_text("{\n" + ",\n".join(lines) + "\n}\n")
        config = cfg.to_record()
        config["mechanism"] = dataclasses.asdict(self.mech) | {"n_genes": None, "contig": None}
        record = {
            "generator": "ps2f.simulate.scale.simulate_scaled_cohort",
            "config": config,
            "contigs": cfg.contigs,
            "genes_per_contig": self.n_per_contig.tolist(),
            "msprime_seeds": self.msprime_seeds,
            "n_variants": int(self.n_variants),
            "genotype_pc_sites": self.genotype_pc_sites,
            "tissues": self.tissue_records,
        }
        (self.tmp / SCALE_FILES["config"]).write_text(json.dumps(record, indent=2) + "\n")


def _simulate_contig(cfg: ScaleConfig, c: int, parts: Path) -> dict:
    """Pass 1 on contig ``c`` (a worker): its genome, and each tissue's raw components.

    Writes into ``parts``: ``<c>.vcf.gz`` (its VCF records, no header), ``<c>.fa`` (its FASTA
    record), ``<c>.npz`` (per tissue and gene the raw components of
    :class:`~ps2f.simulate.expression.Components`, and the motif counts) and
    ``<c>.variants.parquet`` (its variants, with each tissue's effects ``_d_grammar_<t>``,
    ``_b_eqtl_<t>``).

    Returns
    -------
    dict
        ``genes`` (its rows of the TSS table), ``variance_sums`` (shape (n_tissues, 5): the
        rows of :func:`~ps2f.simulate.expression.component_variances` summed over its genes),
        ``n_variants`` and ``msprime_seeds``.
    """
    n_genes = int(genes_per_contig(cfg.n_genes, cfg.n_contigs)[c])
    first = int(genes_per_contig(cfg.n_genes, cfg.n_contigs)[:c].sum())
    ccfg = cfg.contig_config(c, n_genes)
    grammar = Grammar.from_config(ccfg)
    tissue_grammars = _tissue_grammars(cfg, grammar)
    rng = np.random.default_rng([cfg.seed, c])
    ref = markov_background(rng, ccfg.contig_length, ccfg.gc_content, ccfg.cpg_depletion)
    tss0 = ccfg.flank_bp + ccfg.spacing_bp * np.arange(n_genes)
    minus = rng.random(n_genes) < 0.5
    gene_len = rng.integers(min(1000, ccfg.flank_bp), ccfg.flank_bp + 1, size=n_genes)
    seeds = tuple(int(s) for s in rng.integers(1, 2**31 - 1, size=2))
    ts = simulate_ancestry(
        cfg.n_individuals,
        ccfg.contig_length,
        ccfg.population_size,
        ccfg.mutation_rate,
        ccfg.recombination_rate,
        seeds,
    )
    n_t = len(cfg.tissues)
    tissue_rngs = [np.random.default_rng([cfg.seed, _TISSUE_STREAM, t, c]) for t in range(n_t)]
    n_hap = 2 * cfg.n_individuals
    comp = {
        "grammar_linear": np.zeros((n_t, n_genes, n_hap)),
        "grammar_interaction": np.zeros((n_t, n_genes, n_hap)),
        "eqtl_linear": np.zeros((n_t, n_genes, n_hap)),
        "eqtl_interaction": np.zeros((n_t, n_genes, n_hap // 2)),
    }
    motif_counts = np.zeros((n_genes, n_hap), dtype=np.int64)
    tables = []
    effects: dict[str, list[np.ndarray]] = {
        f"_{kind}_{t}": [] for t in range(n_t) for kind in ("d_grammar", "b_eqtl")
    }
    ids = _ids("SIMG", cfg.n_genes)[first : first + n_genes]
    writer = VcfWriter(
        parts / f"{c}.vcf.gz", ccfg.contig, ccfg.contig_length, _ids("SIM", cfg.n_individuals),
        "", compresslevel=BGZF_LEVEL, header=False,
    )  # fmt: skip
    try:
        for g in range(n_genes):
            locus = _simulate_locus(
                rng, ccfg, grammar, ref, ts, g, int(tss0[g]), bool(minus[g]), writer
            )
            motif_counts[g] = locus.motif_counts
            v = locus.variants
            shared = (v["_b_eqtl"].to_numpy(), v["_d_grammar"].to_numpy(),
                      (v["role"] == "eqtl").to_numpy())  # fmt: skip
            for t in range(n_t):
                tl = _tissue_locus(
                    tissue_rngs[t], cfg.tissue_sharing, tissue_grammars[t], cfg.share_grammar,
                    locus, *shared,
                )  # fmt: skip
                for key in comp:
                    comp[key][t, g] = getattr(tl, key)
                effects[f"_d_grammar_{t}"].append(tl.d_grammar)
                effects[f"_b_eqtl_{t}"].append(tl.b_eqtl)
            tables.append(v)
            tables[-1]["gene"] = ids[g]
    finally:
        writer.close(index=False)
    variance_sums = np.zeros((n_t, 5))
    for t in range(n_t):
        variance_sums[t] = component_variances(Components(*(comp[k][t] for k in comp))).sum(1)
    np.save(parts / f"{c}.counts.npy", motif_counts)
    for t in range(n_t):  # one file per tissue: a tissue's worker reads only its own
        np.savez(parts / f"{c}.{t}.npz", **{key: comp[key][t] for key in comp})
    variants = pd.concat(tables, ignore_index=True).drop(columns=["_d_grammar", "_b_eqtl"])
    variants = variants.assign(**{k: np.concatenate(a) for k, a in effects.items()})
    variants.to_parquet(parts / f"{c}.variants.parquet", index=False)

    seq = decode(ref)
    with open(parts / f"{c}.fa", "w") as fasta:
        fasta.write(f">{ccfg.contig}\n")
        for i in range(0, len(seq), _FASTA_LINE):
            fasta.write(seq[i : i + _FASTA_LINE] + "\n")
    plus = ~minus
    tss1 = tss0 + 1
    genes = pd.DataFrame(
        {
            "gene_id": ids,
            "gene_name": [f"SimGene{g[4:]}" for g in ids],
            "gene_type": "protein_coding",
            "chrom": ccfg.contig,
            "strand": np.where(plus, "+", "-"),
            "gene_start": np.where(plus, tss1, tss1 - gene_len + 1).astype(np.int64),
            "gene_end": np.where(plus, tss1 + gene_len - 1, tss1).astype(np.int64),
            "tss": tss1.astype(np.int64),
        }
    )
    return {
        "genes": genes,
        "variance_sums": variance_sums,
        "n_variants": writer.n_records,
        "msprime_seeds": list(seeds),
    }


def _write_tissue(
    cfg: ScaleConfig,
    t: int,
    scales: GeneticScales,
    genotype_pcs: np.ndarray,
    genes: pd.DataFrame,
    tmp: Path,
) -> dict:
    """Pass 2 for tissue ``t`` (a worker): its files, contig by contig; returns its record."""
    writer = _TissueWriter(cfg, t, scales, genotype_pcs, tmp)
    first = np.concatenate([[0], np.cumsum(genes_per_contig(cfg.n_genes, cfg.n_contigs))])
    try:
        for c in range(cfg.n_contigs):
            with np.load(tmp / "parts" / f"{c}.{t}.npz") as parts:
                arrays = {k: parts[k] for k in parts.files}
            arrays["motif_counts"] = np.load(tmp / "parts" / f"{c}.counts.npy")
            variants = pd.read_parquet(tmp / "parts" / f"{c}.variants.parquet")
            writer.add_contig(c, genes.iloc[first[c] : first[c + 1]], arrays, variants)
    finally:
        writer.close()
    return writer.record()


class _TissueWriter:
    """One tissue's output files, written contig by contig."""

    def __init__(
        self,
        cfg: ScaleConfig,
        t: int,
        scales: GeneticScales,
        genotype_pcs: np.ndarray,
        tmp: Path,
    ):
        mech = cfg.contig_config(0, 1)
        self.cfg, self.mech, self.t, self.name, self.scales = cfg, mech, t, cfg.tissues[t], scales
        self.dir = tmp / "tissues" / self.name
        self.dir.mkdir(parents=True)
        rng = np.random.default_rng([cfg.seed, _OBSERVE_STREAM, t])
        n_s = cfg.tissue_samples
        self.idx = np.sort(rng.choice(cfg.n_individuals, size=n_s, replace=False))
        all_samples = _ids("SIM", cfg.n_individuals)
        self.samples = [all_samples[i] for i in self.idx.tolist()]
        self.factors = rng.standard_normal((mech.n_expression_covariates, n_s))
        names = [f"genotype_PC{i}" for i in range(1, mech.n_genotype_pcs + 1)]
        names += [f"expression_PC{i}" for i in range(1, mech.n_expression_covariates + 1)]
        _write_covariates(
            self.dir / TISSUE_FILES["covariates"],
            names,
            self.samples,
            np.vstack([genotype_pcs[:, self.idx], self.factors]),
        )
        self.bed = pysam.BGZFile(str(self.dir / TISSUE_FILES["expression"]), f"wb{BGZF_LEVEL}")
        fixed = ["#chr", "start", "end", "gene", "length", "strand"]
        self.bed.write(("\t".join(fixed + self.samples) + "\n").encode())
        self.truth: pq.ParquetWriter | None = None
        self.variants: pq.ParquetWriter | None = None
        self.gene_tables: list[pd.DataFrame] = []
        self.n_expressed = 0

    def add_contig(
        self, c: int, genes: pd.DataFrame, arrays: dict, variants: pd.DataFrame
    ) -> None:
        """Write contig ``c``'s rows of every file of the tissue (``arrays``: this tissue's)."""
        cfg, mech, t, scales = self.cfg, self.mech, self.t, self.scales
        comp = Components(
            arrays["grammar_linear"],
            arrays["grammar_interaction"],
            arrays["eqtl_linear"],
            arrays["eqtl_interaction"],
        )
        hap_values, ind_values = apply_genetic_scales(comp, scales, mech.nonlinearity)
        rng = np.random.default_rng([cfg.seed, _OBSERVE_STREAM, t, c])
        n_genes, idx = len(genes), self.idx
        baseline = rng.uniform(2.0, 4.0, size=n_genes)
        expressed = rng.random(n_genes) >= cfg.gene_dropout
        y_true = baseline[:, None] + ind_values[:, idx]
        obs = observe(
            rng, y_true, mech.h2, mech.covariate_variance, mech.n_expression_covariates,
            factors=self.factors,
        )  # fmt: skip
        gene_ids = genes["gene_id"].to_numpy()

        # expression BED (expressed genes; sorted by TSS within the contig)
        keep = np.flatnonzero(expressed)
        order = keep[np.argsort(genes["tss"].to_numpy()[keep], kind="stable")]
        g = genes.iloc[order]
        bed = pd.DataFrame(
            {
                "#chr": g["chrom"].to_numpy(),
                "start": g["tss"].to_numpy() - 1,
                "end": g["tss"].to_numpy(),
                "gene": g["gene_id"].to_numpy(),
                "length": (g["gene_end"] - g["gene_start"] + 1).to_numpy(),
                "strand": g["strand"].to_numpy(),
            }
        )
        values = np.round(np.expm1(obs["y_obs"][order]), _DECIMALS)
        # one %-format per row: 5x faster than DataFrame.to_csv, the same text
        row = "\t".join(["%s"] * 6 + [f"%.{_DECIMALS}f"] * len(self.samples)) + "\n"
        fixed = bed.itertuples(index=False, name=None)
        text = "".join(row % (*f, *vals) for f, vals in zip(fixed, values.tolist(), strict=True))
        self.bed.write(text.encode())
        self.n_expressed += len(keep)

        # truth tables
        pairs = per_individual
        g_part = pairs(
            scales.grammar_linear * comp.grammar_linear
            + scales.grammar_interaction * comp.grammar_interaction
        )[:, idx]
        e_part = (
            pairs(scales.eqtl_linear * comp.eqtl_linear)
            + scales.eqtl_interaction * comp.eqtl_interaction
        )[:, idx]
        roles = variants.groupby("gene")["role"].value_counts().unstack(fill_value=0)
        roles = roles.reindex(gene_ids, fill_value=0)
        n_gram = sum(
            (roles[r] for r in ("disrupts_motif", "creates_motif") if r in roles.columns),
            start=pd.Series(0, index=roles.index),
        )
        self.gene_tables.append(
            pd.DataFrame(
                {
                    "gene": gene_ids,
                    "h2_realised": obs["h2_realised"],
                    "r_ceiling": np.sqrt(obs["h2_realised"]),
                    "h2_adjusted": obs["h2_adjusted"],
                    "r_ceiling_adjusted": np.sqrt(obs["h2_adjusted"]),
                    "var_genetic": y_true.var(axis=1),
                    "var_grammar": g_part.var(axis=1),
                    "var_eqtl": e_part.var(axis=1),
                    "n_grammar_variants": n_gram.to_numpy(np.int64),
                    "n_eqtl_variants": (
                        roles["eqtl"] if "eqtl" in roles.columns else n_gram * 0
                    ).to_numpy(np.int64),
                    "source_contig": None,
                    "source_start": None,
                    "expressed": expressed,
                }
            )
        )
        if cfg.individual_truth and len(keep):
            hap = hap_values.reshape(n_genes, -1, 2)[keep][:, idx]
            counts = arrays["motif_counts"][keep].reshape(len(keep), -1, 2)[:, idx]
            n_s = idx.size
            truth = pd.DataFrame(
                {
                    "gene": np.repeat(gene_ids[keep], n_s),
                    "individual": np.tile(self.samples, len(keep)),
                    "y_true": y_true[keep].reshape(-1),
                    "y_obs": obs["y_obs"][keep].reshape(-1),
                    "genetic_hap1": hap[:, :, 0].reshape(-1),
                    "genetic_hap2": hap[:, :, 1].reshape(-1),
                    "covariate_effect": obs["covariate_effect"][keep].reshape(-1),
                    "motif_count_hap1": counts[:, :, 0].reshape(-1),
                    "motif_count_hap2": counts[:, :, 1].reshape(-1),
                }
            )
            self.truth = _append(self.truth, self.dir / TISSUE_FILES["truth"], truth)
        out = variants.assign(
            beta=(
                scales.grammar_linear * variants[f"_d_grammar_{t}"]
                + scales.eqtl_linear * variants[f"_b_eqtl_{t}"]
            )
            / 2
        )[_VARIANT_COLUMNS]
        self.variants = _append(self.variants, self.dir / TISSUE_FILES["truth_variants"], out)

    def close(self) -> None:
        """Finish the files: index the BED, write the gene table."""
        self.bed.close()
        pysam.tabix_index(
            str(self.dir / TISSUE_FILES["expression"]), preset="bed", force=True
        )
        for writer in (self.truth, self.variants):
            if writer is not None:
                writer.close()
        if self.cfg.individual_truth and self.truth is None:  # no gene expressed anywhere
            empty = pd.DataFrame({"gene": pd.Series(dtype=str), "individual": pd.Series(dtype=str)})
            for column in ("y_true", "y_obs", "genetic_hap1", "genetic_hap2", "covariate_effect"):
                empty[column] = pd.Series(dtype=np.float64)
            for column in ("motif_count_hap1", "motif_count_hap2"):
                empty[column] = pd.Series(dtype=np.int64)
            empty.to_parquet(self.dir / TISSUE_FILES["truth"], index=False)
        if self.gene_tables:
            pd.concat(self.gene_tables, ignore_index=True).to_parquet(
                self.dir / TISSUE_FILES["truth_genes"], index=False
            )

    def record(self) -> dict:
        """What ``simulation.json`` says of this tissue (the parent adds its grammar)."""
        return {
            "name": self.name,
            "n_samples": len(self.samples),
            "n_expressed_genes": self.n_expressed,
            "scales": dataclasses.asdict(self.scales),
        }


def _append(writer: pq.ParquetWriter | None, path: Path, table: pd.DataFrame):
    """Append ``table`` as a row group of the Parquet file at ``path`` (opened on first use)."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(str(path), arrow.schema)
    writer.write_table(arrow.cast(writer.schema))
    return writer


# --------------------------------------------------------------------------------------------
# command line


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m ps2f.simulate.scale``: write a GTEx-sized cohort (see ``--help``)."""
    defaults = ScaleConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(
        prog="python -m ps2f.simulate.scale",
        description="Simulate a many-contig, multi-tissue cohort (GTEx-sized by default) as "
        "FASTA, one phased VCF, a TSS table and per tissue a QTLtools BED, covariates and "
        "truth tables. The model is in the docstring of ps2f.simulate.scale.",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--n-individuals", type=int, default=defaults["n_individuals"].default)
    parser.add_argument("--n-genes", type=int, default=defaults["n_genes"].default)
    parser.add_argument("--n-contigs", type=int, default=defaults["n_contigs"].default)
    parser.add_argument("--tissues", nargs="+", default=list(defaults["tissues"].default))
    parser.add_argument(
        "--tissue-sharing", type=float, default=defaults["tissue_sharing"].default,
        help="correlation of a causal variant's effects between tissues, in [0, 1]",
    )  # fmt: skip
    parser.add_argument(
        "--no-share-grammar", action="store_true",
        help="mix the grammar's motif effects between tissues like the eQTL effects",
    )  # fmt: skip
    parser.add_argument("--gene-dropout", type=float, default=defaults["gene_dropout"].default)
    parser.add_argument(
        "--sample-fraction", type=float, default=defaults["sample_fraction"].default
    )
    parser.add_argument("--contig-prefix", default=defaults["contig_prefix"].default)
    parser.add_argument("--seed", type=int, default=defaults["seed"].default)
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="processes (contigs, then tissues, in parallel); the files do not depend on it",
    )  # fmt: skip
    parser.add_argument(
        "--no-individual-truth", action="store_true",
        help="skip each tissue's genes x individuals truth.parquet (the largest files)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a locus-model setting (a SimulationConfig field, e.g. h2=0.3); repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    mechanism = _default_mechanism()
    changes = {}
    fields = set(SimulationConfig.__dataclass_fields__)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(fields)}")
        changes[key] = _parse_value(value)
    try:
        if changes:
            mechanism = mechanism.replace(**changes)
        config = ScaleConfig(
            n_individuals=args.n_individuals,
            n_genes=args.n_genes,
            n_contigs=args.n_contigs,
            tissues=tuple(args.tissues),
            tissue_sharing=args.tissue_sharing,
            share_grammar=not args.no_share_grammar,
            gene_dropout=args.gene_dropout,
            sample_fraction=args.sample_fraction,
            contig_prefix=args.contig_prefix,
            seed=args.seed,
            mechanism=mechanism,
            individual_truth=not args.no_individual_truth,
        )
    except (ConfigError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        paths = simulate_scaled_cohort(
            config, args.out, progress=lambda line: print(line, flush=True), jobs=args.jobs
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} files to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
