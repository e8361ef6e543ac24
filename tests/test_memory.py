"""workflow.memory: the allocator keeps freed arrays for reuse in simulation processes."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# page faults while 20 arrays of 24 MB (above glibc's default mmap threshold) are made and dropped in turn
FAULTS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    if {tuned}:
        from workflow.memory import keep_freed_memory
        assert keep_freed_memory() and keep_freed_memory()  # applied, and a second call gives the same answer
    np.ones(3_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(3_000_000)
        del a
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def page_faults(tuned: bool) -> int:
    code = FAULTS.format(root=str(ROOT), tuned=tuned)
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings exist on Linux only")
def test_freed_arrays_are_reused_instead_of_faulted_in_again():
    base, tuned = page_faults(False), page_faults(True)
    assert base >= 20  # each new array is fresh memory from the kernel: at least one fault each
    assert tuned <= base // 10


# the same, with the arrays made and dropped by the helper thread of sim.parallel and then made again by this one
FAULTS_ACROSS_THREADS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from sim.parallel import both
    if {tuned}:
        from workflow.memory import keep_freed_memory
        assert keep_freed_memory()
    def churn():
        held = [np.ones(3_000_000) for _ in range(4)]
        del held
    both(lambda: None, churn)    # the helper's memory, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    kept = [np.ones(3_000_000) for _ in range(4)]   # this thread's arrays: in the helper's freed memory, or new?
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings exist on Linux only")
def test_memory_the_helper_thread_freed_is_reused_by_the_main_thread():
    """One allocator pool for all threads: arrays the main thread makes after the helper dropped its own come from
    the memory the helper freed, not from fresh pages (4 arrays of 24 MB: more than a thousand faults when fresh)."""
    def faults(tuned: bool) -> int:
        code = FAULTS_ACROSS_THREADS.format(root=str(ROOT), tuned=tuned)
        return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)

    base, tuned = faults(False), faults(True)
    assert base >= 1000
    assert tuned <= base // 10


def test_elsewhere_nothing_is_changed(monkeypatch):
    import workflow.memory as memory

    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.keep_freed_memory() is False


def test_a_finished_runs_columns_are_freed_without_waiting_for_the_cycle_collector(toy):
    """Mesa's model and its agents refer to each other; simulate lets go of the model's columns itself, so a worker
    that runs model after model does not hold several finished runs' columns until Python's cycle collector runs."""
    import gc
    import weakref

    from workflow.runner import simulate

    seen = []
    gc.disable()
    try:
        result = simulate(toy, "baseline", 2020, 2023, 1.0, 1, on_year=lambda m: seen.append(weakref.ref(m.population)))
        assert len(result.county) == 4 and len(seen) == 3
        assert seen[-1]() is None  # freed on return, with the collector off
    finally:
        gc.enable()
