# Image-level training tables: one output per input file, written by batch jobs.


rule training_data_energy:
    input:
        files=planned_batch("energy"),
    output:
        manifest=f"{R}/training/energy/{{dataset}}/batch-{{batch}}.json",
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
        folder=f"{STAGE_DIR['energy']}/{{dataset}}",
        spec=lambda w: config["datasets"][w.dataset],
        role="energy",
        naming=config["output_naming"],
        max_events=TEST["max_events_per_file"],
        skip_bad_files=config["skip_bad_files"],
    script:
        "../scripts/training_data.py"


rule training_data_classification:
    input:
        files=planned_batch("classification"),
        energy_model=f"{R}/models/energy.joblib",
    output:
        manifest=f"{R}/training/classification/{{dataset}}/batch-{{batch}}.json",
    log:
        f"{R}/logs/training/classification/{{dataset}}/batch-{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/training/classification/{{dataset}}/batch-{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=60,
        disk_mb=batch_disk_mb("classification"),
    params:
        folder=f"{STAGE_DIR['classification']}/{{dataset}}",
        spec=lambda w: config["datasets"][w.dataset],
        role="classification",
        naming=config["output_naming"],
        max_events=TEST["max_events_per_file"],
        skip_bad_files=config["skip_bad_files"],
    script:
        "../scripts/training_data.py"
