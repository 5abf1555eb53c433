"""Performance stage: DL2 event lists -> cuts, sensitivity, IRFs and benchmarks (pyirf).

The procedure follows pyirf's EventDisplay example (``examples/calculate_eventdisplay_irfs.py``):

1. read DL2 (gammas, protons, electrons) and the simulation records travelling with it,
   apply event quality cuts (e.g. ``multiplicity >= 2``);
2. reweight each particle from its simulated power law to a target spectrum
   (Crab for gammas, cosmic-ray proton and electron spectra for the background)
   for the configured observation time;
3. a global gammaness cut at fixed gamma efficiency gives the first theta cuts
   (68 % containment per reconstructed-energy bin, clipped to [theta_min, theta_max]);
4. the gammaness cut is optimised per bin for the best sensitivity
   (:func:`pyirf.cut_optimization.optimize_gh_cut`);
5. the theta cut is recomputed on the gammas surviving the optimised gammaness cut;
6. the final point-source sensitivity (5 sigma Li & Ma, >= 10 excess events,
   excess >= 5 % of the background) and the GADF IRFs (effective area, energy dispersion,
   PSF, background, RAD_MAX) are computed with these cuts.

Everything works on :class:`astropy.table.QTable` event lists with units (TeV, deg) and the
column names pyirf expects (``true_energy``, ``reco_energy``, ``gh_score``, ``theta``,
``true_source_fov_offset``, ``reco_source_fov_offset``, ``weight``, ...).
"""

from __future__ import annotations

import copy
import gzip
import io
import logging
import operator
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import yaml
from astropy.io import fits
from astropy.table import QTable, vstack
from pyirf.benchmarks import angular_resolution, energy_bias_resolution
from pyirf.binning import (
    add_overflow_bins,
    bin_center,
    create_bins_per_decade,
    create_histogram_table,
)
from pyirf.cut_optimization import optimize_gh_cut
from pyirf.cuts import calculate_percentile_cut, evaluate_binned_cut
from pyirf.io import (
    create_aeff2d_hdu,
    create_background_2d_hdu,
    create_energy_dispersion_hdu,
    create_psf_table_hdu,
    create_rad_max_hdu,
)
from pyirf.irf import background_2d, effective_area_per_energy, energy_dispersion, psf_table
from pyirf.sensitivity import calculate_sensitivity, estimate_background
from pyirf.simulations import SimulatedEventsInfo
from pyirf.spectral import (
    CRAB_HEGRA,
    CRAB_MAGIC_JHEAP2015,
    DIFFUSE_FLUX_UNIT,
    IRFDOC_ELECTRON_SPECTRUM,
    IRFDOC_PROTON_SPECTRUM,
    PDG_ALL_PARTICLE,
    DAMPE_P_He_SPECTRUM,
    PowerLaw,
    calculate_event_weights,
)
from pyirf.utils import calculate_source_fov_offset, calculate_theta, cone_solid_angle

from .config import ConfigError, validate
from .contracts import (
    BOOKKEEPING_KEYS,
    BOOKKEEPING_PROBLEM,
    DL2_COLUMNS,
    PARTICLES,
    SIMULATION_COLUMNS,
    ContractError,
)
from .tables import atomic_path, read_table

__all__ = [
    "SPECTRA",
    "SCHEMA_PATH",
    "OUTPUT_NAMES",
    "FLUX_UNIT",
    "ENERGY_FLUX_UNIT",
    "load_performance_config",
    "validate_performance_config",
    "default_performance_config",
    "make_bins",
    "gh_cut_efficiencies",
    "resolve_spectrum",
    "simulation_info",
    "to_event_table",
    "apply_quality_cuts",
    "event_weights",
    "prepare_events",
    "read_dl2",
    "add_flux_sensitivity",
    "sensitivity_for_cuts",
    "optimise_cuts",
    "effective_area_table",
    "background_rate_table",
    "compute_irfs",
    "benchmarks",
    "run_performance",
    "write_fits",
    "write_ecsv",
    "write_outputs",
]

log = logging.getLogger(__name__)

#: Target spectra by name (pyirf.spectral).
SPECTRA = {
    "CRAB_HEGRA": CRAB_HEGRA,
    "CRAB_MAGIC_JHEAP2015": CRAB_MAGIC_JHEAP2015,
    "IRFDOC_PROTON_SPECTRUM": IRFDOC_PROTON_SPECTRUM,
    "IRFDOC_ELECTRON_SPECTRUM": IRFDOC_ELECTRON_SPECTRUM,
    "PDG_ALL_PARTICLE": PDG_ALL_PARTICLE,
    "DAMPE_P_He_SPECTRUM": DAMPE_P_He_SPECTRUM,
}

#: The JSON schema of the performance config (the package copy is the one loaded;
#: ``config/schemas/performance.schema.yaml`` links to it).
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "performance.schema.yaml"

#: Default file names of :func:`write_outputs` inside an output folder.
OUTPUT_NAMES = {
    "irf": "irf.fits.gz",
    "sensitivity": "sensitivity.ecsv",
    "angular_resolution": "angular_resolution.ecsv",
    "energy_bias_resolution": "energy_bias_resolution.ecsv",
}

#: Unit of the differential flux sensitivity.
FLUX_UNIT = u.Unit("TeV-1 cm-2 s-1")
#: Unit of the E²-weighted sensitivity.
ENERGY_FLUX_UNIT = u.Unit("erg cm-2 s-1")

#: DL2 columns the performance stage reads.
_DL2_NEEDED = tuple(DL2_COLUMNS)

#: DL2 column -> unit of the event table.
_UNITS = {
    "true_energy": u.TeV,
    "reco_energy": u.TeV,
    "true_alt": u.deg,
    "true_az": u.deg,
    "reco_alt": u.deg,
    "reco_az": u.deg,
    "pointing_alt": u.deg,
    "pointing_az": u.deg,
}


