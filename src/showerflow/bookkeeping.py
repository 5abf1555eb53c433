"""Which inputs are processed: per-file outputs, their checks, plans, batches, receipts.

Every batch stage (:data:`showerflow.pipeline.STAGES`) writes one output per input file,
named by the file's ROOT UUID or by its name (``output_naming``). Before a stage runs, its
plan (one Snakemake checkpoint per dataset and stage) classifies every input of the
dataset's role from the outputs' Parquet footers:

``processed``
    the output exists, is readable, has the stage's columns, as many events as its input
    holds, and was made from the same input (checksum), models and settings;
``unprocessed``
    no output;
``corrupt``
    an output that cannot be read, lacks columns, holds fewer events than its input, or
    was made from another input, other models or other settings (``stale``);
``failed``
    the stage failed on the input (with ``skip_bad_files``): its output is a *tombstone*,
    a Parquet file of no rows whose metadata says ``status: failed`` and why.

What is not processed is put into new batches of ``files_per_job``; every batch is named
by a digest of the plan's generation, its files and what its outputs must carry, so a
batch that redoes a file never shares a name with the one that made it before. The plan
also keeps the batches that made the outputs still processed (their *history*), so the
jobs Snakemake sees for those outputs stay the same from run to run.

Damage is seen cheaply: the consumer of a stage's outputs (a model's training, or the
merge) writes a *receipt* with the size and modification time of every output it used;
one ``stat`` per output against it tells which outputs were deleted or rewritten since
(:func:`changed_outputs`). The plan checkpoint's ``drift`` parameter (:func:`drift_token`)
changes then, so Snakemake remakes the plan, and only the damaged files are redone.
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
    "STATUSES",
    "FAILED",
    "output_id",
    "file_state",
    "sha256",
    "check_output",
    "classify",
    "batch_id",
    "make_plan",
    "read_plan",
    "read_plan_cached",
    "read_json_cached",
    "recorded_states",
    "changed_outputs",
    "describe_changes",
    "drift_token",
    "read_plan_or_none",
    "batch_of",
]

STATUSES = ("processed", "unprocessed", "corrupt", "failed")

#: ``status`` in the metadata of a tombstone (the output of an input the stage failed on).
FAILED = "failed"


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


def check_output(path, columns, expected):
    """Check one per-file output from its Parquet footer (no data is read).

    Parameters
    ----------
    path : str
    columns : list of str
        Columns it must have.
    expected : dict
        ``n_events`` (events its input holds; the output must record at least as many,
        ``n_events_in``), and what its metadata must carry: ``input_checksum``,
        ``models`` (name -> SHA-256), ``settings``.

    Returns
    -------
    (str, str, dict)
        Status (``processed``, ``unprocessed``, ``corrupt`` or ``failed``), the reason,
        and the output's metadata (empty when unreadable).
    """
    if not os.path.exists(path):
        return "unprocessed", "no output", {}
    try:
        meta_file = pq.read_metadata(path)
        schema = meta_file.schema.to_arrow_schema()
    except (OSError, pa.ArrowInvalid) as err:
        return "corrupt", f"unreadable output ({err})", {}
    raw = (schema.metadata or {}).get(METADATA_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        return "corrupt", "unreadable showerflow metadata", {}
    stale = _stale(meta, expected)
    if meta.get("status") == FAILED:
        if stale:  # the input, the models or the settings changed: try again
            return "corrupt", f"{stale} (it had failed: {meta.get('reason')})", meta
        return "failed", meta.get("reason", "the stage failed on it"), meta
    missing = [c for c in columns if c not in schema.names]
    if missing:
        return "corrupt", f"output lacks columns {missing}", meta
    n_in, n_expected = meta.get("n_events_in"), int(expected.get("n_events", 0))
    if n_in is None or int(n_in) < n_expected:
        return "corrupt", f"output holds {n_in} of the input's {n_expected} events", meta
    if meta_file.num_rows < meta.get("n_rows", 0):
        return (
            "corrupt",
            f"output has {meta_file.num_rows} rows, it recorded {meta['n_rows']}",
            meta,
        )
    if stale:
        return "corrupt", stale, meta
    return "processed", "", meta


def _stale(meta, expected):
    """Why an output's metadata does not match what it must carry ('' if it does)."""
    want = expected.get("input_checksum")
    if want and meta.get("input_checksum") != want:
        return (
            f"stale output: made from an input with checksum {meta.get('input_checksum')}, "
            f"the input's checksum is now {want}"
        )
    for key in ("models", "settings"):
        if meta.get(key, {}) != expected.get(key, {}):
            return f"stale output: made with other {key}"
    return ""


