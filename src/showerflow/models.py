"""Per-telescope-type scikit-learn models: features, training, prediction, metrics.

One estimator per telescope type, configured in ``config/models/*.yaml``. Per-image
predictions are combined per event with configurable weights (as protopipe and
ctapipe do). The train/test split is by shower: a hash of ``(obs_id, event_id)``
decides, so no shower has images on both sides and the split is the same for every
telescope type.
"""

from __future__ import annotations

import importlib
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from .config import load_config

__all__ = [
    "load_model_config",
    "feature_columns",
    "derive_features",
    "quality_mask",
    "shower_test_mask",
    "shower_keys",
    "sample_showers",
    "build_estimator",
    "combine_per_event",
    "train",
    "predict_images",
    "predict_events",
    "energy_metrics",
    "classifier_metrics",
    "feature_importances",
    "save_model",
    "load_model",
    "software_versions",
]

#: Energy bins (TeV) for per-bin model metrics: 5 per decade, 10 GeV to 316 TeV.
METRIC_ENERGY_BINS = np.logspace(-2, 2.5, 23)


def load_model_config(path):
    """Load and validate a model YAML (schema ``model``)."""
    cfg = load_config(path, "model")
    if cfg["kind"] == "classifier" and not cfg.get("signal"):
        cfg["signal"] = "gamma"
    return cfg


def feature_columns(features):
    """Raw columns needed to compute ``features`` (``log10_X`` needs ``X``)."""
    return sorted({f[len("log10_") :] if f.startswith("log10_") else f for f in features})


def derive_features(df, features):
    """Build the feature matrix; ``log10_X`` is the base-10 logarithm of column ``X``.

    Parameters
    ----------
    df : pandas.DataFrame
    features : list of str

    Returns
    -------
    numpy.ndarray, shape (len(df), len(features)), float64
    """
    cols = []
    for name in features:
        if name.startswith("log10_"):
            base = name[len("log10_") :]
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.log10(df[base].to_numpy(float)))
        else:
            cols.append(df[name].to_numpy(float))
    return np.column_stack(cols) if cols else np.empty((len(df), 0))


def quality_mask(df, cuts):
    """Images passing all quality cuts and with finite features.

    Parameters
    ----------
    df : pandas.DataFrame
    cuts : list of str
        pandas ``eval`` expressions, e.g. ``"hillas_intensity >= 50"``.

    Returns
    -------
    numpy.ndarray of bool
    """
    mask = np.ones(len(df), dtype=bool)
    for cut in cuts:
        try:
            mask &= np.asarray(df.eval(cut), dtype=bool)
        except Exception as err:
            raise ValueError(f"quality cut {cut!r} cannot be evaluated: {err}") from err
    return mask


