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

from .catalog import ROLES
from .config import ConfigError
from .pipeline import datasets_with_role

__all__ = [
    "check_config",
    "datasets_with_role",
    "performance_dataset",
    "dataset_spec",
    "dataset_files",
    "cached_stage_inputs",
    "OPERATIONAL_KEYS",
    "analysis_config",
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


def check_config(config):
    """Cross-field checks the JSON schema cannot express.

    Parameters
    ----------
    config : dict
        Validated analysis config.

    Raises
    ------
    ConfigError
    """
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
    for particle in ("gamma", "proton", "electron"):
        ds = config["performance"][particle]
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
    for role in ("energy", "classification"):
        if not datasets_with_role(config, role):
            raise ConfigError(f"config: no dataset has a non-zero '{role}' role fraction")


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


def dataset_spec(config, dataset):
    """A dataset's entry with the workflow keys its catalog uses (``identity``)."""
    return dict(config["datasets"][dataset], identity=config["identity"])


def dataset_files(config, dataset, strict=True):
    """The input files of a dataset found in its folders (``pattern``), sorted.

    They are the catalog's inputs, so that adding, removing or replacing a file reruns the
    catalog (Snakemake compares their modification times and the list itself).

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
        with os.scandir(folder) as it:
            paths += [
                os.path.join(folder, e.name)
                for e in it
                if fnmatch.fnmatch(e.name, spec["pattern"]) and e.is_file()
            ]
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
