# showerflow: staged performance analysis of a Cherenkov telescope array.
# DL1 -> catalog -> training data -> energy model -> classifier -> DL2 -> IRFs, sensitivity.
import os

from snakemake.utils import min_version, validate

from showerflow.config import coerce_strings, load_schema
from showerflow.pipeline import STAGES as STAGE_NAMES
from showerflow.workflow import check_config

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


# --config values arrive as text (`skip_bad_files=true`, nested mappings): typed first
coerce_strings(config, load_schema("config"))
validate(config, "config/schemas/config.schema.yaml")
check_config(config, files=workflow.is_main_process)

R = config["results"].rstrip(os.sep) or "."


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    batch="[0-9a-f]{12}",
    stage="|".join(STAGE_NAMES),
    kind="[A-Za-z0-9_]+",


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/dl1.smk"
include: "rules/catalog.smk"
include: "rules/plan.smk"
include: "rules/training.smk"
include: "rules/publish.smk"
include: "rules/models.smk"
include: "rules/dl2.smk"
include: "rules/performance.smk"
include: "rules/plots.smk"
include: "rules/report.smk"
include: "rules/ctapipe_export.smk"


rule all:
    default_target: True
    input:
        products=final_products,
        per_file=per_file_outputs,
