# Input functions shared by the stage files. Two kinds of checkpoints decide the work:
# the catalog (which files, which roles) and the plans (which files still need a stage).
import re
import sys
from pathlib import Path

from snakemake.logging import logger

from showerflow.bookkeeping import STAGES, drift, read_plan_cached
from showerflow.stages import read_summary
from showerflow.status import STAGE_FOLDERS
from showerflow.status import STAGE_MODELS as STATUS_STAGE_MODELS
from showerflow.workflow import datasets_with_role, folder_digest, performance_dataset

SIM_OUT = config["simulation"]["output"]
TEST = config["test_mode"]
# Stage -> role of its inputs, folder of its outputs, models it applies (one definition,
# in the package, shared with `showerflow status`).
STAGE_ROLE = {stage: spec["role"] for stage, spec in STAGES.items()}
STAGE_DIR = {stage: f"{R}/{folder}" for stage, folder in STAGE_FOLDERS.items()}
STAGE_MODELS = {
    stage: {name: f"{R}/{path}" for name, path in models.items()}
    for stage, models in STATUS_STAGE_MODELS.items()
}


# What to remove when a stage's outputs drifted: the plan, and the products downstream of
# it up to a target, so that the run redoes exactly the damaged files and what follows.
DRIFT_PRODUCTS = {
    "energy": ["models/energy.joblib", "models/energy.metrics.json"],
    "classification": ["models/classifier.joblib", "models/classifier.metrics.json"],
    "dl2": [
        "dl2/{dataset}.parquet",
        "irf/irf.fits.gz",
        "performance/sensitivity.ecsv",
        "performance/angular_resolution.ecsv",
        "performance/energy_bias_resolution.ecsv",
        "performance/provenance.json",
    ],
}


def invalidate_drifted_plans():
    """Redo the plans whose outputs were deleted or rewritten since they were made.

    Snakemake does not remake a missing intermediate file (a plan, a per-file output)
    while the targets after it look up to date; so when ``drift`` finds an output that
    differs from what its plan and batches left (one ``stat`` per output), the plan and
    the products downstream of it are removed. The run then remakes exactly the damaged
    files and what depends on them. A dry run only reports it; a finished production with
    nothing damaged is left alone.
    """
    if not workflow.is_main_process:
        return
    dryrun = any(
        a in ("--dry-run", "--dryrun", "--just-print")
        or re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", a)
        for a in sys.argv[1:]
    )
    for stage, folder in STAGE_DIR.items():
        for dataset in config["datasets"]:
            plan = Path(f"{R}/plans/{stage}/{dataset}.json")
            state = drift(str(plan), f"{folder}/{dataset}")
            if state == "consistent":
                continue
            products = [plan] + [
                Path(R) / p.format(dataset=dataset) for p in DRIFT_PRODUCTS[stage]
            ]
            if dryrun:
                logger.warning(
                    f"outputs of {stage}/{dataset} were deleted or changed since its plan: "
                    f"a real run remakes them and removes {[str(p) for p in products]} first"
                )
                continue
            logger.warning(
                f"outputs of {stage}/{dataset} were deleted or changed since its plan: "
                "remaking that plan and what depends on it"
            )
            for p in products:
                p.unlink(missing_ok=True)


invalidate_drifted_plans()


def plan_of(stage, dataset):
    """The plan of a dataset and stage, after its checkpoint ran (parsed once per version)."""
    return read_plan_cached(
        checkpoints.plan.get(stage=stage, dataset=dataset).output.plan
    )


def planned_batch(stage):
    """Input function: the DL1 files of batch {batch} in the plan of ``stage``/{dataset}."""

    def inner(wildcards):
        return list(plan_of(stage, wildcards.dataset)["batches"][wildcards.batch])

    return inner


def batch_disk_mb(stage):
    """Resource: twice the MB of batch {batch}'s input files, at least 1000.

    From the plan (the catalog's sizes), not ``input.size_mb``: that stats every input
    of every job while the DAG is built.
    """

    def inner(wildcards, input):
        mb = plan_of(stage, wildcards.dataset).get("batch_mb", {}).get(wildcards.batch)
        if mb is None:  # a plan written before sizes were recorded
            mb = input.size_mb
        return max(2 * mb, 1000)

    return inner


def stage_outputs(stage, dataset):
    """Per-file outputs already good, plus the manifests of the batches still to run."""
    plan = plan_of(stage, dataset)
    done = [r["output"] for r in plan["files"] if r["status"] == "processed"]
    folder = f"{STAGE_DIR[stage]}/{dataset}"
    return done + [f"{folder}/batch-{b}.json" for b in plan["batches"]]


def training_inputs(stage):
    """Input function: the batches still to run of every dataset with the stage's role.

    The outputs already processed are not listed: the training script takes them from the
    plans (also inputs), and the plans' drift check (one ``stat`` per output) notices one
    deleted or rewritten. Listing them would make every job that needs the model (all DL2
    batches) pay a scan of this job's inputs in Snakemake's DAG build: O(files^2).
    """

    def inner(wildcards):
        datasets = datasets_with_role(config, STAGE_ROLE[stage])
        plans = {ds: plan_of(stage, ds) for ds in datasets}
        if not any(plan["files"] for plan in plans.values()):
            raise ValueError(
                f"no file of datasets {datasets} has the '{STAGE_ROLE[stage]}' role: roles "
                "are drawn by a hash of each file's identity, so a small dataset can get "
                "none; add files or raise the role's fraction"
            )
        return [
            f"{STAGE_DIR[stage]}/{ds}/batch-{b}.json"
            for ds, plan in plans.items()
            for b in plan["batches"]
        ]

    return inner


def all_plans(stage):
    """Every plan of a stage, as plain inputs: Snakemake schedules them all at once."""
    role = STAGE_ROLE[stage]
    return [f"{R}/plans/{stage}/{ds}.json" for ds in datasets_with_role(config, role)]


def dl2_inputs(wildcards):
    """Input function: the per-file DL2 outputs of dataset {dataset}."""
    return stage_outputs("dl2", wildcards.dataset)


def simulation_manifest(wildcards):
    """The simulation job a dataset's files come from, if the workflow simulates them."""
    spec = config["datasets"][wildcards.dataset]
    if config["simulation"]["enabled"] and spec.get("simulated"):
        return f"{SIM_OUT}/{spec['simulated']}.manifest.json"
    return []


def listing_digest(wildcards):
    """Names, sizes and mtimes of a dataset's input files: the catalog reruns if they change."""
    spec = config["datasets"][wildcards.dataset]
    return folder_digest(spec["folders"], spec["pattern"])


PLOTS = [
    "energy_bias_resolution_model",
    "roc",
    "auc_vs_energy",
    "feature_importances_energy",
    "feature_importances_classifier",
    "sensitivity",
    "angular_resolution",
    "energy_bias_resolution",
    "effective_area",
    "background_rate",
    "cuts",
]


def final_outputs():
    """The default target: IRFs, sensitivity, benchmark tables and every plot."""
    return [
        f"{R}/irf/irf.fits.gz",
        f"{R}/performance/sensitivity.ecsv",
        f"{R}/performance/angular_resolution.ecsv",
        f"{R}/performance/energy_bias_resolution.ecsv",
        f"{R}/performance/provenance.json",
        f"{R}/models/energy.metrics.json",
        f"{R}/models/classifier.metrics.json",
        f"{R}/report/config.yaml",
    ] + [f"{R}/plots/{name}.png" for name in PLOTS]
