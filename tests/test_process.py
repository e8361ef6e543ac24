"""The command line's process: its fast exit (cli.ending.finish) still does what a normal exit does, and its
imports without the cycle collector (cli.startup.libraries) leave the collector as it was."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


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


def test_run_py_prints_its_whole_output_into_a_pipe(tmp_path):
    """run.py ends through finish: everything it printed arrives, and the status is kept."""
    ok = subprocess.run([sys.executable, "run.py", "check-config", "configs/pingyang"], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip().splitlines()[-1].startswith("server.yaml: valid")
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