def classify(inputs, expected_of):
    """Classify every input of a stage.

    Parameters
    ----------
    inputs : list of dict
        One per input: ``file`` (the DL1 path), ``output`` (its per-file output),
        ``n_events``, ``size`` (bytes), ``checksum`` (of the input).
    expected_of : callable
        ``expected_of(input) -> (columns, expected)`` for :func:`check_output`.

    Returns
    -------
    list of dict
        One per input, in the given order: ``file``, ``output``, ``status``, ``reason``,
        ``n_events``, ``size``, ``checksum``, ``state`` (``[size, mtime_ns]`` of a
        processed or failed output), ``batch`` (the batch that made it, or None) and
        ``batch_record`` (that batch as its outputs describe it, or None).
    """
    rows = []
    for rec in inputs:
        columns, expected = expected_of(rec)
        status, reason, meta = check_output(rec["output"], columns, expected)
        done = status in ("processed", "failed")
        rows.append(
            {
                "file": rec["file"],
                "output": rec["output"],
                "status": status,
                "reason": reason,
                "n_events": int(rec["n_events"]),
                "size": int(rec.get("size") or 0),
                "checksum": rec.get("checksum"),
                "state": file_state(rec["output"]) if done else None,
                "batch": meta.get("batch") if done else None,
                "batch_record": meta.get("batch_record") if done else None,
            }
        )
    return rows


