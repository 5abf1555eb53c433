"""Snakemake adapter: image-level training table of a batch (showerflow.stages.run_training_data)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_training_data

setup_logging(snakemake.log[0])
run_training_data(
    list(snakemake.input.files),
    snakemake.output.table,
    energy_model=snakemake.input.get("energy_model"),
)
