"""The Snakemake executor for DIRAC (``snakemake --executor dirac``, ``profiles/dirac``).

The plugin package ``snakemake_executor_plugin_dirac`` (the name Snakemake looks for)
re-exports :class:`ExecutorSettings`, :class:`Executor` and :data:`common_settings`.

Each Snakemake job becomes one DIRAC job. Before the first submission the executor checks,
in one call through the bridge, that the server answers, that the proxy is valid, of a
group that can run jobs and long enough, that the LFN base is in the user's home, that the
output SE exists and accepts writes, and that the metadata fields it sets are indexed
(:func:`~showerflow.executors.dirac.checks.preflight`). Per job it maps every input to an
LFN (uploading it if the File Catalog lacks it or holds another checksum), writes a JDL
with ``InputData``, checks (once per rule) that DIRAC's own parser reads it back as meant,
and submits it. The worker's runner uploads every file of every declared output, plain
files and ``directory()`` outputs alike, and lists them; when the job is Done each file
is fetched (DIRAC checks size and Adler-32, showerflow checks the Adler-32 again against
the catalog and the worker's listing), put in place atomically, and given its File
Catalog metadata and ancestors (:mod:`~showerflow.executors.dirac.outputs`). Every DIRAC
job submitted is recorded in ``.snakemake/dirac/submitted.json``: a later run that needs
the same job (same rule, outputs, inputs and command) takes over that DIRAC job if it is
still queued or running, and fetches its outputs if it is Done, instead of submitting it
again. See ``docs/dirac.md``.
"""

import glob
import hashlib
import json
import os
import posixpath
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

from . import jdl as J
from .batches import BATCH_FIELDS, batch_hook, batch_of, staged_files
from .checks import PreflightError, check_jdl_readback, preflight
from .client import BackendUnavailable, DiracClient, DiracError
from .jobs import classify_status, failure_reason, fetch_failure_reason
from .outputs import (
    DEFAULT_FIELDS,
    SIDECAR,
    CatalogHookError,
    check_hook,
    combine_hooks,
    default_metadata,
    file_entries,
    read_sidecar,
)

__all__ = ["ExecutorSettings", "Executor", "common_settings", "job_key"]

STATE_DIR = Path(".snakemake") / "dirac"
MAX_SANDBOX_FILE = 10_000_000


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """Settings of the DIRAC executor (``--dirac-<name>`` on the command line)."""

    lfn_base: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "LFN directory mirroring the working directory, inside your DIRAC home, "
            "e.g. /vo.cta.in2p3.fr/user/j/jdoe/showerflow (files get <lfn-base>/<path>)",
            "required": True,
        },
    )
    output_se: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "Storage element for job outputs and uploaded inputs",
            "required": True,
        },
    )
    group: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "DIRAC group jobs must run as (the proxy's is checked); default: "
            "any group that can submit jobs",
        },
    )
    site: str | None = field(
        default=None,
        metadata={"type": str, "help": "Comma-separated DIRAC sites jobs may run at (JDL Site)"},
    )
    banned_sites: str | None = field(
        default=None,
        metadata={"type": str, "help": "Comma-separated DIRAC sites jobs must not run at"},
    )
    job_group: str = field(
        default="showerflow",
        metadata={"help": "JDL JobGroup (at most 32 characters)"},
    )
    cpu_power: float = field(
        default=10.0,
        metadata={"help": "Normalised CPU power per core: CPUTime = runtime (s) x threads x this"},
    )
    default_runtime: int = field(
        default=60,
        metadata={"help": "Minutes assumed for a job whose rule declares no runtime"},
    )
    local_rules: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "Comma-separated rules run as local processes, not DIRAC jobs",
        },
    )
    sandbox_extra: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "Comma-separated globs of small files shipped with every job "
            "(checkpoint outputs are shipped automatically)",
        },
    )
    stalled_timeout: int = field(
        default=3600,
        metadata={"help": "Seconds a job may stay Stalled before it is killed and failed"},
    )
    server_timeout: int = field(
        default=900,
        metadata={
            "help": "Seconds the DIRAC server may stay unreachable before the jobs in "
            "flight are given up (a rerun takes them over)"
        },
    )
    download_retries: int = field(default=3, metadata={"help": "Download attempts per output file"})
    retry_wait: float = field(default=10.0, metadata={"help": "Seconds between download attempts"})
    min_proxy_hours: float = field(
        default=1.0, metadata={"help": "Refuse to start with less proxy lifetime left (hours)"}
    )
    skip_metadata: bool = field(
        default=False,
        metadata={"help": "Do not set File Catalog metadata and ancestors of outputs"},
    )


