"""DIRAC backend, the parts that need no server: JDL, runner, statuses, metadata, checks.

What DIRAC itself makes of these (its ClassAd parser, its job model, the File Catalog,
jobs run by its JobAgent) is tested against a real server in ``test_dirac_server.py``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from showerflow.executors.dirac import bridge as B
from showerflow.executors.dirac import jdl as J
from showerflow.executors.dirac.batches import (
    BATCH_FIELDS,
    batch_hook,
    batch_of,
    model_field,
    obs_id_of,
    staged_files,
)
from showerflow.executors.dirac.checks import (
    PreflightError,
    check_indexed,
    check_jdl_readback,
    check_lfn_base,
    check_output_se,
    check_proxy,
)
from showerflow.executors.dirac.client import DiracClient, dirac_python, redact
from showerflow.executors.dirac.datasets import (
    QueryError,
    catalog_columns,
    dl1_metadata,
    local_path,
    parse_query,
)
from showerflow.executors.dirac.executor import job_key
from showerflow.executors.dirac.jobs import classify_status, failure_reason, fetch_failure_reason
from showerflow.executors.dirac.outputs import (
    CatalogHookError,
    check_hook,
    combine_hooks,
    default_metadata,
    file_entries,
    meta_value,
    particle_of,
    read_sidecar,
)

BASE = "/vo/user/c/ciuser/showerflow"


# -- LFNs and names ------------------------------------------------------------------------
def test_lfn_for_maps_relative_paths_under_the_base():
    assert J.lfn_for("results/dl2/gamma/x.parquet", BASE) == f"{BASE}/results/dl2/gamma/x.parquet"
    assert J.lfn_for("./a//b/../c.txt", BASE + "/") == f"{BASE}/a/c.txt"


@pytest.mark.parametrize(
    ("path", "base", "message"),
    [
        ("/data/run1.root", BASE, "outside the working directory"),
        ("../run1.root", BASE, "outside the working directory"),
        ("a b.root", BASE, "space"),
        ("a,b.root", BASE, "comma"),
        ('a"b.root', BASE, "'\"'"),
        ("d/" + "x" * 129, BASE, "the File Catalog allows 128"),
        ("/".join(["d" * 60] * 5), BASE, "DIRAC allows 255"),
        ("a.root", "relative/base", "must be absolute"),
    ],
)
def test_lfn_for_refuses_what_dirac_cannot_hold(path, base, message):
    with pytest.raises(J.JDLError, match=message):
        J.lfn_for(path, base)


def test_job_name_is_readable_and_within_dirac_limit():
    assert J.job_name("dl2", {"dataset": "gamma", "batch": "3"}, 17) == "showerflow.dl2.gamma.3.17"
    assert J.job_name("a rule", {"w": "x/y"}) == "showerflow.a_rule.x_y"
    long_a = J.job_name("r", {"d": "a" * 200}, 1)
    long_b = J.job_name("r", {"d": "a" * 200}, 2)
    assert len(long_a) == J.JOB_NAME_MAX == 128 and long_a != long_b
    assert len(J.job_group("g" * 40)) == J.JOB_GROUP_MAX == 32


def test_cpu_time_scales_runtime_threads_and_power():
    assert J.cpu_time(60, threads=2, cpu_power=10) == 72_000
    assert J.cpu_time(1, threads=1, cpu_power=1) == 300  # the floor
    with pytest.raises(J.JDLError, match="positive"):
        J.cpu_time(0)


def test_inputs_with_clashing_base_names_are_fetched_one_by_one():
    plan = J.plan_inputs(
        [
            ("/b/training/gamma/x.parquet", "training/gamma/x.parquet"),
            ("/b/training/proton/x.parquet", "training/proton/x.parquet"),
            ("/b/models/energy.joblib", "models/energy.joblib"),
            ("/b/other/showerflow_bridge.py", "other/showerflow_bridge.py"),
        ]
    )
    assert [mode for mode, _, _ in plan] == ["fetch", "fetch", "local", "fetch"]


def _spec(**override):
    spec = dict(
        name="showerflow.dl2.gamma.0.5",
        executable=J.RUNNER,
        arguments=J.MANIFEST,
        input_sandbox=["/tmp/job/showerflow_job.sh"],
        output_sandbox=["sf_0_dl2.log"],
        input_data=[f"{BASE}/results/dl1/gamma/run1.root"],
        output_se="SE-1",
        cpu_time=36_000,
    )
    spec.update(override)
    return J.JobSpec(**spec)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"name": "n" * 129}, "1 to 128 characters"),
        ({"output_se": ""}, "no OutputSE: set --dirac-output-se"),
        ({"sites": ["A"], "banned_sites": ["A"]}, "both allowed"),
        ({"input_data": ["/b//x.root"]}, "contains '//'"),
        ({"input_sandbox": ["/tmp/my job/run.sh"]}, "sandbox path .* contains space"),
        ({"input_sandbox": ["/tmp/a,b/run.sh"]}, "contains comma"),
        ({"input_sandbox": ["/a/run.sh", "/b/run.sh"]}, "share the base name"),
        ({"arguments": 'say "hi"'}, "quote, backslash or newline"),
        ({"input_data": [f"/b/f{i}.root" for i in range(500)]}, "500 input files; DIRAC refuses"),
    ],
)
def test_build_jdl_refuses_jobs_dirac_would_refuse_or_misread(override, message):
    with pytest.raises(J.JDLError, match=message):
        J.build_jdl(_spec(**override))


def test_build_jdl_names_inputs_as_lfns_and_no_output_data():
    text = J.build_jdl(_spec())
    assert f'InputData = {{"LFN:{BASE}/results/dl1/gamma/run1.root"}};' in text
    assert 'OutputSE = "SE-1";' in text and "OutputData" not in text
    assert "Site =" not in text  # any site


def test_manifest_lines_and_their_refusals():
    text = J.render_manifest(
        [("local", "/b/in.root", "data/in.root")],
        [
            ("results/o.parquet", "/b/results/o.parquet", "file"),
            ("results/st", "/b/results/st", "dir"),
        ],
        [("logs/x.log", "sf_0_x.log")],
        "/b",
        "SE-1",
        empty=["data/empty.txt"],
        mtimes={"data/in.root": "1700000000.000000001"},
        aliases={"results/st/x.parquet": "/b/results/x.parquet"},
    )
    assert text.splitlines() == [
        "base\t/b\tSE-1",
        "in\tlocal\t/b/in.root\tdata/in.root\t1700000000.000000001",
        "mk\tdata/empty.txt\t",
        "out\tresults/o.parquet\t/b/results/o.parquet\tfile",
        "out\tresults/st\t/b/results/st\tdir",
        "as\tresults/st/x.parquet\t/b/results/x.parquet",
        "sb\tlogs/x.log\tsf_0_x.log",
    ]
    with pytest.raises(J.JDLError, match="tab or newline"):
        J.render_manifest([("local", "/b/x", "a\tb")], [], [], "/b", "SE-1")
    with pytest.raises(J.JDLError, match="contains '//'"):
        J.render_manifest([], [], [], "/b", "SE-1", aliases={"st/x": "/b//x"})


def test_mtime_text_is_what_touch_reads_back(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    os.utime(f, ns=(1_700_000_000_000_000_001, 1_700_000_000_123_456_789))
    assert J.mtime_text(f) == "1700000000.123456789"
    g = tmp_path / "g"
    g.write_text("y")
    subprocess.run(["touch", "-m", "-d", "@" + J.mtime_text(f), str(g)], check=True)
    assert g.stat().st_mtime_ns == f.stat().st_mtime_ns


# -- the worker side (bridge functions that need no DIRAC) ---------------------------------
def test_output_files_of_a_directory_are_every_file_inside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("st/sub/deeper").mkdir(parents=True)
    for name in ("b.parquet", "a.parquet", "sub/c.parquet", "sub/deeper/d.json"):
        Path("st", name).write_text(name)
    files = B.output_files("st", "/b/st", "dir")
    assert files == [
        ("st/a.parquet", "/b/st/a.parquet"),
        ("st/b.parquet", "/b/st/b.parquet"),
        ("st/sub/c.parquet", "/b/st/sub/c.parquet"),
        ("st/sub/deeper/d.json", "/b/st/sub/deeper/d.json"),
    ]
    assert B.output_files("x.txt", "/b/x.txt", "file") == [("x.txt", "/b/x.txt")]
    # a file of the directory uploaded under another LFN (a batch's per-file output)
    aliased = B.output_files("st", "/b/st", "dir", {"st/sub/c.parquet": "/b/final/c.parquet"})
    assert aliased[2] == ("st/sub/c.parquet", "/b/final/c.parquet")
    assert aliased[:2] == files[:2] and aliased[3] == files[3]


def test_bridge_adler32_is_zlib_and_dirac_drops_leading_zeros(tmp_path):
    import zlib

    f = tmp_path / "f"
    f.write_bytes(os.urandom(3_000_000))
    assert int(B.adler32(f), 16) == zlib.adler32(f.read_bytes())
    assert B.same_adler32("0072003e", "72003e") and not B.same_adler32("0072003e", "0072003f")


def test_runner_places_inputs_runs_and_reports_exit_codes(tmp_path):
    """The runner script with a stand-in for DIRAC's Python (uploads recorded, not done)."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    fake = fakebin / "python3"
    fake.write_text(
        "#!/bin/bash\n"
        'if [ "$1" = -c ]; then exit 0; fi\n'  # "import DIRAC" works
        'echo "$@" >> calls.txt\n'
        'if [ "$2" = get-file ]; then echo fetched > "$4/$(basename "$3")"; fi\n'
        'if [ "$2" = upload-outputs ] && [ ! -e results/out.txt ]; then exit 3; fi\n'
    )
    fake.chmod(0o755)
    (fakebin / "dirac-dms-add-file").write_text("#!/bin/bash\n")
    (fakebin / "dirac-dms-add-file").chmod(0o755)
    job = tmp_path / "job"
    job.mkdir()
    (job / "run1.root").write_text("downloaded by DIRAC\n")
    pairs = [
        ("/b/d/run1.root", "data/d/run1.root"),
        ("/b/x/m.txt", "x/m.txt"),
        ("/b/y/m.txt", "y/m.txt"),
    ]
    stamps = {"data/d/run1.root": "1600000000.000000123", "y/m.txt": "1600000001.5"}
    (job / J.MANIFEST).write_text(
        J.render_manifest(
            J.plan_inputs(pairs),
            [("results/out.txt", "/b/results/out.txt", "file")],
            [("logs/j.log", "sf_0_j.log")],
            "/b",
            "SE-1",
            empty=["data/empty.txt"],
            mtimes={**stamps, "data/empty.txt": "1600000002.000000000"},
        )
    )
    (job / J.RUNNER).write_text(J.runner_script())
    env = dict(os.environ, PATH=f"{fakebin}:{os.environ['PATH']}")
    (job / J.COMMAND).write_text(
        "mkdir -p results logs && cat data/d/run1.root x/m.txt > results/out.txt && echo ok > logs/j.log\n"
    )
    res = subprocess.run(["bash", J.RUNNER], cwd=job, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert (job / "results" / "out.txt").read_text() == "downloaded by DIRAC\nfetched\n"
    assert (job / "sf_0_j.log").read_text() == "ok\n"
    calls = (job / "calls.txt").read_text().splitlines()
    assert [c.split()[1] for c in calls] == ["get-file", "get-file", "upload-outputs"]
    # inputs keep the modification times they have on the submit host (receipts record them)
    assert (job / "data/d/run1.root").stat().st_mtime_ns == 1_600_000_000_000_000_123
    assert (job / "y/m.txt").stat().st_mtime_ns == 1_600_000_001_500_000_000
    assert (job / "data/empty.txt").stat().st_mtime_ns == 1_600_000_002_000_000_000
    assert (job / "data/empty.txt").stat().st_size == 0
    # a job command that fails: its code, no upload
    (job / J.COMMAND).write_text("exit 7\n")
    (job / "calls.txt").unlink()
    (job / "run1.root").write_text("again\n")
    res = subprocess.run(["bash", J.RUNNER], cwd=job, capture_output=True, text=True, env=env)
    assert res.returncode == 7 and "upload-outputs" not in (job / "calls.txt").read_text()
    # a declared output the job did not write: 94
    (job / J.COMMAND).write_text("rm -f results/out.txt\n")
    (job / "run1.root").write_text("again\n")
    res = subprocess.run(["bash", J.RUNNER], cwd=job, capture_output=True, text=True, env=env)
    assert res.returncode == 94


def test_runner_refuses_a_node_without_dirac_python(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / J.MANIFEST).write_text(J.render_manifest([], [], [], "/b", "SE-1"))
    (job / J.RUNNER).write_text(J.runner_script())
    (job / J.COMMAND).write_text("true\n")
    env = {"PATH": "/usr/bin:/bin"}
    res = subprocess.run(["bash", J.RUNNER], cwd=job, capture_output=True, text=True, env=env)
    assert res.returncode == 95 and "no Python that imports DIRAC" in res.stderr


def test_bridge_answers_errors_in_json_without_dirac(tmp_path):
    """The bridge's request handling (unknown operation, unreadable request), no DIRAC needed."""
    res = subprocess.run(
        [sys.executable, str(Path(B.__file__))], input="not json", capture_output=True, text=True
    )
    assert json.loads(res.stdout)["error"].startswith("unreadable request")


# -- statuses and what is said --------------------------------------------------------------
def test_job_states_waiting_running_and_final():
    assert [classify_status(s) for s in ("Received", "Matched", "Running", "Completing")] == [
        "pending",
        "pending",
        "running",
        "running",
    ]
    assert [classify_status(s) for s in ("Done", "Failed", "Killed", "Stalled", "?")] == [
        "done",
        "failed",
        "killed",
        "stalled",
        "unknown",
    ]


def test_owner_kill_is_not_reported_as_a_limit():
    said = failure_reason("42", "Killed", "Marked for termination")
    assert "42" in said and "owner or an administrator" in said and "runtime" not in said


def test_running_job_killed_by_its_owner_is_told_from_a_limit_by_its_history():
    """A running job its owner kills ends 'Failed; Received Kill signal' with nothing else
    in its history (seen on the one-host DIRAC 9.1 server), as a job stopped at a site's
    time limit does: a kill long before the limit it asked for is not the limit."""
    final = ("47", "Failed", "Received Kill signal")
    history = [
        ["Matched", "Assigned", "Unknown", "2026-12-02 13:45:13", "Matcher"],
        ["Running", "Application", "Unknown", "2026-12-02 13:45:15", "JobWrapper"],
        ["Failed", "Received Kill signal", "Unknown", "2026-12-02 13:45:31", "JobWrapper"],
    ]
    said = failure_reason(*final, history=history, time_limit=3600)  # 16 s of an hour
    assert "owner or an administrator" in said and "not by a limit" in said
    assert "runtime" not in said.split("not by a limit")[0]
    at_limit = failure_reason(*final, history=history, time_limit=20)  # 16 s of 20 s
    assert "raise the rule's runtime" in at_limit
    assert "raise the rule's runtime" in failure_reason(*final)  # history unknown
    failed = [
        history[1],
        ["Failed", "Application Finished With Errors", "Failed", "2026-12-02 13:45:20", "JW"],
    ]
    said = failure_reason("49", "Failed", "Application Finished With Errors", history=failed,
                          time_limit=3600)  # fmt: skip
    assert "the job's command exited with an error" in said  # a quick failure is no kill
    marked = [["Killed", "Marked for termination", "Unknown", "2026-12-02 13:45:20", "JM"]]
    assert "owner" in failure_reason("48", "Killed", "Marked for termination", history=marked)


def test_limit_kill_says_to_raise_the_runtime():
    said = failure_reason(
        "43", "Failed", "Job has reached the CPU limit of the queue", site="LCG.X.org"
    )
    assert "43" in said and "raise the rule's runtime" in said and "LCG.X.org" in said


def test_payload_failure_and_runner_exit_codes_are_named():
    said = failure_reason(
        "44", "Failed", "Application Finished With Errors", "Failed with exit code 3"
    )
    assert "the job's command exited with an error" in said and "44" in said
    said = failure_reason(
        "45", "Failed", "Application Finished With Errors", "Failed with exit code 94"
    )
    assert "did not write one of its declared outputs" in said
    said = failure_reason("46", "Stalled", "Watchdog identified this job as stalled")
    assert "stalled" in said and "runtime" not in said


def test_fetch_failures_say_what_was_lost_and_what_happens():
    corrupt = fetch_failure_reason("7", "/b/x", "corrupt", "Mismatch of checksums")
    missing = fetch_failure_reason("7", "/b/x", "missing", "No such file")
    gone = fetch_failure_reason("7", "/b/x", "unreachable", "Connection refused")
    assert "does not match its catalog checksum" in corrupt and "rerun" in corrupt
    assert "missing from the storage element" in missing
    assert "server does not answer" in gone and "only the jobs whose outputs are missing" in gone


# -- metadata and ancestors -----------------------------------------------------------------
CONFIG = {
    "datasets": {
        "gamma": {"query": 'particle == "gamma" and zenith == 20'},
        "mix": {"query": "zenith == 20", "particle": "proton"},
        "fc": {"catalog": "dirac", "dirac_query": "zenith=20 particle=electron"},
    }
}


def test_particle_of_a_dataset_from_its_key_or_query():
    assert particle_of(CONFIG, "gamma") == "gamma"
    assert particle_of(CONFIG, "mix") == "proton"
    assert particle_of(CONFIG, "fc") == "electron"
    assert particle_of(CONFIG, "nope") is None


def test_outputs_get_defaults_hook_metadata_and_their_own_ancestors(tmp_path):
    defaults = dict(default_metadata("dl2", {"dataset": "gamma"}, CONFIG, "d" * 64), dirac_job=5)
    params = {
        "metadata": {"models_sha256": "m" * 64},
        "files": {"results/dl2/x.parquet": {"metadata": {"note": "a b"}}},
    }
    sidecar = {
        "metadata": {"stage": "dl2_batch"},
        "files": {"u1.parquet": {"ancestors": ["dl1/run1.root"], "metadata": {"obs_id": 1}}},
    }
    files = [
        ("results/dl2/x.parquet", f"{BASE}/results/dl2/x.parquet", "results/dl2/x.parquet"),
        ("results/st/u1.parquet", f"{BASE}/results/st/u1.parquet", "results/st"),
        ("results/st/u2.parquet", f"{BASE}/results/st/u2.parquet", "results/st"),
    ]
    inputs = [f"{BASE}/dl1/run1.root", f"{BASE}/dl1/run2.root"]
    entries, warnings = file_entries(files, defaults, params, {"results/st": sidecar}, inputs, BASE)
    (x, xm, xa), (u1, u1m, u1a), (u2, u2m, u2a) = entries
    assert xm == {
        "stage": "dl2",
        "workflow": "showerflow",
        "dataset": "gamma",
        "particle": "gamma",
        "workflow_digest": "d" * 64,
        "dirac_job": 5,
        "models_sha256": "m" * 64,
        "note": "a_b",
    }
    assert xa == inputs  # no ancestors given: every input of the job
    assert u1m["stage"] == "dl2_batch" and u1m["obs_id"] == 1 and u1m["models_sha256"] == "m" * 64
    assert u1a == [f"{BASE}/dl1/run1.root"]  # its own input only
    assert u2a == inputs and warnings == []
    _, warnings = file_entries(
        files[1:2],
        defaults,
        None,
        {"results/st": {"metadata": {}, "files": {"u1.parquet": {"ancestors": ["/abs/x.root"]}}}},
        inputs,
        BASE,
    )
    assert warnings == [f"no ancestor for {BASE}/results/st/u1.parquet: '/abs/x.root' has no LFN"]


def test_hooks_combine_later_wins_file_by_file():
    batch = {"files": {"st/a.parquet": {"ancestors": ["dl1/a.root"], "metadata": {"obs_id": 1}}}}
    rule = {
        "metadata": {"note": "x"},
        "files": {"st/a.parquet": {"metadata": {"obs_id": 2, "part": "p"}}},
    }
    assert combine_hooks(batch, None, rule) == {
        "metadata": {"note": "x"},
        "files": {
            "st/a.parquet": {"ancestors": ["dl1/a.root"], "metadata": {"obs_id": 2, "part": "p"}}
        },
    }


@pytest.fixture
def staged_batch(small_production, tmp_path, monkeypatch):
    """Two toy DL1 runs in a working directory, and their energy training batch run into
    its staging folder as the workflow's batch rule runs it (paths relative)."""
    import shutil

    from showerflow.stages import batch_of_files, run_training_data

    monkeypatch.chdir(tmp_path)
    Path("results/dl1/gamma").mkdir(parents=True)
    files = []
    for src in small_production["gamma"][:2]:
        files.append(f"results/dl1/gamma/{Path(src).name}")
        shutil.copy(src, files[-1])
    batch = batch_of_files(files, "results/training/energy/gamma")
    batch["requires"]["models"] = {"energy": "e" * 64}  # as a plan of a stage applying one
    staging = f"results/training/energy/gamma/.batches/{batch['id']}"
    run_training_data(batch, staging)
    return batch, staging, files


def test_batch_outputs_go_under_their_final_names(staged_batch):
    batch, staging, files = staged_batch
    staged = staged_files(batch, staging)
    assert sorted(staged) == sorted(f"{staging}/{Path(batch['outputs'][f]).name}" for f in files)
    for path, (final, source) in staged.items():
        assert Path(path).is_file() and final == batch["outputs"][source]
        assert final.startswith("results/training/energy/gamma/") and ".batches" not in final
    assert batch_of({"batch": batch}) is batch
    assert batch_of({"batch": None}) is None and batch_of({}) is None and batch_of(None) is None


def test_batch_outputs_get_their_own_dl1_parent_obs_id_and_models(staged_batch):
    from showerflow.catalog import catalog_entry

    batch, staging, files = staged_batch
    hook = batch_hook(batch, staging)
    assert len(hook["files"]) == 2
    for path, (_, source) in staged_files(batch, staging).items():
        entry = hook["files"][path]
        assert entry["ancestors"] == [source]  # its own input, not the batch's
        # the obs_id of the run, as the DL1 file's own simulation record has it
        assert entry["metadata"]["obs_id"] == int(catalog_entry(source)["obs_id"])
        assert entry["metadata"][model_field("energy")] == "e" * 64
    assert set(BATCH_FIELDS) >= {"obs_id", model_field("energy"), model_field("classifier")}
    # through file_entries, as the executor sets them after the fetch
    listed = [
        (p, f"{BASE}/{final}", staging) for p, (final, _) in staged_files(batch, staging).items()
    ]
    entries, warnings = file_entries(listed, {"stage": "x"}, hook, {}, ["/other"], BASE)
    assert warnings == [] and sorted(a for _, _, (a,) in entries) == sorted(
        f"{BASE}/{f}" for f in files
    )


def test_obs_id_of_tombstones_and_several_runs_is_none(tmp_path):
    import pandas as pd

    from showerflow.stages import tombstone
    from showerflow.tables import write_table

    write_table(tombstone(["obs_id", "event_id"]), tmp_path / "t.parquet")
    assert obs_id_of(tmp_path / "t.parquet") is None
    two = pd.DataFrame({"obs_id": [5, 6], "event_id": [1, 1]})
    write_table(two, tmp_path / "two.parquet")
    assert obs_id_of(tmp_path / "two.parquet") is None
    write_table(two.assign(obs_id=7), tmp_path / "one.parquet", row_group_size=1)
    assert obs_id_of(tmp_path / "one.parquet") == 7


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ([1], "expected a JSON object"),
        ({"meta": {}}, "unknown key"),
        ({"metadata": {"1bad": 2}}, "not a File Catalog field name"),
        ({"files": {"a": {"ancestors": "x"}}}, "must be a list"),
        ({"files": {"a": {"what": 1}}}, "must be an object with"),
    ],
)
def test_bad_hooks_are_refused_with_where_and_what(hook, message):
    with pytest.raises(CatalogHookError, match=message):
        check_hook(hook, "results/st/dirac-catalog.json")


