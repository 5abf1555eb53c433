"""Gamma/hadron and theta cuts as a product: tables, evaluation, the cuts file, checks.

A cuts file (FITS) holds what :func:`showerflow.performance.optimize.make_cuts` decided,
so that the IRFs of one production can reuse it, or a user can bring their own:

- ``PRIMARY``: the header says what the cuts were made for and how: ``CUTSVERS``
  (format version), ``ARRAY`` (array name, ``unnamed`` if the config names none),
  ``ZENITH`` / ``AZIMUTH`` [deg] (the gammas' pointing), ``MULTMIN`` (quality cut
  multiplicity), ``PEROFFS`` (per FoV-offset bin or one set for the field of view),
  ``OBS_TIME`` [h], ``ALPHA``, ``SPECTRUM``, ``GHEFFINI``, ``THCONT``;
- ``GH_CUTS``: ``low``, ``center``, ``high`` [TeV] (reconstructed energy), ``cut``,
  ``efficiency``; keep events with gammaness >= cut;
- ``THETA_CUTS``: ``low``, ``center``, ``high`` [TeV], ``n_events``, ``cut`` [deg]; keep
  events with theta <= cut (point-like IRFs: RAD_MAX);
- ``VALIDITY``: one row per FoV-offset range, ``fov_offset_low``, ``fov_offset_high``
  [deg], ``energy_min``, ``energy_max`` [TeV]: where the cuts were optimised (finite
  sensitivity), the rest of the table being fill values.

Cuts made per FoV-offset bin carry ``fov_offset_low`` / ``fov_offset_high`` columns in
GH_CUTS and THETA_CUTS (one block of reco-energy rows per bin); an event takes the cut of
the bin of its reconstructed offset (as a DL3 event selection would), the nearest bin
outside their range.
"""

from __future__ import annotations

import dataclasses
import operator

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable, vstack
from pyirf.cuts import evaluate_binned_cut

from ..contracts import ContractError
from ..tables import atomic_path
from .binning import offset_label

__all__ = [
    "CUTS_VERSION",
    "Cuts",
    "gh_mask",
    "theta_mask",
    "cuts_in_offset_bin",
    "stack_offset_bins",
    "valid_energy_range",
    "write_cuts",
    "read_cuts",
    "check_cuts",
]

#: Version of the cuts file layout (``CUTSVERS``).
CUTS_VERSION = 1

_HEADER = {
    "ARRAY": (str, "array the cuts were made for"),
    "ZENITH": (float, "pointing zenith of the gammas [deg]"),
    "AZIMUTH": (float, "pointing azimuth of the gammas [deg]"),
    "MULTMIN": (int, "quality cut: multiplicity >= MULTMIN"),
    "PEROFFS": (bool, "cuts per FoV-offset bin"),
    "OBS_TIME": (float, "observation time of the optimisation [h]"),
    "ALPHA": (float, "on/off region size ratio"),
    "SPECTRUM": (str, "gamma spectrum of the optimisation"),
    "GHEFFINI": (float, "gamma efficiency of the initial gh cut"),
    "THCONT": (float, "theta cut containment [%]"),
}
_COLUMNS = {
    "GH_CUTS": ("low", "center", "high", "cut", "efficiency"),
    "THETA_CUTS": ("low", "center", "high", "n_events", "cut"),
    "VALIDITY": ("fov_offset_low", "fov_offset_high", "energy_min", "energy_max"),
}


@dataclasses.dataclass
class Cuts:
    """Gammaness and theta cuts with where they are valid and what they were made for.

    Attributes
    ----------
    gh : astropy.table.QTable
        Gammaness cut per reco-energy bin (and FoV-offset bin if per offset).
    theta : astropy.table.QTable
        Theta cut per reco-energy bin (and FoV-offset bin if per offset).
    validity : astropy.table.QTable
        ``fov_offset_low``, ``fov_offset_high``, ``energy_min``, ``energy_max``.
    meta : dict
        The header keywords of :data:`_HEADER` (``ARRAY``, ``ZENITH``, ...).
    """

    gh: QTable
    theta: QTable
    validity: QTable
    meta: dict

    @property
    def per_offset(self):
        """Whether the cuts depend on the FoV offset."""
        return "fov_offset_low" in self.gh.colnames


