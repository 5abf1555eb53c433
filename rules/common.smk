# Input functions shared by the stage files, all derived from the stage graph
# (showerflow.pipeline: stages, models, folders, what follows what). Two kinds of
# checkpoints decide the work: the catalog (which files, which roles) and the plans (which
# files still need a stage, in which batch). Reading this file writes nothing.
import os
import re

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError

from showerflow import bookkeeping as bk
from showerflow import pipeline as pl
from showerflow.simtel import dl1_outputs
from showerflow.simulate import production_runs, run_file_name
from showerflow.workflow import (
    cached_stage_inputs,
    ctapipe_export_targets,
    dataset_files,
    dataset_spec,
    datasets_with_role,
    performance_dataset,
)

SIM_OUT = config["simulation"]["output"]
TEST = config["test_mode"]
NAMING = config["output_naming"]
# the {folder} wildcard of per-file outputs: one of the stages' folders
FOLDERS = "|".join(re.escape(s.folder) for s in pl.STAGES.values())
# each stage's folder, and the staging folder of one batch (patterns of the batch rules)
FOLDER = {name: f"{R}/{s.folder}" for name, s in pl.STAGES.items()}
STAGING = {name: f"{f}/{{dataset}}/.batches/{{batch}}" for name, f in FOLDER.items()}


def catalog_inputs(wildcards):
    """The files a dataset's catalog reads: the runs the toy simulates, the DL1 files the
    `dl1` rule makes of its sim_telarray files, or its folders' files.

    Only the main Snakemake process checks that the folders exist: a job running on a
    node without them (a remote job, whose DAG lists the catalog upstream) needs none.
    """
    spec = config["datasets"][wildcards.dataset]
    if config["simulation"]["enabled"] and spec.get("simulated"):
        kind = spec["simulated"]
        runs = production_runs(kind, config["simulation"]["kinds"][kind]["n_runs"])
        return [f"{SIM_OUT}/{kind}/{run_file_name(kind, obs)}" for obs in runs]
    if spec.get("simtel"):
        return dl1_outputs(config, wildcards.dataset)
    return dataset_files(config, wildcards.dataset, strict=workflow.is_main_process)


def stage_records(stage, dataset):
    """The inputs of a dataset's stage (its role's files), from the dataset's catalog."""
    catalog = checkpoints.catalog.get(dataset=dataset).output.catalog
    return cached_stage_inputs(
        catalog, stage, R, dataset, NAMING, TEST["max_events_per_file"]
    )


def stage_outputs(stage, dataset):
    """The per-file outputs of a dataset's stage: one per input file of its role."""
    return [r["output"] for r in stage_records(stage, dataset)]


def role_outputs(stage):
    """Input function: the per-file outputs of every dataset with the stage's role."""

    def inner(wildcards):
        datasets = datasets_with_role(config, pl.STAGES[stage].role)
        outputs = [o for ds in datasets for o in stage_outputs(stage, ds)]
        if not outputs:
            raise WorkflowError(
                f"no file of datasets {datasets} has the '{pl.STAGES[stage].role}' role: "
                "roles are drawn by a hash of each file's identity, so a small dataset can "
                "get none; add files or raise the role's fraction"
            )
        return outputs

    return inner


def catalogs_of(role):
    """The catalog checkpoints' outputs (catalog and summary) of the datasets with a role,
    as ancient inputs: the jobs read them to list their inputs (also on a remote node,
    where a checkpoint counts as done only when all its outputs came along), a rewritten
    catalog alone reruns nothing.
    """
    return [
        ancient(f"{R}/catalog/{ds}.{ext}")
        for ds in datasets_with_role(config, role)
        for ext in ("parquet", "json")
    ]


def receipts_of(stage):
    """The receipts a stage's consumer writes: one per dataset with the stage's role."""
    role = pl.STAGES[stage].role
    return [pl.receipt_path(R, stage, ds) for ds in datasets_with_role(config, role)]


def model_files(stage):
    """The models a stage applies."""
    return list(pl.model_paths(R, stage).values())


# plans whose checkpoint Snakemake has settled in this run (it never unsettles one):
# checkpoints.plan.get costs about a millisecond, and it is asked once per job
SETTLED = set()


def current_plan(stage, dataset):
    """The plan after its checkpoint ran (raises while Snakemake has yet to run it)."""
    if (stage, dataset) not in SETTLED:
        checkpoints.plan.get(stage=stage, dataset=dataset)
        SETTLED.add((stage, dataset))
    return bk.read_plan_cached(pl.plan_path(R, stage, dataset))


def settled_plan(stage, dataset):
    """The plan: after its checkpoint ran, or the one on disk while Snakemake has not
    evaluated the checkpoint yet. The batches that made outputs stay in every later plan,
    so they are the same in both; jobs reading the plan list it as an (ancient) input, so
    they are evaluated again if it is remade."""
    try:
        return current_plan(stage, dataset)
    except IncompleteCheckpointException:
        plan = bk.read_plan_or_none(pl.plan_path(R, stage, dataset))
        if plan is None:
            raise
        return plan


