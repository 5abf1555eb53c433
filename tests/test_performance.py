"""Performance stage: bookkeeping, weights, cuts, sensitivity, IRFs, config, outputs.

Most tests run on the synthetic DL2 of ``performance_synthetic`` (on-axis and diffuse
gammas with a known FoV dependence, protons, electrons), computed once per session.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import QTable
from performance_synthetic import (
    R_MAX,
    SAMPLES,
    SEEDS,
    make_dl2,
    offset_acceptance,
    performance_result,
    records,
)
from pyirf.spectral import CRAB_HEGRA, IRFDOC_ELECTRON_SPECTRUM, IRFDOC_PROTON_SPECTRUM
from scipy.integrate import quad

from showerflow import performance as perf
from showerflow.config import _resolve_ref
from showerflow.contracts import ContractError
from showerflow.tables import write_table

REPO = Path(__file__).resolve().parents[1]
PYIRF_REFERENCE = REPO.parent / "shared/data/reference/pyirf/pyirf_eventdisplay_68.fits.gz"
OBS_TIME = 50 * u.h


@pytest.fixture(scope="session")
def result(tmp_path_factory):
    """(dl2 paths, run_performance result) on the synthetic sample, computed once."""
    return performance_result(str(tmp_path_factory.getbasetemp() / "synthetic_performance"))


@pytest.fixture(scope="module")
def cfg():
    return perf.default_performance_config()


def _energy_integral(spectrum, e_low, e_high):
    """∫ spectrum dE [per m² s (sr)] between two energies in TeV."""
    unit = spectrum(1 * u.TeV).unit * u.TeV
    value, _ = quad(lambda e: spectrum(e * u.TeV).to_value(unit / u.TeV), e_low, e_high)
    return value * unit


# --------------------------------------------------------------------------- bookkeeping


def test_simulation_info_sums_showers_over_runs():
    recs = records("gamma")
    recs[1]["shower_reuse"] = 5  # reuse may differ between runs
    info = perf.simulation_info(recs)
    spec = SAMPLES["gamma"]
    assert info.n_showers == 3 * spec["n_showers"] * 10 + spec["n_showers"] * 5
    assert info.energy_min == spec["e_min"] * u.TeV
    assert info.energy_max == spec["e_max"] * u.TeV
    assert info.max_impact == R_MAX["gamma"] * u.m
    assert info.spectral_index == spec["index"]
    assert info.viewcone_max == 0 * u.deg


@pytest.mark.parametrize(
    "key,value",
    [
        ("energy_max", 100.0),
        ("energy_min", 0.003),
        ("spectral_index", -2.7),
        ("max_scatter_range", 1200.0),
        ("viewcone_max", 10.0),
        ("particle", "proton"),
    ],
)
def test_simulation_info_rejects_disagreeing_run(key, value):
    recs = records("gamma", first_obs_id=11)
    original = recs[0][key]
    recs[2][key] = value
    with pytest.raises(ContractError) as err:
        perf.simulation_info(recs, path="gamma.parquet")
    message = str(err.value)
    assert message.startswith("gamma.parquet:")
    assert f"'{key}'" in message
    assert repr(value) in message and repr(original) in message
    assert "obs_id 11, 12, 14" in message and "obs_id 13" in message


def test_simulation_info_rejects_empty_missing_and_repeated():
    with pytest.raises(ContractError, match="no simulation records"):
        perf.simulation_info([], path="x.parquet")
    recs = records("gamma")
    del recs[0]["shower_reuse"]
    with pytest.raises(ContractError, match="shower_reuse"):
        perf.simulation_info(recs)
    recs = records("gamma")
    recs[1]["obs_id"] = recs[0]["obs_id"]
    with pytest.raises(ContractError, match="repeat obs_id 1"):
        perf.simulation_info(recs)


def test_to_event_table_units_and_names():
    df, _ = make_dl2("gamma", seed=5, n_runs=1, n_showers=200)
    events = perf.to_event_table(df)
    assert len(events) == len(df)
    assert events["true_energy"].unit == u.TeV and events["reco_energy"].unit == u.TeV
    for col in ("true_alt", "true_az", "reco_alt", "reco_az", "pointing_alt", "pointing_az"):
        assert events[col].unit == u.deg
    np.testing.assert_array_equal(events["gh_score"], df["gammaness"].to_numpy())
    with pytest.raises(ContractError, match="multiplicity"):
        perf.to_event_table(df.drop(columns="multiplicity"), path="bad.parquet")


def test_quality_cuts_multiplicity_and_non_finite():
    df, _ = make_dl2("gamma", seed=5, n_runs=1, n_showers=500)
    df.loc[0, "reco_energy"] = np.nan
    df.loc[1, "gammaness"] = np.inf
    df.loc[[0, 1], "multiplicity"] = 5
    kept = perf.apply_quality_cuts(df, {"multiplicity_min": 3, "drop_non_finite": True})
    expected = (df["multiplicity"] >= 3).sum() - 2
    assert len(kept) == expected
    assert kept["multiplicity"].min() >= 3
    assert np.isfinite(kept["reco_energy"]).all() and np.isfinite(kept["gammaness"]).all()


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    "particle,spectrum,solid_angle",
    [
        ("gamma", CRAB_HEGRA, None),
        ("proton", IRFDOC_PROTON_SPECTRUM, "cone"),
        ("electron", IRFDOC_ELECTRON_SPECTRUM, "cone"),
    ],
)
def test_weights_reproduce_target_spectrum(particle, spectrum, solid_angle):
    """Σ weights in a true-energy bin = ∫F dE × π r² × T (× Ω of the cone if diffuse)."""
    df, recs = make_dl2(particle, seed=7, detection_probability=1.0, multiplicity_min=2)
    events = perf.prepare_events(df, recs, spectrum, OBS_TIME)
    area = np.pi * (R_MAX[particle] * u.m) ** 2
    omega = 1.0
    if solid_angle:
        omega = 2 * np.pi * (1 - np.cos(np.radians(SAMPLES[particle]["viewcone"]))) * u.sr
    energy = events["true_energy"].to_value(u.TeV)
    for e_low, e_high in ((0.03, 0.1), (0.1, 0.3), (0.3, 1.0), (1.0, 3.0), (3.0, 10.0)):
        in_bin = (energy >= e_low) & (energy < e_high)
        expected = (_energy_integral(spectrum, e_low, e_high) * area * OBS_TIME * omega).to_value(
            u.one
        )
        total = events["weight"][in_bin].sum()
        stat = np.sqrt(np.sum(events["weight"][in_bin] ** 2))
        assert abs(total - expected) < 4 * stat, (e_low, total, expected, stat)
        assert total == pytest.approx(expected, rel=0.12)


def test_weights_need_matching_spectrum_kind():
    df, recs = make_dl2("gamma", seed=5, n_runs=1, n_showers=200)
    with pytest.raises(ValueError, match="point-like.*diffuse"):
        perf.prepare_events(df, recs, "IRFDOC_PROTON_SPECTRUM", OBS_TIME)
    df, recs = make_dl2("proton", seed=5, n_runs=1, n_showers=200)
    with pytest.raises(ValueError, match="diffuse.*point-source"):
        perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    with pytest.raises(ValueError, match="unknown spectrum 'CRAB'.*CRAB_HEGRA"):
        perf.resolve_spectrum("CRAB")


def test_prepare_events_directions():
    df, recs = make_dl2("gamma", seed=5, n_runs=1, n_showers=2000)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    assert np.all(gammas["particle_type"] == "gamma")
    # on-axis gammas: true source at the pointing, theta = reconstructed fov offset
    assert np.max(gammas["true_source_fov_offset"]) < 1e-6 * u.deg
    np.testing.assert_allclose(gammas["theta"], gammas["reco_source_fov_offset"], atol=1e-9)
    df, recs = make_dl2("proton", seed=5, n_runs=1, n_showers=2000)
    protons = perf.prepare_events(df, recs, "IRFDOC_PROTON_SPECTRUM", OBS_TIME)
    offsets = protons["true_source_fov_offset"].to_value(u.deg)
    assert offsets.max() <= 6.0 + 1e-6
    # uniform per solid angle: P(offset < 3°) = (1 - cos 3°) / (1 - cos 6°) ≈ 0.25
    assert np.mean(offsets < 3) == pytest.approx(0.2502, abs=0.03)


def test_theta_is_measured_from_the_true_source_position():
    """Diffuse gammas: theta is the reco-true distance, not the distance from the pointing."""
    from astropy.coordinates import angular_separation

    df, recs = make_dl2("gamma_diffuse", seed=5, n_runs=1, n_showers=3000)
    fov = perf.make_bins(perf.default_performance_config())["fov_offset"]
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME, fov_offset_bins=fov)
    expected = angular_separation(
        gammas["reco_az"], gammas["reco_alt"], gammas["true_az"], gammas["true_alt"]
    )
    np.testing.assert_allclose(gammas["theta"].to_value(u.deg), expected.to_value(u.deg),
                               atol=1e-9)  # fmt: skip
    # the synthetic PSF is < 0.4 deg x 1.5 while the sources are spread over 5 deg
    assert np.median(gammas["theta"]) < 0.3 * u.deg
    assert np.median(gammas["reco_source_fov_offset"]) > 2 * u.deg


def _bin_acceptance(low, high):
    """Mean of the synthetic offset acceptance over an offset bin, per solid angle."""
    theta = np.radians(np.linspace(low, high, 2001))
    acc = np.trapezoid(offset_acceptance(np.degrees(theta)) * np.sin(theta), theta)
    return acc / np.trapezoid(np.sin(theta), theta)


def test_thrown_solid_angle_of_offset_bins():
    info = perf.simulation_info(records("gamma_diffuse"))
    edges = [0, 1, 2, 3, 4, 5] * u.deg
    omega = perf.thrown_solid_angle(info, edges)
    np.testing.assert_allclose(
        omega.sum().to_value(u.sr), 2 * np.pi * (1 - np.cos(np.radians(5))), rtol=1e-12
    )
    np.testing.assert_allclose(
        omega[0].to_value(u.sr), 2 * np.pi * (1 - np.cos(np.radians(1))), rtol=1e-12
    )
    # a bin reaching past the cone counts only its part inside
    clipped = perf.thrown_solid_angle(info, [4, 6] * u.deg)
    np.testing.assert_allclose(clipped.to_value(u.sr), omega[-1].to_value(u.sr), rtol=1e-12)


def test_point_source_weights_per_offset_bin():
    """Σ weights of diffuse gammas in an offset bin = a point source's ∫F dE × π r² × T.

    Each bin's showers were thrown over the bin's solid angle: weighted as a point
    source, every bin predicts the same counts as on-axis gammas would.
    """
    df, recs = make_dl2("gamma_diffuse", seed=8, detection_probability=1.0, multiplicity_min=2)
    edges = [0, 1, 2, 3, 4, 5] * u.deg
    events = perf.prepare_events(df, recs, CRAB_HEGRA, OBS_TIME, fov_offset_bins=edges)
    index = perf.offset_bin_index(events["true_source_fov_offset"], edges)
    area = np.pi * (R_MAX["gamma_diffuse"] * u.m) ** 2
    energy = events["true_energy"].to_value(u.TeV)
    for e_low, e_high in ((0.03, 0.3), (0.3, 3.0)):
        crab = (_energy_integral(CRAB_HEGRA, e_low, e_high) * area * OBS_TIME).to_value(u.one)
        for i in range(5):
            sel = (index == i) & (energy >= e_low) & (energy < e_high)
            w = events["weight"][sel]
            # every thrown shower is kept, times the synthetic acceptance of its offset
            expected = crab * _bin_acceptance(i, i + 1)
            assert abs(w.sum() - expected) < 4 * np.sqrt(np.sum(w**2)), (i, e_low)
            assert w.sum() == pytest.approx(expected, rel=0.1)


# --------------------------------------------------------------------------- effective area


def test_effective_area_equals_probability_times_disk(cfg):
    p = 0.3
    df, recs = make_dl2("gamma", seed=11, detection_probability=p)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    info = perf.simulation_info(recs)
    bins = perf.make_bins(cfg)["reco_energy"]
    keep_all = QTable(
        {"low": bins[:-1], "high": bins[1:], "center": bins[:-1], "cut": -np.ones(len(bins) - 1)}
    )
    theta_all = QTable(
        {
            "low": bins[:-1],
            "high": bins[1:],
            "center": bins[:-1],
            "cut": np.full(len(bins) - 1, 180.0) * u.deg,
        }
    )
    table = perf.effective_area_table(gammas, keep_all, theta_all, info, cfg)
    center = table["true_energy_center"].to_value(u.TeV)
    inside = (table["true_energy_low"] >= 0.02 * u.TeV) & (table["true_energy_high"] <= 2 * u.TeV)
    expected = p * np.pi * R_MAX["gamma"] ** 2
    # the thrown counts behind each value are the bookkeeping's
    edges = np.append(table["true_energy_low"], table["true_energy_high"][-1])
    n_sim = info.calculate_n_showers_per_energy(edges)
    np.testing.assert_allclose(table["n_simulated"], n_sim, rtol=1e-12)
    # binomial fluctuation of the detected fraction in each bin: 4 sigma
    n_sim = n_sim[inside]
    measured = table["effective_area_no_cuts"][inside].to_value(u.m**2)
    tolerance = 4 * np.sqrt((1 - p) / (p * n_sim))
    assert np.all(np.abs(measured / expected - 1) < tolerance)
    np.testing.assert_allclose(
        table["effective_area"][inside], table["effective_area_no_cuts"][inside]
    )
    assert np.mean(table["effective_area_no_cuts"][inside].to_value(u.m**2)) == pytest.approx(
        expected, rel=0.02
    )
    assert center[inside].min() > 0.02


def test_irf_effective_area_no_cuts_in_the_plateau(result):
    """Synthetic trigger efficiency → 1 above ~0.3 TeV; multiplicity >= 2 keeps 7/8."""
    _, res = result
    table = res["effective_area"]
    first = table["fov_offset_low"] == 0 * u.deg
    low, high = table["true_energy_low"].to_value(u.TeV), table["true_energy_high"].to_value(u.TeV)
    area = table["effective_area_no_cuts"].to_value(u.m**2)
    plateau = first & (low >= 0.5) & (high <= 5)
    expected = 7 / 8 * np.pi * R_MAX["gamma_diffuse"] ** 2
    assert np.average(area[plateau], weights=table["n_events_no_cuts"][plateau]) == pytest.approx(
        expected, rel=0.05
    )
    # cuts only remove events; the point-like IRF's theta cut removes more
    fe, pl = table["effective_area_only_gh"], table["effective_area"]
    assert np.all(fe <= table["effective_area_no_cuts"]) and np.all(pl <= fe)
    # the HDUs hold the table's values, offset by offset
    for kind, column in (("full_enclosure", fe), ("point_like", pl)):
        hdu = QTable.read(res["irfs"][kind]["EFFECTIVE_AREA"])
        np.testing.assert_allclose(
            hdu["EFFAREA"][0].to_value(u.m**2).ravel(), column.to_value(u.m**2), rtol=1e-6
        )


def _plateau_mean(table, column, i):
    """Weighted mean of an effective-area column over 0.5–5 TeV in offset bin i."""
    lows = np.unique(table["fov_offset_low"].value)
    sel = (table["fov_offset_low"].value == lows[i]) & (table["true_energy_low"] >= 0.5 * u.TeV)
    sel &= table["true_energy_high"] <= 5 * u.TeV
    n = table["n_events" + column.removeprefix("effective_area")][sel]
    return np.average(table[column][sel].to_value(u.m**2), weights=n), n.sum()


def test_effective_area_follows_the_simulated_fov_dependence(result):
    """Per offset bin: the bin's mean of the injected acceptance, from the thrown counts."""
    _, res = result
    table = res["effective_area"]
    full = 7 / 8 * np.pi * R_MAX["gamma_diffuse"] ** 2
    for i, (low, high) in enumerate(((0, 1), (1, 2), (2, 3), (3, 4), (4, 5))):
        acc = _bin_acceptance(low, high)  # the injected acceptance, per solid angle
        mean, n = _plateau_mean(table, "effective_area_no_cuts", i)
        assert mean == pytest.approx(full * acc, rel=4 / np.sqrt(n) + 0.01), (low, high)


