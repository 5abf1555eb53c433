"""Snakemake adapter: IRFs, sensitivity and benchmarks (showerflow.performance)."""

from showerflow.logs import setup_logging
from showerflow.performance import load_performance_config, run_performance, write_outputs
from showerflow.provenance import record
from showerflow.stages import write_json
from showerflow.tables import read_metadata

setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
dl2 = {"gamma": i.gamma, "proton": i.proton, "electron": i.electron}
result = run_performance(dl2, load_performance_config(i.config))
parents = {k: read_metadata(v).get("provenance", {}) for k, v in dl2.items()}
prov = record(
    config=next(iter(parents.values())).get("config"),
    catalogs={k: c for p in parents.values() for k, c in p.get("catalogs", {}).items()},
    inputs=list(dl2.values()),
)
prov["dl1_files"] = {k: read_metadata(v).get("inputs", []) for k, v in dl2.items()}
result["irfs"][0].header["SFCONFIG"] = (prov["config_digest"][:16], "showerflow config digest")
write_outputs(
    result,
    irf=o.irf,
    sensitivity=o.sensitivity,
    angular_resolution=o.angular_resolution,
    energy_bias_resolution=o.energy_bias_resolution,
)
write_json(prov, o.provenance)
