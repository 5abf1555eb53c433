"""Shipped reference curves: CTA requirements and published prod3b-v2 performance."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest

from showerflow import reference as ref

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "reference" / "performance"
E2F = u.Unit("erg cm-2 s-1")


@pytest.mark.parametrize("site", ref.SITES)
def test_requirement_curves_load_with_units(site):
    curves = ref.requirements(site)
    assert set(curves) == {
        "sensitivity",
        "angular_resolution",
        "energy_resolution",
        "effective_area",
    }
    for name, unit in (
        ("sensitivity", E2F),
        ("angular_resolution", u.deg),
        ("energy_resolution", u.one),
        ("effective_area", u.m**2),
    ):
        table = curves[name]
        energy = table["energy"].to_value(u.TeV)
        assert table[name].unit == unit
        assert len(table) >= 20
        assert np.all(table[name].value > 0)
        assert energy.min() == pytest.approx(0.02, rel=0.01)  # CTA requirements start at 20 GeV
        assert 50 <= energy.max() <= 320
        assert np.all(np.diff(energy) >= 0)  # South effective area repeats one energy
        assert site in table.meta["label"]


def test_requirement_values_match_the_files():
    sens = ref.requirement_sensitivity("North")
    at_1tev = sens[np.isclose(sens["energy"].to_value(u.TeV), 1.0)]
    assert at_1tev["sensitivity"][0].to_value(E2F) == pytest.approx(2.401e-13)
    ang = ref.requirement_angular_resolution("South")
    assert ang["angular_resolution"][0].to_value(u.deg) == pytest.approx(0.4945, rel=0.2)
    eres = ref.requirement_energy_resolution("North")
    assert eres["energy_resolution"][-1].value == pytest.approx(0.1)
    aeff = ref.requirement_effective_area("North")
    assert aeff["effective_area"].max().to_value(u.m**2) == pytest.approx(6.815e5)
    assert aeff.meta["observation_time"] == "30m"


@pytest.mark.parametrize("site", ref.SITES)
def test_prod3b_curves(site):
    curves = ref.prod3b_performance(site)
    sens = curves["sensitivity"]
    assert len(sens) == 20
    assert sens["energy_low"][0] == 0.02 * u.TeV and sens["energy_high"][-1] == 200 * u.TeV
    np.testing.assert_allclose(sens["energy"], np.sqrt(sens["energy_low"] * sens["energy_high"]))
    assert sens["sensitivity"].unit == E2F
    # E²F sensitivity of CTA around 1 TeV in 50 h: ~1e-13 erg cm⁻² s⁻¹
    near_1tev = sens["sensitivity"][np.argmin(np.abs(np.log(sens["energy"].to_value(u.TeV))))]
    assert 5e-14 < near_1tev.to_value(E2F) < 3e-13
    ang = curves["angular_resolution"]
    assert ang["angular_resolution"].unit == u.deg
    assert 0.03 < ang["angular_resolution"][np.isclose(ang["energy"].value, 1)][0].value < 0.07
    eres = curves["energy_resolution"]
    assert np.all((eres["energy_resolution"] > 0.03) & (eres["energy_resolution"] < 0.4))
    aeff = curves["effective_area"]
    assert aeff["effective_area"].unit == u.m**2 and aeff["effective_area"].max() > 5e5 * u.m**2


def test_prod3b_background_rate_conversion():
    bkg = ref.prod3b_background_rate("North")
    first = bkg[0]
    assert first["background_rate_per_bin"].to_value(u.Unit("s-1 deg-2")) == pytest.approx(1.7)
    expected = 1.7 / (0.0316 - 0.02) * (180 / np.pi) ** 2  # per TeV per sr
    assert first["background_rate"].to_value(u.Unit("s-1 TeV-1 sr-1")) == pytest.approx(expected)


def test_unknown_site_and_time_are_rejected():
    with pytest.raises(ValueError, match="unknown CTA site 'Paranal'; allowed: North, South"):
        ref.requirement_sensitivity("Paranal")
    with pytest.raises(ValueError, match="observation time '5h'.*50h"):
        ref.prod3b_sensitivity("North", "5h")


def test_reference_curves_follow_config():
    both = ref.reference_curves({"site": "South", "observation_time": "50h"})
    assert set(both["requirement"]) and set(both["prod3b"])
    assert both["prod3b"]["sensitivity"].meta["site"] == "South"
    none = ref.reference_curves({"site": None})
    assert none == {"requirement": {}, "prod3b": {}, "prod5": {}}
    only_req = ref.reference_curves({"site": "North", "prod3b": False})
    assert only_req["prod3b"] == {} and "sensitivity" in only_req["requirement"]


def test_provenance_lists_every_shipped_file_with_its_checksum():
    text = (ref.REFERENCE_DIR / "PROVENANCE.md").read_text()
    assert "MIT" in text and "cta-observatory/ctaplot" in text
    assert (ref.REFERENCE_DIR / "LICENSE-ctaplot.rst").is_file()
    # the prod5 curves are derived (ECSV, each naming its source's SHA-256): licence and
    # method are described, not checksummed
    assert "CC BY 4.0" in text and "tools/extract_prod5_reference.py" in text
    listed = dict(re.findall(r"\| `([^`]+)` \| `([0-9a-f]{16})…` \|", text))
    shipped = sorted(p.name for p in ref.REFERENCE_DIR.iterdir() if p.suffix in (".dat", ".txt"))
    assert sorted(listed) == shipped
    for name, prefix in listed.items():
        digest = hashlib.sha256((ref.REFERENCE_DIR / name).read_bytes()).hexdigest()
        assert digest.startswith(prefix), name


def test_shipped_files_are_verbatim_copies():
    if not SHARED.exists():
        pytest.skip("shared reference data not available")
    for path in ref.REFERENCE_DIR.iterdir():
        if path.suffix == ".dat":
            original = SHARED / "CTA_Requirements" / path.name
        elif path.suffix == ".txt":
            original = SHARED / "CTA_Performance" / "CTA-Performance-prod3b-v2-20deg" / path.name
        else:
            continue
        assert path.read_bytes() == original.read_bytes(), path.name


PROD5 = REPO.parent / "shared" / "data" / "reference" / "irfs"


@pytest.mark.parametrize("site", ref.SITES)
def test_prod5_curves(site):
    curves = ref.prod5_performance(site)
    aeff = curves["effective_area"]
    # prod5 North/South: ~4e5 / ~1e6 m² around 1-10 TeV (0-1° offset, after g/h cuts)
    assert 2e5 < aeff["effective_area"][aeff["energy"].argmax() // 2].to_value(u.m**2) < 3e6
    ang = curves["angular_resolution"]
    at_1tev = ang["angular_resolution"][np.argmin(np.abs(np.log(ang["energy"].value)))]
    assert 0.03 < at_1tev.to_value(u.deg) < 0.08
    eres = curves["energy_resolution"]
    mid = (eres["energy"] > 0.5 * u.TeV) & (eres["energy"] < 50 * u.TeV)
    assert np.all((eres["energy_resolution"][mid] > 0.03) & (eres["energy_resolution"][mid] < 0.2))
    assert np.all(np.abs(eres["energy_bias"][mid]) < 0.1)
    sens = curves["sensitivity"]
    best = np.nanmin(sens["sensitivity"].to_value(E2F))
    assert 5e-14 < best < 3e-13  # CTA's 50 h sensitivity: ~1e-13 erg cm⁻² s⁻¹ at a few TeV
    assert "estimate" in sens.meta["label"]
    for table in curves.values():
        assert table.meta["source_file"] == ref.PROD5_IRFS[site]
        assert len(table.meta["source_sha256"]) == 64


def test_migration_bias_resolution_of_a_gaussian():
    edges = np.linspace(0, 3, 3001)
    centre = 0.5 * (edges[1:] + edges[:-1])
    pdf = np.exp(-0.5 * ((centre - 1.1) / 0.1) ** 2)
    bias, resolution = ref.migration_bias_resolution(edges, pdf)
    assert bias == pytest.approx(0.1, abs=1e-4)
    assert resolution == pytest.approx(0.1 * 0.99982, rel=2e-3)  # 68.27 % = 1 σ
    assert np.isnan(ref.migration_bias_resolution(edges, np.zeros_like(pdf))).all()


def test_irf_sensitivity_follows_li_ma():
    # background-free with many events: the 10-event condition decides
    edges = [1, 2, 4] * u.TeV
    sens = ref.irf_sensitivity(
        edges, [1, 1] / u.s, [0, 0] / u.s, 100 * u.s, lambda e: 1e-11 * u.Unit("cm-2 s-1 TeV-1")
    )
    np.testing.assert_allclose(sens["relative_sensitivity"], 0.1)  # 10 of 100 events
    e2 = (np.sqrt(2) * u.TeV) ** 2 * 0.1 * 1e-11 * u.Unit("cm-2 s-1 TeV-1")
    assert sens["sensitivity"][0].to_value(E2F) == pytest.approx(e2.to_value(E2F))


def test_prod5_value_recomputed_from_the_fits():
    """One shipped number against the public IRF file itself (when ../shared is there)."""
    from astropy.io import fits

    path = PROD5 / ref.PROD5_IRFS["North"]
    if not path.exists():
        pytest.skip(f"{path} not available (the shared data are outside the repository)")
    with fits.open(path) as hdul:
        hdu = hdul["EFFECTIVE AREA"]
        low, high = hdu.data["ENERG_LO"][0], hdu.data["ENERG_HI"][0]
        area = hdu.data["EFFAREA"][0]  # (offset, energy)
        assert hdu.columns["EFFAREA"].unit == "m**2"
        i = int(np.argmin(np.abs(np.log(np.sqrt(low * high)))))  # the bin around 1 TeV
        expected = float(area[0, i])
    shipped = ref.prod5_effective_area("North")
    row = shipped[np.isclose(shipped["energy_low"].to_value(u.TeV), low[i])]
    assert row["effective_area"][0].to_value(u.m**2) == pytest.approx(expected, rel=1e-6)
    assert shipped.meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
