"""Cut optimisation: gammaness and theta cuts for the best point-source sensitivity.

EventDisplay-like, as pyirf's example and ctapipe's ``PointSourceSensitivityOptimizer``:

1. an initial gammaness cut keeping ``initial_gh_cut_efficiency`` of the gammas in each
   reco-energy bin (a percentile per bin; bins with fewer than ``min_events_per_bin``
   gammas take the cut of that efficiency over all energies);
2. theta cut = ``theta_containment`` percentile of the gammas it keeps, per reco-energy
   bin, clipped to [theta_min, theta_max] (theta from the true source position);
3. :func:`pyirf.cut_optimization.optimize_gh_cut` picks, per bin, the gamma efficiency
   of the gammaness cut with the best sensitivity;
4. the theta cut is recomputed on the gammas passing the optimised gammaness cut;
5. the sensitivity is recomputed with the final cuts; where it is finite the cuts are
   valid.

One set of cuts for the whole field of view comes from the on-axis gammas, the
background in the ``fov_offset_min``..``fov_offset_max`` ring; with ``cuts.per_offset``
each FoV-offset bin gets its own, from the diffuse gammas of the bin and the background
in that ring.
"""

from __future__ import annotations

import logging
import operator

import astropy.units as u
import numpy as np
from astropy.table import QTable
from pyirf.cut_optimization import optimize_gh_cut
from pyirf.cuts import calculate_percentile_cut, evaluate_binned_cut

from .binning import gh_cut_efficiencies, make_bins, offset_bin_index
from .cuts import Cuts, gh_mask, stack_offset_bins, valid_energy_range
from .sensitivity import sensitivity_for_cuts, without_particle_type

__all__ = ["initial_gh_cuts", "theta_cuts_for", "optimise_cuts", "make_cuts"]

log = logging.getLogger(__name__)


def initial_gh_cuts(gammas, cfg, reco_bins):
    """Initial gammaness cut: a per-bin percentile keeping ``initial_gh_cut_efficiency``.

    Parameters
    ----------
    gammas : astropy.table.QTable
    cfg : dict
        Validated performance config.
    reco_bins : astropy.units.Quantity

    Returns
    -------
    astropy.table.QTable
        pyirf cut table (``low``, ``center``, ``high``, ``n_events``, ``cut``).
    """
    eff = cfg["cuts"]["initial_gh_cut_efficiency"]
    global_cut = float(np.quantile(gammas["gh_score"], 1 - eff))
    cuts = calculate_percentile_cut(
        gammas["gh_score"],
        gammas["reco_energy"],
        bins=reco_bins,
        fill_value=global_cut,
        percentile=100 * (1 - eff),
        min_events=cfg["cuts"]["min_events_per_bin"],
    )
    log.info(
        "initial gammaness cut per reco-energy bin at %.0f %% gamma efficiency (%.3f – %.3f)",
        100 * eff,
        np.min(cuts["cut"]),
        np.max(cuts["cut"]),
    )
    return cuts


def theta_cuts_for(gammas, mask, cfg, reco_bins):
    """Theta cut: the ``theta_containment`` percentile of the selected gammas per bin.

    Parameters
    ----------
    gammas : astropy.table.QTable
    mask : numpy.ndarray of bool
        The gammas to take the percentile of.
    cfg : dict
        Validated performance config.
    reco_bins : astropy.units.Quantity

    Returns
    -------
    astropy.table.QTable
        pyirf cut table, ``cut`` [deg] clipped to [theta_min, theta_max]; bins with fewer
        than ``min_events_per_bin`` gammas get theta_max.
    """
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