def test_read_sidecar(tmp_path):
    assert read_sidecar(tmp_path) is None
    (tmp_path / "dirac-catalog.json").write_text("{not json")
    with pytest.raises(CatalogHookError, match="not valid JSON"):
        read_sidecar(tmp_path)
    (tmp_path / "dirac-catalog.json").write_text('{"metadata": {"a": 1}}')
    assert read_sidecar(tmp_path) == {"metadata": {"a": 1}, "files": {}}


def test_meta_values_are_what_the_catalog_stores():
    import numpy as np

    assert meta_value(np.int64(3)) == 3 and meta_value(2.5) == 2.5
    assert meta_value("two words") == "two_words" and meta_value(True) == "true"


def test_job_key_changes_with_inputs_and_command_only():
    a = job_key("dl2", ["o1", "o2"], [("/b/x", "01")], "cmd")
    assert a == job_key("dl2", ["o2", "o1"], [("/b/x", "01")], "cmd")
    assert a != job_key("dl2", ["o1", "o2"], [("/b/x", "02")], "cmd")
    assert a != job_key("dl2", ["o1", "o2"], [("/b/x", "01")], "other")


# -- checks before submission ----------------------------------------------------------------
PROXY = {
    "seconds_left": 7200,
    "group": "dirac_user",
    "group_properties": ["NormalUser"],
    "valid_group": True,
    "username": "ciuser",
    "home": "/vo/user/c/ciuser",
    "user_groups": ["dirac_admin", "dirac_user"],
}


