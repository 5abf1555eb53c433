"""Models: split by shower, feature building, per-event combination, metrics."""

import hashlib

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


@pytest.mark.parametrize("kind", ["energy", "classifier"])
def test_the_same_fit_writes_the_same_file(tmp_path, kind):
    """Two fits on the same images give byte-identical model files (no fit time in them,
    tree padding zeroed), so retraining on remade, identical tables redoes nothing after."""
    images = _images(1500, seed=4)
    if kind == "classifier":
        images["reco_energy"] = images["true_energy"]
    digests = []
    for i in range(2):
        model = models.train(images, _cfg(kind), n_jobs=2)
        assert model["timing"]["LST"]["fit_seconds"] >= 0
        models.save_model(model, tmp_path / f"{i}.joblib")
        digests.append(hashlib.sha256((tmp_path / f"{i}.joblib").read_bytes()).hexdigest())
        del model
    assert digests[0] == digests[1]
    assert "timing" not in models.load_model(tmp_path / "0.joblib")


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


# --- any estimator with the scikit-learn API -------------------------------------------------

#: (energy estimator, classifier estimator, parameters of both, module they need)
ESTIMATORS = {
    "random_forest": (
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 20, "min_samples_leaf": 5},
        "sklearn",
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble.HistGradientBoostingRegressor",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 50, "early_stopping": False},
        "sklearn",
    ),
    "lightgbm": (
        "lightgbm.LGBMRegressor",
        "lightgbm.LGBMClassifier",
        {"n_estimators": 50, "verbose": -1, "deterministic": True, "force_row_wise": True},
        "lightgbm",
    ),
    "xgboost": (
        "xgboost.XGBRegressor",
        "xgboost.XGBClassifier",
        {"n_estimators": 50, "max_depth": 4},
        "xgboost",
    ),
}


def _with(kind, cls, params, **kw):
    return _cfg(kind, estimator={"class": cls, "parameters": dict(params)}, **kw)


def _count_blocks(monkeypatch):
    """Count the row blocks predicted (calls of models._score), forcing small blocks."""
    calls = []
    score = models._score
    monkeypatch.setattr(models, "MIN_ROWS_PER_THREAD", 50)
    monkeypatch.setattr(
        models, "_score", lambda est, X, kind: calls.append(len(X)) or score(est, X, kind)
    )
    return calls


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_any_estimator_trains_both_models_and_threads_do_not_change_predictions(name, monkeypatch):
    """Regressor and classifier of each library train (threads set the way each takes
    them: n_jobs or OpenMP), learn the physics, and predict bit-identical values with 1 and
    2 threads, the rows then split over two threads."""
    e_cls, c_cls, params, module = ESTIMATORS[name]
    pytest.importorskip(module)
    images = _images(3000, seed=5)
    images["reco_energy"] = images["true_energy"]
    energy = models.train(images, _with("energy", e_cls, params), n_jobs=2)
    classifier = models.train(
        images, _with("classifier", c_cls, params, features=_CLASSIFIER_FEATURES), n_jobs=2
    )
    if module != "sklearn":
        assert module in energy["versions"]
    test = models.shower_test_mask(images["obs_id"], images["event_id"], 0.3, 0)
    timg = images[test].reset_index(drop=True)
    codes, _ = pd.factorize(timg["event_id"])
    first = np.unique(codes, return_index=True)[1]
    e1, _ = models.predict_events(energy, timg, codes, n_jobs=1)
    g1, _ = models.predict_events(classifier, timg, codes, n_jobs=1)
    m = models.energy_metrics(timg["true_energy"].to_numpy()[first], e1)
    assert m["r2"] > 0.9
    is_gamma = timg["particle"].to_numpy()[first] == "gamma"
    assert models.classifier_metrics(is_gamma, g1)["roc_auc"] > 0.9
    assert np.nanmin(g1) >= 0 and np.nanmax(g1) <= 1
    calls = _count_blocks(monkeypatch)
    e2, _ = models.predict_events(energy, timg, codes, n_jobs=2)
    g2, _ = models.predict_events(classifier, timg, codes, n_jobs=2)
    assert len(calls) == 8  # 2 models x 2 telescope types x 2 threads' blocks
    assert e1.tobytes() == e2.tobytes() and g1.tobytes() == g2.tobytes()


