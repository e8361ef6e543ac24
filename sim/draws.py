"""Uniform draws into reused buffers: the year's draws for every person or household, without a fresh array each.

A fresh array of millions of floats is backed by new pages that the kernel must find and zero (arrays above
32 MiB always come from the kernel, whatever the allocator keeps); at three million households that made each
person-length draw cost twice its arithmetic. Drawing into a kept buffer gives the same numbers from the same
generator, so results do not change.

Example
-------
>>> import numpy as np
>>> pool = UniformBuffers(np.random.default_rng(1))
>>> u = pool.draw(5)
>>> bool(np.array_equal(u, np.random.default_rng(1).random(5)))
True
"""

from __future__ import annotations

import numpy as np


class UniformBuffers:
    """Draws of U[0, 1) from ``rng`` into kept buffers, one per ``slot``.

    A draw is a view of its slot's buffer: it is valid until the next draw in the same slot, so a caller that needs
    two sets of draws at once takes them from two slots, and no callee may keep a draw beyond its call.
    """

    def __init__(self, rng: np.random.Generator, slots: int = 2):
        self.rng = rng
        self._buffers = [np.empty(0) for _ in range(slots)]

    def draw(self, n: int, slot: int = 0) -> np.ndarray:
        """``n`` uniform draws, the same numbers ``rng.random(n)`` would give.

        Parameters
        ----------
        n : number of draws
        slot : which buffer to draw into (0 .. slots - 1)

        Returns
        -------
        A float64 view of length ``n``, overwritten by the slot's next draw.
        """
        buf = self._buffers[slot]
        if len(buf) < n:  # with room, so a growing population does not reallocate every year
            buf = self._buffers[slot] = np.empty(n + n // 8)
        out = buf[:n]
        self.rng.random(out=out)
        return out
