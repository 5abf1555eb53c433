"""The workflow on a real single-node SLURM cluster (tools/slurm/start.sh), through
snakemake-executor-plugin-slurm and profiles/slurm.

A session fixture starts munge, MariaDB, slurmdbd, slurmctld and slurmd (and stops exactly
those at the end); it skips only if the Debian packages are missing or we are not root.
One module fixture then runs, at the same time: the small production with
``showerflow run slurm`` (profiles/slurm + tools/slurm/run-options.yaml), a small workflow
of failing jobs on the same cluster, and the local reference run. The tests read what SLURM
accounted (sacct) and what Snakemake reported.

Run just these: ``pytest -m slurm`` (as root, after
``apt-get install munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client``).
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BackgroundRun, assert_same_results, cluster_workdir

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools" / "slurm"
STATE = Path(os.environ.get("SHOWERFLOW_SLURM_STATE", "/tmp/showerflow-slurm"))
ACCOUNT = os.environ.get("SHOWERFLOW_SLURM_ACCOUNT", "showerflow")
DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sacct", "sinfo", "sacctmgr", "scontrol")
PACKAGES = "munge slurmctld slurmd slurm-client slurmdbd mariadb-server mariadb-client"
RUN_OPTIONS = TOOLS / "run-options.yaml"
SHOWERFLOW = [sys.executable, "-m", "showerflow.cli"]

# Rules that run in the Snakemake process (never submitted), and those that go through sbatch.
LOCAL_RULES = {"all", "report_config", "plan", "publish"}
REMOTE_RULES = {
    "simulate",
    "catalog",
    "training_data_energy",
    "training_data_classification",
    "train_energy",
    "train_classifier",
    "dl2",
    "merge_dl2",
    "optimize",
    "performance",
    "plot_models",
    "plot_performance",
}

# Batch rules submitted as SLURM job arrays by profiles/slurm (slurm-array-jobs), and the
# datasets whose plan checkpoint releases each rule's batches.
ARRAY_RULES = {
    "training_data_energy": 2,  # gamma, gamma_diffuse
    "training_data_classification": 3,  # gamma, gamma_diffuse, proton
    "dl2": 4,  # gamma, gamma_diffuse, proton, electron
}

FAILING = """\
# Failures on SLURM: a time limit, a failing command, and a job that succeeds.
rule all:
    input:
        "fine.txt",
        "slow.txt",
        "broken.txt",


rule fine:
    output:
        "fine.txt",
    log:
        "logs/fine.log",
    shell:
        "echo ok > {output}"


rule slow:
    output:
        "slow.txt",
    log:
        "logs/slow.log",
    resources:
        runtime=1,
    shell:
        "echo started > {log}; sleep 600; touch {output}"


rule broken:
    output:
        "broken.txt",
    log:
        "logs/broken.log",
    shell:
        "echo 'boom: the input is bad' > {log}; exit 3"
"""

# Fails once, then succeeds: run with the profile's retries (a rule-level `retries:` would
# be retried inside the same SLURM job by the job's own Snakemake, without resubmission).
FLAKY = """\
rule flaky:
    output:
        "flaky.txt",
    log:
        "logs/flaky.log",
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
    shell:
        "if [ -e flaky.marker ]; then touch {output}; else touch flaky.marker; exit 1; fi"
