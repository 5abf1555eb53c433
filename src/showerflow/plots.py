"""Plots of the performance results and of the model training metrics.

Every function builds a :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot,
no display, no global figure registry) and returns it; save it with ``fig.savefig(path)``.
Axes carry labels with units, logarithmic energy axes, legends and a title naming the data.

Performance plots take the tables of :mod:`showerflow.performance` (or the IRF and cuts
FITS ``HDUList`` it writes); a table with ``fov_offset_low`` / ``fov_offset_high`` columns
(one block of energy rows per FoV-offset bin) gives one series per offset bin, coloured
from the centre (dark) to the edge of the field of view (light). ``requirement`` /
``reference`` take the tables of :mod:`showerflow.reference` (CTA requirement, published
prod3b-v2 curves).

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
    "plot_sensitivity_offset",
    "plot_angular_resolution",
    "plot_angular_resolution_containment",
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


def _offset_blocks(table):
    """``[(label, rows)]`` per FoV-offset bin of a per-offset table; ``[(None, table)]``
    for a table without ``fov_offset_low``."""
    if "fov_offset_low" not in table.colnames:
        return [(None, table)]
    low = u.Quantity(table["fov_offset_low"], u.deg).value
    high = u.Quantity(table["fov_offset_high"], u.deg).value
    return [
        (f"FoV offset {lo:g}–{hi:g}°", table[(low == lo) & (high == hi)])
        for lo, hi in dict.fromkeys(zip(low, high, strict=True))
    ]


def _offset_colors(n):
    """One colour per FoV-offset bin, dark (centre) to light (edge); C0 for a single bin."""
    if n <= 1:
        return ["C0"]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * i / (n - 1)) for i in range(n)]


#: Benchmark bins with fewer gammas than this are not drawn (their quantiles are noise).
MIN_EVENTS = 10


def _plot_series(ax, table, column, unit=None, label=None, min_events=0, **style):
    """One errorbar series of ``column`` against the table's energy bins: finite values
    (and > 0 with ``positive=True``) of bins with at least ``min_events`` (``n_events``)."""
    prefix = _energy_prefix(table)
    regular, center, xerr = _bins(table, prefix)
    values = u.Quantity(table[column]).to_value(unit) if unit else np.asarray(table[column])
    values = np.asarray(values, dtype=float)
    ok = regular & np.isfinite(values)
    if min_events and "n_events" in table.colnames:
        ok &= np.asarray(table["n_events"]) >= min_events
    if style.pop("positive", False):
        ok &= values > 0
    style = {"marker": "o", "markersize": 3.5, "linestyle": "", **style}
    ax.errorbar(center[ok], values[ok], xerr=xerr[:, ok], label=label, **style)


def plot_sensitivity_offset(sensitivity_offset, on_axis=None, title=None):
    """Differential point-source sensitivity (E²·F) per FoV-offset bin.

    Parameters
    ----------
    sensitivity_offset : astropy.table.QTable
        :func:`showerflow.performance.sensitivity_per_offset` (NaN where statistics do
        not allow); bins with fewer than :data:`MIN_EVENTS` simulated background events
        (``n_background_mc``) are circled: their background estimate rests on few events.
    on_axis : astropy.table.QTable, optional
        The on-axis sensitivity, drawn in black for comparison.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    blocks = _offset_blocks(sensitivity_offset)
    for (label, rows), color in zip(blocks, _offset_colors(len(blocks)), strict=True):
        rows = QTable(rows)
        rows["e2f"] = _energy_flux_sensitivity(rows) * ENERGY_FLUX_UNIT
        _plot_series(ax, rows, "e2f", ENERGY_FLUX_UNIT, label, color=color, linestyle="-",
                     positive=True)  # fmt: skip
        if "n_background_mc" in rows.colnames:  # open: few simulated background events
            few = QTable(rows[np.asarray(rows["n_background_mc"]) < MIN_EVENTS])
            _plot_series(ax, few, "e2f", ENERGY_FLUX_UNIT, None, color=color, marker="o",
                         markersize=8, mfc="white", zorder=0, positive=True)  # fmt: skip
    if on_axis is not None:
        rows = QTable(on_axis)
        rows["e2f"] = _energy_flux_sensitivity(rows) * ENERGY_FLUX_UNIT
        _plot_series(ax, rows, "e2f", ENERGY_FLUX_UNIT, "on-axis gammas", color="black",
                     marker="s", positive=True)  # fmt: skip
    _finish(
        ax,
        "Reconstructed energy [TeV]",
        r"$E^2 \times$ flux sensitivity [erg cm$^{-2}$ s$^{-1}$]",
        title or f"Sensitivity per FoV offset (5σ Li & Ma{_obs_time_text(sensitivity_offset)})",
        logy=True,
    )
    return fig


