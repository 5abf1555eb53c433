"""DIRAC's Python API, answering in JSON: run with DIRAC's own Python, never imported here.

showerflow's environment (Snakemake, pandas...) cannot import DIRAC (its pins clash), and
parsing what the ``dirac-*`` commands print is fragile. This script is the one place that
imports DIRAC: it is run with the Python of the DIRAC installation (DIRACOS, or the venv of
``tools/dirac/install.sh``), reads requests as JSON and answers in JSON. It uses the
standard library and DIRAC only, so it also runs on a worker node (shipped in the job's
input sandbox as ``showerflow_bridge.py``).

Requests (standard input)::

    {"requests": [{"op": "status", "ids": [12, 13]}, {"op": "proxy"}]}

Answers (standard output, one JSON document; DIRAC's own log lines go to standard error)::

    {"answers": [{"ok": true, "value": {...}}, {"ok": false, "kind": "...", "error": "..."}]}

Worker-node commands (the job's runner calls them; exit code 0 on success)::

    python3 showerflow_bridge.py get-file LFN DIR
    python3 showerflow_bridge.py upload-outputs showerflow_manifest.tsv

Every operation is a function ``op_<name>`` below; ``docs/dirac.md`` lists them.
"""

import json
import os
import posixpath
import sys
import time
import zlib

#: Written by ``upload-outputs`` on the worker node, returned in the output sandbox.
LISTING = "showerflow_outputs.json"


class BridgeError(Exception):
    """An operation that failed; ``kind`` says what kind of failure it is."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _value(result, what):
    """The ``Value`` of a DIRAC ``S_OK``; raise :class:`BridgeError` for an ``S_ERROR``."""
    if not result.get("OK"):
        message = str(result.get("Message", "unknown error"))
        kind = "unreachable" if _is_connection_error(message) else "dirac"
        raise BridgeError(kind, f"{what}: {message}")
    return result["Value"]


def _is_connection_error(message):
    text = message.lower()
    return any(
        m in text
        for m in (
            "connection refused",
            "unable to connect",
            "can't connect",
            "cannot connect",
            "no route to host",
            "connection reset",
            "timed out",
            "no url",
            "could not connect",
            "failed to connect",
        )
    )


def _jsonable(value):
    """DIRAC values (datetimes, sets, tuples, bytes) as JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def adler32(path, chunk=1 << 20):
    """Adler-32 of a file as 8 hex digits (``zlib.adler32``, as DIRAC's ``fileAdler``)."""
    value = 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def same_adler32(a, b):
    """True if two Adler-32 hex strings are the same number (DIRAC may drop leading zeros)."""
    try:
        return int(str(a), 16) == int(str(b), 16)
    except ValueError:
        return False


# -- proxy and server ------------------------------------------------------------------
def op_proxy():
    """The proxy: seconds left, group, its properties, user, VO and home (never path or DN)."""
    from DIRAC.ConfigurationSystem.Client.Helpers.Operations import Operations
    from DIRAC.ConfigurationSystem.Client.Helpers.Registry import getGroupsForUser
    from DIRAC.Core.Security.ProxyInfo import getProxyInfo

    result = getProxyInfo(disableVOMS=True)
    if not result["OK"]:
        raise BridgeError("proxy", f"no proxy: {result['Message']}")
    info = result["Value"]
    user, vo = info.get("username"), info.get("VO")
    home = None
    if user and vo:
        prefix = Operations(vo=vo).getValue("LFNUserPrefix", "user")
        home = f"/{vo}/{prefix}/{user[0]}/{user}"
    groups = getGroupsForUser(user) if user else {"OK": False}
    return {
        "seconds_left": int(info.get("secondsLeft", 0)),
        "group": info.get("group"),
        "group_properties": sorted(info.get("groupProperties", [])),
        "valid_group": bool(info.get("validGroup")),
        "username": user,
        "vo": vo,
        "home": home,
        "user_groups": sorted(groups["Value"]) if groups.get("OK") else [],
    }


def op_ping(seconds=15):
    """Ask the WMS (JobManager, JobMonitoring, SandboxStore) and the File Catalog for a ping."""
    from DIRAC.Core.Base.Client import Client

    out = {}
    for service in (
        "WorkloadManagement/JobManager",
        "WorkloadManagement/JobMonitoring",
        "WorkloadManagement/SandboxStore",
        "DataManagement/FileCatalog",
    ):
        t0 = time.time()
        result = Client(url=service, timeout=int(seconds)).ping()
        if not result["OK"]:
            raise BridgeError("unreachable", f"{service} does not answer: {result['Message']}")
        out[service] = round(time.time() - t0, 3)
    return out


