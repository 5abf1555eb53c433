"""Snakemake adapter: train a model and write its metrics (showerflow.stages.run_train)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_train

setup_logging(snakemake.log[0])
run_train(
    list(snakemake.input.tables) + list(snakemake.input.plans),  # manifests, plans
    snakemake.input.config,
    snakemake.output.model,
    snakemake.output.metrics,
    n_jobs=snakemake.threads,
)
