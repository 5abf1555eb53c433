# The embedded toy sample: DL1 ROOT files written with uproot (docs/toy-simulation.md),
# one job per run, each run a declared output: adding runs simulates only the new ones.


rule simulate:
    output:
        dl1=f"{SIM_OUT}/{{kind}}/{{kind}}_run{{obs}}.root",
    log:
        f"{R}/logs/simulate/{{kind}}/run{{obs}}.log",
    benchmark:
        f"{R}/benchmarks/simulate/{{kind}}/run{{obs}}.tsv"
    wildcard_constraints:
        obs="[0-9]{5}",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=30,
    params:
        n_showers=lambda w: config["simulation"]["kinds"][w.kind]["n_showers"],
        seed=config["simulation"]["seed"],
        zenith=config["simulation"]["zenith"],
        azimuth=config["simulation"]["azimuth"],
    script:
        "../scripts/simulate.py"
