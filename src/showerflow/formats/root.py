"""ROOT DL1 files (the contract of DESIGN.md), read with uproot.

The checks and tree readers live in :mod:`showerflow.dl1`; this module puts them behind
the format interface of :mod:`showerflow.formats`. There are no options.
"""

from __future__ import annotations

from .. import dl1
from ..contracts import ContractError
from .base import DL1

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
    ((events, images),) = dl1.iterate_dl1(path, None, entry_stop, handle=handle)
    return DL1(rec, events, images, dl1.file_uuid(path, handle))


def iterate(path, options=None, chunk_size=100_000, entry_stop=None):
    """Read a ROOT DL1 file in chunks of at most ``chunk_size`` events.

    Memory is bounded by the chunk (:func:`showerflow.dl1.iterate_dl1`): each step reads
    an entry range of the events tree and the entry range of the images tree holding
    exactly those events' images.

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
        At least one (empty for a file without events); ``extra["n_events_read"]`` is the
        number of events all chunks hold together.
    """
    _no_options(path, options)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    handle = dl1.open_dl1(path)
    rec = dl1.read_simulation(path, handle=handle)
    uuid = dl1.file_uuid(path, handle)
    n_read = dl1.count_events(path, handle=handle, entry_stop=entry_stop)
    for events, images in dl1.iterate_dl1(path, chunk_size, entry_stop, handle=handle):
        yield DL1(rec, events, images, uuid, {"n_events_read": n_read})
