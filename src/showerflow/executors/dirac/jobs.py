"""What a DIRAC job's status means, and what to tell the user when it did not finish.

Pure functions over the statuses DIRAC's ``JobMonitoring`` reports
(``DIRAC.WorkloadManagementSystem.Client.JobStatus`` and ``JobMinorStatus``).
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "PENDING",
    "RUNNING",
    "classify_status",
    "failure_reason",
    "fetch_failure_reason",
    "killed_on_request",
]

#: DIRAC job states that have not started running.
PENDING = ("Submitting", "Received", "Checking", "Staging", "Waiting", "Matched", "Rescheduled")
#: Running, or uploading its outputs.
RUNNING = ("Running", "Completing", "Completed")

#: Minor statuses meaning the site or DIRAC's watchdog stopped the job at a limit.
LIMIT_MINOR = (
    "Job has reached the CPU limit of the queue",
    "Job has exceeded maximum wall clock time",
    "Job has insufficient disk space to continue",
    "Received Kill signal",
)
STALLED_MINOR = ("Watchdog identified this job as stalled", "Job stalled: pilot not running")

#: The runner's exit codes (``jdl.runner_script``) and what they mean.
RUNNER_EXIT = {
    90: "the workflow sources could not be unpacked on the worker node",
    91: "an input DIRAC downloaded could not be moved into place",
    92: "an input could not be fetched on the worker node",
    93: "an output could not be uploaded to the storage element from the worker node",
    94: "the job did not write one of its declared outputs",
    95: "the worker node has no Python that imports DIRAC",
}


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


def _exit_code(application_status):
    """The payload's exit code from an ApplicationStatus such as ``Failed with exit code 94``."""
    text = (application_status or "").strip()
    for word in reversed(text.replace(")", " ").split()):
        if word.isdigit():
            return int(word)
    return None


def _seconds_run(history):
    """Seconds from the first ``Running`` entry of a status history to its last entry."""
    times = []
    for row in history or []:
        try:
            times.append((str(row[0]), datetime.fromisoformat(str(row[3]))))
        except (IndexError, ValueError):
            continue
    start = next((t for status, t in times if status == "Running"), None)
    return None if start is None or not times else (times[-1][1] - start).total_seconds()


def killed_on_request(history, time_limit=None):
    """Whether a job that did not finish was killed on request, not at a limit.

    A running job that its owner kills ends ``Failed; Received Kill signal`` on a real
    DIRAC (9.1, seen on the one-host server of ``tools/dirac``: the JobWrapper got SIGTERM,
    and neither the history nor the job's attributes record who asked), as a job whose
    pilot the site stops at a time limit does. The history does tell them apart when it
    holds a ``Killed`` status or a ``Marked for termination`` minor status (a job killed
    before it ran), or when a job that received the kill signal had run for less than
    half the time it asked for: no time limit stops a job that early.

    Parameters
    ----------
    history : list of sequence, optional
        ``[[status, minor, application, time, source], ...]`` (``Dirac().getJobLoggingInfo``);
        None when not known.
    time_limit : float, optional
        Seconds of wall clock the job asked for (its rule's runtime).

    Returns
    -------
    bool
    """
    for row in history or []:
        status = str(row[0]) if len(row) > 0 else ""
        minor = str(row[1]) if len(row) > 1 else ""
        if status == "Killed" or "marked for termination" in minor.lower():
            return True
    signalled = any("received kill signal" in str(row[1]).lower() for row in history or [])
    ran = _seconds_run(history)
    return signalled and bool(time_limit) and ran is not None and ran < 0.5 * float(time_limit)


def failure_reason(
    job_id, status, minor="", application="", site="", history=None, time_limit=None
):
    """One line saying why a DIRAC job did not finish, and what to do about it.

    Parameters
    ----------
    job_id : str
    status, minor, application, site : str
        DIRAC's ``Status``, ``MinorStatus``, ``ApplicationStatus`` and ``Site``.
    history : list of sequence, optional
        The job's status history; with ``time_limit`` (seconds the job asked for) it
        tells a kill on request from a limit (:func:`killed_on_request`).
    time_limit : float, optional

    Returns
    -------
    str
    """
    minor = minor or ""
    where = f" at {site}" if site and site not in ("ANY", "Unknown") else ""
    said = f"{status}; {minor}" if minor else status
    low = minor.lower()
    if killed_on_request(history, time_limit):
        return (
            f"DIRAC job {job_id} was killed by its owner or an administrator ({said}), not by "
            "a limit: rerun the workflow to resubmit it, or leave it out on purpose"
        )
    if any(m.lower() in low for m in LIMIT_MINOR):
        return (
            f"DIRAC job {job_id} was stopped at a limit{where} ({said}): raise the rule's "
            "runtime (it sets CPUTime) or --dirac-cpu-power, or choose sites with longer queues"
        )
    if status == "Stalled" or any(m.lower() in low for m in STALLED_MINOR):
        return (
            f"DIRAC job {job_id} stalled{where} ({said}): its worker stopped reporting and the "
            "job was given up; it is resubmitted if the rule has retries left, else rerun"
        )
    if status in ("Killed", "Deleted") or "marked for termination" in low:
        return (
            f"DIRAC job {job_id} was killed by its owner or an administrator ({said}), not by "
            "a limit: rerun the workflow to resubmit it, or leave it out on purpose"
        )
    code = _exit_code(application)
    if code in RUNNER_EXIT:
        return (
            f"DIRAC job {job_id} failed{where}: {RUNNER_EXIT[code]} (exit {code}; {said}); "
            "see its std.err in the output sandbox"
        )
    if "application finished with errors" in low or code:
        return (
            f"DIRAC job {job_id} failed{where}: the job's command exited with an error "
            f"({said}{'; ' + application if application else ''}); its log and std.err "
            "are shown below: fix the cause and rerun"
        )
    return f"DIRAC job {job_id} ended {said}{where}"


def fetch_failure_reason(job_id, lfn, kind, message):
    """Why a Done job's output could not be fetched, and what to do about it.

    Parameters
    ----------
    job_id : str
    lfn : str
    kind : str
        ``DiracError.kind``: ``corrupt``, ``missing``, ``unreachable`` or other.
    message : str

    Returns
    -------
    str
    """
    if kind == "corrupt":
        return (
            f"DIRAC job {job_id} is Done but the stored copy of its output {lfn} does not "
            f"match its catalog checksum ({message}): the replica is corrupt; the job is "
            "rerun (Snakemake retries, or the next run) and its upload replaces it"
        )
    if kind == "missing":
        return (
            f"DIRAC job {job_id} is Done but its output {lfn} is missing from the storage "
            f"element or the File Catalog ({message}); the job is rerun (Snakemake retries, "
            "or the next run) to write it again"
        )
    if kind == "unreachable":
        return (
            f"DIRAC job {job_id} is Done but its output {lfn} could not be fetched: the "
            f"DIRAC server does not answer ({message}); rerun once it is back (only the "
            "jobs whose outputs are missing run again)"
        )
    return f"DIRAC job {job_id} is Done but its output {lfn} could not be fetched: {message}"