# --------------------------------------------------------------------------- config


def _check_ranges(cfg, path):
    """Checks a JSON schema cannot express: ordered bounds and increasing edges."""
    problems = []
    binning = cfg["binning"]
    for name in ("reco_energy", "true_energy", "migration"):
        if binning[name]["min"] >= binning[name]["max"]:
            problems.append(f"key 'binning.{name}': min must be smaller than max")
    for name in ("fov_offset", "background_fov_offset"):
        if np.any(np.diff(binning[name]) <= 0):
            problems.append(f"key 'binning.{name}': edges must increase strictly")
    effs = cfg["cuts"]["gh_cut_efficiencies"]
    if effs["min"] > effs["max"]:
        problems.append("key 'cuts.gh_cut_efficiencies': min must not exceed max")
    if cfg["cuts"]["theta_min"] >= cfg["cuts"]["theta_max"]:
        problems.append("key 'cuts.theta_min': must be smaller than cuts.theta_max")
    if cfg["fov_offset_min"] >= cfg["fov_offset_max"]:
        problems.append("key 'fov_offset_min': must be smaller than fov_offset_max")
    if problems:
        raise ContractError(path, "; ".join(problems))


def validate_performance_config(cfg, path="<performance config>"):
    """Validate a performance config and fill in the defaults of the schema.

    Parameters
    ----------
    cfg : dict or None
        The (possibly partial) configuration.
    path : str, optional
        Where it came from, for error messages.

    Returns
    -------
    dict
        A new, complete configuration.

    Raises
    ------
    showerflow.contracts.ContractError
        Naming the offending key and what is allowed there.
    """
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ContractError(path, f"expected a mapping of settings, got {type(cfg).__name__}")
    try:
        filled = validate(copy.deepcopy(cfg), "performance", source=path)
    except ConfigError as err:
        raise ContractError(path, str(err).removeprefix(f"{path}: ")) from err
    _check_ranges(filled, path)
    return filled


def load_performance_config(path=None):
    """Read a performance config (YAML), validate it and fill in the defaults.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; ``None`` gives the defaults.

    Returns
    -------
    dict

    Raises
    ------
    showerflow.contracts.ContractError
        If the file is not YAML or breaks the schema (the message names the key and
        what is allowed).
    """
    if path is None:
        return validate_performance_config({}, "<defaults>")
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ContractError(path, f"not valid YAML ({err})") from err
    return validate_performance_config(cfg, str(path))


def default_performance_config():
    """Return the default performance configuration (all schema defaults).

    Returns
    -------
    dict
    """
    return load_performance_config(None)


def _energy_bins(spec):
    edges = create_bins_per_decade(
        spec["min"] * u.TeV, spec["max"] * u.TeV, spec["bins_per_decade"]
    )
    return add_overflow_bins(edges) if spec["overflow"] else edges


def make_bins(cfg):
    """Bin edges of the configuration as quantities.

    Parameters
    ----------
    cfg : dict
        Validated performance config.

    Returns
    -------
    dict
        ``reco_energy``, ``true_energy`` [TeV], ``migration`` (plain array),
        ``source_offset``, ``fov_offset``, ``background_fov_offset`` [deg].
    """
    b = cfg["binning"]
    mig = b["migration"]
    src = b["source_offset"]
    return {
        "reco_energy": _energy_bins(b["reco_energy"]),
        "true_energy": _energy_bins(b["true_energy"]),
        "migration": np.geomspace(mig["min"], mig["max"], mig["n_bins"] + 1),
        "source_offset": np.linspace(0, src["max"], src["n_bins"] + 1) * u.deg,
        "fov_offset": np.asarray(b["fov_offset"], dtype=float) * u.deg,
        "background_fov_offset": np.asarray(b["background_fov_offset"], dtype=float) * u.deg,
    }


def gh_cut_efficiencies(cfg):
    """Gamma efficiencies scanned by the gammaness cut optimisation (inclusive grid).

    Parameters
    ----------
    cfg : dict
        Validated performance config.

    Returns
    -------
    numpy.ndarray
    """
    spec = cfg["cuts"]["gh_cut_efficiencies"]
    grid = np.arange(spec["min"], spec["max"] + spec["step"] / 2, spec["step"])
    return np.round(grid[grid <= 1.0], 10)


# --------------------------------------------------------------------------- events


def resolve_spectrum(spectrum):
    """Return a pyirf spectrum from its name in :data:`SPECTRA` (or pass a callable through).

    Parameters
    ----------
    spectrum : str or callable

    Returns
    -------
    callable
        ``energy -> flux``.
    """
    if isinstance(spectrum, str):
        try:
            return SPECTRA[spectrum]
        except KeyError:
            raise ValueError(
                f"unknown spectrum {spectrum!r}; allowed: {', '.join(SPECTRA)}"
            ) from None
    if not callable(spectrum):
        raise TypeError(f"spectrum must be a name or a callable, got {spectrum!r}")
    return spectrum


def _group_obs_ids(records, key):
    """Distinct values of ``key`` -> obs_ids having it (floats compared with tolerance)."""
    groups = []
    for record in records:
        value = record[key]
        for group in groups:
            same = (
                np.isclose(float(group[0]), float(value), rtol=1e-6, atol=0)
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                else group[0] == value
            )
            if same:
                group[1].append(record["obs_id"])
                break
        else:
            groups.append((value, [record["obs_id"]]))
    return groups


def _list_ids(ids, limit=8):
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … ({len(ids)} runs)" if len(ids) > limit else "")


