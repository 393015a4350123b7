"""Progress lines of long per-gene jobs (issue 16: a cluster job's log says how far it is)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ps2f.baselines import fit_genes
from ps2f.progress import ProgressLog


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_lines_are_throttled_and_say_done_rate_and_time_left(caplog):
    clock = _Clock()
    log = logging.getLogger("test_progress")
    progress = ProgressLog("elastic_net", 10, log, every_s=30.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        for _ in range(4):
            clock.t += 10.0
            progress.update()
        for _ in range(6):
            clock.t += 1.0
            progress.update()
    lines = [r.getMessage() for r in caplog.records]
    # one line after 30 s (3 genes), none until the end, then the last one
    assert lines == [
        "elastic_net: 3/10 genes (30%), 0.10 genes/s, ~1.2 min left",
        "elastic_net: 10/10 genes (100%), 0.22 genes/s, 0.8 min",
    ]
    with pytest.raises(ValueError, match="total"):
        ProgressLog("x", -1, log)


def test_fit_genes_logs_its_progress_and_keeps_the_input_order(caplog):
    rng = np.random.default_rng(0)
    items = []
    for g in range(5):
        x = rng.integers(0, 3, size=(40, 6)).astype(np.uint8)
        y = x[:, 0] * 0.5 + rng.normal(size=40)
        items.append((f"g{g}", x, y, np.arange(40) < 30, np.arange(6)))
    log = logging.getLogger("test_fit_progress")
    with caplog.at_level(logging.INFO, logger="test_fit_progress"):
        fits = fit_genes(iter(items), "random_forest", n_jobs=1, log=log, total=5)
    assert [f.gene for f in fits] == [f"g{g}" for g in range(5)]
    assert caplog.records[-1].getMessage().startswith("random_forest: 5/5 genes (100%)")
