"""Run options: site profile < user run-options YAML < command line, merged key by key.

Snakemake profiles are YAML files whose keys are Snakemake's long command-line options; when
two profiles (or a profile and the command line) set the same top-level key, Snakemake keeps
the later one whole. PocketCoffea-style run options need finer grain: a user file that sets
``set-resources: {dl2: {mem_mb: 8000}}`` must change that one resource and keep every other
rule's resources from the site profile. This module does that merge, checks the result
(unknown keys, missing executor plugin or batch commands, unreachable backend) and writes it
as an ordinary Snakemake profile, so ``snakemake --profile`` runs exactly what was shown.

Layers, later wins: the site profile (``profiles/<name>/config.yaml``), the user's run-options
YAML (same keys as a profile; any subset), ``--set key.sub.key=value`` on the command line.
Mappings merge recursively, anything else (scalars, lists) is replaced; a ``null`` value
removes the key. Profile keys that Snakemake accepts as lists of ``key=value`` strings
(``default-resources``, ``set-resources``, ``set-threads``, ``resources``, ``config``, ...)
are read in either form and merged as mappings.

The CLI subcommands are ``showerflow profile show`` and ``showerflow run``
(:func:`add_subcommands`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

__all__ = [
    "BACKENDS",
    "ONE_LEVEL_KEYS",
    "TWO_LEVEL_KEYS",
    "add_subcommands",
    "backend_problems",
    "build_command",
    "deep_merge",
    "find_profile",
    "load_mapping",
    "merge_layers",
    "derived_layers",
    "normalize_profile",
    "parse_assignments",
    "probe_backend",
    "render_profile",
    "resolve_profile_paths",
    "snakemake_options",
    "testmode_overlay",
    "unknown_keys",
    "with_configfile",
]

#: Profile keys Snakemake takes as ``KEY=VALUE`` lists and also as one-level mappings.
ONE_LEVEL_KEYS = (
    "set-threads",
    "resources",
    "set-scatter",
    "set-resource-scopes",
    "default-resources",
    "config",
    "groups",
    "group-components",
    "consider-ancient",
)
#: Profile keys Snakemake takes as ``RULE:KEY=VALUE`` lists and also as two-level mappings.
TWO_LEVEL_KEYS = ("set-resources",)

#: What each remote executor needs on the submit host: the Python module of its plugin,
#: the pip package that provides it, and the batch-system commands (all of ``commands``,
#: at least one of ``any_commands``).
BACKENDS = {
    "slurm": {
        "module": "snakemake_executor_plugin_slurm",
        "package": "snakemake-executor-plugin-slurm",
        "commands": ("sbatch", "sinfo"),
        "any_commands": ("sacct", "squeue"),
    },
    "htcondor": {
        "module": "snakemake_executor_plugin_htcondor",
        "package": "snakemake-executor-plugin-htcondor",
        "commands": ("condor_submit", "condor_q"),
        "any_commands": (),
    },
}
BUILTIN_EXECUTORS = ("local", "dryrun", "touch")

#: Test-mode defaults (PocketCoffea's ``--test``): files per dataset, events per file.
TEST_FILES = 2
TEST_EVENTS = 2000


def load_mapping(path):
    """Read a YAML file that must hold a mapping (an empty file is an empty mapping).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If the file does not hold a mapping.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of profile keys, got {type(data).__name__}")
    return data


def _scalar(text):
    """A ``KEY=VALUE`` value: an int if it is one, else the text as Snakemake would see it."""
    text = text.strip()
    if text.lstrip("-").isdecimal():
        return int(text)
    return text


def _split_assignment(item, key):
    """``'name=value'`` -> ``('name', value)``; a ValueError naming ``key`` otherwise."""
    name, sep, value = str(item).partition("=")
    if not sep or not name.strip():
        raise ValueError(f"profile key '{key}': entry '{item}' is not NAME=VALUE")
    return name.strip(), _scalar(value)


