"""Refuse before submitting: what DIRAC would refuse, found before any job leaves.

Pure checks over facts the bridge reports (proxy, storage elements, metadata indices, the
JDL as DIRAC's own parser reads it), each raising :class:`PreflightError` with the reason
and the command that fixes it; :func:`preflight` gathers the facts in one bridge call.
"""

from __future__ import annotations

import posixpath

from .client import BackendUnavailable, DiracError

__all__ = [
    "PreflightError",
    "check_proxy",
    "check_lfn_base",
    "check_output_se",
    "check_indexed",
    "index_commands",
    "check_jdl_readback",
    "preflight",
]


class PreflightError(BackendUnavailable):
    """A reason not to submit anything (the message names the fix)."""


def check_proxy(info, min_hours=1.0, group=None):
    """Refuse a proxy that is missing, expiring, or of a group that cannot run jobs.

    Parameters
    ----------
    info : dict
        The bridge's ``proxy`` answer.
    min_hours : float
    group : str, optional
        The group jobs must run as (``--dirac-group``); default: any group with the
        ``NormalUser`` property.

    Raises
    ------
    PreflightError
    """
    fix = f"dirac-proxy-init -g {group or info.get('group') or '<your_group>'}"
    left = int(info.get("seconds_left") or 0)
    if left <= 0:
        raise PreflightError(f"the DIRAC proxy has expired; create a new one with `{fix}`")
    if left < min_hours * 3600:
        raise PreflightError(
            f"the DIRAC proxy expires in {left / 3600:.2f} h, less than the {min_hours} h "
            f"required (--dirac-min-proxy-hours); renew it with `{fix}`"
        )
    have = info.get("group")
    if group and have != group:
        raise PreflightError(
            f"the DIRAC proxy is of group '{have}', not '{group}' (--dirac-group); "
            f"create one of that group with `dirac-proxy-init -g {group}`"
        )
    if not info.get("valid_group", True) or "NormalUser" not in (
        info.get("group_properties") or []
    ):
        usable = ", ".join(info.get("user_groups") or []) or "<your_group>"
        raise PreflightError(
            f"the DIRAC proxy's group '{have}' cannot submit jobs (no NormalUser property); "
            f"use one of your groups ({usable}): `dirac-proxy-init -g <group>`"
        )


def check_lfn_base(lfn_base, home):
    """Refuse an LFN base outside the user's home directory (DIRAC would refuse writes).

    Raises
    ------
    PreflightError
    """
    base = posixpath.normpath(str(lfn_base))
    if not home:
        return
    home = posixpath.normpath(home)
    if base != home and not base.startswith(home + "/"):
        raise PreflightError(
            f"--dirac-lfn-base {lfn_base} is outside your DIRAC home {home}, where your "
            f"files go; set it below it, e.g. `--dirac-lfn-base {home}/showerflow`"
        )


def check_output_se(se, answer):
    """Refuse a missing, unknown or read-only output storage element.

    Parameters
    ----------
    se : str or None
    answer : dict
        The bridge's ``storage_elements`` answer for ``[se]``.

    Raises
    ------
    PreflightError
    """
    known = ", ".join(answer.get("known") or []) or "none"
    if not se:
        raise PreflightError(f"no output storage element: set --dirac-output-se (known: {known})")
    state = (answer.get("checked") or {}).get(se) or {}
    if not state.get("exists"):
        raise PreflightError(
            f"--dirac-output-se {se} is not a storage element DIRAC knows (known: {known}); "
            "`dirac-dms-show-se-status` lists them"
        )
    if not state.get("write"):
        raise PreflightError(
            f"the storage element {se} does not accept writes now (its status in DIRAC's "
            "Resource Status); choose another with --dirac-output-se "
            "(`dirac-dms-show-se-status`)"
        )


def index_commands(fields):
    """The File Catalog CLI lines that index ``{name: type}`` fields."""
    return [f"meta index -f {name} {kind}" for name, kind in fields.items()]


def check_indexed(needed, indexed, what="metadata"):
    """Refuse metadata fields the File Catalog has not indexed.

    Parameters
    ----------
    needed : dict
        ``{field: index type}`` the run sets or queries.
    indexed : dict
        The bridge's ``meta_fields`` answer.
    what : str
        What needs them (for the message).

    Raises
    ------
    PreflightError
    """
    have = {**(indexed.get("file") or {}), **(indexed.get("directory") or {})}
    missing = {k: v for k, v in needed.items() if k not in have}
    if missing:
        lines = "; ".join(index_commands(missing))
        raise PreflightError(
            f"the File Catalog has no index for the {what} field(s) {sorted(missing)}; "
            f"a catalog manager indexes them once in `dirac-dms-filecatalog-cli`: {lines}"
        )


def check_jdl_readback(intended, answer):
    """Compare the JDL as written with what DIRAC's own parser reads back.

    Parameters
    ----------
    intended : dict
        ``{attribute: value}`` as showerflow means it (strings, ints, lists of strings).
    answer : dict
        The bridge's ``check_jdl`` answer.

    Raises
    ------
    PreflightError
        Naming the attribute, what was meant and what DIRAC reads, or DIRAC's own
        validation error.
    """
    if answer.get("errors"):
        raise PreflightError(f"DIRAC would refuse the job: {answer['errors'][0]}")
    got = answer.get("attributes") or {}
    for key, value in intended.items():
        read = got.get(key)
        if isinstance(value, list | tuple):
            same = list(read or []) == [str(v) for v in value]
        else:
            same = str(read) == str(value)
        if not same:
            raise PreflightError(
                f"DIRAC's JDL parser reads {key} as {read!r}, not {value!r}: rename the "
                "file or setting so that it has no spaces, commas or quotes"
            )


def preflight(client, lfn_base, output_se, min_hours=1.0, group=None, fields=None):
    """Everything checked before the first submission, in one bridge call.

    Parameters
    ----------
    client : DiracClient
    lfn_base, output_se : str
    min_hours : float
    group : str, optional
    fields : dict, optional
        Metadata fields the run sets (``{name: type}``); default none checked.

    Returns
    -------
    dict
        The proxy answer (seconds left, group, user, home).

    Raises
    ------
    PreflightError, BackendUnavailable
    """
    answers = client.batch(
        [
            {"op": "ping"},
            {"op": "proxy"},
            {"op": "storage_elements", "names": [output_se] if output_se else []},
            {"op": "meta_fields"},
        ],
        timeout=300,
    )
    ping, proxy, ses, meta = answers
    if not proxy["ok"]:
        raise PreflightError(
            f"no valid DIRAC proxy ({proxy['error']}); create one with "
            f"`dirac-proxy-init -g {group or '<your_group>'}`"
        )
    check_proxy(proxy["value"], min_hours, group)
    if not ping["ok"]:
        raise PreflightError(
            f"the DIRAC server is unreachable: {ping['error']}; check that it runs (for the "
            "local one: tools/dirac/start.sh DIR) and that the client's configuration "
            "names it (dirac-configure)"
        )
    for ans in (ses, meta):
        if not ans["ok"]:
            raise DiracError(ans["error"], kind=ans.get("kind", "dirac"))
    check_lfn_base(lfn_base, proxy["value"].get("home"))
    check_output_se(output_se, ses["value"])
    if fields:
        check_indexed(fields, meta["value"])
    return proxy["value"]
