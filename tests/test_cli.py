"""The command line: conventions, config layering as Snakemake's, init, run's clean-up."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from showerflow import __version__
from showerflow import runoptions as ro
from showerflow.cli import DESCRIPTION, _subparsers, build_parser, main
from showerflow.config import ConfigError, coerce_strings, load_schema, validate
from showerflow.runconfig import parse_config_args, workflow_config
from showerflow.scaffold import CONFIG_FILES, init_analysis, site_profiles

SHOWERFLOW = [sys.executable, "-m", "showerflow.cli"]


def _cli(*args, cwd=None, env=None):
    return subprocess.run(SHOWERFLOW + list(args), capture_output=True, text=True, cwd=cwd, env=env)


# --- conventions ------------------------------------------------------------------------------


def test_version():
    res = _cli("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"showerflow {__version__}"


def test_every_option_and_subcommand_has_help():
    parser = build_parser()
    missing = []
    for p in [parser, *_subparsers(parser)]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{p.prog} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{p.prog} {action.option_strings or action.dest}")
    assert missing == []


def test_help_shows_defaults_and_no_markup():
    res = _cli("--help")
    assert res.returncode == 0
    assert DESCRIPTION.split()[0] in res.stdout
    for mark in ("``", ":func:", ":mod:", "**"):
        assert mark not in res.stdout
    text = _cli("dl2", "--help").stdout
    assert "(default: 100000)" in text  # --chunk-size
    assert "(default: None)" not in text and "(default: False)" not in text


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    res = _cli("nope")
    assert res.returncode == 2 and "invalid choice: 'nope'" in res.stderr
    res = _cli("status", "--frobnicate")
    assert res.returncode == 2 and "unrecognized arguments: --frobnicate" in res.stderr
    res = _cli("status", "--configfile", "missing.yaml", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == "showerflow status: error: --configfile missing.yaml: no such file"
    assert list(tmp_path.iterdir()) == []  # nothing written


# --- config values as Snakemake reads them ----------------------------------------------------

ENTRIES = [
    "skip_bad_files=true",
    "acceptance=0.9",
    "files_per_job=3",
    "flag=True",
    "empty=",
    "test_mode={max_files_per_dataset: 2, max_events_per_file: null}",
    "results=out",
]


def test_config_args_are_read_as_snakemake_reads_them():
    with ro.quiet_plugin_imports():
        from snakemake.cli import parse_config

    expected = parse_config(ENTRIES)
    assert parse_config_args(ENTRIES) == expected
    # Snakemake's own reading: 'true' and everything inside a mapping are text
    assert expected["skip_bad_files"] == "true" and expected["flag"] is True
    assert expected["test_mode"] == {"max_files_per_dataset": "2", "max_events_per_file": "null"}
    with pytest.raises(ConfigError, match="must be an identifier"):
        parse_config_args(["a=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_config_args(["acceptance"])


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("1", True), (1, True)]
    + [("false", False), ("False", False), ("0", False), (0, False)],
)
def test_boolean_spellings_are_accepted(text, value):
    cfg = coerce_strings({"skip_bad_files": text}, load_schema("config"))
    assert cfg["skip_bad_files"] is value


def test_text_is_typed_by_the_schema_and_nothing_else():
    schema = load_schema("config")
    cfg = coerce_strings(
        {
            "files_per_job": "3",
            "acceptance": "0.5",
            "results": "1",  # a string key keeps text
            "test_mode": {"max_files_per_dataset": "2", "max_events_per_file": "null"},
            "datasets": {"g": {"query": "null", "roles": {"energy": "0.25"}}},
            "skip_bad_files": "maybe",
        },
        schema,
    )
    assert cfg["files_per_job"] == 3 and cfg["acceptance"] == 0.5 and cfg["results"] == "1"
    assert cfg["test_mode"] == {"max_files_per_dataset": 2, "max_events_per_file": None}
    assert cfg["datasets"]["g"]["query"] == "null"  # [string, null]: text stays text
    assert cfg["datasets"]["g"]["roles"]["energy"] == 0.25  # through $ref
    assert cfg["skip_bad_files"] == "maybe"  # left for the validation to name
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    with pytest.raises(ConfigError, match="key 'skip_bad_files': 'maybe' is not of type"):
        validate({**base, "skip_bad_files": "maybe"}, "config")


def test_snakemake_accepts_boolean_spellings_on_the_command_line(tmp_path):
    """The workflow itself: `snakemake --config skip_bad_files=true` passes validation."""
    from workflow_helpers import make_config, snakemake

    make_config(tmp_path)
    for value in ("true", "0"):  # text, and an integer to Snakemake
        res = snakemake(tmp_path, "-n", "--config", f"skip_bad_files={value}", check=False)
        assert res.returncode == 0, (value, res.stderr[-2000:])
    res = snakemake(tmp_path, "-n", "--config", "skip_bad_files=maybe", check=False)
    assert res.returncode != 0
    said = res.stdout + res.stderr
    assert "'maybe' is not of type 'boolean'" in said and "['skip_bad_files']" in said


def _workdir(tmp_path):
    (tmp_path / "config").mkdir()
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base["performance"]["config"] = str(REPO / "config" / "performance.yaml")
    base["models"] = {k: str(REPO / v) for k, v in base["models"].items()}
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "a.yaml").write_text("files_per_job: 7\nacceptance: 0.5\n")
    (tmp_path / "b.yaml").write_text("acceptance: 0.8\ndl2: {chunk_size: 10}\n")
    return tmp_path


def test_config_layers_as_the_workflow(tmp_path, monkeypatch):
    monkeypatch.chdir(_workdir(tmp_path))
    cfg, sources = workflow_config(
        ["a.yaml", "b.yaml"],
        ["acceptance=0.75", "skip_bad_files=true"],
        [("--test", ro.testmode_overlay(2, 100))],
    )
    assert sources[:3] == ["config/config.yaml", "a.yaml", "b.yaml"]
    assert cfg["files_per_job"] == 7  # a.yaml over config/config.yaml
    assert cfg["dl2"]["chunk_size"] == 10  # b.yaml
    assert cfg["acceptance"] == 0.75  # --config over every file
    assert cfg["skip_bad_files"] is True
    assert cfg["test_mode"] == {"max_files_per_dataset": 2, "max_events_per_file": 100}
    assert cfg["datasets"]["gamma"]["roles"]["energy"] == 0.1  # kept from the base


def test_config_checks_run_as_in_the_workflow(tmp_path, monkeypatch):
    monkeypatch.chdir(_workdir(tmp_path))
    (tmp_path / "c.yaml").write_text("performance: {gamma: nothere}\n")
    with pytest.raises(ConfigError, match="'performance.gamma': dataset 'nothere'"):
        workflow_config(["c.yaml"])  # check_config, after the schema
    with pytest.raises(ConfigError, match="key 'files_per_job'"):
        workflow_config([], ["files_per_job=0"])
    res = _cli("status", "--config", "files_per_job=zero", cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "key 'files_per_job': 'zero' is not of type 'integer'" in res.stderr


# --- showerflow init ---------------------------------------------------------------------------


def test_init_writes_an_analysis_folder(tmp_path):
    target = tmp_path / "my-analysis"
    res = _cli("init", str(target), "--site", "local", "--site", "htcondor-transfer")
    assert res.returncode == 0, res.stderr
    for rel in CONFIG_FILES:
        copied = (target / "config" / rel).read_text()
        assert copied == (REPO / "config" / rel).read_text()
        assert "#" in copied  # commented
    for site in ("local", "htcondor-transfer"):
        profile = yaml.safe_load((target / "profiles" / site / "config.yaml").read_text())
        source = yaml.safe_load((REPO / "profiles" / site / "config.yaml").read_text())
        assert Path(profile.pop("snakefile")) == REPO / "Snakefile"
        assert profile == source
    wrapper = target / "profiles" / "htcondor-transfer" / "job-wrapper.sh"
    assert os.access(wrapper, os.X_OK)  # the profile's other files, executable kept
    readme = (target / "README.md").read_text()
    assert "showerflow run local --test" in readme and str(REPO) in readme
    assert "results/" in (target / ".gitignore").read_text()
    # the folder's config is a valid workflow config, with its relative paths inside it
    cwd = os.getcwd()
    os.chdir(target)
    try:
        cfg, _ = workflow_config()
    finally:
        os.chdir(cwd)
    assert (target / cfg["models"]["energy"]).is_file()
    assert (target / cfg["performance"]["config"]).is_file()


def test_init_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    res = _cli("init", str(tmp_path))
    assert res.returncode == 2 and "is not an empty folder" in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="allowed: .*local"):
        init_analysis(tmp_path / "new", sites=["nope"])
    assert not (tmp_path / "new").exists()
    assert {"local", "slurm", "dirac"} <= set(site_profiles(REPO))


def test_init_folder_runs_the_installed_workflow(tmp_path):
    """snakemake --profile profiles/local in the folder parses the checkout's Snakefile."""
    target = tmp_path / "ana"
    init_analysis(target)
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "-n"],
        capture_output=True,
        text=True,
        cwd=target,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "simulate" in res.stdout  # the toy sample, from the folder's config
    assert not (target / "results").exists()  # a dry run writes no result