def op_storage_elements(names=()):
    """Known storage elements, and for each name asked whether it exists and is writable."""
    from DIRAC.DataManagementSystem.Utilities.DMSHelpers import DMSHelpers
    from DIRAC.Resources.Storage.StorageElement import StorageElement

    known = sorted(DMSHelpers().getStorageElements())
    checked = {}
    for name in names:
        if name not in known:
            checked[name] = {"exists": False, "write": False}
            continue
        se = StorageElement(name)
        status = se.status() if se.valid else {}
        checked[name] = {
            "exists": bool(se.valid),
            "write": bool(status.get("Write")),
            "read": bool(status.get("Read")),
            "reason": None if se.valid else str(se.errorReason),
        }
    return {"known": known, "checked": checked}


# -- jobs -------------------------------------------------------------------------------
#: JDL attributes read as lists by DIRAC's JobManager (``jdlToBaseJobDescriptionModel``).
LIST_ATTRIBUTES = (
    "InputSandbox",
    "OutputSandbox",
    "InputData",
    "OutputData",
    "Site",
    "BannedSites",
    "Tags",
)


def op_check_jdl(jdl):
    """Read a JDL as DIRAC's JobManager does, and validate it with DIRAC's job model.

    Returns every attribute as DIRAC reads it (lists through ``getListFromExpression``,
    strings through ``getAttributeString``) and the errors DIRAC's
    ``JobDescriptionModel`` raises for the current proxy's owner, group and VO.
    """
    from DIRAC.ConfigurationSystem.Client.Helpers.Registry import getVOForGroup
    from DIRAC.Core.Utilities.ClassAd.ClassAdLight import ClassAd
    from DIRAC.Core.Utilities.JDL import jdlToBaseJobDescriptionModel

    ad = ClassAd(jdl)
    if not ad.isOK():
        return {"ok": False, "attributes": {}, "errors": ["DIRAC's ClassAd parser cannot read it"]}
    attributes = {}
    for name in ad.getAttributes():
        if name in LIST_ATTRIBUTES or ad.isAttributeList(name):
            attributes[name] = ad.getListFromExpression(name)
        else:
            attributes[name] = ad.getAttributeString(name)
    errors = []
    result = jdlToBaseJobDescriptionModel(ClassAd(jdl))
    if not result["OK"]:
        errors.append(str(result["Message"]))
    else:
        try:
            from DIRAC.WorkloadManagementSystem.Utilities.JobModel import JobDescriptionModel

            proxy = op_proxy()
            JobDescriptionModel(
                **result["Value"].dict(exclude_none=True),
                owner=proxy["username"] or "unknown",
                ownerGroup=proxy["group"] or "unknown",
                vo=getVOForGroup(proxy["group"] or "") or proxy["vo"] or "unknown",
            )
        except BridgeError as err:
            errors.append(str(err))
        except Exception as err:  # pydantic's ValidationError, as the JobManager catches it
            errors.append(str(err))
    return {"ok": not errors, "attributes": _jsonable(attributes), "errors": errors}


def op_submit(jdl):
    """Submit a JDL (text); the input sandbox files it names are uploaded. Returns the job id."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    value = _value(Dirac().submitJob(jdl), "submission refused")
    return int(value[0]) if isinstance(value, list) else int(value)


def op_status(ids):
    """``{id: {"Status", "MinorStatus", "ApplicationStatus", "Site"}}``; unknown ids absent."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    if not ids:
        return {}
    value = _value(Dirac().getJobStatus([int(i) for i in ids]), "job status")
    return {str(k): _jsonable(v) for k, v in value.items()}


