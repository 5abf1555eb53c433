"""The performance config: loading, schema validation, defaults, cross-key checks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

from ..config import ConfigError, validate
from ..contracts import ContractError

__all__ = [
    "SCHEMA_PATH",
    "IRF_TYPES",
    "load_performance_config",
    "with_overrides",
    "validate_performance_config",
    "default_performance_config",
    "table_meta",
]

#: The JSON schema of the performance config (the package copy is the one loaded;
#: ``config/schemas/performance.schema.yaml`` links to it).
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "performance.schema.yaml"

#: The kinds of IRF file, in the order they are written.
IRF_TYPES = ("full_enclosure", "point_like")


def _check_ranges(cfg, path):
    """Checks a JSON schema cannot express: ordered bounds and increasing edges."""
    problems = []
    binning = cfg["binning"]
    for name in ("reco_energy", "true_energy", "migration"):
        if binning[name]["min"] >= binning[name]["max"]:
            problems.append(f"key 'binning.{name}': min must be smaller than max")
    for name in ("fov_offset", "background_fov_offset"):
        if np.any(np.diff(binning[name]) <= 0):
            problems.append(f"key 'binning.{name}': edges must increase strictly")
    effs = cfg["cuts"]["gh_cut_efficiencies"]
    if effs["min"] > effs["max"]:
        problems.append("key 'cuts.gh_cut_efficiencies': min must not exceed max")
    if cfg["cuts"]["theta_min"] >= cfg["cuts"]["theta_max"]:
        problems.append("key 'cuts.theta_min': must be smaller than cuts.theta_max")
    if cfg["fov_offset_min"] >= cfg["fov_offset_max"]:
        problems.append("key 'fov_offset_min': must be smaller than fov_offset_max")
    erange = cfg["irf_energy_range"]
    if erange["min"] is not None and erange["max"] is not None and erange["min"] >= erange["max"]:
        problems.append("key 'irf_energy_range': min must be smaller than max")
    if problems:
        raise ContractError(path, "; ".join(problems))


def validate_performance_config(cfg, path="<performance config>"):
    """Validate a performance config and fill in the defaults of the schema.

    Parameters
    ----------
    cfg : dict or None
        The (possibly partial) configuration.
    path : str, optional
        Where it came from, for error messages.

    Returns
    -------
    dict
        A new, complete configuration.

    Raises
    ------
    showerflow.contracts.ContractError
        Naming the offending key and what is allowed there.
    """
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ContractError(path, f"expected a mapping of settings, got {type(cfg).__name__}")
    try:
        filled = validate(copy.deepcopy(cfg), "performance", source=path)
    except ConfigError as err:
        raise ContractError(path, str(err).removeprefix(f"{path}: ")) from err
    _check_ranges(filled, path)
    return filled


def load_performance_config(path=None):
    """Read a performance config (YAML), validate it and fill in the defaults.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; ``None`` gives the defaults.

    Returns
    -------
    dict

    Raises
    ------
    showerflow.contracts.ContractError
        If the file is not YAML or breaks the schema (the message names the key and
        what is allowed).
    """
    if path is None:
        return validate_performance_config({}, "<defaults>")
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ContractError(path, f"not valid YAML ({err})") from err
    return validate_performance_config(cfg, str(path))


def with_overrides(cfg, observation_time=None):
    """A performance config with the analysis config's overrides applied and checked.

    Parameters
    ----------
    cfg : dict
        A validated performance config.
    observation_time : float, optional
        Hours (the analysis config's ``performance.observation_time``); None keeps the
        performance config's.

    Returns
    -------
    dict
        A new, validated config.
    """
    out = copy.deepcopy(cfg)
    if observation_time is not None:
        out["observation_time"] = float(observation_time)
    return validate_performance_config(out, "<performance config with overrides>")


def default_performance_config():
    """Return the default performance configuration (all schema defaults).

    Returns
    -------
    dict
    """
    return load_performance_config(None)


def table_meta(table, cfg):
    """Record the observation time, alpha and gamma spectrum in a table's ``meta``.

    Parameters
    ----------
    table : astropy.table.Table
    cfg : dict
        Validated performance config.

    Returns
    -------
    astropy.table.Table
        ``table``, for chaining.
    """
    table.meta.update(
        OBS_TIME=float(cfg["observation_time"]),
        ALPHA=float(cfg["alpha"]),
        SPECTRUM=str(cfg["spectra"]["gamma"]),
    )
    return table
