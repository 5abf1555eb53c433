"""Candidate estimators for both models, trained and applied the way the workflow does.

    python bench/run.py models                    # the demo production, ~25 min on 2 cores
    python bench/run.py models --fraction 0.25    # a quarter of its runs, quicker
    python bench/run.py models --candidates random_forest hist_gradient_boosting

Two samples:

- **the demo production**: ``config/config.yaml``'s simulation (the same showers per
  run, ``--fraction`` of its runs, at least 4 gamma and proton runs) made with
  ``showerflow.simulate``; runs split into roles as the config's role fractions would on
  average (first runs energy, then classification, the rest performance). Per candidate:
  energy training tables, the energy model, classification tables with that energy model
  applied, the classifier, then DL2 (``stages.run_dl2``, one thread) of every
  performance run of gammas, protons and electrons. Quality is measured on the DL2 of the
  performance runs (never trained on): ROC AUC of point-like gammas against protons,
  the gamma acceptance at 1 %, 5 % and 20 % proton acceptance, energy bias and
  resolution (``models.energy_metrics``) per true-energy bin of the point-like gammas.
- **the UCI MAGIC sample** (``../shared/data/real/magic04.data``, real MAGIC Monte Carlo,
  no energy): read as two ``event_table`` datasets of the CSV file (gammas, hadrons),
  the classifier trained through ``stages.run_train`` (features: the 10 Hillas columns),
  AUC and acceptances on its held-out showers (30 %).

Per candidate: fit time (wall, ``--train-jobs`` threads, both models: the estimators' fit alone, and the training stages end to end),
predict events/s/core (DL2 stage: events per CPU second of ``run_dl2`` on one thread,
best of ``--repeat``; and the estimators' own predict on the same feature matrices),
model size (the two joblib files).

The default is the candidate with the most DL2 events/s/core among those whose AUC (on
both samples) is within 0.5 % of the best and whose mean energy resolution (over the
true-energy bins with at least 100 gammas) is within 0.5 % of the best.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from throughput import by_hand, hand_batch, run_batch  # bench/throughput.py

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "config" / "models"
MAGIC = REPO.parent / "shared" / "data" / "real" / "magic04.data"

#: Relative tolerance on AUC and energy resolution for the choice of the default.
TOLERANCE = 0.005

#: Hadron acceptances at which the gamma acceptance is printed.
HADRON_ACCEPTANCES = (0.01, 0.05, 0.20)

#: Candidate estimators: {name: {"energy": estimator block, "classifier": estimator block,
#: "needs": module}}. The forests are the protopipe-like settings the models had before
#: this comparison (config/examples/models/random-forest-*.yaml).
CANDIDATES = {
    "random_forest": {
        "needs": "sklearn",
        "energy": {
            "class": "sklearn.ensemble.RandomForestRegressor",
            "parameters": {"n_estimators": 50, "max_depth": 20, "min_samples_leaf": 5,
                           "max_features": 1.0, "max_samples": 50000},
        },
        "classifier": {
            "class": "sklearn.ensemble.RandomForestClassifier",
            "parameters": {"n_estimators": 100, "max_depth": 20, "min_samples_leaf": 5,
                           "criterion": "gini", "class_weight": "balanced",
                           "max_samples": 50000},
        },
    },
    "hist_gradient_boosting": {
        "needs": "sklearn",
        "energy": {
            "class": "sklearn.ensemble.HistGradientBoostingRegressor",
            "parameters": {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,
                           "min_samples_leaf": 20, "early_stopping": False},
        },
        "classifier": {
            "class": "sklearn.ensemble.HistGradientBoostingClassifier",
            "parameters": {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,
                           "min_samples_leaf": 20, "early_stopping": False,
                           "class_weight": "balanced"},
        },
    },
    "lightgbm": {
        "needs": "lightgbm",
        "energy": {
            "class": "lightgbm.LGBMRegressor",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31,
                           "min_child_samples": 20, "deterministic": True,
                           "force_row_wise": True, "verbose": -1},
        },
        "classifier": {
            "class": "lightgbm.LGBMClassifier",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31,
                           "min_child_samples": 20, "class_weight": "balanced",
                           "deterministic": True, "force_row_wise": True, "verbose": -1},
        },
    },
    "xgboost": {
        "needs": "xgboost",
        "energy": {
            "class": "xgboost.XGBRegressor",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 6,
                           "tree_method": "hist"},
        },
        "classifier": {
            "class": "xgboost.XGBClassifier",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 6,
                           "tree_method": "hist"},
        },
    },
    # the same with 4096 histogram bins per feature instead of 256: the sparse
    # high-energy tail (the top 0.5 % of the intensities) then gets bins of its own;
    # prediction costs the same (the trees are as deep and as many)
    "xgboost_4096_bins": {
        "needs": "xgboost",
        "energy": {
            "class": "xgboost.XGBRegressor",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 6,
                           "tree_method": "hist", "max_bin": 4096},
        },
        "classifier": {
            "class": "xgboost.XGBClassifier",
            "parameters": {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 6,
                           "tree_method": "hist", "max_bin": 4096},
        },
    },
}  # fmt: skip

#: The MAGIC CSV as event_table datasets (docs/formats.md).
MAGIC_COLUMNS = ["fLength", "fWidth", "fSize", "fConc", "fConc1", "fAsym", "fM3Long",
                 "fM3Trans", "fAlpha", "fDist", "class"]  # fmt: skip
MAGIC_FEATURES = MAGIC_COLUMNS[:-1]


def magic_spec(particle):
    """The dataset entry reading the gammas (``g``) or hadrons (``h``) of the MAGIC CSV."""
    label = "g" if particle == "gamma" else "h"
    return {
        "format": "event_table",
        "format_options": {
            "file_type": "csv",
            "csv_columns": MAGIC_COLUMNS,
            "select": f"`class` == '{label}'",
            "obs_id": None,
            "event_id": None,
            "true_energy": None,
            "particle": particle,
            "tel_type": "MAGIC",
            "features": MAGIC_FEATURES,
        },
    }


# ----------------------------------------------------------------------------- helpers


def timed(fn):
    """(result, CPU seconds of the process, wall seconds) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def available(candidates):
    """The candidates whose library imports here, and the reasons for the others."""
    import importlib

    ok, skipped = [], {}
    for name in candidates:
        try:
            importlib.import_module(CANDIDATES[name]["needs"])
            ok.append(name)
        except ImportError as err:
            skipped[name] = str(err)
    return ok, skipped