def batch_id(generation, files, requires):
    """A batch's name: a digest of the plan generation, its files and what they must carry."""
    text = json.dumps([generation, list(files), requires], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def make_plan(dataset, stage, rows, files_per_job, requires, old=None, drift="none"):
    """The plan of one dataset and stage: statuses, new batches, and the batches' history.

    Parameters
    ----------
    dataset, stage : str
    rows : list of dict
        From :func:`classify`.
    files_per_job : int
    requires : dict
        What every output must carry (``models``, ``settings``); stored with each batch.
    old : dict, optional
        The previous plan: its generation is incremented and the batches that made the
        outputs still processed keep their definition.
    drift : str
        The checkpoint's ``drift`` parameter this plan was made with (:func:`drift_token`).

    Returns
    -------
    dict
        ``unprocessed`` (``{dataset: [files]}``, the shape get_unprocessed_files.py
        writes), ``todo`` (ids of the new batches), ``batches`` (``{id: {"files",
        "outputs", "checksums", "requires", "mb"}}``, new and past), ``retired`` (the
        previous plan's batches no output needs any more), ``files`` (the rows, each with
        its ``batch``), ``counts``, ``generation``, ``requires``, ``drift``.
    """
    if files_per_job < 1:
        raise ValueError(f"files_per_job must be >= 1, not {files_per_job}")
    old = old or {}
    generation = int(old.get("generation", 0)) + 1
    batches, todo_ids = {}, []
    files = []
    for row in rows:
        row = dict(row)
        record = row.pop("batch_record", None)
        if row["status"] in ("processed", "failed") and row["batch"]:
            bid = row["batch"]
            if bid not in batches:
                batches[bid] = old.get("batches", {}).get(bid) or record
        else:
            row["batch"] = None
        files.append(row)
    todo = [r for r in files if r["status"] not in ("processed", "failed")]
    for i in range(0, len(todo), files_per_job):
        chunk = todo[i : i + files_per_job]
        paths = [r["file"] for r in chunk]
        bid = batch_id(generation, paths, requires)
        batches[bid] = {
            "files": paths,
            "outputs": {r["file"]: r["output"] for r in chunk},
            "checksums": {r["file"]: r["checksum"] for r in chunk},
            "requires": requires,
            "mb": sum(r["size"] for r in chunk) / 1e6,
        }
        todo_ids.append(bid)
        for r in chunk:
            r["batch"] = bid
    missing = [r["output"] for r in files if r["batch"] and not batches.get(r["batch"])]
    if missing:  # a past batch of unknown files: redo its outputs rather than guess
        raise ValueError(f"plan {stage}/{dataset}: no record of the batch that made {missing[0]}")
    counts = {s: sum(r["status"] == s for r in files) for s in STATUSES}
    # the previous plan's batches no output needs any more: jobs Snakemake built from the
    # previous plan still find their record until it has evaluated this one
    retired = {b: r for b, r in old.get("batches", {}).items() if b not in batches}
    return {
        "dataset": dataset,
        "stage": stage,
        "generation": generation,
        "drift": drift,
        "requires": requires,
        "unprocessed": {dataset: [r["file"] for r in todo]},
        "todo": todo_ids,
        "batches": batches,
        "retired": retired,
        "files": files,
        "counts": counts,
    }


def read_plan(path):
    """Read a plan JSON written by the workflow's plan checkpoint."""
    with open(path) as f:
        return json.load(f)


@functools.lru_cache(maxsize=512)
def _read_json_version(path, inode, size, mtime_ns):
    with open(path) as f:
        return json.load(f)


def read_json_cached(path):
    """Read a JSON file once per version (inode, size, mtime), then from memory.

    The workflow's input functions ask for a dataset's plan (and receipt) once per job;
    parsing it each time costs O(files) per job, O(files^2) per DAG. A file rewritten by
    its job (a new file, renamed into place) is read again.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict or None
        The document, shared between callers (do not modify it); None if there is no file.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return _read_json_version(os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def read_plan_cached(path):
    """:func:`read_plan`, once per version of the file (see :func:`read_json_cached`)."""
    plan = read_json_cached(path)
    if plan is None:
        raise FileNotFoundError(f"no plan {path}")
    return plan


def read_plan_or_none(path):
    """The plan at ``path`` (read once per version), or None if missing or unreadable."""
    try:
        return read_json_cached(path)
    except (OSError, ValueError):
        return None


def recorded_states(plan, receipt, receipt_is_newer=True):
    """Output -> the ``[size, mtime_ns]`` it had when last used or checked.

    For each output of the plan: the state its consumer's receipt recorded (written after
    the outputs were published), else the state the plan found for an output it counted
    as done. A receipt older than the plan is not used for the outputs the plan batched
    again: they are being remade. An output a batch is still to make has no record (if it
    is missing, Snakemake runs its batch, which is the plan's anyway).

    Parameters
    ----------
    plan, receipt : dict or None
    receipt_is_newer : bool
        Whether the receipt was written after the plan.

    Returns
    -------
    dict
    """
    used = dict((receipt or {}).get("outputs", {}))
    if not plan:
        return used
    todo = set(plan.get("todo", []))
    record = {}
    for row in plan["files"]:
        out = row["output"]
        if out in used and (receipt_is_newer or row.get("batch") not in todo):
            record[out] = used[out]
        elif row.get("state") is not None:
            record[out] = row["state"]
    return record


def _version(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def changed_outputs(plan_path, receipt_path, memo=None):
    """Outputs deleted or rewritten since their consumer used them (or their plan saw them).

    One ``stat`` per recorded output.

    Parameters
    ----------
    plan_path, receipt_path : str
    memo : dict, optional
        Results by version of the plan and the receipt: a caller that asks for every
        output of a stage (the workflow, once per run) stats each output once.

    Returns
    -------
    tuple of str
        Sorted.
    """
    plan_key, receipt_key = _version(plan_path), _version(receipt_path)
    if memo is not None and (plan_key, receipt_key) in memo:
        return memo[(plan_key, receipt_key)]
    plan = read_plan_or_none(plan_path) if plan_key else None
    receipt = read_plan_or_none(receipt_path) if receipt_key else None
    newer = bool(receipt_key and plan_key and receipt_key[3] >= plan_key[3])
    record = recorded_states(plan, receipt, newer or not plan_key)
    changed = tuple(sorted(out for out, state in record.items() if file_state(out) != state))
    if memo is not None:
        memo[(plan_key, receipt_key)] = changed
    return changed


def describe_changes(changed, shown=5):
    """A readable, stable description of changed outputs (for Snakemake's rerun reasons)."""
    names = ", ".join(Path(p).name for p in changed[:shown])
    more = f" and {len(changed) - shown} more" if len(changed) > shown else ""
    digest = hashlib.sha1("\n".join(changed).encode()).hexdigest()[:12]
    return f"{len(changed)} output(s) deleted or rewritten since used: {names}{more} [{digest}]"


def drift_token(plan_path, receipt_path, memo=None):
    """The plan checkpoint's ``drift`` parameter: changes when outputs are damaged.

    While every recorded output is as its consumer left it, this is the token the plan
    on disk was made with (``"none"`` without a plan), so a finished production reruns
    nothing, also right after a repair. When outputs were deleted or rewritten, it names
    them (:func:`describe_changes`), Snakemake sees a changed parameter and remakes the
    plan, which batches exactly the damaged files. The plan is declared ``update()``,
    so it is still on disk while the checkpoint runs and the script gets the same value.

    Parameters
    ----------
    plan_path, receipt_path : str
    memo : dict, optional
        As :func:`changed_outputs`.

    Returns
    -------
    str
    """
    if os.path.exists(plan_path) and read_plan_or_none(plan_path) is None:
        return "unreadable plan"  # remade
    changed = changed_outputs(plan_path, receipt_path, memo)
    if changed:
        return describe_changes(list(changed))
    plan = read_json_cached(plan_path)
    return plan.get("drift", "none") if plan else "none"


def batch_of(plan, output):
    """The batch of a plan that makes (or made) a per-file output.

    Parameters
    ----------
    plan : dict
    output : str

    Returns
    -------
    str or None
    """
    index = _batch_index(id(plan), plan)
    return index.get(output)


_INDEX = {}


def _batch_index(key, plan):
    cached = _INDEX.get(key)
    if cached is None or cached[0] is not plan:
        index = {r["output"]: r["batch"] for r in plan["files"]}
        if len(_INDEX) > 256:
            _INDEX.clear()
        _INDEX[key] = cached = (plan, index)
    return cached[1]
