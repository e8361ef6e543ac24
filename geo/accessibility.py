"""Accessibility from travel times: jobs within a time limit, gravity potential, and time circles.

Pure functions on arrays (times in minutes, origins by destinations), so the model can call
them for all townships at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def jobs_within(minutes: np.ndarray, jobs: np.ndarray, limit: float) -> np.ndarray:
    """Jobs reachable from each origin within ``limit`` minutes (cumulative opportunities).

    Parameters
    ----------
    minutes : (n_origins, n_destinations) travel times; ``inf`` for unreachable.
    jobs : (n_destinations,) jobs at each destination.
    limit : minutes.

    Returns
    -------
    (n_origins,) array.

    Example
    -------
    >>> jobs_within(np.array([[5.0, 20.0], [20.0, 5.0]]), np.array([100, 10]), 15).tolist()
    [100.0, 10.0]
    """
    return (np.asarray(minutes) <= limit).astype(float) @ np.asarray(jobs, dtype=float)


def gravity(minutes: np.ndarray, jobs: np.ndarray, decay_per_min: float) -> np.ndarray:
    """Gravity accessibility: sum over destinations of jobs x exp(-decay x minutes).

    Example
    -------
    >>> gravity(np.array([[0.0, np.inf]]), np.array([50, 999]), 0.1).tolist()
    [50.0]
    """
    t = np.asarray(minutes, dtype=float)
    reachable = np.isfinite(t)
    # exp(-0 * inf) is NaN, so unreachable pairs are zeroed explicitly rather than by the decay.
    weights = np.where(reachable, np.exp(-decay_per_min * np.where(reachable, t, 0.0)), 0.0)
    return weights @ np.asarray(jobs, dtype=float)


def accessibility_table(minutes: np.ndarray, jobs: np.ndarray, codes: Sequence[str],
                        thresholds: Sequence[float], decay_per_min: float) -> pd.DataFrame:
    """Jobs within each threshold and the gravity measure, one row per township.

    Example
    -------
    >>> float(accessibility_table(np.array([[1.0, 30.0], [30.0, 1.0]]), np.array([10, 20]), ["a", "b"], [15, 60], 0.05).loc["a", "jobs_60min"])
    30.0
    """
    table = {f"jobs_{int(t)}min": jobs_within(minutes, jobs, t) for t in thresholds}
    table["gravity"] = gravity(minutes, jobs, decay_per_min)
    return pd.DataFrame(table, index=pd.Index(list(codes), name="code"))


def time_circles(region, transport, year: int) -> pd.DataFrame:
    """The region's time circles (e.g. "15-30-60") checked for ``year``.

    For each circle in ``region.config.time_circles`` and each origin township, the minutes
    to the nearest target (a node served by the named modes, a township of a group, or named
    nodes) and whether it is within the limit.

    Returns
    -------
    DataFrame with columns circle, label, code, minutes, limit, met.
    """
    net, _ = transport.graphs(year)
    from geo.network import served_nodes

    seat = dict(zip(transport.codes, transport.seat_nodes))
    rows = []
    for c in region.config.time_circles:
        origins = transport.codes if c.from_ == "all" else region.group_members(c.from_["group"])
        if c.to.modes is not None:
            targets = served_nodes(net, c.to.modes, boarded=transport.boarding)
        elif c.to.group is not None:
            targets = [seat[m] for m in region.group_members(c.to.group)]
        else:
            targets = list(c.to.nodes)
        t = transport.minutes(year, [seat[o] for o in origins], targets) if targets else np.full((len(origins), 1), np.inf)
        best = t.min(axis=1)
        for code, m in zip(origins, best):
            rows.append({"circle": c.id, "label": c.label, "code": code, "minutes": float(m),
                         "limit": c.minutes, "met": bool(m <= c.minutes)})
    return pd.DataFrame(rows)
