"""The command line's process: its fast exit (cli.ending.finish) still does what a normal exit does, and its
imports without the cycle collector (cli.startup.libraries) leave the collector as it was."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})


def test_finish_keeps_the_status_the_buffered_output_and_the_exit_handlers(tmp_path):
    marker = tmp_path / "handler-ran"
    done = _script(tmp_path, f"""
        import atexit, logging, sys
        from cli.ending import finish
        atexit.register(lambda: open({str(marker)!r}, "w").write("yes"))
        logging.basicConfig(stream=sys.stderr)
        logging.getLogger("t").warning("logged")
        sys.stdout.write("x" * 200_000)   # more than a pipe's buffer
        sys.stdout.write("end")           # stays in the stream's buffer until a flush
        sys.stderr.write("last words")
        finish(3)
        print("never")
    """)
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000 + "end"
    assert "logged" in done.stderr and done.stderr.endswith("last words")
    assert marker.read_text() == "yes"


def test_finish_waits_for_a_running_thread(tmp_path):
    """With another thread alive, the normal exit runs (it waits for the thread) instead of the fast one."""
    marker = tmp_path / "thread-done"
    done = _script(tmp_path, f"""
        import threading, time
        from cli.ending import finish
        def work():
            time.sleep(0.5)
            open({str(marker)!r}, "w").write("done")
        threading.Thread(target=work).start()
        finish(0)
    """)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"


def test_finish_does_not_wait_for_a_daemon_thread(tmp_path):
    """A daemon thread does not hold a normal exit back, so it does not hold the fast one back either."""
    done = _script(tmp_path, """
        import threading, time
        from cli.ending import finish
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        print("before", flush=False)
        finish(4)
    """)
    assert done.returncode == 4 and done.stdout == "before\n"


def _running(pid: int) -> bool:
    """True while ``pid`` runs (an ended process not yet reaped by its new parent is a zombie: not running)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_end_with_parent_ends_a_process_whose_parent_is_gone(tmp_path):
    """The page's server asks to end with run.py serve; if serve has already ended by then (the server's own
    start takes a second or two), the server ends at once instead of waiting for a signal that will not come."""
    done = _script(tmp_path, """
        import os, time
        from cli.ending import end_with_parent
        end_with_parent(os.getppid() + 1)   # not this process's parent: as if it had ended
        time.sleep(20)
    """)
    assert done.returncode == -15, (done.returncode, done.stderr)  # ended by SIGTERM, not after its 20 s


def test_end_with_parent_ends_the_process_when_its_parent_is_killed(tmp_path):
    """A parent killed with SIGKILL takes its child with it."""
    child_pid = tmp_path / "child.pid"
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import os, time; from cli.ending import end_with_parent; end_with_parent({{}}); "
            "open({str(child_pid)!r}, 'w').write(str(os.getpid())); time.sleep(30)".format(os.getpid())])
        time.sleep(30)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        deadline = time.time() + 30
        while not (child_pid.exists() and child_pid.read_text()):
            assert time.time() < deadline and proc.poll() is None, "the child did not start"
            time.sleep(0.05)
        pid = int(child_pid.read_text())
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while _running(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not _running(pid), "the child outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_py_prints_its_whole_output_into_a_pipe(tmp_path):
    """run.py ends through finish: everything it printed arrives, and the status is kept."""
    ok = subprocess.run([sys.executable, "run.py", "check-config", "configs/pingyang"], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert re.match(r"scenarios: \d+ valid", ok.stdout.rstrip().splitlines()[-1])  # the last line arrived
    bad = subprocess.run([sys.executable, "run.py", "check-config", str(tmp_path / "nowhere")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "region folder not found" in bad.stdout + bad.stderr


def test_libraries_pauses_the_collector_and_freezes_only_after_new_imports(tmp_path):
    """cli.startup.libraries: no collection inside the block; objects frozen at its end only if it loaded a module;
    the collector's state restored (also when it was off before). Run in a child so the test's own process keeps
    its collector as it was."""
    done = _script(tmp_path, """
        import gc, sys
        from cli.startup import libraries
        collections = []
        gc.callbacks.append(lambda phase, info: collections.append(phase))
        with libraries():
            assert not gc.isenabled()
            junk = [[] for _ in range(50_000)]   # would trigger young collections with the collector on
            import fractions, decimal             # modules not loaded before
        assert collections == [] and gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with libraries():
            import fractions                      # nothing new: nothing more frozen
        assert gc.get_freeze_count() == frozen and gc.isenabled()
        gc.disable()
        with libraries():
            import statistics
        assert not gc.isenabled()
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_libraries_defers_scipy_spatial_and_mesa_still_uses_it(tmp_path):
    """Inside cli.startup.libraries mesa imports without loading scipy.spatial; a mesa grid that needs its KD-tree
    still gets the real one, isinstance works against the stand-in's name, and later imports are real."""
    done = _script(tmp_path, """
        import random, sys
        from cli.startup import libraries, Later
        with libraries():
            import mesa
            from mesa.discrete_space import HexGrid, grid
        assert not any(m == "scipy.spatial" or m.startswith("scipy.spatial.") for m in sys.modules), "loaded"
        assert isinstance(grid.KDTree, Later)
        hexes = HexGrid((4, 5), random=random.Random(1))           # builds its KD-tree: scipy.spatial loads now
        assert "scipy.spatial" in sys.modules
        assert type(hexes._kdtree).__name__ == "KDTree" and isinstance(hexes._kdtree, grid.KDTree)
        assert hexes.find_nearest_cell([0.0, 0.0]).coordinate == (0, 0)
        import scipy.spatial
        assert isinstance(scipy.spatial.KDTree, type) and scipy.spatial.distance.cdist([[0, 0]], [[3, 4]])[0, 0] == 5.0
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_deferred_name_used_inside_the_block_loads_the_real_module(tmp_path):
    """Using a stand-in's name before the block ends ends the deferral (no recursion through the stand-in); a module
    loaded before the block is never replaced."""
    done = _script(tmp_path, """
        import sys, json
        from cli.startup import libraries
        with libraries(deferred=("json", "fractions")):
            import json as again
            assert again is json                                    # already loaded: not deferred
            from fractions import Fraction
            assert Fraction(1, 3) + Fraction(1, 6) == Fraction(1, 2)   # used in the block: real from now on
            assert type(sys.modules["fractions"]).__name__ == "module"
        import fractions
        assert fractions.Fraction(2, 4) == Fraction(1, 2)
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_libraries_names_mesa_logger_without_reading_sources_and_restores_inspect(tmp_path):
    """mesa's logger gets its module's name from the cheaper stack; inspect is itself again after the block."""
    done = _script(tmp_path, """
        import inspect, logging
        from cli.startup import libraries
        stack, getmodule = inspect.stack, inspect.getmodule
        with libraries():
            import mesa
            here = inspect.stack()[0]
            assert here.code_context is None and inspect.getmodule(here.frame).__name__ == "__main__"
        assert inspect.stack is stack and inspect.getmodule is getmodule
        assert inspect.stack()[0].code_context is not None
        from mesa import mesa_logging
        assert mesa_logging._module_loggers["mesa.model"] is logging.getLogger("MESA.mesa.model")
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