def write_model_config(base, estimator, path, **overrides):
    """A model YAML: ``base`` (a model YAML) with another estimator block."""
    cfg = yaml.safe_load(Path(base).read_text())
    cfg["estimator"] = copy.deepcopy(estimator)
    cfg.update(overrides)
    Path(path).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def split_roles(prod):
    """Runs per role, as the config's role fractions would give them on average."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    kinds = {k: v["simulated"] for k, v in cfg["datasets"].items()}
    roles = {"energy": [], "classification": [], "performance": {}}
    for dataset, kind in kinds.items():
        files = prod[kind]
        fr = cfg["datasets"][dataset]["roles"]
        n_e = round(fr["energy"] * len(files))
        n_c = round(fr["classification"] * len(files))
        if fr["energy"] > 0:
            n_e = max(n_e, 1)
        if fr["classification"] > 0:
            n_c = max(n_c, 1)
        roles["energy"] += files[:n_e]
        roles["classification"] += files[n_e : n_e + n_c]
        if fr["performance"] > 0:
            roles["performance"][dataset] = files[n_e + n_c :]
    return roles


def acceptances(signal, background, levels=HADRON_ACCEPTANCES):
    """Signal acceptance where the background acceptance is each of ``levels``."""
    signal, background = np.asarray(signal), np.asarray(background)
    out = []
    for level in levels:
        cut = np.quantile(background, 1 - level)
        out.append(float(np.mean(signal > cut)))
    return out


def mean_resolution(metrics, min_events=100):
    """Mean of the per-bin energy resolution over bins with at least ``min_events``."""
    b = metrics["bins"]
    res = [r for r, n in zip(b["resolution"], b["n_events"], strict=True)
           if n >= min_events and r is not None]  # fmt: skip
    return float(np.mean(res)) if res else float("nan")


def choose_default(rows, tolerance=TOLERANCE):
    """The fastest candidate among those within ``tolerance`` of the best quality.

    Parameters
    ----------
    rows : dict
        ``{name: {"auc": float, "magic_auc": float or None, "resolution": float,
        "dl2_rate": float}}``
    tolerance : float
        Relative: AUC >= (1 - tolerance) x the best, resolution <= (1 + tolerance) x the
        best (smallest).

    Returns
    -------
    (str or None, list of str)
        The chosen candidate (None when no candidate is within ``tolerance`` of the best
        on every measure) and the eligible ones.
    """
    best_auc = max(r["auc"] for r in rows.values())
    best_res = min(r["resolution"] for r in rows.values())
    magic = [r["magic_auc"] for r in rows.values() if r.get("magic_auc") is not None]
    best_magic = max(magic) if magic else None
    eligible = []
    for name, r in rows.items():
        ok = r["auc"] >= (1 - tolerance) * best_auc
        ok &= r["resolution"] <= (1 + tolerance) * best_res
        if best_magic is not None and r.get("magic_auc") is not None:
            ok &= r["magic_auc"] >= (1 - tolerance) * best_magic
        if ok:
            eligible.append(name)
    if not eligible:
        return None, eligible
    return max(eligible, key=lambda n: rows[n]["dl2_rate"]), eligible


def predict_floor(model, images):
    """The estimators' own prediction on the stage's feature matrices (one thread)."""
    from showerflow import models as m

    mask = m.quality_mask(images, model["config"]["quality_cuts"])
    for tel_type, est in model["estimators"].items():
        sel = mask & (images["tel_type"].to_numpy() == tel_type)
        X = m.derive_features(images[sel], model["features"])
        X = X[np.isfinite(X).all(axis=1)]
        if len(X):
            m.predict_rows(est, X, model["kind"], n_jobs=1)


# ----------------------------------------------------------------------------- samples


def bench_toy(tmp, name, cand, roles, repeat, train_jobs):
    """Train, apply and measure one candidate on the toy production."""
    from showerflow import models, stages

    work = tmp / name
    work.mkdir()
    e_cfg = write_model_config(MODELS / "energy.yaml", cand["energy"], work / "energy.yaml")
    c_cfg = write_model_config(MODELS / "classifier.yaml", cand["classifier"],
                               work / "classifier.yaml")  # fmt: skip
    row = {}
    e_metrics, row["train_cpu"], row["train_wall"] = timed(
        lambda: stages.run_train(
            roles["energy_tables"], e_cfg, work / "e.joblib", work / "e.json", n_jobs=train_jobs
        )  # fmt: skip
    )
    tc = by_hand(stages.run_training_data, roles["classification"], work / "tc",
                 energy_model=work / "e.joblib")  # fmt: skip
    c_metrics, c_cpu, c_wall = timed(
        lambda: stages.run_train(
            tc, c_cfg, work / "c.joblib", work / "c.json", n_jobs=train_jobs
        )  # fmt: skip
    )
    row["train_cpu"] += c_cpu
    row["train_wall"] += c_wall
    # the estimators' fit alone (wall seconds, summed over telescope types and models)
    row["fit_wall"] = sum(
        c["fit_seconds"] for m in (e_metrics, c_metrics) for c in m["per_tel_type"].values()
    )
    row["size_mb"] = sum(os.path.getsize(work / f) for f in ("e.joblib", "c.joblib")) / 2**20
    perf = [f for files in roles["performance"].values() for f in files]
    best_cpu = np.inf
    rec = hand_batch(perf, work / "dl2")  # outside the timing: it checksums the files
    for _ in range(repeat):
        shutil.rmtree(work / "dl2", ignore_errors=True)
        _, cpu, _wall = timed(
            lambda: run_batch(
                stages.run_dl2,
                rec,
                work / "dl2",
                energy=work / "e.joblib",
                classifier=work / "c.joblib",
            )  # fmt: skip
        )
        best_cpu = min(best_cpu, cpu)
    dl2 = {}
    for file in perf:
        ds = next(d for d, files in roles["performance"].items() if file in files)
        dl2.setdefault(ds, []).append(pd.read_parquet(rec["outputs"][str(file)]))
    dl2 = {k: pd.concat(v, ignore_index=True) for k, v in dl2.items()}
    n_events = sum(len(v) for v in dl2.values())
    row["dl2_events"], row["dl2_cpu"] = n_events, best_cpu
    row["dl2_rate"] = n_events / best_cpu
    # the models' own predict on the same images (the DL2 images with their reco_energy)
    e_model, c_model = models.load_model(work / "e.joblib"), models.load_model(work / "c.joblib")
    images = pd.concat([stages.training_table(f, e_model) for f in perf], ignore_index=True)
    _, p_cpu, _ = timed(lambda: (predict_floor(e_model, images), predict_floor(c_model, images)))
    row["predict_rate"] = n_events / p_cpu
    g, p = dl2["gamma"], dl2["proton"]
    gs, ps = g["gammaness"].to_numpy(), p["gammaness"].to_numpy()
    gs, ps = gs[np.isfinite(gs)], ps[np.isfinite(ps)]
    from sklearn.metrics import roc_auc_score

    row["auc"] = float(roc_auc_score(np.r_[np.ones(len(gs)), np.zeros(len(ps))], np.r_[gs, ps]))
    row["acceptance"] = acceptances(gs, ps)
    row["energy"] = models.energy_metrics(g["true_energy"].to_numpy(), g["reco_energy"].to_numpy())
    row["resolution"] = mean_resolution(row["energy"])
    row["n_gamma"], row["n_proton"] = len(gs), len(ps)
    return row


def magic_tables(tmp):
    """Training tables of the MAGIC gammas and hadrons (one per class)."""
    from showerflow import stages

    out = []
    for particle in ("gamma", "proton"):
        folder = tmp / f"magic-{particle}"
        batch = stages.batch_of_files([str(MAGIC)], str(folder), "name", spec=magic_spec(particle))
        out += run_batch(stages.run_training_data, batch, folder, spec=magic_spec(particle))
    return out


def bench_magic(tmp, name, cand, tables, train_jobs):
    """Train and measure one candidate's classifier on the MAGIC sample."""
    from showerflow import models, stages

    work = tmp / f"magic-{name}"
    work.mkdir()
    cfg_path = write_model_config(
        REPO / "config" / "examples" / "models" / "magic-classifier.yaml",
        cand["classifier"],
        work / "magic.yaml",
    )
    metrics, _, _ = timed(
        lambda: stages.run_train(
            tables, cfg_path, work / "m.joblib", work / "m.json", n_jobs=train_jobs
        )  # fmt: skip
    )
    fit_wall = sum(c["fit_seconds"] for c in metrics["per_tel_type"].values())
    model = models.load_model(work / "m.joblib")
    cfg = model["config"]
    images = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    codes = np.arange(len(images))  # one image per event
    score, p_cpu, _ = timed(lambda: models.predict_events(model, images, codes)[0])
    test = models.shower_test_mask(images["obs_id"], images["event_id"], cfg["test_fraction"],
                                   cfg["seed"])  # fmt: skip
    is_g = (images["particle"] == "gamma").to_numpy()
    return {
        "auc": metrics["roc_auc"],
        "acceptance": acceptances(score[test & is_g], score[test & ~is_g]),
        "fit_wall": fit_wall,
        "predict_rate": len(images) / p_cpu,
        "size_mb": os.path.getsize(work / "m.joblib") / 2**20,
        "n_test": int(test.sum()),
    }


