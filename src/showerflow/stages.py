"""The workflow's stages as functions of files: what each rule (and CLI subcommand) runs.

Each function reads its inputs, calls the pure functions of the other modules and writes
its outputs atomically. ``scripts/*.py`` are thin adapters from ``snakemake.*`` to these
functions, and ``showerflow <stage>`` calls the same ones.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import bookkeeping as bk
from . import catalog as cat
from . import models
from . import pipeline as pl
from .contracts import DL2_COLUMNS, ContractError
from .formats import format_of
from .pipeline import STAGES
from .provenance import record
from .tables import atomic_path, read_metadata, read_table, write_chunks, write_table

__all__ = [
    "write_json",
    "run_catalog",
    "read_summary",
    "model_digests",
    "read_settings",
    "spec_of_settings",
    "stage_inputs",
    "run_plan",
    "batch_of_files",
    "tombstone",
    "process_batch",
    "output_dataset",
    "read_receipts",
    "write_receipts",
    "split_tombstones",
    "acceptance_check",
    "select_role",
    "run_records",
    "training_table",
    "run_training_data",
    "read_training_sample",
    "run_train",
    "dl2_events",
    "dl2_chunks",
    "dl2_table",
    "run_dl2",
    "run_merge",
]

log = logging.getLogger("showerflow")

#: Events per chunk when DL2 streams a file (config ``dl2.chunk_size``).
DEFAULT_CHUNK_SIZE = 100_000

#: Seconds between two progress lines within one long step.
PROGRESS_SECONDS = 10.0

#: Event-level columns copied onto each image of a training table.
_EVENT_COLUMNS_FOR_IMAGES = ["true_energy", "reco_h_max", "multiplicity"]
#: DL2 column types (docs/dl2.md): 64-bit ids and floats, a 32-bit multiplicity.
_DL2_DTYPES = {
    name: {"i": np.int64, "f": np.float64}[kind] for name, (kind, _, _) in DL2_COLUMNS.items()
} | {"multiplicity": np.int32}


def write_json(obj, path):
    """Write JSON atomically (sorted keys, indented)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def run_catalog(
    dataset, spec, out_catalog, out_summary, skip_bad_files=False, max_files=None, paths=None
):
    """Build one dataset's catalog, check its bookkeeping and assign roles.

    Parameters
    ----------
    dataset : str
        Dataset name.
    spec : dict
        ``folders``, ``pattern``, ``query``, ``roles`` (fractions), ``identity``
        (``"uuid"`` or ``"name"``), ``format`` and ``format_options`` (default ROOT),
        ``role_split`` (``"file"``: each file gets one role by the hash of its identity;
        ``"event"``: each file gets every role of non-zero fraction, one catalog row per
        role, and the stages split its events, see :func:`select_role`).
    out_catalog : str
        Parquet: one row per file with path, uuid, metadata, role.
    out_summary : str
        JSON: ``{"roles": {role: [file, ...]}, "bad_files": [{"file", "reason"}],
        "digest": ...}``.
    skip_bad_files : bool
        Record bad files and leave them out instead of stopping.
    max_files : int, optional
        Test mode: keep at most this many files per role (the first by path).
    paths : list of str, optional
        The files (the workflow passes its catalog job's inputs); default: those of the
        dataset's ``folders`` matching its ``pattern``.

    Returns
    -------
    pandas.DataFrame
    """
    t0 = time.perf_counter()
    if paths is None:
        paths = cat.scan_folders(spec["folders"], spec["pattern"])
    paths = sorted(map(str, paths))
    # entries of the folders that match the pattern but are no file (dangling links,
    # loops of links, directories): bad inputs too, though no job can take them as input
    bad = cat.folder_problems(spec["folders"], spec.get("pattern", "*.root"))
    if bad and not skip_bad_files:
        raise ContractError(bad[0]["file"], bad[0]["reason"])
    table, bad_files = cat.build_catalog(paths, skip_bad_files=skip_bad_files, spec=spec)
    bad += bad_files
    table = cat.select(table, spec.get("query"))
    if table.empty:
        raise ContractError(
            ",".join(map(str, spec["folders"])),
            f"dataset '{dataset}': no readable file matches query {spec.get('query')!r}",
        )
    problems = cat.bookkeeping_problems(table, dataset, identity=spec.get("identity"))
    if problems and not skip_bad_files:
        raise ContractError(problems[0]["file"], problems[0]["reason"])
    if problems:
        table = table[~table["path"].isin([p["file"] for p in problems])]
        bad.extend(problems)
    table = table.copy()
    table["dataset"] = dataset
    if spec["identity"] == "uuid" and table["uuid"].isna().any():
        raise ContractError(
            table.loc[table["uuid"].isna(), "path"].iloc[0],
            f"dataset '{dataset}': format '{spec.get('format', 'root')}' gives files no UUID; "
            "set identity: name (and output_naming: name)",
        )
    if spec.get("role_split", "file") == "event":
        roles = [r for r in cat.ROLES if spec["roles"][r] > 0]
        table = pd.concat([table.assign(role=r) for r in roles], ignore_index=True)
    else:
        table["role"] = cat.assign_roles(table[spec["identity"]].astype(str), spec["roles"])
    table = table.sort_values(["path", "role"]).reset_index(drop=True)
    if max_files is not None:
        table = table.groupby("role", sort=False).head(max_files).reset_index(drop=True)
    roles = {r: table.loc[table["role"] == r, "path"].tolist() for r in cat.ROLES}
    digest = hashlib.sha256(
        "\n".join(
            f"{p} {u} {c}"
            for p, u, c in zip(table["path"], table["uuid"], table["checksum"], strict=True)
        ).encode()
    ).hexdigest()
    write_table(table, out_catalog, metadata={"dataset": dataset, "spec": spec})
    write_json(
        {"dataset": dataset, "roles": roles, "bad_files": bad, "digest": digest}, out_summary
    )
    log.info(
        "catalog %s: %d files (%s) in %.1f s, %d bad",
        dataset,
        len(table),
        ", ".join(f"{r}: {len(f)}" for r, f in roles.items()),
        time.perf_counter() - t0,
        len(bad),
    )
    return table


