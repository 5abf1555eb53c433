"""Snakemake adapter: one dataset's catalog, roles and batches (showerflow.stages.run_catalog)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_catalog

setup_logging(snakemake.log[0])
p = snakemake.params
run_catalog(
    snakemake.wildcards.dataset,
    dict(p.spec, identity=p.identity),
    p.files_per_job,
    snakemake.output.catalog,
    snakemake.output.batches,
    skip_bad_files=p.skip_bad_files,
)
