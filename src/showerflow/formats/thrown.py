"""How many showers a simulation run threw: the run header checked against the file.

Effective areas divide by the number of thrown showers, ``n_showers * shower_reuse`` of
the run header. A file that holds only part of a run (an excerpt, a truncated transfer,
``--max-events``) keeps the header of the whole run and so claims far more thrown showers
than its events come from. Two checks find it:

- the **thrown-shower histogram** sim_telarray writes at the end of a run (ctapipe:
  ``/simulation/service/shower_distribution``) counts every thrown shower (reuse
  included); it must equal ``n_showers * shower_reuse`` (:func:`histogram_problem`);
- without a histogram, the **event numbers**: sim_telarray numbers events
  ``100 * shower + reuse``, and the triggered showers of a whole run are a uniform random
  subset of ``1 .. n_showers``; if they all lie far below ``n_showers`` the file is an
  excerpt (:func:`excerpt_problem`).

A problem is recorded in the run's simulation record under
:data:`showerflow.contracts.BOOKKEEPING_PROBLEM`; the catalog keeps the file (training
needs no bookkeeping) and the performance stage refuses it, naming the file.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "SIMTEL_EVENTS_PER_SHOWER",
    "EXCERPT_P_VALUE",
    "histogram_problem",
    "excerpt_probability",
    "excerpt_problem",
    "thrown_bookkeeping",
]

#: sim_telarray's event number: ``100 * shower number + reuse index``.
SIMTEL_EVENTS_PER_SHOWER = 100

#: Below this probability that a complete run's triggered showers all lie at or below the
#: highest one seen, the file is taken for an excerpt (1 in 10^4 complete runs without a
#: histogram would be flagged by chance).
EXCERPT_P_VALUE = 1e-4


def histogram_problem(name, obs_id, n_showers, shower_reuse, n_histogram, table):
    """The disagreement of a run's header with its thrown-shower histogram, if any.

    Parameters
    ----------
    name : str
        The file (named in the message).
    obs_id : int
    n_showers, shower_reuse : int
        The run header's numbers.
    n_histogram : int
        Showers the histogram counted (``n_entries``; reuse included).
    table : str
        Where the histogram is (named in the message).

    Returns
    -------
    str
        Empty when ``n_histogram == n_showers * shower_reuse``.
    """
    expected = int(n_showers) * int(shower_reuse)
    if int(n_histogram) == expected:
        return ""
    return (
        f"{name}: run obs_id={obs_id}: table '{table}' counts {int(n_histogram)} thrown "
        f"showers, the run header says n_showers x shower_reuse = {int(n_showers)} x "
        f"{int(shower_reuse)} = {expected}; an excerpt or truncated run (expected the "
        "two to agree)"
    )


def excerpt_probability(shower_numbers, n_showers):
    """Probability that a complete run's triggered showers all lie at or below the highest seen.

    The ``k`` distinct triggered showers of a complete run of ``N`` showers are a uniform
    random subset of ``1 .. N``; the chance that all ``k`` are ``<= m`` is
    ``C(m, k) / C(N, k)``.

    Parameters
    ----------
    shower_numbers : array-like of int
        Shower numbers of the triggered events (repeats allowed).
    n_showers : int
        ``N``, the header's number of showers.

    Returns
    -------
    float
        1 for no events; 0 when a shower number exceeds ``N``.
    """
    showers = np.unique(np.asarray(shower_numbers, np.int64))
    k, n = len(showers), int(n_showers)
    if k == 0:
        return 1.0
    m = int(showers.max())
    if m > n or k > n:
        return 0.0

    def log_comb(a, b):
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    return math.exp(log_comb(m, k) - log_comb(n, k))


def excerpt_problem(name, obs_id, n_showers, event_ids, table, p_value=EXCERPT_P_VALUE):
    """An excerpt found from the event numbers of a run without a histogram, if any.

    Parameters
    ----------
    name : str
        The file (named in the message).
    obs_id : int
    n_showers : int
        The run header's number of showers.
    event_ids : array-like of int
        sim_telarray event numbers of the run's triggered events.
    table : str
        Where the events are (named in the message).
    p_value : float
        Threshold of :func:`excerpt_probability`.

    Returns
    -------
    str
        Empty when the events are compatible with a complete run.
    """
    showers = np.asarray(event_ids, np.int64) // SIMTEL_EVENTS_PER_SHOWER
    if not len(showers):
        return ""
    highest = int(showers.max())
    p = excerpt_probability(showers, n_showers)
    if p >= p_value:
        return ""
    k = len(np.unique(showers))
    if highest > int(n_showers):
        why = f"event_id {int(np.max(event_ids))} is of shower {highest}"
    else:
        why = (
            f"its {k} triggered showers all lie at or below shower {highest} "
            f"(probability {p:.1e} for a complete run)"
        )
    return (
        f"{name}: run obs_id={obs_id} has no thrown-shower histogram and the run header "
        f"says n_showers = {int(n_showers)}, but in '{table}' {why}; an excerpt or "
        "truncated run, whose number of thrown showers is unknown (expected a histogram, "
        "or events spread over the header's showers)"
    )


def thrown_bookkeeping(name, obs_id, n_showers, shower_reuse, n_histogram, event_ids, tables):
    """The thrown-shower fields of one run's simulation record.

    Parameters
    ----------
    name : str
        The file.
    obs_id, n_showers, shower_reuse : int
        The run header.
    n_histogram : int or None
        ``n_entries`` of the run's thrown-shower histogram; None when the file has none.
    event_ids : array-like of int
        The run's triggered event numbers.
    tables : dict
        ``{"histogram": path, "events": path}`` named in messages.

    Returns
    -------
    dict
        ``n_showers_histogram`` (NaN without histogram), ``bookkeeping_source``
        (``"histogram"`` or ``"header"``) and ``bookkeeping_problem`` (empty when none).
    """
    if n_histogram is not None:
        problem = histogram_problem(
            name, obs_id, n_showers, shower_reuse, n_histogram, tables["histogram"]
        )
        return {
            "n_showers_histogram": float(n_histogram),
            "bookkeeping_source": "histogram",
            "bookkeeping_problem": problem,
        }
    return {
        "n_showers_histogram": float("nan"),
        "bookkeeping_source": "header",
        "bookkeeping_problem": excerpt_problem(
            name, obs_id, n_showers, event_ids, tables["events"]
        ),
    }