# ----------------------------------------------------------------------------- command


def _acc(values):
    return " ".join(f"{v:5.3f}" for v in values)


def report(rows, magic, skipped, prod, roles, args):
    from run import machine

    print(f"\nmachine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    runs = ", ".join(f"{k} {len(v)}" for k, v in prod.items())
    perf = ", ".join(f"{k} {len(v)}" for k, v in roles["performance"].items())
    print(f"toy production: runs {runs} ({args.fraction:g} of the demo's runs); training on "
          f"{len(roles['energy'])} + {len(roles['classification'])} runs, DL2 of performance "
          f"runs {perf}; fit on {args.train_jobs} threads, DL2 on 1, best of {args.repeat}")  # fmt: skip
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    any_row = next(iter(rows.values()))
    print(f"\n== toy: DL2 of the performance runs ({any_row['n_gamma']} gammas, "
          f"{any_row['n_proton']} protons with a gammaness) ==")  # fmt: skip
    print(f"{'model':<24} {'AUC':>6} {'g-acc @ h 1%  5% 20%':>20} {'E res':>6} {'fit s':>7} "
          f"{'train s':>7} {'DL2 ev/s/core':>13} {'predict ev/s/core':>17} {'size MB':>8}")  # fmt: skip
    for name, r in rows.items():
        print(f"{name:<24} {r['auc']:6.4f} {_acc(r['acceptance']):>20} {r['resolution']:6.4f} "
              f"{r['fit_wall']:7.1f} {r['train_wall']:7.1f} {r['dl2_rate']:13.0f} "
              f"{r['predict_rate']:17.0f} {r['size_mb']:8.1f}")  # fmt: skip
    print(
        "fit s: the estimators' fit alone (both models, every telescope type); train s: "
        "the training stages end to end (read, fit, test metrics, importances); wall"
    )
    print(
        "\nenergy resolution / bias per true-energy bin (point-like gammas of the performance runs)"
    )
    bins = any_row["energy"]["bins"]
    print(f"{'E_true [TeV]':>15} {'events':>7} " + " ".join(f"{n[:16]:>16}" for n in rows))
    for i, (lo, hi) in enumerate(zip(bins["true_energy_low"], bins["true_energy_high"],
                                     strict=True)):  # fmt: skip
        if bins["n_events"][i] < 10:
            continue
        cells = []
        for r in rows.values():
            res, bias = r["energy"]["bins"]["resolution"][i], r["energy"]["bins"]["bias"][i]
            cells.append(f"{res:7.3f} /{bias:+7.3f}" if res is not None else f"{'-':>16}")
        print(
            f"{lo:6.3f}-{hi:<8.3f} {bins['n_events'][i]:7d} " + " ".join(f"{c:>16}" for c in cells)
        )
    if magic:
        m0 = next(iter(magic.values()))
        print(f"\n== UCI MAGIC sample (real MAGIC simulations, 19,020 images, no energy): "
              f"{m0['n_test']} held-out ==")  # fmt: skip
        print(f"{'model':<24} {'AUC':>6} {'g-acc @ h 1%  5% 20%':>20} {'fit s':>7} "
              f"{'predict ev/s/core':>17} {'size MB':>8}")  # fmt: skip
        for name, r in magic.items():
            print(f"{name:<24} {r['auc']:6.4f} {_acc(r['acceptance']):>20} {r['fit_wall']:7.1f} "
                  f"{r['predict_rate']:17.0f} {r['size_mb']:8.2f}")  # fmt: skip
    summary = {
        n: {"auc": r["auc"], "resolution": r["resolution"], "dl2_rate": r["dl2_rate"],
            "magic_auc": magic.get(n, {}).get("auc")}
        for n, r in rows.items()
    }  # fmt: skip
    choice, eligible = choose_default(summary)
    print(f"\nwithin {TOLERANCE:.1%} of the best AUC (both samples) and energy resolution: "
          f"{', '.join(eligible) or 'none'}")  # fmt: skip
    if choice is None:
        best_auc = max(rows, key=lambda n: rows[n]["auc"])
        best_res = min(rows, key=lambda n: rows[n]["resolution"])
        print(f"no candidate is: the best AUC is {best_auc}'s, the best energy resolution "
              f"{best_res}'s")  # fmt: skip
        return None
    print(f"fastest of them (DL2 events/s/core): {choice}")
    if "random_forest" in rows:
        rf = rows["random_forest"]
        c = rows[choice]
        print(f"{choice} vs random_forest: DL2 events/s/core x{c['dl2_rate'] / rf['dl2_rate']:.2f} "
              f"(target >= 3), AUC {c['auc']:.4f} vs {rf['auc']:.4f} "
              f"({(c['auc'] / rf['auc'] - 1):+.2%}; target >= -0.5 %), energy resolution "
              f"{c['resolution']:.4f} vs {rf['resolution']:.4f} "
              f"({(c['resolution'] / rf['resolution'] - 1):+.2%}; target no worse)")  # fmt: skip
    return choice


def bench_models(args):
    sys.path.insert(0, str(Path(__file__).parent))
    from throughput import make_production

    from showerflow import stages
    from showerflow.logs import setup_logging

    setup_logging(level=30)
    names, skipped = available(args.candidates)
    tmp = Path(tempfile.mkdtemp(prefix="showerflow-models-"))
    try:
        t0 = time.perf_counter()
        print(f"simulating {args.fraction:g} of the demo's runs ...", flush=True)
        prod = make_production(tmp / "dl1", args.fraction)
        roles = split_roles(prod)
        roles["energy_tables"] = by_hand(stages.run_training_data, roles["energy"], tmp / "te")
        rows, magic = {}, {}
        tables = magic_tables(tmp) if MAGIC.exists() and not args.skip_magic else []
        for name in names:
            print(f"{name} ({time.perf_counter() - t0:.0f} s) ...", flush=True)
            rows[name] = bench_toy(tmp, name, CANDIDATES[name], roles, args.repeat,
                                   args.train_jobs)  # fmt: skip
            if tables:
                magic[name] = bench_magic(tmp, name, CANDIDATES[name], tables, args.train_jobs)
        choice = report(rows, magic, skipped, prod, roles, args)
        print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")
        return choice
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_parser(sub):
    """The ``models`` subcommand of bench/run.py."""
    s = sub.add_parser("models", help="candidate estimators: quality, fit and predict speed")
    s.add_argument("--fraction", type=float, default=1.0, help="of the demo's runs")
    s.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    s.add_argument("--repeat", type=int, default=2, help="DL2 timings, best of")
    s.add_argument("--train-jobs", type=int, default=2, help="threads of the fits")
    s.add_argument("--skip-magic", action="store_true")
    s.set_defaults(func=bench_models)
    return s
