"""showerflow against a real one-host DIRAC (File Catalog, WMS, DIRAC's own JobAgent).

Needs the server of ``tools/dirac/`` running and ``$SHOWERFLOW_DIRAC_STATE`` naming its
folder (``tools/dirac/ci.sh`` starts it, runs these tests and stops it); every test skips
with that reason otherwise. Jobs really run: each takes one JobAgent cycle (20-30 s).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from dirac_server import HOME, REPO, SE, Server, skip_reason, snakemake_dirac

from showerflow.catalog import adler32, catalog_entry
from showerflow.executors.dirac import jdl as J
from showerflow.executors.dirac.batches import BATCH_FIELDS
from showerflow.executors.dirac.checks import PreflightError, check_jdl_readback, preflight
from showerflow.executors.dirac.client import DiracError
from showerflow.executors.dirac.datasets import (
    DL1_FIELDS,
    QueryError,
    catalog_columns,
    dataset_files,
    fetch_dataset,
    find_dataset,
    upload_dl1,
)
from showerflow.executors.dirac.outputs import DEFAULT_FIELDS

pytestmark = pytest.mark.dirac
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="module")
def server():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    srv = Server(os.environ["SHOWERFLOW_DIRAC_STATE"])
    srv.proxy()  # a fresh proxy of the normal group (a test may have changed it)
    return srv


@pytest.fixture(scope="module")
def indexed(server):
    """The metadata fields showerflow sets and queries, indexed as a VO's catalog manager would."""
    have = server.client.meta_fields()["file"]
    wanted = {
        **DEFAULT_FIELDS,
        **BATCH_FIELDS,  # the executor checks these before it submits
        **DL1_FIELDS,
        "models_sha256": "VARCHAR(64)",
        "part": "VARCHAR(32)",
    }
    todo = {k: v for k, v in wanted.items() if k not in have}
    if todo:
        server.client.meta_index(todo)
    return wanted


# -- the JDL as DIRAC reads it -----------------------------------------------------------
def _spec(tmp_path, **override):
    runner = tmp_path / J.RUNNER
    runner.write_text("#!/bin/bash\n")
    spec = dict(
        name="showerflow.dl2.gamma.0.5",
        executable=J.RUNNER,
        arguments=J.MANIFEST,
        input_sandbox=[str(runner)],
        output_sandbox=[J.LISTING, "sf_0_dl2.log"],
        input_data=[f"{HOME}/showerflow/results/dl1/gamma/run1.root"],
        output_se=SE,
        cpu_time=36_000,
        processors=2,
        sites=["DIRAC.Local.ch"],
        banned_sites=["LCG.BAD.org"],
        group="showerflow",
    )
    spec.update(override)
    return J.JobSpec(**spec)


def test_dirac_parser_reads_the_jdl_as_showerflow_writes_it(server, tmp_path):
    spec = _spec(tmp_path)
    answer = server.client.check_jdl(J.build_jdl(spec))
    assert answer["errors"] == []
    got = answer["attributes"]
    assert got["JobName"] == spec.name
    assert got["Executable"] == J.RUNNER and got["Arguments"] == J.MANIFEST
    assert got["InputSandbox"] == spec.input_sandbox
    assert got["OutputSandbox"] == [J.STDOUT, J.STDERR, *spec.output_sandbox]
    assert got["InputData"] == [f"LFN:{x}" for x in spec.input_data]
    assert got["OutputSE"] == SE and got["CPUTime"] == "36000"
    assert got["Site"] == ["DIRAC.Local.ch"] and got["BannedSites"] == ["LCG.BAD.org"]
    assert got["JobGroup"] == "showerflow"


def test_dirac_parser_misreads_what_showerflow_refuses(server, tmp_path):
    """The paths build_jdl refuses are the ones DIRAC's parser would read differently."""
    spaced = tmp_path / "my runs" / J.RUNNER
    spaced.parent.mkdir()
    spaced.write_text("#!/bin/bash\n")
    with pytest.raises(J.JDLError, match="space"):
        J.build_jdl(_spec(tmp_path, input_sandbox=[str(spaced)]))
    # written by hand, DIRAC reads another path: the reason for the refusal
    text = J.build_jdl(_spec(tmp_path)).replace(str(tmp_path / J.RUNNER), str(spaced))
    answer = server.client.check_jdl(text)
    assert answer["attributes"]["InputSandbox"] == [str(spaced).replace(" ", "")]
    with pytest.raises(PreflightError, match="reads InputSandbox as"):
        check_jdl_readback({"InputSandbox": [str(spaced)]}, answer)
    # DIRAC's own job model refuses what it cannot run (CPU time above its maximum)
    answer = server.client.check_jdl(J.build_jdl(_spec(tmp_path, cpu_time=10**9)))
    with pytest.raises(PreflightError, match="cpuTime out of bounds"):
        check_jdl_readback({}, answer)


