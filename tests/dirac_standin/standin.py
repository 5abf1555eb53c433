"""A local stand-in for the DIRAC client commands showerflow calls (tests only).

Each executable in this folder (``dirac-wms-job-submit``, ``dirac-dms-get-file``, ...)
runs :func:`main`, which dispatches on the command name. The commands take the same
arguments, print the same output and exit with the same codes as DIRAC's scripts
(``DIRAC/src/DIRAC/Interfaces/scripts``, ``DataManagementSystem/scripts``,
``FrameworkSystem/scripts``); see ``docs/dirac.md``.

State lives in ``$DIRAC_STANDIN_HOME``: ``se/<SE>/<lfn>`` (storage elements are folders),
``catalog.json`` (the File Catalog: size, Adler-32, metadata, ancestors), ``jobs.json``
and ``sandboxes/<job id>/`` (each job runs there, as on a worker node, when it is
submitted). Failures are switched on by environment variables:

``DIRAC_STANDIN_PROXY``
    ``valid`` (default), ``expired``, ``missing``, ``short`` (10 minutes left).
``DIRAC_STANDIN_FORCE_STATUS`` / ``DIRAC_STANDIN_FORCE_MINOR`` / ``DIRAC_STANDIN_MATCH``
    Jobs whose name contains MATCH (default: all) end in this status (``Failed``,
    ``Stalled``, ``Killed``) with this minor status, without running.
``DIRAC_STANDIN_POLLS``
    Status queries a job answers ``Waiting`` then ``Running`` before its final status (2).
``DIRAC_STANDIN_GET_FAIL``, ``DIRAC_STANDIN_CORRUPT``
    The first N ``dirac-dms-get-file`` downloads fail / deliver a corrupted file (``always``:
    every one). Downloads made by jobs on the "worker node" are not affected.
``DIRAC_STANDIN_GET_MATCH``
    Only downloads of LFNs containing this text count for the two switches above.
``DIRAC_STANDIN_SYNC_FAIL``, ``DIRAC_STANDIN_SYNC_CORRUPT``
    ``1``: ``dirac-dms-directory-sync`` fails / delivers corrupted files.
``DIRAC_STANDIN_SES``
    Known storage elements (default ``STANDIN-DISK,CTAO-DISK,DIRAC-USER``).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import pprint
import re
import shutil
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

SITE = "LCG.STANDIN.org"


def home():
    value = os.environ.get("DIRAC_STANDIN_HOME")
    if not value:
        print(
            "Cannot contact the Configuration Service (DIRAC_STANDIN_HOME unset)", file=sys.stderr
        )
        sys.exit(1)
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def state(name):
    """Read-modify-write a JSON state file under an exclusive lock."""
    root = home()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / f"{name}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        yield data
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def adler(path):
    value = 1
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def ses():
    return os.environ.get("DIRAC_STANDIN_SES", "STANDIN-DISK,CTAO-DISK,DIRAC-USER").split(",")


def replica(lfn, se):
    return home() / "se" / se / lfn.lstrip("/")


def take_injection(var, counter, lfn=""):
    """True if this call should fail/corrupt: ``always`` or the first N calls."""
    if os.environ.get("DIRAC_STANDIN_WORKER"):
        return False
    if os.environ.get("DIRAC_STANDIN_GET_MATCH", "") not in lfn:
        return False
    value = os.environ.get(var, "")
    if not value:
        return False
    if value == "always":
        return True
    with state("counters") as counters:
        used = counters.get(counter, 0)
        if used < int(value):
            counters[counter] = used + 1
            return True
    return False


def corrupt_copy(src, dest):
    data = bytearray(Path(src).read_bytes() or b"\0")
    data[len(data) // 2] ^= 0xFF
    Path(dest).write_bytes(bytes(data))


def switches(argv, with_value=(), flags=()):
    """Split DIRAC-style switches (``-D dir``, ``--Dir=dir``, ``-f``) from positionals."""
    opts, args, i = {}, [], 0
    while i < len(argv):
        a = argv[i]
        name = a.lstrip("-").split("=", 1)[0]
        if a.startswith("-") and name in with_value:
            if "=" in a:
                opts[name] = a.split("=", 1)[1]
            else:
                i += 1
                opts[name] = argv[i]
        elif a.startswith("-") and name in flags:
            opts[name] = True
        else:
            args.append(a)
        i += 1
    return opts, args


def lfn_args(args):
    """LFNs as arguments, or one file holding one LFN per line (DIRAC's convention)."""
    if len(args) == 1 and os.path.isfile(args[0]):
        return [x.strip() for x in Path(args[0]).read_text().splitlines() if x.strip()]
    return [a.replace("LFN:", "") for a in args]


# -- proxy ---------------------------------------------------------------------------
def proxy_info(argv):
    mode = os.environ.get("DIRAC_STANDIN_PROXY", "valid")
    path = os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"
    if mode == "missing":
        print(f"Proxy file {path} does not exist", file=sys.stderr)
        sys.exit(1)
    left = {"valid": "23:59:59", "short": "00:10:00", "expired": "00:00:00"}[mode]
    print(
        "subject      : /O=Standin/CN=Test User/CN=proxy\n"
        "issuer       : /O=Standin/CN=Test User\n"
        "identity     : /O=Standin/CN=Test User\n"
        f"timeleft     : {left}\n"
        "DIRAC group  : cta_user\n"
        f"path         : {path}\n"
        "username     : tuser\n"
        "VOMS         : True\n"
        "VOMS fqan    : ['/vo.cta.in2p3.fr']"
    )
    if mode == "expired" and ("-v" in argv or "--checkvalid" in argv):
        print("Invalid proxy: Proxy is expired", file=sys.stderr)
        sys.exit(1)


# -- JDL -----------------------------------------------------------------------------
def parse_jdl(text):
    body = text.strip().removeprefix("[").removesuffix("]")
    out = {}
    for key, raw in re.findall(
        r'\s*(\w+)\s*=\s*(\{.*?\}|"(?:[^"\\]|\\.)*"|[^;]+?)\s*;', body, re.S
    ):
        if raw.startswith("{"):
            out[key] = [re.sub(r"\\(.)", r"\1", s) for s in re.findall(r'"((?:[^"\\]|\\.)*)"', raw)]
        elif raw.startswith('"'):
            out[key] = re.sub(r"\\(.)", r"\1", raw[1:-1])
        else:
            out[key] = raw.strip()
    return out


def check_jdl(jdl):
    if "Executable" not in jdl:
        return "Illegal Job JDL: no Executable"
    if len(jdl.get("JobName", "")) > 128:
        return "JobName longer than 128 characters"
    if len(jdl.get("JobGroup", "")) > 32:
        return "JobGroup longer than 32 characters"
    if "CPUTime" in jdl and not str(jdl["CPUTime"]).isdigit():
        return f"CPUTime must be an integer, got {jdl['CPUTime']}"
    for lfn in jdl.get("InputData", []) + jdl.get("OutputData", []):
        bare = lfn.replace("LFN:", "")
        if "//" in bare or len(bare) > 255:
            return f"Input data contains // or is too long: {lfn}"
    if jdl.get("OutputData") and jdl.get("OutputSE") not in ses():
        return f"Unknown OutputSE {jdl.get('OutputSE')}"
    sites = jdl.get("Site", "ANY")
    sites = [sites] if isinstance(sites, str) else sites
    banned = jdl.get("BannedSites", [])
    if set(sites) & set(banned):
        return "No candidate sites available"
    for f in jdl.get("InputSandbox", []):
        if not os.path.isfile(f):
            return f"Input sandbox file {f} does not exist"
    return None


# -- WMS -----------------------------------------------------------------------------
def job_submit(argv):
    _, args = switches(argv, with_value=("f", "File", "r", "UseJobRepo"))
    if not args:
        print("Usage: dirac-wms-job-submit [options] ... JDL ...")
        sys.exit(1)
    code, errors = 0, []
    for path in args:
        jdl = parse_jdl(Path(path).read_text())
        problem = check_jdl(jdl)
        if problem:
            errors.append((path, problem))
            code = 2
            continue
        with state("jobs") as jobs:
            job_id = str(max([int(j) for j in jobs] or [0]) + 1)
            jobs[job_id] = {"name": jdl.get("JobName", "Unknown"), "status": "Received"}
        final, minor = run_job(job_id, jdl)
        with state("jobs") as jobs:
            jobs[job_id].update(final=final, minor=minor, polls=0, status="Waiting")
        print(f"JobID = {job_id}")
    for path, problem in errors:
        print(f"ERROR {path}: {problem}")
    sys.exit(code)


def run_job(job_id, jdl):
    """Run the job as a worker node would; return its final (status, minor status)."""
    box = home() / "sandboxes" / job_id
    out = home() / "outsandbox" / job_id
    box.mkdir(parents=True)
    out.mkdir(parents=True)
    forced = os.environ.get("DIRAC_STANDIN_FORCE_STATUS")
    if forced and os.environ.get("DIRAC_STANDIN_MATCH", "") in jdl.get("JobName", ""):
        minor = os.environ.get("DIRAC_STANDIN_FORCE_MINOR", "")
        (out / jdl.get("StdOutput", "std.out")).write_text(f"stand-in: job forced to {forced}\n")
        return forced, minor
    for f in jdl.get("InputSandbox", []):
        shutil.copy(f, box / os.path.basename(f))
    catalog = read_catalog()
    for lfn in jdl.get("InputData", []):
        lfn = lfn.replace("LFN:", "")
        entry = catalog.get(lfn)
        if entry is None:
            return "Failed", "Input Data Not Available"
        shutil.copy(replica(lfn, entry["SE"]), box / os.path.basename(lfn))
    env = {k: v for k, v in os.environ.items() if k != "X509_USER_PROXY"}
    env["DIRAC_STANDIN_WORKER"] = "1"
    args = jdl.get("Arguments", "").split()
    with (
        open(box / jdl.get("StdOutput", "std.out"), "w") as so,
        open(box / jdl.get("StdError", "std.err"), "w") as se,
    ):
        exe = jdl["Executable"]
        cmd = ["bash", exe, *args] if (box / exe).is_file() else [exe, *args]
        code = subprocess.call(cmd, cwd=box, stdout=so, stderr=se, env=env)
    for name in jdl.get("OutputSandbox", []):
        if (box / name).is_file():
            shutil.copy(box / name, out / name)
    if code != 0:
        return "Failed", "Application Finished With Errors"
    for lfn in jdl.get("OutputData", []):
        lfn = lfn.replace("LFN:", "")
        local = box / os.path.basename(lfn)
        if not local.is_file():
            return "Failed", "Uploading Job Outputs"
        register(lfn, local, jdl["OutputSE"], overwrite=True)
    return "Done", "Execution Complete"


def job_status(argv):
    _, args = switches(argv, with_value=("f", "File", "g", "JobGroup"))
    ids = [x for a in args for x in a.split(",") if x]
    if not ids:
        print("Usage: dirac-wms-job-status [options] ... JobID ...")
        sys.exit(1)
    polls_needed = int(os.environ.get("DIRAC_STANDIN_POLLS", "2"))
    with state("jobs") as jobs:
        for job_id in ids:
            job = jobs.get(job_id)
            if job is None:
                continue
            if job["status"] not in ("Killed", "Deleted"):
                job["polls"] = job.get("polls", 0) + 1
                if job["polls"] > polls_needed:
                    job["status"], shown_minor = job["final"], job["minor"]
                elif job["polls"] == 1:
                    job["status"], shown_minor = "Waiting", "Pilot Agent Submission"
                else:
                    job["status"], shown_minor = "Running", "Application"
                job["shown_minor"] = shown_minor
            site = "ANY" if job["status"] == "Waiting" else SITE
            print(
                f"JobID={job_id} Status={job['status']}; "
                f"MinorStatus={job.get('shown_minor', '')}; Site={site}; "
            )


def job_get_output(argv):
    opts, args = switches(argv, with_value=("D", "Dir", "f", "File", "g", "JobGroup"))
    outdir = opts.get("D") or opts.get("Dir") or os.getcwd()
    Path(outdir).mkdir(parents=True, exist_ok=True)
    jobs = read_state("jobs")
    done = os.listdir(outdir)
    code, errors = 0, []
    for job_id in [x for a in args for x in a.split(",") if x]:
        if job_id in done:
            continue
        src = home() / "outsandbox" / job_id
        if job_id not in jobs or not src.is_dir():
            errors.append((job_id, "No sandbox registered for job"))
            code = 2
            continue
        shutil.copytree(src, Path(outdir) / job_id)
        print(f"Job output sandbox retrieved in {Path(outdir) / job_id}/")
    for job_id, msg in errors:
        print(f"ERROR {job_id}: {msg}")
    sys.exit(code)


def job_kill(argv):
    ids = [x for a in argv for x in a.split(",") if x]
    with state("jobs") as jobs:
        unknown = [j for j in ids if j not in jobs]
        if unknown:
            print(f"ERROR Job(s) {','.join(unknown)} not found")
            sys.exit(2)
        for j in ids:
            jobs[j]["status"] = "Killed"
            jobs[j]["shown_minor"] = "Marked for termination"
    print(f"Killed jobs {','.join(ids)}")


# -- DMS -----------------------------------------------------------------------------
def read_state(name):
    path = home() / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def read_catalog():
    return read_state("catalog")


def register(lfn, local, se, overwrite=False):
    dest = replica(lfn, se)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with state("catalog") as catalog:
        if lfn in catalog and not overwrite:
            return f"File already exists: {lfn}"
        shutil.copyfile(local, dest)
        catalog[lfn] = {
            "SE": se,
            "Size": os.path.getsize(dest),
            "Checksum": adler(dest),
            "ChecksumType": "Adler32",
            "GUID": str(uuid.uuid4()).upper(),
            "CreationDate": datetime.datetime.now().isoformat(timespec="seconds"),
            "metadata": {},
            "ancestors": [],
        }
    return None


def catalog_record(entry):
    created = datetime.datetime.fromisoformat(entry["CreationDate"])
    return {
        "Checksum": entry["Checksum"],
        "ChecksumType": entry["ChecksumType"],
        "CreationDate": created,
        "FileID": abs(hash(entry["GUID"])) % 100000,
        "GID": 2,
        "GUID": entry["GUID"],
        "Mode": 509,
        "ModificationDate": created,
        "Owner": "tuser",
        "OwnerGroup": "cta_user",
        "Size": entry["Size"],
        "Status": "AprioriGood",
        "UID": 2,
    }


def lfn_metadata(argv):
    _, args = switches(argv)
    if not args:
        print("Usage: dirac-dms-lfn-metadata [options] ... LFN ...")
        sys.exit(1)
    catalog = read_catalog()
    result = {"Failed": {}, "Successful": {}}
    for lfn in lfn_args(args):
        if lfn in catalog:
            result["Successful"][lfn] = catalog_record(catalog[lfn])
        else:
            result["Failed"][lfn] = "No such file or directory"
    print(pprint.pformat(result))


def add_file(argv):
    opts, args = switches(argv, flags=("f", "force"))
    if len(args) < 3:
        print("Usage: dirac-dms-add-file [options] ... LFN Path SE [GUID]")
        sys.exit(1)
    lfn, local, se = args[0].replace("LFN:", ""), args[1], args[2]
    if not os.path.isfile(local):
        print(f"File {local} must exist locally", file=sys.stderr)
        sys.exit(1)
    print(f"\nUploading {lfn}")
    if os.path.getsize(local) == 0:  # DataManager.putAndRegister: "Supplied file is zero size."
        print(
            f"Error: failed to upload {lfn} to {se}: Supplied file is zero size.", file=sys.stderr
        )
        sys.exit(3)
    if se not in ses():
        print(f"Error: failed to upload {lfn} to {se}: unknown SE", file=sys.stderr)
        sys.exit(3)
    problem = register(lfn, local, se, overwrite=bool(opts.get("f") or opts.get("force")))
    if problem:
        print(f"Error: failed to upload {lfn} to {se}: {problem}", file=sys.stderr)
        sys.exit(3)
    print(f"Successfully uploaded file to {se}")


def get_file(argv):
    _, args = switches(argv)
    if not args:
        print("Usage: dirac-dms-get-file [options] ... LFN|File")
        sys.exit(1)
    catalog = read_catalog()
    result = {"Failed": {}, "Successful": {}}
    for lfn in lfn_args(args):
        dest = Path.cwd() / os.path.basename(lfn)
        if lfn not in catalog:
            result["Failed"][lfn] = "No such file or directory"
        elif take_injection("DIRAC_STANDIN_GET_FAIL", "get_fail", lfn):
            result["Failed"][lfn] = "Failed to get file from storage: connection reset"
        else:
            src = replica(lfn, catalog[lfn]["SE"])
            if take_injection("DIRAC_STANDIN_CORRUPT", "corrupt", lfn):
                corrupt_copy(src, dest)
            else:
                shutil.copyfile(src, dest)
            result["Successful"][lfn] = str(dest)
    print(pprint.pformat(result))
    if result["Failed"]:
        print(f"ERROR {result}")
        sys.exit(2)


def directory_sync(argv):
    _, args = switches(argv, with_value=("j", "parallel"), flags=("D", "sync"))
    if len(args) != 2 or not args[0].startswith("/") or not os.path.isdir(args[1]):
        print("Destination directory does not exist", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("DIRAC_STANDIN_SYNC_FAIL"):
        print("Could not list remote directory: Error: connection refused", file=sys.stderr)
        sys.exit(1)
    source, dest = args[0].rstrip("/"), os.path.abspath(args[1])
    for lfn, entry in read_catalog().items():
        if not lfn.startswith(source + "/"):
            continue
        target = Path(dest) / lfn[len(source) + 1 :]
        if target.is_file() and target.stat().st_size == entry["Size"]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.environ.get("DIRAC_STANDIN_SYNC_CORRUPT"):
            corrupt_copy(replica(lfn, entry["SE"]), target)
        else:
            shutil.copyfile(replica(lfn, entry["SE"]), target)
        print(f"[Thread 0] Downloading {lfn[len(source) + 1 :]} -> [DONE]")
    print(f"Successfully mirrored {source} into {dest}")


def filecatalog_cli(argv):
    print("Starting FileCatalog console")
    prompt = "FC:/> "
    for line in sys.stdin:
        sys.stdout.write(prompt)
        words = line.split()
        if not words:
            continue
        if words[0] in ("exit", "quit", "EOF"):
            print()
            return
        if words[0] == "meta" and len(words) > 1 and words[1] == "set":
            rest = words[2:]
            if len(rest) < 3 or len(rest) % 2 != 1:
                print("Error: command requires at least 3 arguments")
                continue
            path, pairs = rest[0], dict(zip(rest[1::2], rest[2::2], strict=True))
            print(path, pairs)
            with state("catalog") as catalog:
                if path not in catalog:
                    print(f"Error: Path not found: {path}")
                    continue
                catalog[path]["metadata"].update(pairs)
        elif words[0] == "meta" and len(words) > 2 and words[1] == "get":
            entry = read_catalog().get(words[2])
            if entry is None:
                print("ERROR: Path not found")
            for k, v in (entry or {}).get("metadata", {}).items():
                print(k.rjust(20), ":", v)
        elif words[0] == "ancestorset" and len(words) > 2:
            lfn, ancestors = words[1], words[2:]
            with state("catalog") as catalog:
                if lfn not in catalog:
                    print("Failed to add file ancestors to the catalog: ", end="")
                    print(f"No such file {lfn}")
                    continue
                catalog[lfn]["ancestors"] = sorted(set(catalog[lfn]["ancestors"]) | set(ancestors))
            print(f"Added {len(ancestors)} ancestors to file {lfn}")
        else:
            print(f"*** Unknown syntax: {line.strip()}")
    sys.stdout.write(prompt + "\n")


COMMANDS = {
    "dirac-proxy-info": proxy_info,
    "dirac-wms-job-submit": job_submit,
    "dirac-wms-job-status": job_status,
    "dirac-wms-job-get-output": job_get_output,
    "dirac-wms-job-kill": job_kill,
    "dirac-dms-lfn-metadata": lfn_metadata,
    "dirac-dms-add-file": add_file,
    "dirac-dms-get-file": get_file,
    "dirac-dms-directory-sync": directory_sync,
    "dirac-dms-filecatalog-cli": filecatalog_cli,
}


def main():
    name = os.path.basename(sys.argv[0])
    with state("calls") as calls:
        calls.setdefault("log", []).append([name, *sys.argv[1:]])
    COMMANDS[name](sys.argv[1:])


if __name__ == "__main__":
    main()
