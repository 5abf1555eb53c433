"""The DIRAC command line, wrapped: submission, status, output retrieval, the File Catalog.

Every call goes through :class:`DiracClient`, which runs the ``dirac-*`` command, parses
its output with the pure ``parse_*`` functions below and raises :class:`DiracError` with
a readable message on failure. Nothing a proxy reveals (its path, DN or contents) is
logged or put into an error message: every text passes :func:`redact` first.
``docs/dirac.md`` lists each call with its arguments and the output parsed here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .catalog import adler32
from .dirac_jdl import lfn_for, parse_pprint, same_adler32

__all__ = [
    "COMMANDS",
    "DiracError",
    "BackendUnavailable",
    "redact",
    "proxy_secrets",
    "missing_commands",
    "parse_submit_output",
    "parse_status_output",
    "classify_status",
    "failure_reason",
    "parse_proxy_info",
    "parse_timeleft",
    "parse_pprint",
    "parse_fc_cli_output",
    "same_adler32",
    "meta_value",
    "particle_of",
    "file_metadata",
    "input_lfn",
    "update_manifest_states",
    "DiracClient",
]

#: Every DIRAC command the wrapper calls.
COMMANDS = (
    "dirac-proxy-info",
    "dirac-wms-job-submit",
    "dirac-wms-job-status",
    "dirac-wms-job-get-output",
    "dirac-wms-job-kill",
    "dirac-dms-lfn-metadata",
    "dirac-dms-add-file",
    "dirac-dms-get-file",
    "dirac-dms-directory-sync",
    "dirac-dms-filecatalog-cli",
)

#: DIRAC job states (``DIRAC.WorkloadManagementSystem.Client.JobStatus``) by what they mean here.
PENDING = ("Submitting", "Received", "Checking", "Staging", "Waiting", "Matched", "Rescheduled")
RUNNING = ("Running", "Completing", "Completed")
#: Minor statuses that mean the site or DIRAC's watchdog stopped the job.
LIMIT_MINOR = (
    "Job has reached the CPU limit of the queue",
    "Job has exceeded maximum wall clock time",
    "Job has insufficient disk space to continue",
    "Received Kill signal",
    "Marked for termination",
)
STALLED_MINOR = ("Watchdog identified this job as stalled", "Job stalled: pilot not running")

_PROXY_FILE = re.compile(r"\S*x509up_u\d+\S*")
_PROMPT = re.compile(r"FC:[^>\n]*>\s?")


class DiracError(RuntimeError):
    """A DIRAC command failed or answered something unexpected (message is redacted)."""


class BackendUnavailable(DiracError):
    """DIRAC cannot be used at all: commands missing, or no valid proxy."""


def proxy_secrets(env=None):
    """Strings that must never be logged: the proxy path(s) of this user.

    Parameters
    ----------
    env : mapping, optional
        Environment (default ``os.environ``).

    Returns
    -------
    list of str
        ``$X509_USER_PROXY`` (if set) and the default ``/tmp/x509up_u<uid>``.
    """
    env = os.environ if env is None else env
    secrets = []
    if env.get("X509_USER_PROXY"):
        secrets.append(env["X509_USER_PROXY"])
    if hasattr(os, "getuid"):
        secrets.append(f"/tmp/x509up_u{os.getuid()}")
    return secrets


def redact(text, secrets=()):
    """Remove proxy paths and proxy-like content from a text before it is logged.

    Parameters
    ----------
    text : str
    secrets : iterable of str
        Exact strings to hide (see :func:`proxy_secrets`).

    Returns
    -------
    str
        ``text`` with each secret, any ``...x509up_u<uid>`` path, PEM blocks and the
        ``path :`` line of ``dirac-proxy-info`` replaced by ``<redacted>``.
    """
    out = str(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, "<redacted>")
    out = _PROXY_FILE.sub("<redacted>", out)
    out = re.sub(
        r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|\Z)", "<redacted>", out, flags=re.S
    )
    out = re.sub(r"(?m)^(\s*path\s*:).*$", r"\1 <redacted>", out)
    return out


def missing_commands(commands=COMMANDS, path=None):
    """The commands of ``commands`` not found on ``PATH``.

    Parameters
    ----------
    commands : iterable of str
    path : str, optional
        Search path (default ``$PATH``).

    Returns
    -------
    list of str
    """
    return [c for c in commands if shutil.which(c, path=path) is None]


def parse_submit_output(text):
    """Job ids from ``dirac-wms-job-submit`` output (``JobID = 11``; parametric: a list).

    Returns
    -------
    list of str
    """
    ids = []
    for match in re.finditer(r"^JobID\s*=\s*\[?([0-9,\s]+)\]?\s*$", text, re.M):
        ids.extend(x for x in re.split(r"[,\s]+", match.group(1)) if x)
    return ids


def parse_status_output(text):
    """Parse ``dirac-wms-job-status`` lines.

    ``JobID=2 Status=Done; MinorStatus=Execution Complete; Site=EELA.UTFSM.cl;``

    Returns
    -------
    dict
        ``{job id: {"Status": ..., "MinorStatus": ..., "Site": ..., ...}}``.
    """
    out = {}
    for line in text.splitlines():
        match = re.match(r"^JobID=(\d+)\s+(.*)$", line.strip())
        if not match:
            continue
        out[match.group(1)] = {
            k: v.strip() for k, v in re.findall(r"(\w+)=([^;]*);", match.group(2))
        }
    return out


def classify_status(status):
    """What a DIRAC job status means for the workflow.

    Returns
    -------
    str
        ``"pending"``, ``"running"`` (including Completing/Completed: outputs being
        uploaded), ``"stalled"``, ``"done"``, ``"failed"`` or ``"killed"`` (Killed,
        Deleted); ``"unknown"`` for anything else.
    """
    if status in PENDING:
        return "pending"
    if status in RUNNING:
        return "running"
    return {
        "Stalled": "stalled",
        "Done": "done",
        "Failed": "failed",
        "Killed": "killed",
        "Deleted": "killed",
    }.get(status, "unknown")


def failure_reason(status, minor=""):
    """A one-line reason for a job that did not finish, naming backend kills as such.

    Returns
    -------
    str
    """
    minor = minor or ""
    if any(m.lower() in minor.lower() for m in LIMIT_MINOR):
        return (
            f"killed by DIRAC at its limit: {status} ({minor}); raise the rule's runtime "
            "(CPUTime) or --dirac-cpu-power, or pick sites with longer queues"
        )
    if status == "Stalled" or any(m.lower() in minor.lower() for m in STALLED_MINOR):
        return f"stalled: {status} ({minor}); the worker stopped reporting and the job was given up"
    if status in ("Killed", "Deleted"):
        return f"killed: {status} ({minor or 'by a user or an administrator'})"
    if minor.lower().startswith("application finished with errors"):
        return f"the job's command failed on the worker node: {status} ({minor})"
    return f"{status} ({minor})" if minor else status


def parse_proxy_info(text):
    """``key : value`` lines of ``dirac-proxy-info`` as a dict (keys stripped)."""
    info = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info.setdefault(key.strip(), value.strip())
    return info


def parse_timeleft(value):
    """Seconds in an ``HH:MM:SS`` proxy time left (hours may exceed 24); None if unreadable."""
    match = re.fullmatch(r"\s*(\d+):(\d{2}):(\d{2})\s*", value or "")
    if not match:
        return None
    h, m, s = (int(x) for x in match.groups())
    return h * 3600 + m * 60 + s


def parse_fc_cli_output(text):
    """Lines printed by ``dirac-dms-filecatalog-cli`` commands, prompts removed, and errors.

    Returns
    -------
    tuple of (list of str, list of str)
        All non-empty lines, and those reporting a failure (``Error``, ``ERROR``,
        ``Failed``, ``Unknown``, ``Exception``, ``*** Unknown syntax``, a usage text).
    """
    lines = [ln.strip() for ln in _PROMPT.sub("\n", text).splitlines() if ln.strip()]
    bad = re.compile(r"^(error|failed|unknown|exception|\*\*\*|usage)", re.I)
    return lines, [ln for ln in lines if bad.match(ln)]


def meta_value(value):
    """A metadata value the File Catalog CLI accepts (it splits on whitespace)."""
    return re.sub(r"\s+", "_", str(value).strip()) or "_"


def particle_of(config, dataset):
    """The particle of a showerflow dataset: its ``particle`` key or ``particle == "..."`` in its query."""
    spec = ((config or {}).get("datasets") or {}).get(dataset) or {}
    if spec.get("particle"):
        return str(spec["particle"])
    match = re.search(r"particle\s*==\s*['\"]([^'\"]+)['\"]", str(spec.get("query", "")))
    return match.group(1) if match else None


def file_metadata(rule, wildcards=None, config=None, extra=None):
    """File Catalog metadata of a job's outputs: ``stage``, ``dataset``, ``particle``, ``batch``.

    Parameters
    ----------
    rule : str
        The rule (the analysis stage).
    wildcards : dict, optional
    config : dict, optional
        The workflow config (to find a dataset's particle).
    extra : dict, optional
        Added as is (e.g. ``{"workflow": "showerflow"}``).

    Returns
    -------
    dict
        Values made safe for ``meta set``.
    """
    wildcards = dict(wildcards or {})
    meta = {"stage": rule}
    if "dataset" in wildcards:
        meta["dataset"] = wildcards["dataset"]
        particle = particle_of(config, wildcards["dataset"])
        if particle:
            meta["particle"] = particle
    if "batch" in wildcards:
        meta["batch"] = wildcards["batch"]
    meta.update(extra or {})
    return {meta_value(k): meta_value(v) for k, v in meta.items()}


def input_lfn(path, lfn_base):
    """The LFN of a job input as a batch manifest names it (its ``file``), or None.

    ``LFN:/x`` is the LFN ``/x``; an absolute path below ``lfn_base`` is taken as an LFN
    as it is; a relative path is mapped as the executor maps inputs (``lfn_base/<path>``).
    Other absolute paths (a local disk outside the working directory) have no LFN.
    Whether the File Catalog knows the LFN is for the caller to check.

    Parameters
    ----------
    path : str
    lfn_base : str

    Returns
    -------
    str or None
    """
    text = str(path or "").strip()
    if not text:
        return None
    if text.lower().startswith("lfn:"):
        lfn = posixpath.normpath(text[4:])
        return lfn if lfn.startswith("/") and not lfn.startswith("//") else None
    if text.startswith("/"):
        norm = posixpath.normpath(text)
        return norm if norm.startswith(posixpath.normpath(lfn_base) + "/") else None
    try:
        return lfn_for(text, lfn_base)
    except ValueError:
        return None


def update_manifest_states(path, data=None):
    """Record the local ``[size, mtime_ns]`` of each file a batch manifest lists.

    The workflow compares these states with ``os.stat`` to find outputs changed since;
    after a download they must be the local copies' states, not the worker node's. The
    manifest is written back atomically (a file next to it, then a rename), in the
    workflow's JSON style (indent 1, sorted keys), and only if a state changed.

    Parameters
    ----------
    path : str or Path
    data : dict, optional
        The manifest's content, if already read.

    Returns
    -------
    bool
        True if the file was rewritten.

    Raises
    ------
    OSError
        If a listed file is missing.
    """
    path = Path(path)
    if data is None:
        data = json.loads(path.read_text())
    changed = False
    for rec in data["outputs"]:
        st = os.stat(rec["output"])
        state = [st.st_size, st.st_mtime_ns]
        if rec.get("state") != state:
            rec["state"] = state
            changed = True
    if changed:
        tmp = path.with_name(f".{path.name}.dirac-state")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    return changed


class DiracClient:
    """Runs DIRAC commands and turns their output into Python values.

    Parameters
    ----------
    logger : logging.Logger-like, optional
        Gets one line per call (command name and outcome); never a proxy path.
    env : dict, optional
        Environment for the commands (default: this process's).
    timeout : float
        Seconds before a command is abandoned.
    retry_wait : float
        Seconds between download attempts.
    """

    def __init__(self, logger=None, env=None, timeout=900, retry_wait=10.0):
        self.log = logger or logging.getLogger("showerflow.dirac")
        self._env = None if env is None else dict(env)
        self.timeout = timeout
        self.retry_wait = retry_wait

    @property
    def env(self):
        """The commands' environment: the one given, else this process's at call time."""
        return dict(os.environ) if self._env is None else self._env

    @property
    def secrets(self):
        """This user's proxy path(s), never to be logged."""
        return proxy_secrets(self.env)

    # -- plumbing ---------------------------------------------------------------------
    def redact(self, text):
        """:func:`redact` with this user's proxy paths."""
        return redact(text, self.secrets)

    def run(self, args, cwd=None, stdin=None, check=True, timeout=None):
        """Run one command; raise :class:`DiracError` (redacted) if it fails and ``check``.

        Returns
        -------
        subprocess.CompletedProcess
        """
        env = self.env
        if shutil.which(args[0], path=env.get("PATH")) is None:
            raise BackendUnavailable(
                f"DIRAC backend unreachable: '{args[0]}' is not on PATH; set up the DIRAC "
                "client first (e.g. `source diracos/diracosrc`)"
            )
        self.log.debug(self.redact(f"dirac: {' '.join(args)}"))
        try:
            proc = subprocess.run(
                args,
                cwd=cwd,
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout or self.timeout,
            )
        except subprocess.TimeoutExpired as err:
            raise DiracError(f"{args[0]} did not answer within {err.timeout} s") from None
        if check and proc.returncode != 0:
            raise DiracError(self.describe_failure(args, proc))
        return proc

    def describe_failure(self, args, proc, lines=8):
        """``<command> failed (exit n): <last lines of its output>``, redacted."""
        text = "\n".join((proc.stdout + "\n" + proc.stderr).strip().splitlines()[-lines:])
        return self.redact(f"{args[0]} failed (exit {proc.returncode}): {text}")

    # -- proxy ------------------------------------------------------------------------
    def check_proxy(self, min_hours=1.0):
        """Check that a valid proxy with enough time left exists, before anything is submitted.

        Returns
        -------
        dict
            ``timeleft`` (s), ``group`` and ``username`` (never the path or the DN).

        Raises
        ------
        BackendUnavailable
        """
        proc = self.run(["dirac-proxy-info", "--checkvalid"], check=False, timeout=120)
        info = parse_proxy_info(proc.stdout + "\n" + proc.stderr)
        left = parse_timeleft(info.get("timeleft"))
        if proc.returncode != 0 or left is None or left == 0:
            reason = self.describe_failure(["dirac-proxy-info"], proc, lines=3)
            raise BackendUnavailable(
                "no valid DIRAC proxy (expired or missing); create one with "
                f"`dirac-proxy-init -g <your_group>` and rerun. [{reason}]"
            )
        if left < min_hours * 3600:
            raise BackendUnavailable(
                f"the DIRAC proxy expires in {left / 3600:.2f} h, less than the "
                f"{min_hours} h required (--dirac-min-proxy-hours): renew it with "
                "`dirac-proxy-init -g <your_group>`"
            )
        return {
            "timeleft": left,
            "group": info.get("DIRAC group"),
            "username": info.get("username"),
        }

    # -- jobs -------------------------------------------------------------------------
    def submit(self, jdl_path):
        """Submit a JDL file; return the job id."""
        proc = self.run(["dirac-wms-job-submit", str(jdl_path)], timeout=600)
        ids = parse_submit_output(proc.stdout)
        if len(ids) != 1:
            raise DiracError(self.redact(f"dirac-wms-job-submit gave no job id: {proc.stdout}"))
        return ids[0]

    def status(self, job_ids, chunk=200):
        """Status of jobs: ``{id: {"Status", "MinorStatus", "Site"}}`` (unknown ids absent)."""
        out = {}
        ids = [str(j) for j in job_ids]
        for i in range(0, len(ids), chunk):
            proc = self.run(["dirac-wms-job-status", *ids[i : i + chunk]], timeout=300)
            out.update(parse_status_output(proc.stdout))
        return out

    def kill(self, job_ids):
        """Kill jobs (``dirac-wms-job-kill``); failures are logged, not raised."""
        if not job_ids:
            return
        proc = self.run(["dirac-wms-job-kill", *map(str, job_ids)], check=False, timeout=300)
        if proc.returncode != 0:
            self.log.warning(self.describe_failure(["dirac-wms-job-kill"], proc))

    def get_output(self, job_id, dest):
        """Retrieve a job's output sandbox into ``dest/<job id>/`` (a fresh directory)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        if (dest / str(job_id)).exists():
            shutil.rmtree(dest / str(job_id))
        self.run(["dirac-wms-job-get-output", "-D", str(dest), str(job_id)], timeout=900)
        out = dest / str(job_id)
        if not out.is_dir():
            raise DiracError(f"dirac-wms-job-get-output left no directory for job {job_id}")
        return out

    # -- data -------------------------------------------------------------------------
    def lfn_metadata(self, lfns, chunk=500):
        """Catalog metadata of LFNs: ``(successful, failed)`` dicts keyed by LFN.

        ``successful[lfn]`` has ``Size``, ``Checksum``, ``ChecksumType``, ``GUID``...;
        ``failed[lfn]`` is DIRAC's message (e.g. ``No such file or directory``).
        """
        ok, failed = {}, {}
        lfns = list(lfns)
        for i in range(0, len(lfns), chunk):
            part = lfns[i : i + chunk]
            with tempfile.NamedTemporaryFile("w", suffix=".lfns", delete=False) as f:
                f.write("\n".join(part) + "\n")
            try:
                # one LFN as argument, several through a file (the command's own convention)
                arg = part[0] if len(part) == 1 else f.name
                proc = self.run(["dirac-dms-lfn-metadata", arg], check=False, timeout=600)
            finally:
                os.unlink(f.name)
            try:
                result = parse_pprint(proc.stdout)
            except ValueError:
                raise DiracError(self.describe_failure(["dirac-dms-lfn-metadata"], proc)) from None
            ok.update(result.get("Successful", {}))
            failed.update(result.get("Failed", {}))
        return ok, failed

    def add_file(self, lfn, path, se, overwrite=False):
        """Upload a local file to ``se`` and register it as ``lfn`` (checksum computed by DIRAC).

        ``overwrite`` (``-f``): DIRAC removes an existing ``lfn`` first, and with it its
        File Catalog metadata and ancestors.
        """
        self.run(
            ["dirac-dms-add-file", *(["-f"] if overwrite else []), lfn, str(path), se],
            timeout=3600,
        )
        self.log.info(f"dirac: uploaded {path} as {lfn} to {se}")

    def get_file(self, lfn, dest_dir):
        """Download ``lfn`` into ``dest_dir`` (``dirac-dms-get-file`` runs there); return the path."""
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        proc = self.run(["dirac-dms-get-file", lfn], cwd=dest_dir, check=False, timeout=3600)
        try:
            result = parse_pprint(proc.stdout)
        except ValueError:
            result = {}
        if proc.returncode != 0 or lfn not in result.get("Successful", {}):
            reason = result.get("Failed", {}).get(lfn) if result else None
            detail = (
                self.redact(str(reason))
                if reason
                else self.describe_failure(["dirac-dms-get-file"], proc)
            )
            raise DiracError(f"download of {lfn} failed: {detail}")
        path = dest_dir / posixpath.basename(lfn)
        if not path.is_file():
            raise DiracError(f"dirac-dms-get-file reported {lfn} downloaded but {path} is missing")
        return path

    def directory_sync(self, lfn_dir, local_dir):
        """Mirror an LFN directory into ``local_dir`` (``dirac-dms-directory-sync LFN Path``)."""
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        self.run(["dirac-dms-directory-sync", lfn_dir, str(local_dir)], timeout=7200)

    def fetch_verified(self, lfn, dest, checksum, retries=3, mirror_root=None):
        """Download ``lfn`` to ``dest`` and check its Adler-32 against the catalog's.

        Tries ``dirac-dms-get-file`` up to ``retries`` times (a failed download or a
        checksum mismatch counts as a failed attempt), then falls back to
        ``dirac-dms-directory-sync`` of the LFN's directory. ``dest`` appears only once a
        verified copy exists (written next to it, then renamed).

        Parameters
        ----------
        lfn : str
        dest : str or Path
        checksum : str
            Adler-32 from the catalog.
        retries : int
        mirror_root : str or Path, optional
            Where directory syncs mirror LFN directories (default: a temporary folder).

        Returns
        -------
        Path

        Raises
        ------
        DiracError
            If no attempt gave a file with the catalog's checksum.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        problems = []
        for attempt in range(1, int(retries) + 1):
            with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dirac-get.") as tmp:
                try:
                    got = self.get_file(lfn, tmp)
                except DiracError as err:
                    problems.append(f"attempt {attempt}: {err}")
                    self.log.warning(f"dirac: {err} (attempt {attempt}/{retries})")
                else:
                    value = adler32(got)
                    if same_adler32(value, checksum):
                        os.replace(got, dest)
                        return dest
                    msg = f"checksum mismatch for {lfn}: catalog {checksum}, downloaded {value}"
                    problems.append(f"attempt {attempt}: {msg}")
                    self.log.warning(f"dirac: {msg} (attempt {attempt}/{retries})")
            if attempt < retries and self.retry_wait:
                time.sleep(self.retry_wait)
        lfn_dir = posixpath.dirname(lfn)
        root = Path(mirror_root) if mirror_root else Path(tempfile.mkdtemp(prefix="dirac-sync."))
        mirror = root / hashlib.sha1(lfn_dir.encode()).hexdigest()[:16]
        self.log.warning(f"dirac: falling back to dirac-dms-directory-sync of {lfn_dir}")
        try:
            self.directory_sync(lfn_dir, mirror)
        except DiracError as err:
            problems.append(f"directory sync: {err}")
        else:
            got = mirror / posixpath.basename(lfn)
            if got.is_file():
                value = adler32(got)
                if same_adler32(value, checksum):
                    tmp = dest.with_name(f".{dest.name}.dirac-sync")
                    shutil.copyfile(got, tmp)
                    os.replace(tmp, dest)
                    return dest
                problems.append(
                    f"directory sync: checksum mismatch for {lfn}: catalog {checksum}, "
                    f"downloaded {value}"
                )
                got.unlink()
            else:
                problems.append(f"directory sync: {lfn} not found in {lfn_dir}")
        raise DiracError(
            f"could not fetch {lfn} with its catalog checksum after {retries} download "
            "attempt(s) and a directory sync: " + "; ".join(problems)
        )

    def set_metadata(self, lfn, metadata, ancestors=()):
        """Set File Catalog metadata and ancestors of ``lfn`` (``dirac-dms-filecatalog-cli``).

        Sends ``meta set <lfn> <key> <value> ...`` and ``ancestorset <lfn> <parent> ...``
        on the CLI's standard input; any line reporting an error raises.
        """
        self.set_metadata_many([(lfn, metadata, ancestors)])

    def set_metadata_many(self, entries):
        """:meth:`set_metadata` for several files in one ``dirac-dms-filecatalog-cli`` session.

        Parameters
        ----------
        entries : iterable of (str, dict, list of str)
            ``(lfn, metadata, ancestor LFNs)``; empty metadata or ancestors are skipped.

        Raises
        ------
        DiracError
            If the CLI printed an error line (the first one is quoted).
        """
        commands, lfns = [], []
        for lfn, metadata, ancestors in entries:
            if metadata:
                pairs = " ".join(f"{meta_value(k)} {meta_value(v)}" for k, v in metadata.items())
                commands.append(f"meta set {lfn} {pairs}")
            if ancestors:
                commands.append(f"ancestorset {lfn} {' '.join(ancestors)}")
            if metadata or ancestors:
                lfns.append(lfn)
        if not commands:
            return
        proc = self.run(
            ["dirac-dms-filecatalog-cli"],
            stdin="\n".join([*commands, "exit"]) + "\n",
            timeout=600 + 5 * len(commands),
        )
        _, errors = parse_fc_cli_output(proc.stdout)
        if errors:
            what = lfns[0] if len(lfns) == 1 else f"{len(lfns)} files"
            raise DiracError(self.redact(f"File Catalog refused metadata of {what}: {errors[0]}"))