# -- File Catalog and storage ------------------------------------------------------------
def test_upload_metadata_ancestors_and_find(server, indexed, tmp_path):
    base = server.unique_base("fc")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("parent\n")
    b.write_text("child\n")
    up = server.client.add_file(f"{base}/a.txt", a, SE)
    assert up["checksum"] == adler32(a) and up["size"] == a.stat().st_size
    server.client.add_file(f"{base}/b.txt", b, SE)
    server.client.set_metadata(
        [
            (f"{base}/a.txt", {"stage": "dl1", "obs_id": 7}, []),
            (f"{base}/b.txt", {"stage": "dl2", "obs_id": 7}, [f"{base}/a.txt"]),
        ]
    )
    meta = server.client.user_metadata([f"{base}/b.txt"])[f"{base}/b.txt"]
    assert meta["stage"] == "dl2" and int(meta["obs_id"]) == 7
    assert server.client.ancestors([f"{base}/b.txt"]) == {f"{base}/b.txt": [f"{base}/a.txt"]}
    assert server.client.find({"stage": "dl2", "obs_id": 7}, base) == [f"{base}/b.txt"]
    got = server.client.get_file(f"{base}/b.txt", tmp_path / "back")
    assert got.read_text() == "child\n"
    ok, failed = server.client.lfn_metadata([f"{base}/b.txt", f"{base}/none.txt"])
    assert int(ok[f"{base}/b.txt"]["Checksum"], 16) == int(adler32(b), 16)
    assert "No such file" in str(failed[f"{base}/none.txt"])


def test_download_faults_are_told_apart(server, tmp_path):
    base = server.unique_base("faults")
    f = tmp_path / "x.txt"
    f.write_text("original content\n")
    for name in ("corrupt.txt", "gone.txt"):
        server.client.add_file(f"{base}/{name}", f, SE)
    # a replica whose bytes changed on the storage element (same size)
    replica = Path(server.client.physical_path(f"{base}/corrupt.txt", SE))
    replica.write_text("ORIGINAL CONTENT\n")
    with pytest.raises(DiracError) as err:
        server.client.get_file(f"{base}/corrupt.txt", tmp_path / "c")
    assert err.value.kind == "corrupt" and "checksum" in str(err.value).lower()
    # a replica gone from the storage element (the catalog still lists it)
    Path(server.client.physical_path(f"{base}/gone.txt", SE)).unlink()
    with pytest.raises(DiracError) as err:
        server.client.get_file(f"{base}/gone.txt", tmp_path / "g")
    assert err.value.kind == "missing"
    with pytest.raises(DiracError) as err:
        server.client.get_file(f"{base}/never.txt", tmp_path / "n")
    assert err.value.kind == "missing"


# -- datasets by File Catalog query -------------------------------------------------------
@pytest.fixture(scope="module")
def dl1_files(tmp_path_factory):
    """Real ctapipe DL1 (aict-tools, CTA prod3b) and toy ROOT files of two particles."""
    from showerflow.simulate import simulate_production

    out = tmp_path_factory.mktemp("dirac-dl1")
    toy = simulate_production(out / "proton", "proton", 2, 40_000, seed=3, first_obs_id=501)
    real = SHARED / "real" / "aict-tools"
    return {
        "root": [str(p) for p in toy],
        "ctapipe_hdf5": [str(real / "cta_gammas_diffuse.dl1.h5"), str(real / "cta_protons.dl1.h5")],
    }


