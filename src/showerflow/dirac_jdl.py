"""DIRAC job descriptions: LFNs, job names, CPU time, the JDL and the worker-node runner.

Pure functions, except the worker-node helper at the end: this file is also shipped with
every job (as ``showerflow_jdl.py``, standard library only) and run there as
``python3 showerflow_jdl.py upload-extra showerflow_manifest.tsv`` to upload the files that
batch manifests list (:func:`upload_extra_outputs`). Everything else here calls no DIRAC
command. :mod:`showerflow.dirac` runs the commands on the submit side and the Snakemake
executor plugin ``snakemake_executor_plugin_dirac`` ties both to the workflow. The JDL keys follow DIRAC's ``Job`` API (``Executable``, ``Arguments``,
``InputSandbox``, ``OutputSandbox``, ``InputData``, ``OutputData``, ``OutputSE``,
``CPUTime``, ``NumberOfProcessors``, ``Site``, ``BannedSites``, ``JobGroup``); limits come
from DIRAC's JobDB schema (``JobName VARCHAR(128)``, ``JobGroup VARCHAR(32)``,
``InputData.LFN VARCHAR(255)``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "JOB_NAME_MAX",
    "JOB_GROUP_MAX",
    "LFN_MAX",
    "RUNNER",
    "MANIFEST",
    "COMMAND",
    "SOURCES",
    "EXTRA",
    "HELPER",
    "JDLError",
    "WorkerError",
    "JobSpec",
    "lfn_for",
    "job_name",
    "job_group",
    "cpu_time",
    "plan_inputs",
    "sandbox_names",
    "render_manifest",
    "jdl_string",
    "build_jdl",
    "parse_jdl",
    "runner_script",
    "parse_pprint",
    "same_adler32",
    "file_adler32",
    "read_batch_manifest",
    "manifest_outputs",
    "upload_extra_outputs",
]

#: DIRAC JobDB: ``JobName VARCHAR(128)``.
JOB_NAME_MAX = 128
#: DIRAC JobDB: ``JobGroup VARCHAR(32)``.
JOB_GROUP_MAX = 32
#: DIRAC JobDB: ``InputData.LFN VARCHAR(255)``.
LFN_MAX = 255

#: File names inside the job's sandbox (chosen not to collide with data file names).
RUNNER = "showerflow_job.sh"
MANIFEST = "showerflow_manifest.tsv"
COMMAND = "showerflow_cmd.sh"
SOURCES = "showerflow_sources.tar.gz"
EXTRA = "showerflow_extra.tar.gz"
#: This file, shipped with every job: uploads the files batch manifests list.
HELPER = "showerflow_jdl.py"
STDOUT = "std.out"
STDERR = "std.err"

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class JDLError(ValueError):
    """A job that cannot be described as a DIRAC job (the message says why)."""


def lfn_for(path, lfn_base):
    """The LFN of a workflow file: ``lfn_base`` + its path relative to the working directory.

    Parameters
    ----------
    path : str
        Relative path inside the working directory (``results/dl2/gamma/batch0.parquet``).
    lfn_base : str
        Absolute LFN directory, e.g. ``/vo.cta.in2p3.fr/user/j/jdoe/showerflow``.

    Returns
    -------
    str
        A normalised LFN without ``//`` (DIRAC rejects input data containing ``//``).

    Raises
    ------
    JDLError
        For an absolute path or one leaving the working directory, a relative
        ``lfn_base``, whitespace in the path, or an LFN longer than 255 characters.
    """
    if not lfn_base.startswith("/"):
        raise JDLError(f"the LFN base '{lfn_base}' must be absolute (start with '/')")
    norm = posixpath.normpath(str(path))
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        raise JDLError(
            f"'{path}' is outside the working directory: the dirac executor maps files "
            "relative to the working directory to LFNs; link or copy inputs below it"
        )
    if re.search(r"\s", norm):
        raise JDLError(f"'{path}' contains whitespace, which LFNs and JDL lists cannot hold")
    lfn = posixpath.normpath(posixpath.join(lfn_base, norm))
    if len(lfn) > LFN_MAX:
        raise JDLError(f"LFN '{lfn}' is {len(lfn)} characters long, DIRAC allows {LFN_MAX}")
    return lfn


def _shorten(text, limit):
    """``text`` if it fits in ``limit`` characters, else its head + a hash of the whole."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{text[: limit - len(digest) - 1]}-{digest}"


