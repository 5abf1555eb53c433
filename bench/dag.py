"""DAG scale: ``snakemake -n`` through the checkpoints of a synthetic production of N files.

A production of N input files is written as it stands after its checkpoints ran, with the
package's own functions: tiny (empty) DL1 files in one folder per dataset, each dataset's
catalog (``showerflow.tables.write_table``, roles from ``showerflow.catalog.assign_roles``)
and summary, the energy and classification stages done (one tiny per-file output per
input, their plans made by ``showerflow.bookkeeping.make_plan``, the models trained), and
the DL2 plans made by the real ``showerflow.stages.run_plan`` with every performance file
still to process (one batch job per ``files_per_job`` files, one publish job per file). Modification times are set in the order a real run leaves them, so
Snakemake takes every catalog and plan as up to date and a dry run expands the batch jobs
of the DL2 stage, the merges and everything after them: the largest DAG one ``snakemake
-n`` builds (a plan whose models are still to be trained is itself still to run, and a dry
run stops there).

Measured per N: wall time and peak memory (``ru_maxrss`` of the snakemake process) of
``snakemake -n`` with the config's ``files_per_job`` and with ``files_per_job = 1``, and
of the same dry run of a bare Snakefile with as many trivial jobs (the baseline: what
Snakemake itself costs per job).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]

#: Share of the production's files per dataset, and the default config's role fractions.
SHARES = {"gamma": 0.3, "gamma_diffuse": 0.1, "proton": 0.5, "electron": 0.1}
PARTICLE = {"gamma": "gamma", "gamma_diffuse": "gamma", "proton": "proton", "electron": "electron"}

__all__ = [
    "write_config",
    "synthetic_production",
    "bare_workflow",
    "dry_run",
    "job_counts",
    "expected_batches",
    "bench_dag",
]


def default_files_per_job():
    """``files_per_job`` of the repository's config."""
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["files_per_job"]


def write_config(workdir, files_per_job):
    """Write the production's config (no simulation; datasets under ``workdir/dl1``).

    Parameters
    ----------
    workdir : Path
    files_per_job : int

    Returns
    -------
    dict
        The config written to ``workdir/config.yaml``.
    """
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["files_per_job"] = files_per_job
    cfg["results"] = "results"
    cfg["simulation"]["enabled"] = False
    for name, spec in cfg["datasets"].items():
        spec.pop("simulated", None)
        spec["folders"] = [f"dl1/{name}"]
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    for name, path in cfg["models"].items():
        shutil.copy(REPO / path, workdir / "models" / Path(path).name)
        cfg["models"][name] = f"models/{Path(path).name}"
    cfg["performance"]["config"] = str(REPO / cfg["performance"]["config"])
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return cfg


