# Config validation, paths and input functions shared by every stage.
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml", set_default=True)


def check_s2f_config():
    """Parse-time checks the schema cannot express (sequence models and their splits).

    `s2f.window_bp` must be a multiple of the CNN's total stride: checked with the model's own
    rule (`CNNConfig.validate`, a torch-free import), so the error names the key and the nearest
    valid values before any job runs. Held-out and validation chromosomes must be analysed
    contigs, must not overlap, and must leave training genes (`check_split_config`).
    """
    from ps2f.errors import ConfigError
    from ps2f.models.config import CNNConfig, check_split_config

    try:
        CNNConfig.from_workflow(config["s2f"])
        check_split_config(config["split"], config["contigs"])
    except (ValueError, ConfigError) as err:
        raise ValueError(f"config: {err}") from None


check_s2f_config()

SIMULATED = config["simulate"]["enabled"]


def check_tissues_config():
    """The phenotype sets of a many-tissue run (config `tissues:`), by name, checked at parse time.

    Each tissue's `expression` BED and optional `covariates` replace inputs.expression and
    expression.covariates; `normalization`, `n_genotype_pcs` and `n_expression_pcs` override
    the `expression:` section's. Empty (the default): one phenotype set, today's paths.
    """
    from ps2f.errors import ConfigError
    from ps2f.pipeline.tissues import check_tissues

    try:
        return check_tissues(config["tissues"], config["inputs"], config["expression"], SIMULATED)
    except ConfigError as err:
        raise ValueError(f"config: {err}") from None


TISSUES = check_tissues_config()

# Paths. RUN_ROOT and LOGS_ROOT hold what every tissue shares (the simulated cohort, the union
# gene and individual tables, the variant and dosage stores, the cross-tissue summary). RUN and
# LOGS are a tissue's own: results/<name> itself without `tissues:` (the one-phenotype layout),
# results/<name>/tissues/{tissue} with them: every per-tissue rule then has a {tissue} wildcard,
# and its input functions read it (wildcards.get("tissue")).
RUN_ROOT = f"results/{config['name']}"
LOGS_ROOT = f"logs/{config['name']}"
RUN = f"{RUN_ROOT}/tissues/{{tissue}}" if TISSUES else RUN_ROOT
LOGS = f"{LOGS_ROOT}/tissues/{{tissue}}" if TISSUES else LOGS_ROOT
# the report groups each tissue's figures and tables under its name (one phenotype set: none)
REPORT_TISSUE = "tissue {tissue}" if TISSUES else None
CONTIGS = config["contigs"]
MODELS_S2F = ["p_model", "r_model"]
MODELS_BASELINE = ["elastic_net", "random_forest"]
MODELS = MODELS_S2F + MODELS_BASELINE


def check_scorers_config():
    """External scorers (`scorers:`, rule score_external), checked at parse time (torch-free).

    Names are unique and not built-in models; each type's own checks run (Enformer weights and
    precomputed tables exist and are readable, tracks and bins fit the model, AlphaGenome
    lengths are accepted), and an AlphaGenome scorer needs ALPHAGENOME_API_KEY in the
    environment unless its response cache holds answers. A scorer's tissue_tracks needs
    tissues: and names only tissues listed there; each list is checked as its tracks. Returns
    each scorer's full config by name.
    """
    from ps2f.errors import ConfigError
    from ps2f.models.scorers import check_scorer_configs

    try:
        scorers = check_scorer_configs(config["scorers"], reserved=MODELS, tissues=list(TISSUES))
        for i, spec in enumerate(scorers.values()):
            if spec["type"] == "alphagenome":
                from ps2f.models.scorers.alphagenome import check_api_key

                check_api_key(spec, f"scorers[{i}]")
    except ConfigError as err:
        raise ValueError(f"config: {err}") from None
    return scorers


SCORERS = check_scorers_config()

