"""How the command line ends its process.

A finished command still pays for Python's teardown: the interpreter clears the ~1,500 modules that pandas,
scipy, mesa and their friends brought in, one by one, which takes 0.2-0.3 s on the project's machine after the
results are already written (docs/performance.md, eighth session). :func:`finish` skips that teardown when it is
safe and does at exit everything else a normal exit would do. :func:`end_with_parent` ends the page's server
with the ``run.py serve`` that started it, however that ends.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

# end_with_parent: the page's server takes it from here
from workflow.lifetime import end_with_parent, ending_signals  # noqa: F401


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


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process is asked to end (SIGTERM, SIGHUP): a Ctrl-C by another name, so
    every clean-up that a Ctrl-C runs (temporary output folders removed, pools and clusters closed) runs for it."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_on_terminate() -> None:
    """Make SIGTERM (``kill``, a job scheduler's time limit, ``systemctl stop``) and SIGHUP (the terminal closed)
    end a command as Ctrl-C does, instead of at once.

    Without this, the signal's default action ends the process where it stands: a command's temporary output
    folder stays behind, the worker processes of a pool go on computing for nobody, and a Dask cluster's
    semaphores leak. With it, the process's own worker processes are sent SIGINT, as a Ctrl-C at the terminal
    would (the pools' workers end at once; a Dask cluster's workers ignore it and are closed by the batch),
    and :class:`Terminated` is raised in the main thread. A second signal, while that clean-up runs, takes the
    default action: a user who asks twice gets an end at once.

    Returns
    -------
    None. Only the main thread can install signal handlers; elsewhere nothing is done. A signal that is ignored
    when this is called (``nohup`` ignores SIGHUP) stays ignored.

    Example
    -------
    >>> stop_on_terminate()   # at the start of a command           # doctest: +SKIP
    """
    import multiprocessing
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    # a signal already ignored stays ignored: under nohup, SIGHUP must not end a long batch
    wanted = [s for s in ending_signals() if signal.getsignal(s) is signal.SIG_DFL]

    def on_signal(signum, frame) -> None:
        for s in wanted:
            signal.signal(s, signal.SIG_DFL)
        for child in multiprocessing.active_children():
            try:
                os.kill(child.pid, signal.SIGINT)
            except (OSError, TypeError):  # gone already, or not started
                pass
        raise Terminated(signum)

    for s in wanted:
        signal.signal(s, on_signal)
