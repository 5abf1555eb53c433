"""Physically possible DL1 values: what the readers refuse as bad input, not data.

A simulated event has a finite positive energy, a direction above or below the horizon
(altitude in [-90, 90] deg, azimuth in [-360, 360] deg, either convention) and at least
one telescope image; an image has a non-negative charge and size. A value that breaks
this is a broken file, never an event to analyse: it would go silently through the
models into DL2 and the IRFs. The checks here are pure functions on the contract's
columns (:mod:`showerflow.contracts`); the readers call them and raise
:class:`~showerflow.contracts.ContractError` naming the file, the tree, the column, the
entry and what was expected.

``strict`` checks (ROOT DL1, the contract) also refuse a missing value (NaN) where the
simulation always has one (true energy, direction and core, pointing); other formats may
lack the truth altogether (an event table without true energies) and are checked only
where they have a value.
"""

from __future__ import annotations

import numpy as np

from .contracts import EVENTS_TREE, IMAGES_TREE, ContractError

__all__ = [
    "EVENT_RULES",
    "IMAGE_RULES",
    "value_problem",
    "run_problem",
    "order_problem",
    "check_values",
]

#: column -> (low, high, low inclusive, required, expectation): ``required`` columns must
#: be finite in strict checks; every finite value must lie in [low, high] (or (low, high]);
#: an infinite value is always bad.
EVENT_RULES = {
    "true_energy": (0.0, np.inf, False, True, "a finite energy > 0 TeV"),
    "true_alt": (-90.0, 90.0, True, True, "an altitude in [-90, 90] deg"),
    "true_az": (-360.0, 360.0, True, True, "an azimuth in [-360, 360] deg"),
    "true_core_x": (-np.inf, np.inf, True, True, "a finite core position (m)"),
    "true_core_y": (-np.inf, np.inf, True, True, "a finite core position (m)"),
    "pointing_alt": (-90.0, 90.0, True, True, "an altitude in [-90, 90] deg"),
    "pointing_az": (-360.0, 360.0, True, True, "an azimuth in [-360, 360] deg"),
    "reco_alt": (
        -90.0,
        90.0,
        True,
        False,
        "an altitude in [-90, 90] deg or NaN (not reconstructed)",
    ),
    "reco_az": (-360.0, 360.0, True, False, "an azimuth in [-360, 360] deg or NaN"),
    "reco_core_x": (-np.inf, np.inf, True, False, "a finite core position (m) or NaN"),
    "reco_core_y": (-np.inf, np.inf, True, False, "a finite core position (m) or NaN"),
    "reco_h_max": (-np.inf, np.inf, True, False, "a finite height (m) or NaN"),
}

#: The same for the ``images`` tree (NaN allowed: an image that could not be
#: parametrised, which the quality cuts drop).
IMAGE_RULES = {
    "hillas_intensity": (0.0, np.inf, True, False, "a charge >= 0 p.e. or NaN"),
    "hillas_width": (0.0, np.inf, True, False, "a width >= 0 deg or NaN"),
    "hillas_length": (0.0, np.inf, True, False, "a length >= 0 deg or NaN"),
}


def _ids(df, i):
    keys = [k for k in ("obs_id", "event_id", "tel_id") if k in df.columns]
    return " ".join(f"{k}={df[k].to_numpy()[i]}" for k in keys)


def _entry(tree, col, df, i, first_entry, value, expected, n_bad):
    more = f" ({n_bad} of {len(df)} entries break it)" if n_bad > 1 else ""
    return (
        f"tree '{tree}' column '{col}': entry {first_entry + i} ({_ids(df, i)}) is "
        f"{value!r}, expected {expected}{more}"
    )


def _column_problem(tree, col, rule, df, strict, first_entry):
    low, high, low_inclusive, required, expected = rule
    x = df[col].to_numpy(float)
    nan = np.isnan(x)
    with np.errstate(invalid="ignore"):
        below = x < low if low_inclusive else x <= low
        bad = np.isinf(x) | below | (x > high)
    if strict and required:
        bad |= nan
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return _entry(tree, col, df, i, first_entry, float(x[i]), expected, int(bad.sum()))


def value_problem(events, images, strict=True, first_event=0, first_image=0):
    """The first physically impossible value of events and their images, or None.

    Parameters
    ----------
    events, images : pandas.DataFrame
        Contract columns (:data:`~showerflow.contracts.EVENT_COLUMNS`,
        :data:`~showerflow.contracts.IMAGE_COLUMNS`); columns absent are not checked.
    strict : bool
        Refuse NaN in the columns the simulation always fills, and events without an
        image (``multiplicity`` < 1): the ROOT contract.
    first_event, first_image : int
        Entry number of the first row (a chunk of a file), for the message.

    Returns
    -------
    str or None
        ``tree 'events' column 'true_energy': entry 12 (obs_id=1 event_id=40) is -1.0,
        expected a finite energy > 0 TeV``.
    """
    for tree, rules, df, first in (
        (EVENTS_TREE, EVENT_RULES, events, first_event),
        (IMAGES_TREE, IMAGE_RULES, images, first_image),
    ):
        for col, rule in rules.items():
            if col in df.columns and len(df):
                problem = _column_problem(tree, col, rule, df, strict, first)
                if problem:
                    return problem
    if strict and "multiplicity" in events.columns and len(events):
        m = events["multiplicity"].to_numpy()
        bad = m < 1
        if bad.any():
            i = int(np.argmax(bad))
            return _entry(
                EVENTS_TREE,
                "multiplicity",
                events,
                i,
                first_event,
                int(m[i]),
                "at least 1 telescope with an image (an event without images did not trigger)",
                int(bad.sum()),
            )
    return None


