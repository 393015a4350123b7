# Phased VCF/BCF or PLINK 2 .pgen -> per-contig variant store (REF checked against the FASTA). Haplotype sequences are
# never written: they are built on the fly from this store and the FASTA by the model rules.


rule genotypes:
    input:
        vcf=get_input("genotypes"),
        **get_genotype_companions("genotypes"),
        reference=get_input("reference"),
        **STORE_TABLES,
        # an external test cohort's genotypes join the store, harmonized to these
        **get_external_inputs("genotypes"),
    output:
        store=f"{RUN_ROOT}/variants/{{contig}}.npz",
        stats=f"{RUN_ROOT}/variants/{{contig}}.stats.json",
    params:
        settings=get_store_settings(),
    log:
        f"{LOGS_ROOT}/genotypes/{{contig}}.log",
    benchmark:
        f"{LOGS_ROOT}/genotypes/{{contig}}.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/genotypes.py"


# inputs.dosages (optional): the genotype baselines' allele dosages from a VCF whose calls need
# not be phased, or imputed FORMAT/DS, REF checked against the FASTA like the phased store.
rule dosages:
    input:
        vcf=get_dosages_input().get("dosages", []),
        **get_genotype_companions("dosages"),
        reference=get_input("reference"),
        **STORE_TABLES,
    output:
        store=f"{RUN_ROOT}/dosages/{{contig}}.npz",
        stats=f"{RUN_ROOT}/dosages/{{contig}}.stats.json",
    params:
        settings=get_dosage_settings(),
    log:
        f"{LOGS_ROOT}/dosages/{{contig}}.log",
    benchmark:
        f"{LOGS_ROOT}/dosages/{{contig}}.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/dosages.py"
