"""Snakemake adapter: which inputs still need a stage (showerflow.stages.run_plan)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_plan

setup_logging(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
run_plan(
    w.dataset,
    w.stage,
    snakemake.input.catalog,
    p.folder,
    p.naming,
    p.files_per_job,
    snakemake.output.plan,
    models=p.models,
    max_events=p.max_events,
)