@pytest.mark.parametrize(
    ("override", "args", "message"),
    [
        (
            {"seconds_left": 0},
            (1.0, None),
            "expired; create a new one with `dirac-proxy-init -g dirac_user`",
        ),
        ({"seconds_left": 1800}, (1.0, None), "expires in 0.50 h, less than the 1.0 h"),
        (
            {},
            (1.0, "dirac_prod"),
            "of group 'dirac_user', not 'dirac_prod'.*dirac-proxy-init -g dirac_prod",
        ),
        (
            {"group": "x", "group_properties": ["FileCatalogManagement"]},
            (1.0, None),
            "cannot submit jobs",
        ),
    ],
)
def test_proxy_refusals_name_the_fix(override, args, message):
    with pytest.raises(PreflightError, match=message):
        check_proxy(dict(PROXY, **override), *args)
    check_proxy(PROXY, 1.0, "dirac_user")


def test_lfn_base_must_be_in_the_home():
    check_lfn_base("/vo/user/c/ciuser/showerflow", "/vo/user/c/ciuser")
    with pytest.raises(PreflightError, match="--dirac-lfn-base /vo/user/c/ciuser/showerflow"):
        check_lfn_base("/vo/user/c/ciuserX/showerflow", "/vo/user/c/ciuser")


def test_output_se_must_exist_and_accept_writes():
    answer = {"known": ["SE-1"], "checked": {"SE-1": {"exists": True, "write": False}}}
    with pytest.raises(PreflightError, match="does not accept writes"):
        check_output_se("SE-1", answer)
    with pytest.raises(PreflightError, match=r"not a storage element DIRAC knows \(known: SE-1\)"):
        check_output_se("SE-2", answer)