def normalize_profile(profile):
    """Bring every ``KEY=VALUE``-list profile entry to mapping form.

    Parameters
    ----------
    profile : dict
        A profile or run-options mapping, in any form Snakemake accepts, e.g.
        ``{"default-resources": ["mem_mb=1000"], "set-resources": ["dl2:mem_mb=2000"]}``.

    Returns
    -------
    dict
        A copy in which ``ONE_LEVEL_KEYS`` are ``{name: value}`` and ``TWO_LEVEL_KEYS`` are
        ``{rule: {name: value}}``, e.g. ``{"default-resources": {"mem_mb": 1000},
        "set-resources": {"dl2": {"mem_mb": 2000}}}``. Other keys are copied unchanged.

    Raises
    ------
    ValueError
        If an entry is malformed (no ``=``, or no ``RULE:`` for ``set-resources``).
    """
    out = {}
    for key, value in profile.items():
        if key in ONE_LEVEL_KEYS and isinstance(value, list):
            value = dict(_split_assignment(item, key) for item in value)
        elif key in TWO_LEVEL_KEYS and isinstance(value, list):
            nested = {}
            for item in value:
                rule, sep, rest = str(item).partition(":")
                if not sep or not rule.strip():
                    raise ValueError(f"profile key '{key}': entry '{item}' is not RULE:NAME=VALUE")
                name, val = _split_assignment(rest, key)
                nested.setdefault(rule.strip(), {})[name] = val
            value = nested
        elif key in TWO_LEVEL_KEYS and isinstance(value, dict):
            for rule, res in value.items():
                if not isinstance(res, dict) and res is not None:
                    raise ValueError(
                        f"profile key '{key}.{rule}': expected a mapping of resources, got {res!r}"
                    )
        out[key] = value
    return out


def deep_merge(base, override):
    """Merge ``override`` into ``base``: mappings recursively, anything else replaced.

    Parameters
    ----------
    base, override : dict

    Returns
    -------
    dict
        A new mapping; neither argument is modified. A ``None`` in ``override`` is kept as
        ``None`` (it marks a removed key, see :func:`prune_none`).
    """
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def prune_none(mapping):
    """Drop ``None`` values (removed keys) at every level of a mapping.

    Parameters
    ----------
    mapping : dict

    Returns
    -------
    dict
    """
    return {
        k: prune_none(v) if isinstance(v, dict) else v for k, v in mapping.items() if v is not None
    }


def _origins(layer, name, prefix=()):
    """``{key path: layer name}`` for every leaf (non-mapping value) of one layer."""
    out = {}
    for key, value in layer.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            out.update(_origins(value, name, path))
        else:
            out[path] = name
    return out


def merge_layers(layers):
    """Merge named layers in order (later wins) and record where each value came from.

    Parameters
    ----------
    layers : list of (str, dict)
        ``[("site profile", {...}), ("run options", {...}), ("command line", {...})]``.
        Each mapping is normalized first (:func:`normalize_profile`).

    Returns
    -------
    merged : dict
        The merged profile, removed (``null``) keys dropped.
    origins : dict
        ``{tuple key path: layer name}`` for every leaf of ``merged``.
    """
    merged, origins = {}, {}
    for name, layer in layers:
        layer = normalize_profile(layer)
        merged = deep_merge(merged, layer)
        # a layer that replaces a whole subtree (scalar or list over a mapping) owns it
        for path, _ in _origins(layer, name).items():
            for old in [p for p in origins if p[: len(path)] == path or path[: len(p)] == p]:
                del origins[old]
        origins.update(_origins(layer, name))
    merged = prune_none(merged)
    leaves = _origins(merged, "")
    return merged, {path: origins.get(path, "") for path in leaves}


def parse_assignments(items):
    """Turn ``--set`` arguments into a nested mapping.

    Parameters
    ----------
    items : list of str
        ``KEY=VALUE`` strings; ``KEY`` is a profile key, dots go down into mappings
        (``set-resources.dl2.mem_mb=8000``). ``VALUE`` is read as YAML (``3`` is an int,
        ``true`` a bool, an empty value is ``null`` and removes the key).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If an item has no ``=`` or an empty key.
    """
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ValueError(f"--set '{item}': expected KEY=VALUE (KEY may be dotted: a.b.c)")
        parsed = yaml.safe_load(value) if value.strip() else None
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set '{item}': '{part}' is set to a value and a mapping")
        node[parts[-1]] = parsed
    return out


