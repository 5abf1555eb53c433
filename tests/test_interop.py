"""Interoperability: the IRF file in gammapy, DL2 files in pandas/pyarrow as documented.

The DL2 columns are documented twice, in docs/dl2.md (full) and the README (short table);
both are checked against the contract here so neither drifts.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from showerflow.contracts import DL2_COLUMNS, SIMULATION_COLUMNS

REPO = Path(__file__).resolve().parents[1]
PARTICLES = ("gamma", "proton", "electron")


def documented_dl2_columns():
    """The column table of docs/dl2.md: {column: (arrow type, unit, meaning)}."""
    text = (REPO / "docs" / "dl2.md").read_text()
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| ([^|]*) \| ([^|]+) \|$", section, re.M)
    return {name: (dtype, unit.strip(), meaning.strip()) for name, dtype, unit, meaning in rows}


def test_dl2_doc_is_the_contract():
    doc = documented_dl2_columns()
    assert list(doc) == list(DL2_COLUMNS)
    for name, (_, unit, meaning) in DL2_COLUMNS.items():
        assert doc[name][1:] == (unit, meaning), name


def _readme_dl2_table():
    """``{column: (unit, meaning)}`` from the README's DL2 table."""
    text = (REPO / "README.md").read_text()
    block = text.split("**DL2 (Parquet)**", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in re.findall(r"`(\w+)`", cells[0]):
            rows[name] = (cells[1], cells[2])
    return rows


def test_readme_documents_every_dl2_column_with_the_contract_unit():
    documented = _readme_dl2_table()
    assert set(documented) == set(DL2_COLUMNS)
    for name, (_, unit, _) in DL2_COLUMNS.items():
        assert documented[name][0] == unit, name


@pytest.mark.e2e
def test_dl2_files_read_in_pandas_and_pyarrow_as_documented(e2e_run):
    doc = documented_dl2_columns()
    pandas_dtype = {"int64": "int64", "int32": "int32", "double": "float64"}
    results = Path(e2e_run) / "results" / "dl2"
    per_file = sorted((results / "gamma").glob("*.parquet"))[0]
    for path in [results / f"{p}.parquet" for p in PARTICLES] + [per_file]:
        table = pq.read_table(path)
        assert table.column_names == list(doc), path
        for name, (dtype, unit, meaning) in doc.items():
            field = table.schema.field(name)
            assert str(field.type) == dtype, (path, name)
            assert field.metadata[b"unit"].decode() == unit, (path, name)
            assert field.metadata[b"description"].decode() == meaning, (path, name)
        df = pd.read_parquet(path)
        assert {c: str(t) for c, t in df.dtypes.items()} == {
            c: pandas_dtype[d] for c, (d, _, _) in doc.items()
        }
        assert len(df) == table.num_rows > 0
        meta = json.loads(table.schema.metadata[b"showerflow"])
        records = meta["simulation"]
        assert records and all(set(r) == set(SIMULATION_COLUMNS) for r in records)
        # the units are what the table says: TeV inside the simulated range, degrees
        e_min = min(r["energy_min"] for r in records)
        e_max = max(r["energy_max"] for r in records)
        assert e_min <= df["true_energy"].min() and df["true_energy"].max() <= e_max
        assert df["true_alt"].between(0, 90).all() and df["true_alt"].max() > 2  # not radians
        assert set(df["obs_id"]) <= {r["obs_id"] for r in records}
        gammaness = df["gammaness"].dropna()
        assert gammaness.between(0, 1).all()
        if path == per_file:
            assert {"uuid", "input", "n_events_in", "n_rows", "models"} <= set(meta)
            assert meta["n_rows"] == len(df)
        else:
            assert {"dataset", "inputs", "left_out", "provenance"} <= set(meta)
            assert len(meta["inputs"]) == len(records)


@pytest.fixture(scope="module")
def gammapy_irfs(e2e_run):
    pytest.importorskip("gammapy", reason="gammapy is in the test extra")
    from gammapy.irf import load_irf_dict_from_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_irf_dict_from_file(Path(e2e_run) / "results" / "irf" / "irf.fits.gz")


@pytest.fixture(scope="module")
def own_tables(e2e_run):
    """showerflow's own effective-area and background tables, recomputed from the DL2."""
    from showerflow.performance import load_performance_config, run_performance

    dl2 = {p: Path(e2e_run) / "results" / "dl2" / f"{p}.parquet" for p in PARTICLES}
    return run_performance(dl2, load_performance_config(REPO / "config" / "performance.yaml"))


def _geometric_centres(table, prefix):
    """Regular bins and their geometric centres (1 TeV for the under/overflow bins)."""
    low, high = table[f"{prefix}_low"], table[f"{prefix}_high"]
    regular = np.isfinite(high) & (low > 0 * u.TeV)
    return regular, np.where(regular, np.sqrt(low * high), 1 * u.TeV)


@pytest.mark.e2e
def test_gammapy_reads_the_irfs_with_showerflows_effective_area(gammapy_irfs, own_tables):
    assert {"aeff", "edisp", "psf", "bkg", "rad_max"} <= set(gammapy_irfs)
    table = own_tables["effective_area"]
    regular, centre = _geometric_centres(table, "true_energy")
    own = table["effective_area"].to_value(u.m**2)
    # a few energies across the range where gammas survive the cuts (0.05, 0.5, 5, 30 TeV)
    picks = [
        int(np.argmin(np.abs(np.log(centre.value / e)) + ~regular)) for e in (0.05, 0.5, 5, 30)
    ]
    assert all(own[i] > 0 for i in picks)
    theirs = gammapy_irfs["aeff"].evaluate(energy_true=centre[picks], offset=0.5 * u.deg)
    # gammapy's nodes are the geometric bin centres: at them it returns the stored value
    # (float32 in the FITS file)
    np.testing.assert_allclose(theirs.to_value(u.m**2), own[picks], rtol=1e-6)


@pytest.mark.e2e
def test_gammapy_edisp_psf_and_background_agree_with_showerflow(gammapy_irfs, own_tables):
    from gammapy.maps import MapAxis

    # energy dispersion: a kernel on finite axes (the IRFs keep pyirf's under/overflow
    # bins, whose 0 and inf edges give NaN rows in a kernel on the file's own axes)
    true_axis = MapAxis.from_energy_bounds(0.05, 50, 12, unit="TeV", name="energy_true")
    reco_axis = MapAxis.from_energy_bounds(0.02, 100, 20, unit="TeV")
    kernel = gammapy_irfs["edisp"].to_edisp_kernel(
        offset=0.5 * u.deg, energy_axis_true=true_axis, energy_axis=reco_axis
    )
    matrix = kernel.pdf_matrix
    assert np.isfinite(matrix).all()
    # most of each true-energy bin's gammas land in the reco band 0.02-100 TeV, and the
    # most likely reconstructed energy is near the true one: the energy model works
    assert np.all(matrix.sum(axis=1)[2:-2] > 0.9)
    peak = reco_axis.center[matrix.argmax(axis=1)]
    ratio = (peak / true_axis.center).to_value(u.one)
    assert np.all((ratio > 0.5) & (ratio < 2))
    # PSF: its 68 % radius is showerflow's angular resolution within the PSF's binning
    ang = own_tables["angular_resolution"]
    regular, centre = _geometric_centres(ang, "true_energy")
    picks = [int(np.argmin(np.abs(np.log(centre.value / e)) + ~regular)) for e in (0.3, 1, 3)]
    r68 = gammapy_irfs["psf"].containment_radius(
        fraction=0.68, energy_true=centre[picks], offset=0.5 * u.deg
    )
    np.testing.assert_allclose(
        r68.to_value(u.deg), ang["angular_resolution"][picks].to_value(u.deg), rtol=0.1
    )
    # background: the first FoV-offset ring is showerflow's background-rate table
    bkg = own_tables["background_rate"]
    regular, centre = _geometric_centres(bkg, "reco_energy")
    rate = bkg["background_rate"].to_value("s-1 TeV-1 sr-1")
    picks = [i for i in np.flatnonzero(regular & (rate > 0))][:3]
    theirs = gammapy_irfs["bkg"].evaluate(energy=centre[picks], offset=0.5 * u.deg)
    np.testing.assert_allclose(theirs.to_value("s-1 TeV-1 sr-1"), rate[picks], rtol=1e-6)
