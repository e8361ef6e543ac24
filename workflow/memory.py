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
import math
import os
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


#: A run's peak memory, measured with README command 1's run (2026-12-07): 240 MB at scale 0.1 and 347 MB at 1.0 of
#: Pingyang's 863,088 residents, so about 240 MB of libraries and region, and 138 bytes per resident at the start
#: (3 million households, 7.2 million residents, peaked at 1,181 MB: the same slope). The estimate pads both.
BASE_MB = 300.0
MIN_SCALE = 0.001  # the smallest share of households a run may simulate (run.py's --scale)
BYTES_PER_RESIDENT = 200.0  # residents grow over a run, and columns keep a quarter to spare (sim.population)


def local_workers(workers: int | None) -> int:
    """The worker processes a batch or comparison on this machine uses: ``workers``, or one per core when not given.

    >>> local_workers(3)
    3
    >>> local_workers(None) >= 1
    True
    """
    return workers or os.cpu_count() or 1


def runs_at_once(workers: int | None, runs: int) -> int:
    """How many of ``runs`` runs are in memory at the same time on ``workers`` processes (:func:`local_workers`).

    >>> runs_at_once(4, 2), runs_at_once(2, 10), runs_at_once(3, 0)
    (2, 2, 1)
    """
    return max(1, min(local_workers(workers), runs))


def memory_needed_mb(residents: float, runs_at_once: int = 1) -> float:
    """Estimated peak memory, in MB, of ``runs_at_once`` simulations of ``residents`` start residents each.

    >>> round(memory_needed_mb(1_000_000))
    500
    """
    return runs_at_once * (BASE_MB + residents * BYTES_PER_RESIDENT / 1e6)


def available_mb() -> float | None:
    """Memory the system can give without swapping (``MemAvailable`` of ``/proc/meminfo``), in MB; None where that
    is not known (not Linux).

    >>> available_mb() is None or available_mb() > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_shortfall(residents: float, scale: float, runs_at_once: int = 1, available: float | None = None,
                     scale_name: str = "--scale", fewer: str | None = "--workers", what: str = "a run") -> str | None:
    """Why runs of ``residents`` start residents (the census times ``scale``) cannot fit in memory, or None if they
    can or the free memory is not known. A township table with a few zeros too many would otherwise fill the
    machine's memory and swap for minutes before the system kills the run. The advice names ``scale_name`` and, for
    several runs at once, ``fewer`` (what sets how many run at once); ``what`` names the run.

    >>> memory_shortfall(1e9, 1.0, available=16_000).split(";")[0]
    'a run of 1,000,000,000 residents would need about 200,300 MB of memory'
    >>> memory_shortfall(1e6, 1.0, available=16_000) is None
    True
    >>> "a --scale of at most 0.78 would fit" in memory_shortfall(1e8, 1.0, available=16_000)  # 0.785, rounded down
    True
    >>> memory_shortfall(1e12, 1.0, available=16_000).split(": ")[1].split(". ")[0]
    'not even the smallest --scale, 0.001, would fit'
    """
    available = available_mb() if available is None else available
    need = memory_needed_mb(residents, runs_at_once)
    if available is None or need <= available:
        return None
    at_once = f" ({runs_at_once} runs at once, {memory_needed_mb(residents):,.0f} MB each)" if runs_at_once > 1 else ""
    fits = (available / runs_at_once - BASE_MB) * 1e6 / BYTES_PER_RESIDENT  # residents one run may have
    largest = fits / residents * scale
    if largest >= MIN_SCALE:
        digits = 1 - math.floor(math.log10(largest))  # two significant digits, rounded down so that it fits
        advice = f"a {scale_name} of at most {math.floor(largest * 10**digits) / 10**digits:g} would fit"
    else:
        advice = f"not even the smallest {scale_name}, {MIN_SCALE:g}, would fit"
    if runs_at_once > 1 and fewer:
        advice += f", or fewer {fewer}"
    return (f"{what} of {residents:,.0f} residents would need about {need:,.0f} MB of memory{at_once}; this machine has "
            f"{available:,.0f} MB available: {advice}. "
            "If the region is not that large, check the township table's population columns")