PHENOTYPES = {
    "genes": f"{RUN}/phenotypes/genes.tsv",
    "individuals": f"{RUN}/phenotypes/individuals.tsv",
    "expression": f"{RUN}/phenotypes/expression.parquet",
}
# What the shared variant and dosage stores cover: the phenotypes tables of the one phenotype
# set, or with tissues their union (rule store_tables, phenotypes.smk).
STORE_TABLES = {
    "genes": f"{RUN_ROOT}/phenotypes/genes.tsv" if TISSUES else PHENOTYPES["genes"],
    "individuals": (
        f"{RUN_ROOT}/phenotypes/individuals.tsv" if TISSUES else PHENOTYPES["individuals"]
    ),
}

wildcard_constraints:
    contig="[^/]+",
    tissue="|".join(TISSUES) or "(?!)",
    chunk="[^/]+[.][0-9]+",
    baseline="|".join(MODELS_BASELINE),


def get_input(kind):
    """Path of input `kind` (genotypes, reference, expression): simulated or configured."""
    if SIMULATED:
        return {
            "genotypes": f"{RUN_ROOT}/simulated/genotypes.vcf.gz",
            "reference": f"{RUN_ROOT}/simulated/reference.fa",
            "expression": f"{RUN_ROOT}/simulated/expression.bed.gz",
        }[kind]
    path = config["inputs"][kind]
    if path is None:
        raise ValueError(
            f"config: inputs.{kind} is not set; give the file's path, or set simulate.enabled: true"
        )
    return path


def file_stamps(paths):
    """{path: [size, mtime in ns]} of the existing files among `paths` (and the files directly
    inside the directories among them) outside results/.

    A params entry of the rules that read external files: Snakemake's mtime trigger misses an
    input replaced by a copy with an *older* time stamp (`cp -p`, `rsync -a`, a restored
    backup), but the params trigger sees any change of these values. Files this workflow
    writes (under results/) are left out: their stamps change with each run.
    """
    stamps = {}
    for path in paths:
        if not path or Path(path).resolve().is_relative_to(Path("results").resolve()):
            continue
        p = Path(path)
        # a directory input (a Borzoi replicate, a Hugging Face checkpoint): its files
        for f in sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]:
            if f.is_file():
                st = f.stat()
                stamps[str(f)] = [st.st_size, st.st_mtime_ns]
    return stamps


def get_input_stamps(wildcards):
    """file_stamps of every raw input of the phenotypes job (which every other job follows)."""
    keys = () if SIMULATED else ("genotypes", "reference", "annotation", "expression", "dosages")
    paths = [config["inputs"][k] for k in keys]
    paths += [] if SIMULATED else list(EXTERNAL.values())
    if TISSUES:
        spec = TISSUES[wildcards.tissue]
        paths += [spec["expression"], spec["covariates"]]
    else:
        paths.append(config["expression"]["covariates"])
    paths.append(config["split"]["population"]["sample_table"])
    return file_stamps(paths)


def get_annotation_input():
    """{"annotation": TSS table}, or {} where the anchors come from the phenotype BED.

    A simulated expression cohort has its TSS table; a simulated methylation cohort has none.
    Real data: inputs.annotation, which only phenotype.modality expression requires.
    """
    if SIMULATED:
        if config["simulate"]["modality"] == "expression":
            return {"annotation": f"{RUN_ROOT}/simulated/genes.tsv"}
        return {}
    path = config["inputs"]["annotation"]
    if path is None and config["phenotype"]["modality"] == "expression":
        raise ValueError(
            "config: inputs.annotation is not set; phenotype.modality expression needs the TSS "
            "table (other modalities take each row's anchor from the BED)"
        )
    return {"annotation": path} if path else {}


def check_modality_config():
    """phenotype.modality against expression.normalization and simulate.modality (parse time)."""
    from ps2f.errors import ConfigError
    from ps2f.phenotypes import check_modality

    modality = config["phenotype"]["modality"]
    try:
        check_modality(modality, config["expression"]["normalization"])
        for name, spec in TISSUES.items():
            try:
                check_modality(modality, spec["normalization"])
            except ConfigError as err:
                raise ConfigError(f"tissues {name}: {err}") from None
    except ConfigError as err:
        raise ValueError(f"config: {err}") from None
    # a simulated methylation BED (betas, strand '.', no TSS table) is read as methylation
    # only; a simulated expression cohort (with its TSS table) under any modality whose
    # normalization fits its RPKM-like values
    if SIMULATED and config["simulate"]["modality"] == "methylation" != modality:
        raise ValueError(
            f"config: simulate.modality is methylation but phenotype.modality is {modality}; "
            f"set phenotype.modality: methylation (and expression.normalization: m_value)."
        )