def run_problem(events, images, obs_id, first_event=0, first_image=0):
    """Events or images of another run than the file's, or an event stored twice; or None.

    A DL1 file holds one run (the ``simulation`` tree's ``obs_id``); an event
    ``(obs_id, event_id)`` appears once in tree ``events``.

    Parameters
    ----------
    events, images : pandas.DataFrame
    obs_id : int
        The run number of the file's simulation record.
    first_event, first_image : int
        Entry number of the first row.

    Returns
    -------
    str or None
    """
    for tree, df, first in ((EVENTS_TREE, events, first_event), (IMAGES_TREE, images, first_image)):
        other = df["obs_id"].to_numpy() != obs_id
        if other.any():
            i = int(np.argmax(other))
            return _entry(
                tree,
                "obs_id",
                df,
                i,
                first,
                int(df["obs_id"].iloc[i]),
                f"the file's run obs_id={obs_id} (tree 'simulation'; one run per file)",
                int(other.sum()),
            )
    keys = events["event_id"].to_numpy(np.int64)
    dup = _duplicated(keys)
    if dup.any():
        i = int(np.argmax(dup))
        return _entry(
            EVENTS_TREE,
            "event_id",
            events,
            i,
            first_event,
            int(keys[i]),
            "each event once (this event_id is already an earlier entry)",
            int(dup.sum()),
        )
    return None


def _duplicated(keys):
    """True for every entry whose key appeared at an earlier entry."""
    order = np.argsort(keys, kind="stable")
    dup = np.zeros(len(keys), bool)
    dup[order[1:]] = keys[order][1:] == keys[order][:-1]
    return dup


def order_problem(events, images, first_event=0, first_image=0, every_event=True):
    """An image of no event, not stored with its event's images in event order, or an
    event without image; or None.

    Tree ``images`` must hold each event's images together, events in the order of tree
    ``events`` (DL2 reads a chunk of events and the entry range of their images). A
    chunk read that way whose event finds no image (its images are stored elsewhere) is
    caught at that chunk, whatever the chunk size.

    Parameters
    ----------
    events, images : pandas.DataFrame
        ``obs_id`` and ``event_id``: the events and every image of them, in file order.
    first_event, first_image : int
        Entry number of the first event and image.
    every_event : bool
        Every event must have at least one image.

    Returns
    -------
    str or None
    """
    if not len(events):
        return None
    ekey = events["obs_id"].to_numpy(np.int64) << 32 | events["event_id"].to_numpy(np.int64)
    ikey = images["obs_id"].to_numpy(np.int64) << 32 | images["event_id"].to_numpy(np.int64)
    order = np.argsort(ekey, kind="stable")
    pos = np.clip(np.searchsorted(ekey[order], ikey), 0, max(len(ekey) - 1, 0))
    found = ekey[order][pos] == ikey if len(ekey) else np.zeros(len(ikey), bool)
    expected = "tree 'images' must hold each event's images together, in the order of tree 'events'"
    if not found.all():
        i = int(np.argmin(found))
        return (
            f"tree 'images': entry {first_image + i} ({_ids(images, i)}) belongs to no "
            f"event of tree 'events'; {expected}"
        )
    idx = order[pos]
    if every_event:
        imaged = np.zeros(len(events), bool)
        imaged[idx] = True
        if not imaged.all():
            i = int(np.argmin(imaged))
            return (
                f"tree 'events': entry {first_event + i} ({_ids(events, i)}) has no image "
                f"among image entries {first_image} to {first_image + len(images) - 1}, "
                f"expected at least one (an event is a shower seen by a telescope); {expected}"
            )
    back = np.flatnonzero(np.diff(idx) < 0)
    if len(back):
        i = int(back[0]) + 1
        return (
            f"tree 'images': entry {first_image + i} ({_ids(images, i)}) comes after an image "
            f"of a later event ({_ids(events, int(idx[i - 1]))}); {expected}"
        )
    return None


def check_values(path, events, images, strict=True, obs_id=None, first_event=0, first_image=0):
    """Raise for the first impossible value, foreign run, repeated event or misplaced image.

    Parameters
    ----------
    path : str or Path
        The file (named in the error).
    events, images : pandas.DataFrame
    strict : bool
        See :func:`value_problem`.
    obs_id : int, optional
        The file's run number: events and images must all be of this run.
    first_event, first_image : int
        Entry number of the first rows (a chunk).

    Raises
    ------
    ContractError
    """
    problem = value_problem(events, images, strict, first_event, first_image)
    if problem is None and obs_id is not None:
        problem = run_problem(events, images, obs_id, first_event, first_image)
    if problem is None and strict:
        problem = order_problem(events, images, first_event, first_image)
    if problem:
        raise ContractError(path, problem)
