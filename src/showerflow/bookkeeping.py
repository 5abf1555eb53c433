"""Which inputs are processed: per-file outputs, their checks, plans and batches.

Every batch stage (energy training data, classification training data, DL2) writes one
output per input file, named by the file's ROOT UUID or by its name (``output_naming``).
Before a stage runs, its plan (one Snakemake checkpoint per dataset and stage) classifies
every input of the dataset's role:

``processed``
    the output exists, is readable, has the stage's columns, as many events as its
    input holds, and was made from the same models;
``unprocessed``
    no output;
``corrupt``
    an output that cannot be read, lacks columns, holds fewer events than its input,
    or was made by other models (``stale``);
``failed``
    the last attempt on the input failed (recorded by its batch, with the reason).

Only files that are not ``processed`` are put into batches of ``files_per_job``; the
plan records the size and modification time of every good output so that a later run
notices (cheaply, by ``stat``) an output that was deleted or rewritten since.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .tables import METADATA_KEY

__all__ = [
    "STAGES",
    "STATUSES",
    "output_id",
    "output_path",
    "file_state",
    "check_output",
    "classify",
    "make_plan",
    "batch_id",
    "read_plan",
    "read_plan_cached",
    "expected_states",
    "drift",
    "sha256",
]

#: Batch stages: role of the inputs, event count column of the catalog, required columns.
STAGES = {
    "energy": {"role": "energy", "count": "n_events", "columns": ["obs_id", "event_id"]},
    "classification": {
        "role": "classification",
        "count": "n_events",
        "columns": ["obs_id", "event_id", "reco_energy"],
    },
    "dl2": {
        "role": "performance",
        "count": "n_events",
        "columns": ["obs_id", "event_id", "reco_energy", "gammaness"],
    },
}

STATUSES = ("processed", "unprocessed", "corrupt", "failed")


def output_id(uuid, name, naming):
    """Identity used in an output's file name.

    Parameters
    ----------
    uuid : str
        The input's ROOT UUID.
    name : str
        The input's file name.
    naming : {"uuid", "name"}
        HiggsDNA's two conventions: by header UUID ("Legacy") or by file name ("DAS").

    Returns
    -------
    str
    """
    if naming == "uuid":
        return str(uuid)
    if naming == "name":
        return Path(name).name.removesuffix(".root")
    raise ValueError(f"output naming must be 'uuid' or 'name', not {naming!r}")


def output_path(folder, uuid, name, naming):
    """Path of the per-file output of one input."""
    return str(Path(folder) / f"{output_id(uuid, name, naming)}.parquet")


def file_state(path):
    """``[size, mtime_ns]`` of a file, or None if it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def sha256(path, chunk=1 << 20):
    """SHA-256 of a file's bytes (identifies the models an output was made with)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_output(path, columns, n_expected, requires=None):
    """Check one per-file output from its Parquet footer (no data is read).

    Parameters
    ----------
    path : str
    columns : list of str
        Columns it must have.
    n_expected : int
        Events its input holds; the output must record as many (``n_events_in``).
    requires : dict, optional
        Metadata values it must carry (e.g. ``{"models": {...digests...}}``).

    Returns
    -------
    (str, str)
        Status (``processed``, ``unprocessed`` or ``corrupt``) and the reason.
    """
    if not os.path.exists(path):
        return "unprocessed", "no output"
    try:
        meta_file = pq.read_metadata(path)
        schema = meta_file.schema.to_arrow_schema()
    except (OSError, pa.ArrowInvalid) as err:
        return "corrupt", f"unreadable output ({err})"
    missing = [c for c in columns if c not in schema.names]
    if missing:
        return "corrupt", f"output lacks columns {missing}"
    raw = (schema.metadata or {}).get(METADATA_KEY)
    meta = json.loads(raw) if raw else {}
    n_in = meta.get("n_events_in")
    if n_in is None or int(n_in) < n_expected:
        return "corrupt", f"output holds {n_in} of the input's {n_expected} events"
    if meta_file.num_rows < meta.get("n_rows", 0):
        return "corrupt", f"output has {meta_file.num_rows} rows, it recorded {meta['n_rows']}"
    for key, value in (requires or {}).items():
        if meta.get(key) != value:
            return "corrupt", f"stale output: made with other {key}"
    return "processed", ""


def classify(inputs, folder, naming, stage, requires=None, failures=None, max_events=None):
    """Classify every input of a stage.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Catalog rows of the stage's role (``path``, ``uuid``, ``name``, ``n_events``).
    folder : str
        Folder of the per-file outputs.
    naming : {"uuid", "name"}
    stage : str
        Key of :data:`STAGES`.
    requires : dict, optional
        Metadata every output must carry (model digests).
    failures : dict, optional
        Input path -> reason of its last failed attempt.
    max_events : int, optional
        Test mode: events read per file.

    Returns
    -------
    list of dict
        One per input: ``file``, ``output``, ``status``, ``reason``, ``n_events``,
        ``size`` (bytes of the input, from the catalog), and ``state`` (``[size, mtime_ns]`` of a processed output).
    """
    spec = STAGES[stage]
    failures = failures or {}
    rows = []
    for rec in inputs.to_dict("records"):
        out = output_path(folder, rec["uuid"], rec["name"], naming)
        n = int(rec[spec["count"]])
        if max_events is not None:
            n = min(n, int(max_events))
        status, reason = check_output(out, spec["columns"], n, requires)
        if status == "unprocessed" and rec["path"] in failures:
            status, reason = "failed", failures[rec["path"]]
        rows.append(
            {
                "file": rec["path"],
                "output": out,
                "status": status,
                "reason": reason,
                "n_events": n,
                "size": int(rec.get("size", 0) or 0),
                "state": file_state(out) if status == "processed" else None,
            }
        )
    return rows


def batch_id(files):
    """A batch's name: a digest of its files, so the same files make the same batch."""
    return hashlib.sha1("\n".join(files).encode()).hexdigest()[:12]


