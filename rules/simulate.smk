# The embedded toy sample: DL1 ROOT files written with uproot (docs/toy-simulation.md).


rule simulate:
    output:
        manifest=f"{SIM_OUT}/{{kind}}.manifest.json",
    log:
        f"{R}/logs/simulate/{{kind}}.log",
    benchmark:
        f"{R}/benchmarks/simulate/{{kind}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=60,
    params:
        folder=lambda w: f"{SIM_OUT}/{w.kind}",
        n_runs=lambda w: config["simulation"]["kinds"][w.kind]["n_runs"],
        n_showers=lambda w: config["simulation"]["kinds"][w.kind]["n_showers"],
        seed=config["simulation"].get("seed", 42),
        zenith=config["simulation"].get("zenith", 20.0),
        azimuth=config["simulation"].get("azimuth", 0.0),
    script:
        "../scripts/simulate.py"
