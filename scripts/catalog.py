"""Snakemake adapter: one dataset's catalog and roles (showerflow.stages.run_catalog)."""

from showerflow.logs import setup_logging
from showerflow.stages import run_catalog

setup_logging(snakemake.log[0])
p = snakemake.params
run_catalog(
    snakemake.wildcards.dataset,
    dict(p.spec, identity=p.identity),
    snakemake.output.catalog,
    snakemake.output.summary,
    skip_bad_files=p.skip_bad_files,
    max_files=p.max_files,
)
