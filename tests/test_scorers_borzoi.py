"""The Borzoi / Flashzoi scorer (borzoi-pytorch 0.5.1) on real Geuvadis haplotypes.

Tiny models are built through borzoi-pytorch's own ``Borzoi``/``BorzoiConfig`` classes. Only
the transformer width/depth and the crop are configurable there (the convolution tower and the
7,611-track head are fixed), so each model still has 33.6 M parameters (134 MB saved); the
window is shortened to 4,096 bp (128 bins of 32 bp, 96 kept by the crop: oriented window
indices 512-3,583), the smallest the 128-bp trunk stride allows comfortably. Models are saved
with ``save_pretrained`` (and as a state-dict file) and reloaded through the scorer's loading
code, offline. Oracles: full ``Borzoi.forward`` outputs read bin by bin at bins found by brute
force over every base, borzoi-pytorch's ``TargetLengthCrop`` and ``undo_squashed_scale``, the
reverse complement of the FASTA window, and ``zcat | awk`` over the GTF.
"""

from __future__ import annotations

import gzip
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import GEUVADIS

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import one_hot, reverse_complement_codes
from ps2f.models.scorers import HaplotypeBatch, build_scorer, check_scorer_configs

torch = pytest.importorskip("torch")
borzoi_pytorch = pytest.importorskip("borzoi_pytorch")

from borzoi_pytorch import Borzoi  # noqa: E402
from borzoi_pytorch.config_borzoi import BorzoiConfig  # noqa: E402
from borzoi_pytorch.pytorch_borzoi_utils import (  # noqa: E402
    TargetLengthCrop,
    undo_squashed_scale,
)

from ps2f.genome.windows import oriented_intervals  # noqa: E402
from ps2f.io.gtf import gene_key, read_gene_exons  # noqa: E402
from ps2f.models.scorers import borzoi as bz  # noqa: E402

L = 4096
CROP = 96  # bins_to_return: (128 - 96) / 2 = 16 bins cropped per side -> offset 512 bp
HPARAMS = dict(dim=32, depth=1, heads=2, attn_dim_key=8, attn_dim_value=16, bins_to_return=CROP)
VCF = GEUVADIS / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
FASTA = GEUVADIS / "reference/GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz"
TSS = GEUVADIS / "annotation/gencode.v19.chr22.gene_tss.tsv"
GTF = GEUVADIS / "annotation/gencode.v19.annotation.chr22.gtf.gz"
N_SAMPLES = 4
RNA_GM12878 = [6112, 6114, 6116, 6118, 6120, 6121, 6204, 6340, 6434, 6514, 6668, 7306, 7334, 7394]


def _tiny(seed: int) -> Borzoi:
    torch.manual_seed(seed)
    return Borzoi(BorzoiConfig(**HPARAMS)).eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Two tiny replicates saved by save_pretrained, and replicate 0 as a state-dict file."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("borzoi")
    out = {}
    for seed in (0, 1):
        d = root / f"rep{seed}"
        _tiny(seed).save_pretrained(str(d))
        out[f"rep{seed}"] = str(d)
    sd = {k: v.contiguous() for k, v in _tiny(0).state_dict().items()}
    save_file(sd, str(root / "rep0.safetensors"))
    out["file"] = str(root / "rep0.safetensors")
    return out


def _spec(w, **kw):
    spec = {"name": "bz", "type": "borzoi", "weights": w, "window_bp": L, "gtf": str(GTF)}
    spec.update(kw)
    return spec


