# Expression enters once: samples matched, genes matched, normalized, residualized on the
# covariates (fitted on training individuals only), splits assigned.


rule phenotypes:
    input:
        expression=get_input("expression"),
        annotation=get_input("annotation"),
        genotypes=get_input("genotypes"),
        reference=get_input("reference"),
        **get_covariates_input(),
        **get_dosages_input(),
    output:
        genes=PHENOTYPES["genes"],
        individuals=PHENOTYPES["individuals"],
        expression=PHENOTYPES["expression"],
    log:
        f"{LOGS}/phenotypes.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/phenotypes.py"
