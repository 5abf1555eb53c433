"""Per-telescope-type scikit-learn models: features, training, prediction, metrics.

One estimator per telescope type, configured in ``config/models/*.yaml``. Per-image
predictions are combined per event with configurable weights (as protopipe and
ctapipe do). The train/test split is by shower: a hash of ``(obs_id, event_id)``
decides, so no shower has images on both sides and the split is the same for every
telescope type.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import platform
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from .config import ConfigError, load_config

__all__ = [
    "THREAD_PARAMETERS",
    "load_model_config",
    "import_estimator",
    "check_estimator_config",
    "check_model_configs",
    "training_columns",
    "limit_threads",
    "predict_rows",
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
    "importance_method",
    "save_model",
    "load_model",
    "software_versions",
]

#: Energy bins (TeV) for per-bin model metrics: 5 per decade, 10 GeV to 316 TeV.
METRIC_ENERGY_BINS = np.logspace(-2, 2.5, 23)


#: Constructor parameters through which estimators take their number of threads. showerflow
#: sets the thread count (the rule's ``threads``); a model YAML must not.
THREAD_PARAMETERS = ("n_jobs", "nthread", "num_threads", "n_threads", "thread_count")

#: Rows below which a prediction is not split over threads (the split would cost more).
MIN_ROWS_PER_THREAD = 2000


def load_model_config(path):
    """Load and validate a model YAML (schema ``model``, then :func:`check_estimator_config`).

    Raises
    ------
    showerflow.config.ConfigError
        Naming the file and the key, on a schema violation or an estimator that cannot
        do the model's job.
    """
    cfg = load_config(path, "model")
    if cfg["kind"] == "classifier" and not cfg.get("signal"):
        cfg["signal"] = "gamma"
    check_estimator_config(cfg, source=str(path))
    return cfg


def import_estimator(path):
    """The class named by an import path such as ``sklearn.ensemble.RandomForestRegressor``.

    Raises
    ------
    ImportError
        When the module cannot be imported or has no such attribute.
    """
    module, _, name = path.rpartition(".")
    mod = importlib.import_module(module)
    try:
        return getattr(mod, name)
    except AttributeError as err:
        raise ImportError(f"module '{module}' has no attribute '{name}'") from err


def check_estimator_config(cfg, source="model config"):
    """Check that the estimator a model config names can do the model's job.

    A pure check (it imports the estimator's module and builds an unfitted instance, no
    file is read or written), cheap enough to run when the Snakefile is read: the class
    imports, is a scikit-learn style estimator (``fit``, ``get_params``, ``set_params``),
    accepts the configured parameters, is a regressor for ``kind: energy`` and a
    classifier with ``predict_proba`` or ``decision_function`` for ``kind: classifier``,
    and the parameters do not set threads (:data:`THREAD_PARAMETERS`: they come from the
    rule's ``threads``).

    Parameters
    ----------
    cfg : dict
        A model config validated against the ``model`` schema.
    source : str
        The file it came from, named in the message.

    Returns
    -------
    type
        The estimator class.

    Raises
    ------
    showerflow.config.ConfigError
        ``<source>: key 'estimator.class': ...`` or ``key 'estimator.parameters...'``,
        saying what was found and what was expected.
    """
    from sklearn.base import is_classifier, is_regressor

    path = cfg["estimator"]["class"]
    params = dict(cfg["estimator"].get("parameters") or {})
    key = f"{source}: key 'estimator.class'"
    try:
        cls = import_estimator(path)
    except Exception as err:
        raise ConfigError(f"{key}: cannot import {path!r} ({type(err).__name__}: {err})") from err
    if not inspect.isclass(cls) or not all(
        hasattr(cls, m) for m in ("fit", "get_params", "set_params")
    ):
        raise ConfigError(
            f"{key}: {path!r} is not a scikit-learn estimator class (expected a class with "
            "fit, get_params and set_params)"
        )
    threads = sorted(set(params) & set(THREAD_PARAMETERS))
    if threads:
        raise ConfigError(
            f"{source}: key 'estimator.parameters.{threads[0]}': threads are set by showerflow "
            "(the training rule's threads, or --jobs); remove it"
        )
    try:
        est = cls(**params)
    except Exception as err:
        raise ConfigError(
            f"{source}: key 'estimator.parameters': {path} does not accept {sorted(params)} "
            f"({type(err).__name__}: {err})"
        ) from err
    name = cls.__name__
    if cfg["kind"] == "energy":
        if is_classifier(est) or not is_regressor(est) or not hasattr(est, "predict"):
            raise ConfigError(
                f"{key}: {path} is not a regressor (scikit-learn sees a "
                f"{'classifier' if is_classifier(est) else 'non-regressor'}); kind 'energy' "
                "needs a regressor, e.g. sklearn.ensemble.HistGradientBoostingRegressor"
            )
    else:
        if not is_classifier(est):
            raise ConfigError(
                f"{key}: {path} is not a classifier (scikit-learn sees a "
                f"{'regressor' if is_regressor(est) else 'non-classifier'}); kind "
                "'classifier' needs one, e.g. sklearn.ensemble.HistGradientBoostingClassifier"
            )
        if not (hasattr(est, "predict_proba") or hasattr(est, "decision_function")):
            raise ConfigError(
                f"{key}: {name} with these parameters has neither predict_proba nor "
                "decision_function; a gamma/hadron classifier needs a score, not only a label"
            )
    return cls


def check_model_configs(model_paths):
    """Load and check the model YAMLs an analysis config names (its ``models`` key).

    Reads the two YAML files and nothing else, so it can run when the Snakefile is read.

    Parameters
    ----------
    model_paths : dict
        ``{"energy": path, "classifier": path}``.

    Returns
    -------
    dict
        ``{"energy": cfg, "classifier": cfg}``, validated.

    Raises
    ------
    showerflow.config.ConfigError
        As :func:`load_model_config`, or when a file's ``kind`` is not its slot's.
    """
    out = {}
    for slot, kind in (("energy", "energy"), ("classifier", "classifier")):
        path = model_paths[slot]
        if not Path(path).is_file():
            raise ConfigError(f"config: key 'models.{slot}': file {path} does not exist")
        cfg = load_model_config(path)
        if cfg["kind"] != kind:
            raise ConfigError(
                f"{path}: key 'kind': '{cfg['kind']}', but the config's models.{slot} needs "
                f"kind '{kind}'"
            )
        out[slot] = cfg
    return out


def training_columns(cfg):
    """Columns of the training tables a model needs to train and to compute its metrics.

    The shower keys, ``tel_type`` and ``particle``, the raw columns of the features, the
    combine weight, and the regression target for energy models. A classifier needs
    ``reco_energy`` only when a feature, quality cut or the combine weight uses it, and no
    true energy at all. (The quality cuts' columns are found by the caller, from the
    names in the expressions.)

    Parameters
    ----------
    cfg : dict
        Validated model config.

    Returns
    -------
    set of str
    """
    needed = set(feature_columns(cfg["features"]))
    needed |= {"obs_id", "event_id", "tel_type", "particle", "file_uuid"}
    if cfg["combine_weights"] != "none":
        needed.add(cfg["combine_weights"])
    if cfg["kind"] == "energy":
        needed.add(cfg["target"])
    return needed


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


#: A cut that compares one column with a number, e.g. ``hillas_intensity >= 50``.
_SIMPLE_CUT = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_COMPARE = {">=": np.greater_equal, "<=": np.less_equal, "==": np.equal,
            "!=": np.not_equal, ">": np.greater, "<": np.less}  # fmt: skip


def _cut_mask(df, cut):
    """One cut: a column compared with a number in numpy (as ``df.eval`` would, NaN
    failing every comparison but ``!=``), anything else through ``df.eval``."""
    m = _SIMPLE_CUT.match(cut)
    if m and m.group(1) in df.columns and df[m.group(1)].dtype.kind in "fiub":
        with np.errstate(invalid="ignore"):
            return _COMPARE[m.group(2)](df[m.group(1)].to_numpy(), float(m.group(3)))
    return np.asarray(df.eval(cut), dtype=bool)


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
            mask &= _cut_mask(df, cut)
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
        Passed as ``n_jobs`` when the estimator takes it (estimators without it get their
        threads from :func:`limit_threads` around ``fit`` and ``predict``).
    seed : int
        ``random_state`` unless the parameters set one.
    """
    cls = import_estimator(estimator_cfg["class"])
    params = dict(estimator_cfg.get("parameters") or {})
    est = cls(**params)
    names = est.get_params(deep=False)
    extra = {}
    if "n_jobs" in names:
        extra["n_jobs"] = n_jobs
    if "random_state" in names and "random_state" not in params:
        extra["random_state"] = seed
    return est.set_params(**extra)


@functools.cache
def _threadpools(package):
    """A threadpoolctl controller made after ``package`` (the estimator's) was imported.

    Listing the loaded thread-pool libraries costs milliseconds; the controller is made
    once per estimator package, so that the OpenMP runtime it loaded is included.
    """
    from threadpoolctl import ThreadpoolController

    importlib.import_module(package)
    return ThreadpoolController()


@contextlib.contextmanager
def limit_threads(est, n_threads):
    """Run ``est`` on at most ``n_threads`` threads within the block.

    The estimator's own ``n_jobs`` when it has one (forests, LightGBM, XGBoost), and the
    OpenMP thread count of the calling thread (threadpoolctl) for those that use OpenMP
    without a setting (scikit-learn's HistGradientBoosting). OpenMP's setting belongs
    to the thread that makes it, so threads of a pool each call this for themselves.

    Parameters
    ----------
    est : estimator
    n_threads : int
    """
    has_n_jobs = "n_jobs" in est.get_params(deep=False)
    if has_n_jobs:
        before = est.get_params(deep=False)["n_jobs"]
        est.set_params(n_jobs=int(n_threads))
    controller = _threadpools(type(est).__module__.partition(".")[0])
    try:
        with controller.limit(limits=int(n_threads), user_api="openmp"):
            yield est
    finally:
        if has_n_jobs:
            est.set_params(n_jobs=before)


def _signal_column(est):
    """Column of ``predict_proba`` holding the signal class (label 1)."""
    classes = np.asarray(getattr(est, "classes_", [0, 1]))
    hit = np.flatnonzero(classes == 1)
    return int(hit[0]) if len(hit) else len(classes) - 1


def _score(est, X, kind):
    """Per-row prediction: ``predict`` of a regressor, P(signal) of a classifier.

    Classifiers without ``predict_proba`` give the logistic function of their
    ``decision_function`` (a score in (0, 1), 1 = signal-like, in the same order).
    """
    if kind == "energy":
        return np.asarray(est.predict(X), dtype=float)
    if hasattr(est, "predict_proba"):
        return np.asarray(est.predict_proba(X), dtype=float)[:, _signal_column(est)]
    from scipy.special import expit

    return expit(np.asarray(est.decision_function(X), dtype=float).ravel())


def predict_rows(est, X, kind, n_jobs=1):
    """Per-row predictions of one estimator that do not depend on the number of threads.

    With ``n_jobs`` > 1 the rows are split into ``n_jobs`` consecutive blocks, each
    predicted by one thread of a pool with the estimator itself held to one thread. Every
    row is then computed exactly as on one thread (a forest adds its trees in the same
    order, a boosted model its iterations), so the result is bit-identical whatever
    ``n_jobs`` is: a forest's own ``n_jobs`` would add the trees in the order the threads
    finish. The estimators' prediction code releases the GIL, so the blocks run in
    parallel. BLAS is held to one thread meanwhile (its setting is process-wide).

    Parameters
    ----------
    est : fitted estimator
    X : numpy.ndarray, shape (n, n_features)
    kind : {"energy", "classifier"}
    n_jobs : int

    Returns
    -------
    numpy.ndarray of float, shape (n,)
    """
    n_jobs = max(1, min(int(n_jobs), len(X) // MIN_ROWS_PER_THREAD))
    if n_jobs == 1:
        with limit_threads(est, 1):
            return _score(est, X, kind)
    from threadpoolctl import threadpool_limits

    def block(rows):
        with _threadpools(type(est).__module__.partition(".")[0]).limit(
            limits=1, user_api="openmp"
        ):
            return _score(est, rows, kind)

    bounds = np.linspace(0, len(X), n_jobs + 1).astype(int)
    blocks = [X[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with limit_threads(est, 1), threadpool_limits(1, user_api="blas"):
        with ThreadPoolExecutor(n_jobs) as pool:
            return np.concatenate(list(pool.map(block, blocks)))


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
        ``metrics`` (filled by the caller), ``counts`` (``n_train``/``n_test`` per type)
        and ``timing`` (``fit_seconds``/``threads`` per type; :func:`save_model` leaves
        it out of the file, so the same data make the same file).
    """
    seed = cfg["seed"]
    mask = quality_mask(images, cfg["quality_cuts"])
    images = images[mask]
    test = shower_test_mask(images["obs_id"], images["event_id"], cfg["test_fraction"], seed)
    estimators, counts, timing = {}, {}, {}
    types = sorted(images["tel_type"].unique())
    for tel_type in types:
        sel = (images["tel_type"] == tel_type).to_numpy()
        train_df = _sample(images[sel & ~test], cfg["max_events_per_tel_type"], seed)
        X = derive_features(train_df, cfg["features"])
        y = _target(train_df, cfg)
        finite = np.isfinite(X).all(axis=1)
        if cfg["kind"] == "energy" and not np.isfinite(y[finite]).all():
            bad = int((~np.isfinite(y[finite])).sum())
            raise ValueError(
                f"energy model for {tel_type}: {bad} of {int(finite.sum())} training images "
                f"have no finite '{cfg['target']}' (data without a true energy can train "
                "only a classifier whose features use no energy)"
            )
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
        with limit_threads(est, n_jobs):
            est.fit(X[finite], y[finite])
        dt = time.perf_counter() - t0
        if log:
            log.info(
                "telescope type %s: fitted in %.1f s (%.0f images/s)",
                tel_type,
                dt,
                finite.sum() / max(dt, 1e-9),
            )
        estimators[tel_type] = est
        counts[tel_type] = {"n_train": int(finite.sum()), "n_test": int((sel & test).sum())}
        timing[tel_type] = {"fit_seconds": round(dt, 3), "threads": int(n_jobs)}
    return {
        "kind": cfg["kind"],
        "estimators": estimators,
        "features": list(cfg["features"]),
        "config": cfg,
        "versions": software_versions(cfg["estimator"]["class"]),
        "counts": counts,
        "timing": timing,
        "metrics": {},
    }


def predict_images(model, images, n_jobs=1):
    """Per-image prediction: log10 energy for energy models, P(signal) for classifiers.

    Images failing the model's quality cuts, with non-finite features or of a telescope
    type the model does not know get NaN. The result does not depend on ``n_jobs``
    (:func:`predict_rows`).

    Parameters
    ----------
    model : dict
    images : pandas.DataFrame
    n_jobs : int
        Threads.

    Returns
    -------
    numpy.ndarray of float
    """
    cfg = model["config"]
    out = np.full(len(images), np.nan)
    if not len(images):
        return out
    # features of every image at once (element-wise, so a row's values are those of the
    # row alone), then the rows of each telescope type
    X = derive_features(images, model["features"])
    good = quality_mask(images, cfg["quality_cuts"]) & np.isfinite(X).all(axis=1)
    codes, names = pd.factorize(images["tel_type"])
    for tel_type, est in model["estimators"].items():
        hit = np.flatnonzero(names == tel_type)
        if not len(hit):
            continue
        idx = np.flatnonzero(good & (codes == hit[0]))
        if len(idx):
            out[idx] = predict_rows(est, X[idx], model["kind"], n_jobs)
    return out


def predict_events(model, images, event_index, n_events=None, n_jobs=1):
    """Per-event prediction: images predicted, then combined with the configured weights.

    Parameters
    ----------
    model : dict
    images : pandas.DataFrame
    event_index : numpy.ndarray of int
        Event number of each image.
    n_events : int, optional
        Number of events (default ``event_index.max() + 1``).
    n_jobs : int
        Threads (the result does not depend on them).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Per event: energy in TeV (energy models) or gammaness, and images used.
    """
    per_image = predict_images(model, images, n_jobs)
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


def classifier_metrics(is_signal, score, reco_energy=None, bins=METRIC_ENERGY_BINS):
    """Event-level ROC curve and AUC, overall and per reco-energy bin.

    Parameters
    ----------
    is_signal : numpy.ndarray of bool
    score : numpy.ndarray (gammaness)
    reco_energy : numpy.ndarray (TeV), optional
        None when the events have no estimated energy (a classifier trained on data
        without an energy model): the per-energy lists are then empty and ``note`` says why.
    bins : numpy.ndarray (TeV)

    Returns
    -------
    dict
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    ok = np.isfinite(score)
    y, s = is_signal[ok].astype(int), score[ok]
    fpr, tpr, _ = roc_curve(y, s)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    aucs, ng, nh = [], [], []
    if reco_energy is not None:
        idx = np.digitize(np.asarray(reco_energy, float)[ok], bins) - 1
        for i in range(len(bins) - 1):
            sel = idx == i
            n_g, n_h = int(y[sel].sum()), int((1 - y[sel]).sum())
            aucs.append(roc_auc_score(y[sel], s[sel]) if min(n_g, n_h) >= 5 else np.nan)
            ng.append(n_g)
            nh.append(n_h)
    out = {
        "roc_auc": float(roc_auc_score(y, s)),
        "n_events": int(len(y)),
        "roc_curve": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
        "bins": {
            "reco_energy_low": bins[:-1].tolist() if reco_energy is not None else [],
            "reco_energy_high": bins[1:].tolist() if reco_energy is not None else [],
            "roc_auc": _nan_to_none(aucs),
            "n_gamma": ng,
            "n_hadron": nh,
        },
    }
    if reco_energy is None:
        out["note"] = (
            "the training tables have no reco_energy (no energy model was applied): "
            "the per-energy metrics are left empty"
        )
    return out


def feature_importances(model, images=None, n_jobs=1, max_rows=20_000):
    """Feature importances per telescope type, normalised to sum to 1.

    The estimator's own ``feature_importances_`` when it has them (impurity decrease for
    scikit-learn's trees, split counts for LightGBM, ...); otherwise, given held-out
    ``images``, permutation importances (:func:`sklearn.inspection.permutation_importance`:
    the drop of R² on the target, or of the ROC AUC, when a feature's values are shuffled;
    negative drops count as 0) on at most ``max_rows`` of them, with the model's seed.

    Parameters
    ----------
    model : dict
    images : pandas.DataFrame, optional
        Held-out images with the features and the target (``particle`` for classifiers).
    n_jobs : int
    max_rows : int

    Returns
    -------
    dict
        ``{tel_type: {feature: importance}}``; types with neither are left out
        (:func:`importance_method` says which kind each type got).
    """
    out = {}
    for tel_type, est in model["estimators"].items():
        imp = getattr(est, "feature_importances_", None)
        if imp is None and images is not None:
            imp = _permutation_importances(model, est, tel_type, images, n_jobs, max_rows)
        if imp is None:
            continue
        imp = np.clip(np.asarray(imp, dtype=float), 0, None)
        total = imp.sum()
        imp = imp / total if total > 0 else imp
        out[tel_type] = dict(zip(model["features"], map(float, imp), strict=True))
    return out


def importance_method(est):
    """``"estimator"`` (its own ``feature_importances_``) or ``"permutation"``."""
    return "estimator" if hasattr(est, "feature_importances_") else "permutation"


def _permutation_importances(model, est, tel_type, images, n_jobs, max_rows):
    from sklearn.inspection import permutation_importance

    cfg = model["config"]
    sel = quality_mask(images, cfg["quality_cuts"]) & (images["tel_type"].to_numpy() == tel_type)
    df = images[sel]
    X = derive_features(df, model["features"])
    y = _target(df, cfg)
    finite = np.isfinite(X).all(axis=1) & np.isfinite(y)
    X, y = X[finite], y[finite]
    if len(X) < 10 or (model["kind"] == "classifier" and len(np.unique(y)) < 2):
        return None
    scoring = "r2" if model["kind"] == "energy" else "roc_auc"
    with limit_threads(est, n_jobs):
        result = permutation_importance(
            est,
            X,
            y,
            scoring=scoring,
            n_repeats=3,
            random_state=cfg["seed"],
            max_samples=min(len(X), max_rows),
        )
    return result.importances_mean


def software_versions(estimator_class=None):
    """Versions of Python and the libraries a model depends on.

    Parameters
    ----------
    estimator_class : str, optional
        Import path of the estimator; its top-level package's version is added when it
        is not scikit-learn (e.g. ``lightgbm``, ``xgboost``).
    """
    import sklearn

    from . import __version__

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "showerflow": __version__,
    }
    package = (estimator_class or "sklearn").partition(".")[0]
    if package not in ("sklearn", "showerflow"):
        out[package] = getattr(importlib.import_module(package), "__version__", "unknown")
    return out


def _zero_tree_padding(obj):
    """Zero the padding bytes of every scikit-learn tree in ``obj``, in place.

    A ``Tree``'s node array is a C struct with padding that ``fit`` leaves uninitialised;
    pickled as is, two identical fits give different bytes. Walks ensembles
    (``estimators_``, lists, object arrays) down to their trees.
    """
    from sklearn.tree._tree import Tree

    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)) or (
            isinstance(item, np.ndarray) and item.dtype == object
        ):
            stack.extend(np.asarray(item, dtype=object).ravel())
            continue
        tree = getattr(item, "tree_", None)
        if isinstance(tree, Tree):
            state = tree.__getstate__()
            nodes = state["nodes"]
            clean = np.zeros(nodes.shape, nodes.dtype)
            for name in nodes.dtype.names:
                clean[name] = nodes[name]
            tree.__setstate__({**state, "nodes": clean})
        for attr in ("estimators_", "estimator_"):
            sub = getattr(item, attr, None)
            if sub is not None:
                stack.append(sub)


def save_model(model, path):
    """Save a model with joblib, atomically; the same fit gives the same bytes.

    The fit times (``timing``) are left out (they belong in the metrics JSON) and the
    trees' padding bytes zeroed, so retraining on the same tables rewrites the same file
    and nothing made from the model is redone.
    """
    from .tables import atomic_path

    model = {k: v for k, v in model.items() if k != "timing"}
    for est in model["estimators"].values():
        _zero_tree_padding(est)
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
