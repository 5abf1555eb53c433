"""``showerflow status``: how complete each dataset is, stage by stage.

It reads the catalogs, the per-file outputs' footers, the models and the receipts, as the
plans would, and writes nothing.
"""

from __future__ import annotations

import os

from . import bookkeeping as bk
from . import pipeline as pl
from .stages import model_digests, read_settings, read_summary, stage_inputs
from .tables import read_table

__all__ = ["stage_status", "production_status", "format_status"]


def stage_status(config, dataset, stage):
    """Classify one dataset's inputs for one stage, from the files on disk.

    Parameters
    ----------
    config : dict
        Validated analysis config.
    dataset : str
    stage : str

    Returns
    -------
    list of dict or None
        :func:`showerflow.bookkeeping.classify` rows (an output changed since its consumer
        used it says so in its reason); None if the catalog is not built.
    """
    results = config["results"]
    catalog = os.path.join(results, "catalog", f"{dataset}.parquet")
    if not os.path.exists(catalog):
        return None
    table, _ = read_table(catalog)
    max_events = config["test_mode"]["max_events_per_file"]
    naming = config["output_naming"]
    inputs = stage_inputs(table, stage, results, dataset, naming, max_events)
    models = pl.model_paths(results, stage)
    if all(os.path.exists(p) for p in models.values()):
        digests = model_digests(models).get("models", {})
    else:  # models not trained yet: nothing of this stage can be up to date
        digests = {k: "not trained" for k in models}
    settings = read_settings(config["datasets"][dataset], naming, max_events)
    columns = list(pl.STAGES[stage].columns)

    def expected_of(rec):
        return columns, {
            "n_events": rec["n_events"],
            "input_checksum": rec["checksum"],
            "models": digests,
            "settings": settings,
        }

    rows = bk.classify(inputs, expected_of)
    changed = set(
        bk.changed_outputs(
            pl.plan_path(results, stage, dataset), pl.receipt_path(results, stage, dataset)
        )
    )
    for r in rows:
        if r["output"] in changed and r["status"] == "processed":
            r["reason"] = "rewritten since its consumer used it (the next run redoes it)"
            r["status"] = "corrupt"
    return rows


def production_status(config):
    """Status rows of every dataset and stage, and the bad files of the catalogs.

    Returns
    -------
    (list of dict, list of dict)
        Rows ``{dataset, stage, files, processed, unprocessed, corrupt, failed,
        events_done, events}`` and bad files ``{file, stage, reason}``.
    """
    rows, bad = [], []
    for dataset, spec in config["datasets"].items():
        summary = os.path.join(config["results"], "catalog", f"{dataset}.json")
        if os.path.exists(summary):
            bad += [
                {"dataset": dataset, "stage": "catalog", **b}
                for b in read_summary(summary)["bad_files"]
            ]
        for stage, st in pl.STAGES.items():
            if spec["roles"][st.role] == 0:
                continue
            files = stage_status(config, dataset, stage)
            if files is None:
                rows.append({"dataset": dataset, "stage": stage, "files": None})
                continue
            counts = {s: sum(f["status"] == s for f in files) for s in bk.STATUSES}
            rows.append(
                {
                    "dataset": dataset,
                    "stage": stage,
                    "files": len(files),
                    **counts,
                    "events_done": sum(f["n_events"] for f in files if f["status"] == "processed"),
                    "events": sum(f["n_events"] for f in files),
                    "unprocessed_files": [f["file"] for f in files if f["status"] != "processed"],
                }
            )
            bad += [
                {"dataset": dataset, "stage": stage, "file": f["file"], "reason": f["reason"]}
                for f in files
                if f["status"] in ("corrupt", "failed")
            ]
    return rows, bad


def format_status(rows, bad):
    """The status as a text table, then the list of bad files."""
    head = f"{'dataset':<16}{'stage':<16}{'files':>7}{'done':>7}{'todo':>7}{'corrupt':>9}"
    head += f"{'failed':>8}{'events done':>16}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["files"] is None:
            lines.append(f"{r['dataset']:<16}{r['stage']:<16}{'catalog not built yet':>30}")
            continue
        ev = f"{r['events_done']}/{r['events']}"
        lines.append(
            f"{r['dataset']:<16}{r['stage']:<16}{r['files']:>7}{r['processed']:>7}"
            f"{r['unprocessed']:>7}{r['corrupt']:>9}{r['failed']:>8}{ev:>16}"
        )
    if bad:
        lines += ["", "bad files:"]
        lines += [f"  {b['dataset']}/{b['stage']}: {b['file']}: {b['reason']}" for b in bad]
    return "\n".join(lines)