def read_summary(path):
    """Read a catalog summary JSON written by :func:`run_catalog`."""
    with open(path) as f:
        return json.load(f)


def model_digests(model_paths):
    """``{"models": {name: sha256}}``: what a stage's outputs must have been made with."""
    if not model_paths:
        return {}
    return {"models": {name: bk.sha256(p) for name, p in sorted(model_paths.items())}}


def read_settings(spec, naming, max_events):
    """What changes a stage's outputs besides the input and the models.

    The output naming, the test-mode event limit and the dataset's reading keys
    (``format``, ``format_options``, ``role_split``, and the role fractions when events
    are split into roles). Every output records them; an output made with others is
    stale. Batch jobs read their files with these keys (:func:`spec_of_settings`), so a
    change of a dataset's other keys (its query, its folders) never reruns them.

    Parameters
    ----------
    spec : dict or None
        The dataset.
    naming : {"uuid", "name"}
    max_events : int or None

    Returns
    -------
    dict
    """
    spec = spec or {}
    read = {
        "format": spec.get("format", "root"),
        "format_options": dict(spec.get("format_options") or {}),
        "role_split": spec.get("role_split", "file"),
    }
    if read["role_split"] == "event":
        read["roles"] = dict(spec["roles"])
    return {"naming": naming, "max_events": max_events, "read": read}


def spec_of_settings(settings):
    """The dataset keys a batch job reads its files with (see :func:`read_settings`)."""
    return dict(settings["read"])


def stage_inputs(table, stage, results, dataset, naming, max_events=None):
    """The inputs of a stage from a dataset's catalog: one record per file of its role.

    Parameters
    ----------
    table : pandas.DataFrame
        The dataset's catalog.
    stage : str
    results : str
        The results folder.
    dataset : str
    naming : {"uuid", "name"}
    max_events : int, optional
        Test mode: events read per file.

    Returns
    -------
    list of dict
        ``file``, ``output``, ``n_events``, ``size``, ``checksum``, sorted by file.
    """
    rows = table[table["role"] == STAGES[stage].role]
    out = []
    for rec in rows.to_dict("records"):
        n = int(rec["n_events"])
        if max_events is not None:
            n = min(n, int(max_events))
        oid = bk.output_id(rec["uuid"], rec["name"], naming)
        out.append(
            {
                "file": rec["path"],
                "output": pl.output_path(results, stage, dataset, oid),
                "n_events": n,
                "size": int(rec.get("size") or 0),
                "checksum": rec.get("checksum"),
            }
        )
    return sorted(out, key=lambda r: r["file"])


def run_plan(
    dataset,
    stage,
    catalog,
    results,
    output,
    naming="uuid",
    files_per_job=4,
    models=None,
    max_events=None,
    spec=None,
    drift="none",
):
    """Classify a dataset's inputs for a stage and batch the ones not processed.

    Parameters
    ----------
    dataset : str
    stage : {"energy", "classification", "dl2"}
    catalog : str
        The dataset's catalog (Parquet).
    results : str
        The results folder (outputs are named by :mod:`showerflow.pipeline`).
    output : str
        Plan JSON (see :func:`showerflow.bookkeeping.make_plan`). A plan already there is
        the previous one: its batches' history and generation carry over.
    naming : {"uuid", "name"}
    files_per_job : int
    models : dict, optional
        Model name -> path the outputs must have been made with.
    max_events : int, optional
        Test mode: events per file.
    spec : dict, optional
        The dataset (its reading keys are part of the outputs' settings).
    drift : str
        The checkpoint's ``drift`` parameter (:func:`showerflow.bookkeeping.drift_token`).

    Returns
    -------
    dict
        The plan.
    """
    table, _ = read_table(catalog)
    inputs = stage_inputs(table, stage, results, dataset, naming, max_events)
    requires = {**model_digests(models), "settings": read_settings(spec, naming, max_events)}
    requires.setdefault("models", {})
    columns = list(STAGES[stage].columns)

    def expected_of(rec):
        return columns, {
            "n_events": rec["n_events"],
            "input_checksum": rec["checksum"],
            "models": requires["models"],
            "settings": requires["settings"],
        }

    rows = bk.classify(inputs, expected_of)
    old = bk.read_plan(output) if Path(output).exists() else None
    plan = bk.make_plan(dataset, stage, rows, files_per_job, requires, old, drift)
    write_json(plan, output)
    c = plan["counts"]
    log.info(
        "plan %s/%s (generation %d): %d processed, %d unprocessed, %d corrupt, %d failed "
        "-> %d new batches",
        stage,
        dataset,
        plan["generation"],
        c["processed"],
        c["unprocessed"],
        c["corrupt"],
        c["failed"],
        len(plan["todo"]),
    )
    if drift.startswith(tuple("0123456789")):
        log.info("remade because %s", drift)
    for r in plan["files"]:
        if r["status"] in ("corrupt", "failed"):
            log.warning("%s %s: %s", r["status"], r["file"], r["reason"])
    return plan