def resolve_profile_paths(profile, directory):
    """Make top-level string values that name files in ``directory`` absolute.

    Snakemake resolves a profile value against the profile's folder when such a file exists
    there (e.g. ``slurm-partition-config: partitions.yaml``); the merged profile is written
    elsewhere, so the merge does that resolution first.

    Parameters
    ----------
    profile : dict
    directory : str or Path

    Returns
    -------
    dict
    """
    directory = Path(directory)
    out = {}
    for key, value in profile.items():
        if isinstance(value, str) and value and (directory / value).exists():
            value = str((directory / value).resolve())
        out[key] = value
    return out


def snakemake_options(parser=None):
    """The long option names Snakemake accepts (installed plugins' options included).

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional
        Default: Snakemake's own parser (``snakemake.cli.get_argument_parser``).

    Returns
    -------
    set of str
        Names without the leading ``--``, e.g. ``{"cores", "slurm-logdir", ...}``.
    """
    if parser is None:
        with warnings.catch_warnings():  # plugins warn on import (e.g. no condor_config)
            warnings.simplefilter("ignore")
            from snakemake.cli import get_argument_parser

            parser = get_argument_parser()
    return {
        opt[2:] for action in parser._actions for opt in action.option_strings if opt[:2] == "--"
    }


def unknown_keys(profile, options):
    """Profile keys that are not Snakemake options, each with the reason.

    Parameters
    ----------
    profile : dict
    options : set of str
        From :func:`snakemake_options`.

    Returns
    -------
    list of str
        One message per unknown key; a key that belongs to a known executor plugin that is
        not installed says which package to install.
    """
    problems = []
    for key in profile:
        if key in options:
            continue
        backend = next((b for b in BACKENDS if key.startswith(b + "-")), None)
        if backend:
            problems.append(
                f"profile key '{key}' belongs to the {backend} executor, whose plugin is not "
                f"installed: pip install {BACKENDS[backend]['package']}"
            )
        else:
            problems.append(f"profile key '{key}' is not a Snakemake option (snakemake --help)")
    return problems


def backend_problems(profile, which=shutil.which, find_spec=importlib.util.find_spec):
    """What the profile's executor needs on this host and does not find.

    Parameters
    ----------
    profile : dict
    which : callable, optional
        ``shutil.which``-like lookup of commands (injected by tests).
    find_spec : callable, optional
        ``importlib.util.find_spec``-like lookup of modules (injected by tests).

    Returns
    -------
    list of str
        Empty when the plugin and the batch commands are there.
    """
    executor = profile.get("executor", "local")
    if executor in BUILTIN_EXECUTORS:
        return []
    spec = BACKENDS.get(executor)
    module = spec["module"] if spec else "snakemake_executor_plugin_" + executor.replace("-", "_")
    package = spec["package"] if spec else "snakemake-executor-plugin-" + executor
    problems = []
    if find_spec(module) is None:
        problems.append(f"executor '{executor}': plugin not installed (pip install {package})")
    if spec:
        missing = [c for c in spec["commands"] if which(c) is None]
        if spec["any_commands"] and not any(which(c) for c in spec["any_commands"]):
            missing.append(" or ".join(spec["any_commands"]))
        if missing:
            problems.append(
                f"executor '{executor}': command(s) {', '.join(missing)} not found on PATH; "
                f"run from a {executor} submit host"
            )
    return problems


