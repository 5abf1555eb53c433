"""ctapipe DL1 HDF5 files of data model v1.0.0 (ctapipe 0.8), read with PyTables.

The reader of :mod:`showerflow.formats.ctapipe_hdf5` for that version (which checks the
version and the options first; call it through that module). What is read, and from where:

- simulation record: ``/configuration/simulation/run`` (energy range, spectral index,
  ``num_showers``, ``shower_reuse``, scatter range, view cone, pointing ``min_alt``/
  ``min_az`` in radians); the particle from ``true_shower_primary_id`` of the showers
  (0 gamma, 1 electron, 101 proton) unless the ``particle`` option names it;
- events: the triggered events ``/dl1/event/subarray/trigger``, joined with the true
  showers ``/simulation/event/subarray/shower``;
- images: ``/dl1/event/telescope/parameters/tel_XXX``, the images that survived cleaning
  (finite ``hillas_intensity``), with the telescope type from
  ``/configuration/instrument/subarray/layout`` and the focal length from
  ``/configuration/instrument/telescope/optics``;
- pointing: ``/dl1/monitoring/telescope/pointing/tel_XXX`` (radians), else the run's;
- thrown showers: ``/simulation/service/shower_distribution`` (``num_entries``), checked
  against ``num_showers * shower_reuse`` (:mod:`showerflow.formats.thrown`).

Units: ctapipe 0.8 writes Hillas ``x, y, r, width, length`` in metres in the camera
frame; they are converted to degrees on the sky with the telescope's equivalent focal
length (``angle = x / f``, ctapipe's small-angle camera-to-telescope transform).

The files hold no stereo reconstruction: :func:`showerflow.stereo.reconstruct` makes
``reco_alt``, ``reco_az``, ``reco_core_x/y``, ``reco_h_max`` and ``impact_distance`` from
the images passing the ``stereo_cuts`` option.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..contracts import EVENT_COLUMNS, IMAGE_COLUMNS, IMAGE_FRAME, PARTICLES, ContractError
from ..validity import check_values
from . import thrown
from .base import DL1, chunked, event_keys, open_hdf5, reconstruct_stereo

__all__ = ["inspect", "read", "iterate", "PRIMARY_IDS", "DEFAULT_TEL_TYPE_KEY"]

#: Layout column naming the telescope type when ``tel_type_key`` is None (LST, MST).
DEFAULT_TEL_TYPE_KEY = "type"

#: sim_telarray/ctapipe primary ids.
PRIMARY_IDS = {0: "gamma", 1: "electron", 101: "proton"}

RUN = "/configuration/simulation/run"
SHOWER = "/simulation/event/subarray/shower"
TRIGGER = "/dl1/event/subarray/trigger"
PARAMETERS = "/dl1/event/telescope/parameters"
LAYOUT = "/configuration/instrument/subarray/layout"
OPTICS = "/configuration/instrument/telescope/optics"
TEL_POINTING = "/dl1/monitoring/telescope/pointing"
HISTOGRAM = "/simulation/service/shower_distribution"

#: Parameters in metres in the camera frame, converted to degrees.
_CAMERA_LENGTHS = ("hillas_x", "hillas_y", "hillas_r", "hillas_width", "hillas_length")


def _table(h5, path, node, columns=()):
    try:
        data = h5.get_node(node).read()
    except Exception as err:
        raise ContractError(
            path, f"table '{node}' missing or unreadable; a ctapipe DL1 file has it ({err})"
        ) from err
    df = pd.DataFrame({n: list(data[n]) if data[n].ndim > 1 else data[n] for n in data.dtype.names})
    for col in columns:
        if col not in df.columns:
            raise ContractError(path, f"table '{node}' lacks column '{col}'")
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], bytes):
            df[col] = df[col].str.decode("utf-8")
    return df


def _simulation(h5, path, showers, opts):
    run = _table(
        h5,
        path,
        RUN,
        [
            "obs_id",
            "energy_range_min",
            "energy_range_max",
            "spectral_index",
            "num_showers",
            "shower_reuse",
            "max_scatter_range",
            "min_viewcone_radius",
            "max_viewcone_radius",
            "min_alt",
            "max_alt",
            "min_az",
            "max_az",
        ],
    )
    if len(run) != 1:
        raise ContractError(
            path, f"table '{RUN}' has {len(run)} runs; this reader expects one run per file"
        )
    r = run.iloc[0]
    if not (np.isclose(r["min_alt"], r["max_alt"]) and np.isclose(r["min_az"], r["max_az"])):
        raise ContractError(
            path, f"table '{RUN}': pointing varies within the run (min/max alt, az)"
        )
    particle = opts["particle"]
    if particle is None:
        ids = np.unique(showers["true_shower_primary_id"]) if len(showers) else []
        names = {PRIMARY_IDS.get(int(i), f"id {int(i)}") for i in ids}
        if len(names) != 1 or next(iter(names)) not in PARTICLES:
            raise ContractError(
                path,
                f"'{SHOWER}.true_shower_primary_id' gives particles {sorted(names)}; expected "
                f"one of {list(PARTICLES)} (ids {PRIMARY_IDS}), or set format_options.particle",
            )
        particle = names.pop()
    rec = {
        "obs_id": int(r["obs_id"]),
        "particle": str(particle),
        "n_showers": int(r["num_showers"]),
        "shower_reuse": int(r["shower_reuse"]),
        "energy_min": float(r["energy_range_min"]),
        "energy_max": float(r["energy_range_max"]),
        "spectral_index": float(r["spectral_index"]),
        "max_scatter_range": float(r["max_scatter_range"]),
        "viewcone_min": float(r["min_viewcone_radius"]),
        "viewcone_max": float(r["max_viewcone_radius"]),
        "zenith": float(90 - np.rad2deg(r["max_alt"])),
        "azimuth": float(np.rad2deg(r["max_az"]) % 360),
    }
    if rec["n_showers"] <= 0 or not rec["energy_min"] < rec["energy_max"]:
        raise ContractError(path, f"table '{RUN}': implausible bookkeeping {rec}")
    n_histogram = None
    if HISTOGRAM in h5:
        hist = _table(h5, path, HISTOGRAM, ["obs_id", "num_entries"])
        hist = hist[hist["obs_id"] == rec["obs_id"]]
        if len(hist):
            n_histogram = int(hist["num_entries"].sum())
    ids = showers.loc[showers["obs_id"] == rec["obs_id"], "event_id"].to_numpy()
    rec.update(
        thrown.thrown_bookkeeping(
            Path(path).name,
            rec["obs_id"],
            rec["n_showers"],
            rec["shower_reuse"],
            n_histogram,
            ids,
            {"histogram": HISTOGRAM, "events": SHOWER},
        )
    )
    return rec


def _telescopes(h5, path, opts):
    key = opts["tel_type_key"] or DEFAULT_TEL_TYPE_KEY
    layout = _table(h5, path, LAYOUT, ["tel_id", "pos_x", "pos_y", "pos_z", key])
    optics = _table(h5, path, OPTICS, ["description", "equivalent_focal_length"])
    if "tel_description" not in layout.columns:
        raise ContractError(path, f"table '{LAYOUT}' lacks column 'tel_description'")
    focal = dict(zip(optics["description"], optics["equivalent_focal_length"], strict=True))
    missing = sorted(set(layout["tel_description"]) - set(focal))
    if missing:
        raise ContractError(path, f"table '{OPTICS}' has no focal length for {missing}")
    layout["focal_length"] = layout["tel_description"].map(focal).astype(float)
    layout["tel_type"] = layout[key].astype(str)
    return layout.set_index("tel_id")


def _pointing(h5, tel_id, rec):
    node = f"{TEL_POINTING}/tel_{tel_id:03d}"
    if node in h5:
        p = h5.get_node(node).read()
        if len(p):
            return float(p["altitude"][0]), float(p["azimuth"][0])
    return np.deg2rad(90 - rec["zenith"]), np.deg2rad(rec["azimuth"])


def _images(h5, path, tels, rec):
    if PARAMETERS not in h5:
        raise ContractError(path, f"group '{PARAMETERS}' missing: no image parameters")
    frames = []
    for node in h5.get_node(PARAMETERS)._f_iter_nodes("Table"):
        df = pd.DataFrame(node.read())
        for col in ("obs_id", "event_id", "tel_id", "hillas_intensity", "hillas_psi"):
            if col not in df.columns:
                raise ContractError(path, f"table '{node._v_pathname}' lacks column '{col}'")
        units = {k: node.attrs[k] for k in node.attrs._f_list("user") if k.endswith("_UNIT")}
        for col in _CAMERA_LENGTHS:
            unit = str(units.get(f"{col}_UNIT", "m"))
            if unit != "m":
                raise ContractError(
                    path,
                    f"table '{node._v_pathname}': {col} is in '{unit}', expected 'm' "
                    "(camera frame, ctapipe 0.8)",
                )
        frames.append(df[np.isfinite(df["hillas_intensity"].to_numpy(float))])
    if not frames:
        raise ContractError(path, f"group '{PARAMETERS}' holds no telescope table")
    images = pd.concat(frames, ignore_index=True)
    unknown = sorted(set(images["tel_id"]) - set(tels.index))
    if unknown:
        raise ContractError(path, f"images of telescopes {unknown} not in '{LAYOUT}'")
    tel = tels.loc[images["tel_id"]]
    images["tel_type"] = tel["tel_type"].to_numpy()
    images["focal_length"] = tel["focal_length"].to_numpy()
    for axis in "xyz":
        images[f"tel_pos_{axis}"] = tel[f"pos_{axis}"].to_numpy(float)
    pointing = {t: _pointing(h5, int(t), rec) for t in np.unique(images["tel_id"])}
    images["pointing_alt_rad"] = images["tel_id"].map(lambda t: pointing[t][0]).astype(float)
    images["pointing_az_rad"] = images["tel_id"].map(lambda t: pointing[t][1]).astype(float)
    images = images.rename(columns={"morphology_num_pixels": "morphology_n_pixels"})
    return images.sort_values(["obs_id", "event_id", "tel_id"], kind="stable").reset_index(
        drop=True
    )


def _reconstruct(events, images, stereo_cuts):
    """Stereo reconstruction (metres in the camera frame) onto the event and image tables."""
    reconstruct_stereo(
        events,
        images,
        stereo_cuts,
        images["hillas_x"].to_numpy(float),
        images["hillas_y"].to_numpy(float),
        np.deg2rad(images["hillas_psi"].to_numpy(float)),
        images["hillas_width"].to_numpy(float),
        images["hillas_length"].to_numpy(float),
        images["focal_length"].to_numpy(float),
    )


def read(path, options=None, entry_stop=None):
    """Read a ctapipe DL1 HDF5 file into the DL1 contract (see the module docstring).

    Parameters
    ----------
    path : str or Path
    options : dict
        The format's options, validated (:data:`showerflow.formats.ctapipe_hdf5.DEFAULT_OPTIONS`):
        ``particle`` (default: from the primary id), ``tel_type_key`` (layout column
        naming the telescope type, default ``"type"``: LST, MST, ...), ``stereo_cuts``
        (images used for the stereo reconstruction); ``geometry`` is moot (these files
        hold no stereo reconstruction) and ``focal_length_choice`` may only be
        ``EQUIVALENT`` (the only focal length these files hold).
    entry_stop : int, optional
        Keep the first this many triggered events.

    Returns
    -------
    DL1
        ``extra`` holds ``image_frame`` (``"camera"``) and ``geometry``
        (``"showerflow.stereo"``).
    """
    opts = options
    if opts.get("focal_length_choice") not in (None, "EQUIVALENT"):
        raise ContractError(
            path,
            f"format_options.focal_length_choice is {opts['focal_length_choice']!r}, but "
            f"data model v1.0.0 files hold only the equivalent focal length ('{OPTICS}'."
            "equivalent_focal_length); expected EQUIVALENT or null",
        )
    with open_hdf5(path) as h5:
        uuid = h5.root._v_attrs["CTA PRODUCT ID"] if "CTA PRODUCT ID" in h5.root._v_attrs else None
        showers = _table(
            h5,
            path,
            SHOWER,
            [
                "obs_id",
                "event_id",
                "true_energy",
                "true_alt",
                "true_az",
                "true_core_x",
                "true_core_y",
                "true_shower_primary_id",
            ],
        )
        rec = _simulation(h5, path, showers, opts)
        trigger = _table(h5, path, TRIGGER, ["obs_id", "event_id"])[["obs_id", "event_id"]]
        tels = _telescopes(h5, path, opts)
        images = _images(h5, path, tels, rec)
    if entry_stop is not None:
        trigger = trigger.iloc[: int(entry_stop)]
    events = trigger.merge(showers, on=["obs_id", "event_id"], how="left", validate="1:1")
    if events["true_energy"].isna().any():
        bad = events[events["true_energy"].isna()].iloc[0]
        raise ContractError(
            path,
            f"triggered event obs_id={bad['obs_id']} event_id={bad['event_id']} has no "
            f"true shower in '{SHOWER}'",
        )
    if not len(events):
        raise ContractError(path, f"table '{TRIGGER}' has zero events")
    images = images[np.isin(event_keys(images), event_keys(events))].reset_index(drop=True)
    events["pointing_alt"] = 90 - rec["zenith"]
    events["pointing_az"] = rec["azimuth"]
    _reconstruct(events, images, opts["stereo_cuts"])
    # camera-frame lengths (m) -> angles on the sky (deg)
    for col in _CAMERA_LENGTHS:
        images[col] = np.rad2deg(images[col].to_numpy(float) / images["focal_length"].to_numpy())
    extra_e = [c for c in events.columns if c not in EVENT_COLUMNS]
    extra_i = [c for c in images.columns if c not in IMAGE_COLUMNS]
    events = events[list(EVENT_COLUMNS) + extra_e]
    images = images[list(IMAGE_COLUMNS) + extra_i]
    for cols, df in ((EVENT_COLUMNS, events), (IMAGE_COLUMNS, images)):
        for col, (kind, _, _) in cols.items():
            if kind == "i":
                df[col] = df[col].fillna(-1).astype(np.int64)
    extra = {IMAGE_FRAME: "camera", "geometry": "showerflow.stereo"}
    events = events.reset_index(drop=True)
    check_values(path, events, images, strict=False)
    return DL1(rec, events, images, str(uuid) if uuid else None, extra)


def inspect(path, options=None):
    """Check a ctapipe DL1 file and summarise it for the catalog.

    Returns
    -------
    dict
        ``uuid`` (the file's ``CTA PRODUCT ID``), ``n_events``, ``n_images``,
        ``image_frame``, ``geometry`` and the simulation record.
    """
    dl1 = read(path, options)
    return {
        "uuid": dl1.uuid,
        "n_events": dl1.n_events,
        "n_images": len(dl1.images),
        IMAGE_FRAME: dl1.extra[IMAGE_FRAME],
        "geometry": dl1.extra["geometry"],
        **dl1.simulation,
    }


def iterate(path, options=None, chunk_size=100_000, entry_stop=None):
    """:func:`read`, then chunks of at most ``chunk_size`` events.

    The stereo reconstruction needs every image of an event, and the per-telescope
    tables are separate; the file is read whole (these files are per-run, megabytes).

    Yields
    ------
    DL1
    """
    yield from chunked(read(path, options, entry_stop), chunk_size)