check_modality_config()


def get_expression_inputs(wildcards):
    """{"expression": BED, "covariates": file} of the phenotypes job: the tissue's (tissues:),
    else inputs.expression and expression.covariates; no "covariates" = no adjustment."""
    if TISSUES:
        spec = TISSUES[wildcards.tissue]
        expression, covariates = spec["expression"], spec["covariates"]
    else:
        expression, covariates = get_input("expression"), config["expression"]["covariates"]
    return {"expression": expression, **({"covariates": covariates} if covariates else {})}


def get_expression_settings(wildcards):
    """The expression keys the phenotypes job reads, with the tissue's overrides (tissues:)."""
    settings = config_subset(
        config["expression"],
        "normalization",
        "n_genotype_pcs",
        "n_expression_pcs",
        "extra_covariates",
        "genotype_pc_pattern",
        "expression_pc_pattern",
    )
    if TISSUES:
        spec = TISSUES[wildcards.tissue]
        settings |= {k: spec[k] for k in ("normalization", "n_genotype_pcs", "n_expression_pcs")}
    return settings


def get_normalization(wildcards):
    """expression.normalization, or the tissue's (the units of the figures' expression axis)."""
    if TISSUES:
        return TISSUES[wildcards.tissue]["normalization"]
    return config["expression"]["normalization"]


def get_tissue_tables(wildcards=None):
    """Every tissue's phenotypes gene and individual tables (rule store_tables)."""
    return {
        key: expand(PHENOTYPES[key], tissue=list(TISSUES)) for key in ("genes", "individuals")
    }


def get_population_input():
    """{"populations": sample table} when split.population.sample_table is set, else {}."""
    path = config["split"]["population"]["sample_table"]
    return {"populations": path} if path else {}


def get_population_params():
    """{"population": split.population's columns and populations} with a sample table, else {}.

    Read only with a table, so that these keys change nothing in a random-split run.
    """
    pop = config["split"]["population"]
    if not pop["sample_table"]:
        return {}
    keys = ("sample_column", "population_column", "train", "heldout")
    return {"population": {k: pop[k] for k in keys}}


def get_store_settings():
    """The settings of the genotypes job: run_genotypes' keyword arguments, by name.

    The window is the longest sequence window of the run (s2f.window_bp and every sequence
    scorer's window_bp). One dict, not bare values: see the note above config_subset.
    """
    from ps2f.models.scorers import longest_window_bp

    return {
        "window_bp": longest_window_bp(config["s2f"]["window_bp"], SCORERS.values()),
        "cis_window_bp": config["baselines"]["cis_window_bp"],
        "cis_window_anchor": config["baselines"]["cis_window_anchor"],
        "indel_flank_bp": config["genotypes"]["indel_flank_bp"],
        "snvs_only": config["genotypes"]["snvs_only"],
        "missing_policy": config["genotypes"]["missing_policy"],
        "contig_aliases": config["contig_aliases"],
    }


def get_dosage_settings():
    """The settings of the dosages job: run_dosages' keyword arguments, by name."""
    return {
        "cis_window_bp": config["baselines"]["cis_window_bp"],
        "cis_window_anchor": config["baselines"]["cis_window_anchor"],
        "dosage_field": config["baselines"]["dosage_field"],
        "snvs_only": config["baselines"]["snvs_only"],
        "missing_policy": config["genotypes"]["missing_policy"],
        "contig_aliases": config["contig_aliases"],
    }


def get_simulate_inputs():
    """{"fasta": path} when simulate.reference_fasta is set (real windows), else {}."""
    path = config["simulate"]["reference_fasta"]
    return {"fasta": path} if path else {}