def job_name(rule, wildcards=None, jobid=None, prefix="showerflow"):
    """A DIRAC JobName: ``<prefix>.<rule>.<wildcard values>.<jobid>``, at most 128 characters.

    Characters other than letters, digits, ``_``, ``.`` and ``-`` become ``_``. A name
    that is too long keeps its start and gets a short hash, so two long names stay distinct.

    Parameters
    ----------
    rule : str
    wildcards : dict, optional
        Wildcard values in order (``{"dataset": "gamma", "batch": "3"}``).
    jobid : int or str, optional
        Snakemake's job id, appended last.
    prefix : str

    Returns
    -------
    str
    """
    parts = [prefix, rule, *[str(v) for v in (wildcards or {}).values()]]
    if jobid is not None:
        parts.append(str(jobid))
    name = _NAME_SAFE.sub("_", ".".join(p for p in parts if p != ""))
    return _shorten(name, JOB_NAME_MAX)


def job_group(name):
    """A DIRAC JobGroup (at most 32 characters, same character set as :func:`job_name`)."""
    return _shorten(_NAME_SAFE.sub("_", name), JOB_GROUP_MAX)


def cpu_time(runtime_min, threads=1, cpu_power=10.0, minimum=300):
    """DIRAC ``CPUTime`` for a job: wall-clock seconds x cores x the CPU power of a core.

    DIRAC counts CPU time in normalised units (seconds on a reference core, HS06-like);
    ``cpu_power`` converts wall-clock seconds of one of the site's cores into those units.

    Parameters
    ----------
    runtime_min : float
        The rule's ``runtime`` resource (minutes).
    threads : int
    cpu_power : float
        Normalisation factor per core (default 10, a typical HS06 score per core).
    minimum : int
        Lower bound in normalised seconds.

    Returns
    -------
    int
    """
    if runtime_min is None or runtime_min <= 0:
        raise JDLError(f"runtime must be a positive number of minutes, got {runtime_min!r}")
    return max(int(minimum), int(round(runtime_min * 60 * max(1, int(threads)) * cpu_power)))


def plan_inputs(pairs):
    """How the runner places each input on the worker node.

    DIRAC downloads ``InputData`` into the job's directory under the file's base name, so
    two inputs with the same base name (``gamma/batch0.parquet``, ``proton/batch0.parquet``)
    would overwrite each other: those are fetched one by one with ``dirac-dms-get-file``.

    Parameters
    ----------
    pairs : list of (str, str)
        ``(lfn, relative path)`` of every input.

    Returns
    -------
    list of (str, str, str)
        ``(mode, lfn, relative path)`` with mode ``"local"`` (take ``./<basename>``) or
        ``"fetch"``.
    """
    counts = Counter(posixpath.basename(lfn) for lfn, _ in pairs)
    reserved = {RUNNER, MANIFEST, COMMAND, SOURCES, EXTRA, HELPER, STDOUT, STDERR}
    return [
        (
            "local"
            if counts[posixpath.basename(lfn)] == 1 and posixpath.basename(lfn) not in reserved
            else "fetch",
            lfn,
            rel,
        )
        for lfn, rel in pairs
    ]


def sandbox_names(paths):
    """Flat, unique output-sandbox names for files at nested paths (logs, benchmarks).

    Parameters
    ----------
    paths : list of str

    Returns
    -------
    list of str
        ``sf_<i>_<basename>`` for the i-th path.
    """
    return [f"sf_{i}_{_NAME_SAFE.sub('_', posixpath.basename(p))}" for i, p in enumerate(paths)]


def _check_field(value, what):
    if any(c in str(value) for c in "\t\n\r"):
        raise JDLError(f"{what} '{value}' contains a tab or newline")


