"""Helpers the Snakefile uses when it is read and while the DAG is built.

Config cross-checks, a dataset's input files, and the stage inputs read from a catalog.
Kept here (not in the Snakefile) so they are tested without Snakemake. None of them
writes anything: reading the Snakefile changes no file.
"""

from __future__ import annotations

import fnmatch
import functools
import os

import numpy as np

from .catalog import ROLES, list_folder
from .config import ConfigError
from .pipeline import datasets_with_role

__all__ = [
    "check_config",
    "check_queries",
    "check_side_configs",
    "check_folders",
    "datasets_with_role",
    "performance_dataset",
    "performance_dl2",
    "dataset_spec",
    "dataset_files",
    "cached_stage_inputs",
    "OPERATIONAL_KEYS",
    "analysis_config",
    "check_simtel_dataset",
    "ctapipe_prefixes",
    "ctapipe_export_targets",
]

#: Config keys that steer how a production runs, never what it makes: changing them
#: reruns nothing (the jobs read them from the config, not as parameters).
OPERATIONAL_KEYS = ("skip_bad_files", "acceptance", "files_per_job", "dl2.chunk_size")


def analysis_config(config):
    """The config without its :data:`OPERATIONAL_KEYS` (what the results depend on)."""
    out = {k: v for k, v in config.items() if k not in OPERATIONAL_KEYS}
    for key in OPERATIONAL_KEYS:
        if "." in key:
            section, name = key.split(".", 1)
            if isinstance(out.get(section), dict):
                out[section] = {k: v for k, v in out[section].items() if k != name}
    return out


def check_config(config, files=True):
    """Cross-field checks the JSON schema cannot express, and every file the config names.

    Run when the Snakefile is read, before any job: besides the cross-field checks,
    every dataset's query (:func:`check_queries`), the model YAMLs and the performance
    YAML (:func:`check_side_configs`) and, with ``files``, the dataset folders
    (:func:`check_folders`). Nothing is written.

    Parameters
    ----------
    config : dict
        Validated analysis config.
    files : bool
        Check that the dataset folders exist (the main Snakemake process; a remote job
        on a node without them needs none).

    Raises
    ------
    ConfigError
        Naming the key and what is allowed.
    """
    _check_cross_fields(config)
    check_queries(config)
    check_side_configs(config)
    if files:
        check_folders(config)


def check_queries(config):
    """Every dataset's query is a valid pandas query over catalog columns.

    Raises
    ------
    ConfigError
        ``config: key 'datasets.<name>.query': ...`` with the columns allowed.
    """
    from .catalog import check_query

    for name, spec in config["datasets"].items():
        try:
            check_query(spec.get("query"), source=f"config: key 'datasets.{name}.query'")
        except ValueError as err:
            raise ConfigError(str(err)) from None


def check_side_configs(config):
    """The model YAMLs and the performance YAML the config names load and validate.

    Raises
    ------
    ConfigError
        ``<file>: key '...': ...`` (a model YAML: schema, estimator) or ``config: key
        'performance.config': <file>: ...``.
    """
    from .contracts import ContractError
    from .models import check_model_configs

    check_model_configs(config["models"])
    path = config["performance"].get("config")
    if path is None:
        return
    if not os.path.isfile(path):
        raise ConfigError(f"config: key 'performance.config': file {path} does not exist")
    from .performance.config import load_performance_config

    try:
        load_performance_config(path)
    except ContractError as err:
        raise ConfigError(f"config: key 'performance.config': {err}") from None


def check_folders(config):
    """The folders of every dataset read from disk exist (not those the workflow fills).

    A simulated dataset's folder (``simulated`` with ``simulation.enabled``) and a
    sim_telarray dataset's DL1 folder are written by the workflow; their
    ``simtel.folders`` must exist.

    Raises
    ------
    ConfigError
        ``config: key 'datasets.<name>.folders': folder '...' does not exist``.
    """
    sim = config.get("simulation", {})
    for name, spec in config["datasets"].items():
        if spec.get("simulated") and sim.get("enabled"):
            continue
        if spec.get("simtel"):
            key, folders = f"datasets.{name}.simtel.folders", spec["simtel"]["folders"]
        else:
            key, folders = f"datasets.{name}.folders", spec["folders"]
        for folder in folders:
            if not os.path.isdir(folder):
                what = "a file, not a folder" if os.path.exists(folder) else "does not exist"
                raise ConfigError(
                    f"config: key '{key}': folder '{folder}' {what}; expected an existing "
                    "folder of input files"
                )


