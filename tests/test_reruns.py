"""Partial reruns, counted by executed jobs; determinism; provenance; killed writers.

Each test copies the finished end-to-end run (results and Snakemake's metadata) into
its own folder, damages or changes something, runs snakemake again and checks exactly
which jobs ran and that the results equal the clean run's.
"""

import json
import math
import os
import signal
import subprocess
import sys
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from workflow_helpers import copy_run, executed_jobs, make_config, snakemake

from showerflow.bookkeeping import read_plan
from showerflow.tables import read_table

pytestmark = pytest.mark.e2e


def _dl2(workdir, dataset):
    df, meta = read_table(workdir / "results" / "dl2" / f"{dataset}.parquet")
    return df.sort_values(["obs_id", "event_id"]).reset_index(drop=True), meta


def _irf(workdir):
    """Every data HDU of the IRF files and the cuts file, by file and HDU name."""
    out = {}
    for name in ("full_enclosure.fits.gz", "point_like.fits.gz", "cuts.fits"):
        with fits.open(workdir / "results" / "irf" / name) as hdul:
            out.update({f"{name}:{h.name}": h.data.copy() for h in hdul[1:]})
    return out


def _same_irfs(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for col in a[name].columns.names:
            np.testing.assert_array_equal(a[name][col], b[name][col], err_msg=name + col)


def _outputs(workdir, dataset):
    """Absolute paths of a dataset's per-file DL2 outputs (plans hold relative ones)."""
    plan = read_plan(workdir / "results" / "plans" / "dl2" / f"{dataset}.json")
    return [str(workdir / r["output"]) for r in plan["files"]]


@pytest.fixture
def copy(e2e_run, tmp_path):
    return copy_run(e2e_run, tmp_path / "run")


def test_deleted_and_corrupt_outputs_rerun_only_those(e2e_run, copy):
    outputs = sorted(_outputs(copy, "proton"))
    assert len(outputs) >= 3
    os.remove(outputs[0])
    os.remove(outputs[1])
    with open(outputs[2], "r+b") as f:  # truncate: unreadable Parquet
        f.truncate(100)
    damaged = {outputs[0], outputs[1], outputs[2]}

    # a dry run says what a real run will redo, and changes nothing
    dry = snakemake(copy, "-n")
    assert "outputs of dl2/proton were deleted or changed" in dry.stderr + dry.stdout
    assert (copy / "results" / "plans" / "dl2" / "proton.json").exists()
    # after the plan checkpoint, the dry run's count equals the unprocessed count
    snakemake(copy, "results/plans/dl2/proton.json")
    plan = read_plan(copy / "results" / "plans" / "dl2" / "proton.json")
    assert set(plan["unprocessed"]["proton"]) == {
        r["file"] for r in plan["files"] if str(copy / r["output"]) in damaged
    }
    assert plan["counts"]["unprocessed"] == 2 and plan["counts"]["corrupt"] == 1
    dry = snakemake(copy, "-n")
    assert Counter(executed_jobs(dry))["dl2"] == math.ceil(3 / 3) == len(plan["batches"])

    run = snakemake(copy)
    jobs = Counter(executed_jobs(run))
    expected = {"dl2": 1, "merge_dl2": 1, "optimize": 1, "performance": 1, "plot_performance": 1}
    assert jobs == Counter(expected), jobs
    a, _ = _dl2(e2e_run, "proton")
    b, _ = _dl2(copy, "proton")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    _same_irfs(_irf(e2e_run), _irf(copy))
    assert "Nothing to be done" in (r := snakemake(copy, "-n")).stdout + r.stderr


def test_new_input_files_only_they_are_processed(e2e_run, copy):
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    before, _ = read_table(copy / "results" / "catalog" / "electron.parquet")
    cfg["simulation"]["kinds"]["electron"]["n_runs"] = 3
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake(copy)
    jobs = Counter(executed_jobs(run))
    assert jobs["dl2"] == 1
    assert not {
        "train_energy",
        "train_classifier",
        "training_data_energy",
        "training_data_classification",
    } & set(jobs)
    manifests = sorted(
        (copy / "results" / "dl2" / "electron").glob("batch-*.json"), key=os.path.getmtime
    )
    newest = json.loads(manifests[-1].read_text())
    after, _ = read_table(copy / "results" / "catalog" / "electron.parquet")
    new = sorted(set(after["path"]) - set(before["path"]))
    assert [o["file"] for o in newest["outputs"]] == new
    # the roles of the old files did not change
    merged = before[["path", "role"]].merge(after[["path", "role"]], on="path")
    assert len(merged) == len(before) and (merged["role_x"] == merged["role_y"]).all()
    dl2, meta = _dl2(copy, "electron")
    assert len(meta["simulation"]) == 3


def test_changed_model_config_reruns_that_model_and_what_follows(copy):
    path = copy / "models" / "classifier.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["estimator"]["parameters"]["n_estimators"] = 40
    path.write_text(yaml.safe_dump(cfg))
    jobs = Counter(executed_jobs(snakemake(copy)))
    assert jobs["train_classifier"] == 1
    assert not {
        "simulate",
        "catalog",
        "train_energy",
        "training_data_energy",
        "training_data_classification",
    } & set(jobs), jobs
    assert jobs["merge_dl2"] == 3 and jobs["performance"] == 1
    # every DL2 file was remade once, with the new classifier
    from showerflow.bookkeeping import sha256

    digest = sha256(copy / "results" / "models" / "classifier.joblib")
    n_batches = 0
    for ds in ("gamma", "proton", "electron"):
        plan = read_plan(copy / "results" / "plans" / "dl2" / f"{ds}.json")
        n_batches += math.ceil(len(plan["files"]) / 3)
        for r in plan["files"]:
            assert read_table(copy / r["output"])[1]["models"]["classifier"] == digest
    assert jobs["dl2"] == n_batches


def test_two_clean_runs_are_identical(e2e_run, tmp_path):
    other = tmp_path / "again"
    make_config(other)
    snakemake(other)
    for ds in ("gamma", "proton", "electron"):
        a, _ = _dl2(e2e_run, ds)
        b, _ = _dl2(other, ds)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    _same_irfs(_irf(e2e_run), _irf(other))


def test_provenance_of_final_products(e2e_run):
    res = e2e_run / "results"
    _, meta = _dl2(e2e_run, "gamma")
    prov = meta["provenance"]
    catalog = json.loads((res / "catalog" / "gamma.json").read_text())
    assert prov["catalogs"] == {"gamma": catalog["digest"]}
    assert prov["config"]["files_per_job"] == 3 and len(prov["config_digest"]) == 64
    assert prov["software"]["pyirf"] and prov["software"]["scikit-learn"]
    assert sorted(meta["inputs"]) == sorted(catalog["roles"]["performance"])
    perf = json.loads((res / "performance" / "provenance.json").read_text())
    assert perf["config_digest"] == prov["config_digest"]
    assert set(perf["catalogs"]) == {"gamma", "gamma_diffuse", "proton", "electron"}
    assert sorted(perf["dl1_files"]["gamma"]) == sorted(meta["inputs"])
    assert perf["cuts"]["file"].endswith("irf/cuts.fits") and perf["cuts"]["ZENITH"] == 20.0
    for name in ("full_enclosure.fits.gz", "point_like.fits.gz"):
        with fits.open(res / "irf" / name) as hdul:
            assert hdul[0].header["SFCONFIG"] == prov["config_digest"][:16]
    from showerflow.models import load_model

    model = load_model(res / "models" / "classifier.joblib")
    assert model["provenance"]["inputs"] and model["versions"]["scikit-learn"]


def test_status_counts_and_unprocessed_json(copy):
    outputs = sorted(_outputs(copy, "electron"))
    os.remove(outputs[0])
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "showerflow.cli",
            "status",
            "--configfile",
            "config.yaml",
            "--unprocessed",
            "todo.json",
        ],
        capture_output=True,
        text=True,
        cwd=copy,
    )
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("electron") and "dl2" in x)
    files, done, todo, corrupt, failed = map(int, line.split()[2:7])
    assert (files, done, todo, corrupt, failed) == (len(outputs), len(outputs) - 1, 1, 0, 0)
    todo_json = json.loads((copy / "todo.json").read_text())
    assert len(todo_json["electron"]) == 1 and todo_json["proton"] == []


def test_killed_writer_leaves_nothing_that_looks_done(tmp_path):
    target = tmp_path / "out.parquet"
    code = f"""
import os, signal
import pandas as pd
from showerflow.tables import atomic_path
with atomic_path({str(target)!r}) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"PAR1" + b"x" * 10000)
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
"""
    res = subprocess.run([sys.executable, "-c", code])
    assert res.returncode == -signal.SIGKILL
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()][0].endswith(".tmp")