"""


def _skip_reason():
    if os.geteuid() != 0:
        return "needs root to start munge, MariaDB and the SLURM daemons"
    missing = [c for c in DAEMONS + CLIENTS if shutil.which(c) is None]
    if missing:
        return (
            f"Debian packages for a local SLURM not installed (missing {', '.join(missing)}): "
            f"apt-get install -y --no-install-recommends {PACKAGES}"
        )
    return None


def _alive(pidfile):
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM with accounting; stopped at the end if we started it."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    reused = _alive(STATE / "pids" / "slurmctld.pid")
    t0 = time.monotonic()
    res = subprocess.run([TOOLS / "start.sh"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    print(f"SLURM up in {time.monotonic() - t0:.0f} s: {res.stdout.strip()}")
    yield STATE
    if not reused:
        res = subprocess.run([TOOLS / "stop.sh"], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd"):
            assert not (STATE / "pids" / f"{name}.pid").exists(), name


def sacct(run_id, since):
    """Accounting records of one Snakemake run (job name showerflow_<run id>)."""
    fields = ["JobID", "State", "Comment", "ReqMem", "ReqCPUS", "Timelimit", "Account"]
    res = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, "--name", f"showerflow_{run_id}"]
        + ["-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in res.stdout.splitlines()]
    for row in rows:
        row["rule"] = row["Comment"].removeprefix("rule_").split("_wildcards_")[0]
    return rows


def run_id(output):
    match = re.search(r"SLURM run ID: showerflow_(\S+)", output)
    assert match, output[-3000:]
    return match[1]


def slurm_run(workdir, *snakemake_args, options=()):
    cmd = SHOWERFLOW + ["run", "slurm", "--run-options", str(RUN_OPTIONS), *options]
    return BackgroundRun(cmd + ["--", *snakemake_args], workdir)


@pytest.fixture(scope="module")
def runs(slurm_cluster, local_reference, tmp_path_factory):
    """The pipeline and the failing workflow on SLURM, beside the local reference run."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    failing = tmp_path_factory.mktemp("slurm_failing")
    (failing / "Snakefile").write_text(FAILING)
    fail_run = slurm_run(failing)
    flaky = tmp_path_factory.mktemp("slurm_flaky")
    (flaky / "Snakefile").write_text(FLAKY)
    flaky_run = slurm_run(flaky, options=["--set", "retries=1"])
    pipeline = cluster_workdir(tmp_path_factory.mktemp("slurm_pipeline"))
    t0 = time.monotonic()
    cluster = slurm_run(
        pipeline, "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml"
    ).wait()
    elapsed = time.monotonic() - t0
    print(f"pipeline on SLURM: {elapsed:.0f} s")
    return {
        "since": since,
        "pipeline": cluster,
        "pipeline_dir": pipeline,
        "failing": fail_run.wait(),
        "failing_dir": failing,
        "flaky": flaky_run.wait(),
        "flaky_dir": flaky,
        "local": local_reference.wait(),
        "local_dir": local_reference.cwd,
    }


def test_jobs_went_through_sbatch_and_completed(runs):
    res = runs["pipeline"]
    assert res.returncode == 0, res.stdout[-5000:]
    done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", res.stdout)
    assert done, res.stdout[-3000:]
    n_steps = int(done[-1][1])
    local = re.findall(r"^local(?:rule|checkpoint) (\w+):$", res.stdout, re.M)
    assert set(local) == LOCAL_RULES
    rows = sacct(run_id(res.stdout), runs["since"])
    # every job but the local rules (the plans, the publish jobs, `all`, `report_config`)
    assert len(rows) == n_steps - len(local)
    assert {r["State"] for r in rows} == {"COMPLETED"}
    assert {r["rule"] for r in rows} == REMOTE_RULES
    assert {r["Account"] for r in rows} == {ACCOUNT}


def test_resources_reach_sbatch(runs):
    """Profile, run options and rules merged key by key, as sbatch received them."""
    rows = sacct(run_id(runs["pipeline"].stdout), runs["since"])
    by_rule = {}
    for r in rows:
        by_rule.setdefault(r["rule"], set()).add((r["ReqMem"], r["ReqCPUS"], r["Timelimit"]))
    # train: threads and memory from the run options, runtime (240 min) from profiles/slurm
    assert by_rule["train_energy"] == {("4000M", "2", "04:00:00")}
    assert by_rule["train_classifier"] == {("4000M", "2", "04:00:00")}
    # dl2: memory from the rule (2000 * attempt; + 1 MB in an array task, the plugin's
    # allowance for the job payload), runtime 120 min from profiles/slurm
    # and 2 threads from the rule (a batch's files are predicted on 2 threads)
    assert by_rule["dl2"] <= {("2000M", "2", "02:00:00"), ("2001M", "2", "02:00:00")}
    # performance: memory from the run options, runtime from profiles/slurm
    assert by_rule["performance"] == {("4000M", "1", "02:00:00")}


