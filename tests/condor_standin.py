"""A stand-in for an HTCondor schedd, the one fake in the HTCondor tests.

No HTCondor daemons can run on the test machines, so this module replaces
``htcondor2.Schedd`` inside a Snakemake process and runs each submitted job on this machine
the way an execution point (EP) would. Everything else is real: the htcondor executor
plugin builds the submit description and passes it to the real ``htcondor2.Submit``; the
plugin follows the jobs by reading, with the real ``htcondor2.JobEventLog``, the user log
this stand-in writes in HTCondor's own event format (submit, execute, terminated, held).

What it does with a submit description (the subset of condor_submit semantics the plugin
uses):

- ``arguments``: old syntax, split on white space (no quoting, as HTCondor does);
- ``environment``: ``KEY="value"`` pairs; ``getenv = false`` gives the job a bare
  environment (``PATH=/usr/bin:/bin``), as on an EP;
- shared filesystem (``should_transfer_files`` unset): the job runs in the submit
  directory;
- file transfer (``should_transfer_files = YES``): the job runs in an empty scratch
  directory holding only ``transfer_input_files`` (relative paths kept with
  ``preserve_relative_paths``) and a copy of the executable (``transfer_executable`` is
  true by default); afterwards only ``transfer_output_files`` come back, to their
  ``transfer_output_remaps`` destination. A missing input or output puts the job on hold,
  as HTCondor does. Files the job wrote but did not list are recorded as ``left_behind``
  (they would be lost on a real pool);
- ``allowed_execute_duration`` (seconds): a job running longer is killed and held with
  HTCondor's hold reason (code 47).

It cannot hide this machine's filesystem from a "remote" job: an absolute path to the
submit host works here and would not on a real EP. Tests check the submit descriptions
for such paths instead.

Usage: ``CONDOR_STANDIN_DIR=<dir> python tests/condor_standin.py <snakemake arguments>``;
``<dir>/submits.jsonl`` and ``<dir>/jobs.jsonl`` record every description and outcome.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

SLOTS = threading.BoundedSemaphore(int(os.environ.get("CONDOR_STANDIN_SLOTS", "2")))
LOCK = threading.Lock()
_CLUSTER = [0]
_PROCS = {}
HOST = "<127.0.0.1:9618?addrs=127.0.0.1-9618&alias=standin>"
USAGE = "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  {}\n"


def _dir():
    return Path(os.environ["CONDOR_STANDIN_DIR"])


def _append(name, record):
    with LOCK, open(_dir() / name, "a") as f:
        f.write(json.dumps(record) + "\n")


def expand(value, cluster):
    """Substitute the submit macros the plugin uses ($(ClusterId), $(ProcId))."""
    for macro in ("$(ClusterId)", "$(Cluster)"):
        value = value.replace(macro, str(cluster))
    return value.replace("$(ProcId)", "0").replace("$(Process)", "0")


def event(log, code, cluster, text, body=""):
    """Append one event to a user log in HTCondor's text format."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with LOCK, open(log, "a") as f:
        f.write(f"{code:03d} ({cluster:03d}.000.000) {stamp} {text}\n{body}...\n")


def terminated(log, cluster, returncode):
    """The terminated event: normal with return value, or abnormal with the signal."""
    if returncode >= 0:
        head = f"\t(1) Normal termination (return value {returncode})\n"
    else:
        head = f"\t(0) Abnormal termination (signal {-returncode})\n\t(0) No core file\n"
    usage = "".join(
        USAGE.format(u)
        for u in ("Run Remote Usage", "Run Local Usage", "Total Remote Usage", "Total Local Usage")
    )
    sizes = "".join(
        f"\t0  -  {k} Bytes {d} By Job\n" for k in ("Run", "Total") for d in ("Sent", "Received")
    )
    event(log, 5, cluster, "Job terminated.", head + usage + sizes)


def held(log, cluster, reason, code):
    event(log, 12, cluster, "Job was held.", f"\t{reason}\n\tCode {code} Subcode 0\n")


def parse_environment(text):
    """``'A="1" B="x y"'`` -> ``{"A": "1", "B": "x y"}`` (HTCondor's new syntax)."""
    out = {}
    for item in shlex.split(text or ""):
        key, _, value = item.partition("=")
        out[key] = value
    return out


def parse_remaps(text):
    """``'"a = /x/a; b = /y/b"'`` -> ``{"a": "/x/a", "b": "/y/b"}``."""
    out = {}
    for item in (text or "").strip().strip('"').split(";"):
        if "=" in item:
            src, _, dst = item.partition("=")
            out[src.strip()] = dst.strip()
    return out


def split_list(text):
    return [f.strip() for f in (text or "").split(",") if f.strip()]


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