def simulation_info(records, path=""):
    """Combine the per-run simulation records of one particle into a SimulatedEventsInfo.

    The number of showers is the sum of ``n_showers * shower_reuse`` over the runs; the
    bookkeeping keys (particle, energy range, spectral index, scatter range, view cone)
    must agree between runs.

    Parameters
    ----------
    records : list of dict
        Simulation records with the keys of ``contracts.SIMULATION_COLUMNS``.
    path : str, optional
        File the records came from, for error messages.

    Returns
    -------
    pyirf.simulations.SimulatedEventsInfo

    Raises
    ------
    showerflow.contracts.ContractError
        If there are no records, a key is missing, a record carries a
        ``bookkeeping_problem`` (its header disagrees with its thrown-shower histogram, or
        the file is an excerpt), an obs_id is repeated, or the runs disagree on a
        bookkeeping key (the message names the key, the values and the
        obs_ids holding each value).
    """
    if not records:
        raise ContractError(
            path,
            "no simulation records (metadata 'simulation' is empty): the number of "
            "simulated showers is unknown, so weights and effective areas cannot be computed",
        )
    for record in records:
        missing = [k for k in SIMULATION_COLUMNS if k not in record]
        if missing:
            raise ContractError(
                path,
                f"simulation record of obs_id {record.get('obs_id', '?')} lacks "
                f"{missing}; expected keys {list(SIMULATION_COLUMNS)}",
            )
    for record in records:
        problem = record.get(BOOKKEEPING_PROBLEM)
        if isinstance(problem, str) and problem:
            raise ContractError(
                path,
                f"simulation record of obs_id {record.get('obs_id', '?')}: "
                f"{problem}. The number of thrown showers behind its "
                "events is not known, so weights, effective areas and IRFs cannot be "
                "computed from it (leave the file out of the performance datasets)",
            )
    for record in records:
        lacking = [
            k
            for k in SIMULATION_COLUMNS
            if k != "particle" and (record[k] is None or not np.isfinite(float(record[k])))
        ]
        if lacking:
            raise ContractError(
                path,
                f"simulation record of particle {record.get('particle', '?')!r} has no value for "
                f"{lacking}: its input format does not record the simulation bookkeeping "
                "(e.g. a per-event table), so weights, effective areas and IRFs cannot be "
                "computed from it",
            )
    obs_ids = [r["obs_id"] for r in records]
    repeated = sorted({i for i in obs_ids if obs_ids.count(i) > 1})
    if repeated:
        raise ContractError(
            path,
            f"simulation records repeat obs_id {_list_ids(repeated)}: a run counted twice "
            "would double its showers",
        )
    for key in BOOKKEEPING_KEYS:
        groups = _group_obs_ids(records, key)
        if len(groups) > 1:
            detail = "; ".join(f"{v!r} in obs_id {_list_ids(ids)}" for v, ids in groups)
            raise ContractError(
                path,
                f"simulation records disagree on '{key}': {detail}. Runs simulated with "
                f"different {key} cannot be combined into one dataset",
            )
    for key in ("zenith", "azimuth"):
        if len(_group_obs_ids(records, key)) > 1:
            log.warning("%s: runs have different pointing %s; IRFs will average them", path, key)

    first = records[0]
    n_showers = int(sum(int(r["n_showers"]) * int(r["shower_reuse"]) for r in records))
    try:
        return SimulatedEventsInfo(
            n_showers=n_showers,
            energy_min=float(first["energy_min"]) * u.TeV,
            energy_max=float(first["energy_max"]) * u.TeV,
            max_impact=float(first["max_scatter_range"]) * u.m,
            spectral_index=float(first["spectral_index"]),
            viewcone_min=float(first["viewcone_min"]) * u.deg,
            viewcone_max=float(first["viewcone_max"]) * u.deg,
        )
    except ValueError as err:
        raise ContractError(path, f"invalid simulation bookkeeping: {err}") from err


def to_event_table(df, path=""):
    """Convert a DL2 DataFrame into a pyirf event list (QTable with units).

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows with the columns of ``contracts.DL2_COLUMNS``.
    path : str, optional
        File the rows came from, for error messages.

    Returns
    -------
    astropy.table.QTable
        ``obs_id``, ``event_id``, ``true_energy``, ``reco_energy`` [TeV], ``gh_score``
        (the gammaness), ``true_alt``, ``true_az``, ``reco_alt``, ``reco_az``,
        ``pointing_alt``, ``pointing_az`` [deg], ``multiplicity``.
    """
    missing = [c for c in _DL2_NEEDED if c not in df.columns]
    if missing:
        raise ContractError(
            path or "<DL2 table>",
            f"DL2 column(s) {missing} missing; the table has {sorted(df.columns)}",
        )
    table = QTable()
    table["obs_id"] = df["obs_id"].to_numpy(np.int64)
    table["event_id"] = df["event_id"].to_numpy(np.int64)
    for col in ("true_energy", "reco_energy"):
        table[col] = df[col].to_numpy(float) * _UNITS[col]
    table["gh_score"] = df["gammaness"].to_numpy(float)
    for col in ("true_alt", "true_az", "reco_alt", "reco_az", "pointing_alt", "pointing_az"):
        table[col] = df[col].to_numpy(float) * _UNITS[col]
    table["multiplicity"] = df["multiplicity"].to_numpy(np.int64)
    return table


def apply_quality_cuts(df, quality_cfg):
    """Apply the event quality cuts of the config to a DL2 DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows.
    quality_cfg : dict
        ``{"multiplicity_min": int, "drop_non_finite": bool}``.

    Returns
    -------
    pandas.DataFrame
        The rows passing the cuts.
    """
    mask = np.ones(len(df), dtype=bool)
    mask &= df["multiplicity"].to_numpy() >= quality_cfg.get("multiplicity_min", 1)
    if quality_cfg.get("drop_non_finite", True):
        for col in ("reco_energy", "gammaness", "reco_alt", "reco_az"):
            mask &= np.isfinite(df[col].to_numpy(float))
        mask &= df["reco_energy"].to_numpy(float) > 0
    log.info("quality cuts keep %d of %d events", int(mask.sum()), len(df))
    return df[mask].reset_index(drop=True)


