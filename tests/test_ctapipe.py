"""Current ctapipe DL1 (data model v7.1.0) through the ctapipe_hdf5 format, on the real files.

The DL1 files of ../shared/data/real/ctapipe-v7/dl1/ were written by ctapipe 0.28 from real
sim_telarray files (four arrays, 49 triggered gammas; PROVENANCE.md). Every number the
format gives is compared with what ctapipe's own TableLoader reads from the same file;
showerflow's stereo reconstruction is compared with ctapipe's HillasReconstructor; the
excerpts are flagged by the thrown-shower check; and each kind of bad input stops with a
message naming the file, the table or column, and what was expected.
"""

from __future__ import annotations

import shutil

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import tables
from conftest import SHARED

from showerflow import catalog as cat
from showerflow import stages
from showerflow.contracts import (
    BOOKKEEPING_PROBLEM,
    EVENT_COLUMNS,
    IMAGE_COLUMNS,
    SIMULATION_COLUMNS,
    ContractError,
)
from showerflow.formats import get_format, thrown
from showerflow.formats.base import event_keys
from showerflow.formats.ctapipe_hdf5 import SUPPORTED_VERSIONS, TABLELOADER_VERSIONS

pytest.importorskip("ctapipe")  # the ctapipe extra (in the test extra: never skipped in CI)
from ctapipe.io import TableLoader  # noqa: E402

V7 = SHARED / "real" / "ctapipe-v7" / "dl1"
FILES = sorted(V7.glob("*.dl1.h5"))
RUN102 = V7 / "gamma_20deg_0deg_run102___cta-prod4-sst-1m_desert-2150m-Paranal-sst-1m.dl1.h5"
CAMFRAME = V7 / f"camframe_{RUN102.name}"
RUN103 = V7 / "gamma_20deg_0deg_run103___cta-prod4-sst-astri_desert-2150m-Paranal-sst-astri.dl1.h5"
EXCERPT = V7 / "gamma_test.dl1.h5"
TRUNCATED = V7 / "gamma_test_large_truncated.dl1.h5"
OPTS = {"focal_length_choice": "EQUIVALENT"}  # these pre-prod5 files have no effective one
FMT = get_format("ctapipe_hdf5")
_CACHE = {}


def _read(path, how="read", **options):
    """FMT.read (or .inspect) of a real file with OPTS and ``options``, once per session."""
    key = (how, str(path), tuple(sorted((k, str(v)) for k, v in options.items())))
    if key not in _CACHE:
        _CACHE[key] = getattr(FMT, how)(path, {**OPTS, **options})
    return _CACHE[key]


def _separation(alt1, az1, alt2, az2):
    a1, z1, a2, z2 = (np.deg2rad(np.asarray(x, float)) for x in (alt1, az1, alt2, az2))
    cos = np.sin(a1) * np.sin(a2) + np.cos(a1) * np.cos(a2) * np.cos(z1 - z2)
    return np.rad2deg(np.arccos(np.clip(cos, -1, 1)))


def _plain(col, unit=None):
    data = col.quantity.to_value(unit) if unit is not None else np.asarray(col)
    return np.ma.filled(np.ma.masked_array(data, np.ma.getmaskarray(col)), np.nan)


def test_the_real_files_are_there():
    assert len(FILES) == 5 and CAMFRAME in FILES and EXCERPT in FILES


def test_supported_versions_are_ctapipes():
    from ctapipe.io.hdf5eventsource import COMPATIBLE_DATA_MODEL_VERSIONS

    assert list(TABLELOADER_VERSIONS) == list(COMPATIBLE_DATA_MODEL_VERSIONS)
    assert SUPPORTED_VERSIONS[0] == "v1.0.0"


