"""Throughput, memory and threads of the stages, each against a floor measured in the same run.

    python bench/run.py throughput                 # ~5 min on 2 cores
    python bench/run.py throughput --fraction 0.1  # a smaller production, quicker

A production like the demo's (``config/config.yaml``: the same showers per run, a
``--fraction`` of its runs) is simulated with showerflow's simulator; models are trained
on a few of its files; then, on the other files:

``throughput`` — events per second per core (events / CPU seconds of the process, best of
``--repeat``) of each stage, divided by its floor for the same work:

- training data: the stage (``stages.run_training_data``) vs uproot reading the same
  columns + pyarrow writing a Parquet table of the same rows;
- DL2: the stage (``stages.run_dl2``, one thread) vs the same read and write + the
  estimators' own ``predict`` / ``predict_proba`` on the same feature matrices (one thread);
- performance: the stage end to end (``performance.run_performance`` on the per-file DL2
  outputs + ``write_outputs``) vs pyirf's calls alone (cut optimisation, IRFs,
  sensitivity, benchmarks) on event tables already in memory.

Targets: stage / floor ratio <= 1.15 for DL2 (issue 16), <= 1.3 for the others.

``memory`` — peak RSS (ru_maxrss) of one subprocess per measurement: DL2 of one file and
of a file with 10x its events, streamed in chunks of ``--chunk-size`` events and read
whole; training with ``max_events_per_tel_type`` on training tables of N and 10 N events,
and without the maximum. The baseline is a subprocess that imports the same modules and
loads the models but does no work. Target: chunked DL2 and bounded training stay flat
(10x / 1x growth of the peak above the baseline well below 10x).

``threads`` — training time (``stages.run_train``, the classifier) and DL2 time
(``stages.run_dl2`` of the performance files) with ``n_jobs`` 1 and 2; the speed-up is
t(1) / t(2). DL2 predicts rows in blocks, one thread each, so its outputs with 1 and 2
threads are compared byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import uproot
import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "config" / "models"

#: Stage / floor targets (default 1.3).
TARGETS = {"DL2": 1.15}


# ----------------------------------------------------------------------------- helpers


def timed(fn, repeat):
    """Best CPU seconds (every thread counted) and best wall seconds of ``repeat`` calls."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def demo_kinds():
    """Runs and showers per run of the demo (config/config.yaml)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return cfg["simulation"]["kinds"], cfg["simulation"]["seed"]


def make_production(folder, fraction):
    """Simulate a fraction of the demo's runs (at least 4 gamma and proton runs, 2 of the
    others: the first are for training): {kind: [paths]}."""
    from showerflow.simulate import simulate_production

    kinds, seed = demo_kinds()
    out = {}
    for kind, spec in kinds.items():
        n = max(4 if kind in ("gamma", "proton") else 2, round(fraction * spec["n_runs"]))
        out[kind] = [
            str(p) for p in simulate_production(folder / kind, kind, n, spec["n_showers"], seed)
        ]
    return out


def train_models(tmp, prod):
    """Energy model and classifier on the first files of each kind (as the roles would)."""
    from showerflow import stages

    g, d, p = prod["gamma"], prod["gamma_diffuse"], prod["proton"]
    stages.run_training_data([g[0], d[0]], tmp / "te", tmp / "te.json")
    stages.run_train([tmp / "te.json"], MODELS / "energy.yaml", tmp / "e.joblib", tmp / "e.json")
    stages.run_training_data(
        [g[1], d[1], p[0], p[1]], tmp / "tc", tmp / "tc.json", energy_model=tmp / "e.joblib"
    )
    stages.run_train(
        [tmp / "tc.json"], MODELS / "classifier.yaml", tmp / "c.joblib", tmp / "c.json"
    )
    return tmp / "e.joblib", tmp / "c.joblib"


def read_floor(files, columns):
    """uproot reading ``{tree: columns}`` of every file."""
    for f in files:
        with uproot.open(f) as h:
            for tree, cols in columns.items():
                h[tree].arrays(cols, library="np")


def write_floor(df, path):
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def predict_floor(model, images):
    """The estimators' own predict on the feature matrices the stage builds (one thread)."""
    from showerflow import models as m

    mask = m.quality_mask(images, model["config"]["quality_cuts"])
    for tel_type, est in model["estimators"].items():
        sel = mask & (images["tel_type"].to_numpy() == tel_type)
        X = m.derive_features(images[sel], model["features"])
        X = X[np.isfinite(X).all(axis=1)]
        if len(X):  # the estimator's predict / predict_proba, held to one thread
            m.predict_rows(est, X, model["kind"], n_jobs=1)


