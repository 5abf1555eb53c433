"""The Snakemake workflow end to end on a small generated production.

One module-scoped run in a temporary folder; the tests check physics (AUC, energy bias,
effective area, sensitivity) and behaviour (a second call has nothing to do, a wrong
config fails before any job, the rule graph renders).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import QTable
from workflow_helpers import REPO, SNAKEMAKE, make_config, snakemake

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(e2e_run):
    return e2e_run / "results"


def test_classifier_separates(run):
    metrics = json.loads((run / "models" / "classifier.metrics.json").read_text())
    assert metrics["roc_auc"] > 0.8
    # and it does at every energy with enough events
    aucs = [
        a
        for a, g, h in zip(
            metrics["bins"]["roc_auc"],
            metrics["bins"]["n_gamma"],
            metrics["bins"]["n_hadron"],
            strict=True,
        )
        if a is not None and min(g, h) > 50
    ]
    assert len(aucs) >= 5 and min(aucs) > 0.7


def test_energy_bias_small_near_1tev(run):
    # the energy model on held-out showers (no cuts)
    metrics = json.loads((run / "models" / "energy.metrics.json").read_text())
    b = metrics["bins"]
    centre = np.sqrt(np.array(b["true_energy_low"]) * np.array(b["true_energy_high"]))
    near = [i for i, c in enumerate(centre) if 0.5 < c < 2.0 and b["n_events"][i] > 50]
    assert near
    assert all(abs(b["bias"][i]) < 0.1 for i in near)
    assert all(b["resolution"][i] < 0.3 for i in near)
    # and the performance benchmark after cuts, 0.5–2 TeV, over the FoV-offset bins (the
    # small production's diffuse gammas: a few per bin)
    table = QTable.read(run / "performance" / "energy_bias_resolution.ecsv")
    near = (table["true_energy_low"].to_value("TeV") >= 0.5) & (
        table["true_energy_high"].to_value("TeV") <= 2
    )
    near &= table["n_events"] > 0
    assert table["n_events"][near].sum() >= 30
    assert abs(np.average(table["bias"][near], weights=table["n_events"][near])) < 0.1


def _aeff(run, column):
    """The first FoV-offset bin of the effective-area table (the IRF files' values)."""
    table = QTable.read(run / "performance" / "effective_area.ecsv")
    first = table["fov_offset_low"] == 0 * u.deg
    lo = table["true_energy_low"][first].to_value("TeV")
    hi = table["true_energy_high"][first].to_value("TeV")
    return lo, hi, table[column][first].to_value("m2")


def test_irf_files_and_effective_area_rises_below_1tev(run):
    for name, hdus in (
        ("full_enclosure", {"EFFECTIVE_AREA", "ENERGY_DISPERSION", "PSF", "BACKGROUND"}),
        ("point_like", {"EFFECTIVE_AREA", "ENERGY_DISPERSION", "RAD_MAX", "BACKGROUND"}),
    ):
        with fits.open(run / "irf" / f"{name}.fits.gz") as hdul:
            assert hdus <= {h.name for h in hdul}, name
            assert hdul["EFFECTIVE_AREA"].data["EFFAREA"].shape[1] == 5  # FoV-offset bins
    lo, hi, no_cuts = _aeff(run, "effective_area_no_cuts")
    _, _, with_cuts = _aeff(run, "effective_area")
    centre = np.sqrt(lo * hi)
    sel = (centre > 0.02) & (centre < 1.0)
    # trigger + reconstruction: rises (the diffuse gammas of 0–1°: a few hundred per bin)
    slope = np.polyfit(np.log10(centre[sel]), np.log10(no_cuts[sel]), 1)[0]
    assert slope > 0.5
    assert no_cuts[sel][-1] > 5 * no_cuts[sel][0]
    with_cuts = np.where(with_cuts > 0, with_cuts, np.nan)
    assert np.nanmean(with_cuts[(centre > 0.5) & (centre < 5)]) > 3 * np.nanmean(
        with_cuts[(centre > 0.03) & (centre < 0.1)]
    )


def test_effective_area_follows_the_simulation(run):
    """A(E) without cuts = selected / thrown × π r², thrown counts from the bookkeeping: the
    diffuse gammas of 0–1° against the showers thrown into that bin's solid angle."""
    from showerflow.tables import read_table

    dl2, meta = read_table(run / "dl2" / "gamma_diffuse.parquet")
    rec = meta["simulation"][0]
    n_thrown = sum(r["n_showers"] * r["shower_reuse"] for r in meta["simulation"])
    ok = np.isfinite(dl2["reco_energy"]) & np.isfinite(dl2["gammaness"])
    ok &= dl2["multiplicity"] >= 2
    from showerflow.simulate import angular_separation

    offset = angular_separation(
        dl2["true_alt"], dl2["true_az"], dl2["pointing_alt"], dl2["pointing_az"]
    )
    ok &= offset < 1.0
    lo, hi, area = _aeff(run, "effective_area_no_cuts")
    g = rec["spectral_index"] + 1
    frac = (hi**g - lo**g) / (rec["energy_max"] ** g - rec["energy_min"] ** g)
    cone = (1 - np.cos(np.radians(1))) / (1 - np.cos(np.radians(rec["viewcone_max"])))
    n_sel = np.histogram(dl2["true_energy"][ok], np.append(lo, hi[-1]))[0]
    expected = n_sel / (n_thrown * frac * cone) * np.pi * rec["max_scatter_range"] ** 2
    good = (n_sel > 20) & (lo >= rec["energy_min"]) & (hi <= rec["energy_max"])
    assert good.sum() >= 10
    np.testing.assert_allclose(area[good], expected[good], rtol=1e-6)
    # and it stays below the simulated area (where the bin has the statistics to say)
    assert area[good].max() < np.pi * rec["max_scatter_range"] ** 2


def test_sensitivity_finite_100gev_to_10tev(run):
    sens = QTable.read(run / "performance" / "sensitivity.ecsv")
    centre = sens["reco_energy_center"].to("TeV").value
    sel = (centre > 0.1) & (centre < 10)
    assert sel.sum() >= 8
    assert np.all(np.isfinite(sens["relative_sensitivity"][sel]))
    # better than the Crab flux itself, and not absurdly good
    assert np.all(sens["relative_sensitivity"][sel] < 1)
    assert np.all(sens["relative_sensitivity"][sel] > 1e-4)


def test_plots_written(run):
    for png in (run / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((run / "plots").glob("*.png"))) == 13


def test_second_call_has_nothing_to_do(run):
    res = snakemake(run.parent, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr


def test_dl2_carries_simulation_records(run):
    from showerflow.tables import read_table

    dl2, meta = read_table(run / "dl2" / "gamma.parquet")
    catalog, _ = read_table(run / "catalog" / "gamma.parquet")
    perf = catalog[catalog["role"] == "performance"]
    assert sorted(r["obs_id"] for r in meta["simulation"]) == sorted(perf["obs_id"])
    assert len(dl2) == perf["n_events"].sum()


@pytest.mark.parametrize(
    "override, message",
    [
        ({"files_per_job": 0}, "files_per_job"),
        ({"identity": "md5"}, "identity"),
        ({"no_such_key": 1}, "no_such_key"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, override, message):
    make_config(tmp_path, **override)
    res = snakemake(tmp_path, "-n", check=False)
    assert res.returncode != 0
    assert message in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def test_roles_must_sum_to_one(tmp_path):
    cfg = make_config(tmp_path)
    cfg["datasets"]["proton"]["roles"]["performance"] = 0.9
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", check=False)
    assert res.returncode != 0
    assert "datasets.proton.roles" in res.stderr + res.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")
def test_rulegraph_renders(tmp_path):
    make_config(tmp_path)
    res = snakemake(tmp_path, "--rulegraph")
    svg = subprocess.run(["dot", "-Tsvg"], input=res.stdout, capture_output=True, text=True)
    assert svg.returncode == 0 and "train_classifier" in svg.stdout
    # before any checkpoint ran, the stages after the catalog show too
    assert all(f">{r}<" in svg.stdout for r in ("merge_dl2", "optimize", "performance"))


def test_lint_is_clean():
    res = subprocess.run(
        SNAKEMAKE + ["--lint"], capture_output=True, text=True, cwd=REPO, env={**os.environ}
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr


def test_corrupt_input_stops_before_any_model(tmp_path, small_production):
    """A truncated DL1 file in a dataset's folder stops the run at the catalog, naming it."""
    folders = {}
    for kind, files in small_production.items():
        folder = tmp_path / "dl1" / kind
        folder.mkdir(parents=True)
        for f in files:
            (folder / Path(f).name).symlink_to(f)
        folders[kind] = str(folder)
    broken = Path(folders["proton"]) / "proton_run99999.root"
    data = Path(small_production["proton"][0]).read_bytes()
    broken.write_bytes(data[: int(0.9 * len(data))])  # truncated: header and trees readable
    cfg = make_config(tmp_path, simulation={"enabled": False})
    for name, spec in cfg["datasets"].items():
        spec["folders"] = [folders[name]]
        spec.pop("simulated", None)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0
    assert "proton_run99999.root" in res.stderr
    assert "catalog" in res.stderr
    assert not (tmp_path / "results" / "models").exists()
    assert not (tmp_path / "results" / "catalog" / "proton.parquet").exists()


def test_logs_show_progress_and_training_threads(run):
    """Long stages log counts and rates; training runs on the rule's 2 threads."""
    sims = sorted((run / "logs" / "simulate" / "proton").glob("run*.log"))  # one job per run
    assert len(sims) == 8
    sim = "".join(p.read_text() for p in sims)
    thrown = [int(n) for n in re.findall(r"(\d+) showers thrown", sim)]
    assert len(thrown) == 8 and sum(thrown) == 4800000 and sim.count("showers/s") == 8
    energy = (run / "logs" / "models" / "energy.log").read_text()
    fits_ = [line for line in energy.splitlines() if "telescope type" in line]
    assert any("2 threads" in line for line in fits_)
    assert sum("fitted in" in line for line in fits_) == 2  # LST and MST
    dl2 = "".join(p.read_text() for p in (run / "logs" / "dl2").rglob("batch-*.log"))
    assert " files, " in dl2 and "events/s" in dl2
