"""Uniform draws into reused buffers: the year's draws for every person or household, without a fresh array each,
long ones made by two threads at once.

A fresh array of millions of floats is backed by new pages that the kernel must find and zero (arrays above
32 MiB always come from the kernel, whatever the allocator keeps); at three million households that made each
person-length draw cost twice its arithmetic. Drawing into a kept buffer gives the same numbers from the same
generator, so results do not change.

A long draw is made in two halves at once (:func:`fill_uniform`): the generator makes the first half while the
helper thread of :mod:`sim.parallel` makes the second from a copy of the generator moved ahead by the first half's
length (PCG64 jumps ahead without drawing). The numbers, and the generator's state afterwards, are exactly those of
one ``rng.random(n)``.

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

from sim.parallel import both

SPLIT_ABOVE = 100_000
"""Draws at least this long are made in two halves at once: below it the hand-over to the helper thread (about
0.07 ms) costs more than the half it saves (100,000 numbers take about 0.15 ms)."""


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
        fill_uniform(self.rng, out)
        return out


def fill_uniform(rng: np.random.Generator, out: np.ndarray, split_above: int = SPLIT_ABOVE) -> None:
    """Fill ``out`` with the numbers ``rng.random(len(out))`` would give, leaving ``rng`` as that call would.

    A PCG64 generator and at least ``split_above`` numbers: made in two halves at once (see the module's docstring);
    otherwise by ``rng`` alone.

    Parameters
    ----------
    rng : the generator to draw from.
    out : a contiguous float64 array to fill.
    split_above : the shortest draw made in two halves.

    Example
    -------
    >>> a, b = np.random.default_rng(3), np.random.default_rng(3)
    >>> out = np.empty(7)
    >>> fill_uniform(a, out, split_above=2)
    >>> bool(np.array_equal(out, b.random(7))) and a.random() == b.random()
    True
    """
    bits = rng.bit_generator
    if len(out) < split_above or type(bits) is not np.random.PCG64:
        rng.random(out=out)
        return
    half = len(out) // 2
    start = bits.state
    ahead = np.random.PCG64()
    ahead.state = start
    ahead.advance(half)  # one 64-bit output per double, so the second half starts ``half`` outputs on
    both(lambda: rng.random(out=out[:half]), lambda: np.random.Generator(ahead).random(out=out[half:]))
    end = ahead.state
    # doubles leave a pending 32-bit half-output (kept by some integer draws) alone; advance() dropped it
    end["has_uint32"], end["uinteger"] = start["has_uint32"], start["uinteger"]
    bits.state = end