def pyirf_floor(events, infos, cfg):
    """pyirf's calls of the performance stage, on event tables already in memory.

    The same calls the stage makes, in the same number: event preparation (theta, FoV
    offsets, simulated power law, event weights), cut optimisation, sensitivity (all
    background and per particle), IRFs and their GADF HDUs, benchmarks.

    Parameters
    ----------
    events : dict
        Particle -> QTable (the stage's prepared events: their columns are the inputs).
    infos : dict
        Particle -> SimulatedEventsInfo.
    cfg : dict
        Validated performance config.
    """
    import operator

    import astropy.units as u
    from astropy.table import vstack
    from pyirf.benchmarks import angular_resolution, energy_bias_resolution
    from pyirf.binning import create_histogram_table
    from pyirf.cut_optimization import optimize_gh_cut
    from pyirf.cuts import calculate_percentile_cut, evaluate_binned_cut
    from pyirf.io import (
        create_aeff2d_hdu,
        create_background_2d_hdu,
        create_energy_dispersion_hdu,
        create_psf_table_hdu,
        create_rad_max_hdu,
    )
    from pyirf.irf import background_2d, effective_area_per_energy, energy_dispersion, psf_table
    from pyirf.sensitivity import calculate_sensitivity, estimate_background
    from pyirf.spectral import PowerLaw, calculate_event_weights
    from pyirf.utils import calculate_source_fov_offset, calculate_theta

    from showerflow.performance import gh_cut_efficiencies, make_bins, resolve_spectrum

    obs_time = cfg["observation_time"] * u.h
    for particle, ev in events.items():
        info = infos[particle]
        sim = PowerLaw.from_simulation(info, obstime=obs_time)
        target = resolve_spectrum(cfg["spectra"][particle])
        if (info.viewcone_max - info.viewcone_min).to_value(u.deg) > 0:
            sim = sim.integrate_cone(info.viewcone_min, info.viewcone_max)
            target = sim  # the cone integral of the target costs as much as this one
        calculate_event_weights(ev["true_energy"], target, sim)
        calculate_theta(ev, assumed_source_az=ev["pointing_az"],
                        assumed_source_alt=ev["pointing_alt"])  # fmt: skip
        for prefix in ("true", "reco"):
            calculate_source_fov_offset(ev, prefix=prefix)
    kept = [c for c in events["gamma"].colnames if c != "particle_type"]
    gammas = events["gamma"][kept]
    background = vstack([events[p] for p in events if p != "gamma"], metadata_conflicts="silent")
    kinds = np.asarray(background["particle_type"])
    background = background[kept]

    bins = make_bins(cfg)
    reco, true, fov = bins["reco_energy"], bins["true_energy"], bins["fov_offset"]
    c = cfg["cuts"]
    ring = {"fov_offset_min": cfg["fov_offset_min"] * u.deg}
    ring["fov_offset_max"] = cfg["fov_offset_max"] * u.deg

    def theta_cut(mask):
        return calculate_percentile_cut(
            gammas["theta"][mask],
            gammas["reco_energy"][mask],
            bins=reco,
            percentile=c["theta_containment"],
            min_value=c["theta_min"] * u.deg,
            max_value=c["theta_max"] * u.deg,
            fill_value=c["theta_max"] * u.deg,
            min_events=c["min_events_per_bin"],
        )

    g0 = np.quantile(gammas["gh_score"], 1 - c["initial_gh_cut_efficiency"])
    theta0 = theta_cut(gammas["gh_score"] >= g0)
    _, gh_cuts = optimize_gh_cut(
        gammas,
        background,
        reco_energy_bins=reco,
        gh_cut_efficiencies=gh_cut_efficiencies(cfg),
        theta_cuts=theta0,
        op=operator.ge,
        alpha=cfg["alpha"],
        progress=False,
        **ring,
        **cfg["sensitivity"],
    )
    gh = evaluate_binned_cut(gammas["gh_score"], gammas["reco_energy"], gh_cuts, operator.ge)
    theta_cuts = theta_cut(gh)
    th = evaluate_binned_cut(gammas["theta"], gammas["reco_energy"], theta_cuts, operator.le)
    bgh = evaluate_binned_cut(
        background["gh_score"], background["reco_energy"], gh_cuts, operator.ge
    )
    signal = create_histogram_table(gammas[gh & th], reco, "reco_energy")

    def bg_hist(sel):
        return estimate_background(
            background[sel], reco_energy_bins=reco, theta_cuts=theta_cuts, alpha=cfg["alpha"],
            **ring,
        )  # fmt: skip

    calculate_sensitivity(signal, bg_hist(bgh), alpha=cfg["alpha"], **cfg["sensitivity"])
    for particle in np.unique(kinds):
        bg_hist(bgh & (kinds == particle))
    n_fov = len(fov) - 1
    for mask in (gh & th, np.ones(len(gammas), bool), gh, th):
        with np.errstate(invalid="ignore", divide="ignore"):
            aeff = effective_area_per_energy(gammas[mask], infos["gamma"], true_energy_bins=true)
        create_aeff2d_hdu(np.repeat(aeff[:, np.newaxis], n_fov, axis=1), true, fov)
        edisp = energy_dispersion(gammas[mask], true_energy_bins=true, fov_offset_bins=fov,
                                  migration_bins=bins["migration"])  # fmt: skip
        create_energy_dispersion_hdu(edisp, true_energy_bins=true,
                                     migration_bins=bins["migration"], fov_offset_bins=fov)  # fmt: skip
    t_obs = cfg["observation_time"] * u.h
    bg_fov = bins["background_fov_offset"]
    rate = background_2d(background[bgh], reco, fov_offset_bins=bg_fov, t_obs=t_obs)
    create_background_2d_hdu(rate, reco, bg_fov)
    ring_bins = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    background_2d(background[bgh], reco, ring_bins, t_obs=t_obs)
    psf = psf_table(gammas[gh], true, source_offset_bins=bins["source_offset"],
                    fov_offset_bins=fov)  # fmt: skip
    create_psf_table_hdu(psf, true, bins["source_offset"], fov)
    theta_bins = np.append(theta_cuts["low"], theta_cuts["high"][-1])
    create_rad_max_hdu(np.repeat(theta_cuts["cut"][:, np.newaxis], n_fov, axis=1), theta_bins,
                       fov)  # fmt: skip
    angular_resolution(gammas[gh], true, energy_type="true")
    energy_bias_resolution(gammas[gh & th], true, energy_type="true")