def scaled_by_attempt(base):
    """Resource request that grows with each retry: `base` on attempt 1, `n * base` on attempt n.

    For `mem_mb` (MB) and `runtime` (minutes) of the heavy rules, so that a job killed for memory
    or time on a cluster (profiles/slurm sets `retries`) is resubmitted with more.
    """

    def request(wildcards, attempt):
        return base * attempt

    return request


# Params. The `params` of every rule name exactly the config keys that its script and the package
# code it calls read, so that a changed key re-runs exactly the jobs that read it (Snakemake's
# default rerun trigger `params`), and scripts never see `snakemake.config`. Snakemake compares a
# job's params as a set of value reprs without their names, so two bare values that happen to be
# equal (a 1000-bp window and a 1000-bp flank) can hide a change of one of them: config reaches
# a rule in mappings in the config's own shape (the keys are in the repr), a bare value only
# where it is the rule's only one. Defaults are the schema's, filled in by `validate` above.


def config_subset(section, *keys):
    """The `keys` of config mapping `section`, in its shape: "a.b" selects key b of mapping a.

    For example config_subset(config["s2f"], "window_bp", "train.device") is
    {"window_bp": ..., "train": {"device": ...}}.
    """
    subset = {}
    for key in keys:
        head, _, rest = key.partition(".")
        if rest:
            subset[head] = {**subset.get(head, {}), **config_subset(section[head], rest)}
        else:
            subset[head] = section[head]
    return subset


def get_simulation_settings():
    """The simulate keys that the simulate job reads: all but `enabled` (which decides inputs),
    and the external cohort's settings only when it draws one (external_individuals > 0)."""
    sim = config["simulate"]
    off = not sim["external_individuals"]
    return {
        k: v
        for k, v in sim.items()
        if k != "enabled" and not (off and k.startswith("external_") and k != "external_individuals")
    }


def get_s2f_settings(rule_name):
    """The s2f keys read by `rule_name` (train_r, train_p, predict_p or score_reference).

    Training reads the window, the CNN and every train setting but init_from_r_model (which
    decides train_p's `init` input instead); train_r also reads r_model_epochs, but not the
    p-model's individuals_per_gene and early_stopping_genes. Prediction reads the window, the
    batch size and the device.
    """
    s2f = config["s2f"]
    if rule_name in ("predict_p", "score_reference"):
        return config_subset(s2f, "window_bp", "predict_batch_size", "train.device")
    p_only = {"individuals_per_gene", "early_stopping_genes"}
    skip = {"init_from_r_model"} | (p_only if rule_name == "train_r" else set())
    train = [f"train.{key}" for key in s2f["train"] if key not in skip]
    epochs = ["r_model_epochs"] if rule_name == "train_r" else []
    return config_subset(s2f, "window_bp", "model", *train, *epochs)


def get_validation_settings():
    """The split keys the training rules read: the validation split and its seed."""
    return config_subset(
        config["split"],
        "validation_gene_fraction",
        "validation_individual_fraction",
        "validation_chromosomes",
        "seed",
    )


def get_baseline_settings(method):
    """The baselines keys that rule `method` reads (elastic_net also writes the PredictDB files)."""
    keys = ["genes", "cis_window_bp", "cis_window_anchor", "snvs_only", "drop_ambiguous_strand"]
    keys.append(method)
    if method == "elastic_net":
        # the filter (max_pval, min_rho) is applied to the merged .db by gather_predictdb
        keys += [f"predictdb.{k}" for k in ("genome_build", "population", "variant_key")]
    return config_subset(config["baselines"], *keys)


def get_sequence_windows():
    """Window length in bp of every sequence model, by model name (rule window_coverage).

    The p- and r-model read s2f.window_bp; each sequence scorer (Enformer, AlphaGenome) its own
    window_bp (defaults filled in); a precomputed score table has no window and is left out.
    """
    windows = {model: config["s2f"]["window_bp"] for model in MODELS_S2F}
    for name, spec in SCORERS.items():
        if spec.get("window_bp"):
            windows[name] = spec["window_bp"]
    return windows


