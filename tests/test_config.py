"""Configuration: schemas, defaults, cross-checks, and the README/CI commands."""

import copy
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from showerflow.config import ConfigError, load_config, load_schema, validate
from showerflow.models import load_model_config
from showerflow.workflow import check_config, datasets_with_role


@pytest.fixture
def config():
    return validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), "config")


def test_shipped_configs_validate(config):
    assert config["files_per_job"] >= 1
    check_config(config)
    for name in ("energy", "classifier"):
        cfg = load_model_config(REPO / "config" / "models" / f"{name}.yaml")
        assert cfg["kind"] == ("energy" if name == "energy" else "classifier")
    assert datasets_with_role(config, "energy") == ["gamma", "gamma_diffuse"]
    assert datasets_with_role(config, "classification") == ["gamma", "gamma_diffuse", "proton"]


def test_defaults_are_filled():
    cfg = validate(
        {
            "datasets": {
                "g": {
                    "folders": ["x"],
                    "roles": {"energy": 0.1, "classification": 0.1, "performance": 0.8},
                }
            },
            "models": {"energy": "e", "classifier": "c"},
            "performance": {"config": "p", "gamma": "g", "proton": "g", "electron": "g"},
        },
        "config",
    )
    assert cfg["files_per_job"] == 4
    assert cfg["identity"] == "uuid"
    assert cfg["skip_bad_files"] is False
    assert cfg["datasets"]["g"]["pattern"] == "*.root"


def test_unknown_key_is_named_with_the_allowed_ones(config):
    config["file_per_job"] = 3
    with pytest.raises(
        ConfigError, match=r"unknown key 'file_per_job'; allowed keys .*files_per_job"
    ):
        validate(config, "config")


def test_bad_value_is_named_with_what_is_allowed(config):
    config["identity"] = "md5"
    with pytest.raises(
        ConfigError, match=r"key 'identity': 'md5' is not one of \['uuid', 'name'\]"
    ):
        validate(config, "config")


