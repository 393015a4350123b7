"""Enformer, the r-model and AlphaGenome behind the scorer interface, on real Geuvadis haplotypes.

Enformer: a tiny randomly initialised model (``Enformer.from_hparams``, 2,048-bp input) is
saved in the formats users provide (a Hugging Face-format directory, a state-dict file) and
loaded through the real loading code (offline). No real weights, no network, no GPU.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import GEUVADIS, REPO

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import one_hot, reverse_complement_codes
from ps2f.models.scorers import HaplotypeBatch, build_scorer

enformer_pytorch = pytest.importorskip("enformer_pytorch")
torch = pytest.importorskip("torch")

from ps2f.models.scorers import enformer as enf  # noqa: E402

L = 2048  # test window: 256 positions after the 8x downsampling, 16 output bins
HPARAMS = dict(
    dim=48,
    depth=1,
    heads=1,
    target_length=16,
    num_downsamples=3,
    dim_divisible_by=8,
    attn_dim_key=8,
)
VCF = GEUVADIS / "genotypes/qtltools_geuvadis_EUR358_1000G_phase3_MAF5_chr22.vcf.gz"
FASTA = GEUVADIS / "reference/GRCh37_chr22_Npadded_contiguous_17399941-22000000.fa.gz"
TSS = GEUVADIS / "annotation/gencode.v19.chr22.gene_tss.tsv"
N_SAMPLES = 8


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny Enformer saved as a Hugging Face directory and as a state-dict file."""
    torch.manual_seed(0)
    model = enformer_pytorch.Enformer.from_hparams(**HPARAMS)
    # enformer-pytorch zero-initialises each attention output projection; give it random
    # weights too, so that (as in trained Enformer) every position reaches the TSS bins
    for name, p in model.named_parameters():
        if name.endswith("to_out.weight"):
            torch.nn.init.normal_(p, std=0.5)
    root = tmp_path_factory.mktemp("enformer")
    model.save_pretrained(root / "hf", safe_serialization=False)
    torch.save(model.state_dict(), root / "tiny.pt")
    return {"hf": root / "hf", "pt": root / "tiny.pt", "model": model.eval()}


def _spec(weights, **kw):
    spec = {"name": "enformer", "type": "enformer", "weights": str(weights), "window_bp": L}
    spec.update(device="cpu", **kw)
    return spec


def _manual(model, codes, bins, tracks):
    """The published protocol written out: full forward, then the tracks' sum over the bins."""
    with torch.no_grad():
        x = one_hot(torch.from_numpy(codes)).transpose(1, 2)  # (N, L, 4)
        out = model(x, head="human")  # (N, 16, 5313)
    return out[:, bins][:, :, tracks].sum(dim=1).mean(dim=1).double().numpy()


# ----------------------------------------------------------------------------------------------
# without real data


def test_published_defaults():
    assert enf.centre_bins(896) == [447, 448, 449]
    assert enf.DEFAULTS["tracks"] == [5110] and enf.DEFAULTS["window_bp"] == 196_608
    assert enf.PUBLISHED_TRACKS == {
        "CAGE GM12878 (Huang 2023)": 5110,
        "CAGE brain (Sasse 2023)": 4980,
    }


def test_tracks_by_description_need_a_local_targets_file(tmp_path):
    assert enf.resolve_tracks([5110, "4980"]) == [5110, 4980]
    with pytest.raises(ConfigError, match="needs a local targets table"):
        enf.resolve_tracks(["CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_"])
    targets = tmp_path / "targets_human.txt"
    pd.DataFrame(
        {
            "index": [4980, 5110, 5111],
            "identifier": ["CNhs1", "CNhs2", "CNhs3"],
            "description": [
                "CAGE:brain, adult, pool1",
                "CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_",
                "CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_",
            ],
        }
    ).to_csv(targets, sep="\t", index=False)
    assert enf.resolve_tracks(["cage:brain, adult, pool1", 7], targets) == [4980, 7]
    with pytest.raises(ConfigError, match=r"2 tracks are described .* \[5110, 5111\]"):
        enf.resolve_tracks(["CAGE:B lymphoblastoid cell line: GM12878 ENCODE, biol_"], targets)
    with pytest.raises(
        ConfigError,
        match=r"no track described 'CAGE:brain adult'.*closest: \['CAGE:brain, adult, pool1'\]",
    ):
        enf.resolve_tracks(["CAGE:brain adult"], targets)
    with pytest.raises(ConfigError, match="none is shipped|ships none"):
        enf.resolve_tracks(["CAGE:brain"], tmp_path / "missing.txt")