def test_diffuse_effective_area_at_the_smallest_offset_equals_the_on_axis_one(result, cfg):
    """Diffuse gammas in 0–1°, counted against the showers thrown into that bin, give the
    on-axis gammas' effective area within statistics (the synthetic acceptance is flat
    there): the bookkeeping of the thrown solid angle is right."""
    _, res = result
    cuts = res["cuts"]
    diffuse = res["effective_area"][res["effective_area"]["fov_offset_low"] == 0 * u.deg]
    df, recs = make_dl2("gamma", seed=SEEDS["gamma"])
    df = perf.apply_quality_cuts(df, cfg["quality_cuts"])
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    on_axis = perf.effective_area_table(
        gammas, cuts.gh, cuts.theta, perf.simulation_info(recs), cfg
    )
    for column in ("effective_area_no_cuts", "effective_area_only_gh"):
        suffix = column.removeprefix("effective_area")
        n_d, n_a = diffuse["n_events" + suffix], on_axis["n_events" + suffix]
        ok = (n_d >= 20) & (n_a >= 20)
        assert ok.sum() >= 15
        a_d, a_a = diffuse[column][ok].value, on_axis[column][ok].value
        sigma = np.hypot(a_d / np.sqrt(n_d[ok]), a_a / np.sqrt(n_a[ok]))
        pull = (a_d - a_a) / sigma
        assert np.all(np.abs(pull) < 4), (column, pull)
        assert abs(np.mean(pull)) < 3 / np.sqrt(ok.sum()) + 0.5
        chi2 = np.sum(pull**2)
        assert chi2 < ok.sum() + 4 * np.sqrt(2 * ok.sum()), (column, chi2, ok.sum())


