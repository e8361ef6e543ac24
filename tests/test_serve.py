"""run.py serve: stopping it (SIGTERM, as a service manager does, or Ctrl-C) stops the Solara server and frees the port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.time() + 10
        while listening(port) and time.time() < deadline:
            time.sleep(0.3)
        assert not listening(port), f"port {port} still in use after {sig.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