def op_logging(id):  # noqa: A002 (the job id)
    """A job's status transitions: ``[[status, minor, application, time, source], ...]``."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    return _jsonable(_value(Dirac().getJobLoggingInfo(int(id)), "job logging info"))


def op_kill(ids):
    """Kill jobs (their owner's kill: they end ``Killed``)."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    return _jsonable(_value(Dirac().killJob([int(i) for i in ids]), "kill"))


def op_output_sandbox(id, dir):  # noqa: A002 (the job id, the destination)
    """Retrieve a job's output sandbox into ``dir`` (files directly in it); list them."""
    from DIRAC.Interfaces.API.Dirac import Dirac

    os.makedirs(dir, exist_ok=True)
    _value(Dirac().getOutputSandbox(int(id), outputDir=dir, noJobDir=True), "output sandbox")
    return sorted(os.listdir(dir))


# -- the File Catalog and storage -------------------------------------------------------
def _catalog():
    from DIRAC.Resources.Catalog.FileCatalog import FileCatalog

    return FileCatalog()


def _fc_client():
    from DIRAC.Resources.Catalog.FileCatalogClient import FileCatalogClient

    return FileCatalogClient()


def op_lfn_metadata(lfns):
    """Catalog entries (Size, Checksum, GUID, dates...): ``{"Successful": {}, "Failed": {}}``."""
    if not lfns:
        return {"Successful": {}, "Failed": {}}
    return _jsonable(_value(_catalog().getFileMetadata(list(lfns)), "file metadata"))


def op_user_metadata(lfns):
    """User metadata (the ``meta set`` fields) of each LFN: ``{lfn: {field: value}}``."""
    fc = _fc_client()
    out = {}
    for lfn in lfns:
        out[lfn] = _jsonable(_value(fc.getFileUserMetadata(lfn), f"metadata of {lfn}"))
    return out


def op_ancestors(lfns, depth=1):
    """Ancestors of each LFN up to ``depth`` generations: ``{lfn: [ancestor, ...]}``."""
    value = _value(
        _fc_client().getFileAncestors(list(lfns), list(range(1, int(depth) + 1))), "ancestors"
    )
    if value.get("Failed"):
        lfn, message = next(iter(value["Failed"].items()))
        raise BridgeError("dirac", f"ancestors of {lfn}: {message}")
    return {lfn: sorted(found) for lfn, found in value.get("Successful", {}).items()}


def op_meta_fields():
    """Indexed metadata fields: ``{"file": {name: type}, "directory": {name: type}}``."""
    value = _value(_fc_client().getMetadataFields(), "metadata fields")
    return {
        "file": _jsonable(value.get("FileMetaFields", {})),
        "directory": _jsonable(value.get("DirectoryMetaFields", {})),
    }


def op_meta_index(fields):
    """Index file metadata fields (``meta index -f NAME TYPE``): ``{name: type}``."""
    fc = _fc_client()
    for name, kind in fields.items():
        _value(fc.addMetadataField(name, kind, "-f"), f"index of {name}")
    return sorted(fields)


def op_set_metadata(entries):
    """Set metadata and ancestors: ``[{"lfn", "metadata": {...}, "ancestors": [...]}]``."""
    fc = _fc_client()
    done = 0
    ancestors = {}
    for entry in entries:
        if entry.get("metadata"):
            _value(fc.setMetadata(entry["lfn"], entry["metadata"]), f"metadata of {entry['lfn']}")
        if entry.get("ancestors"):
            ancestors[entry["lfn"]] = {"Ancestors": list(entry["ancestors"])}
        done += 1
    if ancestors:
        value = _value(fc.addFileAncestors(ancestors), "ancestors")
        if value.get("Failed"):
            lfn, message = next(iter(value["Failed"].items()))
            raise BridgeError("dirac", f"ancestors of {lfn}: {message}")
    return done


def op_find(query, path="/"):
    """LFNs below ``path`` whose metadata match ``query`` (``{field: value}``), sorted."""
    value = _value(_fc_client().findFilesByMetadata(query, path), "metadata query")
    return sorted(value)


def op_add_file(lfn, path, se, overwrite=False):
    """Upload ``path`` to ``se`` as ``lfn`` and check the catalog holds its Adler-32."""
    return _upload(lfn, path, se, overwrite)


def _upload(lfn, path, se, overwrite=True, attempts=3, wait=10.0):
    from DIRAC.DataManagementSystem.Client.DataManager import DataManager

    local = adler32(path)
    size = os.path.getsize(path)
    problem = None
    for attempt in range(1, attempts + 1):
        result = DataManager().putAndRegister(lfn, path, se, overwrite=overwrite)
        if not result["OK"]:
            problem = str(result["Message"])
        elif lfn in result["Value"].get("Failed", {}):
            problem = str(result["Value"]["Failed"][lfn])
        else:
            found = _catalog().getFileMetadata([lfn])
            meta = found.get("Value", {}).get("Successful", {}).get(lfn) if found["OK"] else None
            if meta and same_adler32(meta.get("Checksum"), local) and meta.get("Size") == size:
                return {"lfn": lfn, "size": size, "checksum": local, "se": se}
            problem = (
                "not in the File Catalog after the upload"
                if not meta
                else f"File Catalog has checksum {meta.get('Checksum')}, size {meta.get('Size')}; "
                f"local {local}, {size}"
            )
        if attempt < attempts:
            time.sleep(wait)
    kind = "unreachable" if _is_connection_error(problem or "") else "upload"
    raise BridgeError(kind, f"upload of {path} as {lfn} to {se} failed: {problem}")


def op_get_file(lfn, dir):  # noqa: A002 (the destination directory)
    """Download ``lfn`` into ``dir`` (DIRAC checks size and Adler-32); return the local path."""
    from DIRAC.DataManagementSystem.Client.DataManager import DataManager

    os.makedirs(dir, exist_ok=True)
    value = _value(DataManager().getFile(lfn, destinationDir=dir), f"download of {lfn}")
    if lfn in value.get("Failed", {}):
        message = str(value["Failed"][lfn])
        low = message.lower()
        if "checksum" in low or "size" in low:
            kind = "corrupt"
        elif "no such file" in low or "not found" in low or "no replica" in low:
            kind = "missing"
        else:
            kind = "unreachable" if _is_connection_error(message) else "download"
        raise BridgeError(kind, f"download of {lfn}: {message}")
    return os.path.join(dir, os.path.basename(lfn))


def op_replicas(lfns):
    """Replicas of each LFN: ``{lfn: {se: url}}`` (``Failed`` LFNs absent)."""
    from DIRAC.DataManagementSystem.Client.DataManager import DataManager

    value = _value(DataManager().getReplicas(list(lfns)), "replicas")
    return _jsonable(value.get("Successful", {}))


def op_physical_path(lfn, se):
    """The file path of ``lfn`` on a ``file``-protocol storage element (test faults only)."""
    from DIRAC.Resources.Storage.StorageElement import StorageElement

    value = _value(StorageElement(se).getURL(lfn, protocol="file"), "URL")
    if lfn in value.get("Failed", {}):
        raise BridgeError("dirac", f"URL of {lfn} at {se}: {value['Failed'][lfn]}")
    url = value["Successful"][lfn]
    return url[len("file:") :] if url.startswith("file:") else url


def op_remove(lfns):
    """Remove LFNs (every replica and the catalog entry); LFNs not there are ignored."""
    from DIRAC.DataManagementSystem.Client.DataManager import DataManager

    value = _value(DataManager().removeFile(list(lfns), force=True), "remove")
    failed = {
        k: v for k, v in value.get("Failed", {}).items() if "no such file" not in str(v).lower()
    }
    if failed:
        lfn, message = next(iter(failed.items()))
        raise BridgeError("dirac", f"remove {lfn}: {message}")
    return sorted(value.get("Successful", {}))


def op_list(path):
    """Every file below an LFN directory (recursively), sorted; ``[]`` if it does not exist."""
    fc = _fc_client()
    out, todo = [], [path]
    while todo:
        here = todo.pop()
        result = fc.listDirectory(here)
        value = _value(result, f"list {here}")
        if here in value.get("Failed", {}):
            if here == path:
                return []
            raise BridgeError("dirac", f"list {here}: {value['Failed'][here]}")
        entry = value["Successful"][here]
        out.extend(entry.get("Files", {}))
        todo.extend(entry.get("SubDirs", {}))
    return sorted(out)


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


# -- the worker node --------------------------------------------------------------------
def read_runner_manifest(path):
    """``(lfn base, SE, [(relative path, lfn, kind)], {file: lfn})`` of a job's outputs.

    The manifest is tab-separated (``showerflow.executors.dirac.jdl.render_manifest``):
    ``base <lfn base> <SE>``, ``in <mode> <lfn> <path> [<mtime>]``, ``mk <path> [<mtime>]``,
    ``out <path> <lfn> file|dir``, ``as <path> <lfn>`` (a file of a directory output
    uploaded under another LFN), ``sb <path> <sandbox name>``.
    """
    base = se = None
    outputs, aliases = [], {}
    with open(path) as f:
        for line in f.read().splitlines():
            parts = line.split("\t")
            if parts[0] == "base" and len(parts) >= 3:
                base, se = parts[1], parts[2]
            elif parts[0] == "out" and len(parts) >= 4:
                outputs.append((parts[1], parts[2], parts[3]))
            elif parts[0] == "as" and len(parts) >= 3:
                aliases[parts[1]] = parts[2]
    return base, se, outputs, aliases


def output_files(rel, lfn, kind, aliases=None):
    """``[(relative path, lfn)]`` of one declared output: the file, or every file of a
    directory (``<lfn>/<sub path>``, or its LFN in ``aliases``)."""
    if kind != "dir":
        return [(rel, lfn)]
    aliases = aliases or {}
    found = []
    for root, dirs, files in os.walk(rel):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            sub = os.path.relpath(path, rel).replace(os.sep, "/")
            key = posixpath.normpath(path.replace(os.sep, "/"))
            found.append((path, aliases.get(key, f"{lfn}/{sub}")))
    return found


def upload_outputs(manifest, log=print):
    """Upload every file of a job's declared outputs, check each registration, write a listing.

    Files are uploaded with ``overwrite`` (a rerun replaces its earlier upload) and each is
    checked in the File Catalog (size and Adler-32) after its upload. The listing
    (:data:`LISTING`: ``{"files": [{"path", "lfn", "size", "checksum", "output"}]}``) goes
    back in the output sandbox; it tells the submit side which files a directory output
    holds. Empty files (DIRAC stores none) are listed with ``lfn`` None, not uploaded.

    Raises
    ------
    BridgeError
        ``missing`` for a declared output the job did not write, else the upload's failure.
    """
    base, se, outputs, aliases = read_runner_manifest(manifest)
    if not se:
        raise BridgeError("usage", f"{manifest} names no storage element (no 'base' line)")
    listing = []
    for rel, lfn, kind in outputs:
        exists = os.path.isdir(rel) if kind == "dir" else os.path.isfile(rel)
        if not exists:
            raise BridgeError("missing", f"declared output {rel} was not written by the job")
        for path, file_lfn in output_files(rel, lfn, kind, aliases):
            entry = {"path": path.replace(os.sep, "/"), "output": rel}
            if os.path.getsize(path) == 0:
                # DIRAC stores no empty file ("Supplied file is zero size"); the listing
                # says it exists, and the submit side makes it again
                entry.update(lfn=None, size=0, checksum=None)
                log(f"showerflow: {path} is empty: listed, not uploaded")
            else:
                done = _upload(file_lfn, path, se, overwrite=True)
                log(
                    f"showerflow: uploaded {path} as {file_lfn} ({done['size']} bytes, "
                    f"Adler-32 {done['checksum']})"
                )
                entry.update(lfn=file_lfn, size=done["size"], checksum=done["checksum"])
            listing.append(entry)
    tmp = LISTING + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"files": listing}, f, indent=1)
    os.replace(tmp, LISTING)
    return listing


