"""run.py serve: stopping it (SIGTERM, as a service manager does, or Ctrl-C) stops the Solara server and frees the port;
on a first start it fetches the browser files while the server loads, and the server listens only once they are there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_npm import write_fake_npm

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(proc: subprocess.Popen, port: int, wait: float = 90) -> None:
    """Wait until ``run.py serve`` (``proc``) listens on ``port``."""
    deadline = time.time() + wait
    while not listening(port):
        assert proc.poll() is None, "run.py serve exited before listening"
        assert time.time() < deadline, f"server did not start listening within {wait} s"
        time.sleep(0.2)


def server_process(proc: subprocess.Popen, wait: float = 30) -> int:
    """The pid of ``run.py serve``'s server process (its child), waiting until it has been started."""
    deadline = time.time() + wait
    while True:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
        assert proc.poll() is None, "run.py serve exited before starting its server"
        assert time.time() < deadline, f"run.py serve started no server within {wait} s"
        time.sleep(0.02)


def start_serve(port: int, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, int]:
    """``run.py serve`` on ``port``, and the pid of its server process once started."""
    proc = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port)], cwd=ROOT,
                            stdout=stdout, stderr=stderr, text=True)
    return proc, server_process(proc)


def gone(pid: int) -> bool:
    """True once ``pid`` has ended and been reaped (a zombie still holds its place in the process table)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def kill_group(pid: int) -> None:
    """Clean-up after a failed test: the server runs in its own process group, which outlives its parent."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_serve_frees_the_port(sig):
    port = free_port()
    proc, server = start_serve(port)
    try:
        wait_listening(proc, port)
        # the server process (the child) runs with Solara's telemetry off: it would call api.ipify.org and mixpanel
        environ = Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
        assert b"SOLARA_TELEMETRY_MIXPANEL_ENABLE=False" in environ
        # ...and without its version check, which asks pypi.org at every start
        assert b"--no-check-version" in Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0")
        stopped = time.time()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        # the server ends on the first SIGTERM (in well under a second); serve falls back to SIGKILL only after 10 s
        # of waiting, so an exit after more than 5 s means the stop waited out its fallback
        assert time.time() - stopped < 5, f"run.py serve took {time.time() - stopped:.1f} s to stop after {sig.name}"
        assert gone(server), f"the server process is still running after {sig.name}"
        assert not listening(port), f"port {port} still in use after {sig.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(server)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_serve_starts_stops_the_server(sig):
    """A service manager may stop serve while it is still checking the region (the server already started): the
    server must not be left running, orphaned, holding the port."""
    port = free_port()
    proc, server = start_serve(port, stderr=subprocess.PIPE)
    try:
        assert not listening(port), "the server listened before serve finished starting: the test needs a slower start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        deadline = time.time() + 10
        while not gone(server) and time.time() < deadline:
            time.sleep(0.1)
        assert gone(server), f"the server process outlived run.py serve stopped by {sig.name} during start-up"
        assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(server)


def test_the_address_is_printed_when_the_page_answers_and_the_first_page_leaves_no_warning():
    """serve prints its address once the server listens, so a planner who opens it at once gets the page. Solara
    warns about cookies for iframes (12 lines) when the page is opened at 127.0.0.1, the address serve prints; the
    page is not embedded, and the planner's terminal should show only what matters."""
    import urllib.request

    port = free_port()
    proc, server = start_serve(port, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        while line and "serving" not in line:
            line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, line
        assert listening(port), "serve printed its address before the server listened"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        kill_group(server)
    assert "Warning" not in err and "Traceback" not in err, err


def test_killed_serve_takes_its_server_with_it():
    """SIGKILL (kill -9, the out-of-memory killer) gives serve no chance to stop its server: the kernel does it."""
    port = free_port()
    proc, server = start_serve(port)
    try:
        wait_listening(proc, port)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while not gone(server) and time.time() < deadline:
            time.sleep(0.1)
        assert gone(server), "the server outlived run.py serve killed with SIGKILL"
        assert not listening(port), f"port {port} still in use after run.py serve was killed"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_group(server)


@pytest.mark.parametrize("taken", ["port", "host"])
def test_an_address_serve_cannot_listen_on_is_one_line_before_the_server_starts(taken):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine
        args = ["--port", str(port)] if taken == "port" else ["--host", "192.0.2.1", "--port", str(free_port())]
        out = subprocess.run([sys.executable, "run.py", "serve", *args], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert text.startswith("error: ") and text.count("\n") == 1 and "Traceback" not in text, text
    assert (f"port {port} on 127.0.0.1 is already in use" in text) if taken == "port" else ("--host 192.0.2.1" in text)
    assert "serving" not in text and "Solara" not in text  # refused before the server was started


def serve_with_empty_cache(tmp_path, port, **npm):
    """``run.py serve`` with an empty browser-file cache and a stand-in npm first on the PATH."""
    bin_dir = write_fake_npm(tmp_path / "bin", **npm).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "SOLARA_ASSETS_PROXY_CACHE_DIR": str(tmp_path / "cdn")}
    return subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_first_start_listens_only_once_the_browser_files_are_there(tmp_path):
    """The fetch (here 4 s, longer than the server takes to load) runs beside the server's start; the port opens only
    after every package the page loads is in the cache, so no browser asks for a file that is not there yet."""
    from viz.assets import needed_packages

    port = free_port()
    proc = serve_with_empty_cache(tmp_path, port, delay=4.0)
    try:
        started = time.time()
        while not listening(port):
            assert proc.poll() is None, f"run.py serve exited before listening: {proc.stdout.read()[-500:]}"
            assert time.time() < started + 90, "server did not start listening within 90 s"
            time.sleep(0.1)
        assert time.time() - started > 3.5
        missing = [f"{p}@{v}" for p, v in needed_packages() if not (tmp_path / "cdn" / f"{p}@{v}" / "package.json").is_file()]
        assert not missing and len(needed_packages()) >= 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_failed_fetch_stops_the_server_with_one_line(tmp_path):
    port = free_port()
    started = time.time()
    proc = serve_with_empty_cache(tmp_path, port, delay=1.0, fail=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    # the server never listened, so serve kills it at once: a SIGTERM would wait out the 10 s before SIGKILL, as the
    # server defers it until its start is done, and its start waits for the files that will not come
    assert time.time() - started < 9, f"serve took {time.time() - started:.1f} s to report the failed fetch"
    assert "error: npm could not fetch" in out and "ENOTFOUND" in out and "Traceback" not in out
    assert not listening(port)
    assert not (tmp_path / "cdn").exists() or not any((tmp_path / "cdn").iterdir())


def test_a_bad_server_yaml_is_one_line_without_the_servers_traceback(toy):
    """The server, started first, meets the same error when it imports its page and printed its traceback under
    serve's line; serve now kills it before it can."""
    (toy / "server.yaml").write_text("jobs:\n  platforms:\n    - {name: P, township: Nowhere, sector: secondary}\n")
    port = free_port()
    proc = subprocess.run([sys.executable, "run.py", "serve", "--region", str(toy), "--port", str(port)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "unknown township 'Nowhere'" in out and "Traceback" not in out, out
    time.sleep(1.0)  # a server left running would listen by now or soon; it must not
    assert not listening(port)
