"""A documented toy simulation of an IACT array that writes DL1 files.

This is **not** a physics simulation (no CORSIKA, no sim_telarray, no pixels). It draws
showers from the same bookkeeping a real production has (power-law energies, cores
thrown in a disk, directions in a view cone) and, for each telescope, draws image
parameters from simple parametrisations shaped like the real ones: light density
flat inside the Cherenkov light pool and falling outside it, lognormal fluctuations,
images displaced from the source by an amount growing with impact distance, hadron
images broader and more irregular than gamma images, stereo reconstruction errors
shrinking with energy and multiplicity. It is good enough to train a random forest
energy regressor and gamma/hadron classifier and to compute pyirf IRFs and sensitivity
that look like an IACT's, and to exercise the bookkeeping of the workflow.

Every formula and constant is described in ``docs/toy-simulation.md``.

The output follows the DL1 contract (:mod:`showerflow.contracts`): one ROOT file per
run with the TTrees ``simulation`` (1 entry), ``events`` (one entry per triggered
shower) and ``images`` (one entry per telescope image).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from pathlib import Path

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
)
from .tables import atomic_path

__all__ = [
    "KINDS",
    "first_run",
    "production_runs",
    "simulate_one",
    "PARTICLE_DEFAULTS",
    "telescope_array",
    "simulate_run",
    "run_uuid",
    "write_dl1",
    "simulate_production",
    "run_file_name",
    "sample_power_law",
    "offset_direction",
    "angular_separation",
]

log = logging.getLogger(__name__)

#: Kinds of simulation run, in the order used to seed the random generator.
KINDS = ("gamma", "gamma_diffuse", "proton", "electron")

#: Bookkeeping of each kind of run (what goes into the ``simulation`` tree).
#: Energies in TeV, distances in m, angles in deg. All kinds use a power law of index
#: -2 (dN/dE ~ E**-2, as CTA productions do: the number of showers per decade falls by
#: 10 per decade); the performance stage reweights to the physical spectra. Protons start and end at higher energy because a proton
#: yields about a third of the light of a gamma of the same energy, and are thrown
#: over a larger disk and cone because hadrons trigger from further away.
PARTICLE_DEFAULTS = {
    "gamma": {
        "particle": "gamma",
        "energy_min": 0.01,
        "energy_max": 100.0,
        "spectral_index": -2.0,
        "max_scatter_range": 1000.0,
        "viewcone_min": 0.0,
        "viewcone_max": 0.0,
        "shower_reuse": 1,
    },
    "gamma_diffuse": {
        "particle": "gamma",
        "energy_min": 0.01,
        "energy_max": 100.0,
        "spectral_index": -2.0,
        "max_scatter_range": 1000.0,
        "viewcone_min": 0.0,
        "viewcone_max": 5.0,
        "shower_reuse": 1,
    },
    "proton": {
        "particle": "proton",
        "energy_min": 0.02,
        "energy_max": 200.0,
        "spectral_index": -2.0,
        "max_scatter_range": 1500.0,
        "viewcone_min": 0.0,
        "viewcone_max": 6.0,
        "shower_reuse": 1,
    },
    "electron": {
        "particle": "electron",
        "energy_min": 0.01,
        "energy_max": 100.0,
        "spectral_index": -2.0,
        "max_scatter_range": 1000.0,
        "viewcone_min": 0.0,
        "viewcone_max": 6.0,
        "shower_reuse": 1,
    },
}

# --------------------------------------------------------------------------------------
# Model constants (documented in docs/toy-simulation.md)
# --------------------------------------------------------------------------------------

#: Telescope types: mirror area [m2], camera radius [deg], pixel size [deg],
#: pixels per image at 50 p.e. for a gamma.
TELESCOPE_TYPES = {
    "LST": {"mirror_area": 370.0, "camera_radius": 2.2, "pixel_size": 0.10, "n_pix_50": 6.0},
    "MST": {"mirror_area": 100.0, "camera_radius": 3.9, "pixel_size": 0.17, "n_pix_50": 4.0},
}

#: p.e. per m2 of mirror per TeV for a gamma inside the light pool, at zenith 0.
LIGHT_YIELD = 10.0
#: Radius [m] of the flat Cherenkov light pool, and scale [m] of the fall-off beyond it
#: (both at zenith 0; stretched by 1/cos(zenith)).
POOL_RADIUS = 120.0
POOL_FALLOFF = 90.0
#: Image amplitude threshold [p.e.] and minimum number of images for a stored event.
INTENSITY_THRESHOLD = 50.0
MIN_MULTIPLICITY = 2
#: Showers are processed in blocks of this many (bounds the memory of the
#: shower x telescope matrix).
_BLOCK = 200_000

#: Species parameters. light: light relative to a gamma of the same energy;
#: sigma_shower / sigma_tel: lognormal sigma of the light, common to the shower / per
#: telescope; hmax_0, hmax_slope, hmax_sigma: height of shower maximum above the array
#: at 0.1 TeV [m], its change per decade of energy [m] and its shower-to-shower spread
#: [m]; shape_mean, shape_sigma_shower, shape_sigma_image: mean and spreads (shower
#: level, image level) of the latent "shape" variable s (0: gamma-like; s > 0: broader,
#: less elongated, less concentrated, more irregular images); reco_factor: multiplies
#: the stereo reconstruction errors.
SPECIES = {
    "gamma": {
        "light": 1.0,
        "sigma_shower": 0.15,
        "sigma_tel": 0.20,
        "hmax_0": 10_000.0,
        "hmax_slope": -1_250.0,
        "hmax_sigma": 500.0,
        "shape_mean": 0.0,
        "shape_sigma_shower": 0.12,
        "shape_sigma_image": 0.12,
        "reco_factor": 1.0,
    },
    "electron": {
        "light": 1.0,
        "sigma_shower": 0.15,
        "sigma_tel": 0.20,
        "hmax_0": 10_300.0,
        "hmax_slope": -1_250.0,
        "hmax_sigma": 500.0,
        "shape_mean": 0.0,
        "shape_sigma_shower": 0.12,
        "shape_sigma_image": 0.12,
        "reco_factor": 1.0,
    },
    "proton": {
        "light": 1.0 / 3.0,
        "sigma_shower": 0.35,
        "sigma_tel": 0.35,
        "hmax_0": 10_600.0,
        "hmax_slope": -1_000.0,
        "hmax_sigma": 800.0,
        "shape_mean": 0.60,
        "shape_sigma_shower": 0.40,
        "shape_sigma_image": 0.25,
        "reco_factor": 2.0,
    },
}

_INT_DTYPES = {
    "obs_id": np.int64,
    "event_id": np.int64,
    "n_showers": np.int64,
    "shower_reuse": np.int32,
    "tel_id": np.int32,
    "multiplicity": np.int32,
    "morphology_n_pixels": np.int32,
}


# --------------------------------------------------------------------------------------
# Array layout and geometry
# --------------------------------------------------------------------------------------


def telescope_array():
    """Return the toy array layout.

    Four LSTs on a square 100 m from the centre and ten MSTs, four on an inner ring of
    radius 180 m (between the LSTs) and six on an outer ring of radius 300 m.

    Returns
    -------
    pandas.DataFrame
        Columns ``tel_id``, ``tel_type`` ("LST" or "MST"), ``pos_x``, ``pos_y`` [m],
        ``mirror_area`` [m2], ``camera_radius`` [deg], ``pixel_size`` [deg].
    """
    rows = []
    for k in range(4):
        phi = np.deg2rad(45.0 + 90.0 * k)
        rows.append(("LST", 100.0 * np.cos(phi), 100.0 * np.sin(phi)))
    for k in range(4):
        phi = np.deg2rad(90.0 * k)
        rows.append(("MST", 180.0 * np.cos(phi), 180.0 * np.sin(phi)))
    for k in range(6):
        phi = np.deg2rad(30.0 + 60.0 * k)
        rows.append(("MST", 300.0 * np.cos(phi), 300.0 * np.sin(phi)))
    df = pd.DataFrame(rows, columns=["tel_type", "pos_x", "pos_y"])
    df.insert(0, "tel_id", np.arange(1, len(df) + 1, dtype=np.int32))
    df["pos_x"] = df["pos_x"].round(2)
    df["pos_y"] = df["pos_y"].round(2)
    for key in ("mirror_area", "camera_radius", "pixel_size"):
        df[key] = [TELESCOPE_TYPES[t][key] for t in df["tel_type"]]
    return df


def _unit_vectors(alt, az):
    """Unit vector (x, y, z) of directions given alt/az in degrees."""
    alt = np.deg2rad(alt)
    az = np.deg2rad(az)
    return np.stack([np.cos(alt) * np.cos(az), np.cos(alt) * np.sin(az), np.sin(alt)], axis=-1)


def offset_direction(alt, az, fov_lon, fov_lat):
    """Move directions by an offset given in the tangent (field-of-view) plane.

    The offset is applied exactly on the sphere: a point at angular distance
    ``rho = hypot(fov_lon, fov_lat)`` from (alt, az), in the direction ``fov_lat``
    towards increasing altitude and ``fov_lon`` towards increasing azimuth
    (an azimuthal-equidistant field-of-view frame, well defined also at the zenith).

    Parameters
    ----------
    alt, az : array_like
        Centre directions [deg].
    fov_lon, fov_lat : array_like
        Offsets [deg].

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Altitude in [-90, 90] and azimuth in [0, 360) [deg].
    """
    alt_r = np.deg2rad(alt)
    az_r = np.deg2rad(az)
    lon = np.deg2rad(fov_lon)
    lat = np.deg2rad(fov_lat)
    rho = np.hypot(lon, lat)
    # cos(phi) sin(rho) and sin(phi) sin(rho) along the two tangent unit vectors
    sinc = np.where(rho > 0, np.sin(rho) / np.where(rho > 0, rho, 1.0), 1.0)
    a_lat = lat * sinc
    a_lon = lon * sinc
    c = np.cos(rho)
    sa, ca = np.sin(alt_r), np.cos(alt_r)
    sz, cz = np.sin(az_r), np.cos(az_r)
    # pointing p, e_alt (towards zenith), e_az (towards increasing azimuth)
    x = c * ca * cz + a_lat * (-sa * cz) + a_lon * (-sz)
    y = c * ca * sz + a_lat * (-sa * sz) + a_lon * cz
    z = c * sa + a_lat * ca
    new_alt = np.rad2deg(np.arcsin(np.clip(z, -1.0, 1.0)))
    new_az = np.rad2deg(np.arctan2(y, x)) % 360.0
    new_az = np.where(new_az >= 360.0, 0.0, new_az)
    return new_alt, new_az


def angular_separation(alt1, az1, alt2, az2):
    """Angular distance between two sets of alt/az directions.

    Parameters
    ----------
    alt1, az1, alt2, az2 : array_like
        Directions [deg].

    Returns
    -------
    numpy.ndarray
        Separation [deg].
    """
    v1 = _unit_vectors(alt1, az1)
    v2 = _unit_vectors(alt2, az2)
    cross = np.linalg.norm(np.cross(v1, v2), axis=-1)
    dot = np.sum(v1 * v2, axis=-1)
    return np.rad2deg(np.arctan2(cross, dot))


def sample_power_law(rng, n, e_min, e_max, index):
    """Draw energies from dN/dE ~ E**index between e_min and e_max.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    e_min, e_max : float
        Range [TeV].
    index : float
        Spectral index, sign included (e.g. -2).

    Returns
    -------
    numpy.ndarray
    """
    u = rng.random(n)
    g = index + 1.0
    if abs(g) < 1e-12:
        return e_min * (e_max / e_min) ** u
    lo, hi = e_min**g, e_max**g
    return (lo + u * (hi - lo)) ** (1.0 / g)


def _light_density(d, cos_zen):
    """Relative Cherenkov light density at ground distance ``d`` from the core."""
    r0 = POOL_RADIUS / cos_zen
    scale = POOL_FALLOFF / cos_zen
    return cos_zen**2 * np.exp(-np.clip(d - r0, 0.0, None) / scale)


def _logistic_cdf(x):
    """Logistic approximation of the standard normal CDF."""
    return 1.0 / (1.0 + np.exp(-1.702 * x))


def _wrap_psi(psi):
    """Wrap an axis orientation [deg] into [-90, 90)."""
    return (psi + 90.0) % 180.0 - 90.0


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def _settings(kind, overrides):
    if kind not in PARTICLE_DEFAULTS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {list(PARTICLE_DEFAULTS)}")
    settings = dict(PARTICLE_DEFAULTS[kind])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise TypeError(f"unknown override(s) {sorted(unknown)}; allowed: {sorted(settings)}")
    settings.update(overrides)
    if settings["particle"] not in SPECIES:
        raise ValueError(f"unknown particle {settings['particle']!r}")
    if not 0 < settings["energy_min"] < settings["energy_max"]:
        raise ValueError("need 0 < energy_min < energy_max")
    if not 0 <= settings["viewcone_min"] <= settings["viewcone_max"] < 90:
        raise ValueError("need 0 <= viewcone_min <= viewcone_max < 90")
    if settings["max_scatter_range"] <= 0:
        raise ValueError("max_scatter_range must be > 0")
    if int(settings["shower_reuse"]) != 1:
        raise ValueError("the toy simulation supports shower_reuse = 1 only")
    return settings


def _empty_run(simulation):
    events = {c: np.zeros(0, dtype=_INT_DTYPES.get(c, np.float64)) for c in EVENT_COLUMNS}
    images = {c: np.zeros(0, dtype=_INT_DTYPES.get(c, np.float64)) for c in IMAGE_COLUMNS}
    images["tel_type"] = np.zeros(0, dtype="<U3")
    return {"simulation": simulation, "events": events, "images": images}


def simulate_run(kind, obs_id, n_showers, seed, zenith=20.0, azimuth=0.0, **overrides):
    """Simulate one run of the toy array and return its three DL1 tables.

    A pure function: the same arguments give the same arrays. The random generator is
    ``numpy.random.default_rng([seed, obs_id, KINDS.index(kind)])``.

    Parameters
    ----------
    kind : {"gamma", "gamma_diffuse", "proton", "electron"}
        Kind of run; selects the defaults in :data:`PARTICLE_DEFAULTS`.
    obs_id : int
        Run number (>= 0).
    n_showers : int
        Number of thrown showers.
    seed : int
        Production seed (>= 0).
    zenith, azimuth : float
        Pointing [deg].
    **overrides
        Replace entries of ``PARTICLE_DEFAULTS[kind]`` (e.g. ``energy_min=0.1``).

    Returns
    -------
    dict
        ``{"simulation": {...}, "events": {...}, "images": {...}}``, each a dict of
        numpy arrays keyed by the contract columns (``simulation`` has length 1).
        Only showers with at least two images are stored.
    """
    settings = _settings(kind, overrides)
    n_showers = int(n_showers)
    if n_showers < 0:
        raise ValueError("n_showers must be >= 0")
    if not 0 <= zenith < 80:
        raise ValueError("zenith must be in [0, 80) deg")
    rng = np.random.default_rng([int(seed), int(obs_id), KINDS.index(kind)])
    spec = SPECIES[settings["particle"]]
    azimuth = float(azimuth) % 360.0
    pointing_alt = 90.0 - float(zenith)
    cos_zen = np.cos(np.deg2rad(zenith))

    simulation = {
        "obs_id": np.array([obs_id], dtype=np.int64),
        "particle": np.array([settings["particle"]]),
        "n_showers": np.array([n_showers], dtype=np.int64),
        "shower_reuse": np.array([settings["shower_reuse"]], dtype=np.int32),
        "energy_min": np.array([settings["energy_min"]], dtype=np.float64),
        "energy_max": np.array([settings["energy_max"]], dtype=np.float64),
        "spectral_index": np.array([settings["spectral_index"]], dtype=np.float64),
        "max_scatter_range": np.array([settings["max_scatter_range"]], dtype=np.float64),
        "viewcone_min": np.array([settings["viewcone_min"]], dtype=np.float64),
        "viewcone_max": np.array([settings["viewcone_max"]], dtype=np.float64),
        "zenith": np.array([zenith], dtype=np.float64),
        "azimuth": np.array([azimuth], dtype=np.float64),
    }
    assert list(simulation) == list(SIMULATION_COLUMNS)

    # ---- thrown showers -------------------------------------------------------------
    n = n_showers
    energy = sample_power_law(
        rng, n, settings["energy_min"], settings["energy_max"], settings["spectral_index"]
    )
    r_core = settings["max_scatter_range"] * np.sqrt(rng.random(n))
    phi_core = 2.0 * np.pi * rng.random(n)
    core_x = r_core * np.cos(phi_core)
    core_y = r_core * np.sin(phi_core)
    # directions: uniform in solid angle between viewcone_min and viewcone_max
    cmin = np.cos(np.deg2rad(settings["viewcone_min"]))
    cmax = np.cos(np.deg2rad(settings["viewcone_max"]))
    rho = np.rad2deg(np.arccos(cmin + (cmax - cmin) * rng.random(n)))
    phi_dir = 2.0 * np.pi * rng.random(n)
    src_lon = rho * np.sin(phi_dir)  # source position in the camera [deg]
    src_lat = rho * np.cos(phi_dir)
    light_shower = np.exp(spec["sigma_shower"] * rng.standard_normal(n))
    log_e = np.log10(energy / 0.1)
    h_max = (
        spec["hmax_0"] + spec["hmax_slope"] * log_e + spec["hmax_sigma"] * rng.standard_normal(n)
    )
    h_max = np.clip(h_max, 2_000.0, None)
    shape_shower = spec["shape_mean"] + spec["shape_sigma_shower"] * rng.standard_normal(n)

    # ---- candidate (shower, telescope) pairs -----------------------------------------
    tels = telescope_array()
    tel_x = tels["pos_x"].to_numpy()
    tel_y = tels["pos_y"].to_numpy()
    tel_area = tels["mirror_area"].to_numpy()
    mean_scale = LIGHT_YIELD * spec["light"] * energy * light_shower
    # A pair can only give an image if its mean amplitude is above the threshold
    # divided by exp(5 sigma_tel): pairs below are dropped before drawing per-telescope
    # fluctuations. With the light density flat to r0 and exponential beyond, this is a
    # cut on the core distance, d < r0 + scale * ln(amplitude at d = 0 / cut).
    cut = INTENSITY_THRESHOLD * np.exp(-5.0 * spec["sigma_tel"])
    r0 = POOL_RADIUS / cos_zen
    scale = POOL_FALLOFF / cos_zen
    type_names, type_index = np.unique(tels["tel_type"].to_numpy(), return_inverse=True)
    type_area = np.array([TELESCOPE_TYPES[t]["mirror_area"] for t in type_names])
    ev_parts, tel_parts = [], []
    for start in range(0, n, _BLOCK):
        sl = slice(start, min(start + _BLOCK, n))
        peak = mean_scale[sl, None] * type_area[None, :] * cos_zen**2 / cut
        d_max = np.where(peak > 1.0, r0 + scale * np.log(np.maximum(peak, 1.0)), -1.0)
        d_max_sq = np.where(d_max > 0, d_max**2, -1.0)[:, type_index]
        d_sq = (tel_x[None, :] - core_x[sl, None]) ** 2 + (tel_y[None, :] - core_y[sl, None]) ** 2
        ev_blk, tel_blk = np.nonzero(d_sq < d_max_sq)
        ev_parts.append(ev_blk + start)
        tel_parts.append(tel_blk)
    ev = np.concatenate(ev_parts) if ev_parts else np.zeros(0, dtype=np.intp)
    tel = np.concatenate(tel_parts) if tel_parts else np.zeros(0, dtype=np.intp)

    # ---- image amplitude and position -------------------------------------------------
    dx = tel_x[tel] - core_x[ev]
    dy = tel_y[tel] - core_y[ev]
    dist = np.hypot(dx, dy)
    mean = mean_scale[ev] * tel_area[tel] * _light_density(dist, cos_zen)
    intensity = mean * np.exp(spec["sigma_tel"] * rng.standard_normal(len(ev)))
    slant = h_max[ev] / cos_zen
    disp = np.rad2deg(np.arctan(dist / slant))
    beta = np.arctan2(dy, dx)
    cen_lon = src_lon[ev] + disp * np.cos(beta) + 0.02 * rng.standard_normal(len(ev))
    cen_lat = src_lat[ev] + disp * np.sin(beta) + 0.02 * rng.standard_normal(len(ev))
    r = np.hypot(cen_lon, cen_lat)
    cam_radius = tels["camera_radius"].to_numpy()[tel]
    has_image = (intensity > INTENSITY_THRESHOLD) & (r < cam_radius)
    mult_all = np.bincount(ev[has_image], minlength=n)
    keep = has_image & (mult_all[ev] >= MIN_MULTIPLICITY)

    ev, tel, intensity = ev[keep], tel[keep], intensity[keep]
    dist, beta, r = dist[keep], beta[keep], r[keep]
    cen_lon, cen_lat = cen_lon[keep], cen_lat[keep]
    cam_radius = cam_radius[keep]
    event_idx = np.unique(ev)
    n_ev, n_img = len(event_idx), len(ev)
    if n_ev == 0:
        return _empty_run(simulation)
    multiplicity = mult_all[event_idx]

    # ---- image shape ------------------------------------------------------------------
    tel_types = tels["tel_type"].to_numpy()[tel]
    pix = tels["pixel_size"].to_numpy()[tel]
    n_pix_50 = np.array([TELESCOPE_TYPES[t]["n_pix_50"] for t in tels["tel_type"]])[tel]
    log_i = np.log10(intensity / INTENSITY_THRESHOLD)
    noise = np.sqrt(INTENSITY_THRESHOLD / intensity)  # 1 at threshold, falls as 1/sqrt(I)
    impact_growth = 1.0 - np.exp(-dist / 200.0)
    shape = shape_shower[ev] + spec["shape_sigma_image"] * rng.standard_normal(n_img)
    irregular = 1.0 + np.clip(shape, 0.0, None)  # scales the scatter of the moments
    # expected gamma width and length at this intensity and impact distance
    width_gamma = (0.028 + 0.010 * log_i) * (1.0 + 0.6 * dist / 300.0)
    ratio_gamma = 2.0 + 2.0 * impact_growth
    sigma_w = 0.08 + 0.30 * noise
    width_true = width_gamma * np.exp(shape) * np.exp(sigma_w * rng.standard_normal(n_img))
    length_true = (
        width_true
        * ratio_gamma
        * np.exp(-0.4 * shape)
        * np.exp((0.10 + 0.5 * sigma_w) * rng.standard_normal(n_img))
    )
    width = np.sqrt(width_true**2 + (0.3 * pix) ** 2)
    length = np.sqrt(length_true**2 + (0.3 * pix) ** 2)
    length = np.maximum(length, width)

    # orientation: major axis along the line from the source to the centroid
    sigma_psi = (1.5 + 15.0 * noise) * irregular**2
    psi = _wrap_psi(np.rad2deg(beta) + sigma_psi * rng.standard_normal(n_img))

    # higher moments
    skewness = 0.35 * impact_growth * np.exp(-shape) + (
        0.25 + 0.3 * noise
    ) * irregular * rng.standard_normal(n_img)
    kurtosis = (
        2.4
        + 0.3 * impact_growth
        + 0.6 * shape
        + (0.3 + 0.3 * noise) * irregular * rng.standard_normal(n_img)
    )
    kurtosis = np.maximum(kurtosis, 1.0 + skewness**2)

    # pixels and concentration
    area_ratio = (width_true * length_true) / (width_gamma**2 * ratio_gamma)
    n_pixels = (
        n_pix_50
        * (intensity / INTENSITY_THRESHOLD) ** 0.6
        * area_ratio**0.3
        * np.exp(0.12 * rng.standard_normal(n_img))
    )
    n_pixels = np.maximum(np.rint(n_pixels), 3).astype(np.int32)
    concentration = (
        1.6
        / n_pixels**0.75
        * np.exp(-0.3 * shape)
        * np.exp(0.15 * irregular * rng.standard_normal(n_img))
    )
    concentration = np.clip(concentration, 1.0 / n_pixels, 1.0)

    # leakage: charge of a gaussian profile beyond the two outer pixel rings
    radial = np.arctan2(cen_lat, cen_lon)
    alpha = np.deg2rad(psi) - radial
    spread = np.hypot(length * np.cos(alpha), width * np.sin(alpha)) * irregular
    leakage = _logistic_cdf((r - (cam_radius - 2.0 * pix)) / spread)
    leakage = np.clip(leakage * np.exp(0.2 * rng.standard_normal(n_img)), 0.0, 1.0)

    # ---- stereo reconstruction --------------------------------------------------------
    e_ev = energy[event_idx]
    m = multiplicity.astype(np.float64)
    stat = (e_ev / 0.05) ** -0.5 * np.sqrt(2.0 / m)
    sigma_dir = spec["reco_factor"] * np.hypot(0.025, 0.25 * stat)
    true_alt, true_az = offset_direction(
        np.full(n_ev, pointing_alt),
        np.full(n_ev, azimuth),
        src_lon[event_idx],
        src_lat[event_idx],
    )
    reco_alt, reco_az = offset_direction(
        true_alt,
        true_az,
        sigma_dir * rng.standard_normal(n_ev),
        sigma_dir * rng.standard_normal(n_ev),
    )
    core_r = np.hypot(core_x[event_idx], core_y[event_idx])
    sigma_core = spec["reco_factor"] * np.hypot(5.0, 40.0 * stat) * (1.0 + core_r / 500.0)
    reco_core_x = core_x[event_idx] + sigma_core * rng.standard_normal(n_ev)
    reco_core_y = core_y[event_idx] + sigma_core * rng.standard_normal(n_ev)
    sigma_h = spec["reco_factor"] * (200.0 + 800.0 * stat)
    reco_h_max = h_max[event_idx] + sigma_h * rng.standard_normal(n_ev)

    # per-image impact distance from the reconstructed core
    pos = np.searchsorted(event_idx, ev)
    impact = np.hypot(tel_x[tel] - reco_core_x[pos], tel_y[tel] - reco_core_y[pos])

    events = {
        "obs_id": np.full(n_ev, obs_id, dtype=np.int64),
        "event_id": event_idx.astype(np.int64),
        "true_energy": e_ev,
        "true_alt": true_alt,
        "true_az": true_az,
        "true_core_x": core_x[event_idx],
        "true_core_y": core_y[event_idx],
        "pointing_alt": np.full(n_ev, pointing_alt),
        "pointing_az": np.full(n_ev, azimuth),
        "reco_alt": reco_alt,
        "reco_az": reco_az,
        "reco_core_x": reco_core_x,
        "reco_core_y": reco_core_y,
        "reco_h_max": reco_h_max,
        "multiplicity": multiplicity.astype(np.int32),
    }
    images = {
        "obs_id": np.full(n_img, obs_id, dtype=np.int64),
        "event_id": ev.astype(np.int64),
        "tel_id": tels["tel_id"].to_numpy()[tel].astype(np.int32),
        "tel_type": tel_types.astype("<U3"),
        "hillas_intensity": intensity,
        "hillas_width": width,
        "hillas_length": length,
        "hillas_skewness": skewness,
        "hillas_kurtosis": kurtosis,
        "hillas_r": r,
        "hillas_psi": psi,
        "leakage_intensity_width_2": leakage,
        "concentration_pixel": concentration,
        "morphology_n_pixels": n_pixels,
        "impact_distance": impact,
    }
    assert list(events) == list(EVENT_COLUMNS)
    assert list(images) == list(IMAGE_COLUMNS)
    for table in (events, images):
        for key, arr in table.items():
            if arr.dtype.kind == "f":
                table[key] = np.ascontiguousarray(arr, dtype=np.float64)
    return {"simulation": simulation, "events": events, "images": images}


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------

_UUID_NAMESPACE = uuid.UUID("6f1c0b52-6a55-4c1e-9a53-73686f776572")


def run_uuid(kind, obs_id, seed):
    """Deterministic UUID of a toy run, derived from its kind, run number and seed.

    Parameters
    ----------
    kind : str
    obs_id : int
    seed : int

    Returns
    -------
    uuid.UUID
        A version-5 style UUID (SHA-1 via :mod:`hashlib` of ``"{kind}/{obs_id}/{seed}"``
        in a showerflow namespace).
    """
    digest = hashlib.sha1(
        _UUID_NAMESPACE.bytes + f"{kind}/{int(obs_id)}/{int(seed)}".encode()
    ).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def run_file_name(kind, obs_id):
    """File name of a toy run: ``{kind}_run{obs_id:05d}.root``."""
    return f"{kind}_run{int(obs_id):05d}.root"


def _tree_types(table):
    types = {}
    for key, arr in table.items():
        types[key] = "string" if arr.dtype.kind in "UO" else arr.dtype
    return types


#: Entries per TTree basket in the files written by :func:`write_dl1`.
BASKET_ENTRIES = 10_000


def write_dl1(path, run, file_uuid):
    """Write a run to a DL1 ROOT file (three TTrees), atomically.

    Parameters
    ----------
    path : str or Path
        Destination; written to a temporary name and renamed when complete.
    run : dict
        As returned by :func:`simulate_run`.
    file_uuid : uuid.UUID or str
        UUID stored in the ROOT header (``uproot.open(path).file.uuid``).

    Returns
    -------
    Path
    """
    if not isinstance(file_uuid, uuid.UUID):
        file_uuid = uuid.UUID(str(file_uuid))
    path = Path(path)
    trees = (
        (SIMULATION_TREE, run["simulation"], SIMULATION_COLUMNS),
        (EVENTS_TREE, run["events"], EVENT_COLUMNS),
        (IMAGES_TREE, run["images"], IMAGE_COLUMNS),
    )
    for name, table, columns in trees:
        missing = set(columns) - set(table)
        extra = set(table) - set(columns)
        if missing or extra:
            raise ValueError(
                f"tree {name!r}: missing columns {sorted(missing)}, unexpected {sorted(extra)}"
            )
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp, uuid_function=lambda: file_uuid) as f:
            for name, table, columns in trees:
                data = {c: np.asarray(table[c]) for c in columns}
                tree = f.mktree(name, _tree_types(data))
                n = len(next(iter(data.values())))
                # one basket per BASKET_ENTRIES entries (each extend writes one), as ROOT
                # writes baskets of bounded size: a reader of an entry range then
                # decompresses only the baskets of that range
                for start in range(0, n, BASKET_ENTRIES):
                    tree.extend({c: v[start : start + BASKET_ENTRIES] for c, v in data.items()})
    return path


def first_run(kind):
    """The first run number of a kind: ``10000 * index + 1``, so kinds never share runs."""
    return 10000 * KINDS.index(kind) + 1


def production_runs(kind, n_runs, first=None):
    """The run numbers of a production of ``n_runs`` runs of one kind.

    Parameters
    ----------
    kind : str
    n_runs : int
    first : int, optional
        Default: :func:`first_run`.

    Returns
    -------
    list of int
    """
    first = first_run(kind) if first is None else int(first)
    return list(range(first, first + int(n_runs)))


def simulate_one(path, kind, obs_id, n_showers, seed, zenith=20.0, azimuth=0.0):
    """Simulate one run and write it to ``path`` (the workflow's job of one run).

    Parameters
    ----------
    path : str or Path
    kind : str
    obs_id, n_showers, seed : int
    zenith, azimuth : float
        Pointing [deg].

    Returns
    -------
    Path
    """
    t0 = time.perf_counter()
    run = simulate_run(kind, obs_id, n_showers, seed, zenith=zenith, azimuth=azimuth)
    write_dl1(path, run, run_uuid(kind, obs_id, seed))
    dt = time.perf_counter() - t0
    log.info(
        "%s run %d: %d showers thrown, %d events, %d images stored in %.2f s (%.0f showers/s)",
        kind,
        obs_id,
        n_showers,
        len(run["events"]["event_id"]),
        len(run["images"]["event_id"]),
        dt,
        n_showers / dt if dt > 0 else float("inf"),
    )
    return Path(path)


def simulate_production(
    outdir,
    kind,
    n_runs,
    n_showers,
    seed,
    first_obs_id=None,
    zenith=20.0,
    azimuth=0.0,
):
    """Simulate and write ``n_runs`` runs of one kind.

    Parameters
    ----------
    outdir : str or Path
        Output folder (created).
    kind : str
        See :data:`PARTICLE_DEFAULTS`.
    n_runs : int
    n_showers : int
        Thrown showers per run.
    seed : int
    first_obs_id : int, optional
        Run numbers are ``first_obs_id, first_obs_id + 1, ...``; by default
        ``10000 * KINDS.index(kind) + 1``, so run numbers of different kinds differ.
    zenith, azimuth : float
        Pointing [deg].

    Returns
    -------
    list of Path
        The files written, named ``{kind}_run{obs_id:05d}.root``.
    """
    if first_obs_id is None:
        first_obs_id = first_run(kind)
    outdir = Path(outdir)
    paths = []
    t_start, n_thrown, n_events = time.perf_counter(), 0, 0
    for i, obs_id in enumerate(range(int(first_obs_id), int(first_obs_id) + int(n_runs))):
        t0 = time.perf_counter()
        run = simulate_run(kind, obs_id, n_showers, seed, zenith=zenith, azimuth=azimuth)
        path = write_dl1(outdir / run_file_name(kind, obs_id), run, run_uuid(kind, obs_id, seed))
        dt = time.perf_counter() - t0
        n_ev = len(run["events"]["event_id"])
        n_img = len(run["images"]["event_id"])
        n_thrown += n_showers
        n_events += n_ev
        total = time.perf_counter() - t_start
        log.info(
            "%s run %d/%d %s: %d showers thrown, %d events, %d images stored in %.2f s "
            "(%.0f showers/s); %d showers, %d events so far (%.0f showers/s)",
            kind,
            i + 1,
            n_runs,
            path,
            n_showers,
            n_ev,
            n_img,
            dt,
            n_showers / dt if dt > 0 else float("inf"),
            n_thrown,
            n_events,
            n_thrown / total if total > 0 else float("inf"),
        )
        paths.append(path)
    return paths
