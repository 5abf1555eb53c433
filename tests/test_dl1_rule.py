"""sim_telarray -> ctapipe DL1 in the workflow: the dataset's `simtel` entry, the `dl1` rule.

The rule runs ctapipe-process on the real sim_telarray files of
../shared/data/real/ctapipe-v7/simtel/; its outputs are compared with the DL1 files of
../shared/data/real/ctapipe-v7/dl1/, made from the same inputs with the same options by
ctapipe 0.28 (PROVENANCE.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SHARED

from showerflow.config import ConfigError, load_schema, validate
from showerflow.contracts import BOOKKEEPING_PROBLEM
from showerflow.formats import get_format
from showerflow.simtel import ctapipe_tool, dl1_outputs, simtel_files, simtel_input, simtel_name
from showerflow.workflow import (
    check_config,
    ctapipe_export_targets,
    ctapipe_prefixes,
)

SIMTEL = SHARED / "real" / "ctapipe-v7" / "simtel"
DL1 = SHARED / "real" / "ctapipe-v7" / "dl1"
OPTS = {"focal_length_choice": "EQUIVALENT"}


def _config(simtel_folder, results="results", **dataset):
    from workflow_helpers import REPO

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["results"] = results
    cfg["simulation"] = {"enabled": False}
    cfg["datasets"] = {
        "gamma": {
            "simtel": {"folders": [str(simtel_folder)]},
            "folders": [f"{results}/dl1_ctapipe/gamma"],
            "pattern": "*.dl1.h5",
            "format": "ctapipe_hdf5",
            "format_options": OPTS,
            "roles": {"energy": 0.3, "classification": 0.3, "performance": 0.4},
            **dataset,
        }
    }
    cfg["identity"] = cfg["output_naming"] = "name"
    cfg["performance"].update(gamma="gamma", gamma_diffuse=None, proton=None, electron=None)
    return cfg


def test_dl1_outputs_of_the_real_simtel_folder():
    cfg = _config(SIMTEL)
    outputs = dl1_outputs(cfg, "gamma")
    assert [Path(p).name for p in outputs] == sorted(p.name for p in DL1.glob("gamma*.dl1.h5"))
    assert all(p.startswith("results/dl1_ctapipe/gamma/") for p in outputs)
    name = "gamma_test"
    assert simtel_input(cfg, "gamma", name) == str(SIMTEL / "gamma_test.simtel.gz")
    with pytest.raises(ConfigError, match="no sim_telarray file named nothing"):
        simtel_input(cfg, "gamma", "nothing")
    assert simtel_name("a.simtel") == simtel_name("a.simtel.zst") == "a"
    with pytest.raises(ValueError, match="not a sim_telarray file name"):
        simtel_name("a.root")
    check_config(validate(cfg, load_schema("config")))
    # datasets without simtel files have no DL1 to make
    assert simtel_files({"folders": ["x"]}) == {}


def test_catalog_inputs_of_a_simtel_dataset_follow_its_simtel_folders(tmp_path):
    """The catalog of a simtel dataset reads the DL1 files of its simtel files (the
    workflow's catalog_inputs): DL1 files appearing in the folder while the dl1 jobs run
    change nothing, a new sim_telarray file adds its DL1 file, a stray file is not read."""
    cfg = _config(tmp_path / "simtel", results=str(tmp_path / "results"))
    (tmp_path / "simtel").mkdir()
    (tmp_path / "simtel" / "a.simtel.zst").write_bytes(b"x")
    dl1 = tmp_path / "results" / "dl1_ctapipe" / "gamma"
    before = dl1_outputs(cfg, "gamma")
    assert before == [str(dl1 / "a.dl1.h5")]
    dl1.mkdir(parents=True)
    (dl1 / "a.dl1.h5").write_bytes(b"written by the dl1 job")
    (dl1 / "stray.dl1.h5").write_bytes(b"not made from a simtel file")
    assert dl1_outputs(cfg, "gamma") == before
    (tmp_path / "simtel" / "b.simtel.zst").write_bytes(b"y")
    assert dl1_outputs(cfg, "gamma") == before + [str(dl1 / "b.dl1.h5")]


def test_example_config_of_the_real_simtel_files(monkeypatch):
    from workflow_helpers import REPO

    monkeypatch.chdir(REPO)  # its paths are relative to the repository, as documented
    cfg = yaml.safe_load((REPO / "config" / "examples" / "ctapipe-simtel.yaml").read_text())
    check_config(validate(cfg, load_schema("config")))
    assert cfg["datasets"]["gamma"]["simtel"]["pattern"] == "*.simtel.gz"
    outputs = dl1_outputs(cfg, "gamma")
    assert len(outputs) == 4 and all(
        o.startswith("results-simtel/dl1_ctapipe/gamma/") for o in outputs
    )


def test_simtel_folder_problems(tmp_path):
    (tmp_path / "a.simtel.gz").write_bytes(b"")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a.simtel.zst").write_bytes(b"")
    spec = {"simtel": {"folders": [str(tmp_path), str(tmp_path / "b")]}}
    with pytest.raises(ConfigError, match="would both write a.dl1.h5"):
        simtel_files(spec)
    (tmp_path / "c.simtel.bz2").write_bytes(b"")
    with pytest.raises(ConfigError, match="c.simtel.bz2: not a sim_telarray file name"):
        simtel_files({"simtel": {"folders": [str(tmp_path)]}})
    with pytest.raises(ConfigError, match="simtel folder '/nonexistent' does not exist"):
        simtel_files({"simtel": {"folders": ["/nonexistent"]}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"folders": ["elsewhere"]}, "written to 'results/dl1_ctapipe/gamma', which is not among"),
        ({"format": "root"}, "format' is 'root'"),
        ({"pattern": "*.root"}, "pattern' is '\\*.root'"),
    ],
)
def test_check_config_of_simtel_datasets(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_config(SIMTEL, **change))


def test_ctapipe_export_switch():
    cfg = _config(SIMTEL)
    assert ctapipe_export_targets(cfg) == []
    cfg["ctapipe_export"] = {"enabled": True}
    assert ctapipe_export_targets(cfg) == ["results/dl2/gamma.dl2.h5"]  # no background
    cfg["performance"].update(proton="gamma", electron="gamma")
    assert ctapipe_export_targets(cfg)[-1] == "results/irf/ctapipe_cuts.fits"
    from workflow_helpers import REPO

    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    assert ctapipe_prefixes(cfg) == {
        "energy": "RandomForestRegressor",
        "classifier": "RandomForestClassifier",
        "geometry": "HillasReconstructor",
    }
    cfg["ctapipe_export"]["prefixes"] = {"geometry": "HillasIntersection"}
    assert ctapipe_prefixes(cfg)["geometry"] == "HillasIntersection"


@pytest.mark.e2e
def test_ctapipe_tool_is_found_beside_python_without_path(monkeypatch):
    """A venv that was not activated (.venv/bin/snakemake) has ctapipe-process beside its
    Python, not on PATH; a tool that is nowhere is named with what to install."""
    import sys

    pytest.importorskip("ctapipe")
    monkeypatch.setenv("PATH", "/nonexistent")
    found = Path(ctapipe_tool("ctapipe-process"))
    assert found.parent == Path(sys.executable).parent and os.access(found, os.X_OK)
    with pytest.raises(ConfigError, match="ctapipe-nosuchtool not found.*ctapipe extra"):
        ctapipe_tool("ctapipe-nosuchtool")


def test_dl1_rule_on_real_simtel_files(tmp_path):
    """snakemake makes the DL1 files of two real sim_telarray files with ctapipe-process;
    they hold what ctapipe 0.28 wrote from the same files; the catalog reads them and
    flags the excerpt."""
    from workflow_helpers import make_config, snakemake

    simtel = tmp_path / "simtel"
    simtel.mkdir()
    names = [
        "gamma_20deg_0deg_run103___cta-prod4-sst-astri_desert-2150m-Paranal-sst-astri",
        "gamma_test",
    ]
    for name in names:
        os.symlink(SIMTEL / f"{name}.simtel.gz", simtel / f"{name}.simtel.gz")
    make_config(tmp_path)  # model configs copied next to the config
    cfg = _config(simtel)
    cfg["models"] = yaml.safe_load((tmp_path / "config.yaml").read_text())["models"]
    from workflow_helpers import REPO

    cfg["performance"]["config"] = str(REPO / "config" / "performance.yaml")
    cfg["datasets"]["gamma"]["simtel"]["process_config"] = str(
        REPO / "config" / "ctapipe" / "process.yaml"
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = dl1_outputs(cfg, "gamma")
    assert [Path(t).name for t in targets] == [f"{n}.dl1.h5" for n in names]
    res = snakemake(tmp_path, *targets)
    assert (res.stdout + res.stderr).count("rule dl1:") == 2
    fmt = get_format("ctapipe_hdf5")
    for name, target in zip(names, targets, strict=True):
        made = fmt.read(tmp_path / target, OPTS)
        reference = fmt.read(DL1 / f"{name}.dl1.h5", OPTS)
        assert made.simulation.keys() == reference.simulation.keys()
        for key, value in reference.simulation.items():
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(made.simulation[key])
            elif key != BOOKKEEPING_PROBLEM:
                assert made.simulation[key] == value, key
        pd.testing.assert_frame_equal(made.events, reference.events)
        pd.testing.assert_frame_equal(made.images, reference.images)
        log = tmp_path / "results" / "logs" / "dl1" / "gamma" / f"{name}.ctapipe.log"
        assert log.is_file() and "ctapipe-process" in log.read_text()
        assert (tmp_path / "results" / "benchmarks" / "dl1" / "gamma" / f"{name}.tsv").is_file()
    # nothing half-written is left next to the outputs
    assert sorted(p.name for p in (tmp_path / targets[0]).parent.iterdir()) == sorted(
        Path(t).name for t in targets
    )
    # a second run has nothing to do
    again = snakemake(tmp_path, *targets, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # the catalog reads the DL1 files as any ctapipe files and keeps the excerpt's flag
    # (the two files are of different productions: a dataset of one of them)
    cfg["datasets"]["gamma"]["query"] = 'name == "gamma_test.dl1.h5"'
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "results/catalog/gamma.parquet")
    catalog = pd.read_parquet(tmp_path / "results" / "catalog" / "gamma.parquet")
    assert set(catalog["name"]) == {"gamma_test.dl1.h5"}
    assert set(catalog["data_model_version"]) == {"v7.1.0"}
    assert catalog[BOOKKEEPING_PROBLEM].str.startswith("gamma_test.dl1.h5: run obs_id=31964").all()
