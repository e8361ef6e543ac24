"""Uniform draws into kept buffers give the generator's own stream (sim.draws)."""

from __future__ import annotations

import numpy as np

from sim.draws import UniformBuffers


def test_buffered_draws_are_the_generators_stream_and_slots_do_not_overwrite_each_other():
    pool, plain = UniformBuffers(np.random.default_rng(11)), np.random.default_rng(11)
    for n in (5, 1000, 3, 1200, 0, 50_000):  # growing, shrinking, empty: the buffer is reused or grown
        a = pool.draw(n)
        b = pool.draw(n, 1)
        assert np.array_equal(a, plain.random(n)) and np.array_equal(b, plain.random(n))
        assert not np.shares_memory(a, b)
    first = pool.draw(100)
    kept = first.copy()
    pool.draw(100)  # the same slot: the earlier draw is overwritten, as the docstring says
    assert not np.array_equal(first, kept)
