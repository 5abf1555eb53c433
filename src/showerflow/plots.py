"""Plots of the performance results and of the model training metrics.

Every function builds a :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot,
no display, no global figure registry) and returns it; save it with ``fig.savefig(path)``.
Axes carry labels with units, logarithmic energy axes, legends and a title naming the data.

Performance plots take the tables of :mod:`showerflow.performance` (or the IRF FITS
``HDUList`` it writes); ``requirement`` / ``reference`` take the tables of
:mod:`showerflow.reference` (CTA requirement, published prod3b-v2 curves).

Model plots take the metrics documents written by the training stage:

- energy model: ``{"r2", "per_tel_type": {type: {"r2", "n_train", "n_test"}},
  "bins": {"true_energy_low", "true_energy_high", "bias", "resolution", "n_events"},
  "feature_importances": {type: {feature: value}}}``;
- classifier: ``{"roc_auc", "roc_curve": {"fpr", "tpr"}, "bins": {"reco_energy_low",
  "reco_energy_high", "roc_auc", "n_gamma", "n_hadron"}, "feature_importances": {...},
  "per_tel_type": {...}}``.

``null`` (None) entries are plotted as gaps.
"""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

__all__ = [
    "plot_sensitivity",
    "plot_angular_resolution",
    "plot_energy_bias_resolution",
    "plot_effective_area",
    "plot_background_rate",
    "plot_theta_gh_cuts",
    "plot_energy_model",
    "plot_roc",
    "plot_auc_vs_energy",
    "plot_feature_importances",
    "save_figure",
]

log = logging.getLogger(__name__)


def save_figure(fig, path, dpi=120):
    """Save a figure as PNG atomically (a killed job leaves no finished-looking plot).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int
    """
    from .tables import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")


ENERGY_FLUX_UNIT = u.Unit("erg cm-2 s-1")
BACKGROUND_UNIT = u.Unit("s-1 TeV-1 sr-1")

_AEFF_LABELS = {
    "EFFECTIVE_AREA": "g/h + θ cuts",
    "EFFECTIVE_AREA_NO_CUTS": "no cuts",
    "EFFECTIVE_AREA_ONLY_GH": "g/h cut only",
    "EFFECTIVE_AREA_ONLY_THETA": "θ cut only",
}


# --------------------------------------------------------------------------- helpers


