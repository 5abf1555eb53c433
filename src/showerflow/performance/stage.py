"""The performance stage: DL2 files -> cuts (``optimize``) -> IRFs, sensitivity, benchmarks.

``dl2_paths`` name the DL2 of each sample: ``gamma`` (on-axis, point-like gammas: the
cut optimisation and the on-axis sensitivity), ``gamma_diffuse`` (optional, gammas
thrown over a view cone: the FoV-offset-dependent IRFs, benchmarks and sensitivity),
``proton`` and ``electron`` (the background; at least one). Without diffuse gammas the
IRFs come from the on-axis gammas, in the first FoV-offset bin only.
"""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
from astropy.table import QTable, vstack

from ..contracts import PARTICLES, ContractError
from .benchmarks import benchmark_tables
from .binning import irf_offset_edges, make_bins
from .config import IRF_TYPES, validate_performance_config
from .cuts import check_cuts, cuts_in_offset_bin
from .events import load_particle
from .irfs import background_rate_table, effective_area_table, full_enclosure_irfs, point_like_irfs
from .optimize import make_cuts
from .sensitivity import sensitivity_for_cuts, sensitivity_per_offset

__all__ = ["SAMPLES", "load_samples", "run_optimize", "irf_energy_range", "run_performance"]

log = logging.getLogger(__name__)

#: The DL2 samples the stage knows: sample -> particle.
SAMPLES = {"gamma": "gamma", "gamma_diffuse": "gamma", "proton": "proton", "electron": "electron"}

#: The event columns the cuts, IRFs, sensitivity and benchmarks use (the others are
#: dropped after the preparation: every selection copies fewer columns).
USED_COLUMNS = ("true_energy", "reco_energy", "gh_score", "theta", "true_source_fov_offset",
                "reco_source_fov_offset", "weight", "particle_type")  # fmt: skip


def _narrow(events):
    return QTable([events[c] for c in USED_COLUMNS], copy=False, meta=events.meta)


def _check_samples(dl2_paths):
    unknown = sorted(set(dl2_paths) - set(SAMPLES))
    if unknown:
        raise ValueError(f"unknown sample(s) {unknown}; allowed: {', '.join(SAMPLES)}")
    if "gamma" not in dl2_paths:
        raise ValueError("dl2_paths needs 'gamma' DL2 files (on-axis gammas)")
    if not set(dl2_paths) & {"proton", "electron"}:
        raise ValueError("dl2_paths needs background DL2 files ('proton' and/or 'electron')")
    if "electron" not in dl2_paths or "proton" not in dl2_paths:
        log.warning("background without %s", "electrons" if "proton" in dl2_paths else "protons")


def load_samples(dl2_paths, cfg):
    """Read, cut and weight every sample; check the gamma samples' kinds and pointing.

    Parameters
    ----------
    dl2_paths : dict
        Sample -> path or list of paths (:data:`SAMPLES`).
    cfg : dict
        Validated performance config.

    Returns
    -------
    dict
        ``events``, ``infos`` and ``labels`` (sample -> QTable / SimulatedEventsInfo /
        str), and ``background`` (protons and electrons stacked).
    """
    _check_samples(dl2_paths)
    events, infos, labels = {}, {}, {}
    fov = make_bins(cfg)["fov_offset"]
    kinds = {"gamma": "on_axis", "gamma_diffuse": "diffuse"}
    for sample in (s for s in SAMPLES if s in dl2_paths):
        ev, info, label = load_particle(
            dl2_paths[sample],
            SAMPLES[sample],
            cfg,
            fov if sample == "gamma_diffuse" else None,
            kind=kinds.get(sample),
            sample=sample,
        )
        events[sample], infos[sample], labels[sample] = _narrow(ev), info, label
    if "gamma_diffuse" in events:
        dz = abs(events["gamma_diffuse"].meta["zenith"] - events["gamma"].meta["zenith"])
        if dz > cfg["cuts"]["zenith_tolerance"]:
            raise ContractError(
                labels["gamma_diffuse"],
                f"pointing zenith {events['gamma_diffuse'].meta['zenith']:g}° differs from the "
                f"on-axis gammas' {events['gamma'].meta['zenith']:g}° ({labels['gamma']}): "
                f"expected within {cfg['cuts']['zenith_tolerance']:g}° (cuts.zenith_tolerance)",
            )
    background = vstack(
        [events[p] for p in PARTICLES if p != "gamma" and p in events], metadata_conflicts="silent"
    )
    return {"events": events, "infos": infos, "labels": labels, "background": background}


def run_optimize(dl2_paths, cfg, samples=None):
    """Optimise the cuts (the ``optimize`` rule).

    Parameters
    ----------
    dl2_paths : dict
        As :func:`load_samples` (``gamma_diffuse`` needed with ``cuts.per_offset``).
    cfg : dict
        Performance config (validated here).
    samples : dict, optional
        :func:`load_samples` of the same paths, if already read.

    Returns
    -------
    (showerflow.performance.cuts.Cuts, astropy.table.QTable)
        The cuts and the sensitivity of the optimisation.
    """
    cfg = validate_performance_config(cfg)
    if not cfg["cuts"]["per_offset"]:  # one set for the FoV: the on-axis gammas only
        dl2_paths = {k: v for k, v in dl2_paths.items() if k != "gamma_diffuse"}
    samples = samples or load_samples(dl2_paths, cfg)
    events = samples["events"]
    return make_cuts(events["gamma"], samples["background"], cfg, events.get("gamma_diffuse"))


