"""DIRAC job descriptions: LFNs, names, CPU time, the JDL and the worker-node runner.

Pure functions: nothing here talks to DIRAC. The limits are DIRAC's own: its JobDB schema
(``JobName VARCHAR(128)``, ``JobGroup VARCHAR(32)``, ``InputData.LFN VARCHAR(255)``), the
File Catalog's (``FC_Files.FileName VARCHAR(128)``, directory levels ``VARCHAR(255)``), and
the way its JobManager reads JDL lists (``ClassAdLight.getListFromExpression`` removes
every space and does not understand ``\\"``), which is why paths holding spaces, commas,
quotes, backslashes or braces are refused here rather than misread there.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "JOB_NAME_MAX",
    "JOB_GROUP_MAX",
    "LFN_MAX",
    "FILE_NAME_MAX",
    "MAX_INPUT_DATA",
    "CACHE_DIR",
    "RUNNER",
    "MANIFEST",
    "COMMAND",
    "SOURCES",
    "EXTRA",
    "BRIDGE",
    "LISTING",
    "STDOUT",
    "STDERR",
    "JDLError",
    "JobSpec",
    "unsafe_characters",
    "check_lfn",
    "lfn_for",
    "job_name",
    "job_group",
    "cpu_time",
    "plan_inputs",
    "sandbox_names",
    "render_manifest",
    "mtime_text",
    "jdl_string",
    "build_jdl",
    "runner_script",
]

#: DIRAC JobDB: ``JobName VARCHAR(128)``.
JOB_NAME_MAX = 128
#: DIRAC JobDB: ``JobGroup VARCHAR(32)``.
JOB_GROUP_MAX = 32
#: DIRAC JobDB: ``InputData.LFN VARCHAR(255)``.
LFN_MAX = 255
#: DIRAC File Catalog: ``FC_Files.FileName VARCHAR(128)`` (the base name of an LFN).
FILE_NAME_MAX = 128
#: DIRAC's job model refuses a user job with this many input LFNs or more
#: (``Operations/JobDescription/MaxInputData``, default 500).
MAX_INPUT_DATA = 500

#: Folder name of local copies of catalog files: ``<any>/dirac-cache/<lfn>`` is ``<lfn>``.
CACHE_DIR = "dirac-cache"

#: File names inside the job's sandbox (chosen not to collide with data file names).
RUNNER = "showerflow_job.sh"
MANIFEST = "showerflow_manifest.tsv"
COMMAND = "showerflow_cmd.sh"
SOURCES = "showerflow_sources.tar.gz"
EXTRA = "showerflow_extra.tar.gz"
#: ``bridge.py``, shipped with every job: uploads outputs with DIRAC's Python API.
BRIDGE = "showerflow_bridge.py"
#: Written by the worker (``bridge.upload_outputs``): the files of every declared output.
LISTING = "showerflow_outputs.json"
STDOUT = "std.out"
STDERR = "std.err"
RESERVED = {RUNNER, MANIFEST, COMMAND, SOURCES, EXTRA, BRIDGE, LISTING, STDOUT, STDERR}

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: What DIRAC's JDL list parser or the File Catalog cannot hold in a path.
_UNSAFE = re.compile(r"[\s,\"'\\{};\[\]=]")


class JDLError(ValueError):
    """A job that cannot be described as a DIRAC job (the message says why)."""


def unsafe_characters(text):
    """The characters of ``text`` that DIRAC's JDL list parser would misread, in order.

    ``getListFromExpression`` removes every space and newline, cuts a quoted item at the
    first ``"`` (``\\"`` is not an escape for it), and outside quotes splits on commas;
    ``;``, ``=``, braces and brackets end JDL attributes.

    Returns
    -------
    list of str
        ``[]`` when the text is safe.
    """
    return list(dict.fromkeys(_UNSAFE.findall(str(text))))


def _describe(chars):
    names = {" ": "space", "\t": "tab", "\n": "newline", ",": "comma"}
    return ", ".join(names.get(c, repr(c)) for c in chars)


def check_lfn(lfn, what="LFN"):
    """Raise :class:`JDLError` if DIRAC would refuse or misread ``lfn``.

    Checks: absolute, no ``//`` (DIRAC: "Input data contains //"), no character
    :func:`unsafe_characters` finds, at most :data:`LFN_MAX` characters, a base name of at
    most :data:`FILE_NAME_MAX`.
    """
    text = str(lfn)
    if not text.startswith("/"):
        raise JDLError(f"{what} '{text}' is not absolute (an LFN starts with '/')")
    if "//" in text:
        raise JDLError(f"{what} '{text}' contains '//', which DIRAC refuses in input data")
    bad = unsafe_characters(text)
    if bad:
        raise JDLError(
            f"{what} '{text}' contains {_describe(bad)}: DIRAC's JDL parser removes spaces "
            "and splits lists on commas; rename the file"
        )
    if len(text) > LFN_MAX:
        raise JDLError(
            f"{what} '{text}' is {len(text)} characters long; DIRAC allows {LFN_MAX} "
            "(JobDB InputData.LFN): use a shorter --dirac-lfn-base or shorter names"
        )
    base = posixpath.basename(text)
    if len(base) > FILE_NAME_MAX:
        raise JDLError(
            f"{what} '{text}': its file name is {len(base)} characters long; the File "
            f"Catalog allows {FILE_NAME_MAX} (FC_Files.FileName)"
        )


def lfn_for(path, lfn_base):
    """The LFN of a workflow file: ``lfn_base`` + its path relative to the working directory.

    Parameters
    ----------
    path : str
        Relative path inside the working directory (``results/dl2/gamma/x.parquet``).
    lfn_base : str
        Absolute LFN directory, e.g. ``/vo.cta.in2p3.fr/user/j/jdoe/showerflow``.

    Returns
    -------
    str
        A normalised LFN (:func:`check_lfn` passed). A local copy of a catalog file,
        ``<any>/dirac-cache/<lfn>`` (``datasets.local_path``), is its own LFN again.

    Raises
    ------
    JDLError
        For an absolute path or one leaving the working directory, a relative
        ``lfn_base``, or an LFN :func:`check_lfn` refuses.
    """
    if not str(lfn_base).startswith("/"):
        raise JDLError(f"the LFN base '{lfn_base}' must be absolute (start with '/')")
    norm = posixpath.normpath(str(path))
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        raise JDLError(
            f"'{path}' is outside the working directory: the dirac executor maps files "
            "relative to the working directory to LFNs; link or copy inputs below it"
        )
    parts = norm.split("/")
    if CACHE_DIR in parts[:-1]:
        lfn = "/" + "/".join(parts[parts.index(CACHE_DIR) + 1 :])
    else:
        lfn = posixpath.normpath(posixpath.join(str(lfn_base), norm))
    check_lfn(lfn, what=f"the LFN of '{path}'")
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
    two inputs with the same base name (``gamma/x.parquet``, ``proton/x.parquet``) would
    overwrite each other: those are fetched one by one by the runner.

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
    return [
        (
            "local"
            if counts[posixpath.basename(lfn)] == 1 and posixpath.basename(lfn) not in RESERVED
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


def render_manifest(
    inputs, outputs, sandbox, lfn_base, output_se, empty=(), mtimes=None, aliases=None
):
    """The runner's manifest: one tab-separated line per file to place or to upload.

    Parameters
    ----------
    inputs : list of (str, str, str)
        ``(mode, lfn, relative path)`` from :func:`plan_inputs`.
    outputs : list of (str, str, str)
        ``(relative path, lfn, kind)`` with kind ``"file"`` or ``"dir"`` (a
        ``directory()`` output: every file inside is uploaded as ``<lfn>/<sub path>``).
    sandbox : list of (str, str)
        ``(relative path, sandbox name)``: logs and benchmarks returned in the sandbox.
    lfn_base, output_se : str
        The ``base`` line: where the worker uploads outputs.
    empty : list of str
        Empty input files (DIRAC stores none): the runner creates them.
    mtimes : dict, optional
        ``{relative path: mtime}`` of inputs (:func:`mtime_text`): the runner gives each
        placed input the modification time it has on the submit host, so a job that
        records its inputs' states (showerflow's receipts) records what this host sees.
    aliases : dict, optional
        ``{relative path of a file inside a directory output: lfn}``: that file is
        uploaded under this LFN instead of ``<directory lfn>/<sub path>``.

    Returns
    -------
    str
    """
    mtimes, aliases = mtimes or {}, aliases or {}
    for value in (lfn_base, output_se):
        _check_field(value, "LFN base or SE")
    lines = [f"base\t{lfn_base}\t{output_se}"]
    for mode, lfn, rel in inputs:
        for value in (lfn, rel):
            _check_field(value, "input")
        lines.append(f"in\t{mode}\t{lfn}\t{rel}\t{mtimes.get(rel, '')}")
    for rel in empty:
        _check_field(rel, "input")
        lines.append(f"mk\t{rel}\t{mtimes.get(rel, '')}")
    for rel, lfn, kind in outputs:
        if kind not in ("file", "dir"):
            raise JDLError(f"output kind must be 'file' or 'dir', got {kind!r}")
        for value in (rel, lfn):
            _check_field(value, "output")
        lines.append(f"out\t{rel}\t{lfn}\t{kind}")
    for rel, lfn in sorted(aliases.items()):
        for value in (rel, lfn):
            _check_field(value, "output")
        check_lfn(lfn, f"the LFN of '{rel}'")
        lines.append(f"as\t{rel}\t{lfn}")
    for rel, name in sandbox:
        _check_field(rel, "log")
        lines.append(f"sb\t{rel}\t{name}")
    return "\n".join(lines) + "\n"


def mtime_text(path):
    """A file's modification time as ``touch -d @<seconds>.<nanoseconds>`` reads it."""
    ns = os.stat(path).st_mtime_ns
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def jdl_string(value):
    """A JDL string literal, refusing what DIRAC's parser cannot read back.

    DIRAC's ClassAd reader does not understand ``\\"`` and strips spaces from list items,
    so no escaping can carry a quote or a backslash: such values are refused.
    """
    text = str(value)
    if any(c in text for c in '"\\\n\r'):
        raise JDLError(
            f"JDL value {text!r} holds a quote, backslash or newline, which DIRAC's JDL "
            "parser cannot read back"
        )
    return f'"{text}"'


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
        Base names returned with the job's output sandbox.
    input_data : list of str
        LFNs (written with the ``LFN:`` prefix; DIRAC downloads them before the job runs).
    output_se : str
        Where the worker uploads the outputs (the runner's manifest) and ``OutputSE``.
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
    output_se: str = ""
    cpu_time: int = 86400
    processors: int = 1
    sites: list = field(default_factory=list)
    banned_sites: list = field(default_factory=list)
    group: str | None = None


def build_jdl(spec, max_input_data=MAX_INPUT_DATA):
    """The JDL text of a job.

    Outputs are not ``OutputData``: DIRAC's job wrapper skips a missing output file
    without failing the job and refuses to replace an LFN a previous attempt registered,
    so the runner uploads them itself (``bridge.upload_outputs``, with overwrite and a
    check of each registration). ``OutputSE`` still names the storage element.

    Parameters
    ----------
    spec : JobSpec
    max_input_data : int
        The VO's ``JobDescription/MaxInputData`` (DIRAC refuses that many LFNs or more).

    Returns
    -------
    str

    Raises
    ------
    JDLError
        For as many input LFNs as ``max_input_data`` or more, a name over 128 characters, no output SE, a site that is also banned, a
        non-positive CPU time, an LFN :func:`check_lfn` refuses, or a sandbox path
        DIRAC would misread (:func:`unsafe_characters`).
    """
    if not spec.name or len(spec.name) > JOB_NAME_MAX:
        raise JDLError(f"JobName must have 1 to {JOB_NAME_MAX} characters: '{spec.name}'")
    if not spec.output_se:
        raise JDLError("no OutputSE: set --dirac-output-se (a storage element you can write to)")
    both = sorted(set(spec.sites) & set(spec.banned_sites))
    if both:
        raise JDLError(f"site(s) {both} are both allowed (Site) and banned (BannedSites)")
    if int(spec.cpu_time) <= 0:
        raise JDLError(f"CPUTime must be positive, got {spec.cpu_time}")
    if len(spec.input_data) >= max_input_data:
        raise JDLError(
            f"the job has {len(spec.input_data)} input files; DIRAC refuses {max_input_data} "
            "or more per job (JobDescription/MaxInputData): lower files_per_job, or list "
            "the rule in --dirac-local-rules"
        )
    for lfn in spec.input_data:
        check_lfn(lfn, "input LFN")
    for path in [*spec.input_sandbox, *spec.output_sandbox]:
        bad = unsafe_characters(path)
        if bad:
            raise JDLError(
                f"sandbox path '{path}' contains {_describe(bad)}: DIRAC's JDL parser "
                "would read another path (it removes spaces and splits on commas); "
                "run from a working directory whose path has none"
            )
    dupes = [
        n for n, c in Counter(posixpath.basename(p) for p in spec.input_sandbox).items() if c > 1
    ]
    if dupes:
        raise JDLError(
            f"input sandbox files share the base name(s) {sorted(dupes)}: DIRAC unpacks "
            "them into one directory"
        )
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
    items.append(("OutputSE", spec.output_se))
    if spec.sites:
        items.append(("Site", list(spec.sites)))
    if spec.banned_sites:
        items.append(("BannedSites", list(spec.banned_sites)))
    if spec.group:
        items.append(("JobGroup", job_group(spec.group)))
    body = "\n".join(f"    {key} = {_jdl_value(value)};" for key, value in items)
    return f"[\n{body}\n]\n"


def runner_script():
    """The bash script DIRAC runs on the worker node (the JDL's ``Executable``).

    It unpacks the workflow sources (and the checkpoint outputs the job's input functions
    read), moves each input to its path in the working directory (fetching it with the
    bridge when DIRAC did not download it, or when base names clash), runs the Snakemake
    job command, then uploads every file of every declared output (``upload-outputs``,
    with DIRAC's Python: the ``python3`` beside the ``dirac-*`` commands) and copies logs
    to their output-sandbox names. Exit codes: the job command's own; 90 sources not
    unpacked; 91/92 an input not placed or fetched; 93 an upload failed; 94 a declared
    output was not written; 95 no DIRAC Python on the node.

    Returns
    -------
    str
    """
    return f"""#!/bin/bash
# showerflow: run one Snakemake job inside a DIRAC job. Usage: {RUNNER} {MANIFEST}
manifest="${{1:-{MANIFEST}}}"
echo "showerflow job: $(date -u +%FT%TZ) on $(hostname), DIRAC job ${{JOBID:-?}} at ${{DIRACSITE:-?}}"
for archive in {SOURCES} {EXTRA}; do
    if [ -f "$archive" ]; then tar -xzf "$archive" || exit 90; fi
done
# DIRAC's Python (it imports DIRAC), found before the job command changes PATH
dpy=""
for cand in "$(dirname "$(command -v dirac-dms-add-file 2>/dev/null)")/python3" \\
            "${{DIRAC:+$DIRAC/bin/python3}}" "$(command -v python3)"; do
    if [ -x "$cand" ] && "$cand" -c 'import DIRAC' 2>/dev/null; then dpy="$cand"; break; fi
done
[ -n "$dpy" ] || {{ echo "showerflow: no Python that imports DIRAC on this node" >&2; exit 95; }}
while IFS=$'\\t' read -r kind mode lfn rel mtime; do
    [ "$kind" = in ] || continue
    mkdir -p "$(dirname "$rel")"
    base="$(basename "$lfn")"
    if [ "$mode" = local ] && [ -f "$base" ]; then
        mv -f "$base" "$rel" || exit 91
    else
        tmp="$(mktemp -d showerflow_get.XXXXXX)"
        "$dpy" {BRIDGE} get-file "$lfn" "$tmp" >/dev/null || {{ echo "showerflow: cannot fetch $lfn" >&2; exit 92; }}
        mv -f "$tmp/$base" "$rel" || exit 92
        rm -rf "$tmp"
    fi
    if [ -n "$mtime" ]; then touch -m -d "@$mtime" "$rel" || exit 91; fi
done < "$manifest"
while IFS=$'\\t' read -r kind rel mtime; do
    [ "$kind" = mk ] || continue
    mkdir -p "$(dirname "$rel")" && : > "$rel" || exit 91
    if [ -n "$mtime" ]; then touch -m -d "@$mtime" "$rel" || exit 91; fi
done < "$manifest"
bash {COMMAND}
rc=$?
echo "showerflow job command exit code: $rc"
if [ "$rc" -eq 0 ]; then
    "$dpy" {BRIDGE} upload-outputs "$manifest"
    up=$?
    if [ "$up" -eq 3 ]; then rc=94; elif [ "$up" -ne 0 ]; then rc=93; fi
fi
while IFS=$'\\t' read -r kind rel name rest; do
    if [ "$kind" = sb ] && [ -f "$rel" ] && [ "$rel" != "$name" ]; then cp -f "$rel" "$name"; fi
done < "$manifest"
exit $rc
"""
