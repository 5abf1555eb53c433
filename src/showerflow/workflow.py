"""Helpers the Snakefile uses at parse time: config cross-checks and folder digests.

Kept here (not in the Snakefile) so they are tested without Snakemake.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .catalog import ROLES
from .config import ConfigError

__all__ = [
    "check_config",
    "folder_digest",
    "datasets_with_role",
    "performance_dataset",
    "performance_dl2",
]


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


def datasets_with_role(config, role):
    """Names of the datasets with a non-zero fraction for ``role``, sorted."""
    return sorted(n for n, s in config["datasets"].items() if s["roles"][role] > 0)


def folder_digest(folders, pattern="*.root"):
    """Digest of the names, sizes and mtimes of the files in ``folders``.

    Cheap (one ``scandir`` per folder): used as a parameter of the catalog job so that
    adding, removing or replacing an input file re-runs the catalog. Missing folders
    digest as empty.
    """
    import fnmatch

    h = hashlib.sha256()
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        with os.scandir(folder) as it:
            entries = sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns)
                for e in it
                if e.is_file() and fnmatch.fnmatch(e.name, pattern)
            )
        h.update(repr((folder, entries)).encode())
    return h.hexdigest()[:16]
