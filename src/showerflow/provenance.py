"""Provenance: what a final product was made from (config, catalogs, software, files)."""

from __future__ import annotations

import hashlib
import json
import platform

__all__ = ["software_versions", "config_digest", "record", "models_of_outputs"]


def software_versions():
    """Versions of Python and every library a product depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "showerflow",
        "snakemake",
        "numpy",
        "pandas",
        "pyarrow",
        "uproot",
        "scikit-learn",
        "pyirf",
        "astropy",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def config_digest(config):
    """SHA-256 of a config dict in canonical JSON (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def record(config=None, catalogs=None, inputs=None, models=None):
    """A provenance record for a final product.

    Parameters
    ----------
    config : dict, optional
        The analysis config the product was made with (stored whole, with its digest).
    catalogs : dict, optional
        Dataset -> catalog digest (``digest`` of the catalog summary).
    inputs : list of str, optional
        The files the product was made from (its parents).
    models : dict, optional
        Model name -> SHA-256 of the models the product was made with (recorded when
        given, :func:`models_of_outputs`).

    Returns
    -------
    dict
    """
    extra = {} if models is None else {"models": dict(models)}
    return {
        "config": config or {},
        "config_digest": config_digest(config or {}),
        "catalogs": catalogs or {},
        "software": software_versions(),
        "inputs": [str(p) for p in inputs or []],
        **extra,
    }


def models_of_outputs(paths):
    """The models (name -> SHA-256) per-file outputs were made with, if they agree.

    Parameters
    ----------
    paths : list of str
        Per-file outputs; tombstones (no rows, ``status: failed``) are skipped.

    Returns
    -------
    dict or None
        None when the outputs name no models or disagree (then no single set of models
        made the product).
    """
    from .tables import read_metadata

    seen = []
    for path in paths:
        meta = read_metadata(path)
        if meta.get("status") == "failed":
            continue
        models = meta.get("models") or {}
        if models not in seen:
            seen.append(models)
    return seen[0] if len(seen) == 1 and seen[0] else None