def get_p_model_init(wildcards=None):
    """{"init": r_model.pt} when s2f.train.init_from_r_model is set (train_p then waits for it), else {}."""
    if config["s2f"]["train"]["init_from_r_model"]:
        return {"init": f"{RUN}/models/r_model.pt"}
    return {}


def get_variant_stores(wildcards=None):
    return expand(f"{RUN_ROOT}/variants/{{contig}}.npz", contig=CONTIGS)


# Gene chunks (ps2f.pipeline.chunks): every per-gene stage runs one job per chunk of at most
# chunks.genes_per_chunk consecutive genes of one contig (the light stages: per light chunk of
# chunks.light_stage_chunks consecutive gene chunks), and a gather rule writes the stage's
# usual tables. The chunks are cut from the phenotypes gene table, so `phenotypes` is a
# checkpoint: the chunk jobs join the DAG once it has run (a dry run before then lists the
# gather jobs, not the chunk jobs). A chunk job's params hold its gene IDs: it re-runs exactly
# when its genes (or the config it reads) change, and a killed run resubmits only missing chunks.
_GENE_CHUNKS = {}
# the phenotypes gene table of each tissue, once its checkpoint is complete in this invocation
# (it stays complete: later calls skip Snakemake's checkpoint lookup, ~10 % of a genome-wide dry
# run's DAG construction)
_PHENOTYPES_GENES = {}
# the per-gene stages of light chunks (by their folder under chunks/): every one but the
# ElasticNet and the external scorers' model runs (with tissues, a tissue's score_external job
# only reads the shared haplotype scores written by score_haplotypes, so it is light too)
LIGHT_STAGES = ("random_forest", "p_model", "r_model", "lead_eqtl", "cis_heritability", "metrics")
LIGHT_STAGES += tuple(SCORERS) if TISSUES else ()


def _chunks_of(path, by_tss=False):
    """(gene chunks {chunk ID: its gene IDs}, light chunks {light chunk ID: its chunk IDs},
    light chunk genes {light chunk ID: its gene IDs}) of gene table `path`, read once per table
    version; `by_tss`: the table lists genes in another order (the union table: by first
    appearance), so chunks follow contig and TSS order."""
    from ps2f.pipeline.chunks import gene_chunks as split
    from ps2f.pipeline.chunks import light_chunks
    from ps2f.pipeline.common import read_table

    sizes = config["chunks"]["genes_per_chunk"], config["chunks"]["light_stage_chunks"]
    key = (path, Path(path).stat().st_mtime_ns, sizes)
    if key not in _GENE_CHUNKS:
        genes = read_table(path)
        if by_tss:
            rank = genes["chrom"].astype(str).map({c: i for i, c in enumerate(CONTIGS)})
            genes = genes.assign(_rank=rank).sort_values(["_rank", "tss0", "gene"], kind="stable")
        chunks = split(genes, sizes[0])
        light = light_chunks(chunks, sizes[1])
        light_genes = {c: [g for m in members for g in chunks[m]] for c, members in light.items()}
        _GENE_CHUNKS[key] = chunks, light, light_genes
    return _GENE_CHUNKS[key]


def _tissue_chunks(tissue):
    """_chunks_of the phenotypes gene table of `tissue` (None: of the one phenotype set)."""
    path = _PHENOTYPES_GENES.get(tissue)
    if path is None:
        wildcards = {"tissue": tissue} if TISSUES else {}
        path = _PHENOTYPES_GENES[tissue] = checkpoints.phenotypes.get(**wildcards).output.genes
    return _chunks_of(path)


def gene_chunks(tissue=None):
    """{chunk ID: its gene IDs} of the phenotypes gene table of `tissue` (None: of the one
    phenotype set)."""
    return _tissue_chunks(tissue)[0]


def light_gene_chunks(tissue=None):
    """{light chunk ID: the IDs of its gene chunks} of `tissue` (ps2f.pipeline.chunks)."""
    return _tissue_chunks(tissue)[1]


def get_chunk_genes(wildcards):
    """The gene IDs of chunk `wildcards.chunk` (a chunk job's params)."""
    return gene_chunks(wildcards.get("tissue"))[wildcards.chunk]