def test_unindexed_fields_are_named_with_the_command():
    with pytest.raises(PreflightError, match=r"\['stage'\].*meta index -f stage VARCHAR\(64\)"):
        check_indexed({"stage": "VARCHAR(64)", "obs_id": "INT"}, {"file": {"obs_id": "INT"}})


def test_jdl_read_back_must_equal_what_was_meant():
    read = {"errors": [], "attributes": {"InputSandbox": ["/a/b.sh"], "JobName": "x"}}
    check_jdl_readback({"InputSandbox": ["/a/b.sh"], "JobName": "x"}, read)
    with pytest.raises(PreflightError, match="reads InputSandbox as"):
        check_jdl_readback({"InputSandbox": ["/a b/b.sh"]}, read)
    with pytest.raises(PreflightError, match="DIRAC would refuse the job: cpuTime"):
        check_jdl_readback({}, {"errors": ["cpuTime out of bounds"], "attributes": {}})


# -- datasets by query ------------------------------------------------------------------------
def test_parse_query():
    assert parse_query("particle=proton zenith=20") == {"particle": "proton", "zenith": 20}
    assert parse_query("obs_id=1,2 zenith>=10 zenith<30.5") == {
        "obs_id": [1, 2],
        "zenith": {">=": 10, "<": 30.5},
    }
    for bad, message in [
        ("", "empty"),
        ("particle", "not 'field=value'"),
        ("a=1 a=2", "twice"),
        ("a=1 a>2", "both"),
    ]:
        with pytest.raises(QueryError, match=message):
            parse_query(bad)