def _event_index(events, images, path):
    """Row of ``events`` of each image, by (obs_id, event_id)."""
    ekey = events["obs_id"].to_numpy(np.int64) << 32 | events["event_id"].to_numpy(np.int64)
    ikey = images["obs_id"].to_numpy(np.int64) << 32 | images["event_id"].to_numpy(np.int64)
    order = np.argsort(ekey, kind="stable")
    pos = np.searchsorted(ekey[order], ikey)
    pos = np.clip(pos, 0, len(ekey) - 1)
    found = ekey[order][pos] == ikey
    if not found.all():
        bad = images.iloc[int(np.argmin(found))]
        raise ContractError(
            path,
            f"image of obs_id={bad['obs_id']} event_id={bad['event_id']} has no entry in "
            "tree 'events'",
        )
    return order[pos]


def select_role(d, spec, role):
    """Keep the events of ``role`` when the dataset splits events into roles.

    With ``role_split: event`` an event's role is drawn from the hash of its
    ``(obs_id, event_id)`` (:func:`showerflow.catalog.event_roles`) with the dataset's
    role fractions; the simulation record's ``n_showers`` is scaled by the role's fraction
    (the expected number of thrown showers behind the kept events) and the fraction is
    recorded as ``role_fraction``. Otherwise (``role_split: file``) ``d`` is returned as is.

    Parameters
    ----------
    d : showerflow.formats.DL1
    spec : dict or None
        The dataset.
    role : str or None
        ``energy``, ``classification`` or ``performance``.

    Returns
    -------
    showerflow.formats.DL1
    """
    if not spec or spec.get("role_split", "file") != "event" or role is None:
        return d
    from .formats import DL1, images_of_events

    fraction = float(spec["roles"][role])
    keep = cat.event_roles(d.events["obs_id"], d.events["event_id"], spec["roles"]) == role
    events = d.events[keep].reset_index(drop=True)

    def scaled(rec):
        rec = dict(rec, role_fraction=fraction)
        if np.isfinite(rec.get("n_showers", np.nan)):
            rec["n_showers"] = int(round(rec["n_showers"] * fraction))
        return rec

    extra = dict(d.extra)
    if extra.get("runs"):
        extra["runs"] = [scaled(r) for r in extra["runs"]]
    return DL1(scaled(d.simulation), events, images_of_events(d.images, events), d.uuid, extra)


def run_records(d):
    """The per-run simulation records of a DL1 file (or chunk): what its DL2 carries.

    A file merged from several runs (ctapipe-merge) keeps one record per run in
    ``extra["runs"]``, so every DL2 event's ``obs_id`` has its record; other files have
    the one record ``d.simulation``.

    Parameters
    ----------
    d : showerflow.formats.DL1

    Returns
    -------
    list of dict
    """
    runs = d.extra.get("runs") if d.extra else None
    return [dict(r) for r in runs] if runs and len(runs) > 1 else [dict(d.simulation)]


def _read_dl1(path, spec, role, entry_stop):
    fmt, options = format_of(spec)
    d = fmt.read(path, options, entry_stop=entry_stop)
    n_in = d.n_events
    return select_role(d, spec, role), n_in


def _file_identity(path, d):
    """The file's UUID, or its name for formats without one."""
    return d.uuid if d.uuid is not None else Path(path).name


def training_table(path, energy_model=None, entry_stop=None, spec=None, role=None):
    """Image-level training table of one DL1 file.

    Parameters
    ----------
    path : str
    energy_model : dict, optional
        If given, each image gets its event's ``reco_energy`` (classification data).
    entry_stop : int, optional
        Read at most this many events (test mode).
    spec : dict, optional
        The file's dataset: its ``format``/``format_options`` and ``role_split``
        (default: ROOT, roles by file).
    role : str, optional
        The stage's role (with ``role_split: event``, only its events are kept).

    Returns
    -------
    pandas.DataFrame
        Image columns, the event columns models use, ``particle`` and ``file_uuid`` (the
        file's name for formats without UUID); ``attrs["n_events_in"]`` is the number of
        events read and ``attrs["uuid"]`` the file's UUID (or None).
    """
    d, n_in = _read_dl1(path, spec, role, entry_stop)
    events, images = d.events, d.images.copy()
    idx = _event_index(events, images, path)
    for col in _EVENT_COLUMNS_FOR_IMAGES:
        images[col] = events[col].to_numpy()[idx]
    images["particle"] = d.simulation["particle"]
    images["file_uuid"] = _file_identity(path, d)
    if energy_model is not None:
        energy, _ = models.predict_events(energy_model, images, idx, len(events))
        images["reco_energy"] = energy[idx]
    images = images.reset_index(drop=True)
    images.attrs["n_events_in"] = n_in
    images.attrs["uuid"] = d.uuid
    return images


