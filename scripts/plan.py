"""Snakemake adapter: which inputs still need a stage (showerflow.stages.run_plan).

``files_per_job`` is read from the config: it shapes the batches still to run, never the
outputs, so changing it reruns nothing.
"""

from showerflow.logs import setup_logging
from showerflow.pipeline import model_paths
from showerflow.stages import run_plan

setup_logging(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
run_plan(
    w.dataset,
    w.stage,
    snakemake.input.catalog,
    snakemake.config["results"],
    snakemake.output.plan,
    naming=p.naming,
    files_per_job=snakemake.config["files_per_job"],
    models=model_paths(snakemake.config["results"], w.stage),
    max_events=p.max_events,
    spec=p.spec,
    drift=p.drift,
)
