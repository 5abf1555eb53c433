"""Performance stage: DL2 event lists -> cuts, IRFs, sensitivity and benchmarks (pyirf).

One module per concern, as ctapipe's ``irf`` package:

=================  ===========================================================
``config``         the performance config: schema validation, defaults
``binning``        bin edges; FoV-offset bins, thrown solid angle, view cone
``spectra``        target spectra, event weights (point-source per offset bin)
``events``         DL2 -> weighted pyirf event lists, bookkeeping checks
``cuts``           cut tables, their evaluation, the cuts file and its checks
``optimize``       gammaness / theta cut optimisation (the ``optimize`` rule)
``sensitivity``    point-source sensitivity, on axis and per FoV-offset bin
``irfs``           full-enclosure and point-like GADF IRFs
``benchmarks``     angular resolution, energy bias/resolution per offset bin
``io``             writing the products; GADF HDUs back as long tables
``stage``          the drivers ``run_optimize`` and ``run_performance``
=================  ===========================================================

Everything works on :class:`astropy.table.QTable` event lists with units (TeV, deg) and
the column names pyirf expects (``true_energy``, ``reco_energy``, ``gh_score``,
``theta``, ``true_source_fov_offset``, ``reco_source_fov_offset``, ``weight``, ...).
"""

import importlib

#: Submodule -> the names this package re-exports from it, imported on first use: the
#: workflow reads the config and output names at parse time, and importing every
#: submodule (pyirf's benchmarks, scipy.stats) cost seconds per Snakemake call.
_EXPORTS = {
    "benchmarks": (
        "CONTAINMENTS",
        "angular_resolution_table",
        "benchmark_tables",
        "compute_benchmarks",
        "energy_bias_resolution_table",
    ),
    "binning": (
        "check_view_cone",
        "gh_cut_efficiencies",
        "irf_offset_edges",
        "is_diffuse",
        "make_bins",
        "offset_bin_index",
        "regular_edges",
        "thrown_solid_angle",
    ),
    "config": (
        "IRF_TYPES",
        "SCHEMA_PATH",
        "default_performance_config",
        "load_performance_config",
        "validate_performance_config",
        "with_overrides",
    ),
    "cuts": (
        "Cuts",
        "check_cuts",
        "gh_mask",
        "read_cuts",
        "theta_mask",
        "valid_energy_range",
        "write_cuts",
    ),
    "events": (
        "apply_quality_cuts",
        "check_offset_coverage",
        "load_particle",
        "prepare_events",
        "read_dl2",
        "simulation_info",
        "to_event_table",
    ),
    "io": (
        "OUTPUT_NAMES",
        "gadf_effective_area_table",
        "gadf_energy_dispersion_table",
        "provenance_record",
        "stamp_config_digest",
        "write_ecsv",
        "write_fits",
        "write_outputs",
    ),
    "irfs": (
        "background_rate_table",
        "effective_area",
        "effective_area_table",
        "full_enclosure_irfs",
        "point_like_irfs",
    ),
    "optimize": (
        "initial_gh_cuts",
        "make_cuts",
        "optimise_cuts",
        "theta_cuts_for",
    ),
    "sensitivity": (
        "add_flux_sensitivity",
        "sensitivity_for_cuts",
        "sensitivity_per_offset",
    ),
    "spectra": (
        "ENERGY_FLUX_UNIT",
        "FLUX_UNIT",
        "SPECTRA",
        "event_weights",
        "point_source_weights",
        "resolve_spectrum",
    ),
    "stage": (
        "SAMPLES",
        "irf_energy_range",
        "load_samples",
        "run_optimize",
        "run_performance",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


__all__ = [
    "CONTAINMENTS",
    "Cuts",
    "ENERGY_FLUX_UNIT",
    "FLUX_UNIT",
    "IRF_TYPES",
    "OUTPUT_NAMES",
    "SAMPLES",
    "SCHEMA_PATH",
    "SPECTRA",
    "add_flux_sensitivity",
    "angular_resolution_table",
    "apply_quality_cuts",
    "background_rate_table",
    "benchmark_tables",
    "check_cuts",
    "check_offset_coverage",
    "check_view_cone",
    "compute_benchmarks",
    "default_performance_config",
    "effective_area",
    "effective_area_table",
    "energy_bias_resolution_table",
    "event_weights",
    "full_enclosure_irfs",
    "gadf_effective_area_table",
    "gadf_energy_dispersion_table",
    "gh_cut_efficiencies",
    "gh_mask",
    "initial_gh_cuts",
    "irf_energy_range",
    "irf_offset_edges",
    "is_diffuse",
    "load_particle",
    "load_performance_config",
    "load_samples",
    "make_bins",
    "make_cuts",
    "offset_bin_index",
    "optimise_cuts",
    "point_like_irfs",
    "point_source_weights",
    "prepare_events",
    "provenance_record",
    "read_cuts",
    "read_dl2",
    "regular_edges",
    "resolve_spectrum",
    "run_optimize",
    "run_performance",
    "sensitivity_for_cuts",
    "sensitivity_per_offset",
    "simulation_info",
    "stamp_config_digest",
    "theta_cuts_for",
    "theta_mask",
    "thrown_solid_angle",
    "to_event_table",
    "valid_energy_range",
    "validate_performance_config",
    "with_overrides",
    "write_cuts",
    "write_ecsv",
    "write_fits",
    "write_outputs",
]


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