def test_weights_errors_name_the_key_and_how_to_get_them(tmp_path, weights):
    with pytest.raises(
        ConfigError,
        match=r"scorers\[0\].weights: '.*nowhere' does not exist.*from_pretrained\('EleutherAI/enformer-official-rough'\)",
    ):
        build_scorer(_spec(tmp_path / "nowhere"), key="scorers[0]")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="directory without config.json"):
        build_scorer(_spec(tmp_path / "empty"))
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(
        ConfigError, match=r"weights: cannot read Enformer weights from .*broken.pt"
    ):
        enf.load_enformer(tmp_path / "broken.pt", key="weights")
    with pytest.raises(ConfigError, match="do not fit the architecture"):
        enf.load_enformer(weights["pt"], hparams={**HPARAMS, "dim": 96})
    with pytest.raises(ConfigError, match=r"tss_bins \[16\]: each must be in \[0, 16\)"):
        build_scorer(_spec(weights["hf"], tss_bins=[16]))
    with pytest.raises(ConfigError, match="must be a multiple of 8 giving at least 16"):
        build_scorer({**_spec(weights["hf"]), "window_bp": 100})


def test_layout_conversion_happens_at_the_adapter():
    x = one_hot(torch.from_numpy(np.array([[0, 1, 2, 3, 4]], np.uint8)))  # (1, 4, 5)
    y = enf.to_enformer_layout(x)
    assert tuple(y.shape) == (1, 5, 4)
    np.testing.assert_array_equal(y[0].numpy(), np.vstack([np.eye(4), np.zeros(4)]))
    with pytest.raises(ValueError, match=r"shape \(N, 4, L\)"):
        enf.to_enformer_layout(y)


