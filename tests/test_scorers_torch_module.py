"""Any PyTorch model as a scorer (``type: torch_module``), on real Geuvadis haplotypes.

The user models live in tests/user_models.py, named by ``callable`` in both supported forms
(``user_models:conv_tracks``, importable because pytest puts tests/ on ``sys.path``, and
``tests/user_models.py:conv_tracks``). The strong check of the layouts: the same tiny Enformer,
built by a callable and read through ``NLC`` / ``output_key: human`` / ``N,bins,tracks``, gives
the Enformer scorer's scores. No real weights, no network; the CUDA test skips without a GPU.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_scorers_models import (  # noqa: F401  (real, weights: fixtures)
    HPARAMS,
    N_SAMPLES,
    L,
    _batch,
    _phenotype_files,
    real,
    weights,
)

from ps2f.errors import ConfigError
from ps2f.genome.encoding import one_hot, reverse_complement_codes
from ps2f.models.scorers import (
    HaplotypeBatch,
    build_scorer,
    check_scorer_configs,
    longest_window_bp,
)

torch = pytest.importorskip("torch")

import user_models  # noqa: E402

from ps2f.models.scorers import torch_module as tm  # noqa: E402

USER_FILE = REPO / "tests" / "user_models.py"
CONV = {"n_tracks": 5, "bin_bp": 16, "n_bins": 64}  # 64 x 16 bp centre bins of a 2,048-bp window


def _spec(**kw):
    spec = {
        "name": "user_cnn",
        "type": "torch_module",
        "callable": "user_models:conv_tracks",
        "kwargs": dict(CONV),
        "window_bp": L,
        "tracks": [1, 3],
        "bin_bp": 16,
        "device": "cpu",
    }
    spec.update(kw)
    return spec


def _manual(model, codes, bins, tracks):
    """The read-out written out: the model's (N, tracks, bins) output, bins summed, tracks averaged."""
    with torch.no_grad():
        model.out = "tracks_bins"
        y = model(one_hot(torch.from_numpy(codes)))  # (N, tracks, 64)
    return y[:, tracks][:, :, bins].sum(dim=2).mean(dim=1).double().numpy()


# ----------------------------------------------------------------------------------------------
# the callable and the parse-time checks


def test_callable_forms_parse():
    assert tm.parse_callable("pkg.mod:build") == ("pkg.mod", "build", False)
    assert tm.parse_callable("models/my_cnn.py:build") == ("models/my_cnn.py", "build", True)
    assert tm.parse_callable("my_cnn.py:Net.from_config") == ("my_cnn.py", "Net.from_config", True)
    for bad in ("pkg.mod", "pkg.mod:", ":build", "pkg-mod:build", "pkg.mod:bu ild"):
        with pytest.raises(ConfigError, match=r"k .*module:function|k .*not a Python name|neither"):
            tm.parse_callable(bad, "k")


def test_tss_bin_is_enformers_centre_bin():
    assert tm.tss_bin(196_608, 896, 128) == 448  # Enformer: 40,960 bp cropped each side
    assert tm.tss_bin(2048, 16, 8) == 8  # the tiny Enformer of these tests
    assert tm.tss_bin(2048, 64, 16) == 32  # ConvTracks: 512 bp cropped each side
    assert tm.tss_bin(2048, 128, 16) == 64  # bins tile the window
    assert tm.tss_bin(1000, 5, 200) == 2  # odd bin count: the TSS (base 500) is mid-bin 2


