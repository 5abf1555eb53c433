"""The stage graph, defined once: stages, models, their folders and what follows them.

Everything else derives from this module: the rules' paths (``rules/*.smk``), the default
targets, ``showerflow status``, the HTCondor transfer lists and the DIRAC plugin's handling
of outputs. A *batch stage* reads the DL1 files of one role of a dataset, in batches of
``files_per_job``, and writes one output per input file::

    catalog ─> plan (checkpoint, per dataset and stage) ─> batch job ─> staging folder (temp)
                                                                      └> one output per file
                                                                          (published by a
                                                                          local job each)
               per-file outputs ─> consumer (a model's training, or the dataset's merge)
                                    └> receipt: the outputs it used, with their size and mtime

All paths here are relative to the results folder (``config["results"]``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Stage",
    "Model",
    "STAGES",
    "MODELS",
    "PERFORMANCE_PRODUCTS",
    "stage_of_folder",
    "output_path",
    "staging_path",
    "plan_path",
    "receipt_path",
    "model_paths",
    "consumer_of",
    "downstream",
    "datasets_with_role",
]


@dataclass(frozen=True)
class Stage:
    """A batch stage: DL1 files of one role in, one output per file out.

    Attributes
    ----------
    name : str
        Key of :data:`STAGES`, the ``{stage}`` wildcard of plans.
    role : str
        Role of its input files in the catalog (``energy``, ``classification``,
        ``performance``).
    folder : str
        Folder of its per-file outputs: ``<folder>/<dataset>/<id>.parquet``.
    models : tuple of str
        Names (keys of :data:`MODELS`) of the models it applies, in order.
    columns : tuple of str
        Columns every output must have.
    rule : str
        The Snakemake rule of its batch jobs.
    label : str
        What its outputs are, for people.
    """

    name: str
    role: str
    folder: str
    models: tuple
    columns: tuple
    rule: str
    label: str


@dataclass(frozen=True)
class Model:
    """A model trained on the per-file outputs of one stage.

    Attributes
    ----------
    name : str
        Key of :data:`MODELS` and of the config's ``models`` section.
    path : str
        The saved model.
    metrics : str
        Its metrics JSON.
    trained_on : str
        The stage whose outputs are its training tables.
    rule : str
        The Snakemake rule that trains it.
    """

    name: str
    path: str
    metrics: str
    trained_on: str
    rule: str


#: The batch stages, in the order they run.
STAGES = {
    "energy": Stage(
        "energy",
        role="energy",
        folder="training/energy",
        models=(),
        columns=("obs_id", "event_id"),
        rule="training_data_energy",
        label="energy training tables",
    ),
    "classification": Stage(
        "classification",
        role="classification",
        folder="training/classification",
        models=("energy",),
        columns=("obs_id", "event_id", "reco_energy"),
        rule="training_data_classification",
        label="classification training tables",
    ),
    "dl2": Stage(
        "dl2",
        role="performance",
        folder="dl2",
        models=("energy", "classifier"),
        columns=("obs_id", "event_id", "reco_energy", "gammaness"),
        rule="dl2",
        label="DL2 event lists",
    ),
}

#: The models, in the order they are trained.
MODELS = {
    "energy": Model(
        "energy",
        path="models/energy.joblib",
        metrics="models/energy.metrics.json",
        trained_on="energy",
        rule="train_energy",
    ),
    "classifier": Model(
        "classifier",
        path="models/classifier.joblib",
        metrics="models/classifier.metrics.json",
        trained_on="classification",
        rule="train_classifier",
    ),
}

#: What the performance stage makes from the merged DL2 of gammas, protons and electrons.
PERFORMANCE_PRODUCTS = {
    "irf": "irf/irf.fits.gz",
    "sensitivity": "performance/sensitivity.ecsv",
    "angular_resolution": "performance/angular_resolution.ecsv",
    "energy_bias_resolution": "performance/energy_bias_resolution.ecsv",
    "provenance": "performance/provenance.json",
}


def _join(results, *parts):
    # plain string joins: these run once per job while the DAG is built
    return "/".join([str(results).rstrip("/") or ".", *parts])


def stage_of_folder(folder):
    """The stage whose per-file outputs live in ``folder`` (a :attr:`Stage.folder`).

    Raises
    ------
    KeyError
        For a folder no stage writes to.
    """
    for stage in STAGES.values():
        if stage.folder == folder:
            return stage
    raise KeyError(f"no stage writes to folder {folder!r}; stages: {list(STAGES)}")


def output_path(results, stage, dataset, output_id):
    """The per-file output of one input: ``<results>/<folder>/<dataset>/<id>.parquet``."""
    return _join(results, STAGES[stage].folder, dataset, f"{output_id}.parquet")


def staging_path(results, stage, dataset, batch):
    """The temporary folder a batch job writes its per-file outputs into."""
    return _join(results, STAGES[stage].folder, dataset, ".batches", batch)


def plan_path(results, stage, dataset):
    """The plan of one dataset and stage (a checkpoint's output)."""
    return _join(results, "plans", stage, f"{dataset}.json")


def receipt_path(results, stage, dataset):
    """What the consumer of a stage's outputs used: each output with its size and mtime."""
    return _join(results, "receipts", stage, f"{dataset}.json")


def model_paths(results, stage):
    """``{model name: path}`` of the models a stage applies."""
    return {m: _join(results, MODELS[m].path) for m in STAGES[stage].models}


def consumer_of(stage):
    """The rule that reads a stage's per-file outputs: a model's training, or the merge."""
    for model in MODELS.values():
        if model.trained_on == stage:
            return model.rule
    return "merge_dl2"


def _nodes():
    """The pipeline's nodes in order, each with the nodes it reads."""
    nodes = {}
    for stage in STAGES.values():
        nodes[f"stage:{stage.name}"] = [f"model:{m}" for m in stage.models]
        for model in MODELS.values():
            if model.trained_on == stage.name:
                nodes[f"model:{model.name}"] = [f"stage:{stage.name}"]
    nodes["merge"] = ["stage:dl2"]
    nodes["performance"] = ["merge"]
    return nodes


def downstream(stage):
    """What follows a stage: the models, stages and products its outputs feed.

    Parameters
    ----------
    stage : str

    Returns
    -------
    list of str
        ``"model:<name>"``, ``"stage:<name>"``, ``"merge"`` and ``"performance"``, in
        pipeline order (e.g. the energy stage is followed by the energy model, the
        classification stage, the classifier, the DL2 stage, the merge, the performance).
    """
    reached = {f"stage:{stage}"}
    out = []
    for node, reads in _nodes().items():
        if node not in reached and reached.intersection(reads):
            reached.add(node)
            out.append(node)
    return out


def datasets_with_role(config, role):
    """Names of the datasets with a non-zero fraction for ``role``, sorted."""
    return sorted(n for n, s in config["datasets"].items() if s["roles"][role] > 0)