class _ConeIntegrated:
    """A diffuse spectrum integrated over a cone of directions (keeps the spectral shape).

    pyirf's ``PowerLaw.integrate_cone`` does the same for power laws only; this wrapper
    also keeps e.g. the Gaussian bump of the IRF-document electron spectrum.
    """

    def __init__(self, spectrum, inner, outer):
        self.spectrum = spectrum
        self.solid_angle = cone_solid_angle(outer) - cone_solid_angle(inner)

    def __call__(self, energy):
        return self.spectrum(energy) * self.solid_angle

    def __repr__(self):
        return f"{self.spectrum!r} * {self.solid_angle:.4g}"


def _is_diffuse_flux(spectrum):
    return u.Quantity(spectrum(1 * u.TeV)).unit.is_equivalent(DIFFUSE_FLUX_UNIT)


def event_weights(true_energy, info, target_spectrum, obs_time, particle=""):
    """Weights that reweight simulated events to a target spectrum and observation time.

    The simulated spectrum is the power law of :meth:`pyirf.spectral.PowerLaw.from_simulation`.
    For diffuse simulations (view cone wider than zero) the target spectrum (per sr) and the
    simulated spectrum are both integrated over the simulated cone, as in pyirf's example.

    Parameters
    ----------
    true_energy : astropy.units.Quantity
        True energies of the events.
    info : pyirf.simulations.SimulatedEventsInfo
        Simulation bookkeeping of the dataset.
    target_spectrum : callable
        ``energy -> flux`` (point-source flux for point-like, per-sr flux for diffuse
        simulations).
    obs_time : astropy.units.Quantity
        Observation time.
    particle : str, optional
        For error messages.

    Returns
    -------
    numpy.ndarray
        One weight per event: the number of events of this kind expected in ``obs_time``
        that each simulated event stands for.
    """
    simulated = PowerLaw.from_simulation(info, obstime=obs_time)
    diffuse_sim = (info.viewcone_max - info.viewcone_min).to_value(u.deg) > 0
    diffuse_target = _is_diffuse_flux(target_spectrum)
    if diffuse_sim != diffuse_target:
        sim_kind = (
            f"diffuse (view cone {info.viewcone_min:.3g} – {info.viewcone_max:.3g})"
            if diffuse_sim
            else "point-like"
        )
        target_kind = "a diffuse (per sr)" if diffuse_target else "a point-source"
        raise ValueError(
            f"{particle or 'events'}: simulation is {sim_kind} but the target spectrum "
            f"{target_spectrum!r} is {target_kind} flux; use a matching spectrum"
        )
    if diffuse_sim:
        target_spectrum = _ConeIntegrated(target_spectrum, info.viewcone_min, info.viewcone_max)
        simulated = simulated.integrate_cone(info.viewcone_min, info.viewcone_max)
    return calculate_event_weights(true_energy, target_spectrum, simulated)


def prepare_events(df, records, spectrum, obs_time, path=""):
    """Turn DL2 rows of one particle into a weighted pyirf event list.

    Parameters
    ----------
    df : pandas.DataFrame
        DL2 rows (quality cuts already applied).
    records : list of dict
        Simulation records of the runs the rows came from.
    spectrum : str or callable
        Target spectrum, a name of :data:`SPECTRA` or a pyirf spectrum.
    obs_time : astropy.units.Quantity or float
        Observation time (a float is taken in hours).
    path : str, optional
        File the rows came from, for error messages.

    Returns
    -------
    astropy.table.QTable
        The columns of :func:`to_event_table` plus ``weight``, ``particle_type``,
        ``theta`` (distance of the reconstructed direction from the assumed source
        position, the pointing: on-axis observations), ``true_source_fov_offset`` and
        ``reco_source_fov_offset`` [deg].
    """
    info = simulation_info(records, path)
    particle = str(records[0]["particle"])
    events = to_event_table(df, path)
    obs_time = u.Quantity(obs_time, u.h)
    target = resolve_spectrum(spectrum)
    events["weight"] = event_weights(events["true_energy"], info, target, obs_time, particle)
    events["particle_type"] = np.full(len(events), particle)
    events["theta"] = calculate_theta(
        events,
        assumed_source_az=events["pointing_az"],
        assumed_source_alt=events["pointing_alt"],
    )
    for prefix in ("true", "reco"):
        events[f"{prefix}_source_fov_offset"] = calculate_source_fov_offset(events, prefix=prefix)
    events.meta.update(
        particle=particle,
        spectrum=spectrum if isinstance(spectrum, str) else repr(spectrum),
        n_showers=int(info.n_showers),
    )
    log.info("%s: %d events, simulation %s", particle, len(events), info)
    return events


def _as_list(paths):
    if isinstance(paths, (str, Path)):
        return [paths]
    return list(paths)


def read_dl2(paths, particle=None):
    """Read one or more DL2 files of one particle with their simulation records.

    Parameters
    ----------
    paths : str, Path or list of them
    particle : str, optional
        Expected particle; the records must say the same.

    Returns
    -------
    (pandas.DataFrame, list of dict, str)
        Rows, simulation records, and a label naming the file(s) for messages.
    """
    paths = _as_list(paths)
    if not paths:
        raise ValueError(f"no DL2 files given for {particle or 'a particle'}")
    frames, records = [], []
    for path in paths:
        df, meta = read_table(path, required=_DL2_NEEDED)
        recs = meta.get("simulation")
        if not isinstance(recs, list) or not recs:
            raise ContractError(
                path,
                "metadata has no 'simulation' records (a list of per-run records with "
                f"keys {list(SIMULATION_COLUMNS)}); DL2 without them cannot give IRFs",
            )
        particles = sorted({str(r.get("particle")) for r in recs})
        if particle is not None and particles != [particle]:
            raise ContractError(
                path, f"simulation records are for particle(s) {particles}, expected '{particle}'"
            )
        known = {r.get("obs_id") for r in recs}
        orphans = sorted(set(df["obs_id"].unique().tolist()) - known)
        if orphans:
            raise ContractError(
                path,
                f"events of obs_id {_list_ids(orphans)} have no simulation record "
                f"(records cover obs_id {_list_ids(sorted(known))})",
            )
        frames.append(df)
        records.extend(recs)
    label = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df, records, label


