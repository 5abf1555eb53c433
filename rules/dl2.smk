# DL2: both models applied per batch, then merged per dataset (simulation records travel along).


rule dl2:
    input:
        files=batch_files("performance"),
        energy_model=f"{R}/models/energy.joblib",
        classifier=f"{R}/models/classifier.joblib",
    output:
        dl2=f"{R}/dl2/{{dataset}}/batch{{batch}}.parquet",
    log:
        f"{R}/logs/dl2/{{dataset}}/batch{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/dl2/{{dataset}}/batch{{batch}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=2000,
    script:
        "../scripts/dl2.py"


rule merge_dl2:
    input:
        batches=dataset_batch_outputs(
            "performance", f"{R}/dl2/{{dataset}}/batch{{batch}}.parquet"
        ),
    output:
        dl2=f"{R}/dl2/{{dataset}}.parquet",
    log:
        f"{R}/logs/dl2/{{dataset}}.merge.log",
    benchmark:
        f"{R}/benchmarks/dl2/{{dataset}}.merge.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=1000,
    script:
        "../scripts/merge.py"
