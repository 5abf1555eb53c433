"""Performance stage: bookkeeping, weights, cuts, sensitivity, IRFs, config, outputs."""

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
    make_dl2,
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
    # binomial fluctuation of the detected fraction in each bin: 4 sigma
    edges = np.append(table["true_energy_low"], table["true_energy_high"][-1])
    n_sim = info.calculate_n_showers_per_energy(edges[1:-1])  # regular bins only
    n_sim = np.concatenate([[0], n_sim, [0]])[inside]
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
    table = QTable.read(res["irfs"]["EFFECTIVE_AREA_NO_CUTS"])
    low = table["ENERG_LO"][0].to_value(u.TeV)
    high = table["ENERG_HI"][0].to_value(u.TeV)
    area = table["EFFAREA"][0, 0].to_value(u.m**2)
    plateau = (low >= 0.5) & (high <= 5)
    expected = 7 / 8 * np.pi * R_MAX["gamma"] ** 2
    assert np.mean(area[plateau]) == pytest.approx(expected, rel=0.05)
    # cuts only remove events
    with_cuts = QTable.read(res["irfs"]["EFFECTIVE_AREA"])["EFFAREA"][0, 0].to_value(u.m**2)
    assert np.all(with_cuts <= area + 1e-6)


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
    cuts = perf._theta_cut(gammas, np.ones(len(gammas), bool), cfg, bins)
    passed = perf._theta_mask(gammas, cuts)
    energy = gammas["reco_energy"]
    for row in cuts:
        in_bin = (energy >= row["low"]) & (energy < row["high"])
        if row["n_events"] > 500 and 0.05 * u.deg < row["cut"] < 0.32 * u.deg:
            assert np.mean(passed[in_bin]) == pytest.approx(0.68, abs=0.01)


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


# --------------------------------------------------------------------------- IRFs


def test_irf_file_has_gadf_hdus_with_units_and_shapes(result, cfg):
    _, res = result
    irfs = res["irfs"]
    names = [h.name for h in irfs]
    for name in (
        "SENSITIVITY",
        "THETA_CUTS",
        "GH_CUTS",
        "EFFECTIVE_AREA",
        "ENERGY_DISPERSION",
        "BACKGROUND",
        "PSF",
        "RAD_MAX",
        "ANGULAR_RESOLUTION",
        "ENERGY_BIAS_RESOLUTION",
    ):
        assert name in names
    bins = perf.make_bins(cfg)
    n_true, n_reco = len(bins["true_energy"]) - 1, len(bins["reco_energy"]) - 1
    n_mig, n_src = len(bins["migration"]) - 1, len(bins["source_offset"]) - 1
    n_bkg = len(bins["background_fov_offset"]) - 1

    aeff = QTable.read(irfs["EFFECTIVE_AREA"])
    assert irfs["EFFECTIVE_AREA"].header["HDUCLAS2"] == "EFF_AREA"
    assert irfs["EFFECTIVE_AREA"].header["HDUCLAS3"] == "POINT-LIKE"
    assert irfs["EFFECTIVE_AREA_NO_CUTS"].header["HDUCLAS3"] == "FULL-ENCLOSURE"
    assert aeff["EFFAREA"].unit == u.m**2 and aeff["EFFAREA"].shape == (1, 1, n_true)
    assert aeff["ENERG_LO"].unit == u.TeV and aeff["THETA_HI"].unit == u.deg

    edisp = QTable.read(irfs["ENERGY_DISPERSION"])
    matrix = edisp["MATRIX"][0]  # (fov, migra, energy)
    assert matrix.shape == (1, n_mig, n_true)
    widths = np.diff(bins["migration"])
    norm = (matrix[0] * widths[:, np.newaxis]).sum(axis=0)
    filled = norm > 0
    assert filled.sum() > 20
    np.testing.assert_allclose(norm[filled], 1, atol=1e-9)

    psf = QTable.read(irfs["PSF"])
    assert psf["RPSF"].unit == u.sr**-1 and psf["RPSF"].shape == (1, n_src, 1, n_true)
    rad = bins["source_offset"]
    solid = np.diff(2 * np.pi * (1 - np.cos(rad.to_value(u.rad))))
    psf_norm = (psf["RPSF"][0, :, 0, :].to_value(u.sr**-1) * solid[:, np.newaxis]).sum(axis=0)
    np.testing.assert_allclose(psf_norm[psf_norm > 0], 1, atol=1e-9)

    bkg = QTable.read(irfs["BACKGROUND"])
    assert bkg["BKG"].unit == u.Unit("MeV-1 s-1 sr-1") and bkg["BKG"].shape == (1, n_bkg, n_reco)
    assert np.all(bkg["BKG"] >= 0) and np.any(bkg["BKG"] > 0)

    rad_max = QTable.read(irfs["RAD_MAX"])
    assert rad_max["RAD_MAX"].unit == u.deg
    np.testing.assert_allclose(rad_max["RAD_MAX"][0, 0], res["theta_cuts"]["cut"])