def get_light_chunk_genes(wildcards):
    """The gene IDs of light chunk `wildcards.chunk` (a light-stage job's params)."""
    return _tissue_chunks(wildcards.get("tissue"))[2][wildcards.chunk]


def chunked(pattern, stage=None):
    """Input function: `pattern` expanded over every chunk of `stage` (its other wildcards
    filled in): the light chunks of a light stage (LIGHT_STAGES; None: the stage is the
    pattern's {model}, {baseline} or {scorer} wildcard), else the gene chunks."""

    def paths(wildcards):
        name = stage or next(
            filter(None, (wildcards.get(w) for w in ("model", "baseline", "scorer"))), None
        )
        tissue = wildcards.get("tissue")
        chunks = light_gene_chunks(tissue) if name in LIGHT_STAGES else gene_chunks(tissue)
        return expand(pattern, chunk=list(chunks), **wildcards)

    return paths


def union_gene_chunks():
    """{chunk ID: its gene IDs} of the union gene table of a many-tissue run (rule
    store_tables): the chunks of rule score_haplotypes."""
    return _chunks_of(checkpoints.store_tables.get().output.genes, by_tss=True)[0]


def get_union_chunk_genes(wildcards):
    """The gene IDs of union chunk `wildcards.chunk` (rule score_haplotypes' params)."""
    return union_gene_chunks()[wildcards.chunk]


def get_shared_haplotype_scores(wildcards):
    """The shared haplotype-score tables (rule score_haplotypes) holding the genes of the
    tissue's light chunk `wildcards.chunk`: the union chunks its genes fall in."""
    genes = set(get_light_chunk_genes(wildcards))
    return [
        f"{RUN_ROOT}/chunks/{wildcards.scorer}/{chunk}.haplotypes.parquet"
        for chunk, ids in union_gene_chunks().items()
        if genes.intersection(ids)
    ]


def get_chunk_store(wildcards):
    """The variant store of the chunk's contig only (a chunk never straddles contigs)."""
    from ps2f.pipeline.chunks import chunk_contig

    return [f"{RUN_ROOT}/variants/{chunk_contig(wildcards.chunk)}.npz"]


# inputs.dosages (unphased or imputed dosages for the genotype baselines); real data only
DOSAGES = None if SIMULATED else config["inputs"]["dosages"]


def get_dosages_input():
    """{"dosages": VCF} when inputs.dosages is set (phenotypes then match its samples), else {}."""
    return {"dosages": DOSAGES} if DOSAGES else {}


def check_external_config():
    """The external test cohort's files (config `external_cohort`), checked at parse time.

    Real data: external_cohort.genotypes and .expression (and optional .covariates); a
    simulated run draws its external cohort itself (simulate.external_individuals > 0: a second
    population that diverged from the first). {} without one. Its individuals are never fitted
    on: every model of the run predicts them (cells `*|external_individuals`).
    """
    ext = config["external_cohort"]
    given = {k: ext[k] for k in ("genotypes", "expression", "covariates") if ext[k]}
    if SIMULATED:
        if given:
            raise ValueError(
                f"config: external_cohort {sorted(given)} set in a simulated run; a simulated "
                f"run draws its external cohort itself (simulate.external_individuals)"
            )
        if not config["simulate"]["external_individuals"]:
            return {}
        folder = f"{RUN_ROOT}/simulated/external"
        files = {
            "genotypes": f"{folder}/genotypes.vcf.gz",
            "expression": f"{folder}/expression.bed.gz",
        }
        # its covariates adjust it where the run's own do (expression.covariates set)
        if config["expression"]["covariates"]:
            files["covariates"] = f"{folder}/covariates.txt"
        return files
    if not given:
        return {}
    missing = [k for k in ("genotypes", "expression") if k not in given]
    if missing:
        raise ValueError(
            f"config: external_cohort needs {missing} too (its genotypes and its phenotype BED)"
        )
    if TISSUES:
        raise ValueError(
            "config: an external cohort is not supported with tissues: yet (it has one "
            "phenotype BED); run the tissue it measures as a one-tissue run"
        )
    if DOSAGES:
        raise ValueError(
            "config: an external cohort is read from its phased genotypes into the variant "
            "store; with inputs.dosages the genotype baselines read a dosage store it is not "
            "in. Unset inputs.dosages, or leave external_cohort empty."
        )
    return given


