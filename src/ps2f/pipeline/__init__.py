"""One function per workflow rule: what each rule does, reachable by tests without Snakemake.

The scripts in ``workflow/scripts/`` only unpack ``snakemake.input/output/params`` and call
these. Each function takes explicit paths and exactly the config values its rule declares in
``params:`` (plain values, or mappings of the config sections' keys it reads; the schema fills
in every default), reads its inputs, and writes its outputs atomically. One module per stage.
"""

from ps2f.pipeline.baselines import run_baseline
from ps2f.pipeline.common import (
    atomic_path,
    load_inputs,
    predictions_frame,
    setup_logging,
    write_table,
)
from ps2f.pipeline.evaluate import run_evaluate
from ps2f.pipeline.genotypes import run_dosages, run_genotypes
from ps2f.pipeline.phenotypes import run_phenotypes
from ps2f.pipeline.report import run_figures
from ps2f.pipeline.simulate import run_simulate
from ps2f.pipeline.train import run_predict, run_train

__all__ = [
    "setup_logging",
    "atomic_path",
    "write_table",
    "load_inputs",
    "predictions_frame",
    "run_simulate",
    "run_phenotypes",
    "run_dosages",
    "run_genotypes",
    "run_train",
    "run_predict",
    "run_baseline",
    "run_evaluate",
    "run_figures",
]