# --------------------------------------------------------------------------- cuts, sensitivity


def test_optimised_cuts_are_in_range_and_contain_68_percent(result, cfg):
    _, res = result
    theta_cuts, gh_cuts = res["theta_cuts"], res["gh_cuts"]
    assert theta_cuts["cut"].unit == u.deg
    assert np.all(theta_cuts["cut"] >= 0.05 * u.deg) and np.all(theta_cuts["cut"] <= 0.32 * u.deg)
    grid = perf.gh_cut_efficiencies(cfg)
    assert np.all(np.isin(np.round(gh_cuts["efficiency"], 10), grid))
    # the synthetic PSF shrinks with energy, so does the 68 % cut (0.1 → 10 TeV)
    center = theta_cuts["center"].to_value(u.TeV)
    mid = (center > 0.1) & (center < 10)
    cuts = theta_cuts["cut"][mid].to_value(u.deg)
    assert cuts[0] > 2 * cuts[-1]
    assert np.corrcoef(np.log(center[mid]), cuts)[0, 1] < -0.8


def test_theta_cut_is_the_68_percent_containment(cfg):
    df, recs = make_dl2("gamma", seed=3, n_showers=3000)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    bins = perf.make_bins(cfg)["reco_energy"]
    cuts = perf.theta_cuts_for(gammas, np.ones(len(gammas), bool), cfg, bins)
    passed = perf.theta_mask(gammas, cuts)
    energy = gammas["reco_energy"]
    for row in cuts:
        in_bin = (energy >= row["low"]) & (energy < row["high"])
        if row["n_events"] > 500 and 0.05 * u.deg < row["cut"] < 0.32 * u.deg:
            assert np.mean(passed[in_bin]) == pytest.approx(0.68, abs=0.01)