def batch_of_files(files, folder, naming="uuid", spec=None, max_events=None):
    """A batch record for given files, their outputs in ``folder`` (``showerflow`` by hand).

    The workflow's batches come from the plans; by hand, each file is inspected for its
    UUID and checksum, as the catalog would.

    Parameters
    ----------
    files : list of str
    folder : str
        Where the per-file outputs go (the batch's staging folder is that folder).
    naming : {"uuid", "name"}
    spec : dict, optional
        The dataset (format, options, role split).
    max_events : int, optional

    Returns
    -------
    dict
    """
    outputs, checksums = {}, {}
    for path in files:
        entry = cat.catalog_entry(path, spec)
        uuid = entry["uuid"]
        _check_naming(path, uuid, naming)
        outputs[path] = str(Path(folder) / f"{bk.output_id(uuid, entry['name'], naming)}.parquet")
        checksums[path] = entry["checksum"]
    requires = {"models": {}, "settings": read_settings(spec, naming, max_events)}
    record = {
        "files": list(files),
        "outputs": outputs,
        "checksums": checksums,
        "requires": requires,
    }
    return dict(record, id=bk.batch_id(0, list(files), requires))


def tombstone(columns):
    """The empty table a tombstone holds: the stage's required columns, no rows."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})


def _pid_alive(pid):
    """Whether ``pid`` (text) is a running process of this host."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def process_batch(batch, staging, make, skip_bad_files=False, meta=None, columns=()):
    """Run ``make`` on each input of a batch; write one output per input into ``staging``.

    Each output is written under the file name of its final path (the plan's
    ``outputs``), in the batch's staging folder; the workflow publishes it under its
    final name afterwards. Its metadata records what the plan checks (``n_events_in``,
    ``input_checksum``, ``models``, ``settings``) and the batch that made it.

    Parameters
    ----------
    batch : dict
        The plan's record of the batch: ``id``, ``files``, ``outputs`` (file -> final
        output path), ``checksums`` (file -> Adler-32), ``requires`` (``settings``).
    staging : str
        The batch's staging folder (created).
    make : callable
        ``make(path) -> (table, dict)``: the table and its metadata, which must hold
        ``n_events_in`` and ``uuid``. The table is a DataFrame, or an iterable of
        DataFrames written one by one (:func:`showerflow.tables.write_chunks`); then the
        metadata may also hold the ``n_rows`` it will produce (checked when given).
    skip_bad_files : bool
        Write a tombstone for an input that breaks the data contract (a Parquet file with
        no rows, ``status: failed`` and the reason in its metadata) and go on, instead of
        stopping.
    meta : dict, optional
        Metadata added to every output (the digests of the models applied).
    columns : sequence of str
        Columns of a tombstone (the stage's required columns).

    Returns
    -------
    dict
        The batch summary also written to ``staging/batch.json``: ``outputs`` (one entry
        per input: ``file``, ``output``, ``status``, ``reason``, ``n_events_in``,
        ``n_rows``).

    Notes
    -----
    The folder appears whole or not at all: the outputs are written into a sibling
    ``<staging>.part-<pid>`` that is renamed to ``staging`` once every output and the
    summary are written (into a folder that already holds files, as by hand, each file is
    moved in, the summary last). A batch killed midway (kill -9 of Snakemake and its jobs)
    leaves no staging folder that looks finished, so the next run redoes the batch instead
    of publishing from a half-filled folder; the parts left by processes no longer running
    are removed here.
    """
    final_dir = Path(staging)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in final_dir.parent.glob(f"{final_dir.name}.part-*"):
        if not _pid_alive(stale.name.rsplit("-", 1)[-1]):  # not another writer's, by hand
            shutil.rmtree(stale, ignore_errors=True)
    staging = final_dir.parent / f"{final_dir.name}.part-{os.getpid()}"
    staging.mkdir()
    record = {k: batch[k] for k in ("files", "outputs", "checksums", "requires") if k in batch}
    common = {
        "batch": batch["id"],
        "batch_record": record,
        "settings": batch["requires"]["settings"],
        **(meta or {"models": {}}),
    }
    results = []
    t0, n_total = time.perf_counter(), 0
    for i, path in enumerate(batch["files"]):
        final = batch["outputs"][path]
        staged = str(Path(staging) / Path(final).name)
        base = {**common, "input": str(path), "input_checksum": batch["checksums"].get(path)}
        try:
            df, info = make(path)
            _check_identity(path, info.get("uuid"), final, batch["requires"]["settings"])
            if isinstance(df, pd.DataFrame):
                n_rows = len(df)
                write_table(df, staged, metadata={**base, **info, "n_rows": n_rows})
            else:
                n_rows = info.get("n_rows")  # unknown ahead when events are selected
                written = write_chunks(df, staged, metadata={**base, **info})
                if n_rows is not None and written != n_rows:  # pragma: no cover - a bug
                    raise RuntimeError(f"{staged}: wrote {written} rows, announced {n_rows}")
                n_rows = written
        except ContractError as err:
            if not skip_bad_files:
                raise
            log.warning("skipping bad input %s: %s", path, err.problem)
            tomb = {**base, "status": bk.FAILED, "reason": err.problem, "n_events_in": 0}
            write_table(tombstone(columns), staged, metadata=tomb)
            results.append(
                {"file": str(path), "output": final, "status": bk.FAILED, "reason": err.problem}
            )
            continue
        results.append(
            {
                "file": str(path),
                "output": final,
                "status": "ok",
                "n_events_in": int(info["n_events_in"]),
                "n_rows": int(n_rows),
            }
        )
        n_total += info["n_events_in"]
        dt = time.perf_counter() - t0
        log.info(
            "%d/%d files, %d events, %.0f events/s",
            i + 1,
            len(batch["files"]),
            n_total,
            n_total / max(dt, 1e-9),
        )
    summary = {"batch": batch["id"], "outputs": results}
    write_json(summary, staging / "batch.json")
    if not final_dir.exists() or not any(final_dir.iterdir()):
        os.replace(staging, final_dir)  # the workflow's staging folder: whole at once
    else:  # a folder of the user's (by hand): each output moved in, the rest kept
        for item in sorted(staging.iterdir(), key=lambda p: p.name == "batch.json"):
            os.replace(item, final_dir / item.name)
        staging.rmdir()
    return summary