def _figure(nrows=1, ncols=1, figsize=(7, 5), **kwargs):
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _floats(values):
    """List with None (JSON null) -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _energy_prefix(table):
    for prefix in ("true_energy", "reco_energy"):
        if f"{prefix}_low" in table.colnames:
            return prefix
    raise KeyError(f"table has no true_energy_* or reco_energy_* bin columns: {table.colnames}")


def _bins(table, prefix):
    """Regular (finite, positive) energy bins: mask, geometric centre and x error bars."""
    low = u.Quantity(table[f"{prefix}_low"], u.TeV).value
    high = u.Quantity(table[f"{prefix}_high"], u.TeV).value
    regular = np.isfinite(high) & (low > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.sqrt(low * high)
        xerr = np.array([center - low, high - center])
    return regular, center, xerr


def _energy_label(prefix):
    kind = "True" if prefix == "true_energy" else "Reconstructed"
    return f"{kind} energy [TeV]"


def _finish(ax, xlabel, ylabel, title, logx=True, logy=False):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.4)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def _label(table, default):
    return table.meta.get("label", default) if hasattr(table, "meta") else default


def _obs_time_text(table):
    obs_time = table.meta.get("OBS_TIME") if hasattr(table, "meta") else None
    return f", {float(obs_time):g} h" if obs_time is not None else ""


def _read_hdu(hdul, name):
    return QTable.read(hdul[name])


def _plot_requirement(ax, table, column, unit, label_default):
    if table is None:
        return
    ax.plot(
        u.Quantity(table["energy"], u.TeV).value,
        u.Quantity(table[column]).to_value(unit),
        color="black",
        linestyle="--",
        label=_label(table, label_default),
    )


def _plot_reference(ax, table, column, unit, label_default):
    if table is None:
        return
    x = u.Quantity(table["energy"], u.TeV).value
    y = u.Quantity(table[column]).to_value(unit)
    if "energy_low" in table.colnames:
        xerr = [x - table["energy_low"].to_value(u.TeV), table["energy_high"].to_value(u.TeV) - x]
        ax.errorbar(
            x,
            y,
            xerr=xerr,
            color="gray",
            linestyle="",
            marker=".",
            label=_label(table, label_default),
        )
    else:
        ax.plot(x, y, color="gray", marker=".", label=_label(table, label_default))


def _minor_tick_label(y, _pos=None):
    """Label a minor log tick if its leading digit is 2, 3 or 5 (as plain number)."""
    if y <= 0:
        return ""
    leading = round(y / 10 ** np.floor(np.log10(y)))
    return f"{y:g}" if leading in (2, 3, 5) else ""


def _plot_prod5(ax, table, column, unit, label_default, suffix="", **kwargs):
    """A prod5 curve (extracted from the public IRFs) as a magenta line through bin centres."""
    if table is None:
        return
    x = u.Quantity(table["energy"], u.TeV).value
    y = np.asarray(u.Quantity(table[column]).to_value(unit), dtype=float)
    ok = np.isfinite(y) & (y != 0) if kwargs.pop("drop_zero", True) else np.isfinite(y)
    style = {"color": "darkmagenta", "linewidth": 1.2, **kwargs}
    ax.plot(x[ok], y[ok], label=_label(table, label_default) + suffix, **style)


# --------------------------------------------------------------------------- performance


def _energy_flux_sensitivity(sensitivity):
    if "energy_flux_sensitivity" in sensitivity.colnames:
        return u.Quantity(sensitivity["energy_flux_sensitivity"]).to_value(ENERGY_FLUX_UNIT)
    energy = u.Quantity(sensitivity["reco_energy_center"], u.TeV)
    with np.errstate(invalid="ignore", over="ignore"):
        return (energy**2 * u.Quantity(sensitivity["flux_sensitivity"])).to_value(ENERGY_FLUX_UNIT)


def plot_sensitivity(sensitivity, requirement=None, reference=None, title=None, prod5=None):
    """Differential point-source sensitivity, E²·F versus reconstructed energy.

    Parameters
    ----------
    sensitivity : astropy.table.QTable
        Sensitivity table (``reco_energy_low/high/center`` and ``energy_flux_sensitivity``
        or ``flux_sensitivity``).
    requirement : astropy.table.QTable, optional
        ``energy``, ``sensitivity`` (e.g. :func:`showerflow.reference.requirement_sensitivity`).
    reference : astropy.table.QTable, optional
        ``energy_low``, ``energy_high``, ``energy``, ``sensitivity``
        (e.g. :func:`showerflow.reference.prod3b_sensitivity`).
    title : str, optional
    prod5 : astropy.table.QTable, optional
        ``energy``, ``sensitivity`` (:func:`showerflow.reference.prod5_sensitivity`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    regular, center, xerr = _bins(sensitivity, "reco_energy")
    e2f = _energy_flux_sensitivity(sensitivity)
    ok = regular & np.isfinite(e2f) & (e2f > 0)
    ax.errorbar(
        center[ok],
        e2f[ok],
        xerr=xerr[:, ok],
        linestyle="",
        marker="o",
        markersize=4,
        label=_label(sensitivity, "this analysis"),
    )
    _plot_requirement(ax, requirement, "sensitivity", ENERGY_FLUX_UNIT, "CTA requirement")
    _plot_reference(ax, reference, "sensitivity", ENERGY_FLUX_UNIT, "CTA prod3b-v2")
    _plot_prod5(ax, prod5, "sensitivity", ENERGY_FLUX_UNIT, "CTAO prod5")
    _finish(
        ax,
        "Reconstructed energy [TeV]",
        r"$E^2 \times$ flux sensitivity [erg cm$^{-2}$ s$^{-1}$]",
        title or f"Differential sensitivity (5σ Li & Ma{_obs_time_text(sensitivity)})",
        logy=True,
    )
    return fig


def plot_angular_resolution(table, requirement=None, reference=None, title=None, prod5=None):
    """Angular resolution (68 % containment) versus energy.

    Parameters
    ----------
    table : astropy.table.QTable
        ``true_energy_*`` or ``reco_energy_*`` bins and ``angular_resolution`` (or pyirf's
        ``angular_resolution_68``) [deg].
    requirement, reference, prod5 : astropy.table.QTable, optional
        ``energy``, ``angular_resolution`` (:mod:`showerflow.reference`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    prefix = _energy_prefix(table)
    regular, center, xerr = _bins(table, prefix)
    column = next(c for c in table.colnames if c.startswith("angular_resolution"))
    values = u.Quantity(table[column], u.deg).value
    ok = regular & np.isfinite(values)
    ax.errorbar(
        center[ok],
        values[ok],
        xerr=xerr[:, ok],
        linestyle="",
        marker="o",
        markersize=4,
        label=_label(table, "this analysis"),
    )
    _plot_requirement(ax, requirement, "angular_resolution", u.deg, "CTA requirement")
    _plot_reference(ax, reference, "angular_resolution", u.deg, "CTA prod3b-v2")
    _plot_prod5(ax, prod5, "angular_resolution", u.deg, "CTAO prod5")
    _finish(
        ax,
        _energy_label(prefix),
        "Angular resolution (68 % containment) [deg]",
        title or "Angular resolution of the gammas (after g/h cut)",
        logy=True,
    )
    # plain numbers (0.03, 0.05, 0.1, 0.2) on the few decades of the log axis, not 5×10⁻²;
    # minor ticks labelled at 2, 3 and 5 only, so they do not pile up below a decade
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_tick_label))
    return fig


def plot_energy_bias_resolution(table, requirement=None, reference=None, title=None, prod5=None):
    """Energy bias and resolution versus energy.

    Parameters
    ----------
    table : astropy.table.QTable
        ``true_energy_*`` or ``reco_energy_*`` bins, ``bias`` and ``resolution``.
    requirement, reference : astropy.table.QTable, optional
        ``energy``, ``energy_resolution`` (:mod:`showerflow.reference`).
    title : str, optional
    prod5 : astropy.table.QTable, optional
        ``energy``, ``energy_resolution``, ``energy_bias``
        (:func:`showerflow.reference.prod5_energy_resolution`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    prefix = _energy_prefix(table)
    regular, center, xerr = _bins(table, prefix)
    for column, marker in (("bias", "s"), ("resolution", "o")):
        values = np.asarray(u.Quantity(table[column]).value, dtype=float)
        ok = regular & np.isfinite(values)
        ax.errorbar(
            center[ok],
            values[ok],
            xerr=xerr[:, ok],
            linestyle="",
            marker=marker,
            markersize=4,
            label=column,
        )
    ax.axhline(0, color="gray", linewidth=0.8)
    _plot_requirement(ax, requirement, "energy_resolution", u.one, "CTA requirement (resolution)")
    _plot_reference(ax, reference, "energy_resolution", u.one, "CTA prod3b-v2 (resolution)")
    _plot_prod5(ax, prod5, "energy_resolution", u.one, "CTAO prod5", " (resolution)")
    _plot_prod5(
        ax, prod5, "energy_bias", u.one, "CTAO prod5", " (bias)", linestyle=":", drop_zero=False
    )
    _finish(
        ax,
        _energy_label(prefix),
        r"Energy bias / resolution ($E_\mathrm{reco}/E_\mathrm{true} - 1$)",
        title or "Energy bias and resolution of the gammas (after cuts)",
    )
    return fig


def _effective_area_curves(irfs_or_table):
    """(label, energy centre, x errors, area [m²]) for each effective-area variant."""
    curves = []
    if isinstance(irfs_or_table, fits.HDUList):
        for hdu in irfs_or_table:
            if hdu.name not in _AEFF_LABELS:
                continue
            table = QTable.read(hdu)
            low = table["ENERG_LO"][0].to_value(u.TeV)
            high = table["ENERG_HI"][0].to_value(u.TeV)
            area = table["EFFAREA"][0].to_value(u.m**2)[0]  # first fov-offset bin
            bins = QTable({"e_low": low * u.TeV, "e_high": high * u.TeV})
            regular, center, xerr = _bins(bins, "e")
            curves.append((_AEFF_LABELS[hdu.name], regular, center, xerr, area))
    else:
        regular, center, xerr = _bins(irfs_or_table, "true_energy")
        for column in irfs_or_table.colnames:
            if column.startswith("effective_area"):
                name = column.upper()
                label = _AEFF_LABELS.get(name, column)
                area = u.Quantity(irfs_or_table[column], u.m**2).value
                curves.append((label, regular, center, xerr, area))
    if not curves:
        raise KeyError("no EFFECTIVE_AREA HDU or effective_area column found")
    return curves


def plot_effective_area(irfs_or_table, requirement=None, reference=None, title=None, prod5=None):
    """Effective area versus true energy, with and without the cuts.

    Parameters
    ----------
    irfs_or_table : astropy.io.fits.HDUList or astropy.table.QTable
        The IRF file (``EFFECTIVE_AREA*`` HDUs) or the ``effective_area`` table of
        :func:`showerflow.performance.run_performance`.
    requirement, reference, prod5 : astropy.table.QTable, optional
        ``energy``, ``effective_area`` (:mod:`showerflow.reference`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    for label, regular, center, xerr, area in _effective_area_curves(irfs_or_table):
        ok = regular & (area > 0)
        ax.errorbar(center[ok], area[ok], xerr=xerr[:, ok], marker=".", label=label)
    _plot_requirement(ax, requirement, "effective_area", u.m**2, "CTA requirement")
    _plot_reference(ax, reference, "effective_area", u.m**2, "CTA prod3b-v2")
    _plot_prod5(ax, prod5, "effective_area", u.m**2, "CTAO prod5", " (g/h cut only)")
    _finish(
        ax,
        "True energy [TeV]",
        r"Effective area [m$^2$]",
        title or "Gamma effective area",
        logy=True,
    )
    return fig


def plot_background_rate(irfs_or_table, reference=None, title=None, max_offset_bins=4, prod5=None):
    """Residual background rate (after the gammaness cut) versus reconstructed energy.

    Parameters
    ----------
    irfs_or_table : astropy.io.fits.HDUList or astropy.table.QTable
        The IRF file (``BACKGROUND`` HDU, one line per fov-offset bin, at most
        ``max_offset_bins``) or the ``background_rate`` table of
        :func:`showerflow.performance.run_performance`.
    reference : astropy.table.QTable, optional
        ``energy``, ``background_rate`` [s⁻¹ TeV⁻¹ sr⁻¹]
        (:func:`showerflow.reference.prod3b_background_rate`).
    title : str, optional
    max_offset_bins : int, optional
        Fov-offset bins shown from the HDU.
    prod5 : astropy.table.QTable, optional
        ``energy``, ``background_rate`` [s⁻¹ TeV⁻¹ sr⁻¹]
        (:func:`showerflow.reference.prod5_background_rate`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    if isinstance(irfs_or_table, fits.HDUList):
        table = QTable.read(irfs_or_table["BACKGROUND"])
        bins = QTable({"e_low": table["ENERG_LO"][0], "e_high": table["ENERG_HI"][0]})
        regular, center, xerr = _bins(bins, "e")
        rate = table["BKG"][0].to_value(BACKGROUND_UNIT)  # (n_fov, n_energy)
        offsets_lo = table["THETA_LO"][0].to_value(u.deg)
        offsets_hi = table["THETA_HI"][0].to_value(u.deg)
        for i in range(min(len(offsets_lo), max_offset_bins)):
            ok = regular & (rate[i] > 0)
            ax.errorbar(
                center[ok],
                rate[i][ok],
                xerr=xerr[:, ok],
                marker=".",
                label=f"FoV offset {offsets_lo[i]:g}–{offsets_hi[i]:g}°",
            )
    else:
        regular, center, xerr = _bins(irfs_or_table, "reco_energy")
        rate = u.Quantity(irfs_or_table["background_rate"]).to_value(BACKGROUND_UNIT)
        ok = regular & (rate > 0)
        ax.errorbar(
            center[ok],
            rate[ok],
            xerr=xerr[:, ok],
            marker=".",
            label=_label(irfs_or_table, "this analysis"),
        )
    _plot_reference(ax, reference, "background_rate", BACKGROUND_UNIT, "CTA prod3b-v2")
    _plot_prod5(ax, prod5, "background_rate", BACKGROUND_UNIT, "CTAO prod5", " (FoV < 1°)")
    _finish(
        ax,
        "Reconstructed energy [TeV]",
        r"Background rate [s$^{-1}$ TeV$^{-1}$ sr$^{-1}$]",
        title or "Residual background rate (protons + electrons, after g/h cut)",
        logy=True,
    )
    return fig


def plot_theta_gh_cuts(theta_cuts_or_irfs, gh_cuts=None, title=None):
    """The optimised theta and gammaness cuts versus reconstructed energy.

    Parameters
    ----------
    theta_cuts_or_irfs : astropy.table.QTable or astropy.io.fits.HDUList
        The theta-cut table, or the IRF file holding ``THETA_CUTS`` and ``GH_CUTS``.
    gh_cuts : astropy.table.QTable, optional
        The gammaness-cut table (needed when the first argument is a table).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: theta cut [deg] and gammaness cut.
    """
    if isinstance(theta_cuts_or_irfs, fits.HDUList):
        theta_cuts = _read_hdu(theta_cuts_or_irfs, "THETA_CUTS")
        gh_cuts = _read_hdu(theta_cuts_or_irfs, "GH_CUTS")
    else:
        theta_cuts = theta_cuts_or_irfs
    if gh_cuts is None:
        raise ValueError("gh_cuts is needed when theta cuts are given as a table")
    fig, axes = _figure(1, 2, figsize=(11, 4.5))
    for ax, table, ylabel, name in (
        (axes[0, 0], theta_cuts, r"$\theta$ cut [deg]", "Direction (θ) cut"),
        (axes[0, 1], gh_cuts, "Gammaness cut (keep ≥) / gamma efficiency", "Gamma/hadron cut"),
    ):
        bins = QTable({"e_low": table["low"], "e_high": table["high"]})
        regular, center, xerr = _bins(bins, "e")
        values = np.asarray(u.Quantity(table["cut"]).value, dtype=float)
        ok = regular & np.isfinite(values)
        ax.errorbar(
            center[ok],
            values[ok],
            xerr=xerr[:, ok],
            linestyle="",
            marker="o",
            markersize=4,
            label="cut",
        )
        if "efficiency" in table.colnames:
            eff = np.asarray(table["efficiency"], dtype=float)
            ax.plot(center[ok], eff[ok], linestyle=":", marker=".", label="gamma efficiency")
        _finish(ax, "Reconstructed energy [TeV]", ylabel, name)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- models


def plot_energy_model(metrics, title=None):
    """Energy model: bias and resolution of (reco - true) / true versus true energy.

    Parameters
    ----------
    metrics : dict
        Energy-model metrics document (keys ``r2``, ``bins``, ``per_tel_type``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    bins = metrics["bins"]
    table = QTable(
        {
            "true_energy_low": _floats(bins["true_energy_low"]) * u.TeV,
            "true_energy_high": _floats(bins["true_energy_high"]) * u.TeV,
        }
    )
    regular, center, xerr = _bins(table, "true_energy")
    fig, axes = _figure()
    ax = axes[0, 0]
    for key, marker in (("bias", "s"), ("resolution", "o")):
        values = _floats(bins[key])
        ok = regular & np.isfinite(values)
        ax.errorbar(
            center[ok], values[ok], xerr=xerr[:, ok], marker=marker, markersize=4, label=key
        )
    ax.axhline(0, color="gray", linewidth=0.8)
    r2 = metrics.get("r2")
    per_type = ", ".join(
        f"{name} {m['r2']:.3f}"
        for name, m in metrics.get("per_tel_type", {}).items()
        if m.get("r2") is not None
    )
    default = "Energy model: bias and resolution"
    if r2 is not None:
        default += f" (R² = {r2:.3f})"
    _finish(
        ax,
        "True energy [TeV]",
        r"$(E_\mathrm{reco} - E_\mathrm{true}) / E_\mathrm{true}$",
        title or default,
    )
    if per_type:
        ax.text(
            0.02, 0.02, f"R² per telescope type: {per_type}", transform=ax.transAxes, fontsize=8
        )
    return fig


def plot_roc(metrics, title=None):
    """ROC curve of the gamma/hadron classifier, with its area under the curve.

    Parameters
    ----------
    metrics : dict
        Classifier metrics document (keys ``roc_auc``, ``roc_curve``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure(figsize=(6, 6))
    ax = axes[0, 0]
    fpr = _floats(metrics["roc_curve"]["fpr"])
    tpr = _floats(metrics["roc_curve"]["tpr"])
    auc = metrics.get("roc_auc")
    label = f"ROC (AUC = {auc:.3f})" if auc is not None else "ROC"
    ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _finish(
        ax,
        "False positive rate (hadrons kept)",
        "True positive rate (gammas kept)",
        title or "Gamma/hadron classifier ROC curve",
        logx=False,
    )
    return fig


def plot_auc_vs_energy(metrics, title=None):
    """ROC AUC of the classifier in bins of reconstructed energy.

    Parameters
    ----------
    metrics : dict
        Classifier metrics document (keys ``bins``, ``roc_auc``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    bins = metrics["bins"]
    table = QTable(
        {
            "reco_energy_low": _floats(bins["reco_energy_low"]) * u.TeV,
            "reco_energy_high": _floats(bins["reco_energy_high"]) * u.TeV,
        }
    )
    regular, center, xerr = _bins(table, "reco_energy")
    auc = _floats(bins["roc_auc"])
    ok = regular & np.isfinite(auc)
    fig, axes = _figure()
    ax = axes[0, 0]
    ax.errorbar(
        center[ok],
        auc[ok],
        xerr=xerr[:, ok],
        linestyle="",
        marker="o",
        markersize=4,
        label="AUC per bin",
    )
    if metrics.get("roc_auc") is not None:
        ax.axhline(
            metrics["roc_auc"],
            color="gray",
            linestyle="--",
            label=f"all energies ({metrics['roc_auc']:.3f})",
        )
    ax.set_ylim(min(0.5, np.nanmin(auc[ok]) if ok.any() else 0.5), 1.0)
    _finish(
        ax, "Reconstructed energy [TeV]", "ROC AUC", title or "Classifier ROC AUC versus energy"
    )
    return fig


def plot_feature_importances(metrics, title=None, max_features=None):
    """Feature importances of the per-telescope-type models, as horizontal bars.

    Parameters
    ----------
    metrics : dict
        Energy-model or classifier metrics document (key ``feature_importances``:
        ``{tel_type: {feature: importance}}``).
    title : str, optional
    max_features : int, optional
        Show only the most important features of each type.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per telescope type, features sorted by importance.
    """
    importances = metrics.get("feature_importances") or {}
    if not importances:
        raise ValueError("metrics document has no feature_importances")
    n_types = len(importances)
    n_features = max(len(v) for v in importances.values())
    fig, axes = _figure(1, n_types, figsize=(4.5 * n_types, 1.2 + 0.35 * n_features))
    for ax, (tel_type, values) in zip(axes[0], importances.items(), strict=True):
        items = sorted(
            ((k, np.nan if v is None else float(v)) for k, v in values.items()),
            key=lambda kv: kv[1],
        )
        if max_features:
            items = items[-max_features:]
        names = [k for k, _ in items]
        ax.barh(np.arange(len(items)), [v for _, v in items], label=tel_type)
        ax.set_yticks(np.arange(len(items)), names)
        ax.set_xlabel("Importance (relative)")
        ax.set_ylabel("Feature")
        ax.set_title(f"{tel_type}")
        ax.grid(True, axis="x", alpha=0.4)
    fig.suptitle(title or "Feature importances per telescope type")
    return fig