def probe_backend(executor, run=subprocess.run, timeout=30):
    """Ask the batch system whether it answers, before anything is submitted.

    Parameters
    ----------
    executor : str
    run : callable, optional
        ``subprocess.run``-like (injected by tests).
    timeout : float, optional
        Seconds to wait for the answer.

    Returns
    -------
    str or None
        ``None`` if the backend answered (or the executor is not a batch system), else the
        reason, e.g. ``"SLURM controller unreachable: sinfo: error: ..."``.
    """
    commands = {
        "slurm": (["sinfo", "--noheader", "--summarize"], "SLURM controller"),
        "htcondor": (["condor_q", "-totals"], "HTCondor schedd"),
    }
    if executor not in commands:
        return None
    cmd, what = commands[executor]
    try:
        res = run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return f"{what} unreachable: {cmd[0]} not found"
    except subprocess.TimeoutExpired:
        return f"{what} unreachable: '{' '.join(cmd)}' gave no answer in {timeout} s"
    if res.returncode != 0:
        said = (res.stderr or res.stdout).strip().splitlines()
        return f"{what} unreachable: '{' '.join(cmd)}' said: {' / '.join(said[-3:])}"
    return None


def find_profile(name, cwd=None):
    """The config file of a profile given by path or name.

    Parameters
    ----------
    name : str
        A path to a profile folder or YAML file, or a name looked up as ``profiles/<name>``
        in ``cwd``, then in the showerflow checkout, then where Snakemake looks (its user
        and site config folders).
    cwd : str or Path, optional

    Returns
    -------
    Path
        ``.../config.yaml`` (or ``profile.yaml``).

    Raises
    ------
    FileNotFoundError
    """
    cwd = Path(cwd or os.getcwd())
    checkout = Path(__file__).resolve().parents[2]
    candidates = [cwd / name, cwd / "profiles" / name]
    if (checkout / "Snakefile").exists():
        candidates.append(checkout / "profiles" / name)
    for cand in candidates:
        if cand.is_file():
            return cand
        for fname in ("config.yaml", "profile.yaml"):
            if (cand / fname).is_file():
                return cand / fname
    try:
        from snakemake.cli import get_profile_dir

        found = get_profile_dir(name)
    except Exception:  # noqa: BLE001 - any failure there means "not found"
        found = None
    if found:
        return Path(found[1])
    raise FileNotFoundError(
        f"profile '{name}': no config.yaml in {', '.join(str(c) for c in candidates)} "
        "nor in Snakemake's profile folders"
    )


def _format_scalar(value):
    """A scalar as YAML text (JSON is valid YAML and quotes strings unambiguously)."""
    return json.dumps(value)


def render_profile(profile, origins=None, header=()):
    """The merged profile as commented YAML, each value annotated with its layer.

    Parameters
    ----------
    profile : dict
    origins : dict, optional
        From :func:`merge_layers`.
    header : sequence of str
        Comment lines for the top of the file.

    Returns
    -------
    str
        YAML that ``yaml.safe_load`` reads back to ``profile``.
    """
    origins = origins or {}

    def note(path):
        src = origins.get(path)
        return f"  # {src}" if src else ""

    lines = [f"# {h}" for h in header]
    for key, value in profile.items():
        if isinstance(value, dict):
            lines.append(f"{key}:" if value else f"{key}: {{}}")
            for sub, subval in value.items():
                if isinstance(subval, dict):
                    lines.append(f"  {sub}:" if subval else f"  {sub}: {{}}")
                    for k3, v3 in subval.items():
                        lines.append(f"    {k3}: {json.dumps(v3)}{note((key, sub, k3))}")
                else:
                    lines.append(f"  {sub}: {json.dumps(subval)}{note((key, sub))}")
        else:
            lines.append(f"{key}: {_format_scalar(value)}{note((key,))}")
    return "\n".join(lines) + "\n"


def testmode_overlay(max_files=TEST_FILES, max_events=TEST_EVENTS):
    """The config overlay of test mode (PocketCoffea's ``--test``).

    Parameters
    ----------
    max_files : int
        Input files kept per dataset.
    max_events : int
        Events read per file.

    Returns
    -------
    dict
        ``{"test_mode": {"max_files_per_dataset": ..., "max_events_per_file": ...}}``.
    """
    if max_files < 1 or max_events < 1:
        raise ValueError("test mode: files per dataset and events per file must be >= 1")
    return {"test_mode": {"max_files_per_dataset": max_files, "max_events_per_file": max_events}}


