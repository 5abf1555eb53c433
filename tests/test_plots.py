"""Plots: each returns a Figure with the expected lines, labelled log axes, legends, titles."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from matplotlib.figure import Figure
from performance_synthetic import performance_result

from showerflow import plots
from showerflow import reference as ref


@pytest.fixture(scope="session")
def result(tmp_path_factory):
    return performance_result(str(tmp_path_factory.getbasetemp() / "synthetic_performance"))[1]


@pytest.fixture(scope="module")
def curves():
    return ref.reference_curves({"site": "North", "observation_time": "50h"})


def _single_axes(fig):
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    return ax


def _check_axes(ax, xunit=None, yunit=None, logx=True, logy=None):
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    if xunit:
        assert xunit in ax.get_xlabel()
    if yunit:
        assert yunit in ax.get_ylabel()
    if logx:
        assert ax.get_xscale() == "log"
    if logy is not None:
        assert ax.get_yscale() == ("log" if logy else "linear")


def _legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_plot_sensitivity_with_requirement_and_reference(result, curves, tmp_path):
    """The on-axis sensitivity."""
    sens = result["sensitivity"]
    fig = plots.plot_sensitivity(
        sens,
        requirement=curves["requirement"]["sensitivity"],
        reference=curves["prod3b"]["sensitivity"],
    )
    ax = _single_axes(fig)
    _check_axes(ax, "TeV", "erg", logy=True)
    assert len(ax.get_lines()) == 3
    assert len(_legend_texts(ax)) == 3 and any("requirement" in t for t in _legend_texts(ax))
    assert "50 h" in ax.get_title()
    # the plotted points are the finite E²F values of the regular bins
    data = ax.get_lines()[0].get_ydata()
    e2f = sens["energy_flux_sensitivity"].to_value(u.erg / u.cm**2 / u.s)
    np.testing.assert_allclose(np.sort(data), np.sort(e2f[np.isfinite(e2f) & (e2f > 0)]))
    fig.savefig(tmp_path / "sensitivity.png")
    assert (tmp_path / "sensitivity.png").stat().st_size > 1000
    assert len(plots.plot_sensitivity(sens).axes[0].get_lines()) == 1


def test_plot_sensitivity_of_a_pyirf_style_table():
    """A table with only flux_sensitivity (as pyirf writes it) gets E²F computed."""
    table = QTable(
        {
            "reco_energy_low": [0.1, 1.0] * u.TeV,
            "reco_energy_high": [1.0, 10.0] * u.TeV,
            "reco_energy_center": [0.55, 5.5] * u.TeV,
            "flux_sensitivity": [1e-11, 1e-14] * u.Unit("TeV-1 cm-2 s-1"),
        }
    )
    ax = plots.plot_sensitivity(table).axes[0]
    expected = (table["reco_energy_center"] ** 2 * table["flux_sensitivity"]).to_value(
        u.erg / u.cm**2 / u.s
    )
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), expected)


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def _one_offset_bin(table):
    """The first FoV-offset block of a per-offset table, without the offset columns."""
    rows = table[table["fov_offset_low"] == table["fov_offset_low"][0]]
    rows.remove_columns(["fov_offset_low", "fov_offset_high"])
    return rows


def test_plot_sensitivity_offset(result):
    table = result["sensitivity_offset"]
    ax = _single_axes(plots.plot_sensitivity_offset(table, on_axis=result["sensitivity"]))
    _check_axes(ax, "TeV", "erg", logy=True)
    labels = _legend_texts(ax)
    assert labels[-1] == "on-axis gammas"
    assert labels[:-1] == [f"FoV offset {i}–{i + 1}°" for i in range(5)]
    # the points of a bin are its finite E²F values (NaN where statistics do not allow)
    first = table[table["fov_offset_low"] == 0 * u.deg]
    e2f = first["energy_flux_sensitivity"].to_value(u.erg / u.cm**2 / u.s)
    np.testing.assert_allclose(
        np.sort(ax.get_lines()[0].get_ydata()), np.sort(e2f[np.isfinite(e2f)])
    )


def test_plot_angular_resolution_per_offset(result, curves):
    table = result["angular_resolution"]
    fig = plots.plot_angular_resolution(
        table,
        requirement=curves["requirement"]["angular_resolution"],
        reference=curves["prod3b"]["angular_resolution"],
    )
    ax = _single_axes(fig)
    _check_axes(ax, "TeV", "deg")
    assert "True energy" in ax.get_xlabel()
    labels = _legend_texts(ax)
    assert [x for x in labels if x.startswith("FoV offset")] == [
        f"FoV offset {i}–{i + 1}°" for i in range(5)
    ]
    assert any("requirement" in x for x in labels) and any("prod3b" in x for x in labels)
    # bins with fewer than MIN_EVENTS gammas are left out
    first = table[table["fov_offset_low"] == 0 * u.deg]
    shown = np.isfinite(first["angular_resolution"]) & (first["n_events"] >= plots.MIN_EVENTS)
    shown &= (first["true_energy_low"] > 0 * u.TeV) & np.isfinite(first["true_energy_high"])
    assert len(ax.get_lines()[0].get_ydata()) == shown.sum() < len(first)
    # a table without offsets is one series, as before
    ax = _single_axes(plots.plot_angular_resolution(_one_offset_bin(table)))
    assert _legend_texts(ax) == ["this analysis"]


def test_plot_angular_resolution_containment(result):
    fig = plots.plot_angular_resolution_containment(
        result["angular_resolution"], result["angular_resolution_reco"]
    )
    axes = _visible_axes(fig)
    assert [ax.get_title() for ax in axes] == [f"FoV offset {i}–{i + 1}°" for i in range(5)]
    for ax in axes:
        _check_axes(ax, "TeV", "deg", logy=True)
        assert _legend_texts(ax) == ["25 %", "50 %", "68 %", "95 %"]
        assert len(ax.get_lines()) == 8  # four containments, true and reconstructed energy
    # the radii grow with the containment fraction
    y25, y95 = axes[0].get_lines()[0].get_ydata(), axes[0].get_lines()[6].get_ydata()
    assert np.all(y95 >= y25)


def test_plot_energy_bias_resolution(result, curves):
    one = _one_offset_bin(result["energy_bias_resolution"])
    fig = plots.plot_energy_bias_resolution(
        one,
        requirement=curves["requirement"]["energy_resolution"],
        reference=curves["prod3b"]["energy_resolution"],
    )
    ax = _single_axes(fig)
    _check_axes(ax, "TeV", logy=False)
    # bias, resolution, zero line, requirement, reference
    assert len(ax.get_lines()) == 5
    assert {"bias", "resolution"} <= set(_legend_texts(ax))
    # per offset, against true and reconstructed energy: two panels, one colour per bin
    fig = plots.plot_energy_bias_resolution(
        result["energy_bias_resolution"], reco_table=result["energy_bias_resolution_reco"]
    )
    left, right = fig.axes
    assert "True energy" in left.get_xlabel() and "Reconstructed" in right.get_xlabel()
    for ax in (left, right):
        labels = _legend_texts(ax)
        assert [x for x in labels if x.startswith("FoV")] == [
            f"FoV offset {i}–{i + 1}°" for i in range(5)
        ]
        assert labels[-2:] == ["bias", "resolution"]


def test_plot_effective_area_from_the_table_and_an_irf_file(result, curves):
    table = result["effective_area"]
    fig = plots.plot_effective_area(
        table,
        requirement=curves["requirement"]["effective_area"],
        reference=curves["prod3b"]["effective_area"],
    )
    full, point = fig.axes
    for ax in (full, point):
        _check_axes(ax, "TeV", "m$^2$", logy=True)
    assert "Full enclosure" in full.get_title() and "Point-like" in point.get_title()
    assert _legend_texts(full)[:5] == [f"FoV offset {i}–{i + 1}°" for i in range(5)]
    assert _legend_texts(full)[5] == "no cuts (0–1°)"
    assert any("requirement" in x for x in _legend_texts(point))
    # the first bin's curve is the full-enclosure EFFECTIVE_AREA HDU's first offset row
    hdu = QTable.read(result["irfs"]["full_enclosure"]["EFFECTIVE_AREA"])
    area = hdu["EFFAREA"][0, 0].to_value(u.m**2)
    np.testing.assert_allclose(full.get_lines()[0].get_ydata(), area[area > 0], rtol=1e-6)
    # one IRF file: one panel, its own kind
    ax = _single_axes(plots.plot_effective_area(result["irfs"]["point_like"]))
    assert "point-like" in ax.get_title() and len(ax.get_lines()) == 5


def test_plot_background_rate(result, curves):
    ax = _single_axes(plots.plot_background_rate(result["irfs"]["full_enclosure"]))
    _check_axes(ax, "TeV", "sr", logy=True)
    assert len(ax.get_lines()) == 4  # first four fov-offset rings
    ax = _single_axes(
        plots.plot_background_rate(
            result["background_rate"], reference=curves["prod3b"]["background_rate"]
        )
    )
    assert len(ax.get_lines()) == 2


def test_plot_theta_gh_cuts(result, tmp_path):
    from showerflow.performance import write_cuts

    write_cuts(result["cuts"], tmp_path / "cuts.fits")
    with fits.open(tmp_path / "cuts.fits") as hdul:
        figures = [
            plots.plot_theta_gh_cuts(result["cuts"]),
            plots.plot_theta_gh_cuts(hdul),
            plots.plot_theta_gh_cuts(result["theta_cuts"], result["gh_cuts"]),
        ]
    for i, fig in enumerate(figures):
        theta_ax, gh_ax = fig.axes
        _check_axes(theta_ax, "TeV", "deg")
        _check_axes(gh_ax, "TeV", "Gammaness")
        assert len(theta_ax.get_lines()) == 1
        assert len(gh_ax.get_lines()) == 2  # cut and gamma efficiency
        # the range outside the cuts' validity is shaded (when the validity is known)
        assert ("outside the valid range" in _legend_texts(gh_ax)) == (i < 2)
    with pytest.raises(ValueError, match="gh_cuts"):
        plots.plot_theta_gh_cuts(result["theta_cuts"])


def test_performance_plots_read_written_irf_files(result, tmp_path):
    from showerflow.performance import write_outputs

    paths = write_outputs(result, tmp_path)
    with fits.open(paths["full_enclosure"]) as hdul:
        assert len(plots.plot_effective_area(hdul).axes[0].get_lines()) == 5
        assert len(plots.plot_background_rate(hdul).axes[0].get_lines()) == 4
    with fits.open(paths["cuts"]) as hdul:
        assert len(plots.plot_theta_gh_cuts(hdul).axes) == 2


ENERGY_METRICS = {
    "r2": 0.93,
    "per_tel_type": {
        "LST": {"r2": 0.9, "n_train": 100, "n_test": 50},
        "MST": {"r2": 0.95, "n_train": 200, "n_test": 80},
    },
    "bins": {
        "true_energy_low": [0.01, 0.1, 1.0, 10.0],
        "true_energy_high": [0.1, 1.0, 10.0, 100.0],
        "bias": [0.1, 0.02, -0.01, None],
        "resolution": [0.3, 0.15, 0.1, None],
        "n_events": [10, 100, 50, 0],
    },
    "feature_importances": {
        "LST": {"hillas_intensity": 0.6, "hillas_width": 0.1, "impact_distance": 0.3},
        "MST": {"hillas_intensity": 0.5, "hillas_width": 0.2, "impact_distance": 0.3},
    },
}

CLASSIFIER_METRICS = {
    "roc_auc": 0.912,
    "roc_curve": {"fpr": [0.0, 0.05, 0.2, 1.0], "tpr": [0.0, 0.6, 0.9, 1.0]},
    "bins": {
        "reco_energy_low": [0.01, 0.1, 1.0],
        "reco_energy_high": [0.1, 1.0, 10.0],
        "roc_auc": [0.8, 0.93, None],
        "n_gamma": [100, 200, 0],
        "n_hadron": [100, 300, 0],
    },
    "feature_importances": {"LST": {"hillas_width": 0.7, "hillas_length": 0.3}},
    "per_tel_type": {"LST": {"roc_auc": 0.9}},
}


def test_plot_energy_model():
    ax = _single_axes(plots.plot_energy_model(ENERGY_METRICS))
    _check_axes(ax, "TeV")
    assert len(ax.get_lines()) == 3  # bias, resolution, zero line
    assert "R² = 0.930" in ax.get_title()
    bias = ax.get_lines()[0]
    np.testing.assert_allclose(bias.get_ydata(), [0.1, 0.02, -0.01])  # null dropped
    np.testing.assert_allclose(bias.get_xdata(), np.sqrt([0.001, 0.1, 10.0]))


def test_plot_roc():
    ax = _single_axes(plots.plot_roc(CLASSIFIER_METRICS))
    _check_axes(ax, logx=False)
    assert len(ax.get_lines()) == 2
    assert "AUC = 0.912" in _legend_texts(ax)[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.0, 0.6, 0.9, 1.0])


def test_plot_auc_vs_energy():
    ax = _single_axes(plots.plot_auc_vs_energy(CLASSIFIER_METRICS))
    _check_axes(ax, "TeV", "AUC")
    assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.8, 0.93])


def test_plot_feature_importances(tmp_path):
    fig = plots.plot_feature_importances(ENERGY_METRICS)
    assert len(fig.axes) == 2
    for ax, tel_type in zip(fig.axes, ("LST", "MST"), strict=True):
        assert ax.get_title() == tel_type and ax.get_xlabel() and ax.get_ylabel()
        assert len(ax.patches) == 3
        labels = [t.get_text() for t in ax.get_yticklabels()]
        widths = [p.get_width() for p in ax.patches]
        assert widths == sorted(widths)  # most important at the top
        assert labels[-1] == max(
            ENERGY_METRICS["feature_importances"][tel_type],
            key=ENERGY_METRICS["feature_importances"][tel_type].get,
        )
    fig.savefig(tmp_path / "importances.png")
    assert len(plots.plot_feature_importances(CLASSIFIER_METRICS).axes) == 1
    with pytest.raises(ValueError, match="feature_importances"):
        plots.plot_feature_importances({"feature_importances": {}})


def test_angular_resolution_ticks_are_plain_numbers():
    labels = [
        plots._minor_tick_label(y) for y in (0.02, 0.03, 0.04, 0.05, 0.07, 0.09, 0.2, 0.3, 0.6)
    ]
    assert labels == ["0.02", "0.03", "", "0.05", "", "", "0.2", "0.3", ""]
    assert plots._minor_tick_label(0.0) == ""
