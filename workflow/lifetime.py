"""How long a helper process lives: no longer than the process that started it.

Kept apart from the command line (:mod:`cli.ending` re-exports it) because the run layer's worker pools need it too:
a compare's pool workers, orphaned by a ``kill -9`` or the out-of-memory killer of the command, would otherwise
wait for work forever.
"""

from __future__ import annotations

import os
import sys


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def ending_signals() -> list[int]:
    """The signals that ask a command to end and that it handles itself (:func:`cli.ending.stop_on_terminate`):
    SIGTERM and, where it exists, SIGHUP.

    >>> import signal; signal.SIGTERM in ending_signals()
    True
    """
    import signal

    return [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]


def end_with_parent(parent: int) -> bool:
    """Have this process sent SIGTERM when ``parent`` ends, however it ends (Linux; elsewhere nothing is done).

    ``run.py serve`` starts the page's server in a session of its own and stops it when asked to stop; a compare,
    calibration or history match stops its pool's workers. Killed with SIGKILL (``kill -9``, the out-of-memory
    killer, a test harness's timeout) it cannot, and the server would go on holding the port, the workers waiting
    for work forever; with this, the kernel sends them SIGTERM (Linux's ``PR_SET_PDEATHSIG``). If ``parent`` has
    already ended when this is called, the signal is sent at once. The request is tied to the thread of ``parent``
    that started this process, so start helpers from the main thread.

    Parameters
    ----------
    parent : the process id of the parent this process should not outlive.

    Returns
    -------
    True if the kernel took the request (Linux), False elsewhere.

    Example
    -------
    >>> end_with_parent(os.getppid())   # in the server process, at start   # doctest: +SKIP
    True
    """
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # the parent ended before the request was made: no signal would come
        os.kill(os.getpid(), signal.SIGTERM)
    return True
