"""DIRAC: JDL building, output parsing, the client against the stand-in, the executor plugin.

No DIRAC server runs here: ``tests/dirac_standin`` provides the ``dirac-*`` commands with
DIRAC's arguments, output formats and exit codes, keeping its state (storage elements,
File Catalog, jobs) in a temporary folder; failures are switched on by environment
variables (see ``tests/dirac_standin/standin.py``).
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from showerflow import dirac_jdl as J
from showerflow.catalog import adler32
from showerflow.dirac import (
    COMMANDS,
    BackendUnavailable,
    DiracClient,
    DiracError,
    classify_status,
    failure_reason,
    file_metadata,
    input_lfn,
    missing_commands,
    parse_fc_cli_output,
    parse_pprint,
    parse_proxy_info,
    parse_status_output,
    parse_submit_output,
    parse_timeleft,
    particle_of,
    redact,
    same_adler32,
    update_manifest_states,
)

STANDIN = Path(__file__).resolve().parent / "dirac_standin"
LFN_BASE = "/vo.cta.in2p3.fr/user/t/tuser/showerflow"
SE = "STANDIN-DISK"


# -- JDL and names -------------------------------------------------------------------
def test_lfn_for_maps_relative_paths_under_the_base():
    assert J.lfn_for("results/dl2/gamma/batch0.parquet", LFN_BASE) == (
        f"{LFN_BASE}/results/dl2/gamma/batch0.parquet"
    )
    assert J.lfn_for("./a//b/../c.txt", LFN_BASE + "/") == f"{LFN_BASE}/a/c.txt"


@pytest.mark.parametrize(
    ("path", "base", "message"),
    [
        ("/data/run1.root", LFN_BASE, "outside the working directory"),
        ("../run1.root", LFN_BASE, "outside the working directory"),
        ("a b.root", LFN_BASE, "whitespace"),
        ("x" * 300, LFN_BASE, "DIRAC allows 255"),
        ("a.root", "relative/base", "must be absolute"),
    ],
)
def test_lfn_for_rejects_what_dirac_cannot_hold(path, base, message):
    with pytest.raises(J.JDLError, match=message):
        J.lfn_for(path, base)


def test_job_name_is_readable_and_within_dirac_limit():
    assert J.job_name("dl2", {"dataset": "gamma", "batch": "3"}, 17) == "showerflow.dl2.gamma.3.17"
    assert J.job_name("a rule", {"w": "x/y"}) == "showerflow.a_rule.x_y"
    long_a = J.job_name("r", {"d": "a" * 200}, 1)
    long_b = J.job_name("r", {"d": "a" * 200}, 2)
    assert len(long_a) == J.JOB_NAME_MAX == 128
    assert long_a != long_b
    assert long_a.startswith("showerflow.r.aaaa")
    assert len(J.job_group("g" * 40)) == J.JOB_GROUP_MAX == 32


def test_cpu_time_scales_runtime_threads_and_power():
    assert J.cpu_time(60, threads=2, cpu_power=10) == 72_000
    assert J.cpu_time(1, threads=1, cpu_power=1) == 300  # the floor
    with pytest.raises(J.JDLError, match="positive"):
        J.cpu_time(0)


def test_plan_inputs_fetches_clashing_base_names():
    plan = J.plan_inputs(
        [
            ("/b/training/gamma/batch0.parquet", "training/gamma/batch0.parquet"),
            ("/b/training/proton/batch0.parquet", "training/proton/batch0.parquet"),
            ("/b/models/energy.joblib", "models/energy.joblib"),
        ]
    )
    assert [mode for mode, _, _ in plan] == ["fetch", "fetch", "local"]


def test_manifest_lines_and_sandbox_names():
    names = J.sandbox_names(["logs/a/x.log", "logs/b/x.log"])
    assert names == ["sf_0_x.log", "sf_1_x.log"]
    text = J.render_manifest(
        [("local", "/b/in.root", "data/in.root")],
        [("results/out.parquet", "out.parquet")],
        [("logs/a/x.log", names[0])],
    )
    assert text.splitlines() == [
        "in\tlocal\t/b/in.root\tdata/in.root",
        "out\tresults/out.parquet\tout.parquet",
        "sb\tlogs/a/x.log\tsf_0_x.log",
    ]
    with pytest.raises(J.JDLError, match="tab or newline"):
        J.render_manifest([("local", "/b/x", "a\tb")], [], [])


def test_manifest_base_line_and_reserved_helper_name():
    text = J.render_manifest([], [("r/o.json", "o.json")], [], lfn_base=LFN_BASE, output_se=SE)
    assert text.splitlines() == [f"base\t{LFN_BASE}\t{SE}", "out\tr/o.json\to.json"]
    assert J.plan_inputs([("/b/showerflow_jdl.py", "x/showerflow_jdl.py")])[0][0] == "fetch"


@pytest.mark.parametrize(
    ("content", "listed"),
    [
        (
            {
                "outputs": [
                    {"output": "r/a.pq", "file": "d/a"},
                    {"output": "./r/b.pq"},
                    {"output": "r/a.pq"},
                ]
            },
            ["r/a.pq", "r/b.pq"],
        ),
        ({"outputs": [], "failed": [{"file": "d/x", "reason": "bad"}]}, []),
        ({"outputs": [{"file": "d/a"}]}, None),  # no "output" key
        ({"outputs": [{"output": ""}]}, None),
        ({"outputs": "r/a.pq"}, None),
        ({"result": [{"output": "r/a.pq"}]}, None),
        ([{"output": "r/a.pq"}], None),  # not an object
    ],
)
def test_read_batch_manifest_recognises_manifests_only(tmp_path, content, listed):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(content))
    data = J.read_batch_manifest(str(path))
    assert (None if data is None else J.manifest_outputs(data)) == listed


def test_read_batch_manifest_ignores_other_files(tmp_path):
    (tmp_path / "t.parquet").write_bytes(b"PAR1" + os.urandom(100))
    (tmp_path / "broken.json").write_text('{"outputs": [')
    (tmp_path / "big.json").write_text(json.dumps({"outputs": [{"output": "a"}]}))
    assert J.read_batch_manifest(str(tmp_path / "t.parquet")) is None
    assert J.read_batch_manifest(str(tmp_path / "broken.json")) is None
    assert J.read_batch_manifest(str(tmp_path / "missing.json")) is None
    assert J.read_batch_manifest(str(tmp_path / "big.json"), max_bytes=10) is None
    assert J.manifest_outputs(None) == []


def test_input_lfn_of_batch_manifest_entries():
    assert input_lfn("data/dl1/a.h5", LFN_BASE) == f"{LFN_BASE}/data/dl1/a.h5"
    assert input_lfn("LFN:/vo.cta.in2p3.fr/prod/a.h5", LFN_BASE) == "/vo.cta.in2p3.fr/prod/a.h5"
    assert input_lfn(f"{LFN_BASE}/data/a.h5", LFN_BASE) == f"{LFN_BASE}/data/a.h5"
    for path in ["/local/disk/a.h5", "../a.h5", "", None, "a b.h5"]:
        assert input_lfn(path, LFN_BASE) is None


def test_update_manifest_states_records_local_stat(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("r").mkdir()
    Path("r/a.pq").write_bytes(b"aaaa")
    Path("r/b.pq").write_bytes(b"bb")
    manifest = Path("r/batch-1.json")
    records = [
        {"file": "d/a", "output": "r/a.pq", "state": [4, 1], "n_rows": 3},
        {"file": "d/b", "output": "r/b.pq", "state": [2, 1], "n_rows": 1},
    ]
    manifest.write_text(json.dumps({"outputs": records, "failed": []}))
    assert update_manifest_states(manifest) is True
    data = json.loads(manifest.read_text())
    for rec in data["outputs"]:
        st = os.stat(rec["output"])
        assert rec["state"] == [st.st_size, st.st_mtime_ns]
    assert data["outputs"][0]["n_rows"] == 3 and data["failed"] == []
    assert manifest.read_text() == json.dumps(data, indent=1, sort_keys=True) + "\n"
    assert sorted(os.listdir("r")) == ["a.pq", "b.pq", "batch-1.json"]  # no temp file left
    mtime = manifest.stat().st_mtime_ns
    assert update_manifest_states(manifest) is False and manifest.stat().st_mtime_ns == mtime
    Path("r/b.pq").unlink()
    with pytest.raises(OSError):
        update_manifest_states(manifest)


def _spec(**override):
    spec = dict(
        name="showerflow.dl2.gamma.0.5",
        executable=J.RUNNER,
        arguments=J.MANIFEST,
        input_sandbox=["/tmp/job/showerflow_job.sh"],
        output_sandbox=["sf_0_dl2.log"],
        input_data=[f"{LFN_BASE}/results/dl1/gamma/run1.root"],
        output_data=[f"{LFN_BASE}/results/dl2/gamma/batch0.parquet"],
        output_se="CTAO-DISK",
        cpu_time=36_000,
        processors=2,
        sites=["LCG.CERN.cern", "LCG.DESY-ZEUTHEN.de"],
        banned_sites=["LCG.BAD.org"],
        group="showerflow",
    )
    spec.update(override)
    return J.JobSpec(**spec)


def test_build_jdl_writes_every_key_dirac_needs():
    text = J.build_jdl(_spec())
    assert text.startswith("[\n") and text.rstrip().endswith("]")
    jdl = J.parse_jdl(text)
    assert jdl["JobName"] == "showerflow.dl2.gamma.0.5"
    assert jdl["Executable"] == "showerflow_job.sh"
    assert jdl["Arguments"] == "showerflow_manifest.tsv"
    assert jdl["InputData"] == [f"LFN:{LFN_BASE}/results/dl1/gamma/run1.root"]
    assert jdl["OutputData"] == [f"LFN:{LFN_BASE}/results/dl2/gamma/batch0.parquet"]
    assert jdl["OutputSE"] == "CTAO-DISK"
    assert jdl["CPUTime"] == 36_000
    assert jdl["NumberOfProcessors"] == 2
    assert jdl["Site"] == ["LCG.CERN.cern", "LCG.DESY-ZEUTHEN.de"]
    assert jdl["BannedSites"] == ["LCG.BAD.org"]
    assert jdl["OutputSandbox"] == ["std.out", "std.err", "sf_0_dl2.log"]
    assert jdl["StdOutput"] == "std.out"
    assert jdl["JobGroup"] == "showerflow"
    assert J.parse_jdl(J.build_jdl(_spec(sites=[], banned_sites=[])))["Site"] == "ANY"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"name": "n" * 129}, "1 to 128 characters"),
        ({"output_se": ""}, "needs an OutputSE"),
        ({"output_data": ["/b/x/out.txt", "/b/y/out.txt"]}, "share the base name"),
        ({"banned_sites": ["LCG.CERN.cern"]}, "both allowed"),
        ({"input_data": ["/b//x.root"]}, "not a valid LFN"),
    ],
)
def test_build_jdl_refuses_jobs_dirac_would_reject(override, message):
    with pytest.raises(J.JDLError, match=message):
        J.build_jdl(_spec(**override))


def test_jdl_strings_are_escaped():
    assert J.jdl_string('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    quoted = J.jdl_string('a "b"')
    assert J.parse_jdl("[ Arguments = " + quoted + "; ]")["Arguments"] == 'a "b"'
    with pytest.raises(J.JDLError):
        J.jdl_string("two\nlines")


# -- parsers -------------------------------------------------------------------------
def test_parse_submit_and_status_outputs():
    assert parse_submit_output("JobID = 11\n") == ["11"]
    assert parse_submit_output("JobID = [12, 13]\n") == ["12", "13"]
    assert parse_submit_output("ERROR job.jdl: Illegal Job JDL\n") == []
    status = parse_status_output(
        "JobID=2 Status=Done; MinorStatus=Execution Complete; Site=EELA.UTFSM.cl; \n"
        "JobID=3 Status=Waiting; MinorStatus=Pilot Agent Submission; Site=ANY; \n"
    )
    assert status == {
        "2": {"Status": "Done", "MinorStatus": "Execution Complete", "Site": "EELA.UTFSM.cl"},
        "3": {"Status": "Waiting", "MinorStatus": "Pilot Agent Submission", "Site": "ANY"},
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("Received", "pending"),
        ("Waiting", "pending"),
        ("Matched", "pending"),
        ("Running", "running"),
        ("Completing", "running"),
        ("Stalled", "stalled"),
        ("Done", "done"),
        ("Failed", "failed"),
        ("Killed", "killed"),
        ("Deleted", "killed"),
        ("Whatever", "unknown"),
    ],
)
def test_classify_status(status, kind):
    assert classify_status(status) == kind


def test_failure_reason_names_backend_kills():
    cpu = failure_reason("Failed", "Job has reached the CPU limit of the queue")
    assert cpu.startswith("killed by DIRAC at its limit") and "runtime" in cpu
    assert "killed by DIRAC at its limit" in failure_reason(
        "Failed", "Job has exceeded maximum wall clock time"
    )
    assert failure_reason("Stalled", "Watchdog identified this job as stalled").startswith(
        "stalled"
    )
    assert failure_reason("Killed", "").startswith("killed: Killed")
    assert "command failed" in failure_reason("Failed", "Application Finished With Errors")


def test_parse_proxy_info_and_timeleft():
    info = parse_proxy_info(
        "subject      : /O=GRID-FR/CN=V H/CN=proxy\ntimeleft     : 23:53:55\n"
        "DIRAC group  : dirac_user\npath         : /tmp/x509up_u40885\n"
    )
    assert info["timeleft"] == "23:53:55" and info["DIRAC group"] == "dirac_user"
    assert parse_timeleft("23:53:55") == 23 * 3600 + 53 * 60 + 55
    assert parse_timeleft("120:00:00") == 432_000
    assert parse_timeleft("soon") is None


def test_parse_pprint_reads_dirac_dicts_without_evaluating():
    # the example of dirac-dms-lfn-metadata's docstring (Python 2 longs and datetimes)
    text = """{'Failed': {},
 'Successful': {'/formation/user/v/vhamar/test.txt': {'Checksum': 'eed20d47',
                                                      'ChecksumType': 'Adler32',
                                                      'CreationDate': datetime.datetime(2011, 2, 11, 14, 52, 47),
                                                      'FileID': 250L,
                                                      'Size': 34L,
                                                      'Status': 1}}}"""
    value = parse_pprint("some notice\n" + text)
    meta = value["Successful"]["/formation/user/v/vhamar/test.txt"]
    assert meta["Checksum"] == "eed20d47"
    assert meta["Size"] == 34 and meta["FileID"] == 250
    assert meta["CreationDate"] == "datetime.datetime(2011, 2, 11, 14, 52, 47)"
    with pytest.raises(ValueError):
        parse_pprint("ERROR: no dict here")
    # a call is turned into its text, never executed
    assert parse_pprint("{'a': __import__('os').getcwd()}") == {"a": "__import__('os').getcwd()"}


def test_parse_fc_cli_output_strips_prompts_and_finds_errors():
    lines, errors = parse_fc_cli_output(
        "Starting FileCatalog console\nFC:/> /b/x {'stage': 'dl2'}\n"
        "FC:/> Added 2 ancestors to file /b/x\nFC:/> \n"
    )
    assert lines == [
        "Starting FileCatalog console",
        "/b/x {'stage': 'dl2'}",
        "Added 2 ancestors to file /b/x",
    ]
    assert errors == []
    _, errors = parse_fc_cli_output("FC:/> Error: Path not found: /b/y\nFC:/> ")
    assert errors == ["Error: Path not found: /b/y"]
    _, errors = parse_fc_cli_output("FC:/> Failed to add file ancestors to the catalog: x\n")
    assert len(errors) == 1


def test_same_adler32_ignores_leading_zeros():
    assert same_adler32("0072003e", "72003e")
    assert not same_adler32("0072003e", "0072003f")
    assert not same_adler32("", "00")


def test_redact_hides_proxy_paths_and_contents():
    text = (
        "path         : /home/u/.globus/myproxy\nfile /tmp/x509up_u1000 expired\n"
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nsecret=/secret/p"
    )
    out = redact(text, ["/secret/p"])
    for leak in ("/home/u/.globus/myproxy", "x509up_u1000", "MIIB", "/secret/p"):
        assert leak not in out
    assert "expired" in out


def test_file_metadata_from_rule_wildcards_and_config():
    config = {
        "datasets": {
            "gamma": {"query": 'particle == "gamma" and zenith == 20'},
            "mix": {"query": "zenith == 20", "particle": "proton"},
        }
    }
    assert particle_of(config, "gamma") == "gamma"
    assert particle_of(config, "mix") == "proton"
    assert particle_of(config, "nope") is None
    meta = file_metadata("dl2", {"dataset": "gamma", "batch": "3"}, config, {"note": "a b"})
    assert meta == {
        "stage": "dl2",
        "dataset": "gamma",
        "particle": "gamma",
        "batch": "3",
        "note": "a_b",
    }
    assert file_metadata("train_energy") == {"stage": "train_energy"}


# -- the worker-node runner ------------------------------------------------------------
@pytest.fixture
def standin(tmp_path, monkeypatch):
    """The stand-in DIRAC client on PATH, its state in a temporary folder, a fake proxy."""
    home = tmp_path / "dirac_home"
    monkeypatch.setenv(
        "PATH",
        f"{STANDIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    monkeypatch.setenv("DIRAC_STANDIN_HOME", str(home))
    proxy = tmp_path / "x509up_secret_proxy_file"
    proxy.write_text("-----BEGIN CERTIFICATE-----\nSECRETPROXYCONTENT\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("X509_USER_PROXY", str(proxy))
    for var in [
        v for v in os.environ if v.startswith("DIRAC_STANDIN_") and v != "DIRAC_STANDIN_HOME"
    ]:
        monkeypatch.delenv(var)
    return {"home": home, "proxy": str(proxy)}


def catalog(home):
    return json.loads((home / "catalog.json").read_text())


def calls(home):
    return [c[0] for c in json.loads((home / "calls.json").read_text())["log"]]


def test_runner_places_inputs_runs_and_stages_outputs(tmp_path, standin):
    client = DiracClient(retry_wait=0)
    src = tmp_path / "src"
    src.mkdir()
    for name, text in [("a.txt", "A\n"), ("b1.txt", "B1\n"), ("b2.txt", "B2\n")]:
        (src / name).write_text(text)
    client.add_file("/b/in/a.txt", src / "a.txt", SE)
    client.add_file("/b/x/b.txt", src / "b1.txt", SE)
    client.add_file("/b/y/b.txt", src / "b2.txt", SE)
    job = tmp_path / "job"
    job.mkdir()
    (job / "a.txt").write_text("A\n")  # DIRAC downloaded the unique base name
    pairs = [
        ("/b/in/a.txt", "data/a.txt"),
        ("/b/x/b.txt", "d/x/b.txt"),
        ("/b/y/b.txt", "d/y/b.txt"),
    ]
    (job / J.MANIFEST).write_text(
        J.render_manifest(
            J.plan_inputs(pairs), [("out/r.txt", "r.txt")], [("logs/j.log", "sf_0_j.log")]
        )
    )
    (job / J.COMMAND).write_text(
        "mkdir -p out logs && cat data/a.txt d/x/b.txt d/y/b.txt > out/r.txt && echo ok > logs/j.log\n"
    )
    (job / J.RUNNER).write_text(J.runner_script())
    res = subprocess.run(["bash", J.RUNNER, J.MANIFEST], cwd=job, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (job / "r.txt").read_text() == "A\nB1\nB2\n"
    assert (job / "sf_0_j.log").read_text() == "ok\n"
    assert not (job / "a.txt").exists()  # moved into place
    (job / J.COMMAND).write_text("exit 7\n")
    (job / "a.txt").write_text("A\n")
    res = subprocess.run(["bash", J.RUNNER, J.MANIFEST], cwd=job, capture_output=True, text=True)
    assert res.returncode == 7


BATCH_COMMAND = """mkdir -p out/x
printf 'AAAA' > out/x/a.parquet
printf 'BB' > out/x/b.parquet
cat > out/batch-1.json <<'JSON'
{"outputs": [{"file": "d/a.dl1", "output": "out/x/a.parquet", "state": [4, 1]},
             {"file": "d/b.dl1", "output": "./out/x/b.parquet", "state": [2, 1]},
             {"file": "d/m.dl1", "output": "out/batch-1.json", "state": [0, 1]}],
 "failed": []}
