"""Snakemake adapter: DL2 of a batch, one output per file (showerflow.stages.run_dl2).

``chunk_size`` and ``skip_bad_files`` come from the config: the rows do not depend on the
chunk size, and switching either never reruns a batch.
"""

from showerflow.logs import setup_logging
from showerflow.stages import run_dl2, spec_of_settings

setup_logging(snakemake.log[0])
batch = snakemake.params.batch
run_dl2(
    batch,
    snakemake.input.energy,
    snakemake.input.classifier,
    snakemake.output.staging,
    skip_bad_files=snakemake.config["skip_bad_files"],
    spec=spec_of_settings(batch["requires"]["settings"]),
    chunk_size=snakemake.config["dl2"]["chunk_size"],
)
