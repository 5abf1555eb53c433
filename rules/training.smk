# Image-level training tables, one per batch of files.


rule training_data_energy:
    input:
        files=batch_files("energy"),
    output:
        table=f"{R}/training/energy/{{dataset}}/batch{{batch}}.parquet",
    log:
        f"{R}/logs/training/energy/{{dataset}}/batch{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/training/energy/{{dataset}}/batch{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=2000,
    script:
        "../scripts/training_data.py"


rule training_data_classification:
    input:
        files=batch_files("classification"),
        energy_model=f"{R}/models/energy.joblib",
    output:
        table=f"{R}/training/classification/{{dataset}}/batch{{batch}}.parquet",
    log:
        f"{R}/logs/training/classification/{{dataset}}/batch{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/training/classification/{{dataset}}/batch{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=2000,
    script:
        "../scripts/training_data.py"
