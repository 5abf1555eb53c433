"""The bad-input matrix: one folder holding every kind of bad DL1 input next to good files.

The catalog (the first stage that reads every file) runs on it with ``skip_bad_files``
false (each kind alone next to the good files: one error naming the file, the tree or
table, the column or entry and what was expected; nothing written) and true (the whole
folder at once: every bad entry recorded with its reason, every good file kept, nothing
else). Good files come from the toy simulation; real files from ../shared/data/real/
(PROVENANCE.md there) are among the bad ones: a ctapipe DL1 HDF5 file and the UCI MAGIC
CSV where a ROOT file is expected, and a real ctapipe file whose true energies were made
negative, in a ctapipe dataset of real files.
"""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, write_root

from showerflow import catalog as cat
from showerflow.contracts import ContractError
from showerflow.formats import root
from showerflow.simulate import run_uuid, simulate_run, write_dl1
from showerflow.stages import run_catalog
from showerflow.workflow import dataset_files

REAL = SHARED / "real"
CTAPIPE_DL1 = REAL / "ctapipe-v7" / "dl1"
GOOD_RUNS = (1, 2, 3)
SHOWERS = 3000


def _run(obs_id, seed=11):
    return simulate_run("gamma", obs_id, SHOWERS, seed)


def _write(path, run, uuid=None):
    obs_id = int(run["simulation"]["obs_id"][0])
    return write_dl1(path, run, uuid or run_uuid("gamma", obs_id, 11))


def _trees(run, drop_tree=None, drop_column=None):
    trees = {name: dict(table) for name, table in run.items() if name != drop_tree}
    if drop_column:
        tree, col = drop_column
        del trees[tree][col]
    return trees


def _set(run, tree, col, value, entry=3):
    x = np.array(run[tree][col], copy=True)
    x[entry] = value
    run[tree][col] = x
    return run


def _mutated(obs_id, change):
    run = _run(obs_id)
    change(run)
    return run


def _reorder_images(run):
    """Images of event 0 stored after those of event 1 (each event's images together)."""
    img = run["images"]
    ev = run["events"]["event_id"]
    first, second = img["event_id"] == ev[0], img["event_id"] == ev[1]
    rest = ~(first | second)
    order = np.concatenate([np.flatnonzero(second), np.flatnonzero(first), np.flatnonzero(rest)])
    run["images"] = {k: v[order] for k, v in img.items()}


def _orphan_image(run):
    run["images"]["event_id"] = np.array(run["images"]["event_id"], copy=True)
    run["images"]["event_id"][-1] = 10**9


def _drop_images_of_one_event(run):
    img = run["images"]
    keep = img["event_id"] != run["events"]["event_id"][3]
    run["images"] = {k: v[keep] for k, v in img.items()}


def _repeat_event(run):
    ev = run["events"]
    ev["event_id"] = np.array(ev["event_id"], copy=True)
    ev["event_id"][5] = ev["event_id"][4]


def _foreign_run(run):
    for tree in ("events", "images"):
        run[tree]["obs_id"] = np.full_like(run[tree]["obs_id"], 999)


def _zero_events(run):
    for tree in ("events", "images"):
        run[tree] = {k: v[:0] for k, v in run[tree].items()}


def _two_simulation_entries(run):
    run["simulation"] = {k: np.concatenate([v, v]) for k, v in run["simulation"].items()}