def test_initial_gh_cut_keeps_the_efficiency_in_every_energy_bin(cfg):
    df, recs = make_dl2("gamma", seed=3, n_showers=3000)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    bins = perf.make_bins(cfg)["reco_energy"]
    # gammaness that drifts with energy: one global quantile would keep far more than 40 %
    # at high energy and far less at low energy
    shift = 0.15 * np.log10(gammas["reco_energy"].to_value(u.TeV))
    gammas["gh_score"] = np.clip(gammas["gh_score"] + shift, 0, 1)
    cuts = perf.initial_gh_cuts(gammas, cfg, bins)
    passed = perf.gh_mask(gammas, cuts)
    energy = gammas["reco_energy"]
    checked = 0
    for row in cuts:
        in_bin = (energy >= row["low"]) & (energy < row["high"])
        if row["n_events"] > 500:
            assert np.mean(passed[in_bin]) == pytest.approx(0.4, abs=0.01)
            checked += 1
    assert checked >= 5
    assert np.ptp(cuts["cut"][cuts["n_events"] > 500]) > 0.1  # the cut follows the drift


def test_sensitivity_synthetic_sample(result):
    _, res = result
    s = res["sensitivity"]
    center = s["reco_energy_center"].to_value(u.TeV)
    e2f = s["energy_flux_sensitivity"].to_value(u.erg / u.cm**2 / u.s)
    regular = np.isfinite(s["reco_energy_high"]) & (s["reco_energy_low"] > 0)
    # finite wherever the sample has gammas (0.0126 .. 200 TeV)
    assert np.all(np.isfinite(e2f[regular])) and np.all(e2f[regular] > 0)
    assert np.isnan(e2f[~regular]).all()
    # columns are consistent: flux = rel × Crab, E²F = E² × flux
    flux = s["relative_sensitivity"][regular] * CRAB_HEGRA(s["reco_energy_center"][regular])
    np.testing.assert_allclose(
        s["flux_sensitivity"][regular].to_value(flux.unit), flux.value, rtol=1e-10
    )
    np.testing.assert_allclose(
        e2f[regular],
        (s["reco_energy_center"][regular] ** 2 * flux).to_value(u.erg / u.cm**2 / u.s),
        rtol=1e-10,
    )
    # the three conditions hold; the binding one is met with equality
    ok = regular & np.isfinite(s["significance"])
    n_sig = s["n_signal_weighted"][ok]
    n_bg = 0.2 * s["n_background_weighted"][ok]
    assert np.all(s["significance"][ok] >= 5 - 1e-6)
    assert np.all(n_sig >= 10 - 1e-6)
    assert np.all(n_sig >= 0.05 * n_bg - 1e-6)
    binding = (
        np.isclose(s["significance"][ok], 5)
        | np.isclose(n_sig, 10)
        | np.isclose(n_sig, 0.05 * n_bg)
    )
    assert binding.all()
    # shape: background-limited at low energy (falls), signal-limited at high energy (rises)
    finite = regular & np.isfinite(e2f)
    best = np.argmin(np.where(finite, e2f, np.inf))
    assert 0.3 < center[best] < 20
    assert e2f[finite][0] > 30 * e2f[best]
    assert e2f[finite][-1] > 5 * e2f[best]
    high = finite & (center > 5)
    assert np.all(np.diff(np.log(e2f[high])) > -0.1)  # monotonic-ish rise
    # a Crab-like source is detected in 50 h between 0.1 and 10 TeV
    assert np.all(s["relative_sensitivity"][(center > 0.1) & (center < 10)] < 1)