_CLASSIFIER_FEATURES = ["log10_reco_energy", "log10_hillas_intensity", "hillas_width"]


def test_forest_own_threads_are_replaced_by_row_blocks(monkeypatch):
    """A forest keeps n_jobs=1 inside each block (its own threads would add the trees in
    the order they finish), and gets its n_jobs back afterwards."""
    images = _images(2000)
    model = models.train(images, _cfg("energy"), n_jobs=2)
    est = model["estimators"]["LST"]
    seen = []
    score = models._score
    monkeypatch.setattr(models, "MIN_ROWS_PER_THREAD", 50)
    monkeypatch.setattr(
        models, "_score", lambda e, X, kind: seen.append(e.n_jobs) or score(e, X, kind)
    )
    est.set_params(n_jobs=7)
    models.predict_images(model, images, n_jobs=2)
    assert seen and set(seen) == {1}
    assert est.n_jobs == 7


def test_classifier_with_decision_function_only():
    """A classifier without predict_proba scores by the logistic of its decision_function."""
    images = _images(2000, seed=4)
    images["reco_energy"] = images["true_energy"]
    cfg = _with(
        "classifier",
        "sklearn.linear_model.SGDClassifier",
        {"loss": "hinge"},
        features=_CLASSIFIER_FEATURES,
    )
    model = models.train(images, cfg)
    score = models.predict_images(model, images)
    ok = np.isfinite(score)
    assert ok.mean() > 0.5 and ((score[ok] > 0) & (score[ok] < 1)).all()
    is_gamma = (images["particle"] == "gamma").to_numpy()
    assert models.classifier_metrics(is_gamma[ok], score[ok])["roc_auc"] > 0.8


def test_permutation_importances_for_estimators_without_their_own():
    """HistGradientBoosting has no feature_importances_: permutation importances on the
    held-out images stand in, summing to 1 and ranking the width first for the classifier
    (in _images gammas and hadrons differ by image width only)."""
    images = _images(3000, seed=6)
    images["reco_energy"] = images["true_energy"]
    cfg = _with(
        "classifier",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 30},
        features=_CLASSIFIER_FEATURES,
    )
    model = models.train(images, cfg)
    assert models.feature_importances(model) == {}
    imp = models.feature_importances(model, images)
    assert set(imp) == {"LST", "MST"}
    for values in imp.values():
        assert sum(values.values()) == pytest.approx(1.0)
        assert max(values, key=values.get) == "hillas_width"
    assert models.importance_method(model["estimators"]["LST"]) == "permutation"


class LabelOnlyClassifier:
    """A classifier that gives labels only (no predict_proba, no decision_function)."""

    _estimator_type = "classifier"

    def __init__(self, threshold=0.5):
        self.threshold = threshold

    def get_params(self, deep=True):
        return {"threshold": self.threshold}

    def set_params(self, **params):
        self.threshold = params.get("threshold", self.threshold)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())  # fmt: skip

    def fit(self, X, y):
        return self

    def predict(self, X):
        return (X[:, 0] > self.threshold).astype(int)