@pytest.fixture(scope="module")
def real():
    """One plus- and one minus-strand expressed chr22 gene with variants near the TSS."""
    import cyvcf2

    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.io.fasta import Reference
    from ps2f.io.tables import read_tss_table
    from ps2f.io.vcf import ingest_vcf

    if not VCF.exists():
        pytest.skip(f"{GEUVADIS} not found")
    tss = read_tss_table(TSS, "tss_pm50kb_inside_contiguous_sequence")
    expressed = pd.read_csv(TSS, sep="\t")["in_qtltools_expression"].to_numpy()
    cand = tss.loc[tss["usable"].to_numpy() & expressed].head(30).reset_index(drop=True)
    ref = Reference(FASTA)
    samples = cyvcf2.VCF(str(VCF)).samples[:N_SAMPLES]
    windows = [(int(t) - L, int(t) + L) for t in cand["tss0"]]
    store = ingest_vcf(VCF, ref, "chr22", windows, samples=samples)
    exons = read_gene_exons(GTF, cand["gene_id"])
    rows = []
    for strand in ("+", "-"):
        for _, g in cand.loc[cand["strand"] == strand].iterrows():
            rec = exons.get(gene_key(g["gene_id"]))
            if rec is None:
                continue
            a, b = oriented_intervals(int(g["tss0"]), strand, L, rec.starts, rec.ends)
            n_exons_out = int(((a < 512 + CROP * 32) & (b > 512)).sum())
            near = (np.abs(store.pos - g["tss0"]) < 1500).sum()
            if near and n_exons_out >= 2:
                rows.append(g)
                break
    genes = pd.DataFrame(rows).reset_index(drop=True)
    assert list(genes["strand"]) == ["+", "-"]
    builder = HaplotypeBuilder(ref, {"chr22": store}, genes, samples, L)
    return {"genes": genes, "samples": samples, "builder": builder, "ref": ref, "exons": exons}


def _batch(real, g, codes=None):
    n = len(real["samples"])
    genes = real["genes"]
    if codes is None:
        codes = real["builder"].haplotypes(np.full(n, g), np.arange(n))
    return HaplotypeBatch(
        np.full(len(codes), genes["gene_id"].iloc[g]),
        np.asarray(real["samples"])[: len(codes)],
        np.full(len(codes), genes["strand"].iloc[g]),
        codes,
        np.full(len(codes), int(genes["tss0"].iloc[g])),
    )


def _hand_bins(tss0, strand, starts, ends, offset, n_bins):
    """Output bins overlapping an exon, by brute force over every base of every bin."""
    exonic = set()
    for s, e in zip(starts, ends, strict=True):
        exonic.update(range(int(s), int(e)))
    out = []
    for b in range(n_bins):
        idx = np.arange(offset + 32 * b, offset + 32 * b + 32)
        pos = tss0 - L // 2 + idx if strand == "+" else tss0 + L // 2 - idx
        if any(int(p) in exonic for p in pos):
            out.append(b)
    return np.array(out, dtype=np.int64)


_MODELS: dict[int, Borzoi] = {}
_FORWARD: dict[tuple[int, bytes], torch.Tensor] = {}


def _forward(seed: int, code: np.ndarray) -> torch.Tensor:
    """``Borzoi.forward`` of the tiny replicate ``seed`` on one sequence, (7611, 96), cached."""
    key = (seed, np.ascontiguousarray(code).tobytes())
    if key not in _FORWARD:
        if seed not in _MODELS:
            _MODELS[seed] = _tiny(seed)
        with torch.no_grad():
            _FORWARD[key] = _MODELS[seed](one_hot(torch.from_numpy(code[None])))[0]
    return _FORWARD[key]


def _hand_scores(seeds, codes, tracks, bins, params=None, log1p=False, agg="sum"):
    """Full forward passes of every replicate, read at bins/tracks, then the readout."""
    codes, inverse = np.unique(codes, axis=0, return_inverse=True)
    with torch.no_grad():
        y = torch.stack(
            [torch.stack([_forward(s, c)[tracks][:, bins] for c in codes]) for s in seeds]
        )
        y = y.mean(0).double()
    if params is not None:
        y = torch.stack(
            [
                undo_squashed_scale(
                    y[:, t], clip_soft=params[0][t], track_transform=params[2][t],
                    track_scale=params[1][t],
                )
                for t in range(len(tracks))
            ],
            dim=1,
        )
    y = y.sum(2) if agg == "sum" else y.mean(2)
    if log1p:
        y = torch.log1p(y)
    return y.mean(1).numpy()[inverse.reshape(-1)]


# ----------------------------------------------------------------------------------------------
# geometry, orientation, exons (no model)


