"""Bin edges of the performance stage: energies, migration, source and FoV offsets.

The cut and sensitivity tables use the configured reco-energy bins, under/overflow bins
included (pyirf's convention); the GADF IRF axes use only the regular bins
(:func:`regular_edges`), so that a DL3 client never meets a 0 or infinite edge.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from pyirf.binning import add_overflow_bins, create_bins_per_decade
from pyirf.utils import cone_solid_angle

from ..contracts import ContractError

__all__ = [
    "make_bins",
    "gh_cut_efficiencies",
    "regular_edges",
    "is_diffuse",
    "irf_offset_edges",
    "offset_bin_index",
    "offset_label",
    "thrown_solid_angle",
    "check_view_cone",
]


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


def regular_edges(edges):
    """The edges without the under/overflow bins (a 0 first or an infinite last edge).

    Parameters
    ----------
    edges : astropy.units.Quantity

    Returns
    -------
    astropy.units.Quantity
    """
    keep = np.isfinite(edges) & (edges > 0 * edges.unit)
    return edges[keep]


def is_diffuse(info):
    """Whether a simulation threw its showers over a cone (view cone wider than zero).

    Parameters
    ----------
    info : pyirf.simulations.SimulatedEventsInfo

    Returns
    -------
    bool
    """
    return bool((info.viewcone_max - info.viewcone_min).to_value(u.deg) > 0)


def irf_offset_edges(cfg, info):
    """FoV-offset edges of the IRFs made from a gamma sample.

    Diffuse gammas fill every bin of ``binning.fov_offset``; on-axis (point-like) gammas
    describe the first bin only, so their IRFs have that one bin.

    Parameters
    ----------
    cfg : dict
        Validated performance config.
    info : pyirf.simulations.SimulatedEventsInfo
        The gammas' bookkeeping.

    Returns
    -------
    astropy.units.Quantity
    """
    edges = make_bins(cfg)["fov_offset"]
    return edges if is_diffuse(info) else edges[:2]


def offset_bin_index(offset, edges):
    """Index of the FoV-offset bin of each value; -1 outside ``[edges[0], edges[-1])``.

    Parameters
    ----------
    offset : astropy.units.Quantity
    edges : astropy.units.Quantity

    Returns
    -------
    numpy.ndarray of int
    """
    values = u.Quantity(offset, u.deg).value
    e = edges.to_value(u.deg)
    idx = np.searchsorted(e, values, side="right") - 1
    idx[(values < e[0]) | (values >= e[-1])] = -1
    return idx


def offset_label(low, high):
    """``"1–2°"`` for a FoV-offset bin."""
    return f"{u.Quantity(low, u.deg).value:g}–{u.Quantity(high, u.deg).value:g}°"


def thrown_solid_angle(info, edges):
    """Solid angle of each FoV-offset bin inside the simulated view cone.

    The showers of a diffuse simulation are thrown uniformly per solid angle between
    ``viewcone_min`` and ``viewcone_max``; the part of an offset bin inside that cone is
    what the showers in the bin were thrown over.

    Parameters
    ----------
    info : pyirf.simulations.SimulatedEventsInfo
    edges : astropy.units.Quantity
        FoV-offset bin edges.

    Returns
    -------
    astropy.units.Quantity
        [sr], one value per bin.
    """
    low = np.clip(edges[:-1], info.viewcone_min, info.viewcone_max)
    high = np.clip(edges[1:], info.viewcone_min, info.viewcone_max)
    return (cone_solid_angle(high) - cone_solid_angle(low)).to(u.sr)


def check_view_cone(info, edges, path):
    """Stop unless every FoV-offset bin lies inside the simulated view cone.

    Parameters
    ----------
    info : pyirf.simulations.SimulatedEventsInfo
    edges : astropy.units.Quantity
    path : str
        The DL2 file(s) of the simulation, for the message.

    Raises
    ------
    showerflow.contracts.ContractError
        Naming the bins outside the cone, the cone and what is expected.
    """
    lo, hi = info.viewcone_min.to_value(u.deg), info.viewcone_max.to_value(u.deg)
    e = edges.to_value(u.deg)
    outside = [
        offset_label(a, b) for a, b in zip(e[:-1], e[1:], strict=True) if a < lo or b > hi + 1e-9
    ]
    if outside:
        raise ContractError(
            path,
            f"the diffuse gammas were thrown over a view cone of {lo:g}–{hi:g}° but the IRFs "
            f"ask for FoV-offset bins {', '.join(outside)} (binning.fov_offset "
            f"{[float(x) for x in e]}): expected every bin inside {lo:g}–{hi:g}°; "
            "narrow binning.fov_offset or simulate a wider cone",
        )
