"""Writing the performance products, and reading GADF IRFs back as long tables.

:func:`gadf_effective_area_table` and :func:`gadf_energy_dispersion_table` turn an
AEFF_2D / EDISP_2D HDU of any GADF file (showerflow's, ctapipe-compute-irf's, the CTAO
prod5 ones) into one row per (FoV offset, true energy) bin, so that two productions'
IRFs compare bin by bin with plain table operations.
"""

from __future__ import annotations

import gzip
import io
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable

from ..provenance import record
from ..tables import atomic_path, read_metadata
from .cuts import write_cuts

__all__ = [
    "OUTPUT_NAMES",
    "TABLES",
    "write_fits",
    "write_ecsv",
    "write_outputs",
    "provenance_record",
    "stamp_config_digest",
    "gadf_effective_area_table",
    "gadf_energy_dispersion_table",
]

log = logging.getLogger(__name__)

#: Default file names of :func:`write_outputs` inside an output folder.
OUTPUT_NAMES = {
    "full_enclosure": "full_enclosure.fits.gz",
    "point_like": "point_like.fits.gz",
    "cuts": "cuts.fits",
    "sensitivity": "sensitivity.ecsv",
    "sensitivity_offset": "sensitivity_offset.ecsv",
    "angular_resolution": "angular_resolution.ecsv",
    "angular_resolution_reco": "angular_resolution_reco.ecsv",
    "energy_bias_resolution": "energy_bias_resolution.ecsv",
    "energy_bias_resolution_reco": "energy_bias_resolution_reco.ecsv",
    "effective_area": "effective_area.ecsv",
}

#: The ECSV tables of a result.
TABLES = (
    "sensitivity",
    "sensitivity_offset",
    "angular_resolution",
    "angular_resolution_reco",
    "energy_bias_resolution",
    "energy_bias_resolution_reco",
    "effective_area",
)


