"""Interoperability of the outputs: the IRF FITS in gammapy, DL2 in pandas and pyarrow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from showerflow.contracts import DL2_COLUMNS

REPO = Path(__file__).resolve().parents[1]


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
def test_dl2_reads_in_pandas_and_pyarrow_as_documented(e2e_run):
    import json

    import pandas as pd
    import pyarrow.parquet as pq

    path = Path(e2e_run) / "results" / "dl2" / "gamma.parquet"
    df = pd.read_parquet(path)
    table = pq.read_table(path)
    assert list(df.columns) == table.column_names == list(DL2_COLUMNS)
    assert len(df) == table.num_rows > 100
    for name, (kind, _unit, _) in DL2_COLUMNS.items():
        assert df[name].dtype.kind == kind, name
    # units as documented: TeV energies spanning the simulated range, degrees for angles
    meta = json.loads(table.schema.metadata[b"showerflow"])
    e_min = min(r["energy_min"] for r in meta["simulation"])
    e_max = max(r["energy_max"] for r in meta["simulation"])
    assert e_min <= df["true_energy"].min() and df["true_energy"].max() <= e_max
    assert df["true_alt"].between(0, 90).all() and df["reco_az"].dropna().between(-360, 360).all()
    assert df["gammaness"].dropna().between(0, 1).all()


@pytest.mark.e2e
def test_irf_loads_in_gammapy_with_showerflow_effective_area(e2e_run):
    import astropy.units as u
    from astropy.table import QTable
    from gammapy.irf import load_irf_dict_from_file

    path = Path(e2e_run) / "results" / "irf" / "irf.fits.gz"
    irfs = load_irf_dict_from_file(path)
    assert {"aeff", "edisp", "psf", "bkg", "rad_max"} <= set(irfs)
    ours = QTable.read(path, hdu="EFFECTIVE_AREA")
    lo, hi = ours["ENERG_LO"][0], ours["ENERG_HI"][0]
    area = ours["EFFAREA"][0, 0]  # (offset, energy): one offset bin, point-like
    centre = np.sqrt(lo * hi)
    picked = [i for i in np.flatnonzero(area > 0) if 0.1 * u.TeV < centre[i] < 10 * u.TeV]
    assert len(picked) >= 3
    offset = 0.5 * (ours["THETA_LO"][0][0] + ours["THETA_HI"][0][0])
    theirs = irfs["aeff"].evaluate(energy_true=centre[picked], offset=offset)
    np.testing.assert_allclose(theirs.to_value(u.m**2), area[picked].to_value(u.m**2), rtol=1e-6)
    # the other IRFs are usable numbers in gammapy too
    edisp = irfs["edisp"]
    assert np.isfinite(edisp.data).all() and edisp.data.max() > 0
    assert np.isfinite(irfs["bkg"].data).all() and irfs["bkg"].data.max() > 0
