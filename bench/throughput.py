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
- performance: the stage end to end as its two rules run it (``run_optimize`` + the cuts
  file, then ``run_performance`` with it + ``write_outputs``: full-enclosure and
  point-like IRFs in 5 FoV-offset bins, from on-axis and diffuse gammas) vs pyirf's calls
  alone (the same calls, on event tables already in memory);
- perf. baseline: the point-like-only performance stage of commit ``BASELINE_COMMIT``
  (before the FoV-offset IRFs; loaded from git) on the same on-axis gammas and
  background: the new stage may cost at most 1.5 times as much (CPU).

Targets: stage / floor ratio <= 1.15 for DL2 (issue 16), <= 1.3 for the others;
performance / baseline <= 1.5.

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


def hand_batch(files, folder):
    """A batch record of ``files`` with its outputs in ``folder`` (as ``showerflow dl2``
    makes one: each file inspected for its UUID and checksum, outside any timing)."""
    from showerflow import stages

    return stages.batch_of_files([str(f) for f in files], str(folder))


def run_batch(run, batch, folder, **kwargs):
    """Run a batch stage (``stages.run_training_data`` / ``run_dl2``) on a batch record.

    Returns
    -------
    list of str
        The per-file outputs, in the order of the batch's files.
    """
    from showerflow import stages

    if run is stages.run_dl2:
        run(batch, kwargs.pop("energy"), kwargs.pop("classifier"), str(folder), **kwargs)
    else:
        run(batch, str(folder), **kwargs)
    return [batch["outputs"][f] for f in batch["files"]]


def by_hand(run, files, folder, **kwargs):
    """:func:`run_batch` on a new :func:`hand_batch` of ``files``."""
    return run_batch(run, hand_batch(files, folder), folder, **kwargs)


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
    """Simulate a fraction of the demo's runs (at least 4 gamma and proton runs, 3 diffuse
    gamma and 2 electron runs: the first two of each are for training): {kind: [paths]}."""
    from showerflow.simulate import simulate_production

    kinds, seed = demo_kinds()
    out = {}
    for kind, spec in kinds.items():
        least = {"gamma": 4, "proton": 4, "gamma_diffuse": 3}.get(kind, 2)
        n = max(least, round(fraction * spec["n_runs"]))
        out[kind] = [
            str(p) for p in simulate_production(folder / kind, kind, n, spec["n_showers"], seed)
        ]
    return out


def by_hand_outputs(files, folder):
    """The per-file outputs :func:`by_hand` wrote for ``files`` into ``folder``."""
    from showerflow import stages

    return [stages.batch_of_files([str(f)], str(folder))["outputs"][str(f)] for f in files]


def prod_training_files(prod):
    """The classification training inputs of :func:`train_models`."""
    g, d, p = prod["gamma"], prod["gamma_diffuse"], prod["proton"]
    return [g[1], d[1], p[0], p[1]]


def train_models(tmp, prod):
    """Energy model and classifier on the first files of each kind (as the roles would)."""
    from showerflow import stages

    g, d, p = prod["gamma"], prod["gamma_diffuse"], prod["proton"]
    te = by_hand(stages.run_training_data, [g[0], d[0]], tmp / "te")
    stages.run_train(te, MODELS / "energy.yaml", tmp / "e.joblib", tmp / "e.json")
    tc = by_hand(
        stages.run_training_data,
        [g[1], d[1], p[0], p[1]],
        tmp / "tc",
        energy_model=tmp / "e.joblib",
    )
    stages.run_train(tc, MODELS / "classifier.yaml", tmp / "c.joblib", tmp / "c.json")
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


