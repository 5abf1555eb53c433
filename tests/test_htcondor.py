"""The htcondor executor plugin with profiles/htcondor, htcondor-transfer, site-lxplus-htcondor.

No HTCondor daemons can run on the test machines. What is real here: Snakemake, the
htcondor executor plugin building each job's submit description and handing it to the
real ``htcondor2.Submit``, the plugin reading the job event log with the real
``htcondor2.JobEventLog``, and condor_submit's own submit-language processing (the
htcondor bindings' ``Submit.jobs()``, which turns a description into the job ClassAd a
schedd would queue) to check what each description asks for. What is a stand-in: the
schedd (tests/condor_standin.py), which runs the jobs on this machine like an execution
point, in the submit directory (shared filesystem) or in an empty scratch directory with
only the transferred files (file transfer). docs/clusters.md says what this does not cover.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BackgroundRun, assert_same_results, cluster_workdir

from showerflow import runoptions as ro

pytestmark = pytest.mark.htcondor

REPO = Path(__file__).resolve().parents[1]
STANDIN = Path(__file__).with_name("condor_standin.py")

# This machine: 2 cores and no HTCondor, so smaller requests than the profiles' and quick
# status checks; the rest of each profile is used as it is.
THIS_MACHINE = {
    "set-threads": {"train_energy": 2, "train_classifier": 2},
    "set-resources": {
        "train_energy": {"htcondor_request_mem_mb": "4000*attempt"},
        "train_classifier": {"htcondor_request_mem_mb": "4000*attempt"},
    },
    "retries": 0,
    "latency-wait": 5,
    "seconds-between-status-checks": 1,
}

# What each rule asks for under profiles/htcondor merged with THIS_MACHINE:
# (request_cpus, request_memory MB, allowed_execute_duration s)
EXPECTED = {
    "simulate": (1, 2000, 3600),
    "catalog": (1, 1000, 3600),
    "plan": (1, 1000, 3600),
    "training_data_energy": (1, 2000, 3600),
    "training_data_classification": (1, 2000, 3600),
    "train_energy": (2, 4000, 14400),
    "train_classifier": (2, 4000, 14400),
    "dl2": (1, 2000, 7200),
    "merge_dl2": (1, 1000, 3600),
    "performance": (1, 8000, 7200),
    "plot_models": (1, 1000, 3600),
    "plot_performance": (1, 1000, 3600),
}


def write_profile(name, directory, options, snakefile=None):
    """Merge a repository profile with run options (as `showerflow run` does) into directory.

    The layers derived from the rules (the transfer lists) come from ``snakefile``.
    """
    site = PROFILES_DIR / name / "config.yaml"
    layers = [("site", ro.resolve_profile_paths(ro.load_mapping(site), site.parent))]
    layers.append(("run-options", options))
    layers[1:1] = ro.derived_layers(layers, snakefile or REPO / "Snakefile")
    merged, origins = ro.merge_layers(layers)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(ro.render_profile(merged, origins))
    return directory


PROFILES_DIR = REPO / "profiles"


def standin_run(workdir, profile, *snakemake_args, slots=2):
    """Snakemake with `profile` in workdir, jobs going to the stand-in schedd."""
    (workdir / "standin").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CONDOR_CONFIG": "/dev/null",
        "CONDOR_STANDIN_DIR": str(workdir / "standin"),
        "CONDOR_STANDIN_SLOTS": str(slots),
    }
    cmd = [sys.executable, str(STANDIN), "--profile", str(profile), *snakemake_args]
    return BackgroundRun(cmd, workdir, env=env)


def records(workdir, name):
    path = workdir / "standin" / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def job_ads(submits):
    """The job ClassAd condor_submit's language makes of each description (htcondor.Submit.jobs).

    Evaluated in the submit directory, as condor_submit would be (relative paths resolve
    against it).
    """
    script = (
        "import json, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import htcondor\n"
        "out = []\n"
        "for rec in json.load(sys.stdin):\n"
        "    sub = htcondor.Submit(rec['description'])\n"
        "    ad = next(iter(sub.jobs(count=1, clusterid=rec['cluster'])))\n"
        "    out.append(json.loads(ad.printJson()))\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(submits),
        capture_output=True,
        text=True,
        env={**os.environ, "CONDOR_CONFIG": "/dev/null"},
        cwd=submits[0]["iwd"] if submits else None,
        check=True,
    )
    return json.loads(res.stdout)


def rule_of(ad):
    return ad["JobBatchName"].rsplit("-", 1)[0]


def copy_workflow(dest):
    """A checkout of the workflow (symlinks resolved), as a user would run it from."""
    import shutil

    dest.mkdir(parents=True)
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, symlinks=False)
        else:
            shutil.copy(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def pipelines(local_reference, tmp_path_factory):
    """The small production through the stand-in, shared-FS and file-transfer, at once."""
    import yaml

    shared = cluster_workdir(tmp_path_factory.mktemp("htcondor_shared"))
    shared_profile = write_profile("htcondor", shared / "profile", THIS_MACHINE)
    # file transfer: run from a copy of the checkout; the DL1 files sit under a prefix the
    # profile declares shared (on a real pool: EOS or CVMFS), everything else travels.
    base = tmp_path_factory.mktemp("htcondor_transfer")
    transfer = copy_workflow(base / "checkout")
    dl1 = base / "eos" / "dl1"
    cfg = yaml.safe_load((cluster_workdir(base / "cfg") / "config.yaml").read_text())
    cfg["simulation"]["output"] = str(dl1)
    for spec in cfg["datasets"].values():
        spec["folders"] = [str(dl1 / spec["simulated"])]
    cfg["models"] = {
        "energy": "config/models/energy.yaml",
        "classifier": "config/models/classifier.yaml",
    }
    cfg["performance"]["config"] = "config/performance.yaml"
    (transfer / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    options = {
        **THIS_MACHINE,
        "htcondor-shared-fs-prefixes": f"/cvmfs,..,{base / 'eos'}",
        "default-resources": {
            "environment": f"SHOWERFLOW_SETUP={Path(sys.executable).parent}/activate"
        },
    }
    transfer_profile = write_profile(
        "htcondor-transfer", base / "profile", options, transfer / "Snakefile"
    )
    runs = {
        "shared": standin_run(
            shared,
            shared_profile,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            "config.yaml",
        ),
        "transfer": standin_run(transfer, transfer_profile),
    }
    return {
        "shared": (shared, runs["shared"].wait()),
        "transfer": (transfer, runs["transfer"].wait()),
        "local": local_reference,
    }


@pytest.mark.parametrize("mode", ["shared", "transfer"])
def test_pipeline_completes(pipelines, mode):
    workdir, res = pipelines[mode]
    assert res.returncode == 0, res.stdout[-5000:]
    jobs = records(workdir, "jobs.jsonl")
    assert len(jobs) == len(records(workdir, "submits.jsonl")) > 20
    assert {j["returncode"] for j in jobs} == {0}
    assert {j["batch_name"].rsplit("-", 1)[0] for j in jobs} == set(EXPECTED)


@pytest.mark.parametrize("mode", ["shared", "transfer"])
def test_submit_descriptions_map_resources_as_documented(pipelines, mode):
    """threads -> RequestCpus, htcondor_request_mem_mb -> RequestMemory (MB),
    htcondor_request_disk_mb -> RequestDisk (KB), allowed_execute_duration passed through."""
    workdir, _ = pipelines[mode]
    submits = records(workdir, "submits.jsonl")
    ads = job_ads(submits)
    assert len(ads) == len(submits)
    seen = set()
    for ad in ads:
        rule = rule_of(ad)
        seen.add(rule)
        cpus, mem, duration = EXPECTED[rule]
        assert (ad["RequestCpus"], ad["RequestMemory"]) == (cpus, mem), rule
        assert ad["AllowedExecuteDuration"] == duration, rule
        assert ad["RequestDisk"] == 10000 * 1024, rule
        assert ad["Out"].endswith(f"_{ad['ClusterId']}.out") and f"/{rule}/" in ad["Out"]
        assert "GetEnv" not in ad or ad["GetEnv"] is False
    assert seen == set(EXPECTED)


def test_shared_fs_descriptions_run_python_in_place(pipelines):
    workdir, _ = pipelines["shared"]
    for ad in job_ads(records(workdir, "submits.jsonl")):
        assert ad["Cmd"] == sys.executable
        assert ad["Args"].startswith("-m snakemake --snakefile ")
        assert ad["ShouldTransferFiles"] == "IF_NEEDED" and "TransferInput" not in ad


def test_transfer_descriptions_list_what_travels(pipelines):
    workdir, _ = pipelines["transfer"]
    ads = {rule_of(ad): ad for ad in job_ads(records(workdir, "submits.jsonl"))}
    for rule, ad in ads.items():
        assert ad["ShouldTransferFiles"] == "YES" and ad["WhenToTransferOutput"] == "ON_EXIT"
        assert ad["Cmd"] == str(workdir / "profiles/htcondor-transfer/job-wrapper.sh"), rule
        sent = set(ad["TransferInput"].split(","))
        assert {"Snakefile", "rules", "scripts", "config"} <= sent, rule
        assert "profiles/htcondor-transfer/job-wrapper.sh" in sent
        # no path of the submit host in the job's arguments: it would not exist on an EP
        assert not [a for a in ad["Args"].split() if a.startswith("/")], rule
        remaps = dict(
            (s.strip() for s in item.split(" = ")) for item in ad["TransferOutputRemaps"].split(";")
        )
        for out in ad["TransferOutput"].split(","):
            assert remaps[out] == str(workdir / out), (rule, out)
    dl2 = ads["dl2"]
    assert {"results/models/energy.joblib", "results/models/classifier.joblib"} <= set(
        dl2["TransferInput"].split(",")
    )
    # the DL1 inputs are under the shared prefix: read in place, not transferred
    assert not [f for f in dl2["TransferInput"].split(",") if f.endswith(".root")]
    assert "SHOWERFLOW_SETUP=" in dl2["Environment"]


def test_transfer_mode_loses_no_output(pipelines):
    """Every file a job wrote in its scratch directory came back (caches aside)."""
    workdir, _ = pipelines["transfer"]
    lost = {
        j["batch_name"]: [f for f in j.get("left_behind", []) if not f.startswith(".matplotlib/")]
        for j in records(workdir, "jobs.jsonl")
    }
    assert {k: v for k, v in lost.items() if v} == {}


@pytest.mark.parametrize("mode", ["shared", "transfer"])
def test_results_equal_the_local_run(pipelines, mode):
    local = pipelines["local"].wait()
    assert local.returncode == 0, local.stdout[-3000:]
    workdir, res = pipelines[mode]
    assert res.returncode == 0
    assert_same_results(workdir / "results", pipelines["local"].cwd / "results")


# --- failures, retries and the lxplus profile, on small workflows -----------------------------

FAILING = """\
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
        allowed_execute_duration=3,
    shell:
        "sleep 60; touch {output}"