# --- showerflow run ----------------------------------------------------------------------------


def test_observation_time_from_the_command_line():
    assert ro.parse_hours("50") == 50.0
    assert ro.parse_hours("5h") == 5.0
    assert ro.parse_hours("30min") == 0.5
    assert ro.parse_hours("1800 s") == 0.5
    for bad in ("5 m", "soon", "-1h", "0"):
        with pytest.raises(ValueError, match="observation time"):
            ro.parse_hours(bad)
    args = build_parser().parse_args(["run", "local", "--observation-time", "5h", "--test"])
    overlay = ro.run_overlay(args)
    assert overlay["performance"] == {"observation_time": 5.0}
    entries = ro.config_entries(overlay)
    # the entries as Snakemake reads them, then as the workflow types them
    typed = coerce_strings(parse_config_args(entries), load_schema("config"))
    assert typed == {
        "test_mode": {"max_files_per_dataset": 2, "max_events_per_file": 2000},
        "performance": {"observation_time": 5.0},
    }


def test_config_entries_join_the_users_config():
    entries = ["test_mode={max_files_per_dataset: 1}"]
    args, prof = ro.with_config_entries(["-n", "--config", "acceptance=0.5"], {}, entries)
    assert args == ["-n", "--config", entries[0], "acceptance=0.5"] and prof == {}
    args, _ = ro.with_config_entries(["--config=acceptance=0.5", "all"], {}, entries)
    assert args == ["--config", entries[0], "acceptance=0.5", "all"]
    args, prof = ro.with_config_entries(["-n"], {"config": {"acceptance": 0.5}}, entries)
    assert args == ["-n"]
    assert prof["config"] == {"acceptance": 0.5, "test_mode": "{max_files_per_dataset: 1}"}
    # the profile's form is what Snakemake reads back as the same --config entries
    from snakemake.profiles import ProfileConfigFileParser

    text = ro.render_profile(prof)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sf-{os.getpid()}-profile.yaml"
    path.write_text(text)
    try:
        with open(path) as f:
            parsed = ProfileConfigFileParser().parse(f)
    finally:
        path.unlink()
    typed = coerce_strings(parse_config_args(parsed["config"]), load_schema("config"))
    assert typed["test_mode"] == {"max_files_per_dataset": 1}


