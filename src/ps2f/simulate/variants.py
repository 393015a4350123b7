"""Haplotypes from the coalescent, alleles on the reference, and a streaming VCF writer.

The neutral background is a coalescent with recombination simulated by msprime
(Baumdicker et al., Genetics 2022, "Efficient ancestry and mutation simulation with msprime
1.0"; Kelleher et al., PLoS Comput Biol 2016): one constant-size population of ``Ne`` diploids,
a flat recombination rate, and infinite-sites mutations, so each site is biallelic with the
ancestral allele as REF and the derived allele as ALT, and has the allele-frequency spectrum and
linkage disequilibrium of a neutral population.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

from ps2f.genome.encoding import ALPHABET

__all__ = [
    "simulate_ancestry",
    "simulate_split_ancestry",
    "locus_sites",
    "snv_alts",
    "left_align_indel",
    "VcfWriter",
    "BGZF_EOF",
    "concatenate_bgzf",
]

_TRANSITION = np.array([2, 3, 0, 1], dtype=np.uint8)  # A<->G, C<->T
_TS_FRACTION = 2.0 / 3.0  # human Ts/Tv ~ 2.0-2.1


def simulate_ancestry(
    n_individuals: int,
    length: int,
    population_size: float,
    mutation_rate: float,
    recombination_rate: float,
    seeds: tuple[int, int],
):
    """Coalescent with recombination and infinite-sites mutations over one contig (msprime).

    Parameters
    ----------
    n_individuals : int
        Diploid samples; haplotypes ``2i`` and ``2i + 1`` are individual ``i``'s.
    length : int
        Sequence length, in bp.
    population_size : float
        Constant diploid effective population size Ne.
    mutation_rate, recombination_rate : float
        Per bp per generation (flat).
    seeds : (int, int)
        Seeds of the ancestry and the mutation simulations.

    Returns
    -------
    tskit.TreeSequence
        With biallelic sites at continuous positions (alleles ``"0"``, ``"1"``).
    """
    import msprime

    ts = msprime.sim_ancestry(
        samples=n_individuals,
        ploidy=2,
        population_size=population_size,
        sequence_length=length,
        recombination_rate=recombination_rate,
        random_seed=seeds[0],
    )
    return _add_mutations(ts, mutation_rate, seeds[1])


def simulate_split_ancestry(
    n_individuals: int,
    n_external: int,
    length: int,
    population_size: float,
    external_population_size: float,
    split_generations: float,
    mutation_rate: float,
    recombination_rate: float,
    seeds: tuple[int, int],
):
    """Two populations that split ``split_generations`` ago, over one contig (msprime).

    One demography: population ``A`` (``population_size``) and population ``B``
    (``external_population_size``), both constant since they split from an ancestral
    population of ``population_size`` ``split_generations`` generations ago; the same
    recombination and infinite-sites mutation model as :func:`simulate_ancestry`.

    Parameters
    ----------
    n_individuals, n_external : int
        Diploid samples of A and of B (0: none of that population).
    length : int
        Sequence length, in bp.
    population_size, external_population_size : float
        Diploid Ne of A (and of the ancestral population) and of B.
    split_generations : float
        Time of the split, in generations before the present (> 0).
    mutation_rate, recombination_rate : float
        Per bp per generation (flat).
    seeds : (int, int)
        Seeds of the ancestry and the mutation simulations.

    Returns
    -------
    tskit.TreeSequence
        Sample haplotypes ``0 .. 2 n_individuals - 1`` are A's (``2i``, ``2i + 1``: individual
        ``i``), then ``2 n_external`` of B's; biallelic sites at continuous positions.
    """
    import msprime

    demography = msprime.Demography()
    demography.add_population(name="A", initial_size=population_size)
    demography.add_population(name="B", initial_size=external_population_size)
    demography.add_population(name="ancestral", initial_size=population_size)
    demography.add_population_split(
        time=split_generations, derived=["A", "B"], ancestral="ancestral"
    )
    ts = msprime.sim_ancestry(
        samples=[
            msprime.SampleSet(n, population=name, ploidy=2)
            for n, name in ((n_individuals, "A"), (n_external, "B"))
            if n
        ],
        demography=demography,
        sequence_length=length,
        recombination_rate=recombination_rate,
        random_seed=seeds[0],
    )
    return _add_mutations(ts, mutation_rate, seeds[1])


def _add_mutations(ts, mutation_rate: float, seed: int):
    """Infinite-sites biallelic mutations ("0" ancestral, "1" derived) on a tree sequence."""
    import msprime

    return msprime.sim_mutations(
        ts,
        rate=mutation_rate,
        random_seed=seed,
        discrete_genome=False,
        model=msprime.BinaryMutationModel(),
    )


def locus_sites(ts, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    """The sites of ``[left, right)`` at integer positions, with their haplotypes.

    A site at continuous position ``x`` goes to base ``floor(x)``; when two sites fall on the
    same base the first is kept.

    Parameters
    ----------
    ts : tskit.TreeSequence
        From :func:`simulate_ancestry`.
    left, right : int
        0-based half-open interval, in bp.

    Returns
    -------
    pos0 : numpy.ndarray, shape (s,), int64
        0-based positions, strictly increasing.
    haplotypes : numpy.ndarray, shape (s, 2 * n_individuals), uint8
        1 where a haplotype carries the derived allele.
    """
    pos: list[int] = []
    rows: list[np.ndarray] = []
    last = -1
    for var in ts.variants(left=left, right=right, copy=False):
        p = int(var.position)
        if p == last or not left <= p < right:
            continue
        last = p
        pos.append(p)
        rows.append(var.genotypes.astype(np.uint8))
    n_hap = ts.num_samples
    gt = np.stack(rows) if rows else np.zeros((0, n_hap), dtype=np.uint8)
    return np.asarray(pos, dtype=np.int64), gt


def snv_alts(rng: np.random.Generator, ref: np.ndarray) -> np.ndarray:
    """ALT bases of SNVs: a transition with probability 2/3 (Ts/Tv = 2), else a transversion.

    Parameters
    ----------
    rng : numpy.random.Generator
    ref : numpy.ndarray, shape (s,), uint8 codes in ``0..3``

    Returns
    -------
    numpy.ndarray, shape (s,), uint8 codes, never equal to ``ref``
    """
    ts = _TRANSITION[ref]
    # the transversions of b are its neighbours (b + 1) % 4 and (b + 3) % 4 (ACGT order)
    step = np.where(rng.random(ref.shape[0]) < 0.5, 1, 3).astype(np.uint8)
    tv = ((ref + step) % 4).astype(np.uint8)
    return np.where(rng.random(ref.shape[0]) < _TS_FRACTION, ts, tv).astype(np.uint8)


def left_align_indel(
    ref: np.ndarray, anchor: int, inserted: np.ndarray | None, deleted_bp: int
) -> tuple[int, np.ndarray]:
    """Left-align an insertion or deletion (the VCF normal form of Tan et al., Bioinformatics 2015).

    Parameters
    ----------
    ref : numpy.ndarray, shape (L,), uint8 codes
        The contig.
    anchor : int
        0-based position of the base before the event (the VCF POS - 1).
    inserted : numpy.ndarray, shape (k,), uint8 codes, or None
        Bases inserted after ``anchor`` (an insertion), or None (a deletion).
    deleted_bp : int
        Bases deleted after ``anchor`` (a deletion; ignored for an insertion).

    Returns
    -------
    anchor : int
        The leftmost equivalent anchor (>= 0).
    inserted : numpy.ndarray
        The inserted bases at that anchor (rotated), or an empty array for a deletion.
    """
    if inserted is None:
        k = deleted_bp
        # deleting ref[a+1 : a+1+k] == deleting ref[a : a+k] iff ref[a] == ref[a+k]
        while anchor >= 1 and ref[anchor] == ref[anchor + k]:
            anchor -= 1
        return anchor, np.zeros(0, dtype=np.uint8)
    ins = inserted.copy()
    # inserting I after a == inserting ref[a] + I[:-1] after a - 1 iff I[-1] == ref[a]
    while anchor >= 1 and ins[-1] == ref[anchor]:
        ins = np.concatenate([ref[anchor : anchor + 1], ins[:-1]])
        anchor -= 1
    return anchor, ins


def _letters(codes: np.ndarray) -> str:
    return bytes(ALPHABET[int(c)] for c in codes).decode("ascii")


class VcfWriter:
    """Write a phased, bgzipped VCF block by block, then tabix-index it.

    Parameters
    ----------
    path : str or Path
        Output ``.vcf.gz``.
    contig : str
        The contig of the records written first.
    length : int
        Its length in bp (header ``##contig``).
    samples : list of str
        Sample IDs, in genotype column order.
    source : str
        ``##source`` header value.
    contigs : sequence of (str, int), optional
        Every contig and its length, in file order, for a VCF of several contigs (then
        ``contig`` and ``length`` must be its first); :meth:`set_contig` moves to the next.
    compresslevel : int, optional
        BGZF (zlib) level 1-9; ``None``: htslib's default. Level 1 compresses random-looking
        genotypes ~8x faster into ~1.6x larger files (the many-contig simulator uses it).
    header : bool
        Write the header (``False``: records only, a part of a VCF that
        :func:`concatenate_bgzf` joins to a header written by another writer).
    """

    def __init__(
        self,
        path: str | Path,
        contig: str,
        length: int,
        samples: list[str],
        source: str,
        contigs: list[tuple[str, int]] | None = None,
        compresslevel: int | None = None,
        header: bool = True,
    ):
        self.path = Path(path)
        self.contig = contig
        self.contigs = [(contig, length)] if contigs is None else [(c, n) for c, n in contigs]
        if self.contigs[0] != (contig, length):
            raise ValueError(f"contigs must start with ({contig!r}, {length}), got {contigs[0]}")
        self.n_samples = len(samples)
        mode = "wb" if compresslevel is None else f"wb{compresslevel}"
        self._fh = pysam.BGZFile(str(self.path), mode)
        lines = [
            "##fileformat=VCFv4.2",
            f"##source={source}",
            "##reference=reference.fa",
            *(f"##contig=<ID={c},length={n}>" for c, n in self.contigs),
            '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes">',
            '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called '
            'genotypes">',
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
            "\t".join(
                ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"] + samples
            ),
        ]
        if header:
            self._fh.write(("\n".join(lines) + "\n").encode())
        self.n_records = 0

    def set_contig(self, contig: str) -> None:
        """Write the next records on ``contig`` (one of the header's, after the current one)."""
        names = [c for c, _ in self.contigs]
        if contig not in names or names.index(contig) < names.index(self.contig):
            raise ValueError(f"contig {contig!r} is not after {self.contig!r} in {names}")
        self.contig = contig

    def write(
        self,
        pos0: np.ndarray,
        refs: list[str],
        alts: list[str],
        gt: np.ndarray,
        ids: list[str] | None = None,
    ) -> list[str]:
        """Append records (sorted, after every record written before).

        Parameters
        ----------
        pos0 : numpy.ndarray, shape (v,), int64
            0-based positions (POS - 1).
        refs, alts : list of str
            Alleles.
        gt : numpy.ndarray, shape (v, 2 * n_samples), uint8
            ALT carried by haplotype ``2i`` (first) and ``2i + 1`` (second) of sample ``i``.
        ids : list of str, optional
            The records' IDs; ``None``: ``<contig>_<POS>_<REF>_<ALT>`` of the alleles written
            (a cohort whose records are coded otherwise keeps the IDs of the true alleles).

        Returns
        -------
        list of str
            The record IDs.
        """
        n_var = pos0.shape[0]
        cells = np.empty((n_var, self.n_samples, 4), dtype=np.uint8)
        pairs = gt.reshape(n_var, self.n_samples, 2)
        cells[..., 0] = ord("0") + pairs[..., 0]
        cells[..., 1] = ord("|")
        cells[..., 2] = ord("0") + pairs[..., 1]
        cells[..., 3] = ord("\t")
        cells[:, -1, 3] = ord("\n")
        rows = cells.reshape(n_var, self.n_samples * 4)
        ac = gt.sum(axis=1).tolist()
        an = 2 * self.n_samples
        given = ids
        ids = []
        chunks = []
        for i, (p, r, a) in enumerate(zip((pos0 + 1).tolist(), refs, alts, strict=True)):
            vid = f"{self.contig}_{p}_{r}_{a}" if given is None else given[i]
            ids.append(vid)
            chunks.append(f"{self.contig}\t{p}\t{vid}\t{r}\t{a}\t.\tPASS\tAC={ac[i]};AN={an}\tGT\t")
            chunks.append(rows[i].tobytes().decode("ascii"))
        self._fh.write("".join(chunks).encode())
        self.n_records += n_var
        return ids

    def close(self, index: bool = True) -> None:
        """Finish the BGZF stream and (unless ``index`` is false) write the ``.tbi`` index."""
        self._fh.close()
        if index:
            pysam.tabix_index(str(self.path), preset="vcf", force=True)


#: The empty BGZF block that ends every BGZF file (SAM/BAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def concatenate_bgzf(parts: list[Path], out: Path, chunk: int = 1 << 24) -> None:
    """Join BGZF files into one: their members in order, one end-of-file block at the end.

    BGZF is a series of gzip members, so the join decompresses to the parts' texts joined;
    each part's trailing EOF block (:data:`BGZF_EOF`) is dropped and one is written last.
    Streams ``chunk`` bytes at a time.

    Parameters
    ----------
    parts : list of Path
        BGZF files (e.g. a VCF header, then each contig's records), each ending in the EOF
        block, as htslib and pysam write them.
    out : Path
        The joined file.

    Raises
    ------
    ValueError
        If a part does not end with the EOF block (truncated or not BGZF).
    """
    with open(out, "wb") as dst:
        for part in parts:
            size = Path(part).stat().st_size
            with open(part, "rb") as src:
                src.seek(max(size - len(BGZF_EOF), 0))
                if src.read() != BGZF_EOF:
                    raise ValueError(f"{part}: not a complete BGZF file (no EOF block at its end)")
                src.seek(0)
                left = size - len(BGZF_EOF)
                while left > 0:
                    block = src.read(min(chunk, left))
                    dst.write(block)
                    left -= len(block)
        dst.write(BGZF_EOF)
