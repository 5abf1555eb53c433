# One checkpoint per dataset and stage: which inputs still need the stage, in batches.


checkpoint plan:
    input:
        catalog=f"{R}/catalog/{{dataset}}.parquet",
        models=lambda w: list(STAGE_MODELS[w.stage].values()),
    output:
        plan=f"{R}/plans/{{stage}}/{{dataset}}.json",
    log:
        f"{R}/logs/plans/{{stage}}/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/plans/{{stage}}/{{dataset}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    params:
        folder=lambda w: f"{STAGE_DIR[w.stage]}/{w.dataset}",
        models=lambda w: STAGE_MODELS[w.stage],
        naming=config["output_naming"],
        files_per_job=config["files_per_job"],
        max_events=TEST["max_events_per_file"],
    script:
        "../scripts/plan.py"