# --- every file, against ctapipe's own TableLoader ----------------------------------------


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:40])
def test_file_matches_tableloader(path):
    d = _read(path)
    info = _read(path, "inspect")
    camera = path.name.startswith("camframe_")
    with TableLoader(path, focal_length_choice="EQUIVALENT") as loader:
        ev = loader.read_subarray_events()
        tel = loader.read_telescope_events()
        sim = loader.read_simulation_configuration()
        sub = loader.subarray
        try:
            n_hist = int(loader.read_shower_distribution()["n_entries"].sum())
        except tables.NoSuchNodeError:
            n_hist = None
        height = sub.reference_location.geodetic.height.to_value(u.m)

    # the catalog entry
    assert info["data_model_version"] == "v7.1.0"
    assert (info["n_events"], info["n_images"]) == (len(ev), len(d.images))
    assert info["image_frame"] == ("camera" if camera else "telescope")
    assert info["geometry"] == "HillasReconstructor" and info["uuid"] == d.uuid

    # simulation record: the run table, in the contract's units
    rec = d.simulation
    assert set(SIMULATION_COLUMNS) <= set(rec) and rec["particle"] == "gamma"
    assert rec["obs_id"] == int(sim["obs_id"][0])
    assert (rec["n_showers"], rec["shower_reuse"]) == (
        int(sim["n_showers"][0]),
        int(sim["shower_reuse"][0]),
    )
    np.testing.assert_allclose(
        [rec["energy_min"], rec["energy_max"]],
        [sim["energy_range_min"].quantity[0].to_value(u.TeV), sim["energy_range_max"][0]],
    )
    assert rec["max_scatter_range"] == pytest.approx(sim["max_scatter_range"].quantity[0].value)
    assert rec["viewcone_max"] == pytest.approx(sim["max_viewcone_radius"].quantity[0].value)
    assert rec["zenith"] == pytest.approx(90 - sim["max_alt"].quantity[0].to_value(u.deg), abs=1e-4)
    assert rec["zenith"] == 20.0 and rec["azimuth"] == 0.0
    if n_hist is None:
        assert np.isnan(rec["n_showers_histogram"]) and rec["bookkeeping_source"] == "header"
    else:
        assert rec["n_showers_histogram"] == n_hist and rec["bookkeeping_source"] == "histogram"

    # events: the trigger table's order, true showers in TeV / deg / m
    e = d.events
    assert list(e.columns[: len(EVENT_COLUMNS)]) == list(EVENT_COLUMNS)
    np.testing.assert_array_equal(e["event_id"], np.asarray(ev["event_id"]))
    np.testing.assert_allclose(e["true_energy"], ev["true_energy"].quantity.to_value(u.TeV))
    np.testing.assert_allclose(e["true_az"], ev["true_az"].quantity.to_value(u.deg))
    np.testing.assert_allclose(e["true_core_x"], ev["true_core_x"].quantity.to_value(u.m))
    # directions, core, h_max: ctapipe's HillasReconstructor (h_max above the array)
    valid = np.asarray(ev["HillasReconstructor_is_valid"])
    assert valid.sum() >= 1
    np.testing.assert_allclose(
        e["reco_alt"][valid], _plain(ev["HillasReconstructor_alt"], u.deg)[valid]
    )
    np.testing.assert_allclose(
        e["reco_az"][valid], _plain(ev["HillasReconstructor_az"], u.deg)[valid] % 360
    )
    np.testing.assert_allclose(
        e["reco_h_max"][valid], _plain(ev["HillasReconstructor_h_max"], u.m)[valid] - height
    )
    assert e["reco_alt"][~valid].isna().all()
    np.testing.assert_array_equal(
        e["n_images_reco"], np.where(valid, ev["HillasReconstructor_telescopes"].sum(axis=1), 0)
    )

    # images: telescope events with a cleaned image, telescope types from the subarray
    prefix = "camera_frame_" if camera else ""
    good = np.isfinite(_plain(tel[f"{prefix}hillas_intensity"]))
    tel = tel[good]
    tel.sort(["obs_id", "event_id", "tel_id"])
    im = d.images
    assert list(im.columns[: len(IMAGE_COLUMNS)]) == list(IMAGE_COLUMNS)
    assert len(im) == good.sum() > 0
    np.testing.assert_array_equal(im["tel_id"], np.asarray(tel["tel_id"]))
    assert list(im["tel_type"]) == [str(sub.tel[t]) for t in tel["tel_id"]]
    np.testing.assert_allclose(im["hillas_intensity"], _plain(tel[f"{prefix}hillas_intensity"]))
    if camera:
        f = np.array(
            [sub.tel[t].optics.equivalent_focal_length.to_value(u.m) for t in tel["tel_id"]]
        )
        for col in ("hillas_length", "hillas_width", "hillas_r"):
            expected = np.rad2deg(_plain(tel[f"{prefix}{col}"], u.m) / f)
            np.testing.assert_allclose(im[col], expected, err_msg=col)
        np.testing.assert_allclose(
            im["hillas_x"], np.rad2deg(_plain(tel[f"{prefix}hillas_x"], u.m) / f)
        )
    else:
        for col in ("hillas_length", "hillas_width", "hillas_r", "hillas_fov_lon"):
            np.testing.assert_allclose(im[col], _plain(tel[col], u.deg), err_msg=col)
    np.testing.assert_allclose(im["hillas_psi"], _plain(tel[f"{prefix}hillas_psi"], u.deg))
    np.testing.assert_array_equal(im["morphology_n_pixels"], np.asarray(tel["morphology_n_pixels"]))
    np.testing.assert_allclose(
        im["impact_distance"], _plain(tel["HillasReconstructor_tel_impact_distance"], u.m)
    )
    # every image belongs to an event; multiplicity counts them
    assert np.isin(event_keys(im), event_keys(e)).all()
    counts = im.groupby(["obs_id", "event_id"]).size()
    assert (e.set_index(["obs_id", "event_id"])["multiplicity"].loc[counts.index] == counts).all()
    # gamma images are tenths of a degree long
    assert 0.02 < im["hillas_length"].median() < 1.0


