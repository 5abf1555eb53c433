"""ctapipe DL1 HDF5 files of data models v4.0.0 to v7.1.0, read through ctapipe's TableLoader.

The reader of :mod:`showerflow.formats.ctapipe_hdf5` for these versions (which checks the
version and the options first; call it through that module). It needs the ``ctapipe``
extra (``pip install 'showerflow[ctapipe]'``).

What is read, and from where (ctapipe's names, ``ctapipe.io.hdf5dataformat``):

- simulation record per run: ``/configuration/simulation/run`` (energy range, spectral
  index, ``n_showers``, ``shower_reuse``, scatter range, view cone, pointing); the
  particle from ``true_shower_primary_id`` (0 gamma, 1 electron, 101 proton) unless the
  ``particle`` option names it; the thrown showers checked against
  ``/simulation/service/shower_distribution`` (:mod:`showerflow.formats.thrown`);
- events: the triggered events joined with the true showers
  (``TableLoader.read_subarray_events``);
- images: ``/dl1/event/telescope/parameters/tel_XXX`` (``TableLoader.read_telescope_events``),
  the images that survived cleaning (finite intensity), in the **telescope frame**
  (``hillas_fov_lon``, ``hillas_fov_lat``; ctapipe's default) or the **camera frame**
  (``--camera-frame``: every column prefixed ``camera_frame_``, which is dropped), the
  telescope type and position from the subarray, the pointing from
  ``/configuration/telescope/pointing`` (or ``/dl0/monitoring/telescope/pointing``);
- direction, core and height of the maximum from ctapipe's DL2 geometry
  ``/dl2/event/subarray/geometry/<geometry>`` (default HillasReconstructor) and the
  impact distances from ``/dl2/event/telescope/impact/<geometry>``, where the file has
  them; else showerflow's stereo reconstruction (:func:`showerflow.formats.base.reconstruct_stereo`).

Units come from each column's ``CTAFIELD_<i>_UNIT`` attribute and are converted to the
contract's (TeV, deg, m); a column the contract needs without a unit, with a unit
astropy cannot parse, or with one of the wrong kind stops the read naming the table and
the column. Camera-frame lengths (m) become angles with the telescope's focal length
(``angle = x / f``, ctapipe's own camera-to-telescope transform).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..contracts import (
    BOOKKEEPING_KEYS,
    BOOKKEEPING_PROBLEM,
    EVENT_COLUMNS,
    IMAGE_COLUMNS,
    IMAGE_FRAME,
    PARTICLES,
    ContractError,
)
from ..validity import check_values
from . import thrown
from .base import DL1, event_index, event_keys, open_hdf5, reconstruct_stereo
from .ctapipe_v1 import PRIMARY_IDS

__all__ = [
    "inspect",
    "read",
    "iterate",
    "DEFAULT_TEL_TYPE_KEY",
    "CAMERA_PREFIX",
    "RUN",
    "HISTOGRAM",
    "SHOWER",
    "TRIGGER",
    "PARAMETERS",
    "GEOMETRY",
    "IMPACT",
    "FIXED_POINTING",
    "MONITORING_POINTING",
    "image_frame",
    "check_units",
]

log = logging.getLogger("showerflow")

#: Layout column naming the telescope type when ``tel_type_key`` is None: ctapipe's
#: telescope type (``str(TelescopeDescription)``: LST_LST_LSTCam, MST_MST_NectarCam, ...).
DEFAULT_TEL_TYPE_KEY = "tel_description"

#: Prefix of the Hillas and timing parameters written with ``ctapipe-process --camera-frame``
#: (leakage, concentration, morphology, ... are frame-free and keep their names).
CAMERA_PREFIX = "camera_frame_"

RUN = "/configuration/simulation/run"
HISTOGRAM = "/simulation/service/shower_distribution"
SHOWER = "/simulation/event/subarray/shower"
TRIGGER = "/dl1/event/subarray/trigger"
PARAMETERS = "/dl1/event/telescope/parameters"
GEOMETRY = "/dl2/event/subarray/geometry"
IMPACT = "/dl2/event/telescope/impact"
FIXED_POINTING = "/configuration/telescope/pointing"
MONITORING_POINTING = "/dl0/monitoring/telescope/pointing"

#: Columns of the run table and the unit each is converted to.
_RUN_UNITS = {
    "energy_range_min": "TeV",
    "energy_range_max": "TeV",
    "max_scatter_range": "m",
    "min_viewcone_radius": "deg",
    "max_viewcone_radius": "deg",
    "min_alt": "deg",
    "max_alt": "deg",
    "min_az": "deg",
    "max_az": "deg",
}
_RUN_COLUMNS = ["obs_id", "spectral_index", "n_showers", "shower_reuse", *_RUN_UNITS]

_SHOWER_UNITS = {
    "true_energy": "TeV",
    "true_alt": "deg",
    "true_az": "deg",
    "true_core_x": "m",
    "true_core_y": "m",
}

#: Image parameters with a dimension, per frame: column -> unit it must convert to.
_IMAGE_UNITS = {
    "telescope": {
        "hillas_fov_lon": "deg",
        "hillas_fov_lat": "deg",
        "hillas_r": "deg",
        "hillas_width": "deg",
        "hillas_length": "deg",
        "hillas_psi": "deg",
    },
    "camera": {
        "hillas_x": "m",
        "hillas_y": "m",
        "hillas_r": "m",
        "hillas_width": "m",
        "hillas_length": "m",
        "hillas_psi": "deg",
    },
}
_IMAGE_NUMBERS = (
    "hillas_intensity",
    "hillas_skewness",
    "hillas_kurtosis",
    "leakage_intensity_width_2",
    "concentration_pixel",
    "morphology_n_pixels",
)

#: sim_telarray's id of the histogram of thrown showers (energy x core distance).
THROWN_HIST_ID = 6

_GEOMETRY_UNITS = {"alt": "deg", "az": "deg", "core_x": "m", "core_y": "m", "h_max": "m"}

#: Pointing columns of each pointing table.
_POINTING_COLUMNS = {
    FIXED_POINTING: ("telescope_pointing_altitude", "telescope_pointing_azimuth"),
    MONITORING_POINTING: ("altitude", "azimuth"),
}


def _ctapipe():
    try:
        import ctapipe  # noqa: F401
    except ImportError as err:  # pragma: no cover - the test extra installs it
        raise ImportError(
            "reading ctapipe DL1 files of data model v4.0.0 and later needs ctapipe "
            "(pip install 'showerflow[ctapipe]')"
        ) from err


def check_units(path, node, wanted):
    """Check that the columns of a ctapipe table carry units convertible to the wanted ones.

    Parameters
    ----------
    path : str or Path
        The file (named in errors).
    node : tables.Table
        The table.
    wanted : dict
        Column -> unit (astropy string) it must convert to.

    Returns
    -------
    dict
        Column -> the file's unit (``astropy.units.Unit``).

    Raises
    ------
    ContractError
        Naming the table and the column: missing column, no ``CTAFIELD_<i>_UNIT``
        attribute, a unit astropy cannot parse, or one not convertible to the wanted one.
    """
    import astropy.units as u

    attrs = node.attrs
    table = node._v_pathname
    units = {}
    for col, target in wanted.items():
        if col not in node.coldescrs:
            raise ContractError(path, f"table '{table}' lacks column '{col}'")
        # ctapipe's convention (ctapipe.io.hdf5tableio.get_column_attrs): CTAFIELD_<pos>_UNIT
        pos = node.coldescrs[col]._v_pos
        text = getattr(attrs, f"CTAFIELD_{pos}_UNIT", None)
        if text is None:
            raise ContractError(
                path,
                f"table '{table}' column '{col}' has no unit (attribute CTAFIELD_{pos}_UNIT "
                f"missing); expected a unit convertible to '{target}'",
            )
        text = str(text)
        try:
            unit = u.Unit(text, parse_strict="raise")
        except ValueError as err:
            raise ContractError(
                path,
                f"table '{table}' column '{col}' has unit {text!r} (CTAFIELD_{pos}_UNIT), "
                f"which astropy cannot parse; expected a unit convertible to '{target}'",
            ) from err
        if not unit.is_equivalent(u.Unit(target)):
            raise ContractError(
                path,
                f"table '{table}' column '{col}' has unit {text!r} (CTAFIELD_{pos}_UNIT), "
                f"not convertible to '{target}'",
            )
        units[col] = unit
    return units


def image_frame(path, node):
    """Frame of a parameter table's image parameters: ``"telescope"`` or ``"camera"``.

    Raises
    ------
    ContractError
        When the table has neither ``hillas_fov_lon`` nor ``camera_frame_hillas_x``.
    """
    names = set(node.colnames)
    if "hillas_fov_lon" in names:
        return "telescope"
    if f"{CAMERA_PREFIX}hillas_x" in names:
        return "camera"
    raise ContractError(
        path,
        f"table '{node._v_pathname}' has neither 'hillas_fov_lon' (telescope frame) nor "
        f"'{CAMERA_PREFIX}hillas_x' (camera frame, --camera-frame): no Hillas parameters",
    )


def _node(h5, path, where, what):
    if where not in h5:
        raise ContractError(path, f"table '{where}' missing; a ctapipe DL1 file has {what}")
    return h5.get_node(where)


def _column(table, name, unit=None, fill=np.nan):
    """A column of an astropy table as a plain array, masked entries ``fill``, in ``unit``.

    ``unit`` is only asked of columns whose unit :func:`check_units` checked.
    """
    col = table[name]
    mask = np.ma.getmaskarray(col)
    data = np.asarray(np.ma.getdata(col))
    if unit is not None:
        data = (data * col.unit).to_value(unit)
    if mask.any():
        data = np.where(mask, fill, data.astype(float) if data.dtype.kind in "iub" else data)
    return data


def _round_angle(value):
    """Pointing angles are float32 radians in the file: keep 0.0001 deg (a third of an arcsec)."""
    return float(np.round(value, 4)) + 0.0


class _File:
    """An open ctapipe DL1 file: checked tables, runs, subarray and a TableLoader."""

    def __init__(self, path, opts):
        _ctapipe()
        self.path, self.opts = path, opts
        self.name = Path(path).name
        # every table of the file stays open (PyTables' default cache holds 64 nodes, and
        # the unit checks and the TableLoader open the same ones)
        self.h5 = open_hdf5(path, node_cache_slots=4096)
        try:
            self._setup()
        except BaseException:
            self.h5.close()
            raise

    def close(self):
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ structure
    def _setup(self):
        h5, path = self.h5, self.path
        attrs = h5.root._v_attrs
        self.uuid = (
            str(attrs["CTA PRODUCT ID"]) if "CTA PRODUCT ID" in attrs._f_list("user") else None
        )
        trigger = _node(h5, path, TRIGGER, "the triggered events")
        showers = _node(h5, path, SHOWER, "the true showers (ctapipe-process --write-showers)")
        check_units(path, showers, _SHOWER_UNITS)
        if PARAMETERS not in h5:
            raise ContractError(
                path, f"group '{PARAMETERS}' missing: no image parameters (--write-parameters)"
            )
        # geometry: ctapipe's where present (and asked for), else showerflow's
        name = self.opts.get("geometry")
        self.geometry = name if name and f"{GEOMETRY}/{name}" in h5 else None
        if name and self.geometry is None:
            log.info("%s: no '%s/%s': showerflow's stereo reconstruction", path, GEOMETRY, name)
        self.pointing = next((g for g in _POINTING_COLUMNS if g in h5), None)
        self._subarray()

        # the telescopes that triggered: their tables are read, their units checked
        # (TableLoader's cost grows with the telescopes read, not the events)
        if "tels_with_trigger" in trigger.colnames:
            self.triggered = trigger.read(field="tels_with_trigger")
        else:  # pragma: no cover - every ctapipe DL1 trigger table has it
            self.triggered = np.ones((trigger.nrows, len(self.tels)), bool)
        tel_ids = self._tel_ids(0, trigger.nrows)
        tables = [
            h5.get_node(f"{PARAMETERS}/tel_{t:03d}")
            for t in tel_ids
            if f"{PARAMETERS}/tel_{t:03d}" in h5
        ]
        if not tables:
            raise ContractError(
                path, f"group '{PARAMETERS}' holds no table of a telescope that triggered"
            )
        frames = {t._v_pathname: image_frame(path, t) for t in tables}
        if len(set(frames.values())) > 1:
            cam = sorted(k for k, v in frames.items() if v == "camera")
            tel = sorted(k for k, v in frames.items() if v == "telescope")
            raise ContractError(
                path,
                f"image parameters mix frames: camera frame in '{cam[0]}', telescope frame "
                f"in '{tel[0]}'; expected one frame for every telescope",
            )
        self.frame = next(iter(frames.values()))
        prefix = CAMERA_PREFIX if self.frame == "camera" else ""
        wanted = {prefix + c: unit for c, unit in _IMAGE_UNITS[self.frame].items()}
        for t in tables:
            check_units(path, t, wanted)
            for col in _IMAGE_NUMBERS:
                if col not in t.colnames and prefix + col not in t.colnames:
                    raise ContractError(path, f"table '{t._v_pathname}' lacks column '{col}'")
        self.parameter_columns = [
            c for c in tables[0].colnames if c not in ("obs_id", "event_id", "tel_id")
        ]
        if self.geometry is not None:
            g = self.geometry
            check_units(
                path,
                h5.get_node(f"{GEOMETRY}/{g}"),
                {f"{g}_{c}": unit for c, unit in _GEOMETRY_UNITS.items()},
            )
            for t in tel_ids:
                if f"{IMPACT}/{g}/tel_{t:03d}" in h5:
                    node = h5.get_node(f"{IMPACT}/{g}/tel_{t:03d}")
                    check_units(path, node, {f"{g}_tel_impact_distance": "m"})
        if self.pointing is not None:
            cols = _POINTING_COLUMNS[self.pointing]
            for t in tel_ids:
                if f"{self.pointing}/tel_{t:03d}" in h5:
                    node = h5.get_node(f"{self.pointing}/tel_{t:03d}")
                    check_units(path, node, dict.fromkeys(cols, "deg"))
        self.runs = self._runs()

    def _tel_ids(self, start, stop):
        """Telescopes that triggered in events ``start:stop`` of the trigger table."""
        mask = np.any(self.triggered[start:stop], axis=0)
        return [int(t) for t in self.loader.subarray.tel_mask_to_tel_ids(mask)]

    def _loader(self):
        from ctapipe.io import TableLoader

        choice = self.opts.get("focal_length_choice") or "EFFECTIVE"
        try:
            return TableLoader(
                h5file=self.h5,
                focal_length_choice=choice,
                dl1_parameters=True,
                dl2=self.geometry is not None,
                simulated=True,
                true_parameters=False,
                pointing=self.pointing is not None,
            )
        except RuntimeError as err:
            if "focal length" not in str(err):
                raise ContractError(self.path, f"ctapipe's TableLoader failed: {err}") from err
            raise ContractError(
                self.path,
                "table '/configuration/instrument/telescope/optics' has no effective focal "
                f"length (focal_length_choice {choice}); set format_options."
                "focal_length_choice: EQUIVALENT (the files of sim_telarray productions "
                "before prod5 need it, as ctapipe-process needed "
                "--SimTelEventSource.focal_length_choice=EQUIVALENT)",
            ) from err
        except Exception as err:
            raise ContractError(
                self.path, f"ctapipe's TableLoader failed ({type(err).__name__}: {err})"
            ) from err

    def _subarray(self):
        import astropy.units as u

        self.loader = self._loader()
        sub = self.loader.subarray
        ref = getattr(sub, "reference_location", None)
        self.reference_height = 0.0 if ref is None else float(ref.geodetic.height.to_value(u.m))
        key = self.opts.get("tel_type_key") or DEFAULT_TEL_TYPE_KEY
        layout = sub.to_table()
        if key not in layout.colnames:
            raise ContractError(
                self.path,
                f"format_options.tel_type_key {key!r} is not a column of the subarray layout "
                f"(columns: {sorted(layout.colnames)})",
            )
        choice = self.opts.get("focal_length_choice") or "EFFECTIVE"
        rows = {}
        for tel_id, tel in sub.tel.items():
            f = (
                tel.optics.effective_focal_length
                if choice == "EFFECTIVE"
                else tel.optics.equivalent_focal_length
            )
            pos = sub.positions[tel_id].to_value(u.m)
            rows[tel_id] = (str(layout[key][layout["tel_id"] == tel_id][0]), f.to_value(u.m), *pos)
        self.tels = pd.DataFrame.from_dict(
            rows, orient="index", columns=["tel_type", "focal_length", "pos_x", "pos_y", "pos_z"]
        )

    # ------------------------------------------------------------------ runs
    def _runs(self):
        from ctapipe.io import read_table

        h5, path = self.h5, self.path
        run_node = _node(h5, path, RUN, "the simulation configuration")
        check_units(path, run_node, _RUN_UNITS)
        missing = [c for c in _RUN_COLUMNS if c not in run_node.colnames]
        if missing:
            raise ContractError(path, f"table '{RUN}' lacks column(s) {missing}")
        run = read_table(h5, RUN)
        if not len(run):
            raise ContractError(path, f"table '{RUN}' has no run")
        node = h5.get_node(SHOWER)
        shower = {c: node.col(c) for c in ("obs_id", "event_id", "true_shower_primary_id")}
        hist = None
        if HISTOGRAM in h5:
            hnode = h5.get_node(HISTOGRAM)
            if "n_entries" not in hnode.colnames:
                raise ContractError(path, f"table '{HISTOGRAM}' lacks column 'n_entries'")
            hist = hnode.read()
        records = []
        for i in range(len(run)):
            records.append(self._record(run, i, shower, hist))
        return records

    def _record(self, run, i, shower, hist):
        path = self.path
        obs_id = int(run["obs_id"][i])
        event_ids = shower["event_id"][shower["obs_id"] == obs_id]
        val = {c: float(_column(run, c, unit)[i]) for c, unit in _RUN_UNITS.items()}
        if not (
            np.isclose(val["min_alt"], val["max_alt"]) and np.isclose(val["min_az"], val["max_az"])
        ):
            raise ContractError(
                path,
                f"table '{RUN}' obs_id={obs_id}: pointing varies within the run (min/max alt, az)",
            )
        particle = self.opts.get("particle")
        if particle is None:
            # the file's primaries (a run of a merged file may have no triggered event)
            ids = np.unique(shower["true_shower_primary_id"])
            names = {PRIMARY_IDS.get(int(x), f"id {int(x)}") for x in ids}
            if len(names) != 1 or next(iter(names)) not in PARTICLES:
                raise ContractError(
                    path,
                    f"'{SHOWER}.true_shower_primary_id' gives particles {sorted(names)}; "
                    f"expected one of {list(PARTICLES)} (ids {PRIMARY_IDS}), or set "
                    "format_options.particle",
                )
            particle = names.pop()
        azimuth = _round_angle(val["max_az"] % 360)
        rec = {
            "obs_id": obs_id,
            "particle": str(particle),
            "n_showers": int(run["n_showers"][i]),
            "shower_reuse": int(run["shower_reuse"][i]),
            "energy_min": val["energy_range_min"],
            "energy_max": val["energy_range_max"],
            "spectral_index": float(run["spectral_index"][i]),
            "max_scatter_range": val["max_scatter_range"],
            "viewcone_min": val["min_viewcone_radius"],
            "viewcone_max": val["max_viewcone_radius"],
            "zenith": _round_angle(90 - val["max_alt"]),
            "azimuth": 0.0 if azimuth == 360 else azimuth,
        }
        if rec["n_showers"] <= 0 or not rec["energy_min"] < rec["energy_max"]:
            raise ContractError(
                path, f"table '{RUN}' obs_id={obs_id}: implausible bookkeeping {rec}"
            )
        n_hist = None
        if hist is not None:
            rows = hist[hist["obs_id"] == obs_id]
            if "hist_id" in rows.dtype.names and (rows["hist_id"] == THROWN_HIST_ID).any():
                rows = rows[rows["hist_id"] == THROWN_HIST_ID]
            if len(rows):
                n_hist = int(rows["n_entries"].sum())
        rec.update(
            thrown.thrown_bookkeeping(
                self.name,
                obs_id,
                rec["n_showers"],
                rec["shower_reuse"],
                n_hist,
                event_ids,
                {"histogram": HISTOGRAM, "events": SHOWER},
            )
        )
        return rec

    def simulation(self):
        """The file's record: its run's, or its runs' combined (refused if they disagree)."""
        runs = self.runs
        if len(runs) == 1:
            return dict(runs[0])
        for key in (*BOOKKEEPING_KEYS, "shower_reuse", "zenith", "azimuth"):
            values = {}
            for r in runs:
                values.setdefault(r[key], []).append(r["obs_id"])
            if len(values) > 1:
                detail = "; ".join(f"{v!r} in obs_id {ids}" for v, ids in values.items())
                raise ContractError(
                    self.path,
                    f"table '{RUN}': the merged runs disagree on '{key}' ({detail}); runs "
                    f"simulated with different {key} cannot be combined (expected one value)",
                )
        rec = dict(runs[0])
        rec["n_showers"] = int(sum(r["n_showers"] for r in runs))
        rec["n_showers_histogram"] = float(sum(r["n_showers_histogram"] for r in runs))
        rec["bookkeeping_source"] = ",".join(sorted({r["bookkeeping_source"] for r in runs}))
        rec[BOOKKEEPING_PROBLEM] = "; ".join(
            r[BOOKKEEPING_PROBLEM] for r in runs if r[BOOKKEEPING_PROBLEM]
        )
        rec["n_runs"] = len(runs)
        return rec

    # ------------------------------------------------------------------ events
    def __len__(self):
        return len(self.loader)

    def chunk(self, start, stop):
        """The events ``start:stop`` of the trigger table and their images."""
        loader = self.loader
        use_geometry = self.geometry is not None
        ev = loader.read_subarray_events(
            start=start, stop=stop, dl2=use_geometry, simulated=True, observation_info=False
        )
        tel_ids = self._tel_ids(start, stop)
        tel = loader.read_telescope_events(
            telescopes=tel_ids or None,
            start=start,
            stop=stop,
            dl1_parameters=True,
            dl2=use_geometry,
            simulated=False,
            true_parameters=False,
            # the telescopes' pointing enters only showerflow's stereo reconstruction
            pointing=self.pointing is not None and not use_geometry,
            instrument=False,
            observation_info=False,
        )
        events = self._events(ev)
        images = self._images(tel, events)
        if use_geometry:
            self._ctapipe_geometry(ev, events, images, tel)
        else:
            self._showerflow_geometry(events, images)
        return events, images

    def _events(self, ev):
        events = pd.DataFrame(
            {
                "obs_id": np.asarray(ev["obs_id"], np.int64),
                "event_id": np.asarray(ev["event_id"], np.int64),
            }
        )
        if "true_energy" not in ev.colnames and len(ev):
            raise ContractError(self.path, f"triggered events have no true shower in '{SHOWER}'")
        for col, unit in _SHOWER_UNITS.items():
            events[col] = _column(ev, col, unit) if len(ev) else np.zeros(0)
        if events["true_energy"].isna().any():
            bad = events[events["true_energy"].isna()].iloc[0]
            raise ContractError(
                self.path,
                f"triggered event obs_id={bad['obs_id']} event_id={bad['event_id']} has no "
                f"true shower in '{SHOWER}'",
            )
        pointing = {r["obs_id"]: (90 - r["zenith"], r["azimuth"]) for r in self.runs}
        unknown = sorted(set(events["obs_id"]) - set(pointing))
        if unknown:
            raise ContractError(self.path, f"events of obs_id {unknown} have no run in '{RUN}'")
        events["pointing_alt"] = events["obs_id"].map(lambda o: pointing[o][0]).astype(float)
        events["pointing_az"] = events["obs_id"].map(lambda o: pointing[o][1]).astype(float)
        return events

    def _images(self, tel, events):
        import astropy.units as u

        cols = {}
        prefix = CAMERA_PREFIX if self.frame == "camera" else ""
        n = len(tel)
        for key in ("obs_id", "event_id", "tel_id"):
            cols[key] = np.asarray(tel[key], np.int64) if n else np.zeros(0, np.int64)
        tel_ids = cols["tel_id"]
        unknown = sorted(set(tel_ids) - set(self.tels.index))
        if unknown:
            raise ContractError(
                self.path, f"images of telescopes {unknown} are not in the subarray"
            )
        info = self.tels.loc[tel_ids]
        f_m = info["focal_length"].to_numpy(float)
        for col in self.parameter_columns:
            if col not in tel.colnames or np.ndim(tel[col]) != 1:
                continue
            name = col[len(prefix) :] if col.startswith(prefix) else col
            unit = getattr(tel[col], "unit", None)
            if unit is None or unit == u.dimensionless_unscaled:
                cols[name] = _column(tel, col) if n else np.zeros(0)
            elif unit.is_equivalent(u.deg):
                cols[name] = _column(tel, col, u.deg)
            elif unit.is_equivalent(u.m):  # camera frame: lengths in the focal plane -> deg
                cols[name] = np.rad2deg(_column(tel, col, u.m) / f_m)
            elif unit.is_equivalent(1 / u.m):
                cols[name] = _column(tel, col, 1 / u.m) * f_m * np.deg2rad(1)
            elif unit.is_equivalent(1 / u.deg):
                cols[name] = _column(tel, col, 1 / u.deg)
            else:
                cols[name] = _column(tel, col, unit)
        images = pd.DataFrame(cols)
        if self.frame == "camera":
            # keep the camera-frame centroid in metres for the stereo reconstruction
            images["hillas_x_m"] = _column(tel, f"{prefix}hillas_x", u.m) if n else np.zeros(0)
            images["hillas_y_m"] = _column(tel, f"{prefix}hillas_y", u.m) if n else np.zeros(0)
        images["tel_type"] = info["tel_type"].to_numpy()
        images["focal_length"] = f_m
        for axis in "xyz":
            images[f"tel_pos_{axis}"] = info[f"pos_{axis}"].to_numpy(float)
        run_pointing = {r["obs_id"]: (90 - r["zenith"], r["azimuth"]) for r in self.runs}
        alt = images["obs_id"].map(lambda o: run_pointing.get(o, (np.nan,))[0]).to_numpy(float)
        az = (
            images["obs_id"].map(lambda o: run_pointing.get(o, (np.nan, np.nan))[1]).to_numpy(float)
        )
        if "telescope_pointing_altitude" in (tel.colnames if n else ()):
            t_alt = _column(tel, "telescope_pointing_altitude", u.deg)
            t_az = _column(tel, "telescope_pointing_azimuth", u.deg)
            alt = np.where(np.isfinite(t_alt), t_alt, alt)
            az = np.where(np.isfinite(t_az), t_az, az)
        images["pointing_alt_rad"] = np.deg2rad(alt)
        images["pointing_az_rad"] = np.deg2rad(az)
        keep = np.isfinite(images["hillas_intensity"].to_numpy(float))
        keep &= np.isin(event_keys(images), event_keys(events))
        images = images[keep].copy()
        if self.geometry is not None:
            name = f"{self.geometry}_tel_impact_distance"
            if n and name in tel.colnames:
                images["impact_distance"] = _column(tel, name, u.m)[keep]
        images = images.sort_values(["obs_id", "event_id", "tel_id"], kind="stable")
        return images.reset_index(drop=True)

    def _ctapipe_geometry(self, ev, events, images, tel):
        import astropy.units as u

        g = self.geometry
        n = len(ev)
        events["reco_alt"] = _column(ev, f"{g}_alt", u.deg) if n else np.zeros(0)
        events["reco_az"] = _column(ev, f"{g}_az", u.deg) % 360 if n else np.zeros(0)
        events["reco_core_x"] = _column(ev, f"{g}_core_x", u.m) if n else np.zeros(0)
        events["reco_core_y"] = _column(ev, f"{g}_core_y", u.m) if n else np.zeros(0)
        # ctapipe: above sea level (relative height + the array's reference altitude);
        # the contract (and showerflow's stereo): above the array's reference point
        h_max = _column(ev, f"{g}_h_max", u.m) - self.reference_height if n else np.zeros(0)
        events["reco_h_max"] = h_max
        valid = (
            np.asarray(np.ma.filled(ev[f"{g}_is_valid"], False), bool) if n else np.zeros(0, bool)
        )
        for col in ("reco_alt", "reco_az", "reco_core_x", "reco_core_y", "reco_h_max"):
            events.loc[~valid, col] = np.nan
        idx = event_index(events, images)
        events["multiplicity"] = np.bincount(idx, minlength=len(events)).astype(np.int64)
        used = (
            np.count_nonzero(np.ma.filled(ev[f"{g}_telescopes"], False), axis=1)
            if n and f"{g}_telescopes" in ev.colnames
            else np.zeros(n, np.int64)
        )
        events["n_images_reco"] = np.where(valid, used, 0).astype(np.int64)
        if "impact_distance" not in images.columns:
            self._impact_from_axis(events, images, idx)
        else:
            images.loc[~valid[idx], "impact_distance"] = np.nan

    def _impact_from_axis(self, events, images, idx):
        from .. import stereo

        direction = stereo.altaz_to_vector(
            np.deg2rad(events["reco_alt"].to_numpy(float)),
            np.deg2rad(events["reco_az"].to_numpy(float)),
        )
        core = np.column_stack(
            [events["reco_core_x"], events["reco_core_y"], np.zeros(len(events))]
        )
        rel = images[["tel_pos_x", "tel_pos_y", "tel_pos_z"]].to_numpy(float) - core[idx]
        d = direction[idx]
        along = np.einsum("ij,ij->i", rel, d)
        images["impact_distance"] = np.linalg.norm(rel - along[:, None] * d, axis=1)

    def _showerflow_geometry(self, events, images):
        f = images["focal_length"].to_numpy(float)
        if self.frame == "camera":
            x, y = images["hillas_x_m"].to_numpy(float), images["hillas_y_m"].to_numpy(float)
            psi = np.deg2rad(images["hillas_psi"].to_numpy(float))
            scale = f
        else:
            # telescope frame: fov_lat = x / f, fov_lon = y / f (ctapipe's camera_to_telescope),
            # so x, y = fov_lat, fov_lon in radians with f = 1, and psi from x towards y
            # is 90 deg - psi from fov_lon towards fov_lat
            x = np.deg2rad(images["hillas_fov_lat"].to_numpy(float))
            y = np.deg2rad(images["hillas_fov_lon"].to_numpy(float))
            psi = np.deg2rad(90.0 - images["hillas_psi"].to_numpy(float))
            scale = np.ones(len(images))
            f = np.ones(len(images))
        width = np.deg2rad(images["hillas_width"].to_numpy(float)) * scale
        length = np.deg2rad(images["hillas_length"].to_numpy(float)) * scale
        reconstruct_stereo(events, images, self.opts["stereo_cuts"], x, y, psi, width, length, f)