def test_background_rate_matches_the_background_irf(result):
    _, res = result
    bkg = QTable.read(res["irfs"]["BACKGROUND"])
    first_ring = bkg["BKG"][0, 0].to(u.Unit("TeV-1 s-1 sr-1"))  # 0-1 deg, like the ring
    np.testing.assert_allclose(res["background_rate"]["background_rate"], first_ring, rtol=1e-9)


def test_benchmarks_recover_synthetic_resolutions(cfg):
    df, recs = make_dl2("gamma", seed=21)
    gammas = perf.prepare_events(df, recs, "CRAB_HEGRA", OBS_TIME)
    ang, ebr = perf.benchmarks(gammas, cfg)  # no cuts: the true resolutions come back
    center = ang["true_energy_center"].to_value(u.TeV)
    good = (ang["n_events"] > 300) & (center > 0.05) & (center < 3)
    assert good.sum() >= 10
    sigma = np.clip(0.08 * center ** (-0.3), 0.02, 0.4)
    expected = sigma * np.sqrt(-2 * np.log(1 - 0.6827))  # Rayleigh 68 % quantile
    np.testing.assert_allclose(
        ang["angular_resolution"][good].to_value(u.deg), expected[good], rtol=0.1
    )

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
    assert ang["n_events"].sum() < res["n_events"]["gamma"]


def test_layout_matches_pyirf_reference(result):
    if not PYIRF_REFERENCE.exists():
        pytest.skip("pyirf reference file not available")
    _, res = result
    ref = fits.open(PYIRF_REFERENCE)
    ours = res["irfs"]
    sens_ref = QTable.read(ref["SENSITIVITY"])
    np.testing.assert_allclose(res["sensitivity"]["reco_energy_low"], sens_ref["reco_energy_low"])
    for name in ("EFFECTIVE_AREA", "ENERGY_DISPERSION"):
        assert ours[name].columns.names == ref[name].columns.names
        for col in ref[name].columns.names:
            if not col.startswith("THETA"):
                assert ours[name].data[col].shape == ref[name].data[col].shape, (name, col)
    assert ours["PSF"].data["RAD_LO"].shape == ref["PSF"].data["RAD_LO"].shape
    assert ours["BACKGROUND"].columns.names == ref["BACKGROUND"].columns.names


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
    with pytest.raises(ValueError, match="unknown particle"):
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
    assert paths["irf"] == tmp_path / "out" / "irf.fits.gz"
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 0
    assert gzip.open(paths["irf"]).read(6) == b"SIMPLE"
    with fits.open(paths["irf"]) as hdul:
        assert "RAD_MAX" in [h.name for h in hdul]
        np.testing.assert_allclose(
            hdul["RAD_MAX"].data["RAD_MAX"][0, 0], res["theta_cuts"]["cut"].value
        )
    sens = QTable.read(paths["sensitivity"])
    assert sens["energy_flux_sensitivity"].unit == u.erg / u.cm**2 / u.s
    np.testing.assert_array_equal(
        sens["relative_sensitivity"], res["sensitivity"]["relative_sensitivity"]
    )
    assert sens.meta["OBS_TIME"] == 50.0
    ang = QTable.read(paths["angular_resolution"])
    assert ang["angular_resolution"].unit == u.deg
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match="no destination for 'irf'"):
        perf.write_outputs(res)


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
        ({"alpha": "0.2"}, r"key 'alpha'.*not of type 'number'.*allowed: number"),
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
