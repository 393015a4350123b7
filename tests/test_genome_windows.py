"""Gene windows (ps2f.genome.windows): one definition of every window a stage reads."""

import numpy as np
import pandas as pd
import pytest

from ps2f.errors import ConfigError
from ps2f.genome.windows import cis_windows, sequence_windows, store_windows

GENES = pd.DataFrame(
    {
        "gene": ["plus", "minus", "baseline_only"],
        "tss0": [100, 100, 5],
        "strand": ["+", "-", "+"],
        "gene_start": [100, 40, 5],
        "gene_end": [160, 101, 30],
        "s2f": [True, True, False],
    }
)


def test_sequence_windows_put_the_tss_at_l_half_on_either_strand():
    for L in (8, 9):
        starts, ends = sequence_windows(GENES["tss0"], GENES["strand"], L)
        assert (ends - starts == L).all()
        # + strand: TSS at offset L // 2 from the start; - strand: at L // 2 from the end
        assert 100 - starts[0] == L // 2
        assert ends[1] - 1 - 100 == L // 2


def test_cis_windows_gene_body_and_tss_anchor():
    lo, hi = cis_windows(GENES, 10)
    assert lo.tolist() == [90, 30, 0]  # clipped at 0
    assert hi.tolist() == [170, 111, 40]
    lo, hi = cis_windows(GENES, 10, anchor="tss")
    assert lo.tolist() == [90, 90, 0]
    assert hi.tolist() == [111, 111, 16]
    # without gene body columns the gene body falls back to the TSS
    lo2, hi2 = cis_windows(GENES[["tss0"]], 10)
    assert lo2.tolist() == lo.tolist() and hi2.tolist() == hi.tolist()
    with pytest.raises(ConfigError, match="cis_window_anchor"):
        cis_windows(GENES, 10, anchor="exon")
    with pytest.raises(ConfigError, match="cis_window_bp must be >= 0"):
        cis_windows(GENES, -1)


def test_store_windows_hold_widened_sequence_windows_and_every_cis_window():
    wins = store_windows(GENES, 8, 10, "gene_body", indel_flank_bp=3)
    starts, ends = sequence_windows(GENES["tss0"][:2], GENES["strand"][:2], 8)
    expected_seq = [(int(a) - 3, int(b) + 3) for a, b in zip(starts, ends, strict=True)]
    lo, hi = cis_windows(GENES, 10)
    assert wins == expected_seq + list(zip(lo.tolist(), hi.tolist(), strict=True))
    assert len(wins) == 2 + 3  # no sequence window for the gene sequence models do not use
    assert np.all([b > a for a, b in wins])