def _floor_prepare(events, infos, cfg):
    """Event preparation as both rules do it: FoV offsets, theta, weights (twice)."""
    import astropy.units as u
    from pyirf.spectral import PowerLaw, calculate_event_weights
    from pyirf.utils import calculate_source_fov_offset, calculate_theta

    from showerflow.performance import make_bins, resolve_spectrum

    fov = make_bins(cfg)["fov_offset"]
    obs_time = cfg["observation_time"] * u.h
    for sample, ev in events.items():
        for _ in range(2):  # the optimize and the performance rules each prepare the events
            info = infos[sample]
            sim = PowerLaw.from_simulation(info, obstime=obs_time)
            target = resolve_spectrum(cfg["spectra"][ev.meta["particle"]])
            for prefix in ("true", "reco"):
                calculate_source_fov_offset(ev, prefix=prefix)
            if sample == "gamma_diffuse":  # a point source in each offset bin
                off = ev["true_source_fov_offset"]
                for lo, hi in zip(fov[:-1], fov[1:], strict=True):
                    sel = (off >= lo) & (off < hi)
                    sim_bin = sim.integrate_cone(lo, hi)
                    calculate_event_weights(ev["true_energy"][sel], target, sim_bin)
            else:
                if (info.viewcone_max - info.viewcone_min).to_value(u.deg) > 0:
                    sim = sim.integrate_cone(info.viewcone_min, info.viewcone_max)
                    target = sim  # the cone integral of the target costs as much as this one
                calculate_event_weights(ev["true_energy"], target, sim)
            calculate_theta(ev, assumed_source_az=ev["true_az"], assumed_source_alt=ev["true_alt"])


def _floor_cuts(gammas, background, cfg):
    """The optimisation: per-energy initial cut, theta cuts, optimize_gh_cut, theta again."""
    import operator

    import astropy.units as u
    from pyirf.cut_optimization import optimize_gh_cut
    from pyirf.cuts import calculate_percentile_cut, evaluate_binned_cut

    from showerflow.performance import gh_cut_efficiencies, make_bins

    reco, c = make_bins(cfg)["reco_energy"], cfg["cuts"]

    def cut(values, energy, **kw):
        return calculate_percentile_cut(
            values, energy, bins=reco, min_events=c["min_events_per_bin"], **kw
        )

    def theta_cut(mask):
        return cut(gammas["theta"][mask], gammas["reco_energy"][mask],
                   percentile=c["theta_containment"], min_value=c["theta_min"] * u.deg,
                   max_value=c["theta_max"] * u.deg, fill_value=c["theta_max"] * u.deg)  # fmt: skip

    eff = c["initial_gh_cut_efficiency"]
    g0 = cut(gammas["gh_score"], gammas["reco_energy"], percentile=100 * (1 - eff),
             fill_value=np.quantile(gammas["gh_score"], 1 - eff))  # fmt: skip
    g0_mask = evaluate_binned_cut(gammas["gh_score"], gammas["reco_energy"], g0, operator.ge)
    _, gh_cuts = optimize_gh_cut(
        gammas, background, reco_energy_bins=reco, gh_cut_efficiencies=gh_cut_efficiencies(cfg),
        theta_cuts=theta_cut(g0_mask), op=operator.ge, alpha=cfg["alpha"], progress=False,
        fov_offset_min=cfg["fov_offset_min"] * u.deg, fov_offset_max=cfg["fov_offset_max"] * u.deg,
        **cfg["sensitivity"],
    )  # fmt: skip
    gh = evaluate_binned_cut(gammas["gh_score"], gammas["reco_energy"], gh_cuts, operator.ge)
    return gh_cuts, theta_cut(gh)