# ----------------------------------------------------------------------------- throughput


def bench_stage_throughput(tmp, prod, e_path, c_path, repeat):
    """Rows (stage, events, stage cpu, stage wall, floor cpu, floor parts)."""
    import astropy.units as u

    from showerflow import performance as perf
    from showerflow import stages
    from showerflow.contracts import EVENT_COLUMNS, IMAGE_COLUMNS
    from showerflow.models import load_model

    rows = []
    # training data (classification, the energy model applied: as the workflow's)
    batch = prod["gamma_diffuse"][1:] + prod["proton"][2:4]
    n = sum(uproot.open(f)["events"].num_entries for f in batch)
    s_cpu, s_wall = timed(
        lambda: stages.run_training_data(batch, tmp / "t", tmp / "t.json", energy_model=e_path),
        repeat,
    )
    table = pd.concat([pd.read_parquet(p) for p in stages.resolve_outputs([tmp / "t.json"])])
    cols = {"simulation": None, "events": list(EVENT_COLUMNS), "images": list(IMAGE_COLUMNS)}
    e_model, c_model = load_model(e_path), load_model(c_path)
    images = pd.concat([stages.training_table(f) for f in batch], ignore_index=True)
    r_cpu, _ = timed(lambda: read_floor(batch, cols), repeat)
    w_cpu, _ = timed(lambda: write_floor(table, tmp / "floor.parquet"), repeat)
    p_cpu, _ = timed(lambda: predict_floor(e_model, images), repeat)
    rows.append(("training data", n, s_cpu, s_wall, {"read": r_cpu, "write": w_cpu,
                                                      "predict": p_cpu}))  # fmt: skip

    # DL2 of every performance file
    perf_files = {k: prod[k][2:] if k != "electron" else prod[k] for k in
                  ("gamma", "proton", "electron")}  # fmt: skip
    batch = [f for files in perf_files.values() for f in files]
    n = sum(uproot.open(f)["events"].num_entries for f in batch)
    s_cpu, s_wall = timed(
        lambda: stages.run_dl2(batch, e_path, c_path, tmp / "dl2", tmp / "dl2.json"), repeat
    )
    dl2 = pd.concat([pd.read_parquet(p) for p in stages.resolve_outputs([tmp / "dl2.json"])])
    # the images with their event's reco_energy (the classifier's input), made beforehand
    images = pd.concat([stages.training_table(f, e_model) for f in batch], ignore_index=True)
    r_cpu, _ = timed(lambda: read_floor(batch, cols), repeat)
    w_cpu, _ = timed(lambda: write_floor(dl2, tmp / "floor.parquet"), repeat)
    p_cpu, _ = timed(
        lambda: (predict_floor(e_model, images), predict_floor(c_model, images)), repeat
    )
    rows.append(("DL2", n, s_cpu, s_wall, {"read": r_cpu, "write": w_cpu, "predict": p_cpu}))

    # performance: end to end on the per-file DL2 outputs vs pyirf on tables in memory
    outputs = {}
    for rec in json.loads((tmp / "dl2.json").read_text())["outputs"]:
        kind = next(k for k, files in perf_files.items() if rec["file"] in files)
        outputs.setdefault(kind, []).append(rec["output"])
    cfg = perf.load_performance_config(REPO / "config" / "performance.yaml")

    def stage():
        result = perf.run_performance(outputs, cfg)
        perf.write_outputs(
            result,
            irf=tmp / "irf.fits.gz",
            sensitivity=tmp / "s.ecsv",
            angular_resolution=tmp / "a.ecsv",
            energy_bias_resolution=tmp / "b.ecsv",
        )

    s_cpu, s_wall = timed(stage, repeat)
    cfg = perf.validate_performance_config(cfg)
    events, infos = {}, {}
    obs_time = cfg["observation_time"] * u.h
    for particle, paths in outputs.items():
        df, records, label = perf.read_dl2(paths, particle)
        df = perf.apply_quality_cuts(df, cfg["quality_cuts"])
        infos[particle] = perf.simulation_info(records, label)
        events[particle] = perf.prepare_events(
            df, records, cfg["spectra"][particle], obs_time, label
        )
    n = sum(len(pd.read_parquet(p, columns=["obs_id"])) for ps in outputs.values() for p in ps)
    f_cpu, _ = timed(lambda: pyirf_floor(events, infos, cfg), repeat)
    rows.append(("performance", n, s_cpu, s_wall, {"pyirf": f_cpu}))
    return rows