def test_camera_frame_and_telescope_frame_give_the_same_images():
    """The same run processed with and without --camera-frame: frame-free columns equal,
    camera x/y = fov_lat/fov_lon (ctapipe's camera_to_telescope), psi turned by 90 deg."""
    tel, cam = _read(RUN102), _read(CAMFRAME)
    a, b = tel.images, cam.images
    assert len(a) == len(b) == 65
    for col in (
        "hillas_intensity",
        "hillas_length",
        "hillas_width",
        "hillas_r",
        "leakage_intensity_width_2",
    ):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-5, err_msg=col)
    np.testing.assert_allclose(a["hillas_fov_lat"], b["hillas_x"], atol=1e-6)
    np.testing.assert_allclose(a["hillas_fov_lon"], b["hillas_y"], atol=1e-6)
    turned = (90 - b["hillas_psi"] + 90) % 180 - 90
    np.testing.assert_allclose(((a["hillas_psi"] - turned + 90) % 180) - 90, 0, atol=1e-4)
    reco = ["reco_alt", "reco_az", "reco_core_x", "reco_core_y", "reco_h_max"]
    pd.testing.assert_frame_equal(tel.events.drop(columns=reco), cam.events.drop(columns=reco))
    # ctapipe's HillasReconstructor on either frame: the same directions, to float32 rounding
    ea, eb = tel.events, cam.events
    sep = _separation(ea["reco_alt"], ea["reco_az"], eb["reco_alt"], eb["reco_az"])
    assert np.nanmax(sep) < 2e-3 and np.isnan(sep).sum() == ea["reco_alt"].isna().sum()


def test_chunks_are_the_whole_file():
    whole = _read(EXCERPT)
    chunks = list(FMT.iterate(EXCERPT, OPTS, chunk_size=4))
    assert [c.n_events for c in chunks] == [4, 4, 1]
    assert all(c.extra["n_events_read"] == 9 for c in chunks)
    pd.testing.assert_frame_equal(
        pd.concat([c.events for c in chunks], ignore_index=True), whole.events
    )
    pd.testing.assert_frame_equal(
        pd.concat([c.images for c in chunks], ignore_index=True), whole.images
    )
    part = FMT.read(EXCERPT, OPTS, entry_stop=5)
    assert part.n_events == 5
    assert pd.Series(part.simulation).equals(pd.Series(whole.simulation))


# --- showerflow's stereo against ctapipe's HillasReconstructor --------------------------------

#: ctapipe's StereoQualityQuery defaults, in showerflow's stereo_cuts language
CTAPIPE_STEREO_CUTS = ["hillas_intensity > 50", "hillas_width > 0", "morphology_n_pixels > 3"]


