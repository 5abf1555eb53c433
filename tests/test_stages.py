"""Stages on files, as the rules and the CLI run them: numbers, not only files."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from showerflow import stages
from showerflow.contracts import DL2_COLUMNS, ContractError
from showerflow.dl1 import inspect_dl1, read_events
from showerflow.tables import read_table

MODELS = REPO / "config" / "models"


def _batch(files, folder, naming="uuid", max_events=None):
    """A batch record of given files, outputs in ``folder`` (as ``showerflow`` by hand)."""
    return stages.batch_of_files(files, str(folder), naming, max_events=max_events)


def _outputs(summary):
    return [o["output"] for o in summary["outputs"] if o["status"] == "ok"]


def _train(files, folder, name, config, energy_model=None):
    summary = stages.run_training_data(
        _batch(files, folder / name), folder / name, energy_model=energy_model
    )
    stages.run_train(
        _outputs(summary),
        MODELS / config,
        folder / f"{name}.joblib",
        folder / f"{name}.metrics.json",
    )
    return folder / f"{name}.joblib"


@pytest.fixture(scope="module")
def trained(small_production, tmp_path_factory):
    """Energy model and classifier trained on the small production."""
    out = tmp_path_factory.mktemp("models")
    g, p = small_production["gamma"], small_production["proton"]
    d = small_production["gamma_diffuse"]
    energy = _train(g[:1] + d[:1], out, "energy", "energy.yaml")
    _train(g[1:2] + d[1:] + p[:2], out, "classifier", "classifier.yaml", energy_model=energy)
    return out


def test_catalog_stage_writes_roles(small_production, tmp_path):
    folder = str(Path(small_production["gamma"][0]).parent)
    spec = {
        "folders": [folder],
        "pattern": "*.root",
        "query": 'particle == "gamma"',
        "roles": {"energy": 0.0, "classification": 0.0, "performance": 1.0},
        "identity": "uuid",
    }
    table = stages.run_catalog("g", spec, tmp_path / "c.parquet", tmp_path / "c.json")
    assert len(table) == 3
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["roles"]["performance"] == sorted(small_production["gamma"])
    assert summary["roles"]["energy"] == []
    back, meta = read_table(tmp_path / "c.parquet")
    assert meta["dataset"] == "g"
    assert back["n_showers"].sum() == 3 * 60_000
    # test mode keeps the first files of each role
    stages.run_catalog("g", spec, tmp_path / "t.parquet", tmp_path / "t.json", max_files=2)
    assert (
        json.loads((tmp_path / "t.json").read_text())["roles"]["performance"]
        == sorted(small_production["gamma"])[:2]
    )


def test_training_table_joins_events(small_production, tmp_path):
    path = small_production["gamma"][0]
    summary = stages.run_training_data(_batch([path], tmp_path / "t"), tmp_path / "t")
    (rec,) = summary["outputs"]
    df, meta = read_table(rec["output"])
    info = inspect_dl1(path)
    assert Path(rec["output"]).name == f"{info['uuid']}.parquet"
    assert len(df) == info["n_images"] == rec["n_rows"]
    assert meta["n_events_in"] == info["n_events"]
    assert (df["particle"] == "gamma").all()
    assert (df["file_uuid"] == info["uuid"]).all()
    assert meta["input"] == path
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


def test_outputs_named_by_file_name(small_production, tmp_path):
    path = small_production["electron"][0]
    summary = stages.run_training_data(
        _batch([path], tmp_path, naming="name", max_events=100), tmp_path
    )
    out = summary["outputs"][0]["output"]
    assert Path(out).name == Path(path).name.replace(".root", ".parquet")
    assert read_table(out)[1]["n_events_in"] == 100


def test_models_have_metrics(trained):
    e = json.loads((trained / "energy.metrics.json").read_text())
    c = json.loads((trained / "classifier.metrics.json").read_text())
    assert e["r2"] > 0.8
    assert c["roc_auc"] > 0.8
    assert set(e["feature_importances"]) == {"LST", "MST"}


def test_dl2_one_row_per_event_with_records(small_production, trained, tmp_path):
    files = small_production["electron"]
    summary = stages.run_dl2(
        _batch(files, tmp_path),
        trained / "energy.joblib",
        trained / "classifier.joblib",
        tmp_path,
    )
    (rec,) = summary["outputs"]
    dl2, meta = read_table(rec["output"])
    assert list(dl2.columns) == list(DL2_COLUMNS)
    assert len(dl2) == inspect_dl1(files[0])["n_events"]
    assert [r["obs_id"] for r in meta["simulation"]] == [inspect_dl1(files[0])["obs_id"]]
    assert set(meta["models"]) == {"energy", "classifier"}
    ok = dl2["reco_energy"].notna()
    assert ok.mean() > 0.9
    ratio = np.log10(dl2.loc[ok, "reco_energy"] / dl2.loc[ok, "true_energy"])
    assert abs(np.median(ratio)) < 0.1
    assert dl2["gammaness"].dropna().between(0, 1).all()
    assert dl2["gammaness"].notna().mean() > 0.9


def test_bad_file_in_batch(small_production, trained, tmp_path):
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not root")
    good = small_production["electron"]
    batch = _batch(good, tmp_path / "out")
    batch["files"].append(str(bad))  # a file that went bad after the catalog saw it
    batch["outputs"][str(bad)] = str(tmp_path / "out" / "bad.parquet")
    args = (trained / "energy.joblib", trained / "classifier.joblib")
    with pytest.raises(ContractError, match="bad.root"):
        stages.run_dl2(batch, *args, tmp_path / "s1")
    assert not (tmp_path / "s1" / "batch.json").exists()
    assert not (tmp_path / "s1" / "bad.parquet").exists()
    summary = stages.run_dl2(batch, *args, tmp_path / "s2", skip_bad_files=True)
    ok, failed = summary["outputs"]
    assert ok["status"] == "ok" and ok["n_rows"] > 0
    assert failed["file"] == str(bad) and failed["status"] == "failed"
    assert failed["reason"].startswith("not a readable ROOT file")
    # the failure is a tombstone: no rows, the reason in its metadata, and the plan sees it
    tomb, meta = read_table(tmp_path / "s2" / "bad.parquet")
    assert len(tomb) == 0 and meta["status"] == "failed" and meta["input"] == str(bad)
    good_out, tombs = stages.split_tombstones(
        [tmp_path / "s2" / Path(ok["output"]).name, tmp_path / "s2" / "bad.parquet"]
    )
    assert len(good_out) == 1 and tombs[0]["reason"] == failed["reason"]


def test_merge_keeps_events_and_records_and_refuses_double_runs(
    small_production, trained, tmp_path
):
    g = small_production["gamma"]
    parts = []
    for files in [g[:2], g[2:]]:
        summary = stages.run_dl2(
            _batch(files, tmp_path / "dl2"),
            trained / "energy.joblib",
            trained / "classifier.joblib",
            tmp_path / "dl2",
        )
        parts += _outputs(summary)
    parts = sorted(parts)
    receipt = tmp_path / "receipt.json"
    stages.run_merge(parts[::-1], tmp_path / "m.parquet", "gamma", receipt=receipt)
    merged, meta = read_table(tmp_path / "m.parquet")
    expect = pd.concat([read_table(p)[0] for p in parts], ignore_index=True)
    # the receipt records what was merged, as the drift check will stat it
    from showerflow.bookkeeping import file_state

    assert json.loads(receipt.read_text())["outputs"] == {p: file_state(p) for p in parts}
    pd.testing.assert_frame_equal(merged, expect)
    assert sorted(r["obs_id"] for r in meta["simulation"]) == sorted(
        inspect_dl1(f)["obs_id"] for f in g
    )
    assert sorted(meta["inputs"]) == sorted(g)
    with pytest.raises(ContractError, match="also in"):
        stages.run_merge([parts[0], parts[0]], tmp_path / "dup.parquet")
    assert not (tmp_path / "dup.parquet").exists()


def test_acceptance_stops_a_thin_merge():
    failed = [{"file": "f9", "reason": "tree 'images' missing"}]
    summary = {"bad_files": [{"file": "g0", "reason": "not ROOT"}]}
    with pytest.raises(
        ContractError, match=r"(?s)81.8% of the 11 files.*f9 \(dl2\): tree 'images'"
    ):
        stages.acceptance_check("proton", 10, failed, summary, 1.0)
    left = stages.acceptance_check("proton", 10, failed, summary, 0.8)
    assert [x["file"] for x in left] == ["f9", "g0"]


def test_dl2_streamed_in_chunks_equals_whole_file(small_production, trained, tmp_path):
    """Chunked DL2 is bit-identical to the whole file at once; one row group per chunk."""
    import pyarrow.parquet as pq

    files = small_production["proton"][:1]
    args = (trained / "energy.joblib", trained / "classifier.joblib")
    whole = stages.run_dl2(_batch(files, tmp_path / "w"), *args, tmp_path / "w", chunk_size=None)
    small = stages.run_dl2(_batch(files, tmp_path / "s"), *args, tmp_path / "s", chunk_size=50)
    a, meta_a = read_table(whole["outputs"][0]["output"])
    b, meta_b = read_table(small["outputs"][0]["output"])
    n = inspect_dl1(files[0])["n_events"]
    assert len(a) == len(b) == n > 100
    assert a["gammaness"].notna().sum() > 0.9 * n
    for col in DL2_COLUMNS:
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    assert meta_a["n_rows"] == meta_b["n_rows"] == n
    assert meta_a["simulation"] == meta_b["simulation"]
    assert pq.ParquetFile(small["outputs"][0]["output"]).num_row_groups == -(-n // 50)


def test_dl2_logs_progress_with_counts_and_rates(small_production, trained, tmp_path, caplog):
    files = small_production["gamma"][:2]
    n = sum(inspect_dl1(f)["n_events"] for f in files)
    with caplog.at_level("INFO", logger="showerflow"):
        stages.run_dl2(
            _batch(files, tmp_path),
            trained / "energy.joblib",
            trained / "classifier.joblib",
            tmp_path,
        )
    lines = [r.getMessage() for r in caplog.records if "events/s" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("1/2 files, ")
    assert lines[1].startswith(f"2/2 files, {n} events, ")
    rate = float(lines[1].split(", ")[2].split()[0])
    assert rate > 0


def test_training_sample_is_bounded_and_trains_the_same_model(trained, tmp_path):
    """Streaming the sample gives the showers (and so the forests) train() would pick."""
    from showerflow import models

    paths = sorted(str(p) for p in (trained / "energy").glob("*.parquet"))
    cfg = models.load_model_config(MODELS / "energy.yaml")
    cfg.update(max_events_per_tel_type=150, test_fraction=0.3)
    cfg["estimator"]["parameters"].update(n_estimators=5)
    cols = sorted(set(pd.read_parquet(paths[0]).columns) - {"particle", "file_uuid"})
    cols += ["particle"]
    whole = pd.concat([read_table(p, columns=cols)[0] for p in paths], ignore_index=True)
    sample = stages.read_training_sample(paths, cols, cfg, batch_size=97)
    keys = models.shower_keys
    assert sample.attrs["n_images_in"] == len(whole) > 3 * len(sample)
    assert sample.attrs["n_showers_in"] == len(np.unique(keys(whole)))
    test = models.shower_test_mask(sample["obs_id"], sample["event_id"], 0.3, cfg["seed"])
    assert len(np.unique(keys(sample[test]))) == 150
    for tel_type in ("LST", "MST"):
        sel = ~test & (sample["tel_type"] == tel_type).to_numpy()
        assert len(np.unique(keys(sample[sel]))) == 150
    # the same forests as training on the whole table: same showers sampled
    a, b = models.train(whole, cfg), models.train(sample, cfg)
    probe = whole.iloc[::7]
    np.testing.assert_array_equal(models.predict_images(a, probe), models.predict_images(b, probe))
    # reproducible: a second read gives the same rows
    again = stages.read_training_sample(paths, cols, cfg, batch_size=1000)
    pd.testing.assert_frame_equal(sample, again)


@pytest.fixture(scope="module")
def forests(trained, tmp_path_factory):
    """The random forests (the models' former default) trained on the same tables."""
    out = tmp_path_factory.mktemp("forests")
    examples = REPO / "config" / "examples" / "models"
    for name, yaml_name in (("energy", "random-forest-energy.yaml"),
                            ("classifier", "random-forest-classifier.yaml")):  # fmt: skip
        tables = sorted(str(t) for t in (trained / name).glob("*.parquet"))
        stages.run_train(tables, examples / yaml_name,
                         out / f"{name}.joblib", out / f"{name}.metrics.json", n_jobs=2)  # fmt: skip
    return out


@pytest.mark.parametrize("which", ["default", "random_forest"])
def test_dl2_bytes_do_not_depend_on_threads(
    which, small_production, trained, forests, tmp_path, monkeypatch
):
    """DL2 with 1 and 2 prediction threads writes byte-identical files: the rows are
    split over two threads (each block on one thread), and every row is computed as on
    one thread, for the default models and for forests (whose own n_jobs would not be)."""
    from showerflow import models

    folder = trained if which == "default" else forests
    files = small_production["gamma"][:1] + small_production["proton"][:1]
    args = (folder / "energy.joblib", folder / "classifier.joblib")
    # the same folder for both runs: the outputs' metadata names their paths
    out = tmp_path / "dl2"
    one = stages.run_dl2(_batch(files, out), *args, out, n_jobs=1)
    first = {o["output"]: Path(o["output"]).read_bytes() for o in one["outputs"]}
    dl2 = read_table(one["outputs"][0]["output"])[0]
    shutil.rmtree(out)
    blocks = []
    score = models._score
    monkeypatch.setattr(models, "MIN_ROWS_PER_THREAD", 200)
    monkeypatch.setattr(models, "_score", lambda e, X, k: blocks.append(len(X)) or score(e, X, k))
    two = stages.run_dl2(_batch(files, out), *args, out, n_jobs=2)
    # 2 files x 2 models x 2 telescope types, each in 2 blocks
    assert len(blocks) == 16 and min(blocks) >= 200
    assert [o["output"] for o in two["outputs"]] == list(first)
    for o in two["outputs"]:
        assert Path(o["output"]).read_bytes() == first[o["output"]]
    assert dl2["gammaness"].notna().mean() > 0.9


def test_train_classifier_without_reco_energy(small_production, tmp_path):
    """A classifier whose features use no energy trains on tables without reco_energy
    (no energy model applied); its per-energy metrics are empty, with a note."""
    import yaml

    g, p = small_production["gamma"], small_production["proton"]
    tables = _outputs(
        stages.run_training_data(_batch(g[:1] + p[:2], tmp_path / "t"), tmp_path / "t")
    )
    assert "reco_energy" not in pd.read_parquet(tables[0])
    cfg = yaml.safe_load((MODELS / "classifier.yaml").read_text())
    cfg["features"] = [f for f in cfg["features"] if "reco_energy" not in f]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    metrics = stages.run_train(
        tables, tmp_path / "c.yaml", tmp_path / "c.joblib", tmp_path / "c.json"
    )
    assert metrics["roc_auc"] > 0.8
    assert metrics["bins"]["roc_auc"] == [] and metrics["bins"]["reco_energy_low"] == []
    assert "no reco_energy" in json.loads((tmp_path / "c.json").read_text())["note"]
    # a feature that needs the energy still needs it, and says which column is missing
    cfg["features"].append("log10_reco_energy")
    (tmp_path / "c2.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ContractError, match="column 'reco_energy' missing"):
        stages.run_train(tables, tmp_path / "c2.yaml", tmp_path / "c2.joblib", tmp_path / "m.json")


def test_batch_folder_appears_whole_and_only_dead_writers_parts_are_removed(tmp_path):
    """A batch writes into <staging>.part-<pid> and renames it when done; a part left by a
    process no longer running is removed, one of a running writer (by hand, the same
    output folder) is left alone."""
    import subprocess

    staging = tmp_path / ".batches" / "b1"
    staging.parent.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (staging.parent / f"b1.part-{dead.pid}").mkdir()  # left by a killed batch
    alive = staging.parent / f"b1.part-{os.getppid()}"  # another writer, still running
    alive.mkdir()
    batch = {
        "id": "b1",
        "files": ["in/a.dl1"],
        "outputs": {"in/a.dl1": str(tmp_path / "out" / "a.parquet")},
        "checksums": {"in/a.dl1": "00000001"},
        "requires": {"settings": {"naming": "name"}},
    }
    seen = []

    def make(path):
        seen.append(sorted(p.name for p in staging.parent.iterdir()))
        return pd.DataFrame({"x": [1, 2]}), {"n_events_in": 2, "uuid": None}

    summary = stages.process_batch(batch, staging, make)
    assert summary["outputs"][0]["status"] == "ok"
    assert f"b1.part-{dead.pid}" not in seen[0] and "b1" not in seen[0]  # not yet there
    assert sorted(p.name for p in staging.iterdir()) == ["a.parquet", "batch.json"]
    assert sorted(p.name for p in staging.parent.iterdir()) == ["b1", alive.name]
