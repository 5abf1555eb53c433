"""Snakemake adapter: training tables of a batch, one per file (showerflow.stages)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_training_data

setup_logging(snakemake.log[0])
p = snakemake.params
run_training_data(
    list(snakemake.input.files),
    p.folder,
    snakemake.output.manifest,
    naming=p.naming,
    energy_model=snakemake.input.get("energy_model"),
    max_events=p.max_events,
    skip_bad_files=p.skip_bad_files,
    spec=p.spec,
    role=p.role,
)
