"""Two pieces of array work at once, on the machine's second core.

NumPy lets go of Python's interpreter lock while it fills, gathers or compares large arrays, so two such pieces of
work given to two threads run at the same time. :func:`both` runs one piece in the calling thread and the other
on a helper thread, and returns when both are done. The model uses it where a step is made of independent parts
that write to different arrays (the columns a compaction gathers, the two halves of a long draw), so the results
are the same whichever part finishes first.

The helper is one daemon thread per process, started on first use: a daemon, so the end of a process does not
wait for it (the command line's fast exit counts only the threads an exit would wait for), and one per process,
so a forked worker starts its own (threads do not survive a fork). One call at a time uses it; a call from a
second thread while it is busy runs both parts in turn in its own thread instead. A process whose cores are
already kept busy by its siblings (the workers of a compare, batch or history match) turns the helper off with
:func:`use_helper`: there the hand-over only adds waiting (a full-scale compare of 40 runs on 2 workers took 3-5%
longer with it).

Example
-------
>>> both(lambda: 1 + 1, lambda: "two")
(2, 'two')
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_JOBS: queue.SimpleQueue = queue.SimpleQueue()
_DONE: queue.SimpleQueue = queue.SimpleQueue()
_HELPER_PID: int | None = None
_USE_HELPER = True


def use_helper(on: bool) -> None:
    """Turn the helper thread on or off for this process; off, :func:`both` runs its two parts in turn here.

    >>> use_helper(False); both(lambda: 1, lambda: 2); use_helper(True)
    (1, 2)
    """
    global _USE_HELPER
    _USE_HELPER = bool(on)


def both(here: Callable[[], Any], there: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``there`` on the helper thread while this thread runs ``here``; return both results when both are done.

    Parameters
    ----------
    here, there : functions of no arguments. They must not depend on each other's effects: they may run in either
        order or at the same time.

    Returns
    -------
    ``(here(), there())``. If either raised, the error is raised here after both have finished (``here``'s first).

    Example
    -------
    >>> import numpy as np
    >>> a, b = np.arange(6), np.empty(3, np.int64)
    >>> int(both(lambda: a[:3].sum(), lambda: np.take(a, [5, 4, 3], out=b))[0]), b.tolist()
    (3, [5, 4, 3])
    """
    if not _USE_HELPER or not _LOCK.acquire(blocking=False):  # off, or another thread's pair is on the helper
        return here(), there()
    try:
        _start_helper()
        _JOBS.put(there)
        try:
            mine = here()
        finally:
            ok, theirs = _DONE.get()  # always collected, so the next pair cannot receive this one's result
        if not ok:
            raise theirs
        return mine, theirs
    finally:
        _LOCK.release()


def _start_helper() -> None:
    """Start this process's helper thread if it has none (first use, or a child forked from a process that had one)."""
    global _HELPER_PID
    if _HELPER_PID != os.getpid():
        threading.Thread(target=_serve, name="array-helper", daemon=True).start()
        _HELPER_PID = os.getpid()


def _serve() -> None:
    """The helper thread: run each job handed over and hand back ``(True, result)`` or ``(False, error)``."""
    while True:
        job = _JOBS.get()
        try:
            outcome = (True, job())
        except BaseException as exc:  # handed back, to be raised in the thread that waits
            outcome = (False, exc)
        job = None  # a finished job must not keep what it refers to alive (a model's columns) until the next one
        _DONE.put(outcome)
        outcome = None