def _floor_sensitivities(gammas, diffuse, background, kinds, gh_cuts, theta_cuts, cfg):
    """On-axis (all and per particle; by the optimisation and by the IRF rule) and per
    offset bin."""
    import operator

    import astropy.units as u
    from pyirf.binning import create_histogram_table
    from pyirf.cuts import evaluate_binned_cut
    from pyirf.sensitivity import calculate_sensitivity, estimate_background

    from showerflow.performance import make_bins

    bins = make_bins(cfg)
    reco, fov = bins["reco_energy"], bins["fov_offset"]
    bgh = evaluate_binned_cut(background["gh_score"], background["reco_energy"], gh_cuts,
                              operator.ge)  # fmt: skip

    def sensitivity(ev, lo, hi, runs):
        sig = evaluate_binned_cut(ev["gh_score"], ev["reco_energy"], gh_cuts, operator.ge)
        sig &= evaluate_binned_cut(ev["theta"], ev["reco_energy"], theta_cuts, operator.le)
        hist = create_histogram_table(ev[sig], reco, "reco_energy")
        for sel in runs:
            bg = estimate_background(background[sel], reco_energy_bins=reco, theta_cuts=theta_cuts,
                                     alpha=cfg["alpha"], fov_offset_min=lo, fov_offset_max=hi)  # fmt: skip
            calculate_sensitivity(hist, bg, alpha=cfg["alpha"], **cfg["sensitivity"])

    per_particle = [bgh & (kinds == p) for p in np.unique(kinds)]
    ring = (cfg["fov_offset_min"] * u.deg, cfg["fov_offset_max"] * u.deg)
    for _ in range(2):
        sensitivity(gammas, *ring, [bgh, *per_particle])
    off = diffuse["true_source_fov_offset"]
    for lo, hi in zip(fov[:-1], fov[1:], strict=True):
        sensitivity(diffuse[(off >= lo) & (off < hi)], lo, hi, [bgh])
    return bgh


def _floor_irfs(diffuse, background, bgh, info, gh_cuts, theta_cuts, cfg):
    """Effective-area variants, EDISP (x2), PSF, BKG (x2 + the ring), RAD_MAX, the HDUs."""
    import operator

    import astropy.units as u
    from pyirf.cuts import evaluate_binned_cut
    from pyirf.io import (
        create_aeff2d_hdu,
        create_background_2d_hdu,
        create_energy_dispersion_hdu,
        create_psf_table_hdu,
        create_rad_max_hdu,
    )
    from pyirf.irf import background_2d, energy_dispersion, psf_table

    from showerflow.performance import make_bins, regular_edges

    bins = make_bins(cfg)
    fov, mig = bins["fov_offset"], bins["migration"]
    true_r, reco_r = regular_edges(bins["true_energy"]), regular_edges(bins["reco_energy"])
    dgh = evaluate_binned_cut(diffuse["gh_score"], diffuse["reco_energy"], gh_cuts, operator.ge)
    dth = evaluate_binned_cut(diffuse["theta"], diffuse["reco_energy"], theta_cuts, operator.le)
    off = diffuse["true_source_fov_offset"]
    info.calculate_n_showers_per_energy_and_fov(true_r, fov)
    for mask in (dgh & dth, np.ones(len(diffuse), bool), dgh, dth):
        np.histogram2d(diffuse["true_energy"][mask].value, off[mask].value,
                       [true_r.value, fov.value])  # fmt: skip
    aeff = np.ones((len(true_r) - 1, len(fov) - 1)) * u.m**2
    for mask, point_like in ((dgh, False), (dgh & dth, True)):
        create_aeff2d_hdu(aeff, true_r, fov, point_like=point_like)
        edisp = energy_dispersion(diffuse[mask], true_energy_bins=true_r, fov_offset_bins=fov,
                                  migration_bins=mig)  # fmt: skip
        create_energy_dispersion_hdu(edisp, true_energy_bins=true_r, fov_offset_bins=fov,
                                     migration_bins=mig, point_like=point_like)  # fmt: skip
    t_obs, bg_fov = cfg["observation_time"] * u.h, bins["background_fov_offset"]
    for _ in range(2):
        rate = background_2d(background[bgh], reco_r, bg_fov, t_obs)
        create_background_2d_hdu(rate, reco_r, bg_fov)
    ring = [cfg["fov_offset_min"], cfg["fov_offset_max"]] * u.deg
    background_2d(background[bgh], reco_r, ring, t_obs=t_obs)
    psf = psf_table(diffuse[dgh], true_r, source_offset_bins=bins["source_offset"],
                    fov_offset_bins=fov)  # fmt: skip
    create_psf_table_hdu(psf, true_r, bins["source_offset"], fov)
    create_rad_max_hdu(np.ones((len(reco_r) - 1, len(fov) - 1)) * u.deg, reco_r, fov)
    return dgh, dth


