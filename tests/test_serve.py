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


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_stopping_serve_frees_the_port(sig):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while not listening(port):
            assert proc.poll() is None, "run.py serve exited before listening"
            assert time.time() < deadline, "server did not start listening within 90 s"
            time.sleep(0.5)
        # the server process (the child) runs with Solara's telemetry off: it would call api.ipify.org and mixpanel
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "run.py serve has no server process"
        environ = Path(f"/proc/{children[0]}/environ").read_bytes().split(b"\0")
        assert b"SOLARA_TELEMETRY_MIXPANEL_ENABLE=False" in environ
        # ...and without its version check, which asks pypi.org at every start
        assert b"--no-check-version" in Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.time() + 10
        while listening(port) and time.time() < deadline:
            time.sleep(0.3)
        assert not listening(port), f"port {port} still in use after {sig.name}"
    finally:
        if proc.poll() is None:
            proc.kill()


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
    proc = serve_with_empty_cache(tmp_path, port, delay=1.0, fail=True)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    assert "error: npm could not fetch" in out and "ENOTFOUND" in out and "Traceback" not in out
    assert not listening(port)
    assert not (tmp_path / "cdn").exists() or not any((tmp_path / "cdn").iterdir())