# --------------------------------------------------------------------------- cuts, sensitivity


def _theta_cut(gammas, mask, cfg, reco_bins):
    cuts = cfg["cuts"]
    return calculate_percentile_cut(
        gammas["theta"][mask],
        gammas["reco_energy"][mask],
        bins=reco_bins,
        percentile=cuts["theta_containment"],
        min_value=cuts["theta_min"] * u.deg,
        max_value=cuts["theta_max"] * u.deg,
        fill_value=cuts["theta_max"] * u.deg,
        min_events=cuts["min_events_per_bin"],
    )


def _without_particle_type(events):
    """The events without ``particle_type``.

    pyirf adds per-particle columns only for particles present after the cuts, which
    makes tables of different cuts incompatible (optimize_gh_cut then fails).
    """
    if "particle_type" not in events.colnames:
        return events
    # a new table sharing the columns' data (events[[names]] would copy every column)
    return QTable(
        [events[c] for c in events.colnames if c != "particle_type"],
        copy=False,
        meta=events.meta,
    )


def _gh_mask(events, gh_cuts):
    return evaluate_binned_cut(events["gh_score"], events["reco_energy"], gh_cuts, operator.ge)


def _theta_mask(events, theta_cuts):
    return evaluate_binned_cut(events["theta"], events["reco_energy"], theta_cuts, operator.le)


def add_flux_sensitivity(sensitivity, spectrum):
    """Add ``flux_sensitivity`` and ``energy_flux_sensitivity`` (E²·F) columns in place.

    ``flux_sensitivity = relative_sensitivity * spectrum(reco_energy_center)`` as in pyirf's
    example; both are NaN in the under/overflow bins (no finite energy).

    Parameters
    ----------
    sensitivity : astropy.table.QTable
        Output of :func:`pyirf.sensitivity.calculate_sensitivity`.
    spectrum : callable
        The reference (gamma target) spectrum.

    Returns
    -------
    astropy.table.QTable
        ``sensitivity``, for chaining.
    """
    low = sensitivity["reco_energy_low"]
    high = sensitivity["reco_energy_high"]
    regular = np.isfinite(high) & (low > 0 * u.TeV)
    energy = sensitivity["reco_energy_center"].copy()
    energy[~regular] = 1 * u.TeV  # placeholder, masked below
    with np.errstate(invalid="ignore", over="ignore"):
        flux = (sensitivity["relative_sensitivity"] * spectrum(energy)).to(FLUX_UNIT)
        flux[~regular] = np.nan
        e2f = (energy**2 * flux).to(ENERGY_FLUX_UNIT)
    sensitivity["flux_sensitivity"] = flux
    sensitivity["energy_flux_sensitivity"] = e2f
    return sensitivity


def sensitivity_for_cuts(gammas, background, gh_cuts, theta_cuts, cfg):
    """Point-source sensitivity of weighted events for given gammaness and theta cuts.

    Parameters
    ----------
    gammas, background : astropy.table.QTable
        Weighted event lists (:func:`prepare_events`), no cuts applied.
    gh_cuts, theta_cuts : astropy.table.QTable
        Binned cuts (columns ``low``, ``high``, ``center``, ``cut``).
    cfg : dict
        Validated performance config.

    Returns
    -------
    astropy.table.QTable
        pyirf's sensitivity table plus ``flux_sensitivity`` [TeV⁻¹ cm⁻² s⁻¹] and
        ``energy_flux_sensitivity`` [erg cm⁻² s⁻¹].
    """
    reco_bins = make_bins(cfg)["reco_energy"]
    signal = _without_particle_type(
        gammas[_gh_mask(gammas, gh_cuts) & _theta_mask(gammas, theta_cuts)]
    )
    signal_hist = create_histogram_table(signal, reco_bins, "reco_energy")
    selected = background[_gh_mask(background, gh_cuts)]

    def background_hist(events):
        return estimate_background(
            _without_particle_type(events),
            reco_energy_bins=reco_bins,
            theta_cuts=theta_cuts,
            alpha=cfg["alpha"],
            fov_offset_min=cfg["fov_offset_min"] * u.deg,
            fov_offset_max=cfg["fov_offset_max"] * u.deg,
        )

    sensitivity = calculate_sensitivity(
        signal_hist, background_hist(selected), alpha=cfg["alpha"], **cfg["sensitivity"]
    )
    # per-particle background counts, the same columns whatever survives the cuts
    if "particle_type" in selected.colnames:
        kinds = np.asarray(selected["particle_type"])
        for particle in np.unique(np.asarray(background["particle_type"])).tolist():
            hist = background_hist(selected[kinds == particle])
            sensitivity[f"n_{particle}"] = hist["n"]
            sensitivity[f"n_{particle}_weighted"] = hist["n_weighted"]
    add_flux_sensitivity(sensitivity, resolve_spectrum(cfg["spectra"]["gamma"]))
    _set_meta(sensitivity, cfg)
    return sensitivity


def _set_meta(table, cfg):
    table.meta.update(
        OBS_TIME=float(cfg["observation_time"]),
        ALPHA=float(cfg["alpha"]),
        SPECTRUM=str(cfg["spectra"]["gamma"]),
    )
    return table