def test_model_config_errors(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("kind: energy\nestimator: {class: RandomForest}\nfeatures: [a]\n")
    with pytest.raises(ConfigError, match=r"m.yaml: key 'estimator.class'"):
        load_config(bad, "model")
    bad.write_text("kind: energy\nestimator: {class: a.B}\nfeatures: []\n")
    with pytest.raises(ConfigError, match="key 'features'"):
        load_config(bad, "model")


def test_cross_checks(config):
    c = copy.deepcopy(config)
    c["datasets"]["proton"]["roles"]["performance"] = 0.9
    with pytest.raises(ConfigError, match=r"datasets.proton.roles': fractions sum to 1.3"):
        check_config(c)
    c = copy.deepcopy(config)
    c["performance"]["electron"] = "nope"
    with pytest.raises(ConfigError, match="performance.electron': dataset 'nope'"):
        check_config(c)
    c = copy.deepcopy(config)
    c["datasets"]["electron"]["roles"] = {"energy": 0, "classification": 1.0, "performance": 0}
    with pytest.raises(ConfigError, match="electron.roles.performance' is 0"):
        check_config(c)


def test_performance_samples_and_cuts_file_are_checked(config, tmp_path):
    assert config["performance"]["gamma_diffuse"] == "gamma_diffuse"  # config/config.yaml
    assert config["performance"]["cuts"] is None
    check_config(config)
    c = copy.deepcopy(config)
    c["datasets"]["gamma_diffuse"]["roles"] = {"energy": 0.5, "classification": 0.5,
                                               "performance": 0.0}  # fmt: skip
    with pytest.raises(ConfigError, match="gamma_diffuse.roles.performance' is 0"):
        check_config(c)
    c = copy.deepcopy(config)
    c["performance"]["gamma_diffuse"] = None  # on-axis IRFs only: allowed
    check_config(c)
    c["performance"]["cuts"] = str(tmp_path / "cuts.fits")
    with pytest.raises(ConfigError, match=r"key 'performance.cuts': no file '.*cuts.fits'"):
        check_config(c)
    (tmp_path / "cuts.fits").write_bytes(b"")
    check_config(c)


def test_every_schema_key_is_described():
    def walk(schema, where):
        for key, sub in schema.get("properties", {}).items():
            assert sub.get("description") or "$ref" in sub, f"{where}.{key} has no description"
            walk(sub, f"{where}.{key}")
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{where}.*")

    for name in ("config", "model", "performance"):
        walk(load_schema(name), name)


def test_dataset_files_are_the_catalog_inputs(tmp_path):
    """The catalog's inputs are the files matching the pattern; a missing folder is named."""
    from showerflow.workflow import analysis_config, dataset_files

    (tmp_path / "b.root").write_bytes(b"x")
    (tmp_path / "a.root").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub.root").mkdir()
    config = {"datasets": {"g": {"folders": [str(tmp_path)], "pattern": "*.root"}}}
    assert dataset_files(config, "g") == [str(tmp_path / "a.root"), str(tmp_path / "b.root")]
    config["datasets"]["g"]["folders"].append(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"datasets\.g\.folders.*missing.*does not exist"):
        dataset_files(config, "g")
    # operational keys are not part of what results depend on
    cfg = {"skip_bad_files": True, "acceptance": 0.9, "files_per_job": 2, "results": "r"}
    cfg["dl2"] = {"chunk_size": 10}
    assert analysis_config(cfg) == {"results": "r", "dl2": {}}


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    demo, tests = blocks[0].strip(), blocks[1].strip()
    assert tests in ci
    assert "snakemake --profile profiles/local" in demo


def test_cli_reports_bad_file_with_exit_code_2(tmp_path):
    bad = tmp_path / "junk.root"
    bad.write_text("junk")
    res = subprocess.run(
        [sys.executable, "-m", "showerflow.cli", "inspect", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "junk.root: not a readable ROOT file" in res.stderr


def test_ruff_clean():
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "scripts", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stdout


def test_ruff_format_clean():
    res = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "scripts", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stdout


def test_snakefmt_clean():
    res = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _tree_state(folder):
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def _own_config(config, tmp_path):
    """The shipped config reading its model and performance YAMLs from copies."""
    c = copy.deepcopy(config)
    for name, path in c["models"].items():
        (tmp_path / f"{name}.yaml").write_text((REPO / path).read_text())
        c["models"][name] = str(tmp_path / f"{name}.yaml")
    (tmp_path / "performance.yaml").write_text((REPO / c["performance"]["config"]).read_text())
    c["performance"]["config"] = str(tmp_path / "performance.yaml")
    return c


def _edit_yaml(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c, t: _edit_yaml(
                t / "energy.yaml",
                lambda d: d["estimator"]["parameters"].update(n_trees=100),
            ),
            r"energy.yaml: key 'estimator.parameters",
        ),
        (
            lambda c, t: _edit_yaml(
                t / "classifier.yaml",
                lambda d: d["estimator"].update({"class": "sklearn.nope.Forest"}),
            ),
            r"classifier.yaml: key 'estimator.class'",
        ),
        (
            lambda c, t: _edit_yaml(
                t / "classifier.yaml",
                lambda d: d["estimator"].update(
                    {"class": "sklearn.linear_model.LinearRegression", "parameters": {}}
                ),
            ),
            r"classifier.yaml: key 'estimator.class'",
        ),
        (
            lambda c, t: (t / "energy.yaml").unlink(),
            r"config: key 'models.energy': file .*energy.yaml does not exist",
        ),
        (
            lambda c, t: _edit_yaml(t / "performance.yaml", lambda d: d.update(obs_time=3)),
            r"config: key 'performance.config': .*performance.yaml: unknown key 'obs_time'; "
            r"allowed keys at the top level: .*observation_time",
        ),
        (
            lambda c, t: (t / "performance.yaml").unlink(),
            r"config: key 'performance.config': file .*performance.yaml does not exist",
        ),
        (
            lambda c, t: c["datasets"]["proton"].update(query='particle == "proton" and'),
            r"config: key 'datasets.proton.query': query 'particle == \"proton\" and' is not a "
            r"valid pandas query over the catalog \(SyntaxError.*allowed: a boolean expression "
            r"of the columns .*zenith",
        ),
        (
            lambda c, t: c["datasets"]["proton"].update(query="zenit == 20"),
            r"datasets.proton.query'.*name 'zenit' is not defined",
        ),
        (
            lambda c, t: c["datasets"]["gamma"].update(
                simulated=None, folders=[str(t / "no_such_folder")]
            ),
            r"config: key 'datasets.gamma.folders': folder '.*no_such_folder' does not exist; "
            r"expected an existing folder",
        ),
    ],
    ids=[
        "model-parameter",
        "model-class",
        "model-kind",
        "model-missing",
        "performance-key",
        "performance-missing",
        "query-syntax",
        "query-column",
        "folder-missing",
    ],
)
def test_every_file_the_config_names_is_checked_writing_nothing(config, tmp_path, change, message):
    c = _own_config(config, tmp_path)
    check_config(c)  # the copies are good
    change(c, tmp_path)
    before = _tree_state(tmp_path)
    with pytest.raises(ConfigError, match=message):
        check_config(c)
    assert _tree_state(tmp_path) == before  # looking writes nothing


def test_folders_are_checked_only_where_files_are_read(config, tmp_path):
    c = copy.deepcopy(config)
    c["simulation"]["enabled"] = False
    for name, spec in c["datasets"].items():
        spec["folders"] = [str(tmp_path / name)]
        (tmp_path / name).mkdir()
    c["datasets"]["gamma"]["folders"] = [str(tmp_path / "elsewhere")]
    check_config(c, files=False)  # a remote job: its node need not see the folders
    with pytest.raises(ConfigError, match="datasets.gamma.folders"):
        check_config(c)
    (tmp_path / "elsewhere").mkdir()
    check_config(c)
    # simulated folders are made by the workflow: not checked
    check_config(config)


def test_snakemake_dry_run_stops_on_a_bad_model_yaml_before_any_job(tmp_path):
    """`snakemake -n` fails on a bad model YAML with the file, the key and what is allowed,
    and nothing is written in the working directory but Snakemake's own metadata."""
    from workflow_helpers import make_config, snakemake

    make_config(tmp_path)
    _edit_yaml(
        tmp_path / "models" / "energy.yaml",
        lambda d: d["estimator"]["parameters"].update(n_jobs=4),
    )
    before = [p for p in _tree_state(tmp_path) if ".snakemake" not in p[0]]
    res = snakemake(tmp_path, "-n", check=False)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert re.search(r"models/energy.yaml: key 'estimator.parameters.n_jobs'", out), out[-3000:]
    assert [p for p in _tree_state(tmp_path) if ".snakemake" not in p[0]] == before
    assert not (tmp_path / "results").exists()
