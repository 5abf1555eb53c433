"""Snakemake adapter: IRFs, sensitivity and benchmarks (showerflow.performance)."""

from showerflow.logs import setup_logging
from showerflow.performance import load_performance_config, run_performance, write_outputs

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
result = run_performance(
    {"gamma": i.gamma, "proton": i.proton, "electron": i.electron},
    load_performance_config(i.config),
)
write_outputs(
    result,
    irf=o.irf,
    sensitivity=o.sensitivity,
    angular_resolution=o.angular_resolution,
    energy_bias_resolution=o.energy_bias_resolution,
)