# name -> (how to make it in folder `d` from a good file `g`, what the reason must say)
KINDS = {
    "not_root.root": (
        lambda p, g: p.write_bytes(np.random.default_rng(0).bytes(5000)),
        r"not a readable ROOT file \(ValueError: not a ROOT file: first four bytes are b'.*' "
        r"in file .*not_root.root\)$",
    ),
    "empty.root": (
        lambda p, g: p.write_bytes(b""),
        r"not a readable ROOT file \(OSError: expected Chunk of length \d+, received 0 bytes",
    ),
    "real_ctapipe_hdf5.root": (
        lambda p, g: shutil.copy(CTAPIPE_DL1 / "gamma_test.dl1.h5", p),
        r"not a readable ROOT file \(ValueError: not a ROOT file: first four bytes are "
        r"b'\\x89HDF'",
    ),
    "real_magic_csv.root": (
        lambda p, g: shutil.copy(REAL / "magic04.data", p),
        r"not a readable ROOT file \(ValueError: not a ROOT file: first four bytes are b'28.7'",
    ),
    "truncated.root": (
        lambda p, g: p.write_bytes(g.read_bytes()[: len(g.read_bytes()) * 2 // 3]),
        r"truncated or padded: the ROOT header says \d+ bytes, the file has \d+",
    ),
    "padded.root": (
        lambda p, g: p.write_bytes(g.read_bytes() + b"\0" * 512),
        r"truncated or padded",
    ),
    "no_images_tree.root": (
        lambda p, g: write_root(p, _trees(_run(101), drop_tree="images")),
        r"tree 'images' missing; expected trees \['simulation', 'events', 'images'\]",
    ),
    "no_true_energy.root": (
        lambda p, g: write_root(p, _trees(_run(102), drop_column=("events", "true_energy"))),
        r"tree 'events' lacks column 'true_energy' \(simulated primary energy, unit 'TeV'\)",
    ),
    "string_intensity.root": (
        lambda p, g: _write(
            p,
            _mutated(
                103,
                lambda r: r["images"].update(
                    hillas_intensity=r["images"]["hillas_intensity"].astype(str)
                ),
            ),
        ),
        r"column 'images.hillas_intensity' has dtype (object|str), expected numbers",
    ),
    "string_event_id.root": (
        lambda p, g: _write(
            p,
            _mutated(
                104,
                lambda r: r["events"].update(
                    event_id=np.char.add("ev", r["events"]["event_id"].astype(str))
                ),
            ),
        ),
        r"column 'events.event_id' holds str values such as 'ev\d+' \(dtype (object|str)\), "
        r"expected integers \(shower number within the run\)",
    ),
    "all_nan_h_max.root": (
        lambda p, g: _write(
            p,
            _mutated(
                105,
                lambda r: r["events"].update(
                    reco_h_max=np.full_like(r["events"]["reco_h_max"], np.nan)
                ),
            ),
        ),
        r"column 'events.reco_h_max' is all NaN",
    ),
    "zero_events.root": (
        lambda p, g: _write(p, _mutated(106, _zero_events)),
        r"tree 'events' has zero events",
    ),
    "two_simulation_entries.root": (
        lambda p, g: _write(p, _mutated(107, _two_simulation_entries)),
        r"tree 'simulation' has 2 entries, expected exactly 1",
    ),
    "no_showers.root": (
        lambda p, g: _write(p, _mutated(108, lambda r: _set(r, "simulation", "n_showers", 0, 0))),
        r"simulation.n_showers = 0, must be > 0",
    ),
    "energy_range_reversed.root": (
        lambda p, g: _write(
            p, _mutated(109, lambda r: _set(r, "simulation", "energy_min", 200.0, 0))
        ),
        r"simulation.energy_min must be < energy_max \(energy_min = 200.0, energy_max = 100.0\)",
    ),
    "spectral_index_positive.root": (
        lambda p, g: _write(
            p, _mutated(110, lambda r: _set(r, "simulation", "spectral_index", 2.0, 0))
        ),
        r"simulation.spectral_index must be <= -1 \(sign included\), not 2.0",
    ),
    "zenith_120.root": (
        lambda p, g: _write(p, _mutated(111, lambda r: _set(r, "simulation", "zenith", 120.0, 0))),
        r"simulation.zenith = 120.0, expected a zenith angle in \[0, 90\] deg",
    ),
    "energy_inf.root": (
        lambda p, g: _write(p, _mutated(112, lambda r: _set(r, "events", "true_energy", np.inf))),
        r"tree 'events' column 'true_energy': entry 3 \(obs_id=112 event_id=\d+\) is inf, "
        r"expected a finite energy > 0 TeV",
    ),
    "energy_nan.root": (
        lambda p, g: _write(p, _mutated(113, lambda r: _set(r, "events", "true_energy", np.nan))),
        r"tree 'events' column 'true_energy': entry 3 \(obs_id=113 event_id=\d+\) is nan",
    ),
    "energy_negative.root": (
        lambda p, g: _write(p, _mutated(114, lambda r: _set(r, "events", "true_energy", -1.5))),
        r"column 'true_energy': entry 3 \(obs_id=114 event_id=\d+\) is -1.5, expected a "
        r"finite energy > 0 TeV",
    ),
    "energy_zero.root": (
        lambda p, g: _write(p, _mutated(115, lambda r: _set(r, "events", "true_energy", 0.0))),
        r"column 'true_energy': entry 3 \(obs_id=115 event_id=\d+\) is 0.0",
    ),
    "alt_95.root": (
        lambda p, g: _write(p, _mutated(116, lambda r: _set(r, "events", "true_alt", 95.0))),
        r"tree 'events' column 'true_alt': entry 3 .* is 95.0, expected an altitude in "
        r"\[-90, 90\] deg",
    ),
    "az_400.root": (
        lambda p, g: _write(p, _mutated(117, lambda r: _set(r, "events", "reco_az", 400.0))),
        r"tree 'events' column 'reco_az': entry 3 .* is 400.0, expected an azimuth in "
        r"\[-360, 360\] deg",
    ),
    "negative_intensity.root": (
        lambda p, g: _write(
            p, _mutated(118, lambda r: _set(r, "images", "hillas_intensity", -20.0, 7))
        ),
        r"tree 'images' column 'hillas_intensity': entry 7 \(obs_id=118 event_id=\d+ "
        r"tel_id=\d+\) is -20.0, expected a charge >= 0 p.e.",
    ),
    "multiplicity_zero.root": (
        lambda p, g: _write(p, _mutated(119, lambda r: _set(r, "events", "multiplicity", 0))),
        r"tree 'events' column 'multiplicity': entry 3 .* is 0, expected at least 1 telescope",
    ),
    "orphan_image.root": (
        lambda p, g: _write(p, _mutated(120, _orphan_image)),
        r"tree 'images': entry \d+ \(obs_id=120 event_id=1000000000 tel_id=\d+\) belongs "
        r"to no event of tree 'events'",
    ),
    "images_out_of_order.root": (
        lambda p, g: _write(p, _mutated(121, _reorder_images)),
        r"tree 'images': entry \d+ \(obs_id=121 event_id=\d+ tel_id=\d+\) comes after an image "
        r"of a later event \(obs_id=121 event_id=\d+\); tree 'images' must hold each event's "
        r"images together, in the order of tree 'events'",
    ),
    "event_without_images.root": (
        lambda p, g: _write(p, _mutated(126, _drop_images_of_one_event)),
        r"tree 'events': entry 3 \(obs_id=126 event_id=\d+\) has no image among image "
        r"entries \d+ to \d+, expected at least one",
    ),
    "foreign_run.root": (
        lambda p, g: _write(p, _mutated(122, _foreign_run)),
        r"tree 'events' column 'obs_id': entry 0 .* is 999, expected the file's run "
        r"obs_id=122",
    ),
    "repeated_event.root": (
        lambda p, g: _write(p, _mutated(123, _repeat_event)),
        r"tree 'events' column 'event_id': entry 5 .* expected each event once",
    ),
    "bookkeeping_scatter.root": (
        lambda p, g: _write(
            p, _mutated(124, lambda r: _set(r, "simulation", "max_scatter_range", 500.0, 0))
        ),
        r"simulation.max_scatter_range = 500.0 disagrees with 1000.0 of the other runs of "
        r"dataset 'matrix'",
    ),
    "dangling_link.root": (
        lambda p, g: p.symlink_to(p.parent / "gone" / "run.root"),
        r"dangling symbolic link: its target '.*gone/run.root' does not exist",
    ),
    "link_loop.root": (
        lambda p, g: (
            p.symlink_to(p.with_name("link_loop_b.root")),
            p.with_name("link_loop_b.root").symlink_to(p),
        ),
        r"symbolic link to '.*link_loop_b.root' is a loop of links",
    ),
    "folder_not_file.root": (
        lambda p, g: p.mkdir(),
        r"is a directory matching pattern '\*.root'; expected a DL1 file",
    ),
    "z_copy_of_run1.root": (
        lambda p, g: shutil.copy(g.with_name("gamma_run00001.root"), p),
        r"run obs_id=1 is also .*/gamma_run00001.root \(a byte-identical copy of it\), which "
        r"is kept: of the files sharing a run, the catalog keeps the first path in sort order",
    ),
    "z_other_run2.root": (
        lambda p, g: _write(p, _run(2, seed=99), uuid=run_uuid("gamma", 2, 99)),
        r"run obs_id=2 is also .*/gamma_run00002.root \(other content than it\), which is kept",
    ),
    "z_same_uuid_as_run3.root": (
        lambda p, g: _write(p, _run(125), uuid=run_uuid("gamma", 3, 11)),
        r"file identity uuid=\S+ is also .*/gamma_run00003.root \(other content than it\)",
    ),
}

#: Extra entries a kind makes (the second link of the loop): bad too.
EXTRA = {"link_loop_b.root": "link_loop.root"}


def _spec(folder):
    return {
        "folders": [str(folder)],
        "pattern": "*.root",
        "query": 'particle == "gamma"',
        "identity": "uuid",
        "roles": {"energy": 0.0, "classification": 0.0, "performance": 1.0},
    }


def _good(folder):
    folder.mkdir(parents=True, exist_ok=True)
    return [_write(folder / f"gamma_run{obs:05d}.root", _run(obs)) for obs in GOOD_RUNS]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """The folder with the good files and every bad kind; and the good files."""
    folder = tmp_path_factory.mktemp("matrix") / "dl1"
    good = _good(folder)
    for name, (make, _) in KINDS.items():
        make(folder / name, good[0])
    return folder, good


def test_the_matrix_has_at_least_25_kinds(matrix):
    folder, good = matrix
    assert len(KINDS) >= 25
    names = {e.name for e in os.scandir(folder)}
    assert names == set(KINDS) | set(EXTRA) | {p.name for p in good}


def test_every_bad_input_recorded_every_good_file_kept(matrix, tmp_path):
    folder, good = matrix
    out = tmp_path / "c.parquet", tmp_path / "c.json"
    table = run_catalog("matrix", _spec(folder), *out, skip_bad_files=True)
    assert sorted(table["path"]) == sorted(map(str, good))  # 0 good files lost
    bad = {Path(b["file"]).name: b["reason"] for b in json.loads(out[1].read_text())["bad_files"]}
    assert set(bad) == set(KINDS) | set(EXTRA)  # every bad entry named, once
    wrong = {n: bad[n] for n, (_, reason) in KINDS.items() if not re.search(reason, bad[n])}
    assert wrong == {}
    assert "loop of links" in bad["link_loop_b.root"]
    # the files the workflow gives the catalog as inputs: only regular files, no raise
    config = {"datasets": {"matrix": _spec(folder)}}
    listed = dataset_files(config, "matrix")
    assert not {Path(p).name for p in listed} & {"dangling_link.root", "link_loop.root"}
    assert "folder_not_file.root" not in {Path(p).name for p in listed}
    assert set(map(str, good)) <= set(listed)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_bad_input_stops_the_catalog_naming_it(matrix, tmp_path, name):
    """Each kind alone next to the good files: one error naming it; nothing written."""
    src, good = matrix
    folder = tmp_path / "dl1"
    folder.mkdir()
    for g in good:
        (folder / g.name).symlink_to(g)
    make, reason = KINDS[name]
    make(folder / name, good[0])
    out = tmp_path / "out"
    with pytest.raises(ContractError) as err:
        run_catalog("matrix", _spec(folder), out / "c.parquet", out / "c.json")
    assert Path(err.value.path).name == name
    assert re.search(reason, err.value.problem), err.value.problem
    assert str(err.value).startswith(f"{folder / name}: ")
    assert not out.exists() or not any(out.iterdir())  # no partial output


def test_images_out_of_order_are_refused_whatever_the_chunk_size(matrix):
    folder, _ = matrix
    path = folder / "images_out_of_order.root"
    for chunk_size in (1, 7, 10**6):
        with pytest.raises(ContractError, match="images"):
            list(root.iterate(path, chunk_size=chunk_size))
    with pytest.raises(ContractError, match="comes after an image of a later event"):
        root.read(path)


def test_duplicate_run_keeps_the_first_path_whatever_the_listing_order(matrix):
    folder, good = matrix
    paths = [str(good[1]), str(folder / "z_other_run2.root")]
    for order in (paths, paths[::-1]):
        table, _ = cat.build_catalog(order)
        problems = cat.bookkeeping_problems(table, "matrix")
        assert [p["file"] for p in problems] == [paths[1]]
        assert paths[0] in problems[0]["reason"]  # both files named


def test_real_ctapipe_file_with_impossible_energies(tmp_path):
    """A real ctapipe DL1 file whose true energies were made negative is bad input."""
    tables = pytest.importorskip("tables")
    bad = tmp_path / "negative_energy.dl1.h5"
    shutil.copy(CTAPIPE_DL1 / "gamma_test.dl1.h5", bad)
    bad.chmod(0o644)
    with tables.open_file(bad, "a") as h5:
        node = h5.get_node("/simulation/event/subarray/shower")
        energy = node.col("true_energy")
        node.modify_column(column=-energy, colname="true_energy")
    spec = {"format": "ctapipe_hdf5", "format_options": {"focal_length_choice": "EQUIVALENT"}}
    table, bad_files = cat.build_catalog([bad], skip_bad_files=True, spec=spec)
    assert table.empty
    assert [b["file"] for b in bad_files] == [str(bad)]
    assert re.search(
        r"tree 'events' column 'true_energy': entry 0 \(obs_id=\d+ event_id=\d+\) is -0?\.\d+, "
        r"expected a finite energy > 0 TeV",
        bad_files[0]["reason"],
    ), bad_files[0]["reason"]