def _log_plain_ticks(ax):
    # plain numbers (0.03, 0.05, 0.1, 0.2) on the few decades of the log axis, not 5×10⁻²;
    # minor ticks labelled at 2, 3 and 5 only, so they do not pile up below a decade
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_tick_label))


def plot_angular_resolution(table, requirement=None, reference=None, title=None, prod5=None):
    """Angular resolution (68 % containment) versus energy, one series per FoV-offset bin.

    Parameters
    ----------
    table : astropy.table.QTable
        ``true_energy_*`` or ``reco_energy_*`` bins and ``angular_resolution`` (or pyirf's
        ``angular_resolution_68``) [deg], optionally ``fov_offset_low/high``; bins with
        ``n_events`` below :data:`MIN_EVENTS` are left out.
    requirement, reference, prod5 : astropy.table.QTable, optional
        ``energy``, ``angular_resolution`` (:mod:`showerflow.reference`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    column = next(c for c in table.colnames if c.startswith("angular_resolution"))
    blocks = _offset_blocks(table)
    for (label, rows), color in zip(blocks, _offset_colors(len(blocks)), strict=True):
        _plot_series(ax, rows, column, u.deg, label or _label(table, "this analysis"), MIN_EVENTS,
                     color=color)  # fmt: skip
    _plot_requirement(ax, requirement, "angular_resolution", u.deg, "CTA requirement")
    _plot_reference(ax, reference, "angular_resolution", u.deg, "CTA prod3b-v2")
    _plot_prod5(ax, prod5, "angular_resolution", u.deg, "CTAO prod5")
    _finish(
        ax,
        _energy_label(_energy_prefix(table)),
        "Angular resolution (68 % containment) [deg]",
        title or "Angular resolution of the gammas (after g/h cut)",
        logy=True,
    )
    _log_plain_ticks(ax)
    return fig


_CONTAINMENT_STYLES = {"25": ":", "50": "-.", "68": "-", "95": "--"}


def plot_angular_resolution_containment(true_table, reco_table=None, title=None):
    """Containment radii (25, 50, 68, 95 %) of the angular distance, one panel per offset bin.

    Parameters
    ----------
    true_table : astropy.table.QTable
        Per-offset angular resolution versus true energy (``angular_resolution_25`` ...).
    reco_table : astropy.table.QTable, optional
        The same versus reconstructed energy (open markers).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    blocks = _offset_blocks(true_table)
    reco_blocks = dict(_offset_blocks(reco_table)) if reco_table is not None else {}
    ncols = min(3, len(blocks))
    nrows = -(-len(blocks) // ncols)
    fig, axes = _figure(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), sharex=True,
                        sharey=True)  # fmt: skip
    for k, (label, rows) in enumerate(blocks):
        ax = axes.flat[k]
        for i, (key, linestyle) in enumerate(_CONTAINMENT_STYLES.items()):
            style = {"color": f"C{i}", "linestyle": linestyle, "marker": "."}
            _plot_series(ax, rows, f"angular_resolution_{key}", u.deg, f"{key} %", MIN_EVENTS,
                         **style)  # fmt: skip
            if label in reco_blocks:
                _plot_series(ax, reco_blocks[label], f"angular_resolution_{key}", u.deg, None,
                             MIN_EVENTS, **{**style, "marker": "o", "mfc": "none", "linestyle": ""})  # fmt: skip
        _finish(ax, "Energy [TeV]", "Containment radius [deg]", label or "all offsets", logy=True)
        _log_plain_ticks(ax)
    for ax in axes.flat[len(blocks) :]:
        ax.set_visible(False)
    fig.suptitle(
        title
        or "Angular resolution: containment radii per FoV offset (lines: true energy"
        + (", open circles: reconstructed energy)" if reco_table is not None else ")")
    )
    return fig


