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

__all__ = [
    "open_dl1",
    "file_uuid",
    "read_simulation",
    "read_tree",
    "read_events",
    "read_images",
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
        return uproot.open(path)
    except FileNotFoundError as err:
        raise ContractError(path, "file does not exist") from err
    except Exception as err:  # uproot raises many kinds on garbage
        raise ContractError(
            path, f"not a readable ROOT file ({type(err).__name__}: {err})"
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


def read_tree(path, name, columns=None, handle=None, entry_stop=None, entry_start=None):
    """Read columns of one DL1 tree into a DataFrame, checking the contract.

    Parameters
    ----------
    path : str or Path
    name : {"simulation", "events", "images"}
    columns : list of str, optional
        Default: every contract column of that tree.
    handle : uproot.ReadOnlyDirectory, optional
    entry_stop : int, optional
        Read entries before this one (test mode: at most this many).
    entry_start : int, optional
        First entry to read (chunked reading).

    Returns
    -------
    pandas.DataFrame
    """
    handle = handle if handle is not None else open_dl1(path)
    tree = _tree(handle, path, name)
    columns = list(columns or _TREES[name])
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
        elif kind == "f" and df[col].dtype.kind not in "fiu":
            raise ContractError(
                path, f"column '{name}.{col}' has dtype {df[col].dtype}, expected numbers"
            )
        elif kind == "f" and len(df) and np.all(np.isnan(df[col].to_numpy(float))):
            raise ContractError(path, f"column '{name}.{col}' is all NaN")
    return df


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
    if rec["n_showers"] <= 0:
        raise ContractError(path, "simulation.n_showers must be > 0")
    if not rec["energy_min"] < rec["energy_max"]:
        raise ContractError(path, "simulation.energy_min must be < energy_max")
    if rec["spectral_index"] > -1:
        raise ContractError(path, "simulation.spectral_index must be <= -1 (sign included)")
    return rec


def read_events(path, columns=None, handle=None, entry_stop=None):
    """Read the ``events`` tree (see :func:`read_tree`)."""
    return read_tree(path, EVENTS_TREE, columns, handle=handle, entry_stop=entry_stop)


def read_images(path, columns=None, handle=None, entry_stop=None):
    """Read the ``images`` tree (see :func:`read_tree`)."""
    return read_tree(path, IMAGES_TREE, columns, handle=handle, entry_stop=entry_stop)


def inspect_dl1(path):
    """Check a DL1 file against the contract and summarise it for the catalog.

    Checks: readable ROOT, not truncated (the header's end-of-file offset equals the
    file size), the three trees with every contract column, readable data with the
    expected dtypes and no all-NaN column, exactly one simulation entry with sane
    bookkeeping, at least one event.

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
    for name in (EVENTS_TREE, IMAGES_TREE):
        df = read_tree(path, name, handle=handle)
        info[f"n_{name}"] = len(df)
    if info["n_events"] == 0:
        raise ContractError(path, "tree 'events' has zero events")
    info.update(rec)
    return info
