"""Scorer interface, registry, precomputed tables and the AlphaGenome adapter (no network, no key).

The AlphaGenome tests use handmade response objects (anything with ``values``, ``metadata``,
``resolution``), so they need no ``alphagenome`` install; one test checks the real client's
objects when it happens to be installed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from ps2f.errors import ConfigError, InputError
from ps2f.genome.encoding import decode, encode
from ps2f.models import scorers
from ps2f.models.scorers import (
    HaplotypeBatch,
    SequenceScorer,
    aggregate_haplotypes,
    check_scorer_configs,
    unique_sequences,
    with_defaults,
)
from ps2f.models.scorers import alphagenome as ag
from ps2f.models.scorers.precomputed import PrecomputedScorer, read_score_table

# ----------------------------------------------------------------------------------------------
# interface and registry


def test_registry_lists_every_type_and_rejects_unknown():
    assert set(scorers.scorer_types()) == {"enformer", "alphagenome", "precomputed"} | {
        "alphagenome_local",
        "torch_module",
        "borzoi",
    }
    with pytest.raises(ConfigError, match="unknown scorer type 'sei'"):
        scorers.scorer_module("sei")


def test_with_defaults_fills_defaults_and_rejects_typos():
    full = with_defaults({"name": "t", "type": "precomputed", "table": "x.tsv"})
    assert full == {"name": "t", "type": "precomputed", "table": "x.tsv", "aggregate": "mean"}
    with pytest.raises(ConfigError, match=r"unknown keys \['weights'\]"):
        with_defaults({"name": "t", "type": "precomputed", "table": "x", "weights": "w"})
    with pytest.raises(ConfigError, match=r"\['table'\] must be set"):
        with_defaults({"name": "t", "type": "precomputed"})
    with pytest.raises(ConfigError, match="letters, digits"):
        with_defaults({"name": "bad name", "type": "precomputed", "table": "x"})


def test_check_scorer_configs_names_and_paths(tmp_path):
    table = tmp_path / "s.tsv"
    table.write_text("gene\tindividual\thaplotype\tscore\nG\tI\t1\t0.5\nG\tI\t2\t0.7\n")
    ok = check_scorer_configs([{"name": "ext", "type": "precomputed", "table": str(table)}])
    assert list(ok) == ["ext"] and ok["ext"]["aggregate"] == "mean"
    spec = {"name": "r_model", "type": "precomputed", "table": str(table)}
    with pytest.raises(ConfigError, match="built-in model"):
        check_scorer_configs([spec], reserved=["r_model"])
    spec = {"name": "a", "type": "precomputed", "table": str(table)}
    with pytest.raises(ConfigError, match="used by two scorers"):
        check_scorer_configs([spec, spec])
    with pytest.raises(ConfigError, match=r"scorers\[0\].table: score table .*missing.tsv"):
        check_scorer_configs([{"name": "a", "type": "precomputed", "table": "missing.tsv"}])
    with pytest.raises(ConfigError, match="must be one of"):
        check_scorer_configs([{"name": "a", "type": "r_model", "model": "m.pt"}])
    with pytest.raises(ConfigError, match=r"window_bp 1000: AlphaGenome accepts"):
        check_scorer_configs([{"name": "a", "type": "alphagenome", "window_bp": 1000}])


def test_schema_defaults_match_the_modules():
    """The workflow schema repeats each type's DEFAULTS: the two must not drift apart."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    item = schema["properties"]["scorers"]["items"]
    assert item["properties"]["type"]["enum"] == list(scorers.CONFIG_TYPES)
    common = {k: v["default"] for k, v in item["properties"].items() if "default" in v}
    for branch in item["allOf"]:
        kind = branch["if"]["properties"]["type"]["const"]
        props = branch["then"]["properties"]
        mod = scorers.scorer_module(kind)
        in_schema = {**common, **{k: v["default"] for k, v in props.items() if "default" in v}}
        assert in_schema == mod.DEFAULTS, kind
        assert set(branch["then"].get("required", [])) == set(mod.REQUIRED), kind
        assert set(props) | set(item["properties"]) == set(mod.DEFAULTS) | set(mod.REQUIRED) | {
            "name",
            "type",
        }


class _CountingScorer(SequenceScorer):
    """Scores a sequence by its number of G; records what it was asked."""

    def __init__(self, window_bp):
        self.name, self.window_bp, self.calls = "count_g", window_bp, []

    def score_sequences(self, codes):
        self.calls.append(len(codes))
        return (codes == 2).sum(axis=1).astype(float)