def _finish(f, events, images):
    """Contract column order and dtypes."""
    images = images.drop(columns=[c for c in ("hillas_x_m", "hillas_y_m") if c in images.columns])
    extra_e = [c for c in events.columns if c not in EVENT_COLUMNS]
    extra_i = [c for c in images.columns if c not in IMAGE_COLUMNS]
    events = events[list(EVENT_COLUMNS) + extra_e].copy()
    images = images[list(IMAGE_COLUMNS) + extra_i].copy()
    for cols, df in ((EVENT_COLUMNS, events), (IMAGE_COLUMNS, images)):
        for col, (kind, _, _) in cols.items():
            if kind == "i":
                df[col] = df[col].fillna(-1).astype(np.int64)
    return events.reset_index(drop=True), images.reset_index(drop=True)


def _extra(f, n_read):
    return {
        IMAGE_FRAME: f.frame,
        "geometry": f.geometry or "showerflow.stereo",
        "runs": [dict(r) for r in f.runs],
        "n_events_read": n_read,
    }


def read(path, options, entry_stop=None):
    """Read a ctapipe DL1 file (data model v4.0.0 to v7.1.0) into the DL1 contract.

    Parameters
    ----------
    path : str or Path
    options : dict
        The format's options, validated (:data:`showerflow.formats.ctapipe_hdf5.DEFAULT_OPTIONS`).
    entry_stop : int, optional
        Keep the first this many triggered events.

    Returns
    -------
    DL1
        ``extra`` holds ``image_frame``, ``geometry`` (the reconstructor of the
        directions: ctapipe's, or ``"showerflow.stereo"``), ``runs`` (the per-run
        records of a merged file) and ``n_events_read``.
    """
    chunks = list(iterate(path, options, 2**62, entry_stop))
    return chunks[0]