JSON
echo '{"outputs": 3}' > out/plain.json
"""


def _batch_job(tmp_path, command=BATCH_COMMAND):
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    (job / J.HELPER).write_bytes(Path(J.__file__).read_bytes())
    (job / J.RUNNER).write_text(J.runner_script())
    outputs = [("out/batch-1.json", "batch-1.json"), ("out/plain.json", "plain.json")]
    (job / J.MANIFEST).write_text(
        J.render_manifest([], outputs, [], lfn_base=LFN_BASE, output_se=SE)
    )
    (job / J.COMMAND).write_text(command)
    return job


def _run_runner(job):
    return subprocess.run(["bash", J.RUNNER, J.MANIFEST], cwd=job, capture_output=True, text=True)


def _call_log(home):
    return json.loads((home / "calls.json").read_text())["log"]


def test_runner_uploads_files_listed_by_batch_manifests(tmp_path, standin):
    job = _batch_job(tmp_path)
    res = _run_runner(job)
    assert res.returncode == 0, res.stderr
    cat = catalog(standin["home"])
    for name in ("a", "b"):
        entry = cat[f"{LFN_BASE}/out/x/{name}.parquet"]
        assert same_adler32(entry["Checksum"], adler32(job / "out" / "x" / f"{name}.parquet"))
        assert entry["SE"] == SE
        assert f"uploaded out/x/{name}.parquet as {LFN_BASE}/out/x/{name}.parquet" in res.stdout
    # declared outputs are left to DIRAC's job wrapper (OutputData)
    assert f"{LFN_BASE}/out/batch-1.json" not in cat and f"{LFN_BASE}/out/plain.json" not in cat
    log = _call_log(standin["home"])
    assert ["dirac-dms-add-file", "-f", f"{LFN_BASE}/out/x/a.parquet", "out/x/a.parquet", SE] in log
    assert [c[0] for c in log].count("dirac-dms-lfn-metadata") == 1  # one check for all
    # a listed file the job did not write fails the job (exit 93), before OutputData
    res = _run_runner(_batch_job(tmp_path, BATCH_COMMAND + "rm out/x/b.parquet\n"))
    assert res.returncode == 93
    assert "lists out/x/b.parquet, which is not a file on this node" in res.stderr
    # a failed command uploads nothing and keeps its exit code
    job = _batch_job(tmp_path, BATCH_COMMAND + "exit 7\n")
    before = len(_call_log(standin["home"]))
    assert _run_runner(job).returncode == 7
    assert len(_call_log(standin["home"])) == before


class FakeDirac:
    """``run`` for ``upload_extra_outputs``: add-file exits 0, the registration may be lost."""

    def __init__(self, lost=0, wrong=False):
        self.lost, self.wrong = lost, wrong  # registrations silently lost; wrong checksum
        self.catalog, self.calls = {}, []

    def __call__(self, args):
        self.calls.append(list(args))
        if args[0] == "dirac-dms-add-file":
            lfn, path = args[2], args[3]
            if self.lost:
                self.lost -= 1
            else:
                self.catalog[lfn] = "00000001" if self.wrong else J.file_adler32(path)
            return subprocess.CompletedProcess(args, 0, "Successfully uploaded file", "")
        arg = args[1]
        lfns = Path(arg).read_text().split() if os.path.isfile(arg) else [arg]
        result = {
            "Failed": {x: "No such file or directory" for x in lfns if x not in self.catalog},
            "Successful": {x: {"Checksum": self.catalog[x]} for x in lfns if x in self.catalog},
        }
        return subprocess.CompletedProcess(args, 0, repr(result), "")


def test_upload_extra_outputs_checks_registration_and_retries(tmp_path, monkeypatch):
    job = _batch_job(tmp_path)
    monkeypatch.chdir(job)
    subprocess.run(["bash", J.COMMAND], check=True)
    fake = FakeDirac(lost=1)  # the first upload "succeeds" but is not registered
    lines = []
    done = J.upload_extra_outputs(J.MANIFEST, wait=0, run=fake, log=lines.append)
    a, b = f"{LFN_BASE}/out/x/a.parquet", f"{LFN_BASE}/out/x/b.parquet"
    assert done == [("out/x/a.parquet", a), ("out/x/b.parquet", b)]
    assert [c[2] for c in fake.calls if c[0] == "dirac-dms-add-file"] == [a, b, a]
    assert any("1 upload(s) failed (attempt 1/3)" in line for line in lines)
    with pytest.raises(J.WorkerError, match="File Catalog checksum 00000001, local"):
        J.upload_extra_outputs(J.MANIFEST, attempts=2, wait=0, run=FakeDirac(wrong=True))
    with pytest.raises(J.WorkerError, match="not in the File Catalog after the upload"):
        J.upload_extra_outputs(J.MANIFEST, attempts=2, wait=0, run=FakeDirac(lost=99))
    Path("out/batch-1.json").write_text(json.dumps({"outputs": [{"output": "/abs/x.pq"}]}))
    assert J.main(["upload-extra", J.MANIFEST]) == 93  # not below the working directory
    assert J.main([]) == 2


# -- the client against the stand-in -------------------------------------------------
def test_missing_commands_are_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing_commands() == list(COMMANDS)
    with pytest.raises(BackendUnavailable, match="not on PATH"):
        DiracClient().run(["dirac-proxy-info"])


def test_proxy_check(standin, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    assert DiracClient().check_proxy(1.0)["timeleft"] == 86399
    for mode, message in [
        ("expired", "no valid DIRAC proxy"),
        ("missing", "no valid DIRAC proxy"),
        ("short", "expires in 0.17 h"),
    ]:
        monkeypatch.setenv("DIRAC_STANDIN_PROXY", mode)
        with pytest.raises(BackendUnavailable, match=message) as err:
            DiracClient().check_proxy(1.0)
        assert standin["proxy"] not in str(err.value)
        assert "x509up" not in str(err.value)
    assert standin["proxy"] not in caplog.text
    assert "SECRETPROXYCONTENT" not in caplog.text


def test_upload_metadata_and_catalog_registration(tmp_path, standin):
    client = DiracClient(retry_wait=0)
    f = tmp_path / "run1.root"
    f.write_bytes(os.urandom(5000))
    lfn = f"{LFN_BASE}/data/run1.root"
    client.add_file(lfn, f, SE)
    ok, failed = client.lfn_metadata([lfn, f"{LFN_BASE}/nope.root"])
    assert same_adler32(ok[lfn]["Checksum"], adler32(f))
    assert ok[lfn]["Size"] == 5000
    assert failed == {f"{LFN_BASE}/nope.root": "No such file or directory"}
    many = [lfn, f"{LFN_BASE}/nope.root", f"{LFN_BASE}/nope2.root"]
    ok, failed = client.lfn_metadata(many)  # several LFNs go through a file
    assert list(ok) == [lfn] and len(failed) == 2
    client.set_metadata(lfn, {"dataset": "gamma", "stage": "dl2"}, [f"{LFN_BASE}/parent.root"])
    entry = catalog(standin["home"])[lfn]
    assert entry["metadata"] == {"dataset": "gamma", "stage": "dl2"}
    assert entry["ancestors"] == [f"{LFN_BASE}/parent.root"]
    with pytest.raises(DiracError, match="refused metadata"):
        client.set_metadata(f"{LFN_BASE}/nope.root", {"stage": "x"})


@pytest.fixture
def uploaded(tmp_path, standin):
    f = tmp_path / "dl2.parquet"
    f.write_bytes(os.urandom(20_000))
    lfn = f"{LFN_BASE}/results/dl2/gamma/batch0.parquet"
    client = DiracClient(retry_wait=0)
    client.add_file(lfn, f, SE)
    return client, lfn, adler32(f), tmp_path / "local" / "results" / "batch0.parquet"


def test_fetch_verified(uploaded, standin):
    client, lfn, checksum, dest = uploaded
    assert client.fetch_verified(lfn, dest, checksum) == dest
    assert adler32(dest) == checksum


def test_fetch_retries_failed_downloads(uploaded, standin, monkeypatch, caplog):
    client, lfn, checksum, dest = uploaded
    monkeypatch.setenv("DIRAC_STANDIN_GET_FAIL", "2")
    with caplog.at_level(logging.WARNING):
        client.fetch_verified(lfn, dest, checksum, retries=3)
    assert adler32(dest) == checksum
    assert calls(standin["home"]).count("dirac-dms-get-file") == 3
    assert "attempt 1/3" in caplog.text and "attempt 2/3" in caplog.text
    assert "dirac-dms-directory-sync" not in calls(standin["home"])


def test_fetch_retries_checksum_mismatch(uploaded, standin, monkeypatch, caplog):
    client, lfn, checksum, dest = uploaded
    monkeypatch.setenv("DIRAC_STANDIN_CORRUPT", "1")
    with caplog.at_level(logging.WARNING):
        client.fetch_verified(lfn, dest, checksum, retries=3)
    assert adler32(dest) == checksum
    assert "checksum mismatch" in caplog.text


def test_fetch_falls_back_to_directory_sync(uploaded, standin, monkeypatch, tmp_path):
    client, lfn, checksum, dest = uploaded
    monkeypatch.setenv("DIRAC_STANDIN_GET_FAIL", "always")
    client.fetch_verified(lfn, dest, checksum, retries=2, mirror_root=tmp_path / "mirror")
    assert adler32(dest) == checksum
    assert calls(standin["home"]).count("dirac-dms-get-file") == 2
    assert "dirac-dms-directory-sync" in calls(standin["home"])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DIRAC_STANDIN_CORRUPT": "always", "DIRAC_STANDIN_SYNC_CORRUPT": "1"},
            "checksum mismatch",
        ),
        ({"DIRAC_STANDIN_GET_FAIL": "always", "DIRAC_STANDIN_SYNC_FAIL": "1"}, "connection"),
    ],
)
def test_fetch_gives_up_with_the_reason(uploaded, standin, monkeypatch, env, message):
    client, lfn, checksum, dest = uploaded
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(DiracError, match=message) as err:
        client.fetch_verified(lfn, dest, checksum, retries=2)
    assert "after 2 download attempt(s) and a directory sync" in str(err.value)
    assert not dest.exists()  # nothing that looks finished


def _simple_job(tmp_path, name="standin.test", folder="simple"):
    job = tmp_path / folder
    job.mkdir()
    (job / "run.sh").write_text("echo hello > out.txt\n")
    jdl = job / "job.jdl"
    jdl.write_text(
        J.build_jdl(
            J.JobSpec(
                name=name,
                executable="run.sh",
                arguments="",
                input_sandbox=[str(job / "run.sh")],
                output_data=[f"{LFN_BASE}/simple/out.txt"],
                output_se=SE,
                cpu_time=600,
            )
        )
    )
    return jdl


def test_submit_poll_and_retrieve(tmp_path, standin):
    client = DiracClient(retry_wait=0)
    job_id = client.submit(_simple_job(tmp_path))
    seen = [client.status([job_id])[job_id]["Status"] for _ in range(3)]
    assert seen == ["Waiting", "Running", "Done"]
    assert client.status([job_id, "999"]).keys() == {job_id}
    box = client.get_output(job_id, tmp_path / "sandbox")
    assert (box / "std.out").is_file()
    ok, _ = client.lfn_metadata([f"{LFN_BASE}/simple/out.txt"])
    assert ok[f"{LFN_BASE}/simple/out.txt"]["Size"] == len("hello\n")


def test_forced_failures_and_kill(tmp_path, standin, monkeypatch):
    client = DiracClient(retry_wait=0)
    monkeypatch.setenv("DIRAC_STANDIN_POLLS", "0")
    monkeypatch.setenv("DIRAC_STANDIN_FORCE_STATUS", "Failed")
    monkeypatch.setenv("DIRAC_STANDIN_FORCE_MINOR", "Job has reached the CPU limit of the queue")
    job_id = client.submit(_simple_job(tmp_path))
    st = client.status([job_id])[job_id]
    assert (st["Status"], classify_status(st["Status"])) == ("Failed", "failed")
    assert failure_reason(st["Status"], st["MinorStatus"]).startswith(
        "killed by DIRAC at its limit"
    )
    monkeypatch.setenv("DIRAC_STANDIN_FORCE_STATUS", "Stalled")
    stalled = client.submit(_simple_job(tmp_path, folder="stalled"))
    assert client.status([stalled])[stalled]["Status"] == "Stalled"
    client.kill([stalled])
    assert client.status([stalled])[stalled]["Status"] == "Killed"


def test_submit_errors_are_reported(tmp_path, standin):
    jdl = tmp_path / "bad.jdl"
    jdl.write_text('[ JobName = "x"; Executable = "run.sh"; InputSandbox = {"/nope/run.sh"}; ]')
    with pytest.raises(DiracError, match="exit 2.*does not exist"):
        DiracClient().submit(jdl)


# -- the Snakemake executor plugin through the stand-in -------------------------------
SNAKEFILE = """
rule all:
    input:
        "results/summary.txt",