def test_sequence_scorer_scores_each_distinct_sequence_once():
    seqs = np.stack([encode("ACGTG"), encode("GGGGA"), encode("ACGTG"), encode("TTTTT")])
    codes = np.stack([seqs[[0, 1]], seqs[[2, 2]], seqs[[3, 0]]])  # (3, 2, 5)
    batch = HaplotypeBatch(
        np.array(["g"] * 3), np.array(["a", "b", "c"]), np.array(["+"] * 3), codes
    )
    s = _CountingScorer(5)
    out = s.score_haplotypes(batch)
    np.testing.assert_array_equal(out, [[2, 4], [2, 2], [0, 2]])
    assert s.calls == [3]  # three distinct sequences among six haplotypes
    u, inv = unique_sequences(codes.reshape(6, 5))
    np.testing.assert_array_equal(u[inv], codes.reshape(6, 5))
    with pytest.raises(ValueError, match="takes 6-bp windows"):
        _CountingScorer(6).score_haplotypes(batch)
    with pytest.raises(ValueError, match=r"uint8 of shape \(3, 2, L\)"):
        HaplotypeBatch(batch.genes, batch.individuals, batch.strands, codes.astype(np.int64))


def test_aggregate_haplotypes():
    s = np.array([[1.0, 3.0], [2.0, np.nan]])
    np.testing.assert_array_equal(aggregate_haplotypes(s, "mean"), [2.0, np.nan])
    np.testing.assert_array_equal(aggregate_haplotypes(s, "sum"), [4.0, np.nan])
    with pytest.raises(ValueError, match="aggregate must be"):
        aggregate_haplotypes(s, "max")


# ----------------------------------------------------------------------------------------------
# precomputed tables