EXTERNAL = check_external_config()


def get_external_inputs(*kinds):
    """{"external_<kind>": path} of the external cohort's files among `kinds` (genotypes,
    expression, covariates), with a PLINK 2 .pgen's .pvar/.psam; {} without one."""
    from ps2f.io.genotypes import genotype_companions

    out = {f"external_{k}": EXTERNAL[k] for k in kinds if k in EXTERNAL}
    if "external_genotypes" in out:
        pvar_psam = genotype_companions(out["external_genotypes"])
        out |= dict(zip(("external_genotypes_pvar", "external_genotypes_psam"), pvar_psam))
    return out


def get_genotype_companions(kind):
    """The .pvar/.psam beside a PLINK 2 .pgen in inputs.<kind> (genotypes or dosages), else {}.

    As {"<kind>_pvar": path, "<kind>_psam": path}: declared inputs, so a changed one re-runs.
    """
    from ps2f.io.genotypes import genotype_companions

    path = DOSAGES if kind == "dosages" else get_input(kind)
    pvar_psam = genotype_companions(path) if path else []
    return dict(zip((f"{kind}_pvar", f"{kind}_psam"), pvar_psam))


def get_baseline_store(wildcards):
    """A baseline chunk's store: the dosage store of inputs.dosages when set, else the variant
    store, of the chunk's contig only."""
    from ps2f.pipeline.chunks import chunk_contig

    folder = "dosages" if DOSAGES else "variants"
    return [f"{RUN_ROOT}/{folder}/{chunk_contig(wildcards.chunk)}.npz"]


def get_histories():
    """{"history_<model>": its history TSV} for every sequence model trained by epochs."""
    return {f"history_{m}": f"{RUN}/models/{m}.history.tsv" for m in MODELS_S2F}


def get_chunk_predictions(wildcards):
    """Every model's predictions of the genes of light chunk `wildcards.chunk` (rule
    gene_metrics): its own table of a light-stage model, its gene chunks' of the others."""
    members = light_gene_chunks(wildcards.get("tissue"))[wildcards.chunk]
    return [
        f"{RUN}/chunks/{model}/{chunk}.predictions.parquet"
        for model in MODELS + list(SCORERS)
        for chunk in ([wildcards.chunk] if model in LIGHT_STAGES else members)
    ]


def get_predictions(wildcards=None):
    """Every model's gathered predictions table (the evaluate rule's input)."""
    return expand(
        f"{RUN}/predictions/{{model}}.parquet", model=MODELS + list(SCORERS), allow_missing=True
    )


# External scorers (config `scorers:`), for score_external: inputs, conda env, GPU by type.
SCORER_ENVS = {
    "enformer": "../../envs/enformer.yaml",
    "alphagenome": "../../envs/alphagenome.yaml",
    "alphagenome_local": "../../envs/alphagenome_local.yaml",
    "precomputed": "../../envs/ps2f.yaml",
    "torch_module": "../../envs/ps2f-gpu.yaml",  # plus whatever the user's callable imports
    "borzoi": "../../envs/borzoi.yaml",
}


def get_scorer_config(wildcards):
    """The full config of scorer `wildcards.scorer` (defaults filled in): every track set it
    reads (rules score_external of a one-phenotype run, score_haplotypes). An empty
    tissue_tracks is left out, so a run made before the key existed keeps its params."""
    spec = SCORERS[wildcards.scorer]
    return {k: v for k, v in spec.items() if k != "tissue_tracks" or v}


def get_tissue_scorer_config(wildcards):
    """A tissue's score_external params: the scorer's config with `tracks` set to the tissue's
    own list (its tissue_tracks entry, else tracks) and no tissue_tracks, so a change to
    another tissue's tracks changes no param of this job."""
    from ps2f.models.scorers import tissue_tracks_of

    spec = SCORERS[wildcards.scorer]
    own = {k: v for k, v in spec.items() if k != "tissue_tracks"}
    if "tracks" in spec:
        own["tracks"] = tissue_tracks_of(spec, wildcards.tissue)
    return own


