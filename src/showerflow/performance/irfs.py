"""IRFs in GADF format: full-enclosure and point-like, binned in FoV offset.

- **Full enclosure** (``HDUCLAS3 = FULL-ENCLOSURE``): effective area (AEFF_2D), energy
  dispersion (EDISP_2D) and PSF (PSF_TABLE) of the gammas passing the gammaness cut,
  background rate (BKG_2D) of the background passing it.
- **Point-like** (``HDUCLAS3 = POINT-LIKE``): effective area and energy dispersion of
  the gammas passing the gammaness *and* theta cuts, the theta cut as RAD_MAX
  (RAD_MAX_2D), and the same background rate (a rate per solid angle, full-enclosure by
  nature).

With diffuse gammas every axis in FoV offset is filled from the gammas whose true
direction lies in the bin, with the showers thrown into the bin (from the bookkeeping,
:meth:`pyirf.simulations.SimulatedEventsInfo.calculate_n_showers_per_energy_and_fov`);
on-axis gammas give the first offset bin only. The GADF axes use the regular energy
bins (no 0 or infinite edge).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from pyirf.binning import bin_center
from pyirf.io import (
    create_aeff2d_hdu,
    create_background_2d_hdu,
    create_energy_dispersion_hdu,
    create_psf_table_hdu,
    create_rad_max_hdu,
)
from pyirf.irf import background_2d, energy_dispersion, psf_table

from .binning import is_diffuse, make_bins, regular_edges
from .config import table_meta
from .cuts import cuts_in_offset_bin, gh_mask, theta_mask

__all__ = [
    "selection_masks",
    "effective_area",
    "effective_area_table",
    "background_rate_table",
    "rad_max_matrix",
    "full_enclosure_irfs",
    "point_like_irfs",
]

#: Effective-area variants: column suffix -> (gh cut, theta cut).
VARIANTS = {"": (True, True), "_no_cuts": (False, False), "_only_gh": (True, False),
            "_only_theta": (False, True)}  # fmt: skip


def selection_masks(events, gh_cuts, theta_cuts):
    """Masks of the events passing each cut combination of :data:`VARIANTS`.

    Parameters
    ----------
    events : astropy.table.QTable
    gh_cuts, theta_cuts : astropy.table.QTable

    Returns
    -------
    dict
        Column suffix -> boolean mask.
    """
    gh, theta = gh_mask(events, gh_cuts), theta_mask(events, theta_cuts)
    everything = np.ones(len(events), dtype=bool)
    return {
        suffix: (gh if use_gh else everything) & (theta if use_theta else everything)
        for suffix, (use_gh, use_theta) in VARIANTS.items()
    }


def effective_area(selected, info, true_bins, fov_bins):
    """Effective area, selected and thrown counts per (true energy, FoV offset) bin.

    Parameters
    ----------
    selected : astropy.table.QTable
        Gammas after the cuts.
    info : pyirf.simulations.SimulatedEventsInfo
    true_bins, fov_bins : astropy.units.Quantity
        Bin edges; an on-axis simulation needs exactly one FoV-offset bin.

    Returns
    -------
    (astropy.units.Quantity, numpy.ndarray, numpy.ndarray)
        Area [m²], selected events and thrown showers, each (n_energy, n_offset).
    """
    n_fov = len(fov_bins) - 1
    e = true_bins.to_value(u.TeV)
    if is_diffuse(info):
        thrown = info.calculate_n_showers_per_energy_and_fov(true_bins, fov_bins)
        n_sel = np.histogram2d(
            selected["true_energy"].to_value(u.TeV),
            selected["true_source_fov_offset"].to_value(u.deg),
            bins=[e, fov_bins.to_value(u.deg)],
        )[0]
    else:
        if n_fov != 1:
            raise ValueError("on-axis gammas give one FoV-offset bin, not " + str(n_fov))
        with np.errstate(invalid="ignore", divide="ignore"):  # a 0 TeV edge: 0**index
            thrown = info.calculate_n_showers_per_energy(true_bins)[:, np.newaxis]
        n_sel = np.histogram(selected["true_energy"].to_value(u.TeV), e)[0][:, np.newaxis]
    area = np.pi * info.max_impact**2
    with np.errstate(invalid="ignore", divide="ignore"):
        aeff = np.where(thrown > 0, n_sel / thrown, 0.0) * area
    return aeff.to(u.m**2), n_sel, np.nan_to_num(thrown, posinf=0.0)


def effective_area_table(gammas, gh_cuts, theta_cuts, info, cfg, fov_bins=None):
    """Effective area per (FoV offset, true energy) bin, with and without the cuts.

    The table that the EFFECTIVE_AREA HDUs are made from, in the same (regular) bins,
    with the event counts behind each value.

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
    fov_bins : astropy.units.Quantity, optional
        FoV-offset bins; default the first bin of ``binning.fov_offset``.

    Returns
    -------
    astropy.table.QTable
        One row per bin, offset-major: ``fov_offset_low``, ``fov_offset_high`` [deg],
        ``true_energy_low``, ``true_energy_high``, ``true_energy_center`` [TeV],
        ``n_simulated`` (thrown showers), ``effective_area`` (gh and theta cuts; the
        point-like IRF), ``effective_area_no_cuts``, ``effective_area_only_gh`` (the
        full-enclosure IRF), ``effective_area_only_theta`` [m²], and ``n_events`` +
        the same suffixes (selected events).
    """
    if fov_bins is None:
        fov_bins = make_bins(cfg)["fov_offset"][:2]
    true_bins = regular_edges(make_bins(cfg)["true_energy"])
    n_e, n_fov = len(true_bins) - 1, len(fov_bins) - 1
    table = QTable()
    table["fov_offset_low"] = np.repeat(fov_bins[:-1], n_e)
    table["fov_offset_high"] = np.repeat(fov_bins[1:], n_e)
    table["true_energy_low"] = np.tile(true_bins[:-1], n_fov)
    table["true_energy_high"] = np.tile(true_bins[1:], n_fov)
    table["true_energy_center"] = np.tile(bin_center(true_bins), n_fov)
    for suffix, mask in selection_masks(gammas, gh_cuts, theta_cuts).items():
        aeff, n_sel, thrown = effective_area(gammas[mask], info, true_bins, fov_bins)
        table["n_simulated"] = thrown.T.ravel()
        table["effective_area" + suffix] = aeff.T.ravel()
        table["n_events" + suffix] = n_sel.T.ravel().astype(np.int64)
    return table


def _matrix(table, column, n_fov):
    """(n_energy, n_offset) array of a column of an offset-major long table."""
    return u.Quantity(table[column]).reshape(n_fov, -1).T


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
    reco_bins = regular_edges(make_bins(cfg)["reco_energy"])
    ring = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    selected = background[gh_mask(background, gh_cuts)]
    rate = background_2d(selected, reco_bins, ring, t_obs=cfg["observation_time"] * u.h)
    in_ring = (selected["reco_source_fov_offset"] >= ring[0]) & (
        selected["reco_source_fov_offset"] < ring[1]
    )
    table = QTable()
    table["reco_energy_low"] = reco_bins[:-1]
    table["reco_energy_high"] = reco_bins[1:]
    table["reco_energy_center"] = bin_center(reco_bins)
    table["background_rate"] = rate[:, 0].to(u.Unit("TeV-1 s-1 sr-1"))
    table["n_events"] = np.histogram(
        selected["reco_energy"][in_ring].to_value(u.TeV), reco_bins.to_value(u.TeV)
    )[0]
    return table_meta(table, cfg)


def rad_max_matrix(theta_cuts, fov_bins):
    """RAD_MAX (n_reco, n_offset) and its reco-energy edges: the theta cuts' regular bins.

    Parameters
    ----------
    theta_cuts : astropy.table.QTable
        One set for the field of view (repeated in every offset bin) or per offset bin.
    fov_bins : astropy.units.Quantity

    Returns
    -------
    (astropy.units.Quantity, astropy.units.Quantity)
        RAD_MAX [deg] and the reco-energy edges of its rows (the cut table's own, without
        the under/overflow bins).
    """
    columns, edges = [], None
    for i in range(len(fov_bins) - 1):
        table = theta_cuts
        if "fov_offset_low" in theta_cuts.colnames:
            table = cuts_in_offset_bin(theta_cuts, i)
        regular = (table["low"] > 0 * u.TeV) & np.isfinite(table["high"])
        columns.append(u.Quantity(table["cut"][regular], u.deg))
        edges = np.append(table["low"][regular], table["high"][regular][-1])
    return u.Quantity(np.stack(columns, axis=1)), u.Quantity(edges)


def _primary(cfg, kind, cuts_label, extra=None):
    primary = fits.PrimaryHDU()
    header = primary.header
    header["CREATOR"] = "showerflow"
    header["IRFTYPE"] = (kind, "full_enclosure or point_like")
    header["OBS_TIME"] = (float(cfg["observation_time"]), "hours")
    header["TELESCOP"] = cfg["array"] or "unnamed"
    header["CUTSFILE"] = (str(cuts_label)[-68:], "the cuts applied")
    for key, value in (extra or {}).items():
        header[key] = value
    return primary


def _cards(cfg, energy_range):
    return {
        "TELESCOP": cfg["array"] or "unnamed",
        "LO_THRES": (float(energy_range[0].to_value(u.TeV)), "safe energy range, low [TeV]"),
        "HI_THRES": (float(energy_range[1].to_value(u.TeV)), "safe energy range, high [TeV]"),
    }


def _table_hdu(table, name):
    hdu = fits.table_to_hdu(QTable(table))
    hdu.name = name
    return hdu


def _edisp_hdu(selected, cfg, fov_bins, point_like, cards):
    bins = make_bins(cfg)
    true_bins = regular_edges(bins["true_energy"])
    matrix = energy_dispersion(
        selected,
        true_energy_bins=true_bins,
        fov_offset_bins=fov_bins,
        migration_bins=bins["migration"],
    )
    return create_energy_dispersion_hdu(
        matrix,
        true_energy_bins=true_bins,
        migration_bins=bins["migration"],
        fov_offset_bins=fov_bins,
        point_like=point_like,
        extname="ENERGY_DISPERSION",
        **cards,
    )


def _background_hdu(background, cuts, cfg, cards):
    bins = make_bins(cfg)
    reco_bins = regular_edges(bins["reco_energy"])
    rate = background_2d(
        background[gh_mask(background, cuts.gh)],
        reco_bins,
        fov_offset_bins=bins["background_fov_offset"],
        t_obs=cfg["observation_time"] * u.h,
    )
    return create_background_2d_hdu(rate, reco_bins, bins["background_fov_offset"], **cards)


def full_enclosure_irfs(gammas, background, cuts, aeff, cfg, fov_bins, energy_range,
                        cuts_label=""):  # fmt: skip
    """Full-enclosure IRFs: AEFF, EDISP, PSF of the gammas after the gammaness cut; BKG.

    Parameters
    ----------
    gammas : astropy.table.QTable
        Gammas (no cut applied) the IRFs describe.
    background : astropy.table.QTable
        Weighted background.
    cuts : showerflow.performance.cuts.Cuts
    aeff : astropy.table.QTable
        :func:`effective_area_table` of the same gammas, cuts and ``fov_bins``.
    cfg : dict
        Validated performance config.
    fov_bins : astropy.units.Quantity
    energy_range : astropy.units.Quantity
        ``[min, max]`` reco energy the IRFs are meant for (LO_THRES / HI_THRES).
    cuts_label : str, optional
        The cuts file (recorded in the header).

    Returns
    -------
    astropy.io.fits.HDUList
        PRIMARY, EFFECTIVE_AREA, ENERGY_DISPERSION, PSF, BACKGROUND, GH_CUTS.
    """
    bins = make_bins(cfg)
    true_bins = regular_edges(bins["true_energy"])
    cards = _cards(cfg, energy_range)
    selected = gammas[gh_mask(gammas, cuts.gh)]
    n_fov = len(fov_bins) - 1
    hdus = [
        _primary(cfg, "full_enclosure", cuts_label),
        create_aeff2d_hdu(
            _matrix(aeff, "effective_area_only_gh", n_fov),
            true_bins,
            fov_bins,
            extname="EFFECTIVE_AREA",
            point_like=False,
            **cards,
        ),
        _edisp_hdu(selected, cfg, fov_bins, False, cards),
    ]
    psf = psf_table(selected, true_bins, source_offset_bins=bins["source_offset"],
                    fov_offset_bins=fov_bins)  # fmt: skip
    hdus.append(create_psf_table_hdu(psf, true_bins, bins["source_offset"], fov_bins, **cards))
    hdus.append(_background_hdu(background, cuts, cfg, cards))
    hdus.append(_table_hdu(cuts.gh, "GH_CUTS"))
    return fits.HDUList(hdus)


def point_like_irfs(gammas, background, cuts, aeff, cfg, fov_bins, energy_range, cuts_label=""):
    """Point-like IRFs: AEFF, EDISP after the gammaness and theta cuts, RAD_MAX, BKG.

    Parameters
    ----------
    gammas, background, cuts, aeff, cfg, fov_bins, energy_range, cuts_label
        As :func:`full_enclosure_irfs`.

    Returns
    -------
    astropy.io.fits.HDUList
        PRIMARY, EFFECTIVE_AREA, ENERGY_DISPERSION, RAD_MAX, BACKGROUND, GH_CUTS,
        THETA_CUTS.
    """
    true_bins = regular_edges(make_bins(cfg)["true_energy"])
    rad_max, rad_max_bins = rad_max_matrix(cuts.theta, fov_bins)
    cards = _cards(cfg, energy_range)
    mask = gh_mask(gammas, cuts.gh) & theta_mask(gammas, cuts.theta)
    n_fov = len(fov_bins) - 1
    hdus = [
        _primary(cfg, "point_like", cuts_label),
        create_aeff2d_hdu(
            _matrix(aeff, "effective_area", n_fov),
            true_bins,
            fov_bins,
            extname="EFFECTIVE_AREA",
            point_like=True,
            **cards,
        ),
        _edisp_hdu(gammas[mask], cfg, fov_bins, True, cards),
        create_rad_max_hdu(rad_max, rad_max_bins, fov_bins, **cards),
        _background_hdu(background, cuts, cfg, cards),
        _table_hdu(cuts.gh, "GH_CUTS"),
        _table_hdu(cuts.theta, "THETA_CUTS"),
    ]
    return fits.HDUList(hdus)