def _table(rows, path: Path) -> Path:
    pd.DataFrame(rows, columns=["gene", "individual", "haplotype", "score"]).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_precomputed_lookup_ignores_gene_versions_and_reports_missing(tmp_path):
    rows = [
        ("ENSG1.4", "NA1", 1, 1.0),
        ("ENSG1.4", "NA1", 2, 3.0),
        ("ENSG2", "NA1", 2, -1.0),
        ("ENSG2", "NA1", 1, 5.0),
    ]
    pq = tmp_path / "s.parquet"
    pd.DataFrame(rows, columns=["gene", "individual", "haplotype", "score"]).assign(
        extra="ignored"
    ).to_parquet(pq)
    for path in (_table(rows, tmp_path / "s.tsv.gz"), pq):
        sc = PrecomputedScorer("t", read_score_table(path))
        batch = HaplotypeBatch(
            np.array(["ENSG1", "ENSG2.7", "ENSG3"]), np.array(["NA1"] * 3), np.array(["+"] * 3)
        )
        np.testing.assert_array_equal(
            sc.score_haplotypes(batch), [[1.0, 3.0], [5.0, -1.0], [np.nan, np.nan]]
        )
    assert "2 genes x 1 individuals" in sc.describe()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("G", "I", 3, 1.0)], r"row 1: haplotype 3; must be 1 or 2"),
        ([("G", "I", 1, 1.0), ("G", "I", 2, "high")], r"row 2: score 'high' is not a finite"),
        ([("G", "I", 1, 1.0), ("G", "I", 2, float("nan"))], r"row 2: score .* not a finite"),
        ([("G", "I", 1, 1.0), ("G.2", "I", 1, 2.0)], r"row 2: .*appears more than once"),
        ([("G", "I", 1, 1.0), ("G", "J", 2, 2.0)], r"2 \(gene, individual\) pairs have one"),
        ([("", "I", 1, 1.0)], r"row 1: empty 'gene'"),
    ],
)
def test_precomputed_table_errors(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        read_score_table(_table(rows, tmp_path / "s.tsv"))


def test_precomputed_table_missing_columns_and_file(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("gene\tsample\thaplotype\tscore\nG\tI\t1\t1.0\n")
    with pytest.raises(InputError, match=r"lacks columns \['individual'\]"):
        read_score_table(p)
    with pytest.raises(ConfigError, match=r"scorers\[1\].table: score table .*nope.tsv. not found"):
        read_score_table(tmp_path / "nope.tsv", key="scorers[1].table")
    (tmp_path / "s.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown score-table format"):
        read_score_table(tmp_path / "s.xlsx")


# ----------------------------------------------------------------------------------------------
# AlphaGenome adapter on handmade responses

L16 = 2**14


def _fake_output(sequence: str, resolution: int = 1, kind: str = "cage"):
    """A response shaped like dna_output.Output: track + = G indicator, - = 1, . = 10."""
    n = L16 // resolution
    g = np.frombuffer(sequence.encode(), np.uint8) == ord("G")
    plus = g.reshape(n, resolution).sum(axis=1).astype(np.float32)
    values = np.stack([plus, np.ones(n, np.float32), np.full(n, 10, np.float32)], axis=1)
    meta = pd.DataFrame(
        {
            "name": ["GM12878 CAGE +", "GM12878 CAGE -", "GM12878 DNase"],
            "strand": ["+", "-", "."],
            "ontology_curie": ["EFO:0002784"] * 3,
        }
    )
    return SimpleNamespace(
        **{kind: SimpleNamespace(values=values, metadata=meta, resolution=resolution)}
    )


class _FakeService:
    def __init__(self, resolution=1):
        self.batches: list[int] = []
        self.resolution = resolution

    def predict(self, sequences):
        self.batches.append(len(sequences))
        assert all(len(s) == L16 and set(s) <= set("ACGTN") for s in sequences)
        return [_fake_output(s, self.resolution) for s in sequences]


def _random_codes(n, seed=0, length=L16):
    return np.random.default_rng(seed).integers(0, 5, size=(n, length), dtype=np.uint8)


def test_alphagenome_build_requests_dedupes_and_keys_by_sequence_hash():
    codes = _random_codes(3)
    codes = np.concatenate([codes, codes[:1]])
    reqs, keys = ag.build_requests(codes)
    assert len(reqs) == 3 and len(keys) == 4 and keys[3] == keys[0]
    assert reqs[0].sequence == decode(codes[0])
    assert reqs[0].key == ag.sequence_key(decode(codes[0]))
    with pytest.raises(ValueError, match="uint8 codes"):
        ag.build_requests(codes.astype(np.int16))


def test_alphagenome_parse_output_crops_around_the_tss_and_scores():
    seq = decode(_random_codes(1)[0])
    for res in (1, 128):
        w = ag.parse_output(_fake_output(seq, res), "CAGE", L16, flank_bp=1000)
        assert w.resolution == res and list(w.strands) == ["+", "-", "."]
        tss = L16 // 2
        lo, hi = tss - 192, tss + 192
        if res == 128:  # bins partly inside the window count whole
            lo, hi = lo // 128 * 128, -(-hi // 128) * 128
        g = np.frombuffer(seq.encode(), np.uint8)[lo:hi] == ord("G")
        # default: the tracks on + and '.', averaged (the gene-oriented input's strand)
        expected = (g.sum() + 10 * (hi - lo) / res) / 2
        assert w.tss_score(tss, 384) == pytest.approx(expected)
        assert w.tss_score(tss, 384, ["GM12878 CAGE -"]) == pytest.approx((hi - lo) / res)
    with pytest.raises(ag.AlphaGenomeError, match=r"tracks \['nope'\] are not in the response"):
        w.tss_score(L16 // 2, 384, ["nope"])
    with pytest.raises(ag.AlphaGenomeError, match="raise cache_flank_bp"):
        w.tss_score(L16 // 2, 4000)


def test_alphagenome_parse_output_errors():
    out = _fake_output("A" * L16)
    with pytest.raises(ag.AlphaGenomeError, match="no RNA_SEQ output"):
        ag.parse_output(out, "RNA_SEQ", L16, 1000)
    with pytest.raises(ag.AlphaGenomeError, match=r"positions x 1 bp != the 131072 bp"):
        ag.parse_output(out, "CAGE", 2**17, 1000)
    bad = SimpleNamespace(
        cage=SimpleNamespace(values=np.zeros((L16, 0)), metadata=out.cage.metadata[:0])
    )
    with pytest.raises(ag.AlphaGenomeError, match="no CAGE track came back"):
        ag.parse_output(bad, "CAGE", L16, 1000)
    bad = SimpleNamespace(
        cage=SimpleNamespace(values=np.zeros((L16, 2)), metadata=out.cage.metadata)
    )
    with pytest.raises(ag.AlphaGenomeError, match="2 value columns but 3 metadata rows"):
        ag.parse_output(bad, "CAGE", L16, 1000)


def _ag_scorer(tmp_path, service, **kw):
    return ag.AlphaGenomeScorer(
        "alphagenome",
        window_bp=L16,
        cache_dir=tmp_path / "cache",
        cache_flank_bp=1000,
        request_batch_size=2,
        service_factory=lambda: service,
        **kw,
    )


def test_alphagenome_batches_requests_and_a_rerun_costs_nothing(tmp_path):
    codes = _random_codes(5, seed=1)
    codes[4] = codes[0]  # a shared haplotype is requested once
    service = _FakeService()
    first = _ag_scorer(tmp_path, service).score_sequences(codes)
    assert service.batches == [2, 2]  # 4 distinct sequences, request_batch_size 2
    assert first[4] == first[0]
    cached = list((tmp_path / "cache" / "CAGE").rglob("*.npz"))
    assert len(cached) == 4
    assert {p.stem for p in cached} == {ag.sequence_key(decode(c)) for c in codes}

    class _NoService:
        def predict(self, sequences):  # pragma: no cover - must not be called
            raise AssertionError("a cached sequence was requested again")

    again = _ag_scorer(tmp_path, _NoService())
    np.testing.assert_array_equal(again.score_sequences(codes), first)
    assert (again.n_cached, again.n_requested) == (4, 0)
    # other request settings never reuse these entries
    other = _FakeService()
    _ag_scorer(tmp_path, other, ontology_terms=["UBERON:0000955"]).score_sequences(codes[:1])
    assert other.batches == [1]


def test_alphagenome_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ag.API_KEY_ENV, raising=False)
    sc = ag.AlphaGenomeScorer("ag", window_bp=L16, cache_dir=tmp_path / "c", cache_flank_bp=1000)
    with pytest.raises(
        ConfigError,
        match=r"2 sequences are not in the cache .* ALPHAGENOME_API_KEY is not set.*precomputed",
    ):
        sc.score_sequences(_random_codes(2))
    # with the key set, the client is imported only when needed, and the key is never shown
    monkeypatch.setenv(ag.API_KEY_ENV, "secret-key-123")
    created = {}

    class _Client:
        def __init__(self, api_key, *args):
            created["key"] = api_key

        def predict(self, sequences):
            return [_fake_output(s) for s in sequences]

    monkeypatch.setattr(ag, "ClientService", _Client)
    sc.score_sequences(_random_codes(2))
    assert created["key"] == "secret-key-123"
    assert "secret" not in sc.describe()


def test_alphagenome_service_errors_keep_finished_batches(tmp_path):
    class _Flaky(_FakeService):
        def predict(self, sequences):
            if self.batches:
                raise ConnectionError("quota exceeded")
            return super().predict(sequences)

    codes = _random_codes(4, seed=2)
    with pytest.raises(Exception, match=r"failed after 2 of 4 new sequences .*quota exceeded"):
        _ag_scorer(tmp_path, _Flaky()).score_sequences(codes)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2


def test_alphagenome_parses_the_real_client_objects():
    track_data = pytest.importorskip("alphagenome.data.track_data")
    dna_output = pytest.importorskip("alphagenome.models.dna_output")
    fake = _fake_output(decode(_random_codes(1)[0])).cage
    real = dna_output.Output(cage=track_data.TrackData(fake.values, fake.metadata, resolution=1))
    w = ag.parse_output(real, "CAGE", L16, 1000)
    assert w.tss_score(L16 // 2, 384) == ag.parse_output(
        SimpleNamespace(cage=fake), "CAGE", L16, 1000
    ).tss_score(L16 // 2, 384)


def test_alphagenome_client_is_imported_lazily_with_a_clear_error(monkeypatch):
    import sys

    from ps2f.errors import Ps2fError

    monkeypatch.setitem(sys.modules, "alphagenome", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "alphagenome.models", None)
    with pytest.raises(
        Ps2fError, match=r"make alphagenome-env.*python: .venv-alphagenome/bin/python"
    ):
        ag.ClientService("key", "CAGE", ["EFO:0002784"])


def test_parse_time_checks_import_no_model_library(tmp_path):
    """The workflow checks `scorers:` when it is parsed: that must not import torch & co."""
    import subprocess
    import sys

    table = _table([("G", "I", 1, 1.0), ("G", "I", 2, 1.0)], tmp_path / "s.tsv")
    weights = tmp_path / "enformer"
    weights.mkdir()
    (weights / "config.json").write_text('{"model_type": "enformer", "target_length": 896}')
    code = (
        "import sys\n"
        "from ps2f.models.scorers import check_scorer_configs\n"
        "import ps2f.pipeline.score\n"
        f"check_scorer_configs([{{'name': 't', 'type': 'precomputed', 'table': {str(table)!r}}},"
        f" {{'name': 'enf', 'type': 'enformer', 'weights': {str(weights)!r}}},"
        " {'name': 'ag', 'type': 'alphagenome'}])\n"
        "heavy = [m for m in ('torch', 'enformer_pytorch', 'transformers', 'alphagenome')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_variant_store_covers_the_longest_scorer_window():
    """The genotypes rule stores variants over the longest window any model reads: scorers'
    own ``window_bp`` (their type's default when unset) count, precomputed tables do not."""
    from ps2f.models.scorers import longest_window_bp, with_defaults

    scorers = []
    assert longest_window_bp(4096, scorers) == 4096
    scorers = [{"name": "t", "type": "precomputed", "table": "t.tsv"}]
    assert longest_window_bp(4096, scorers) == 4096
    enformer = {"name": "enf", "type": "enformer", "weights": "w"}
    scorers.append(enformer)
    assert longest_window_bp(4096, scorers) == with_defaults(enformer)["window_bp"] > 4096
    scorers.append({**enformer, "name": "short", "window_bp": 2048})
    assert longest_window_bp(4096, scorers) == with_defaults(enformer)["window_bp"]
    assert longest_window_bp(2**19, scorers) == 2**19


# ----------------------------------------------------------------------------------------------
# several track sets from one response or forward pass (tissue_tracks)


def test_alphagenome_track_sets_read_one_response_each(tmp_path):
    """Each set's column is the score of a scorer of that set alone, from the same request."""
    codes = _random_codes(4, seed=2)
    codes[3] = codes[0]
    sets = [[], ["GM12878 CAGE -"], ["GM12878 CAGE -", "GM12878 CAGE +"]]
    service = _FakeService()
    multi = _ag_scorer(tmp_path / "m", service, track_sets=sets)
    got = multi.score_sequences(codes)
    assert got.shape == (4, 3) and service.batches == [2, 1]  # 3 distinct sequences, once
    for j, ts in enumerate(sets):
        alone = _ag_scorer(tmp_path / str(j), _FakeService(), tracks=ts).score_sequences(codes)
        np.testing.assert_array_equal(got[:, j], alone)
    assert np.abs(got[:, 0] - got[:, 1]).max() > 0


def test_tissue_tracks_config_errors_name_the_key_and_the_fix(tmp_path):
    ag_spec = {"name": "ag", "type": "alphagenome", "window_bp": L16,
               "tissue_tracks": {"Brain": ["CAGE brain +"]}}  # fmt: skip
    out = check_scorer_configs([ag_spec], tissues=["Brain", "Liver"])
    assert out["ag"]["tissue_tracks"] == {"Brain": ["CAGE brain +"]}
    assert check_scorer_configs([{"name": "ag", "type": "alphagenome"}])["ag"]["tissue_tracks"] == {}
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks \{'Brain': \['CAGE brain "
                       r"\+'\]\}: the config lists no tissues .*remove tissue_tracks and set "
                       r"scorers\[0\].tracks, or list the tissues under tissues:"):  # fmt: skip
        check_scorer_configs([ag_spec])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks: \['Brain'\] not under "
                       r"tissues: \(it lists \['Lung'\]\); use the tissues' names"):  # fmt: skip
        check_scorer_configs([ag_spec], tissues=["Lung"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.Brain 'CAGE': give a list"):
        check_scorer_configs([{**ag_spec, "tissue_tracks": {"Brain": "CAGE"}}], tissues=["Brain"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks.Brain \[3\]: give a list "
                       r"of exact track names"):  # fmt: skip
        check_scorer_configs([{**ag_spec, "tissue_tracks": {"Brain": [3]}}], tissues=["Brain"])
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks \['x'\]: give a mapping"):
        check_scorer_configs([{**ag_spec, "tissue_tracks": ["x"]}], tissues=["Brain"])
    table = tmp_path / "s.tsv"
    table.write_text("gene\tindividual\thaplotype\tscore\nG\tI\t1\t0.5\n")
    pre = {"name": "p", "type": "precomputed", "table": str(table), "tissue_tracks": {"A": [1]}}
    with pytest.raises(ConfigError, match=r"scorers\[0\].tissue_tracks: not supported for type "
                       r"precomputed .*remove it"):  # fmt: skip
        check_scorer_configs([pre], tissues=["A"])


def test_configured_track_sets_put_tracks_first_and_each_list_once():
    spec = {"tracks": [5110], "tissue_tracks": {"A": [4980], "B": [5110], "C": [4980], "D": ["5110"]}}
    assert scorers.configured_track_sets(spec) == [[5110], [4980], ["5110"]]
    assert [scorers.track_set_label(t) for t in scorers.configured_track_sets(spec)] == [
        "[5110]", "[4980]", '["5110"]']  # fmt: skip
    assert scorers.tissue_tracks_of(spec, "A") == [4980]
    assert scorers.tissue_tracks_of(spec, "E") == [5110]
    assert scorers.configured_track_sets({"type": "precomputed"}) == [[]]
