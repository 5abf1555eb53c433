# One checkpoint per dataset: inspect its files, check the bookkeeping, assign roles.
# Its inputs are the dataset's files (or the simulation's manifest): adding, removing or
# replacing a file reruns it.


checkpoint catalog:
    input:
        files=catalog_inputs,
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
        spec=lambda w: dataset_spec(config, w.dataset),
        max_files=TEST["max_files_per_dataset"],
    script:
        "../scripts/catalog.py"