def render_manifest(inputs, outputs, sandbox, lfn_base=None, output_se=None):
    """The runner's manifest: one tab-separated line per file to place or to collect.

    Parameters
    ----------
    inputs : list of (str, str, str)
        ``(mode, lfn, relative path)`` from :func:`plan_inputs`.
    outputs : list of (str, str)
        ``(relative path, base name of its LFN)``: copied to the job directory, where
        DIRAC's job wrapper picks up ``OutputData``.
    sandbox : list of (str, str)
        ``(relative path, sandbox name)``: logs and benchmarks returned in the sandbox.
    lfn_base, output_se : str, optional
        Where the worker uploads the files listed by batch manifests among the outputs
        (a ``base`` line; without it the runner uploads nothing itself).

    Returns
    -------
    str
    """
    lines = []
    if lfn_base and output_se:
        for value in (lfn_base, output_se):
            _check_field(value, "LFN base or SE")
        lines.append(f"base\t{lfn_base}\t{output_se}")
    for mode, lfn, rel in inputs:
        for value in (lfn, rel):
            _check_field(value, "input")
        lines.append(f"in\t{mode}\t{lfn}\t{rel}")
    for rel, name in outputs:
        _check_field(rel, "output")
        lines.append(f"out\t{rel}\t{name}")
    for rel, name in sandbox:
        _check_field(rel, "log")
        lines.append(f"sb\t{rel}\t{name}")
    return "\n".join(lines) + "\n"


