"""Snakemake adapter: DL2 of a batch (showerflow.stages.run_dl2)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_dl2

setup_logging(snakemake.log[0])
run_dl2(
    list(snakemake.input.files),
    snakemake.input.energy_model,
    snakemake.input.classifier,
    snakemake.output.dl2,
)