def test_local_copies_mirror_lfns_and_catalog_columns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = Path("results") / "dirac-cache"
    copy = local_path("/vo/user/c/ciuser/dl1/a.root", cache)
    assert copy == cache / "vo/user/c/ciuser/dl1/a.root"
    # the executor maps the copy back to the catalog's LFN, not to one under its base
    assert J.lfn_for(str(copy), BASE) == "/vo/user/c/ciuser/dl1/a.root"
    with pytest.raises(ValueError, match="named dirac-cache"):
        local_path("/vo/a.root", tmp_path)
    files = [{"lfn": "/vo/a.root", "size": 3, "checksum": "01", "metadata": {"zenith": 20}}]
    assert catalog_columns(files, ["/c/vo/a.root"]) == {
        "/c/vo/a.root": {"lfn": "/vo/a.root", "catalog_checksum": "01", "dirac_zenith": 20}
    }


def test_query_digest_follows_the_catalog_answer_only():
    from showerflow.executors.dirac.datasets import query_digest

    a = [
        {"lfn": "/vo/a", "size": 3, "checksum": "00ab"},
        {"lfn": "/vo/b", "size": 4, "checksum": "cd"},
    ]
    assert query_digest(a) == query_digest(list(reversed(a)))
    assert query_digest(a) == query_digest([dict(a[0], checksum="ab"), a[1]])  # leading zeros
    assert query_digest(a) != query_digest([dict(a[0], size=5), a[1]])