# --------------------------------------------------------------------------- evaluation


def _offset_edges(cuts):
    low = np.unique(u.Quantity(cuts["fov_offset_low"], u.deg).value)
    high = np.unique(u.Quantity(cuts["fov_offset_high"], u.deg).value)
    return np.append(low, high[-1])


def cuts_in_offset_bin(cuts, i):
    """The reco-energy rows of FoV-offset bin ``i`` of a per-offset cut table.

    Parameters
    ----------
    cuts : astropy.table.QTable
    i : int

    Returns
    -------
    astropy.table.QTable
        Without the offset columns (a plain pyirf cut table).
    """
    edges = _offset_edges(cuts)
    rows = np.isclose(u.Quantity(cuts["fov_offset_low"], u.deg).value, edges[i])
    table = cuts[rows]
    table.remove_columns(["fov_offset_low", "fov_offset_high"])
    return table


def _evaluate(values, events, cuts, op):
    if "fov_offset_low" not in cuts.colnames:
        return evaluate_binned_cut(values, events["reco_energy"], cuts, op)
    edges = _offset_edges(cuts)
    offset = u.Quantity(events["reco_source_fov_offset"], u.deg).value
    index = np.clip(np.searchsorted(edges, offset, side="right") - 1, 0, len(edges) - 2)
    passed = np.zeros(len(events), dtype=bool)
    for i in range(len(edges) - 1):
        sel = index == i
        if sel.any():
            passed[sel] = evaluate_binned_cut(
                values[sel], events["reco_energy"][sel], cuts_in_offset_bin(cuts, i), op
            )
    return passed


def gh_mask(events, gh_cuts):
    """Events passing a gammaness cut table (gammaness >= cut).

    Parameters
    ----------
    events : astropy.table.QTable
        ``gh_score``, ``reco_energy`` (and ``reco_source_fov_offset`` for per-offset cuts).
    gh_cuts : astropy.table.QTable

    Returns
    -------
    numpy.ndarray of bool
    """
    return _evaluate(events["gh_score"], events, gh_cuts, operator.ge)


def theta_mask(events, theta_cuts):
    """Events passing a theta cut table (theta <= cut).

    Parameters
    ----------
    events : astropy.table.QTable
        ``theta``, ``reco_energy`` (and ``reco_source_fov_offset`` for per-offset cuts).
    theta_cuts : astropy.table.QTable

    Returns
    -------
    numpy.ndarray of bool
    """
    return _evaluate(events["theta"], events, theta_cuts, operator.le)


def stack_offset_bins(tables, edges):
    """One per-offset cut table from one pyirf cut table per FoV-offset bin.

    Parameters
    ----------
    tables : list of astropy.table.QTable
    edges : astropy.units.Quantity
        FoV-offset bin edges (one more than tables).

    Returns
    -------
    astropy.table.QTable
    """
    blocks = []
    for table, low, high in zip(tables, edges[:-1], edges[1:], strict=True):
        block = QTable(table, copy=True)
        block.add_column(np.full(len(block), low.to_value(u.deg)) * u.deg, 0, "fov_offset_low")
        block.add_column(np.full(len(block), high.to_value(u.deg)) * u.deg, 1, "fov_offset_high")
        blocks.append(block)
    return vstack(blocks, metadata_conflicts="silent")


def valid_energy_range(sensitivity):
    """Reco-energy range where an optimisation found a cut: the longest run of regular
    bins with finite significance (ctapipe's criterion, without its error on a gap).

    Parameters
    ----------
    sensitivity : astropy.table.QTable
        pyirf sensitivity table (``reco_energy_low/high``, ``significance``).

    Returns
    -------
    astropy.units.Quantity
        ``[min, max]`` [TeV]; ``[nan, nan]`` if no bin has a finite significance.
    """
    low = u.Quantity(sensitivity["reco_energy_low"], u.TeV)
    high = u.Quantity(sensitivity["reco_energy_high"], u.TeV)
    finite = np.isfinite(np.asarray(sensitivity["significance"], dtype=float))
    finite &= np.isfinite(high) & (low > 0 * u.TeV)  # not the under/overflow bins
    runs, start = [], None
    for i, ok in enumerate(np.append(finite, False)):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append((start, i - 1))
            start = None
    if not runs:
        return [np.nan, np.nan] * u.TeV
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    return u.Quantity([sensitivity["reco_energy_low"][lo], sensitivity["reco_energy_high"][hi]]).to(
        u.TeV
    )