def write_fits(hdul, path):
    """Write an HDUList atomically; a ``.gz`` name is gzip-compressed.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
    path : str or Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            buffer = io.BytesIO()
            hdul.writeto(buffer)
            # level 6: 2 % larger than 9 at a tenth of the time; mtime 0: the same bytes
            # for the same IRFs
            tmp.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0))
        else:
            hdul.writeto(tmp)


def write_ecsv(table, path):
    """Write a table as ECSV atomically.

    Parameters
    ----------
    table : astropy.table.Table or QTable
    path : str or Path
    """
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv")


def write_outputs(result, outdir=None, **paths):
    """Write the IRF files, the cuts and the ECSV tables of a performance result.

    Each product goes to its explicit path if given, else to ``outdir`` under the name
    of :data:`OUTPUT_NAMES`. The IRF files are those of the result (``irfs``); the cuts
    file is written only with an explicit ``cuts`` path, or into ``outdir`` when the
    cuts were optimised in the same run. Every file is written atomically.

    Parameters
    ----------
    result : dict
        Output of :func:`showerflow.performance.stage.run_performance`.
    outdir : str or Path, optional
        Folder for the outputs without an explicit path.
    **paths : str or Path
        Explicit destinations by product name (e.g. Snakemake ``output:`` files).

    Returns
    -------
    dict
        Product name -> Path written.
    """
    unknown = sorted(set(paths) - set(OUTPUT_NAMES))
    if unknown:
        raise ValueError(f"unknown product(s) {unknown}; known: {', '.join(OUTPUT_NAMES)}")
    wanted = list(result["irfs"]) + list(TABLES)
    if paths.get("cuts") or (outdir is not None and result.get("cuts_optimised")):
        wanted.append("cuts")
    destinations = {}
    for name in wanted:
        path = paths.get(name)
        if path is None:
            if outdir is None:
                raise ValueError(f"no destination for '{name}': give outdir or {name}=path")
            path = Path(outdir) / OUTPUT_NAMES[name]
        destinations[name] = Path(path)
    for name, path in destinations.items():
        if name in result["irfs"]:
            write_fits(result["irfs"][name], path)
        elif name == "cuts":
            write_cuts(result["cuts"], path)
        else:
            write_ecsv(result[name], path)
    log.info("wrote %s", ", ".join(str(p) for p in destinations.values()))
    return destinations


def provenance_record(dl2_paths, cuts=None, cuts_path=None, performance_config=None):
    """What the performance products were made from: config, catalogs, DL2 and DL1, cuts.

    Parameters
    ----------
    dl2_paths : dict
        Sample -> merged DL2 path (their metadata carry the workflow's provenance).
    cuts : showerflow.performance.cuts.Cuts, optional
        The cuts applied (their header is recorded).
    cuts_path : str, optional
        The cuts file.
    performance_config : dict, optional
        The performance settings the products were made with (command-line overrides
        such as the observation time included); recorded as ``performance_config``.

    Returns
    -------
    dict
        :func:`showerflow.provenance.record` plus ``dl1_files`` (sample -> DL1 files),
        ``cuts`` (``file`` and its header keywords), ``models`` (name -> SHA-256 of the
        models the DL2 was made with, when every sample's merged DL2 records the same;
        else None), ``models_by_sample`` and ``performance_config``.
    """
    metas = {k: read_metadata(v) for k, v in dl2_paths.items()}
    parents = {k: m.get("provenance", {}) for k, m in metas.items()}
    prov = record(
        config=next(iter(parents.values())).get("config"),
        catalogs={k: c for p in parents.values() for k, c in p.get("catalogs", {}).items()},
        inputs=[str(v) for v in dl2_paths.values()],
    )
    prov["dl1_files"] = {k: m.get("inputs", []) for k, m in metas.items()}
    by_sample = {k: p.get("models") for k, p in parents.items()}
    distinct = [
        m for i, m in enumerate(by_sample.values()) if m not in list(by_sample.values())[:i]
    ]
    prov["models"] = distinct[0] if len(distinct) == 1 else None
    prov["models_by_sample"] = by_sample
    if performance_config is not None:
        prov["performance_config"] = performance_config
    if cuts is not None:
        prov["cuts"] = {"file": str(cuts_path), **cuts.meta}
    return prov


def stamp_config_digest(hdulists, prov):
    """Put the workflow config digest (``SFCONFIG``) into each IRF file's primary header.

    Parameters
    ----------
    hdulists : iterable of astropy.io.fits.HDUList
    prov : dict
        :func:`provenance_record`.
    """
    for hdul in hdulists:
        hdul[0].header["SFCONFIG"] = (prov["config_digest"][:16], "showerflow config digest")


def _axis(table, lo, hi, unit):
    low = u.Quantity(table[lo][0], unit)
    high = u.Quantity(table[hi][0], unit)
    return low, high


def gadf_effective_area_table(hdu):
    """An AEFF_2D HDU as one row per (FoV offset, true energy) bin.

    Parameters
    ----------
    hdu : astropy.io.fits.BinTableHDU

    Returns
    -------
    astropy.table.QTable
        ``fov_offset_low``, ``fov_offset_high`` [deg], ``true_energy_low``,
        ``true_energy_high`` [TeV], ``effective_area`` [m²]; offset-major.
    """
    table = QTable.read(hdu)
    e_lo, e_hi = _axis(table, "ENERG_LO", "ENERG_HI", u.TeV)
    o_lo, o_hi = _axis(table, "THETA_LO", "THETA_HI", u.deg)
    area = u.Quantity(table["EFFAREA"][0], u.m**2)  # (offset, energy)
    n_e, n_o = len(e_lo), len(o_lo)
    out = QTable()
    out["fov_offset_low"] = np.repeat(o_lo, n_e)
    out["fov_offset_high"] = np.repeat(o_hi, n_e)
    out["true_energy_low"] = np.tile(e_lo, n_o)
    out["true_energy_high"] = np.tile(e_hi, n_o)
    out["effective_area"] = area.reshape(-1)
    return out


def gadf_energy_dispersion_table(hdu):
    """An EDISP_2D HDU as one row per (FoV offset, true energy) bin, migration in a column.

    Parameters
    ----------
    hdu : astropy.io.fits.BinTableHDU

    Returns
    -------
    astropy.table.QTable
        ``fov_offset_low/high`` [deg], ``true_energy_low/high`` [TeV], ``pdf`` (the
        migration probability density, one vector per row) with the migration edges in
        ``meta["MIGRA"]``; offset-major.
    """
    table = QTable.read(hdu)
    e_lo, e_hi = _axis(table, "ENERG_LO", "ENERG_HI", u.TeV)
    o_lo, o_hi = _axis(table, "THETA_LO", "THETA_HI", u.deg)
    m_lo, m_hi = _axis(table, "MIGRA_LO", "MIGRA_HI", u.one)
    matrix = np.asarray(table["MATRIX"][0])  # (offset, migra, energy)
    n_e, n_o = len(e_lo), len(o_lo)
    out = QTable()
    out["fov_offset_low"] = np.repeat(o_lo, n_e)
    out["fov_offset_high"] = np.repeat(o_hi, n_e)
    out["true_energy_low"] = np.tile(e_lo, n_o)
    out["true_energy_high"] = np.tile(e_hi, n_o)
    out["pdf"] = np.transpose(matrix, (0, 2, 1)).reshape(n_o * n_e, -1)
    out.meta["MIGRA"] = np.append(m_lo.value, m_hi.value[-1]).tolist()
    return out
