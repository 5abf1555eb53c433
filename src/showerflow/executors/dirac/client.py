"""Talk to DIRAC from showerflow's environment: the bridge run with DIRAC's own Python.

:class:`DiracClient` sends JSON requests to :mod:`showerflow.executors.dirac.bridge`
(run as a script by the Python of the DIRAC installation) and turns its JSON answers into
Python values or :class:`DiracError`. Nothing here imports DIRAC or parses printed text.
Nothing a proxy reveals (its path, DN or contents) is logged or put into an error message:
every text passes :func:`redact` first.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "BRIDGE_PATH",
    "DiracError",
    "BackendUnavailable",
    "redact",
    "proxy_secrets",
    "dirac_python",
    "DiracClient",
]

#: The bridge script (run with DIRAC's Python, shipped to worker nodes).
BRIDGE_PATH = Path(__file__).with_name("bridge.py")

_PROXY_FILE = re.compile(r"\S*x509up_u\d+\S*")


class DiracError(RuntimeError):
    """A DIRAC operation failed; ``kind`` says how (``corrupt``, ``missing``, ``proxy``...).

    The message is redacted (no proxy path or content).
    """

    def __init__(self, message, kind="dirac"):
        super().__init__(message)
        self.kind = kind


class BackendUnavailable(DiracError):
    """DIRAC cannot be used at all: no DIRAC Python, no server answer, or no valid proxy."""


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
        ``text`` with each secret, any ``...x509up_u<uid>`` path and PEM blocks replaced
        by ``<redacted>``.
    """
    out = str(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, "<redacted>")
    out = _PROXY_FILE.sub("<redacted>", out)
    return re.sub(
        r"-----BEGIN [A-Z ]+-----.*?(-----END [A-Z ]+-----|\Z)", "<redacted>", out, flags=re.S
    )


def dirac_python(env=None):
    """The Python of the DIRAC installation, or None.

    ``$SHOWERFLOW_DIRAC_PYTHON`` if set, else the ``python3`` beside ``dirac-proxy-info``
    on ``PATH`` (DIRACOS and a venv both put DIRAC's commands next to its interpreter).

    Parameters
    ----------
    env : mapping, optional

    Returns
    -------
    str or None
    """
    env = os.environ if env is None else env
    if env.get("SHOWERFLOW_DIRAC_PYTHON"):
        return env["SHOWERFLOW_DIRAC_PYTHON"]
    cmd = shutil.which("dirac-proxy-info", path=env.get("PATH"))
    if cmd is None:
        return None
    for name in ("python3", "python"):
        cand = Path(cmd).parent / name
        if cand.exists():
            return str(cand)
    return None


