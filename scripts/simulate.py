"""Snakemake adapter: simulate one kind's runs (showerflow.simulate)."""

from showerflow.logs import setup_logging
from showerflow.simulate import simulate_production
from showerflow.stages import write_json

setup_logging(snakemake.log[0])
p = snakemake.params
paths = simulate_production(
    p.folder,
    snakemake.wildcards.kind,
    p.n_runs,
    p.n_showers,
    p.seed,
    zenith=p.zenith,
    azimuth=p.azimuth,
)
write_json(
    {"kind": snakemake.wildcards.kind, "files": [str(x) for x in paths]}, snakemake.output.manifest
)
