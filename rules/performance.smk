# IRFs and sensitivity with pyirf from the merged DL2 of gammas, protons and electrons.


rule performance:
    input:
        gamma=lambda w: f"{R}/dl2/{performance_dataset(config, 'gamma')}.parquet",
        proton=lambda w: f"{R}/dl2/{performance_dataset(config, 'proton')}.parquet",
        electron=lambda w: f"{R}/dl2/{performance_dataset(config, 'electron')}.parquet",
        config=config["performance"]["config"],
    output:
        irf=f"{R}/irf/irf.fits.gz",
        sensitivity=f"{R}/performance/sensitivity.ecsv",
        angular_resolution=f"{R}/performance/angular_resolution.ecsv",
        energy_bias_resolution=f"{R}/performance/energy_bias_resolution.ecsv",
        provenance=f"{R}/performance/provenance.json",
    log:
        f"{R}/logs/performance.log",
    benchmark:
        f"{R}/benchmarks/performance.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=60,
    script:
        "../scripts/performance.py"
