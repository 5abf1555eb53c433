"""Snakemake adapter: merge a dataset's DL2 outputs (showerflow.stages.run_merge)."""

from showerflow.logs import setup_logging
from showerflow.provenance import record
from showerflow.stages import read_summary, run_merge

setup_logging(snakemake.log[0])
i, dataset = snakemake.input, snakemake.wildcards.dataset
run_merge(
    list(i.dl2),
    snakemake.output.dl2,
    dataset,
    plan=i.plan,
    summary=i.summary,
    acceptance=snakemake.params.acceptance,
    provenance=record(
        config=snakemake.params.config, catalogs={dataset: read_summary(i.summary)["digest"]}
    ),
)