def _initialize():
    import DIRAC

    DIRAC.initialize(require_auth=False)


def serve(text):
    """Answer a JSON request document (see the module docstring)."""
    try:
        request = json.loads(text)
        requests = request["requests"]
    except (ValueError, KeyError, TypeError) as err:
        return {"answers": [], "error": f"unreadable request: {err}"}
    try:
        _initialize()
    except Exception as err:  # DIRACInitError and friends: nothing works then
        return {"answers": [{"ok": False, "kind": "init", "error": str(err)} for _ in requests]}
    answers = []
    for req in requests:
        req = dict(req)
        op = req.pop("op", None)
        if op not in OPS:
            answers.append({"ok": False, "kind": "usage", "error": f"unknown operation {op!r}"})
            continue
        try:
            answers.append({"ok": True, "value": _jsonable(OPS[op](**req))})
        except BridgeError as err:
            answers.append({"ok": False, "kind": err.kind, "error": str(err)})
        except Exception as err:  # a DIRAC exception: report it, do not die
            kind = "unreachable" if _is_connection_error(str(err)) else "exception"
            answers.append({"ok": False, "kind": kind, "error": f"{type(err).__name__}: {err}"})
    return {"answers": answers}


def main(argv=None):
    """Entry point; see the module docstring."""
    args = sys.argv[1:] if argv is None else list(argv)
    # DIRAC logs to standard output: keep the real one for the answer, send the rest to stderr
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if args and args[0] in ("get-file", "upload-outputs"):
        try:
            _initialize()
            if args[0] == "get-file":
                path = op_get_file(args[1], args[2])
                answer.write(path + "\n")
            else:
                listing = upload_outputs(args[1] if len(args) > 1 else "showerflow_manifest.tsv")
                answer.write(f"showerflow: {len(listing)} output file(s) uploaded\n")
        except BridgeError as err:
            print(f"showerflow: {err.kind}: {err}", file=sys.stderr, flush=True)
            return 3 if err.kind == "missing" else 2
        except Exception as err:
            print(f"showerflow: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            return 2
        finally:
            answer.flush()
        return 0
    if args:
        print(
            f"usage: {sys.argv[0]} < request.json | get-file LFN DIR | upload-outputs MANIFEST",
            file=sys.stderr,
        )
        return 64
    answer.write(json.dumps(serve(sys.stdin.read())) + "\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
