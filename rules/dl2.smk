# DL2: both models applied, one output per input file (batch jobs into their staging
# folder, then `publish`); merged per dataset, with a receipt of the outputs merged.


rule dl2:
    input:
        unpack(batch_inputs("dl2")),
    output:
        staging=temp(directory(STAGING["dl2"])),
    log:
        f"{R}/logs/dl2/{{dataset}}/batch-{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/dl2/{{dataset}}/batch-{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=120,
        disk_mb=batch_disk_mb("dl2"),
    params:
        batch=batch_params("dl2"),
    script:
        "../scripts/dl2.py"


rule merge_dl2:
    input:
        dl2=lambda w: stage_outputs("dl2", w.dataset),
        catalog=ancient(f"{R}/catalog/{{dataset}}.parquet"),
        summary=f"{R}/catalog/{{dataset}}.json",
    output:
        dl2=f"{R}/dl2/{{dataset}}.parquet",
        receipt=f"{R}/receipts/dl2/{{dataset}}.json",
    log:
        f"{R}/logs/dl2/{{dataset}}.merge.log",
    benchmark:
        f"{R}/benchmarks/dl2/{{dataset}}.merge.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=30,
        disk_mb=lambda w, input: max(2 * input.size_mb, 1000),
    script:
        "../scripts/merge.py"
