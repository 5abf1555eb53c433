"""showerflow status: the pieces of the overview (test-mode outputs, receipts, metrics,
batch jobs), and one production made with `showerflow init` and `showerflow run --test`
that status describes without writing a byte."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from showerflow import bookkeeping as bk
from showerflow import overview as ov
from showerflow import runoptions as ro
from showerflow.models import classifier_metrics, energy_metrics
from showerflow.stages import read_settings
from showerflow.tables import write_table

SHOWERFLOW = [sys.executable, "-m", "showerflow.cli"]
COLUMNS = ("obs_id", "event_id", "reco_energy", "gammaness")
MODELS = {"energy": "a" * 64, "classifier": "b" * 64}


def _input(folder, i, n_events=5000):
    return {
        "file": f"/dl1/run{i}.root",
        "output": str(folder / f"run{i}.parquet"),
        "n_events": n_events,
        "size": 1000,
        "checksum": f"{i:08x}",
    }


def _write(rec, settings, n_in, models=MODELS):
    df = pd.DataFrame({c: range(3) for c in COLUMNS})
    meta = {
        "n_events_in": n_in,
        "n_rows": 3,
        "models": models,
        "settings": settings,
        "input_checksum": rec["checksum"],
        "batch": "b0",
    }
    write_table(df, rec["output"], metadata=meta)


def _classify(inputs, settings):
    def expected(rec):
        return COLUMNS, {
            "n_events": rec["n_events"],
            "input_checksum": rec["checksum"],
            "models": MODELS,
            "settings": settings,
        }

    return bk.classify(inputs, expected)


def test_test_mode_outputs_are_to_do_not_corrupt(tmp_path):
    spec = {"format": "root"}
    full, test = read_settings(spec, "uuid", None), read_settings(spec, "uuid", 2000)
    inputs = [_input(tmp_path, i) for i in range(4)]
    _write(inputs[0], test, 2000)  # made by a --test run
    _write(inputs[1], full, 5000)  # made by a full run
    _write(inputs[2], {**test, "read": {"format": "event_table"}}, 2000)  # other reading too
    inputs[3]["output"] = str(tmp_path / "run3.parquet")
    Path(inputs[3]["output"]).write_bytes(b"PAR1 truncated")
    # looked at without test mode
    rows = ov.relabel_test_mode(_classify(inputs, full), full)
    assert [r["status"] for r in rows] == ["unprocessed", "processed", "corrupt", "corrupt"]
    assert "made in test mode (at most 2000 events per file)" in rows[0]["reason"]
    assert "holds 2000 of the input's 5000 events" in rows[2]["reason"]  # not test mode alone
    assert "unreadable" in rows[3]["reason"]
    # looked at in test mode: the --test output is done, the full one a test run redoes
    test_inputs = [dict(r, n_events=2000) for r in inputs]
    rows = ov.relabel_test_mode(_classify(test_inputs, test), test)
    assert [r["status"] for r in rows[:2]] == ["processed", "unprocessed"]
    assert "made without test mode" in rows[1]["reason"]


def test_receipt_differences(tmp_path):
    inputs = [_input(tmp_path, i) for i in range(3)]
    settings = read_settings({}, "uuid", None)
    for rec in inputs[:2]:
        _write(rec, settings, 5000)
    rows = _classify(inputs, settings)
    receipt = tmp_path / "receipt.json"
    assert ov.receipt_differences(str(receipt), rows) == [f"no receipt {receipt}"]
    used = {r["output"]: bk.file_state(r["output"]) for r in rows[:2]}
    receipt.write_text(json.dumps({"outputs": used}))
    assert ov.receipt_differences(str(receipt), rows) == []
    _write(inputs[2], settings, 5000)  # made after the consumer ran
    os.utime(inputs[0]["output"], ns=(1, 1))  # rewritten (another mtime) since
    rows = _classify(inputs, settings)
    assert ov.receipt_differences(str(receipt), rows) == [
        "1 output(s) made since it ran",
        "1 output(s) rewritten since it ran",
    ]
    rows = _classify(inputs[1:], settings)  # its input left the catalog
    assert ov.receipt_differences(str(receipt), rows) == [
        "1 output(s) made since it ran",
        "1 output(s) it used are no longer outputs of the stage",
    ]


def test_headline_metrics_of_real_metrics():
    rng = np.random.default_rng(3)
    true = 10 ** rng.uniform(-1, 2, 200_000)
    reco = true * (1 + rng.normal(0, 0.1, true.size))
    head = ov.headline_metrics("energy", energy_metrics(true, reco))
    lo, hi = head["bin_1tev"]
    assert lo <= 1.0 < hi
    assert head["resolution_1tev"] == pytest.approx(0.1, rel=0.05)  # 68 % of |N(0, 0.1)|
    assert 0.9 < head["r2"] < 1.0 and head["n_events"] == true.size
    signal = rng.random(20_000) < 0.5
    score = np.where(signal, rng.normal(1, 1, signal.size), rng.normal(-1, 1, signal.size))
    head = ov.headline_metrics("classifier", classifier_metrics(signal, score))
    assert head["roc_auc"] == pytest.approx(0.921, abs=0.01)  # Phi(2 / sqrt(2))


def _progress(done, files=10):
    empty = {"done": 0, "files": 0, "events_done": 0, "events": 0}
    dl2 = {"done": done, "files": files, "events_done": 100 * done, "events": 100 * files}
    return {"energy": dict(empty, done=4, files=4), "classification": empty, "dl2": dl2}


def test_progress_rate_and_eta():
    rows = [
        {"dataset": "g", "stage": "dl2", "files": 6, "processed": 3, "failed": 1,
         "events_done": 300, "events": 600},
        {"dataset": "p", "stage": "dl2", "files": 4, "processed": 4, "failed": 0,
         "events_done": 400, "events": 400},
        {"dataset": "e", "stage": "energy", "files": None},
    ]  # fmt: skip
    assert ov.stage_progress(rows)["dl2"] == {
        "done": 8, "files": 10, "events_done": 700, "events": 1000,
    }  # fmt: skip
    text = ov.format_progress([(0.0, _progress(2)), (120.0, _progress(6))])
    dl2 = next(line for line in text.splitlines() if line.startswith("dl2"))
    # 4 files in 2 minutes: 2 files/min, 4 left: 2 minutes
    assert dl2.split() == ["dl2", "6/10", "600/1000", "2.0", "2m00s"]
    energy = next(line for line in text.splitlines() if line.startswith("energy"))
    assert energy.split()[-1] == "done"
    assert next(x for x in text.splitlines() if x.startswith("classification")).split() == [
        "classification", "-",
    ]  # fmt: skip
    text = ov.format_progress([(0.0, _progress(2)), (60.0, _progress(2))])
    assert next(x for x in text.splitlines() if x.startswith("dl2")).split()[-2:] == ["-", "-"]


SACCT = (
    "101|u1|RUNNING|{wd}|rule_dl2_wildcards_gamma_3f2a\n"
    "102_4|u1|PENDING|{wd}|rule_training_data_energy_wildcards_gamma_aa\n"
    "103|other|RUNNING|/elsewhere|rule_dl2_wildcards_x\n"
    "104|u1|CANCELLED by 0|{wd}|\n"
    "garbage line\n"
)


def test_parse_sacct_keeps_the_jobs_of_this_production(tmp_path):
    jobs = ov.parse_sacct(SACCT.format(wd=tmp_path), str(tmp_path))
    assert jobs == [
        {"job": "101", "name": "u1", "state": "RUNNING", "rule": "dl2"},
        {"job": "102_4", "name": "u1", "state": "PENDING", "rule": "training_data_energy"},
        {"job": "104", "name": "u1", "state": "CANCELLED", "rule": None},
    ]


def test_backend_jobs_asks_sacct_or_says_unknown(tmp_path):
    out = ov.backend_jobs(str(tmp_path), which=lambda name: None)
    assert not out["known"] and out["reason"].startswith("unknown: no sacct on PATH")
    # a sacct on PATH: the command it gets, and what is made of its answer
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "args").write_text("")
    (bin_ / "sacct").write_text(
        f"#!/bin/sh\necho \"$@\" > {bin_ / 'args'}\nprintf '%s' '{SACCT.format(wd=tmp_path)}'\n"
    )
    (bin_ / "sacct").chmod(0o755)
    out = ov.backend_jobs(str(tmp_path), which=lambda name: str(bin_ / name))
    assert out["known"] and out["system"] == "slurm"
    assert [j["job"] for j in out["jobs"]] == ["101", "102_4", "104"]
    args = (bin_ / "args").read_text().split()
    assert "--parsable2" in args and "--format=JobID,JobName,State,WorkDir,Comment" in args
    assert "--state=PENDING,RUNNING,REQUEUED,RESIZING,SUSPENDED" in args
    (bin_ / "sacct").write_text("#!/bin/sh\necho 'sacct: error: slurmdbd down' >&2\nexit 1\n")
    out = ov.backend_jobs(str(tmp_path), which=lambda name: str(bin_ / name))
    assert not out["known"] and out["reason"] == "unknown: sacct: error: slurmdbd down"


def test_dirac_jobs_come_from_the_executors_record_and_nothing_is_written(tmp_path):
    """The DIRAC jobs in flight, as the executor recorded them (.snakemake/dirac/
    submitted.json), with the ids to ask DIRAC about; no record, no line; a broken
    record is named."""
    from showerflow.executors.dirac.executor import STATE_DIR

    assert ov.DIRAC_REGISTRY.parent == STATE_DIR  # where the executor writes it
    assert ov.dirac_jobs(str(tmp_path)) == {"known": True, "jobs": [], "reason": ""}
    assert ov.format_dirac_jobs(ov.dirac_jobs(str(tmp_path))) == []
    record = tmp_path / ov.DIRAC_REGISTRY
    record.parent.mkdir(parents=True)
    record.write_text(
        json.dumps(
            {
                "k2": {
                    "dirac_id": "42",
                    "rule": "dl2",
                    "outputs": ["a", "b"],
                    "submitted": "2026-12-02T10:00:05",
                },
                "k1": {
                    "dirac_id": "41",
                    "rule": "dl2",
                    "outputs": ["c"],
                    "submitted": "2026-12-02T10:00:01",
                },
                "k3": {
                    "dirac_id": "43",
                    "rule": "train_energy",
                    "outputs": ["m"],
                    "submitted": "2026-12-02T10:01:00",
                },
            }
        )  # fmt: skip
    )
    before = record.stat().st_mtime_ns
    out = ov.dirac_jobs(str(tmp_path))
    assert [j["job"] for j in out["jobs"]] == ["41", "42", "43"]  # in submission order
    assert out["jobs"][1]["n_outputs"] == 2
    text = "\n".join(ov.format_dirac_jobs(out))
    assert "DIRAC jobs: 3 submitted and not yet fetched back" in text
    assert "    dl2: 2" in text and "    train_energy: 1" in text
    assert "dirac-wms-job-status 41 42 43" in text
    assert record.stat().st_mtime_ns == before and sorted(
        p.name for p in record.parent.iterdir()
    ) == ["submitted.json"]
    record.write_text("{not json")
    broken = ov.dirac_jobs(str(tmp_path))
    assert not broken["known"] and "submitted.json unreadable" in broken["reason"]
    assert ov.format_dirac_jobs(broken)[0].startswith("DIRAC jobs: unknown: ")


# --- one production, made as a new user would --------------------------------------------------


def _tree(root):
    """Relative path -> SHA-256 of every file under ``root``, and the folders."""
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }
    return files, sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


@pytest.fixture(scope="module")
def test_run(tmp_path_factory):
    """`showerflow init`, a small toy sample, `showerflow run local --test --observation-time 5h`."""
    from workflow_helpers import SMALL

    root = tmp_path_factory.mktemp("init")
    folder = root / "analysis"
    res = subprocess.run(SHOWERFLOW + ["init", str(folder)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((folder / "config" / "config.yaml").read_text())
    cfg.update(SMALL)
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    tmp = root / "tmp"
    tmp.mkdir()
    res = subprocess.run(
        SHOWERFLOW + ["run", "local", "--test", "--observation-time", "5h"],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return folder, tmp, res


def _status(folder, *args):
    res = subprocess.run(SHOWERFLOW + ["status", *args], capture_output=True, text=True, cwd=folder)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.e2e
def test_run_cleans_up_and_prints_no_condor_warning(test_run):
    _, tmp, res = test_run
    assert list(tmp.iterdir()) == []  # the temporary profile folder was removed
    assert "CONDOR_CONFIG" not in res.stderr


@pytest.mark.e2e
def test_status_tells_the_whole_story_and_writes_nothing(test_run):
    from showerflow.performance.io import TABLES

    folder, _, _ = test_run
    before = _tree(folder)
    doc = json.loads(_status(folder, "--test", "--json"))
    # every stage of every dataset done as the --test run left it: nothing corrupt
    assert doc["test_mode"] == {"max_files_per_dataset": 2, "max_events_per_file": 2000}
    assert doc["notes"] == []
    assert sum(row["files"] for row in doc["stages"]) > 0  # a small role may get no file
    for row in doc["stages"]:
        assert row["processed"] == row["files"], row
        assert row["events_done"] == row["events"] <= 2000 * row["files"]
    assert doc["bad_files"] == []
    models = {m["name"]: m for m in doc["models"]}
    assert all(m["trained"] and not m["stale"] for m in models.values()), models
    assert 0 < models["energy"]["metrics"]["r2"] <= 1
    assert 0.5 < models["classifier"]["metrics"]["roc_auc"] <= 1
    for merged in doc["merged_dl2"]:
        assert merged["present"] and merged["up_to_date"] and merged["acceptance_met"]
        assert merged["events"] > 0 and merged["runs"] == merged["processed"]
    # the IRFs were made for 5 h (run --observation-time): with this config they are stale
    perf = doc["performance"]
    assert perf["present"] and perf["observation_time"] == 5.0
    assert perf["reasons"] == ["made for 5.0 h, the config asks 50.0 h"]
    digests = {n: bk.sha256(folder / "results" / "models" / f"{n}.joblib") for n in models}
    assert perf["models"] == digests and perf["models_current"]
    assert any(f.endswith(f"{TABLES[0]}.ecsv") for f in perf["files"])
    assert not doc["backend"]["known"] or doc["backend"]["jobs"] == []
    # the same config as the run: up to date
    doc = json.loads(
        _status(folder, "--test", "--json", "--config", "performance={observation_time: 5}")
    )
    assert doc["performance"]["up_to_date"], doc["performance"]["reasons"]
    # the table for people
    text = _status(folder, "--test", "--config", "performance={observation_time: 5}")
    assert "IRFs and sensitivity: " in text and ", up to date" in text
    assert "observation time 5.0 h" in text and "(the current ones)" in text
    assert "resolution at 1 TeV" in text and "AUC " in text
    # without --test: the test-mode outputs are work to do, not corrupt
    doc = json.loads(_status(folder, "--json"))
    assert any("made in test mode (at most 2000 events per file)" in n for n in doc["notes"])
    for row in doc["stages"]:
        assert row["corrupt"] == 0 and row["processed"] == 0, row
    assert all(m["stale"] for m in doc["models"])
    assert not any(m["up_to_date"] for m in doc["merged_dl2"])
    _status(folder)
    # the live view, two rounds
    import io

    from showerflow.runconfig import workflow_config

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        config, _ = workflow_config(overlays=[("--test", ro.testmode_overlay())])
        screen = io.StringIO()
        history = ov.watch(config, interval=0, out=screen, sleep=lambda s: None, rounds=2)
    finally:
        os.chdir(cwd)
    assert len(history) == 2 and screen.getvalue().count("watching for") == 2
    assert all(p["done"] == p["files"] for p in history[-1][1].values())
    assert _tree(folder) == before  # looking changed nothing


@pytest.mark.e2e
def test_observation_time_reaches_the_products(test_run):
    from astropy.table import Table

    folder, _, _ = test_run
    res = folder / "results"
    prov = json.loads((res / "performance" / "provenance.json").read_text())
    assert prov["performance_config"]["observation_time"] == 5.0
    assert prov["models"] and set(prov["models_by_sample"]) >= {"gamma", "proton", "electron"}
    assert Table.read(res / "performance" / "sensitivity.ecsv").meta["OBS_TIME"] == 5.0
    from astropy.io import fits

    with fits.open(res / "irf" / "cuts.fits") as hdul:
        assert hdul[0].header["OBS_TIME"] == 5.0
