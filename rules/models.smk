# One estimator per telescope type, trained on all batches of the role, with metrics.


rule train_energy:
    input:
        tables=batch_outputs(
            "energy", f"{R}/training/energy/{{dataset}}/batch{{batch}}.parquet"
        ),
        config=config["models"]["energy"],
    output:
        model=f"{R}/models/energy.joblib",
        metrics=f"{R}/models/energy.metrics.json",
    log:
        f"{R}/logs/models/energy.log",
    benchmark:
        f"{R}/benchmarks/models/energy.tsv"
    conda:
        "../envs/showerflow.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/train.py"


rule train_classifier:
    input:
        tables=batch_outputs(
            "classification",
            f"{R}/training/classification/{{dataset}}/batch{{batch}}.parquet",
        ),
        config=config["models"]["classifier"],
    output:
        model=f"{R}/models/classifier.joblib",
        metrics=f"{R}/models/classifier.metrics.json",
    log:
        f"{R}/logs/models/classifier.log",
    benchmark:
        f"{R}/benchmarks/models/classifier.tsv"
    conda:
        "../envs/showerflow.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/train.py"