def test_dl1_metadata_from_a_catalog_entry():
    import numpy as np

    entry = {
        "particle": "gamma",
        "obs_id": np.int64(3),
        "zenith": 20.0,
        "azimuth": float("nan"),
        "n_showers": 1e5,
        "uuid": None,
    }
    assert dl1_metadata(entry) == {
        "particle": "gamma",
        "obs_id": 3,
        "zenith": 20.0,
        "n_showers": 100000,
    }


# -- the client without DIRAC -----------------------------------------------------------------
def test_client_finds_dirac_python_beside_the_commands(tmp_path):
    (tmp_path / "dirac-proxy-info").write_text("#!/bin/sh\n")
    (tmp_path / "dirac-proxy-info").chmod(0o755)
    (tmp_path / "python3").write_text("#!/bin/sh\n")
    assert dirac_python({"PATH": str(tmp_path)}) == str(tmp_path / "python3")
    assert dirac_python({"PATH": str(tmp_path), "SHOWERFLOW_DIRAC_PYTHON": "/x/py"}) == "/x/py"
    assert dirac_python({"PATH": "/nonexistent"}) is None


def test_client_without_dirac_says_how_to_set_it_up():
    from showerflow.executors.dirac.client import BackendUnavailable

    client = DiracClient(env={"PATH": "/nonexistent"})
    with pytest.raises(BackendUnavailable, match="set up the DIRAC client first"):
        client.proxy()