rule count:
    input:
        "data/{sample}.txt",
    output:
        "results/counts/{sample}.txt",
    log:
        "results/logs/count/{sample}.log",
    benchmark:
        "results/benchmarks/count/{sample}.tsv"
    shell:
        "wc -l < {input} > {output}; echo counted {wildcards.sample} > {log}"


rule summary:
    input:
        expand("results/counts/{sample}.txt", sample=["a", "b"]),
    output:
        "results/summary.txt",
    log:
        "results/logs/summary.log",
    shell:
        "cat {input} > {output}; echo summed > {log}"
"""


def make_workflow(root):
    wf = root / "wf"
    (wf / "data").mkdir(parents=True)
    (wf / "data" / "a.txt").write_text("1\n2\n3\n")
    (wf / "data" / "b.txt").write_text("1\n2\n")
    (wf / "Snakefile").write_text(SNAKEFILE)
    return wf


def run_snakemake(wf, *extra, env=None):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--executor",
        "dirac",
        "--jobs",
        "2",
        "--dirac-lfn-base",
        LFN_BASE,
        "--dirac-output-se",
        SE,
        "--dirac-retry-wait",
        "0",
        "--dirac-site",
        "LCG.STANDIN.org",
        "--dirac-banned-sites",
        "LCG.BAD.org",
        "--seconds-between-status-checks",
        "1",
        *extra,
    ]
    return subprocess.run(cmd, cwd=wf, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.e2e
def test_executor_runs_a_workflow_as_dirac_jobs(tmp_path, standin):
    wf = make_workflow(tmp_path)
    res = run_snakemake(wf, env=dict(os.environ, DIRAC_STANDIN_GET_FAIL="1"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert (wf / "results" / "summary.txt").read_text() == "3\n2\n"
    assert (wf / "results" / "logs" / "count" / "a.log").read_text() == "counted a\n"
    assert (wf / "results" / "benchmarks" / "count" / "b.tsv").read_text().startswith("s\t")
    assert "submitted to DIRAC as job" in out and "Adler-32 verified" in out
    cat = catalog(standin["home"])
    summary = cat[f"{LFN_BASE}/results/summary.txt"]
    assert summary["metadata"]["stage"] == "summary"
    assert summary["ancestors"] == [
        f"{LFN_BASE}/results/counts/a.txt",
        f"{LFN_BASE}/results/counts/b.txt",
    ]
    assert cat[f"{LFN_BASE}/results/counts/a.txt"]["ancestors"] == [f"{LFN_BASE}/data/a.txt"]
    assert f"{LFN_BASE}/data/a.txt" in cat  # the local input was uploaded
    jobs = json.loads((standin["home"] / "jobs.json").read_text())
    assert sorted(j["status"] for j in jobs.values()) == ["Done"] * 3
    jdl = J.parse_jdl((wf / ".snakemake" / "dirac" / "3" / "job.jdl").read_text())
    assert jdl["Site"] == ["LCG.STANDIN.org"] and jdl["BannedSites"] == ["LCG.BAD.org"]
    assert jdl["OutputSE"] == SE and jdl["JobName"].startswith("showerflow.")
    # the proxy never reaches a log
    logs = out + "".join(p.read_text() for p in (wf / ".snakemake" / "log").glob("*.log"))
    assert standin["proxy"] not in logs and "SECRETPROXYCONTENT" not in logs
    # a second run has nothing to do
    again = run_snakemake(wf)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("env", "extra", "message", "final"),
    [
        (
            {
                "DIRAC_STANDIN_FORCE_STATUS": "Failed",
                "DIRAC_STANDIN_FORCE_MINOR": "Job has reached the CPU limit of the queue",
            },
            [],
            "killed by DIRAC at its limit",
            "Failed",
        ),
        (
            {"DIRAC_STANDIN_FORCE_STATUS": "Stalled"},
            ["--dirac-stalled-timeout", "0"],
            "stalled",
            "Killed",
        ),
    ],
)
def test_executor_reports_failed_and_stalled_jobs(tmp_path, standin, env, extra, message, final):
    wf = make_workflow(tmp_path)
    env = dict(os.environ, DIRAC_STANDIN_POLLS="0", **env)
    res = run_snakemake(wf, "results/counts/a.txt", *extra, env=env)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert message in out
    assert not (wf / "results" / "counts" / "a.txt").exists()
    jobs = json.loads((standin["home"] / "jobs.json").read_text())
    assert [j["status"] for j in jobs.values()] == [final]


@pytest.mark.e2e
def test_executor_fails_before_submission_without_proxy(tmp_path, standin):
    wf = make_workflow(tmp_path)
    res = run_snakemake(wf, env=dict(os.environ, DIRAC_STANDIN_PROXY="expired"))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "DIRAC backend unreachable: no valid DIRAC proxy" in out
    assert "dirac-proxy-init" in out
    assert standin["proxy"] not in out
    assert "dirac-wms-job-submit" not in calls(standin["home"])


@pytest.mark.e2e
def test_executor_fails_before_submission_without_dirac_commands(tmp_path, standin):
    wf = make_workflow(tmp_path)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(STANDIN))
    res = run_snakemake(wf, env=dict(os.environ, PATH=path))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "DIRAC backend unreachable" in out and "not on PATH" in out


@pytest.mark.e2e
def test_dirac_profile_keys_are_valid(tmp_path, standin):
    wf = make_workflow(tmp_path)
    profile = Path(__file__).resolve().parents[1] / "profiles" / "dirac"
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(profile), "-n"],
        cwd=wf,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "count" in res.stdout + res.stderr


# -- batch manifests: per-file outputs the rule does not declare -----------------------
BATCH_SNAKEFILE = """
import json
import os