def test_sensitivity_per_particle_columns(result):
    _, res = result
    s = res["sensitivity"]
    total = s["n_proton_weighted"] + s["n_electron_weighted"]
    np.testing.assert_allclose(total, s["n_background_weighted"], rtol=1e-6, atol=1e-12)


def test_sensitivity_per_offset_bin(result, cfg):
    _, res = result
    s = res["sensitivity_offset"]
    assert s["fov_offset_low"].unit == u.deg
    lows = np.unique(s["fov_offset_low"].value)
    np.testing.assert_array_equal(lows, [0, 1, 2, 3, 4])
    # where statistics allow: too few simulated gammas after the cuts give NaN
    few = s["n_signal_mc"] < cfg["cuts"]["min_events_per_bin"]
    assert few.any() and np.isnan(s["relative_sensitivity"][few]).all()
    # each bin: a point source there, background from that ring; the acceptance falls to
    # 0.46 and the PSF widens by 1.45 in 4–5°: the sensitivity there is worse than in 1–2°
    center = s["reco_energy_center"].to_value(u.TeV)

    def curve(low):
        sel = (s["fov_offset_low"].value == low) & (center > 0.05) & (center < 5)
        return np.asarray(s["relative_sensitivity"][sel])

    inner, outer = curve(1), curve(4)
    both = np.isfinite(inner) & np.isfinite(outer)
    assert both.sum() >= 6
    assert np.median(outer[both] / inner[both]) > 1.3
    # and the on-axis table is pyirf's point-source sensitivity of the on-axis gammas
    assert "fov_offset_low" not in res["sensitivity"].colnames


# --------------------------------------------------------------------------- IRFs


GADF = {
    "full_enclosure": {
        "EFFECTIVE_AREA": ("EFF_AREA", "FULL-ENCLOSURE", "AEFF_2D"),
        "ENERGY_DISPERSION": ("EDISP", "FULL-ENCLOSURE", "EDISP_2D"),
        "PSF": ("PSF", "FULL-ENCLOSURE", "PSF_TABLE"),
        "BACKGROUND": ("BKG", "FULL-ENCLOSURE", "BKG_2D"),
    },
    "point_like": {
        "EFFECTIVE_AREA": ("EFF_AREA", "POINT-LIKE", "AEFF_2D"),
        "ENERGY_DISPERSION": ("EDISP", "POINT-LIKE", "EDISP_2D"),
        "RAD_MAX": ("RAD_MAX", "POINT-LIKE", "RAD_MAX_2D"),
        "BACKGROUND": ("BKG", "FULL-ENCLOSURE", "BKG_2D"),
    },
}


@pytest.mark.parametrize("kind", ["full_enclosure", "point_like"])
def test_irf_files_have_the_gadf_classes(result, kind):
    _, res = result
    hdul = res["irfs"][kind]
    assert hdul[0].header["IRFTYPE"] == kind
    for name, (clas2, clas3, clas4) in GADF[kind].items():
        header = hdul[name].header
        assert (header["HDUCLASS"], header["HDUCLAS1"]) == ("GADF", "RESPONSE"), name
        assert (header["HDUCLAS2"], header["HDUCLAS3"], header["HDUCLAS4"]) == (clas2, clas3, clas4)
        assert header["LO_THRES"] == pytest.approx(res["energy_range"][0].to_value(u.TeV))
    other = "PSF" if kind == "point_like" else "RAD_MAX"
    assert other not in [h.name for h in hdul]


def test_irf_hdus_have_units_shapes_and_normalisations(result, cfg):
    _, res = result
    fe, pl = res["irfs"]["full_enclosure"], res["irfs"]["point_like"]
    bins = perf.make_bins(cfg)
    n_true = len(perf.regular_edges(bins["true_energy"])) - 1
    n_reco = len(perf.regular_edges(bins["reco_energy"])) - 1
    n_mig, n_src = len(bins["migration"]) - 1, len(bins["source_offset"]) - 1
    n_bkg, n_fov = len(bins["background_fov_offset"]) - 1, 5

    aeff = QTable.read(fe["EFFECTIVE_AREA"])
    assert aeff["EFFAREA"].unit == u.m**2 and aeff["EFFAREA"].shape == (1, n_fov, n_true)
    assert aeff["ENERG_LO"].unit == u.TeV and aeff["THETA_HI"].unit == u.deg
    np.testing.assert_allclose(aeff["THETA_HI"][0].to_value(u.deg), [1, 2, 3, 4, 5])
    # regular bins: no 0 or infinite edge for a DL3 client
    assert aeff["ENERG_LO"][0][0] > 0 * u.TeV and np.isfinite(aeff["ENERG_HI"][0][-1])

    for hdul in (fe, pl):
        matrix = QTable.read(hdul["ENERGY_DISPERSION"])["MATRIX"][0]  # (fov, migra, energy)
        assert matrix.shape == (n_fov, n_mig, n_true)
        widths = np.diff(bins["migration"])
        norm = (matrix * widths[np.newaxis, :, np.newaxis]).sum(axis=1)
        filled = norm > 0
        assert filled.sum() > 5 * 15
        np.testing.assert_allclose(norm[filled], 1, atol=1e-9)

    psf = QTable.read(fe["PSF"])
    assert psf["RPSF"].unit == u.sr**-1 and psf["RPSF"].shape == (1, n_src, n_fov, n_true)
    rad = bins["source_offset"]
    solid = np.diff(2 * np.pi * (1 - np.cos(rad.to_value(u.rad))))
    psf_norm = (psf["RPSF"][0].to_value(u.sr**-1) * solid[:, None, None]).sum(axis=0)
    np.testing.assert_allclose(psf_norm[psf_norm > 0], 1, atol=1e-9)

    bkg = QTable.read(fe["BACKGROUND"])
    assert bkg["BKG"].unit == u.Unit("MeV-1 s-1 sr-1") and bkg["BKG"].shape == (1, n_bkg, n_reco)
    assert np.all(bkg["BKG"] >= 0) and np.any(bkg["BKG"] > 0)
    np.testing.assert_array_equal(pl["BACKGROUND"].data["BKG"], fe["BACKGROUND"].data["BKG"])

    rad_max = QTable.read(pl["RAD_MAX"])
    assert rad_max["RAD_MAX"].unit == u.deg and rad_max["RAD_MAX"].shape == (1, n_fov, n_reco)
    theta = res["theta_cuts"]
    regular = (theta["low"] > 0 * u.TeV) & np.isfinite(theta["high"])
    for i in range(n_fov):  # one set of cuts for the field of view: the same in every bin
        np.testing.assert_allclose(rad_max["RAD_MAX"][0, i], theta["cut"][regular])


