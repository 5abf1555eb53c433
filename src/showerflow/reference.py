"""Published reference performance: CTA requirements and CTA prod3b-v2 curves.

The curves are small text files shipped in ``showerflow/data/reference`` (copied from
cta-observatory/ctaplot, MIT licence; see ``PROVENANCE.md`` there). Every reader returns
an :class:`astropy.table.QTable` with units:

- energies in TeV (``energy``; binned curves also ``energy_low``/``energy_high``, with
  ``energy`` the geometric bin centre),
- sensitivity as E²·F in erg cm⁻² s⁻¹ (``sensitivity``),
- angular resolution (68 % containment) in deg (``angular_resolution``),
- energy resolution as a fraction ΔE/E (``energy_resolution``),
- effective area in m² (``effective_area``),
- background rate in s⁻¹ deg⁻² per bin and in s⁻¹ TeV⁻¹ sr⁻¹ (prod3b only).

The table ``meta`` names the curve (``label``), the site, the observation time and the
source file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import QTable

__all__ = [
    "REFERENCE_DIR",
    "SITES",
    "OBSERVATION_TIMES",
    "reference_file",
    "requirement_sensitivity",
    "requirement_angular_resolution",
    "requirement_energy_resolution",
    "requirement_effective_area",
    "prod3b_sensitivity",
    "prod3b_angular_resolution",
    "prod3b_energy_resolution",
    "prod3b_effective_area",
    "prod3b_background_rate",
    "requirements",
    "prod3b_performance",
    "reference_curves",
]

log = logging.getLogger(__name__)

#: Folder of the shipped reference files.
REFERENCE_DIR = Path(__file__).resolve().parent / "data" / "reference"

#: CTA sites with shipped curves.
SITES = ("North", "South")

#: Observation times with shipped sensitivity / resolution curves.
OBSERVATION_TIMES = ("50h",)

ENERGY_FLUX_UNIT = u.Unit("erg cm-2 s-1")


def _check_site(site):
    if site not in SITES:
        raise ValueError(f"unknown CTA site {site!r}; allowed: {', '.join(SITES)}")


def _check_time(observation_time):
    if observation_time not in OBSERVATION_TIMES:
        raise ValueError(
            f"no reference curves for observation time {observation_time!r}; "
            f"shipped: {', '.join(OBSERVATION_TIMES)}"
        )


def reference_file(name):
    """Return the path of a shipped reference file, checking that it exists.

    Parameters
    ----------
    name : str
        File name inside ``showerflow/data/reference``.

    Returns
    -------
    pathlib.Path
    """
    path = REFERENCE_DIR / name
    if not path.is_file():
        shipped = sorted(p.name for p in REFERENCE_DIR.glob("*") if p.is_file())
        raise FileNotFoundError(f"{path}: no such reference file; shipped: {shipped}")
    return path


def _read_numeric(path, n_columns):
    """Read the rows of a text file that consist of exactly ``n_columns`` numbers.

    Header and comment lines (anything that does not parse as numbers) are skipped.
    """
    rows = []
    for line in Path(path).read_text().splitlines():
        tokens = line.split()
        if len(tokens) != n_columns:
            continue
        try:
            rows.append([float(t) for t in tokens])
        except ValueError:
            continue
    if not rows:
        raise ValueError(f"{path}: no rows of {n_columns} numbers found")
    return np.array(rows)


def _two_column(name, column, unit, meta):
    path = reference_file(name)
    data = _read_numeric(path, 2)
    table = QTable()
    table["energy"] = data[:, 0] * u.TeV
    table[column] = data[:, 1] * unit
    table.meta.update(meta, source=str(path.name))
    return table


def _binned(name, column, unit, meta):
    path = reference_file(name)
    data = _read_numeric(path, 3)
    table = QTable()
    table["energy_low"] = data[:, 0] * u.TeV
    table["energy_high"] = data[:, 1] * u.TeV
    table["energy"] = np.sqrt(data[:, 0] * data[:, 1]) * u.TeV
    table[column] = data[:, 2] * unit
    table.meta.update(meta, source=str(path.name))
    return table


def _requirement_meta(site, observation_time, what):
    return {
        "label": f"CTA-{site} requirement ({observation_time})",
        "site": site,
        "observation_time": observation_time,
        "quantity": what,
    }


def _prod3b_meta(site, observation_time, what):
    return {
        "label": f"CTA-{site} prod3b-v2, 20° ({observation_time})",
        "site": site,
        "observation_time": observation_time,
        "zenith": 20.0,
        "quantity": what,
    }


def requirement_sensitivity(site="North", observation_time="50h"):
    """CTA differential sensitivity requirement.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``sensitivity`` (E²·F) [erg cm⁻² s⁻¹].
    """
    _check_site(site)
    _check_time(observation_time)
    return _two_column(
        f"cta_requirements_{site}-{observation_time}.dat",
        "sensitivity",
        ENERGY_FLUX_UNIT,
        _requirement_meta(site, observation_time, "sensitivity"),
    )


def requirement_angular_resolution(site="North", observation_time="50h"):
    """CTA angular resolution requirement (68 % containment).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``angular_resolution`` [deg].
    """
    _check_site(site)
    _check_time(observation_time)
    return _two_column(
        f"cta_requirements_{site}-{observation_time}-AngRes.dat",
        "angular_resolution",
        u.deg,
        _requirement_meta(site, observation_time, "angular_resolution"),
    )


def requirement_energy_resolution(site="North", observation_time="50h"):
    """CTA energy resolution requirement.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``energy_resolution`` [fraction].
    """
    _check_site(site)
    _check_time(observation_time)
    return _two_column(
        f"cta_requirements_{site}-{observation_time}-ERes.dat",
        "energy_resolution",
        u.dimensionless_unscaled,
        _requirement_meta(site, observation_time, "energy_resolution"),
    )


def requirement_effective_area(site="North"):
    """CTA effective area requirement (the 30 min curve, the only one published).

    Parameters
    ----------
    site : {"North", "South"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``effective_area`` [m²].
    """
    _check_site(site)
    return _two_column(
        f"cta_requirements_{site}-30m-EffectiveArea.dat",
        "effective_area",
        u.m**2,
        _requirement_meta(site, "30m", "effective_area"),
    )


def _prod3b_name(site, observation_time, kind):
    _check_site(site)
    _check_time(observation_time)
    return f"CTA-Performance-prod3b-v2-{site}-20deg-{observation_time}-{kind}.txt"


def prod3b_sensitivity(site="North", observation_time="50h"):
    """Published CTA prod3b-v2 differential sensitivity (20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy_low``, ``energy_high``, ``energy`` [TeV] and
        ``sensitivity`` (E²·F) [erg cm⁻² s⁻¹].
    """
    return _binned(
        _prod3b_name(site, observation_time, "DiffSens"),
        "sensitivity",
        ENERGY_FLUX_UNIT,
        _prod3b_meta(site, observation_time, "sensitivity"),
    )


def prod3b_angular_resolution(site="North", observation_time="50h"):
    """Published CTA prod3b-v2 angular resolution (68 % containment, 20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``angular_resolution`` [deg].
    """
    return _two_column(
        _prod3b_name(site, observation_time, "Angres"),
        "angular_resolution",
        u.deg,
        _prod3b_meta(site, observation_time, "angular_resolution"),
    )


def prod3b_energy_resolution(site="North", observation_time="50h"):
    """Published CTA prod3b-v2 energy resolution (20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``energy_resolution`` [fraction].
    """
    return _two_column(
        _prod3b_name(site, observation_time, "Eres"),
        "energy_resolution",
        u.dimensionless_unscaled,
        _prod3b_meta(site, observation_time, "energy_resolution"),
    )


def prod3b_effective_area(site="North", observation_time="50h"):
    """Published CTA prod3b-v2 effective area after g/h and direction cuts (20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy`` [TeV] and ``effective_area`` [m²].
    """
    return _two_column(
        _prod3b_name(site, observation_time, "EffArea"),
        "effective_area",
        u.m**2,
        _prod3b_meta(site, observation_time, "effective_area"),
    )


def prod3b_background_rate(site="North", observation_time="50h"):
    """Published CTA prod3b-v2 residual background rate after cuts (20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        Columns ``energy_low``, ``energy_high``, ``energy`` [TeV],
        ``background_rate_per_bin`` [s⁻¹ deg⁻²] (as published, integrated over the bin)
        and ``background_rate`` [s⁻¹ TeV⁻¹ sr⁻¹] (divided by the bin width, the unit of
        pyirf's background IRF).
    """
    table = _binned(
        _prod3b_name(site, observation_time, "BackgroundSqdeg"),
        "background_rate_per_bin",
        u.Unit("s-1 deg-2"),
        _prod3b_meta(site, observation_time, "background_rate"),
    )
    width = table["energy_high"] - table["energy_low"]
    table["background_rate"] = (table["background_rate_per_bin"] / width).to(
        u.Unit("s-1 TeV-1 sr-1")
    )
    return table


def requirements(site="North", observation_time="50h"):
    """All CTA requirement curves of one site.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    dict
        ``sensitivity``, ``angular_resolution``, ``energy_resolution``,
        ``effective_area`` -> QTable.
    """
    return {
        "sensitivity": requirement_sensitivity(site, observation_time),
        "angular_resolution": requirement_angular_resolution(site, observation_time),
        "energy_resolution": requirement_energy_resolution(site, observation_time),
        "effective_area": requirement_effective_area(site),
    }


def prod3b_performance(site="North", observation_time="50h"):
    """All published CTA prod3b-v2 curves of one site (20° zenith).

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    dict
        ``sensitivity``, ``angular_resolution``, ``energy_resolution``,
        ``effective_area``, ``background_rate`` -> QTable.
    """
    return {
        "sensitivity": prod3b_sensitivity(site, observation_time),
        "angular_resolution": prod3b_angular_resolution(site, observation_time),
        "energy_resolution": prod3b_energy_resolution(site, observation_time),
        "effective_area": prod3b_effective_area(site, observation_time),
        "background_rate": prod3b_background_rate(site, observation_time),
    }


def reference_curves(reference_cfg):
    """Curves selected by the ``reference`` section of the performance config.

    Parameters
    ----------
    reference_cfg : dict
        ``{"site": "North"|"South"|None, "observation_time": "50h",
        "requirement": bool, "prod3b": bool}``.

    Returns
    -------
    dict
        ``{"requirement": {...} or {}, "prod3b": {...} or {}}``; empty dicts when the
        site is ``None`` or the curve family is switched off.
    """
    site = reference_cfg.get("site")
    obs_time = reference_cfg.get("observation_time", "50h")
    curves = {"requirement": {}, "prod3b": {}}
    if site is None:
        return curves
    if reference_cfg.get("requirement", True):
        curves["requirement"] = requirements(site, obs_time)
    if reference_cfg.get("prod3b", True):
        curves["prod3b"] = prod3b_performance(site, obs_time)
    return curves