def optimise_cuts(gammas, background, cfg):
    """Optimise gammaness and theta cuts for the best sensitivity (pyirf EventDisplay way).

    1. a global gammaness cut keeping ``initial_gh_cut_efficiency`` of the gammas;
    2. theta cut = ``theta_containment`` percentile of these gammas per reco-energy bin,
       clipped to [theta_min, theta_max];
    3. :func:`pyirf.cut_optimization.optimize_gh_cut` picks, per bin, the gamma efficiency
       of the gammaness cut with the best sensitivity;
    4. the theta cut is recomputed on the gammas passing the optimised gammaness cut;
    5. the sensitivity is recomputed with the final cuts.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Weighted gamma events (point-like, :func:`prepare_events`).
    background : astropy.table.QTable
        Weighted background events (protons and electrons stacked).
    cfg : dict
        Validated performance config.

    Returns
    -------
    (QTable, QTable, QTable)
        ``gh_cuts`` (``low``, ``center``, ``high``, ``cut``, ``efficiency``),
        ``theta_cuts`` (``low``, ``high``, ``center``, ``n_events``, ``cut`` [deg]) and
        ``sensitivity`` (see :func:`sensitivity_for_cuts`), all in reco-energy bins.
    """
    if len(gammas) == 0:
        raise ValueError("no gamma events left: cannot optimise cuts")
    reco_bins = make_bins(cfg)["reco_energy"]
    initial_eff = cfg["cuts"]["initial_gh_cut_efficiency"]
    initial_gh_cut = np.quantile(gammas["gh_score"], 1 - initial_eff)
    log.info(
        "initial gammaness cut %.4f (%.0f %% gamma efficiency) for the first theta cuts",
        initial_gh_cut,
        100 * initial_eff,
    )
    theta_cuts_initial = _theta_cut(gammas, gammas["gh_score"] >= initial_gh_cut, cfg, reco_bins)

    efficiencies = gh_cut_efficiencies(cfg)
    log.info("optimising the gammaness cut over %d efficiencies", len(efficiencies))
    _, gh_cuts = optimize_gh_cut(
        _without_particle_type(gammas),
        _without_particle_type(background),
        reco_energy_bins=reco_bins,
        gh_cut_efficiencies=efficiencies,
        theta_cuts=theta_cuts_initial,
        op=operator.ge,
        fov_offset_min=cfg["fov_offset_min"] * u.deg,
        fov_offset_max=cfg["fov_offset_max"] * u.deg,
        alpha=cfg["alpha"],
        progress=False,
        **cfg["sensitivity"],
    )
    theta_cuts = _theta_cut(gammas, _gh_mask(gammas, gh_cuts), cfg, reco_bins)
    sensitivity = sensitivity_for_cuts(gammas, background, gh_cuts, theta_cuts, cfg)
    return gh_cuts, theta_cuts, sensitivity


# --------------------------------------------------------------------------- IRFs


def _selection_masks(gammas, gh_cuts, theta_cuts):
    gh = _gh_mask(gammas, gh_cuts)
    theta = _theta_mask(gammas, theta_cuts)
    return {
        "": gh & theta,
        "_NO_CUTS": np.ones(len(gammas), dtype=bool),
        "_ONLY_GH": gh,
        "_ONLY_THETA": theta,
    }


def effective_area_table(gammas, gh_cuts, theta_cuts, info, cfg):
    """Effective area in true-energy bins, with all cuts, no cuts, only gh, only theta.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Gamma events (quality cuts applied, no gh/theta cut).
    gh_cuts, theta_cuts : astropy.table.QTable
        Binned cuts.
    info : pyirf.simulations.SimulatedEventsInfo
        Gamma simulation bookkeeping.
    cfg : dict
        Validated performance config.

    Returns
    -------
    astropy.table.QTable
        ``true_energy_low``, ``true_energy_high``, ``true_energy_center`` [TeV],
        ``effective_area``, ``effective_area_no_cuts``, ``effective_area_only_gh``,
        ``effective_area_only_theta`` [m²].
    """
    true_bins = make_bins(cfg)["true_energy"]
    table = QTable()
    table["true_energy_low"] = true_bins[:-1]
    table["true_energy_high"] = true_bins[1:]
    table["true_energy_center"] = bin_center(true_bins)
    for label, mask in _selection_masks(gammas, gh_cuts, theta_cuts).items():
        # the underflow bin starts at 0 TeV: 0**index is infinite, harmless here
        with np.errstate(invalid="ignore", divide="ignore"):
            aeff = effective_area_per_energy(gammas[mask], info, true_energy_bins=true_bins)
        table["effective_area" + label.lower()] = np.nan_to_num(aeff.to(u.m**2), posinf=0.0)
    return table


def background_rate_table(background, gh_cuts, cfg):
    """Background rate after the gammaness cut inside the background ring, per reco energy.

    Parameters
    ----------
    background : astropy.table.QTable
        Weighted background events.
    gh_cuts : astropy.table.QTable
        Binned gammaness cut.
    cfg : dict
        Validated performance config.

    Returns
    -------
    astropy.table.QTable
        ``reco_energy_low``, ``reco_energy_high``, ``reco_energy_center`` [TeV],
        ``background_rate`` [s⁻¹ TeV⁻¹ sr⁻¹] (fov offset between ``fov_offset_min`` and
        ``fov_offset_max``), ``n_events`` (unweighted).
    """
    reco_bins = make_bins(cfg)["reco_energy"]
    ring = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    selected = background[_gh_mask(background, gh_cuts)]
    rate = background_2d(selected, reco_bins, ring, t_obs=cfg["observation_time"] * u.h)
    in_ring = (selected["reco_source_fov_offset"] >= ring[0]) & (
        selected["reco_source_fov_offset"] < ring[1]
    )
    table = QTable()
    table["reco_energy_low"] = reco_bins[:-1]
    table["reco_energy_high"] = reco_bins[1:]
    table["reco_energy_center"] = bin_center(reco_bins)
    table["background_rate"] = rate[:, 0]
    table["n_events"] = np.histogram(
        selected["reco_energy"][in_ring].to_value(u.TeV), reco_bins.to_value(u.TeV)
    )[0]
    return _set_meta(table, cfg)


def _table_hdu(table, name):
    hdu = fits.table_to_hdu(table)
    hdu.name = name
    return hdu


