"""showerflow benchmarks: figures printed as ratios against baselines measured in the same run.

    python bench/run.py stages     # per-batch stage cost vs. its I/O + predict floor (~1 min)
    python bench/run.py demo       # the full demo workflow: wall time, peak memory per job
    python bench/run.py plan       # plan checkpoint of a 10^4-file dataset vs its I/O floor
    python bench/run.py dag        # snakemake -n through the checkpoints of 10^3..10^5 files
    python bench/run.py throughput # events/s/core, memory, threads vs floors (bench/throughput.py)
    python bench/run.py models     # candidate estimators: quality, fit/predict speed (bench/models.py)

``stages``: a batch of toy DL1 files is processed by the real stage functions
(``showerflow.stages``) and by the floor for the same work: uproot reading the same
columns + pyarrow writing a Parquet table of the same size (+ the models' own
``predict`` on the same feature matrices, for DL2). Each timing is the best of
``--repeat`` runs. Target: every ratio <= 1.3.

``demo``: runs ``snakemake`` with the default config (the embedded sample) in a fresh
folder and reads every job's ``benchmark:`` file. Targets: wall time under 10 minutes on
2 cores, no job above 4 GB peak memory (max_rss). The baseline is the sum of the jobs'
own run times (what the work costs without Snakemake's scheduling), so the ratio shows
the orchestration overhead.
"""

from __future__ import annotations

import argparse
import os
import platform
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

REPO = Path(__file__).resolve().parents[1]


def machine():
    """One line naming the machine the numbers come from."""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores, {mem:.0f} GiB, {cpu}, Python {platform.python_version()}"


def best(fn, repeat):
    """Best wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def read_floor(files, trees):
    """uproot reading ``{tree: columns}`` of every file: the I/O floor of a stage."""
    out = {}
    for f in files:
        with uproot.open(f) as h:
            for tree, cols in trees.items():
                out[(f, tree)] = h[tree].arrays(cols, library="np")
    return out


def write_floor(df, path):
    """pyarrow writing a table like the stage's output."""
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def predict_floor(model, images):
    """The estimators' own predict on the feature matrices the stage builds."""
    from showerflow import models as m

    mask = m.quality_mask(images, model["config"]["quality_cuts"])
    for tel_type, est in model["estimators"].items():
        sel = mask & (images["tel_type"].to_numpy() == tel_type)
        X = m.derive_features(images[sel], model["features"])
        X = X[np.isfinite(X).all(axis=1)]
        if len(X):  # the estimator's predict / predict_proba, held to one thread
            m.predict_rows(est, X, model["kind"], n_jobs=1)