class DiracClient:
    """Runs DIRAC operations through the bridge and returns their values.

    Parameters
    ----------
    python : str, optional
        DIRAC's Python (default :func:`dirac_python`).
    env : dict, optional
        Environment of the bridge (default: this process's at call time).
    timeout : float
        Seconds before one bridge call is abandoned.
    logger : logging.Logger-like, optional
    """

    def __init__(self, python=None, env=None, timeout=900, logger=None):
        self._env = None if env is None else dict(env)
        self.python = python or dirac_python(self.env)
        self.timeout = timeout
        self.log = logger or logging.getLogger("showerflow.dirac")

    @property
    def env(self):
        """The bridge's environment: the one given, else this process's at call time."""
        return dict(os.environ) if self._env is None else self._env

    def redact(self, text):
        """:func:`redact` with this user's proxy paths."""
        return redact(text, proxy_secrets(self.env))

    def batch(self, requests, timeout=None):
        """Send several requests in one bridge call; return the answers (dicts), in order.

        Each answer is ``{"ok": True, "value": ...}`` or ``{"ok": False, "kind", "error"}``
        (errors redacted).

        Raises
        ------
        BackendUnavailable
            No DIRAC Python, or the bridge did not answer.
        """
        if not self.python:
            raise BackendUnavailable(
                "no DIRAC installation found: neither $SHOWERFLOW_DIRAC_PYTHON nor "
                "dirac-proxy-info on PATH; set up the DIRAC client first (e.g. `source "
                "diracos/diracosrc`, or `source tools/dirac/env.sh DIR` for the local one)",
                kind="unreachable",
            )
        text = json.dumps({"requests": list(requests)})
        try:
            proc = subprocess.run(
                [self.python, str(BRIDGE_PATH)],
                input=text,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=timeout or self.timeout,
            )
        except subprocess.TimeoutExpired as err:
            raise BackendUnavailable(
                f"DIRAC did not answer within {err.timeout:.0f} s "
                f"({', '.join(r['op'] for r in requests)}): is the server reachable?",
                kind="unreachable",
            ) from None
        except OSError as err:
            raise BackendUnavailable(f"cannot run DIRAC's Python {self.python}: {err}") from None
        try:
            answer = json.loads(proc.stdout.strip().splitlines()[-1])
            answers = answer["answers"]
        except (ValueError, IndexError, KeyError):
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
            raise BackendUnavailable(
                self.redact(f"the DIRAC bridge gave no answer (exit {proc.returncode}): {tail}"),
                kind="unreachable",
            ) from None
        if len(answers) != len(requests):
            raise BackendUnavailable(self.redact(f"the DIRAC bridge failed: {answer.get('error')}"))
        for ans in answers:
            if not ans.get("ok"):
                ans["error"] = self.redact(ans.get("error", ""))
        return answers

    def call(self, op, timeout=None, **args):
        """One operation; its value, or :class:`DiracError` (``BackendUnavailable`` when
        DIRAC cannot be reached or initialised)."""
        (ans,) = self.batch([{"op": op, **args}], timeout=timeout)
        if ans.get("ok"):
            return ans["value"]
        kind = ans.get("kind", "dirac")
        cls = BackendUnavailable if kind in ("unreachable", "init") else DiracError
        raise cls(ans.get("error", f"{op} failed"), kind=kind)

    # -- named operations (see bridge.py) ----------------------------------------------
    def proxy(self):
        """Proxy seconds left, group and properties, user, VO and home directory."""
        return self.call("proxy", timeout=120)

    def ping(self, timeout=15):
        """Round trips to the WMS and File Catalog services (s); raises if one is down."""
        return self.call("ping", seconds=timeout, timeout=timeout * 6 + 30)

    def storage_elements(self, names=()):
        """``{"known": [...], "checked": {name: {"exists", "write", "read"}}}``."""
        return self.call("storage_elements", names=list(names), timeout=120)

    def check_jdl(self, jdl):
        """The JDL as DIRAC's JobManager reads it, and the errors its job model raises."""
        return self.call("check_jdl", jdl=jdl, timeout=120)

    def submit(self, jdl):
        """Submit a JDL text; return the DIRAC job id (str)."""
        return str(self.call("submit", jdl=jdl, timeout=900))

    def status(self, ids):
        """``{id: {"Status", "MinorStatus", "ApplicationStatus", "Site"}}``; unknown ids absent."""
        return self.call("status", ids=[int(i) for i in ids], timeout=300) if ids else {}

    def logging_info(self, job_id):
        """The job's status transitions ``[[status, minor, application, time, source]]``."""
        return self.call("logging", id=int(job_id), timeout=120)

    def kill(self, ids):
        """Kill jobs; return True if DIRAC took the kill (a failure is logged, not raised)."""
        if not ids:
            return True
        try:
            self.call("kill", ids=[int(i) for i in ids], timeout=300)
        except DiracError as err:
            self.log.warning(f"dirac: kill of {' '.join(map(str, ids))} failed: {err}")
            return False
        return True

    def output_sandbox(self, job_id, dest):
        """Retrieve the output sandbox into ``dest`` (fresh directory); return its path."""
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        self.call("output_sandbox", id=int(job_id), dir=str(dest), timeout=900)
        return dest

    def lfn_metadata(self, lfns):
        """Catalog entries: ``(successful, failed)`` dicts keyed by LFN."""
        if not lfns:
            return {}, {}
        value = self.call("lfn_metadata", lfns=list(lfns), timeout=600)
        return value.get("Successful", {}), value.get("Failed", {})

    def user_metadata(self, lfns):
        """``{lfn: {field: value}}`` (the File Catalog's user metadata)."""
        return self.call("user_metadata", lfns=list(lfns), timeout=600)

    def ancestors(self, lfns, depth=1):
        """``{lfn: [ancestor LFN, ...]}``."""
        return self.call("ancestors", lfns=list(lfns), depth=int(depth), timeout=600)

    def meta_fields(self):
        """Indexed metadata fields: ``{"file": {name: type}, "directory": {...}}``."""
        return self.call("meta_fields", timeout=120)

    def meta_index(self, fields):
        """Index file metadata fields ``{name: type}`` (``meta index -f``)."""
        return self.call("meta_index", fields=dict(fields), timeout=300)

    def set_metadata(self, entries):
        """Set metadata and ancestors: ``[(lfn, metadata dict, ancestor LFNs)]`` in one call."""
        entries = [
            {"lfn": lfn, "metadata": dict(meta or {}), "ancestors": list(anc or [])}
            for lfn, meta, anc in entries
            if meta or anc
        ]
        if entries:
            self.call("set_metadata", entries=entries, timeout=600 + 5 * len(entries))

    def find(self, query, path="/"):
        """LFNs below ``path`` matching a metadata ``query`` dict, sorted."""
        return self.call("find", query=dict(query), path=path, timeout=600)

    def add_file(self, lfn, path, se, overwrite=False):
        """Upload and register a file; return ``{"lfn", "size", "checksum", "se"}``."""
        value = self.call(
            "add_file",
            lfn=lfn,
            path=str(Path(path).resolve()),
            se=se,
            overwrite=bool(overwrite),
            timeout=3600,
        )
        self.log.info(f"dirac: uploaded {path} as {lfn} to {se}")
        return value

    def get_file(self, lfn, dest_dir):
        """Download ``lfn`` into ``dest_dir``; return the local path (DIRAC checks the
        size and Adler-32; ``DiracError.kind`` is ``corrupt`` or ``missing`` when not)."""
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
        return Path(self.call("get_file", lfn=lfn, dir=str(Path(dest_dir).resolve()), timeout=3600))

    def _each(self, requests, timeout):
        """Answers of several requests of one bridge call: value, or the DiracError."""
        out = []
        for ans in self.batch(requests, timeout=timeout) if requests else []:
            if ans.get("ok"):
                out.append(ans["value"])
            else:
                kind = ans.get("kind", "dirac")
                cls = BackendUnavailable if kind in ("unreachable", "init") else DiracError
                out.append(cls(ans.get("error", f"{ans.get('op')} failed"), kind=kind))
        return out

    def add_files(self, items, se, overwrite=False):
        """Upload several files in one bridge call (DIRAC's Python starts once).

        Parameters
        ----------
        items : list of (str, str)
            ``(lfn, local path)``.
        se : str
        overwrite : bool

        Returns
        -------
        list
            Per item, :meth:`add_file`'s answer or the :class:`DiracError`.
        """
        requests = [
            {
                "op": "add_file",
                "lfn": lfn,
                "path": str(Path(path).resolve()),
                "se": se,
                "overwrite": bool(overwrite),
            }
            for lfn, path in items
        ]
        answers = self._each(requests, timeout=3600 * max(1, len(items)))
        for (lfn, path), ans in zip(items, answers, strict=True):
            if not isinstance(ans, Exception):
                self.log.info(f"dirac: uploaded {path} as {lfn} to {se}")
        return answers

    def get_files(self, items):
        """Download several files in one bridge call (DIRAC's Python starts once).

        Parameters
        ----------
        items : list of (str, str)
            ``(lfn, destination directory)``.

        Returns
        -------
        list
            Per item, the local path (:class:`~pathlib.Path`) or the :class:`DiracError`
            (``kind`` ``corrupt``, ``missing``...), as :meth:`get_file`.
        """
        for _, dest in items:
            Path(dest).mkdir(parents=True, exist_ok=True)
        requests = [
            {"op": "get_file", "lfn": lfn, "dir": str(Path(dest).resolve())} for lfn, dest in items
        ]
        answers = self._each(requests, timeout=3600 * max(1, len(items)))
        return [a if isinstance(a, Exception) else Path(a) for a in answers]

    def replicas(self, lfns):
        """``{lfn: {se: url}}``."""
        return self.call("replicas", lfns=list(lfns), timeout=600)

    def physical_path(self, lfn, se):
        """Path of ``lfn``'s replica on a ``file``-protocol storage element (tests)."""
        return self.call("physical_path", lfn=lfn, se=se, timeout=120)

    def remove(self, lfns):
        """Remove LFNs (replicas and catalog entries)."""
        return self.call("remove", lfns=list(lfns), timeout=600) if lfns else []

    def list_files(self, path):
        """Every LFN below a catalog directory, sorted."""
        return self.call("list", path=path, timeout=600)