def jdl_string(value):
    """A JDL (ClassAd) string literal: double quotes, with ``\\`` and ``"`` escaped."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise JDLError(f"JDL values cannot contain newlines: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _jdl_value(value):
    if isinstance(value, bool):
        return jdl_string("true" if value else "false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "{" + ", ".join(jdl_string(v) for v in value) + "}"
    return jdl_string(value)


@dataclass
class JobSpec:
    """Everything a JDL says about one job.

    Attributes
    ----------
    name : str
        JobName (checked against the 128-character limit).
    executable : str
        Base name of the runner shipped in the input sandbox.
    arguments : str
    input_sandbox : list of str
        Local paths uploaded with the job.
    output_sandbox : list of str
        Base names returned by ``dirac-wms-job-get-output``.
    input_data : list of str
        LFNs (written with the ``LFN:`` prefix).
    output_data : list of str
        LFNs the job wrapper uploads to ``output_se`` and registers.
    output_se : str
    cpu_time : int
    processors : int
    sites : list of str
        Allowed sites (empty: any site).
    banned_sites : list of str
    group : str, optional
    """

    name: str
    executable: str
    arguments: str
    input_sandbox: list = field(default_factory=list)
    output_sandbox: list = field(default_factory=list)
    input_data: list = field(default_factory=list)
    output_data: list = field(default_factory=list)
    output_se: str = ""
    cpu_time: int = 86400
    processors: int = 1
    sites: list = field(default_factory=list)
    banned_sites: list = field(default_factory=list)
    group: str | None = None


def build_jdl(spec):
    """The JDL text of a job.

    Parameters
    ----------
    spec : JobSpec

    Returns
    -------
    str

    Raises
    ------
    JDLError
        For a name over 128 characters, outputs without an output SE, output LFNs with
        the same base name (the job wrapper uploads them from one directory), a site that
        is also banned, or a non-positive CPU time.
    """
    if not spec.name or len(spec.name) > JOB_NAME_MAX:
        raise JDLError(f"JobName must have 1 to {JOB_NAME_MAX} characters: '{spec.name}'")
    if spec.output_data and not spec.output_se:
        raise JDLError("OutputData needs an OutputSE (--dirac-output-se)")
    dupes = [
        n for n, c in Counter(posixpath.basename(x) for x in spec.output_data).items() if c > 1
    ]
    if dupes:
        raise JDLError(
            f"outputs share the base name(s) {sorted(dupes)}: DIRAC uploads OutputData from "
            "the job's directory by base name, so one job's outputs need distinct names"
        )
    both = sorted(set(spec.sites) & set(spec.banned_sites))
    if both:
        raise JDLError(f"site(s) {both} are both allowed (Site) and banned (BannedSites)")
    if int(spec.cpu_time) <= 0:
        raise JDLError(f"CPUTime must be positive, got {spec.cpu_time}")
    for lfn in [*spec.input_data, *spec.output_data]:
        if not lfn.startswith("/") or "//" in lfn or len(lfn) > LFN_MAX:
            raise JDLError(f"'{lfn}' is not a valid LFN (absolute, no '//', <= {LFN_MAX})")
    items = [
        ("JobName", spec.name),
        ("Executable", spec.executable),
        ("Arguments", spec.arguments),
        ("StdOutput", STDOUT),
        ("StdError", STDERR),
        ("InputSandbox", list(spec.input_sandbox)),
        ("OutputSandbox", [STDOUT, STDERR, *spec.output_sandbox]),
        ("CPUTime", int(spec.cpu_time)),
        ("NumberOfProcessors", int(spec.processors)),
    ]
    if spec.input_data:
        items.append(("InputData", [f"LFN:{x}" for x in spec.input_data]))
    if spec.output_data:
        items.append(("OutputData", [f"LFN:{x}" for x in spec.output_data]))
        items.append(("OutputSE", spec.output_se))
    items.append(("Site", list(spec.sites) if spec.sites else "ANY"))
    if spec.banned_sites:
        items.append(("BannedSites", list(spec.banned_sites)))
    if spec.group:
        items.append(("JobGroup", job_group(spec.group)))
    body = "\n".join(f"    {key} = {_jdl_value(value)};" for key, value in items)
    return f"[\n{body}\n]\n"


_JDL_ITEM = re.compile(r'\s*(\w+)\s*=\s*(\{.*?\}|"(?:[^"\\]|\\.)*"|[^;]+?)\s*;', re.S)
_JDL_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unquote(text):
    return re.sub(r"\\(.)", r"\1", text)


def parse_jdl(text):
    """Parse the JDL subset :func:`build_jdl` writes (strings, integers, string lists).

    Parameters
    ----------
    text : str

    Returns
    -------
    dict
        Strings as ``str``, integers as ``int``, lists as ``list`` of ``str``.
    """
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    out = {}
    for key, raw in _JDL_ITEM.findall(body):
        if raw.startswith("{"):
            out[key] = [_unquote(s) for s in _JDL_STR.findall(raw)]
        elif raw.startswith('"'):
            out[key] = _unquote(raw[1:-1])
        else:
            out[key] = int(raw) if raw.lstrip("-").isdigit() else raw
    return out


def runner_script():
    """The bash script DIRAC runs on the worker node (the JDL's ``Executable``).

    It unpacks the workflow sources (and the checkpoint outputs the job's input functions
    read), moves each input to its path in the working directory (fetching it with
    ``dirac-dms-get-file`` when DIRAC did not download it, or when base names clash),
    runs the Snakemake job command, uploads the files listed by batch manifests among the
    outputs (:func:`upload_extra_outputs`, run with the node's ``python3``), then copies
    outputs to the job directory, where DIRAC's job wrapper uploads ``OutputData``, and
    logs to their output-sandbox names. It exits with the job command's exit code (93 if
    the command succeeded but an upload failed), so DIRAC marks a failed job ``Failed``.

    Returns
    -------
    str
    """
    return f"""#!/bin/bash
# showerflow: run one Snakemake job inside a DIRAC job. Usage: {RUNNER} {MANIFEST}
manifest="${{1:-{MANIFEST}}}"
echo "showerflow job: $(date -u +%FT%TZ) on $(hostname)"
for archive in {SOURCES} {EXTRA}; do
    if [ -f "$archive" ]; then tar -xzf "$archive" || exit 90; fi
done
while IFS=$'\\t' read -r kind mode lfn rel; do
    [ "$kind" = in ] || continue
    mkdir -p "$(dirname "$rel")"
    base="$(basename "$lfn")"
    if [ "$mode" = local ] && [ -f "$base" ]; then
        mv -f "$base" "$rel" || exit 91
    else
        tmp="$(mktemp -d showerflow_get.XXXXXX)"
        (cd "$tmp" && dirac-dms-get-file "$lfn") || {{ echo "cannot fetch $lfn" >&2; exit 92; }}
        mv -f "$tmp/$base" "$rel" || exit 92
        rm -rf "$tmp"
    fi
done < "$manifest"
bash {COMMAND}
rc=$?
echo "showerflow job command exit code: $rc"
if [ "$rc" -eq 0 ] && [ -f {HELPER} ] && grep -q "^base" "$manifest"; then
    py="$(command -v python3 || command -v python)"
    if [ -z "$py" ]; then
        echo "showerflow: no python3 on this node to upload batch outputs" >&2
        rc=93
    else
        "$py" {HELPER} upload-extra "$manifest" || rc=93
    fi
fi
while IFS=$'\\t' read -r kind rel name rest; do
    case "$kind" in
        out|sb) if [ -f "$rel" ] && [ "$rel" != "$name" ]; then cp -f "$rel" "$name"; fi ;;
    esac
