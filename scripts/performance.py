"""Snakemake adapter: IRFs, sensitivity and benchmarks with given cuts (showerflow.performance)."""

from showerflow.logs import setup_logging
from showerflow.performance import (
    OUTPUT_NAMES,
    SAMPLES,
    load_performance_config,
    provenance_record,
    read_cuts,
    run_performance,
    stamp_config_digest,
    with_overrides,
    write_outputs,
)
from showerflow.stages import write_json

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
dl2 = {sample: i[sample] for sample in SAMPLES if sample in i.keys()}
cuts = read_cuts(i.cuts)
cfg = with_overrides(load_performance_config(i.config), snakemake.params.observation_time)
result = run_performance(dl2, cfg, cuts=cuts, cuts_path=i.cuts)
prov = provenance_record(dl2, cuts, i.cuts, performance_config=cfg)
stamp_config_digest(result["irfs"].values(), prov)
write_outputs(result, **{name: o[name] for name in OUTPUT_NAMES if name in o.keys()})
write_json(prov, o.provenance)