def test_dataset_selected_by_catalog_query(server, indexed, dl1_files, tmp_path):
    base = server.unique_base("dl1")
    uploaded = {}
    for fmt, paths in dl1_files.items():
        spec = {"format": fmt, "format_options": {}}
        entries = [catalog_entry(p, spec) for p in paths]
        lfns = upload_dl1(server.client, paths, f"{base}/{fmt}", SE, entries)
        uploaded.update({lfn: (p, e) for lfn, p, e in zip(lfns, paths, entries, strict=True)})
    protons = sorted(lfn for lfn, (_, e) in uploaded.items() if e["particle"] == "proton")
    assert len(protons) == 3  # two toy runs, one real prod3b file
    files = find_dataset(server.client, "particle=proton zenith=20", base)
    assert [f["lfn"] for f in files] == protons
    only_toy = find_dataset(server.client, "particle=proton obs_id>=501 obs_id<=502", base)
    assert [f["lfn"] for f in only_toy] == [x for x in protons if "/root/" in x]
    local = fetch_dataset(server.client, files, tmp_path / "dirac-cache", adler32)
    for entry, path in zip(files, local, strict=True):
        original, record = uploaded[entry["lfn"]]
        assert adler32(path) == adler32(original)
        fmt = "root" if path.endswith(".root") else "ctapipe_hdf5"
        again = catalog_entry(path, {"format": fmt, "format_options": {}})
        assert again["n_events"] == record["n_events"] and again["obs_id"] == record["obs_id"]
    rows = catalog_columns(files, local)
    assert rows[local[0]]["lfn"] == files[0]["lfn"]
    assert rows[local[0]]["dirac_particle"] == "proton"
    # what the catalog stage calls for a `catalog: dirac` dataset
    spec = {"catalog": "dirac", "dirac_query": "particle=proton zenith=20", "dirac_path": base}
    paths, columns, digest = dataset_files(spec, tmp_path / "dirac-cache", adler32, server.client)
    assert paths == local and columns == rows and len(digest) == 64
    with pytest.raises(QueryError, match="selects no file"):
        dataset_files(
            dict(spec, dirac_query="particle=electron"),
            tmp_path / "dirac-cache",
            adler32,
            server.client,
        )
    # a second fetch keeps the verified copies
    stamp = [os.stat(p).st_mtime_ns for p in local]
    fetch_dataset(server.client, files, tmp_path / "dirac-cache", adler32)
    assert [os.stat(p).st_mtime_ns for p in local] == stamp


def test_query_naming_an_unindexed_field_is_refused(server, indexed):
    with pytest.raises(
        QueryError, match=r"no index for the query field\(s\) \['zenit'\].*meta index -f zenit"
    ):
        find_dataset(server.client, "particle=proton zenit=20", HOME)


# -- refusals before any submission ------------------------------------------------------
def test_preflight_accepts_the_test_setup(server, indexed):
    info = preflight(server.client, f"{HOME}/showerflow", SE, 0.01, "dirac_user", DEFAULT_FIELDS)
    assert info["username"] == "ciuser" and info["home"] == HOME


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("/vo/user/o/other/showerflow", SE), "outside your DIRAC home /vo/user/c/ciuser"),
        ((f"{HOME}/x", "NO-SUCH-SE"), "not a storage element DIRAC knows .*SE-1"),
        ((f"{HOME}/x", None), "no output storage element"),
    ],
)
def test_preflight_refuses_bad_settings(server, indexed, args, message):
    with pytest.raises(PreflightError, match=message):
        preflight(server.client, *args, 0.01, None, DEFAULT_FIELDS)


def test_preflight_refuses_unindexed_fields(server, indexed):
    with pytest.raises(PreflightError, match="meta index -f not_indexed_here VARCHAR"):
        preflight(server.client, f"{HOME}/x", SE, 0.01, None, {"not_indexed_here": "VARCHAR(8)"})


def test_preflight_refuses_proxies_that_cannot_submit(server, indexed, tmp_path):
    from showerflow.executors.dirac import DiracClient

    def client_with(path):
        return DiracClient(env=dict(server.env, X509_USER_PROXY=str(path)))

    data = server.proxy("dirac_data", out=tmp_path / "data.pem", upload=False)
    with pytest.raises(PreflightError, match="group 'dirac_data' cannot submit jobs.*dirac_user"):
        preflight(client_with(data), f"{HOME}/x", SE, 0.01)
    with pytest.raises(PreflightError, match="is of group 'dirac_data', not 'dirac_user'"):
        preflight(client_with(data), f"{HOME}/x", SE, 0.01, "dirac_user")
    short = server.proxy(valid="00:30", out=tmp_path / "short.pem", upload=False)
    with pytest.raises(PreflightError, match=r"expires in 0\.\d+ h, less than the 2 h"):
        preflight(client_with(short), f"{HOME}/x", SE, 2)
    with pytest.raises(PreflightError, match="no valid DIRAC proxy.*dirac-proxy-init"):
        preflight(client_with(tmp_path / "missing.pem"), f"{HOME}/x", SE, 0.01)