def make_plan(dataset, stage, rows, files_per_job, requires=None):
    """The plan of one dataset and stage: statuses, and batches of what is left.

    Parameters
    ----------
    dataset, stage : str
    rows : list of dict
        From :func:`classify`.
    files_per_job : int
    requires : dict, optional

    Returns
    -------
    dict
        ``unprocessed`` (``{dataset: [files]}``, the shape get_unprocessed_files.py
        writes), ``batches`` (``{batch_id: [files]}``), ``batch_mb`` (``{batch_id: MB of
        its input files}``, from the rows' ``size``), ``files`` (the rows), ``counts``.
    """
    todo = [r["file"] for r in rows if r["status"] != "processed"]
    size = {r["file"]: r.get("size", 0) for r in rows}
    batches, batch_mb = {}, {}
    for i in range(0, len(todo), files_per_job):
        chunk = todo[i : i + files_per_job]
        batches[batch_id(chunk)] = chunk
        batch_mb[batch_id(chunk)] = sum(size[f] for f in chunk) / 1e6
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return {
        "dataset": dataset,
        "stage": stage,
        "unprocessed": {dataset: todo},
        "batches": batches,
        "batch_mb": batch_mb,
        "files": rows,
        "counts": counts,
        "requires": requires or {},
    }


def read_plan(path):
    """Read a plan JSON written by the workflow's plan checkpoint."""
    with open(path) as f:
        return json.load(f)


@functools.lru_cache(maxsize=256)
def _read_plan_version(path, inode, size, mtime_ns):
    return read_plan(path)


def read_plan_cached(path):
    """Read a plan once per version of the file (inode, size, mtime), then from memory.

    The workflow's input functions ask for a dataset's plan once per batch job; parsing
    it each time costs O(files) per job, O(files^2 / files_per_job) per DAG. A plan
    rewritten by its checkpoint (a new file, renamed into place) is read again.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        The plan, shared between callers: do not modify it.
    """
    st = os.stat(path)
    return _read_plan_version(os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def expected_states(plan, manifest_dir):
    """Output path -> the ``[size, mtime_ns]`` the last plan and batches left it with.

    Parameters
    ----------
    plan : dict
    manifest_dir : str
        Folder of the batch manifests (``batch-<id>.json``).

    Returns
    -------
    dict
    """
    expected = {r["output"]: r["state"] for r in plan["files"] if r["status"] == "processed"}
    for bid in plan["batches"]:
        manifest = Path(manifest_dir) / f"batch-{bid}.json"
        if manifest.exists():
            for rec in json.loads(manifest.read_text())["outputs"]:
                expected[rec["output"]] = rec["state"]
    return expected


def drift(plan_path, manifest_dir):
    """Digest of the outputs whose state differs from what the plan and batches left.

    Used as a Snakemake ``params`` of the plan checkpoint: it is ``"consistent"`` as
    long as nobody deleted or rewrote an output, so a rerun does nothing; otherwise it
    changes and the plan is made again. Costs one ``stat`` per output.

    Parameters
    ----------
    plan_path : str
    manifest_dir : str

    Returns
    -------
    str
    """
    if not os.path.exists(plan_path):
        return "consistent"
    try:
        plan = read_plan_cached(plan_path)
    except (OSError, ValueError):
        return "unreadable-plan"
    changed = sorted(
        out
        for out, state in expected_states(plan, manifest_dir).items()
        if file_state(out) != state
    )
    if not changed:
        return "consistent"
    return "changed-" + hashlib.sha1("\n".join(changed).encode()).hexdigest()[:12]