def _check_identity(path, uuid, final, settings):
    """The file is still the one the catalog named (its UUID names the output)."""
    if settings.get("naming") == "uuid" and uuid is not None and Path(final).stem != str(uuid):
        raise ContractError(
            path,
            f"its UUID is {uuid} but the catalog recorded {Path(final).stem}: the file was "
            "replaced since the catalog was made; rerun the catalog",
        )


def run_training_data(
    batch, staging, energy_model=None, skip_bad_files=False, spec=None, role=None
):
    """Write the image-level training table of each DL1 file of a batch.

    Parameters
    ----------
    batch : dict
        The plan's record of the batch (see :func:`process_batch`); its
        ``requires["settings"]`` give the output naming and the test-mode event limit.
    staging : str
        The batch's staging folder (the Snakemake output).
    energy_model : str, optional
        Path of the energy model to apply (classification training data).
    skip_bad_files : bool
    spec : dict, optional
        The dataset (format, options, role split); default ROOT, roles by file.
    role : str, optional
        The stage's role; default ``classification`` with an energy model, else ``energy``.

    Returns
    -------
    dict
        The batch summary.
    """
    model = models.load_model(energy_model) if energy_model else None
    if role is None:
        role = "classification" if energy_model else "energy"
    stage = "classification" if role == "classification" else "energy"
    settings = batch["requires"]["settings"]
    meta = model_digests({"energy": energy_model} if energy_model else None)

    def make(path):
        df = training_table(path, model, settings["max_events"], spec=spec, role=role)
        _check_naming(path, df.attrs["uuid"], settings["naming"])
        return df, {"uuid": df.attrs["uuid"], "n_events_in": int(df.attrs["n_events_in"])}

    columns = STAGES[stage].columns
    return process_batch(batch, staging, make, skip_bad_files, meta, columns)


def _check_naming(path, uuid, naming):
    if uuid is None and naming == "uuid":
        raise ContractError(
            path, "this file's format has no UUID to name outputs by; set output_naming: name"
        )


def output_dataset(path):
    """The dataset of a per-file output (``<folder>/<dataset>/<id>.parquet``)."""
    return Path(path).parent.name


def read_receipts(paths):
    """``{dataset: {output: [size, mtime_ns]}}`` of per-file outputs about to be used."""
    out = {}
    for p in paths:
        out.setdefault(output_dataset(p), {})[str(p)] = bk.file_state(p)
    return out


def write_receipts(states, receipts):
    """Write one receipt per dataset: the outputs a consumer used, with their states.

    Parameters
    ----------
    states : dict
        From :func:`read_receipts`.
    receipts : dict
        Dataset -> receipt path (every dataset gets one, possibly empty).
    """
    for dataset, path in receipts.items():
        write_json({"outputs": states.get(dataset, {})}, path)


def split_tombstones(paths):
    """Separate usable per-file outputs from tombstones.

    Returns
    -------
    (list of str, list of dict)
        The usable outputs, and ``{"file", "output", "reason"}`` of each tombstone.
    """
    good, failed = [], []
    for p in paths:
        meta = read_metadata(p)
        if meta.get("status") == bk.FAILED:
            failed.append(
                {
                    "file": meta.get("input", str(p)),
                    "output": str(p),
                    "reason": meta.get("reason", ""),
                }
            )
        else:
            good.append(str(p))
    return good, failed


def _training_batches(paths, columns, batch_size):
    for p in paths:
        try:
            pf = pq.ParquetFile(p)
        except (OSError, pa.ArrowInvalid) as err:
            raise ContractError(p, f"not a readable Parquet file ({err})") from err
        missing = sorted(set(columns) - set(pf.schema_arrow.names))
        if missing:
            raise ContractError(
                p, f"column '{missing[0]}' missing; the file has {sorted(pf.schema_arrow.names)}"
            )
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            yield batch.to_pandas()