def test_batch_jobs_go_as_job_arrays(runs):
    """profiles/slurm: the ready batch jobs of a rule share one sbatch call (a job array).

    A batch becomes ready when its dataset's plan checkpoint finishes, so a rule needs at
    most one submission per dataset of its role, and fewer than it has batch jobs when a
    dataset has several batches (DL2 of gamma and proton here; the training datasets have
    one batch each, which share a call only when their plans finish together).
    """
    rows = sacct(run_id(runs["pipeline"].stdout), runs["since"])
    submissions = {r["JobID"].split("_")[0] for r in rows}
    for rule, n_datasets in ARRAY_RULES.items():
        tasks = [r for r in rows if r["rule"] == rule]
        sbatch = {r["JobID"].split("_")[0] for r in tasks}
        assert len(sbatch) <= n_datasets, (rule, sorted(r["JobID"] for r in tasks))
        if len(tasks) > n_datasets:  # a dataset with several batches: they share a call
            assert any("_" in r["JobID"] for r in tasks), rule  # at least one array task
            assert len(sbatch) < len(tasks), rule
    assert sum(r["rule"] == "dl2" for r in rows) > ARRAY_RULES["dl2"]  # so dl2 went as arrays
    # every other rule: one sbatch per job
    others = [r for r in rows if r["rule"] not in ARRAY_RULES]
    assert all("_" not in r["JobID"] for r in others)
    assert len(submissions) < len(rows)


def test_results_equal_the_local_run(runs):
    assert runs["local"].returncode == 0, runs["local"].stdout[-3000:]
    assert runs["pipeline"].returncode == 0
    assert_same_results(runs["pipeline_dir"] / "results", runs["local_dir"] / "results")


def test_identical_run_after_slurm_has_nothing_to_do(runs):
    """The simulated sample included: no step is redone after a SLURM run."""
    assert runs["pipeline"].returncode == 0
    again = slurm_run(
        runs["pipeline_dir"],
        "-n",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        "config.yaml",
    ).wait()
    assert again.returncode == 0, again.stdout[-3000:]
    assert "Nothing to be done" in again.stdout, again.stdout[-3000:]


def test_time_limit_is_reported_as_timeout(runs):
    res = runs["failing"]
    assert res.returncode != 0
    rows = {r["rule"]: r for r in sacct(run_id(res.stdout), runs["since"]) if r["rule"] == "slow"}
    assert rows["slow"]["State"] == "TIMEOUT"
    assert rows["slow"]["Timelimit"] == "00:01:00"
    assert re.search(
        r"Error in rule slow:\s+message: SLURM-job '\d+' failed, SLURM status is: 'TIMEOUT'",
        res.stdout,
    )


def test_failed_job_log_is_shown_and_independent_jobs_go_on(runs):
    res, workdir = runs["failing"], runs["failing_dir"]
    states = {r["rule"]: r["State"] for r in sacct(run_id(res.stdout), runs["since"])}
    assert states["broken"] == "FAILED" and states["fine"] == "COMPLETED"
    assert re.search(r"Error in rule broken:\s+message: SLURM-job '\d+' failed", res.stdout)
    # show-failed-logs: the rule's log is printed
    assert re.search(r"Logfile logs/broken.log:\s*=+\s*boom: the input is bad", res.stdout)
    # keep-going: the independent job finished although two others failed
    assert (workdir / "fine.txt").read_text() == "ok\n"
    assert not (workdir / "broken.txt").exists()


def test_retry_is_resubmitted_with_more_memory(runs):
    res, workdir = runs["flaky"], runs["flaky_dir"]
    assert res.returncode == 0, res.stdout[-3000:]
    flaky = [r for r in sacct(run_id(res.stdout), runs["since"]) if r["rule"] == "flaky"]
    assert [(r["State"], r["ReqMem"]) for r in flaky] == [
        ("FAILED", "500M"),
        ("COMPLETED", "1000M"),
    ]
    assert (workdir / "flaky.txt").exists()


def test_unreachable_controller_fails_before_submission(slurm_cluster, tmp_path):
    """A slurm.conf pointing at a controller that is not there: the reason, nothing submitted."""
    conf = Path("/etc/slurm/slurm.conf").read_text()
    conf = re.sub(r"(?m)^SlurmctldHost=.*$", "SlurmctldHost=nowhere(127.0.0.1)", conf)
    (tmp_path / "slurm.conf").write_text(conf + "SlurmctldPort=9\nMessageTimeout=2\n")
    env = {**os.environ, "SLURM_CONF": str(tmp_path / "slurm.conf")}
    res = subprocess.run(
        SHOWERFLOW + ["run", "slurm", "--", "-n"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2
    assert "SLURM controller unreachable: 'sinfo --noheader --summarize' said:" in res.stderr
    assert "Unable to contact slurm controller" in res.stderr
    assert not (tmp_path / ".snakemake").exists()
