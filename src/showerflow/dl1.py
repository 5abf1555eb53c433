"""Read and check DL1 ROOT files (the DL1 contract of DESIGN.md) with uproot.

Every reader checks what it reads: a file that is not ROOT, lacks a tree or a column,
or has no events raises :class:`~showerflow.contracts.ContractError` naming the file,
the tree/column and what was expected.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import uproot

from .contracts import (
    EVENT_COLUMNS,
    EVENTS_TREE,
    IMAGE_COLUMNS,
    IMAGES_TREE,
    SIMULATION_COLUMNS,
    SIMULATION_TREE,
    ContractError,
)
from .validity import check_values

__all__ = [
    "open_dl1",
    "file_uuid",
    "read_simulation",
    "check_simulation",
    "read_tree",
    "read_events",
    "read_images",
    "iterate_dl1",
    "count_events",
    "inspect_dl1",
]

_TREES = {
    SIMULATION_TREE: SIMULATION_COLUMNS,
    EVENTS_TREE: EVENT_COLUMNS,
    IMAGES_TREE: IMAGE_COLUMNS,
}


def open_dl1(path):
    """Open a DL1 ROOT file, turning any failure into a ContractError.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    uproot.ReadOnlyDirectory
    """
    try:
        # no array cache: arrays are read once, and a cache would grow with the file
        return uproot.open(path, array_cache=None)
    except FileNotFoundError as err:
        raise ContractError(path, "file does not exist") from err
    except Exception as err:  # uproot raises many kinds on garbage
        text = " ".join(str(err).split())  # uproot's messages span lines
        raise ContractError(
            path, f"not a readable ROOT file ({type(err).__name__}: {text})"
        ) from err


def file_uuid(path, handle=None):
    """Return the UUID of a ROOT file, read from its header.

    Parameters
    ----------
    path : str or Path
    handle : uproot.ReadOnlyDirectory, optional
        An already open file.

    Returns
    -------
    str
    """
    f = handle if handle is not None else open_dl1(path)
    return str(f.file.uuid)


def _tree(handle, path, name):
    try:
        obj = handle[name]
    except KeyError as err:
        raise ContractError(path, f"tree '{name}' missing; expected trees {list(_TREES)}") from err
    except Exception as err:
        raise ContractError(path, f"tree '{name}' unreadable ({err})") from err
    if not hasattr(obj, "arrays"):
        raise ContractError(path, f"'{name}' is not a TTree")
    return obj


def _check_columns(tree, path, name, columns):
    have = set(tree.keys())
    for col in columns:
        if col not in have:
            raise ContractError(
                path,
                f"tree '{name}' lacks column '{col}' "
                f"({_TREES[name][col][2]}, unit '{_TREES[name][col][1]}')",
            )


def read_tree(path, name, columns=None, handle=None, entry_stop=None, entry_start=None, tree=None):
    """Read columns of one DL1 tree into a DataFrame, checking the contract.

    Parameters
    ----------
    path : str or Path
    name : {"simulation", "events", "images"}
    columns : list of str, optional
        Default: every contract column of that tree.
    handle : uproot.ReadOnlyDirectory, optional
    entry_stop : int, optional
        Read at most this many entries (test mode), or up to this entry.
    entry_start : int, optional
        First entry to read (a chunk). A chunk is not checked for all-NaN columns (a
        few events may lack a value); the whole-file check is the catalog's
        (:func:`inspect_dl1`).
    tree : uproot.TTree, optional
        The tree, already opened and its columns checked (reading a file in chunks
        opens each tree once).

    Returns
    -------
    pandas.DataFrame
    """
    columns = list(columns or _TREES[name])
    if tree is None:
        handle = handle if handle is not None else open_dl1(path)
        tree = _tree(handle, path, name)
        _check_columns(tree, path, name, columns)
    try:
        arrays = tree.arrays(columns, library="np", entry_start=entry_start, entry_stop=entry_stop)
    except Exception as err:
        raise ContractError(
            path, f"tree '{name}' could not be read ({type(err).__name__}: {err})"
        ) from err
    df = pd.DataFrame({c: arrays[c] for c in columns})
    for col in columns:
        kind = _TREES[name][col][0]
        if kind == "U":
            df[col] = df[col].astype(str)
        elif kind == "i":
            df[col] = _integers(path, name, col, df[col], entry_start or 0)
        elif kind == "f" and df[col].dtype.kind not in "fiu":
            raise ContractError(
                path, f"column '{name}.{col}' has dtype {df[col].dtype}, expected numbers"
            )
        elif (
            kind == "f"
            and entry_start is None
            and len(df)
            and np.all(np.isnan(df[col].to_numpy(float)))
        ):
            raise ContractError(path, f"column '{name}.{col}' is all NaN")
    return df


def _integers(path, name, col, values, first_entry=0):
    """An integer column as int64, or a ContractError naming what it holds instead.

    Integers stored as floating point are accepted when every value is a whole number.
    """
    kind = values.dtype.kind
    if kind in "iub":
        return values.astype(np.int64)
    x = values.to_numpy()
    if kind == "f":
        bad = ~np.isfinite(x) | (x != np.round(x))
        if not bad.any():
            return values.astype(np.int64)
        i = int(np.argmax(bad))
        raise ContractError(
            path,
            f"column '{name}.{col}' entry {first_entry + i} is {float(x[i])!r}, expected an "
            f"integer ({_TREES[name][col][2]})",
        )
    sample = x[0] if len(x) else None
    raise ContractError(
        path,
        f"column '{name}.{col}' holds {type(sample).__name__ if sample is not None else kind} "
        f"values such as {sample!r} (dtype {values.dtype}), expected integers "
        f"({_TREES[name][col][2]})",
    )


#: Simulation fields that must be finite numbers, with the range each must lie in.
_SIMULATION_RANGES = {
    "energy_min": (0.0, np.inf, False, "an energy > 0 TeV"),
    "energy_max": (0.0, np.inf, False, "an energy > 0 TeV"),
    "spectral_index": (-np.inf, np.inf, True, "a finite index"),
    "max_scatter_range": (0.0, np.inf, False, "a radius > 0 m"),
    "viewcone_min": (0.0, 180.0, True, "an angle in [0, 180] deg"),
    "viewcone_max": (0.0, 180.0, True, "an angle in [0, 180] deg"),
    "zenith": (0.0, 90.0, True, "a zenith angle in [0, 90] deg"),
    "azimuth": (-360.0, 360.0, True, "an azimuth in [-360, 360] deg"),
}


def check_simulation(path, rec):
    """Refuse a simulation record with impossible bookkeeping.

    Parameters
    ----------
    path : str or Path
    rec : dict
        One value per ``SIMULATION_COLUMNS`` key.

    Raises
    ------
    ContractError
        Naming the field, its value and what was expected.
    """
    if rec["n_showers"] <= 0:
        raise ContractError(path, f"simulation.n_showers = {rec['n_showers']}, must be > 0")
    if rec["shower_reuse"] < 1:
        raise ContractError(path, f"simulation.shower_reuse = {rec['shower_reuse']}, must be >= 1")
    for key, (low, high, inclusive, expected) in _SIMULATION_RANGES.items():
        x = float(rec[key])
        if not (np.isfinite(x) and (x >= low if inclusive else x > low) and x <= high):
            raise ContractError(path, f"simulation.{key} = {x!r}, expected {expected}")
    if not rec["energy_min"] < rec["energy_max"]:
        raise ContractError(
            path,
            f"simulation.energy_min must be < energy_max (energy_min = {rec['energy_min']!r}, "
            f"energy_max = {rec['energy_max']!r})",
        )
    if rec["spectral_index"] > -1:
        raise ContractError(
            path,
            f"simulation.spectral_index must be <= -1 (sign included), not "
            f"{rec['spectral_index']!r}",
        )
    if rec["viewcone_min"] > rec["viewcone_max"]:
        raise ContractError(
            path,
            f"simulation.viewcone_min must be <= viewcone_max (viewcone_min = "
            f"{rec['viewcone_min']!r}, viewcone_max = {rec['viewcone_max']!r})",
        )


def read_simulation(path, handle=None):
    """Read the run's simulation record (the bookkeeping IRFs need).

    Parameters
    ----------
    path : str or Path
    handle : uproot.ReadOnlyDirectory, optional

    Returns
    -------
    dict
        One value per SIMULATION_COLUMNS key, as Python scalars.
    """
    df = read_tree(path, SIMULATION_TREE, handle=handle)
    if len(df) != 1:
        raise ContractError(path, f"tree 'simulation' has {len(df)} entries, expected exactly 1")
    rec = {k: v.item() if hasattr(v, "item") else v for k, v in df.iloc[0].items()}
    check_simulation(path, rec)
    return rec


def read_events(path, columns=None, handle=None, entry_stop=None):
    """Read the ``events`` tree (see :func:`read_tree`)."""
    return read_tree(path, EVENTS_TREE, columns, handle=handle, entry_stop=entry_stop)


def read_images(path, columns=None, handle=None, entry_stop=None):
    """Read the ``images`` tree (see :func:`read_tree`)."""
    return read_tree(path, IMAGES_TREE, columns, handle=handle, entry_stop=entry_stop)


def count_events(path, handle=None, entry_stop=None):
    """Number of events a read of the file gives (at most ``entry_stop``).

    Parameters
    ----------
    path : str or Path
    handle : uproot.ReadOnlyDirectory, optional
    entry_stop : int, optional

    Returns
    -------
    int
    """
    handle = handle if handle is not None else open_dl1(path)
    n = _tree(handle, path, EVENTS_TREE).num_entries
    return int(n if entry_stop is None else min(n, entry_stop))


def _event_keys(df):
    return df["obs_id"].to_numpy(np.int64) << 32 | df["event_id"].to_numpy(np.int64)


def _image_stop(path, tree, keys, start, n_images, guess):
    """First image entry at or after ``start`` whose event is not one of ``keys``.

    Reads only the images' ``obs_id``/``event_id`` in a window that starts at ``guess``
    entries and doubles until it passes the last image of those events.
    """
    window = max(int(guess), 1)
    while True:
        stop = min(start + window, n_images)
        ids = tree.arrays(["obs_id", "event_id"], library="np", entry_start=start, entry_stop=stop)
        ikey = ids["obs_id"].astype(np.int64) << 32 | ids["event_id"].astype(np.int64)
        outside = np.flatnonzero(~np.isin(ikey, keys))
        if len(outside):
            return start + int(outside[0])
        if stop == n_images:
            return n_images
        window *= 2


def iterate_dl1(path, chunk_size=None, entry_stop=None, handle=None):
    """Read a DL1 file's events and their images in chunks of consecutive events.

    Memory stays bounded by the chunk, whatever the size of the file: each step reads
    ``chunk_size`` events and exactly the images of those events (an entry range of the
    ``images`` tree found from the event keys; only ``obs_id``/``event_id`` are read to
    find it). The ``images`` tree must hold each event's images together, in the order of
    the ``events`` tree (as ctapipe and the toy simulation write them).

    Parameters
    ----------
    path : str or Path
    chunk_size : int, optional
        Events per chunk; None reads the whole file in one chunk.
    entry_stop : int, optional
        Read at most this many events (test mode).
    handle : uproot.ReadOnlyDirectory, optional
        An already open file.

    Yields
    ------
    (pandas.DataFrame, pandas.DataFrame)
        The events of a chunk and their images (contract columns). At least one pair is
        yielded, empty for a file without events.

    Raises
    ------
    ContractError
        If a tree or column is missing, a value is impossible
        (:func:`showerflow.validity.check_values`), or an image belongs to no event of
        the file or is not stored with the other images of its event.
    """
    handle = handle if handle is not None else open_dl1(path)
    ev_tree = _tree(handle, path, EVENTS_TREE)
    img_tree = _tree(handle, path, IMAGES_TREE)
    _check_columns(ev_tree, path, EVENTS_TREE, EVENT_COLUMNS)
    _check_columns(img_tree, path, IMAGES_TREE, IMAGE_COLUMNS)
    n_events = ev_tree.num_entries if entry_stop is None else min(entry_stop, ev_tree.num_entries)
    n_images = img_tree.num_entries
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    step = max(n_events, 1) if chunk_size is None else int(chunk_size)
    per_event = n_images / max(ev_tree.num_entries, 1)
    img_start = 0
    for start in range(0, max(n_events, 1), step):
        stop = min(start + step, n_events)
        events = read_tree(path, EVENTS_TREE, entry_start=start, entry_stop=stop, tree=ev_tree)
        keys = _event_keys(events)
        if stop == ev_tree.num_entries and len(keys):
            # the file's last events: every image left is theirs (checked once read)
            images = read_tree(
                path, IMAGES_TREE, entry_start=img_start, entry_stop=n_images, tree=img_tree
            )
            outside = np.flatnonzero(~np.isin(_event_keys(images), keys))
            if len(outside):
                _image_order_error(path, img_start + int(outside[0]), images.iloc[outside[0]])
            check_values(path, events, images, first_event=start, first_image=img_start)
            img_start = n_images
            yield events, images
            continue
        guess = 1.2 * per_event * len(events) + 16
        img_stop = (
            _image_stop(path, img_tree, keys, img_start, n_images, guess)
            if len(keys)
            else img_start
        )
        images = read_tree(
            path, IMAGES_TREE, entry_start=img_start, entry_stop=img_stop, tree=img_tree
        )
        check_values(path, events, images, first_event=start, first_image=img_start)
        img_start = img_stop
        yield events, images
    if entry_stop is None and img_start < n_images:
        bad = img_tree.arrays(
            ["obs_id", "event_id"], library="np", entry_start=img_start, entry_stop=img_start + 1
        )
        _image_order_error(path, img_start, {k: v[0] for k, v in bad.items()})


def _image_order_error(path, entry, ids):
    raise ContractError(
        path,
        f"image entry {entry} (obs_id={int(ids['obs_id'])} "
        f"event_id={int(ids['event_id'])}) belongs to no event of tree 'events' or is "
        "not stored with the other images of its event; tree 'images' must hold each "
        "event's images together, in the order of tree 'events'",
    )


def inspect_dl1(path):
    """Check a DL1 file against the contract and summarise it for the catalog.

    Checks: readable ROOT, not truncated (the header's end-of-file offset equals the
    file size), the three trees with every contract column, readable data with the
    expected dtypes and no all-NaN column, exactly one simulation entry with sane
    bookkeeping (:func:`check_simulation`), at least one event, physically possible
    values, events and images of the file's run only, each event once, and images
    stored with their event in event order (:func:`showerflow.validity.check_values`).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``uuid``, ``n_events``, ``n_images`` and the simulation record.
    """
    handle = open_dl1(path)
    size = os.path.getsize(path)
    end = getattr(handle.file, "fEND", size)
    if end != size:
        raise ContractError(
            path, f"truncated or padded: the ROOT header says {end} bytes, the file has {size}"
        )
    rec = read_simulation(path, handle=handle)
    info = {"uuid": file_uuid(path, handle)}
    events = read_tree(path, EVENTS_TREE, handle=handle)
    if len(events) == 0:
        raise ContractError(path, "tree 'events' has zero events")
    images = read_tree(path, IMAGES_TREE, handle=handle)
    # the whole file at once: every value, the run, and the image order whatever the
    # chunk size a later stage reads it with
    check_values(path, events, images, strict=True, obs_id=rec["obs_id"])
    info.update(n_events=len(events), n_images=len(images), **rec)
    return info