def test_preflight_refuses_an_unreachable_server(server, tmp_path):
    from showerflow.executors.dirac import DiracClient

    cfg = tmp_path / "elsewhere.cfg"
    cfg.write_text(
        "Systems\n{\n  WorkloadManagement\n  {\n    URLs\n    {\n"
        "      JobManager = dips://localhost:9/WorkloadManagement/JobManager\n    }\n  }\n}\n"
    )
    # the first file of DIRACSYSCONFIG wins
    env = dict(server.env, DIRACSYSCONFIG=f"{cfg}," + server.env["DIRACSYSCONFIG"])
    with pytest.raises(PreflightError, match="server is unreachable.*JobManager"):
        preflight(DiracClient(env=env), f"{HOME}/x", SE, 0.01)


# -- the executor: a small workflow with a directory output -------------------------------
SNAKEFILE = """
import json
import os

configfile: "config.yaml"


rule all:
    input:
        "results/summary.txt",


rule count:
    input:
        "data/{dataset}.txt",
    output:
        "results/counts/{dataset}.txt",
    log:
        "results/logs/count/{dataset}.log",
    benchmark:
        "results/benchmarks/count/{dataset}.tsv"
    params:
        dirac_catalog=lambda w: {"metadata": {"obs_id": config["obs_id"][w.dataset]}},
    shell:
        "wc -l < {input} > {output}; echo counted {wildcards.dataset} > {log}"


rule split:
    input:
        a="data/a.txt",
        b="data/b.txt",
    output:
        directory("results/staging/split"),
    log:
        "results/logs/split.log",
    run:
        os.makedirs(f"{output[0]}/sub")
        files = {}
        for name, src, obs in [("a.part", input.a, 1), ("sub/b.part", input.b, 2)]:
            with open(src) as f, open(f"{output[0]}/{name}", "w") as out:
                out.write(f.read().upper())
            files[name] = {"ancestors": [src], "metadata": {"obs_id": obs, "part": name.replace("/", "_")}}
        with open(f"{output[0]}/dirac-catalog.json", "w") as f:
            json.dump({"metadata": {"models_sha256": "0" * 64}, "files": files}, f)
        with open(log[0], "w") as f:
            f.write("split done\\n")


rule summary:
    input:
        counts=expand("results/counts/{dataset}.txt", dataset=["a", "b"]),
        split="results/staging/split",
    output:
        "results/summary.txt",
    shell:
        "cat {input.counts} {input.split}/a.part {input.split}/sub/b.part > {output}"
"""


def make_workflow(root):
    wf = Path(root) / "wf"
    (wf / "data").mkdir(parents=True)
    (wf / "data" / "a.txt").write_text("1\n2\n3\n")
    (wf / "data" / "b.txt").write_text("x\ny\n")
    (wf / "Snakefile").write_text(SNAKEFILE)
    (wf / "config.yaml").write_text(
        "datasets:\n  a: {particle: gamma}\n  b: {particle: proton}\nobs_id: {a: 11, b: 12}\n"
    )
    return wf


@pytest.fixture(scope="module")
def workflow_run(server, indexed, tmp_path_factory):
    wf = make_workflow(tmp_path_factory.mktemp("dirac-wf"))
    base = server.unique_base("wf")
    t0 = time.time()
    res = snakemake_dirac(wf, server, base)
    return wf, base, res, time.time() - t0


def test_workflow_runs_as_dirac_jobs(server, workflow_run):
    wf, base, res, seconds = workflow_run
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert (wf / "results" / "summary.txt").read_text() == "3\n2\n1\n2\n3\nX\nY\n"
    assert (wf / "results" / "logs" / "count" / "a.log").read_text() == "counted a\n"
    assert (wf / "results" / "benchmarks" / "count" / "b.tsv").read_text().startswith("s\t")
    assert (wf / "results" / "staging" / "split" / "sub" / "b.part").read_text() == "X\nY\n"
    assert out.count("submitted to DIRAC as job") == 4
    assert "Adler-32 verified" in out
    print(f"\n4 DIRAC jobs (2 in parallel at most after the first wave): {seconds:.0f} s")


