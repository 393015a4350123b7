"""Rule ``simulate``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ps2f.pipeline.common import log

__all__ = ["run_simulate"]


def run_simulate(simulate: Mapping, contig: str, outdir: str | Path) -> dict[str, Path]:
    """Rule ``simulate``: write the ground-truth cohort (the embedded default) into ``outdir``.

    Parameters
    ----------
    simulate : mapping
        The validated ``simulate`` config section but ``enabled`` (the rule's params; an
        ``enabled`` key, as in the whole section, is ignored): every key is a
        :class:`~ps2f.simulate.SimulationConfig` field.
    contig : str
        Name of the simulated contig (the config's first contig).
    outdir : str or Path
        Output directory.

    Returns
    -------
    dict of str to pathlib.Path
        The written files, keyed as in :data:`ps2f.simulate.OUTPUT_FILES`.
    """
    import shutil

    from ps2f.simulate import SimulationConfig, simulate_cohort

    # A run killed mid-simulation leaves its working folder (simulate_cohort writes into a
    # hidden temporary folder and moves the files out at the end): remove it.
    for stale in Path(outdir).glob(".simulate-*"):
        if stale.is_dir():
            log.info("removing %s, left by a simulation that did not finish", stale)
            shutil.rmtree(stale, ignore_errors=True)
    fields = {k: v for k, v in simulate.items() if k != "enabled"}
    paths = simulate_cohort(SimulationConfig(contig=contig, **fields), outdir)
    record = json.loads(Path(paths["config"]).read_text())
    log.info(
        "simulated %d individuals x %d genes, %d variants; scales %s",
        record["config"]["n_individuals"],
        record["config"]["n_genes"],
        record["n_variants"],
        record["scales"],
    )
    log.info("simulated cohort written: %s", {k: str(v) for k, v in paths.items()})
    return paths