def with_configfile(args, path):
    """Append a config file to Snakemake arguments, after any ``--configfile(s)`` given.

    Snakemake's ``--configfile`` on the command line replaces the profile's list, and later
    config files override earlier ones key by key, so the overlay must come last in the
    same list.

    Parameters
    ----------
    args : list of str
        Extra Snakemake arguments.
    path : str

    Returns
    -------
    list of str or None
        The new arguments, or ``None`` if ``args`` has no ``--configfile`` (then the overlay
        belongs in the profile's ``configfiles``).
    """
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name not in ("--configfile", "--configfiles"):
            continue
        if eq:  # --configfile=a.yaml
            return [*args[: i + 1], str(path), *args[i + 1 :]]
        j = i + 1
        while j < len(args) and not args[j].startswith("-"):
            j += 1
        return [*args[:j], str(path), *args[j:]]
    return None


def build_command(profile_dir, extra=(), python=None):
    """The Snakemake command line for a written profile.

    Parameters
    ----------
    profile_dir : str or Path
    extra : sequence of str
        Arguments passed through to Snakemake.
    python : str, optional
        Interpreter (default: this one).

    Returns
    -------
    list of str
    """
    return [python or sys.executable, "-m", "snakemake", "--profile", str(profile_dir), *extra]


# --- CLI ------------------------------------------------------------------------------------


def derived_layers(layers, snakefile):
    """Layers derived from the workflow's rules for a profile (after the site layer).

    For HTCondor without a shared filesystem: each pool rule's
    ``htcondor_transfer_output_files`` (:mod:`showerflow.transfer`).

    Parameters
    ----------
    layers : list of (str, dict)
        The profile's layers so far (site, run options, ``--set``).
    snakefile : str or Path
        The Snakefile the profile will run.

    Returns
    -------
    list of (str, dict)
    """
    from .transfer import needs_transfer_lists, rule_outputs, transfer_outputs

    merged, _ = merge_layers(layers)
    if not needs_transfer_lists(merged):
        return []
    rules, results = rule_outputs(snakefile)
    return [("transfer lists from the rules", {"set-resources": transfer_outputs(rules, results)})]


def _snakefile(args):
    """The Snakefile a ``run``/``profile show`` uses: --snakefile after ``--``, or ./Snakefile."""
    extra = list(getattr(args, "snakemake_args", []) or [])
    for flag in ("--snakefile", "-s"):
        if flag in extra and extra.index(flag) + 1 < len(extra):
            return Path(extra[extra.index(flag) + 1])
    return Path("Snakefile")


def _layers(args):
    """The (name, mapping) layers of a ``profile show`` / ``run`` invocation."""
    site_file = find_profile(args.profile)
    site = resolve_profile_paths(load_mapping(site_file), site_file.parent)
    layers, sources = [("site", site)], [f"site = {site_file}"]
    if args.run_options:
        path = Path(args.run_options)
        user = resolve_profile_paths(load_mapping(path), path.resolve().parent)
        layers.append(("run-options", user))
        sources.append(f"run-options = {path.resolve()}")
    if args.set:
        layers.append(("--set", parse_assignments(args.set)))
        sources.append(f"--set = {' '.join(args.set)}")
    derived = derived_layers(layers, _snakefile(args))
    if derived:
        layers[1:1] = derived
        sources.insert(1, f"{derived[0][0]} = {_snakefile(args)}")
    return sources, layers


def _merged(args):
    """Merge the layers and check the result: ``(merged, origins, sources, problems)``."""
    sources, layers = _layers(args)
    merged, origins = merge_layers(layers)
    problems = unknown_keys(merged, snakemake_options()) + backend_problems(merged)
    return merged, origins, sources, problems


def _show(args):
    merged, origins, sources, problems = _merged(args)
    header = ["merged profile; later layers win:"] + [
        f"  {i + 1}. {s}" for i, s in enumerate(sources)
    ]
    sys.stdout.write(render_profile(merged, origins, header))
    if problems:
        raise ValueError("this profile would fail before submission:\n  " + "\n  ".join(problems))


