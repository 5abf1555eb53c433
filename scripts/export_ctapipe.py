"""Snakemake adapter: merged DL2 in ctapipe's DL2 layout (showerflow.ctapipe_dl2)."""

from showerflow.ctapipe_dl2 import write_ctapipe_dl2
from showerflow.logs import setup_logging

setup_logging(snakemake.log[0])
write_ctapipe_dl2(snakemake.input.dl2, snakemake.output.dl2, prefixes=snakemake.params.prefixes)