def test_stereo_agrees_with_hillas_reconstructor():
    """On the same events and images, showerflow's plane intersection gives ctapipe's
    directions: to 0.02 deg where two telescopes define the plane intersection uniquely,
    to 0.05 deg (median) overall, with the same resolution against the true direction."""
    seps, two, res_ct, res_sf, cores, hmax = [], [], [], [], [], []
    for path in FILES:
        ct = _read(path).events
        sf = _read(path, geometry=None, stereo_cuts=CTAPIPE_STEREO_CUTS)
        assert sf.extra["geometry"] == "showerflow.stereo"
        sf = sf.events
        ok = np.isfinite(ct["reco_alt"]).to_numpy()
        # the same images enter both: ctapipe's quality query is the stereo_cuts above
        np.testing.assert_array_equal(ct["n_images_reco"][ok], sf["n_images_reco"][ok])
        assert np.isfinite(sf["reco_alt"][ok]).all()
        sep = _separation(ct["reco_alt"], ct["reco_az"], sf["reco_alt"], sf["reco_az"])[ok]
        seps.append(sep)
        two.append(sep[(ct["n_images_reco"] == 2).to_numpy()[ok]])
        res_ct.append(_separation(ct["reco_alt"], ct["reco_az"], ct["true_alt"], ct["true_az"])[ok])
        res_sf.append(_separation(sf["reco_alt"], sf["reco_az"], sf["true_alt"], sf["true_az"])[ok])
        cores.append(
            np.hypot(ct["reco_core_x"] - sf["reco_core_x"], ct["reco_core_y"] - sf["reco_core_y"])[
                ok
            ]
        )
        hmax.append((sf["reco_h_max"] / ct["reco_h_max"])[ok])
    seps, two = np.concatenate(seps), np.concatenate(two)
    res_ct, res_sf = np.concatenate(res_ct), np.concatenate(res_sf)
    cores, hmax = np.concatenate(cores), np.concatenate(hmax)
    print(
        f"{len(seps)} events reconstructed by both ({len(two)} with two images): separation "
        f"median {np.median(seps):.4f} deg, two images max {two.max():.4f} deg; median "
        f"distance to the true direction ctapipe {np.median(res_ct):.3f} deg, showerflow "
        f"{np.median(res_sf):.3f} deg; core difference median {np.median(cores):.1f} m; "
        f"h_max ratio median {np.median(hmax):.3f}"
    )
    assert len(seps) >= 25 and len(two) >= 8
    assert two.max() < 0.02
    assert np.median(seps) < 0.05
    assert np.median(res_sf) == pytest.approx(np.median(res_ct), rel=0.3)
    assert np.median(cores) < 5
    assert np.median(hmax) == pytest.approx(1.0, abs=0.05)


# --- bookkeeping of thrown showers -----------------------------------------------------


def test_excerpts_are_flagged_and_complete_runs_are_not():
    for path in (RUN102, RUN103, CAMFRAME):
        rec = _read(path).simulation
        assert rec[BOOKKEEPING_PROBLEM] == "" and rec["n_showers_histogram"] == 200
    for path, shower, n in ((EXCERPT, 122, 100_000), (TRUNCATED, 467, 20_000)):
        problem = _read(path, "inspect")[BOOKKEEPING_PROBLEM]
        assert problem.startswith(f"{path.name}: run obs_id=")
        assert f"n_showers = {n}" in problem and f"at or below shower {shower}" in problem
        assert "'/simulation/event/subarray/shower'" in problem
    # a complete run's showers spread over 1..N: the probability is not small
    assert thrown.excerpt_probability(np.arange(1, 20, 2), 20) > 0.01
    assert thrown.excerpt_probability([5], 4) == 0.0


def test_performance_refuses_an_excerpt_naming_the_file():
    from showerflow.performance import simulation_info

    good = _read(RUN102).simulation
    assert simulation_info([good]).n_showers == 200
    bad = _read(EXCERPT).simulation
    with pytest.raises(
        ContractError,
        match=r"dl2/gamma.parquet: .*gamma_test.dl1.h5: run obs_id=31964 has no thrown-shower histogram",
    ):
        simulation_info([bad], "dl2/gamma.parquet")


def test_catalog_keeps_the_flag():
    table, bad = cat.build_catalog(
        [str(RUN103), str(EXCERPT)], spec={"format": "ctapipe_hdf5", "format_options": OPTS}
    )
    assert bad == [] and len(table) == 2
    flags = dict(zip(table["name"], table[BOOKKEEPING_PROBLEM], strict=True))
    assert flags[RUN103.name] == "" and "excerpt or truncated" in flags[EXCERPT.name]
    assert set(table["image_frame"]) == {"telescope"}


