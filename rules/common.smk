# Input functions shared by the stage files. The catalog checkpoint decides the batches.
from showerflow.stages import read_batches
from showerflow.workflow import datasets_with_role, folder_digest

SIM_OUT = config["simulation"]["output"]


def batches(dataset, role):
    """Batches (lists of DL1 files) of a dataset's role, after its catalog checkpoint."""
    out = checkpoints.catalog.get(dataset=dataset).output.batches
    return read_batches(out)[role]


def batch_files(role):
    """Input function: the DL1 files of batch {batch} of {dataset} for ``role``."""

    def inner(wildcards):
        return batches(wildcards.dataset, role)[int(wildcards.batch)]

    return inner


def batch_outputs(role, pattern):
    """Input function: one output per batch, over every dataset with ``role``."""

    def inner(wildcards):
        datasets = datasets_with_role(config, role)
        out = [
            pattern.format(dataset=ds, batch=i)
            for ds in datasets
            for i in range(len(batches(ds, role)))
        ]
        if not out:
            raise ValueError(
                f"no file of datasets {datasets} has the '{role}' role: roles are drawn "
                "by a hash of each file's identity, so a small dataset can get none; "
                "add files or raise the role's fraction"
            )
        return out

    return inner


def dataset_batch_outputs(role, pattern):
    """Input function: one output per batch of dataset {dataset}."""

    def inner(wildcards):
        n = len(batches(wildcards.dataset, role))
        return [pattern.format(dataset=wildcards.dataset, batch=i) for i in range(n)]

    return inner


def simulation_manifest(wildcards):
    """The simulation job a dataset's files come from, if the workflow simulates them."""
    spec = config["datasets"][wildcards.dataset]
    if config["simulation"]["enabled"] and spec.get("simulated"):
        return f"{SIM_OUT}/{spec['simulated']}.manifest.json"
    return []


def listing_digest(wildcards):
    """Names, sizes and mtimes of a dataset's input files: the catalog reruns if they change."""
    spec = config["datasets"][wildcards.dataset]
    if config["simulation"]["enabled"] and spec.get("simulated"):
        return "simulated"
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
        f"{R}/models/energy.metrics.json",
        f"{R}/models/classifier.metrics.json",
    ] + [f"{R}/plots/{name}.png" for name in PLOTS]
