"""Cuts as a product: the cuts file, per-offset cuts, and the bad inputs of the IRF step.

Each bad input stops with a message naming the file, the bins or keyword, and what was
expected: diffuse gammas whose view cone is smaller than the offset bins, offset bins
without events, a cuts file whose energy range does not cover the IRFs', a cuts file
made for another array or zenith (or quality cut).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from performance_synthetic import make_dl2, performance_result

from showerflow import performance as perf
from showerflow.contracts import ContractError
from showerflow.tables import write_table


@pytest.fixture(scope="session")
def result(tmp_path_factory):
    return performance_result(str(tmp_path_factory.getbasetemp() / "synthetic_performance"))


@pytest.fixture(scope="module")
def samples(result):
    """The synthetic samples as read by the stage (shared by the tests that rerun IRFs)."""
    paths, _ = result
    return perf.load_samples(paths, perf.default_performance_config())


def _rerun(result, samples, cuts, cuts_path="cuts.fits", **cfg):
    paths, _ = result
    return perf.run_performance(paths, cfg, cuts=cuts, cuts_path=cuts_path, samples=samples)


# --------------------------------------------------------------------------- the file


def test_cuts_file_round_trip(result, tmp_path):
    _, res = result
    cuts = res["cuts"]
    path = tmp_path / "cuts.fits"
    perf.write_cuts(cuts, path)
    back = perf.read_cuts(path)
    assert back.meta == cuts.meta
    assert back.meta["ARRAY"] == "unnamed" and back.meta["ZENITH"] == pytest.approx(20.0)
    for a, b in ((back.gh, cuts.gh), (back.theta, cuts.theta), (back.validity, cuts.validity)):
        assert a.colnames == b.colnames
        for col in a.colnames:
            np.testing.assert_array_equal(u.Quantity(a[col]), u.Quantity(b[col]))
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "GH_CUTS", "THETA_CUTS", "VALIDITY"]
        assert hdul["THETA_CUTS"].columns["cut"].unit == "deg"
    # the valid range is where the optimised sensitivity is finite: regular bins only
    v = cuts.validity
    assert len(v) == 1 and v["fov_offset_high"][0] == np.inf * u.deg
    assert 0 * u.TeV < v["energy_min"][0] < v["energy_max"][0] < np.inf * u.TeV


def test_reusing_a_cuts_file_gives_the_same_irfs(result, samples, tmp_path):
    _, res = result
    path = tmp_path / "cuts.fits"
    perf.write_cuts(res["cuts"], path)
    again = _rerun(result, samples, perf.read_cuts(path), path)
    for kind in ("full_enclosure", "point_like"):
        for a, b in zip(res["irfs"][kind][1:], again["irfs"][kind][1:], strict=True):
            for col in a.columns.names:
                np.testing.assert_array_equal(a.data[col], b.data[col], err_msg=f"{a.name}.{col}")
        assert again["irfs"][kind][0].header["CUTSFILE"].endswith("cuts.fits")
    assert not again["cuts_optimised"]


def test_broken_cuts_files_are_refused(tmp_path, result):
    _, res = result
    with pytest.raises(ContractError, match="not a FITS file"):
        (tmp_path / "x.fits").write_text("no")
        perf.read_cuts(tmp_path / "x.fits")
    path = tmp_path / "cuts.fits"
    perf.write_cuts(res["cuts"], path)
    with fits.open(path) as hdul:
        del hdul["VALIDITY"]
        hdul.writeto(tmp_path / "novalid.fits")
    with pytest.raises(ContractError, match=r"novalid.fits: HDU\(s\) \['VALIDITY'\] missing"):
        perf.read_cuts(tmp_path / "novalid.fits")
    with fits.open(path) as hdul:
        del hdul[0].header["ZENITH"]
        hdul.writeto(tmp_path / "nozenith.fits")
    with pytest.raises(ContractError, match=r"PRIMARY header lacks \['ZENITH'\]"):
        perf.read_cuts(tmp_path / "nozenith.fits")


# --------------------------------------------------------------------------- bad inputs


def test_cuts_for_another_array_zenith_or_quality_cut_are_refused(result, samples):
    _, res = result
    cuts = res["cuts"]
    other = perf.Cuts(cuts.gh, cuts.theta, cuts.validity, {**cuts.meta, "ARRAY": "CTAO-South"})
    with pytest.raises(ContractError) as err:
        _rerun(result, samples, other, "south-cuts.fits")
    message = str(err.value)
    assert message.startswith("south-cuts.fits:")
    assert "array 'CTAO-South' (header ARRAY)" in message and "'unnamed'" in message
    # the same cuts under the right name pass
    _rerun(result, samples, other, "south-cuts.fits", array="CTAO-South")

    other = perf.Cuts(cuts.gh, cuts.theta, cuts.validity, {**cuts.meta, "ZENITH": 40.0})
    with pytest.raises(
        ContractError, match=r"z40.fits: .*zenith 40° \(header ZENITH\).*zenith 20°"
    ):
        _rerun(result, samples, other, "z40.fits")
    other = perf.Cuts(cuts.gh, cuts.theta, cuts.validity, {**cuts.meta, "ZENITH": 20.8})
    _rerun(result, samples, other)  # inside the 1° tolerance
    other = perf.Cuts(cuts.gh, cuts.theta, cuts.validity, {**cuts.meta, "MULTMIN": 3})
    with pytest.raises(ContractError, match=r"multiplicity >= 3 \(header MULTMIN\)"):
        _rerun(result, samples, other)


def test_cuts_whose_energy_range_does_not_cover_the_irfs_are_refused(result, samples):
    _, res = result
    cuts = res["cuts"]
    validity = cuts.validity.copy()
    # on the reco-energy grid (10^-1.9 TeV, 5 per decade), as optimised ranges are
    validity["energy_min"], validity["energy_max"] = [10**-1.1] * u.TeV, [10**0.9] * u.TeV
    narrow = perf.Cuts(cuts.gh, cuts.theta, validity, cuts.meta)
    # by default the IRFs are for the cuts' valid range, recorded as the safe range
    inside = _rerun(result, samples, narrow)
    header = inside["irfs"]["point_like"]["EFFECTIVE_AREA"].header
    assert (header["LO_THRES"], header["HI_THRES"]) == pytest.approx((10**-1.1, 10**0.9))
    _rerun(result, samples, narrow, irf_energy_range={"min": 0.2, "max": 5})
    with pytest.raises(ContractError) as err:
        _rerun(result, samples, narrow, irf_energy_range={"min": 0.04})
    message = str(err.value)
    assert message.startswith("cuts.fits: in FoV-offset bin 0–1° the cuts are valid for reco")
    assert "0.0794–7.94 TeV (VALIDITY), which does not cover the IRFs' 0.04–7.94 TeV" in message
    # the uncovered bins are named
    assert "reco-energy bins 0.0316–0.0501, 0.0501–0.0794 TeV are not covered" in message
    with pytest.raises(ContractError, match=r"bins 7.94–12.6, 12.6–20 TeV are not covered"):
        _rerun(result, samples, narrow, irf_energy_range={"max": 15})


def test_cuts_valid_for_fewer_offsets_than_the_irfs_are_refused(result, samples):
    _, res = result
    cuts = res["cuts"]
    validity = cuts.validity.copy()
    validity["fov_offset_high"] = [3.0] * u.deg
    short = perf.Cuts(cuts.gh, cuts.theta, validity, cuts.meta)
    with pytest.raises(ContractError, match=r"FoV-offset bin 3–4° is outside the offsets where"):
        _rerun(result, samples, short)


def test_view_cone_smaller_than_the_offset_bins_is_refused(tmp_path, result):
    paths, _ = result
    df, recs = make_dl2("gamma_diffuse", seed=9, viewcone=4.0, n_runs=1, n_showers=20_000)
    narrow = tmp_path / "narrow.parquet"
    write_table(df, narrow, metadata={"simulation": recs})
    with pytest.raises(ContractError) as err:
        perf.run_performance({**paths, "gamma_diffuse": narrow}, {})
    message = str(err.value)
    assert message.startswith(f"{narrow}:")
    assert "view cone of 0–4°" in message and "bins 4–5°" in message
    assert "expected every bin inside 0–4°" in message


def test_offset_bins_without_events_are_refused(tmp_path, result):
    paths, _ = result
    df, recs = make_dl2("gamma_diffuse", seed=9, n_runs=1, n_showers=20_000)
    offset = perf.prepare_events(df, recs, "CRAB_HEGRA", 50 * u.h, fov_offset_bins=[0, 5] * u.deg)
    hole = df[
        (offset["true_source_fov_offset"] < 2 * u.deg)
        | (offset["true_source_fov_offset"] > 4 * u.deg)
    ]
    path = tmp_path / "hole.parquet"
    write_table(hole, path, metadata={"simulation": recs})
    with pytest.raises(ContractError) as err:
        perf.run_performance({**paths, "gamma_diffuse": path}, {})
    message = str(err.value)
    assert message.startswith(f"{path}:") and "bin(s) 2–3°, 3–4° hold no gamma event" in message
    assert "2–3°: 0" in message


def test_gamma_samples_of_the_wrong_kind_are_refused(tmp_path, result):
    paths, _ = result
    with pytest.raises(ContractError, match="'gamma' sample is diffuse.*give diffuse gammas as"):
        perf.run_performance({**paths, "gamma": paths["gamma_diffuse"]}, {})
    with pytest.raises(ContractError, match="'gamma_diffuse' sample has a view cone of 0"):
        perf.run_performance({**paths, "gamma_diffuse": paths["gamma"]}, {})


# --------------------------------------------------------------------------- per offset


@pytest.fixture(scope="module")
def per_offset(result, samples):
    paths, _ = result
    cfg = {"cuts": {"per_offset": True}}
    return perf.run_performance(paths, cfg, samples=samples)


def test_per_offset_cuts_follow_the_psf(per_offset):
    """The synthetic PSF widens with offset: so do the optimised theta cuts, bin by bin."""
    cuts = per_offset["cuts"]
    assert cuts.per_offset and cuts.meta["PEROFFS"]
    assert len(cuts.validity) == 5
    np.testing.assert_allclose(cuts.validity["fov_offset_low"].to_value(u.deg), [0, 1, 2, 3, 4])
    rad_max = per_offset["irfs"]["point_like"]["RAD_MAX"].data["RAD_MAX"][0]  # (fov, energy)
    low = per_offset["irfs"]["point_like"]["RAD_MAX"].data["ENERG_LO"][0]
    mid = (low > 0.1) & (low < 3)
    free = (rad_max[:, mid] > 0.05) & (rad_max[:, mid] < 0.32)  # not clipped
    ratio = rad_max[4, mid][free[4] & free[1]] / rad_max[1, mid][free[4] & free[1]]
    assert len(ratio) >= 4 and np.median(ratio) == pytest.approx(1.45 / 1.15, rel=0.1)
    # an event takes the cut of its reconstructed offset's bin
    table = perf.cuts.cuts_in_offset_bin(cuts.theta, 4)
    assert "fov_offset_low" not in table.colnames and len(table) == len(cuts.theta) // 5


def test_per_offset_cuts_file_round_trip_and_checks(per_offset, tmp_path, result, samples):
    path = tmp_path / "per_offset.fits"
    perf.write_cuts(per_offset["cuts"], path)
    back = perf.read_cuts(path)
    assert back.per_offset and len(back.validity) == 5
    paths, _ = result
    again = perf.run_performance(paths, {"cuts": {"per_offset": True}}, back, path, samples)
    np.testing.assert_array_equal(
        again["irfs"]["point_like"]["RAD_MAX"].data["RAD_MAX"],
        per_offset["irfs"]["point_like"]["RAD_MAX"].data["RAD_MAX"],
    )


def test_per_offset_cuts_need_diffuse_gammas(result):
    paths, _ = result
    on_axis = {k: v for k, v in paths.items() if k != "gamma_diffuse"}
    with pytest.raises(ValueError, match="per_offset needs diffuse gammas"):
        perf.run_optimize(on_axis, {"cuts": {"per_offset": True}})


def test_without_diffuse_gammas_the_irfs_have_the_first_offset_bin(result, tmp_path):
    """On-axis gammas only: one FoV-offset bin, not the on-axis value repeated."""
    paths, _ = result
    on_axis = {k: v for k, v in paths.items() if k != "gamma_diffuse"}
    res = perf.run_performance(on_axis, {"irfs": ["point_like"]})
    assert list(res["irfs"]) == ["point_like"]
    aeff = res["irfs"]["point_like"]["EFFECTIVE_AREA"].data
    assert aeff["EFFAREA"].shape[1] == 1
    np.testing.assert_allclose([aeff["THETA_LO"][0][0], aeff["THETA_HI"][0][0]], [0, 1])
    assert res["irf_sample"] == "gamma"
    written = perf.write_outputs(res, tmp_path)
    assert "full_enclosure" not in written and written["point_like"].exists()
