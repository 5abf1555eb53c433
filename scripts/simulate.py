"""Snakemake adapter: simulate one run of the toy sample (showerflow.simulate)."""

from showerflow.logs import setup_logging
from showerflow.simulate import simulate_one

setup_logging(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
simulate_one(
    snakemake.output.dl1,
    w.kind,
    int(w.obs),
    p.n_showers,
    p.seed,
    zenith=p.zenith,
    azimuth=p.azimuth,
)
