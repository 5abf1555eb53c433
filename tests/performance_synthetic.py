"""Synthetic DL2 samples for the performance and plot tests (numpy, fixed seeds).

Gammas are point-like (on axis), reco_energy = true_energy x lognormal(0.15), the
reconstructed direction is smeared by a Rayleigh-distributed angle and gammaness follows a
beta distribution skewed to 1. Diffuse gammas (``gamma_diffuse``) are the same thrown over
a 5 deg cone, with a known FoV dependence: the detection probability is multiplied by
:func:`offset_acceptance` (1 within 1.5 deg, falling linearly to 0.4 at 5 deg) and the PSF
widens by :func:`offset_psf_factor`. Protons and electrons are diffuse over a 6 deg cone,
protons with gammaness skewed to 0.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

POINTING_ALT = 70.0  # deg (zenith 20)
POINTING_AZ = 180.0  # deg
R_MAX = {"gamma": 800.0, "gamma_diffuse": 800.0, "proton": 1500.0, "electron": 1000.0}  # m

SAMPLES = {
    # sample: n_runs, n_showers per run, shower_reuse, e_min, e_max, index, viewcone_max
    "gamma": dict(
        n_runs=4,
        n_showers=10_000,
        shower_reuse=10,
        e_min=0.01,
        e_max=200.0,
        index=-2.0,
        viewcone=0.0,
    ),
    "gamma_diffuse": dict(
        n_runs=4,
        n_showers=40_000,
        shower_reuse=10,
        e_min=0.01,
        e_max=200.0,
        index=-2.0,
        viewcone=5.0,
    ),
    "proton": dict(
        n_runs=4,
        n_showers=10_000,
        shower_reuse=10,
        e_min=0.02,
        e_max=400.0,
        index=-2.0,
        viewcone=6.0,
    ),
    "electron": dict(
        n_runs=2,
        n_showers=5_000,
        shower_reuse=10,
        e_min=0.01,
        e_max=100.0,
        index=-2.0,
        viewcone=6.0,
    ),
}


def particle_of(sample):
    """The particle of a sample (``gamma_diffuse`` -> ``gamma``)."""
    return "gamma" if sample.startswith("gamma") else sample


def offset_acceptance(offset):
    """Relative detection probability of the diffuse gammas at a FoV offset (deg)."""
    return np.where(offset < 1.5, 1.0, 1.0 - 0.6 * (np.asarray(offset) - 1.5) / 3.5)


def offset_psf_factor(offset):
    """Widening of the diffuse gammas' PSF at a FoV offset (deg)."""
    return 1.0 + 0.1 * np.asarray(offset)


def power_law(rng, n, e_min, e_max, index):
    """Energies drawn from dN/dE ~ E^index between e_min and e_max (inverse CDF)."""
    a = index + 1.0
    x = rng.uniform(size=n)
    return (e_min**a + x * (e_max**a - e_min**a)) ** (1.0 / a)


def offset_direction(alt, az, distance, position_angle):
    """Point at angular ``distance`` and ``position_angle`` (deg) from (alt, az) (deg)."""
    lat1, lon1 = np.radians(alt), np.radians(az)
    d, phi = np.radians(distance), np.radians(position_angle)
    lat2 = np.arcsin(np.sin(lat1) * np.cos(d) + np.cos(lat1) * np.sin(d) * np.cos(phi))
    lon2 = lon1 + np.arctan2(
        np.sin(phi) * np.sin(d) * np.cos(lat1), np.cos(d) - np.sin(lat1) * np.sin(lat2)
    )
    return np.degrees(lat2), np.degrees(lon2) % 360


def records(sample, first_obs_id=1, **overrides):
    """Simulation records (one per run) of a synthetic sample."""
    spec = dict(SAMPLES[sample], **overrides)
    return [
        {
            "obs_id": first_obs_id + i,
            "particle": particle_of(sample),
            "n_showers": spec["n_showers"],
            "shower_reuse": spec["shower_reuse"],
            "energy_min": spec["e_min"],
            "energy_max": spec["e_max"],
            "spectral_index": spec["index"],
            "max_scatter_range": R_MAX[sample],
            "viewcone_min": 0.0,
            "viewcone_max": spec["viewcone"],
            "zenith": 90.0 - POINTING_ALT,
            "azimuth": POINTING_AZ,
        }
        for i in range(spec["n_runs"])
    ]