@pytest.mark.parametrize(
    "window,target", [(524_288, 6144), (L, CROP), (L, 64), (L, 127), (L, 128), (L, -1)]
)
def test_output_geometry_is_borzoi_pytorchs_crop(window, target):
    n = window // 32
    kept = TargetLengthCrop(target)(torch.arange(n)[None, :, None])[0, :, 0]
    offset, n_bins = bz.output_geometry(window, target)
    assert n_bins == len(kept) and offset == 32 * int(kept[0])
    assert 2 * offset + 32 * n_bins == window  # centred: reverse complement mirrors the bins
    if window == 524_288:  # the published models: centre 196,608 bp, TSS at bin 3072
        assert (offset, n_bins) == (163_840, 6144)
        assert (window // 2 - offset) // 32 == 3072


def test_published_architecture_returns_6144_bins_for_524288_bp():
    """The default BorzoiConfig on the meta device (shapes only, no compute or memory)."""
    with torch.device("meta"):
        model = Borzoi(BorzoiConfig()).eval()
        with torch.no_grad():
            y = model(torch.empty(1, 4, bz.SEQUENCE_LENGTH))
    assert tuple(y.shape) == (1, 7611, 6144)
    assert bz.output_geometry(bz.SEQUENCE_LENGTH, model.crop.target_length) == (163_840, 6144)


def test_output_geometry_rejects_bad_windows():
    with pytest.raises(ConfigError, match="multiple of Borzoi's stride 128"):
        bz.output_geometry(4000, 64)
    with pytest.raises(ConfigError, match="fewer than the model's 6144 output bins"):
        bz.output_geometry(L, 6144)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_oriented_intervals_match_the_window_base_by_base(strand):
    rng = np.random.default_rng(1)
    tss0 = 10_000
    starts = rng.integers(tss0 - 3000, tss0 + 3000, 20)
    ends = starts + rng.integers(1, 400, 20)
    a, b = oriented_intervals(tss0, strand, L, starts, ends)
    for s, e, x, y in zip(starts, ends, a, b, strict=True):
        idx = np.arange(x, y)
        pos = tss0 - L // 2 + idx if strand == "+" else tss0 + L // 2 - idx
        assert sorted(pos.tolist()) == list(range(s, e))
    # the TSS base is index L // 2 on both strands
    a, b = oriented_intervals(tss0, strand, L, np.array([tss0]), np.array([tss0 + 1]))
    assert (a[0], b[0]) == (L // 2, L // 2 + 1)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_exon_bins_against_brute_force(strand):
    rng = np.random.default_rng(2)
    tss0 = 50_000
    offset, n_bins = bz.output_geometry(L, CROP)
    for _ in range(20):
        k = int(rng.integers(1, 6))
        starts = np.sort(rng.integers(tss0 - 2500, tss0 + 2500, k))
        ends = starts + rng.integers(1, 300, k)
        bins, inside = bz.exon_bins(tss0, strand, L, starts, ends, offset, n_bins)
        assert bins.tolist() == _hand_bins(tss0, strand, starts, ends, offset, n_bins).tolist()
        assert 0.0 <= inside <= 1.0


def test_unsquash_is_borzoi_pytorchs_undo_squashed_scale():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.uniform(0, 9, (2, 3, 50)))  # scale 0.01: some values pass the clip
    clip = torch.tensor([384.0, 384.0, 32.0], dtype=torch.float64)
    scale = torch.tensor([0.01, 0.3, 2.0], dtype=torch.float64)
    tr = torch.tensor([0.75, 1.0, 0.75], dtype=torch.float64)
    got = bz.unsquash(x, clip, scale, tr)
    for t in range(3):
        want = undo_squashed_scale(
            x[:, t], clip_soft=float(clip[t]), track_transform=float(tr[t]),
            track_scale=float(scale[t]),
        )
        torch.testing.assert_close(got[:, t], want)
    assert (x[:, 0] / 0.01 > 384).any()  # the soft-clip branch was exercised


# ----------------------------------------------------------------------------------------------
# GTF exons


@pytest.mark.shared
def test_gtf_exons_match_awk():
    exons = read_gene_exons(GTF)
    gene = "ENSG00000128191"  # DGCR8
    rec = exons[gene]
    awk = subprocess.run(
        f"zcat {GTF} | awk -F'\\t' '$3==\"exon\" && $9 ~ /gene_id \"{gene}\\./ "
        f"{{print $4-1\"\\t\"$5\"\\t\"$7}}' | sort -u",
        shell=True, capture_output=True, text=True, check=True,
    ).stdout.split("\n")
    want = sorted(tuple(line.split("\t")) for line in awk if line)
    got = sorted((str(s), str(e), rec.strand) for s, e in zip(rec.starts, rec.ends, strict=True))
    assert got == want and len(got) > 10
    assert read_gene_exons(GTF, ["ENSG00000128191.99"]).keys() == {gene}  # version ignored


def test_gtf_bad_records_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.gtf"
    bad.write_text('chr1\tx\texon\t10\t20\t.\t+\t.\tgene_id "G.1";\nchr1\tx\texon\t30\n')
    with pytest.raises(InputError, match=r"bad.gtf:2: 4 tab-separated columns"):
        read_gene_exons(bad)
    bad.write_text('chr1\tx\texon\t30\t20\t.\t+\t.\tgene_id "G.1";\n')
    with pytest.raises(InputError, match=r"bad.gtf:1: exon 30..20 is empty or inverted"):
        read_gene_exons(bad)
    bad.write_text('chr1\tx\texon\t10\t20\t.\t+\t.\ttranscript_id "T";\n')
    with pytest.raises(InputError, match="without a gene_id"):
        read_gene_exons(bad)
    with pytest.raises(InputError, match="not found"):
        read_gene_exons(tmp_path / "missing.gtf")
    ok = tmp_path / "ok.gtf.gz"
    with gzip.open(ok, "wt") as fh:
        fh.write("#!genome-build x\n")
        fh.write('chr1\tx\tgene\t10\t90\t.\t-\t.\tgene_id "G.1";\n')
        for s, e in ((10, 20), (50, 90), (10, 20)):  # a shared exon appears once
            fh.write(f'chr1\tx\texon\t{s}\t{e}\t.\t-\t.\tgene_id "G.1"; transcript_id "T";\n')
    rec = read_gene_exons(ok)["G"]
    assert (rec.strand, rec.starts.tolist(), rec.ends.tolist()) == ("-", [9, 49], [20, 90])
    assert rec.other_loci == ()
    # a pseudoautosomal gene (one ID on chrX and chrY, GENCODE <= v19): both loci are reported
    par = tmp_path / "par.gtf"
    par.write_text(
        'chrX\tx\texon\t100\t200\t.\t+\t.\tgene_id "P.1";\n'
        'chrY\tx\texon\t50\t150\t.\t+\t.\tgene_id "P.1";\n'
    )
    rec = read_gene_exons(par)["P"]
    assert (rec.chrom, rec.starts.tolist(), rec.other_loci) == ("chrX", [99], ("chrY+",))


# ----------------------------------------------------------------------------------------------
# tracks


def test_tracks_by_index_identifier_and_description():
    table = bz.read_targets(bz.bundled_targets())
    assert len(table) == 7611
    assert bz.resolve_tracks(["RNA:GM12878"], table) == RNA_GM12878  # sense + unstranded only
    assert bz.resolve_tracks(["rna:gm12878"], table) == RNA_GM12878  # case-insensitive fallback
    assert bz.resolve_tracks(["CNhs12332+", 870, "6113"], table) == [870, 6113]
    cage = "CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_"
    assert bz.resolve_tracks([cage], table) == [870]  # 871 is its '-' twin
    with pytest.raises(ConfigError, match=r"no track identified or described 'RNA:GM1287'.*RNA:GM12878"):
        bz.resolve_tracks(["RNA:GM1287"], table)
    with pytest.raises(ConfigError, match="needs a targets table"):
        bz.resolve_tracks(["RNA:GM12878"], None)
    with pytest.raises(ConfigError, match="negative"):
        bz.resolve_tracks([-1], table)


def test_local_targets_table(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text(
        "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"
        "0\tA+\tf\t768\t384\t0.3\tsum_sqrt\t1\tRNA:x\n"
        "1\tA-\tf\t768\t384\t0.3\tsum_sqrt\t0\tRNA:x\n"
        "2\tB\tf\t32\t32\t2.0\tmean\t2\tDNASE:x\n"
        "3\tC-\tf\t32\t32\t2.0\tmean\t3\tonly antisense\n"
    )
    table = bz.read_targets(path)
    assert bz.resolve_tracks(["RNA:x", "DNASE:x"], table) == [0, 2]
    assert bz._strand_pairs(table, [0, 1, 2], "t") == [1, 0, 2]
    with pytest.raises(ConfigError, match="antisense"):
        bz.resolve_tracks(["only antisense"], table)
    params = bz._unsquash_params(table, [0, 2], "t")
    assert [p.tolist() for p in params] == [[384, 32], [0.3, 2.0], [0.75, 1.0]]
    path.write_text("identifier\tdescription\nA\tx\n")
    with pytest.raises(ConfigError, match=r"unsquash needs the targets table's \['clip_soft'"):
        bz._unsquash_params(bz.read_targets(path), [0], "t")
    with pytest.raises(ConfigError, match="average_strands needs the targets table's strand_pair"):
        bz._strand_pairs(bz.read_targets(path), [0], "t")
    path.write_text("name\tdesc\nA\tx\n")
    with pytest.raises(ConfigError, match=r"no \['identifier', 'description'\] column"):
        bz.read_targets(path)


# ----------------------------------------------------------------------------------------------
# scoring real haplotypes


@pytest.mark.shared
@pytest.mark.parametrize("g", [0, 1], ids=["plus", "minus"])
def test_exon_readout_of_real_haplotypes_matches_a_hand_computation(real, weights, g):
    """Replicates through the real loading code (both for the plus gene); the exon readout
    (unsquash, sum, log1p, mean over the 14 RNA:GM12878 tracks) equals full forward passes read
    by hand."""
    seeds = [0, 1] if g == 0 else [0]
    spec = _spec([weights[f"rep{s}"] for s in seeds])
    scorer = build_scorer(spec)
    batch = _batch(real, g)
    got = scorer.score_haplotypes(batch)
    gene = real["genes"].iloc[g]
    rec = real["exons"][gene_key(gene["gene_id"])]
    offset, n_bins = bz.output_geometry(L, CROP)
    bins = _hand_bins(int(gene["tss0"]), gene["strand"], rec.starts, rec.ends, offset, n_bins)
    assert len(bins) >= 2 and bins.tolist() == scorer.bins_for(
        gene["gene_id"], gene["strand"], int(gene["tss0"])
    ).tolist()
    table = bz.read_targets(bz.bundled_targets())
    params = bz._unsquash_params(table, RNA_GM12878, "t")
    codes = batch.codes.reshape(-1, L)
    want = _hand_scores(seeds, codes, RNA_GM12878, bins, params, log1p=True)
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-5)
    assert len(np.unique(np.round(got, 8))) > 1  # the haplotypes differ
    n_distinct = len(np.unique(codes, axis=0))
    assert (scorer.n_windows, scorer.n_distinct) == (len(codes), n_distinct)  # each once


@pytest.mark.shared
def test_minus_strand_input_is_the_reverse_complement_and_exons_are_mirrored(real, weights):
    """The minus gene's reference window is the reverse complement of the FASTA's forward
    window; scoring the forward window as if it were a plus-strand gene reads mirrored exon
    bins, which gives a different score than the gene-oriented scoring."""
    gene = real["genes"].iloc[1]
    tss0 = int(gene["tss0"])
    start = tss0 - L + L // 2 + 1
    forward = real["ref"].fetch_codes("chr22", start, start + L)
    oriented = real["builder"].reference(np.array([1]))[0]
    assert np.array_equal(oriented, reverse_complement_codes(forward))
    scorer = build_scorer(_spec(weights["rep0"], unsquash=False, log1p=False))
    got = scorer.score_haplotypes(_batch(real, 1, np.stack([oriented, oriented])[None]))[0, 0]
    rec = real["exons"][gene_key(gene["gene_id"])]
    offset, n_bins = bz.output_geometry(L, CROP)
    bins = _hand_bins(tss0, "-", rec.starts, rec.ends, offset, n_bins)
    # hand: the model on the reverse complement of the FASTA window, bins found base by base
    x = reverse_complement_codes(forward)[None]
    want = _hand_scores([0], x, RNA_GM12878, bins)[0]
    assert got == pytest.approx(want, rel=1e-5)
    # reading the forward-strand window with unmirrored (plus-strand) exon bins is different
    wrong = _hand_scores(
        [0], forward[None], RNA_GM12878,
        _hand_bins(tss0 + 1, "+", rec.starts, rec.ends, offset, n_bins),
    )[0]
    assert abs(wrong - got) > 1e-6


@pytest.mark.shared
def test_replicates_are_averaged(real, weights):
    codes = _batch(real, 0).codes[:2]
    batch = _batch(real, 0, codes)
    both = build_scorer(_spec([weights["rep0"], weights["rep1"]], unsquash=False, log1p=False))
    bins = both.bins_for(batch.genes[0], batch.strands[0], int(batch.tss0[0]))
    s0, s1 = (_hand_scores([s], codes.reshape(-1, L), RNA_GM12878, bins) for s in (0, 1))
    got = both.score_haplotypes(batch).reshape(-1)
    np.testing.assert_allclose(got, (s0 + s1) / 2, rtol=1e-5)
    assert not np.allclose(s0, s1)
    # with unsquash, the replicates' coverage is averaged before the readout
    flat = codes.reshape(-1, L)[:1]
    c0 = torch.stack([_forward(0, c)[RNA_GM12878][:, bins] for c in flat])
    c1 = torch.stack([_forward(1, c)[RNA_GM12878][:, bins] for c in flat])
    torch.testing.assert_close(both.coverage(flat, bins), (c0 + c1) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.shared
def test_average_strands_reads_the_paired_tracks_of_the_reverse_complement(real, weights):
    """On the reverse complement the gene lies on the '-' strand: each track's strand_pair is
    read at the mirrored bins (95 - b), and the two views are averaged."""
    batch = _batch(real, 0, _batch(real, 0).codes[:1])
    scorer = build_scorer(_spec(weights["rep0"], average_strands=True, unsquash=False, log1p=False))
    assert "average_strands=True" in scorer.describe()
    got = scorer.score_haplotypes(batch).reshape(-1)
    bins = scorer.bins_for(batch.genes[0], batch.strands[0], int(batch.tss0[0]))
    table = bz.read_targets(bz.bundled_targets()).set_index("index")
    pairs = table.loc[RNA_GM12878, "strand_pair"].tolist()
    assert pairs[:2] == [6113, 6115] and pairs[4] == 6120  # stranded twins; unstranded itself
    want = []
    for code in batch.codes.reshape(-1, L):
        fwd = _forward(0, code)[RNA_GM12878][:, bins]
        rev = _forward(0, reverse_complement_codes(code))[pairs][:, CROP - 1 - bins]
        want.append(float(((fwd + rev) / 2).double().sum(1).mean()))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    alone = _hand_scores([0], batch.codes.reshape(-1, L), RNA_GM12878, bins)
    assert np.abs(got - alone).max() > 1e-5  # the reverse complement changes the score


@pytest.mark.shared
def test_tss_readout_and_state_dict_file(real, weights):
    """TSS bins (centred on the TSS bin, 48 of 96) of CAGE GM12878 (track 870); a state-dict
    file with hparams loads the same model as its directory."""
    batch = _batch(real, 1)
    spec = _spec(
        weights["file"], hparams=HPARAMS, readout="tss", tracks=[870], n_tss_bins=5,
        unsquash=False, log1p=False, gtf=None,
    )
    scorer = build_scorer(spec)
    assert scorer.tss_bins.tolist() == [46, 47, 48, 49, 50]
    assert (L // 2 - 512) // 32 == 48
    got = scorer.score_haplotypes(batch)
    want = _hand_scores([0], batch.codes.reshape(-1, L), [870], np.arange(46, 51))
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-5)
    few = _batch(real, 1, batch.codes[:1])
    same = build_scorer({**spec, "weights": weights["rep0"]}).score_haplotypes(few)
    np.testing.assert_allclose(same, got[:1], rtol=1e-6)
    mean = build_scorer({**spec, "bin_aggregate": "mean"}).score_haplotypes(few)
    np.testing.assert_allclose(mean, got[:1] / 5, rtol=1e-6)


@pytest.mark.shared
def test_score_genes_hands_the_tss_to_the_exon_readout(real, weights):
    from ps2f.pipeline.score import score_genes

    scorer = build_scorer(_spec(weights["rep0"]))
    genes = real["genes"].rename(columns={"gene_id": "gene"})
    out = score_genes(scorer, genes, real["samples"], real["builder"])
    table = bz.read_targets(bz.bundled_targets())
    params = bz._unsquash_params(table, RNA_GM12878, "t")
    for g in (0, 1):
        batch = _batch(real, g)
        bins = scorer.bins_for(batch.genes[0], batch.strands[0], int(batch.tss0[0]))
        want = _hand_scores([0], batch.codes.reshape(-1, L), RNA_GM12878, bins, params, True)
        np.testing.assert_allclose(out[g].reshape(-1), want, rtol=1e-5)
    with pytest.raises(ValueError, match=r"needs each gene's TSS \(HaplotypeBatch.tss0\)"):
        score_genes(scorer, genes.drop(columns="tss0"), real["samples"], real["builder"])


@pytest.mark.shared
def test_gene_absent_from_the_gtf_is_a_clear_error(real, weights, tmp_path):
    gtf = tmp_path / "other.gtf"
    gtf.write_text('chr22\tx\texon\t10\t20\t.\t+\t.\tgene_id "ENSG00000000001.1";\n')
    scorer = build_scorer(_spec(weights["rep0"], gtf=str(gtf)))
    batch = _batch(real, 0)
    with pytest.raises(InputError, match=r"gene ENSG\d+\.\d+ has no exon records in the GTF .*other.gtf.*readout: tss"):
        scorer.score_haplotypes(batch)
    gene = real["genes"]["gene_id"].iloc[0]
    gtf.write_text(f'chr22\tx\texon\t10\t20\t.\t+\t.\tgene_id "{gene}";\n')
    scorer = build_scorer(_spec(weights["rep0"], gtf=str(gtf)))
    with pytest.raises(InputError, match="none of the 1 exons .* overlaps the model's output"):
        scorer.score_haplotypes(batch)
    with open(gtf, "a") as fh:
        fh.write(f'chrY\tx\texon\t10\t20\t.\t+\t.\tgene_id "{gene}";\n')
    scorer = build_scorer(_spec(weights["rep0"], gtf=str(gtf)))
    with pytest.raises(InputError, match=r"exons on chr22\+ and chrY\+ .*readout: tss"):
        scorer.score_haplotypes(batch)
    gtf.write_text(f'chr22\tx\texon\t10\t20\t.\t-\t.\tgene_id "{gene}";\n')
    scorer = build_scorer(_spec(weights["rep0"], gtf=str(gtf)))
    with pytest.raises(InputError, match=r"on the \+ strand in the genes table but on -"):
        scorer.score_haplotypes(batch)


# ----------------------------------------------------------------------------------------------
# configuration


def test_config_checks_name_the_key_and_the_fix(weights, tmp_path):
    ok = check_scorer_configs([_spec([weights["rep0"], weights["rep1"]])])
    assert ok["bz"]["readout"] == "exons" and ok["bz"]["tracks"] == ["RNA:GM12878"]
    cases = [
        (dict(weights=[str(tmp_path / "nope")]), r"weights\[0\]: .*nope' does not exist.*huggingface-cli"),
        (dict(flashzoi=True), r"weights\[0\]: .* holds a Borzoi model .*set flashzoi to match"),
        (dict(window_bp=4000), "multiple of Borzoi's stride 128"),
        (dict(window_bp=2048), "fewer than the model's 96 output bins"),
        (dict(gtf=None), "readout exons needs gtf"),
        (dict(gtf=str(tmp_path / "x.gtf")), r"\.gtf: .*x.gtf' not found"),
        (dict(readout="gene"), "readout must be one of"),
        (dict(tracks=["RNA:nowhere"]), "no track identified or described 'RNA:nowhere'"),
        (dict(tracks=[7611]), "human head has 7611 tracks"),
        (dict(n_tss_bins=97), r"n_tss_bins 97: must be in \[1, 96\]"),
        (dict(targets=str(tmp_path / "t.txt")), "targets table .*t.txt' not found"),
        (dict(device="tpu"), "device must be one of"),
    ]
    for kw, msg in cases:
        with pytest.raises(ConfigError, match=msg):
            check_scorer_configs([_spec(weights["rep0"], **kw)])
    cfg = tmp_path / "flash"
    cfg.mkdir()
    (cfg / "config.json").write_text('{"model_type": "borzoi", "flashed": true}')
    full = dict(window_bp=bz.SEQUENCE_LENGTH)  # its config.json keeps the published crop
    with pytest.raises(ConfigError, match="holds a Flashzoi model .* flashzoi is False"):
        check_scorer_configs([_spec(str(cfg), **full)])
    with pytest.raises(ConfigError, match="bf16 only"):
        check_scorer_configs([_spec(str(cfg), flashzoi=True, precision="fp32", **full)])
    assert check_scorer_configs([_spec(str(cfg), flashzoi=True, **full)])["bz"]["flashzoi"]


def test_loading_refuses_weights_that_do_not_fit(weights, tmp_path):
    from safetensors.torch import save_file

    other = {k: v.contiguous() for k, v in _tiny(0).state_dict().items() if "transformer" not in k}
    save_file(other, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ConfigError, match="do not fit the architecture.*missing_keys"):
        bz.load_borzoi(tmp_path / "partial.safetensors", hparams=HPARAMS)
    with pytest.raises(ConfigError, match="do not fit the architecture"):
        bz.load_borzoi(weights["file"], hparams={**HPARAMS, "dim": 64})
    empty = tmp_path / "dir"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "borzoi"}')
    with pytest.raises(ConfigError, match="has config.json but no weights"):
        bz.load_borzoi(empty)


def test_flashzoi_without_flash_attn_is_a_clear_error(tmp_path):
    """borzoi-pytorch 0.5.1 has no CPU fallback for Flashzoi: its attention is flash-attn's."""
    import importlib.util

    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    d = tmp_path / "flash"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "borzoi", "flashed": true}')
    with pytest.raises(ConfigError, match="flashzoi: true needs flash-attn 2 .* no CPU fallback"):
        bz.load_borzoi(d, flashzoi=True)
    with pytest.raises(ModuleNotFoundError, match="flash_attn"):  # what the package itself does
        Borzoi(BorzoiConfig(**HPARAMS, flashed=True))


