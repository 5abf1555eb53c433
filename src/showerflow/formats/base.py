"""What every DL1 format returns: the :class:`DL1` container and helpers on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..contracts import ContractError

__all__ = [
    "DL1",
    "event_keys",
    "event_index",
    "images_of_events",
    "chunked",
    "merge_options",
    "open_hdf5",
    "reconstruct_stereo",
]


@dataclass
class DL1:
    """The events of one DL1 file (or of a chunk of it), in the contract's columns.

    Attributes
    ----------
    simulation : dict
        The run's simulation record (keys of ``contracts.SIMULATION_COLUMNS``).
    events : pandas.DataFrame
        One row per event, with ``contracts.EVENT_COLUMNS``.
    images : pandas.DataFrame
        One row per telescope image, with ``contracts.IMAGE_COLUMNS`` and possibly more
        feature columns.
    uuid : str or None
        The file's identity, if the format has one.
    """

    simulation: dict
    events: pd.DataFrame
    images: pd.DataFrame
    uuid: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_events(self):
        """Number of events."""
        return len(self.events)


def event_keys(df):
    """One int64 per row from ``(obs_id, event_id)`` (obs_id in the high 32 bits)."""
    return df["obs_id"].to_numpy(np.int64) << 32 | df["event_id"].to_numpy(np.int64)


def event_index(events, images):
    """Row of ``events`` of each image (every image's event must be in ``events``)."""
    ekeys = event_keys(events)
    order = np.argsort(ekeys, kind="stable")
    return order[np.searchsorted(ekeys[order], event_keys(images))]


def reconstruct_stereo(events, images, stereo_cuts, x, y, psi, width, length, focal_length):
    """showerflow's stereo reconstruction (:func:`showerflow.stereo.reconstruct`), in place.

    Fills ``reco_alt``, ``reco_az`` (deg), ``reco_core_x``, ``reco_core_y``,
    ``reco_h_max`` (m), ``multiplicity`` (images of the event) and ``n_images_reco``
    (images used) of ``events``, and ``impact_distance`` (m, from the reconstructed axis)
    of every image.

    Parameters
    ----------
    events, images : pandas.DataFrame
        The events and their images; ``images`` has ``tel_pos_x/y/z`` (m),
        ``pointing_alt_rad``, ``pointing_az_rad`` and the columns ``stereo_cuts`` name.
    stereo_cuts : list of str
        Images used (pandas expressions, :func:`showerflow.models.quality_mask`).
    x, y : numpy.ndarray
        Image centroids in the camera-frame convention of :mod:`showerflow.stereo`
        (``x / focal_length`` the offset in altitude, ``y / focal_length`` in azimuth).
    psi : numpy.ndarray (rad)
        Orientation of the major axis from ``x`` towards ``y``.
    width, length : numpy.ndarray
        In the units of ``x`` (only their ratio enters).
    focal_length : numpy.ndarray
        In the units of ``x``.
    """
    from .. import stereo
    from ..models import quality_mask

    idx = event_index(events, images)
    used = quality_mask(images, stereo_cuts) & np.isfinite(psi)
    tel_pos = images[["tel_pos_x", "tel_pos_y", "tel_pos_z"]].to_numpy(float)
    res = stereo.reconstruct(
        idx[used],
        len(events),
        tel_pos[used],
        x[used],
        y[used],
        psi[used],
        images["hillas_intensity"].to_numpy(float)[used],
        width[used],
        length[used],
        focal_length[used],
        images["pointing_alt_rad"].to_numpy(float)[used],
        images["pointing_az_rad"].to_numpy(float)[used],
    )
    events["reco_alt"] = np.rad2deg(res["alt"])
    events["reco_az"] = np.rad2deg(res["az"])
    events["reco_core_x"] = res["core_x"]
    events["reco_core_y"] = res["core_y"]
    events["reco_h_max"] = res["h_max"]
    events["multiplicity"] = np.bincount(idx, minlength=len(events)).astype(np.int64)
    events["n_images_reco"] = res["multiplicity"].astype(np.int64)
    # impact of every image from the reconstructed axis
    direction = stereo.altaz_to_vector(res["alt"], res["az"])
    core = np.column_stack([res["core_x"], res["core_y"], np.zeros(len(events))])
    rel = tel_pos - core[idx]
    d = direction[idx]
    along = np.einsum("ij,ij->i", rel, d)
    images["impact_distance"] = np.linalg.norm(rel - along[:, None] * d, axis=1)


def images_of_events(images, events):
    """The rows of ``images`` that belong to an event of ``events``.

    Parameters
    ----------
    images, events : pandas.DataFrame
        Both with ``obs_id`` and ``event_id``.

    Returns
    -------
    pandas.DataFrame
        A copy with a fresh index.
    """
    keep = np.isin(event_keys(images), event_keys(events))
    return images[keep].reset_index(drop=True)


def chunked(dl1, chunk_size):
    """Split an in-memory :class:`DL1` into chunks of at most ``chunk_size`` events.

    Parameters
    ----------
    dl1 : DL1
    chunk_size : int

    Yields
    ------
    DL1
        Consecutive events, each chunk with the images of exactly its events;
        ``extra["n_events_read"]`` is the number of events of all chunks together.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    ekeys, ikeys = event_keys(dl1.events), event_keys(dl1.images)
    for start in range(0, max(len(dl1.events), 1), chunk_size):
        events = dl1.events.iloc[start : start + chunk_size].reset_index(drop=True)
        keep = np.isin(ikeys, ekeys[start : start + chunk_size])
        images = dl1.images[keep].reset_index(drop=True)
        extra = {**dl1.extra, "n_events_read": len(dl1.events)}
        yield DL1(dl1.simulation, events, images, dl1.uuid, extra)


def merge_options(path, fmt, defaults, options):
    """A format's ``format_options`` over its defaults, refusing unknown keys.

    Parameters
    ----------
    path : str or Path
        The file being read (named in the error).
    fmt : str
        The format's name.
    defaults : dict
        Every option the format knows, with its default.
    options : dict or None
        The dataset's ``format_options``.

    Returns
    -------
    dict

    Raises
    ------
    ContractError
        On an option the format does not know.
    """
    unknown = set(options or {}) - set(defaults)
    if unknown:
        raise ContractError(
            path,
            f"format {fmt!r}: unknown format_options {sorted(unknown)}; known: {sorted(defaults)}",
        )
    return {**defaults, **(options or {})}


def open_hdf5(path, **kwargs):
    """Open an HDF5 file read-only with PyTables (a context manager).

    ``kwargs`` go to ``tables.open_file`` (e.g. ``node_cache_slots``).

    Raises
    ------
    ContractError
        When the file does not exist or is not readable HDF5.
    """
    import tables

    try:
        return tables.open_file(str(path), "r", **kwargs)
    except FileNotFoundError as err:
        raise ContractError(path, "file does not exist") from err
    except Exception as err:
        raise ContractError(
            path, f"not a readable HDF5 file ({type(err).__name__}: {err})"
        ) from err
