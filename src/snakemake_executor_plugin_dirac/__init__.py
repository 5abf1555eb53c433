"""Snakemake executor plugin for DIRAC: ``snakemake --executor dirac`` (``profiles/dirac``).

Each Snakemake job becomes one DIRAC job. Before submission the executor checks that the
DIRAC commands exist and that the proxy is valid, maps every input to an LFN (uploading
it with ``dirac-dms-add-file`` if the File Catalog does not have it, or has a different
checksum), writes a JDL (InputData, OutputData, OutputSE, CPUTime, Site, BannedSites) and
submits it. It polls ``dirac-wms-job-status``; when a job is Done it retrieves the output
sandbox (logs, benchmarks), downloads every output with Adler-32 verification (retries,
then a directory-sync fallback) and sets its File Catalog metadata and ancestors. Rules
listed in ``--dirac-local-rules`` (catalog scans of local folders, the toy simulation) run
as local processes. See ``docs/dirac.md``.

Batch manifests: a declared output that is a JSON object with an ``outputs`` list of
objects with an ``output`` key (showerflow's ``batch-<hash>.json``) lists files the job
wrote besides its declared outputs. The worker node uploads them
(``showerflow.dirac_jdl.upload_extra_outputs``); a Done job's listed files are downloaded
and verified like declared outputs, the manifest's ``state`` entries are set to the local
copies' ``[size, mtime_ns]``, and a job whose inputs include a manifest gets its listed
files as inputs too.
"""

import glob
import os
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.settings import (
    CommonSettings,
    ExecutorSettingsBase,
)

