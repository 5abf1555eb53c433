"""Benchmarks per FoV-offset bin: angular resolution and energy bias/resolution.

Both against true and against reconstructed energy, in each bin of FoV offset (of the
true source direction), as ctapipe's 2-D benchmark makers: the angular resolution as
the 25, 50, 68 and 95 % containment radii of theta (distance of the reconstructed from
the true direction) of the gammas passing the gammaness cut (a theta cut would bias
it), the energy bias (median of E_reco/E_true - 1) and resolution (half the central
68 % interval) of those passing both cuts — the selections of pyirf's example.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.table import vstack
from pyirf.benchmarks import angular_resolution, energy_bias_resolution
from pyirf.benchmarks.angular_resolution import ONE_SIGMA_QUANTILE

from .binning import make_bins, offset_bin_index
from .config import table_meta
from .cuts import gh_mask, theta_mask

__all__ = [
    "CONTAINMENTS",
    "angular_resolution_table",
    "energy_bias_resolution_table",
    "benchmarks",
    "benchmark_tables",
]

#: Containment fractions of the angular resolution (68 % is the 1-sigma 68.27 %).
CONTAINMENTS = {"25": 0.25, "50": 0.50, "68": ONE_SIGMA_QUANTILE, "95": 0.95}


def _per_offset(make, gammas, fov_bins):
    """Stack ``make(events)`` over the FoV-offset bins, with the bin edges first."""
    index = offset_bin_index(gammas["true_source_fov_offset"], fov_bins)
    blocks = []
    for i, (low, high) in enumerate(zip(fov_bins[:-1], fov_bins[1:], strict=True)):
        table = make(gammas[index == i])
        table.add_column(np.full(len(table), low.to_value(u.deg)) * u.deg, 0, "fov_offset_low")
        table.add_column(np.full(len(table), high.to_value(u.deg)) * u.deg, 1, "fov_offset_high")
        blocks.append(table)
    return vstack(blocks, metadata_conflicts="silent")


def angular_resolution_table(gammas, energy_bins, fov_bins, energy_type="true"):
    """Containment radii of theta per (FoV offset, energy) bin.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Selected gammas (``theta``, energies, ``true_source_fov_offset``).
    energy_bins : astropy.units.Quantity
    fov_bins : astropy.units.Quantity
    energy_type : {"true", "reco"}

    Returns
    -------
    astropy.table.QTable
        ``fov_offset_low/high`` [deg], ``<energy_type>_energy_low/high/center``,
        ``n_events``, ``angular_resolution_25/50/68/95`` [deg] and ``angular_resolution``
        (the 68 % one); ``meta["CONTAIN"]`` = 68.27.
    """

    def make(events):
        table = angular_resolution(
            events, energy_bins, energy_type=energy_type, quantile=list(CONTAINMENTS.values())
        )
        # pyirf names each column by the rounded percent: the 68.27 % one is "_68"
        table["angular_resolution"] = table["angular_resolution_68"]
        return table

    table = _per_offset(make, gammas, fov_bins)
    table.meta["CONTAIN"] = 68.27
    return table


def energy_bias_resolution_table(gammas, energy_bins, fov_bins, energy_type="true"):
    """Energy bias and resolution per (FoV offset, energy) bin.

    Parameters
    ----------
    gammas : astropy.table.QTable
    energy_bins : astropy.units.Quantity
    fov_bins : astropy.units.Quantity
    energy_type : {"true", "reco"}

    Returns
    -------
    astropy.table.QTable
        ``fov_offset_low/high`` [deg], ``<energy_type>_energy_low/high/center``,
        ``n_events``, ``bias``, ``resolution``.
    """
    return _per_offset(
        lambda events: energy_bias_resolution(events, energy_bins, energy_type=energy_type),
        gammas,
        fov_bins,
    )


def benchmarks(gammas, cfg, gh_cuts=None, theta_cuts=None, fov_bins=None, energy_type="true"):
    """Angular resolution and energy bias/resolution of the gammas, per FoV-offset bin.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Gamma events.
    cfg : dict
        Validated performance config.
    gh_cuts, theta_cuts : astropy.table.QTable, optional
        Binned cuts; no cut if omitted.
    fov_bins : astropy.units.Quantity, optional
        Default: the first bin of ``binning.fov_offset``.
    energy_type : {"true", "reco"}

    Returns
    -------
    (QTable, QTable)
        :func:`angular_resolution_table` (gammas after the gammaness cut) and
        :func:`energy_bias_resolution_table` (after both cuts).
    """
    bins = make_bins(cfg)
    if fov_bins is None:
        fov_bins = bins["fov_offset"][:2]
    energy_bins = bins[f"{energy_type}_energy"]
    everything = np.ones(len(gammas), dtype=bool)
    sel_gh = gh_mask(gammas, gh_cuts) if gh_cuts is not None else everything
    sel_theta = theta_mask(gammas, theta_cuts) if theta_cuts is not None else everything
    ang = angular_resolution_table(gammas[sel_gh], energy_bins, fov_bins, energy_type)
    ebr = energy_bias_resolution_table(
        gammas[sel_gh & sel_theta], energy_bins, fov_bins, energy_type
    )
    return table_meta(ang, cfg), table_meta(ebr, cfg)


def benchmark_tables(gammas, cuts, cfg, fov_bins):
    """Every benchmark table: both energies, per FoV-offset bin.

    Parameters
    ----------
    gammas : astropy.table.QTable
    cuts : showerflow.performance.cuts.Cuts
    cfg : dict
    fov_bins : astropy.units.Quantity

    Returns
    -------
    dict
        ``angular_resolution``, ``energy_bias_resolution`` (true energy),
        ``angular_resolution_reco``, ``energy_bias_resolution_reco``.
    """
    out = {}
    for energy_type, suffix in (("true", ""), ("reco", "_reco")):
        ang, ebr = benchmarks(gammas, cfg, cuts.gh, cuts.theta, fov_bins, energy_type)
        out["angular_resolution" + suffix] = ang
        out["energy_bias_resolution" + suffix] = ebr
    return out
