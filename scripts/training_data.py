"""Snakemake adapter: training tables of a batch, one per file (showerflow.stages)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_training_data, spec_of_settings

setup_logging(snakemake.log[0])
batch = snakemake.params.batch
run_training_data(
    batch,
    snakemake.output.staging,
    energy_model=snakemake.input.get("energy"),
    skip_bad_files=snakemake.config["skip_bad_files"],
    spec=spec_of_settings(batch["requires"]["settings"]),
    role=snakemake.params.role,
)
