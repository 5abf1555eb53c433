"""Snakemake adapter: one dataset's catalog and roles (showerflow.stages.run_catalog).

``skip_bad_files`` is read from the config, not a parameter: switching it never reruns a
catalog that succeeded.
"""

from showerflow.logs import setup_logging
from showerflow.stages import run_catalog

setup_logging(snakemake.log[0])
p = snakemake.params
run_catalog(
    snakemake.wildcards.dataset,
    p.spec,
    snakemake.output.catalog,
    snakemake.output.summary,
    skip_bad_files=snakemake.config["skip_bad_files"],
    max_files=p.max_files,
    paths=list(snakemake.input.files),
)
