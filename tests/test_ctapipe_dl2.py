"""showerflow's DL2 in ctapipe's DL2 layout: read back by ctapipe, and ctapipe's IRF tools on it.

The unit tests write a small DL2 table and read the export with ctapipe's TableLoader and
DL2EventLoader (what ctapipe-compute-irf uses). The end-to-end test runs the workflow's
export rules on the small toy production, then ctapipe-optimize-event-selection and
ctapipe-compute-irf on the result, and compares ctapipe's effective area and energy
dispersion with showerflow's in the same true-energy bins.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SHARED

from showerflow.contracts import BOOKKEEPING_PROBLEM, DL2_COLUMNS, ContractError
from showerflow.tables import write_table

pytest.importorskip("ctapipe")  # the ctapipe extra (in the test extra)
from ctapipe.io import TableLoader  # noqa: E402

from showerflow.ctapipe_dl2 import (  # noqa: E402
    estimator_prefix,
    quality_criteria,
    telescope_mask,
    write_ctapipe_dl2,
)

V7 = SHARED / "real" / "ctapipe-v7" / "dl1"
RUN103 = V7 / "gamma_20deg_0deg_run103___cta-prod4-sst-astri_desert-2150m-Paranal-sst-astri.dl1.h5"


def _record(obs_id, **change):
    rec = {
        "obs_id": obs_id,
        "particle": "gamma",
        "n_showers": 1000,
        "shower_reuse": 10,
        "energy_min": 0.01,
        "energy_max": 100.0,
        "spectral_index": -2.0,
        "max_scatter_range": 1000.0,
        "viewcone_min": 0.0,
        "viewcone_max": 0.0,
        "zenith": 20.0,
        "azimuth": 0.0,
    }
    return {**rec, **change}


def _dl2(path, records, n=500, seed=1, inputs=()):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "obs_id": rng.choice([r["obs_id"] for r in records], n).astype(np.int64),
            "event_id": np.arange(n, dtype=np.int64) * 100 + 1,
            "true_energy": 10 ** rng.uniform(-2, 2, n),
            "reco_energy": 10 ** rng.uniform(-2, 2, n),
            "gammaness": rng.uniform(0, 1, n),
            "true_alt": np.full(n, 70.0),
            "true_az": np.zeros(n),
            "reco_alt": 70 + rng.normal(0, 0.1, n),
            "reco_az": rng.normal(0, 0.3, n) % 360,
            "pointing_alt": np.full(n, 70.0),
            "pointing_az": np.zeros(n),
            "multiplicity": rng.integers(1, 6, n).astype(np.int64),
        }
    )
    df.loc[:9, "reco_alt"] = np.nan  # reconstruction failed
    df.loc[10:14, "reco_energy"] = np.nan
    write_table(
        df[list(DL2_COLUMNS)], path, metadata={"simulation": records, "inputs": list(inputs)}
    )
    return df


def test_telescope_mask_counts_the_multiplicity():
    mask = telescope_mask([0, 2, 3], 4)
    assert mask.tolist() == [[False] * 4, [True, True, False, False], [True, True, True, False]]
    assert np.count_nonzero(mask, axis=1).tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="exceeds"):
        telescope_mask([5], 4)
    assert estimator_prefix(REPO / "config" / "models" / "energy.yaml") == "RandomForestRegressor"
    assert quality_criteria({"multiplicity_min": 3, "drop_non_finite": False}) == [
        ("multiplicity", "np.count_nonzero(HillasReconstructor_telescopes, axis=1) >= 3")
    ]


def test_export_reads_back_in_ctapipe(tmp_path):
    from ctapipe.io import DL2EventLoader
    from ctapipe.irf import Spectra

    from showerflow.performance import simulation_info

    records = [_record(1), _record(2, n_showers=3000)]
    df = _dl2(tmp_path / "gamma.parquet", records)
    out = tmp_path / "gamma.dl2.h5"
    info = write_ctapipe_dl2(tmp_path / "gamma.parquet", out)
    assert info["n_events"] == 500 and info["n_showers"] == 40_000 and info["n_runs"] == 2
    assert info["subarray"].startswith("showerflow placeholder")
    with TableLoader(out) as loader:
        ev = loader.read_subarray_events(dl2=True, simulated=True, observation_info=True)
        sim = loader.read_simulation_configuration()
        hist = loader.read_shower_distribution()
        assert loader.subarray.n_tels == df["multiplicity"].max()
    assert len(ev) == 500
    np.testing.assert_array_equal(np.asarray(ev["event_id"]), df["event_id"])
    np.testing.assert_allclose(ev["true_energy"].quantity.to_value(u.TeV), df["true_energy"])
    np.testing.assert_allclose(
        ev["RandomForestRegressor_energy"].quantity.to_value(u.TeV), df["reco_energy"]
    )
    np.testing.assert_allclose(ev["RandomForestClassifier_prediction"], df["gammaness"])
    np.testing.assert_allclose(
        ev["HillasReconstructor_alt"].quantity.to_value(u.deg), df["reco_alt"]
    )
    np.testing.assert_array_equal(ev["HillasReconstructor_is_valid"], df["reco_alt"].notna())
    np.testing.assert_array_equal(ev["RandomForestRegressor_is_valid"], df["reco_energy"].notna())
    np.testing.assert_array_equal(
        np.count_nonzero(ev["HillasReconstructor_telescopes"], axis=1),
        np.where(df["reco_alt"].notna(), df["multiplicity"], 0),
    )
    np.testing.assert_allclose(ev["subarray_pointing_lat"].quantity.to_value(u.deg), 70.0)
    assert sim["n_showers"].tolist() == [1000, 3000] and sim["shower_reuse"].tolist() == [10, 10]
    assert hist["n_entries"].tolist() == [10_000, 30_000]
    # what ctapipe-compute-irf takes as the simulation: showerflow's, exactly
    loader = DL2EventLoader(file=out, target_spectrum=Spectra.CRAB_HEGRA)
    with TableLoader(out) as tl:
        ct_info, _ = loader.get_simulation_information(tl, 50 * u.h)
    sf_info = simulation_info(records)
    assert ct_info.n_showers == sf_info.n_showers == 40_000
    for key in ("energy_min", "energy_max", "max_impact", "viewcone_min", "viewcone_max"):
        assert getattr(ct_info, key) == getattr(sf_info, key), key
    assert ct_info.spectral_index == sf_info.spectral_index
    events, n_raw, _ = loader.load_preselected_events(1000, 50 * u.h)
    assert n_raw == 500
    # ctapipe's default quality cuts: >= 4 telescopes, valid geometry, energy, classifier
    valid = df["reco_alt"].notna() & df["reco_energy"].notna() & (df["multiplicity"] >= 4)
    assert len(events) == valid.sum()


def test_export_takes_the_subarray_of_a_ctapipe_input(tmp_path):
    _dl2(tmp_path / "gamma.parquet", [_record(1)], inputs=[str(RUN103)])
    info = write_ctapipe_dl2(tmp_path / "gamma.parquet", tmp_path / "gamma.dl2.h5")
    with TableLoader(RUN103, focal_length_choice="EQUIVALENT") as loader:
        assert info["subarray"] == loader.subarray.name
    with TableLoader(tmp_path / "gamma.dl2.h5", focal_length_choice="EQUIVALENT") as loader:
        assert loader.subarray.n_tels == 70


def test_export_refuses_what_ctapipe_would_get_wrong(tmp_path):
    path = tmp_path / "gamma.parquet"
    _dl2(path, [_record(1), _record(2, max_scatter_range=2000.0)])
    with pytest.raises(ContractError, match="disagree on 'max_scatter_range'"):
        write_ctapipe_dl2(path, tmp_path / "out.h5")
    _dl2(path, [_record(1), _record(2, **{BOOKKEEPING_PROBLEM: "x.dl1.h5: an excerpt"})])
    with pytest.raises(ContractError, match="x.dl1.h5: an excerpt"):
        write_ctapipe_dl2(path, tmp_path / "out.h5")
    _dl2(path, [_record(1)], n=5)
    df = pd.read_parquet(path)
    write_table(df, path, metadata={})
    with pytest.raises(ContractError, match="no 'simulation' records"):
        write_ctapipe_dl2(path, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


# --- ctapipe's IRF tools on the toy production's DL2 ----------------------------------------

#: ctapipe-compute-irf binned as showerflow's config/performance.yaml (true energy
#: 10^-1.9 .. 10^2.3 TeV, 10 per decade, without showerflow's under/overflow bins;
#: migration 0.2 .. 5 in 199 log bins; point-like gammas in one FoV bin 0 .. 1 deg).
IRF_CONFIG = {
    name: {
        "true_energy_min": "0.012589254117941675 TeV",
        "true_energy_max": "199.52623149688768 TeV",
        "true_energy_n_bins_per_decade": 10,
        "fov_offset_min": "0 deg",
        "fov_offset_max": "1 deg",
    }
    for name in ("EffectiveArea2dMaker", "EnergyDispersion2dMaker")
}
IRF_CONFIG["EnergyDispersion2dMaker"].update(
    energy_migration_min=0.2, energy_migration_max=5.0, energy_migration_n_bins=199
)
for _name in ("PSF3DMaker", "BackgroundRate2dMaker"):
    IRF_CONFIG[_name] = {"fov_offset_min": "0 deg", "fov_offset_max": "1 deg"}


def _run(cmd, cwd):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, (
        f"{' '.join(map(str, cmd))}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res


def _tool(name):
    return str(Path(sys.executable).parent / name)


def _compare(showerflow_irf, ctapipe_irf, suffix, n_selected, true_bins):
    """Effective area and energy dispersion of both in the bins where both have >= 100 events."""
    from astropy.io import fits

    with fits.open(showerflow_irf) as sf, fits.open(ctapipe_irf) as ct:
        a_sf, a_ct = sf[f"EFFECTIVE_AREA{suffix}"].data, ct["EFFECTIVE AREA"].data
        e_sf, e_ct = sf[f"ENERGY_DISPERSION{suffix}"].data, ct["ENERGY DISPERSION"].data
        lo_sf, lo_ct = a_sf["ENERG_LO"][0], a_ct["ENERG_LO"][0]
        # the same true-energy bins: showerflow's inner bins (without under/overflow)
        inner = np.flatnonzero(np.isin(np.round(lo_sf, 9), np.round(lo_ct, 9)))
        assert len(inner) == len(lo_ct) == 42
        np.testing.assert_allclose(a_sf["ENERG_HI"][0][inner], a_ct["ENERG_HI"][0], rtol=1e-9)
        np.testing.assert_allclose(e_sf["MIGRA_LO"][0], e_ct["MIGRA_LO"][0], rtol=1e-9)
        aeff_sf, aeff_ct = a_sf["EFFAREA"][0][0][inner], a_ct["EFFAREA"][0][0]
        mig_sf, mig_ct = e_sf["MATRIX"][0][0][:, inner], e_ct["MATRIX"][0][0]
        width = e_ct["MIGRA_HI"][0] - e_ct["MIGRA_LO"][0]
    counts = n_selected[inner]
    enough = counts >= 100
    assert enough.sum() >= 5, counts
    ratio = aeff_ct[enough] / aeff_sf[enough]
    # energy dispersion: the probability of each migration bin, per true-energy bin
    p_sf, p_ct = mig_sf[:, enough] * width[:, None], mig_ct[:, enough] * width[:, None]
    print(
        f"{suffix or 'with cuts'}: {enough.sum()} true-energy bins with >= 100 events "
        f"({true_bins[inner][enough][0]:.3g} .. {true_bins[inner + 1][enough][-1]:.3g} TeV); "
        f"A_eff ctapipe / showerflow {ratio.min():.6f} .. {ratio.max():.6f}; energy "
        f"dispersion largest probability difference {np.abs(p_ct - p_sf).max():.2e}"
    )
    np.testing.assert_allclose(ratio, 1, atol=0.02)
    np.testing.assert_allclose(p_ct.sum(axis=0), p_sf.sum(axis=0), atol=0.02)
    assert np.abs(p_ct - p_sf).max() <= 0.02


def _selected_counts(results, cfg, with_cuts):
    """Gammas showerflow selects per true-energy bin (quality cuts; gh and theta cuts)."""
    from showerflow import performance as perf

    df, records, label = perf.read_dl2(results / "dl2" / "gamma.parquet", "gamma")
    df = perf.apply_quality_cuts(df, cfg["quality_cuts"])
    ev = perf.prepare_events(df, records, "CRAB_HEGRA", 50, label)
    mask = np.ones(len(ev), bool)
    if with_cuts:
        cuts = perf.read_cuts(results / "irf" / "cuts.fits")
        mask = perf.gh_mask(ev, cuts.gh) & perf.theta_mask(ev, cuts.theta)
    bins = perf.make_bins(cfg)["true_energy"].to_value(u.TeV)
    return np.histogram(ev["true_energy"][mask].to_value(u.TeV), bins)[0], bins


def _compare_no_cuts(aeff_table, ctapipe_irf, n_selected, true_bins):
    """showerflow's effective area without cuts (effective_area.ecsv, first offset bin)
    against ctapipe's, in the bins where both have >= 100 events."""
    from astropy.io import fits
    from astropy.table import QTable

    table = QTable.read(aeff_table)
    first = table[table["fov_offset_low"] == table["fov_offset_low"][0]]
    with fits.open(ctapipe_irf) as ct:
        a_ct = ct["EFFECTIVE AREA"].data
        lo_ct, aeff_ct = a_ct["ENERG_LO"][0], a_ct["EFFAREA"][0][0]
    lo_sf = first["true_energy_low"].to_value(u.TeV)
    rows = [int(np.flatnonzero(np.isclose(lo_sf, lo, rtol=1e-9))[0]) for lo in lo_ct]
    aeff_sf = first["effective_area_no_cuts"][rows].to_value(u.m**2)
    inner = np.flatnonzero(np.isin(np.round(true_bins[:-1], 9), np.round(lo_ct, 9)))
    enough = n_selected[inner] >= 100
    assert enough.sum() >= 5
    np.testing.assert_allclose(aeff_ct[enough] / aeff_sf[enough], 1, atol=0.02)


