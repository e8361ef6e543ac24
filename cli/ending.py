"""How the command line ends its process.

A finished command still pays for Python's teardown: the interpreter clears the ~1,500 modules that pandas,
scipy, mesa and their friends brought in, one by one, which takes 0.2-0.3 s on the project's machine after the
results are already written (docs/performance.md, eighth session). :func:`finish` skips that teardown when it is
safe and does at exit everything else a normal exit would do.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def finish(code: int) -> NoReturn:
    """End the process with exit status ``code``, without the interpreter's module teardown when that is safe.

    Safe means no other non-daemon thread is running: otherwise Python's own exit runs, which waits for them.
    Daemon threads (such as the model's helper, :mod:`sim.parallel`) end with the process, as at a normal exit.
    Before the process ends, the ``atexit`` handlers run (logging's flush, the finalizers of temporary folders,
    multiprocessing's clean-up) and both standard streams are flushed, as at a normal exit.

    Parameters
    ----------
    code : the exit status.

    Returns
    -------
    Never; the process ends.

    Example
    -------
    >>> if __name__ == "__main__":    # the last line of a command-line script   # doctest: +SKIP
    ...     finish(main())
    """
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    # atexit's own runner: the handlers a normal exit would run, newest first (it reports their errors itself)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader has gone (a closed pipe) or the stream was closed: nothing to keep
            pass
    os._exit(code)
