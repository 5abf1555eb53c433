"""Snakemake adapter: ctapipe-process on one sim_telarray file (showerflow.simtel)."""

from showerflow.logs import setup_logging
from showerflow.simtel import run_ctapipe_process

setup_logging(snakemake.log.main)
run_ctapipe_process(
    snakemake.input.simtel,
    snakemake.output.dl1,
    snakemake.input.config,
    snakemake.log.provenance,
    log_file=snakemake.log.ctapipe,
)
