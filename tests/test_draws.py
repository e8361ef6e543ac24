"""Uniform draws into kept buffers, long ones made in two halves at once, give the generator's own stream (sim.draws)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.draws import SPLIT_ABOVE, UniformBuffers, fill_uniform


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


@pytest.mark.parametrize("before", ["nothing", "float32", "uint32"])
def test_a_draw_made_in_two_halves_is_the_generators_stream_and_leaves_it_as_one_draw_would(before):
    """fill_uniform splits long draws between two threads; numbers and the generator's state afterwards (its
    pending 32-bit half-output included) are those of one rng.random(n), so the next draws of any kind agree."""
    split, plain = np.random.default_rng(5), np.random.default_rng(5)
    for g in (split, plain):
        if before == "float32":
            g.random(3, dtype=np.float32)  # leaves a pending half-output
        elif before == "uint32":
            g.integers(0, 10, dtype=np.uint32)
    for n in (SPLIT_ABOVE, 250_001, 7):  # even, odd, short (not split)
        out = np.empty(n)
        fill_uniform(split, out)
        assert np.array_equal(out, plain.random(n))
        assert split.bit_generator.state == plain.bit_generator.state
    assert split.random(3, dtype=np.float32).tolist() == plain.random(3, dtype=np.float32).tolist()
    assert split.integers(0, 1 << 40, 5).tolist() == plain.integers(0, 1 << 40, 5).tolist()


def test_other_generators_draw_alone_with_the_same_numbers():
    a, b = np.random.Generator(np.random.MT19937(3)), np.random.Generator(np.random.MT19937(3))
    out = np.empty(SPLIT_ABOVE * 2)
    fill_uniform(a, out)
    assert np.array_equal(out, b.random(len(out)))
