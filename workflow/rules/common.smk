# Config validation, paths and input functions shared by every stage.
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml", set_default=True)

RUN = f"results/{config['name']}"
LOGS = f"logs/{config['name']}"
SIMULATED = config["simulate"]["enabled"]
CONTIGS = config["contigs"]
MODELS_S2F = ["p_model", "r_model"]
MODELS_BASELINE = ["elastic_net", "random_forest"]
MODELS = MODELS_S2F + MODELS_BASELINE
PHENOTYPES = {
    "genes": f"{RUN}/phenotypes/genes.tsv",
    "individuals": f"{RUN}/phenotypes/individuals.tsv",
    "expression": f"{RUN}/phenotypes/expression.parquet",
}

wildcard_constraints:
    contig="[^/]+",
    baseline="|".join(MODELS_BASELINE),


def get_input(kind):
    """Path of input `kind` (genotypes, reference, annotation, expression): simulated or configured."""
    if SIMULATED:
        return {
            "genotypes": f"{RUN}/simulated/genotypes.vcf.gz",
            "reference": f"{RUN}/simulated/reference.fa",
            "annotation": f"{RUN}/simulated/genes.tsv",
            "expression": f"{RUN}/simulated/expression.bed.gz",
        }[kind]
    path = config["inputs"][kind]
    if path is None:
        raise ValueError(
            f"config: inputs.{kind} is not set; give the file's path, or set simulate.enabled: true"
        )
    return path


def get_variant_stores(wildcards=None):
    return expand(f"{RUN}/variants/{{contig}}.npz", contig=CONTIGS)


def get_predictions(wildcards=None):
    return expand(f"{RUN}/predictions/{{model}}.parquet", model=MODELS)


def get_final_outputs():
    return [
        f"{RUN}/evaluation/metrics.parquet",
        f"{RUN}/evaluation/summary.parquet",
        f"{RUN}/figures/r_distributions.png",
        f"{RUN}/figures/vs_elastic_net.png",
        f"{RUN}/figures/direction_accuracy.png",
    ]