def _touch(path, t_ns):
    """Create an empty file (and its folder) with modification time ``t_ns``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb"):
        pass
    os.utime(path, ns=(t_ns, t_ns))


def _catalog_table(dataset, paths, roles):
    """Catalog rows as the catalog checkpoint writes them, for files that are not read."""
    from showerflow.catalog import assign_roles

    n = len(paths)
    base = sum(map(ord, dataset)) * 10**6
    table = pd.DataFrame(
        {
            "uuid": [f"{base + i:08x}-0000-4000-8000-{i:012x}" for i in range(n)],
            "obs_id": [base + i for i in range(n)],
            "particle": PARTICLE[dataset],
            "n_showers": 1_000_000,
            "shower_reuse": 10,
            "energy_min": 0.003,
            "energy_max": 330.0,
            "spectral_index": -2.0,
            "max_scatter_range": 1000.0,
            "viewcone_min": 0.0,
            "viewcone_max": 10.0 if dataset == "gamma_diffuse" else 0.0,
            "zenith": 20.0,
            "azimuth": 0.0,
            "n_events": 1000,
            "n_images": 4000,
            "path": paths,
            "name": [Path(p).name for p in paths],
            "size": 0,
            "checksum": "00000001",
            "dataset": dataset,
        }
    )
    table["role"] = assign_roles(table["uuid"], roles)
    return table


def synthetic_production(workdir, n_files, files_per_job=None, shares=SHARES):
    """Write a production of ``n_files`` inputs whose checkpoints have run.

    The catalogs, the energy and classification stages (per-file outputs, plans with the
    batches that made them, the training's receipts, models) and the DL2 plans exist;
    every DL2 batch is left to run. Paths are relative to ``workdir`` as in a real run
    (``snakemake --directory workdir``).

    Parameters
    ----------
    workdir : str or Path
    n_files : int
        Input files of the whole production, split over the datasets by ``shares``.
    files_per_job : int, optional
        Default: the repository config's.
    shares : dict
        Dataset -> fraction of ``n_files``.

    Returns
    -------
    dict
        ``config`` (as written), ``files`` (dataset -> number of inputs) and ``roles``
        (dataset -> {role: number of files}).
    """
    from showerflow import bookkeeping as bk
    from showerflow import pipeline as pl
    from showerflow.catalog import ROLES
    from showerflow.stages import model_digests, read_settings, run_plan, stage_inputs, write_json
    from showerflow.tables import write_table

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files_per_job = files_per_job or default_files_per_job()
    cfg = write_config(workdir, files_per_job)
    # one second per step of a real run, in the last minute (after the rules' scripts were
    # written: an output older than its rule's script is redone): inputs < catalogs <
    # training outputs < energy model < classification plans ... < DL2 plans
    t0 = time.time_ns() - 60 * 10**9
    step = {
        k: t0 + i * 10**9
        for i, k in enumerate(
            ["dl1", "catalog", "energy", "energy_model", "classification", "classifier", "dl2"]
        )
    }
    for p in (workdir / "models").iterdir():
        os.utime(p, ns=(t0 - 10**9, t0 - 10**9))
    sizes = {ds: int(round(n_files * s)) for ds, s in shares.items()}
    sizes[max(sizes, key=sizes.get)] += n_files - sum(sizes.values())
    roles = {}
    naming = cfg["output_naming"]
    with contextlib.chdir(workdir):
        tables = {}
        for ds, n in sizes.items():
            paths = [f"dl1/{ds}/run{i:06d}.root" for i in range(n)]
            for p in paths:
                _touch(p, step["dl1"])
            table = _catalog_table(ds, paths, cfg["datasets"][ds]["roles"])
            write_table(table, f"results/catalog/{ds}.parquet", metadata={"dataset": ds})
            by_role = {r: table.loc[table["role"] == r, "path"].tolist() for r in ROLES}
            write_json(
                {"dataset": ds, "roles": by_role, "bad_files": [], "digest": "synthetic"},
                f"results/catalog/{ds}.json",
            )
            for f in (f"results/catalog/{ds}.parquet", f"results/catalog/{ds}.json"):
                os.utime(f, ns=(step["catalog"],) * 2)
            tables[ds] = table
            roles[ds] = {r: len(v) for r, v in by_role.items()}
        for stage, model in (("energy", "energy_model"), ("classification", "classifier")):
            requires = {
                "models": model_digests(pl.model_paths("results", stage)).get("models", {}),
            }
            for ds, table in tables.items():
                spec = cfg["datasets"][ds]
                requires["settings"] = read_settings(spec, naming, None)
                inputs = stage_inputs(table, stage, "results", ds, naming)
                rows = []
                for i in range(0, len(inputs), files_per_job):
                    chunk = inputs[i : i + files_per_job]
                    bid = bk.batch_id(0, [r["file"] for r in chunk], requires)
                    record = {
                        "files": [r["file"] for r in chunk],
                        "outputs": {r["file"]: r["output"] for r in chunk},
                        "checksums": {r["file"]: r["checksum"] for r in chunk},
                        "requires": requires,
                        "mb": 0.0,
                    }
                    for r in chunk:
                        _touch(r["output"], step[stage])
                        rows.append(
                            {
                                **r,
                                "status": "processed",
                                "reason": "",
                                "state": bk.file_state(r["output"]),
                                "batch": bid,
                                "batch_record": record,
                            }
                        )
                plan = pl.plan_path("results", stage, ds)
                write_json(bk.make_plan(ds, stage, rows, files_per_job, requires), plan)
                os.utime(plan, ns=(step[stage],) * 2)
                if spec["roles"][pl.STAGES[stage].role] > 0:
                    receipt = pl.receipt_path("results", stage, ds)
                    write_json({"outputs": {r["output"]: r["state"] for r in rows}}, receipt)
            m = pl.MODELS["energy" if stage == "energy" else "classifier"]
            for path in (m.path, m.metrics):
                _touch(f"results/{path}", step[model])
        for ds in tables:
            plan = pl.plan_path("results", "dl2", ds)
            run_plan(
                ds,
                "dl2",
                f"results/catalog/{ds}.parquet",
                "results",
                plan,
                naming=naming,
                files_per_job=files_per_job,
                models=pl.model_paths("results", "dl2"),
                spec=cfg["datasets"][ds],
            )
            os.utime(plan, ns=(step["dl2"],) * 2)
    return {"config": cfg, "files": sizes, "roles": roles}


def expected_batches(production):
    """DL2 batch jobs the production needs: ceil(performance files / files_per_job) each."""
    fpj = production["config"]["files_per_job"]
    return {ds: -(-r["performance"] // fpj) for ds, r in production["roles"].items()}


BARE_SNAKEFILE = """\
configfile: "config.yaml"


N = int(config["n"])


rule all:
    input:
        expand("out/{i}.txt", i=range(N)),


rule job:
    input:
        "in/{i}.txt",
    output:
        "out/{i}.txt",
    log:
        "logs/{i}.log",
    shell:
        "cp {input} {output}"
"""


def bare_workflow(workdir, n_jobs):
    """A Snakefile of ``n_jobs`` trivial jobs with existing inputs: Snakemake's own cost.

    Returns
    -------
    Path
        The Snakefile.
    """
    workdir = Path(workdir)
    (workdir / "in").mkdir(parents=True, exist_ok=True)
    for i in range(n_jobs):
        (workdir / "in" / f"{i}.txt").touch()
    (workdir / "config.yaml").write_text(f"n: {n_jobs}\n")
    snakefile = workdir / "Snakefile"
    snakefile.write_text(BARE_SNAKEFILE)
    return snakefile


def dry_run(cmd, cwd):
    """Run a command; return (wall seconds, peak RSS in MB of that process, output).

    The peak memory is the process's own ``ru_maxrss`` (``os.wait4``), not the maximum
    over every child this Python process ever had.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{text[-3000:]}")
    return wall, usage.ru_maxrss / 1024, text


def job_counts(text):
    """Rule -> number of jobs, from the "Job stats" table a dry run prints."""
    m = re.search(r"Job stats:\n(.*?)\n(?:\n|$)", text, re.S)
    if not m:
        return {}
    counts = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def showerflow_dry_run(workdir, *extra):
    """``snakemake -n`` of the repository's Snakefile on a synthetic production."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", *extra]
    cmd += ["--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--configfile", str(Path(workdir) / "config.yaml")]
    return dry_run(cmd, workdir)


def bench_dag(args):
    """Print the dry-run figures for each N, as ratios and absolutes."""
    from run import machine

    default_fpj = args.files_per_job or default_files_per_job()
    rows = []
    root = Path(tempfile.mkdtemp(prefix="showerflow-dag-"))
    try:
        for n in args.files:
            for fpj in (default_fpj, 1):
                if fpj == 1 and n > args.max_single:
                    rows.append({"N": n, "files_per_job": fpj, "skipped": True})
                    continue
                work = root / f"n{n}-f{fpj}"
                print(f"N = {n}, files_per_job = {fpj}: writing the production ...", flush=True)
                t0 = time.perf_counter()
                prod = synthetic_production(work, n, fpj)
                t_write = time.perf_counter() - t0
                # Snakemake's own start-up (imports, executor plugins: the SLURM plugin
                # asks `scontrol show config`, 10 s when no controller answers), measured
                # next to each dry run since it depends on the machine's state
                startup, _, _ = dry_run([sys.executable, "-m", "snakemake", "--version"], root)
                wall, rss, text = showerflow_dry_run(work)
                counts = job_counts(text)
                jobs = counts.get("total", 0)
                if counts.get("dl2") != sum(expected_batches(prod).values()):
                    raise RuntimeError(
                        f"dry run planned {counts.get('dl2')} dl2 jobs, expected "
                        f"{sum(expected_batches(prod).values())}:\n{text[-2000:]}"
                    )
                bare = root / f"bare-{jobs}"
                if not bare.exists():
                    bare_workflow(bare, jobs - 1)
                b_wall, b_rss, _ = dry_run(
                    [sys.executable, "-m", "snakemake", "-n", "--cores", "1"], bare
                )
                rows.append(
                    {
                        "N": n,
                        "files_per_job": fpj,
                        "jobs": jobs,
                        "wall": wall,
                        "rss": rss,
                        "bare_wall": b_wall,
                        "bare_rss": b_rss,
                        "write": t_write,
                        "startup": startup,
                    }
                )
                print(
                    f"  {jobs} jobs: {wall:.1f} s, {rss:.0f} MB (bare Snakefile: {b_wall:.1f} s,"
                    f" {b_rss:.0f} MB; snakemake start-up {startup:.1f} s; writing the "
                    f"production took {t_write:.1f} s)",
                    flush=True,
                )
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
                    shutil.rmtree(bare, ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nmachine: {machine()}")
    report(rows, default_fpj)
    return rows


def report(rows, files_per_job):
    """Print the table of figures: absolutes, ratios to the baselines, targets, growth.

    ``net`` is the dry run's wall time minus Snakemake's start-up (``snakemake
    --version``: imports and executor plugins, the same for every workflow, measured next
    to it), i.e. the time spent on the workflow itself; per-job figures and ratios use it.
    """

    def net(wall, r):
        return max(wall - r["startup"], 1e-3)

    done = {(r["N"], r["files_per_job"]): r for r in rows if not r.get("skipped")}
    print(
        f"\n{'N files':>8} {'fpj':>4} {'jobs':>7} {'dry run':>9} {'net':>8} {'peak':>8} "
        f"{'ms/job':>7} {'bare net':>9} {'vs bare':>8} {'vs fpj=1':>9}"
    )
    for r in rows:
        if r.get("skipped"):
            print(f"{r['N']:>8} {r['files_per_job']:>4}   not measured (--max-single)")
            continue
        single = done.get((r["N"], 1))
        vs1 = (
            f"{net(r['wall'], r) / net(single['wall'], single):.2f}"
            if single and r["files_per_job"] != 1
            else "-"
        )
        print(
            f"{r['N']:>8} {r['files_per_job']:>4} {r['jobs']:>7} {r['wall']:>7.1f} s "
            f"{net(r['wall'], r):>6.1f} s {r['rss']:>5.0f} MB "
            f"{1000 * net(r['wall'], r) / r['jobs']:>7.2f} {net(r['bare_wall'], r):>7.1f} s "
            f"{net(r['wall'], r) / net(r['bare_wall'], r):>8.2f} {vs1:>9}"
        )
    print(
        "(net: minus the start-up of snakemake itself, `snakemake --version`; bare: a "
        "Snakefile of as many trivial jobs; vs fpj=1: the same N with one file per job)"
    )
    default = sorted((n, r) for (n, f), r in done.items() if f == files_per_job)
    if default:
        n, big = default[-1]
        ok = big["wall"] < 30 and big["rss"] < 2048
        verdict = "ok" if ok and n >= 100_000 else "MISSED" if not ok else "N too small to tell"
        print(
            f"\ntarget (10^5 files, files_per_job {files_per_job}: < 30 s, < 2 GB, start-up "
            f"included): N = {n}: {big['wall']:.1f} s, {big['rss']:.0f} MB: {verdict}"
        )
    for (n0, a), (n1, b) in zip(default, default[1:], strict=False):
        print(
            f"growth N {n0} -> {n1} (x{n1 / n0:g}): net time "
            f"x{net(b['wall'], b) / net(a['wall'], a):.1f}"
            f", memory x{b['rss'] / a['rss']:.1f}"
        )
