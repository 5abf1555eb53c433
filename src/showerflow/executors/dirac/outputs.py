"""File Catalog metadata and ancestors of a job's outputs: defaults and the per-output hook.

Every file a DIRAC job uploads gets File Catalog metadata and ancestors. The executor
starts from defaults it knows (:func:`default_metadata`: the stage, the dataset and its
particle, the workflow and its config digest, the DIRAC job id); a job adds or overrides
per output through one **hook**, a JSON object of the same shape given either

- by the rule, as ``params: dirac_catalog={...}`` (known before the job runs), or
- by the job, as a file :data:`SIDECAR` it writes inside a ``directory()`` output (known
  only once it ran: e.g. which input each per-file output came from).

The shape (every key optional)::

    {"metadata": {"models_sha256": "..."},                # every file
     "files": {"<path>": {"metadata": {"obs_id": 12},       # one file
                          "ancestors": ["<input path>" or "LFN:/..."]}}}

``<path>`` is relative to the directory for a sidecar, and relative to the working
directory (the output's path, or a file inside a directory output) for
``params.dirac_catalog``. Ancestors name workflow paths (mapped to LFNs as inputs are) or
LFNs; a file without ``ancestors`` gets all of the job's input LFNs. Later sources win:
defaults < params ``metadata`` < sidecar ``metadata`` < params ``files`` < sidecar ``files``.
"""

from __future__ import annotations

import json
import posixpath
import re

from .jdl import JDLError, lfn_for

__all__ = [
    "SIDECAR",
    "META_NAME_MAX",
    "DEFAULT_FIELDS",
    "CatalogHookError",
    "particle_of",
    "default_metadata",
    "check_hook",
    "combine_hooks",
    "read_sidecar",
    "meta_value",
    "file_entries",
]

#: The per-output hook a job may write inside a directory output.
SIDECAR = "dirac-catalog.json"
#: File Catalog: ``FC_MetaFields.MetaName VARCHAR(64)``.
META_NAME_MAX = 64
#: The fields the executor sets on every output, with their File Catalog index types.
DEFAULT_FIELDS = {
    "stage": "VARCHAR(64)",
    "dataset": "VARCHAR(64)",
    "particle": "VARCHAR(32)",
    "workflow": "VARCHAR(32)",
    "workflow_digest": "VARCHAR(64)",
    "dirac_job": "INT",
}

_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class CatalogHookError(ValueError):
    """A metadata hook (``params.dirac_catalog`` or a sidecar) that cannot be used."""


def particle_of(config, dataset):
    """The particle of a dataset: its ``particle`` key, ``particle == "..."`` in its query,
    or ``particle=...`` in its File Catalog query; None if none says.

    Parameters
    ----------
    config : dict
    dataset : str

    Returns
    -------
    str or None
    """
    spec = ((config or {}).get("datasets") or {}).get(dataset) or {}
    if spec.get("particle"):
        return str(spec["particle"])
    match = re.search(r"particle\s*==\s*['\"]([^'\"]+)['\"]", str(spec.get("query") or ""))
    if match:
        return match.group(1)
    match = re.search(r"(?:^|\s)particle\s*=\s*([^\s]+)", str(spec.get("dirac_query") or ""))
    return match.group(1) if match else None


def default_metadata(rule, wildcards=None, config=None, digest=None):
    """The metadata every output of a job gets.

    Parameters
    ----------
    rule : str
        The rule (the analysis stage).
    wildcards : dict, optional
    config : dict, optional
        The workflow config (to find a dataset's particle).
    digest : str, optional
        The workflow config's digest (``showerflow.provenance.config_digest``).

    Returns
    -------
    dict
        ``stage``, ``workflow`` and, when known, ``dataset``, ``particle``,
        ``workflow_digest``.
    """
    wildcards = dict(wildcards or {})
    meta = {"stage": rule, "workflow": "showerflow"}
    if "dataset" in wildcards:
        meta["dataset"] = wildcards["dataset"]
        particle = particle_of(config, wildcards["dataset"])
        if particle:
            meta["particle"] = particle
    if digest:
        meta["workflow_digest"] = digest
    return meta


