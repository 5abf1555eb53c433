"""DL1 input formats: one module per format behind one interface.

Every format module has the same three functions:

``inspect(path, options) -> dict``
    Check a file and summarise it for the catalog: ``uuid`` (or None when the format has
    no file identity), ``n_events``, ``n_images`` and the simulation record (the keys of
    :data:`showerflow.contracts.SIMULATION_COLUMNS`; bookkeeping the format lacks is NaN).
``read(path, options, entry_stop=None) -> DL1``
    The whole file (or its first ``entry_stop`` events) as a :class:`DL1`.
``iterate(path, options, chunk_size, entry_stop=None) -> iterator of DL1``
    The same events in chunks of at most ``chunk_size`` events, each with the images of
    exactly those events.

Adding a format is one new module with these functions and one line in :data:`FORMATS`.
"""

from __future__ import annotations

import importlib

from .base import DL1, chunked, images_of_events

__all__ = ["DL1", "FORMATS", "get_format", "format_of", "chunked", "images_of_events"]

#: Format name (the ``format:`` of a dataset) -> module implementing it.
FORMATS = {
    "root": "showerflow.formats.root",
    "ctapipe_hdf5": "showerflow.formats.ctapipe_hdf5",
    "event_table": "showerflow.formats.event_table",
}


def get_format(name):
    """The module implementing format ``name`` (see :data:`FORMATS`).

    Parameters
    ----------
    name : str

    Returns
    -------
    module
        With ``inspect``, ``read`` and ``iterate``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name not in FORMATS:
        raise ValueError(f"unknown DL1 format {name!r}; known formats: {sorted(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def format_of(spec):
    """The format module and its options of a dataset's config entry.

    Parameters
    ----------
    spec : dict or None
        A dataset of the analysis config (``format``, ``format_options``); None means ROOT.

    Returns
    -------
    (module, dict)
    """
    spec = spec or {}
    return get_format(spec.get("format", "root")), dict(spec.get("format_options") or {})
