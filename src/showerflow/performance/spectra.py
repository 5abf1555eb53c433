"""Target spectra and event weights: simulated power laws reweighted to physical fluxes.

Point-like gammas are weighted to a point-source flux, diffuse protons and electrons to
a diffuse flux integrated over the simulated cone (pyirf's example). Diffuse gammas are
weighted as a point source in each FoV-offset bin: the showers in a bin were thrown over
the bin's solid angle inside the view cone (:func:`point_source_weights`), the way
ctapipe's ``EventLoader.make_event_weights`` does it.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
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
from pyirf.utils import cone_solid_angle

from .binning import is_diffuse, offset_bin_index

__all__ = [
    "SPECTRA",
    "FLUX_UNIT",
    "ENERGY_FLUX_UNIT",
    "resolve_spectrum",
    "is_diffuse_flux",
    "event_weights",
    "point_source_weights",
]

#: Target spectra by name (pyirf.spectral).
SPECTRA = {
    "CRAB_HEGRA": CRAB_HEGRA,
    "CRAB_MAGIC_JHEAP2015": CRAB_MAGIC_JHEAP2015,
    "IRFDOC_PROTON_SPECTRUM": IRFDOC_PROTON_SPECTRUM,
    "IRFDOC_ELECTRON_SPECTRUM": IRFDOC_ELECTRON_SPECTRUM,
    "PDG_ALL_PARTICLE": PDG_ALL_PARTICLE,
    "DAMPE_P_He_SPECTRUM": DAMPE_P_He_SPECTRUM,
}

#: Unit of the differential flux sensitivity.
FLUX_UNIT = u.Unit("TeV-1 cm-2 s-1")
#: Unit of the E²-weighted sensitivity.
ENERGY_FLUX_UNIT = u.Unit("erg cm-2 s-1")


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


def is_diffuse_flux(spectrum):
    """Whether a spectrum is a flux per solid angle (diffuse) rather than a point source."""
    return u.Quantity(spectrum(1 * u.TeV)).unit.is_equivalent(DIFFUSE_FLUX_UNIT)


def _kind_mismatch(info, target_spectrum, particle):
    diffuse_sim = is_diffuse(info)
    sim_kind = (
        f"diffuse (view cone {info.viewcone_min:.3g} – {info.viewcone_max:.3g})"
        if diffuse_sim
        else "point-like"
    )
    target_kind = "a diffuse (per sr)" if is_diffuse_flux(target_spectrum) else "a point-source"
    hint = (
        "; diffuse gammas become a point source per FoV-offset bin when given fov_offset_bins"
        if diffuse_sim
        else ""
    )
    return ValueError(
        f"{particle or 'events'}: simulation is {sim_kind} but the target spectrum "
        f"{target_spectrum!r} is {target_kind} flux; use a matching spectrum{hint}"
    )


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
    if is_diffuse(info) != is_diffuse_flux(target_spectrum):
        raise _kind_mismatch(info, target_spectrum, particle)
    if is_diffuse(info):
        target_spectrum = _ConeIntegrated(target_spectrum, info.viewcone_min, info.viewcone_max)
        simulated = simulated.integrate_cone(info.viewcone_min, info.viewcone_max)
    return calculate_event_weights(true_energy, target_spectrum, simulated)


def point_source_weights(
    true_energy, true_offset, info, target_spectrum, obs_time, fov_offset_bins, particle=""
):
    """Weights of diffuse events as a point source placed in each FoV-offset bin.

    The showers with their true direction in offset bin ``i`` were thrown with the
    simulated diffuse flux over the solid angle ``Ω_i`` of the bin inside the view cone
    (:func:`showerflow.performance.binning.thrown_solid_angle`): they stand for a point
    source of flux ``F_sim(E) · Ω_i`` anywhere in the bin. Weighting them by
    ``F_target(E) / (F_sim(E) · Ω_i)`` makes the sum of weights in the bin the number of
    events a point source of ``F_target`` in that bin gives in ``obs_time``.

    Parameters
    ----------
    true_energy : astropy.units.Quantity
    true_offset : astropy.units.Quantity
        Distance of each event's true direction from the pointing.
    info : pyirf.simulations.SimulatedEventsInfo
        A diffuse simulation.
    target_spectrum : callable
        A point-source flux.
    obs_time : astropy.units.Quantity
    fov_offset_bins : astropy.units.Quantity
        Offset bin edges; events outside them get weight 0.
    particle : str, optional
        For error messages.

    Returns
    -------
    numpy.ndarray
    """
    if not is_diffuse(info) or is_diffuse_flux(target_spectrum):
        raise _kind_mismatch(info, target_spectrum, particle)
    simulated = PowerLaw.from_simulation(info, obstime=obs_time)
    edges = np.clip(fov_offset_bins, info.viewcone_min, info.viewcone_max)
    index = offset_bin_index(true_offset, fov_offset_bins)
    weights = np.zeros(len(true_energy))
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        sel = index == i
        if high > low and sel.any():
            weights[sel] = calculate_event_weights(
                true_energy[sel], target_spectrum, simulated.integrate_cone(low, high)
            )
    return weights