def meta_value(value):
    """A metadata value the File Catalog stores: int, float or a string without whitespace."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return meta_value(value.item())
    return re.sub(r"\s+", "_", str(value).strip()) or "_"


def check_hook(hook, where):
    """Check a hook's shape; return it with defaults filled (``metadata``, ``files``).

    Raises
    ------
    CatalogHookError
        Naming ``where``, the key and what was expected.
    """
    if hook is None:
        return {"metadata": {}, "files": {}}
    if not isinstance(hook, dict):
        raise CatalogHookError(f"{where}: expected a JSON object, got {type(hook).__name__}")
    unknown = sorted(set(hook) - {"metadata", "files"})
    if unknown:
        raise CatalogHookError(f"{where}: unknown key(s) {unknown}; expected 'metadata', 'files'")
    meta = hook.get("metadata") or {}
    files = hook.get("files") or {}
    if not isinstance(meta, dict) or not isinstance(files, dict):
        raise CatalogHookError(f"{where}: 'metadata' and 'files' must be objects")
    for name in meta:
        _check_field(name, where)
    for path, entry in files.items():
        if not isinstance(entry, dict) or set(entry) - {"metadata", "ancestors"}:
            raise CatalogHookError(
                f"{where}: files[{path!r}] must be an object with 'metadata' and/or 'ancestors'"
            )
        for name in entry.get("metadata") or {}:
            _check_field(name, where)
        anc = entry.get("ancestors")
        if anc is not None and (
            not isinstance(anc, list) or not all(isinstance(a, str) for a in anc)
        ):
            raise CatalogHookError(f"{where}: files[{path!r}].ancestors must be a list of paths")
    return {"metadata": dict(meta), "files": dict(files)}


def combine_hooks(*hooks):
    """Hooks of the same kind (all relative to the working directory) as one: later wins.

    ``metadata`` is merged key by key; each file's ``metadata`` too, and its ``ancestors``
    are those of the last hook that gives them.

    Parameters
    ----------
    *hooks : dict or None

    Returns
    -------
    dict
    """
    out = {"metadata": {}, "files": {}}
    for i, hook in enumerate(hooks):
        hook = check_hook(hook, f"metadata hook {i}")
        out["metadata"].update(hook["metadata"])
        for path, entry in hook["files"].items():
            mine = out["files"].setdefault(path, {})
            if entry.get("metadata"):
                mine["metadata"] = {**mine.get("metadata", {}), **entry["metadata"]}
            if entry.get("ancestors") is not None:
                mine["ancestors"] = list(entry["ancestors"])
    return out


def _check_field(name, where):
    if not _FIELD.match(str(name)) or len(str(name)) > META_NAME_MAX:
        raise CatalogHookError(
            f"{where}: metadata field {name!r} is not a File Catalog field name (a letter, "
            f"then letters, digits or '_', at most {META_NAME_MAX} characters)"
        )


def read_sidecar(directory):
    """The hook a job wrote in a directory output (:data:`SIDECAR`), or None.

    Raises
    ------
    CatalogHookError
        If the file is there but is not valid JSON of the hook's shape.
    """
    path = posixpath.join(str(directory), SIDECAR)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise CatalogHookError(f"{path}: not valid JSON ({err})") from None
    return check_hook(data, path)


def _ancestor_lfn(name, lfn_base):
    text = str(name).strip()
    if text.lower().startswith("lfn:"):
        return posixpath.normpath(text[4:])
    try:
        return lfn_for(text, lfn_base)
    except JDLError:
        return None


def file_entries(files, defaults, params_hook, sidecars, job_inputs, lfn_base):
    """Metadata and ancestors of every file a job uploaded.

    Parameters
    ----------
    files : list of (str, str, str)
        ``(relative path, lfn, declared output)`` of every uploaded file (a directory
        output's files name the directory as their declared output).
    defaults : dict
        From :func:`default_metadata` (plus ``dirac_job``).
    params_hook : dict or None
        The rule's ``params.dirac_catalog``.
    sidecars : dict
        ``{directory output: hook}`` read from each directory output.
    job_inputs : list of str
        The job's input LFNs (the default ancestors).
    lfn_base : str

    Returns
    -------
    tuple of (list of (str, dict, list), list of str)
        ``(lfn, metadata, ancestor LFNs)`` per file, and warnings (ancestors without LFN).
    """
    params_hook = check_hook(params_hook, "params.dirac_catalog")
    entries, warnings = [], []
    for rel, lfn, output in files:
        side = sidecars.get(output) or {"metadata": {}, "files": {}}
        sub = posixpath.relpath(rel, output) if rel != output else posixpath.basename(rel)
        meta = dict(defaults)
        meta.update(params_hook["metadata"])
        meta.update(side["metadata"])
        per = [params_hook["files"].get(rel) or {}, side["files"].get(sub) or {}]
        ancestors = None
        for entry in per:
            meta.update(entry.get("metadata") or {})
            if entry.get("ancestors") is not None:
                ancestors = entry["ancestors"]
        if ancestors is None:
            lfns = list(job_inputs)
        else:
            lfns = []
            for name in ancestors:
                parent = _ancestor_lfn(name, lfn_base)
                if parent is None:
                    warnings.append(f"no ancestor for {lfn}: {name!r} has no LFN")
                else:
                    lfns.append(parent)
        entries.append((lfn, {k: meta_value(v) for k, v in meta.items()}, lfns))
    return entries, warnings
