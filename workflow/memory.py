"""How a simulation process asks the C library for memory.

A year of the model makes and drops many temporary arrays of one entry per person or household (tens of megabytes
each in a region of 3 million households). glibc's allocator hands large blocks back to the operating system when
they are freed and asks for fresh ones next time, and every fresh page is a fault the kernel must zero: at 3 million
households that was 5-6.5 s of system time in a 26 s run. Keeping freed memory in the process for reuse removes
most of it. It changes no result (where memory comes from is invisible to the arithmetic), only time and a little
memory.

The model's helper thread (sim.parallel) makes and drops such arrays too. glibc gives each thread that allocates its
own pool ("arena"), and memory freed in one pool is not reused by the other: at 3 million households the two pools'
kept memory raised the peak from 1,140 to 1,415 MB. One pool for all threads keeps a single store of freed memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt() parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling: blocks up to this size come from the heap and are reused
TRIM_THRESHOLD = 2**30  # free memory at the top of the heap is returned to the system only beyond 1 GiB
TOP_PAD = 64 * 2**20  # grow the heap in 64 MiB steps rather than a page at a time
ARENA_MAX = 1  # one pool for every thread, so what the helper thread frees the main thread reuses, and back

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (Linux with glibc; elsewhere nothing is changed).

    Settles the process once; later calls return the first answer. Called by :func:`workflow.runner.simulate`, so
    ``run``, ``compare``, batch and history-match workers all run with it; the interactive server does not (it lives
    long and should give memory back).

    Returns
    -------
    True if the settings were applied, False where there is no glibc (macOS, Windows, musl) or it refused them.

    Example
    -------
    >>> keep_freed_memory() in (True, False)
    True
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library by that name, or one without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success and 0 on error
    return all(mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD),
                (M_ARENA_MAX, ARENA_MAX)))
