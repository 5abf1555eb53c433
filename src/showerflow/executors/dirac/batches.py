"""showerflow's batch jobs on DIRAC: per-file outputs under their final LFNs, with metadata.

A batch job of the workflow (``training_data_*``, ``dl2``) writes one output per input
file into its staging folder, a ``temp(directory(...))`` output
``<stage folder>/<dataset>/.batches/<batch>``; a local ``publish`` job then links each
file under its final name ``<stage folder>/<dataset>/<id>.parquet``. On DIRAC the worker
uploads each of those files straight under the LFN of its final name
(:func:`staged_files`, the manifest's ``as`` lines), so the File Catalog holds the
per-file outputs where the workflow names them (a later job reading the published file
finds it there, with the same checksum, and uploads nothing), and the staging folder's
own files (``batch.json``) under the folder's LFN.

Each per-file output gets (:func:`batch_hook`): its own DL1 file as ancestor (not every
input of the batch), the checksum of each model applied (``<model>_model_sha256``) and
the ``obs_id`` of its rows (from the Parquet statistics of the file fetched back; none
for an output of no rows or of several runs). The plan's record of the batch, the rule's
``params.batch`` (``files``, ``outputs``, ``requires``), says which file is whose.
"""

from __future__ import annotations

import posixpath

from showerflow import pipeline as pl

__all__ = ["BATCH_FIELDS", "model_field", "batch_of", "staged_files", "obs_id_of", "batch_hook"]


def model_field(name):
    """The File Catalog field holding the SHA-256 of model ``name`` an output was made with."""
    return f"{name}_model_sha256"


#: The fields :func:`batch_hook` sets, with their File Catalog index types.
BATCH_FIELDS = {"obs_id": "INT", **{model_field(m): "VARCHAR(64)" for m in pl.MODELS}}


def batch_of(params):
    """The plan's record of a batch job (its ``params.batch``), or None for another job.

    Parameters
    ----------
    params : mapping or None
        The job's params.

    Returns
    -------
    dict or None
        With ``files`` (the DL1 inputs) and ``outputs`` (input -> final output path).
    """
    if params is None or not hasattr(params, "get"):
        return None
    batch = params.get("batch")
    if isinstance(batch, dict) and isinstance(batch.get("outputs"), dict) and batch.get("files"):
        return batch
    return None


def staged_files(batch, staging):
    """Each per-file output in the staging folder, with its final path.

    Parameters
    ----------
    batch : dict
        From :func:`batch_of`.
    staging : str
        The batch's staging folder (relative to the working directory).

    Returns
    -------
    dict
        ``{staged path: (final path, input)}``; the staged file is the final path's base
        name inside ``staging`` (``showerflow.stages.process_batch``).
    """
    out = {}
    for path in batch["files"]:
        final = posixpath.normpath(str(batch["outputs"][path]))
        staged = posixpath.normpath(posixpath.join(str(staging), posixpath.basename(final)))
        out[staged] = (final, str(path))
    return out


def obs_id_of(path):
    """The one ``obs_id`` of a Parquet file's rows (from its statistics), or None.

    None for a file without rows (a tombstone), without an ``obs_id`` column or
    statistics, or whose rows hold several runs.
    """
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "obs_id" not in names or meta.num_rows == 0:
        return None
    column = names.index("obs_id")
    values = set()
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows == 0:
            continue
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        values.update({stats.min, stats.max})
    return int(values.pop()) if len(values) == 1 else None


def batch_hook(batch, staging, obs_id=obs_id_of):
    """The metadata hook (:mod:`~showerflow.executors.dirac.outputs`) of a batch's outputs.

    Parameters
    ----------
    batch : dict
        From :func:`batch_of`.
    staging : str
        The staging folder, holding the fetched outputs.
    obs_id : callable
        ``obs_id(path) -> int or None`` of a fetched output (default :func:`obs_id_of`).

    Returns
    -------
    dict
        ``{"files": {staged path: {"ancestors": [input], "metadata": {...}}}}``: paths
        relative to the working directory, as ``params.dirac_catalog`` names them.
    """
    models = (batch.get("requires") or {}).get("models") or {}
    common = {model_field(name): digest for name, digest in sorted(models.items())}
    files = {}
    for staged, (_, source) in staged_files(batch, staging).items():
        meta = dict(common)
        try:
            value = obs_id(staged)
        except (OSError, ValueError):  # not Parquet: no obs_id
            value = None
        if value is not None:
            meta["obs_id"] = value
        files[staged] = {"ancestors": [source], "metadata": meta}
    return {"files": files}
