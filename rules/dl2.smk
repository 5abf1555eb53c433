# DL2: both models applied, one output per input file; merged per dataset.


rule dl2:
    input:
        files=planned_batch("dl2"),
        energy_model=f"{R}/models/energy.joblib",
        classifier=f"{R}/models/classifier.joblib",
    output:
        manifest=f"{R}/dl2/{{dataset}}/batch-{{batch}}.json",
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
        folder=f"{STAGE_DIR['dl2']}/{{dataset}}",
        spec=lambda w: config["datasets"][w.dataset],
        naming=config["output_naming"],
        max_events=TEST["max_events_per_file"],
        skip_bad_files=config["skip_bad_files"],
        chunk_size=config["dl2"]["chunk_size"],
    script:
        "../scripts/dl2.py"


rule merge_dl2:
    input:
        dl2=dl2_inputs,
        plan=f"{R}/plans/dl2/{{dataset}}.json",
        summary=f"{R}/catalog/{{dataset}}.json",
    output:
        dl2=f"{R}/dl2/{{dataset}}.parquet",
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
    params:
        acceptance=config["acceptance"],
        config=config,
    script:
        "../scripts/merge.py"