def _offset_legend(ax, blocks, colors, styles):
    """Legend: the labelled curves already drawn, one colour per FoV-offset bin, one
    black sample per line style (``styles``: label -> Line2D keywords)."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    for (label, _), color in zip(blocks, colors, strict=True):
        handles.append(Line2D([], [], color=color, linewidth=4))
        labels.append(label)
    for label, style in styles.items():
        handles.append(Line2D([], [], color="black", **style))
        labels.append(label)
    ax.legend(handles, labels, fontsize="small", ncol=2)


_BIAS_RES_STYLES = {"bias": {"marker": "s", "linestyle": ":"},
                    "resolution": {"marker": "o", "linestyle": "-"}}  # fmt: skip


def _bias_resolution_panel(ax, table):
    blocks = _offset_blocks(table)
    colors = _offset_colors(len(blocks))
    single = len(blocks) == 1
    for (_, rows), color in zip(blocks, colors, strict=True):
        for column, style in _BIAS_RES_STYLES.items():
            style = {**style, "markersize": 3}
            if single:  # one bin: a colour per quantity, as for a 1-D benchmark
                style.update(color=f"C{0 if column == 'bias' else 1}", linestyle="")
            _plot_series(ax, rows, column, None, column if single else None, MIN_EVENTS,
                         **(style if single else {**style, "color": color}))  # fmt: skip
    ax.axhline(0, color="gray", linewidth=0.8)
    return blocks, colors, single


def plot_energy_bias_resolution(table, requirement=None, reference=None, title=None, prod5=None,
                                reco_table=None):  # fmt: skip
    """Energy bias and resolution versus energy, per FoV-offset bin.

    Parameters
    ----------
    table : astropy.table.QTable
        ``true_energy_*`` or ``reco_energy_*`` bins, ``bias`` and ``resolution``,
        optionally ``fov_offset_low/high``.
    requirement, reference : astropy.table.QTable, optional
        ``energy``, ``energy_resolution`` (:mod:`showerflow.reference`).
    title : str, optional
    prod5 : astropy.table.QTable, optional
        ``energy``, ``energy_resolution``, ``energy_bias``
        (:func:`showerflow.reference.prod5_energy_resolution`).
    reco_table : astropy.table.QTable, optional
        The same versus reconstructed energy: a second panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ncols = 1 if reco_table is None else 2
    fig, axes = _figure(1, ncols, figsize=(7 * ncols, 5), sharey=True)
    ax = axes[0, 0]
    blocks, colors, single = _bias_resolution_panel(ax, table)
    _plot_requirement(ax, requirement, "energy_resolution", u.one, "CTA requirement (resolution)")
    _plot_reference(ax, reference, "energy_resolution", u.one, "CTA prod3b-v2 (resolution)")
    _plot_prod5(ax, prod5, "energy_resolution", u.one, "CTAO prod5", " (resolution)")
    _plot_prod5(
        ax, prod5, "energy_bias", u.one, "CTAO prod5", " (bias)", linestyle=":", drop_zero=False
    )
    ylabel = r"Energy bias / resolution ($E_\mathrm{reco}/E_\mathrm{true} - 1$)"
    name = title or "Energy bias and resolution of the gammas (after cuts)"
    _finish(ax, _energy_label(_energy_prefix(table)), ylabel, name)
    if reco_table is not None:
        _bias_resolution_panel(axes[0, 1], reco_table)
        _finish(axes[0, 1], _energy_label(_energy_prefix(reco_table)), ylabel,
                "… versus reconstructed energy")  # fmt: skip
    if not single:
        for panel in axes.flat:
            _offset_legend(panel, blocks, colors, _BIAS_RES_STYLES)
    return fig


def _effective_area_curves(irfs_or_table, column="effective_area_only_gh"):
    """(label, table of one offset bin) for each FoV-offset bin of an effective area."""
    if isinstance(irfs_or_table, fits.HDUList):
        from .performance import gadf_effective_area_table

        table = gadf_effective_area_table(irfs_or_table["EFFECTIVE_AREA"])
        column = "effective_area"
    else:
        table = irfs_or_table
    if column not in table.colnames:
        raise KeyError(f"no {column} column in the effective-area table: {table.colnames}")
    return column, _offset_blocks(table)


