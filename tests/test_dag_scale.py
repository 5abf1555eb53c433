"""DAG scale without timing: what a dry run of a large production reads and plans.

A synthetic production (bench/dag.py: empty DL1 files, catalogs, plans and models written
with the package's functions, as a run leaves them) goes through ``snakemake -n`` once.
Instead of timing it (timings live in ``bench/run.py dag``), the test counts what makes a
dry run grow faster than its jobs: how often plans and catalogs are parsed (once per plan,
not once per batch job), and checks that the DAG has exactly ceil(files / files_per_job)
batch jobs per dataset.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from showerflow import bookkeeping as bk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import dag  # noqa: E402  (bench/dag.py)

# Runs snakemake in this interpreter with the plan and catalog readers counted; the counts
# are written to a JSON file at every call (snakemake leaves with os._exit: no atexit).
COUNTING = """
import json, sys
import showerflow.bookkeeping as bk, showerflow.tables as tables
counts = {"read_plan": 0, "read_table": 0}
out = sys.argv[1]
def counted(name, fn):
    def inner(*a, **k):
        counts[name] += 1
        with open(out, "w") as f:
            json.dump(counts, f)
        return fn(*a, **k)
    return inner
bk.read_plan = counted("read_plan", bk.read_plan)
tables.read_table = counted("read_table", tables.read_table)
with open(out, "w") as f:
    json.dump(counts, f)
from snakemake.cli import main
sys.argv = ["snakemake"] + sys.argv[2:]
main()
"""


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("dag")
    prod = dag.synthetic_production(work, 400, files_per_job=3)
    counts = work / "counts.json"
    cmd = [sys.executable, "-c", COUNTING, str(counts), "-n", "--cores", "1"]
    cmd += ["--snakefile", str(REPO / "Snakefile"), "--directory", str(work)]
    cmd += ["--configfile", str(work / "config.yaml")]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return prod, dag.job_counts(res.stdout + res.stderr), json.loads(counts.read_text())


def test_dry_run_expands_one_job_per_batch_of_files(dry_run):
    prod, jobs, _ = dry_run
    batches = dag.expected_batches(prod)
    performance = {ds: r["performance"] for ds, r in prod["roles"].items()}
    # the production really has DL2 work in the four datasets (diffuse gammas: FoV IRFs)
    assert all(performance[ds] > 20 for ds in ("gamma", "proton", "electron"))
    assert performance["gamma_diffuse"] > 10  # 10 % of the files, half of them performance
    assert batches == {ds: -(-n // 3) for ds, n in performance.items()}
    assert jobs["dl2"] == sum(batches.values()) > 40
    # one merge per dataset with performance files, then the cuts and the IRFs once
    assert jobs["merge_dl2"] == 4
    assert jobs["optimize"] == 1 and jobs["performance"] == 1
    # the training stages are done: no training batch, no retraining, no plan or catalog rerun
    for rule in ("training_data_energy", "training_data_classification", "train_energy"):
        assert rule not in jobs
    assert "plan" not in jobs and "catalog" not in jobs


def test_plans_are_parsed_once_per_plan_not_once_per_job(dry_run):
    _, jobs, counts = dry_run
    n_plans = 3 * 4  # stages x datasets: the drift check and the input functions share a read
    assert counts["read_plan"] <= n_plans < jobs["dl2"]
    # the catalogs are not read at all while the DAG is built (the plans hold the batches)
    assert counts["read_table"] == 0


def test_read_plan_cached_rereads_a_rewritten_plan(tmp_path, monkeypatch):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"batches": {"a": ["f1"]}}))
    calls = []
    read = bk.read_plan
    monkeypatch.setattr(bk, "read_plan", lambda p: calls.append(p) or read(p))
    for _ in range(5):
        assert bk.read_plan_cached(path)["batches"] == {"a": ["f1"]}
    assert len(calls) == 1
    # the checkpoint writes a new file and renames it into place (atomic_path)
    new = tmp_path / "plan.json.tmp"
    new.write_text(json.dumps({"batches": {"b": ["f2", "f3"]}}))
    new.replace(path)
    assert bk.read_plan_cached(path)["batches"] == {"b": ["f2", "f3"]}
    assert len(calls) == 2


def test_plan_records_batch_sizes_for_the_disk_request():
    rows = [
        {"file": f"f{i}", "status": s, "size": 250_000_000 * (i + 1)}
        for i, s in enumerate(["processed", "unprocessed", "corrupt", "failed", "unprocessed"])
    ]
    plan = bk.make_plan("gamma", "dl2", rows, 3, None)
    # f0 is done; f1..f3 form one batch (0.5 + 0.75 + 1.0 GB), f4 another (1.25 GB)
    assert list(plan["batches"].values()) == [["f1", "f2", "f3"], ["f4"]]
    assert list(plan["batch_mb"].values()) == pytest.approx([2250.0, 1250.0])


def test_training_inputs_resolve_from_plans_and_manifests(tmp_path):
    from showerflow.stages import resolve_outputs

    plan = tmp_path / "plan.json"
    rows = [
        {"file": "a.root", "output": "out/a.parquet", "status": "processed"},
        {"file": "b.root", "output": "out/b.parquet", "status": "corrupt"},
        {"file": "c.root", "output": "out/c.parquet", "status": "processed"},
    ]
    plan.write_text(json.dumps({"files": rows, "batches": {"x": ["b.root"]}}))
    manifest = tmp_path / "batch-x.json"
    manifest.write_text(json.dumps({"outputs": [{"file": "b.root", "output": "out/b.parquet"}]}))
    # the batch's new output, then what the plan found processed; the corrupt one only once
    assert resolve_outputs([manifest, plan]) == ["out/b.parquet", "out/a.parquet", "out/c.parquet"]
