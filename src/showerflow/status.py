"""``showerflow status``: how complete each dataset is, stage by stage."""

from __future__ import annotations

import os

from . import bookkeeping as bk
from .stages import collect_failures, model_digests, read_summary
from .tables import read_table

__all__ = ["STAGE_MODELS", "STAGE_FOLDERS", "stage_status", "production_status", "format_status"]

#: Models each stage's outputs are made with (relative to the results folder).
STAGE_MODELS = {
    "energy": {},
    "classification": {"energy": "models/energy.joblib"},
    "dl2": {"energy": "models/energy.joblib", "classifier": "models/classifier.joblib"},
}
STAGE_FOLDERS = {
    "energy": "training/energy",
    "classification": "training/classification",
    "dl2": "dl2",
}


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
        :func:`showerflow.bookkeeping.classify` rows; None if the catalog is not built.
    """
    results = config["results"]
    catalog = os.path.join(results, "catalog", f"{dataset}.parquet")
    if not os.path.exists(catalog):
        return None
    table, _ = read_table(catalog)
    inputs = table[table["role"] == bk.STAGES[stage]["role"]]
    models = {k: os.path.join(results, v) for k, v in STAGE_MODELS[stage].items()}
    if all(os.path.exists(p) for p in models.values()):
        requires = model_digests(models)
    else:  # models not trained yet: nothing of this stage can be up to date
        requires = {"models": {k: "not trained" for k in models}}
    folder = os.path.join(results, STAGE_FOLDERS[stage], dataset)
    return bk.classify(
        inputs,
        folder,
        config["output_naming"],
        stage,
        requires,
        collect_failures(folder),
        config["test_mode"]["max_events_per_file"],
    )


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
        for stage, st in bk.STAGES.items():
            if spec["roles"][st["role"]] == 0:
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