def test_background_rate_matches_the_background_irf(result):
    _, res = result
    bkg = QTable.read(res["irfs"]["full_enclosure"]["BACKGROUND"])
    first_ring = bkg["BKG"][0, 0].to(u.Unit("TeV-1 s-1 sr-1"))  # 0-1 deg, like the ring
    np.testing.assert_allclose(res["background_rate"]["background_rate"], first_ring, rtol=1e-9)


def test_benchmarks_recover_synthetic_resolutions(cfg):
    df, recs = make_dl2("gamma", seed=21)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    ang, ebr = perf.compute_benchmarks(gammas, cfg)  # no cuts: the true resolutions come back
    center = ang["true_energy_center"].to_value(u.TeV)
    good = (ang["n_events"] > 300) & (center > 0.05) & (center < 3)
    assert good.sum() >= 10
    sigma = np.clip(0.08 * center ** (-0.3), 0.02, 0.4)
    n = ang["n_events"][good]
    for key, q in (("25", 0.25), ("50", 0.5), ("68", 0.6827), ("95", 0.95)):
        x_q = np.sqrt(-2 * np.log(1 - q))  # Rayleigh quantile in units of sigma
        # standard error of a sample quantile, sqrt(q (1 - q) / n) / pdf(x_q), relative
        rel_se = np.sqrt(q / ((1 - q) * n)) / x_q**2
        measured = ang[f"angular_resolution_{key}"][good].to_value(u.deg)
        deviation = np.abs(measured / (sigma[good] * x_q) - 1)
        # 4 standard errors, + 3 % for sigma changing across a bin
        assert np.all(deviation < 4 * rel_se + 0.03), (key, deviation, rel_se)
    np.testing.assert_array_equal(ang["angular_resolution"], ang["angular_resolution_68"])

    good = ebr["n_events"] > 300
    assert good.sum() >= 10
    assert np.all(np.abs(ebr["bias"][good]) < 0.03)
    expected = (np.exp(0.15) - np.exp(-0.15)) / 2  # half the central 68 % of lognormal(0.15) - 1
    np.testing.assert_allclose(ebr["resolution"][good], expected, rtol=0.15)


def test_benchmarks_after_cuts(result):
    _, res = result
    ang, ebr = res["angular_resolution"], res["energy_bias_resolution"]
    assert ang["angular_resolution"].unit == u.deg
    assert "true_energy_center" in ang.colnames and "true_energy_center" in ebr.colnames
    good = ebr["n_events"] > 150
    # cuts whose efficiency jumps between reco-energy bins shift the median of the true-energy
    # bins straddling them a little, not much
    assert np.all(np.abs(ebr["bias"][good]) < 0.15)
    assert np.median(np.abs(ebr["bias"][good])) < 0.05
    assert np.median(ebr["resolution"][good]) == pytest.approx(0.15, rel=0.25)
    # the angular resolution uses gammas after the gh cut only: fewer than without cuts
    assert ang["n_events"].sum() < res["n_events"]["gamma_diffuse"]
    # the same against reconstructed energy
    for name in ("angular_resolution_reco", "energy_bias_resolution_reco"):
        assert "reco_energy_center" in res[name].colnames
    assert res["angular_resolution_reco"]["n_events"].sum() == ang["n_events"].sum()


@pytest.mark.parametrize("energy_type", ["true", "reco"])
def test_benchmarks_are_pyirfs_numbers_in_each_offset_bin(result, cfg, energy_type):
    """The per-offset tables (one sort for all bins) equal pyirf's benchmark functions run
    on the gammas of each offset bin."""
    from pyirf.benchmarks import angular_resolution, energy_bias_resolution

    paths, _ = result
    df, recs = make_dl2("gamma_diffuse", seed=SEEDS["gamma_diffuse"])
    fov = perf.make_bins(cfg)["fov_offset"]
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME, fov_offset_bins=fov)
    bins = perf.make_bins(cfg)[f"{energy_type}_energy"]
    ang, ebr = perf.compute_benchmarks(gammas, cfg, fov_bins=fov, energy_type=energy_type)
    index = perf.offset_bin_index(gammas["true_source_fov_offset"], fov)
    quantiles = list(perf.CONTAINMENTS.values())  # 68: the 1-sigma 68.27 %
    for i in range(len(fov) - 1):
        rows = slice(i * (len(bins) - 1), (i + 1) * (len(bins) - 1))
        theirs = angular_resolution(gammas[index == i], bins, energy_type, quantile=quantiles)
        for key in ("25", "50", "68", "95"):
            np.testing.assert_allclose(ang[f"angular_resolution_{key}"][rows],
                                       theirs[f"angular_resolution_{key}"], rtol=1e-9)  # fmt: skip
        np.testing.assert_array_equal(ang["n_events"][rows], theirs["n_events"])
        theirs = energy_bias_resolution(gammas[index == i], bins, energy_type=energy_type)
        for col in ("n_events", "bias", "resolution"):
            # numpy interpolates a + (b - a) t in its own order: equal to the last bits
            np.testing.assert_allclose(ebr[col][rows], theirs[col], rtol=1e-9)
        np.testing.assert_allclose(ebr[f"{energy_type}_energy_center"][rows],
                                   theirs[f"{energy_type}_energy_center"])  # fmt: skip