def test_parse_time_errors_name_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # file paths are read from the working directory
    assert list(check_scorer_configs([_spec()])) == ["user_cnn"]
    assert list(check_scorer_configs([_spec(callable=f"{USER_FILE}:conv_tracks")])) == ["user_cnn"]
    cases = [
        ("no_such_package_xyz.models:build", r"scorers\[0\].callable: no module named 'no_such_package_xyz'"),
        ("user_models:conv_trakcs", r"scorers\[0\].callable: 'user_models' .* defines no 'conv_trakcs' at top level .*'conv_tracks'"),
        ("models/cnn.py:build", rf"scorers\[0\].callable: the file 'models/cnn.py' does not exist .*{tmp_path}"),
        ("user_models", r"scorers\[0\].callable 'user_models': expected 'module:function'"),
    ]  # fmt: skip
    for target, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_scorer_configs([_spec(callable=target)])
    (tmp_path / "broken.py").write_text("import torch\n\ndef build(:\n    pass\n")
    with pytest.raises(ConfigError, match=r"scorers\[0\].callable: broken.py line 3: invalid syntax"):
        check_scorer_configs([_spec(callable="broken.py:build")])
    (tmp_path / "other.py").write_text("from user_models import conv_tracks as build\n")
    assert check_scorer_configs([_spec(callable="other.py:build")])  # bound by an import
    with pytest.raises(ConfigError, match=r"scorers\[0\].weights: 'w.pt' is not a file"):
        check_scorer_configs([_spec(weights="w.pt")])
    (tmp_path / "w.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"scorers\[0\].weights: .*neither a torch.save .*state dict of the module"):
        check_scorer_configs([_spec(weights="w.pt")])
    for key, value, message in [
        ("output_layout", "N,L,C", r"scorers\[0\].output_layout must be one of"),
        ("one_hot_layout", "LNC", r"scorers\[0\].one_hot_layout must be one of"),
        ("tracks", [], r"scorers\[0\].tracks \[\]: give a list of track indices"),
        ("tracks", ["CAGE"], r"scorers\[0\].tracks \['CAGE'\]"),
        ("kwargs", [1], r"scorers\[0\].kwargs must be a mapping"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_scorer_configs([_spec(**{key: value})])
    with pytest.raises(ConfigError, match=r"\['window_bp'\] must be set"):
        check_scorer_configs([{k: v for k, v in _spec().items() if k != "window_bp"}])


def test_parse_time_checks_import_nothing(tmp_path):
    """The workflow checks `scorers:` when it is parsed: no torch, no user module imported."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "from ps2f.models.scorers import check_scorer_configs\n"
        f"spec = {_spec()!r}\n"
        f"check_scorer_configs([spec, {{**spec, 'name': 'f', 'callable': {str(USER_FILE)!r} + ':conv_tracks'}}])\n"
        "heavy = [m for m in ('torch', 'user_models') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_model_file_imports_the_modules_beside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "layers_xyz.py").write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
        "        return x.mean(dim=2)  # (N, 4): the base composition, as 4 tracks\n"
    )
    (tmp_path / "models" / "net.py").write_text("from layers_xyz import Net\n\ndef build():\n    return Net()\n")
    spec = _spec(callable="models/net.py:build", kwargs={}, output_layout="N,tracks", tracks=[2])
    assert build_scorer(spec).n_tracks == 4
    codes = np.array([[2, 2, 0, 4], [1, 2, 3, 3]], dtype=np.uint8)  # GGAN, CGTT
    scorer = build_scorer({**spec, "window_bp": 4})
    np.testing.assert_allclose(scorer.score_sequences(codes), [0.5, 0.25])  # G fraction


def test_the_variant_store_covers_a_torch_module_window():
    assert longest_window_bp(512, [_spec(window_bp=2**19)]) == 2**19
    assert longest_window_bp(2**20, [_spec(window_bp=2**19)]) == 2**20


# ----------------------------------------------------------------------------------------------
# build-time checks: the callable is called and its model run on one dummy window


def test_build_time_errors_name_the_key(tmp_path):
    def fails(message, **kw):
        with pytest.raises(ConfigError, match=message):
            build_scorer(_spec(**kw), key="scorers[0]")

    fails(r"scorers\[0\].callable: 'user_models:NOT_CALLABLE' is a int, not callable",
          callable="user_models:NOT_CALLABLE")  # fmt: skip
    fails(r"scorers\[0\].callable: user_models:not_a_module returned a builtins.dict, not a torch.nn.Module",
          callable="user_models:not_a_module", kwargs={})  # fmt: skip
    fails(r"scorers\[0\].callable: user_models:conv_tracks\(\*\*\{.*'filters': 3\}\) raised TypeError.*check scorers\[0\].kwargs",
          kwargs={**CONV, "filters": 3})  # fmt: skip
    # weights are loaded strictly: a state dict of another architecture is refused
    other = tmp_path / "other.pt"
    torch.save(user_models.conv_tracks(n_tracks=7).state_dict(), other)
    fails(r"scorers\[0\].weights: .*other.pt does not fit the module .*size mismatch for head",
          weights=str(other))  # fmt: skip
    partial = tmp_path / "partial.pt"
    state = user_models.conv_tracks(**CONV).state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("head")}, partial)
    fails(r"scorers\[0\].weights: .*Missing key\(s\) in state_dict: \"head.weight\"", weights=str(partial))
    # the output must match the declared layout
    fails(r"scorers\[0\] .*output_layout N,tracks: the model returned shape \(1, 64, 5\) for a batch of 1",
          output_layout="N,tracks")  # fmt: skip
    fails(r"tracks \[5\]: the output of shape \(1, 64, 5\) \(N,bins,tracks\) has 5 tracks",
          tracks=[1, 5])  # fmt: skip
    # swapped layouts, caught where the tracks or the bins cannot fit
    fails(r"tracks \[10\]: the output of shape \(1, 64, 5\) \(N,bins,tracks\) has 5 tracks; is the "
          r"output_layout N,tracks,bins\?", tracks=[10])  # fmt: skip
    fails(r"bin_bp: 5 output bins do not tile the 2048-bp window; .*is the output_layout N,bins,tracks\?",
          output_layout="N,tracks,bins", bin_bp=None)  # fmt: skip
    fails(r"bin_bp 64: 64 output bins of 64 bp span more than the 2048-bp window; the output of "
          r"shape \(1, 64, 5\) \(N,bins,tracks\); is the output_layout N,tracks,bins\?", bin_bp=64)  # fmt: skip
    fails(r"bin_bp: 48 output bins do not tile the 2048-bp window; set bin_bp", bin_bp=None,
          kwargs={**CONV, "n_bins": 48})  # fmt: skip
    fails(r"n_tss_bins 99: bins -17..81 around the TSS bin 32 fall outside the 64 output bins",
          n_tss_bins=99)  # fmt: skip
    fails(r"output_key 'human': the model returns a Tensor, not a mapping", output_key="human")
    fails(r"the model fails on one 2048-bp window in layout NLC .*check window_bp and one_hot_layout",
          one_hot_layout="NLC")  # fmt: skip
    if not torch.cuda.is_available():
        fails(r"no CUDA device", device="cuda")


# ----------------------------------------------------------------------------------------------
# real haplotypes


@pytest.mark.shared
def test_bins_tracks_and_layouts_on_real_haplotypes(real):  # noqa: F811
    scorer = build_scorer(_spec())
    assert scorer.bins == [31, 32, 33] and scorer.n_bins == 64 and scorer.bin_bp == 16
    ref = user_models.conv_tracks(**CONV).eval()
    for g in (0, 2):  # one gene per strand
        batch = _batch(real, g)
        scores = scorer.score_haplotypes(batch)
        flat = batch.codes.reshape(-1, L)
        np.testing.assert_allclose(
            scores.reshape(-1), _manual(ref, flat, [31, 32, 33], [1, 3]), rtol=1e-6
        )
        het = (batch.codes[:, 0] != batch.codes[:, 1]).any(axis=1)
        np.testing.assert_array_equal(scores[~het, 0], scores[~het, 1])
    codes = _batch(real, 0).codes[:3].reshape(-1, L)
    # the same network in the other layouts: the same numbers
    same = [
        _spec(kwargs={**CONV, "layout": "NLC"}, one_hot_layout="NLC"),
        _spec(kwargs={**CONV, "out": "tracks_bins"}, output_layout="N,tracks,bins"),
        _spec(callable=f"{USER_FILE}:conv_tracks"),  # the file form
    ]
    expected = scorer.score_sequences(codes)
    for spec in same:
        np.testing.assert_allclose(build_scorer(spec).score_sequences(codes), expected, rtol=1e-6)
    # other bins, tracks and reductions read exactly those
    other = build_scorer(_spec(n_tss_bins=1, tracks=[4], bin_aggregate="mean"))
    assert other.bins == [32]
    np.testing.assert_allclose(other.score_sequences(codes), _manual(ref, codes, [32], [4]), rtol=1e-6)
    summed = build_scorer(_spec(n_tss_bins=2, track_aggregate="sum"))
    assert summed.bins == [32, 33]  # an even count: the TSS bin and the one after it
    np.testing.assert_allclose(
        summed.score_sequences(codes), 2 * _manual(ref, codes, [32, 33], [1, 3]), rtol=1e-6
    )
    # one value per track (N, tracks): no bins
    scalar = build_scorer(_spec(kwargs={**CONV, "out": "scalar"}, output_layout="N,tracks", tracks=[2]))
    assert scalar.bins == [] and scalar.n_bins is None
    np.testing.assert_allclose(
        scalar.score_sequences(codes), _manual(ref, codes, list(range(64)), [2]) / 64, rtol=1e-5
    )


@pytest.mark.shared
def test_minus_strand_input_is_the_reverse_complement(real):  # noqa: F811
    for layout, flip in (("NCL", (1, 2)), ("NLC", (1, 2))):
        scorer = build_scorer(_spec(kwargs={**CONV, "layout": layout}, one_hot_layout=layout))
        minus, twin = _batch(real, 2), _batch(real, 4)  # same reference window, opposite reading
        np.testing.assert_array_equal(minus.codes, reverse_complement_codes(twin.codes))
        seen: list = []
        hook = scorer.model.register_forward_pre_hook(
            lambda m, a, seen=seen: seen.append(a[0].clone())
        )
        try:
            scorer.score_sequences(minus.codes[:1, 0])
            scorer.score_sequences(twin.codes[:1, 0])
        finally:
            hook.remove()
        x_minus, x_twin = (s.numpy() for s in seen)
        assert x_minus.shape == ((1, 4, L) if layout == "NCL" else (1, L, 4))
        # reverse complement: positions reversed and ACGT -> TGCA (the channels reversed)
        np.testing.assert_array_equal(x_minus, np.flip(x_twin, axis=flip))
        assert not np.array_equal(x_minus, x_twin)


@pytest.mark.shared
def test_each_distinct_haplotype_runs_once_in_batches(real):  # noqa: F811
    scorer = build_scorer(_spec(batch_size=3))
    sizes = []
    hook = scorer.model.register_forward_pre_hook(lambda m, a: sizes.append(len(a[0])))
    total = 0
    try:
        for g in range(4):
            batch = _batch(real, g)
            n_distinct = len(np.unique(batch.codes.reshape(-1, L), axis=0))
            sizes.clear()
            scores = scorer.score_haplotypes(batch)
            assert sum(sizes) == n_distinct < 2 * N_SAMPLES  # shared haplotypes run once
            total += n_distinct
            assert max(sizes) <= 3
            # identical haplotypes of different individuals get identical scores
            flat = batch.codes.reshape(-1, L)
            _, inverse = np.unique(flat, axis=0, return_inverse=True)
            for u in np.unique(inverse):
                assert len(set(scores.reshape(-1)[inverse == u])) == 1
    finally:
        hook.remove()
    assert (scorer.n_windows, scorer.n_distinct) == (4 * 2 * N_SAMPLES, total)  # for the log


@pytest.mark.shared
def test_equals_the_enformer_scorer_on_the_same_tiny_enformer(real, weights):  # noqa: F811
    """A callable returning the tiny Enformer, read as NLC / human / N,bins,tracks, with the
    same state dict: the Enformer scorer's scores (bins 7-9 of 16 x 8 bp, tracks averaged)."""
    enformer = build_scorer(
        {"name": "enf", "type": "enformer", "weights": str(weights["hf"]), "window_bp": L,
         "tracks": [5110, 10], "device": "cpu"}  # fmt: skip
    )
    spec = _spec(
        callable="user_models:tiny_enformer",
        kwargs=HPARAMS,
        weights=str(weights["pt"]),
        one_hot_layout="NLC",
        output_key="human",
        output_layout="N,bins,tracks",
        bin_bp=8,
        tracks=[5110, 10],
    )
    generic = build_scorer(spec)
    assert generic.bins == enformer.tss_bins == [7, 8, 9] and generic.n_tracks == 5313
    for g in (0, 2):
        batch = _batch(real, g)
        np.testing.assert_allclose(
            generic.score_haplotypes(batch), enformer.score_haplotypes(batch), rtol=1e-5
        )
    # without the weights the callable's random model gives other numbers
    fresh = build_scorer({**spec, "weights": None})
    codes = _batch(real, 0).codes[:2].reshape(-1, L)
    assert not np.allclose(fresh.score_sequences(codes), generic.score_sequences(codes))
    with pytest.raises(ConfigError, match=r"output_key 'mouse_typo': the model returns a mapping with keys \['human', 'mouse'\]"):
        build_scorer({**spec, "output_key": "mouse_typo"})


@pytest.mark.shared
def test_score_external_averages_the_two_haplotypes(real, tmp_path, caplog):  # noqa: F811
    from ps2f.pipeline.score import run_score_external

    files = _phenotype_files(real, tmp_path)
    out = {
        "out_predictions": str(tmp_path / "p.parquet"),
        "out_haplotype_scores": str(tmp_path / "h.parquet"),
    }
    with caplog.at_level("INFO", logger="ps2f"):
        run_score_external(_spec(), **files, **out)
    pred = pd.read_parquet(out["out_predictions"])
    n_distinct = sum(
        len(np.unique(_batch(real, g).codes.reshape(-1, L), axis=0)) for g in range(3)
    )
    assert f"{n_distinct} distinct of {3 * 2 * N_SAMPLES} haplotype windows scored" in caplog.text
    haps = pd.read_parquet(out["out_haplotype_scores"])
    assert set(pred["model"]) == {"user_cnn"} and len(pred) == 3 * N_SAMPLES
    wide = haps.pivot(index=["gene", "individual"], columns="haplotype", values="score")
    merged = pred.set_index(["gene", "individual"]).join(wide)
    np.testing.assert_allclose(merged["predicted"], (merged[1] + merged[2]) / 2)
    # the haplotype scores are the scorer's on the builder's haplotypes
    scorer = build_scorer(_spec())
    g0 = real["genes"]["gene_id"].iloc[0]
    direct = scorer.score_haplotypes(_batch(real, 0))
    np.testing.assert_allclose(wide.loc[g0].loc[real["samples"]].to_numpy(), direct)
    run_score_external(_spec(aggregate="sum"), **files, **out)
    summed = pd.read_parquet(out["out_predictions"])
    np.testing.assert_allclose(summed["predicted"], 2 * pred["predicted"])


@pytest.mark.shared
def test_python_key_scores_in_another_interpreter(real, tmp_path):  # noqa: F811
    """`python:` names the interpreter of another environment: the callable is checked and the
    scoring runs there (here a wrapper of this interpreter with a module on its path that this
    process cannot import)."""
    from ps2f.pipeline.score import run_score_external

    # a module only the other environment has on its path
    other_root = tmp_path / "elsewhere"
    other_root.mkdir()
    (other_root / "user_models_elsewhere.py").write_text("from user_models import conv_tracks\n")
    wrapper = tmp_path / "python"
    wrapper.write_text(
        f'#!/bin/sh\nPYTHONPATH={other_root}:{REPO / "tests"}:$PYTHONPATH exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    spec = _spec(callable="user_models_elsewhere:conv_tracks", python=str(wrapper))
    with pytest.raises(ConfigError, match=r"no module named 'user_models_elsewhere'"):
        check_scorer_configs([{**spec, "python": None}])  # not in this interpreter
    assert list(check_scorer_configs([spec])) == ["user_cnn"]  # but in that one
    with pytest.raises(ConfigError, match=r"scorers\[0\].callable: 'user_models_elsewhere' .*defines no 'build'.*checked with scorers\[0\].python"):
        check_scorer_configs([{**spec, "callable": "user_models_elsewhere:build"}])
    with pytest.raises(ConfigError, match=r"scorers\[0\].python: '/nowhere/python' does not exist"):
        check_scorer_configs([{**spec, "python": "/nowhere/python"}])
    files = _phenotype_files(real, tmp_path)
    out = {
        "out_predictions": str(tmp_path / "p.parquet"),
        "out_haplotype_scores": str(tmp_path / "h.parquet"),
    }
    run_score_external(spec, **files, **out)
    there = pd.read_parquet(out["out_predictions"])
    run_score_external(_spec(), **files, **out)  # the same model, in this interpreter
    pd.testing.assert_frame_equal(there.assign(model="user_cnn"), pd.read_parquet(out["out_predictions"]))
    assert "user_models_elsewhere" not in sys.modules


def test_device_and_precision():
    s = build_scorer(_spec())
    assert s.device.type == "cpu" and not s.bf16  # CPU: float32 unless asked
    assert build_scorer(_spec(precision="bf16")).bf16
    assert "fp32" in s.describe() and "sum over bins 31-33 of 64 x 16 bp" in s.describe()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_on_cuda_matches_fp32():
    codes = np.random.default_rng(0).integers(0, 4, size=(6, L), dtype=np.uint8)
    fp32 = build_scorer(_spec()).score_sequences(codes)
    gpu = build_scorer(_spec(device="auto"))
    assert gpu.device.type == "cuda" and gpu.bf16
    np.testing.assert_allclose(gpu.score_sequences(codes), fp32, rtol=3e-2, atol=1e-2)


# ----------------------------------------------------------------------------------------------
# several track sets from one forward pass (tissue_tracks)


def _repeated_codes(n: int, window_bp: int, seed: int = 0) -> np.ndarray:
    """Random windows (ACGT and some N), each one twice: the dedup keeps working."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, window_bp), dtype=np.uint8)
    codes[:, :7] = 4
    return np.concatenate([codes, codes[::-1]])


@pytest.mark.parametrize(
    ("kwargs", "layout"),
    [({}, "N,bins,tracks"), ({"out": "tracks_bins"}, "N,tracks,bins"), ({"out": "scalar"}, "N,tracks")],
)  # fmt: skip
def test_track_sets_equal_single_set_scorers_from_one_forward_pass(kwargs, layout):
    """Each column of a 3-set scorer is exactly the score of a scorer of that set alone (the
    same reductions on the same output), and the model runs once per batch, not per set."""
    sets = {"A": [1, 3], "B": [0], "C": [4, 2, 1]}
    spec = _spec(kwargs={**CONV, **kwargs}, output_layout=layout, batch_size=3,
                 tissue_tracks={"B": sets["B"], "C": sets["C"], "D": [1, 3]})  # fmt: skip
    multi = build_scorer(spec)
    assert multi.track_sets == [sets["A"], sets["B"], sets["C"]]  # D repeats the default
    calls = []
    multi.model.register_forward_hook(lambda *_: calls.append(1))
    codes = _repeated_codes(5, L)
    got = multi.score_sequences(codes)
    assert got.shape == (10, 3) and got.dtype == np.float64
    assert len(calls) == 4  # ceil(10 / 3) batches: one forward pass each, for all sets
    for j, t in enumerate(sets):
        alone = build_scorer(_spec(kwargs={**CONV, **kwargs}, output_layout=layout,
                                   batch_size=3, tracks=sets[t]))  # fmt: skip
        assert alone.track_sets is None
        np.testing.assert_array_equal(got[:, j], alone.score_sequences(codes))
    assert np.abs(got[:, 0] - got[:, 1]).max() > 1e-6  # the sets read different tracks
    # score_haplotypes: (B, 2, S), distinct sequences scored once
    batch = HaplotypeBatch(np.full(5, "g"), np.arange(5).astype(str), np.full(5, "+"),
                           codes.reshape(5, 2, L))  # fmt: skip
    haps = multi.score_haplotypes(batch)
    assert haps.shape == (5, 2, 3) and multi.n_distinct == 5 and multi.n_windows == 10
    # the distinct windows are the first five, scored in batches of 3 + 2 (torch results may
    # differ in the last bits between batch compositions, so compare the same batches)
    once = multi.score_sequences(codes[:5])[[0, 1, 2, 3, 4, 4, 3, 2, 1, 0]]
    np.testing.assert_array_equal(haps.reshape(10, 3), once)
    assert "tracks sets [[1, 3], [0], [4, 2, 1]]" in multi.describe()


def test_tissue_tracks_are_checked_as_tracks():
    for bad, shown in (([], r"\[\]"), (["CAGE"], r"\['CAGE'\]"), ([-1], r"\[-1\]")):
        with pytest.raises(ConfigError, match=rf"scorers\[0\].tissue_tracks.B {shown}: give a "
                           r"list of track indices"):  # fmt: skip
            check_scorer_configs([_spec(tissue_tracks={"B": bad})], tissues=["A", "B"])
    # an index past the output: when the model is built, as for tracks
    with pytest.raises(ConfigError, match=r"tracks \[5\]: the output of shape \(1, 64, 5\)"):
        build_scorer(_spec(tissue_tracks={"B": [0, 5]}))
