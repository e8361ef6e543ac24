"""Two pieces of work at once (sim.parallel.both): both results, errors raised after both finished, callers in
several threads each get their own results, and a forked child starts its own helper."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sim.parallel import both

ROOT = Path(__file__).resolve().parents[1]


def test_both_runs_the_two_parts_at_the_same_time_and_returns_both_results():
    started = threading.Event()

    def there():
        started.set()
        return threading.current_thread().name

    def here():
        assert started.wait(10), "the helper did not start while this part ran"  # so the two overlap
        return threading.current_thread().name

    mine, theirs = both(here, there)
    assert mine == threading.current_thread().name and theirs != mine


def test_an_error_on_either_side_is_raised_after_both_have_finished():
    finished = []

    def slow():
        time.sleep(0.05)
        finished.append("slow")

    with pytest.raises(ZeroDivisionError):
        both(slow, lambda: 1 / 0)
    with pytest.raises(KeyError):
        both(lambda: {}["x"], slow)
    assert finished == ["slow", "slow"]
    assert both(lambda: 1, lambda: 2) == (1, 2)  # nothing of the failed pairs is left behind


def test_callers_in_several_threads_each_get_their_own_results():
    errors = []

    def caller(k):
        try:
            for i in range(200):
                a = np.arange(1000) * k
                got = both(lambda: a.sum(), lambda: (a + i).max())
                assert got == (a.sum(), (a + i).max())
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_child_starts_its_own_helper(tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(textwrap.dedent("""
        import os
        from sim.parallel import both
        assert both(lambda: 1, lambda: 2) == (1, 2)   # the parent's helper starts
        pid = os.fork()
        if pid == 0:
            os._exit(0 if both(lambda: 3, lambda: 4) == (3, 4) else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """))
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_with_the_helper_off_both_parts_run_in_this_thread():
    from sim.parallel import use_helper

    use_helper(False)
    try:
        here = threading.current_thread().name
        assert both(lambda: threading.current_thread().name, lambda: threading.current_thread().name) == (here, here)
    finally:
        use_helper(True)
    assert both(lambda: 0, lambda: threading.current_thread().name)[1] != here


def test_pool_workers_run_the_model_without_the_helper():
    """workflow.runner.start_worker, the initializer of compare's and the history match's workers, turns it off."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from workflow.runner import start_worker

    with ProcessPoolExecutor(max_workers=1, initializer=start_worker, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_helper_state).result() is False
    assert _helper_state() is True


def _helper_state() -> bool:
    import sim.parallel
    return sim.parallel._USE_HELPER