rule broken:
    output:
        "broken.txt",
    log:
        "logs/broken.log",
    shell:
        "echo 'boom: the input is bad' > {log}; exit 3"
"""

FLAKY = """\
rule flaky:
    output:
        "flaky.txt",
    log:
        "logs/flaky.log",
    shell:
        "if [ -e flaky.marker ]; then touch {output}; else touch flaky.marker; exit 1; fi"
"""

# Rules named like the workflow's, doing nothing, to see what a site profile asks for them.
NAMED = "\n".join(
    f'rule {name}:\n    output:\n        "{name}.txt",\n    shell:\n        "touch {{output}}"\n\n'
    for name in ("catalog", "train_energy", "dl2", "performance")
)


def small_run(tmp_path, snakefile, profile, options, *args):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Snakefile").write_text(snakefile)
    return standin_run(tmp_path, write_profile(profile, tmp_path / "profile", options), *args)


def test_failures_time_limit_and_logs(tmp_path):
    res = small_run(tmp_path, FAILING, "htcondor", {"seconds-between-status-checks": 1}).wait()
    assert res.returncode != 0
    out = res.stdout
    # the time limit: a hold with HTCondor's reason, reported as such, at once (held-timeout 0)
    assert re.search(
        r"Error in rule slow:\s+message: Job \d+ with HTCondor Cluster ID \d+ is held: "
        r"The job exceeded allowed execute duration of 0\+00:00:03",
        out,
    )
    # the failing command: the job's exit code and the rule's log (show-failed-logs)
    assert re.search(
        r"Error in rule broken:\s+message: .* completed but failed with ExitCode 1", out
    )
    assert re.search(r"Logfile logs/broken.log:\s*=+\s*boom: the input is bad", out)
    # keep-going: the independent job finished
    assert (tmp_path / "fine.txt").read_text() == "ok\n"
    # retries: 2 in profiles/htcondor, so each failing rule was submitted three times
    submitted = [
        r["description"]["batch_name"].rsplit("-", 1)[0] for r in records(tmp_path, "submits.jsonl")
    ]
    assert sorted(submitted) == ["broken"] * 3 + ["fine"] + ["slow"] * 3
    held = [
        j["batch_name"].rsplit("-", 1)[0] for j in records(tmp_path, "jobs.jsonl") if j.get("held")
    ]
    assert held == ["slow"] * 3


def test_retry_asks_for_more_memory(tmp_path):
    res = small_run(tmp_path, FLAKY, "htcondor", {"retries": 1, "seconds-between-status-checks": 1})
    res = res.wait()
    assert res.returncode == 0, res.stdout[-3000:]
    ads = job_ads(records(tmp_path, "submits.jsonl"))
    assert [ad["RequestMemory"] for ad in ads] == [2000, 4000]  # 2000 * attempt
    assert [j["returncode"] for j in records(tmp_path, "jobs.jsonl")] == [1, 0]


def test_lxplus_profile_asks_for_flavours(tmp_path):
    targets = [f"{name}.txt" for name in ("catalog", "train_energy", "dl2", "performance")]
    options = {"seconds-between-status-checks": 1, "latency-wait": 5}
    res = small_run(tmp_path, NAMED, "site-lxplus-htcondor", options, *targets).wait()
    assert res.returncode == 0, res.stdout[-3000:]
    ads = {rule_of(ad): ad for ad in job_ads(records(tmp_path, "submits.jsonl"))}
    got = {r: (ad["JobFlavour"], ad["RequestCpus"], ad["RequestMemory"]) for r, ad in ads.items()}
    assert got == {
        "catalog": ("espresso", 1, 1000),
        "train_energy": ("workday", 8, 16000),
        "dl2": ("longlunch", 1, 2000),
        "performance": ("longlunch", 1, 8000),
    }
