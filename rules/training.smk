# Image-level training tables: batch jobs write one table per input file into their
# staging folder; `publish` (rules/publish.smk) gives each its final name.


rule training_data_energy:
    input:
        unpack(batch_inputs("energy")),
    output:
        staging=temp(directory(STAGING["energy"])),
    log:
        f"{R}/logs/training/energy/{{dataset}}/batch-{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/training/energy/{{dataset}}/batch-{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=60,
        disk_mb=batch_disk_mb("energy"),
    params:
        batch=batch_params("energy"),
        role="energy",
    script:
        "../scripts/training_data.py"


use rule training_data_energy as training_data_classification with:
    input:
        unpack(batch_inputs("classification")),
    output:
        staging=temp(directory(STAGING["classification"])),
    log:
        f"{R}/logs/training/classification/{{dataset}}/batch-{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/training/classification/{{dataset}}/batch-{{batch}}.tsv"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=60,
        disk_mb=batch_disk_mb("classification"),
    params:
        batch=batch_params("classification"),
        role="classification",
