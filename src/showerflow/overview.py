"""``showerflow status``: the whole story of a production, from the files on disk.

Per dataset and stage the inputs processed, to do, corrupt and failed (with reasons,
:func:`showerflow.status.stage_status`), then the models (trained, stale with respect to
the training tables their receipts list, headline metrics), the merged DL2 (events,
acceptance), the IRFs and sensitivity (present, up to date, from which models) and the
batch jobs still queued or running where the batch system can say. Everything here reads;
nothing writes, moves or deletes a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from . import bookkeeping as bk
from . import pipeline as pl
from .stages import read_settings
from .status import stage_status

__all__ = [
    "relabel_test_mode",
    "stage_overview",
    "receipt_differences",
    "headline_metrics",
    "model_overview",
    "merged_dl2_overview",
    "performance_overview",
    "parse_sacct",
    "backend_jobs",
    "dirac_jobs",
    "format_dirac_jobs",
    "production_overview",
    "format_overview",
    "stage_progress",
    "format_progress",
    "watch",
]

#: sacct fields read for the backend jobs (``--parsable2``: separated by ``|``).
SACCT_FIELDS = ("JobID", "JobName", "State", "WorkDir", "Comment")
#: Job states of sacct that are not finished.
SACCT_ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED")


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _settings_of(path):
    """The ``settings`` an output recorded, or None when its metadata cannot be read."""
    from .tables import read_metadata

    try:
        return read_metadata(path).get("settings")
    except Exception:  # noqa: BLE001 - an unreadable output stays corrupt
        return None


def relabel_test_mode(rows, settings):
    """Outputs that differ from what the config asks only by the test-mode event limit.

    After a ``--test`` run, a look without ``--test`` (or the other way round) finds
    outputs made from fewer (more) events than the config asks: not damage, work a run
    with this config redoes. They are counted as to do (``unprocessed``), with the reason.

    Parameters
    ----------
    rows : list of dict
        :func:`showerflow.status.stage_status` rows (changed in place).
    settings : dict
        What the config asks of every output (:func:`showerflow.stages.read_settings`).

    Returns
    -------
    list of dict
        ``rows``.
    """
    want = settings.get("max_events")
    for row in rows:
        if row["status"] != "corrupt":
            continue
        have = _settings_of(row["output"])
        if not isinstance(have, dict) or have.get("max_events") == want:
            continue
        if {**have, "max_events": want} != settings:
            continue
        made = have.get("max_events")
        row["status"] = "unprocessed"
        row["reason"] = (
            f"made in test mode (at most {made} events per file); a run without test mode redoes it"
            if made is not None
            else f"made without test mode; a test-mode run (at most {want} events) redoes it"
        )
    return rows


def stage_overview(config):
    """Status of every dataset and stage, the files not processed and the bad files.

    Returns
    -------
    (list of dict, list of dict, dict)
        Rows ``{dataset, stage, files, processed, unprocessed, corrupt, failed,
        events_done, events, unprocessed_files}`` (``files`` None while the catalog is not
        built), bad files ``{dataset, stage, file, reason}`` (the catalogs' and the
        stages' corrupt and failed inputs, and the ones made in the other mode) and the
        per-file rows by ``(dataset, stage)``.
    """
    from .stages import read_summary

    results = config["results"]
    max_events = config["test_mode"]["max_events_per_file"]
    rows, bad, files_of = [], [], {}
    for dataset, spec in config["datasets"].items():
        summary = os.path.join(results, "catalog", f"{dataset}.json")
        if os.path.exists(summary):
            bad += [
                {"dataset": dataset, "stage": "catalog", **b}
                for b in read_summary(summary)["bad_files"]
            ]
        for stage, st in pl.STAGES.items():
            if spec["roles"][st.role] == 0:
                continue
            files = stage_status(config, dataset, stage)
            if files is None:
                rows.append({"dataset": dataset, "stage": stage, "files": None})
                continue
            relabel_test_mode(files, read_settings(spec, config["output_naming"], max_events))
            files_of[(dataset, stage)] = files
            counts = {s: sum(f["status"] == s for f in files) for s in bk.STATUSES}
            rows.append(
                {
                    "dataset": dataset,
                    "stage": stage,
                    "files": len(files),
                    **counts,
                    "events_done": sum(f["n_events"] for f in files if f["status"] == "processed"),
                    "events": sum(f["n_events"] for f in files),
                    "unprocessed_files": [f["file"] for f in files if f["status"] != "processed"],
                }
            )
            bad += [
                {"dataset": dataset, "stage": stage, "file": f["file"], "reason": f["reason"]}
                for f in files
                if f["status"] in ("corrupt", "failed")
            ]
    return rows, bad, files_of


def receipt_differences(receipt_path, files):
    """How a stage's outputs now differ from what their consumer used (its receipt).

    Parameters
    ----------
    receipt_path : str
    files : list of dict
        The stage's rows of one dataset (:func:`stage_overview`).

    Returns
    -------
    list of str
        Empty when the consumer used exactly the outputs now done, as they are now.
    """
    receipt = _read_json(receipt_path)
    if receipt is None:
        return [f"no receipt {receipt_path}"]
    used = receipt.get("outputs", {})
    done = {f["output"]: f for f in files if f["status"] in ("processed", "failed")}
    out = []
    new = [o for o in done if o not in used]
    if new:
        out.append(f"{len(new)} output(s) made since it ran")
    known = {f["output"] for f in files}
    gone = [o for o in used if o not in known]
    if gone:
        out.append(f"{len(gone)} output(s) it used are no longer outputs of the stage")
    changed = [o for o in done if o in used and bk.file_state(o) != used[o]]
    if changed:
        out.append(f"{len(changed)} output(s) rewritten since it ran")
    return out


def headline_metrics(kind, metrics):
    """The numbers a person looks at first in a model's metrics.

    Parameters
    ----------
    kind : {"energy", "classifier"}
    metrics : dict
        The model's metrics JSON.

    Returns
    -------
    dict
        Energy: ``r2`` (log10 E) and ``resolution_1tev`` (68 % containment of the relative
        error in the true-energy bin holding 1 TeV, with ``bin_1tev`` [TeV]);
        classifier: ``roc_auc``. ``n_events``: the held-out events they come from.
    """
    out = {"n_events": metrics.get("n_events")}
    if kind == "energy":
        out["r2"] = metrics.get("r2")
        bins = metrics.get("bins") or {}
        lows, highs = bins.get("true_energy_low", []), bins.get("true_energy_high", [])
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=False)):
            if lo <= 1.0 < hi:
                out["resolution_1tev"] = bins["resolution"][i]
                out["bin_1tev"] = [lo, hi]
                break
    else:
        out["roc_auc"] = metrics.get("roc_auc")
    return out


def model_overview(config, files_of):
    """Each model: trained or not, stale or not (and why), its headline metrics.

    A model is stale when a run with this config would train it again: training tables
    of its stage still to (re)make, or made, rewritten or gone since it was trained (its
    receipts), or its config file newer than it.

    Returns
    -------
    list of dict
        ``{name, path, trained, stale, reasons, metrics}``.
    """
    results = config["results"]
    out = []
    for name, model in pl.MODELS.items():
        path = os.path.join(results, model.path)
        stage = pl.STAGES[model.trained_on]
        rec = {"name": name, "path": path, "trained": os.path.exists(path), "stale": False}
        reasons = []
        for ds in pl.datasets_with_role(config, stage.role):
            files = files_of.get((ds, stage.name))
            if files is None:
                reasons.append(f"catalog of {ds} not built")
                continue
            todo = sum(f["status"] in ("unprocessed", "corrupt") for f in files)
            if todo:
                reasons.append(f"{ds}: {todo} training table(s) of stage {stage.name} to (re)make")
            if rec["trained"]:
                receipt = pl.receipt_path(results, stage.name, ds)
                reasons += [f"{ds}: {r}" for r in receipt_differences(receipt, files)]
        model_config = config["models"][name]
        if rec["trained"] and (_mtime(model_config) or 0) > _mtime(path):
            reasons.append(f"its config {model_config} changed since it was trained")
        metrics = _read_json(os.path.join(results, model.metrics))
        rec["metrics"] = headline_metrics(name, metrics) if metrics else None
        rec["stale"] = rec["trained"] and bool(reasons)
        rec["reasons"] = reasons if rec["trained"] else ["not trained"] + reasons
        out.append(rec)
    return out


def merged_dl2_overview(config, files_of, bad):
    """Each performance dataset's merged DL2: events, acceptance met or not, up to date.

    Returns
    -------
    list of dict
        ``{dataset, path, present, events, runs, processed, total, fraction, acceptance,
        acceptance_met, up_to_date, reasons}``; ``total`` counts the catalog's bad files.
    """
    import pyarrow.parquet as pq

    from .tables import read_metadata

    results = config["results"]
    out = []
    for ds in pl.datasets_with_role(config, "performance"):
        path = os.path.join(results, "dl2", f"{ds}.parquet")
        files = files_of.get((ds, "dl2"))
        rec = {"dataset": ds, "path": path, "present": os.path.exists(path)}
        n_bad = sum(b["dataset"] == ds and b["stage"] == "catalog" for b in bad)
        if files is not None:
            done = sum(f["status"] == "processed" for f in files)
            total = len(files) + n_bad
            rec.update(processed=done, total=total, fraction=done / total if total else 0.0)
            rec["acceptance"] = config["acceptance"]
            rec["acceptance_met"] = rec["fraction"] >= config["acceptance"]
        reasons = []
        if rec["present"]:
            try:
                rec["events"] = pq.read_metadata(path).num_rows
                rec["runs"] = len(read_metadata(path).get("simulation", []))
            except Exception as err:  # noqa: BLE001 - said, not raised: status goes on
                reasons.append(f"unreadable ({err})")
            if files is None:
                reasons.append("catalog not built")
            else:
                todo = sum(f["status"] in ("unprocessed", "corrupt") for f in files)
                if todo:
                    reasons.append(f"{todo} DL2 file(s) to (re)make")
                reasons += receipt_differences(pl.receipt_path(results, "dl2", ds), files)
        else:
            reasons.append("not merged yet")
        rec["up_to_date"] = rec["present"] and not reasons
        rec["reasons"] = reasons
        out.append(rec)
    return out


def _performance_files(config, perf_cfg):
    from .performance.io import OUTPUT_NAMES, TABLES

    results = config["results"]
    files = [] if config["performance"]["cuts"] else [f"{results}/irf/cuts.fits"]
    files += [f"{results}/irf/{OUTPUT_NAMES[k]}" for k in perf_cfg["irfs"]]
    files += [f"{results}/performance/{OUTPUT_NAMES[t]}" for t in TABLES]
    return files + [f"{results}/performance/provenance.json"]


def current_model_digests(config):
    """``{model: SHA-256}`` of the trained models (those on disk)."""
    out = {}
    for name, model in pl.MODELS.items():
        path = os.path.join(config["results"], model.path)
        if os.path.exists(path):
            out[name] = bk.sha256(path)
    return out


def performance_overview(config, merged):
    """The IRFs and sensitivity: present, up to date, made from which models.

    Up to date: every product is there, newer than the merged DL2, the cuts file and the
    performance config it was made from, with the current models and observation time
    (``performance/provenance.json``).

    Parameters
    ----------
    config : dict
    merged : list of dict
        :func:`merged_dl2_overview`.

    Returns
    -------
    dict
        ``{files, missing, present, up_to_date, reasons, models, models_current,
        observation_time}``.
    """
    from .performance import load_performance_config

    perf_path = config["performance"]["config"]
    perf_cfg = load_performance_config(perf_path)
    wanted = config["performance"].get("observation_time")
    if wanted is not None:
        perf_cfg["observation_time"] = wanted
    files = _performance_files(config, perf_cfg)
    missing = [f for f in files if not os.path.exists(f)]
    rec = {"files": files, "missing": missing, "present": not missing, "reasons": []}
    prov_path = files[-1]
    prov = _read_json(prov_path) if prov_path not in missing else None
    reasons = [f"{len(missing)} of {len(files)} product(s) missing"] if missing else []
    rec["models"] = (prov or {}).get("models")
    rec["observation_time"] = ((prov or {}).get("performance_config") or {}).get("observation_time")
    if prov is not None:
        made = _mtime(prov_path)
        used = [m["path"] for m in merged]
        cuts = config["performance"]["cuts"]
        for path in used + ([cuts] if cuts else []) + [perf_path]:
            if (_mtime(path) or 0) > made:
                reasons.append(f"{path} changed since the IRFs were made")
        for m in merged:
            if not m["up_to_date"]:
                reasons.append(f"merged DL2 of {m['dataset']} not up to date")
        current = current_model_digests(config)
        if rec["models"] is None:
            rec["models_current"] = None
            reasons.append("provenance.json records no models: made from which, unknown")
        else:
            rec["models_current"] = rec["models"] == current
            if not rec["models_current"]:
                reasons.append("made from other models than the ones trained now")
        if rec["observation_time"] is not None and (
            rec["observation_time"] != perf_cfg["observation_time"]
        ):
            reasons.append(
                f"made for {rec['observation_time']} h, the config asks "
                f"{perf_cfg['observation_time']} h"
            )
    rec["up_to_date"] = not missing and not reasons
    rec["reasons"] = reasons
    return rec


def parse_sacct(text, workdir):
    """The jobs of ``sacct --parsable2 --noheader`` output that run in ``workdir``.

    Parameters
    ----------
    text : str
        Lines of :data:`SACCT_FIELDS`, ``|``-separated.
    workdir : str
        The production's working directory (Snakemake submits with ``sbatch -D`` there).

    Returns
    -------
    list of dict
        ``{job, name, state, rule}`` (``rule`` from Snakemake's job comment
        ``rule_<rule>_wildcards_...``, None for a job Snakemake did not comment).
    """
    jobs = []
    want = os.path.realpath(workdir)
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < len(SACCT_FIELDS):
            continue
        job, name, state, wd = parts[:4]
        comment = "|".join(parts[4:])
        if os.path.realpath(wd) != want:
            continue
        rule = None
        if comment.startswith("rule_"):
            rule = comment[len("rule_") :].split("_wildcards_")[0]
        jobs.append({"job": job, "name": name, "state": state.split()[0], "rule": rule})
    return jobs


def backend_jobs(workdir=".", which=shutil.which, run=subprocess.run, timeout=20):
    """The batch jobs of this production still queued or running, where the system says.

    SLURM through ``sacct`` (the current user's jobs whose working directory is this
    one). Other batch systems (HTCondor, DIRAC) are not asked: ``known`` is False.

    Parameters
    ----------
    workdir : str
    which, run : callable, optional
        ``shutil.which`` and ``subprocess.run`` (injected by tests).
    timeout : float

    Returns
    -------
    dict
        ``{system, known, jobs, reason}``.
    """
    sacct = which("sacct")
    if sacct is None:
        return {
            "system": None,
            "known": False,
            "jobs": [],
            "reason": "unknown: no sacct on PATH (SLURM); HTCondor jobs are not asked (condor_q)",
        }
    cmd = [
        sacct,
        "--allocations",
        "--noheader",
        "--parsable2",
        f"--format={','.join(SACCT_FIELDS)}",
        f"--state={','.join(SACCT_ACTIVE)}",
    ]
    try:
        res = run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"system": "slurm", "known": False, "jobs": [], "reason": f"unknown: {err}"}
    if res.returncode != 0:
        said = " / ".join((res.stderr or res.stdout).strip().splitlines()[-2:])
        return {"system": "slurm", "known": False, "jobs": [], "reason": f"unknown: {said}"}
    jobs = parse_sacct(res.stdout, workdir)
    return {"system": "slurm", "known": True, "jobs": jobs, "reason": ""}


#: The DIRAC executor's record of its submitted jobs, relative to the working directory
#: (``showerflow.executors.dirac.executor.STATE_DIR``; not imported: status needs no
#: Snakemake executor interface).
DIRAC_REGISTRY = Path(".snakemake") / "dirac" / "submitted.json"


def dirac_jobs(workdir="."):
    """The DIRAC jobs of this production submitted and not yet fetched back.

    Read from the DIRAC executor's own record (:data:`DIRAC_REGISTRY`): a job is in it
    from its submission until its outputs were fetched or it failed, so what is there is
    queued, running, or left by a Snakemake that was stopped (the next run takes those
    jobs over instead of submitting them again). DIRAC itself is not asked (that needs
    DIRAC's Python and a proxy); the ids are given for ``dirac-wms-job-status``.

    Parameters
    ----------
    workdir : str

    Returns
    -------
    dict
        ``{known, jobs, reason}``; ``jobs``: ``{job, rule, submitted, n_outputs}`` in
        submission order. ``known`` is False when the record cannot be read.
    """
    path = Path(workdir) / DIRAC_REGISTRY
    if not path.exists():
        return {"known": True, "jobs": [], "reason": ""}
    try:
        registry = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {"known": False, "jobs": [], "reason": f"unknown: {path} unreadable ({err})"}
    jobs = [
        {
            "job": str(entry.get("dirac_id")),
            "rule": entry.get("rule"),
            "submitted": entry.get("submitted"),
            "n_outputs": len(entry.get("outputs") or []),
        }
        for entry in registry.values()
        if isinstance(entry, dict)
    ]
    jobs.sort(key=lambda j: (j["submitted"] or "", j["job"]))
    return {"known": True, "jobs": jobs, "reason": ""}


def _test_mode_notes(config):
    """Notes when the plans on disk were made with another test-mode event limit."""
    results = config["results"]
    want = config["test_mode"]["max_events_per_file"]
    seen = set()
    for dataset in config["datasets"]:
        for stage in pl.STAGES:
            plan = bk.read_plan_or_none(pl.plan_path(results, stage, dataset))
            if plan:
                made = ((plan.get("requires") or {}).get("settings") or {}).get("max_events")
                if made != want:
                    seen.add(made)
    notes = []
    for made in sorted(seen, key=str):
        if made is None:
            notes.append("the plans on disk were made without test mode")
        else:
            notes.append(
                f"the plans on disk were made in test mode (at most {made} events per file): "
                "`showerflow status --test` looks at them as that run did"
            )
    return notes


def production_overview(config, workdir=".", which=shutil.which, run=subprocess.run):
    """Everything ``showerflow status`` says, as one document (``--json``).

    Returns
    -------
    dict
        ``results``, ``test_mode``, ``notes``, ``stages`` (rows), ``bad_files``,
        ``models``, ``merged_dl2``, ``performance``, ``backend``.
    """
    rows, bad, files_of = stage_overview(config)
    merged = merged_dl2_overview(config, files_of, bad)
    performance = None
    if all(config["performance"][p] for p in ("gamma", "proton", "electron")):
        performance = performance_overview(config, merged)
    return {
        "results": config["results"],
        "test_mode": dict(config["test_mode"]),
        "notes": _test_mode_notes(config),
        "stages": rows,
        "bad_files": bad,
        "models": model_overview(config, files_of),
        "merged_dl2": merged,
        "performance": performance,
        "backend": backend_jobs(workdir, which=which, run=run),
        "dirac": dirac_jobs(workdir),
    }


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_dirac_jobs(dirac):
    """The lines of ``showerflow status`` on the DIRAC jobs (:func:`dirac_jobs`); none
    when there are none."""
    if not dirac["known"]:
        return [f"DIRAC jobs: {dirac['reason']}"]
    if not dirac["jobs"]:
        return []
    per_rule = {}
    for j in dirac["jobs"]:
        per_rule[j["rule"]] = per_rule.get(j["rule"], 0) + 1
    lines = [
        f"DIRAC jobs: {len(dirac['jobs'])} submitted and not yet fetched back (queued, "
        "running, or left by a stopped run, which the next run takes over)"
    ]
    lines += [f"    {rule}: {n}" for rule, n in sorted(per_rule.items())]
    ids = " ".join(j["job"] for j in dirac["jobs"])
    lines.append(f"    their state in DIRAC: dirac-wms-job-status {ids}")
    return lines


def format_overview(doc):
    """The overview as text for people: tables, then the reasons."""
    from .status import format_status

    lines = []
    limits = doc["test_mode"]
    if any(v is not None for v in limits.values()):
        lines.append(
            f"test mode: at most {limits['max_files_per_dataset']} files per dataset role, "
            f"{limits['max_events_per_file']} events per file"
        )
    lines += [f"note: {n}" for n in doc["notes"]]
    if lines:
        lines.append("")
    lines.append(format_status(doc["stages"], doc["bad_files"]))
    lines += ["", f"{'model':<12}{'trained':<9}{'state':<11}headline metrics", "-" * 70]
    for m in doc["models"]:
        state = "-" if not m["trained"] else ("stale" if m["stale"] else "current")
        met = m["metrics"] or {}
        if m["name"] == "energy" and met:
            lo_hi = met.get("bin_1tev")
            where = f" ({lo_hi[0]:.2f}-{lo_hi[1]:.2f} TeV)" if lo_hi else ""
            text = (
                f"r2 {_fmt(met.get('r2'), '.3f')}, resolution at 1 TeV "
                f"{_fmt(met.get('resolution_1tev'), '.3f')}{where}"
            )
        elif met:
            text = f"AUC {_fmt(met.get('roc_auc'), '.3f')}"
        else:
            text = "-"
        if met.get("n_events"):
            text += f", {met['n_events']} test events"
        lines.append(f"{m['name']:<12}{'yes' if m['trained'] else 'no':<9}{state:<11}{text}")
        lines += [f"    {r}" for r in m["reasons"] if m["trained"]]
    lines += ["", f"{'merged DL2':<16}{'events':>10}{'runs':>6}  processed      acceptance"]
    lines.append("-" * 70)
    for d in doc["merged_dl2"]:
        done = f"{d['processed']}/{d['total']}" if "processed" in d else "-"
        acc = "-"
        if "acceptance_met" in d:
            acc = f"{'met' if d['acceptance_met'] else 'NOT met'} ({d['fraction']:.0%} "
            acc += f"{'>=' if d['acceptance_met'] else '<'} {d['acceptance']:.0%})"
        state = "up to date" if d["up_to_date"] else "to (re)make"
        ev = d.get("events")
        lines.append(
            f"{d['dataset']:<16}{_fmt(ev, 'd'):>10}{_fmt(d.get('runs'), 'd'):>6}  "
            f"{done:<15}{acc:<24}{state}"
        )
        lines += [f"    {r}" for r in d["reasons"] if d["present"]]
    perf = doc["performance"]
    lines.append("")
    if perf is None:
        lines.append("IRFs and sensitivity: not made by this config (no gamma, proton or electron)")
    else:
        n = len(perf["files"])
        state = "up to date" if perf["up_to_date"] else "to (re)make"
        lines.append(f"IRFs and sensitivity: {n - len(perf['missing'])}/{n} products, {state}")
        if perf["models"]:
            names = ", ".join(f"{k} {v[:12]}" for k, v in sorted(perf["models"].items()))
            now = " (the current ones)" if perf.get("models_current") else ""
            lines.append(f"    made from models {names}{now}")
        if perf["observation_time"] is not None:
            lines.append(f"    observation time {perf['observation_time']} h")
        lines += [f"    {r}" for r in perf["reasons"]]
    backend = doc["backend"]
    lines.append("")
    if not backend["known"]:
        lines.append(f"batch jobs: {backend['reason']}")
    elif not backend["jobs"]:
        lines.append(f"batch jobs ({backend['system']}): none queued or running here")
    else:
        counts = {}
        for j in backend["jobs"]:
            key = (j["rule"] or j["name"], j["state"])
            counts[key] = counts.get(key, 0) + 1
        lines.append(f"batch jobs ({backend['system']}): {len(backend['jobs'])} queued or running")
        lines += [f"    {rule}: {n} {state}" for (rule, state), n in sorted(counts.items())]
    lines += format_dirac_jobs(doc.get("dirac") or {"known": True, "jobs": []})
    return "\n".join(lines)


def stage_progress(rows):
    """Files and events done per stage, summed over the datasets.

    Parameters
    ----------
    rows : list of dict
        :func:`stage_overview` rows.

    Returns
    -------
    dict
        ``{stage: {"done", "files", "events_done", "events"}}`` in pipeline order; a stage
        whose catalogs are not all built counts what is known.
    """
    out = {name: {"done": 0, "files": 0, "events_done": 0, "events": 0} for name in pl.STAGES}
    for r in rows:
        if r["files"] is None:
            continue
        p = out[r["stage"]]
        p["done"] += r["processed"] + r["failed"]
        p["files"] += r["files"]
        p["events_done"] += r["events_done"]
        p["events"] += r["events"]
    return out


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def format_progress(history):
    """The live view: done/total per stage, the rate seen while watching, and an ETA.

    Parameters
    ----------
    history : list of (float, dict)
        ``(time [s], stage_progress(...))`` snapshots, oldest first.

    Returns
    -------
    str
        One line per stage; the rate is the files done per minute between the first and
        the last snapshot (whatever the backend: it is read from the outputs), the ETA the
        files left at that rate ("-" while nothing was done since watching began).
    """
    t0, first = history[0]
    t1, last = history[-1]
    head = f"{'stage':<16}{'files':>13}{'events':>22}{'files/min':>11}{'ETA':>9}"
    lines = [head, "-" * len(head)]
    for stage, p in last.items():
        if not p["files"]:
            lines.append(f"{stage:<16}{'-':>13}")
            continue
        gained = p["done"] - first[stage]["done"]
        rate = gained / (t1 - t0) if t1 > t0 and gained > 0 else None
        left = p["files"] - p["done"]
        if left == 0:
            eta = "done"
        elif rate:
            eta = _duration(left / rate)
        else:
            eta = "-"
        files = f"{p['done']}/{p['files']}"
        events = f"{p['events_done']}/{p['events']}"
        per_min = f"{60 * rate:.1f}" if rate else "-"
        lines.append(f"{stage:<16}{files:>13}{events:>22}{per_min:>11}{eta:>9}")
    lines.append(f"watching for {_duration(t1 - t0)}; Ctrl-C to stop")
    return "\n".join(lines)


def watch(config, interval=5.0, out=None, clock=None, sleep=None, rounds=None):
    """Refresh :func:`format_progress` every ``interval`` seconds until interrupted.

    Parameters
    ----------
    config : dict
    interval : float
    out : file, optional
        Default: standard output (the screen is cleared between views on a terminal).
    clock, sleep : callable, optional
        ``time.monotonic`` and ``time.sleep`` (injected by tests).
    rounds : int, optional
        Stop after this many views (default: until Ctrl-C).
    """
    import sys
    import time

    out = out or sys.stdout
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    history, n = [], 0
    try:
        while rounds is None or n < rounds:
            rows, _, _ = stage_overview(config)
            history.append((clock(), stage_progress(rows)))
            view = format_progress(history)
            if out.isatty():
                out.write("\033[H\033[2J")
            out.write(view + "\n")
            out.flush()
            n += 1
            if rounds is None or n < rounds:
                sleep(interval)
    except KeyboardInterrupt:
        pass
    return history
