# Optional (ctapipe_export.enabled): DL2 and cuts in ctapipe's layouts, for
# ctapipe-optimize-event-selection and ctapipe-compute-irf (docs/formats.md).
from showerflow.workflow import ctapipe_prefixes


rule export_ctapipe_dl2:
    input:
        dl2=f"{R}/dl2/{{dataset}}.parquet",
    output:
        dl2=f"{R}/dl2/{{dataset}}.dl2.h5",
    log:
        f"{R}/logs/export_ctapipe/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/export_ctapipe/{{dataset}}.tsv"
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=60,
    params:
        prefixes=lambda w: ctapipe_prefixes(config),
    script:
        "../scripts/export_ctapipe.py"


rule export_ctapipe_cuts:
    input:
        cuts=CUTS_FILE,
        config=config["performance"]["config"],
    output:
        cuts=f"{R}/irf/ctapipe_cuts.fits",
    log:
        f"{R}/logs/export_ctapipe/cuts.log",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        prefixes=lambda w: ctapipe_prefixes(config),
    script:
        "../scripts/export_ctapipe_cuts.py"
