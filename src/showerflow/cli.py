"""``showerflow <stage> ...``: every workflow stage on given files, by hand.

The subcommands call the same functions as the Snakemake rules (``showerflow.stages``),
so one file can be processed and debugged outside the workflow.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import runoptions
from .contracts import ContractError
from .pipeline import STAGES

__all__ = ["main", "build_parser"]


def _simulate(a):
    from .simulate import simulate_production

    for path in simulate_production(
        a.output,
        a.kind,
        a.runs,
        a.showers,
        a.seed,
        first_obs_id=a.first_obs_id,
        zenith=a.zenith,
        azimuth=a.azimuth,
    ):
        print(path)


def _spec(a):
    """The dataset entry the format arguments describe (``format``, ``format_options``)."""
    try:
        options = json.loads(a.format_options) if a.format_options else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"--format-options is not a JSON object: {err}") from err
    if not isinstance(options, dict):
        raise ValueError(f"--format-options must be a JSON object, got {a.format_options!r}")
    return {"format": a.format, "format_options": options}


def _inspect(a):
    from .catalog import catalog_entry

    spec = _spec(a)
    for path in a.files:
        print(json.dumps(catalog_entry(path, spec), indent=1, default=str))


def _catalog(a):
    from .stages import run_catalog

    fractions = dict(zip(("energy", "classification", "performance"), a.roles, strict=True))
    spec = {
        "folders": a.folders,
        "pattern": a.pattern,
        "query": a.query,
        "roles": fractions,
        "identity": a.identity,
        "role_split": a.role_split,
        **_spec(a),
    }
    run_catalog(a.dataset, spec, a.catalog, a.summary, skip_bad_files=a.skip_bad_files)


def _training_data(a):
    from .stages import batch_of_files, run_training_data

    spec = _spec(a)
    batch = batch_of_files(a.files, a.outdir, a.naming, spec)
    m = run_training_data(
        batch,
        a.outdir,
        energy_model=a.energy_model,
        skip_bad_files=a.skip_bad_files,
        spec=spec,
    )
    for rec in m["outputs"]:
        print(rec["output"])


def _train(a):
    from .stages import run_train

    metrics = run_train(a.tables, a.config, a.output, a.metrics, n_jobs=a.jobs)
    key = "r2" if "r2" in metrics else "roc_auc"
    print(f"{key} = {metrics[key]:.3f}")


def _dl2(a):
    from .stages import batch_of_files, run_dl2

    spec = _spec(a)
    batch = batch_of_files(a.files, a.outdir, a.naming, spec)
    m = run_dl2(
        batch,
        a.energy_model,
        a.classifier,
        a.outdir,
        skip_bad_files=a.skip_bad_files,
        spec=spec,
        chunk_size=a.chunk_size,
    )
    for rec in m["outputs"]:
        print(rec["output"])


def _merge(a):
    from .stages import run_merge

    run_merge(a.inputs, a.output, a.dataset)


def _performance(a):
    from .performance import load_performance_config, run_performance, write_outputs

    cfg = load_performance_config(a.config)
    result = run_performance({"gamma": a.gamma, "proton": a.proton, "electron": a.electron}, cfg)
    write_outputs(result, a.outdir)


def _status(a):
    from .config import load_config
    from .stages import write_json
    from .status import format_status, production_status

    config = load_config(a.configfile, "config")
    rows, bad = production_status(config)
    print(format_status(rows, bad))
    if a.unprocessed:
        todo = {}
        for r in rows:
            if r["files"] is not None and r["stage"] == a.stage:
                todo[r["dataset"]] = r["unprocessed_files"]
        write_json(todo, a.unprocessed)
        print(f"\nunprocessed files of stage '{a.stage}' written to {a.unprocessed}")


def _format_arguments(s):
    from .formats import FORMATS

    s.add_argument(
        "--format", choices=sorted(FORMATS), default="root", help="DL1 format (docs/formats.md)"
    )
    s.add_argument(
        "--format-options",
        default=None,
        metavar="JSON",
        help="the format's options as in a dataset's format_options, e.g. '{\"particle\": \"gamma\"}'",
    )


def _batch_arguments(s):
    s.add_argument("-o", "--outdir", required=True, help="folder of the per-file outputs")
    s.add_argument("--naming", choices=["uuid", "name"], default="uuid")
    s.add_argument("--skip-bad-files", action="store_true")


def build_parser():
    """The argument parser of the ``showerflow`` command."""
    p = argparse.ArgumentParser(prog="showerflow", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write toy DL1 ROOT files (docs/toy-simulation.md)")
    s.add_argument(
        "--kind", required=True, choices=["gamma", "gamma_diffuse", "proton", "electron"]
    )
    s.add_argument("--runs", type=int, default=1, help="number of runs (files)")
    s.add_argument("--showers", type=int, default=100_000, help="showers thrown per run")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument(
        "--first-obs-id",
        type=int,
        default=None,
        help="first run number (default: 10000 * kind index + 1)",
    )
    s.add_argument("--zenith", type=float, default=20.0)
    s.add_argument("--azimuth", type=float, default=0.0)
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.set_defaults(func=_simulate)

    s = sub.add_parser("inspect", help="check DL1 files against the contract and print them")
    s.add_argument("files", nargs="+")
    _format_arguments(s)
    s.set_defaults(func=_inspect)

    s = sub.add_parser("catalog", help="catalog, roles and batches of one dataset")
    s.add_argument("--dataset", required=True)
    s.add_argument("--folders", nargs="+", required=True)
    s.add_argument("--pattern", default="*.root")
    s.add_argument("--query", default=None, help="e.g. 'particle == \"proton\"'")
    s.add_argument(
        "--roles",
        nargs=3,
        type=float,
        default=[0.1, 0.1, 0.8],
        metavar=("ENERGY", "CLASSIFICATION", "PERFORMANCE"),
    )
    s.add_argument("--identity", choices=["uuid", "name"], default="uuid")
    s.add_argument(
        "--role-split",
        choices=["file", "event"],
        default="file",
        help="roles by file, or by event within each file (docs/formats.md)",
    )
    _format_arguments(s)
    s.add_argument("--skip-bad-files", action="store_true")
    s.add_argument("--catalog", required=True, help="output Parquet")
    s.add_argument("--summary", required=True, help="output JSON (roles, bad files)")
    s.set_defaults(func=_catalog)

    s = sub.add_parser("training-data", help="image-level training table of DL1 files")
    s.add_argument("files", nargs="+")
    s.add_argument("--energy-model", help="apply this energy model (classification data)")
    _format_arguments(s)
    _batch_arguments(s)
    s.set_defaults(func=_training_data)

    s = sub.add_parser("train", help="train a model (config/models/*.yaml) on training tables")
    s.add_argument("tables", nargs="+")
    s.add_argument("--config", required=True)
    s.add_argument("-o", "--output", required=True, help="model file (.joblib)")
    s.add_argument("--metrics", required=True, help="metrics JSON")
    s.add_argument("-j", "--jobs", type=int, default=1)
    s.set_defaults(func=_train)

    s = sub.add_parser("dl2", help="apply both models to DL1 files")
    s.add_argument("files", nargs="+")
    s.add_argument("--energy-model", required=True)
    s.add_argument("--classifier", required=True)
    s.add_argument(
        "--chunk-size",
        type=int,
        default=100_000,
        help="events read, predicted and written at a time (bounds memory)",
    )
    _format_arguments(s)
    _batch_arguments(s)
    s.set_defaults(func=_dl2)

    s = sub.add_parser("merge", help="merge per-file DL2 outputs")
    s.add_argument("inputs", nargs="+")
    s.add_argument("--dataset", default="")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=_merge)

    s = sub.add_parser("performance", help="IRFs and sensitivity from merged DL2 files")
    s.add_argument("--gamma", required=True)
    s.add_argument("--proton", required=True)
    s.add_argument("--electron", required=True)
    s.add_argument("--config", default="config/performance.yaml")
    s.add_argument("--outdir", required=True)
    s.set_defaults(func=_performance)

    s = sub.add_parser("status", help="completeness of each dataset and stage")
    s.add_argument("--configfile", default="config/config.yaml")
    s.add_argument("--unprocessed", help="write {dataset: [files]} JSON of --stage here")
    s.add_argument("--stage", default="dl2", choices=list(STAGES))
    s.set_defaults(func=_status)
    runoptions.add_subcommands(sub)
    return p


def main(argv=None):
    """Entry point of the ``showerflow`` command."""
    from .logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(level=10 if args.verbose else 20)
    try:
        args.func(args)
    except (ContractError, ValueError, FileNotFoundError) as err:
        print(f"showerflow {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
