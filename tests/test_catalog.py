"""Catalog: roles by file identity, batches, bookkeeping consistency."""

import json
import uuid
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import read_trees, renumber, write_root

from showerflow import catalog as cat
from showerflow.contracts import ContractError


def test_identity_fraction_is_uniform_and_stable():
    ids = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(20000)]
    x = np.array([cat.identity_fraction(i) for i in ids])
    assert 0 <= x.min() and x.max() < 1
    assert abs(x.mean() - 0.5) < 0.01
    counts, _ = np.histogram(x, bins=10, range=(0, 1))
    assert counts.min() > 1800 and counts.max() < 2200
    assert cat.identity_fraction(ids[0]) == x[0]


def test_roles_follow_fractions_and_never_move():
    fractions = {"energy": 0.1, "classification": 0.1, "performance": 0.8}
    old = [f"run{i:06d}.root" for i in range(10000)]
    roles_old = cat.assign_roles(old, fractions)
    share = pd.Series(roles_old).value_counts(normalize=True)
    assert share["energy"] == pytest.approx(0.1, abs=0.015)
    assert share["classification"] == pytest.approx(0.1, abs=0.015)
    assert share["performance"] == pytest.approx(0.8, abs=0.015)
    new = [f"run{i:06d}.root" for i in range(10000, 12000)]
    roles_all = cat.assign_roles(new[:1000] + old + new[1000:], fractions)
    assert roles_all[1000 : 1000 + len(old)] == roles_old


def test_zero_fraction_role_gets_nothing():
    roles = cat.assign_roles(
        [f"f{i}" for i in range(2000)], {"energy": 0.0, "classification": 0.4, "performance": 0.6}
    )
    assert "energy" not in roles


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        cat.assign_roles(["a"], {"energy": 0.5, "classification": 0.1, "performance": 0.1})


def test_batches():
    files = [f"f{i}" for i in range(10)]
    b = cat.make_batches(files, 4)
    assert [len(x) for x in b] == [4, 4, 2]
    assert sum(b, []) == files
    assert cat.make_batches([], 4) == []


def test_adler32_matches_zlib(tmp_path):
    p = tmp_path / "x.bin"
    data = np.random.default_rng(1).bytes(3 << 20)
    p.write_bytes(data)
    assert cat.adler32(p, chunk=1 << 16) == f"{zlib.adler32(data):08x}"


def test_catalog_of_production(small_production):
    paths = small_production["gamma"] + small_production["proton"]
    table, bad = cat.build_catalog(paths)
    assert bad == []
    assert len(table) == len(paths)
    assert table["uuid"].is_unique
    protons = cat.select(table, 'particle == "proton"')
    assert set(protons["path"]) == set(small_production["proton"])
    with pytest.raises(ValueError, match="dataset query"):
        cat.select(table, "no_such_column == 3")


def test_bookkeeping_disagreement_names_file_and_key(tmp_path, small_production):
    good = small_production["gamma"]
    trees = read_trees(good[0])
    trees["simulation"]["energy_max"] = trees["simulation"]["energy_max"] * 2
    renumber(trees, 999)
    odd = write_root(tmp_path / "odd_run.root", trees)
    table, _ = cat.build_catalog(good + [str(odd)])
    with pytest.raises(ContractError, match=r"odd_run.root: simulation.energy_max = .* disagrees"):
        cat.check_bookkeeping(table, "gamma")


def test_bad_file_skipped_or_raised(tmp_path, small_production):
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"\0" * 1000)
    paths = small_production["electron"] + [str(bad)]
    with pytest.raises(ContractError, match="bad.root"):
        cat.build_catalog(paths)
    table, skipped = cat.build_catalog(paths, skip_bad_files=True)
    assert len(table) == len(small_production["electron"])
    assert skipped[0]["file"] == str(bad) and "ROOT" in skipped[0]["reason"]


def test_odd_run_is_named_even_when_it_sorts_first(tmp_path, small_production):
    good = small_production["gamma"]
    trees = read_trees(good[0])
    trees["simulation"]["spectral_index"] = np.array([-2.5])
    renumber(trees, 998)
    odd = write_root(tmp_path / "a_first.root", trees)
    table, _ = cat.build_catalog([str(odd)] + good)
    problems = cat.bookkeeping_problems(table, "gamma")
    assert [p["file"] for p in problems] == [str(odd)]
    assert "spectral_index" in problems[0]["reason"]


def test_repeated_run_number_is_a_problem(tmp_path, small_production):
    good = small_production["gamma"]
    copy = tmp_path / "copy_of_run.root"
    copy.write_bytes(open(good[0], "rb").read())
    table, _ = cat.build_catalog(good + [str(copy)])
    problems = cat.bookkeeping_problems(table, "gamma")
    assert [p["file"] for p in problems] == [str(copy)]
    assert "also" in problems[0]["reason"]


def test_catalog_stage_skips_disagreeing_run_when_asked(tmp_path, small_production):
    from showerflow.stages import run_catalog

    folder = tmp_path / "g"
    folder.mkdir()
    for f in small_production["gamma"]:
        (folder / Path(f).name).symlink_to(f)
    trees = read_trees(small_production["gamma"][0])
    trees["simulation"]["max_scatter_range"] = trees["simulation"]["max_scatter_range"] / 2
    renumber(trees, 997)
    write_root(folder / "z_odd.root", trees)
    spec = {
        "folders": [str(folder)],
        "pattern": "*.root",
        "query": None,
        "identity": "uuid",
        "roles": {"energy": 0, "classification": 0, "performance": 1},
    }
    with pytest.raises(ContractError, match="z_odd.root: simulation.max_scatter_range"):
        run_catalog("g", spec, tmp_path / "c.parquet", tmp_path / "b.json")
    table = run_catalog("g", spec, tmp_path / "c.parquet", tmp_path / "b.json", skip_bad_files=True)
    assert len(table) == len(small_production["gamma"])
    bad = json.loads((tmp_path / "b.json").read_text())["bad_files"]
    assert [b["file"] for b in bad] == [str(folder / "z_odd.root")]
