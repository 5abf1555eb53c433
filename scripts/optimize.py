"""Snakemake adapter: the cuts file (showerflow.performance.run_optimize)."""

from showerflow.logs import setup_logging
from showerflow.performance import (
    SAMPLES,
    load_performance_config,
    run_optimize,
    with_overrides,
    write_cuts,
)

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
dl2 = {sample: i[sample] for sample in SAMPLES if sample in i.keys()}
cfg = with_overrides(load_performance_config(i.config), snakemake.params.observation_time)
cuts, _ = run_optimize(dl2, cfg)
write_cuts(cuts, o.cuts)
