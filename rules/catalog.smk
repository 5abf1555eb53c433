# One checkpoint per dataset: inspect its files, check the bookkeeping, assign roles.


checkpoint catalog:
    input:
        simulation_manifest,
    output:
        catalog=f"{R}/catalog/{{dataset}}.parquet",
        summary=f"{R}/catalog/{{dataset}}.json",
    log:
        f"{R}/logs/catalog/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/catalog/{{dataset}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=30,
    params:
        spec=lambda w: config["datasets"][w.dataset],
        identity=config["identity"],
        skip_bad_files=config["skip_bad_files"],
        max_files=TEST["max_files_per_dataset"],
        listing=listing_digest,
    script:
        "../scripts/catalog.py"