# --------------------------------------------------------------------------- file


def write_cuts(cuts, path):
    """Write a cuts file (FITS, atomically); the layout is this module's docstring.

    Parameters
    ----------
    cuts : Cuts
    path : str or Path
    """
    primary = fits.PrimaryHDU()
    primary.header["CREATOR"] = "showerflow"
    primary.header["CUTSVERS"] = CUTS_VERSION
    for key, (kind, comment) in _HEADER.items():
        primary.header[key] = (kind(cuts.meta[key]), comment)
    hdus = [primary]
    for name, table in (("GH_CUTS", cuts.gh), ("THETA_CUTS", cuts.theta)):
        hdus.append(fits.table_to_hdu(QTable(table)))
        hdus[-1].name = name
    hdus.append(fits.table_to_hdu(cuts.validity))
    hdus[-1].name = "VALIDITY"
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, output_verify="exception")


def read_cuts(path):
    """Read and check a cuts file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Cuts

    Raises
    ------
    showerflow.contracts.ContractError
        If the file is not FITS, or lacks an HDU, a header keyword or a column (the
        message names it and the layout expected).
    """
    layout = (
        "a showerflow cuts file (PRIMARY, GH_CUTS, THETA_CUTS, VALIDITY; `showerflow optimize`)"
    )
    try:
        hdul = fits.open(path)
    except (OSError, ValueError) as err:
        raise ContractError(path, f"not a FITS file ({err}); expected {layout}") from err
    with hdul:
        names = [h.name for h in hdul]
        missing = [n for n in _COLUMNS if n not in names]
        if missing:
            raise ContractError(path, f"HDU(s) {missing} missing (has {names}); expected {layout}")
        header = hdul[0].header
        if header.get("CUTSVERS") != CUTS_VERSION:
            raise ContractError(
                path,
                f"header CUTSVERS is {header.get('CUTSVERS')!r}, expected {CUTS_VERSION}: {layout}",
            )
        lacking = [k for k in _HEADER if k not in header]
        if lacking:
            raise ContractError(path, f"PRIMARY header lacks {lacking}; expected {layout}")
        meta = {k: kind(header[k]) for k, (kind, _) in _HEADER.items()}
        tables = {}
        for name, columns in _COLUMNS.items():
            table = QTable.read(hdul[name])
            absent = [c for c in columns if c not in table.colnames]
            if absent:
                raise ContractError(
                    path, f"HDU {name} lacks column(s) {absent} (has {table.colnames})"
                )
            tables[name] = table
    return Cuts(tables["GH_CUTS"], tables["THETA_CUTS"], tables["VALIDITY"], meta)


# --------------------------------------------------------------------------- checks


def _covers(row, energy_range):
    lo, hi = (u.Quantity(row[k], u.TeV).value for k in ("energy_min", "energy_max"))
    want_lo, want_hi = energy_range.to_value(u.TeV)
    return bool(lo <= want_lo * (1 + 1e-9) and hi >= want_hi * (1 - 1e-9))  # False for NaN


def _uncovered_energy_bins(row, energy_range, reco_bins):
    """The reco-energy bins overlapping ``energy_range`` outside the row's valid range."""
    lo, hi = (u.Quantity(row[k], u.TeV).value for k in ("energy_min", "energy_max"))
    want_lo, want_hi = energy_range.to_value(u.TeV)
    edges = reco_bins.to_value(u.TeV)
    tol = 1e-9
    return [
        f"{a:.3g}–{b:.3g}"
        for a, b in zip(edges[:-1], edges[1:], strict=True)
        if b > want_lo * (1 + tol)
        and a < want_hi * (1 - tol)
        and not (a >= lo * (1 - tol) and b <= hi * (1 + tol))
    ]


