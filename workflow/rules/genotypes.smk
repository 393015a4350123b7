# Phased VCF -> per-contig variant store (REF checked against the FASTA). Haplotype sequences are
# never written: they are built on the fly from this store and the FASTA by the model rules.


rule genotypes:
    input:
        vcf=get_input("genotypes"),
        reference=get_input("reference"),
        genes=PHENOTYPES["genes"],
        individuals=PHENOTYPES["individuals"],
    output:
        store=f"{RUN}/variants/{{contig}}.npz",
        stats=f"{RUN}/variants/{{contig}}.stats.json",
    params:
        window_bp=get_store_window_bp(),
        cis_window_bp=config["baselines"]["cis_window_bp"],
        cis_window_anchor=config["baselines"]["cis_window_anchor"],
        indel_flank_bp=config["genotypes"]["indel_flank_bp"],
        snvs_only=config["genotypes"]["snvs_only"],
        missing_policy=config["genotypes"]["missing_policy"],
        contig_aliases=config["contig_aliases"],
    log:
        f"{LOGS}/genotypes/{{contig}}.log",
    benchmark:
        f"{LOGS}/genotypes/{{contig}}.benchmark.tsv"
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
        reference=get_input("reference"),
        genes=PHENOTYPES["genes"],
        individuals=PHENOTYPES["individuals"],
    output:
        store=f"{RUN}/dosages/{{contig}}.npz",
        stats=f"{RUN}/dosages/{{contig}}.stats.json",
    params:
        cis_window_bp=config["baselines"]["cis_window_bp"],
        cis_window_anchor=config["baselines"]["cis_window_anchor"],
        dosage_field=config["baselines"]["dosage_field"],
        snvs_only=config["baselines"]["snvs_only"],
        missing_policy=config["genotypes"]["missing_policy"],
        contig_aliases=config["contig_aliases"],
    log:
        f"{LOGS}/dosages/{{contig}}.log",
    benchmark:
        f"{LOGS}/dosages/{{contig}}.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=scaled_by_attempt(4000),
        runtime=scaled_by_attempt(30),
    conda:
        "../../envs/ps2f.yaml"
    script:
        "../scripts/dosages.py"