def make_dl2(particle, seed=1, detection_probability=None, multiplicity_min=1, **overrides):
    """A synthetic DL2 DataFrame and its simulation records.

    Parameters
    ----------
    particle : str
        The sample: gamma, gamma_diffuse, proton or electron.
    seed : int
    detection_probability : float or callable, optional
        Probability that a simulated shower is in DL2 (a callable gets the true energy);
        default: a smooth trigger turn-on around 50 GeV.
    multiplicity_min : int
        Smallest multiplicity drawn (multiplicity is uniform in [multiplicity_min, 8]).
    **overrides
        Keys of :data:`SAMPLES` to change.

    Returns
    -------
    (pandas.DataFrame, list of dict)
    """
    rng = np.random.default_rng(seed)
    spec = dict(SAMPLES[particle], **overrides)
    recs = records(particle, **overrides)
    n_sim = spec["n_runs"] * spec["n_showers"] * spec["shower_reuse"]
    true_energy = power_law(rng, n_sim, spec["e_min"], spec["e_max"], spec["index"])
    if detection_probability is None:

        def detection_probability(e):
            return 1.0 / (1.0 + (0.05 / e) ** 3)

    p = (
        detection_probability(true_energy)
        if callable(detection_probability)
        else detection_probability
    )
    if spec["viewcone"] > 0:
        cos_max = np.cos(np.radians(spec["viewcone"]))
        offset = np.degrees(np.arccos(rng.uniform(cos_max, 1.0, size=n_sim)))
    else:
        offset = np.zeros(n_sim)
    if particle == "gamma_diffuse":
        p = p * offset_acceptance(offset)
    kept = rng.uniform(size=n_sim) < p
    true_energy, offset = true_energy[kept], offset[kept]
    n = len(true_energy)
    if spec["viewcone"] > 0:
        true_alt, true_az = offset_direction(
            POINTING_ALT, POINTING_AZ, offset, rng.uniform(0, 360, n)
        )
    else:
        true_alt = np.full(n, POINTING_ALT)
        true_az = np.full(n, POINTING_AZ)

    gamma_like = particle_of(particle) == "gamma"
    psf_sigma = np.clip(0.08 * true_energy ** (-0.3), 0.02, 0.4) * (1.0 if gamma_like else 1.5)
    if particle == "gamma_diffuse":
        psf_sigma = psf_sigma * offset_psf_factor(offset)
    reco_alt, reco_az = offset_direction(
        true_alt, true_az, rng.rayleigh(psf_sigma), rng.uniform(0, 360, n)
    )
    if particle == "proton":
        reco_energy = 0.5 * true_energy * rng.lognormal(0.0, 0.35, n)
        gammaness = rng.beta(2.0, 4.0, n)
    else:
        reco_energy = true_energy * rng.lognormal(0.0, 0.15, n)
        gammaness = rng.beta(6.0, 2.0, n)

    obs_ids = np.array([r["obs_id"] for r in recs])
    df = pd.DataFrame(
        {
            "obs_id": rng.choice(obs_ids, n),
            "event_id": np.arange(n),
            "true_energy": true_energy,
            "reco_energy": reco_energy,
            "gammaness": gammaness,
            "true_alt": true_alt,
            "true_az": true_az,
            "reco_alt": reco_alt,
            "reco_az": reco_az,
            "pointing_alt": np.full(n, POINTING_ALT),
            "pointing_az": np.full(n, POINTING_AZ),
            "multiplicity": rng.integers(multiplicity_min, 9, n),
        }
    )
    return df, recs


def write_dl2(directory, particle, seed):
    """Write a synthetic DL2 Parquet file with its simulation records; return its path."""
    from showerflow.tables import write_table

    df, recs = make_dl2(particle, seed=seed)
    path = directory / f"{particle}.dl2.parquet"
    write_table(df, path, metadata={"simulation": recs})
    return path


#: Sample -> seed of the synthetic DL2 files.
SEEDS = {"gamma": 1, "gamma_diffuse": 4, "proton": 2, "electron": 3}


@functools.lru_cache(maxsize=1)
def performance_result(directory):
    """Run the performance stage once on synthetic DL2 in ``directory`` (cached)."""
    from pathlib import Path

    from showerflow.performance import default_performance_config, run_performance

    directory = Path(directory)
    paths = {p: write_dl2(directory, p, seed) for p, seed in SEEDS.items()}
    return paths, run_performance(paths, default_performance_config())