# ----------------------------------------------------------------------------------------------
# real haplotypes


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Four expressed chr22 genes (2 per strand, no indel near the TSS), 8 samples, L = 2 kb."""
    import cyvcf2

    from ps2f.genome.haplotypes import HaplotypeBuilder
    from ps2f.io.fasta import Reference
    from ps2f.io.tables import read_tss_table
    from ps2f.io.vcf import ingest_vcf

    if not VCF.exists():
        pytest.skip(f"{GEUVADIS} not found")
    tss = read_tss_table(TSS, "tss_pm50kb_inside_contiguous_sequence")
    expressed = pd.read_csv(TSS, sep="\t")["in_qtltools_expression"].to_numpy()
    cand = tss.loc[tss["usable"].to_numpy() & expressed].head(24).reset_index(drop=True)
    ref = Reference(FASTA)
    samples = cyvcf2.VCF(str(VCF)).samples[:N_SAMPLES]
    flank = 10_000
    windows = [(int(t) - flank, int(t) + flank) for t in cand["tss0"]]
    store = ingest_vcf(VCF, ref, "chr22", windows, samples=samples)
    indel = store.pos[store.is_indel()]
    rows = []
    for strand in ("+", "-"):
        for _, g in cand.loc[cand["strand"] == strand].iterrows():
            near = (np.abs(store.pos - g["tss0"]) < L).sum()
            if near and not (np.abs(indel - g["tss0"]) < 2 * L).any():
                rows.append(g)
            if sum(r["strand"] == strand for r in rows) == 2:
                break
    genes = pd.DataFrame(rows).reset_index(drop=True)
    assert list(genes["strand"]) == ["+", "+", "-", "-"]
    # the forward-strand twin of the first minus gene: same reference window, read forward
    twin = genes.iloc[[2]].assign(strand="+", tss0=genes["tss0"].iloc[2] + 1)
    builder = HaplotypeBuilder(ref, {"chr22": store}, pd.concat([genes, twin]), samples, L)
    root = tmp_path_factory.mktemp("real")
    return {"genes": genes, "samples": samples, "store": store, "builder": builder, "root": root}


def _batch(real, g):
    n = len(real["samples"])
    codes = real["builder"].haplotypes(np.full(n, g), np.arange(n))
    genes = real["genes"]
    return HaplotypeBatch(
        np.full(n, genes["gene_id"].iloc[2 if g == 4 else g]),
        np.asarray(real["samples"]),
        np.full(n, "+" if g == 4 else genes["strand"].iloc[g]),
        codes,
    )


@pytest.mark.shared
def test_enformer_scores_real_haplotypes_through_the_loading_code(real, weights):
    hf = build_scorer(_spec(weights["hf"]))  # Hugging Face directory, offline
    pt = build_scorer(_spec(weights["pt"], hparams=HPARAMS))  # state-dict file
    assert hf.tss_bins == [7, 8, 9] and hf.tracks == [5110] and not hf.use_tf_gamma
    batches = [_batch(real, g) for g in range(4)]
    n_het = 0
    for g, batch in enumerate(batches):
        scores = hf.score_haplotypes(batch)
        assert scores.shape == (N_SAMPLES, 2) and scores.dtype == np.float64
        het = (batch.codes[:, 0] != batch.codes[:, 1]).any(axis=1)
        assert np.all(scores[het, 0] != scores[het, 1])
        np.testing.assert_array_equal(scores[~het, 0], scores[~het, 1])
        n_het += int(het.sum())
        if g in (0, 2):  # one gene per strand: both formats, and the published bin selection
            np.testing.assert_array_equal(pt.score_haplotypes(batch), scores)
            # track 5110 summed over the 3 centre bins (7-9 of 16; 447-449 of 896 in Enformer)
            flat = batch.codes.reshape(-1, L)
            expected = _manual(weights["model"], flat, [7, 8, 9], [5110])
            np.testing.assert_allclose(scores.reshape(-1), expected, rtol=1e-5)
    assert n_het > 0
    # other bins and tracks: exactly those are read
    other = build_scorer(_spec(weights["hf"], tss_bins=[3], tracks=[4980, 10]))
    codes = batches[0].codes[:2].reshape(-1, L)
    np.testing.assert_allclose(
        other.score_sequences(codes), _manual(weights["model"], codes, [3], [4980, 10]), rtol=1e-5
    )


@pytest.mark.shared
def test_enformer_input_for_a_minus_strand_gene_is_the_reverse_complement(real, weights):
    scorer = build_scorer(_spec(weights["hf"]))
    minus, twin = _batch(real, 2), _batch(real, 4)  # same reference window, opposite reading
    np.testing.assert_array_equal(minus.codes, reverse_complement_codes(twin.codes))
    seen = []
    hook = scorer.model.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    try:
        scorer.score_sequences(minus.codes[:1, 0])
        scorer.score_sequences(twin.codes[:1, 0])
    finally:
        hook.remove()
    x_minus, x_twin = (s.numpy() for s in seen)
    assert x_minus.shape == (1, L, 4)  # Enformer's layout at its boundary
    # reverse complement in (N, L, 4): reverse positions, ACGT -> TGCA reverses the channels
    np.testing.assert_array_equal(x_minus, x_twin[:, ::-1, ::-1])
    assert not np.array_equal(x_minus, x_twin)


def _phenotype_files(real, root, window_genes=None):
    """The phenotypes tables and the variant store, as the workflow's rules write them."""
    genes = real["genes"]
    table = pd.DataFrame(
        {
            "gene": genes["gene_id"],
            "chrom": "chr22",
            "strand": genes["strand"],
            "tss0": genes["tss0"],
            "s2f": [True, True, True, False],  # the last gene is genotype-only
            "gene_set": ["train", "heldout", "train", "train"],
        }
    )
    inds = pd.DataFrame(
        {"individual": real["samples"], "individual_set": ["train"] * 6 + ["heldout"] * 2}
    )
    rng = np.random.default_rng(0)
    expr = pd.DataFrame(
        [(g, i, rng.normal()) for g in table["gene"] for i in inds["individual"]],
        columns=["gene", "individual", "observed"],
    )
    paths = {
        k: root / f"{k}.{ext}"
        for k, ext in (("genes", "tsv"), ("individuals", "tsv"), ("expression", "parquet"))
    }
    table.to_csv(paths["genes"], sep="\t", index=False)
    inds.to_csv(paths["individuals"], sep="\t", index=False)
    expr.to_parquet(paths["expression"])
    store = root / "chr22.npz"
    real["store"].save(store)
    return {
        "genes_path": str(paths["genes"]),
        "individuals_path": str(paths["individuals"]),
        "expression_path": str(paths["expression"]),
        "reference": str(FASTA),
        "store_paths": [str(store)],
        "contig_aliases": {},
        "threads": 1,
    }


