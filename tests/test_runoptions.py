"""Run options: the merge site < run options < --set, its checks, the CLI, the profiles."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from showerflow import runoptions as ro
from showerflow.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
SHOWERFLOW = [sys.executable, "-m", "showerflow.cli"]


# --- pure functions ---------------------------------------------------------------------------


def test_normalize_list_forms_to_mappings():
    prof = {
        "default-resources": ["mem_mb=1000", "runtime=30", "slurm_partition=short"],
        "set-resources": ["dl2:mem_mb=2000", "dl2:runtime=5", "train_energy:mem_mb=8000*attempt"],
        "set-threads": ["train_energy=4"],
        "jobs": 10,
    }
    out = ro.normalize_profile(prof)
    assert out["default-resources"] == {"mem_mb": 1000, "runtime": 30, "slurm_partition": "short"}
    assert out["set-resources"] == {
        "dl2": {"mem_mb": 2000, "runtime": 5},
        "train_energy": {"mem_mb": "8000*attempt"},
    }
    assert out["set-threads"] == {"train_energy": 4}
    assert out["jobs"] == 10
    assert prof["set-threads"] == ["train_energy=4"]  # input untouched


@pytest.mark.parametrize(
    "prof, message",
    [
        ({"default-resources": ["mem_mb"]}, "'mem_mb' is not NAME=VALUE"),
        ({"set-resources": ["mem_mb=3"]}, "not RULE:NAME=VALUE"),
        ({"set-resources": {"dl2": 3}}, "set-resources.dl2"),
    ],
)
def test_normalize_rejects_malformed_entries(prof, message):
    with pytest.raises(ValueError, match=message):
        ro.normalize_profile(prof)


def test_deep_merge_overrides_single_keys_and_keeps_the_rest():
    base = {"jobs": 100, "set-resources": {"dl2": {"mem_mb": 2000, "runtime": 60}}, "x": [1, 2]}
    over = {"set-resources": {"dl2": {"mem_mb": 8000}, "merge_dl2": {"runtime": 5}}, "x": [3]}
    out = ro.deep_merge(base, over)
    assert out == {
        "jobs": 100,
        "set-resources": {"dl2": {"mem_mb": 8000, "runtime": 60}, "merge_dl2": {"runtime": 5}},
        "x": [3],  # lists are replaced, not concatenated
    }
    assert base["set-resources"]["dl2"]["mem_mb"] == 2000


def test_merge_layers_order_origins_and_removal():
    site = {"jobs": 100, "retries": 2, "default-resources": ["mem_mb=2000", "runtime=60"]}
    user = {"jobs": 20, "default-resources": {"slurm_partition": "short"}}
    cli = ro.parse_assignments(["retries=", "default-resources.runtime=30"])
    merged, origins = ro.merge_layers([("site", site), ("user", user), ("cli", cli)])
    assert merged == {
        "jobs": 20,
        "default-resources": {"mem_mb": 2000, "runtime": 30, "slurm_partition": "short"},
    }
    assert origins == {
        ("jobs",): "user",
        ("default-resources", "mem_mb"): "site",
        ("default-resources", "runtime"): "cli",
        ("default-resources", "slurm_partition"): "user",
    }


def test_a_scalar_replacing_a_mapping_owns_its_origin():
    merged, origins = ro.merge_layers(
        [("site", {"set-resources": {"dl2": {"mem_mb": 1}}}), ("user", {"set-resources": None})]
    )
    assert merged == {} and origins == {}


def test_parse_assignments_types_and_nesting():
    out = ro.parse_assignments(
        ["jobs=5", "keep-going=false", "set-resources.dl2.mem_mb=8000", "slurm-logdir=logs/s"]
    )
    assert out == {
        "jobs": 5,
        "keep-going": False,
        "set-resources": {"dl2": {"mem_mb": 8000}},
        "slurm-logdir": "logs/s",
    }
    for bad in ("jobs", "=3", "a..b=1"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            ro.parse_assignments([bad])


def test_resolve_profile_paths_only_existing_files(tmp_path):
    (tmp_path / "partitions.yaml").write_text("a: 1\n")
    out = ro.resolve_profile_paths(
        {"slurm-partition-config": "partitions.yaml", "slurm-logdir": "logs", "jobs": 3}, tmp_path
    )
    assert out["slurm-partition-config"] == str(tmp_path / "partitions.yaml")
    assert out["slurm-logdir"] == "logs"  # not a file there: left for Snakemake, as it would
    assert out["jobs"] == 3


def test_unknown_keys_name_the_key_and_the_missing_plugin():
    options = {"jobs", "executor", "slurm-logdir"}
    problems = ro.unknown_keys(
        {"jobs": 1, "slurm-logdir": "x", "htcondor-jobdir": "y", "jbos": 2}, options
    )
    assert problems == [
        "profile key 'htcondor-jobdir' belongs to the htcondor executor, whose plugin is not "
        "installed: pip install snakemake-executor-plugin-htcondor",
        "profile key 'jbos' is not a Snakemake option (snakemake --help)",
    ]


def test_snakemake_options_include_core_and_installed_plugin_options():
    options = ro.snakemake_options()
    assert {"jobs", "set-resources", "default-resources", "retries", "keep-going"} <= options
    assert "slurm-init-seconds-before-status-checks" in options
    assert "htcondor-jobdir" in options


def test_backend_problems_missing_plugin_and_commands():
    def none(_):
        return None

    assert ro.backend_problems({"executor": "local"}, which=none, find_spec=none) == []
    assert ro.backend_problems({}, which=none, find_spec=none) == []
    problems = ro.backend_problems({"executor": "slurm"}, which=none, find_spec=none)
    assert problems == [
        "executor 'slurm': plugin not installed (pip install snakemake-executor-plugin-slurm)",
        "executor 'slurm': command(s) sbatch, sinfo, sacct or squeue not found on PATH; "
        "run from a slurm submit host",
    ]
    only_squeue = {"sbatch", "sinfo", "squeue"}
    assert (
        ro.backend_problems(
            {"executor": "slurm"},
            which=lambda c: f"/usr/bin/{c}" if c in only_squeue else None,
            find_spec=lambda m: object(),
        )
        == []
    )
    problems = ro.backend_problems({"executor": "htcondor"}, which=none, find_spec=lambda m: 1)
    assert problems == [
        "executor 'htcondor': command(s) condor_submit, condor_q not found on PATH; "
        "run from a htcondor submit host"
    ]
    everything = {"which": lambda c: "/usr/bin/" + c, "find_spec": lambda m: 1}
    prof = {"executor": "htcondor", "precommand": "source /cvmfs/setup.sh"}
    (problem,) = ro.backend_problems(prof, **everything)
    assert problem.startswith("profile key 'precommand' is not run by the htcondor executor")
    prof["executor"] = "slurm"  # SLURM runs it in the job's batch script
    assert ro.backend_problems(prof, **everything) == []
    problems = ro.backend_problems({"executor": "kubernetes"}, which=none, find_spec=none)
    assert problems == [
        "executor 'kubernetes': plugin not installed "
        "(pip install snakemake-executor-plugin-kubernetes)"
    ]


class _Result:
    def __init__(self, returncode, stdout="", stderr=""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_probe_backend_reports_why():
    calls = []

    def down(cmd, **kw):
        calls.append(cmd)
        return _Result(
            1, stderr="sinfo: error: Unable to contact slurm controller (connect failure)"
        )

    assert ro.probe_backend("slurm", run=down) == (
        "SLURM controller unreachable: 'sinfo --noheader --summarize' said: "
        "sinfo: error: Unable to contact slurm controller (connect failure)"
    )
    assert calls == [["sinfo", "--noheader", "--summarize"]]

    def no_schedd(cmd, **kw):
        return _Result(
            1,
            stderr="\n-- Failed to fetch ads from: <127.0.0.1:9618> : vm\n"
            "CEDAR:6001:Failed to connect to <127.0.0.1:9618>",
        )

    msg = ro.probe_backend("htcondor", run=no_schedd)
    assert msg.startswith("HTCondor schedd unreachable: 'condor_q -totals' said: ")
    assert "Failed to connect" in msg

    def hangs(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])

    assert "gave no answer in 30 s" in ro.probe_backend("slurm", run=hangs)
    assert ro.probe_backend("slurm", run=lambda c, **k: _Result(0, "main* up")) is None
    assert ro.probe_backend("local", run=None) is None


def test_render_profile_round_trips_and_annotates():
    prof = {
        "executor": "slurm",
        "jobs": 10,
        "keep-going": True,
        "configfiles": ["a.yaml", "b.yaml"],
        "default-resources": {"mem_mb": 2000, "slurm_extra": "'--qos=long'"},
        "set-resources": {"dl2": {"mem_mb": "2000*attempt", "runtime": 60}},
        "config": {"test_mode": {"max_files_per_dataset": 1}},
    }
    text = ro.render_profile(prof, {("jobs",): "user"}, header=["hello"])
    assert text.startswith("# hello\n")
    assert "jobs: 10  # user\n" in text
    assert yaml.safe_load(text) == prof


def test_testmode_overlay_and_configfile_placement():
    assert ro.testmode_overlay(3, 500) == {
        "test_mode": {"max_files_per_dataset": 3, "max_events_per_file": 500}
    }
    with pytest.raises(ValueError, match=">= 1"):
        ro.testmode_overlay(0, 10)
    assert ro.with_configfile(["-n"], "t.yaml") is None
    assert ro.with_configfile(["--configfile", "a.yaml", "b.yaml", "-n"], "t.yaml") == [
        "--configfile", "a.yaml", "b.yaml", "t.yaml", "-n",
    ]  # fmt: skip
    assert ro.with_configfile(["-n", "--configfiles", "a.yaml"], "t.yaml") == [
        "-n", "--configfiles", "a.yaml", "t.yaml",
    ]  # fmt: skip
    assert ro.with_configfile(["--configfile=a.yaml"], "t.yaml") == [
        "--configfile=a.yaml",
        "t.yaml",
    ]


def test_build_command():
    assert ro.build_command("/tmp/p", ["-n"], python="py") == [
        "py", "-m", "snakemake", "--profile", "/tmp/p", "-n",
    ]  # fmt: skip


def test_find_profile(tmp_path):
    assert ro.find_profile("slurm", cwd=tmp_path) == PROFILES / "slurm" / "config.yaml"
    (tmp_path / "profiles" / "slurm").mkdir(parents=True)
    (tmp_path / "profiles" / "slurm" / "config.yaml").write_text("jobs: 1\n")
    assert ro.find_profile("slurm", cwd=tmp_path) == tmp_path / "profiles/slurm/config.yaml"
    assert ro.find_profile(str(PROFILES / "local")) == PROFILES / "local" / "config.yaml"
    with pytest.raises(FileNotFoundError, match="profile 'nope'"):
        ro.find_profile("nope", cwd=tmp_path)


def test_cli_parses_snakemake_args_after_double_dash():
    args = build_parser().parse_args(
        ["run", "slurm", "--test", "--set", "jobs=3", "--", "-n", "--forceall", "--set-threads"]
    )
    assert args.profile == "slurm" and args.test and args.set == ["jobs=3"]
    assert args.snakemake_args == ["-n", "--forceall", "--set-threads"]
    args = build_parser().parse_args(["run", "local"])
    assert args.snakemake_args == [] and not args.test


# --- the profiles in the repository -----------------------------------------------------------

ALL_PROFILES = sorted(p.name for p in PROFILES.iterdir() if (p / "config.yaml").exists())


def test_the_expected_profiles_exist():
    assert {
        "local",
        "slurm",
        "htcondor",
        "htcondor-transfer",
        "site-example-slurm",
        "site-lxplus-htcondor",
    } <= set(ALL_PROFILES)


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_profile_keys_are_snakemake_options(name):
    prof = ro.normalize_profile(ro.load_mapping(PROFILES / name / "config.yaml"))
    assert ro.unknown_keys(prof, ro.snakemake_options()) == []


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_every_profile_key_is_commented(name):
    """Each top-level key and each mapping entry has a comment on its line or just above."""
    lines = (PROFILES / name / "config.yaml").read_text().splitlines()
    uncommented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        if "#" in line:
            continue
        above = lines[i - 1].strip() if i else ""
        indent = len(line) - len(line.lstrip())
        # an entry of a commented mapping (e.g. one rule of set-resources) counts as commented
        parents = [
            prev
            for prev in lines[:i]
            if prev.strip() and len(prev) - len(prev.lstrip()) < indent and "#" in prev
        ]
        if above.startswith("#") or (indent and parents):
            continue
        uncommented.append(line)
    assert uncommented == []


def test_show_prints_merged_profile(tmp_path):
    opts = tmp_path / "mine.yaml"
    opts.write_text("jobs: 7\nset-resources:\n  dl2:\n    mem_mb: 9000\n")
    res = subprocess.run(
        SHOWERFLOW + ["profile", "show", "slurm", "--run-options", str(opts), "--set", "retries=5"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    shown = yaml.safe_load(res.stdout)
    site = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert shown["jobs"] == 7 and shown["retries"] == 5
    assert shown["set-resources"]["dl2"] == {**site["set-resources"]["dl2"], "mem_mb": 9000}
    assert shown["set-resources"]["train_energy"] == site["set-resources"]["train_energy"]
    assert shown["executor"] == "slurm"
    assert "jobs: 7  # run-options" in res.stdout and "retries: 5  # --set" in res.stdout


def test_unknown_key_fails_before_anything_runs(tmp_path):
    res = subprocess.run(
        SHOWERFLOW + ["run", "local", "--set", "jbos=3", "--", "-n"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert "profile key 'jbos' is not a Snakemake option" in res.stderr
    assert "snakemake" not in res.stderr.split("error:")[0]  # nothing was started
    assert not (tmp_path / ".snakemake").exists()


def test_missing_batch_commands_fail_before_submission(tmp_path):
    """A SLURM profile on a host without sbatch: the reason, no snakemake started."""
    bin_ = tmp_path / "bin"  # a PATH with the basics but no batch system
    bin_.mkdir()
    for tool in ("which", "bash", "sh", "uname"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    env = {"PATH": f"{Path(sys.executable).parent}:{bin_}", "HOME": str(tmp_path)}
    res = subprocess.run(
        SHOWERFLOW + ["run", "slurm", "--", "-n"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 2
    assert "executor 'slurm': command(s) sbatch, sinfo, sacct or squeue not found" in res.stderr
    assert not (tmp_path / ".snakemake").exists()
    res = subprocess.run(
        SHOWERFLOW + ["profile", "show", "site-lxplus-htcondor"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 2
    assert "executor 'htcondor': command(s) condor_submit, condor_q not found" in res.stderr


def test_run_passes_test_mode_as_config_entries(tmp_path):
    """`showerflow run local --test` on the workflow: a dry run, test mode as --config."""
    from workflow_helpers import make_config

    make_config(tmp_path)
    res = subprocess.run(
        SHOWERFLOW
        + ["run", "local", "--test", "--test-files", "1", "--test-events", "100"]
        + ["--set", "cores=1", "--", "-n", "--snakefile", str(REPO / "Snakefile")]
        + ["--configfile", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    profile_line = next(line for line in res.stderr.splitlines() if "profile /" in line)
    profile = Path(profile_line.split("profile ", 1)[1].split()[0])
    assert not profile.parent.exists()  # removed when snakemake ended
    cmd = next(line for line in res.stderr.splitlines() if "-m snakemake" in line)
    assert cmd.endswith(f"--configfile {tmp_path / 'config.yaml'}")  # no config file added
    assert "Job stats" in res.stdout + res.stderr