def _run(args):
    merged, origins, sources, problems = _merged(args)
    if not args.no_check and not problems:
        reason = probe_backend(merged.get("executor", "local"))
        if reason:
            problems.append(reason)
    if problems:
        raise ValueError("not submitting:\n  " + "\n  ".join(problems))
    extra = list(args.snakemake_args)
    outdir = Path(tempfile.mkdtemp(prefix="showerflow-profile-"))
    if args.test:
        overlay = outdir / "test_mode.yaml"
        overlay.write_text(yaml.safe_dump(testmode_overlay(args.test_files, args.test_events)))
        changed = with_configfile(extra, overlay)
        if changed is not None:
            extra = changed
        else:
            existing = merged.pop("configfiles", None) or merged.pop("configfile", None) or []
            existing = [existing] if isinstance(existing, str) else list(existing)
            merged["configfiles"] = [*existing, str(overlay)]
            origins[("configfiles",)] = "--test"
    header = ["written by showerflow run; later layers win:"] + [f"  {s}" for s in sources]
    (outdir / "config.yaml").write_text(render_profile(merged, origins, header))
    cmd = build_command(outdir, extra)
    print(f"showerflow run: profile {outdir / 'config.yaml'}", file=sys.stderr)
    print(f"showerflow run: {' '.join(cmd)}", file=sys.stderr)
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


class _PassThroughParser(argparse.ArgumentParser):
    """An argument parser that hands everything after the first ``--`` to Snakemake.

    argparse alone loses a trailing ``nargs="*"`` positional once an option sits between it
    and the first positional (``run slurm --test -- -n``), so the split happens first.
    """

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        extra = []
        if "--" in args:
            i = args.index("--")
            args, extra = args[:i], args[i + 1 :]
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.snakemake_args = extra
        return namespace, rest


def _add_layer_args(parser):
    parser.add_argument(
        "profile", help="profile folder or name (looked up as profiles/<name>), e.g. slurm"
    )
    parser.add_argument(
        "--run-options",
        metavar="FILE",
        help="your YAML of profile keys; overrides the site profile key by key",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, dotted into mappings (set-resources.dl2.mem_mb=8000); "
        "an empty value removes the key; repeatable",
    )


def add_subcommands(subparsers):
    """Add ``profile show`` and ``run`` to the ``showerflow`` command.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers`` in :func:`showerflow.cli.build_parser`.
    """
    p = subparsers.add_parser("profile", help="look at a Snakemake profile merged with run options")
    psub = p.add_subparsers(dest="profile_command", required=True)
    s = psub.add_parser(
        "show",
        help="print the merged profile (site < run options < --set) and check it",
        description="Print the profile a run would use: the site profile, overridden key "
        "by key by --run-options FILE, then by --set; each value is annotated with its "
        "layer. Fails (exit 2) with the reason if a key is unknown or the executor's "
        "plugin or batch commands are missing.",
    )
    _add_layer_args(s)
    s.set_defaults(func=_show)

    r = subparsers.add_parser(
        "run",
        help="run the workflow with a merged profile: showerflow run slurm -- [snakemake args]",
        description="Merge the profile like 'profile show', check it and that the batch "
        "system answers, write it to a temporary profile folder and exec snakemake with it. "
        "Arguments after -- go to snakemake unchanged.",
    )
    r.__class__ = _PassThroughParser
    _add_layer_args(r)
    r.add_argument(
        "--test",
        action="store_true",
        help="test mode: a few files per dataset, a few events per file "
        "(config keys test_mode.max_files_per_dataset, test_mode.max_events_per_file)",
    )
    r.add_argument("--test-files", type=int, default=TEST_FILES, metavar="N")
    r.add_argument("--test-events", type=int, default=TEST_EVENTS, metavar="N")
    r.add_argument(
        "--no-check",
        action="store_true",
        help="do not ask the batch system whether it answers before submitting",
    )
    r.epilog = "Everything after -- is passed to snakemake unchanged, e.g. -- -n"
    r.set_defaults(func=_run)