@pytest.mark.shared
def test_score_external_enformer_then_reimport_as_precomputed(real, weights, tmp_path):
    from ps2f.pipeline.score import run_score_external

    files = _phenotype_files(real, tmp_path)
    out = {
        "out_predictions": str(tmp_path / "enf.parquet"),
        "out_haplotype_scores": str(tmp_path / "enf.haps.parquet"),
    }
    run_score_external(_spec(weights["hf"]), **files, **out)
    pred = pd.read_parquet(out["out_predictions"])
    haps = pd.read_parquet(out["out_haplotype_scores"])
    assert set(pred["model"]) == {"enformer"} and len(pred) == 3 * N_SAMPLES  # s2f genes only
    assert set(pred["gene"]) == set(real["genes"]["gene_id"][:3])
    assert list(haps.columns) == ["model", "gene", "individual", "haplotype", "score"]
    wide = haps.pivot(index=["gene", "individual"], columns="haplotype", values="score")
    merged = pred.set_index(["gene", "individual"]).join(wide)
    np.testing.assert_allclose(merged["predicted"], (merged[1] + merged[2]) / 2)
    # the haplotype table is the precomputed format: importing it gives the same predictions
    spec = {"name": "enformer_table", "type": "precomputed", "table": out["out_haplotype_scores"]}
    out2 = {
        "out_predictions": str(tmp_path / "t.parquet"),
        "out_haplotype_scores": str(tmp_path / "t.haps.parquet"),
    }
    run_score_external(spec, **files, **out2)
    again = pd.read_parquet(out2["out_predictions"])
    pd.testing.assert_series_equal(again["predicted"], pred["predicted"])
    assert set(again["model"]) == {"enformer_table"}


@pytest.mark.shared
def test_score_external_alphagenome_cached_rerun_needs_no_key(real, tmp_path, monkeypatch):
    """Fake service first (the real client's place); then a re-run in another interpreter, with
    no key and no client, is served from the cache alone."""
    from test_scorers import _fake_output

    from ps2f.models.scorers import alphagenome as ag
    from ps2f.pipeline.score import run_score_external

    L16 = 2**14
    files = _phenotype_files(real, tmp_path)
    spec = {
        "name": "alphagenome",
        "type": "alphagenome",
        "window_bp": L16,
        "cache_dir": str(tmp_path / "cache"),
        "cache_flank_bp": 1000,
    }
    sent = []

    class _Client:
        def __init__(self, api_key, output_type, terms, version, workers):
            assert (api_key, output_type, terms) == ("k", "CAGE", ["EFO:0002784"])

        def predict(self, sequences):
            sent.extend(sequences)
            return [_fake_output(s) for s in sequences]

    monkeypatch.setenv(ag.API_KEY_ENV, "k")
    monkeypatch.setattr(ag, "ClientService", _Client)
    out = {
        "out_predictions": str(tmp_path / "ag.parquet"),
        "out_haplotype_scores": str(tmp_path / "ag.haps.parquet"),
    }
    run_score_external(spec, **files, **out)
    first = pd.read_parquet(out["out_predictions"])
    assert len(first) == 3 * N_SAMPLES and 0 < len(sent) <= 3 * 2 * N_SAMPLES
    assert len(set(sent)) == len(sent)  # each distinct haplotype sent once
    # re-run through another interpreter (the pip route's `python` key), without a key
    monkeypatch.delenv(ag.API_KEY_ENV)
    # the pip route's env when it exists (`make alphagenome-env`: pandas<3, the real client),
    # else another path to this interpreter
    wrapper = REPO / ".venv-alphagenome" / "bin" / "python"
    if not wrapper.exists():
        wrapper = tmp_path / "python"
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        wrapper.chmod(0o755)
    out2 = {
        "out_predictions": str(tmp_path / "ag2.parquet"),
        "out_haplotype_scores": str(tmp_path / "ag2.haps.parquet"),
    }
    run_score_external({**spec, "python": str(wrapper)}, **files, **out2)
    pd.testing.assert_frame_equal(pd.read_parquet(out2["out_predictions"]), first)
    # and an uncached sequence without a key stops with the clear error (in-process)
    spec3 = {**spec, "cache_dir": str(tmp_path / "empty_cache")}
    with pytest.raises(ConfigError, match="ALPHAGENOME_API_KEY is not set"):
        run_score_external(spec3, **files, **out)
    assert os.environ.get(ag.API_KEY_ENV) is None
    # windows wider than the variants the store holds (+-10 kb here) are refused up front
    with pytest.raises(InputError, match=r"reach past the windows whose variants"):
        run_score_external({**spec, "window_bp": 2**17}, **files, **out)