# ----------------------------------------------------------------------------- memory


def _rss_child(what, args):
    """Run one measurement in this (child) process; print its peak RSS in MB."""
    from showerflow import stages
    from showerflow.models import load_model

    if what == "baseline-dl2":
        load_model(args["energy"]), load_model(args["classifier"])
        stages.dl2_table  # noqa: B018 - imports only
    elif what == "dl2":
        stages.run_dl2(
            [args["file"]],
            args["energy"],
            args["classifier"],
            args["out"],
            args["out"] + ".json",
            chunk_size=args["chunk_size"],
        )
    elif what == "merge":
        stages.run_merge([args["manifest"]], args["out"])
    elif what == "baseline-merge":
        stages.run_merge  # noqa: B018 - imports only
    elif what == "baseline-train":
        from showerflow import models

        models.load_model_config(args["config"])
    elif what == "train":
        cfg_path = Path(args["out"]) / "model.yaml"
        cfg = yaml.safe_load(Path(args["config"]).read_text())
        cfg["max_events_per_tel_type"] = args["max_events"]
        cfg_path.parent.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(yaml.safe_dump(cfg))
        stages.run_train(
            args["tables"], cfg_path, args["out"] + "/m.joblib", args["out"] + "/m.json"
        )
    else:
        raise ValueError(what)
    # VmHWM: the peak of this process's own memory (ru_maxrss would carry the parent's
    # peak across fork and exec)
    hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"max_rss_mb": int(hwm) / 1024}))