def shower_test_mask(obs_id, event_id, test_fraction, seed=0):
    """Deterministic per-shower train/test split.

    Parameters
    ----------
    obs_id, event_id : array-like of int
    test_fraction : float
    seed : int

    Returns
    -------
    numpy.ndarray of bool
        True for showers in the test set.
    """
    # splitmix64 finaliser over the shower key: a well-mixed 64-bit hash
    with np.errstate(over="ignore"):
        x = (np.asarray(obs_id, np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            np.asarray(event_id, np.uint64) + np.uint64(seed) * np.uint64(0xBF58476D1CE4E5B9)
        )
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53 < test_fraction


def build_estimator(estimator_cfg, n_jobs=1, seed=0):
    """Instantiate the configured scikit-learn estimator.

    Parameters
    ----------
    estimator_cfg : dict
        ``{"class": "sklearn.ensemble.RandomForestRegressor", "parameters": {...}}``
    n_jobs : int
        Passed as ``n_jobs`` when the estimator takes it.
    seed : int
        ``random_state`` unless the parameters set one.
    """
    module, _, name = estimator_cfg["class"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    params = dict(estimator_cfg.get("parameters") or {})
    est = cls(**params)
    names = est.get_params()
    extra = {}
    if "n_jobs" in names:
        extra["n_jobs"] = n_jobs
    if "random_state" in names and "random_state" not in params:
        extra["random_state"] = seed
    return est.set_params(**extra)


def combine_per_event(event_index, values, weights=None, n_events=None):
    """Weighted mean of per-image values per event.

    Parameters
    ----------
    event_index : numpy.ndarray of int
        Event number (0..n_events-1) of each image.
    values : numpy.ndarray
        Per-image value; NaN values are left out.
    weights : numpy.ndarray, optional
        Per-image weights (default 1).
    n_events : int, optional
        Number of events (default ``event_index.max() + 1``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Combined value (NaN for events without a valid image) and the number of images
        used, both of length ``n_events``.
    """
    if n_events is None:
        n_events = int(event_index.max()) + 1 if len(event_index) else 0
    n = n_events
    w = np.ones(len(values)) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(values) & np.isfinite(w) & (w > 0)
    sw = np.bincount(event_index[ok], weights=w[ok], minlength=n)
    swx = np.bincount(event_index[ok], weights=w[ok] * values[ok], minlength=n)
    used = np.bincount(event_index[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(sw > 0, swx / sw, np.nan)
    return mean, used


def _target(df, cfg):
    if cfg["kind"] == "energy":
        y = df[cfg["target"]].to_numpy(float)
        return np.log10(y) if cfg["target_transform"] == "log10" else y
    return (df["particle"].to_numpy() == cfg["signal"]).astype(int)


def shower_keys(df):
    """One int64 per image naming its shower: ``obs_id << 32 | event_id``."""
    return df["obs_id"].to_numpy(np.int64) << 32 | df["event_id"].to_numpy(np.int64)


def sample_showers(keys, max_events, seed):
    """Reproducible sample of at most ``max_events`` distinct showers.

    Parameters
    ----------
    keys : numpy.ndarray of int64
        Shower keys (:func:`shower_keys`), repeated or not, in any order.
    max_events : int or None
        None keeps every shower.
    seed : int

    Returns
    -------
    numpy.ndarray of int64
        The kept keys, sorted; the same set for the same keys and seed, whatever their
        order or the way the tables were split into files.
    """
    uniq = np.unique(keys)
    if max_events is None or len(uniq) <= max_events:
        return uniq
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(uniq, size=max_events, replace=False))


def _sample(df, max_events, seed):
    """Reproducibly keep at most ``max_events`` showers' images."""
    keys = shower_keys(df)
    keep = sample_showers(keys, max_events, seed)
    return df if len(keep) == len(np.unique(keys)) else df[np.isin(keys, keep)]


def train(images, cfg, n_jobs=1, log=None):
    """Train one estimator per telescope type on an image-level training table.

    Parameters
    ----------
    images : pandas.DataFrame
        One row per image with the features, ``tel_type``, ``obs_id``, ``event_id`` and
        the target (``true_energy`` for energy models, ``particle`` for classifiers).
    cfg : dict
        Validated model config.
    n_jobs : int
    log : logging.Logger, optional

    Returns
    -------
    dict
        The model: ``estimators`` per type, ``features``, ``config``, ``versions``,
        ``metrics`` (filled by the caller), ``n_train``/``n_test`` per type.
    """
    seed = cfg["seed"]
    mask = quality_mask(images, cfg["quality_cuts"])
    images = images[mask]
    test = shower_test_mask(images["obs_id"], images["event_id"], cfg["test_fraction"], seed)
    estimators, counts = {}, {}
    types = sorted(images["tel_type"].unique())
    for tel_type in types:
        sel = (images["tel_type"] == tel_type).to_numpy()
        train_df = _sample(images[sel & ~test], cfg["max_events_per_tel_type"], seed)
        X = derive_features(train_df, cfg["features"])
        y = _target(train_df, cfg)
        finite = np.isfinite(X).all(axis=1)
        if cfg["kind"] == "classifier" and len(np.unique(y[finite])) < 2:
            raise ValueError(
                f"classifier for {tel_type}: training data holds only one class; "
                "check the classification datasets"
            )
        if finite.sum() < 10:
            raise ValueError(f"{cfg['kind']} model for {tel_type}: fewer than 10 images")
        est = build_estimator(cfg["estimator"], n_jobs=n_jobs, seed=seed)
        if log:
            log.info(
                "telescope type %d/%d (%s): training %s on %d images of %d showers, %d threads",
                len(estimators) + 1,
                len(types),
                tel_type,
                cfg["kind"],
                finite.sum(),
                len(np.unique(shower_keys(train_df))),
                n_jobs,
            )
        t0 = time.perf_counter()
        est.fit(X[finite], y[finite])
        if log:
            dt = time.perf_counter() - t0
            log.info(
                "telescope type %s: fitted in %.1f s (%.0f images/s)",
                tel_type,
                dt,
                finite.sum() / max(dt, 1e-9),
            )
        estimators[tel_type] = est
        counts[tel_type] = {"n_train": int(finite.sum()), "n_test": int((sel & test).sum())}
    return {
        "kind": cfg["kind"],
        "estimators": estimators,
        "features": list(cfg["features"]),
        "config": cfg,
        "versions": software_versions(),
        "counts": counts,
        "metrics": {},
    }


def predict_images(model, images):
    """Per-image prediction: log10 energy for energy models, P(signal) for classifiers.

    Images failing the model's quality cuts, with non-finite features or of a telescope
    type the model does not know get NaN.

    Parameters
    ----------
    model : dict
    images : pandas.DataFrame

    Returns
    -------
    numpy.ndarray of float
    """
    cfg = model["config"]
    out = np.full(len(images), np.nan)
    # one thread: forests sum their trees in a fixed order, so results are bit-identical
    # from run to run (threads would add them in whatever order they finish)
    for est in model["estimators"].values():
        if "n_jobs" in est.get_params():
            est.set_params(n_jobs=1)
    mask = quality_mask(images, cfg["quality_cuts"])
    types = images["tel_type"].to_numpy()
    for tel_type, est in model["estimators"].items():
        sel = mask & (types == tel_type)
        if not sel.any():
            continue
        X = derive_features(images[sel], model["features"])
        finite = np.isfinite(X).all(axis=1)
        idx = np.flatnonzero(sel)[finite]
        if not len(idx):
            continue
        if model["kind"] == "energy":
            out[idx] = est.predict(X[finite])
        else:
            out[idx] = est.predict_proba(X[finite])[:, 1]
    return out


def predict_events(model, images, event_index, n_events=None):
    """Per-event prediction: images predicted, then combined with the configured weights.

    Parameters
    ----------
    model : dict
    images : pandas.DataFrame
    event_index : numpy.ndarray of int
        Event number of each image.
    n_events : int, optional
        Number of events (default ``event_index.max() + 1``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Per event: energy in TeV (energy models) or gammaness, and images used.
    """
    per_image = predict_images(model, images)
    weight_col = model["config"]["combine_weights"]
    weights = None if weight_col == "none" else images[weight_col].to_numpy(float)
    value, used = combine_per_event(event_index, per_image, weights, n_events)
    if model["kind"] == "energy" and model["config"]["target_transform"] == "log10":
        value = 10**value
    return value, used


def _resolution(rel):
    """Bias (median) and 68 % containment of |rel - bias|."""
    if len(rel) < 5:
        return np.nan, np.nan
    bias = float(np.median(rel))
    return bias, float(np.quantile(np.abs(rel - bias), 0.68))


def _nan_to_none(values):
    return [None if not np.isfinite(v) else float(v) for v in values]


def energy_metrics(true_energy, reco_energy, bins=METRIC_ENERGY_BINS):
    """Event-level energy bias and resolution per true-energy bin, and R² on log10 E.

    Parameters
    ----------
    true_energy, reco_energy : numpy.ndarray (TeV)
    bins : numpy.ndarray (TeV)

    Returns
    -------
    dict
        ``r2`` and ``bins`` as in the metrics document (see README).
    """
    from sklearn.metrics import r2_score

    ok = np.isfinite(reco_energy) & (reco_energy > 0)
    t, r = true_energy[ok], reco_energy[ok]
    rel = (r - t) / t
    idx = np.digitize(t, bins) - 1
    bias, res, n = [], [], []
    for i in range(len(bins) - 1):
        b, s = _resolution(rel[idx == i])
        bias.append(b)
        res.append(s)
        n.append(int((idx == i).sum()))
    return {
        "r2": float(r2_score(np.log10(t), np.log10(r))) if len(t) > 1 else None,
        "n_events": int(len(t)),
        "bins": {
            "true_energy_low": bins[:-1].tolist(),
            "true_energy_high": bins[1:].tolist(),
            "bias": _nan_to_none(bias),
            "resolution": _nan_to_none(res),
            "n_events": n,
        },
    }


def classifier_metrics(is_signal, score, reco_energy, bins=METRIC_ENERGY_BINS):
    """Event-level ROC curve and AUC, overall and per reco-energy bin.

    Parameters
    ----------
    is_signal : numpy.ndarray of bool
    score : numpy.ndarray (gammaness)
    reco_energy : numpy.ndarray (TeV)
    bins : numpy.ndarray (TeV)

    Returns
    -------
    dict
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    ok = np.isfinite(score)
    y, s, e = is_signal[ok].astype(int), score[ok], reco_energy[ok]
    fpr, tpr, _ = roc_curve(y, s)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    idx = np.digitize(e, bins) - 1
    aucs, ng, nh = [], [], []
    for i in range(len(bins) - 1):
        sel = idx == i
        n_g, n_h = int(y[sel].sum()), int((1 - y[sel]).sum())
        aucs.append(roc_auc_score(y[sel], s[sel]) if min(n_g, n_h) >= 5 else np.nan)
        ng.append(n_g)
        nh.append(n_h)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "n_events": int(len(y)),
        "roc_curve": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
        "bins": {
            "reco_energy_low": bins[:-1].tolist(),
            "reco_energy_high": bins[1:].tolist(),
            "roc_auc": _nan_to_none(aucs),
            "n_gamma": ng,
            "n_hadron": nh,
        },
    }


def feature_importances(model):
    """Feature importances per telescope type (when the estimator has them)."""
    out = {}
    for tel_type, est in model["estimators"].items():
        imp = getattr(est, "feature_importances_", None)
        if imp is not None:
            out[tel_type] = dict(zip(model["features"], map(float, imp), strict=True))
    return out


def software_versions():
    """Versions of Python and the libraries a model depends on."""
    import sklearn

    from . import __version__

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "showerflow": __version__,
    }


def save_model(model, path):
    """Save a model with joblib, atomically."""
    from .tables import atomic_path

    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)


def load_model(path):
    """Load a model saved by :func:`save_model`, checking its shape."""
    if not Path(path).exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    model = joblib.load(path)
    if not isinstance(model, dict) or "estimators" not in model:
        raise ValueError(f"{path} is not a showerflow model")
    return model
