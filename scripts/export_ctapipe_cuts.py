"""Snakemake adapter: showerflow's cuts as ctapipe's cuts file (showerflow.ctapipe_dl2)."""

from showerflow.ctapipe_dl2 import write_ctapipe_cuts
from showerflow.logs import setup_logging
from showerflow.performance import load_performance_config

setup_logging(snakemake.log[0])
cfg = load_performance_config(snakemake.input.config)
write_ctapipe_cuts(
    snakemake.input.cuts,
    snakemake.output.cuts,
    cfg["quality_cuts"],
    prefixes=snakemake.params.prefixes,
)