def get_scorer_contig_aliases(wildcards):
    """contig_aliases for a sequence scorer (its FASTA reads); {} for a score table (unread)."""
    if SCORERS[wildcards.scorer]["type"] == "precomputed":
        return {}
    return config["contig_aliases"]


def get_scorer_inputs(wildcards, tables=PHENOTYPES):
    """Phenotypes (or `tables`), plus sequence inputs for sequence scorers and the file a scorer
    reads."""
    spec = SCORERS[wildcards.scorer]
    inputs = {k: tables[k] for k in ("genes", "individuals", "expression") if k in tables}
    if spec["type"] == "precomputed":
        inputs["table"] = spec["table"]
    else:
        inputs["reference"] = get_input("reference")
        inputs["stores"] = get_chunk_store(wildcards)
    if spec["type"] in ("enformer", "alphagenome_local"):
        inputs["weights"] = spec["weights"]
    if spec["type"] == "alphagenome_local":
        inputs["track_metadata"] = spec["track_metadata"]
    if spec["type"] == "torch_module":
        inputs.update(get_torch_module_files(spec))
    if spec["type"] == "borzoi":
        w = spec["weights"]
        inputs["weights"] = [w] if isinstance(w, str) else list(w)
        inputs.update({k: spec[k] for k in ("gtf", "targets") if spec.get(k)})
    return inputs


def get_shared_scorer_inputs(wildcards):
    """Rule score_haplotypes: the union tables of a many-tissue run, plus what the scorer reads."""
    return get_scorer_inputs(wildcards, STORE_TABLES)


def get_scorer_stamps(wildcards):
    """file_stamps of the files a scorer reads itself (its inputs outside results/: score
    table, weights files or directories, replicates, track metadata, GTF, targets, code)."""
    paths = []
    for value in get_scorer_inputs(wildcards).values():
        paths.extend([value] if isinstance(value, str) else value)
    return file_stamps(paths)


def get_scorer_env(wildcards):
    """Conda env of a scorer type (AlphaGenome's client needs pandas<3: its own env)."""
    return SCORER_ENVS[SCORERS[wildcards.scorer]["type"]]


def get_torch_module_files(spec):
    """A torch_module scorer's files: its weights and a 'file.py:function' callable's file."""
    from ps2f.models.scorers.torch_module import parse_callable

    source, _, is_file = parse_callable(spec["callable"])
    files = {"callable_file": source} if is_file else {}
    return files | ({"weights": spec["weights"]} if spec["weights"] else {})


def get_scorer_gpu(wildcards):
    """1 for the local models (GPU inference) unless device: cpu, 0 for the API and tables."""
    spec = SCORERS[wildcards.scorer]
    local = spec["type"] in ("enformer", "alphagenome_local", "torch_module", "borzoi")
    return int(local and spec.get("device") != "cpu")


def get_final_outputs():
    """Every tissue's outputs (or the one phenotype set's), and with tissues the cross-tissue
    summary."""
    outputs = [
        f"{RUN}/evaluation/metrics.parquet",
        f"{RUN}/evaluation/summary.parquet",
        f"{RUN}/figures/r_distributions.png",
        f"{RUN}/figures/vs_elastic_net.png",
        f"{RUN}/figures/direction_accuracy.png",
        f"{RUN}/evaluation/comparisons.parquet",
        f"{RUN}/figures/cross_gene_contrast.png",
        f"{RUN}/figures/gene_examples.png",
        f"{RUN}/figures/window_coverage.png",
        # each scorer's haplotype scores, importable by a `precomputed` scorer elsewhere
        *expand(
            f"{RUN}/scores/{{scorer}}.haplotypes.parquet", scorer=list(SCORERS), allow_missing=True
        ),
    ]
    if not TISSUES:
        return outputs
    return [
        *expand(outputs, tissue=list(TISSUES)),
        f"{RUN_ROOT}/evaluation/cross_tissue.csv",
        f"{RUN_ROOT}/figures/cross_tissue.png",
    ]
