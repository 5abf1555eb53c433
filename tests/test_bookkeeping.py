"""Bookkeeping: classification of per-file outputs, plans, drift of outputs."""

import json
import os

import pandas as pd
import pytest

from showerflow import bookkeeping as bk
from showerflow.stages import write_json
from showerflow.tables import write_table


def _inputs(n):
    return pd.DataFrame(
        {
            "path": [f"/dl1/run{i}.root" for i in range(n)],
            "uuid": [f"00000000-0000-0000-0000-{i:012d}" for i in range(n)],
            "name": [f"run{i}.root" for i in range(n)],
            "n_events": [100] * n,
        }
    )


def _write(
    folder, row, n_in=100, columns=("obs_id", "event_id", "reco_energy", "gammaness"), models=None
):
    df = pd.DataFrame({c: range(3) for c in columns})
    meta = {"n_events_in": n_in, "n_rows": 3, **({"models": models} if models else {})}
    path = bk.output_path(folder, row["uuid"], row["name"], "uuid")
    write_table(df, path, metadata=meta)
    return path


def test_output_naming_conventions():
    assert bk.output_id("abc-1", "gamma_run00001.root", "uuid") == "abc-1"
    assert bk.output_id("abc-1", "gamma_run00001.root", "name") == "gamma_run00001"
    with pytest.raises(ValueError, match="naming"):
        bk.output_id("a", "b", "md5")


def test_classify_every_status(tmp_path):
    inputs = _inputs(7)
    rows = inputs.to_dict("records")
    req = {"models": {"energy": "aaa", "classifier": "bbb"}}
    _write(tmp_path, rows[0], models=req["models"])  # processed
    # rows[1]: no output                                                    -> unprocessed
    bk_path = bk.output_path(tmp_path, rows[2]["uuid"], rows[2]["name"], "uuid")
    open(bk_path, "wb").write(b"PAR1 garbage")  # unreadable
    _write(tmp_path, rows[3], columns=("obs_id", "event_id"), models=req["models"])  # columns
    _write(tmp_path, rows[4], n_in=60, models=req["models"])  # fewer events
    _write(tmp_path, rows[5], models={"energy": "old", "classifier": "bbb"})  # stale
    failures = {rows[6]["path"]: "tree 'events' could not be read"}  # failed
    out = bk.classify(inputs, tmp_path, "uuid", "dl2", req, failures)
    status = [r["status"] for r in out]
    assert status == [
        "processed",
        "unprocessed",
        "corrupt",
        "corrupt",
        "corrupt",
        "corrupt",
        "failed",
    ]
    reasons = [r["reason"] for r in out]
    assert "unreadable" in reasons[2]
    assert "gammaness" in reasons[3] and "reco_energy" in reasons[3]
    assert "60 of the input's 100" in reasons[4]
    assert "stale" in reasons[5]
    assert reasons[6] == "tree 'events' could not be read"
    assert out[0]["state"] == bk.file_state(out[0]["output"])
    # test mode: an output of 60 of 100 events is complete when 60 were asked for
    assert (
        bk.classify(inputs.iloc[4:5], tmp_path, "uuid", "dl2", req, max_events=60)[0]["status"]
        == "processed"
    )


def test_plan_batches_only_what_is_left(tmp_path):
    inputs = _inputs(10)
    for row in inputs.to_dict("records")[:3]:
        _write(tmp_path, row)
    rows = bk.classify(inputs, tmp_path, "uuid", "dl2")
    plan = bk.make_plan("proton", "dl2", rows, files_per_job=3)
    todo = inputs["path"].tolist()[3:]
    assert plan["unprocessed"] == {"proton": todo}
    assert [len(b) for b in plan["batches"].values()] == [3, 3, 1]
    assert sum(plan["batches"].values(), []) == todo
    assert plan["counts"] == {"processed": 3, "unprocessed": 7, "corrupt": 0, "failed": 0}
    # the same files make the same batch names
    again = bk.make_plan("proton", "dl2", rows, files_per_job=3)
    assert list(again["batches"]) == list(plan["batches"])


def test_drift_notices_deleted_and_rewritten_outputs(tmp_path):
    inputs = _inputs(4)
    outs = [_write(tmp_path, row) for row in inputs.to_dict("records")[:2]]
    plan = bk.make_plan("g", "dl2", bk.classify(inputs, tmp_path, "uuid", "dl2"), 2)
    write_json(plan, tmp_path / "plan.json")
    # a batch then processes the other two and records their states
    (bid,) = list(plan["batches"])
    done = [_write(tmp_path, row) for row in inputs.to_dict("records")[2:]]
    write_json(
        {
            "outputs": [{"file": "x", "output": p, "state": bk.file_state(p)} for p in done],
            "failed": [],
        },
        tmp_path / f"batch-{bid}.json",
    )
    assert bk.drift(tmp_path / "plan.json", tmp_path) == "consistent"
    os.remove(outs[0])
    first = bk.drift(tmp_path / "plan.json", tmp_path)
    assert first.startswith("changed-")
    with open(done[1], "ab") as f:
        f.write(b"\0")
    assert bk.drift(tmp_path / "plan.json", tmp_path) not in ("consistent", first)
    assert bk.drift(tmp_path / "missing.json", tmp_path) == "consistent"


def test_plan_json_is_get_unprocessed_files_shape(tmp_path):
    plan = bk.make_plan("electron", "dl2", bk.classify(_inputs(2), tmp_path, "name", "dl2"), 5)
    text = json.dumps(plan["unprocessed"])
    assert json.loads(text) == {"electron": ["/dl1/run0.root", "/dl1/run1.root"]}
