"""Bookkeeping: classification of per-file outputs, plans and their history, drift."""

import json
import os
import time

import pandas as pd
import pytest

from showerflow import bookkeeping as bk
from showerflow.stages import write_json
from showerflow.tables import write_table

COLUMNS = ("obs_id", "event_id", "reco_energy", "gammaness")
MODELS = {"energy": "aaa", "classifier": "bbb"}
SETTINGS = {"naming": "uuid", "max_events": None, "read": {"format": "root"}}


def _inputs(folder, n):
    return [
        {
            "file": f"/dl1/run{i}.root",
            "output": str(folder / f"00000000-0000-0000-0000-{i:012d}.parquet"),
            "n_events": 100,
            "size": 2_000_000,
            "checksum": f"{i:08x}",
        }
        for i in range(n)
    ]


def _expected(rec, models=MODELS, settings=SETTINGS):
    return COLUMNS, {
        "n_events": rec["n_events"],
        "input_checksum": rec["checksum"],
        "models": models,
        "settings": settings,
    }


def _write(rec, n_in=100, columns=COLUMNS, batch="b0", **meta):
    df = pd.DataFrame({c: range(3) for c in columns})
    record = {"files": [rec["file"]], "outputs": {rec["file"]: rec["output"]}}
    meta = {
        "n_events_in": n_in,
        "n_rows": 3,
        "models": MODELS,
        "settings": SETTINGS,
        "input_checksum": rec["checksum"],
        "batch": batch,
        "batch_record": record,
        **meta,
    }
    write_table(df, rec["output"], metadata=meta)
    return rec["output"]


def test_output_naming_conventions():
    assert bk.output_id("abc-1", "gamma_run00001.root", "uuid") == "abc-1"
    assert bk.output_id("abc-1", "gamma_run00001.root", "name") == "gamma_run00001"
    with pytest.raises(ValueError, match="naming"):
        bk.output_id("a", "b", "md5")


def test_classify_every_status(tmp_path):
    recs = _inputs(tmp_path, 9)
    _write(recs[0])  # processed
    # recs[1]: no output                                               -> unprocessed
    open(recs[2]["output"], "wb").write(b"PAR1 garbage")  # unreadable
    _write(recs[3], columns=("obs_id", "event_id"))  # columns missing
    _write(recs[4], n_in=60)  # fewer events
    _write(recs[5], models={"energy": "old", "classifier": "bbb"})  # other models
    _write(recs[6], input_checksum="ffffffff")  # the input was replaced since
    _write(recs[7], status="failed", reason="tree 'events' could not be read")  # tombstone
    _write(recs[8], settings={**SETTINGS, "max_events": 50})  # other settings
    out = bk.classify(recs, _expected)
    status = [r["status"] for r in out]
    assert status == [
        "processed",
        "unprocessed",
        "corrupt",
        "corrupt",
        "corrupt",
        "corrupt",
        "corrupt",
        "failed",
        "corrupt",
    ]
    reasons = [r["reason"] for r in out]
    assert "unreadable" in reasons[2]
    assert "gammaness" in reasons[3] and "reco_energy" in reasons[3]
    assert "60 of the input's 100" in reasons[4]
    assert "other models" in reasons[5]
    assert "checksum ffffffff" in reasons[6] and "now 00000006" in reasons[6]
    assert reasons[7] == "tree 'events' could not be read"
    assert "other settings" in reasons[8]
    assert out[0]["state"] == bk.file_state(recs[0]["output"]) and out[0]["batch"] == "b0"
    assert out[1]["state"] is None and out[1]["batch"] is None
    # a tombstone whose input changed is tried again
    _write(recs[7], status="failed", reason="bad", input_checksum="12345678")
    assert bk.classify(recs[7:8], _expected)[0]["status"] == "corrupt"


def test_plan_batches_only_what_is_left_and_keeps_history(tmp_path):
    recs = _inputs(tmp_path, 10)
    for rec in recs[:3]:
        _write(rec, batch="oldbatch0001")
    requires = {"models": MODELS, "settings": SETTINGS}
    rows = bk.classify(recs, _expected)
    plan = bk.make_plan("proton", "dl2", rows, 3, requires)
    todo = [r["file"] for r in recs[3:]]
    assert plan["unprocessed"] == {"proton": todo}
    assert [len(plan["batches"][b]["files"]) for b in plan["todo"]] == [3, 3, 1]
    assert sum((plan["batches"][b]["files"] for b in plan["todo"]), []) == todo
    assert plan["counts"] == {"processed": 3, "unprocessed": 7, "corrupt": 0, "failed": 0}
    # the past batch that made the processed outputs stays defined (from their footers)
    assert plan["batches"]["oldbatch0001"]["files"] == [recs[0]["file"]]
    assert {bk.batch_of(plan, r["output"]) for r in recs[:3]} == {"oldbatch0001"}
    assert bk.batch_of(plan, recs[3]["output"]) == plan["todo"][0]
    assert plan["batches"][plan["todo"][0]]["mb"] == pytest.approx(6.0)
    # a second plan with the same files left gives new names: a batch that redoes a file
    # never shares a name with the one made before
    again = bk.make_plan("proton", "dl2", rows, 3, requires, old=plan)
    assert again["generation"] == plan["generation"] + 1
    assert not set(again["todo"]) & set(plan["todo"])
    # and the same inputs in the same state give the same plan (deterministic)
    assert bk.make_plan("proton", "dl2", rows, 3, requires) == plan


