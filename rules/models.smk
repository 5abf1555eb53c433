# One estimator per telescope type, trained on every training table of the role; the
# receipts record the tables used (their size and mtime), so a damaged one is redone.


rule train_energy:
    input:
        tables=role_outputs("energy"),
        catalogs=catalogs_of("energy"),
        config=config["models"]["energy"],
    output:
        model=f"{R}/{pl.MODELS['energy'].path}",
        metrics=f"{R}/{pl.MODELS['energy'].metrics}",
        receipts=receipts_of("energy"),
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


use rule train_energy as train_classifier with:
    input:
        tables=role_outputs("classification"),
        catalogs=catalogs_of("classification"),
        config=config["models"]["classifier"],
    output:
        model=f"{R}/{pl.MODELS['classifier'].path}",
        metrics=f"{R}/{pl.MODELS['classifier'].metrics}",
        receipts=receipts_of("classification"),
    log:
        f"{R}/logs/models/classifier.log",
    benchmark:
        f"{R}/benchmarks/models/classifier.tsv"
