"""Partial reruns, counted by files rewritten; looking changes nothing; determinism.

Each test copies the finished end-to-end run (results and Snakemake's metadata) into its
own folder, damages or changes something, runs snakemake again and checks exactly which
files were rewritten and which jobs ran, and that the results equal the clean run's.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from workflow_helpers import REPO, SNAKEMAKE, copy_run, executed_jobs, make_config, snakemake

from showerflow.bookkeeping import read_plan
from showerflow.pipeline import STAGES
from showerflow.tables import read_metadata, read_table, write_table

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


def _dl2_datasets(workdir):
    """The datasets with DL2 outputs (a plan of stage dl2)."""
    return sorted(p.stem for p in (workdir / "results" / "plans" / "dl2").glob("*.json"))


def _outputs(workdir, stage, dataset):
    """Absolute paths of a dataset's per-file outputs of a stage, sorted."""
    folder = workdir / "results" / STAGES[stage].folder / dataset
    return sorted(str(p) for p in folder.glob("*.parquet"))


def _per_file(workdir):
    """Every per-file output -> (inode, mtime_ns): a rewritten output changes both."""
    out = {}
    for stage in STAGES.values():
        for p in (workdir / "results" / stage.folder).glob("*/*.parquet"):
            st = p.stat()
            out[str(p)] = (st.st_ino, st.st_mtime_ns)
    return out


def _rewritten(before, after):
    return sorted(p for p, s in after.items() if before.get(p) != s)


def _batches(workdir, stage, dataset):
    """Batch id -> the per-file outputs it made, from the plan."""
    plan = read_plan(workdir / "results" / "plans" / stage / f"{dataset}.json")
    out = {}
    for r in plan["files"]:
        out.setdefault(r["batch"], []).append(str(workdir / r["output"]))
    return out


