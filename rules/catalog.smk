# One checkpoint per dataset: inspect its files, check the bookkeeping, assign roles, batch.


checkpoint catalog:
    input:
        simulation_manifest,
    output:
        catalog=f"{R}/catalog/{{dataset}}.parquet",
        batches=f"{R}/catalog/{{dataset}}.batches.json",
    log:
        f"{R}/logs/catalog/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/catalog/{{dataset}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    params:
        spec=lambda w: config["datasets"][w.dataset],
        identity=config["identity"],
        files_per_job=config["files_per_job"],
        skip_bad_files=config["skip_bad_files"],
        listing=listing_digest,
    script:
        "../scripts/catalog.py"