def test_frame_problems_name_the_odd_files():
    rows = pd.DataFrame(
        {
            "path": ["a.h5", "b.h5", "c.h5", "d.root"],
            "image_frame": ["telescope", "camera", "telescope", None],
            "obs_id": [1, 2, 3, 4],
        }
    )
    (problem,) = cat.frame_problems(rows, "gamma")
    assert problem["file"] == "b.h5"
    assert problem["reason"].startswith(
        "image parameters are in the camera frame, but a.h5 (and 1 more) of dataset 'gamma' "
        "are in the telescope frame"
    )
    assert cat.frame_problems(rows.drop(columns="image_frame"), "gamma") == []
    assert cat.frame_problems(rows.iloc[[0, 2, 3]], "gamma") == []


# --- bad input -----------------------------------------------------------------------------


def _copy(src, tmp_path, name=None):
    dst = tmp_path / (name or src.name)
    shutil.copy(src, dst)
    dst.chmod(0o644)
    return dst


def _attrs(path, node):
    h5 = tables.open_file(str(path), "a")
    return h5, h5.get_node(node).attrs


def _field(node, column):
    """The CTAFIELD index of a column: its position in the table."""
    return node.coldescrs[column]._v_pos


def test_unsupported_data_model_version(tmp_path):
    path = _copy(RUN103, tmp_path)
    with tables.open_file(str(path), "a") as h5:
        h5.root._v_attrs["CTA PRODUCT DATA MODEL VERSION"] = "v3.0.0"
    with pytest.raises(ContractError) as err:
        FMT.inspect(path, OPTS)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "'v3.0.0'" in msg
    assert "v1.0.0, v4.0.0, v5.0.0, v5.1.0, v6.0.0, v7.0.0, v7.1.0" in msg
    with tables.open_file(str(path), "a") as h5:
        del h5.root._v_attrs["CTA PRODUCT DATA MODEL VERSION"]
    with pytest.raises(ContractError, match="'CTA PRODUCT DATA MODEL VERSION' missing"):
        FMT.read(path, OPTS)


PARAMETERS_028 = "/dl1/event/telescope/parameters/tel_028"


@pytest.mark.parametrize(
    ("node", "column", "unit", "expected"),
    [
        (
            PARAMETERS_028,
            "hillas_length",
            None,
            "has no unit .*expected a unit convertible to 'deg'",
        ),
        (PARAMETERS_028, "hillas_length", "kg", "has unit 'kg' .*not convertible to 'deg'"),
        (
            PARAMETERS_028,
            "hillas_psi",
            "furlong/fortnight!",
            "has unit .*which astropy cannot parse; expected a unit convertible to 'deg'",
        ),
        (
            "/configuration/simulation/run",
            "energy_range_min",
            "m",
            "has unit 'm' .*not convertible to 'TeV'",
        ),
        (
            "/simulation/event/subarray/shower",
            "true_core_x",
            None,
            "has no unit .*convertible to 'm'",
        ),
        (
            "/dl2/event/subarray/geometry/HillasReconstructor",
            "HillasReconstructor_alt",
            "m",
            "has unit 'm' .*not convertible to 'deg'",
        ),
        (
            "/dl2/event/telescope/impact/HillasReconstructor/tel_028",
            "HillasReconstructor_tel_impact_distance",
            "deg",
            "has unit 'deg' .*not convertible to 'm'",
        ),
    ],
)
def test_bad_units(tmp_path, node, column, unit, expected):
    path = _copy(RUN103, tmp_path)
    with tables.open_file(str(path), "a") as h5:
        table = h5.get_node(node)
        i = _field(table, column)
        if unit is None:
            del table.attrs[f"CTAFIELD_{i}_UNIT"]
        else:
            table.attrs[f"CTAFIELD_{i}_UNIT"] = unit
    with pytest.raises(ContractError, match=f"table '{node}' column '{column}' {expected}") as err:
        FMT.read(path, OPTS)
    assert str(err.value).startswith(f"{path}: ")