def test_plan_json_is_get_unprocessed_files_shape(tmp_path):
    rows = bk.classify(_inputs(tmp_path, 2), _expected)
    plan = bk.make_plan("electron", "dl2", rows, 5, {})
    assert json.loads(json.dumps(plan["unprocessed"])) == {
        "electron": ["/dl1/run0.root", "/dl1/run1.root"]
    }


def _made(tmp_path, n=4):
    """A plan that batched n files, their outputs written, and the consumer's receipt."""
    recs = _inputs(tmp_path, n)
    plan = bk.make_plan("g", "dl2", bk.classify(recs, _expected), 2, {}, drift="none")
    plan_path = tmp_path / "plan.json"
    write_json(plan, plan_path)
    outs = [_write(rec, batch=bk.batch_of(plan, rec["output"])) for rec in recs]
    receipt = tmp_path / "receipt.json"
    time.sleep(0.01)
    write_json({"outputs": {p: bk.file_state(p) for p in outs}}, receipt)
    return plan_path, receipt, outs


def test_drift_names_deleted_and_rewritten_outputs(tmp_path):
    plan, receipt, outs = _made(tmp_path)
    assert bk.changed_outputs(str(plan), str(receipt)) == ()
    assert bk.drift_token(str(plan), str(receipt)) == "none"
    os.remove(outs[0])
    with open(outs[3], "ab") as f:
        f.write(b"\0")
    changed = bk.changed_outputs(str(plan), str(receipt))
    assert changed == tuple(sorted([outs[0], outs[3]]))
    token = bk.drift_token(str(plan), str(receipt))
    assert token.startswith("2 output(s) deleted or rewritten since used: ")
    assert os.path.basename(outs[0]) in token and os.path.basename(outs[3]) in token
    # without a receipt, only what the plan found done has a record: outputs its batches
    # are still to make (here all) are made by those batches if missing
    os.remove(receipt)
    assert bk.changed_outputs(str(plan), str(receipt)) == ()
    assert bk.drift_token(str(tmp_path / "no-plan.json"), str(receipt)) == "none"


def test_drift_token_is_sticky_after_a_repair(tmp_path):
    """The token a plan was remade with is what it gives once the repair is consumed."""
    plan_path, receipt, outs = _made(tmp_path)
    os.remove(outs[1])
    token = bk.drift_token(str(plan_path), str(receipt))
    assert token != "none"
    # the plan is remade with that token, the file is redone and consumed again
    recs = _inputs(tmp_path, 4)
    old = bk.read_plan(plan_path)
    plan = bk.make_plan("g", "dl2", bk.classify(recs, _expected), 2, {}, old, drift=token)
    write_json(plan, plan_path)
    assert plan["unprocessed"] == {"g": [recs[1]["file"]]}
    _write(recs[1], batch=plan["todo"][0])
    time.sleep(0.01)
    write_json({"outputs": {p: bk.file_state(p) for p in outs}}, receipt)
    assert bk.changed_outputs(str(plan_path), str(receipt)) == ()
    assert bk.drift_token(str(plan_path), str(receipt)) == token


def test_receipt_older_than_the_plan_does_not_accuse_redone_outputs(tmp_path):
    plan_path, receipt, outs = _made(tmp_path)
    os.remove(outs[2])
    recs = _inputs(tmp_path, 4)
    old = bk.read_plan(plan_path)
    time.sleep(0.01)
    plan = bk.make_plan("g", "dl2", bk.classify(recs, _expected), 2, {}, old, drift="x")
    write_json(plan, plan_path)
    # redone, but the consumer has not run again: its old state is not held against it
    _write(recs[2], batch=plan["todo"][0])
    assert bk.changed_outputs(str(plan_path), str(receipt)) == ()
    # while an output the plan found done is still checked against the receipt
    os.remove(outs[3])
    assert bk.changed_outputs(str(plan_path), str(receipt)) == (outs[3],)


def test_an_unreadable_plan_or_receipt_is_remade_not_trusted(tmp_path):
    plan, receipt, outs = _made(tmp_path)
    receipt.write_text("{ truncated")
    assert bk.changed_outputs(str(plan), str(receipt)) == ()  # the plan's own record
    plan.write_text("{ truncated")
    assert bk.read_plan_or_none(plan) is None
    assert bk.drift_token(str(plan), str(receipt)) == "unreadable plan"