STATE_DIR = Path(".snakemake") / "dirac"
MAX_SANDBOX_FILE = 10_000_000


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """Settings of the DIRAC executor (``--dirac-<name>`` on the command line)."""

    lfn_base: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "LFN directory mirroring the working directory, e.g. "
            "/vo.cta.in2p3.fr/user/j/jdoe/showerflow (files get <lfn-base>/<relative path>)",
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
    site: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "Comma-separated DIRAC sites jobs may run at (JDL Site; default any)",
        },
    )
    banned_sites: str | None = field(
        default=None,
        metadata={
            "type": str,
            "help": "Comma-separated DIRAC sites jobs must not run at (JDL BannedSites)",
        },
    )
    job_group: str = field(
        default="showerflow",
        metadata={"help": "JDL JobGroup (at most 32 characters): select jobs with -g"},
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
            "help": "Comma-separated rules run as local processes, not DIRAC jobs "
            "(e.g. catalog scans of local folders)",
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
    download_retries: int = field(
        default=3,
        metadata={"help": "dirac-dms-get-file attempts per output before a directory sync"},
    )
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


class Executor(RemoteExecutor):
    """Wraps each Snakemake job as a DIRAC job (see the module docstring)."""

    def __post_init__(self):
        from showerflow.dirac import COMMANDS, BackendUnavailable, DiracClient, missing_commands

        self.settings = self.workflow.executor_settings
        for name in ("lfn_base", "output_se"):
            if not getattr(self.settings, name):
                raise WorkflowError(
                    f"the dirac executor needs --dirac-{name.replace('_', '-')} "
                    "(set it in profiles/dirac/config.yaml)"
                )
        missing = missing_commands(COMMANDS)
        if missing:
            raise WorkflowError(
                "DIRAC backend unreachable: the DIRAC client commands "
                f"{', '.join(missing)} are not on PATH. Set up the DIRAC client "
                "(e.g. `source diracos/diracosrc`) before running with --executor dirac."
            )
        self.client = DiracClient(logger=self.logger, retry_wait=self.settings.retry_wait)
        try:
            proxy = self.client.check_proxy(self.settings.min_proxy_hours)
        except BackendUnavailable as err:
            raise WorkflowError(f"DIRAC backend unreachable: {err}") from None
        self.logger.info(
            f"DIRAC proxy valid for {proxy['timeleft'] / 3600:.1f} h"
            + (f" (group {proxy['group']})" if proxy.get("group") else "")
        )
        self.state = Path(STATE_DIR)
        self.state.mkdir(parents=True, exist_ok=True)
        self.local_rules = set(_split(self.settings.local_rules))
        self.known = {}  # lfn -> catalog checksum
        self.local_sums = {}  # (path, size, mtime_ns) -> adler32
        self.sources = None
        self.helper = None
        self.manifests = {}  # (path, size, mtime_ns) -> batch manifest content or None
        self.status_failures = 0

    # -- helpers ----------------------------------------------------------------------
    def _lfn(self, path):
        from showerflow.dirac_jdl import lfn_for

        return lfn_for(os.path.relpath(str(path)), self.settings.lfn_base)

    def _local_sum(self, path):
        from showerflow.catalog import adler32

        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        if key not in self.local_sums:
            self.local_sums[key] = adler32(path)
        return self.local_sums[key]

    def _batch_manifest(self, path):
        """The content of ``path`` if it is a batch manifest (cached by size and mtime), else None."""
        from showerflow.dirac_jdl import read_batch_manifest

        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        if key not in self.manifests:
            self.manifests[key] = read_batch_manifest(str(path))
        return self.manifests[key]

    def _helper(self):
        """``showerflow/dirac_jdl.py`` as the job's ``showerflow_jdl.py`` (uploads batch outputs)."""
        if self.helper is None:
            from showerflow import dirac_jdl as J

            path = Path(self.tmpdir) / J.HELPER
            path.write_bytes(Path(J.__file__).read_bytes())
            self.helper = path
        return self.helper

    def _sources_archive(self):
        """Workflow sources (Snakefile, rules, scripts, configs, git files) as one tar.gz."""
        if self.sources is None:
            from showerflow.dirac_jdl import SOURCES

            try:
                files = sorted(self.workflow.dag.get_sources())
            except Exception as err:  # noqa: BLE001 (anything: fall back to the Snakefile)
                self.logger.warning(f"dirac: cannot list workflow sources ({err})")
                files = [os.path.relpath(self.workflow.main_snakefile)]
            path = Path(self.tmpdir) / SOURCES
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

    def _stage_inputs(self, pairs):
        """Make every input available in the File Catalog with the local file's checksum."""
        todo = [lfn for lfn, _ in pairs if lfn not in self.known]
        if todo:
            found, _ = self.client.lfn_metadata(todo)
            self.known.update({k: v.get("Checksum") for k, v in found.items()})
        for lfn, path in pairs:
            local = os.path.isfile(path)
            if lfn in self.known:
                if not local:
                    continue
                from showerflow.dirac import same_adler32

                if same_adler32(self.known[lfn], self._local_sum(path)):
                    continue
                self.logger.info(f"dirac: {path} changed since its upload: replacing {lfn}")
                self.client.run(
                    ["dirac-dms-add-file", "-f", lfn, path, self.settings.output_se], timeout=3600
                )
            elif local:
                self.client.add_file(lfn, path, self.settings.output_se)
            else:
                from showerflow.dirac import DiracError

                raise DiracError(f"input {path} is neither a local file nor registered as {lfn}")
            self.known[lfn] = self._local_sum(path)

    def _prepare(self, job):
        """Write the job's sandbox files and JDL; return (jdl path, aux dict)."""
        from showerflow import dirac_jdl as J
        from showerflow.dirac import file_metadata

        for f in job.output:
            if getattr(f, "is_directory", False):
                raise J.JDLError(
                    f"directory output '{f}' cannot be a DIRAC OutputData file; "
                    f"list the rule in --dirac-local-rules"
                )
        inputs = [(self._lfn(f), str(f)) for f in job.input]
        # files listed by input batch manifests are read through them: ship them too
        have = {os.path.normpath(str(f)) for f in job.input}
        for f in list(job.input):
            for path in J.manifest_outputs(self._batch_manifest(str(f))):
                if os.path.normpath(path) not in have:
                    have.add(os.path.normpath(path))
                    inputs.append((self._lfn(path), path))
        outputs = [(str(f), self._lfn(f)) for f in job.output]
        benchmarks = [j.benchmark for j in (job.jobs if job.is_group() else [job]) if j.benchmark]
        logs = [str(f) for f in [*job.log, *benchmarks]]
        sandbox = list(zip(logs, J.sandbox_names(logs), strict=True))
        self._stage_inputs(inputs)

        jobdir = Path(self.tmpdir) / f"job{job.jobid}"
        jobdir.mkdir(parents=True, exist_ok=True)
        runner = jobdir / J.RUNNER
        runner.write_text(J.runner_script())
        runner.chmod(0o755)
        (jobdir / J.MANIFEST).write_text(
            J.render_manifest(
                J.plan_inputs(inputs),
                [(rel, os.path.basename(lfn)) for rel, lfn in outputs],
                sandbox,
                lfn_base=self.settings.lfn_base,
                output_se=self.settings.output_se,
            )
        )
        (jobdir / J.COMMAND).write_text(self.format_job_exec(job) + "\n")
        box = [str(runner), str(jobdir / J.MANIFEST), str(jobdir / J.COMMAND)]
        box.append(str(self._helper()))
        box.append(str(self._sources_archive()))
        extra = self._extra_files()
        if extra:
            with tarfile.open(jobdir / J.EXTRA, "w:gz") as tar:
                for f in extra:
                    tar.add(f)
            box.append(str(jobdir / J.EXTRA))

        wildcards = dict(getattr(job, "wildcards_dict", None) or {})
        rule = job.name if job.is_group() else job.rule.name
        runtime = job.resources.get("runtime") or self.settings.default_runtime
        spec = J.JobSpec(
            name=J.job_name(rule, wildcards, job.jobid),
            executable=J.RUNNER,
            arguments=J.MANIFEST,
            input_sandbox=box,
            output_sandbox=[name for _, name in sandbox],
            input_data=[lfn for lfn, _ in inputs],
            output_data=[lfn for _, lfn in outputs],
            output_se=self.settings.output_se,
            cpu_time=J.cpu_time(float(runtime), job.threads, self.settings.cpu_power),
            processors=max(1, int(job.threads)),
            sites=_split(self.settings.site),
            banned_sites=_split(self.settings.banned_sites),
            group=self.settings.job_group,
        )
        jdl = jobdir / "job.jdl"
        jdl.write_text(J.build_jdl(spec))
        aux = {
            "rule": rule,
            "inputs": [lfn for lfn, _ in inputs],
            "outputs": outputs,
            "sandbox": sandbox,
            "metadata": file_metadata(
                rule, wildcards, getattr(self.workflow, "config", None), {"workflow": "showerflow"}
            ),
            "jdl": jdl,
        }
        return jdl, aux

    # -- RemoteExecutor API -----------------------------------------------------------
    def run_job(self, job):
        from showerflow.dirac import DiracError

        if set(job.rules) <= self.local_rules:
            self._run_locally(job)
            return
        try:
            jdl, aux = self._prepare(job)
            dirac_id = self.client.submit(jdl)
        except (DiracError, ValueError, OSError, tarfile.TarError) as err:  # JDLError: ValueError
            self.report_job_error(
                SubmittedJobInfo(job), msg=f"DIRAC submission failed: {self.client.redact(err)}"
            )
            return
        jobstate = self.state / dirac_id
        jobstate.mkdir(parents=True, exist_ok=True)
        (jobstate / "job.jdl").write_text(Path(jdl).read_text())
        with open(self.state / "jobids.txt", "a") as f:
            f.write(f"{dirac_id}\n")
        aux.update(dirac_id=dirac_id, last="Submitted", stalled_since=None, unknown=0)
        self.logger.info(
            f"Job {job.jobid} ({aux['rule']}) submitted to DIRAC as job {dirac_id}; "
            f"JDL and sandbox in {jobstate}"
        )
        self.report_job_submission(SubmittedJobInfo(job, external_jobid=dirac_id, aux=aux))

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

    async def check_active_jobs(self, active_jobs):
        from showerflow.dirac import DiracError, classify_status

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
            self.status_failures = 0
        except DiracError as err:
            self.status_failures += 1
            self.logger.warning(f"dirac: status query failed ({err}); retrying")
            if self.status_failures > 10:
                for info in remote:
                    self.report_job_error(info, msg=f"DIRAC status unavailable: {err}")
                return
            for info in remote:
                yield info
            return
        for info in remote:
            aux = info.aux
            st = statuses.get(aux["dirac_id"])
            if st is None:
                aux["unknown"] += 1
                if aux["unknown"] > 5:
                    self.report_job_error(info, msg=f"DIRAC does not know job {aux['dirac_id']}")
                else:
                    yield info
                continue
            status, minor = st.get("Status", ""), st.get("MinorStatus", "")
            if status != aux["last"]:
                self.logger.info(
                    f"DIRAC job {aux['dirac_id']} ({aux['rule']}): {status}"
                    + (f" ({minor})" if minor else "")
                    + (f" at {st['Site']}" if st.get("Site") not in (None, "", "ANY") else "")
                )
                aux["last"] = status
            kind = classify_status(status)
            if kind == "done":
                try:
                    self._finish(info)
                except (DiracError, OSError, ValueError) as err:
                    self.report_job_error(
                        info,
                        msg=f"DIRAC job {aux['dirac_id']} is Done but its outputs could not be "
                        f"retrieved: {self.client.redact(err)}",
                        aux_logs=self._sandbox_logs(info, fetch=False),
                    )
                else:
                    self.report_job_success(info)
            elif kind in ("failed", "killed"):
                self._fail(info, status, minor)
            elif kind == "stalled":
                aux["stalled_since"] = aux["stalled_since"] or time.time()
                if time.time() - aux["stalled_since"] >= self.settings.stalled_timeout:
                    self.client.kill([aux["dirac_id"]])
                    self._fail(info, "Stalled", minor or "Watchdog identified this job as stalled")
                else:
                    yield info
            else:
                aux["stalled_since"] = None
                yield info

    def _sandbox_logs(self, info, fetch=True):
        """Retrieve the output sandbox (once), put logs in place; return std.err/std.out paths."""
        from showerflow.dirac import DiracError

        aux = info.aux
        jobstate = self.state / aux["dirac_id"]
        if fetch and not aux.get("sandbox_dir"):
            try:
                aux["sandbox_dir"] = self.client.get_output(aux["dirac_id"], jobstate / "sandbox")
            except DiracError as err:
                self.logger.warning(f"dirac: no output sandbox for {aux['dirac_id']}: {err}")
                return []
        box = aux.get("sandbox_dir")
        if not box:
            return []
        for rel, name in aux["sandbox"]:
            src = Path(box) / name
            if src.is_file():
                Path(rel).parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(rel).with_name(f".{Path(rel).name}.dirac")
                tmp.write_bytes(src.read_bytes())
                os.replace(tmp, rel)
        shown = []  # the rule's own logs are listed by Snakemake already
        for name in ("std.err", "std.out"):
            if (Path(box) / name).is_file():
                shown.append(str(Path(box) / name))
        return shown

    def _fail(self, info, status, minor):
        from showerflow.dirac import failure_reason

        logs = self._sandbox_logs(info)
        self.report_job_error(
            info,
            msg=f"DIRAC job {info.aux['dirac_id']} {failure_reason(status, minor)}. ",
            aux_logs=logs,
        )

    def _catalog_checksums(self, lfns, what):
        """Catalog checksums of ``lfns``; raise if the File Catalog misses any."""
        from showerflow.dirac import DiracError

        found, failed = self.client.lfn_metadata(lfns)
        missing = [lfn for lfn in lfns if lfn not in found]
        if missing:
            raise DiracError(
                f"{what} not in the File Catalog: {missing} "
                f"({'; '.join(str(failed.get(m, 'absent')) for m in missing)})"
            )
        return {lfn: found[lfn].get("Checksum") for lfn in lfns}

    def _fetch(self, pairs, checksums):
        """Download ``(relative path, lfn)`` pairs, each checked against its catalog checksum."""
        for rel, lfn in pairs:
            self.client.fetch_verified(
                lfn,
                rel,
                checksums[lfn],
                retries=self.settings.download_retries,
                mirror_root=self.state / "mirror",
            )
            self.known[lfn] = checksums[lfn]
            self._local_sum(rel)

    def _batch_ancestors(self, extras, job_inputs):
        """Ancestor LFN of each listed file: its input's LFN if the File Catalog has it.

        ``extras`` holds ``(relative path, lfn, input as the manifest names it)``. Inputs
        of the job are in the catalog (they were staged); other LFNs are looked up once.
        A file whose input has no LFN, or one the catalog does not know, gets no ancestor
        (warning).
        """
        from showerflow.dirac import input_lfn

        wanted = {lfn: input_lfn(src, self.settings.lfn_base) for _, lfn, src in extras}
        known = set(job_inputs) | set(self.known)
        unknown = sorted({a for a in wanted.values() if a and a not in known})
        if unknown:
            found, _ = self.client.lfn_metadata(unknown)
            self.known.update({k: v.get("Checksum") for k, v in found.items()})
            known |= set(found)
        out = {}
        for _, lfn, src in extras:
            parent = wanted[lfn]
            if parent in known:
                out[lfn] = [parent]
            else:
                out[lfn] = []
                self.logger.warning(
                    f"dirac: no ancestor for {lfn}: its input {src!r} "
                    + ("has no LFN" if parent is None else f"({parent}) is not in the File Catalog")
                )
        return out

    def _finish(self, info):
        """Sandbox, verified outputs (and the files batch manifests list), catalog metadata."""
        from showerflow.dirac import DiracError, update_manifest_states
        from showerflow.dirac_jdl import manifest_outputs

        aux = info.aux
        self._sandbox_logs(info)
        lfns = [lfn for _, lfn in aux["outputs"]]
        self._fetch(aux["outputs"], self._catalog_checksums(lfns, "outputs"))

        manifests = []  # (relative path, lfn, content)
        for rel, lfn in aux["outputs"]:
            data = self._batch_manifest(rel)
            if data is not None:
                manifests.append((rel, lfn, data))
        declared = {os.path.normpath(rel) for rel, _ in aux["outputs"]}
        sources = {}  # listed path -> its input ("file") as the manifest names it
        for _, _, data in manifests:
            for rec in data["outputs"]:
                sources.setdefault(os.path.normpath(rec["output"]), rec.get("file"))
        extras = []  # (relative path, lfn, input as the manifest names it)
        try:
            for path in dict.fromkeys(p for _, _, d in manifests for p in manifest_outputs(d)):
                if os.path.normpath(path) not in declared:
                    extras.append((path, self._lfn(path), sources[os.path.normpath(path)]))
            if extras:
                pairs = [(path, lfn) for path, lfn, _ in extras]
                what = "files listed by batch manifests"
                self._fetch(pairs, self._catalog_checksums([lfn for _, lfn in pairs], what))
            for rel, lfn, data in manifests:
                if update_manifest_states(rel, data):
                    # the catalog copy must match the local one, or the next job that reads
                    # the manifest replaces it (losing its metadata); metadata is set below
                    self.client.add_file(lfn, rel, self.settings.output_se, overwrite=True)
                    self.known[lfn] = self._local_sum(rel)
        except (DiracError, OSError, ValueError):  # ValueError: JDLError (path not an LFN)
            for rel, _, _ in manifests:  # no manifest without its files
                Path(rel).unlink(missing_ok=True)
            raise

        if not self.settings.skip_metadata:
            meta = dict(aux["metadata"], dirac_job=aux["dirac_id"])
            ancestors = self._batch_ancestors(extras, aux["inputs"]) if extras else {}
            self.client.set_metadata_many(
                [(lfn, meta, aux["inputs"]) for lfn in lfns]
                + [(lfn, meta, ancestors[lfn]) for _, lfn, _ in extras]
            )
        self.logger.info(
            f"DIRAC job {aux['dirac_id']} ({aux['rule']}): {len(lfns)} output(s)"
            + (f" and {len(extras)} file(s) listed by batch manifests" if manifests else "")
            + " downloaded, Adler-32 verified"
            + (", registered with metadata" if not self.settings.skip_metadata else "")
        )

    def cancel_jobs(self, active_jobs):
        ids = []
        for info in active_jobs:
            proc = (info.aux or {}).get("proc")
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
            elif info.aux and info.aux.get("dirac_id"):
                ids.append(info.aux["dirac_id"])
        if ids:
            self.logger.info(f"dirac: killing {len(ids)} DIRAC job(s): {' '.join(ids)}")
            self.client.kill(ids)

    def get_job_exec_prefix(self, job):
        return ""

    def get_job_exec_suffix(self, job):
        return ""


__all__ = ["ExecutorSettings", "Executor", "common_settings"]
