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
- background rate in s⁻¹ deg⁻² per bin and in s⁻¹ TeV⁻¹ sr⁻¹ (prod3b, prod5).

The prod5 curves (``prod5_*``) are small ECSV files extracted from the public CTAO prod5
v0.1 IRFs (CC BY 4.0) by ``tools/extract_prod5_reference.py``, with
:func:`migration_bias_resolution` and :func:`irf_sensitivity` doing the arithmetic.

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
    "PROD5_IRFS",
    "prod5_effective_area",
    "prod5_angular_resolution",
    "prod5_energy_resolution",
    "prod5_background_rate",
    "prod5_sensitivity",
    "prod5_performance",
    "migration_bias_resolution",
    "irf_sensitivity",
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
        "requirement": bool, "prod3b": bool, "prod5": bool}``.

    Returns
    -------
    dict
        ``{"requirement": {...} or {}, "prod3b": {...} or {}, "prod5": {...} or {}}``;
        empty dicts when the site is ``None`` or the curve family is switched off.
    """
    site = reference_cfg.get("site")
    obs_time = reference_cfg.get("observation_time", "50h")
    curves = {"requirement": {}, "prod3b": {}, "prod5": {}}
    if site is None:
        return curves
    if reference_cfg.get("requirement", True):
        curves["requirement"] = requirements(site, obs_time)
    if reference_cfg.get("prod3b", True):
        curves["prod3b"] = prod3b_performance(site, obs_time)
    if reference_cfg.get("prod5", True):
        curves["prod5"] = prod5_performance(site, obs_time)
    return curves


# --------------------------------------------------------------------------- prod5 (IRFs)

#: Public CTAO prod5 v0.1 IRF files the prod5 curves are extracted from, per site
#: (in the project's shared/data/reference/irfs; see PROVENANCE.md).
PROD5_IRFS = {
    "North": "Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits.gz",
    "South": "Prod5-South-20deg-AverageAz-14MSTs37SSTs.180000s-v0.1.fits.gz",
}

#: Shipped prod5 curve files: quantity -> file name pattern.
_PROD5_FILES = {
    "effective_area": "prod5-{site}-20deg-50h-EffArea.ecsv",
    "angular_resolution": "prod5-{site}-20deg-50h-Angres.ecsv",
    "energy_resolution": "prod5-{site}-20deg-50h-Eres.ecsv",
    "background_rate": "prod5-{site}-20deg-50h-Background.ecsv",
    "sensitivity": "prod5-{site}-20deg-50h-DiffSens.ecsv",
}


def _prod5(quantity, site, observation_time):
    _check_site(site)
    _check_time(observation_time)
    path = reference_file(_PROD5_FILES[quantity].format(site=site))
    table = QTable.read(path, format="ascii.ecsv")
    table.meta.update(
        label=f"CTAO-{site} prod5 v0.1, 20° ({observation_time})",
        site=site,
        observation_time=observation_time,
        zenith=20.0,
        quantity=quantity,
        source=path.name,
    )
    return table


def prod5_effective_area(site="North", observation_time="50h"):
    """CTAO prod5 v0.1 effective area (after g/h cuts, full containment), 0–1° offset.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` [TeV], ``effective_area`` [m²].
    """
    return _prod5("effective_area", site, observation_time)


def prod5_angular_resolution(site="North", observation_time="50h"):
    """CTAO prod5 v0.1 angular resolution: 68 % containment radius of the PSF, 0–1° offset.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` [TeV], ``angular_resolution`` [deg].
    """
    return _prod5("angular_resolution", site, observation_time)


def prod5_energy_resolution(site="North", observation_time="50h"):
    """CTAO prod5 v0.1 energy bias and resolution from the energy dispersion, 0–1° offset.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` [TeV], ``energy_bias`` and
        ``energy_resolution`` [fraction] (:func:`migration_bias_resolution`).
    """
    return _prod5("energy_resolution", site, observation_time)


def prod5_background_rate(site="North", observation_time="50h"):
    """CTAO prod5 v0.1 background rate, averaged over the field of view within 1°.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` (reconstructed) [TeV],
        ``background_rate`` [s⁻¹ TeV⁻¹ sr⁻¹].
    """
    return _prod5("background_rate", site, observation_time)


def prod5_sensitivity(site="North", observation_time="50h"):
    """Differential sensitivity computed from the CTAO prod5 v0.1 IRFs (:func:`irf_sensitivity`).

    Not the CTAO's published prod5 curve: an estimate from the public IRFs (on-axis,
    θ cut at the PSF's 68 % radius, pyirf's sensitivity conditions); see PROVENANCE.md.

    Parameters
    ----------
    site : {"North", "South"}
    observation_time : {"50h"}

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` (reconstructed) [TeV],
        ``sensitivity`` (E²·F) [erg cm⁻² s⁻¹].
    """
    table = _prod5("sensitivity", site, observation_time)
    table.meta["label"] = f"CTAO-{site} prod5 v0.1 IRFs, 20° ({observation_time}, estimate)"
    return table


def prod5_performance(site="North", observation_time="50h"):
    """All prod5 curves of one site.

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
        "sensitivity": prod5_sensitivity(site, observation_time),
        "angular_resolution": prod5_angular_resolution(site, observation_time),
        "energy_resolution": prod5_energy_resolution(site, observation_time),
        "effective_area": prod5_effective_area(site, observation_time),
        "background_rate": prod5_background_rate(site, observation_time),
    }


def migration_bias_resolution(migra_edges, pdf, containment=0.6827):
    """Energy bias and resolution of one true-energy bin from its migration distribution.

    With μ = E_reco / E_true and the CDF of μ interpolated linearly inside the bins:
    bias = median(μ) − 1, resolution = the ``containment`` quantile of |μ − median(μ)|
    (the definitions of showerflow's and pyirf's benchmarks on events).

    Parameters
    ----------
    migra_edges : array-like, shape (n + 1,)
        Bin edges of μ.
    pdf : array-like, shape (n,)
        Probability density (or counts) per bin; normalised here.
    containment : float

    Returns
    -------
    (float, float)
        Bias and resolution; NaN, NaN for an empty distribution.
    """
    edges = np.asarray(migra_edges, dtype=float)
    prob = np.asarray(pdf, dtype=float) * np.diff(edges)
    total = prob.sum()
    if not np.isfinite(total) or total <= 0:
        return np.nan, np.nan
    cdf = np.concatenate([[0.0], np.cumsum(prob) / total])

    def F(x):  # noqa: N802 - the CDF
        return np.interp(x, edges, cdf)

    # median: invert the (non-decreasing) CDF on its rising part
    rising = np.concatenate([[True], np.diff(cdf) > 0])
    median = float(np.interp(0.5, cdf[rising], edges[rising]))
    span = max(edges[-1] - median, median - edges[0])
    d = np.linspace(0.0, span, 20001)
    inside = F(median + d) - F(median - d)
    resolution = float(np.interp(containment, inside, d))
    return median - 1.0, resolution


def irf_sensitivity(
    reco_edges,
    signal_rate,
    background_rate,
    observation_time,
    spectrum,
    alpha=0.2,
    min_significance=5,
    min_signal_events=10,
    min_excess_over_background=0.05,
):
    """Differential sensitivity from expected signal and background rates (pyirf's conditions).

    Parameters
    ----------
    reco_edges : astropy.units.Quantity, shape (n + 1,)
        Reconstructed-energy bin edges.
    signal_rate : astropy.units.Quantity, shape (n,)
        Expected rate of the reference source in the on region per bin [s⁻¹].
    background_rate : astropy.units.Quantity, shape (n,)
        Expected background rate in the on region per bin [s⁻¹].
    observation_time : astropy.units.Quantity
    spectrum : callable
        Reference source flux, ``spectrum(energy) -> [cm⁻² s⁻¹ TeV⁻¹]`` (a pyirf spectrum).
    alpha : float
        On/off exposure ratio (0.2: five off regions).
    min_significance, min_signal_events, min_excess_over_background : float
        pyirf's conditions (5σ Li & Ma, ≥ 10 excess events, excess ≥ 5 % of background).

    Returns
    -------
    astropy.table.QTable
        ``energy_low``, ``energy_high``, ``energy`` [TeV], ``relative_sensitivity``,
        ``sensitivity`` (E²·F at the geometric bin centre) [erg cm⁻² s⁻¹], ``n_signal``,
        ``n_background`` (expected counts in the on region).
    """
    from pyirf.sensitivity import calculate_sensitivity

    edges = u.Quantity(reco_edges, u.TeV)
    t = u.Quantity(observation_time, u.s)
    n_signal = (u.Quantity(signal_rate, 1 / u.s) * t).to_value(u.one)
    n_background = (u.Quantity(background_rate, 1 / u.s) * t).to_value(u.one)
    center = np.sqrt(edges[:-1] * edges[1:])
    hist = {
        "reco_energy_low": edges[:-1],
        "reco_energy_high": edges[1:],
        "reco_energy_center": center,
    }
    signal = QTable({**hist, "n": n_signal, "n_weighted": n_signal})
    off = QTable({**hist, "n": n_background / alpha, "n_weighted": n_background / alpha})
    sens = calculate_sensitivity(
        signal,
        off,
        alpha=alpha,
        min_significance=min_significance,
        min_signal_events=min_signal_events,
        min_excess_over_background=min_excess_over_background,
    )
    out = QTable()
    out["energy_low"], out["energy_high"], out["energy"] = edges[:-1], edges[1:], center
    out["relative_sensitivity"] = np.asarray(sens["relative_sensitivity"], dtype=float)
    flux = out["relative_sensitivity"] * spectrum(center)
    out["sensitivity"] = (center**2 * flux).to(ENERGY_FLUX_UNIT)
    out["n_signal"] = n_signal
    out["n_background"] = n_background
    return out
