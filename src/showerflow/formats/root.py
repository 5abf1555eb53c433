"""ROOT DL1 files (the contract of DESIGN.md), read with uproot.

The checks and tree readers live in :mod:`showerflow.dl1`; this module puts them behind
the format interface of :mod:`showerflow.formats`. There are no options.
"""

from __future__ import annotations

import numpy as np

from .. import dl1
from ..contracts import EVENTS_TREE, IMAGES_TREE, ContractError
from .base import DL1, event_keys

__all__ = ["inspect", "read", "iterate"]


def _no_options(path, options):
    if options:
        raise ContractError(path, f"format 'root' takes no format_options, got {sorted(options)}")


def inspect(path, options=None):
    """Check a ROOT DL1 file and summarise it (:func:`showerflow.dl1.inspect_dl1`).

    Parameters
    ----------
    path : str or Path
    options : dict, optional
        Must be empty.

    Returns
    -------
    dict
        ``uuid``, ``n_events``, ``n_images`` and the simulation record.
    """
    _no_options(path, options)
    return dl1.inspect_dl1(path)


def read(path, options=None, entry_stop=None):
    """Read a ROOT DL1 file.

    Parameters
    ----------
    path : str or Path
    options : dict, optional
        Must be empty.
    entry_stop : int, optional
        Read at most this many events (and their images).

    Returns
    -------
    DL1
    """
    _no_options(path, options)
    handle = dl1.open_dl1(path)
    rec = dl1.read_simulation(path, handle=handle)
    events = dl1.read_events(path, handle=handle, entry_stop=entry_stop)
    images = dl1.read_images(path, handle=handle)
    if entry_stop is not None:
        images = images[np.isin(event_keys(images), event_keys(events))].reset_index(drop=True)
    return DL1(rec, events, images, dl1.file_uuid(path, handle))


def iterate(path, options=None, chunk_size=100_000, entry_stop=None):
    """Read a ROOT DL1 file in chunks of at most ``chunk_size`` events.

    The events tree is read by entry ranges. The images tree is read once for its
    ``(obs_id, event_id)`` keys only; for each chunk, the entry range spanning the chunk's
    images is read and filtered to exactly the chunk's events (images are written in event
    order, so that range is the chunk's own images).

    Parameters
    ----------
    path : str or Path
    options : dict, optional
        Must be empty.
    chunk_size : int
    entry_stop : int, optional
        Stop after this many events.

    Yields
    ------
    DL1
    """
    _no_options(path, options)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    handle = dl1.open_dl1(path)
    rec = dl1.read_simulation(path, handle=handle)
    uuid = dl1.file_uuid(path, handle)
    n_events = handle[EVENTS_TREE].num_entries
    if entry_stop is not None:
        n_events = min(n_events, int(entry_stop))
    ikeys = event_keys(dl1.read_images(path, ["obs_id", "event_id"], handle=handle))
    for start in range(0, n_events, chunk_size):
        stop = min(start + chunk_size, n_events)
        events = dl1.read_tree(path, EVENTS_TREE, handle=handle, entry_start=start, entry_stop=stop)
        rows = np.flatnonzero(np.isin(ikeys, event_keys(events)))
        if len(rows):
            images = dl1.read_tree(
                path,
                IMAGES_TREE,
                handle=handle,
                entry_start=int(rows[0]),
                entry_stop=int(rows[-1]) + 1,
            )
            images = images[np.isin(event_keys(images), event_keys(events))]
        else:
            images = dl1.read_tree(path, IMAGES_TREE, handle=handle, entry_stop=0)
        yield DL1(rec, events, images.reset_index(drop=True), uuid)