done < "$manifest"
exit $rc
"""


# -- shared by the submit side and the worker node (standard library only) ------------
class _Literalise(ast.NodeTransformer):
    """Turn calls like ``datetime.datetime(2011, 2, 11)`` into their source text."""

    def __init__(self, source):
        self.source = source

    def visit_Call(self, node):  # noqa: N802 (ast API)
        return ast.copy_location(
            ast.Constant(ast.get_source_segment(self.source, node) or ""), node
        )


def parse_pprint(text):
    """Parse a Python ``pprint`` dict as DIRAC's data-management commands print it.

    Constructor calls (``datetime.datetime(...)``) become their source text and
    Python 2 long literals (``250L``) become integers; nothing is evaluated.

    Parameters
    ----------
    text : str
        Command output; the dict starts at the first line that starts with ``{``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If no dict can be read.
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("{"):
            continue
        for j in range(len(lines), i, -1):
            chunk = re.sub(r"\b(\d+)L\b", r"\1", "\n".join(lines[i:j]))
            try:
                tree = ast.parse(chunk, mode="eval")
            except SyntaxError:
                continue
            value = ast.literal_eval(_Literalise(chunk).visit(tree))
            if isinstance(value, dict):
                return value
    raise ValueError("no dict found in the command output")


def same_adler32(a, b):
    """True if two Adler-32 hex strings are the same number (DIRAC may drop leading zeros)."""
    try:
        return int(str(a), 16) == int(str(b), 16)
    except ValueError:
        return False


def file_adler32(path, chunk=1 << 20):
    """Adler-32 of a file as 8 hex digits (as ``showerflow.catalog.adler32``; no numpy here)."""
    value = 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


#: Larger JSON files are not read as batch manifests.
BATCH_MANIFEST_MAX_BYTES = 64_000_000


def read_batch_manifest(path, max_bytes=BATCH_MANIFEST_MAX_BYTES):
    """The content of a batch manifest, or None if ``path`` is not one.

    A batch manifest is a JSON file whose top-level object has an ``outputs`` list of
    objects, each with an ``output`` key: the path (relative to the working directory) of
    a file the job wrote besides its declared outputs (showerflow's batch rules:
    ``{"outputs": [{"file", "output", "state", "n_rows"}], "failed": [...]}``). Files
    that do not start with ``{``, are larger than ``max_bytes`` or do not parse are not
    manifests.

    Parameters
    ----------
    path : str
    max_bytes : int

    Returns
    -------
    dict or None
    """
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > max_bytes:
            return None
        with open(path, "rb") as f:
            if not f.read(4096).lstrip().startswith(b"{"):
                return None
            f.seek(0)
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):  # includes JSON and Unicode decoding errors
        return None
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
        return None
    for rec in data["outputs"]:
        if not isinstance(rec, dict) or not isinstance(rec.get("output"), str):
            return None
        if not rec["output"]:
            return None
    return data


def manifest_outputs(data):
    """The files a batch manifest lists (normalised relative paths, each once, in order).

    Parameters
    ----------
    data : dict or None
        From :func:`read_batch_manifest`.

    Returns
    -------
    list of str
    """
    seen, out = set(), []
    for rec in (data or {}).get("outputs", []):
        path = posixpath.normpath(rec["output"])
        if path not in seen:
            seen.add(path)
            out.append(path)
    return out


# -- the worker-node helper ----------------------------------------------------------
class WorkerError(RuntimeError):
    """A file listed by a batch manifest could not be uploaded from the worker node."""


def _run(args, timeout=3600):
    """Run a command, never raising: a missing command or a timeout is a failed process."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]}: no answer in {timeout} s")
    except OSError as err:
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: {err}")


def _last_line(proc):
    lines = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
    return lines[-1] if lines else ""


def _read_runner_manifest(path):
    """``(lfn base, SE, declared output paths)`` from the runner's manifest."""
    base = se = None
    outputs = []
    with open(path) as f:
        for line in f.read().splitlines():
            parts = line.split("\t")
            if parts[0] == "base" and len(parts) >= 3:
                base, se = parts[1], parts[2]
            elif parts[0] == "out" and len(parts) >= 3:
                outputs.append(parts[1])
    return base, se, outputs


def _catalog_checksums(lfns, run):
    """``{lfn: catalog checksum}`` of the LFNs the File Catalog has (one command)."""
    if not lfns:
        return {}
    with tempfile.NamedTemporaryFile("w", suffix=".lfns", delete=False) as f:
        f.write("\n".join(lfns) + "\n")
    try:
        proc = run(["dirac-dms-lfn-metadata", lfns[0] if len(lfns) == 1 else f.name])
    finally:
        os.unlink(f.name)
    try:
        found = parse_pprint(proc.stdout).get("Successful", {})
    except ValueError:
        return {}
    return {lfn: meta.get("Checksum") for lfn, meta in found.items() if isinstance(meta, dict)}


