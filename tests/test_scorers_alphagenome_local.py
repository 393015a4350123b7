"""AlphaGenome from local weights (``type: alphagenome_local``) on real Geuvadis haplotypes.

A tiny randomly initialised model of the port's real class (``alphagenome_pt.model.AlphaGenome``,
48 channels, one transformer layer, 2,048-bp input: the shortest it accepts) is saved with the
port's ``AlphaGenome.save`` and loaded through the scorer's loading code (the port's
``AlphaGenome.load``). No real weights, no network, no GPU (the CUDA test skips without one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_scorers_models import N_SAMPLES, L, _batch, real  # noqa: F401  (real: a fixture)

from ps2f.errors import ConfigError
from ps2f.genome.encoding import one_hot, reverse_complement_codes
from ps2f.models.scorers import build_scorer, with_defaults

torch = pytest.importorskip("torch")
pytest.importorskip("alphagenome_pt")

from alphagenome_pt.heads import HeadName  # noqa: E402
from alphagenome_pt.model import AlphaGenome, AlphaGenomeConfig  # noqa: E402
from alphagenome_pt.precision import get_dtype_policy  # noqa: E402
from alphagenome_pt.synthetic import synthetic_metadata  # noqa: E402

N_TRACKS = 4
# CAGE tracks 0-3 and CHIP_TF tracks 0-3 of the tiny model, named as the official table does
TRACKS = pd.DataFrame(
    {
        "output_type": ["CAGE"] * 4 + ["CHIP_TF"] * 4,
        "name": ["gm_plus", "gm_minus", "other_plus", "Padding", "tf0", "tf1", "tf2", "Padding"],
        "strand": ["+", "-", "+", ".", ".", ".", ".", "."],
        "ontology_curie": ["EFO:0002784", "EFO:0002784", "CL:0000236", "EFO:0002784"]
        + ["EFO:0002784", "CL:0000236", "EFO:0002784", ""],
    }
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny AlphaGenome saved by the port, and its track table."""
    torch.manual_seed(0)
    md = synthetic_metadata(
        [HeadName("cage"), HeadName("chip_tf")], organisms=["human"], num_tracks=N_TRACKS
    )
    cfg = AlphaGenomeConfig(
        max_seq_len=4096,
        num_channels=48,
        transformer_layers=1,
        num_q_heads=2,
        pair_heads=2,
        metadata=md,
    )
    model = AlphaGenome(cfg)
    root = tmp_path_factory.mktemp("alphagenome_local")
    model.save(root / "model")
    TRACKS.to_csv(root / "tracks.tsv", sep="\t", index=False)
    ref = AlphaGenome.load(root / "model").eval()  # an independent copy for the manual protocol
    ref.dtype_policy = get_dtype_policy("float32")
    return {"dir": root / "model", "tracks": root / "tracks.tsv", "ref": ref}


def _spec(weights, **kw):
    spec = {
        "name": "ag_local",
        "type": "alphagenome_local",
        "weights": str(weights["dir"]),
        "track_metadata": str(weights["tracks"]),
        "window_bp": L,
        "device": "cpu",
    }
    spec.update(kw)
    return spec


def _manual(model, codes, head, res, columns, tss_window_bp=384):
    # rtol 1e-4 in the comparisons: float32 sums differ at ~1e-5 between batch sizes
    """The protocol written out: full forward, the columns' sum over the TSS bins, mean."""
    x = one_hot(torch.from_numpy(codes)).transpose(1, 2)
    org = torch.zeros(len(codes), dtype=torch.long)
    with torch.no_grad():
        y = model.predict(x, org)[head][f"predictions_{res}bp"].double().numpy()
    a = L // 2 - tss_window_bp // 2
    lo, hi = a // res, -(-(a + tss_window_bp) // res)
    return y[:, lo:hi][:, :, columns].sum(axis=1).mean(axis=1)


def test_config_switches_from_the_api_scorer_by_type_and_weights(weights):
    api = with_defaults({"name": "ag", "type": "alphagenome"})
    local = with_defaults(_spec(weights))
    shared = ("output_type", "ontology_terms", "tracks", "tss_window_bp", "window_bp", "aggregate")
    assert {k: api[k] for k in shared if k != "window_bp"} == {
        k: local[k] for k in shared if k != "window_bp"
    }
    assert with_defaults({"name": "x", "type": "alphagenome_local", "weights": "w",
                          "track_metadata": "t"})["window_bp"] == api["window_bp"]


@pytest.mark.shared
def test_local_scores_real_haplotypes_through_the_port_loading_code(real, weights):  # noqa: F811
    scorer = build_scorer(_spec(weights))
    assert not scorer.bf16 and list(scorer.columns) == [0, 1]  # EFO terms, padding dropped
    n_het = 0
    for g in range(4):
        batch = _batch(real, g)
        scores = scorer.score_haplotypes(batch)
        assert scores.shape == (N_SAMPLES, 2) and scores.dtype == np.float64
        assert np.isfinite(scores).all()
        het = (batch.codes[:, 0] != batch.codes[:, 1]).any(axis=1)
        assert np.all(scores[het, 0] != scores[het, 1])
        np.testing.assert_array_equal(scores[~het, 0], scores[~het, 1])
        n_het += int(het.sum())
        if g in (0, 2):  # one gene per strand: CAGE 1-bp track 0 (the + track) over 384 bp
            flat = batch.codes.reshape(-1, L)
            expected = _manual(weights["ref"], flat, "cage", 1, [0])
            np.testing.assert_allclose(scores.reshape(-1), expected, rtol=1e-4)
    assert n_het > 0