def test_angular_resolution_grows_with_the_fov_offset_as_simulated(result):
    """The synthetic PSF widens by 1 + 0.1 offset: the 68 % radius of the 4–5° bin over the
    1–2° bin's is 1.45 / 1.15 (cut efficiencies cancel in the ratio, within statistics)."""
    _, res = result
    ang = res["angular_resolution"]
    center = ang["true_energy_center"].to_value(u.TeV)

    def radii(low):
        sel = (ang["fov_offset_low"].value == low) & (center > 0.1) & (center < 3)
        sel &= ang["n_events"] > 200
        return ang["angular_resolution_68"][sel].to_value(u.deg), center[sel]

    (inner, e_in), (outer, e_out) = radii(1), radii(4)
    common = np.intersect1d(e_in, e_out)
    assert len(common) >= 8
    ratio = outer[np.isin(e_out, common)] / inner[np.isin(e_in, common)]
    assert np.median(ratio) == pytest.approx(1.45 / 1.15, rel=0.08)
    for key in ("25", "50", "95"):
        assert np.all(ang[f"angular_resolution_{key}"][ang["n_events"] > 50] > 0 * u.deg)
    big = ang["n_events"] > 50
    assert np.all(ang["angular_resolution_25"][big] < ang["angular_resolution_50"][big])
    assert np.all(ang["angular_resolution_68"][big] < ang["angular_resolution_95"][big])


def test_layout_matches_pyirf_reference(result):
    """Same GADF columns and units as pyirf's own EventDisplay IRFs; the sensitivity in the
    same reco-energy bins (the IRF axes are the regular bins, pyirf's keep under/overflow)."""
    if not PYIRF_REFERENCE.exists():
        pytest.skip("pyirf reference file not available")
    _, res = result
    ref = fits.open(PYIRF_REFERENCE)
    sens_ref = QTable.read(ref["SENSITIVITY"])
    np.testing.assert_allclose(res["sensitivity"]["reco_energy_low"], sens_ref["reco_energy_low"])
    fe, pl = res["irfs"]["full_enclosure"], res["irfs"]["point_like"]
    pairs = {"EFFECTIVE_AREA": ("EFFECTIVE_AREA", fe), "ENERGY_DISPERSION": ("ENERGY_DISPERSION", fe),
             "PSF": ("PSF", fe), "BACKGROUND": ("BACKGROUND", fe), "RAD_MAX": ("RAD_MAX", pl)}  # fmt: skip
    for ref_name, (name, hdul) in pairs.items():
        ours, theirs = hdul[name].columns, ref[ref_name].columns
        assert ours.names == theirs.names, name
        for col in theirs.names:
            assert (ours[col].unit or "") == (theirs[col].unit or ""), (name, col)


# --------------------------------------------------------------------------- driver, outputs


def _write(tmp_path, particle, df, metadata):
    path = tmp_path / f"{particle}.parquet"
    write_table(df, path, metadata=metadata)
    return path


def test_run_performance_rejects_broken_inputs(tmp_path):
    df, recs = make_dl2("gamma", seed=5, n_runs=1, n_showers=300)
    pdf, precs = make_dl2("proton", seed=5, n_runs=1, n_showers=300)
    proton = _write(tmp_path, "proton", pdf, {"simulation": precs})
    no_meta = _write(tmp_path, "gamma_nometa", df, {})
    with pytest.raises(ContractError, match="gamma_nometa.parquet: metadata has no 'simulation'"):
        perf.run_performance({"gamma": no_meta, "proton": proton}, {})
    wrong = _write(tmp_path, "gamma_wrong", df, {"simulation": precs})
    with pytest.raises(ContractError, match=r"particle\(s\) \['proton'\], expected 'gamma'"):
        perf.run_performance({"gamma": wrong, "proton": proton}, {})
    orphan = df.copy()
    orphan.loc[0, "obs_id"] = 999
    orphan_path = _write(tmp_path, "gamma_orphan", orphan, {"simulation": recs})
    with pytest.raises(ContractError, match="obs_id 999 have no simulation record"):
        perf.run_performance({"gamma": orphan_path, "proton": proton}, {})
    with pytest.raises(ValueError, match="needs 'gamma'"):
        perf.run_performance({"proton": proton}, {})
    with pytest.raises(ValueError, match="unknown sample"):
        perf.run_performance({"gamma": no_meta, "muon": proton}, {})


def test_read_dl2_combines_files(tmp_path):
    df1, recs1 = make_dl2("gamma", seed=1, n_runs=2, n_showers=300)
    df2, recs2 = make_dl2("gamma", seed=2, n_runs=2, n_showers=300)
    df2["obs_id"] += 10
    for r in recs2:
        r["obs_id"] += 10
    p1 = _write(tmp_path, "g1", df1, {"simulation": recs1})
    p2 = _write(tmp_path, "g2", df2, {"simulation": recs2})
    df, recs, label = perf.read_dl2([p1, p2], "gamma")
    assert len(df) == len(df1) + len(df2)
    assert perf.simulation_info(recs).n_showers == 4 * 300 * 10
    assert "(+1 files)" in label