def check_cuts(cuts, path, *, array, zenith, multiplicity_min, energy_range, offset_edges,
               reco_bins, zenith_tolerance):  # fmt: skip
    """Stop if a cuts file does not fit the IRFs about to be made with it.

    Parameters
    ----------
    cuts : Cuts
    path : str
        The cuts file, for the messages.
    array : str
        The run's array name (``unnamed`` if none).
    zenith : float
        The zenith of the DL2 [deg].
    multiplicity_min : int
        The run's quality cut.
    energy_range : astropy.units.Quantity
        ``[min, max]`` reco energy the IRFs are for.
    offset_edges : astropy.units.Quantity
        The IRFs' FoV-offset bins.
    reco_bins : astropy.units.Quantity
        Reco-energy bins, under/overflow included (to name the uncovered ones).
    zenith_tolerance : float
        [deg]

    Raises
    ------
    showerflow.contracts.ContractError
        Naming the file, the keyword or bins and what was expected.
    """
    _check_header(cuts.meta, path, array, zenith, multiplicity_min, zenith_tolerance)
    _check_validity(cuts.validity, path, energy_range, offset_edges, reco_bins)


def _check_header(meta, path, array, zenith, multiplicity_min, zenith_tolerance):
    if meta["ARRAY"] != array:
        raise ContractError(
            path,
            f"the cuts were made for array '{meta['ARRAY']}' (header ARRAY) but this run's "
            f"array is '{array}' (performance config key 'array'): expected cuts made for "
            f"'{array}'",
        )
    if abs(meta["ZENITH"] - zenith) > zenith_tolerance:
        raise ContractError(
            path,
            f"the cuts were made for zenith {meta['ZENITH']:g}° (header ZENITH) but the DL2 "
            f"is at zenith {zenith:g}°: expected within {zenith_tolerance:g}° "
            "(cuts.zenith_tolerance)",
        )
    if meta["MULTMIN"] != multiplicity_min:
        raise ContractError(
            path,
            f"the cuts were made after the quality cut multiplicity >= {meta['MULTMIN']} "
            f"(header MULTMIN) but this run cuts at >= {multiplicity_min} "
            "(quality_cuts.multiplicity_min): expected the same quality cuts",
        )


def _check_validity(v, path, energy_range, offset_edges, reco_bins):
    v_lo = u.Quantity(v["fov_offset_low"], u.deg)
    v_hi = u.Quantity(v["fov_offset_high"], u.deg)
    for low, high in zip(offset_edges[:-1], offset_edges[1:], strict=True):
        rows = np.flatnonzero((v_lo <= low * (1 + 1e-9)) & (v_hi >= high * (1 - 1e-9)))
        label = offset_label(low, high)
        if not len(rows):
            ranges = ", ".join(offset_label(a, b) for a, b in zip(v_lo, v_hi, strict=True))
            raise ContractError(
                path,
                f"the IRFs' FoV-offset bin {label} is outside the offsets where the cuts are "
                f"valid (VALIDITY: {ranges}): expected cuts covering binning.fov_offset "
                f"{[float(x) for x in offset_edges.to_value(u.deg)]}",
            )
        row = v[rows[0]]
        if not _covers(row, energy_range):
            uncovered = _uncovered_energy_bins(row, energy_range, reco_bins)
            raise ContractError(
                path,
                f"in FoV-offset bin {label} the cuts are valid for reco energies "
                f"{row['energy_min'].to_value(u.TeV):.3g}–{row['energy_max'].to_value(u.TeV):.3g}"
                f" TeV (VALIDITY), which does not cover the IRFs' "
                f"{energy_range[0].to_value(u.TeV):.3g}–{energy_range[1].to_value(u.TeV):.3g} "
                f"TeV (irf_energy_range): reco-energy bins {', '.join(uncovered)} TeV are not "
                "covered",
            )
