"""Stages on files, as the rules and the CLI run them: numbers, not only files."""

import json

import numpy as np
import pandas as pd
import pytest

from showerflow import stages
from showerflow.contracts import DL2_COLUMNS, ContractError
from showerflow.dl1 import inspect_dl1, read_events
from showerflow.tables import read_table

REPO_MODELS = __import__("conftest").REPO / "config" / "models"


@pytest.fixture(scope="module")
def trained(small_production, tmp_path_factory):
    """Energy model and classifier trained on the small production."""
    out = tmp_path_factory.mktemp("models")
    g, p = small_production["gamma"], small_production["proton"]
    d = small_production["gamma_diffuse"]
    stages.run_training_data(g[:1] + d[:1], out / "e.parquet")
    stages.run_train(
        [out / "e.parquet"], REPO_MODELS / "energy.yaml", out / "energy.joblib", out / "energy.json"
    )
    stages.run_training_data(
        g[1:2] + d[1:] + p[:2], out / "c.parquet", energy_model=out / "energy.joblib"
    )
    stages.run_train(
        [out / "c.parquet"],
        REPO_MODELS / "classifier.yaml",
        out / "classifier.joblib",
        out / "classifier.json",
    )
    return out


def test_catalog_stage_writes_roles_and_batches(small_production, tmp_path):
    folder = str(__import__("pathlib").Path(small_production["gamma"][0]).parent)
    spec = {
        "folders": [folder],
        "pattern": "*.root",
        "query": 'particle == "gamma"',
        "roles": {"energy": 0.0, "classification": 0.0, "performance": 1.0},
        "identity": "uuid",
    }
    table = stages.run_catalog("g", spec, 2, tmp_path / "c.parquet", tmp_path / "b.json")
    assert len(table) == 3
    batches = json.loads((tmp_path / "b.json").read_text())["roles"]
    assert [len(b) for b in batches["performance"]] == [2, 1]
    assert batches["energy"] == []
    back, meta = read_table(tmp_path / "c.parquet")
    assert meta["dataset"] == "g"
    assert back["n_showers"].sum() == 3 * 60_000


def test_training_table_joins_events(small_production, tmp_path):
    path = small_production["gamma"][0]
    stages.run_training_data([path], tmp_path / "t.parquet")
    df, meta = read_table(tmp_path / "t.parquet")
    info = inspect_dl1(path)
    assert len(df) == info["n_images"]
    assert (df["particle"] == "gamma").all()
    assert (df["file_uuid"] == info["uuid"]).all()
    assert meta["inputs"] == [path]
    # each image carries its own event's values
    events = read_events(path)
    joined = df.merge(events, on=["obs_id", "event_id"], suffixes=("", "_event"))
    assert len(joined) == len(df)
    assert (joined["true_energy"] == joined["true_energy_event"]).all()
    assert (joined["multiplicity"] == joined["multiplicity_event"]).all()
    # multiplicity is the number of images of the event
    counts = df.groupby("event_id").size()
    first = df.groupby("event_id")["multiplicity"].first()
    assert (counts == first).all()


def test_models_have_metrics(trained):
    e = json.loads((trained / "energy.json").read_text())
    c = json.loads((trained / "classifier.json").read_text())
    assert e["r2"] > 0.8
    assert c["roc_auc"] > 0.8
    assert set(e["feature_importances"]) == {"LST", "MST"}


def test_dl2_one_row_per_event_with_records(small_production, trained, tmp_path):
    files = small_production["electron"]
    stages.run_dl2(
        files, trained / "energy.joblib", trained / "classifier.joblib", tmp_path / "b0.parquet"
    )
    dl2, meta = read_table(tmp_path / "b0.parquet")
    assert list(dl2.columns) == list(DL2_COLUMNS)
    assert len(dl2) == sum(inspect_dl1(f)["n_events"] for f in files)
    assert len(meta["simulation"]) == len(files)
    ok = dl2["reco_energy"].notna()
    assert ok.mean() > 0.9
    ratio = np.log10(dl2.loc[ok, "reco_energy"] / dl2.loc[ok, "true_energy"])
    assert abs(np.median(ratio)) < 0.1
    assert dl2["gammaness"].dropna().between(0, 1).all()
    assert dl2["gammaness"].notna().mean() > 0.9


def test_merge_keeps_events_and_records_and_refuses_double_runs(
    small_production, trained, tmp_path
):
    g = small_production["gamma"]
    parts = []
    for i, files in enumerate([g[:2], g[2:]]):
        stages.run_dl2(
            files,
            trained / "energy.joblib",
            trained / "classifier.joblib",
            tmp_path / f"b{i}.parquet",
        )
        parts.append(tmp_path / f"b{i}.parquet")
    stages.run_merge(parts, tmp_path / "m.parquet", "gamma")
    merged, meta = read_table(tmp_path / "m.parquet")
    expect = pd.concat([read_table(p)[0] for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(merged, expect)
    assert sorted(r["obs_id"] for r in meta["simulation"]) == sorted(
        inspect_dl1(f)["obs_id"] for f in g
    )
    with pytest.raises(ContractError, match="also in"):
        stages.run_merge([parts[0], parts[0]], tmp_path / "dup.parquet")
    assert not (tmp_path / "dup.parquet").exists()
