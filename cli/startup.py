"""How the command line imports its libraries.

Importing pandas, scipy, mesa, geopandas and pyproj makes about 100,000 Python objects and almost no garbage, yet
Python's cycle collector runs hundreds of times meanwhile, full passes over everything alive among them: about 0.1 s
of a `run` (docs/performance.md, eighth session). The commands import their libraries inside :func:`libraries`.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def libraries() -> Iterator[None]:
    """Import inside this block with the cycle collector paused.

    If the block loaded modules, everything alive at its end is then moved out of the collector's reach
    (``gc.freeze``): module objects live as long as the process, and without this the first collection afterwards
    would pass over all of them (0.1 s again). Objects are still freed as usual when nothing refers to them; only
    reference cycles already unreachable at that moment stay. A block that loads nothing new (a module imported
    before) freezes nothing. The collector resumes as it was.

    Example
    -------
    >>> with libraries():
    ...     import json
    >>> gc.isenabled()
    True
    """
    was_enabled = gc.isenabled()
    loaded = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > loaded:
            gc.freeze()
        if was_enabled:
            gc.enable()
