"""Helpers for the tests that run against the one-host DIRAC of ``tools/dirac/``.

The server is started outside pytest (``tools/dirac/ci.sh``, or by hand with
``tools/dirac/start.sh DIR``); the tests find it through ``$SHOWERFLOW_DIRAC_STATE`` and
skip, saying how to start it, when it does not answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools" / "dirac"
SE = "SE-1"
HOME = "/vo/user/c/ciuser"


def state_dir():
    """The running server's state folder (``$SHOWERFLOW_DIRAC_STATE``), or None."""
    value = os.environ.get("SHOWERFLOW_DIRAC_STATE")
    return Path(value) if value else None


def client_env(state, **extra):
    """The environment ``source tools/dirac/env.sh STATE`` gives a client."""
    out = subprocess.run(
        ["bash", "-c", f'source "{TOOLS}/env.sh" "{state}" && env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    env.update(extra)
    return env


def skip_reason():
    """Why the DIRAC tests cannot run here, or None."""
    state = state_dir()
    how = (
        "start it with `tools/dirac/start.sh DIR` and set SHOWERFLOW_DIRAC_STATE=DIR "
        "(tools/dirac/ci.sh does both)"
    )
    if state is None:
        return f"no DIRAC test server: SHOWERFLOW_DIRAC_STATE is not set; {how}"
    if not (state / "pids" / "wms.pid").is_file():
        return f"no DIRAC test server running in {state}; {how}"
    from showerflow.executors.dirac import DiracClient, DiracError

    try:
        DiracClient(env=client_env(state)).ping()
    except DiracError as err:
        return f"the DIRAC test server in {state} does not answer ({err}); {how}"
    return None


class Server:
    """The running test server: its state folder, a client, helpers to break it."""

    def __init__(self, state):
        from showerflow.executors.dirac import DiracClient

        self.state = Path(state)
        self.env = client_env(self.state)
        self.client = DiracClient(env=self.env)

    def run_dirac(self, *args, check=True, env=None):
        """Run a ``dirac-*`` command as the test user."""
        return subprocess.run(
            list(args), env=env or self.env, capture_output=True, text=True, check=check
        )

    def proxy(self, group="dirac_user", valid=None, out=None, upload=True):
        """Make a proxy (``dirac-proxy-init``); return its path."""
        out = out or self.env["X509_USER_PROXY"]
        args = [
            "dirac-proxy-init",
            "-g",
            group,
            "-C",
            str(self.state / "user" / "client.pem"),
            "-K",
            str(self.state / "user" / "client.key"),
            "--out",
            str(out),
        ]
        if valid:
            args += ["-v", valid]
        if not upload:
            args.append("-N")
        self.run_dirac(*args)
        return out

    def services(self, what):
        """Stop or start the server's services (``tools/dirac/services.sh``)."""
        subprocess.run([str(TOOLS / "services.sh"), str(self.state), what], check=True)

    def unique_base(self, name):
        """A fresh LFN directory in the test user's home."""
        return f"{HOME}/tests/{name}-{uuid.uuid4().hex[:8]}"

    def wait_status(self, job_id, wanted, timeout=300):
        """Poll until the job reaches one of ``wanted``; return its status dict."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = self.client.status([job_id]).get(str(job_id))
            if last and last["Status"] in wanted:
                return last
            time.sleep(3)
        raise AssertionError(f"DIRAC job {job_id} still {last} after {timeout} s")


def snakemake_dirac(workdir, server, lfn_base, *extra, env=None, timeout=900, background=False):
    """Run Snakemake with ``--executor dirac`` against the test server."""
    venv = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--executor",
        "dirac",
        "--jobs",
        "4",
        "--dirac-lfn-base",
        lfn_base,
        "--dirac-output-se",
        SE,
        "--dirac-retry-wait",
        "2",
        "--dirac-min-proxy-hours",
        "0.01",
        "--seconds-between-status-checks",
        "5",
        "--show-failed-logs",
        "--precommand",
        f"export PATH={venv}:$PATH",
        *extra,
    ]
    env = env or server.env
    if background:
        out = open(Path(workdir) / "snakemake.out", "w")  # noqa: SIM115 - closed by the caller
        return subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
    return subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, env=env, timeout=timeout
    )
