"""Snakemake adapter: merge a dataset's DL2 batches (showerflow.stages.run_merge)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_merge

setup_logging(snakemake.log[0])
run_merge(list(snakemake.input.batches), snakemake.output.dl2, snakemake.wildcards.dataset)
