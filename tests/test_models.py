"""Models: split by shower, feature building, per-event combination, metrics."""

import numpy as np
import pandas as pd
import pytest

from showerflow import models


def _cfg(kind, **kw):
    from showerflow.config import validate

    cfg = {
        "kind": kind,
        "estimator": {
            "class": "sklearn.ensemble.RandomForestRegressor"
            if kind == "energy"
            else "sklearn.ensemble.RandomForestClassifier",
            "parameters": {"n_estimators": 20, "min_samples_leaf": 5},
        },
        "features": ["log10_hillas_intensity", "impact_distance", "hillas_width"],
        "quality_cuts": ["hillas_intensity >= 50"],
        "max_events_per_tel_type": None,
    }
    cfg.update(kw)
    return validate(cfg, "model")


def _images(n_events=4000, seed=0):
    """Synthetic images: intensity ∝ E × light-pool falloff; hadrons have wider images."""
    rng = np.random.default_rng(seed)
    rows = []
    energy = 10 ** rng.uniform(-1.5, 1.5, n_events)
    is_gamma = rng.random(n_events) < 0.5
    for tel_type, area in (("LST", 370.0), ("MST", 100.0)):
        d = rng.uniform(0, 300, n_events)
        inten = 10 * area * energy * np.exp(-np.clip(d - 120, 0, None) / 90)
        inten *= rng.lognormal(0, 0.2, n_events)
        width = np.where(is_gamma, 0.05, 0.1) * rng.lognormal(0, 0.25, n_events)
        rows.append(
            pd.DataFrame(
                {
                    "obs_id": 1,
                    "event_id": np.arange(n_events),
                    "tel_type": tel_type,
                    "hillas_intensity": inten,
                    "impact_distance": d,
                    "hillas_width": width,
                    "true_energy": energy,
                    "particle": np.where(is_gamma, "gamma", "proton"),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_shower_split_is_deterministic_and_has_the_right_fraction():
    obs = np.repeat(np.arange(1, 11), 10000)
    evt = np.tile(np.arange(10000), 10)
    t1 = models.shower_test_mask(obs, evt, 0.3, seed=1)
    t2 = models.shower_test_mask(obs, evt, 0.3, seed=1)
    assert (t1 == t2).all()
    assert t1.mean() == pytest.approx(0.3, abs=0.01)
    assert (models.shower_test_mask(obs, evt, 0.3, seed=2) != t1).mean() > 0.3
    # the same shower seen by several telescopes is always on one side
    key_obs, key_evt = np.repeat([3, 7], 5), np.repeat([12, 40], 5)
    sides = models.shower_test_mask(key_obs, key_evt, 0.5, seed=1).reshape(2, 5)
    assert (sides == sides[:, :1]).all()
    # and the hash depends on both numbers of the key
    assert (models.shower_test_mask(evt, obs, 0.3, seed=1) != t1).mean() > 0.3


def test_derive_features_and_quality_cuts():
    df = pd.DataFrame({"hillas_intensity": [10.0, 100.0, 1000.0], "w": [1.0, 2.0, 3.0]})
    X = models.derive_features(df, ["log10_hillas_intensity", "w"])
    assert X[:, 0] == pytest.approx([1, 2, 3])
    assert X[:, 1] == pytest.approx([1, 2, 3])
    assert models.feature_columns(["log10_hillas_intensity", "w"]) == ["hillas_intensity", "w"]
    mask = models.quality_mask(df, ["hillas_intensity >= 50", "w < 3"])
    assert mask.tolist() == [False, True, False]
    with pytest.raises(ValueError, match="quality cut"):
        models.quality_mask(df, ["nonexistent > 1"])


def test_combine_per_event_weighted_mean():
    idx = np.array([0, 0, 1, 1, 1, 3])
    vals = np.array([1.0, 3.0, 2.0, np.nan, 4.0, 5.0])
    w = np.array([1.0, 3.0, 1.0, 1.0, 1.0, 2.0])
    mean, used = models.combine_per_event(idx, vals, w, n_events=5)
    assert mean[0] == pytest.approx(2.5)
    assert mean[1] == pytest.approx(3.0)
    assert np.isnan(mean[2]) and np.isnan(mean[4])
    assert mean[3] == pytest.approx(5.0)
    assert used.tolist() == [2, 2, 0, 1, 0]


def test_energy_model_learns_energy():
    images = _images()
    model = models.train(images, _cfg("energy"), n_jobs=1)
    assert set(model["estimators"]) == {"LST", "MST"}
    test = models.shower_test_mask(images["obs_id"], images["event_id"], 0.3, 0)
    timg = images[test].reset_index(drop=True)
    codes, _ = pd.factorize(timg["event_id"])
    energy, used = models.predict_events(model, timg, codes)
    first = np.unique(codes, return_index=True)[1]
    true = timg["true_energy"].to_numpy()[first]
    m = models.energy_metrics(true, energy)
    assert m["r2"] > 0.9
    bins = m["bins"]
    centre = np.sqrt(np.array(bins["true_energy_low"]) * np.array(bins["true_energy_high"]))
    near_1tev = np.argmin(abs(np.log10(centre)))
    assert abs(bins["bias"][near_1tev]) < 0.1
    assert bins["resolution"][near_1tev] < 0.3
    assert model["counts"]["LST"]["n_test"] > 0


def test_classifier_separates_and_importances_add_up():
    images = _images(seed=3)
    images["reco_energy"] = images["true_energy"]
    model = models.train(images, _cfg("classifier"))
    test = models.shower_test_mask(images["obs_id"], images["event_id"], 0.3, 0)
    timg = images[test].reset_index(drop=True)
    codes, _ = pd.factorize(timg["event_id"])
    score, _ = models.predict_events(model, timg, codes)
    first = np.unique(codes, return_index=True)[1]
    ev = timg.iloc[first]
    m = models.classifier_metrics(
        (ev["particle"] == "gamma").to_numpy(), score, ev["true_energy"].to_numpy()
    )
    assert m["roc_auc"] > 0.9
    assert m["roc_curve"]["fpr"][0] == 0 and m["roc_curve"]["tpr"][-1] == 1
    imp = models.feature_importances(model)
    assert sum(imp["LST"].values()) == pytest.approx(1.0)


def test_classifier_needs_two_classes():
    images = _images()
    images["particle"] = "gamma"
    with pytest.raises(ValueError, match="only one class"):
        models.train(images, _cfg("classifier"))


def test_metrics_on_known_numbers():
    true = np.full(1000, 1.0)
    reco = np.linspace(0.9, 1.3, 1000)  # bias +0.1, spread ±0.2
    m = models.energy_metrics(true, reco, bins=np.array([0.5, 2.0]))
    assert m["bins"]["bias"][0] == pytest.approx(0.1, abs=1e-3)
    assert m["bins"]["resolution"][0] == pytest.approx(0.68 * 0.2, abs=2e-3)


def test_save_load_roundtrip(tmp_path):
    model = models.train(_images(500), _cfg("energy"))
    models.save_model(model, tmp_path / "m.joblib")
    back = models.load_model(tmp_path / "m.joblib")
    assert back["features"] == model["features"]
    assert "scikit-learn" in back["versions"]
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing.joblib")


def test_training_logs_progress_per_telescope_type(caplog):
    import logging

    images = _images(1000)
    with caplog.at_level("INFO", logger="showerflow"):
        models.train(images, _cfg("energy"), n_jobs=2, log=logging.getLogger("showerflow"))
    msgs = [r.getMessage() for r in caplog.records]
    starts = [m for m in msgs if m.startswith("telescope type ") and "training" in m]
    assert [m.split(" (")[0] for m in starts] == ["telescope type 1/2", "telescope type 2/2"]
    n_lst = int(starts[0].split(" on ")[1].split()[0])
    assert 300 < n_lst <= 700  # ~70 % of 1000 showers pass the split, minus quality cuts
    assert "of " in starts[0] and starts[0].endswith("2 threads")
    fitted = [m for m in msgs if "fitted in" in m]
    assert len(fitted) == 2 and all("images/s" in m for m in fitted)
