"""Data contracts: the trees, columns, units and dtypes every stage relies on.

Units follow DESIGN.md: energies in TeV, angles in degrees, distances in metres.
Column names follow ctapipe where ctapipe has a name.
"""

from __future__ import annotations

__all__ = [
    "ContractError",
    "SIMULATION_TREE",
    "EVENTS_TREE",
    "IMAGES_TREE",
    "SIMULATION_COLUMNS",
    "EVENT_COLUMNS",
    "IMAGE_COLUMNS",
    "DL2_COLUMNS",
    "BOOKKEEPING_KEYS",
    "PARTICLES",
    "SHOWER_KEYS",
    "BOOKKEEPING_PROBLEM",
    "IMAGE_FRAME",
]

SIMULATION_TREE = "simulation"
EVENTS_TREE = "events"
IMAGES_TREE = "images"

#: Particle names understood by the performance stage (and written by ``simulate``).
PARTICLES = ("gamma", "proton", "electron")

#: Columns identifying one shower.
SHOWER_KEYS = ("obs_id", "event_id")

#: ``simulation`` tree: one entry per run. name -> (numpy kind, unit, meaning)
SIMULATION_COLUMNS = {
    "obs_id": ("i", "", "run number"),
    "particle": ("U", "", "primary particle: gamma, proton or electron"),
    "n_showers": ("i", "", "number of simulated showers, before reuse"),
    "shower_reuse": ("i", "", "times each shower was reused at another core position"),
    "energy_min": ("f", "TeV", "lower edge of the simulated energy range"),
    "energy_max": ("f", "TeV", "upper edge of the simulated energy range"),
    "spectral_index": ("f", "", "index of the simulated power law, sign included (e.g. -2)"),
    "max_scatter_range": ("f", "m", "radius of the disk over which cores were thrown"),
    "viewcone_min": ("f", "deg", "inner radius of the cone of shower directions"),
    "viewcone_max": ("f", "deg", "outer radius of the cone of shower directions (0: point-like)"),
    "zenith": ("f", "deg", "pointing zenith angle"),
    "azimuth": ("f", "deg", "pointing azimuth"),
}

#: The bookkeeping that must agree between the runs of one dataset.
BOOKKEEPING_KEYS = (
    "particle",
    "energy_min",
    "energy_max",
    "spectral_index",
    "max_scatter_range",
    "viewcone_min",
    "viewcone_max",
)

#: Key of a simulation record saying why its number of thrown showers cannot be trusted
#: (empty or absent: nothing wrong); set by the ctapipe readers when the run header
#: disagrees with the thrown-shower histogram or the file is an excerpt
#: (:mod:`showerflow.formats.thrown`). The catalog keeps such files, the performance stage
#: refuses them.
BOOKKEEPING_PROBLEM = "bookkeeping_problem"

#: Key of a catalog entry naming the frame of the image parameters (``"telescope"`` or
#: ``"camera"``; absent for formats whose parameters are frame-free); every file of a
#: dataset must share it (:func:`showerflow.catalog.frame_problems`).
IMAGE_FRAME = "image_frame"

#: ``events`` tree: one entry per triggered shower.
EVENT_COLUMNS = {
    "obs_id": ("i", "", "run number"),
    "event_id": ("i", "", "shower number within the run"),
    "true_energy": ("f", "TeV", "simulated primary energy"),
    "true_alt": ("f", "deg", "simulated altitude of the shower direction"),
    "true_az": ("f", "deg", "simulated azimuth of the shower direction"),
    "true_core_x": ("f", "m", "simulated core position, ground frame x"),
    "true_core_y": ("f", "m", "simulated core position, ground frame y"),
    "pointing_alt": ("f", "deg", "array pointing altitude"),
    "pointing_az": ("f", "deg", "array pointing azimuth"),
    "reco_alt": ("f", "deg", "stereo-reconstructed altitude"),
    "reco_az": ("f", "deg", "stereo-reconstructed azimuth"),
    "reco_core_x": ("f", "m", "stereo-reconstructed core x"),
    "reco_core_y": ("f", "m", "stereo-reconstructed core y"),
    "reco_h_max": ("f", "m", "reconstructed height of shower maximum"),
    "multiplicity": ("i", "", "number of telescopes with an image"),
}

#: ``images`` tree: one entry per telescope image.
IMAGE_COLUMNS = {
    "obs_id": ("i", "", "run number"),
    "event_id": ("i", "", "shower number within the run"),
    "tel_id": ("i", "", "telescope number"),
    "tel_type": ("U", "", "telescope type name, e.g. LST or MST"),
    "hillas_intensity": ("f", "p.e.", "total image charge"),
    "hillas_width": ("f", "deg", "RMS width of the image ellipse"),
    "hillas_length": ("f", "deg", "RMS length of the image ellipse"),
    "hillas_skewness": ("f", "", "third moment along the major axis"),
    "hillas_kurtosis": ("f", "", "fourth moment along the major axis"),
    "hillas_r": ("f", "deg", "distance of the image centroid from the camera centre"),
    "hillas_psi": ("f", "deg", "orientation of the major axis"),
    "leakage_intensity_width_2": ("f", "", "fraction of charge in the two outer pixel rings"),
    "concentration_pixel": ("f", "", "fraction of charge in the brightest pixel"),
    "morphology_n_pixels": ("i", "", "number of pixels in the cleaned image"),
    "impact_distance": ("f", "m", "distance of the telescope from the reconstructed core"),
}

#: DL2: one row per event.
DL2_COLUMNS = {
    "obs_id": ("i", "", "run number"),
    "event_id": ("i", "", "shower number within the run"),
    "true_energy": ("f", "TeV", "simulated primary energy"),
    "reco_energy": ("f", "TeV", "energy estimated by the energy model"),
    "gammaness": ("f", "", "classifier score, 1 = gamma-like, 0 = hadron-like"),
    "true_alt": ("f", "deg", "simulated altitude"),
    "true_az": ("f", "deg", "simulated azimuth"),
    "reco_alt": ("f", "deg", "reconstructed altitude"),
    "reco_az": ("f", "deg", "reconstructed azimuth"),
    "pointing_alt": ("f", "deg", "pointing altitude"),
    "pointing_az": ("f", "deg", "pointing azimuth"),
    "multiplicity": ("i", "", "number of telescopes with an image used"),
}


class ContractError(ValueError):
    """A file breaks a data contract.

    Parameters
    ----------
    path : str
        The offending file.
    problem : str
        What is wrong, naming the tree/column and what was expected.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