def peak_rss(what, **args):
    """Peak RSS (MB) of a fresh Python process doing one measurement."""
    out = subprocess.run(
        [sys.executable, __file__, "_rss", what, json.dumps(args, default=str)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["max_rss_mb"]


def bench_memory(tmp, e_path, c_path, chunk_size, fraction):
    """DL2 and training peak memory for inputs of N and 10 N events."""
    from showerflow import stages
    from showerflow.simulate import simulate_production

    kinds, seed = demo_kinds()
    showers = kinds["gamma"]["n_showers"]
    one = simulate_production(tmp / "m1", "gamma", 1, showers, seed + 1, first_obs_id=900)[0]
    ten = simulate_production(tmp / "m10", "gamma", 1, 10 * showers, seed + 1, first_obs_id=901)
    files = {"1x": str(one), "10x": str(ten[0])}
    n_ev = {k: uproot.open(f)["events"].num_entries for k, f in files.items()}
    rows = []
    base = peak_rss("baseline-dl2", energy=e_path, classifier=c_path)
    for label, cs in ((f"chunks of {chunk_size}", chunk_size), ("whole file", None)):
        peaks = {
            k: peak_rss(
                "dl2",
                file=f,
                energy=e_path,
                classifier=c_path,
                out=str(tmp / f"o{k}{cs}"),
                chunk_size=cs,
            )  # fmt: skip
            for k, f in files.items()
        }
        rows.append((f"DL2, {label}", n_ev, base, peaks))
    # merge of those DL2 outputs (the chunked ones): streamed row group by row group
    base = peak_rss("baseline-merge")
    peaks = {
        k: peak_rss(
            "merge",
            manifest=str(tmp / f"o{k}{chunk_size}.json"),
            out=str(tmp / f"merged{k}.parquet"),
        )  # fmt: skip
        for k in files
    }
    rows.append(("DL2 merge", n_ev, base, peaks))
    # training tables of N and 10 N events: the energy role's gamma runs
    d = simulate_production(tmp / "td", "gamma_diffuse", 10, kinds["gamma_diffuse"]["n_showers"],
                            seed + 2, first_obs_id=950)  # fmt: skip
    stages.run_training_data(d, tmp / "tt", tmp / "tt.json")
    tables = stages.resolve_outputs([tmp / "tt.json"])
    inputs = {"1x": tables[:1], "10x": tables}
    n_tr = {k: sum(pq.ParquetFile(t).metadata.num_rows for t in v) for k, v in inputs.items()}
    cfg = str(MODELS / "energy.yaml")
    limit = max(1000, n_tr["1x"] // 8)  # showers per telescope type: below the 1x input
    base = peak_rss("baseline-train", config=cfg)
    for label, m in ((f"training, max {limit} showers/type", limit), ("training, no max", None)):
        peaks = {
            k: peak_rss("train", tables=t, config=cfg, max_events=m, out=str(tmp / f"tr{k}{m}"))
            for k, t in inputs.items()
        }
        rows.append((label, {k: f"{v} img" for k, v in n_tr.items()}, base, peaks))
    return rows


# ----------------------------------------------------------------------------- threads


def bench_threads(tmp, repeat, prod=None, e_path=None, c_path=None):
    """Classifier training with 1 and 2 threads (the fit alone, and the stage end to end),
    and DL2 of the performance files with 1 and 2 prediction threads.

    Returns
    -------
    dict
        ``{"fit": {n: (cpu, wall)}, "stage": {n: (cpu, wall)}, "dl2": {n: (cpu, wall)},
        "dl2_identical": bool, "dl2_events": int}``
    """
    from showerflow import models, stages

    cfg = models.load_model_config(MODELS / "classifier.yaml")
    tables = stages.resolve_outputs([tmp / "tc.json"])
    images = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    out = {"fit": {}, "stage": {}, "dl2": {}}
    for n in (1, 2):
        out["fit"][n] = timed(lambda n=n: models.train(images, cfg, n_jobs=n), repeat)
        out["stage"][n] = timed(
            lambda n=n: stages.run_train(
                [tmp / "tc.json"],
                MODELS / "classifier.yaml",
                tmp / f"c{n}.joblib",
                tmp / f"c{n}.json",
                n_jobs=n,
            ),  # fmt: skip
            repeat,
        )
    # DL2 of the performance files with 1 and 2 prediction threads: time, and the bytes
    batch = prod["gamma"][2:] + prod["proton"][2:]
    for n in (1, 2):
        out["dl2"][n] = timed(
            lambda n=n: stages.run_dl2(batch, e_path, c_path, tmp / f"dl2-{n}",
                                       tmp / f"dl2-{n}.json", n_jobs=n),
            repeat,
        )  # fmt: skip
    same = all(
        Path(a).read_bytes() == Path(b).read_bytes()
        for a, b in zip(
            sorted(stages.resolve_outputs([tmp / "dl2-1.json"])),
            sorted(stages.resolve_outputs([tmp / "dl2-2.json"])),
            strict=True,
        )
    )
    out["dl2_identical"] = same
    out["dl2_events"] = sum(uproot.open(f)["events"].num_entries for f in batch)
    return out


# ----------------------------------------------------------------------------- command


def bench_throughput(args):
    from run import machine

    from showerflow.logs import setup_logging

    setup_logging(level=30)  # warnings only: the stages' progress lines would drown the table
    tmp = Path(tempfile.mkdtemp(prefix="showerflow-throughput-"))
    worst = 0.0
    try:
        t0 = time.perf_counter()
        print(f"simulating {args.fraction:.0%} of the demo's runs ...", flush=True)
        prod = make_production(tmp / "dl1", args.fraction)
        sizes = ", ".join(f"{k} {len(v)}" for k, v in prod.items())
        print(f"training models ({time.perf_counter() - t0:.0f} s) ...", flush=True)
        e_path, c_path = train_models(tmp, prod)
        print(f"\nmachine: {machine()}")
        print(f"production: runs {sizes} (demo showers per run); best of {args.repeat}")
        print("\n== throughput: events/s/core (events per CPU second) vs floor ==")
        print(f"{'stage':<14} {'events':>8} {'ev/s/core':>10} {'floor':>10} {'ratio':>6}  "
              "target   stage cpu/wall s   floor cpu s")  # fmt: skip
        for name, n, s_cpu, s_wall, parts in bench_stage_throughput(
            tmp, prod, e_path, c_path, args.repeat
        ):
            f_cpu = sum(parts.values())
            ratio = s_cpu / f_cpu
            target = TARGETS.get(name, 1.3)
            worst = max(worst, ratio)
            detail = " + ".join(f"{k} {v:.2f}" for k, v in parts.items())
            print(
                f"{name:<14} {n:8d} {n / s_cpu:10.0f} {n / f_cpu:10.0f} {ratio:6.2f}  "
                f"<= {target:<4} {'ok' if ratio <= target else 'MISSED'}  "
                f"{s_cpu:6.2f} / {s_wall:5.2f}   "
                f"{f_cpu:.2f} ({detail})"
            )
        if not args.skip_memory:
            print("\n== memory: peak RSS (MB) of one process, N vs 10 N events "
                  "(baseline: the same imports and models, no work) ==")  # fmt: skip
            for label, n, base, peaks in bench_memory(
                tmp, e_path, c_path, args.chunk_size, args.fraction
            ):
                g1, g10 = peaks["1x"] - base, peaks["10x"] - base
                print(
                    f"{label:<38} {n['1x']!s:>10}: {peaks['1x']:6.0f}  {n['10x']!s:>11}: "
                    f"{peaks['10x']:6.0f}  baseline {base:4.0f}  growth above baseline "
                    f"10x/1x = {g10 / max(g1, 1):5.1f}"
                )
        load = os.getloadavg()[0]
        t = bench_threads(tmp, args.repeat, prod, e_path, c_path)
        print("\n== threads: classifier training and DL2, n_jobs = the rule's threads ==")
        for what, label in (
            ("fit", "fit alone"),
            ("stage", "train stage (read, fit, metrics)"),
            ("dl2", f"DL2 stage ({t['dl2_events']} events)"),
        ):
            (_, w1), (c2, w2) = t[what][1], t[what][2]
            print(
                f"{label:<34} 1 thread {w1:6.2f} s, 2 threads {w2:6.2f} s (CPU/wall "
                f"{c2 / w2:.2f}): speed-up {w1 / w2:.2f} (ideal 2.00)"
            )
        print(
            f"DL2 outputs with 1 and 2 threads byte-identical: {t['dl2_identical']}. "
            f"Load average before: {load:.1f} on {os.cpu_count()} cores (other work shares "
            "them)."
        )
        print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")
        return worst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_parser(sub):
    """The ``throughput`` subcommand of bench/run.py."""
    s = sub.add_parser("throughput", help="events/s/core, memory and threads vs floors")
    s.add_argument("--fraction", type=float, default=0.25, help="of the demo's runs")
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--chunk-size", type=int, default=5000, help="DL2 chunk for the memory test")
    s.add_argument("--skip-memory", action="store_true")
    s.set_defaults(func=bench_throughput)
    return s


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "_rss":
    _rss_child(sys.argv[2], json.loads(sys.argv[3]))
