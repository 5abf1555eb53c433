# Cuts, IRFs and sensitivity with pyirf from the merged DL2 of the performance samples:
# `optimize` writes the cuts (a product: irf/cuts.fits, unless performance.cuts brings a
# cuts file), `performance` applies them and writes the IRF files of performance.yaml's
# `irfs`, the sensitivity and benchmark tables. The performance config is read here (not
# written) because it decides which IRF files exist.
from showerflow.performance import OUTPUT_NAMES, load_performance_config
from showerflow.performance.io import TABLES
from showerflow.workflow import performance_dl2

PERF_CFG = load_performance_config(config["performance"]["config"])
PERF_SAMPLES = [
    s
    for s in ("gamma", "gamma_diffuse", "proton", "electron")
    if s != "gamma_diffuse" or config["performance"]["gamma_diffuse"]
]
# per-offset cuts are optimised on the diffuse gammas; one set for the FoV on the on-axis ones
OPTIMIZE_SAMPLES = [
    s for s in PERF_SAMPLES if s != "gamma_diffuse" or PERF_CFG["cuts"]["per_offset"]
]
CUTS_FILE = config["performance"]["cuts"] or f"{R}/irf/cuts.fits"
IRF_FILES = {kind: f"{R}/irf/{OUTPUT_NAMES[kind]}" for kind in PERF_CFG["irfs"]}
PERF_TABLES = {name: f"{R}/performance/{OUTPUT_NAMES[name]}" for name in TABLES}
PERF_PLOTS = [
    "sensitivity",
    "sensitivity_offset",
    "angular_resolution",
    "angular_resolution_containment",
    "energy_bias_resolution",
    "effective_area",
    "background_rate",
    "cuts",
]

#: The final products of the performance stage and its plots, for `rule all`.
PERFORMANCE_TARGETS = (
    ([] if config["performance"]["cuts"] else [CUTS_FILE])
    + list(IRF_FILES.values())
    + list(PERF_TABLES.values())
    + [f"{R}/performance/provenance.json"]
    + [f"{R}/plots/{name}.png" for name in PERF_PLOTS]
)


rule optimize:
    input:
        unpack(performance_dl2(config, R, OPTIMIZE_SAMPLES)),
        config=config["performance"]["config"],
    output:
        cuts=f"{R}/irf/cuts.fits",
    log:
        f"{R}/logs/optimize.log",
    benchmark:
        f"{R}/benchmarks/optimize.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 4000 * attempt,
        runtime=60,
    params:
        observation_time=config["performance"]["observation_time"],
    script:
        "../scripts/optimize.py"


rule performance:
    input:
        unpack(performance_dl2(config, R, PERF_SAMPLES)),
        cuts=CUTS_FILE,
        config=config["performance"]["config"],
    output:
        **IRF_FILES,
        **PERF_TABLES,
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
    params:
        observation_time=config["performance"]["observation_time"],
    script:
        "../scripts/performance.py"