def upload_extra_outputs(manifest=MANIFEST, attempts=3, wait=20.0, run=_run, log=None):
    """Upload the files listed by the batch manifests among a job's declared outputs.

    Runs on the worker node after the job command succeeded. Each listed file (declared
    outputs excepted: DIRAC's job wrapper uploads those) is uploaded to
    ``<lfn base>/<relative path>`` on the job's output SE with ``dirac-dms-add-file -f``
    (``-f``: a rerun of the batch replaces its earlier upload), which registers it with the
    Adler-32 DIRAC computes. The File Catalog is then asked (``dirac-dms-lfn-metadata``,
    one call) whether each file is registered with the checksum computed here, because
    ``dirac-dms-add-file`` exits 0 when the upload worked but the registration failed.
    Missing or different files are uploaded again, ``attempts`` times in all.

    Parameters
    ----------
    manifest : str
        The runner's manifest (its ``base`` line gives the LFN base and the SE; without
        one nothing is uploaded).
    attempts : int
    wait : float
        Seconds between attempts.
    run : callable
        ``run(args) -> subprocess.CompletedProcess`` (tests pass a fake).
    log : callable, optional
        Gets one line per uploaded file (default: print).

    Returns
    -------
    list of (str, str)
        ``(relative path, LFN)`` of every uploaded file.

    Raises
    ------
    WorkerError
        A listed file is missing, or still not registered with its checksum.
    JDLError
        A listed path cannot be an LFN (absolute, outside the working directory...).
    """
    log = log or (lambda line: print(line, flush=True))
    base, se, declared = _read_runner_manifest(manifest)
    if not base or not se:
        return []
    skip = {posixpath.normpath(d) for d in declared}
    todo = {}  # lfn -> (path, size, adler32)
    for rel in declared:
        data = read_batch_manifest(rel)
        if data is None:
            continue
        for path in manifest_outputs(data):
            if path in skip:
                continue
            skip.add(path)
            if not os.path.isfile(path):
                raise WorkerError(f"{rel} lists {path}, which is not a file on this node")
            todo[lfn_for(path, base)] = (path, os.path.getsize(path), file_adler32(path))
    pending = dict(todo)
    problems = {}
    for attempt in range(1, int(attempts) + 1):
        problems = {}
        for lfn, (path, _, _) in pending.items():
            proc = run(["dirac-dms-add-file", "-f", lfn, path, se])
            if proc.returncode != 0:
                problems[lfn] = f"dirac-dms-add-file exit {proc.returncode}: {_last_line(proc)}"
        registered = _catalog_checksums(list(pending), run)
        for lfn in list(pending):
            path, size, checksum = pending[lfn]
            got = registered.get(lfn)
            if got is not None and same_adler32(got, checksum):
                log(f"showerflow: uploaded {path} as {lfn} ({size} bytes, Adler-32 {checksum})")
                del pending[lfn]
                problems.pop(lfn, None)
            elif lfn not in problems:
                problems[lfn] = (
                    "not in the File Catalog after the upload"
                    if got is None
                    else f"File Catalog checksum {got}, local {checksum}"
                )
        if not pending:
            break
        if attempt < attempts:
            log(f"showerflow: {len(pending)} upload(s) failed (attempt {attempt}/{attempts})")
            time.sleep(wait)
    if pending:
        raise WorkerError(
            f"{len(pending)} file(s) listed by batch manifests not uploaded after "
            f"{attempts} attempt(s): " + "; ".join(f"{k}: {problems[k]}" for k in pending)
        )
    return [(path, lfn) for lfn, (path, _, _) in todo.items()]


def main(argv=None):
    """Worker-node entry point: ``python3 showerflow_jdl.py upload-extra [manifest]``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] != "upload-extra":
        print(f"usage: python3 {HELPER} upload-extra [{MANIFEST}]", file=sys.stderr)
        return 2
    try:
        done = upload_extra_outputs(args[1] if len(args) > 1 else MANIFEST)
    except (WorkerError, JDLError, OSError) as err:
        print(f"showerflow: batch outputs not uploaded: {err}", file=sys.stderr, flush=True)
        return 93
    print(f"showerflow: {len(done)} file(s) listed by batch manifests uploaded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
