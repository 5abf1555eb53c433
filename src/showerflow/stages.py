"""The workflow's stages as functions of files: what each rule (and CLI subcommand) runs.

Each function reads its inputs, calls the pure functions of the other modules and writes
its outputs atomically. ``scripts/*.py`` are thin adapters from ``snakemake.*`` to these
functions, and ``showerflow <stage>`` calls the same ones.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import catalog as cat
from . import dl1, models
from .contracts import DL2_COLUMNS, ContractError
from .tables import atomic_path, read_metadata, read_table, write_table

__all__ = [
    "write_json",
    "run_catalog",
    "read_batches",
    "training_table",
    "run_training_data",
    "run_train",
    "dl2_table",
    "run_dl2",
    "run_merge",
]

log = logging.getLogger("showerflow")

#: Event-level columns copied onto each image of a training table.
_EVENT_COLUMNS_FOR_IMAGES = ["true_energy", "reco_h_max", "multiplicity"]


def write_json(obj, path):
    """Write JSON atomically (sorted keys, indented)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def run_catalog(dataset, spec, files_per_job, out_catalog, out_batches, skip_bad_files=False):
    """Build one dataset's catalog, check its bookkeeping, assign roles and batches.

    Parameters
    ----------
    dataset : str
        Dataset name.
    spec : dict
        ``folders``, ``pattern``, ``query``, ``roles`` (fractions), ``identity``
        (``"uuid"`` or ``"name"``).
    files_per_job : int
    out_catalog : str
        Parquet: one row per file with path, uuid, metadata, role.
    out_batches : str
        JSON: ``{"roles": {role: [[file, ...], ...]}, "bad_files": [...]}``.
    skip_bad_files : bool

    Returns
    -------
    pandas.DataFrame
    """
    t0 = time.perf_counter()
    paths = cat.scan_folders(spec["folders"], spec["pattern"])
    table, bad = cat.build_catalog(paths, skip_bad_files=skip_bad_files)
    table = cat.select(table, spec.get("query"))
    if table.empty:
        raise ContractError(
            ",".join(map(str, spec["folders"])),
            f"dataset '{dataset}': no readable file matches query {spec.get('query')!r}",
        )
    problems = cat.bookkeeping_problems(table, dataset)
    if problems and not skip_bad_files:
        raise ContractError(problems[0]["file"], problems[0]["reason"])
    if problems:
        table = table[~table["path"].isin([p["file"] for p in problems])]
        bad.extend(problems)
    table["dataset"] = dataset
    table["role"] = cat.assign_roles(table[spec["identity"]].astype(str), spec["roles"])
    table = table.sort_values("path").reset_index(drop=True)
    roles = {
        role: cat.make_batches(table.loc[table["role"] == role, "path"].tolist(), files_per_job)
        for role in cat.ROLES
    }
    write_table(table, out_catalog, metadata={"dataset": dataset, "spec": spec})
    write_json({"dataset": dataset, "roles": roles, "bad_files": bad}, out_batches)
    log.info(
        "catalog %s: %d files (%s) in %.1f s, %d bad",
        dataset,
        len(table),
        ", ".join(f"{r}: {sum(map(len, b))}" for r, b in roles.items()),
        time.perf_counter() - t0,
        len(bad),
    )
    return table


def read_batches(path):
    """Read a batches JSON written by :func:`run_catalog`."""
    with open(path) as f:
        return json.load(f)["roles"]


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


def training_table(path, energy_model=None, entry_stop=None):
    """Image-level training table of one DL1 file.

    Parameters
    ----------
    path : str
    energy_model : dict, optional
        If given, each image gets its event's ``reco_energy`` (classification data).
    entry_stop : int, optional
        Read at most this many events (test mode).

    Returns
    -------
    pandas.DataFrame
        Image columns, the event columns models use, ``particle`` and ``file_uuid``.
    """
    handle = dl1.open_dl1(path)
    rec = dl1.read_simulation(path, handle=handle)
    events = dl1.read_events(path, handle=handle, entry_stop=entry_stop)
    images = dl1.read_images(path, handle=handle)
    if entry_stop is not None:
        images = images[images["event_id"].isin(events["event_id"])]
    idx = _event_index(events, images, path)
    for col in _EVENT_COLUMNS_FOR_IMAGES:
        images[col] = events[col].to_numpy()[idx]
    images["particle"] = rec["particle"]
    images["file_uuid"] = dl1.file_uuid(path, handle)
    if energy_model is not None:
        energy, _ = models.predict_events(energy_model, images, idx, len(events))
        images["reco_energy"] = energy[idx]
    return images.reset_index(drop=True)


def run_training_data(files, output, energy_model=None, entry_stop=None):
    """Write the image-level training table of a batch of DL1 files.

    Parameters
    ----------
    files : list of str
    output : str
    energy_model : str, optional
        Path of the energy model to apply (classification training data).
    entry_stop : int, optional
    """
    t0 = time.perf_counter()
    model = models.load_model(energy_model) if energy_model else None
    frames = [training_table(f, model, entry_stop) for f in files]
    df = pd.concat(frames, ignore_index=True)
    write_table(df, output, metadata={"inputs": [str(f) for f in files]})
    dt = time.perf_counter() - t0
    log.info("training data: %d images from %d files in %.1f s", len(df), len(files), dt)