def iterate(path, options, chunk_size=100_000, entry_stop=None):
    """The events in chunks of at most ``chunk_size`` triggered events, each with its images.

    TableLoader reads events and their telescope events by ranges of the trigger table,
    so memory is bounded by the chunk, whatever the size of the file.

    Yields
    ------
    DL1
        At least one (empty for a file without events).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
    with _File(path, options) as f:
        total = len(f) if entry_stop is None else min(len(f), int(entry_stop))
        if total == 0:
            raise ContractError(path, f"table '{TRIGGER}' has zero events")
        rec = f.simulation()
        for start in range(0, total, chunk_size):
            events, images = f.chunk(start, min(start + chunk_size, total))
            events, images = _finish(f, events, images)
            check_values(path, events, images, strict=False, first_event=start)
            yield DL1(rec, events, images, f.uuid, _extra(f, total))


def inspect(path, options):
    """Check a ctapipe DL1 file (v4.0.0 to v7.1.0) and summarise it for the catalog.

    Returns
    -------
    dict
        ``uuid``, ``n_events``, ``n_images``, ``image_frame``, ``geometry``, ``n_runs``
        and the simulation record (with the thrown-shower check's fields).
    """
    n_events = n_images = 0
    for d in iterate(path, options):
        n_events += d.n_events
        n_images += len(d.images)
        rec, extra, uuid = d.simulation, d.extra, d.uuid
    return {
        "uuid": uuid,
        "n_events": n_events,
        "n_images": n_images,
        IMAGE_FRAME: extra[IMAGE_FRAME],
        "geometry": extra["geometry"],
        "n_runs": len(extra["runs"]),
        **rec,
    }