def _check_cross_fields(config):
    datasets = config["datasets"]
    for name, spec in datasets.items():
        total = sum(spec["roles"][r] for r in ROLES)
        if not np.isclose(total, 1.0):
            raise ConfigError(
                f"config: key 'datasets.{name}.roles': fractions sum to {total:g}, expected 1"
            )
        sim = config.get("simulation", {})
        if spec.get("simulated") and sim.get("enabled"):
            kind = spec["simulated"]
            if kind not in sim.get("kinds", {}):
                raise ConfigError(
                    f"config: key 'datasets.{name}.simulated': kind '{kind}' "
                    f"is not in simulation.kinds {sorted(sim.get('kinds', {}))}"
                )
            folder = os.path.normpath(os.path.join(sim["output"], kind))
            if folder not in {os.path.normpath(f) for f in spec["folders"]}:
                raise ConfigError(
                    f"config: key 'datasets.{name}.folders': the simulated kind '{kind}' "
                    f"is written to '{folder}', which is not among {spec['folders']}"
                )
        if spec.get("simtel"):
            check_simtel_dataset(config, name)
    for particle in ("gamma", "gamma_diffuse", "proton", "electron"):
        ds = config["performance"].get(particle)
        if ds is None:
            continue  # no such sample: the performance stage refuses to run (performance_dl2)
        if ds not in datasets:
            raise ConfigError(
                f"config: key 'performance.{particle}': dataset '{ds}' is not defined "
                f"(datasets: {sorted(datasets)})"
            )
        if datasets[ds]["roles"]["performance"] == 0:
            raise ConfigError(
                f"config: key 'datasets.{ds}.roles.performance' is 0 but the dataset is "
                f"the performance stage's {particle} sample"
            )
    cuts = config["performance"].get("cuts")
    if cuts is not None and not os.path.isfile(cuts):
        raise ConfigError(
            f"config: key 'performance.cuts': no file '{cuts}'; expected a cuts file (FITS, "
            "as `showerflow optimize` writes), or null to optimise the cuts in this run"
        )
    for role in ("energy", "classification"):
        if not datasets_with_role(config, role):
            raise ConfigError(f"config: no dataset has a non-zero '{role}' role fraction")


def check_simtel_dataset(config, name):
    """A dataset with sim_telarray inputs must read the DL1 files the ``dl1`` rule writes.

    Parameters
    ----------
    config : dict
    name : str

    Raises
    ------
    ConfigError
        Unless the dataset is not also simulated, its ``folders`` hold
        ``<results>/dl1_ctapipe/<name>``, its ``format`` is ``ctapipe_hdf5`` and its
        ``pattern`` matches ``*.dl1.h5``.
    """
    from .simtel import DL1_SUFFIX, dl1_folder

    spec = config["datasets"][name]
    key = f"config: key 'datasets.{name}"
    if spec.get("simulated") and config.get("simulation", {}).get("enabled"):
        raise ConfigError(f"{key}': a dataset is either simulated or read from simtel files")
    folder = os.path.normpath(dl1_folder(config.get("results", "results"), name))
    if folder not in {os.path.normpath(f) for f in spec["folders"]}:
        raise ConfigError(
            f"{key}.folders': the DL1 files of its simtel files are written to '{folder}', "
            f"which is not among {spec['folders']}"
        )
    if spec.get("format", "root") != "ctapipe_hdf5":
        raise ConfigError(
            f"{key}.format' is {spec.get('format', 'root')!r}: the DL1 files ctapipe-process "
            "writes from its simtel files are read with format ctapipe_hdf5"
        )
    if not fnmatch.fnmatch(f"x{DL1_SUFFIX}", spec.get("pattern", "*.root")):
        raise ConfigError(
            f"{key}.pattern' is {spec.get('pattern', '*.root')!r}, which does not match the "
            f"DL1 files ctapipe-process writes (*{DL1_SUFFIX})"
        )


def ctapipe_prefixes(config):
    """The ctapipe prefixes of the exported DL2 columns (``ctapipe_export.prefixes``).

    Unset prefixes are ctapipe's own names: the scikit-learn estimator class of each model
    config (ctapipe names its ``EnergyRegressor`` / ``ParticleClassifier`` outputs by it)
    and ``HillasReconstructor`` for the geometry.

    Returns
    -------
    dict
        ``energy``, ``classifier``, ``geometry``.
    """
    from .ctapipe_dl2 import DEFAULT_PREFIXES, estimator_prefix

    given = (config.get("ctapipe_export") or {}).get("prefixes") or {}
    return {
        "energy": given.get("energy") or estimator_prefix(config["models"]["energy"]),
        "classifier": given.get("classifier") or estimator_prefix(config["models"]["classifier"]),
        "geometry": given.get("geometry") or DEFAULT_PREFIXES["geometry"],
    }


