"""Point-source sensitivity for given cuts: on axis, and per FoV-offset bin.

pyirf's :func:`~pyirf.sensitivity.calculate_sensitivity` (5 sigma Li & Ma, >= 10 excess
events, excess >= 5 % of the background by default) on the weighted signal after both
cuts and the background after the gammaness cut, scaled from a FoV ring to the on region
(:func:`~pyirf.sensitivity.estimate_background`).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.table import QTable, vstack
from pyirf.binning import create_histogram_table
from pyirf.sensitivity import calculate_sensitivity, estimate_background

from .binning import make_bins, offset_bin_index
from .config import table_meta
from .cuts import cuts_in_offset_bin, gh_mask, theta_mask
from .spectra import ENERGY_FLUX_UNIT, FLUX_UNIT, resolve_spectrum

__all__ = [
    "without_particle_type",
    "add_flux_sensitivity",
    "sensitivity_for_cuts",
    "sensitivity_per_offset",
]


def without_particle_type(events):
    """The events without ``particle_type``.

    pyirf adds per-particle columns only for particles present after the cuts, which
    makes tables of different cuts incompatible (optimize_gh_cut then fails).

    Parameters
    ----------
    events : astropy.table.QTable

    Returns
    -------
    astropy.table.QTable
        Sharing the columns' data.
    """
    if "particle_type" not in events.colnames:
        return events
    # a new table sharing the columns' data (events[[names]] would copy every column)
    return QTable(
        [events[c] for c in events.colnames if c != "particle_type"],
        copy=False,
        meta=events.meta,
    )


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


def sensitivity_for_cuts(gammas, background, gh_cuts, theta_cuts, cfg, ring=None,
                         per_particle=True, selected=None):  # fmt: skip
    """Point-source sensitivity of weighted events for given gammaness and theta cuts.

    Parameters
    ----------
    gammas, background : astropy.table.QTable
        Weighted event lists (:func:`~showerflow.performance.events.prepare_events`), no
        cuts applied.
    gh_cuts, theta_cuts : astropy.table.QTable
        Binned cuts (columns ``low``, ``high``, ``center``, ``cut``).
    cfg : dict
        Validated performance config.
    ring : astropy.units.Quantity, optional
        ``[min, max]`` FoV offset of the background ring; default ``fov_offset_min`` /
        ``fov_offset_max`` of the config.
    per_particle : bool, optional
        Add the background counts of each particle.
    selected : astropy.table.QTable, optional
        ``background`` after ``gh_cuts`` (``background[gh_mask(background, gh_cuts)]``),
        if already made.

    Returns
    -------
    astropy.table.QTable
        pyirf's sensitivity table plus ``n_<particle>`` / ``n_<particle>_weighted``
        background counts, ``flux_sensitivity`` [TeV⁻¹ cm⁻² s⁻¹] and
        ``energy_flux_sensitivity`` [erg cm⁻² s⁻¹]; ``n_signal_mc`` is the number of
        simulated gammas left after the cuts (pyirf's ``n_signal`` is the weighted
        signal scaled to the sensitivity flux), ``n_background_mc`` that of simulated
        background events in the ring after the gammaness cut (pyirf's ``n_background``
        is scaled to the off regions).
    """
    if ring is None:
        ring = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    reco_bins = make_bins(cfg)["reco_energy"]
    signal = without_particle_type(
        gammas[gh_mask(gammas, gh_cuts) & theta_mask(gammas, theta_cuts)]
    )
    signal_hist = create_histogram_table(signal, reco_bins, "reco_energy")
    if selected is None:
        selected = background[gh_mask(background, gh_cuts)]

    def background_hist(events):
        return estimate_background(
            without_particle_type(events),
            reco_energy_bins=reco_bins,
            theta_cuts=theta_cuts,
            alpha=cfg["alpha"],
            fov_offset_min=ring[0],
            fov_offset_max=ring[1],
        )

    sensitivity = calculate_sensitivity(
        signal_hist, background_hist(selected), alpha=cfg["alpha"], **cfg["sensitivity"]
    )
    sensitivity["n_signal_mc"] = signal_hist["n"]  # simulated gammas left after the cuts
    # simulated background events in the ring after the gh cut: how far to trust the estimate
    offset = selected["reco_source_fov_offset"]
    in_ring = (offset >= ring[0]) & (offset < ring[1])
    sensitivity["n_background_mc"] = np.histogram(
        selected["reco_energy"][in_ring].to_value(u.TeV), reco_bins.to_value(u.TeV)
    )[0]
    # per-particle background counts, the same columns whatever survives the cuts
    if per_particle and "particle_type" in selected.colnames:
        kinds = np.asarray(selected["particle_type"])
        for particle in np.unique(np.asarray(background["particle_type"])).tolist():
            hist = background_hist(selected[kinds == particle])
            sensitivity[f"n_{particle}"] = hist["n"]
            sensitivity[f"n_{particle}_weighted"] = hist["n_weighted"]
    add_flux_sensitivity(sensitivity, resolve_spectrum(cfg["spectra"]["gamma"]))
    return table_meta(sensitivity, cfg)


def sensitivity_per_offset(gammas, background, cuts, cfg, edges):
    """Sensitivity for a point source in each FoV-offset bin, where statistics allow.

    In bin ``i`` the signal is the gammas whose true direction is in the bin, weighted
    as a point source there (diffuse gammas:
    :func:`~showerflow.performance.spectra.point_source_weights`); the background is the
    one reconstructed in the same ring of offsets. Bins of reco energy with fewer than
    ``cuts.min_events_per_bin`` simulated gammas left after the cuts get NaN (too few
    to say).

    Parameters
    ----------
    gammas, background : astropy.table.QTable
        Weighted events, no cuts applied.
    cuts : showerflow.performance.cuts.Cuts
    cfg : dict
        Validated performance config.
    edges : astropy.units.Quantity
        FoV-offset bin edges.

    Returns
    -------
    astropy.table.QTable
        :func:`sensitivity_for_cuts` columns (without the per-particle counts), one
        block of reco-energy rows per offset bin, with ``fov_offset_low`` and
        ``fov_offset_high`` [deg] first.
    """
    index = offset_bin_index(gammas["true_source_fov_offset"], edges)
    selected = None if cuts.per_offset else background[gh_mask(background, cuts.gh)]
    blocks = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        gh, theta = cuts.gh, cuts.theta
        if cuts.per_offset:
            gh, theta = cuts_in_offset_bin(gh, i), cuts_in_offset_bin(theta, i)
        ring = u.Quantity([low, high])
        table = sensitivity_for_cuts(gammas[index == i], background, gh, theta, cfg, ring,
                                     per_particle=False, selected=selected)  # fmt: skip
        too_few = np.asarray(table["n_signal_mc"]) < cfg["cuts"]["min_events_per_bin"]
        for col in ("relative_sensitivity", "flux_sensitivity", "energy_flux_sensitivity"):
            table[col][too_few] = np.nan
        table.add_column(np.full(len(table), low.to_value(u.deg)) * u.deg, 0, "fov_offset_low")
        table.add_column(np.full(len(table), high.to_value(u.deg)) * u.deg, 1, "fov_offset_high")
        blocks.append(table)
    return table_meta(vstack(blocks, metadata_conflicts="silent"), cfg)
