"""Snakemake adapter: train a model and write its metrics (showerflow.stages.run_train)."""

from pathlib import Path

from showerflow.logs import setup_logging
from showerflow.stages import run_train

setup_logging(snakemake.log[0])
run_train(
    list(snakemake.input.tables),
    snakemake.input.config,
    snakemake.output.model,
    snakemake.output.metrics,
    n_jobs=snakemake.threads,
    receipts={Path(p).stem: p for p in snakemake.output.receipts},
)
