"""Snakemake adapter: simulate one kind's runs (showerflow.simulate)."""

from showerflow.logs import setup_logging
from showerflow.simulate import prune_runs, simulate_production
from showerflow.stages import write_json

setup_logging(snakemake.log[0])
p = snakemake.params
kind = snakemake.wildcards.kind
paths = simulate_production(
    p.folder, kind, p.n_runs, p.n_showers, p.seed, zenith=p.zenith, azimuth=p.azimuth
)
prune_runs(p.folder, kind, paths)
write_json({"kind": kind, "files": [str(x) for x in paths]}, snakemake.output.manifest)
