"""Snakemake adapter: DL2 of a batch, one output per file (showerflow.stages.run_dl2)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_dl2

setup_logging(snakemake.log[0])
p = snakemake.params
run_dl2(
    list(snakemake.input.files),
    snakemake.input.energy_model,
    snakemake.input.classifier,
    p.folder,
    snakemake.output.manifest,
    naming=p.naming,
    max_events=p.max_events,
    skip_bad_files=p.skip_bad_files,
    spec=p.spec,
    chunk_size=p.chunk_size,
    n_jobs=snakemake.threads,
)