def test_condor_warning_is_silenced_off_htcondor_only():
    env = ro.child_environment("local", {"PYTHONWARNINGS": "error::DeprecationWarning"})
    assert env["PYTHONWARNINGS"] == (
        f"error::DeprecationWarning,ignore:{ro.CONDOR_WARNING}:UserWarning"
    )
    assert "PYTHONWARNINGS" not in ro.child_environment("htcondor", {})
    probe = (
        "import warnings; warnings.warn('The environment variable CONDOR_CONFIG is unset "
        "and none of the default locations contain a condor_config file.', UserWarning)"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True,
        env=ro.child_environment("slurm"),
    )  # fmt: skip
    assert res.returncode == 0 and res.stderr == ""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "CONDOR_CONFIG" in res.stderr  # the probe does warn without it


def test_run_snakemake_returns_the_code_and_removes_the_profile(tmp_path):
    folder = tmp_path / "profile"
    folder.mkdir()
    (folder / "config.yaml").write_text("cores: 1\n")
    code = ro.run_snakemake([sys.executable, "-c", "import sys; sys.exit(3)"], None, folder)
    assert code == 3 and not folder.exists()
    folder.mkdir()
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert ro.run_snakemake([sys.executable, "-c", kill], None, folder) == 128 + 15
    assert not folder.exists()