def _read_training(paths, columns):
    frames = [read_table(p, columns=columns)[0] for p in paths]
    return pd.concat(frames, ignore_index=True)


def run_train(inputs, model_config, output, metrics_output, n_jobs=1):
    """Train a model on training tables, evaluate it on the test showers, save both.

    Parameters
    ----------
    inputs : list of str
        Training tables (Parquet).
    model_config : str
        Model YAML.
    output : str
        Model file (joblib).
    metrics_output : str
        Metrics JSON.
    n_jobs : int

    Returns
    -------
    dict
        The metrics.
    """
    cfg = models.load_model_config(model_config)
    if not inputs:
        raise ValueError(f"no training table for the {cfg['kind']} model")
    needed = set(models.feature_columns(cfg["features"]))
    needed |= {"obs_id", "event_id", "tel_type", "particle", "true_energy", "file_uuid"}
    if cfg["combine_weights"] != "none":
        needed.add(cfg["combine_weights"])
    if cfg["kind"] == "classifier":
        needed.add("reco_energy")
    images = _read_training(inputs, sorted(needed))
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
    value, _ = models.predict_events(model, timg, codes)
    first = np.unique(codes, return_index=True)[1]
    ev = timg.iloc[first].reset_index(drop=True)
    if cfg["kind"] == "energy":
        metrics = models.energy_metrics(ev["true_energy"].to_numpy(), value)
    else:
        metrics = models.classifier_metrics(
            (ev["particle"] == cfg["signal"]).to_numpy(), value, ev["reco_energy"].to_numpy()
        )
    metrics["feature_importances"] = models.feature_importances(model)
    metrics["per_tel_type"] = model["counts"]
    metrics["training_inputs"] = [str(p) for p in inputs]
    model["metrics"] = metrics
    models.save_model(model, output)
    write_json(metrics, metrics_output)
    return metrics


def dl2_table(path, energy_model, classifier, entry_stop=None):
    """Apply both models to one DL1 file: one DL2 row per event.

    Parameters
    ----------
    path : str
    energy_model, classifier : dict
    entry_stop : int, optional

    Returns
    -------
    (pandas.DataFrame, dict)
        The DL2 events and the run's simulation record.
    """
    handle = dl1.open_dl1(path)
    rec = dl1.read_simulation(path, handle=handle)
    events = dl1.read_events(path, handle=handle, entry_stop=entry_stop)
    images = dl1.read_images(path, handle=handle)
    if entry_stop is not None:
        images = images[images["event_id"].isin(events["event_id"])]
    idx = _event_index(events, images, path)
    for col in _EVENT_COLUMNS_FOR_IMAGES:
        images[col] = events[col].to_numpy()[idx]
    energy, _ = models.predict_events(energy_model, images, idx, len(events))
    images["reco_energy"] = energy[idx]
    gammaness, _ = models.predict_events(classifier, images, idx, len(events))
    out = events[[c for c in DL2_COLUMNS if c in events.columns]].copy()
    out["reco_energy"] = energy
    out["gammaness"] = gammaness
    return out[list(DL2_COLUMNS)], rec


def run_dl2(files, energy_model, classifier, output, entry_stop=None):
    """Write the DL2 table of a batch of DL1 files, with their simulation records.

    Parameters
    ----------
    files : list of str
    energy_model, classifier : str
        Model paths.
    output : str
    entry_stop : int, optional
    """
    t0 = time.perf_counter()
    e_model, c_model = models.load_model(energy_model), models.load_model(classifier)
    frames, records = [], []
    for f in files:
        df, rec = dl2_table(f, e_model, c_model, entry_stop)
        frames.append(df)
        records.append(rec)
    dl2 = pd.concat(frames, ignore_index=True)
    meta = {"simulation": records, "inputs": [str(f) for f in files]}
    write_table(dl2, output, metadata=meta)
    dt = time.perf_counter() - t0
    log.info(
        "DL2: %d events from %d files in %.1f s (%.0f ev/s)",
        len(dl2),
        len(files),
        dt,
        len(dl2) / max(dt, 1e-9),
    )


def run_merge(inputs, output, dataset=""):
    """Merge per-batch DL2 files into one, streaming batch by batch.

    The simulation records of all inputs are concatenated into the output's metadata;
    a run (obs_id) present in two inputs is an error (it would be counted twice).

    Parameters
    ----------
    inputs : list of str
    output : str
    dataset : str
    """
    records, seen, sources = [], {}, []
    for path in inputs:
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
        sources.extend(meta.get("inputs", []))
    meta = {"dataset": dataset, "simulation": records, "inputs": sources}
    n = 0
    with atomic_path(output) as tmp:
        writer = None
        for path in inputs:
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
    log.info(
        "merged %d events of %d runs from %d files into %s", n, len(records), len(inputs), output
    )
    return Path(output)