def test_outputs_are_in_the_catalog_with_metadata_and_ancestors(server, workflow_run):
    wf, base, res, _ = workflow_run
    assert res.returncode == 0
    counts_a = f"{base}/results/counts/a.txt"
    part_a = f"{base}/results/staging/split/a.part"
    part_b = f"{base}/results/staging/split/sub/b.part"
    summary = f"{base}/results/summary.txt"
    meta = server.client.user_metadata([counts_a, part_a, part_b, summary])
    assert meta[counts_a]["stage"] == "count" and meta[counts_a]["dataset"] == "a"
    assert meta[counts_a]["particle"] == "gamma" and int(meta[counts_a]["obs_id"]) == 11
    assert (
        meta[counts_a]["workflow"] == "showerflow" and len(meta[counts_a]["workflow_digest"]) == 64
    )
    assert int(meta[part_b]["obs_id"]) == 2 and meta[part_b]["models_sha256"] == "0" * 64
    assert meta[part_b]["part"] == "sub_b.part" and meta[summary]["stage"] == "summary"
    job_ids = {m["dirac_job"] for m in meta.values()}
    assert len(job_ids) == 3  # count a (with count b a 4th job), split, summary
    anc = server.client.ancestors([counts_a, part_a, part_b, summary])
    assert anc[counts_a] == [f"{base}/data/a.txt"]
    assert anc[part_a] == [f"{base}/data/a.txt"]  # each part's own input, from the sidecar
    assert anc[part_b] == [f"{base}/data/b.txt"]
    assert f"{base}/results/staging/split/sub/b.part" in anc[summary]
    # what came back is what the catalog holds
    ok, _ = server.client.lfn_metadata([part_b])
    assert int(ok[part_b]["Checksum"], 16) == int(
        adler32(wf / "results" / "staging" / "split" / "sub" / "b.part"), 16
    )
    # the JDL named the inputs as LFNs
    jdls = [p.read_text() for p in (wf / ".snakemake" / "dirac").glob("*/job.jdl")]
    summary_jdl = next(t for t in jdls if "showerflow.summary" in t)
    assert f'"LFN:{part_b}"' in summary_jdl and f'"LFN:{base}/results/counts/a.txt"' in summary_jdl


def test_second_run_has_nothing_to_do(server, workflow_run):
    wf, base, res, _ = workflow_run
    assert res.returncode == 0
    again = snakemake_dirac(wf, server, base)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


# -- faults -------------------------------------------------------------------------------
FAULTS = """
rule all:
    input:
        "results/fails.txt",
        "results/sleeps.txt",


rule fails:
    output:
        "results/fails.txt",
    shell:
        "echo about to fail >&2; exit 3"


rule sleeps:
    output:
        "results/sleeps.txt",
    shell:
        "sleep 240; touch {output}"
"""


def test_payload_failure_and_owner_kill_are_reported_as_such(server, indexed, tmp_path):
    wf = tmp_path / "faults"
    wf.mkdir()
    (wf / "Snakefile").write_text(FAULTS)
    proc = snakemake_dirac(
        wf, server, server.unique_base("faults"), "--keep-going", background=True
    )
    log = wf / "snakemake.out"
    try:
        job_id = None
        end = time.time() + 300
        while job_id is None and time.time() < end:
            for line in log.read_text().splitlines():
                if "(sleeps) submitted to DIRAC as job" in line:
                    job_id = line.split("as job")[1].split(";")[0].strip()
            time.sleep(2)
        assert job_id, log.read_text()[-3000:]
        server.wait_status(job_id, ("Running",), timeout=300)
        server.client.kill([job_id])
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert proc.returncode != 0
    assert f"DIRAC job {job_id} was killed by its owner or an administrator" in out
    assert "not by a limit" in out and "raise the rule's runtime" not in out
    fails = [line for line in out.splitlines() if "the job's command exited with an error" in line]
    assert fails and "DIRAC job" in fails[0], out[-3000:]
    assert "about to fail" in out  # its std.err is shown