def _files(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def run_job(cluster, desc, iwd):
    """Run one job as an EP would, writing its events to the user log."""
    log = Path(iwd) / expand(desc["log"], cluster)
    record = {"cluster": cluster, "batch_name": desc.get("batch_name", "").strip('"')}
    with SLOTS:
        transfer = desc.get("should_transfer_files", "").upper() == "YES"
        executable = desc["executable"]
        if transfer:
            cwd = _dir() / "scratch" / str(cluster)
            cwd.mkdir(parents=True)
            preserve = desc.get("preserve_relative_paths", "true").lower() == "true"
            for name in split_list(desc.get("transfer_input_files")):
                src = Path(name) if os.path.isabs(name) else Path(iwd) / name
                if not src.exists():
                    held(log, cluster, f"Transfer input files failure: {src} does not exist", 13)
                    _append("jobs.jsonl", {**record, "held": "input", "missing": name})
                    return
                rel = name if (preserve and not os.path.isabs(name)) else src.name
                _copy(src, cwd / rel)
            if desc.get("transfer_executable", "true").lower() == "true":
                copy = cwd / Path(executable).name
                shutil.copy(Path(executable).resolve(), copy)
                executable = str(copy)
            before = _files(cwd)
        else:
            cwd = Path(iwd)
        if desc.get("getenv", "false").lower() == "true":
            env = dict(os.environ)
        else:
            env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
        env.update({"_CONDOR_SCRATCH_DIR": str(cwd), "TMPDIR": str(cwd)})
        env.update(parse_environment(desc.get("environment", "").strip('"')))
        args = desc.get("arguments", "").split()
        limit = desc.get("allowed_execute_duration")
        event(log, 1, cluster, f"Job executing on host: {HOST}")
        out = open(Path(iwd) / expand(desc.get("output", "/dev/null"), cluster), "w")
        err = open(Path(iwd) / expand(desc.get("error", "/dev/null"), cluster), "w")
        with out, err:
            proc = subprocess.Popen(
                [executable, *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            _PROCS[cluster] = proc
            try:
                rc = proc.wait(timeout=float(limit) if limit else None)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                hms = time.strftime("%H:%M:%S", time.gmtime(float(limit)))
                held(log, cluster, f"The job exceeded allowed execute duration of 0+{hms}", 47)
                _append("jobs.jsonl", {**record, "held": "allowed_execute_duration"})
                return
        record["returncode"] = rc
        if transfer:
            outputs = split_list(desc.get("transfer_output_files"))
            remaps = parse_remaps(desc.get("transfer_output_remaps"))
            missing = [o for o in outputs if not (cwd / o).exists()]
            if missing:
                held(
                    log,
                    cluster,
                    f"Transfer output files failure: reading from file {cwd / missing[0]}: "
                    "(errno 2) No such file or directory",
                    12,
                )
                _append("jobs.jsonl", {**record, "held": "output", "missing": missing})
                return
            for name in outputs:
                dst = Path(remaps.get(name, Path(iwd) / name))
                _copy(cwd / name, dst)
            declared = set(outputs)
            record["left_behind"] = sorted(
                f
                for f in _files(cwd) - before
                if f not in declared
                and not any(f.startswith(d.rstrip("/") + "/") for d in declared)
                and not f.startswith(".snakemake/")
            )
        terminated(log, cluster, rc)
        _append("jobs.jsonl", record)


class SubmitResult:
    def __init__(self, cluster):
        self._cluster = cluster

    def cluster(self):
        return self._cluster


class Schedd:
    """The part of ``htcondor2.Schedd`` the plugin uses: submit, query, history, act."""

    def __init__(self, *args, **kwargs):
        pass

    def submit(self, description, count=1, spool=False, itemdata=None, queue=None):
        desc = {k: str(v) for k, v in dict(description).items()}
        with LOCK:
            _CLUSTER[0] += 1
            cluster = _CLUSTER[0]
        iwd = os.getcwd()
        _append("submits.jsonl", {"cluster": cluster, "iwd": iwd, "description": desc})
        event(
            Path(iwd) / expand(desc["log"], cluster), 0, cluster, f"Job submitted from host: {HOST}"
        )
        threading.Thread(target=run_job, args=(cluster, desc, iwd), daemon=True).start()
        return SubmitResult(cluster)

    def query(self, *args, **kwargs):
        return []

    def history(self, *args, **kwargs):
        return []

    def act(self, action, job_ids, *args, **kwargs):
        for job in job_ids:
            proc = _PROCS.get(int(str(job).split(".")[0]))
            if proc and proc.poll() is None:
                os.killpg(proc.pid, 9)


def install():
    """Replace the schedd in the htcondor2 bindings the plugin imported."""
    import htcondor2

    htcondor2.Schedd = Schedd


if __name__ == "__main__":
    install()
    from snakemake.cli import main

    sys.argv = ["snakemake", *sys.argv[1:]]
    main()
