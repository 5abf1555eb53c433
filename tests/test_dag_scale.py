"""DAG scale without timing: what a dry run of a large production reads and plans.

A synthetic production (bench/dag.py: empty DL1 files, catalogs, plans, receipts and models
written with the package's functions, as a run leaves them) goes through ``snakemake -n``
once. Instead of timing it (timings live in ``bench/run.py dag``), the test counts what
makes a dry run grow faster than its jobs: how often plans, receipts and catalogs are
parsed (once per file, not once per job), and checks that the DAG has exactly
ceil(files / files_per_job) batch jobs and one publish job per file of each dataset.
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

# Runs snakemake in this interpreter with the JSON and Parquet readers counted; the counts
# are written to a JSON file at every call (snakemake leaves with os._exit: no atexit).
COUNTING = """
import json, sys
import showerflow.bookkeeping as bk, showerflow.tables as tables
counts = {"json": 0, "read_table": 0}
out = sys.argv[1]
def counted(name, fn):
    def inner(*a, **k):
        counts[name] += 1
        with open(out, "w") as f:
            json.dump(counts, f)
        return fn(*a, **k)
    return inner
bk._read_json_version.__wrapped__  # lru_cache: count the reads behind it
bk._read_json_version = __import__("functools").lru_cache(maxsize=512)(
    counted("json", bk._read_json_version.__wrapped__))
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


def test_dry_run_expands_one_job_per_batch_and_one_publish_per_file(dry_run):
    prod, jobs, _ = dry_run
    batches = dag.expected_batches(prod)
    performance = {ds: r["performance"] for ds, r in prod["roles"].items()}
    # the production really has DL2 work in three datasets, none in gamma_diffuse (0.0)
    assert performance["gamma_diffuse"] == 0
    assert all(performance[ds] > 20 for ds in ("gamma", "proton", "electron"))
    assert batches == {ds: -(-n // 3) for ds, n in performance.items()}
    assert jobs["dl2"] == sum(batches.values()) > 40
    assert jobs["publish"] == sum(performance.values())
    # one merge per dataset with performance files, then the IRFs once
    assert jobs["merge_dl2"] == 3
    assert jobs["performance"] == 1
    # the training stages are done: no training batch, no retraining, no plan or catalog rerun
    for rule in ("training_data_energy", "training_data_classification", "train_energy"):
        assert rule not in jobs
    assert "plan" not in jobs and "catalog" not in jobs


def test_plans_and_catalogs_are_parsed_once_not_once_per_job(dry_run):
    _, jobs, counts = dry_run
    # plans (stages x datasets) and receipts: each parsed once, not once per job
    assert counts["json"] <= 3 * 4 + 3 * 4 < jobs["publish"]
    # each catalog read once per stage at most
    assert counts["read_table"] <= 3 * 4


def test_read_json_cached_rereads_a_rewritten_file(tmp_path, monkeypatch):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"batches": {"a": ["f1"]}}))
    for _ in range(5):
        assert bk.read_plan_cached(path)["batches"] == {"a": ["f1"]}
    # the checkpoint writes a new file and renames it into place (atomic_path)
    new = tmp_path / "plan.json.tmp"
    new.write_text(json.dumps({"batches": {"b": ["f2", "f3"]}}))
    new.replace(path)
    assert bk.read_plan_cached(path)["batches"] == {"b": ["f2", "f3"]}
    assert bk.read_json_cached(tmp_path / "missing.json") is None


def test_plan_records_batch_sizes_for_the_disk_request():
    rows = [
        {
            "file": f"f{i}",
            "output": f"o{i}",
            "status": s,
            "size": 250_000_000 * (i + 1),
            "checksum": None,
            "batch": None,
            "state": None,
            "n_events": 1,
            "reason": "",
        }
        for i, s in enumerate(["unprocessed", "unprocessed", "corrupt", "unprocessed"])
    ]
    plan = bk.make_plan("gamma", "dl2", rows, 3, {})
    # f0..f2 form one batch (0.25 + 0.5 + 0.75 GB), f3 another (1 GB)
    assert [plan["batches"][b]["files"] for b in plan["todo"]] == [["f0", "f1", "f2"], ["f3"]]
    assert [plan["batches"][b]["mb"] for b in plan["todo"]] == pytest.approx([1500.0, 1000.0])