def test_longest_window_covers_borzoi():
    from ps2f.models.scorers import longest_window_bp

    assert longest_window_bp(4096, [{"name": "b", "type": "borzoi", "weights": "w"}]) == 524_288


@pytest.mark.gpu
@pytest.mark.shared
def test_bf16_on_cuda_close_to_fp32(real, weights):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    batch = _batch(real, 0)
    cpu = build_scorer(_spec(weights["rep0"], device="cpu")).score_haplotypes(batch)
    gpu = build_scorer(_spec(weights["rep0"], device="cuda")).score_haplotypes(batch)
    np.testing.assert_allclose(gpu, cpu, rtol=0.05)


def test_track_sets_equal_single_set_scorers(weights):
    """Two replicates, both strands, unsquash and log1p: each track set's column is exactly the
    score of a scorer of that set alone (the same trunk output, the set's own head rows and
    readout), and each replicate's trunk runs once per batch and strand for every set."""
    sets = {"A": RNA_GM12878[:3], "B": [870], "C": RNA_GM12878[4:6] + [870]}
    common = dict(readout="tss", average_strands=True, batch_size=2)
    w = [weights["rep0"], weights["rep1"]]
    multi = build_scorer(_spec(w, tracks=sets["A"], tissue_tracks={"B": sets["B"],
                               "C": sets["C"]}, **common))  # fmt: skip
    assert multi.track_sets == list(sets.values()) and "3 track sets" in multi.describe()
    calls = []
    for m in multi.models:
        m.get_embs_after_crop = _counted(m.get_embs_after_crop, calls)
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, size=(3, L), dtype=np.uint8)
    got = multi.score_sequences(codes)
    assert got.shape == (3, 3) and len(calls) == 2 * 2 * 2  # batches x replicates x strands
    for j, t in enumerate(sets):
        alone = build_scorer(_spec(w, tracks=sets[t], **common))
        np.testing.assert_array_equal(got[:, j], alone.score_sequences(codes))
    assert np.abs(got[:, 0] - got[:, 1]).max() > 1e-6
    batch = HaplotypeBatch(np.full(3, "g"), np.array(["a", "b", "c"]), np.full(3, "+"),
                           np.stack([codes, codes[::-1]], axis=1), np.full(3, 10_000))  # fmt: skip
    haps = multi.score_haplotypes(batch)
    assert haps.shape == (3, 2, 3)
    np.testing.assert_array_equal(haps[:, 0], got)  # distinct sequences: the same 3 windows
    np.testing.assert_array_equal(haps[:, 1], got[::-1])


def _counted(fn, calls):
    def wrapped(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    return wrapped


def test_tissue_tracks_are_checked_as_tracks(weights):
    spec = _spec(weights["rep0"], readout="tss")
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.B \[9000\]: Borzoi's "
                       r"human head has 7611 tracks"):  # fmt: skip
        check_scorer_configs([{**spec, "tissue_tracks": {"B": [9000]}}], tissues=["B"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.B: no track"):
        check_scorer_configs([{**spec, "tissue_tracks": {"B": ["RNA:nowhere"]}}], tissues=["B"])