def optimise_cuts(gammas, background, cfg, ring=None):
    """Optimise gammaness and theta cuts for the best sensitivity (steps 1–5 above).

    Parameters
    ----------
    gammas : astropy.table.QTable
        Weighted gamma events (as a point source, :func:`prepare_events`).
    background : astropy.table.QTable
        Weighted background events (protons and electrons stacked).
    cfg : dict
        Validated performance config.
    ring : astropy.units.Quantity, optional
        ``[min, max]`` FoV offset of the background ring; default ``fov_offset_min`` /
        ``fov_offset_max``.

    Returns
    -------
    (QTable, QTable, QTable)
        ``gh_cuts`` (``low``, ``center``, ``high``, ``cut``, ``efficiency``),
        ``theta_cuts`` (``low``, ``high``, ``center``, ``n_events``, ``cut`` [deg]) and
        ``sensitivity`` (:func:`sensitivity_for_cuts`), all in reco-energy bins.
    """
    if len(gammas) == 0:
        raise ValueError("no gamma events left: cannot optimise cuts")
    if ring is None:
        ring = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    reco_bins = make_bins(cfg)["reco_energy"]
    initial = initial_gh_cuts(gammas, cfg, reco_bins)
    passed = evaluate_binned_cut(gammas["gh_score"], gammas["reco_energy"], initial, operator.ge)
    theta_initial = theta_cuts_for(gammas, passed, cfg, reco_bins)

    efficiencies = gh_cut_efficiencies(cfg)
    log.info("optimising the gammaness cut over %d efficiencies", len(efficiencies))
    _, gh_cuts = optimize_gh_cut(
        without_particle_type(gammas),
        without_particle_type(background),
        reco_energy_bins=reco_bins,
        gh_cut_efficiencies=efficiencies,
        theta_cuts=theta_initial,
        op=operator.ge,
        fov_offset_min=ring[0],
        fov_offset_max=ring[1],
        alpha=cfg["alpha"],
        progress=False,
        **cfg["sensitivity"],
    )
    theta_cuts = theta_cuts_for(gammas, gh_mask(gammas, gh_cuts), cfg, reco_bins)
    sensitivity = sensitivity_for_cuts(gammas, background, gh_cuts, theta_cuts, cfg, ring)
    return gh_cuts, theta_cuts, sensitivity


def _validity_row(low, high, sensitivity):
    e_min, e_max = valid_energy_range(sensitivity)
    return {
        "fov_offset_low": u.Quantity(low, u.deg),
        "fov_offset_high": u.Quantity(high, u.deg),
        "energy_min": e_min,
        "energy_max": e_max,
    }


def _validity_table(rows):
    table = QTable()
    for key in ("fov_offset_low", "fov_offset_high", "energy_min", "energy_max"):
        table[key] = u.Quantity([r[key] for r in rows])
    return table


def make_cuts(gammas, background, cfg, diffuse=None, offset_edges=None):
    """The cuts product: optimised cuts, where they are valid, what they were made for.

    Parameters
    ----------
    gammas : astropy.table.QTable
        On-axis gammas (weighted, quality cuts applied); their pointing is recorded.
    background : astropy.table.QTable
        Weighted background.
    cfg : dict
        Validated performance config.
    diffuse : astropy.table.QTable, optional
        Diffuse gammas weighted as a point source per offset bin: needed with
        ``cuts.per_offset``.
    offset_edges : astropy.units.Quantity, optional
        FoV-offset bins of per-offset cuts (default ``binning.fov_offset``).

    Returns
    -------
    (showerflow.performance.cuts.Cuts, astropy.table.QTable)
        The cuts and the sensitivity of the optimisation (on-axis for one set of cuts;
        per-offset cuts: the blocks of each bin stacked with ``fov_offset_*`` columns).
    """
    meta = {
        "ARRAY": cfg["array"] or "unnamed",
        "ZENITH": gammas.meta.get("zenith", np.nan),
        "AZIMUTH": gammas.meta.get("azimuth", np.nan),
        "MULTMIN": cfg["quality_cuts"]["multiplicity_min"],
        "PEROFFS": bool(cfg["cuts"]["per_offset"]),
        "OBS_TIME": cfg["observation_time"],
        "ALPHA": cfg["alpha"],
        "SPECTRUM": cfg["spectra"]["gamma"],
        "GHEFFINI": cfg["cuts"]["initial_gh_cut_efficiency"],
        "THCONT": cfg["cuts"]["theta_containment"],
    }
    if not cfg["cuts"]["per_offset"]:
        gh, theta, sens = optimise_cuts(gammas, background, cfg)
        # one set of cuts for the whole field of view (as ctapipe's)
        validity = _validity_table([_validity_row(0 * u.deg, np.inf * u.deg, sens)])
        return Cuts(gh, theta, validity, meta), sens
    if diffuse is None:
        raise ValueError(
            "cuts.per_offset needs diffuse gammas (performance.gamma_diffuse): the on-axis "
            "gammas say nothing about the other FoV-offset bins"
        )
    edges = make_bins(cfg)["fov_offset"] if offset_edges is None else offset_edges
    index = offset_bin_index(diffuse["true_source_fov_offset"], edges)
    results, rows = [], []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        log.info("optimising the cuts of FoV-offset bin %g–%g deg", low.value, high.value)
        result = optimise_cuts(diffuse[index == i], background, cfg, u.Quantity([low, high]))
        results.append(result)
        rows.append(_validity_row(low, high, result[2]))
    gh = stack_offset_bins([r[0] for r in results], edges)
    theta = stack_offset_bins([r[1] for r in results], edges)
    sens = stack_offset_bins([r[2] for r in results], edges)
    return Cuts(gh, theta, _validity_table(rows), meta), sens