rule all:
    input:
        "results/merged.txt",


rule batch:
    input:
        "data/a.txt",
        "data/b.txt",
    output:
        manifest="results/batch/batch-x1.json",
    log:
        "results/logs/batch.log",
    run:
        records = []
        for src, name in [(input[0], "a"), (input[1], "b"), (None, "c")]:
            out = f"results/batch/{name}-1f3e.parquet"
            text = open(src).read() if src else "no catalogued input\\n"
            with open(out, "w") as f:
                f.write(f"processed {name}: {text}")
            st = os.stat(out)
            records.append(
                {
                    "file": src or "/local/disk/c.dl1",
                    "output": out,
                    "state": [st.st_size, st.st_mtime_ns],
                    "n_rows": 1,
                }
            )
        tmp = output.manifest + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"outputs": records, "failed": []}, f, indent=1, sort_keys=True)
        os.replace(tmp, output.manifest)
        with open(log[0], "w") as f:
            f.write("batch done\\n")


rule merge:
    input:
        "results/batch/batch-x1.json",
    output:
        "results/merged.txt",
    run:
        with open(input[0]) as f:
            records = json.load(f)["outputs"]
        with open(output[0], "w") as out:
            for rec in records:
                with open(rec["output"]) as f:
                    out.write(f.read())