def compute_irfs(
    gammas,
    background,
    gh_cuts,
    theta_cuts,
    simulation_info,
    cfg,
    sensitivity=None,
    extra_tables=None,
    aeff_table=None,
):
    """Compute point-like IRFs in GADF format, as pyirf's example writes them.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Weighted, point-like (on-axis) gamma events, no gh/theta cut applied.
    background : astropy.table.QTable
        Weighted background events, no gh cut applied.
    gh_cuts, theta_cuts : astropy.table.QTable
        Binned cuts from :func:`optimise_cuts`.
    simulation_info : pyirf.simulations.SimulatedEventsInfo
        Gamma simulation bookkeeping.
    cfg : dict
        Validated performance config.
    sensitivity : astropy.table.QTable, optional
        Added as a ``SENSITIVITY`` table HDU.
    extra_tables : dict of str -> QTable, optional
        More table HDUs by name (e.g. ``ANGULAR_RESOLUTION``).
    aeff_table : astropy.table.QTable, optional
        :func:`effective_area_table` of the same events and cuts, if already computed.

    Returns
    -------
    astropy.io.fits.HDUList
        PRIMARY, [SENSITIVITY], THETA_CUTS, GH_CUTS, EFFECTIVE_AREA, ENERGY_DISPERSION
        (and their ``_NO_CUTS``, ``_ONLY_GH``, ``_ONLY_THETA`` variants), BACKGROUND, PSF,
        RAD_MAX, then the extra tables.
    """
    bins = make_bins(cfg)
    true_bins, reco_bins = bins["true_energy"], bins["reco_energy"]
    fov_bins, migration_bins = bins["fov_offset"], bins["migration"]
    n_fov = len(fov_bins) - 1

    primary = fits.PrimaryHDU()
    primary.header["CREATOR"] = "showerflow"
    primary.header["OBS_TIME"] = (float(cfg["observation_time"]), "hours")
    hdus = [primary]
    if sensitivity is not None:
        hdus.append(_table_hdu(sensitivity, "SENSITIVITY"))
    hdus.append(_table_hdu(theta_cuts, "THETA_CUTS"))
    hdus.append(_table_hdu(gh_cuts, "GH_CUTS"))

    masks = _selection_masks(gammas, gh_cuts, theta_cuts)
    if aeff_table is None:
        aeff_table = effective_area_table(gammas, gh_cuts, theta_cuts, simulation_info, cfg)
    for label, mask in masks.items():
        point_like = label in ("", "_ONLY_THETA")
        aeff = aeff_table["effective_area" + label.lower()]
        # on-axis gammas: the same effective area in every fov-offset bin
        aeff_2d = np.repeat(aeff[:, np.newaxis], n_fov, axis=1)
        hdus.append(
            create_aeff2d_hdu(
                aeff_2d,
                true_bins,
                fov_bins,
                extname="EFFECTIVE_AREA" + label,
                point_like=point_like,
            )
        )
        edisp = energy_dispersion(
            gammas[mask],
            true_energy_bins=true_bins,
            fov_offset_bins=fov_bins,
            migration_bins=migration_bins,
        )
        hdus.append(
            create_energy_dispersion_hdu(
                edisp,
                true_energy_bins=true_bins,
                migration_bins=migration_bins,
                fov_offset_bins=fov_bins,
                point_like=point_like,
                extname="ENERGY_DISPERSION" + label,
            )
        )

    bg_selected = background[_gh_mask(background, gh_cuts)]
    bg_rate = background_2d(
        bg_selected,
        reco_bins,
        fov_offset_bins=bins["background_fov_offset"],
        t_obs=cfg["observation_time"] * u.h,
    )
    hdus.append(create_background_2d_hdu(bg_rate, reco_bins, bins["background_fov_offset"]))

    psf = psf_table(
        gammas[masks["_ONLY_GH"]],
        true_bins,
        source_offset_bins=bins["source_offset"],
        fov_offset_bins=fov_bins,
    )
    hdus.append(create_psf_table_hdu(psf, true_bins, bins["source_offset"], fov_bins))

    theta_bins = np.append(theta_cuts["low"], theta_cuts["high"][-1])
    rad_max = np.repeat(theta_cuts["cut"][:, np.newaxis], n_fov, axis=1)
    hdus.append(create_rad_max_hdu(rad_max, theta_bins, fov_bins))

    for name, table in (extra_tables or {}).items():
        hdus.append(_table_hdu(table, name))
    return fits.HDUList(hdus)


def benchmarks(gammas, cfg, gh_cuts=None, theta_cuts=None):
    """Angular resolution and energy bias/resolution of the gammas, in true energy.

    As in pyirf's example, the angular resolution uses the gammas passing the gammaness
    cut (a theta cut would bias it) and the energy bias/resolution those passing both cuts.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Gamma events.
    cfg : dict
        Validated performance config.
    gh_cuts, theta_cuts : astropy.table.QTable, optional
        Binned cuts; if omitted, boolean columns ``selected_gh`` / ``selected_theta`` of
        ``gammas`` are used when present, else no cut.

    Returns
    -------
    (QTable, QTable)
        Angular resolution (``true_energy_low/high/center``, ``n_events``,
        ``angular_resolution`` [deg], 68 % containment of theta) and energy
        bias/resolution (``true_energy_low/high/center``, ``n_events``, ``bias`` = median
        of reco/true - 1, ``resolution`` = half the central 68 % interval).
    """
    true_bins = make_bins(cfg)["true_energy"]
    all_events = np.ones(len(gammas), dtype=bool)
    if gh_cuts is not None:
        sel_gh = _gh_mask(gammas, gh_cuts)
    else:
        sel_gh = (
            np.asarray(gammas["selected_gh"]) if "selected_gh" in gammas.colnames else all_events
        )
    if theta_cuts is not None:
        sel_theta = _theta_mask(gammas, theta_cuts)
    else:
        sel_theta = (
            np.asarray(gammas["selected_theta"])
            if "selected_theta" in gammas.colnames
            else all_events
        )

    ang_res = angular_resolution(gammas[sel_gh], true_bins, energy_type="true")
    ang_col = [c for c in ang_res.colnames if c.startswith("angular_resolution")][0]
    ang_res.rename_column(ang_col, "angular_resolution")
    ang_res.meta["CONTAIN"] = 68.27  # containment of theta [%]

    bias_res = energy_bias_resolution(gammas[sel_gh & sel_theta], true_bins, energy_type="true")
    for table in (ang_res, bias_res):
        _set_meta(table, cfg)
    return ang_res, bias_res