def ctapipe_export_targets(config):
    """What ``ctapipe_export.enabled`` adds to the default target (else nothing).

    Returns
    -------
    list of str
        ``<results>/dl2/<dataset>.dl2.h5`` of each performance dataset and, when all three
        are set, ``<results>/irf/ctapipe_cuts.fits``.
    """
    if not (config.get("ctapipe_export") or {}).get("enabled"):
        return []
    results = config.get("results", "results")
    datasets = [config["performance"][p] for p in ("gamma", "proton", "electron")]
    targets = [f"{results}/dl2/{ds}.dl2.h5" for ds in dict.fromkeys(d for d in datasets if d)]
    if all(datasets):
        targets.append(f"{results}/irf/ctapipe_cuts.fits")
    return targets


def performance_dataset(config, particle):
    """The dataset playing ``particle`` in the performance stage.

    Raises
    ------
    ConfigError
        When the config names none (``performance.<particle>: null``): IRFs need gammas,
        protons and electrons.
    """
    ds = config["performance"][particle]
    if ds is None:
        raise ConfigError(
            f"config: key 'performance.{particle}' is null: IRFs and sensitivity need DL2 of "
            "gammas, protons and electrons; with this sample, target the DL2 files and models "
            "instead (e.g. results/dl2/<dataset>.parquet, results/models/classifier.joblib)"
        )
    return ds


def performance_dl2(config, results, samples):
    """Input function of the performance rules: the merged DL2 of each sample, by name.

    Parameters
    ----------
    config : dict
        Validated analysis config.
    results : str
        The results folder.
    samples : list of str
        ``gamma``, ``gamma_diffuse``, ``proton``, ``electron``.

    Returns
    -------
    callable
        ``wildcards -> {sample: path}`` (for ``unpack``).
    """
    return lambda wildcards: {
        s: f"{results}/dl2/{performance_dataset(config, s)}.parquet" for s in samples
    }


def dataset_spec(config, dataset):
    """A dataset's entry with the workflow keys its catalog uses (``identity``)."""
    return dict(config["datasets"][dataset], identity=config["identity"])


def dataset_files(config, dataset, strict=True):
    """The input files of a dataset found in its folders (``pattern``), sorted.

    They are the catalog's inputs, so that adding, removing or replacing a file reruns the
    catalog (Snakemake compares their modification times and the list itself). Entries
    that match the pattern but are no readable file (a dangling symbolic link, a loop of
    links, a directory) are left out here, never raising: the catalog job names them as
    bad inputs (:func:`showerflow.catalog.folder_problems`).

    Parameters
    ----------
    config : dict
    dataset : str
    strict : bool
        Raise for a missing folder (else it contributes no file).

    Raises
    ------
    ConfigError
        When a folder does not exist, naming the key.
    """
    spec = config["datasets"][dataset]
    paths = []
    for folder in spec["folders"]:
        if not os.path.isdir(folder):
            if not strict:
                continue
            raise ConfigError(
                f"config: key 'datasets.{dataset}.folders': folder '{folder}' does not exist"
            )
        paths += list_folder(folder, spec["pattern"])[0]
    return sorted(paths)


@functools.lru_cache(maxsize=64)
def _stage_inputs_version(key, stage, results, dataset, naming, max_events):
    from .stages import stage_inputs
    from .tables import read_table

    table, _ = read_table(key[0])
    return tuple(stage_inputs(table, stage, results, dataset, naming, max_events))


def cached_stage_inputs(catalog, stage, results, dataset, naming, max_events=None):
    """:func:`showerflow.stages.stage_inputs` of a catalog file, read once per version.

    Parameters
    ----------
    catalog : str
        The dataset's catalog (Parquet).
    stage, results, dataset, naming, max_events
        As :func:`showerflow.stages.stage_inputs`.

    Returns
    -------
    tuple of dict
        Shared between callers: do not modify.
    """
    st = os.stat(catalog)
    key = (os.fspath(catalog), st.st_ino, st.st_size, st.st_mtime_ns)
    return _stage_inputs_version(key, stage, results, dataset, naming, max_events)