"""


@pytest.mark.e2e
def test_executor_ships_files_listed_by_batch_manifests(tmp_path, standin):
    wf = make_workflow(tmp_path)
    (wf / "Snakefile").write_text(BATCH_SNAKEFILE)
    env = dict(os.environ, DIRAC_STANDIN_CORRUPT="1", DIRAC_STANDIN_GET_MATCH="b-1f3e.parquet")
    res = run_snakemake(wf, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    batch = wf / "results" / "batch"
    expected = {
        "a": "processed a: 1\n2\n3\n",
        "b": "processed b: 1\n2\n",
        "c": "processed c: no catalogued input\n",
    }
    for name, text in expected.items():
        assert (batch / f"{name}-1f3e.parquet").read_text() == text
    # the next job (also on DIRAC) read them through the manifest
    assert (wf / "results" / "merged.txt").read_text() == "".join(expected.values())
    # the manifest's states are the local files' states
    manifest = json.loads((batch / "batch-x1.json").read_text())
    assert len(manifest["outputs"]) == 3
    for rec in manifest["outputs"]:
        st = os.stat(wf / rec["output"])
        assert rec["state"] == [st.st_size, st.st_mtime_ns]
    # the corrupted download of b was retried
    lfn_b = f"{LFN_BASE}/results/batch/b-1f3e.parquet"
    gets = [c for c in _call_log(standin["home"]) if c[0] == "dirac-dms-get-file"]
    assert gets.count(["dirac-dms-get-file", lfn_b]) == 2
    assert f"checksum mismatch for {lfn_b}" in out
    assert "3 file(s) listed by batch manifests downloaded, Adler-32 verified" in out
    # the catalog: uploaded from the worker, with metadata and their input as ancestor
    cat = catalog(standin["home"])
    for name, parent in [("a", "data/a.txt"), ("b", "data/b.txt")]:
        entry = cat[f"{LFN_BASE}/results/batch/{name}-1f3e.parquet"]
        assert same_adler32(entry["Checksum"], adler32(batch / f"{name}-1f3e.parquet"))
        assert entry["ancestors"] == [f"{LFN_BASE}/{parent}"]
        assert entry["metadata"]["stage"] == "batch" and entry["metadata"]["dirac_job"] == "1"
    orphan = cat[f"{LFN_BASE}/results/batch/c-1f3e.parquet"]
    assert orphan["ancestors"] == [] and orphan["metadata"]["stage"] == "batch"
    assert "no ancestor for" in out and "'/local/disk/c.dl1' has no LFN" in out
    # the catalog copy of the manifest is the local one (local states), with its metadata
    entry = cat[f"{LFN_BASE}/results/batch/batch-x1.json"]
    assert same_adler32(entry["Checksum"], adler32(batch / "batch-x1.json"))
    assert entry["metadata"]["stage"] == "batch"
    assert entry["ancestors"] == [f"{LFN_BASE}/data/a.txt", f"{LFN_BASE}/data/b.txt"]
    # the merge job got the listed files as input data, and they are its ancestors
    merge_jdl = next(
        J.parse_jdl(p.read_text())
        for p in (wf / ".snakemake" / "dirac").glob("*/job.jdl")
        if "merge" in p.read_text()
    )
    assert f"LFN:{LFN_BASE}/results/batch/c-1f3e.parquet" in merge_jdl["InputData"]
    assert (
        f"{LFN_BASE}/results/batch/a-1f3e.parquet"
        in cat[f"{LFN_BASE}/results/merged.txt"]["ancestors"]
    )
    again = run_snakemake(wf)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.e2e
def test_executor_fails_a_batch_whose_listed_file_cannot_be_fetched(tmp_path, standin):
    wf = make_workflow(tmp_path)
    (wf / "Snakefile").write_text(BATCH_SNAKEFILE)
    env = dict(
        os.environ,
        DIRAC_STANDIN_GET_FAIL="always",
        DIRAC_STANDIN_GET_MATCH="a-1f3e.parquet",
        DIRAC_STANDIN_SYNC_FAIL="1",
    )
    res = run_snakemake(wf, "results/batch/batch-x1.json", "--dirac-download-retries", "1", env=env)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "outputs could not be retrieved" in out
    assert f"could not fetch {LFN_BASE}/results/batch/a-1f3e.parquet" in out
    assert not (wf / "results" / "batch" / "batch-x1.json").exists()  # no manifest without files
    assert not (wf / "results" / "batch" / "a-1f3e.parquet").exists()
