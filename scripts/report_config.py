"""Snakemake adapter: the run's resolved configuration for the report (showerflow.report)."""

from pathlib import Path

from showerflow.logs import setup_logging
from showerflow.models import load_model_config
from showerflow.performance import load_performance_config
from showerflow.report import resolved_config, write_resolved_config

setup_logging(snakemake.log[0])
models = {Path(p).stem: load_model_config(p) for p in snakemake.input.models}
doc = resolved_config(
    dict(snakemake.config), load_performance_config(snakemake.input.performance), models
)
write_resolved_config(doc, snakemake.output.config)