# outputs changed since used, by version of plan and receipt: one stat per output per run
CHANGED = {}


def drift(stage, dataset):
    """The plan's drift parameter (showerflow.bookkeeping.drift_token)."""
    plan, receipt = pl.plan_path(R, stage, dataset), pl.receipt_path(R, stage, dataset)
    return bk.drift_token(plan, receipt, CHANGED)


def batch_record(stage, dataset, batch):
    """The plan's record of one batch (its files, outputs, checksums, settings)."""
    rec = settled_plan(stage, dataset)["batches"].get(batch)
    if rec is None:  # a batch of a plan Snakemake is about to remake, or just retired
        plan = current_plan(stage, dataset)
        rec = plan["batches"].get(batch) or plan.get("retired", {}).get(batch)
    if rec is None:
        raise WorkflowError(f"batch {batch} is in no plan of {stage}/{dataset}")
    return dict(rec, id=batch)


def batch_inputs(stage):
    """Input function of a batch rule: its DL1 files, its plan and the models it applies.

    The plan and the models are ancient: a batch stays in the DAG for as long as it made
    outputs still good, and a retrained model must not rerun it (the plan, which takes
    the models as plain inputs, decides which outputs are stale and batches them anew).
    """

    def inner(wildcards):
        rec = batch_record(stage, wildcards.dataset, wildcards.batch)
        models = {
            name: ancient(path) for name, path in pl.model_paths(R, stage).items()
        }
        return {
            "files": rec["files"],
            "plan": ancient(pl.plan_path(R, stage, wildcards.dataset)),
            **models,
        }

    return inner


def known_batch(stage, wildcards):
    """The batch's record, or None while its plan is still to be (re)made."""
    try:
        return batch_record(stage, wildcards.dataset, wildcards.batch)
    except IncompleteCheckpointException:
        return None


def batch_params(stage):
    """Params of a batch rule: the plan's record of the batch (stable once made)."""
    return lambda wildcards: known_batch(stage, wildcards)


def batch_disk_mb(stage):
    """Resource: twice the MB of batch {batch}'s input files (from the plan), >= 1000."""

    def inner(wildcards):
        rec = known_batch(stage, wildcards)
        return max(2 * rec["mb"], 1000) if rec else 1000

    return inner


def publish_inputs(wildcards):
    """Input function of `publish`: the plan and the staging folder of the file's batch.

    An output is published by its batch in the plan on disk, unless it was deleted or
    rewritten since its consumer used it (then its plan is remade: its drift parameter
    changed) or it is the output of an input the plan on disk does not know (then the
    plan is remade: its catalog changed); either way this waits for the new plan.
    """
    stage = pl.stage_of_folder(wildcards.folder).name
    dataset = wildcards.dataset
    output = pl.output_path(R, stage, dataset, wildcards.id)
    plan = settled_plan(stage, dataset)
    damaged = bk.changed_outputs(
        pl.plan_path(R, stage, dataset), pl.receipt_path(R, stage, dataset), CHANGED
    )
    if output in damaged:  # its plan is remade (drift changed): wait for it
        plan = current_plan(stage, dataset)
    batch = bk.batch_of(plan, output)
    if batch is None:  # a new input: the plan on disk predates it, wait for the new one
        batch = bk.batch_of(current_plan(stage, dataset), output)
    if batch is None:
        raise WorkflowError(
            f"{output}: no input of dataset '{dataset}' has this output"
        )
    return {
        "plan": ancient(pl.plan_path(R, stage, dataset)),
        "staging": pl.staging_path(R, stage, dataset, batch),
    }


def per_file_outputs(wildcards):
    """Every stage's per-file outputs (known once the catalogs are made)."""
    targets = []
    for stage in pl.STAGES.values():
        for ds in datasets_with_role(config, stage.role):
            targets += stage_outputs(stage.name, ds)
    return targets


def final_products(wildcards):
    """The models, the merged DL2, the performance products, every plot and the
    report's config: known before any catalog, so --rulegraph and --dag show the stages
    (an input function waiting for a checkpoint hides only its own targets)."""
    targets = []
    for model in pl.MODELS.values():
        targets += [f"{R}/{model.path}", f"{R}/{model.metrics}"]
    for ds in datasets_with_role(config, "performance"):
        targets.append(f"{R}/dl2/{ds}.parquet")
    targets += [f"{R}/plots/{name}.png" for name in MODEL_PLOTS]
    # rules/performance.smk: the cuts, IRFs, tables and plots
    targets += PERFORMANCE_TARGETS
    targets += ctapipe_export_targets(config)
    return targets + [f"{R}/report/config.yaml"]


# the plots of rule plot_models (the performance plots are in PERFORMANCE_TARGETS)
MODEL_PLOTS = [
    "energy_bias_resolution_model",
    "roc",
    "auc_vs_energy",
    "feature_importances_energy",
    "feature_importances_classifier",
]