@pytest.mark.e2e
def test_ctapipe_irf_tools_on_showerflow_dl2(e2e_run, tmp_path):
    from astropy.io import fits
    from ctapipe.irf import OptimizationResult
    from workflow_helpers import copy_run, snakemake

    from showerflow.performance import load_performance_config
    from showerflow.workflow import ctapipe_export_targets

    work = copy_run(e2e_run, tmp_path / "run")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    # ctapipe is given the on-axis gammas, so showerflow's IRFs come from them too (no
    # diffuse sample: the first offset bin, from the point-like gammas); the merges and
    # the performance stage are redone for the changed config, the DL2 is not
    cfg["performance"]["gamma_diffuse"] = None
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    # the targets ctapipe_export.enabled adds, asked for directly
    targets = ctapipe_export_targets({**cfg, "ctapipe_export": {"enabled": True}})
    assert targets == [
        "results/dl2/gamma.dl2.h5",
        "results/dl2/proton.dl2.h5",
        "results/dl2/electron.dl2.h5",
        "results/irf/ctapipe_cuts.fits",
    ]
    res = snakemake(work, *targets, "results/irf/point_like.fits.gz")
    ran = res.stdout + res.stderr
    assert ran.count("rule export_ctapipe_dl2:") == 3 and "rule export_ctapipe_cuts:" in ran
    assert "rule dl2:" not in ran and "rule train_" not in ran  # no DL2, no model redone
    assert "rule performance:" in ran
    results = work / "results"
    files = {p: results / "dl2" / f"{p}.dl2.h5" for p in ("gamma", "proton", "electron")}
    (work / "irf.yaml").write_text(yaml.safe_dump(IRF_CONFIG))

    # ctapipe's own cut optimisation and IRFs + benchmarks run on showerflow's DL2
    _run(
        [
            _tool("ctapipe-optimize-event-selection"),
            "-g",
            files["gamma"],
            "-p",
            files["proton"],
            "-e",
            files["electron"],
            "--output",
            "ctapipe_opt_cuts.fits",
            "--provenance-log",
            "opt.prov",
        ],
        work,
    )
    opt = OptimizationResult.read(work / "ctapipe_opt_cuts.fits")
    assert opt.clf_prefix == "RandomForestClassifier" and len(opt.gh_cuts) > 5
    _run(
        [
            _tool("ctapipe-compute-irf"),
            "--config",
            "irf.yaml",
            "--cuts",
            "ctapipe_opt_cuts.fits",
            "--gamma-file",
            files["gamma"],
            "--proton-file",
            files["proton"],
            "--electron-file",
            files["electron"],
            "--output",
            "ctapipe_irf.fits.gz",
            "--benchmark-output",
            "ctapipe_benchmarks.fits.gz",
            "--spatial-selection-applied",
            "--provenance-log",
            "irf.prov",
        ],
        work,
    )
    with fits.open(work / "ctapipe_benchmarks.fits.gz") as hdul:
        assert {"SENSITIVITY", "ANGULAR RESOLUTION", "ENERGY BIAS RESOLUTION"} <= {
            h.name for h in hdul
        }

    # ctapipe's IRFs with showerflow's cuts (the exported cuts file): the same events,
    # the same numbers
    perf_cfg = load_performance_config(cfg["performance"]["config"])
    _run(
        [
            _tool("ctapipe-compute-irf"),
            "--config",
            "irf.yaml",
            "--cuts",
            results / "irf" / "ctapipe_cuts.fits",
            "--gamma-file",
            files["gamma"],
            "--proton-file",
            files["proton"],
            "--electron-file",
            files["electron"],
            "--output",
            "sf_cuts_irf.fits.gz",
            "--spatial-selection-applied",
            "--provenance-log",
            "irf2.prov",
        ],
        work,
    )
    counts, bins = _selected_counts(results, perf_cfg, with_cuts=True)
    _compare(results / "irf" / "point_like.fits.gz", work / "sf_cuts_irf.fits.gz", "", counts, bins)

    # and without gammaness or direction cut: showerflow's effective area without cuts
    cuts = OptimizationResult.read(results / "irf" / "ctapipe_cuts.fits")
    cuts.gh_cuts["cut"] = -np.inf
    cuts.write(work / "no_cuts.fits")
    _run(
        [
            _tool("ctapipe-compute-irf"),
            "--config",
            "irf.yaml",
            "--cuts",
            "no_cuts.fits",
            "--gamma-file",
            files["gamma"],
            "--no-do-background",
            "--output",
            "no_cuts_irf.fits.gz",
            "--no-spatial-selection-applied",
            "--provenance-log",
            "irf3.prov",
        ],
        work,
    )
    counts, bins = _selected_counts(results, perf_cfg, with_cuts=False)
    _compare_no_cuts(
        results / "performance" / "effective_area.ecsv", work / "no_cuts_irf.fits.gz", counts, bins
    )
