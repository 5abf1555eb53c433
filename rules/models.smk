# One estimator per telescope type, trained on every training table of the role.


rule train_energy:
    input:
        tables=training_inputs("energy"),
        plans=all_plans("energy"),
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
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=240,
    script:
        "../scripts/train.py"


rule train_classifier:
    input:
        tables=training_inputs("classification"),
        plans=all_plans("classification"),
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
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=240,
    script:
        "../scripts/train.py"
