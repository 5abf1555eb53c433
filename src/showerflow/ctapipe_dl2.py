"""showerflow's DL2 and cuts in ctapipe's layouts, for ctapipe's IRF tools.

:func:`write_ctapipe_dl2` writes a DL2 Parquet file (``results/dl2/<dataset>.parquet``)
as a ctapipe DL2 HDF5 file (data model v7.1.0) that ``ctapipe-optimize-event-selection``
and ``ctapipe-compute-irf`` read through ``TableLoader``:

==========================================================  ==========================================
table                                                       from
==========================================================  ==========================================
``/dl1/event/subarray/trigger``                             ``obs_id``, ``event_id``; ``tels_with_trigger``
``/simulation/event/subarray/shower``                       ``true_energy``, ``true_alt``, ``true_az``, the particle
``/dl2/event/subarray/energy/<energy_prefix>``              ``reco_energy`` as ``<prefix>_energy``
``/dl2/event/subarray/particle_type/<classifier_prefix>``   ``gammaness`` as ``<prefix>_prediction``
``/dl2/event/subarray/geometry/<geometry_prefix>``          ``reco_alt``, ``reco_az`` as ``<prefix>_alt/_az``
``/configuration/simulation/run``                           one row per simulation record
``/simulation/service/shower_distribution``                 ``n_entries = n_showers * shower_reuse`` per run
``/configuration/observation/observation_block``            the runs' pointing (alt/az frame)
``/configuration/instrument/...``                           a ctapipe DL1 input's subarray, or a placeholder
==========================================================  ==========================================

Every table has ``<prefix>_is_valid`` (a finite value) and ``<prefix>_telescopes`` (a mask
over the subarray's telescopes with ``multiplicity`` entries set: showerflow's DL2 keeps how
many telescopes saw the event, not which, and ctapipe's quality cuts count them with
``np.count_nonzero``). The prefixes are ctapipe's: the scikit-learn estimator's class
name for the models (``RandomForestRegressor``, ``RandomForestClassifier``), the
reconstructor's for the geometry (``HillasReconstructor``), which are also the defaults of
ctapipe's ``DL2EventPreprocessor``.

:func:`write_ctapipe_cuts` writes the gammaness and direction cuts of showerflow's IRF file
as ctapipe's ``OptimizationResult`` (the ``--cuts`` of ``ctapipe-compute-irf``), with
showerflow's event quality cuts as ctapipe quality criteria, so ctapipe computes its IRFs
from the very events showerflow selected.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from . import __version__
from .contracts import DL2_COLUMNS, ContractError
from .tables import atomic_path, read_metadata

__all__ = [
    "DEFAULT_PREFIXES",
    "estimator_prefix",
    "telescope_mask",
    "placeholder_subarray",
    "input_subarray",
    "write_ctapipe_dl2",
    "quality_criteria",
    "write_ctapipe_cuts",
]

log = logging.getLogger("showerflow")

#: ctapipe's DL2EventPreprocessor defaults: energy, classifier and geometry prefixes.
DEFAULT_PREFIXES = {
    "energy": "RandomForestRegressor",
    "classifier": "RandomForestClassifier",
    "geometry": "HillasReconstructor",
}

#: ctapipe's primary ids (sim_telarray's).
_PRIMARY_IDS = {"gamma": 0, "electron": 1, "proton": 101}

TRIGGER = "/dl1/event/subarray/trigger"
SHOWER = "/simulation/event/subarray/shower"
ENERGY = "/dl2/event/subarray/energy"
CLASSIFICATION = "/dl2/event/subarray/particle_type"
GEOMETRY = "/dl2/event/subarray/geometry"
RUN = "/configuration/simulation/run"
HISTOGRAM = "/simulation/service/shower_distribution"
OBSERVATION = "/configuration/observation/observation_block"


def estimator_prefix(model_config):
    """ctapipe's prefix for a model: its scikit-learn estimator's class name.

    Parameters
    ----------
    model_config : dict or str or Path
        A model config (``estimator.class``, e.g. ``sklearn.ensemble.RandomForestRegressor``)
        or the path of its YAML file.

    Returns
    -------
    str
        E.g. ``RandomForestRegressor``.
    """
    if not isinstance(model_config, dict):
        import yaml

        model_config = yaml.safe_load(Path(model_config).read_text())
    return str(model_config["estimator"]["class"]).rsplit(".", 1)[-1]


def telescope_mask(multiplicity, n_tel):
    """``<prefix>_telescopes``: per event, the first ``multiplicity`` of ``n_tel`` set.

    Parameters
    ----------
    multiplicity : array-like of int
    n_tel : int

    Returns
    -------
    numpy.ndarray of bool, shape (n_events, n_tel)
    """
    m = np.asarray(multiplicity, np.int64)
    if len(m) and m.max() > n_tel:
        raise ValueError(f"multiplicity {m.max()} exceeds the subarray's {n_tel} telescopes")
    return np.arange(n_tel)[None, :] < m[:, None]


def placeholder_subarray(n_tel):
    """A subarray of ``n_tel`` telescopes named as a placeholder, for DL2 without one.

    showerflow's DL2 of the ROOT contract knows no telescope description, but ctapipe's
    ``TableLoader`` needs a subarray to open a file. Each telescope is a one-pixel
    "UNKNOWN" telescope at the origin; no IRF tool reads any of it.

    Returns
    -------
    ctapipe.instrument.SubarrayDescription
    """
    import astropy.units as u
    from astropy.coordinates import EarthLocation
    from ctapipe.instrument import (
        CameraDescription,
        CameraGeometry,
        CameraReadout,
        OpticsDescription,
        ReflectorShape,
        SizeType,
        SubarrayDescription,
        TelescopeDescription,
    )
    from ctapipe.instrument.camera.geometry import PixelShape

    geometry = CameraGeometry(
        "UNKNOWN",
        pix_id=np.array([0]),
        pix_x=[0.0] * u.m,
        pix_y=[0.0] * u.m,
        pix_area=[1.0] * u.m**2,
        pix_type=PixelShape.SQUARE,
    )
    readout = CameraReadout(
        "UNKNOWN",
        sampling_rate=1 * u.GHz,
        reference_pulse_shape=np.zeros((1, 1)),
        reference_pulse_sample_width=1 * u.ns,
        n_channels=1,
        n_pixels=1,
        n_samples=1,
    )
    optics = OpticsDescription(
        "UNKNOWN",
        size_type=SizeType.UNKNOWN,
        n_mirrors=1,
        equivalent_focal_length=1 * u.m,
        effective_focal_length=1 * u.m,
        mirror_area=1 * u.m**2,
        n_mirror_tiles=1,
        reflector_shape=ReflectorShape.UNKNOWN,
    )
    tel = TelescopeDescription("UNKNOWN", optics, CameraDescription("UNKNOWN", geometry, readout))
    return SubarrayDescription(
        "showerflow placeholder: the DL2 carries no telescope description",
        tel_positions={i: [0.0, 0.0, 0.0] * u.m for i in range(1, n_tel + 1)},
        tel_descriptions=dict.fromkeys(range(1, n_tel + 1), tel),
        reference_location=EarthLocation(lon=0 * u.deg, lat=0 * u.deg, height=0 * u.m),
    )


def input_subarray(inputs):
    """The subarray of the first DL1 input that is a ctapipe HDF5 file, if any.

    Parameters
    ----------
    inputs : list of str
        DL1 files the DL2 came from (its metadata's ``inputs``).

    Returns
    -------
    ctapipe.instrument.SubarrayDescription or None
    """
    from ctapipe.instrument import FocalLengthKind, SubarrayDescription

    for path in inputs:
        if not str(path).endswith((".h5", ".hdf5")) or not Path(path).is_file():
            continue
        try:
            return SubarrayDescription.from_hdf(
                path, focal_length_choice=FocalLengthKind.EQUIVALENT
            )
        except Exception as err:  # not a ctapipe file: look at the next one
            log.info("no ctapipe subarray in %s (%s)", path, err)
    return None


def _run_table(records):
    import astropy.units as u
    from astropy.table import QTable

    recs = sorted(records, key=lambda r: int(r["obs_id"]))
    col = lambda key: np.array([float(r[key]) for r in recs])  # noqa: E731
    alt = 90.0 - col("zenith")
    az = col("azimuth")
    run = QTable()
    run["obs_id"] = np.array([int(r["obs_id"]) for r in recs], np.uint64)
    run["energy_range_min"] = col("energy_min") * u.TeV
    run["energy_range_max"] = col("energy_max") * u.TeV
    run["spectral_index"] = col("spectral_index")
    run["n_showers"] = np.array([int(r["n_showers"]) for r in recs], np.int64)
    run["shower_reuse"] = np.array([int(r["shower_reuse"]) for r in recs], np.int64)
    run["max_alt"] = run["min_alt"] = alt * u.deg
    run["max_az"] = run["min_az"] = az * u.deg
    run["diffuse"] = col("viewcone_max") > 0
    run["max_viewcone_radius"] = col("viewcone_max") * u.deg
    run["min_viewcone_radius"] = col("viewcone_min") * u.deg
    run["max_scatter_range"] = col("max_scatter_range") * u.m

    hist = QTable()
    hist["obs_id"] = run["obs_id"]
    hist["hist_id"] = np.full(len(recs), 6, np.int64)  # sim_telarray's thrown-shower histogram
    n_entries = run["n_showers"] * run["shower_reuse"]
    hist["n_entries"] = n_entries
    # one bin: the whole simulated energy range and scatter disk (exact; ctapipe's IRF
    # tools read only n_entries)
    hist["bins_energy"] = np.column_stack([col("energy_min"), col("energy_max")]) * u.TeV
    hist["bins_core_dist"] = np.column_stack([np.zeros(len(recs)), col("max_scatter_range")]) * u.m
    hist["histogram"] = n_entries.astype(float).reshape(-1, 1, 1)

    obs = QTable()
    obs["obs_id"] = run["obs_id"]
    obs["sb_id"] = run["obs_id"]
    obs["subarray_pointing_lat"] = alt * u.deg
    obs["subarray_pointing_lon"] = az * u.deg
    obs["subarray_pointing_frame"] = np.zeros(len(recs), np.int64)  # CoordinateFrameType.ALTAZ
    return run, hist, obs


def _event_tables(df, particle, prefixes, n_tel):
    import astropy.units as u
    from astropy.table import Table

    ids = {
        "obs_id": df["obs_id"].to_numpy(np.uint64),
        "event_id": df["event_id"].to_numpy(np.uint64),
    }
    mask = telescope_mask(df["multiplicity"].to_numpy(), n_tel)
    trigger = Table(ids)
    trigger["tels_with_trigger"] = mask
    trigger["event_type"] = np.full(len(df), 32, np.int64)  # EventType.SUBARRAY
    shower = Table(ids)
    shower["true_energy"] = df["true_energy"].to_numpy(float) * u.TeV
    shower["true_alt"] = df["true_alt"].to_numpy(float) * u.deg
    shower["true_az"] = df["true_az"].to_numpy(float) * u.deg
    shower["true_shower_primary_id"] = np.full(len(df), _PRIMARY_IDS[particle], np.int64)

    def reco(prefix, columns, valid):
        t = Table(ids)
        for name, (values, unit) in columns.items():
            t[f"{prefix}_{name}"] = values * unit if unit is not None else values
        t[f"{prefix}_is_valid"] = valid
        t[f"{prefix}_telescopes"] = mask & valid[:, None]
        return t

    energy = df["reco_energy"].to_numpy(float)
    gammaness = df["gammaness"].to_numpy(float)
    alt, az = df["reco_alt"].to_numpy(float), df["reco_az"].to_numpy(float)
    return {
        TRIGGER: trigger,
        SHOWER: shower,
        f"{ENERGY}/{prefixes['energy']}": reco(
            prefixes["energy"],
            {"energy": (energy, u.TeV)},
            np.isfinite(energy) & (energy > 0),
        ),
        f"{CLASSIFICATION}/{prefixes['classifier']}": reco(
            prefixes["classifier"], {"prediction": (gammaness, None)}, np.isfinite(gammaness)
        ),
        f"{GEOMETRY}/{prefixes['geometry']}": reco(
            prefixes["geometry"],
            {"alt": (alt, u.deg), "az": (az, u.deg)},
            np.isfinite(alt) & np.isfinite(az),
        ),
    }


def _reference(records):
    from ctapipe.io import DATA_MODEL_VERSION, DataLevel
    from ctapipe.io import metadata as meta

    return meta.Reference(
        contact=meta.Contact(),
        product=meta.Product(
            description="showerflow DL2 in ctapipe's DL2 layout",
            data_category="Sim",
            data_levels=[DataLevel.DL2],
            data_association="Subarray",
            data_model_name="ASWG",
            data_model_version=DATA_MODEL_VERSION,
            data_model_url="",
            format="hdf5",
        ),
        process=meta.Process(
            type_="Simulation", subtype="", id_=",".join(str(r["obs_id"]) for r in records)
        ),
        activity=meta.Activity(
            name="showerflow export-ctapipe",
            software_name="showerflow",
            software_version=__version__,
        ),
        instrument=meta.Instrument(),
    )


def write_ctapipe_dl2(dl2, output, prefixes=None, subarray=None, chunk_size=200_000):
    """Write a showerflow DL2 file in ctapipe's DL2 HDF5 layout (the module docstring).

    Parameters
    ----------
    dl2 : str or Path
        DL2 Parquet (per file or merged) with its simulation records.
    output : str or Path
        The ctapipe HDF5 file, written atomically.
    prefixes : dict, optional
        ``energy``, ``classifier``, ``geometry`` (default :data:`DEFAULT_PREFIXES`).
    subarray : str or Path or ctapipe.instrument.SubarrayDescription, optional
        The subarray to write (or a ctapipe file holding it); default: the first ctapipe
        DL1 input of the DL2, else :func:`placeholder_subarray`.
    chunk_size : int
        Events converted and appended at a time.

    Returns
    -------
    dict
        ``n_events``, ``n_runs``, ``particle``, ``n_showers`` (thrown, reuse included)
        and ``subarray`` (its name).

    Raises
    ------
    ContractError
        When the DL2 lacks columns or simulation records, a record carries a bookkeeping
        problem, or the records disagree (:func:`showerflow.performance.simulation_info`).
    """
    import tables
    from ctapipe.instrument import FocalLengthKind, SubarrayDescription
    from ctapipe.io import write_table
    from ctapipe.io.metadata import write_to_hdf5

    from .performance import simulation_info

    prefixes = {**DEFAULT_PREFIXES, **(prefixes or {})}
    meta = read_metadata(dl2)
    records = meta.get("simulation")
    if not isinstance(records, list) or not records:
        raise ContractError(
            dl2, "metadata has no 'simulation' records: ctapipe's IRF tools need the runs"
        )
    info = simulation_info(records, str(dl2))  # refuses disagreeing or flagged records
    particles = sorted({str(r["particle"]) for r in records})
    if len(particles) != 1 or particles[0] not in _PRIMARY_IDS:
        raise ContractError(dl2, f"records are of particles {particles}, expected one")
    particle = particles[0]
    pf = pq.ParquetFile(dl2)
    missing = [c for c in DL2_COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise ContractError(dl2, f"DL2 column(s) {missing} missing")
    max_mult = pq.read_table(dl2, columns=["multiplicity"]).column(0).to_numpy()
    max_mult = int(max_mult.max()) if len(max_mult) else 1

    if isinstance(subarray, (str, Path)):
        subarray = SubarrayDescription.from_hdf(
            subarray, focal_length_choice=FocalLengthKind.EQUIVALENT
        )
    if subarray is None:
        subarray = input_subarray(meta.get("inputs", []))
    if subarray is None or subarray.n_tels < max_mult:
        if subarray is not None:
            log.warning(
                "%s: subarray %s has %d telescopes, the DL2 multiplicity reaches %d: "
                "writing a placeholder subarray",
                dl2,
                subarray.name,
                subarray.n_tels,
                max_mult,
            )
        subarray = placeholder_subarray(max(max_mult, 1))
    known = {int(r["obs_id"]) for r in records}
    run, hist, obs = _run_table(records)

    n = 0
    with atomic_path(output) as tmp:
        with tables.open_file(str(tmp), "w") as h5:
            write_to_hdf5(_reference(records).to_dict(), h5)
            subarray.to_hdf(h5)
            write_table(run, h5, RUN)
            write_table(hist, h5, HISTOGRAM)
            write_table(obs, h5, OBSERVATION)
            for batch in pf.iter_batches(batch_size=chunk_size, columns=list(DL2_COLUMNS)):
                df = batch.to_pandas()
                orphans = sorted(set(df["obs_id"].unique().tolist()) - known)
                if orphans:
                    raise ContractError(
                        dl2, f"events of obs_id {orphans[:8]} have no simulation record"
                    )
                for path, table in _event_tables(df, particle, prefixes, subarray.n_tels).items():
                    write_table(table, h5, path, append=n > 0)
                n += len(df)
        if n == 0:
            raise ContractError(dl2, "no events to export")
    log.info("wrote %d %s events of %d runs to %s", n, particle, len(records), output)
    return {
        "n_events": n,
        "n_runs": len(records),
        "particle": particle,
        "n_showers": int(info.n_showers),
        "subarray": subarray.name,
    }


def quality_criteria(quality_cuts, prefixes=None):
    """showerflow's event quality cuts as ctapipe ``QualityQuery`` criteria.

    Parameters
    ----------
    quality_cuts : dict
        The performance config's ``quality_cuts`` (``multiplicity_min``,
        ``drop_non_finite``).
    prefixes : dict, optional
        As :func:`write_ctapipe_dl2`'s.

    Returns
    -------
    list of (str, str)
        ``(name, expression)`` on the columns of :func:`write_ctapipe_dl2`.
    """
    p = {**DEFAULT_PREFIXES, **(prefixes or {})}
    criteria = [
        (
            "multiplicity",
            f"np.count_nonzero({p['geometry']}_telescopes, axis=1) >= "
            f"{int(quality_cuts.get('multiplicity_min', 1))}",
        )
    ]
    if quality_cuts.get("drop_non_finite", True):
        criteria += [
            ("valid geometry", f"{p['geometry']}_is_valid"),
            ("valid energy", f"{p['energy']}_is_valid"),
            ("valid classifier", f"{p['classifier']}_is_valid"),
        ]
    return criteria


def write_ctapipe_cuts(cuts_file, output, quality_cuts, prefixes=None):
    """showerflow's cuts file as ctapipe's cuts file (``OptimizationResult``).

    Parameters
    ----------
    cuts_file : str or Path
        showerflow's cuts file (``irf/cuts.fits``, :func:`showerflow.performance.read_cuts`).
    output : str or Path
        The cuts FITS file, written atomically.
    quality_cuts : dict
        The performance config's ``quality_cuts`` (:func:`quality_criteria`).
    prefixes : dict, optional

    Returns
    -------
    ctapipe.irf.OptimizationResult
        Valid over the cuts file's ``VALIDITY`` ranges (their union in energy and offset).

    Raises
    ------
    showerflow.contracts.ContractError
        For cuts made per FoV-offset bin (ctapipe's cuts file holds one set for the field
        of view), or a cuts file valid nowhere.
    """
    import astropy.units as u
    from astropy.table import QTable
    from ctapipe.irf import OptimizationResult

    from .performance.cuts import read_cuts

    p = {**DEFAULT_PREFIXES, **(prefixes or {})}
    cuts = read_cuts(cuts_file)
    if cuts.meta["PEROFFS"]:
        raise ContractError(
            cuts_file,
            "its cuts are per FoV-offset bin (PEROFFS); ctapipe's cuts file holds one set "
            "of cuts for the field of view: export cuts optimised with "
            "performance cuts.per_offset: false",
        )
    v = cuts.validity
    e_lo = u.Quantity(v["energy_min"], u.TeV).value
    e_hi = u.Quantity(v["energy_max"], u.TeV).value
    if not (np.isfinite(e_lo).any() and np.isfinite(e_hi).any()):
        raise ContractError(
            cuts_file, "VALIDITY has no finite energy range: the cuts are valid nowhere"
        )
    result = OptimizationResult(
        valid_energy_min=np.nanmin(e_lo) * u.TeV,
        valid_energy_max=np.nanmax(e_hi) * u.TeV,
        valid_offset_min=u.Quantity(v["fov_offset_low"], u.deg).min(),
        valid_offset_max=u.Quantity(v["fov_offset_high"], u.deg).max(),
        gh_cuts=QTable({k: cuts.gh[k] for k in ("low", "high", "center", "cut")}),
        clf_prefix=p["classifier"],
        spatial_selection_table=QTable(
            {k: cuts.theta[k] for k in ("low", "high", "center", "cut")}
        ),
        quality_query=quality_criteria(quality_cuts, p),
    )
    with atomic_path(output) as tmp:
        result.write(tmp)
    return result