@pytest.mark.shared
def test_local_track_and_bin_selection(real, weights):  # noqa: F811
    codes = _batch(real, 0).codes[:2].reshape(-1, L)
    ref = weights["ref"]
    # no ontology filter: both + tracks (0, 2) averaged
    s = build_scorer(_spec(weights, ontology_terms=[]))
    np.testing.assert_allclose(s.score_sequences(codes), _manual(ref, codes, "cage", 1, [0, 2]),
                               rtol=1e-4)
    # a named track, another window width
    s = build_scorer(_spec(weights, ontology_terms=[], tracks=["gm_minus"], tss_window_bp=100))
    np.testing.assert_allclose(
        s.score_sequences(codes), _manual(ref, codes, "cage", 1, [1], 100), rtol=1e-4
    )
    # a 128-bp output type: whole bins overlapping the window (bins 7 and 8 of 16)
    s = build_scorer(_spec(weights, output_type="CHIP_TF"))
    assert list(s.columns) == [0, 2]
    np.testing.assert_allclose(
        s.score_sequences(codes), _manual(ref, codes, "chip_tf", 128, [0, 2]), rtol=1e-4
    )


@pytest.mark.shared
def test_local_input_for_a_minus_strand_gene_is_the_reverse_complement(real, weights):  # noqa: F811
    scorer = build_scorer(_spec(weights))
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
    assert x_minus.shape == (1, L, 4)  # the port's layout at its boundary
    np.testing.assert_array_equal(x_minus, x_twin[:, ::-1, ::-1])
    assert not np.array_equal(x_minus, x_twin)


@pytest.mark.shared
def test_local_scores_each_distinct_haplotype_once(real, weights):  # noqa: F811
    scorer = build_scorer(_spec(weights, batch_size=3))
    batch = _batch(real, 1)
    n_unique = len(np.unique(batch.codes.reshape(-1, L), axis=0))
    rows = []
    hook = scorer.model.register_forward_pre_hook(lambda mod, args: rows.append(len(args[0])))
    try:
        scores = scorer.score_haplotypes(batch)
    finally:
        hook.remove()
    assert sum(rows) == n_unique < 2 * N_SAMPLES and max(rows) <= 3
    # haplotype averaging as the scoring rule does it
    from ps2f.models.scorers import aggregate_haplotypes

    np.testing.assert_allclose(aggregate_haplotypes(scores, "mean"), scores.mean(axis=1))


def test_local_config_errors_name_the_key_and_the_fix(weights, tmp_path):
    with pytest.raises(ConfigError, match=r"scorers\[0\].*weights.*AlphaGenome.save"):
        from ps2f.models.scorers import check_scorer_configs

        check_scorer_configs([{**_spec(weights), "weights": str(tmp_path / "none")}])
    short = tmp_path / "short.tsv"
    TRACKS.iloc[:3].to_csv(short, sep="\t", index=False)
    with pytest.raises(ConfigError, match="3 CAGE rows but .* 4 tracks"):
        build_scorer(_spec(weights, track_metadata=str(short)))
    with pytest.raises(ConfigError, match="no CAGE track for ontology_terms"):
        build_scorer(_spec(weights, ontology_terms=["UBERON:0000000"]))
    with pytest.raises(ConfigError, match="tracks: .*nope"):
        build_scorer(_spec(weights, tracks=["nope"]))
    with pytest.raises(ConfigError, match="multiples of 2048"):
        build_scorer(_spec(weights, window_bp=3072))
    bad = tmp_path / "bad.tsv"
    TRACKS.assign(strand=["+", "-", "+", "x"] + ["."] * 4).to_csv(bad, sep="\t", index=False)
    with pytest.raises(ConfigError, match="row 5 has strand 'x'"):
        build_scorer(_spec(weights, track_metadata=str(bad)))


def test_local_device_and_precision(weights):
    s = build_scorer(_spec(weights))
    assert s.device.type == "cpu" and not s.bf16
    assert build_scorer(_spec(weights, precision="bf16")).bf16
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            build_scorer(_spec(weights, device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_local_bf16_on_cuda_matches_fp32(weights):
    codes = np.random.default_rng(0).integers(0, 4, size=(4, L), dtype=np.uint8)
    fp32 = build_scorer(_spec(weights)).score_sequences(codes)
    gpu = build_scorer(_spec(weights, device="auto", batch_size=2))
    assert gpu.device.type == "cuda" and gpu.bf16
    np.testing.assert_allclose(gpu.score_sequences(codes), fp32, rtol=5e-2)


def test_track_sets_equal_single_set_scorers(weights):
    """Every set is read from the same forward pass, each exactly as a scorer of it alone."""
    terms = ["EFO:0002784", "CL:0000236"]
    sets = [[], ["gm_minus"], ["other_plus", "gm_plus"]]
    multi = build_scorer(_spec(weights, ontology_terms=terms,
                               tissue_tracks={"B": sets[1], "C": sets[2]}))  # fmt: skip
    assert multi.track_sets == sets
    codes = np.random.default_rng(5).integers(0, 4, size=(2, L), dtype=np.uint8)
    got = multi.score_sequences(codes)
    assert got.shape == (2, 3)
    for j, ts in enumerate(sets):
        alone = build_scorer(_spec(weights, ontology_terms=terms, tracks=ts))
        np.testing.assert_array_equal(got[:, j], alone.score_sequences(codes))
    assert np.abs(got[:, 1] - got[:, 2]).max() > 0
    with pytest.raises(ConfigError, match=r"tracks: tracks \['nope'\] are not in the response"):
        build_scorer(_spec(weights, tissue_tracks={"B": ["nope"]}))
