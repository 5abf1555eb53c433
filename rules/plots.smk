# Plots of the models' metrics and of the performance (IRFs, sensitivity, resolutions).


rule plot_models:
    input:
        energy=f"{R}/models/energy.metrics.json",
        classifier=f"{R}/models/classifier.metrics.json",
    output:
        energy=f"{R}/plots/energy_bias_resolution_model.png",
        roc=f"{R}/plots/roc.png",
        auc=f"{R}/plots/auc_vs_energy.png",
        importances_energy=f"{R}/plots/feature_importances_energy.png",
        importances_classifier=f"{R}/plots/feature_importances_classifier.png",
    log:
        f"{R}/logs/plots/models.log",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    script:
        "../scripts/plot_models.py"


rule plot_performance:
    input:
        irf=f"{R}/irf/irf.fits.gz",
        sensitivity=f"{R}/performance/sensitivity.ecsv",
        angular_resolution=f"{R}/performance/angular_resolution.ecsv",
        energy_bias_resolution=f"{R}/performance/energy_bias_resolution.ecsv",
        config=config["performance"]["config"],
    output:
        sensitivity=f"{R}/plots/sensitivity.png",
        angular_resolution=f"{R}/plots/angular_resolution.png",
        energy_bias_resolution=f"{R}/plots/energy_bias_resolution.png",
        effective_area=f"{R}/plots/effective_area.png",
        background=f"{R}/plots/background_rate.png",
        cuts=f"{R}/plots/cuts.png",
    log:
        f"{R}/logs/plots/performance.log",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    script:
        "../scripts/plot_performance.py"
