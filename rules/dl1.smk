# sim_telarray -> ctapipe DL1: ctapipe-process on every file of a dataset's `simtel` entry
# (docs/formats.md). The catalog takes showerflow.simtel.dl1_outputs(config, dataset).
from showerflow.simtel import DL1_FOLDER as DL1_CTAPIPE
from showerflow.simtel import process_config as simtel_process_config
from showerflow.simtel import simtel_input


rule dl1:
    input:
        simtel=lambda w: simtel_input(config, w.dataset, w.name),
        config=lambda w: simtel_process_config(config, w.dataset),
    output:
        dl1=f"{R}/{DL1_CTAPIPE}/{{dataset}}/{{name}}.dl1.h5",
    log:
        main=f"{R}/logs/dl1/{{dataset}}/{{name}}.log",
        ctapipe=f"{R}/logs/dl1/{{dataset}}/{{name}}.ctapipe.log",
        provenance=f"{R}/logs/dl1/{{dataset}}/{{name}}.provenance.log",
    benchmark:
        f"{R}/benchmarks/dl1/{{dataset}}/{{name}}.tsv"
    wildcard_constraints:
        name="[^/]+",
    conda:
        "../envs/showerflow.yaml"
    resources:
        mem_mb=lambda w, attempt: 2000 * attempt,
        runtime=120,
    script:
        "../scripts/dl1.py"