def _tree(workdir):
    """Relative path -> SHA-256 of every file under results/ (and the set of folders)."""
    res = workdir / "results"
    files = {
        str(p.relative_to(res)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in res.rglob("*")
        if p.is_file()
    }
    return files, sorted(str(p.relative_to(res)) for p in res.rglob("*") if p.is_dir())


def _showerflow(workdir, *args):
    return subprocess.run(
        [sys.executable, "-m", "showerflow.cli", *args],
        capture_output=True,
        text=True,
        cwd=workdir,
    )


@pytest.fixture
def copy(e2e_run, tmp_path):
    return copy_run(e2e_run, tmp_path / "run")


def _damage(workdir):
    """Damage DL2 outputs of two datasets, leaving others in each untouched.

    Every output of one gamma batch is deleted, one output of the other gamma batch is
    truncated and one proton output is rewritten as if by other models.
    """
    gamma = sorted(_batches(workdir, "dl2", "gamma").values(), key=len)
    proton = sorted(p for b in _batches(workdir, "dl2", "proton").values() for p in b)
    whole, other = gamma[-1], [p for b in gamma[:-1] for p in b]
    assert len(whole) >= 2 and len(other) >= 2 and len(proton) >= 2
    for p in whole:
        os.remove(p)
    with open(other[0], "r+b") as f:  # truncated: unreadable Parquet
        f.truncate(100)
    df, meta = read_table(proton[0])  # rewritten as if by other models
    df["gammaness"] = 0.5
    meta["models"] = {k: "0" * 64 for k in meta["models"]}
    write_table(df, proton[0], metadata=meta)
    return sorted(whole + [other[0], proton[0]])


LOOKS = [
    ["-n"],
    ["--summary"],
    ["--detailed-summary"],
    ["--list-changes", "code"],
    ["--list-changes", "input"],
    ["--list-changes", "params"],
    ["--lint"],
    ["--rulegraph"],
    ["--dag"],
    ["--d3dag"],
    ["--list-rules"],
    ["--unlock"],
]


def _half_finished(workdir):
    """Remove what comes after the models, as if the run had stopped after training."""
    res = workdir / "results"
    import shutil

    for sub in ("dl2", "irf", "performance", "plots", "plans/dl2", "receipts/dl2"):
        shutil.rmtree(res / sub, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["finished", "half-finished", "damaged"])
def test_looking_changes_nothing(copy, tmp_path, state):
    """Every command that only looks leaves results/ byte-identical."""
    if state == "damaged":
        _damage(copy)
    elif state == "half-finished":
        _half_finished(copy)
    before = _tree(copy)
    one_output = _outputs(copy, "energy", "gamma_diffuse")[0]
    looks = LOOKS + [
        ["--report", str(tmp_path / "report.html")],
        ["--cleanup-metadata", one_output],
    ]
    for args in looks:
        snakemake(copy, *args, check=False)
        assert _tree(copy) == before, f"snakemake {' '.join(args)} changed results/"
    for args in (["status", "--configfile", "config.yaml"], ["profile", "show", "local"]):
        res = _showerflow(copy, *args)
        assert res.returncode == 0, res.stderr
        assert _tree(copy) == before, f"showerflow {' '.join(args)} changed results/"


def test_dry_run_and_summary_name_what_is_damaged(copy):
    damaged = _damage(copy)
    dry = snakemake(copy, "-n")
    text = dry.stdout + dry.stderr
    jobs = Counter(executed_jobs(dry))
    # exactly the damaged files' jobs, the plan that batches them, and what follows
    assert jobs == Counter(
        {
            "plan": 2,
            "publish": len(damaged),
            "merge_dl2": 2,
            "optimize": 1,
            "performance": 1,
            "plot_performance": 1,
        }
    ), jobs
    assert "output(s) deleted or rewritten since used" in text
    for p in damaged:
        assert Path(p).name in text
    summary = snakemake(copy, "--summary").stdout
    status = {
        line.split("\t")[0]: line.split("\t")[-1] for line in summary.splitlines() if "\t" in line
    }
    for p in damaged:
        rel = str(Path(p).relative_to(copy))
        assert status[rel] != "ok", (rel, status[rel])
    # showerflow status names each of them with its reason
    out = _showerflow(copy, "status", "--configfile", "config.yaml").stdout
    for p in damaged:
        meta_input = None
        if os.path.exists(p):
            try:
                meta_input = read_metadata(p).get("input")
            except Exception:  # the truncated one
                meta_input = None
        if meta_input:
            assert meta_input in out


def test_damaged_outputs_rerun_exactly_those(e2e_run, copy):
    damaged = _damage(copy)
    before = _per_file(copy)
    run = snakemake(copy)
    after = _per_file(copy)
    assert _rewritten(before, after) == damaged  # exactly the damaged files, nothing else
    jobs = Counter(executed_jobs(run))
    assert jobs["publish"] == len(damaged)
    n_gamma = sum("/gamma/" in p for p in damaged)
    assert jobs["dl2"] == -(-n_gamma // 3) + 1  # in batches of files_per_job = 3
    assert jobs["merge_dl2"] == 2
    assert jobs["optimize"] == 1 and jobs["performance"] == 1
    assert not {"train_energy", "train_classifier", "catalog"} & set(jobs), jobs
    for ds in ("gamma", "proton", "electron"):
        pd.testing.assert_frame_equal(_dl2(e2e_run, ds)[0], _dl2(copy, ds)[0], check_exact=True)
    _same_irfs(_irf(e2e_run), _irf(copy))
    # a finished production reruns nothing, also right after a repair
    assert executed_jobs(snakemake(copy)) == []
    assert "Nothing to be done" in (r := snakemake(copy, "-n")).stdout + r.stderr


def test_deleted_training_table_is_redone_and_nothing_after_it_changes(e2e_run, copy):
    tables = _outputs(copy, "energy", "gamma_diffuse")
    os.remove(tables[0])
    before = _per_file(copy)
    model = copy / "results" / "models" / "energy.joblib"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    jobs = Counter(executed_jobs(snakemake(copy)))
    assert _rewritten(before, _per_file(copy)) == [tables[0]]
    assert jobs["train_energy"] == 1 and jobs["training_data_energy"] == 1
    # retrained on the same tables: the same model, so nothing after it is redone
    assert hashlib.sha256(model.read_bytes()).hexdigest() == digest
    assert not {"train_classifier", "dl2", "training_data_classification", "merge_dl2"} & set(
        jobs
    ), jobs
    _same_irfs(_irf(e2e_run), _irf(copy))
    assert executed_jobs(snakemake(copy)) == []


def test_identical_run_and_operational_keys_rerun_nothing(copy):
    assert executed_jobs(snakemake(copy)) == []
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg.update(skip_bad_files=True, acceptance=0.9, files_per_job=2)
    cfg["dl2"]["chunk_size"] = 1000
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = snakemake(copy, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    assert executed_jobs(snakemake(copy, "--set-resources", "dl2:mem_mb=3000")) == []


def test_new_input_files_only_they_are_processed(copy):
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    before_catalog, _ = read_table(copy / "results" / "catalog" / "electron.parquet")
    before = _per_file(copy)
    cfg["simulation"]["kinds"]["electron"]["n_runs"] = 3
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = Counter(executed_jobs(snakemake(copy)))
    after_catalog, _ = read_table(copy / "results" / "catalog" / "electron.parquet")
    new = sorted(set(after_catalog["path"]) - set(before_catalog["path"]))
    assert len(new) == 1
    rewritten = _rewritten(before, _per_file(copy))
    assert [read_metadata(p)["input"] for p in rewritten] == new
    assert jobs["dl2"] == 1 and jobs["publish"] == 1
    assert not {"train_energy", "train_classifier", "training_data_energy"} & set(jobs)
    # the roles of the old files did not change
    merged = before_catalog[["path", "role"]].merge(after_catalog[["path", "role"]], on="path")
    assert len(merged) == len(before_catalog) and (merged["role_x"] == merged["role_y"]).all()
    _, meta = _dl2(copy, "electron")
    assert len(meta["simulation"]) == 3


def test_changed_model_config_reruns_that_model_and_what_follows(copy):
    path = copy / "models" / "classifier.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["estimator"]["parameters"]["n_estimators"] = 40
    path.write_text(yaml.safe_dump(cfg))
    before = _per_file(copy)
    # a dry run goes as far as the plans the new classifier remakes (checkpoints): what
    # they redo is known once they ran
    dl2_datasets = _dl2_datasets(copy)
    dry = Counter(executed_jobs(snakemake(copy, "-n")))
    assert dry["train_classifier"] == 1 and dry["plan"] == len(dl2_datasets), dry
    assert not {"train_energy", "training_data_classification", "catalog"} & set(dry), dry
    jobs = Counter(executed_jobs(snakemake(copy)))
    assert jobs["train_classifier"] == 1
    assert not {
        "simulate",
        "catalog",
        "train_energy",
        "training_data_energy",
        "training_data_classification",
    } & set(jobs), jobs
    assert jobs["merge_dl2"] == len(dl2_datasets) and jobs["performance"] == 1
    # every DL2 file was remade once, with the new classifier, and nothing else
    from showerflow.bookkeeping import sha256

    digest = sha256(copy / "results" / "models" / "classifier.joblib")
    dl2 = sorted(p for ds in dl2_datasets for p in _outputs(copy, "dl2", ds))
    assert _rewritten(before, _per_file(copy)) == dl2
    assert all(read_metadata(p)["models"]["classifier"] == digest for p in dl2)
    assert jobs["dl2"] == sum(-(-len(_outputs(copy, "dl2", ds)) // 3) for ds in dl2_datasets)
    assert executed_jobs(snakemake(copy)) == []


def test_killed_snakemake_recovers(e2e_run, copy):
    """kill -9 of snakemake and its jobs mid-DL2: unlock, rerun, same results."""
    for p in _outputs(copy, "dl2", "proton") + _outputs(copy, "dl2", "gamma"):
        os.remove(p)
    cmd = SNAKEMAKE + [
        "--snakefile",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        "--configfile",
        "config.yaml",
    ]
    proc = subprocess.Popen(
        cmd, cwd=copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    staging = copy / "results" / "dl2"
    deadline = time.time() + 1200  # a loaded machine builds the DAG slowly
    while time.time() < deadline and not list(staging.glob("*/.batches/*/*.parquet")):
        time.sleep(0.2)
    mid_dl2 = bool(list(staging.glob("*/.batches/*/*.parquet")))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert mid_dl2, "no DL2 batch started within the deadline: nothing to kill mid-DL2"
    # a dry run does not take the lock (Snakemake 9), a run does: refused until --unlock
    locked = snakemake(copy, check=False)
    assert locked.returncode != 0 and "unlock" in locked.stdout + locked.stderr
    snakemake(copy, "--unlock")
    snakemake(copy, "--rerun-incomplete")
    for ds in ("gamma", "proton"):
        pd.testing.assert_frame_equal(_dl2(e2e_run, ds)[0], _dl2(copy, ds)[0], check_exact=True)
    _same_irfs(_irf(e2e_run), _irf(copy))
    assert executed_jobs(snakemake(copy)) == []


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
    outputs = _outputs(copy, "dl2", "electron")
    os.remove(outputs[0])
    res = _showerflow(copy, "status", "--configfile", "config.yaml", "--unprocessed", "todo.json")
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
