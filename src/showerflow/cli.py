"""``showerflow <stage> ...``: every workflow stage on given files, by hand.

The subcommands call the same functions as the Snakemake rules (``showerflow.stages``),
so one file can be processed and debugged outside the workflow; ``status`` looks at a
production, ``init`` starts an analysis folder, ``profile show`` and ``run`` run the
workflow with a merged Snakemake profile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import runoptions
from .contracts import ContractError
from .pipeline import STAGES

__all__ = ["main", "build_parser"]

#: The command's description in ``showerflow --help`` (plain text: argparse shows it as is).
DESCRIPTION = (
    "showerflow: the staged performance analysis of Cherenkov telescope arrays "
    "(DL1 -> energy model, classifier -> DL2 -> IRFs and sensitivity) as a Snakemake "
    "workflow. 'init' starts an analysis folder, 'run' runs the workflow with a profile, "
    "'status' tells what is done; the stage commands run one stage on given files, as "
    "the workflow's rules do."
)


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
        n_jobs=a.jobs,
    )
    for rec in m["outputs"]:
        print(rec["output"])


def _merge(a):
    from .stages import run_merge

    run_merge(a.inputs, a.output, a.dataset)


def _performance_dl2(a):
    samples = {"gamma": a.gamma, "gamma_diffuse": a.gamma_diffuse, "proton": a.proton}
    samples["electron"] = a.electron
    return {k: v for k, v in samples.items() if v}


def _optimize(a):
    from .performance import load_performance_config, run_optimize, write_cuts

    cuts, _ = run_optimize(_performance_dl2(a), load_performance_config(a.config))
    write_cuts(cuts, a.output)
    print(a.output)


def _performance(a):
    from .performance import load_performance_config, read_cuts, run_performance, write_outputs

    cfg = load_performance_config(a.config)
    cuts = read_cuts(a.cuts) if a.cuts else None
    result = run_performance(_performance_dl2(a), cfg, cuts=cuts, cuts_path=a.cuts)
    for path in write_outputs(result, a.outdir).values():
        print(path)


def _status(a):

    from .overview import format_overview, production_overview
    from .runconfig import workflow_config
    from .stages import write_json

    if a.directory:
        os.chdir(a.directory)
    overlays = []
    if a.test:
        overlays.append(("--test", runoptions.testmode_overlay(a.test_files, a.test_events)))
    config, sources = workflow_config(a.configfile, a.config, overlays)
    if a.watch is not None:
        from .overview import watch

        watch(config, interval=a.watch)
        return
    doc = production_overview(config)
    doc["config_layers"] = sources
    if a.json:
        print(json.dumps(doc, indent=1, default=str))
    else:
        print(format_overview(doc))
    if a.unprocessed:
        todo = {}
        for r in doc["stages"]:
            if r["files"] is not None and r["stage"] == a.stage:
                todo[r["dataset"]] = r["unprocessed_files"]
        write_json(todo, a.unprocessed)
        print(
            f"\nunprocessed files of stage '{a.stage}' written to {a.unprocessed}", file=sys.stderr
        )


def _init(a):
    from .scaffold import init_analysis, relative_listing, workflow_checkout

    checkout = workflow_checkout(a.workflow)
    written = init_analysis(a.folder, a.site, checkout)
    print(f"analysis folder {a.folder} (workflow: {checkout}):")
    for rel in relative_listing(a.folder, written):
        print(f"  {rel}")
    print(f"next: cd {a.folder} && showerflow status && showerflow run {a.site[0]} --test")


def _dl1(a):
    from pathlib import Path

    from .simtel import DL1_SUFFIX, run_ctapipe_process, simtel_name

    out = Path(a.outdir)
    for path in a.files:
        dl1 = out / f"{simtel_name(path)}{DL1_SUFFIX}"
        prov = out / f"{simtel_name(path)}.provenance.log"
        print(run_ctapipe_process(path, dl1, a.config, prov))


def _prefixes(a):
    from .ctapipe_dl2 import DEFAULT_PREFIXES, estimator_prefix

    prefixes = dict(DEFAULT_PREFIXES)
    if a.energy_model_config:
        prefixes["energy"] = estimator_prefix(a.energy_model_config)
    if a.classifier_config:
        prefixes["classifier"] = estimator_prefix(a.classifier_config)
    for key in prefixes:
        if getattr(a, f"{key}_prefix"):
            prefixes[key] = getattr(a, f"{key}_prefix")
    return prefixes


def _export_ctapipe(a):
    from .ctapipe_dl2 import write_ctapipe_dl2

    info = write_ctapipe_dl2(a.dl2, a.output, prefixes=_prefixes(a), subarray=a.subarray)
    print(json.dumps({"output": a.output, **info}, indent=1))


def _export_ctapipe_cuts(a):
    from .ctapipe_dl2 import write_ctapipe_cuts
    from .performance import load_performance_config

    cfg = load_performance_config(a.config)
    print(write_ctapipe_cuts(a.cuts, a.output, cfg["quality_cuts"], prefixes=_prefixes(a)))


def _prefix_arguments(s):
    s.add_argument(
        "--energy-model-config",
        help="energy model YAML: its estimator class is the energy prefix (ctapipe's naming)",
    )
    s.add_argument(
        "--classifier-config",
        help="classifier YAML: its estimator class is the classifier prefix",
    )
    s.add_argument("--energy-prefix", help="default RandomForestRegressor")
    s.add_argument("--classifier-prefix", help="default RandomForestClassifier")
    s.add_argument("--geometry-prefix", help="default HillasReconstructor")


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
    s.add_argument(
        "--naming",
        choices=["uuid", "name"],
        default="uuid",
        help="per-file outputs named by the input's ROOT UUID or its file name",
    )
    s.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="write a tombstone for a file the stage fails on and go on",
    )


class _HelpFormatter(argparse.HelpFormatter):
    """Help with each option's default appended, when it has one worth saying."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default in (None, False, [], argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def _subparsers(parser):
    """Every parser below ``parser`` (subcommands of subcommands included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def build_parser():
    """The argument parser of the ``showerflow`` command."""
    from . import __version__

    p = argparse.ArgumentParser(prog="showerflow", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--version", action="version", version=f"showerflow {__version__}", help="print the version"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "init",
        help="start an analysis folder (configs, profile, README) running the installed workflow",
        description="Create DIR with commented copies of the workflow's configs "
        "(config/config.yaml, config/performance.yaml, config/models/, config/ctapipe/), "
        "a profile per --site whose snakefile key points at the installed workflow, a "
        "README of next steps and a .gitignore. DIR must not exist or be empty.",
    )
    s.add_argument("folder", metavar="DIR", help="the new analysis folder")
    s.add_argument(
        "--site",
        action="append",
        default=None,
        metavar="PROFILE",
        help="site profile(s) of the workflow to copy (local, slurm, htcondor, "
        "htcondor-transfer, dirac, site-example-slurm, ...); repeatable (default: local)",
    )
    s.add_argument(
        "--workflow",
        metavar="CHECKOUT",
        help="the showerflow workflow to run (default: the source tree this package runs from)",
    )
    s.set_defaults(func=_init)

    s = sub.add_parser("simulate", help="write toy DL1 ROOT files (docs/toy-simulation.md)")
    s.add_argument(
        "--kind",
        required=True,
        choices=["gamma", "gamma_diffuse", "proton", "electron"],
        help="what to simulate: point-like gammas, diffuse gammas, protons or electrons",
    )
    s.add_argument("--runs", type=int, default=1, help="number of runs (files)")
    s.add_argument("--showers", type=int, default=100_000, help="showers thrown per run")
    s.add_argument("--seed", type=int, default=42, help="random seed: same seed, same files")
    s.add_argument(
        "--first-obs-id",
        type=int,
        default=None,
        help="first run number (default: 10000 * kind index + 1)",
    )
    s.add_argument("--zenith", type=float, default=20.0, help="pointing zenith angle [deg]")
    s.add_argument("--azimuth", type=float, default=0.0, help="pointing azimuth [deg]")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.set_defaults(func=_simulate)

    s = sub.add_parser("inspect", help="check DL1 files against the contract and print them")
    s.add_argument("files", nargs="+", help="DL1 files")
    _format_arguments(s)
    s.set_defaults(func=_inspect)

    s = sub.add_parser("catalog", help="catalog, roles and batches of one dataset")
    s.add_argument("--dataset", required=True, help="the dataset's name")
    s.add_argument("--folders", nargs="+", required=True, help="folders holding its DL1 files")
    s.add_argument("--pattern", default="*.root", help="file name pattern inside the folders")
    s.add_argument("--query", default=None, help="e.g. 'particle == \"proton\"'")
    s.add_argument(
        "--roles",
        nargs=3,
        type=float,
        default=[0.1, 0.1, 0.8],
        metavar=("ENERGY", "CLASSIFICATION", "PERFORMANCE"),
        help="role fractions, summing to 1",
    )
    s.add_argument(
        "--identity",
        choices=["uuid", "name"],
        default="uuid",
        help="what identifies a file for role assignment: ROOT header UUID or file name",
    )
    s.add_argument(
        "--role-split",
        choices=["file", "event"],
        default="file",
        help="roles by file, or by event within each file (docs/formats.md)",
    )
    _format_arguments(s)
    s.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="record bad files and leave them out (default: the first one stops)",
    )
    s.add_argument("--catalog", required=True, help="output Parquet")
    s.add_argument("--summary", required=True, help="output JSON (roles, bad files)")
    s.set_defaults(func=_catalog)

    s = sub.add_parser("training-data", help="image-level training table of DL1 files")
    s.add_argument("files", nargs="+", help="DL1 files")
    s.add_argument("--energy-model", help="apply this energy model (classification data)")
    _format_arguments(s)
    _batch_arguments(s)
    s.set_defaults(func=_training_data)

    s = sub.add_parser("train", help="train a model (config/models/*.yaml) on training tables")
    s.add_argument("tables", nargs="+", help="training tables (Parquet, from training-data)")
    s.add_argument("--config", required=True, help="model YAML (config/models/*.yaml)")
    s.add_argument("-o", "--output", required=True, help="model file (.joblib)")
    s.add_argument("--metrics", required=True, help="metrics JSON")
    s.add_argument("-j", "--jobs", type=int, default=1, help="threads of the fit and predictions")
    s.set_defaults(func=_train)

    s = sub.add_parser("dl2", help="apply both models to DL1 files")
    s.add_argument("files", nargs="+", help="DL1 files")
    s.add_argument("--energy-model", required=True, help="energy model (.joblib, from train)")
    s.add_argument("--classifier", required=True, help="classifier (.joblib, from train)")
    s.add_argument(
        "--chunk-size",
        type=int,
        default=100_000,
        help="events read, predicted and written at a time (bounds memory)",
    )
    s.add_argument(
        "-j", "--jobs", type=int, default=1, help="prediction threads (outputs do not depend on it)"
    )
    _format_arguments(s)
    _batch_arguments(s)
    s.set_defaults(func=_dl2)

    s = sub.add_parser("merge", help="merge per-file DL2 outputs")
    s.add_argument("inputs", nargs="+", help="per-file DL2 outputs (Parquet)")
    s.add_argument("--dataset", default="", help="dataset name recorded in the output")
    s.add_argument("-o", "--output", required=True, help="merged DL2 (Parquet)")
    s.set_defaults(func=_merge)

    def performance_inputs(s):
        s.add_argument("--gamma", required=True, help="DL2 of on-axis gammas")
        s.add_argument("--gamma-diffuse", help="DL2 of diffuse gammas (FoV-offset IRFs)")
        s.add_argument("--proton", required=True, help="DL2 of protons (background)")
        s.add_argument("--electron", required=True, help="DL2 of electrons (background)")
        s.add_argument("--config", default="config/performance.yaml", help="pyirf settings (YAML)")

    s = sub.add_parser("optimize", help="gammaness and theta cuts from merged DL2 files")
    performance_inputs(s)
    s.add_argument("-o", "--output", required=True, help="the cuts file (FITS)")
    s.set_defaults(func=_optimize)

    s = sub.add_parser("performance", help="IRFs and sensitivity from merged DL2 files")
    performance_inputs(s)
    s.add_argument("--cuts", help="a cuts file to apply (default: optimise them here)")
    s.add_argument("--outdir", required=True, help="folder of the IRFs, tables and provenance")
    s.set_defaults(func=_performance)

    s = sub.add_parser(
        "dl1", help="ctapipe-process on sim_telarray files: one DL1 file each (docs/formats.md)"
    )
    s.add_argument("files", nargs="+", help=".simtel, .simtel.gz or .simtel.zst files")
    s.add_argument("--config", default="config/ctapipe/process.yaml", help="ctapipe-process config")
    s.add_argument("-o", "--outdir", required=True, help="folder of the <name>.dl1.h5 files")
    s.set_defaults(func=_dl1)

    s = sub.add_parser(
        "export-ctapipe", help="DL2 Parquet -> ctapipe DL2 HDF5 (for ctapipe-compute-irf)"
    )
    s.add_argument("dl2", help="DL2 Parquet (merged or per file) with its simulation records")
    s.add_argument("-o", "--output", required=True, help="ctapipe HDF5 file (.dl2.h5)")
    s.add_argument(
        "--subarray", help="ctapipe file whose subarray to write (default: the DL2's DL1 input)"
    )
    _prefix_arguments(s)
    s.set_defaults(func=_export_ctapipe)

    s = sub.add_parser(
        "export-ctapipe-cuts",
        help="showerflow's gh/theta cuts -> ctapipe cuts file (ctapipe-compute-irf --cuts)",
    )
    s.add_argument("cuts", help="showerflow's cuts file (irf/cuts.fits, `showerflow optimize`)")
    s.add_argument("-o", "--output", required=True, help="cuts FITS file")
    s.add_argument("--config", default=None, help="performance config (its quality_cuts)")
    _prefix_arguments(s)
    s.set_defaults(func=_export_ctapipe_cuts)

    s = sub.add_parser(
        "status",
        help="the whole story of a production: stages, models, merged DL2, IRFs, batch jobs",
        description="What is done, from the files on disk, with the config the workflow "
        "builds: config/config.yaml, then --configfile files, then --config, as snakemake "
        "does (and the test mode of showerflow run --test with --test). Per dataset and "
        "stage the inputs processed, to do, corrupt and failed with reasons; the models "
        "(trained, stale, headline metrics); the merged DL2 (events, acceptance); the IRFs "
        "and sensitivity (present, up to date, from which models); the SLURM jobs still "
        "queued or running here (sacct). Writes nothing (but --unprocessed FILE).",
    )
    s.add_argument(
        "--configfile",
        "--configfiles",
        nargs="+",
        default=[],
        metavar="FILE",
        help="config files applied after config/config.yaml, later wins key by key "
        "(as snakemake --configfile)",
    )
    s.add_argument(
        "--config",
        "-C",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config values, read as snakemake --config reads them (nested: "
        "'test_mode={max_events_per_file: 100}'), typed by the schema",
    )
    runoptions.add_test_arguments(s)
    s.add_argument(
        "-d",
        "--directory",
        help="the production's working directory (default: the current one)",
    )
    s.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    s.add_argument(
        "--watch",
        nargs="?",
        const=5.0,
        type=float,
        metavar="SECONDS",
        help="a live view until Ctrl-C: files and events done per stage, the rate seen "
        "while watching and an ETA, refreshed every SECONDS (default 5)",
    )
    s.add_argument(
        "--unprocessed",
        metavar="FILE",
        help="also write the files not processed by --stage as {dataset: [files]} JSON",
    )
    s.add_argument("--stage", default="dl2", choices=list(STAGES), help="stage of --unprocessed")
    s.set_defaults(func=_status)
    runoptions.add_subcommands(sub)
    for parser in [p, *_subparsers(p)]:
        parser.formatter_class = _HelpFormatter
    return p


def main(argv=None):
    """Entry point of the ``showerflow`` command."""
    from .logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(level=10 if args.verbose else 20)
    if args.command == "init" and not args.site:
        args.site = ["local"]
    try:
        code = args.func(args)
    except (ContractError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"showerflow {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `showerflow status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
