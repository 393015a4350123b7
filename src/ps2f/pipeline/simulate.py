"""Rule ``simulate``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ps2f.pipeline.common import log


def run_simulate(simulate: Mapping, contig: str, outdir: str | Path) -> None:
    """Rule ``simulate``: write the ground-truth cohort (the embedded default) into ``outdir``."""
    from ps2f.simulate import SimulationConfig, simulate_cohort

    fields = {k: v for k, v in simulate.items() if k != "enabled"}
    paths = simulate_cohort(SimulationConfig(contig=contig, **fields), outdir)
    log.info("simulated cohort written: %s", {k: str(v) for k, v in paths.items()})