def read_training_sample(paths, columns, cfg, batch_size=100_000):
    """Read the images a model will use from training tables, in bounded memory.

    With ``max_events_per_tel_type`` set, the tables are streamed twice in batches of
    rows: first only to collect, per telescope type, the training showers that pass the
    quality cuts (one int64 per shower), of which :func:`showerflow.models.sample_showers`
    draws the same reproducible sample :func:`showerflow.models.train` would; then to keep
    the images of those showers, and the images of at most as many held-out test showers
    (drawn the same way). Memory is bounded by the samples, not by the input size.
    Without a maximum, every image is read.

    Parameters
    ----------
    paths : list of str
        Training tables (Parquet).
    columns : list of str
        Columns to read; must include ``obs_id``, ``event_id``, ``tel_type`` and those of
        the quality cuts.
    cfg : dict
        Validated model config.
    batch_size : int
        Rows per read.

    Returns
    -------
    pandas.DataFrame
        ``attrs["n_images_in"]``, ``attrs["n_showers_in"]``: what the tables held.
    """
    max_events, seed = cfg["max_events_per_tel_type"], cfg["seed"]

    def split(df):
        test = models.shower_test_mask(df["obs_id"], df["event_id"], cfg["test_fraction"], seed)
        good = models.quality_mask(df, cfg["quality_cuts"])
        return models.shower_keys(df), test, good

    if max_events is None:
        frames = list(_training_batches(paths, columns, batch_size))
        images = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        images.attrs["n_images_in"] = len(images)
        images.attrs["n_showers_in"] = len(np.unique(models.shower_keys(images)))
        return images
    train_keys, test_keys, seen, n_images = {}, [], [], 0
    for df in _training_batches(paths, columns, batch_size):
        keys, test, good = split(df)
        n_images += len(df)
        seen.append(np.unique(keys))
        types = df["tel_type"].to_numpy()
        for tel_type in np.unique(types):
            sel = (types == tel_type) & good & ~test
            train_keys.setdefault(tel_type, []).append(np.unique(keys[sel]))
        test_keys.append(np.unique(keys[test]))
    if not n_images:
        raise ContractError(", ".join(map(str, paths)), "the training tables hold no image")
    n_showers = len(np.unique(np.concatenate(seen)))
    keep_train = {
        t: models.sample_showers(np.concatenate(k), max_events, seed) for t, k in train_keys.items()
    }
    keep_test = models.sample_showers(np.concatenate(test_keys), max_events, seed + 1)
    del train_keys, test_keys, seen
    frames = []
    for df in _training_batches(paths, columns, batch_size):
        keys, test, good = split(df)
        types = df["tel_type"].to_numpy()
        keep = test & np.isin(keys, keep_test)
        for tel_type, kept in keep_train.items():
            sel = (types == tel_type) & good & ~test
            keep |= sel & np.isin(keys, kept)
        frames.append(df[keep])
    images = pd.concat(frames, ignore_index=True)
    images.attrs["n_images_in"] = n_images
    images.attrs["n_showers_in"] = n_showers
    return images


def _cut_columns(cfg):
    """Raw columns the quality cuts refer to (names found in the expressions)."""
    import re

    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(cfg["quality_cuts"])))
    return names - {"and", "or", "not", "in", "True", "False", "abs", "log10"}


def run_train(inputs, model_config, output, metrics_output, n_jobs=1, receipts=None):
    """Train a model on training tables, evaluate it on the test showers, save both.

    Parameters
    ----------
    inputs : list of str
        Training tables (Parquet), per-file outputs of a training stage; tombstones
        (inputs the stage failed on) are left out and listed in the metrics.
    model_config : str
        Model YAML.
    output : str
        Model file (joblib).
    metrics_output : str
        Metrics JSON.
    n_jobs : int
        Threads of the estimator's ``fit`` and of the test predictions (the rule's
        ``threads``; the predictions do not depend on them).
    receipts : dict, optional
        Dataset -> receipt path: the tables used, with their size and mtime
        (:func:`write_receipts`).

    Returns
    -------
    dict
        The metrics.
    """
    cfg = models.load_model_config(model_config)
    inputs = sorted(map(str, inputs))  # a canonical order: results do not depend on listing
    states = read_receipts(inputs)
    inputs, failed = split_tombstones(inputs)
    for f in failed:
        log.warning("left out %s: the stage failed on %s: %s", f["output"], f["file"], f["reason"])
    if not inputs:
        raise ValueError(f"no training table for the {cfg['kind']} model")
    # what the model needs (a classifier needs reco_energy only when a feature, cut or
    # weight uses it), the quality cuts' columns when the tables have them (else the cut
    # says so), and reco_energy for a classifier's per-energy metrics when it is there
    have = set(pq.read_schema(inputs[0]).names)
    needed = models.training_columns(cfg) | (_cut_columns(cfg) & have)
    if cfg["kind"] == "classifier":
        needed |= {"reco_energy"} & have
    images = read_training_sample(inputs, sorted(needed), cfg)
    log.info(
        "%s model: %d training tables, %d images of %d showers; kept %d images "
        "(at most %s showers per telescope type)",
        cfg["kind"],
        len(inputs),
        images.attrs["n_images_in"],
        images.attrs["n_showers_in"],
        len(images),
        cfg["max_events_per_tel_type"],
    )
    particles = set(images["particle"].unique())
    if cfg["kind"] == "energy" and particles != {cfg["signal"]}:
        raise ValueError(
            f"energy model: training tables hold {sorted(particles)}, expected only "
            f"'{cfg['signal']}'; give the energy role only to {cfg['signal']} datasets"
        )
    t0 = time.perf_counter()
    model = models.train(images, cfg, n_jobs=n_jobs, log=log)
    log.info("trained %s model in %.1f s", cfg["kind"], time.perf_counter() - t0)
    # event-level evaluation on the held-out showers
    test = models.shower_test_mask(
        images["obs_id"], images["event_id"], cfg["test_fraction"], cfg["seed"]
    )
    timg = images[test].reset_index(drop=True)
    # an event is (file, obs_id, event_id): runs of different datasets may share numbers
    codes = timg.groupby(["file_uuid", "obs_id", "event_id"], sort=False).ngroup().to_numpy()
    value, _ = models.predict_events(model, timg, codes, n_jobs=n_jobs)
    first = np.unique(codes, return_index=True)[1]
    ev = timg.iloc[first].reset_index(drop=True)
    if cfg["kind"] == "energy":
        metrics = models.energy_metrics(ev[cfg["target"]].to_numpy(), value)
    else:
        reco = ev["reco_energy"].to_numpy() if "reco_energy" in ev else None
        metrics = models.classifier_metrics(
            (ev["particle"] == cfg["signal"]).to_numpy(), value, reco
        )
    metrics["feature_importances"] = models.feature_importances(model, timg, n_jobs)
    metrics["feature_importance_method"] = {
        t: models.importance_method(model["estimators"][t]) for t in metrics["feature_importances"]
    }
    metrics["per_tel_type"] = {
        t: {**c, **model["timing"].get(t, {})} for t, c in model["counts"].items()
    }
    metrics["training_inputs"] = [str(p) for p in inputs]
    metrics["left_out"] = failed
    # the model file holds no fit time (the same tables give the same file); the
    # metrics JSON has them
    model["metrics"] = {
        **metrics,
        "per_tel_type": {t: dict(c) for t, c in model["counts"].items()},
    }
    model["provenance"] = record(config=cfg, inputs=inputs)
    models.save_model(model, output)
    write_json(metrics, metrics_output)
    if receipts:
        write_receipts(states, receipts)
    return metrics