def plot_effective_area(irfs_or_table, requirement=None, reference=None, title=None, prod5=None):
    """Effective area versus true energy per FoV-offset bin: full enclosure and point-like.

    Parameters
    ----------
    irfs_or_table : astropy.io.fits.HDUList or astropy.table.QTable
        The ``effective_area`` table of :func:`showerflow.performance.run_performance`
        (two panels: full enclosure = g/h cut only, with the first bin's area without
        cuts; point-like = g/h + θ cuts), or one IRF file (its EFFECTIVE_AREA, one panel).
    requirement, reference, prod5 : astropy.table.QTable, optional
        ``energy``, ``effective_area`` (:mod:`showerflow.reference`); prod5 (after its g/h
        cut, no θ cut) goes with the full-enclosure panel, the others with the point-like.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = [("effective_area_only_gh", "Full enclosure (g/h cut)")]
    if not isinstance(irfs_or_table, fits.HDUList):
        panels.append(("effective_area", "Point-like (g/h + θ cuts)"))
    else:
        kind = irfs_or_table["EFFECTIVE_AREA"].header.get("HDUCLAS3", "").lower()
        panels = [("effective_area", f"Effective area ({kind or 'IRF file'})")]
    fig, axes = _figure(1, len(panels), figsize=(7 * len(panels), 5), sharey=True)
    for ax, (column, name) in zip(axes.flat, panels, strict=True):
        column, blocks = _effective_area_curves(irfs_or_table, column)
        for (label, rows), color in zip(blocks, _offset_colors(len(blocks)), strict=True):
            _plot_series(ax, rows, column, u.m**2, label, color=color, marker=".",
                         linestyle="-", positive=True)  # fmt: skip
        if column == "effective_area_only_gh":
            _plot_series(ax, blocks[0][1], "effective_area_no_cuts", u.m**2,
                         f"no cuts ({(blocks[0][0] or '').removeprefix('FoV offset ')})",
                         color="gray", marker="", linestyle=":", positive=True)  # fmt: skip
            _plot_prod5(ax, prod5, "effective_area", u.m**2, "CTAO prod5", " (g/h cut only)")
        if column == "effective_area" or len(panels) == 1:
            _plot_requirement(ax, requirement, "effective_area", u.m**2, "CTA requirement")
            _plot_reference(ax, reference, "effective_area", u.m**2, "CTA prod3b-v2")
        _finish(ax, "True energy [TeV]", r"Effective area [m$^2$]", name, logy=True)
    fig.suptitle(title or "Gamma effective area")
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


def plot_theta_gh_cuts(cuts, gh_cuts=None, title=None):
    """The theta and gammaness cuts versus reconstructed energy, per FoV-offset bin.

    Parameters
    ----------
    cuts : showerflow.performance.Cuts, astropy.io.fits.HDUList or astropy.table.QTable
        The cuts (or a cuts / point-like IRF file holding ``THETA_CUTS`` and ``GH_CUTS``,
        or the theta-cut table); the energies outside the ``VALIDITY`` range (where the
        optimisation found no cut, the cuts are fill values) are shaded.
    gh_cuts : astropy.table.QTable, optional
        The gammaness-cut table (needed when the first argument is a table).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: theta cut [deg] and gammaness cut (with its gamma efficiency).
    """
    validity = None
    if isinstance(cuts, fits.HDUList):
        theta_cuts, gh_cuts = _read_hdu(cuts, "THETA_CUTS"), _read_hdu(cuts, "GH_CUTS")
        validity = _read_hdu(cuts, "VALIDITY") if "VALIDITY" in cuts else None
    elif hasattr(cuts, "validity"):
        theta_cuts, gh_cuts, validity = cuts.theta, cuts.gh, cuts.validity
    else:
        theta_cuts = cuts
    if gh_cuts is None:
        raise ValueError("gh_cuts is needed when theta cuts are given as a table")
    fig, axes = _figure(1, 2, figsize=(11, 4.5))
    for ax, table, ylabel, name in (
        (axes[0, 0], theta_cuts, r"$\theta$ cut [deg]", "Direction (θ) cut"),
        (axes[0, 1], gh_cuts, "Gammaness cut (keep ≥) / gamma efficiency", "Gamma/hadron cut"),
    ):
        table = QTable(table)
        table["reco_energy_low"], table["reco_energy_high"] = table["low"], table["high"]
        blocks = _offset_blocks(table)
        for (label, rows), color in zip(blocks, _offset_colors(len(blocks)), strict=True):
            _plot_series(ax, rows, "cut", None, "cut" + (f", {label}" if label else ""),
                         color=color)  # fmt: skip
            if "efficiency" in rows.colnames:
                _plot_series(ax, rows, "efficiency", None, "gamma efficiency" if not label else None,
                             color=color, marker=".", linestyle=":")  # fmt: skip
        if validity is not None:
            lo = np.nanmax(u.Quantity(validity["energy_min"], u.TeV).value)
            hi = np.nanmin(u.Quantity(validity["energy_max"], u.TeV).value)
            regular, center, _ = _bins(table, "reco_energy")
            ax.axvspan(np.nanmin(center[regular]) / 2, lo, color="gray", alpha=0.15, lw=0)
            ax.axvspan(hi, np.nanmax(center[regular]) * 2, color="gray", alpha=0.15, lw=0,
                       label="outside the valid range")  # fmt: skip
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