@pytest.mark.parametrize(
    "kind, estimator, message",
    [
        ("energy", {"class": "sklearn.ensemble.NoSuchForest"},
         "key 'estimator.class': cannot import 'sklearn.ensemble.NoSuchForest'"),
        ("energy", {"class": "nosuchpackage.Regressor"},
         "cannot import 'nosuchpackage.Regressor' (ModuleNotFoundError"),
        ("energy", {"class": "sklearn.ensemble.RandomForestClassifier"},
         "RandomForestClassifier is not a regressor (scikit-learn sees a classifier); "
         "kind 'energy' needs a regressor"),
        ("classifier", {"class": "sklearn.ensemble.HistGradientBoostingRegressor"},
         "is not a classifier (scikit-learn sees a regressor)"),
        ("classifier", {"class": "test_models.LabelOnlyClassifier"},
         "LabelOnlyClassifier with these parameters has neither predict_proba nor "
         "decision_function"),
        ("classifier", {"class": "sklearn.svm.SVC", "parameters": {"probability": False}},
         None),  # decision_function: accepted
        ("energy", {"class": "sklearn.ensemble.HistGradientBoostingRegressor",
                    "parameters": {"n_jobs": 4}},
         "key 'estimator.parameters.n_jobs': threads are set by showerflow"),
        ("energy", {"class": "sklearn.ensemble.HistGradientBoostingRegressor",
                    "parameters": {"n_trees": 4}},
         "key 'estimator.parameters': sklearn.ensemble.HistGradientBoostingRegressor does "
         "not accept ['n_trees']"),
        ("energy", {"class": "numpy.pi"}, "is not a scikit-learn estimator class"),
    ],
)  # fmt: skip
def test_check_estimator_config_names_file_and_key(kind, estimator, message, tmp_path):
    """A model YAML whose estimator cannot do the job fails when it is loaded (before any
    data is read), naming the file and the key; the same check as a pure function."""
    import yaml

    from showerflow.config import ConfigError

    cfg = {"kind": kind, "estimator": estimator, "features": ["hillas_width"]}
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    if message is None:
        models.load_model_config(path)
        models.check_estimator_config(_cfg(kind, estimator=estimator), "x.yaml")
        return
    with pytest.raises(ConfigError) as err:
        models.load_model_config(path)
    assert str(err.value).startswith(f"{path}: key 'estimator.")
    assert message in str(err.value)
    with pytest.raises(ConfigError, match="^x.yaml: key 'estimator"):
        models.check_estimator_config(_cfg(kind, estimator=estimator), "x.yaml")


def test_check_model_configs_matches_kinds(tmp_path):
    from conftest import REPO

    from showerflow.config import ConfigError

    good = {"energy": REPO / "config/models/energy.yaml",
            "classifier": REPO / "config/models/classifier.yaml"}  # fmt: skip
    cfgs = models.check_model_configs(good)
    assert cfgs["energy"]["kind"] == "energy" and cfgs["classifier"]["kind"] == "classifier"
    swapped = {"energy": good["classifier"], "classifier": good["energy"]}
    with pytest.raises(ConfigError, match="classifier.yaml: key 'kind': 'classifier', but the "
                       "config's models.energy needs kind 'energy'"):  # fmt: skip
        models.check_model_configs(swapped)
    with pytest.raises(ConfigError, match="key 'models.classifier': file .*nope.yaml does not"):
        models.check_model_configs({**good, "classifier": tmp_path / "nope.yaml"})


def test_training_columns_need_energies_only_when_used():
    plain = _cfg("classifier", features=["log10_hillas_intensity", "hillas_width"],
                 combine_weights="none")  # fmt: skip
    cols = models.training_columns(plain)
    assert "reco_energy" not in cols and "true_energy" not in cols
    assert {"obs_id", "event_id", "tel_type", "particle", "hillas_intensity"} <= cols
    assert "reco_energy" in models.training_columns(
        _cfg("classifier", features=["log10_reco_energy"])
    )
    assert "reco_energy" in models.training_columns(
        _cfg("classifier", combine_weights="reco_energy")
    )
    assert "true_energy" in models.training_columns(_cfg("energy"))


def test_energy_model_refuses_missing_true_energy():
    images = _images(500)
    images.loc[images.index[:10], "true_energy"] = np.nan
    with pytest.raises(ValueError, match="have no finite 'true_energy'"):
        models.train(images, _cfg("energy"))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_training_does_not_depend_on_threads(name):
    """The same model (the same predictions, to the bit) from fits on 1 and 3 threads."""
    e_cls, c_cls, params, module = ESTIMATORS[name]
    pytest.importorskip(module)
    images = _images(2000, seed=9)
    images["reco_energy"] = images["true_energy"]
    cfg = _with("classifier", c_cls, params, features=_CLASSIFIER_FEATURES)
    a, b = models.train(images, cfg, n_jobs=1), models.train(images, cfg, n_jobs=3)
    assert b["timing"]["LST"]["threads"] == 3
    pa, pb = models.predict_images(a, images), models.predict_images(b, images)
    assert np.isfinite(pa).mean() > 0.5
    assert pa.tobytes() == pb.tobytes()