common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=True,
    job_deploy_sources=False,
    pass_default_storage_provider_args=True,
    pass_default_resources_args=True,
    pass_envvar_declarations_to_cmd=True,
    auto_deploy_default_storage_provider=False,
    can_transfer_local_files=True,
    init_seconds_before_status_checks=0,
)


def _split(value):
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def job_key(rule, outputs, inputs, command):
    """Identity of a job across runs: rule, outputs, inputs (LFN and checksum), command.

    Parameters
    ----------
    rule : str
    outputs : list of str
    inputs : list of (str, str)
        ``(lfn, Adler-32)``.
    command : str

    Returns
    -------
    str
        A SHA-1 hex digest.
    """
    text = json.dumps([rule, sorted(outputs), sorted(inputs), command], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def _directory_files(path):
    """Files below a directory, as relative paths (sorted, recursively)."""
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        out.extend(os.path.join(root, f) for f in sorted(files))
    return out


class Executor(RemoteExecutor):
    """Wraps each Snakemake job as a DIRAC job (see the module docstring)."""

    def __post_init__(self):
        from showerflow.provenance import config_digest

        self.settings = self.workflow.executor_settings
        for name in ("lfn_base", "output_se"):
            if not getattr(self.settings, name):
                raise WorkflowError(
                    f"the dirac executor needs --dirac-{name.replace('_', '-')} "
                    "(set it in profiles/dirac/config.yaml)"
                )
        self.client = DiracClient(logger=self.logger)
        fields = None if self.settings.skip_metadata else {**DEFAULT_FIELDS, **BATCH_FIELDS}
        try:
            proxy = preflight(
                self.client,
                self.settings.lfn_base,
                self.settings.output_se,
                self.settings.min_proxy_hours,
                self.settings.group,
                fields,
            )
        except (PreflightError, BackendUnavailable, DiracError) as err:
            raise WorkflowError(f"DIRAC: nothing submitted: {err}") from None
        self.group = proxy.get("group")
        self.logger.info(
            f"DIRAC: proxy of {proxy.get('username')} (group {self.group}) valid for "
            f"{proxy['seconds_left'] / 3600:.1f} h; server answers; output SE "
            f"{self.settings.output_se} writable"
        )
        self.state = Path(STATE_DIR)
        self.state.mkdir(parents=True, exist_ok=True)
        self.local_rules = set(_split(self.settings.local_rules))
        self.known = {}  # lfn -> catalog checksum
        self.local_sums = {}  # (path, size, mtime_ns) -> adler32
        self.sources = None
        self.checked_rules = set()
        self.unreachable_since = None
        self.digest = config_digest(getattr(self.workflow, "config", {}) or {})
        self.registry_path = self.state / "submitted.json"
        try:
            self.registry = json.loads(self.registry_path.read_text())
        except (OSError, ValueError):
            self.registry = {}

    # -- helpers ----------------------------------------------------------------------
    def _lfn(self, path):
        return J.lfn_for(os.path.relpath(str(path)), self.settings.lfn_base)

    def _local_sum(self, path):
        from showerflow.catalog import adler32

        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        if key not in self.local_sums:
            self.local_sums[key] = adler32(path)
        return self.local_sums[key]

    def _save_registry(self):
        tmp = self.registry_path.with_name(f".{self.registry_path.name}.tmp")
        tmp.write_text(json.dumps(self.registry, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.registry_path)

    def _sources_archive(self):
        """Workflow sources (Snakefile, rules, scripts, configs, git files) as one tar.gz."""
        if self.sources is None:
            try:
                files = sorted(self.workflow.dag.get_sources())
            except Exception as err:  # noqa: BLE001 (anything: fall back to the Snakefile)
                self.logger.warning(f"dirac: cannot list workflow sources ({err})")
                files = [os.path.relpath(self.workflow.main_snakefile)]
            path = Path(self.tmpdir) / J.SOURCES
            with tarfile.open(path, "w:gz") as tar:
                for f in files:
                    if (
                        not f.startswith("..")
                        and os.path.isfile(f)
                        and os.path.getsize(f) <= MAX_SANDBOX_FILE
                    ):
                        tar.add(f)
            self.sources = path
        return self.sources

    def _extra_files(self):
        """Checkpoint outputs (read by input functions) and --dirac-sandbox-extra matches."""
        files = set()
        try:
            files.update(str(f) for f in self.workflow.checkpoints.created_output)
        except AttributeError:
            pass
        for pattern in _split(self.settings.sandbox_extra):
            files.update(glob.glob(pattern, recursive=True))
        return sorted(
            os.path.relpath(f)
            for f in files
            if os.path.isfile(f)
            and not os.path.relpath(f).startswith("..")
            and os.path.getsize(f) <= MAX_SANDBOX_FILE
        )

    def _input_pairs(self, job):
        """``(lfn, relative path)`` of every input file (a directory input: each file in it),
        and the empty ones apart (DIRAC stores no empty file: the runner creates them)."""
        pairs, empty = [], []
        for f in job.input:
            path = str(f)
            paths = _directory_files(path) if os.path.isdir(path) else [path]
            for p in paths:
                if os.path.isfile(p) and os.path.getsize(p) == 0:
                    empty.append(os.path.relpath(p))
                else:
                    pairs.append((self._lfn(p), os.path.relpath(p)))
        return pairs, empty

    def _stage_inputs(self, pairs):
        """Make every input available in the File Catalog with the local file's checksum."""
        todo = [lfn for lfn, _ in pairs if lfn not in self.known]
        if todo:
            found, _ = self.client.lfn_metadata(todo)
            self.known.update({k: v.get("Checksum") for k, v in found.items()})
        from .bridge import same_adler32

        uploads = {}  # lfn -> path (one bridge call for all)
        for lfn, path in pairs:
            local = os.path.isfile(path)
            if lfn in self.known:
                if not local or same_adler32(self.known[lfn], self._local_sum(path)):
                    continue
                self.logger.info(f"dirac: {path} changed since its upload: replacing {lfn}")
            elif not local:
                raise DiracError(f"input {path} is neither a local file nor registered as {lfn}")
            uploads[lfn] = path
        items = sorted(uploads.items())
        # overwrite: a changed input replaces its LFN; a new one has none to replace
        answers = self.client.add_files(items, self.settings.output_se, overwrite=True)
        for (lfn, path), ans in zip(items, answers, strict=True):
            if isinstance(ans, Exception):
                raise ans
            self.known[lfn] = self._local_sum(path)

    def _check_jdl(self, rule, text, spec):
        """Once per rule: DIRAC's own parser must read the JDL as showerflow means it."""
        if rule in self.checked_rules:
            return
        intended = {
            "InputSandbox": spec.input_sandbox,
            "OutputSandbox": [J.STDOUT, J.STDERR, *spec.output_sandbox],
            "InputData": [f"LFN:{x}" for x in spec.input_data] if spec.input_data else None,
            "JobName": spec.name,
            "OutputSE": spec.output_se,
        }
        check_jdl_readback(
            {k: v for k, v in intended.items() if v is not None}, self.client.check_jdl(text)
        )
        self.checked_rules.add(rule)

    def _write_sandbox(self, job, inputs, empty, outputs, sandbox, aliases):
        """Write the job's input sandbox files; return their paths."""
        jobdir = Path(self.tmpdir) / f"job{job.jobid}"
        jobdir.mkdir(parents=True, exist_ok=True)
        runner = jobdir / J.RUNNER
        runner.write_text(J.runner_script())
        runner.chmod(0o755)
        local = [rel for _, rel in inputs if os.path.isfile(rel)] + list(empty)
        (jobdir / J.MANIFEST).write_text(
            J.render_manifest(
                J.plan_inputs(inputs),
                outputs,
                sandbox,
                self.settings.lfn_base,
                self.settings.output_se,
                empty,
                mtimes={rel: J.mtime_text(rel) for rel in local},
                aliases=aliases,
            )
        )
        (jobdir / J.COMMAND).write_text(self.format_job_exec(job) + "\n")
        bridge = jobdir / J.BRIDGE
        shutil.copyfile(Path(__file__).with_name("bridge.py"), bridge)
        box = [str(runner), str(jobdir / J.MANIFEST), str(jobdir / J.COMMAND), str(bridge)]
        box.append(str(self._sources_archive()))
        extra = self._extra_files()
        if extra:
            with tarfile.open(jobdir / J.EXTRA, "w:gz") as tar:
                for f in extra:
                    tar.add(f)
            box.append(str(jobdir / J.EXTRA))
        return box

    def _prepare(self, job):
        """Write the job's sandbox files and JDL; return (jdl text, aux dict, job key)."""
        inputs, empty = self._input_pairs(job)
        outputs = []
        for f in job.output:
            kind = "dir" if getattr(f, "is_directory", False) else "file"
            outputs.append((os.path.relpath(str(f)), self._lfn(f), kind))
        benchmarks = [j.benchmark for j in (job.jobs if job.is_group() else [job]) if j.benchmark]
        logs = [str(f) for f in [*job.log, *benchmarks]]
        sandbox = list(zip(logs, J.sandbox_names(logs), strict=True))
        self._stage_inputs(inputs)
        params = getattr(job, "params", None)
        hook = params.get("dirac_catalog") if hasattr(params, "get") else None
        rule = job.name if job.is_group() else job.rule.name
        check_hook(hook, f"rule {rule}: params.dirac_catalog")
        # a showerflow batch job: its per-file outputs go under their final LFNs
        batch, aliases = batch_of(params), {}
        staging = [rel for rel, _, kind in outputs if kind == "dir"]
        if batch and len(staging) == 1:
            files = staged_files(batch, staging[0])
            aliases = {staged: self._lfn(final) for staged, (final, _) in files.items()}
        else:
            batch = None

        box = self._write_sandbox(job, inputs, empty, outputs, sandbox, aliases)

        wildcards = dict(getattr(job, "wildcards_dict", None) or {})
        runtime = job.resources.get("runtime") or self.settings.default_runtime
        spec = J.JobSpec(
            name=J.job_name(rule, wildcards, job.jobid),
            executable=J.RUNNER,
            arguments=J.MANIFEST,
            input_sandbox=box,
            output_sandbox=[J.LISTING, *(name for _, name in sandbox)],
            input_data=[lfn for lfn, _ in inputs],
            output_se=self.settings.output_se,
            cpu_time=J.cpu_time(float(runtime), job.threads, self.settings.cpu_power),
            processors=max(1, int(job.threads)),
            sites=_split(self.settings.site),
            banned_sites=_split(self.settings.banned_sites),
            group=self.settings.job_group,
        )
        text = J.build_jdl(spec)
        self._check_jdl(rule, text, spec)
        (Path(self.tmpdir) / f"job{job.jobid}" / "job.jdl").write_text(text)
        shell = getattr(job, "shellcmd", None) or ""
        key = job_key(
            rule,
            [rel for rel, _, _ in outputs],
            [(lfn, str(self.known.get(lfn))) for lfn, _ in inputs],
            shell + repr(sorted((k, str(v)) for k, v in wildcards.items())),
        )
        aux = {
            "rule": rule,
            "inputs": [lfn for lfn, _ in inputs],
            "outputs": outputs,
            "sandbox": sandbox,
            "metadata": default_metadata(
                rule, wildcards, getattr(self.workflow, "config", None), self.digest
            ),
            "hook": hook,
            "batch": {"record": batch, "staging": staging[0]} if batch else None,
            "key": key,
            "time_limit": 60 * float(runtime),  # seconds: a kill long before is not a limit
        }
        return text, aux

    # -- RemoteExecutor API -----------------------------------------------------------
    def run_job(self, job):
        if set(job.rules) <= self.local_rules:
            self._run_locally(job)
            return
        try:
            text, aux = self._prepare(job)
        except (DiracError, ValueError, OSError, tarfile.TarError) as err:  # JDLError: ValueError
            self.report_job_error(
                SubmittedJobInfo(job), msg=f"DIRAC: job not submitted: {self.client.redact(err)}"
            )
            return
        previous = self.registry.get(aux["key"])
        if previous and self._adopt(job, aux, previous):
            return
        try:
            dirac_id = self.client.submit(text)
        except DiracError as err:
            self.report_job_error(
                SubmittedJobInfo(job), msg=f"DIRAC submission refused: {self.client.redact(err)}"
            )
            return
        self._record(job, aux, dirac_id, text)

    def _record(self, job, aux, dirac_id, text):
        jobstate = self.state / dirac_id
        jobstate.mkdir(parents=True, exist_ok=True)
        (jobstate / "job.jdl").write_text(text)
        with open(self.state / "jobids.txt", "a") as f:
            f.write(f"{dirac_id}\n")
        self.registry[aux["key"]] = {
            "dirac_id": dirac_id,
            "rule": aux["rule"],
            "outputs": [rel for rel, _, _ in aux["outputs"]],
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self._save_registry()
        aux.update(dirac_id=dirac_id, last="Submitted", stalled_since=None, unknown=0)
        self.logger.info(
            f"Job {job.jobid} ({aux['rule']}) submitted to DIRAC as job {dirac_id}; "
            f"JDL and sandbox in {jobstate}"
        )
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=dirac_id, aux=aux))

    def _adopt(self, job, aux, previous):
        """Take over the DIRAC job an earlier run submitted for this job, if it can still serve."""
        dirac_id = str(previous["dirac_id"])
        try:
            st = self.client.status([dirac_id]).get(dirac_id)
        except DiracError:
            return False
        kind = classify_status((st or {}).get("Status", ""))
        if kind not in ("pending", "running", "done"):
            return False
        aux.update(dirac_id=dirac_id, last=st["Status"], stalled_since=None, unknown=0)
        self.logger.info(
            f"Job {job.jobid} ({aux['rule']}): taking over DIRAC job {dirac_id} of an earlier "
            f"run ({st['Status']}) instead of submitting it again"
        )
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=dirac_id, aux=aux))
        return True

    def _run_locally(self, job):
        logdir = self.state / "local"
        logdir.mkdir(parents=True, exist_ok=True)
        log = logdir / f"job{job.jobid}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                ["bash", "-c", self.format_job_exec(job)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.logger.info(f"Job {job.jobid} runs locally (--dirac-local-rules), log {log}")
        self.report_job_submission(
            SubmittedJobInfo(
                job, external_jobid=f"local-{proc.pid}", aux={"proc": proc, "log": log}
            )
        )

    def _unreachable(self, remote, err):
        """The server did not answer: wait up to --dirac-server-timeout, then give up."""
        now = time.time()
        self.unreachable_since = self.unreachable_since or now
        waited = now - self.unreachable_since
        expired = None
        try:
            expired = self.client.proxy()["seconds_left"] <= 0
        except DiracError as perr:
            expired = perr.kind == "proxy" or "expired" in str(perr).lower()
        if expired:
            for info in remote:
                self.report_job_error(
                    info,
                    msg=f"DIRAC job {info.aux['dirac_id']} ({info.aux['rule']}): the proxy "
                    "expired during the run, so its state cannot be read. DIRAC keeps running "
                    f"it. Renew the proxy (`dirac-proxy-init -g {self.group or '<group>'}`) "
                    "and rerun: the rerun takes over the jobs still on DIRAC and fetches "
                    "the finished ones",
                )
            return []
        if waited < self.settings.server_timeout:
            self.logger.warning(
                f"dirac: the server does not answer ({err}); {len(remote)} job(s) in flight, "
                f"retrying for {self.settings.server_timeout - waited:.0f} s more"
            )
            return list(remote)
        for info in remote:
            self.report_job_error(
                info,
                msg=f"DIRAC job {info.aux['dirac_id']} ({info.aux['rule']}, last seen "
                f"{info.aux['last']}): the DIRAC server has not answered for {waited:.0f} s "
                f"({err}). Rerun once it is back: the rerun takes over the DIRAC jobs that "
                "are still there and fetches the finished ones, so only lost work is redone",
            )
        return []

    async def check_active_jobs(self, active_jobs):
        remote = []
        for info in active_jobs:
            proc = (info.aux or {}).get("proc")
            if proc is None:
                remote.append(info)
                continue
            code = proc.poll()
            if code is None:
                yield info
            elif code == 0:
                self.report_job_success(info)
            else:
                self.report_job_error(
                    info, msg=f"local job exited with code {code}", aux_logs=[str(info.aux["log"])]
                )
        if not remote:
            return
        try:
            async with self.status_rate_limiter:
                statuses = self.client.status([i.aux["dirac_id"] for i in remote])
        except DiracError as err:
            for info in self._unreachable(remote, err):
                yield info
            return
        self.unreachable_since = None
        for info in remote:
            aux = info.aux
            st = statuses.get(aux["dirac_id"])
            if st is None:
                aux["unknown"] += 1
                if aux["unknown"] > 5:
                    self.report_job_error(
                        info,
                        msg=f"DIRAC does not know job {aux['dirac_id']} (deleted?); rerun to "
                        "submit it again",
                    )
                else:
                    yield info
                continue
            status, minor = st.get("Status", ""), st.get("MinorStatus", "")
            if status != aux["last"]:
                site = st.get("Site")
                self.logger.info(
                    f"DIRAC job {aux['dirac_id']} ({aux['rule']}): {status}"
                    + (f" ({minor})" if minor else "")
                    + (f" at {site}" if site not in (None, "", "ANY", "Unknown") else "")
                )
                aux["last"] = status
            kind = classify_status(status)
            if kind == "done":
                self._done(info)
            elif kind in ("failed", "killed"):
                self._fail(info, st)
            elif kind == "stalled":
                aux["stalled_since"] = aux["stalled_since"] or time.time()
                if time.time() - aux["stalled_since"] >= self.settings.stalled_timeout:
                    self.client.kill([aux["dirac_id"]])
                    self._fail(info, dict(st, Status="Stalled"))
                else:
                    yield info
            else:
                aux["stalled_since"] = None
                yield info

    def _done(self, info):
        aux = info.aux
        try:
            count = self._finish(info)
        except DiracError as err:
            lfn = getattr(err, "lfn", None)
            msg = (
                fetch_failure_reason(aux["dirac_id"], lfn, err.kind, str(err))
                if lfn
                else f"DIRAC job {aux['dirac_id']} is Done but its outputs could not be "
                f"retrieved: {err}"
            )
            if err.kind in ("missing", "corrupt"):
                self._forget(aux)  # lost: a rerun submits the job again
            self.report_job_error(info, msg=self.client.redact(msg), aux_logs=self._shown_logs(aux))
        except (OSError, ValueError) as err:  # CatalogHookError is a ValueError
            self._forget(aux)
            self.report_job_error(
                info,
                msg=f"DIRAC job {aux['dirac_id']} is Done but its outputs could not be put in "
                f"place: {self.client.redact(err)}",
                aux_logs=self._shown_logs(aux),
            )
        else:
            self.logger.info(
                f"DIRAC job {aux['dirac_id']} ({aux['rule']}): {count} file(s) fetched, "
                "Adler-32 verified"
                + (
                    ", File Catalog metadata and ancestors set"
                    if not self.settings.skip_metadata
                    else ""
                )
            )
            self.report_job_success(info)

    def _forget(self, aux):
        """A DIRAC job whose outputs are lost is not taken over by a later run."""
        if self.registry.pop(aux.get("key"), None) is not None:
            self._save_registry()

    def _sandbox(self, aux):
        """Retrieve the output sandbox once and put the rule's logs in place."""
        if aux.get("sandbox_dir"):
            return aux["sandbox_dir"]
        box = self.client.output_sandbox(aux["dirac_id"], self.state / aux["dirac_id"] / "sandbox")
        aux["sandbox_dir"] = box
        for rel, name in aux["sandbox"]:
            src = Path(box) / name
            if src.is_file():
                Path(rel).parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(rel).with_name(f".{Path(rel).name}.dirac")
                shutil.copyfile(src, tmp)
                os.replace(tmp, rel)
        return box

    def _shown_logs(self, aux):
        box = aux.get("sandbox_dir")
        if not box:
            return []
        return [str(Path(box) / n) for n in (J.STDERR, J.STDOUT) if (Path(box) / n).is_file()]

    def _fail(self, info, st):
        aux = info.aux
        try:
            self._sandbox(aux)
        except DiracError as err:
            self.logger.warning(f"dirac: no output sandbox for job {aux['dirac_id']}: {err}")
        self._forget(aux)
        history = None
        if st.get("Status") != "Done":  # a kill on request shows only in the history
            try:
                history = self.client.logging_info(aux["dirac_id"])
            except DiracError as err:
                self.logger.warning(f"dirac: no status history of job {aux['dirac_id']}: {err}")
        reason = failure_reason(
            aux["dirac_id"],
            st.get("Status", ""),
            st.get("MinorStatus", ""),
            st.get("ApplicationStatus", ""),
            st.get("Site", ""),
            history=history,
            time_limit=aux.get("time_limit"),
        )
        self.report_job_error(info, msg=reason, aux_logs=self._shown_logs(aux))

    def _fetch_file(self, lfn, dest, checksum, listed, first=None):
        """Download one file next to ``dest`` and check it; raise DiracError (with ``lfn``).

        ``first``: the outcome of a download already tried (a path, or the DiracError),
        counted as the first attempt.
        """
        from .bridge import adler32, same_adler32

        problems = []
        for attempt in range(1, int(self.settings.download_retries) + 1):
            tmp = Path(dest).parent / f".{Path(dest).name}.dirac-get"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                if attempt == 1 and first is not None:
                    if isinstance(first, Exception):
                        raise first
                    got = first
                else:
                    got = self.client.get_file(lfn, tmp)
                value = adler32(got)
                if not same_adler32(value, checksum) or not same_adler32(value, listed):
                    raise DiracError(
                        f"downloaded Adler-32 {value}, catalog {checksum}, worker {listed}",
                        kind="corrupt",
                    )
                try:
                    os.replace(got, dest)
                except OSError:  # another filesystem
                    shutil.move(got, dest)
                return
            except DiracError as err:
                problems.append(err)
                self.logger.warning(
                    f"dirac: {lfn}: {err} (attempt {attempt}/{self.settings.download_retries})"
                )
                if err.kind in ("missing",):
                    break
                if attempt < self.settings.download_retries:
                    time.sleep(self.settings.retry_wait)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        last = problems[-1]
        err = DiracError(str(last), kind=last.kind)
        err.lfn = lfn
        raise err

    def _place(self, rec, dest, found, fetched):
        """Put one listed file at ``dest``: fetched and verified, or made anew if empty."""
        if rec["lfn"] is None:
            tmp = Path(dest).with_name(f".{Path(dest).name}.dirac-empty")
            tmp.write_bytes(b"")
            os.replace(tmp, dest)
            return
        self._fetch_file(
            rec["lfn"],
            dest,
            found[rec["lfn"]]["Checksum"],
            rec["checksum"],
            fetched.get(rec["lfn"]),
        )

    def _prefetch(self, aux, stored):
        """Every stored file of a job downloaded in one bridge call (DIRAC's Python starts
        once, not once per file): ``({lfn: path or DiracError}, folder to remove)``."""
        root = self.state / aux["dirac_id"] / "fetch"
        shutil.rmtree(root, ignore_errors=True)
        items = [(rec["lfn"], root / str(i)) for i, rec in enumerate(stored)]
        try:
            answers = self.client.get_files(items)
        except BackendUnavailable:
            return {}, root  # each file is tried again on its own
        return {lfn: ans for (lfn, _), ans in zip(items, answers, strict=True)}, root

    def _finish(self, info):
        """Sandbox, every file of every output fetched and verified, catalog metadata."""
        aux = info.aux
        box = Path(self._sandbox(aux))
        listing_path = box / J.LISTING
        if not listing_path.is_file():
            raise DiracError(
                f"the job's output sandbox has no {J.LISTING}: the worker did not report "
                "its uploads; see std.out/std.err"
            )
        listed = json.loads(listing_path.read_text())["files"]
        by_output = {}
        for rec in listed:
            by_output.setdefault(rec["output"], []).append(rec)
        for rel, _, kind in aux["outputs"]:
            if rel not in by_output and kind == "file":
                err = DiracError(f"the worker listed no upload of {rel}", kind="missing")
                err.lfn = self._lfn(rel)
                raise err
        stored = [rec for rec in listed if rec["lfn"]]  # empty files are listed, not stored
        found, failed = self.client.lfn_metadata([rec["lfn"] for rec in stored])
        for rec in stored:
            if rec["lfn"] not in found:
                err = DiracError(
                    str(failed.get(rec["lfn"], "not in the File Catalog")), kind="missing"
                )
                err.lfn = rec["lfn"]
                raise err
        fetched, fetch_root = self._prefetch(aux, stored)
        try:
            sidecars = self._put_in_place(aux, by_output, found, fetched)
        finally:
            shutil.rmtree(fetch_root, ignore_errors=True)
        if not self.settings.skip_metadata:
            self._set_metadata(aux, stored, sidecars)
        return len(listed)

    def _put_in_place(self, aux, by_output, found, fetched):
        """Every declared output in place (a directory whole); return the sidecars read."""
        sidecars = {}
        for rel, _, kind in aux["outputs"]:
            recs = by_output.get(rel, [])
            if kind == "file":
                (rec,) = recs
                Path(rel).parent.mkdir(parents=True, exist_ok=True)
                self._place(rec, rel, found, fetched)
            else:
                staging = Path(rel).parent / f".{Path(rel).name}.dirac-fetch"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
                try:
                    for rec in recs:
                        sub = posixpath.relpath(rec["path"], rel)
                        dest = staging / sub
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        self._place(rec, dest, found, fetched)
                    if Path(rel).exists():
                        shutil.rmtree(rel)
                    os.replace(staging, rel)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
                sidecars[rel] = read_sidecar(rel)
            for rec in recs:
                if rec["lfn"]:
                    self.known[rec["lfn"]] = found[rec["lfn"]]["Checksum"]
        return sidecars

    def _set_metadata(self, aux, stored, sidecars):
        """File Catalog metadata and ancestors of a job's uploaded files (one bridge call)."""
        defaults = dict(aux["metadata"], dirac_job=int(aux["dirac_id"]))
        files = [(rec["path"], rec["lfn"], rec["output"]) for rec in stored]
        try:
            hook = aux.get("hook")
            if aux.get("batch"):  # the batch's per-file outputs, then the rule's hook
                hook = combine_hooks(
                    batch_hook(aux["batch"]["record"], aux["batch"]["staging"]), hook
                )
            entries, warnings = file_entries(
                files,
                defaults,
                hook,
                sidecars,
                aux["inputs"],
                self.settings.lfn_base,
            )
        except CatalogHookError as err:
            raise ValueError(f"metadata hook: {err} (see {SIDECAR} in docs/dirac.md)") from None
        for line in warnings:
            self.logger.warning(f"dirac: {line}")
        self.client.set_metadata(entries)

    def cancel_jobs(self, active_jobs):
        """Kill the DIRAC jobs in flight (Done ones are left for a rerun to fetch); a job
        whose kill DIRAC did not take (server unreachable) stays recorded for a rerun."""
        jobs = []
        for info in active_jobs:
            proc = (info.aux or {}).get("proc")
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
            elif info.aux and info.aux.get("dirac_id") and info.aux.get("last") != "Done":
                jobs.append(info.aux)
        if jobs:
            ids = [aux["dirac_id"] for aux in jobs]
            self.logger.info(f"dirac: killing {len(ids)} DIRAC job(s): {' '.join(ids)}")
            if self.client.kill(ids):
                for aux in jobs:
                    self._forget(aux)

    def get_job_exec_prefix(self, job):
        return ""

    def get_job_exec_suffix(self, job):
        return ""