def bench_stages(args):
    from throughput import by_hand, hand_batch, run_batch  # bench/throughput.py

    from showerflow import stages
    from showerflow.contracts import EVENT_COLUMNS, IMAGE_COLUMNS
    from showerflow.models import load_model
    from showerflow.simulate import simulate_production

    tmp = Path(tempfile.mkdtemp(prefix="showerflow-bench-"))
    try:
        print("preparing a toy production and models ...", flush=True)
        g = simulate_production(tmp / "g", "gamma", 1 + args.files, 400_000, seed=3)
        d = simulate_production(tmp / "d", "gamma_diffuse", 1, 1_000_000, seed=3, first_obs_id=50)
        p = simulate_production(tmp / "p", "proton", 2, 4_000_000, seed=3, first_obs_id=100)
        cfg = REPO / "config" / "models"
        te = by_hand(stages.run_training_data, [g[0], d[0]], tmp / "e")
        stages.run_train(te, cfg / "energy.yaml", tmp / "e.joblib", tmp / "e.json", n_jobs=2)
        tc = by_hand(
            stages.run_training_data, [g[0], d[0]] + p, tmp / "c", energy_model=tmp / "e.joblib"
        )
        stages.run_train(tc, cfg / "classifier.yaml", tmp / "c.joblib", tmp / "c.json", n_jobs=2)
        batch = [str(x) for x in g[1:]]
        trees = {"simulation": None, "events": list(EVENT_COLUMNS), "images": list(IMAGE_COLUMNS)}
        n_events = sum(uproot.open(f)["events"].num_entries for f in batch)

        # training data: stage vs read + write
        rec = hand_batch(batch, tmp / "t")
        t_stage = best(lambda: run_batch(stages.run_training_data, rec, tmp / "t"), args.repeat)
        table = pd.concat([pd.read_parquet(p) for p in rec["outputs"].values()])
        t_read = best(lambda: read_floor(batch, trees), args.repeat)
        t_write = best(lambda: write_floor(table, tmp / "floor.parquet"), args.repeat)
        rows = [("training data", n_events, t_stage, t_read + t_write, t_read, t_write, 0.0)]

        # DL2: stage vs read + write + predict
        e_model, c_model = load_model(tmp / "e.joblib"), load_model(tmp / "c.joblib")
        rec = hand_batch(batch, tmp / "dl2")
        t_stage = best(
            lambda: run_batch(
                stages.run_dl2,
                rec,
                tmp / "dl2",
                energy=tmp / "e.joblib",
                classifier=tmp / "c.joblib",
            ),
            args.repeat,
        )
        dl2 = pd.concat([pd.read_parquet(p) for p in rec["outputs"].values()])
        images = pd.concat([stages.training_table(f, e_model) for f in batch], ignore_index=True)
        t_pred = best(
            lambda: (predict_floor(e_model, images), predict_floor(c_model, images)), args.repeat
        )
        t_write = best(lambda: write_floor(dl2, tmp / "floor.parquet"), args.repeat)
        rows.append(("DL2", n_events, t_stage, t_read + t_write + t_pred, t_read, t_write, t_pred))

        print(f"\nmachine: {machine()}")
        print(f"batch: {len(batch)} files, {n_events} events; best of {args.repeat}\n")
        print(
            f"{'stage':<14} {'events/s':>9} {'stage s':>8} {'floor s':>8} "
            f"{'(read':>7} {'write':>6} {'predict)':>9} {'ratio':>6}  target"
        )
        worst = 0.0
        for name, n, ts, tf, tr, tw, tp in rows:
            ratio = ts / tf
            worst = max(worst, ratio)
            print(
                f"{name:<14} {n / ts:9.0f} {ts:8.2f} {tf:8.2f} {tr:7.2f} {tw:6.2f} {tp:9.2f} "
                f"{ratio:6.2f}  <= 1.3 {'ok' if ratio <= 1.3 else 'MISSED'}"
            )
        return worst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_demo(args):
    work = Path(tempfile.mkdtemp(prefix="showerflow-demo-"))
    try:
        shutil.copytree(REPO / "config", work / "config", symlinks=True)
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--cores",
            str(args.cores),
            "--quiet",
            "rules",
        ]
        print("running the demo:", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=work)
        wall = time.perf_counter() - t0
        frames = []
        for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
            df = pd.read_csv(tsv, sep="\t")
            df["job"] = str(tsv.relative_to(work / "results" / "benchmarks"))[:-4]
            frames.append(df)
        jobs = pd.concat(frames, ignore_index=True)
        jobs["max_rss"] = pd.to_numeric(jobs["max_rss"], errors="coerce")
        cpu_sum = jobs["s"].sum()
        print(f"\nmachine: {machine()}")
        print(
            f"demo wall time: {wall:.0f} s on {args.cores} cores (target < 600 s: "
            f"{'ok' if wall < 600 else 'MISSED'})"
        )
        print(
            f"sum of job run times: {cpu_sum:.0f} s; wall / (sum / cores) = "
            f"{wall / (cpu_sum / args.cores):.2f}"
        )
        top = jobs.sort_values("max_rss", ascending=False).head(5)
        print(
            f"peak memory: {top['max_rss'].iloc[0]:.0f} MB in {top['job'].iloc[0]} "
            f"(target < 4096 MB: {'ok' if top['max_rss'].iloc[0] < 4096 else 'MISSED'})"
        )
        print("\nslowest jobs:")
        for _, r in jobs.sort_values("s", ascending=False).head(8).iterrows():
            print(f"  {r['job']:<45} {r['s']:7.1f} s  {r['max_rss']:7.0f} MB")
        return wall
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def bench_plan(args):
    """Plan checkpoint of one dataset of N files, half processed: vs reading the footers."""
    from showerflow import bookkeeping as bk
    from showerflow.stages import run_plan
    from showerflow.tables import write_table

    tmp = Path(tempfile.mkdtemp(prefix="showerflow-plan-"))
    try:
        n = args.files
        catalog = pd.DataFrame(
            {
                "path": [f"/dl1/proton/run{i:06d}.root" for i in range(n)],
                "uuid": [f"00000000-0000-0000-0000-{i:012d}" for i in range(n)],
                "name": [f"run{i:06d}.root" for i in range(n)],
                "n_events": 1000,
                "role": "performance",
            }
        )
        write_table(catalog, tmp / "catalog.parquet")
        folder = tmp / "dl2"
        table = pd.DataFrame(
            {c: np.arange(3) for c in ("obs_id", "event_id", "reco_energy", "gammaness")}
        )
        print(f"writing {n // 2} tiny per-file outputs ...", flush=True)
        for rec in catalog.iloc[: n // 2].to_dict("records"):
            write_table(
                table,
                bk.output_path(folder, rec["uuid"], rec["name"], "uuid"),
                metadata={"n_events_in": 1000, "n_rows": 3},
            )
        t_plan = best(
            lambda: run_plan(
                "proton", "dl2", tmp / "catalog.parquet", folder, "uuid", 4, tmp / "plan.json"
            ),
            args.repeat,
        )
        outs = [bk.output_path(folder, u, "", "uuid") for u in catalog["uuid"]]

        def floor():
            for o in outs:
                if os.path.exists(o):
                    pq.read_metadata(o)

        t_floor = best(floor, args.repeat)
        t_drift = best(lambda: bk.drift(tmp / "plan.json", folder), args.repeat)
        print(f"\nmachine: {machine()}")
        print(
            f"plan of {n} files ({n // 2} processed): {t_plan:.2f} s "
            f"(target < 10 s: {'ok' if t_plan < 10 else 'MISSED'}); reading the same "
            f"footers alone: {t_floor:.2f} s; ratio {t_plan / t_floor:.2f}"
        )
        print(f"drift check at parse time (one stat per output): {t_drift:.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stages", help="per-batch stage cost vs its floor")
    s.add_argument("--files", type=int, default=4, help="files in the batch")
    s.add_argument("--repeat", type=int, default=3)
    s.set_defaults(func=bench_stages)
    s = sub.add_parser("plan", help="plan checkpoint of a dataset of N files")
    s.add_argument("--files", type=int, default=10_000)
    s.add_argument("--repeat", type=int, default=3)
    s.set_defaults(func=bench_plan)
    s = sub.add_parser("dag", help="snakemake -n through the checkpoints of N files (bench/dag.py)")
    s.add_argument("--files", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    s.add_argument("--files-per-job", type=int, default=None, help="default: the config's")
    s.add_argument(
        "--max-single", type=int, default=10_000, help="largest N also run with files_per_job=1"
    )
    s.add_argument("--keep", action="store_true", help="keep the work folders")
    s.set_defaults(func=lambda a: __import__("dag").bench_dag(a))
    s = sub.add_parser("demo", help="the full demo workflow")
    s.add_argument("--cores", type=int, default=2)
    s.add_argument("--keep", action="store_true", help="keep the work folder")
    s.set_defaults(func=bench_demo)
    import models  # bench/models.py
    import throughput  # bench/throughput.py

    throughput.add_parser(sub)
    models.add_parser(sub)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
