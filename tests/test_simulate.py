"""Tests of the toy simulation (showerflow.simulate)."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import uproot

try:
    import showerflow  # noqa: F401
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from showerflow import simulate as sim
from showerflow.contracts import EVENT_COLUMNS, IMAGE_COLUMNS, SIMULATION_COLUMNS


@pytest.fixture(scope="module")
def gamma_run():
    return sim.simulate_run("gamma", 1, 200_000, seed=11)


@pytest.fixture(scope="module")
def diffuse_run():
    return sim.simulate_run("gamma_diffuse", 1, 300_000, seed=11)


@pytest.fixture(scope="module")
def proton_run():
    return sim.simulate_run("proton", 1, 1_000_000, seed=11)


def _assert_runs_equal(a, b):
    for tree in ("simulation", "events", "images"):
        assert list(a[tree]) == list(b[tree])
        for col in a[tree]:
            np.testing.assert_array_equal(a[tree][col], b[tree][col], err_msg=col)


# ----------------------------------------------------------------------------- layout


def test_telescope_array():
    tels = sim.telescope_array()
    assert list(tels.columns[:6]) == [
        "tel_id",
        "tel_type",
        "pos_x",
        "pos_y",
        "mirror_area",
        "camera_radius",
    ]
    assert tels["tel_id"].is_unique
    lst = tels[tels.tel_type == "LST"]
    mst = tels[tels.tel_type == "MST"]
    assert len(lst) == 4 and 8 <= len(mst) <= 10
    assert np.allclose(np.hypot(lst.pos_x, lst.pos_y), 100.0, atol=1.0)
    r_mst = np.hypot(mst.pos_x, mst.pos_y)
    assert r_mst.min() >= 150.0 and r_mst.max() <= 300.5
    assert (lst.mirror_area > 3 * mst.mirror_area.max()).all()
    assert (lst.camera_radius < mst.camera_radius.min()).all()


# ----------------------------------------------------------------------- reproducibility


def test_same_arguments_same_arrays_and_uuid():
    a = sim.simulate_run("proton", 3, 50_000, seed=5)
    b = sim.simulate_run("proton", 3, 50_000, seed=5)
    _assert_runs_equal(a, b)
    assert sim.run_uuid("proton", 3, 5) == sim.run_uuid("proton", 3, 5)
    assert isinstance(sim.run_uuid("proton", 3, 5), uuid.UUID)


def test_different_runs_differ():
    a = sim.simulate_run("gamma", 1, 20_000, seed=5)
    b = sim.simulate_run("gamma", 2, 20_000, seed=5)
    c = sim.simulate_run("gamma", 1, 20_000, seed=6)
    d = sim.simulate_run("gamma_diffuse", 1, 20_000, seed=5, viewcone_max=0.0)
    e1 = a["events"]["true_energy"]
    for other in (b, c, d):
        e2 = other["events"]["true_energy"]
        assert len(e1) != len(e2) or not np.array_equal(e1, e2)
    assert b["events"]["obs_id"][0] == 2 and b["simulation"]["obs_id"][0] == 2
    uuids = {
        sim.run_uuid(k, o, s)
        for k, o, s in [("gamma", 1, 5), ("gamma", 2, 5), ("gamma", 1, 6), ("proton", 1, 5)]
    }
    assert len(uuids) == 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown kind"):
        sim.simulate_run("neutrino", 1, 10, 1)
    with pytest.raises(TypeError, match="unknown override"):
        sim.simulate_run("gamma", 1, 10, 1, energy_mn=0.1)
    with pytest.raises(ValueError):
        sim.simulate_run("gamma", 1, 10, 1, energy_min=10.0, energy_max=1.0)


# ------------------------------------------------------------------------------ files


def test_write_round_trip(tmp_path, gamma_run):
    file_uuid = sim.run_uuid("gamma", 1, 11)
    path = sim.write_dl1(tmp_path / "gamma_run00001.root", gamma_run, file_uuid)
    assert [p.name for p in tmp_path.iterdir()] == ["gamma_run00001.root"]
    with uproot.open(path) as f:
        assert f.file.uuid == file_uuid
        assert sorted(f.keys(cycle=False)) == ["events", "images", "simulation"]
        for name, columns in (
            ("simulation", SIMULATION_COLUMNS),
            ("events", EVENT_COLUMNS),
            ("images", IMAGE_COLUMNS),
        ):
            tree = f[name]
            assert tree.classname == "TTree"
            assert list(tree.keys()) == list(columns)
            arrays = tree.arrays(library="np")
            for col, (kind, _, _) in columns.items():
                got, want = arrays[col], gamma_run[name][col]
                assert len(got) == len(want)
                if kind == "U":
                    assert [str(x) for x in got] == [str(x) for x in want]
                else:
                    assert got.dtype.kind == (want.dtype.kind)
                    assert got.dtype.kind in ("i" if kind == "i" else "f")
                    np.testing.assert_array_equal(got, want)
        assert f["simulation"].num_entries == 1
        assert str(f["simulation"]["particle"].array(library="np")[0]) == "gamma"
        assert f["events"].num_entries == len(gamma_run["events"]["event_id"]) > 1000


def test_write_is_atomic(tmp_path, gamma_run):
    broken = {k: dict(v) for k, v in gamma_run.items()}
    broken["images"]["hillas_width"] = broken["images"]["hillas_width"].astype(complex)
    with pytest.raises(TypeError, match="dtype"):
        sim.write_dl1(tmp_path / "x.root", broken, uuid.uuid4())
    assert list(tmp_path.iterdir()) == []
    missing = {k: dict(v) for k, v in gamma_run.items()}
    del missing["events"]["reco_h_max"]
    with pytest.raises(ValueError, match="reco_h_max"):
        sim.write_dl1(tmp_path / "y.root", missing, uuid.uuid4())
    assert list(tmp_path.iterdir()) == []


def test_empty_run_round_trip(tmp_path):
    run = sim.simulate_run("proton", 7, 10, seed=1)
    assert len(run["events"]["event_id"]) == 0
    path = sim.write_dl1(tmp_path / "empty.root", run, str(sim.run_uuid("proton", 7, 1)))
    with uproot.open(path) as f:
        assert f["events"].num_entries == 0 and f["simulation"].num_entries == 1
        assert list(f["images"].keys()) == list(IMAGE_COLUMNS)


def test_simulate_production(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="showerflow.simulate"):
        paths = sim.simulate_production(tmp_path, "electron", 2, 20_000, seed=3, first_obs_id=7)
    assert [p.name for p in paths] == ["electron_run00007.root", "electron_run00008.root"]
    assert len([r for r in caplog.records if "showers thrown" in r.getMessage()]) == 2
    for obs_id, path in zip((7, 8), paths, strict=True):
        with uproot.open(path) as f:
            assert f.file.uuid == sim.run_uuid("electron", obs_id, 3)
            sim_tree = f["simulation"].arrays(library="np")
            assert sim_tree["obs_id"][0] == obs_id
            assert sim_tree["n_showers"][0] == 20_000
            assert str(sim_tree["particle"][0]) == "electron"
            assert sim_tree["viewcone_max"][0] == 6.0


# ---------------------------------------------------------------------------- physics


def _loglog_slope(energies, e_min, e_max, n_bins=10):
    """Slope of dN/dE from a log-binned histogram."""
    bins = np.geomspace(e_min, e_max, n_bins + 1)
    counts, _ = np.histogram(energies, bins)
    centres = np.sqrt(bins[1:] * bins[:-1])
    dnde = counts / np.diff(bins)
    slope, _ = np.polyfit(np.log(centres), np.log(dnde), 1, w=np.sqrt(counts))
    return slope


def test_thrown_energies_follow_power_law():
    rng = np.random.default_rng(1)
    e = sim.sample_power_law(rng, 200_000, 0.01, 100.0, -2.0)
    assert e.min() >= 0.01 and e.max() <= 100.0
    assert _loglog_slope(e, 0.01, 100.0) == pytest.approx(-2.0, abs=0.03)
    e = sim.sample_power_law(rng, 200_000, 0.1, 10.0, -2.7)
    assert _loglog_slope(e, 0.1, 10.0) == pytest.approx(-2.7, abs=0.03)
    # fraction above 1 TeV for E^-2 between 0.01 and 100 TeV: (1 - 0.01) / (100 - 0.01)
    e = sim.sample_power_law(rng, 400_000, 0.01, 100.0, -2.0)
    assert np.mean(e > 1.0) == pytest.approx(0.99 / 99.99, rel=0.05)


def test_stored_energies_follow_power_law_at_full_efficiency():
    # cores close to the array centre, 2-20 TeV: every shower triggers
    n = 20_000
    run = sim.simulate_run(
        "gamma", 1, n, seed=2, energy_min=2.0, energy_max=20.0, max_scatter_range=100.0
    )
    e = run["events"]["true_energy"]
    assert len(e) > 0.99 * n
    assert _loglog_slope(e, 2.0, 20.0) == pytest.approx(-2.0, abs=0.08)


def test_trigger_efficiency_rises_with_energy():
    eff = {}
    for kind in ("gamma", "proton"):
        eff[kind] = []
        for e0 in (0.02, 0.05, 0.2, 1.0, 5.0):
            run = sim.simulate_run(kind, 1, 20_000, seed=4, energy_min=e0, energy_max=1.02 * e0)
            eff[kind].append(len(run["events"]["event_id"]) / 20_000)
        assert np.all(np.diff(eff[kind]) > 0), (kind, eff[kind])
    # a proton gives less light: it triggers less often than a gamma at the same energy
    assert all(p < g for p, g in zip(eff["proton"][:3], eff["gamma"][:3], strict=True))
    assert eff["gamma"][0] < 0.05 * eff["gamma"][-1]


def test_cores_and_directions_in_the_thrown_region(gamma_run, diffuse_run, proton_run):
    for kind, run in (("gamma", gamma_run), ("gamma_diffuse", diffuse_run), ("proton", proton_run)):
        ev, s = run["events"], run["simulation"]
        r = np.hypot(ev["true_core_x"], ev["true_core_y"])
        assert r.max() <= s["max_scatter_range"][0]
        assert np.all(ev["pointing_alt"] == 70.0) and np.all(ev["pointing_az"] == 0.0)
        offset = sim.angular_separation(
            ev["true_alt"], ev["true_az"], ev["pointing_alt"], ev["pointing_az"]
        )
        assert offset.min() >= s["viewcone_min"][0] - 1e-9
        assert offset.max() <= s["viewcone_max"][0] + 1e-9
        for col in ("true_az", "reco_az"):
            assert ev[col].min() >= 0.0 and ev[col].max() < 360.0
        if kind == "gamma":
            assert offset.max() < 1e-9
        else:
            # pointing at azimuth 0: directions straddle the 0/360 wrap-around
            assert (ev["true_az"] > 350).any() and (ev["true_az"] < 10).any()
            # images only exist for sources within about the MST camera radius
            assert offset.max() > 3.0
            assert np.median(offset) < 3.0


def test_offset_direction_geometry():
    # exact on the sphere, including at the zenith and across azimuth 0/360
    rng = np.random.default_rng(3)
    alt = rng.uniform(20.0, 90.0, 1000)
    az = rng.uniform(0.0, 360.0, 1000)
    lon, lat = rng.normal(0.0, 2.0, (2, 1000))
    alt2, az2 = sim.offset_direction(alt, az, lon, lat)
    sep = sim.angular_separation(alt, az, alt2, az2)
    np.testing.assert_allclose(sep, np.hypot(lon, lat), atol=1e-9)
    assert az2.min() >= 0.0 and az2.max() < 360.0
    alt2, az2 = sim.offset_direction(70.0, 359.5, 1.0, 0.0)
    assert 0.0 < az2 < 10.0 and alt2 < 70.0
    alt2, az2 = sim.offset_direction(70.0, 0.0, 0.0, 1.0)
    assert alt2 == pytest.approx(71.0) and az2 == pytest.approx(0.0)


def test_event_and_image_consistency(gamma_run, proton_run):
    tels = sim.telescope_array().set_index("tel_id")
    for run in (gamma_run, proton_run):
        ev, im = run["events"], run["images"]
        assert len(np.unique(ev["event_id"])) == len(ev["event_id"])
        assert np.all(ev["multiplicity"] >= 2)
        ids, counts = np.unique(im["event_id"], return_counts=True)
        np.testing.assert_array_equal(ids, ev["event_id"])
        np.testing.assert_array_equal(counts, ev["multiplicity"])
        assert ev["event_id"].max() < run["simulation"]["n_showers"][0]
        assert np.all(im["hillas_intensity"] > sim.INTENSITY_THRESHOLD)
        cam = tels.loc[im["tel_id"], "camera_radius"].to_numpy()
        assert np.all(im["hillas_r"] < cam)
        np.testing.assert_array_equal(tels.loc[im["tel_id"], "tel_type"], im["tel_type"])
        assert np.all(
            (im["leakage_intensity_width_2"] >= 0) & (im["leakage_intensity_width_2"] <= 1)
        )
        assert np.all((im["concentration_pixel"] > 0) & (im["concentration_pixel"] <= 1))
        assert np.all((im["hillas_psi"] >= -90) & (im["hillas_psi"] < 90))
        assert np.all(im["hillas_length"] >= im["hillas_width"])
        assert np.all(im["morphology_n_pixels"] >= 3)
        assert np.all(im["impact_distance"] >= 0)
        assert np.all(np.isfinite(ev["reco_h_max"]))
        for table in (ev, im):
            for col, arr in table.items():
                if arr.dtype.kind == "f":
                    assert arr.dtype == np.float64 and np.all(np.isfinite(arr)), col


def test_reconstruction_improves_with_energy_and_multiplicity(gamma_run):
    ev = gamma_run["events"]
    sep = sim.angular_separation(ev["true_alt"], ev["true_az"], ev["reco_alt"], ev["reco_az"])
    e, m = ev["true_energy"], ev["multiplicity"]
    low, high = np.median(sep[e < 0.1]), np.median(sep[e > 1.0])
    assert high < 0.5 * low
    assert 0.02 < high < 0.1 and 0.1 < low < 0.4
    assert np.median(sep[m >= 4]) < np.median(sep[m == 2])
    core_err = np.hypot(
        ev["reco_core_x"] - ev["true_core_x"], ev["reco_core_y"] - ev["true_core_y"]
    )
    assert np.median(core_err[e > 1.0]) < np.median(core_err[e < 0.1])
    # shower maximum gets deeper with energy
    assert np.median(ev["reco_h_max"][e > 1.0]) < np.median(ev["reco_h_max"][e < 0.1]) - 1000


def test_protons_are_reconstructed_worse(diffuse_run, proton_run):
    def res(run):
        ev = run["events"]
        sel = (ev["true_energy"] > 0.5) & (ev["true_energy"] < 5.0)
        sep = sim.angular_separation(ev["true_alt"], ev["true_az"], ev["reco_alt"], ev["reco_az"])
        return np.median(sep[sel])

    assert res(proton_run) > 1.5 * res(diffuse_run)


def test_gamma_images_narrower_than_proton_images(diffuse_run, proton_run):
    def width(run, tel_type):
        im = run["images"]
        sel = (
            (im["tel_type"] == tel_type)
            & (im["hillas_intensity"] > 200)
            & (im["hillas_intensity"] < 1000)
        )
        return im["hillas_width"][sel], im["hillas_length"][sel], im["concentration_pixel"][sel]

    for tel_type in ("LST", "MST"):
        wg, lg, cg = width(diffuse_run, tel_type)
        wp, lp, cp = width(proton_run, tel_type)
        assert len(wg) > 500 and len(wp) > 200
        assert 1.3 < np.median(wp) / np.median(wg) < 2.5
        assert np.median(lp) > np.median(lg)
        assert np.median(cp) < np.median(cg)
        # overlapping distributions: a fair fraction of protons look like gammas
        assert 0.05 < np.mean(wp < np.median(wg)) < 0.35


def test_intensity_scales_with_energy(gamma_run):
    ev, im = gamma_run["events"], gamma_run["images"]
    energy = dict(zip(ev["event_id"], ev["true_energy"], strict=True))
    e = np.array([energy[i] for i in im["event_id"]])
    near = (im["impact_distance"] < 100) & (im["tel_type"] == "LST")
    ratio = im["hillas_intensity"][near] / e[near]
    # about 10 p.e. per m2 per TeV * 370 m2 * cos(20 deg)^2 inside the light pool
    high = e[near] > 1.0
    assert np.median(ratio[high]) == pytest.approx(10 * 370 * np.cos(np.radians(20)) ** 2, rel=0.2)


def test_classifier_quick_check(diffuse_run, proton_run):
    ensemble = pytest.importorskip("sklearn.ensemble")
    metrics = pytest.importorskip("sklearn.metrics")
    features = [
        "hillas_intensity",
        "hillas_width",
        "hillas_length",
        "hillas_skewness",
        "hillas_kurtosis",
        "concentration_pixel",
        "morphology_n_pixels",
        "leakage_intensity_width_2",
        "impact_distance",
    ]

    def table(run, label):
        im = run["images"]
        sel = im["tel_type"] == "MST"
        x = np.column_stack([im[f][sel] for f in features])
        return x, np.full(len(x), label), im["event_id"][sel]

    xg, yg, eg = table(diffuse_run, 1)
    xp, yp, ep = table(proton_run, 0)
    # split by event: first half of each sample trains, second half tests
    train_g = eg < np.median(eg)
    train_p = ep < np.median(ep)
    clf = ensemble.RandomForestClassifier(
        n_estimators=30, min_samples_leaf=10, n_jobs=1, random_state=0
    )
    clf.fit(np.r_[xg[train_g], xp[train_p]], np.r_[yg[train_g], yp[train_p]])
    x_test = np.r_[xg[~train_g], xp[~train_p]]
    y_test = np.r_[yg[~train_g], yp[~train_p]]
    auc = metrics.roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1])
    assert 0.75 < auc < 0.97


def test_production_logs_progress_with_counts_and_rates(tmp_path, caplog):
    from showerflow.simulate import simulate_production

    with caplog.at_level("INFO", logger="showerflow"):
        paths = simulate_production(tmp_path, "electron", 2, 20_000, seed=3)
    lines = [r.getMessage() for r in caplog.records if " run " in r.getMessage()]
    assert [line.split(" ")[:3] for line in lines] == [
        ["electron", "run", "1/2"],
        ["electron", "run", "2/2"],
    ]
    n_events = sum(uproot.open(p)["events"].num_entries for p in paths)
    assert f"40000 showers, {n_events} events so far" in lines[1]
    assert float(lines[1].rsplit("(", 1)[1].split()[0]) > 0
