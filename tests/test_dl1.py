"""DL1 reading: the contract is checked and bad files are named with their problem."""

import numpy as np
import pandas as pd
import pytest
from conftest import read_trees, write_root

from showerflow import dl1
from showerflow.contracts import EVENT_COLUMNS, IMAGE_COLUMNS, ContractError


@pytest.fixture
def good(small_production):
    return small_production["gamma"][0]


def test_inspect_reads_bookkeeping_and_counts(good):
    info = dl1.inspect_dl1(good)
    trees = read_trees(good)
    assert info["n_events"] == len(trees["events"]["event_id"]) > 0
    assert info["n_images"] == len(trees["images"]["tel_id"])
    assert info["particle"] == "gamma"
    assert info["energy_min"] < info["energy_max"]
    assert len(info["uuid"]) == 36


def test_events_and_images_have_contract_columns(good):
    ev = dl1.read_events(good)
    im = dl1.read_images(good)
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert list(im.columns) == list(IMAGE_COLUMNS)
    assert set(im["tel_type"]) <= {"LST", "MST"}
    # every image belongs to an event
    assert np.isin(im["event_id"], ev["event_id"]).all()


def test_not_root(tmp_path):
    bad = tmp_path / "garbage.root"
    bad.write_text("this is not a ROOT file\n" * 100)
    with pytest.raises(ContractError, match="garbage.root.*not a readable ROOT file"):
        dl1.inspect_dl1(bad)


@pytest.mark.parametrize("fraction", [0.001, 0.5, 0.9, 0.99])
def test_truncated(tmp_path, good, fraction):
    data = open(good, "rb").read()
    bad = tmp_path / "truncated.root"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ContractError, match="truncated.root"):
        dl1.inspect_dl1(bad)


def test_missing_tree(tmp_path, good):
    trees = read_trees(good)
    del trees["images"]
    bad = write_root(tmp_path / "noimages.root", trees)
    with pytest.raises(ContractError, match="noimages.root: tree 'images' missing"):
        dl1.inspect_dl1(bad)


def test_missing_column(tmp_path, good):
    trees = read_trees(good)
    del trees["events"]["reco_alt"]
    bad = write_root(tmp_path / "nocol.root", trees)
    with pytest.raises(ContractError, match="nocol.root: tree 'events' lacks column 'reco_alt'"):
        dl1.inspect_dl1(bad)


def test_zero_events(tmp_path, good):
    trees = read_trees(good)
    trees["events"] = {k: v[:0] for k, v in trees["events"].items()}
    trees["images"] = {k: v[:0] for k, v in trees["images"].items()}
    bad = write_root(tmp_path / "empty.root", trees)
    with pytest.raises(ContractError, match="empty.root: tree 'events' has zero events"):
        dl1.inspect_dl1(bad)


def test_all_nan_column(tmp_path, good):
    trees = read_trees(good)
    trees["images"]["hillas_width"] = np.full_like(trees["images"]["hillas_width"], np.nan)
    bad = write_root(tmp_path / "nan.root", trees)
    with pytest.raises(ContractError, match="nan.root: column 'images.hillas_width' is all NaN"):
        dl1.inspect_dl1(bad)


def test_bad_bookkeeping_values(tmp_path, good):
    trees = read_trees(good)
    trees["simulation"]["spectral_index"] = np.array([2.0])
    bad = write_root(tmp_path / "index.root", trees)
    with pytest.raises(ContractError, match="index.root: simulation.spectral_index"):
        dl1.inspect_dl1(bad)


def test_uuid_from_header(good):
    import uproot

    with uproot.open(good) as f:
        assert dl1.file_uuid(good) == str(f.file.uuid)


@pytest.mark.parametrize("chunk_size", [29, 200, None])
def test_iterate_dl1_chunks_hold_their_events_images(good, chunk_size):
    events, images = dl1.read_events(good), dl1.read_images(good)
    chunks = list(dl1.iterate_dl1(good, chunk_size))
    n = len(events)
    assert len(chunks) == (1 if chunk_size is None else -(-n // chunk_size))
    if chunk_size:
        assert all(len(ev) == chunk_size for ev, _ in chunks[:-1])
    for ev, im in chunks:
        # the images of a chunk are exactly those of its events
        key = lambda df: set(zip(df["obs_id"], df["event_id"], strict=True))  # noqa: E731
        assert key(im) <= key(ev)
        if len(im):
            assert key(im) == key(ev[ev["multiplicity"] > 0])
    back_ev = pd.concat([ev for ev, _ in chunks], ignore_index=True)
    back_im = pd.concat([im for _, im in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(back_ev, events)
    pd.testing.assert_frame_equal(back_im, images)


def test_iterate_dl1_entry_stop(good):
    events = dl1.read_events(good, entry_stop=50)
    chunks = list(dl1.iterate_dl1(good, 20, entry_stop=50))
    assert [len(ev) for ev, _ in chunks] == [20, 20, 10]
    images = pd.concat([im for _, im in chunks])
    assert set(images["event_id"]) == set(events["event_id"])
    assert len(images) == events["multiplicity"].sum()
    assert dl1.count_events(good, entry_stop=50) == 50
    assert dl1.count_events(good) == dl1.inspect_dl1(good)["n_events"]


def test_iterate_dl1_rejects_images_out_of_event_order(tmp_path, good):
    trees = read_trees(good)
    im = trees["images"]
    # move the first event's images to the end: no longer stored in the events' order
    first = im["event_id"] == im["event_id"][0]
    order = np.concatenate([np.flatnonzero(~first), np.flatnonzero(first)])
    trees["images"] = {k: v[order] for k, v in im.items()}
    bad = write_root(tmp_path / "shuffled.root", trees)
    # found at the first chunk: its first event finds no image where its images must be
    with pytest.raises(
        ContractError,
        match=r"shuffled.root: tree 'events': entry 0 .* has no image among image entries "
        r"0 to \d+, .*in the order of tree 'events'",
    ):
        for _ in dl1.iterate_dl1(bad, 25):
            pass
