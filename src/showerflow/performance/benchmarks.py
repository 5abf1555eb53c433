"""Benchmarks per FoV-offset bin: angular resolution and energy bias/resolution.

Both against true and against reconstructed energy, in each bin of FoV offset (of the
true source direction), as ctapipe's 2-D benchmark makers: the angular resolution as
the 25, 50, 68 and 95 % containment radii of theta (distance of the reconstructed from
the true direction) of the gammas passing the gammaness cut (a theta cut would bias
it), the energy bias (median of E_reco/E_true - 1) and resolution (half the central
68 % interval) of those passing both cuts — the selections of pyirf's example.

The numbers are those of :func:`pyirf.benchmarks.angular_resolution` and
:func:`pyirf.benchmarks.energy_bias_resolution` (numpy's linear quantiles per bin), computed
for every (offset, energy) bin in one sort instead of one table group-by per bin.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.table import QTable
from pyirf.benchmarks.angular_resolution import ONE_SIGMA_QUANTILE
from pyirf.benchmarks.energy_bias_resolution import NORM_LOWER_SIGMA, NORM_UPPER_SIGMA

from .binning import make_bins, offset_bin_index
from .config import table_meta
from .cuts import gh_mask, theta_mask

__all__ = [
    "CONTAINMENTS",
    "grouped_quantiles",
    "angular_resolution_table",
    "energy_bias_resolution_table",
    "compute_benchmarks",
    "benchmark_tables",
]

#: Containment fractions of the angular resolution (68 % is the 1-sigma 68.27 %).
CONTAINMENTS = {"25": 0.25, "50": 0.50, "68": ONE_SIGMA_QUANTILE, "95": 0.95}


def grouped_quantiles(values, groups, n_groups, quantiles):
    """Quantiles of the values in each group, numpy's default (linear) method.

    Parameters
    ----------
    values : numpy.ndarray
    groups : numpy.ndarray of int
        Group of each value, in ``[0, n_groups)``; negative: in none.
    n_groups : int
    quantiles : sequence of float

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Quantiles (n_groups, n_quantiles), NaN for empty groups, and the number of
        (finite) values per group.
    """
    keep = (groups >= 0) & np.isfinite(values)
    v, g = np.asarray(values)[keep], np.asarray(groups)[keep]
    order = np.lexsort((v, g))
    v, g = v[order], g[order]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full((n_groups, len(quantiles)), np.nan)
    has = counts > 0
    first, n = starts[has], counts[has]
    for j, q in enumerate(quantiles):
        position = first + q * (n - 1)  # numpy's "linear": index q (n - 1) of the sorted values
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, first + n - 1)
        out[has, j] = v[low] + (position - low) * (v[high] - v[low])
    return out, counts


def _grid(events, energy_type, energy_bins, fov_bins):
    """(group index of each event, table of the (offset, energy) bins, offset-major)."""
    key = f"{energy_type}_energy"
    n_e, n_o = len(energy_bins) - 1, len(fov_bins) - 1
    e_idx = np.digitize(events[key].to_value(energy_bins.unit), energy_bins.value) - 1
    o_idx = offset_bin_index(events["true_source_fov_offset"], fov_bins)
    groups = np.where((e_idx >= 0) & (e_idx < n_e) & (o_idx >= 0), o_idx * n_e + e_idx, -1)
    table = QTable()
    table["fov_offset_low"] = np.repeat(fov_bins[:-1], n_e)
    table["fov_offset_high"] = np.repeat(fov_bins[1:], n_e)
    table[f"{key}_low"] = np.tile(energy_bins[:-1], n_o)
    table[f"{key}_high"] = np.tile(energy_bins[1:], n_o)
    table[f"{key}_center"] = 0.5 * (table[f"{key}_low"] + table[f"{key}_high"])  # as pyirf
    return groups, table


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
    groups, table = _grid(gammas, energy_type, energy_bins, fov_bins)
    theta = u.Quantity(gammas["theta"], u.deg).value
    values, counts = grouped_quantiles(theta, groups, len(table), list(CONTAINMENTS.values()))
    table["n_events"] = counts
    for j, key in enumerate(CONTAINMENTS):
        table[f"angular_resolution_{key}"] = values[:, j] * u.deg
    table["angular_resolution"] = table["angular_resolution_68"]
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
        ``n_events``, ``bias`` (median of E_reco/E_true - 1), ``resolution`` (half the
        distance between its 15.87 and 84.13 % quantiles).
    """
    groups, table = _grid(gammas, energy_type, energy_bins, fov_bins)
    rel = (gammas["reco_energy"] / gammas["true_energy"]).to_value(u.one) - 1
    q, counts = grouped_quantiles(
        rel, groups, len(table), [0.5, NORM_LOWER_SIGMA, NORM_UPPER_SIGMA]
    )
    table["n_events"] = counts
    table["bias"] = q[:, 0]
    table["resolution"] = 0.5 * (q[:, 2] - q[:, 1])
    return table


def compute_benchmarks(
    gammas, cfg, gh_cuts=None, theta_cuts=None, fov_bins=None, energy_type="true"
):
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
        ang, ebr = compute_benchmarks(gammas, cfg, cuts.gh, cuts.theta, fov_bins, energy_type)
        out["angular_resolution" + suffix] = ang
        out["energy_bias_resolution" + suffix] = ebr
    return out
