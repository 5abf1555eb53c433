# One checkpoint per dataset and stage: which inputs still need the stage, in batches.
# A local rule: it reads the per-file outputs' footers where they are, on this host.
# Declared update(): the previous plan stays while the checkpoint runs (its batches'
# history carries over). `drift` changes when an output was deleted or rewritten since
# its consumer used it (one stat per output), so the plan is remade and batches exactly
# those files.


checkpoint plan:
    input:
        catalog=f"{R}/catalog/{{dataset}}.parquet",
        models=lambda w: model_files(w.stage),
    output:
        plan=update(f"{R}/plans/{{stage}}/{{dataset}}.json"),
    log:
        f"{R}/logs/plans/{{stage}}/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/plans/{{stage}}/{{dataset}}.tsv"
    localrule: True
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    params:
        drift=lambda w: drift(w.stage, w.dataset),
        naming=NAMING,
        max_events=TEST["max_events_per_file"],
        spec=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/plan.py"