def test_header_disagreeing_with_histogram(tmp_path):
    path = _copy(RUN102, tmp_path)
    with tables.open_file(str(path), "a") as h5:
        node = h5.get_node("/simulation/service/shower_distribution")
        node.modify_column(column=np.array([150]), colname="n_entries")
    rec = FMT.read(path, OPTS).simulation
    assert rec[BOOKKEEPING_PROBLEM] == (
        f"{path.name}: run obs_id=102: table '/simulation/service/shower_distribution' counts "
        "150 thrown showers, the run header says n_showers x shower_reuse = 20 x 10 = 200; an "
        "excerpt or truncated run (expected the two to agree)"
    )
    from showerflow.performance import simulation_info

    with pytest.raises(ContractError, match="counts 150 thrown showers"):
        simulation_info([rec], str(path))


def _add_run(path, obs_id, **change):
    """Append a copy of the run row with another obs_id (a file merged from two runs)."""
    with tables.open_file(str(path), "a") as h5:
        node = h5.get_node("/configuration/simulation/run")
        row = node.read()
        row["obs_id"] = obs_id
        for key, value in change.items():
            row[key] = value
        node.append(row)


def test_merged_runs_must_agree(tmp_path):
    path = _copy(RUN102, tmp_path)
    _add_run(path, 999)
    d = FMT.read(path, OPTS)
    assert d.simulation["n_runs"] == 2 and d.simulation["n_showers"] == 40
    assert [r["obs_id"] for r in d.extra["runs"]] == [102, 999]
    # the DL2 of a merged file carries one record per run
    assert [r["obs_id"] for r in stages.run_records(d)] == [102, 999]
    other = _copy(RUN102, tmp_path, "scatter.dl1.h5")
    _add_run(other, 999, max_scatter_range=2500.0)
    with pytest.raises(
        ContractError,
        match="merged runs disagree on 'max_scatter_range'.*2000.0 in obs_id \\[102\\]; 2500.0 in obs_id \\[999\\]",
    ):
        FMT.read(other, OPTS)
    cone = _copy(RUN102, tmp_path, "cone.dl1.h5")
    _add_run(cone, 999, max_viewcone_radius=10.0)
    with pytest.raises(ContractError, match="scatter|viewcone_max"):
        FMT.read(cone, OPTS)


def test_frame_mix_stops_the_catalog(tmp_path):
    folder = tmp_path / "dl1"
    folder.mkdir()
    for src in (RUN103, CAMFRAME):
        _copy(src, folder)
    spec = {
        "folders": [str(folder)],
        "pattern": "*.dl1.h5",
        "roles": {"energy": 0.5, "classification": 0.5, "performance": 0.0},
        "identity": "name",
        "format": "ctapipe_hdf5",
        "format_options": OPTS,
    }
    out = tmp_path / "catalog.parquet", tmp_path / "catalog.json"
    with pytest.raises(
        ContractError,
        match="image parameters are in the .* frame, but .* are in the .* frame; expected one frame",
    ):
        stages.run_catalog("gamma", spec, *map(str, out))
    table = stages.run_catalog("gamma", spec, *map(str, out), skip_bad_files=True)
    summary = stages.read_summary(out[1])
    assert len(table) == 1 and len(summary["bad_files"]) == 1


def test_focal_length_choice_is_asked_for():
    # prod2/prod3 files have no effective focal length: ctapipe's default EFFECTIVE fails
    with pytest.raises(
        ContractError,
        match="no effective focal length .*set format_options.focal_length_choice: EQUIVALENT",
    ):
        FMT.read(EXCERPT)
    with pytest.raises(ContractError, match="v1.0.0 files hold only the equivalent focal length"):
        FMT.read(
            SHARED / "real" / "aict-tools" / "cta_protons.dl1.h5",
            {"focal_length_choice": "EFFECTIVE"},
        )


def test_missing_tables(tmp_path):
    path = _copy(RUN103, tmp_path)
    with tables.open_file(str(path), "a") as h5:
        h5.remove_node("/simulation/event/subarray/shower")
    with pytest.raises(ContractError, match="table '/simulation/event/subarray/shower' missing"):
        FMT.read(path, OPTS)
    path = _copy(RUN103, tmp_path, "nogeom.dl1.h5")
    with tables.open_file(str(path), "a") as h5:
        h5.remove_node("/dl2", recursive=True)
    d = FMT.read(path, OPTS)  # no ctapipe geometry: showerflow's stereo
    assert d.extra["geometry"] == "showerflow.stereo" and np.isfinite(d.events["reco_alt"]).any()