def dl2_events(events, images, energy_model, classifier, path="", n_jobs=1):
    """Apply both models to events and their images: one DL2 row per event.

    Parameters
    ----------
    events, images : pandas.DataFrame
        Events and exactly their images (as the formats' ``iterate`` yields them).
    energy_model, classifier : dict
    path : str
        The file they came from (for error messages).
    n_jobs : int
        Threads of the predictions; the rows do not depend on it
        (:func:`showerflow.models.predict_rows`).

    Returns
    -------
    pandas.DataFrame
        DL2_COLUMNS, one row per event, in the order of ``events``.
    """
    # a shallow copy: the event columns are added without copying the image columns
    images = images.copy(deep=False)
    idx = _event_index(events, images, path) if len(images) else np.zeros(0, np.int64)
    for col in _EVENT_COLUMNS_FOR_IMAGES:
        images[col] = events[col].to_numpy()[idx]
    energy, _ = models.predict_events(energy_model, images, idx, len(events), n_jobs=n_jobs)
    images["reco_energy"] = energy[idx]
    gammaness, _ = models.predict_events(classifier, images, idx, len(events), n_jobs=n_jobs)
    out = events[[c for c in DL2_COLUMNS if c in events.columns]].reset_index(drop=True)
    out["reco_energy"] = energy
    out["gammaness"] = gammaness
    # the documented types (docs/dl2.md), whatever the format's reader gave
    return out[list(DL2_COLUMNS)].astype(_DL2_DTYPES)


def dl2_chunks(
    path,
    energy_model,
    classifier,
    chunk_size=None,
    entry_stop=None,
    spec=None,
    role="performance",
    n_jobs=1,
):
    """DL2 of one DL1 file, chunk by chunk (the format's ``iterate``).

    Every event is computed from its own images only, and every image's prediction in
    the same order of operations whatever the threads, so the rows are the same whatever
    the chunk size and ``n_jobs``.

    Parameters
    ----------
    path : str
    energy_model, classifier : dict
    chunk_size : int, optional
        Events per chunk; None for the whole file at once.
    entry_stop : int, optional
    spec : dict, optional
        The file's dataset (format, options, role split); default ROOT, roles by file.
    role : str
        With ``role_split: event``, the events of this role are kept.
    n_jobs : int
        Threads of the predictions.

    Returns
    -------
    (dict, iterator of pandas.DataFrame)
        ``uuid``, ``n_events_in`` (events read, before any role selection),
        ``simulation`` (the file's record, as :func:`select_role` leaves it) and ``runs``
        (its per-run records, :func:`run_records`), read before the first row is
        computed; then the DL2 rows of consecutive events.
    """
    fmt, options = format_of(spec)
    chunks = fmt.iterate(path, options, chunk_size or 2**62, entry_stop)
    first = next(chunks)
    selected = select_role(first, spec, role)
    info = {
        "uuid": first.uuid,
        "n_events_in": int(first.extra.get("n_events_read", first.n_events)),
        "simulation": selected.simulation,
        "runs": run_records(selected),
    }

    def rows():
        t0 = last = time.perf_counter()
        n = 0
        for d in itertools.chain([first], chunks):
            d = select_role(d, spec, role)
            yield dl2_events(d.events, d.images, energy_model, classifier, path, n_jobs)
            n += d.n_events
            now = time.perf_counter()
            if now - last >= PROGRESS_SECONDS:
                last = now
                log.info("%s: %d events, %.0f events/s", path, n, n / (now - t0))

    return info, rows()


def dl2_table(
    path,
    energy_model,
    classifier,
    entry_stop=None,
    spec=None,
    role="performance",
    chunk_size=None,
    n_jobs=1,
):
    """Apply both models to one DL1 file: one DL2 row per event.

    Parameters
    ----------
    path : str
    energy_model, classifier : dict
    entry_stop : int, optional
    spec : dict, optional
        The file's dataset (format, options, role split); default ROOT, roles by file.
    role : str
        With ``role_split: event``, the events of this role are kept.
    chunk_size : int, optional
        Events per chunk read (the result does not depend on it).
    n_jobs : int
        Threads of the predictions (the result does not depend on them).

    Returns
    -------
    (pandas.DataFrame, dict)
        The DL2 events and the run's simulation record; ``attrs`` of the table hold
        ``n_events_in`` (events read) and ``uuid``.
    """
    info, rows = dl2_chunks(
        path, energy_model, classifier, chunk_size, entry_stop, spec, role, n_jobs
    )
    out = pd.concat(list(rows), ignore_index=True)
    out.attrs.update(n_events_in=info["n_events_in"], uuid=info["uuid"])
    return out, info["simulation"]


