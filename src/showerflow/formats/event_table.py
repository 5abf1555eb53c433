"""Per-event tables of a single telescope (e.g. FACT simulations, the UCI MAGIC sample).

One row per event; the image of the event is the same row, with ``tel_id`` 1 and the
configured ``tel_type``. The table is HDF5 (read with PyTables) or CSV text (pandas).
Column names are configured (``format_options``):

``file_type``
    ``hdf5`` (default) or ``csv``.
``key``
    HDF5 node holding the table: a group of one array per column (h5py style, as the
    FACT files' ``events``) or a table.
``csv_columns``
    Names of the columns of a CSV file without a header row (null: the first row names
    them).
``select``
    A pandas query over the source columns keeping the rows of this dataset, e.g.
    ``class == "g"`` when one file holds gammas and hadrons (null: every row).
``obs_id``, ``event_id``, ``true_energy``
    Source columns of the run number, event number and true energy. ``obs_id`` null gives
    every row run number 0, ``event_id`` null its row number in the file (counted before
    ``select``, so datasets selected from one file never share an event). ``true_energy``
    null: the table has no true energy (NaN), for classification-only use (a classifier
    whose features use no energy, see ``showerflow train``); energy models and IRFs
    cannot be made from it.
``energy_unit``
    Unit of ``true_energy`` (``TeV``, ``GeV`` or ``MeV``); converted to TeV.
``particle``
    The primary of every row (required: such tables carry no simulation record).
``tel_type``
    Telescope type name given to the images (the model's per-type key).
``features``
    Source columns copied onto the images under their own names (the model's features).
``image_columns``
    Contract image columns filled from source columns, e.g. ``hillas_intensity: size``.

Such tables carry no simulation bookkeeping: the simulation record holds the particle
and NaN for everything else (run number, shower counts, energy range, scatter range,
view cone, pointing). The catalog accepts that; the performance stage refuses to
compute IRFs from it, naming what is missing. Files have no UUID: use ``identity: name``
and ``output_naming: name``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..contracts import EVENT_COLUMNS, IMAGE_COLUMNS, PARTICLES, SIMULATION_COLUMNS, ContractError
from ..validity import check_values
from .base import DL1, chunked, merge_options, open_hdf5

__all__ = ["inspect", "read", "iterate", "DEFAULT_OPTIONS", "ENERGY_UNITS", "FILE_TYPES"]

#: Options and defaults (the config schema describes them).
DEFAULT_OPTIONS = {
    "file_type": "hdf5",
    "key": "events",
    "csv_columns": None,
    "select": None,
    "obs_id": "obs_id",
    "event_id": "event_id",
    "true_energy": "true_energy",
    "energy_unit": "TeV",
    "particle": None,
    "tel_type": "single",
    "features": [],
    "image_columns": {},
}

#: Energy units understood, as factors to TeV.
ENERGY_UNITS = {"TeV": 1.0, "GeV": 1e-3, "MeV": 1e-6}

#: Containers understood (``file_type``).
FILE_TYPES = ("hdf5", "csv")


def _options(path, options):
    opts = merge_options(path, "event_table", DEFAULT_OPTIONS, options)
    if opts["particle"] not in PARTICLES:
        raise ContractError(
            path,
            f"format 'event_table': format_options.particle is {opts['particle']!r}, expected "
            f"one of {list(PARTICLES)} (per-event tables do not record it)",
        )
    if opts["file_type"] not in FILE_TYPES:
        raise ContractError(
            path,
            f"format 'event_table': format_options.file_type {opts['file_type']!r} is not one "
            f"of {list(FILE_TYPES)}",
        )
    if opts["energy_unit"] not in ENERGY_UNITS:
        raise ContractError(
            path,
            f"format 'event_table': format_options.energy_unit {opts['energy_unit']!r} is not "
            f"one of {sorted(ENERGY_UNITS)}",
        )
    return opts


def _hdf5_node(h5, path, key):
    node_path = "/" + key.strip("/")
    if node_path not in h5:
        raise ContractError(path, f"HDF5 node '{node_path}' missing (format_options.key)")
    return node_path, h5.get_node(node_path)


def _hdf5_names(path, key):
    """Column names of the HDF5 table or group ``key``."""
    import tables

    with open_hdf5(path) as h5:
        _, node = _hdf5_node(h5, path, key)
        if isinstance(node, tables.Table):
            return set(node.colnames)
        return {child._v_name for child in node._f_iter_nodes()}


def _read_columns(path, key, columns):
    import tables

    with open_hdf5(path) as h5:
        node_path, node = _hdf5_node(h5, path, key)
        out = {}
        if isinstance(node, tables.Table):
            have = set(node.colnames)
            for col in columns:
                if col not in have:
                    raise ContractError(path, f"table '{node_path}' lacks column '{col}'")
                out[col] = node.col(col)
        else:
            for col in columns:
                if col not in node:
                    raise ContractError(path, f"group '{node_path}' lacks column '{col}'")
                out[col] = np.asarray(node._f_get_child(col).read())
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ContractError(path, f"columns of '{key}' differ in length: {sorted(lengths)}")
    return pd.DataFrame(out)


def _read_csv(path, names):
    """A whole CSV file (``names``: its columns when it has no header row)."""
    try:
        df = pd.read_csv(path) if names is None else pd.read_csv(path, header=None)
    except FileNotFoundError as err:
        raise ContractError(path, "file does not exist") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ContractError(path, f"not a readable CSV file ({type(err).__name__}: {err})") from err
    if names is not None:
        if df.shape[1] != len(names):
            raise ContractError(
                path,
                f"CSV rows have {df.shape[1]} fields, format_options.csv_columns names "
                f"{len(names)}",
            )
        df.columns = [str(n) for n in names]
    return df


def _query_names(expr):
    """Names an expression refers to (the candidate column names)."""
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)) - {"and", "or", "not", "in"}


def _read_source(path, opts, columns):
    """The source ``columns`` of the rows ``select`` keeps, indexed by their row number."""
    select = opts["select"]
    columns = list(dict.fromkeys(columns))
    if opts["file_type"] == "csv":
        df = _read_csv(path, opts["csv_columns"])
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ContractError(
                path, f"CSV file lacks column '{missing[0]}'; it has {list(df.columns)}"
            )
    else:
        extra = sorted(_query_names(select) & _hdf5_names(path, opts["key"])) if select else []
        df = _read_columns(path, opts["key"], list(dict.fromkeys(columns + extra)))
    if select:
        try:
            keep = np.asarray(df.eval(select), dtype=bool)
        except Exception as err:
            raise ContractError(
                path, f"format_options.select {select!r} cannot be evaluated: {err}"
            ) from err
        df = df[keep]
    return df[columns]


def read(path, options=None, entry_stop=None):
    """Read a per-event table into the DL1 contract (see the module docstring).

    Parameters
    ----------
    path : str or Path
    options : dict
        The ``format_options`` (``particle`` is required).
    entry_stop : int, optional
        Keep the first this many rows.

    Returns
    -------
    DL1
        Events with the contract's columns (NaN where the table has no such column; no
        stereo reconstruction, multiplicity 1) and images with ``tel_id`` 1, the configured
        ``tel_type``, the mapped contract columns (NaN otherwise) and the feature columns.
    """
    opts = _options(path, options)
    mapped = dict(opts["image_columns"])
    bad = sorted(set(mapped) - set(IMAGE_COLUMNS))
    if bad:
        raise ContractError(
            path, f"format_options.image_columns: {bad} are not image columns of the contract"
        )
    ids = [opts[k] for k in ("obs_id", "event_id", "true_energy") if opts[k] is not None]
    source = ids + list(opts["features"]) + list(mapped.values())
    df = _read_source(path, opts, source)
    if entry_stop is not None:
        df = df.iloc[: int(entry_stop)]
    if not len(df):
        table = "the CSV file" if opts["file_type"] == "csv" else f"'{opts['key']}'"
        what = f" selected by {opts['select']!r}" if opts["select"] else ""
        raise ContractError(path, f"{table} has zero events{what}")
    if opts["true_energy"] is None:
        energy = np.full(len(df), np.nan)
    else:
        energy = df[opts["true_energy"]].to_numpy(float) * ENERGY_UNITS[opts["energy_unit"]]
        if not (np.isfinite(energy) & (energy > 0)).all():
            raise ContractError(
                path, f"column '{opts['true_energy']}' has non-positive or missing energies"
            )
    obs_id = opts["obs_id"]
    event_id = opts["event_id"]
    events = pd.DataFrame(
        {
            "obs_id": np.zeros(len(df), np.int64)
            if obs_id is None
            else df[obs_id].to_numpy(np.int64),
            # no event number: the row number in the file, counted before the selection
            "event_id": df.index.to_numpy(np.int64)
            if event_id is None
            else df[event_id].to_numpy(np.int64),
            "true_energy": energy,
        }
    )
    keys = events["obs_id"].to_numpy() << 32 | events["event_id"].to_numpy()
    if len(np.unique(keys)) != len(keys):
        raise ContractError(
            path,
            f"(obs_id, event_id) from columns '{opts['obs_id']}', '{opts['event_id']}' repeat: "
            "they must identify each event",
        )
    for col in EVENT_COLUMNS:
        if col not in events:
            events[col] = 1 if col == "multiplicity" else np.nan
    images = events[["obs_id", "event_id"]].copy()
    images["tel_id"] = 1
    images["tel_type"] = str(opts["tel_type"])
    for col in IMAGE_COLUMNS:
        if col not in images:
            images[col] = df[mapped[col]].to_numpy() if col in mapped else np.nan
    for col in opts["features"]:
        if col not in images:
            images[col] = df[col].to_numpy()
    rec = {k: np.nan for k in SIMULATION_COLUMNS}
    rec["particle"] = opts["particle"]
    check_values(path, events, images, strict=False)
    return DL1(rec, events, images, None)


def inspect(path, options=None):
    """Check a per-event table and summarise it for the catalog.

    Returns
    -------
    dict
        ``uuid`` None, ``n_events``, ``n_images`` (equal) and the simulation record
        (particle only; the rest NaN).
    """
    dl1 = read(path, options)
    return {"uuid": None, "n_events": dl1.n_events, "n_images": len(dl1.images), **dl1.simulation}


def iterate(path, options=None, chunk_size=100_000, entry_stop=None):
    """:func:`read`, then chunks of at most ``chunk_size`` events (one image each)."""
    yield from chunked(read(path, options, entry_stop), chunk_size)