def test_redact_hides_proxy_paths_and_contents():
    text = "file /tmp/x509up_u1000 expired\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nat /secret/p"
    out = redact(text, ["/secret/p"])
    for leak in ("x509up_u1000", "MIIB", "/secret/p"):
        assert leak not in out
    assert "expired" in out


# -- faults a real one-host DIRAC cannot show in a test: through the stand-in -------------------
STANDIN = Path(__file__).resolve().parent / "dirac_standin" / "python3"
ONE_JOB = """
rule count:
    input:
        "data/a.txt",
    output:
        "results/a.txt",
    shell:
        "wc -l < {input} > {output}"
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("status", "minor", "extra", "message", "final"),
    [
        (
            "Failed",
            "Job has reached the CPU limit of the queue",
            [],
            "was stopped at a limit",
            "Failed",
        ),
        (
            "Stalled",
            "Watchdog identified this job as stalled",
            ["--dirac-stalled-timeout", "0"],
            "stalled",
            "Killed",
        ),
    ],
)
def test_limit_kill_and_stalled_job_through_the_standin(
    tmp_path, status, minor, extra, message, final
):
    wf = tmp_path / "wf"
    (wf / "data").mkdir(parents=True)
    (wf / "data" / "a.txt").write_text("1\n2\n")
    (wf / "Snakefile").write_text(ONE_JOB)
    env = dict(
        os.environ,
        SHOWERFLOW_DIRAC_PYTHON=str(STANDIN),
        DIRAC_STANDIN_HOME=str(tmp_path / "standin"),
        DIRAC_STANDIN_STATUS=status,
        DIRAC_STANDIN_MINOR=minor,
    )
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--executor",
        "dirac",
        "--jobs",
        "1",
        "--dirac-lfn-base",
        BASE,
        "--dirac-output-se",
        "SE-1",
        "--seconds-between-status-checks",
        "1",
        "--show-failed-logs",
        *extra,
    ]
    res = subprocess.run(cmd, cwd=wf, capture_output=True, text=True, env=env, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"DIRAC job 1 {message}" in out, out[-3000:]
    assert "stand-in: the payload was stopped" in out  # the job's std.err is shown
    jobs = json.loads((tmp_path / "standin" / "jobs.json").read_text())
    assert jobs["1"]["status"] == final
    assert not (wf / "results" / "a.txt").exists()


@pytest.mark.e2e
def test_dirac_profile_keys_are_valid(tmp_path):
    """Every key of profiles/dirac is an option Snakemake and the plugin know (dry run)."""
    wf = tmp_path / "wf"
    (wf / "data").mkdir(parents=True)
    (wf / "data" / "a.txt").write_text("1\n")
    (wf / "Snakefile").write_text(ONE_JOB)
    profile = Path(__file__).resolve().parents[1] / "profiles" / "dirac"
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(profile), "-n"],
        cwd=wf,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "count" in res.stdout + res.stderr