def _floor_benchmarks(diffuse, dgh, dth, cfg):
    """Per offset bin, true and reco energy: theta quantiles, bias and resolution, with the
    fastest numpy way (one sort per table, as the stage; pyirf's functions group by bin)."""
    from showerflow.performance import make_bins, offset_bin_index
    from showerflow.performance.benchmarks import CONTAINMENTS, grouped_quantiles

    bins = make_bins(cfg)
    fov = bins["fov_offset"]
    o_idx = offset_bin_index(diffuse["true_source_fov_offset"], fov)
    rel = (diffuse["reco_energy"] / diffuse["true_energy"]).value - 1
    for energy_type in ("true", "reco"):
        edges = bins[f"{energy_type}_energy"]
        n_e = len(edges) - 1
        e_idx = np.clip(
            np.digitize(diffuse[f"{energy_type}_energy"].value, edges.value) - 1, 0, n_e - 1
        )
        groups = o_idx * n_e + e_idx
        n = n_e * (len(fov) - 1)
        grouped_quantiles(diffuse["theta"].value, np.where(dgh, groups, -1), n,
                          list(CONTAINMENTS.values()))  # fmt: skip
        grouped_quantiles(rel, np.where(dgh & dth, groups, -1), n, [0.5, 0.16, 0.84])


def pyirf_floor(events, infos, cfg):
    """pyirf's calls of the performance stage, on event tables already in memory.

    The same calls the two rules (``optimize``, ``performance``) make, in the same number:
    event preparation (FoV offsets, theta from the true direction, simulated power law,
    event weights, point-source weights per offset bin for the diffuse gammas; by each
    rule), the per-energy initial cut, cut optimisation, sensitivity (on axis, all
    background and per particle; per offset bin), the effective-area variants, the IRFs and
    their GADF HDUs (full enclosure and point-like), benchmarks (true and reco energy, per
    offset bin).

    Parameters
    ----------
    events : dict
        Sample -> QTable as :func:`showerflow.performance.load_particle` returns it (all
        columns: the inputs of the preparation).
    infos : dict
        Sample -> SimulatedEventsInfo.
    cfg : dict
        Validated performance config.
    """
    from astropy.table import vstack

    _floor_prepare(events, infos, cfg)
    kept = [c for c in events["gamma"].colnames if c != "particle_type"]
    gammas, diffuse = events["gamma"][kept], events["gamma_diffuse"][kept]
    background = vstack([events[p] for p in ("proton", "electron")], metadata_conflicts="silent")
    kinds = np.asarray(background["particle_type"])
    background = background[kept]
    gh_cuts, theta_cuts = _floor_cuts(gammas, background, cfg)
    bgh = _floor_sensitivities(gammas, diffuse, background, kinds, gh_cuts, theta_cuts, cfg)
    dgh, dth = _floor_irfs(diffuse, background, bgh, infos["gamma_diffuse"], gh_cuts,
                           theta_cuts, cfg)  # fmt: skip
    _floor_benchmarks(diffuse, dgh, dth, cfg)


# ----------------------------------------------------------------------------- throughput