# --------------------------------------------------------------------------- driver


def run_performance(dl2_paths, cfg):
    """Run the whole performance stage on DL2 files.

    Parameters
    ----------
    dl2_paths : dict
        ``{"gamma": path(s), "proton": path(s), "electron": path(s)}``; each value is one
        path or a list of paths. ``gamma`` and at least one background particle are needed.
    cfg : dict
        Performance config (validated and completed with defaults here).

    Returns
    -------
    dict
        ``sensitivity``, ``gh_cuts``, ``theta_cuts``, ``angular_resolution``,
        ``energy_bias_resolution``, ``effective_area``, ``background_rate`` (QTables),
        ``irfs`` (HDUList), ``simulation_info`` (particle -> SimulatedEventsInfo) and
        ``n_events`` (particle -> events after quality cuts).
    """
    cfg = validate_performance_config(cfg)
    unknown = sorted(set(dl2_paths) - set(PARTICLES))
    if unknown:
        raise ValueError(f"unknown particle(s) {unknown}; allowed: {', '.join(PARTICLES)}")
    if "gamma" not in dl2_paths:
        raise ValueError("dl2_paths needs 'gamma' DL2 files")
    if not set(dl2_paths) - {"gamma"}:
        raise ValueError("dl2_paths needs background DL2 files ('proton' and/or 'electron')")
    if "electron" not in dl2_paths or "proton" not in dl2_paths:
        log.warning("background without %s", "electrons" if "proton" in dl2_paths else "protons")

    obs_time = cfg["observation_time"] * u.h
    events, infos = {}, {}
    for particle in (p for p in PARTICLES if p in dl2_paths):
        df, records, label = read_dl2(dl2_paths[particle], particle)
        df = apply_quality_cuts(df, cfg["quality_cuts"])
        infos[particle] = simulation_info(records, label)
        events[particle] = prepare_events(df, records, cfg["spectra"][particle], obs_time, label)

    gammas = events["gamma"]
    background = vstack([events[p] for p in events if p != "gamma"], metadata_conflicts="silent")

    gh_cuts, theta_cuts, sensitivity = optimise_cuts(gammas, background, cfg)
    ang_res, bias_res = benchmarks(gammas, cfg, gh_cuts, theta_cuts)
    aeff = effective_area_table(gammas, gh_cuts, theta_cuts, infos["gamma"], cfg)
    irfs = compute_irfs(
        gammas,
        background,
        gh_cuts,
        theta_cuts,
        infos["gamma"],
        cfg,
        sensitivity=sensitivity,
        extra_tables={"ANGULAR_RESOLUTION": ang_res, "ENERGY_BIAS_RESOLUTION": bias_res},
        aeff_table=aeff,
    )
    return {
        "sensitivity": sensitivity,
        "gh_cuts": gh_cuts,
        "theta_cuts": theta_cuts,
        "irfs": irfs,
        "angular_resolution": ang_res,
        "energy_bias_resolution": bias_res,
        "effective_area": aeff,
        "background_rate": background_rate_table(background, gh_cuts, cfg),
        "simulation_info": infos,
        "n_events": {p: len(t) for p, t in events.items()},
    }


# --------------------------------------------------------------------------- output


def write_fits(hdul, path):
    """Write an HDUList atomically; a ``.gz`` name is gzip-compressed.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
    path : str or Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            buffer = io.BytesIO()
            hdul.writeto(buffer)
            # level 6: 2 % larger than 9 at a tenth of the time; mtime 0: the same bytes
            # for the same IRFs
            tmp.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0))
        else:
            hdul.writeto(tmp)


def write_ecsv(table, path):
    """Write a table as ECSV atomically.

    Parameters
    ----------
    table : astropy.table.Table or QTable
    path : str or Path
    """
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv")


def write_outputs(
    result,
    outdir=None,
    *,
    irf=None,
    sensitivity=None,
    angular_resolution=None,
    energy_bias_resolution=None,
):
    """Write the IRF FITS file and the benchmark ECSV tables of :func:`run_performance`.

    Each output goes to its explicit path if given, else to ``outdir`` under the name of
    :data:`OUTPUT_NAMES`. Every file is written atomically.

    Parameters
    ----------
    result : dict
        Output of :func:`run_performance`.
    outdir : str or Path, optional
        Folder for the outputs without an explicit path.
    irf, sensitivity, angular_resolution, energy_bias_resolution : str or Path, optional
        Explicit destinations (e.g. Snakemake ``output:`` files).

    Returns
    -------
    dict
        Product name -> Path written.
    """
    explicit = {
        "irf": irf,
        "sensitivity": sensitivity,
        "angular_resolution": angular_resolution,
        "energy_bias_resolution": energy_bias_resolution,
    }
    paths = {}
    for name, path in explicit.items():
        if path is None:
            if outdir is None:
                raise ValueError(f"no destination for '{name}': give outdir or {name}=path")
            path = Path(outdir) / OUTPUT_NAMES[name]
        paths[name] = Path(path)
    write_fits(result["irfs"], paths["irf"])
    for name in ("sensitivity", "angular_resolution", "energy_bias_resolution"):
        write_ecsv(result[name], paths[name])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