def run_dl2(
    batch,
    energy_model,
    classifier,
    staging,
    skip_bad_files=False,
    spec=None,
    chunk_size=DEFAULT_CHUNK_SIZE,
    n_jobs=1,
):
    """Write the DL2 table of each DL1 file of a batch, with its simulation record.

    Each file is streamed: ``chunk_size`` events and their images are read, both models
    applied and the rows appended to the output as one Parquet row group, so memory does
    not grow with the size of a file. The output is renamed into place when complete.

    Parameters
    ----------
    batch : dict
        The plan's record of the batch (see :func:`process_batch`).
    energy_model, classifier : str
        Model paths.
    staging : str
        The batch's staging folder (the Snakemake output).
    skip_bad_files : bool
    spec : dict, optional
        The dataset (format, options, role split); default ROOT, roles by file.
    chunk_size : int, optional
        Events per chunk; None reads each file whole.
    n_jobs : int
        Threads of the models' predictions (the rule's ``threads``). The outputs are
        byte-identical whatever it is (:func:`showerflow.models.predict_rows`).

    Returns
    -------
    dict
        The batch summary.
    """
    e_model, c_model = models.load_model(energy_model), models.load_model(classifier)
    meta = model_digests({"energy": energy_model, "classifier": classifier})
    settings = batch["requires"]["settings"]

    def make(path):
        info, rows = dl2_chunks(
            path, e_model, c_model, chunk_size, settings["max_events"], spec, n_jobs=n_jobs
        )
        _check_naming(path, info["uuid"], settings["naming"])
        info["simulation"] = info.pop("runs")
        if (spec or {}).get("role_split", "file") != "event":
            info["n_rows"] = info["n_events_in"]  # one DL2 row per event read
        return rows, info

    return process_batch(batch, staging, make, skip_bad_files, meta, STAGES["dl2"].columns)


def acceptance_check(dataset, inputs, failed, summary, acceptance):
    """Stop a merge whose dataset is processed below the ``acceptance`` fraction.

    Parameters
    ----------
    dataset : str
    inputs : int
        Per-file outputs of the dataset's stage (tombstones included).
    failed : list of dict
        Tombstones: ``{"file", "reason"}`` of each input the stage failed on.
    summary : dict
        The dataset's catalog summary (its bad files).
    acceptance : float

    Returns
    -------
    list of dict
        The files left out, ``{"file", "stage", "reason"}``.
    """
    left = [{"file": f["file"], "stage": "dl2", "reason": f["reason"]} for f in failed]
    left += [
        {"file": b["file"], "stage": "catalog", "reason": b["reason"]}
        for b in summary.get("bad_files", [])
    ]
    total = inputs + len(summary.get("bad_files", []))
    fraction = (total - len(left)) / total if total else 0.0
    if fraction < acceptance:
        listing = "\n".join(f"  {x['file']} ({x['stage']}): {x['reason']}" for x in left)
        raise ContractError(
            dataset,
            f"only {fraction:.1%} of the {total} files are processed, below the acceptance "
            f"of {acceptance:.1%}; left out:\n{listing}",
        )
    return left


def run_merge(
    inputs, output, dataset="", summary=None, acceptance=1.0, provenance=None, receipt=None
):
    """Merge per-file DL2 outputs into one file, streaming them one by one.

    The simulation records of all inputs are concatenated into the output's metadata;
    a run (obs_id) present in two inputs is an error (it would be counted twice).
    Tombstones (inputs the DL2 stage failed on, with ``skip_bad_files``) are left out;
    with them and the catalog's bad files counted, at least ``acceptance`` of the
    dataset's files must be processed.

    Parameters
    ----------
    inputs : list of str
        The dataset's per-file DL2 outputs.
    output : str
    dataset : str
    summary : str, optional
        The dataset's catalog summary (JSON).
    acceptance : float
    provenance : dict, optional
        Stored under ``provenance`` in the output's metadata.
    receipt : str, optional
        Where to write the outputs merged, with their size and mtime.
    """
    inputs = sorted(map(str, inputs))
    states = {p: bk.file_state(p) for p in inputs}
    good, failed = split_tombstones(inputs)
    left = acceptance_check(
        dataset, len(inputs), failed, read_summary(summary) if summary else {}, acceptance
    )
    records, seen, sources = [], {}, []
    for path in good:
        meta = read_metadata(path)
        for rec in meta.get("simulation", []):
            if rec["obs_id"] in seen:
                raise ContractError(
                    path,
                    f"run obs_id={rec['obs_id']} is also in {seen[rec['obs_id']]}; "
                    "a merge must not count a run twice",
                )
            seen[rec["obs_id"]] = path
            records.append(rec)
        sources.append(meta.get("input", path))
    meta = {
        "dataset": dataset,
        "simulation": records,
        "inputs": sources,
        "left_out": left,
        "provenance": provenance or {},
    }
    n = 0
    with atomic_path(output) as tmp:
        writer = None
        for path in good:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches():
                table = pa.Table.from_batches([batch])
                if writer is None:
                    schema = table.schema.with_metadata(
                        {b"showerflow": json.dumps(meta, default=str).encode()}
                    )
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
                n += table.num_rows
        if writer is None:
            raise ContractError(output, "nothing to merge: no input file")
        writer.close()
    if receipt:
        write_json({"outputs": states}, receipt)
    log.info(
        "merged %d events of %d runs from %d files into %s", n, len(records), len(good), output
    )
    return Path(output)