def test_enformer_device_and_precision(weights):
    s = build_scorer(_spec(weights["hf"]))
    assert s.device.type == "cpu" and not s.bf16  # CPU: float32 unless asked
    assert build_scorer(_spec(weights["hf"], precision="bf16")).bf16
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            build_scorer({**_spec(weights["hf"]), "device": "cuda"})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_enformer_bf16_on_cuda_matches_fp32(weights):
    codes = np.random.default_rng(0).integers(0, 4, size=(6, L), dtype=np.uint8)
    fp32 = build_scorer(_spec(weights["hf"])).score_sequences(codes)
    gpu = build_scorer({**_spec(weights["hf"]), "device": "auto", "batch_size": 4})
    assert gpu.device.type == "cuda" and gpu.bf16
    np.testing.assert_allclose(gpu.score_sequences(codes), fp32, rtol=3e-2)


def test_enformer_track_sets_equal_single_set_scorers(weights):
    """One forward pass per batch serves every track set; each set's column is exactly the
    readout of a scorer of that set alone (the head runs on every track either way)."""
    sets = {"A": [5110], "B": [4980, 10], "C": [0, 5312, 5110]}
    spec = _spec(weights["pt"], hparams=HPARAMS, batch_size=2,
                 tissue_tracks={"B": sets["B"], "C": sets["C"]})  # fmt: skip
    multi = build_scorer(spec)
    assert multi.track_sets == list(sets.values())
    calls = []
    multi.model.register_forward_hook(lambda *_: calls.append(1))
    codes = np.random.default_rng(3).integers(0, 5, size=(5, L), dtype=np.uint8)
    got = multi.score_sequences(codes)
    assert got.shape == (5, 3) and len(calls) == 3  # ceil(5 / 2) forward passes for 3 sets
    for j, t in enumerate(sets):
        alone = build_scorer(_spec(weights["pt"], hparams=HPARAMS, batch_size=2, tracks=sets[t]))
        np.testing.assert_array_equal(got[:, j], alone.score_sequences(codes))
    np.testing.assert_allclose(got[:, 0], _manual(weights["model"], codes, [7, 8, 9], [5110]),
                               rtol=1e-5)  # fmt: skip
    assert np.abs(got[:, 0] - got[:, 1]).max() > 1e-6


def test_enformer_tissue_tracks_are_checked_as_tracks(weights):
    from ps2f.models.scorers import check_scorer_configs

    spec = _spec(weights["pt"], hparams=HPARAMS)
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.B: track 'CAGE brain' is "
                       r"a description, which needs a local targets table"):  # fmt: skip
        check_scorer_configs([{**spec, "tissue_tracks": {"B": ["CAGE brain"]}}], tissues=["B"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.B \[5313\]: the human "
                       r"head has 5313 tracks"):  # fmt: skip
        check_scorer_configs([{**spec, "tissue_tracks": {"B": [1, 5313]}}], tissues=["B"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.B: give at least one"):
        check_scorer_configs([{**spec, "tissue_tracks": {"B": []}}], tissues=["B"])