def test_run_forwards_a_kill_and_cleans_up(tmp_path):
    """SIGTERM to `showerflow run` reaches snakemake's process; the profile folder goes."""
    import signal
    import time

    child = tmp_path / "child.py"
    marker = tmp_path / "got-term"
    child.write_text(
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(),"
        " sys.exit(7)))\n"
        f"pathlib.Path({str(tmp_path / 'started')!r}).touch()\n"
        "time.sleep(60)\n"
    )
    folder = tmp_path / "profile"
    folder.mkdir()
    code = (
        "import sys; from showerflow.runoptions import run_snakemake; "
        f"sys.exit(run_snakemake([sys.executable, {str(child)!r}], None, {str(folder)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(200):
        if (tmp_path / "started").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 7
    assert marker.exists() and not folder.exists()


def test_run_leaves_no_profile_folder_behind(tmp_path):
    """`showerflow run local --test` on the workflow (a dry run): the entries, no folder left."""
    from workflow_helpers import make_config

    make_config(tmp_path)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    res = _cli(
        "run", "local", "--test", "--test-files", "1", "--test-events", "100",
        "--observation-time", "5h", "--set", "cores=1", "--",
        "-n", "--snakefile", str(REPO / "Snakefile"),
        "--configfile", str(tmp_path / "config.yaml"), "--config", "acceptance=0.5",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    cmd = next(line for line in res.stderr.splitlines() if "-m snakemake" in line)
    assert cmd.endswith(
        "--config test_mode={max_files_per_dataset: 1, max_events_per_file: 100} "
        "performance={observation_time: 5.0} acceptance=0.5"
    )
    assert "Job stats" in res.stdout + res.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary profile is gone
    assert "CONDOR_CONFIG" not in res.stderr


def test_run_checks_the_config_before_snakemake(tmp_path):
    """A bad value or a missing config file: one line, exit 2, no .snakemake made."""
    from workflow_helpers import make_config

    make_config(tmp_path)
    common = ["--", "-n", "--snakefile", str(REPO / "Snakefile")]
    res = _cli(
        "run", "local", *common, "--configfile", "config.yaml", "--config", "files_per_job=0",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2
    (line,) = [x for x in res.stderr.splitlines() if "error" in x]
    assert line.startswith("showerflow run: error: not starting snakemake: config: ")
    assert "key 'files_per_job': 0 is less than the minimum of 1" in line
    res = _cli("run", "local", "--test", *common, "--configfile", "nope.yaml", cwd=tmp_path)
    assert res.returncode == 2 and "--configfile" in res.stderr and "nope.yaml" in res.stderr
    assert not (tmp_path / ".snakemake").exists()
    # another workflow's config is its own business
    other = tmp_path / "other"
    other.mkdir()
    (other / "Snakefile").write_text("rule a:\n    output:\n        'a.txt',\n")
    extra, prof = ["-n", "--config", "files_per_job=0"], {"snakefile": str(other / "Snakefile")}
    assert ro.config_problems(extra, prof) == []
    assert ro.option_values(["-n", "--configfile", "a", "b", "-C", "x=1"], ("--configfile",)) == [
        "a", "b",
    ]  # fmt: skip


def test_main_returns_the_exit_code(tmp_path):
    assert main(["init", str(tmp_path / "a")]) == 0
    assert main(["init", str(tmp_path / "a")]) == 2  # not empty any more