def bench_stage_throughput(tmp, prod, e_path, c_path, repeat):
    """Rows (stage, events, stage cpu, stage wall, floor cpu, floor parts)."""

    from showerflow import stages
    from showerflow.contracts import EVENT_COLUMNS, IMAGE_COLUMNS
    from showerflow.models import load_model

    rows = []
    # training data (classification, the energy model applied: as the workflow's)
    batch = prod["gamma_diffuse"][1:] + prod["proton"][2:4]
    n = sum(uproot.open(f)["events"].num_entries for f in batch)
    rec = hand_batch(batch, tmp / "t")
    s_cpu, s_wall = timed(
        lambda: run_batch(stages.run_training_data, rec, tmp / "t", energy_model=e_path),
        repeat,
    )
    table = pd.concat([pd.read_parquet(p) for p in rec["outputs"].values()])
    cols = {"simulation": None, "events": list(EVENT_COLUMNS), "images": list(IMAGE_COLUMNS)}
    e_model, c_model = load_model(e_path), load_model(c_path)
    images = pd.concat([stages.training_table(f) for f in batch], ignore_index=True)
    r_cpu, _ = timed(lambda: read_floor(batch, cols), repeat)
    w_cpu, _ = timed(lambda: write_floor(table, tmp / "floor.parquet"), repeat)
    p_cpu, _ = timed(lambda: predict_floor(e_model, images), repeat)
    rows.append(("training data", n, s_cpu, s_wall, {"read": r_cpu, "write": w_cpu,
                                                      "predict": p_cpu}))  # fmt: skip

    # DL2 of every performance file
    samples = ("gamma", "gamma_diffuse", "proton", "electron")
    perf_files = {k: prod[k][2:] if k != "electron" else prod[k] for k in samples}
    batch = [f for files in perf_files.values() for f in files]
    n = sum(uproot.open(f)["events"].num_entries for f in batch)
    rec = hand_batch(batch, tmp / "dl2")
    s_cpu, s_wall = timed(
        lambda: run_batch(stages.run_dl2, rec, tmp / "dl2", energy=e_path, classifier=c_path),
        repeat,
    )
    dl2_outputs = [rec["outputs"][f] for f in batch]
    dl2 = pd.concat([pd.read_parquet(p) for p in dl2_outputs])
    # the images with their event's reco_energy (the classifier's input), made beforehand
    images = pd.concat([stages.training_table(f, e_model) for f in batch], ignore_index=True)
    r_cpu, _ = timed(lambda: read_floor(batch, cols), repeat)
    w_cpu, _ = timed(lambda: write_floor(dl2, tmp / "floor.parquet"), repeat)
    p_cpu, _ = timed(
        lambda: (predict_floor(e_model, images), predict_floor(c_model, images)), repeat
    )
    rows.append(("DL2", n, s_cpu, s_wall, {"read": r_cpu, "write": w_cpu, "predict": p_cpu}))

    outputs = {}
    for file, output in zip(batch, dl2_outputs, strict=True):
        kind = next(k for k, files in perf_files.items() if file in files)
        outputs.setdefault(kind, []).append(output)
    rows += bench_performance(tmp, outputs, repeat)
    return rows


#: The performance stage before the FoV-offset IRFs (point-like IRFs of the on-axis gammas
#: only, one module): the baseline of the 1.5x target, loaded from git and run in the same
#: process on the same DL2.
BASELINE_COMMIT = "11f9bb2"


def baseline_performance_module():
    """``showerflow/performance.py`` of :data:`BASELINE_COMMIT`, as a module."""
    import types

    src = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:src/showerflow/performance.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("showerflow._performance_baseline")
    module.__package__ = "showerflow"
    module.__file__ = str(REPO / "src" / "showerflow" / "performance.py")
    exec(compile(src, f"performance.py@{BASELINE_COMMIT}", "exec"), module.__dict__)
    return module


def bench_performance(tmp, outputs, repeat):
    """Rows of the performance stage: today's vs the baseline's, and vs pyirf's calls."""

    from showerflow import performance as perf

    cfg = perf.load_performance_config(REPO / "config" / "performance.yaml")
    n_of = {
        k: sum(len(pd.read_parquet(p, columns=["obs_id"])) for p in v) for k, v in outputs.items()
    }
    on_axis = {k: v for k, v in outputs.items() if k != "gamma_diffuse"}

    def stage():  # the two rules, each reading the DL2 (as the workflow runs them)
        cuts, _ = perf.run_optimize(outputs, cfg)
        perf.write_cuts(cuts, tmp / "cuts.fits")
        cuts = perf.read_cuts(tmp / "cuts.fits")
        result = perf.run_performance(outputs, cfg, cuts=cuts, cuts_path=tmp / "cuts.fits")
        perf.write_outputs(result, tmp / "perf")

    old = baseline_performance_module()
    old_cfg = {"binning": {"fov_offset": [0.0, 1.0]}}  # the baseline's own defaults

    def baseline():
        result = old.run_performance(on_axis, old_cfg)
        old.write_outputs(result, tmp / "perf_baseline")

    b_cpu, b_wall = timed(baseline, repeat)
    s_cpu, s_wall = timed(stage, repeat)
    cfg = perf.validate_performance_config(cfg)
    events, infos = {}, {}
    fov = perf.make_bins(cfg)["fov_offset"]
    for sample, paths in outputs.items():
        diffuse = sample == "gamma_diffuse"
        particle = perf.SAMPLES[sample]
        events[sample], infos[sample], _ = perf.load_particle(paths, particle, cfg,
                                                              fov if diffuse else None)  # fmt: skip
    f_cpu, _ = timed(lambda: pyirf_floor(events, infos, cfg), repeat)
    n = sum(n_of.values())
    return [
        ("performance", n, s_cpu, s_wall, {"pyirf": f_cpu}),
        (
            "perf. baseline",
            sum(n_of[k] for k in on_axis),
            b_cpu,
            b_wall,
            {"baseline": b_cpu},
            s_cpu,
        ),  # fmt: skip
    ]


