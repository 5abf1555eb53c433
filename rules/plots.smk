# Plots of the models' metrics and of the performance (IRFs, sensitivity, resolutions),
# each marked for `snakemake --report` with a caption in report/ (Jinja: the counts come
# from params.facts, read only when the report is made; showerflow.report.RunFacts).
from showerflow.report import RunFacts

FACTS = RunFacts(
    dl2={
        p: f"{R}/dl2/{config['performance'][p]}.parquet"
        for p in ("gamma", "proton", "electron")
    },
    metrics={m: f"{R}/{model.metrics}" for m, model in pl.MODELS.items()},
    performance=config["performance"]["config"],
)
MODELS = "1. Models"
PERF = "2. Performance"


rule plot_models:
    input:
        energy=f"{R}/{pl.MODELS['energy'].metrics}",
        classifier=f"{R}/{pl.MODELS['classifier'].metrics}",
    output:
        energy=report(
            f"{R}/plots/energy_bias_resolution_model.png",
            caption="../report/energy_model.rst",
            category=MODELS,
            subcategory="Energy regressor",
        ),
        roc=report(
            f"{R}/plots/roc.png",
            caption="../report/roc.rst",
            category=MODELS,
            subcategory="Gamma/hadron classifier",
        ),
        auc=report(
            f"{R}/plots/auc_vs_energy.png",
            caption="../report/auc_vs_energy.rst",
            category=MODELS,
            subcategory="Gamma/hadron classifier",
        ),
        importances_energy=report(
            f"{R}/plots/feature_importances_energy.png",
            caption="../report/feature_importances_energy.rst",
            category=MODELS,
            subcategory="Energy regressor",
        ),
        importances_classifier=report(
            f"{R}/plots/feature_importances_classifier.png",
            caption="../report/feature_importances_classifier.rst",
            category=MODELS,
            subcategory="Gamma/hadron classifier",
        ),
    log:
        f"{R}/logs/plots/models.log",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    params:
        facts=FACTS,
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
        sensitivity=report(
            f"{R}/plots/sensitivity.png",
            caption="../report/sensitivity.rst",
            category=PERF,
            subcategory="Sensitivity",
        ),
        angular_resolution=report(
            f"{R}/plots/angular_resolution.png",
            caption="../report/angular_resolution.rst",
            category=PERF,
            subcategory="Benchmarks",
        ),
        energy_bias_resolution=report(
            f"{R}/plots/energy_bias_resolution.png",
            caption="../report/energy_bias_resolution.rst",
            category=PERF,
            subcategory="Benchmarks",
        ),
        effective_area=report(
            f"{R}/plots/effective_area.png",
            caption="../report/effective_area.rst",
            category=PERF,
            subcategory="IRFs",
        ),
        background=report(
            f"{R}/plots/background_rate.png",
            caption="../report/background_rate.rst",
            category=PERF,
            subcategory="IRFs",
        ),
        cuts=report(
            f"{R}/plots/cuts.png",
            caption="../report/cuts.rst",
            category=PERF,
            subcategory="Cuts",
        ),
    log:
        f"{R}/logs/plots/performance.log",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 1000 * attempt,
        runtime=15,
    params:
        facts=FACTS,
    script:
        "../scripts/plot_performance.py"