def test_write_outputs_atomically(result, tmp_path):
    _, res = result
    paths = perf.write_outputs(res, tmp_path / "out", sensitivity=tmp_path / "sens" / "s.ecsv")
    assert paths["sensitivity"] == tmp_path / "sens" / "s.ecsv"
    assert paths["full_enclosure"] == tmp_path / "out" / "full_enclosure.fits.gz"
    assert paths["cuts"] == tmp_path / "out" / "cuts.fits"  # optimised in this run
    assert set(paths) == set(perf.OUTPUT_NAMES)
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 0
    assert gzip.open(paths["point_like"]).read(6) == b"SIMPLE"
    with fits.open(paths["point_like"]) as hdul:
        rad_max = hdul["RAD_MAX"].data["RAD_MAX"][0, 0]
        theta = res["theta_cuts"]
        regular = (theta["low"] > 0 * u.TeV) & np.isfinite(theta["high"])
        np.testing.assert_allclose(rad_max, theta["cut"][regular].value)
    sens = QTable.read(paths["sensitivity"])
    assert sens["energy_flux_sensitivity"].unit == u.erg / u.cm**2 / u.s
    np.testing.assert_array_equal(
        sens["relative_sensitivity"], res["sensitivity"]["relative_sensitivity"]
    )
    assert sens.meta["OBS_TIME"] == 50.0
    ang = QTable.read(paths["angular_resolution"])
    assert ang["angular_resolution"].unit == u.deg
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="no destination for 'full_enclosure'"):
        perf.write_outputs(res)
    with pytest.raises(ValueError, match="unknown product"):
        perf.write_outputs(res, tmp_path, irf=tmp_path / "x")


# --------------------------------------------------------------------------- config


def test_defaults_match_the_documented_config_file():
    defaults = perf.default_performance_config()
    from_file = perf.load_performance_config(REPO / "config" / "performance.yaml")
    assert from_file == defaults
    assert defaults["observation_time"] == 50.0 and defaults["alpha"] == 0.2
    assert defaults["quality_cuts"]["multiplicity_min"] == 2
    assert defaults["reference"] == {
        "site": "North",
        "observation_time": "50h",
        "requirement": True,
        "prod3b": True,
        "prod5": True,
    }


def test_config_schema_link_points_to_package_copy():
    link = REPO / "config" / "schemas" / "performance.schema.yaml"
    assert link.is_symlink()
    assert not Path(link.readlink()).is_absolute()
    assert link.resolve() == perf.SCHEMA_PATH


def _walk(schema, root, where="<root>"):
    schema = _resolve_ref(schema, root)
    if schema.get("type") == "object":
        assert schema.get("additionalProperties") is False, where
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve_ref(sub, root)
        assert sub.get("description"), f"{where}.{key} has no description"
        assert "default" in sub, f"{where}.{key} has no default"
        _walk(sub, root, f"{where}.{key}")


def test_schema_documents_every_key():
    schema = yaml.safe_load(perf.SCHEMA_PATH.read_text())
    _walk(schema, schema)


def test_config_partial_override_keeps_other_defaults():
    cfg = perf.validate_performance_config({"cuts": {"theta_max": 0.4}, "observation_time": 5})
    assert cfg["cuts"]["theta_max"] == 0.4
    assert cfg["cuts"]["theta_min"] == 0.05
    assert cfg["observation_time"] == 5
    assert cfg["binning"]["true_energy"]["bins_per_decade"] == 10
    assert cfg["binning"]["reco_energy"]["bins_per_decade"] == 5


@pytest.mark.parametrize(
    "bad,expected",
    [
        (
            {"observation_tim": 5},
            r"unknown key 'observation_tim'; allowed keys at the top level: .*observation_time",
        ),
        (
            {"cuts": {"theta_mx": 0.3}},
            r"unknown key 'cuts.theta_mx'; allowed keys under 'cuts': .*theta_max",
        ),
        ({"spectra": {"gamma": "CRAB"}}, r"key 'spectra.gamma'.*one of 'CRAB_HEGRA'"),
        ({"alpha": "a fifth"}, r"key 'alpha'.*not of type 'number'.*allowed: number"),
        ({"alpha": 2}, r"key 'alpha'.*allowed: number > 0 <= 1"),
        ({"reference": {"site": "Paranal"}}, r"key 'reference.site'.*'North', 'South', None"),
        ({"binning": {"fov_offset": [1.0, 0.5]}}, r"key 'binning.fov_offset': edges must increase"),
        ({"cuts": {"theta_min": 0.5}}, r"key 'cuts.theta_min': must be smaller"),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(tmp_path, bad, expected):
    path = tmp_path / "performance.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ContractError, match=expected) as err:
        perf.load_performance_config(path)
    assert str(err.value).startswith(str(path))


def test_binning_follows_pyirf_example(cfg):
    bins = perf.make_bins(cfg)
    reco = bins["reco_energy"]
    assert len(reco) == 24 and reco[0] == 0 * u.TeV and np.isinf(reco[-1])
    assert reco[1].to_value(u.TeV) == pytest.approx(10**-1.9)
    assert reco[-2].to_value(u.TeV) == pytest.approx(10**2.3)
    assert len(bins["true_energy"]) == 42 + 1 + 2  # 10 per decade, 10^-1.9..10^2.3, overflow
    assert len(bins["migration"]) == 200 and bins["migration"][0] == pytest.approx(0.2)
    assert len(bins["source_offset"]) == 1001
    np.testing.assert_allclose(perf.gh_cut_efficiencies(cfg), np.arange(0.3, 0.91, 0.05))