def irf_energy_range(cfg, cuts, fov_bins):
    """The reco-energy range the IRFs are for: ``irf_energy_range``, its nulls filled
    from where the cuts are valid in every one of the IRFs' FoV-offset bins.

    Parameters
    ----------
    cfg : dict
    cuts : showerflow.performance.cuts.Cuts
    fov_bins : astropy.units.Quantity

    Returns
    -------
    astropy.units.Quantity
        ``[min, max]`` [TeV]
    """
    v = cuts.validity
    covering = np.zeros(len(v), dtype=bool)
    for low, high in zip(fov_bins[:-1], fov_bins[1:], strict=True):
        covering |= (v["fov_offset_low"] < high) & (v["fov_offset_high"] > low)
    rows = v[covering] if covering.any() else v
    lo = np.nanmax(u.Quantity(rows["energy_min"], u.TeV).value)
    hi = np.nanmin(u.Quantity(rows["energy_max"], u.TeV).value)
    want = cfg["irf_energy_range"]
    return [want["min"] if want["min"] is not None else lo,
            want["max"] if want["max"] is not None else hi] * u.TeV  # fmt: skip


def _on_axis_cuts(cuts):
    """The cuts of the first FoV-offset bin, for the on-axis sensitivity."""
    if not cuts.per_offset:
        return cuts.gh, cuts.theta
    return cuts_in_offset_bin(cuts.gh, 0), cuts_in_offset_bin(cuts.theta, 0)


def _irf_hdulists(samples, cuts, aeff, cfg, fov_bins, energy_range, cuts_label):
    gammas = samples["events"].get("gamma_diffuse", samples["events"]["gamma"])
    makers = {"full_enclosure": full_enclosure_irfs, "point_like": point_like_irfs}
    return {
        kind: makers[kind](
            gammas, samples["background"], cuts, aeff, cfg, fov_bins, energy_range, cuts_label
        )
        for kind in IRF_TYPES
        if kind in cfg["irfs"]
    }


def run_performance(dl2_paths, cfg, cuts=None, cuts_path=None, samples=None):
    """Run the performance stage: cuts (given or optimised), IRFs, sensitivity, benchmarks.

    Parameters
    ----------
    dl2_paths : dict
        Sample -> DL2 path(s), see :func:`load_samples`.
    cfg : dict
        Performance config (validated and completed with defaults here).
    cuts : showerflow.performance.cuts.Cuts, optional
        Cuts to apply (a cuts file read with
        :func:`~showerflow.performance.cuts.read_cuts`); optimised here if omitted.
    cuts_path : str, optional
        Where ``cuts`` came from, for the messages and the IRF headers.
    samples : dict, optional
        :func:`load_samples` of the same paths, if already read.

    Returns
    -------
    dict
        ``irfs`` (IRF type -> HDUList), ``cuts`` (and ``gh_cuts``, ``theta_cuts``),
        ``cuts_optimised``, ``energy_range``, ``fov_offset``, the tables
        ``sensitivity`` (on axis), ``sensitivity_offset``, ``angular_resolution``,
        ``angular_resolution_reco``, ``energy_bias_resolution``,
        ``energy_bias_resolution_reco``, ``effective_area``, ``background_rate``, and
        ``simulation_info`` / ``n_events`` per sample.
    """
    cfg = validate_performance_config(cfg)
    samples = samples or load_samples(dl2_paths, cfg)
    events, infos = samples["events"], samples["infos"]
    optimised = cuts is None
    if optimised:
        cuts, _ = make_cuts(
            events["gamma"], samples["background"], cfg, events.get("gamma_diffuse")
        )
        cuts_path = "<cuts optimised in this run>"
    irf_sample = "gamma_diffuse" if "gamma_diffuse" in events else "gamma"
    gammas, info = events[irf_sample], infos[irf_sample]
    fov_bins = irf_offset_edges(cfg, info)
    energy_range = irf_energy_range(cfg, cuts, fov_bins)
    check_cuts(
        cuts,
        cuts_path,
        array=cfg["array"] or "unnamed",
        zenith=events["gamma"].meta["zenith"],
        multiplicity_min=cfg["quality_cuts"]["multiplicity_min"],
        energy_range=energy_range,
        offset_edges=fov_bins,
        reco_bins=make_bins(cfg)["reco_energy"],
        zenith_tolerance=cfg["cuts"]["zenith_tolerance"],
    )
    aeff = effective_area_table(gammas, cuts.gh, cuts.theta, info, cfg, fov_bins)
    on_axis_gh, on_axis_theta = _on_axis_cuts(cuts)
    background = samples["background"]
    result = {
        "cuts": cuts,
        "gh_cuts": cuts.gh,
        "theta_cuts": cuts.theta,
        "cuts_optimised": optimised,
        "energy_range": energy_range,
        "fov_offset": fov_bins,
        "irf_sample": irf_sample,
        "irfs": _irf_hdulists(samples, cuts, aeff, cfg, fov_bins, energy_range, cuts_path),
        "sensitivity": sensitivity_for_cuts(
            events["gamma"], background, on_axis_gh, on_axis_theta, cfg
        ),  # fmt: skip
        "sensitivity_offset": sensitivity_per_offset(gammas, background, cuts, cfg, fov_bins),
        "effective_area": aeff,
        "background_rate": background_rate_table(background, cuts.gh, cfg),
        "simulation_info": infos,
        "n_events": {s: len(t) for s, t in events.items()},
    }
    result.update(benchmark_tables(gammas, cuts, cfg, fov_bins))
    for name in ("sensitivity", "sensitivity_offset", "effective_area"):
        result[name].meta.update(LO_THRES=float(energy_range[0].value),
                                 HI_THRES=float(energy_range[1].value))  # fmt: skip
    return result
