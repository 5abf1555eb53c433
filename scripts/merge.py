"""Snakemake adapter: merge a dataset's DL2 outputs (showerflow.stages.run_merge).

``acceptance`` is read from the config: changing it never remakes a merge that passed.
"""

from showerflow.logs import setup_logging
from showerflow.provenance import record
from showerflow.stages import read_summary, run_merge

setup_logging(snakemake.log[0])
i, o, dataset = snakemake.input, snakemake.output, snakemake.wildcards.dataset
run_merge(
    list(i.dl2),
    o.dl2,
    dataset,
    summary=i.summary,
    acceptance=snakemake.config["acceptance"],
    provenance=record(
        config=snakemake.config, catalogs={dataset: read_summary(i.summary)["digest"]}
    ),
    receipt=o.receipt,
)