INTERRUPTED = """
rule all:
    input:
        expand("results/{name}.txt", name=["a", "b", "c"]),


rule make:
    output:
        "results/{name}.txt",
    shell:
        "echo made {wildcards.name} > {output}"
"""


def test_rerun_after_a_crash_redoes_only_what_was_lost(server, indexed, tmp_path):
    """Three jobs finish on DIRAC; before Snakemake fetched them the server stops and the
    submit host's Snakemake dies (SIGKILL). With the server back, one output's replica is
    deleted and another's corrupted. The rerun takes over the three DIRAC jobs, fetches the
    intact output and resubmits only the two lost ones."""
    wf = tmp_path / "interrupted"
    wf.mkdir()
    (wf / "Snakefile").write_text(INTERRUPTED)
    base = server.unique_base("interrupted")
    proc = snakemake_dirac(
        wf,
        server,
        base,
        "--seconds-between-status-checks",
        "600",
        "--dirac-server-timeout",
        "5",
        background=True,
    )
    log = wf / "snakemake.out"
    ids = {}
    try:
        end = time.time() + 300
        while len(ids) < 3 and time.time() < end:
            for line in log.read_text().splitlines():
                if "(make) submitted to DIRAC as job" in line:
                    job = line.split("as job")[1].split(";")[0].strip()
                    ids[job] = True
            time.sleep(2)
        assert len(ids) == 3, log.read_text()[-3000:]
        for job in ids:
            server.wait_status(job, ("Done",), timeout=400)
        server.services("stop")
        proc.send_signal(signal.SIGKILL)  # Snakemake sleeps 600 s between status checks
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.services("start")
    assert not (wf / "results" / "a.txt").exists()
    # lose b's replica, corrupt c's
    Path(server.client.physical_path(f"{base}/results/b.txt", SE)).unlink()
    replica_c = Path(server.client.physical_path(f"{base}/results/c.txt", SE))
    replica_c.write_text(replica_c.read_text().upper())
    unlock = snakemake_dirac(wf, server, base, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    res = snakemake_dirac(wf, server, base, "--retries", "1")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert out.count("taking over DIRAC job") == 3
    assert (
        "missing from the storage element" in out and "does not match its catalog checksum" in out
    )
    assert out.count("submitted to DIRAC as job") == 2  # b and c again, not a
    for name in "abc":
        assert (wf / "results" / f"{name}.txt").read_text() == f"made {name}\n"


def test_server_unreachable_while_jobs_run_is_reported(server, indexed, tmp_path):
    wf = tmp_path / "unreachable"
    wf.mkdir()
    (wf / "Snakefile").write_text(INTERRUPTED.replace('["a", "b", "c"]', '["a"]'))
    base = server.unique_base("unreachable")
    proc = snakemake_dirac(wf, server, base, "--dirac-server-timeout", "20", background=True)
    log = wf / "snakemake.out"
    try:
        end = time.time() + 300
        while "submitted to DIRAC as job" not in log.read_text() and time.time() < end:
            time.sleep(1)
        job = log.read_text().split("as job")[1].split(";")[0].strip()
        server.services("stop")
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.services("start")
    out = log.read_text()
    assert proc.returncode != 0
    assert f"DIRAC job {job} (make" in out and "has not answered for" in out
    assert "Rerun once it is back" in out
    res = snakemake_dirac(wf, server, base)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert f"taking over DIRAC job {job}" in res.stdout + res.stderr


def test_proxy_expiring_mid_run_is_reported(server, indexed, tmp_path):
    wf = tmp_path / "expiring"
    wf.mkdir()
    (wf / "Snakefile").write_text(
        'rule sleeps:\n    output:\n        "results/sleeps.txt",\n'
        '    shell:\n        "sleep 150; touch {output}"\n'
    )
    proxy = server.proxy(valid="00:02", out=tmp_path / "short.pem", upload=False)
    env = dict(server.env, X509_USER_PROXY=str(proxy))
    try:
        res = snakemake_dirac(
            wf, server, server.unique_base("expiring"), "results/sleeps.txt", env=env
        )
    finally:
        server.proxy()
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "the proxy expired during the run" in out and "dirac-proxy-init -g dirac_user" in out
    assert str(proxy) not in out
