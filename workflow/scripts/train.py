from ps2f.pipeline import run_train, setup_logging

setup_logging(snakemake.log[0])
run_train(
    kind="p" if snakemake.rule == "train_p" else "r",
    genes_path=snakemake.input.genes,
    individuals_path=snakemake.input.individuals,
    expression_path=snakemake.input.expression,
    reference=snakemake.input.reference,
    store_paths=list(snakemake.input.stores),
    s2f=snakemake.params.s2f,
    split=snakemake.params.split,
    contig_aliases=snakemake.params.contig_aliases,
    threads=snakemake.threads,
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    init_model=snakemake.input.get("init"),
)