# ----------------------------------------------------------------------------- memory


def _rss_child(what, args):
    """Run one measurement in this (child) process; print its peak RSS in MB."""
    from showerflow import stages
    from showerflow.models import load_model

    if what == "baseline-dl2":
        load_model(args["energy"]), load_model(args["classifier"])
        stages.dl2_table  # noqa: B018 - imports only
    elif what == "dl2":
        run_batch(  # the batch record made by the parent: only the stage is measured
            stages.run_dl2,
            args["batch"],
            args["out"],
            energy=args["energy"],
            classifier=args["classifier"],
            chunk_size=args["chunk_size"],
        )
    elif what == "merge":
        stages.run_merge(args["inputs"], args["out"])
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
                batch=hand_batch([f], tmp / f"o{k}{cs}"),
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
            inputs=by_hand_outputs([files[k]], tmp / f"o{k}{chunk_size}"),
            out=str(tmp / f"merged{k}.parquet"),
        )  # fmt: skip
        for k in files
    }
    rows.append(("DL2 merge", n_ev, base, peaks))
    # training tables of N and 10 N events: the energy role's gamma runs
    d = simulate_production(tmp / "td", "gamma_diffuse", 10, kinds["gamma_diffuse"]["n_showers"],
                            seed + 2, first_obs_id=950)  # fmt: skip
    tables = by_hand(stages.run_training_data, d, tmp / "tt")
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
    tables = by_hand_outputs(prod_training_files(prod), tmp / "tc")
    images = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    out = {"fit": {}, "stage": {}, "dl2": {}}
    for n in (1, 2):
        out["fit"][n] = timed(lambda n=n: models.train(images, cfg, n_jobs=n), repeat)
        out["stage"][n] = timed(
            lambda n=n: stages.run_train(
                tables,
                MODELS / "classifier.yaml",
                tmp / f"c{n}.joblib",
                tmp / f"c{n}.json",
                n_jobs=n,
            ),  # fmt: skip
            repeat,
        )
    # DL2 of the performance files with 1 and 2 prediction threads: time, and the bytes
    batch = prod["gamma"][2:] + prod["proton"][2:]
    recs = {n: hand_batch(batch, tmp / f"dl2-{n}") for n in (1, 2)}
    for n in (1, 2):
        out["dl2"][n] = timed(
            lambda n=n: run_batch(stages.run_dl2, recs[n], tmp / f"dl2-{n}", energy=e_path,
                                  classifier=c_path, n_jobs=n),
            repeat,
        )  # fmt: skip
    same = all(
        Path(a).read_bytes() == Path(b).read_bytes()
        for a, b in zip(recs[1]["outputs"].values(), recs[2]["outputs"].values(), strict=True)
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
        for name, n, s_cpu, s_wall, parts, *stage_cpu in bench_stage_throughput(
            tmp, prod, e_path, c_path, args.repeat
        ):
            if stage_cpu:  # the baseline row: the stage's CPU over the baseline's
                ratio = stage_cpu[0] / s_cpu
                print(
                    f"{name:<14} {n:8d} {n / s_cpu:10.0f} {'':>10} {ratio:6.2f}  <= 1.5 "
                    f"{'ok' if ratio <= 1.5 else 'MISSED'}  {s_cpu:6.2f} / {s_wall:5.2f}   "
                    f"(point-like only, {BASELINE_COMMIT}; ratio = performance / this)"
                )
                continue
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
