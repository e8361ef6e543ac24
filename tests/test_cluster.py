"""docs/batch.md's multi-machine recipe, followed as written on one machine: an external `dask scheduler`, two
`dask worker` processes started outside the repository, and `run.py batch --scheduler`; then a worker, the driver
and the scheduler are killed mid-batch. No run is lost or duplicated and the results equal runs made in-process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from batch.sweep import expand, read_sweep
from toy import write_scenario
from workflow.runner import simulate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # .venv/bin: where `uv sync` puts the dask command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}  # workers must import the installed project
    return subprocess.Popen(cmd, cwd=cwd, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(p: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    p.wait(timeout=30)


def journal_lines(out: Path) -> list[dict]:
    path = out / "registry.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def wait_for(pred, timeout: float, what: str) -> None:
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Cluster:
    """An external scheduler and two single-process workers, started as docs/batch.md says."""

    def __init__(self, tmp: Path):
        self.tmp, self.port = tmp, free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler = None
        self.workers: list[subprocess.Popen] = []

    def start_scheduler(self) -> None:
        self.scheduler = start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                "--no-dashboard"], self.tmp, self.tmp / "scheduler.log")

    def start_worker(self, name: str) -> subprocess.Popen:
        home = self.tmp / name
        home.mkdir(exist_ok=True)  # not the repository: the region travels with the tasks
        w = start([str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--name", name,
                   "--no-dashboard"], home, self.tmp / f"{name}.log")
        self.workers.append(w)
        return w

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p is not None and p.poll() is None:
                stop(p)


def driver(sweep: Path, out: Path, address: str, log: Path) -> subprocess.Popen:
    return start([sys.executable, str(ROOT / "run.py"), "batch", str(sweep), "--out", str(out), "--scheduler", address],
                 ROOT, log)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def test_recipe_survives_killed_worker_driver_and_scheduler(cluster, toy, tmp_path):
    write_scenario(toy, "jobs_c", [{"type": "jobs", "township": "C", "sector": "secondary", "jobs": 2000, "year": 2022}])
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"region": str(toy), "scenarios": ["baseline", "jobs_c"], "seeds": 8, "scale": 1.0,
                                     "start": 2020, "end": 2026}), encoding="utf-8")
    runs = expand(read_sweep(sweep))
    out = tmp_path / "batch"
    log = tmp_path / "driver.log"
    cluster.start_scheduler()
    w1, _ = cluster.start_worker("w1"), cluster.start_worker("w2")

    # 1. a worker dies mid-batch: its run goes to the other worker
    d = driver(sweep, out, cluster.address, log)
    wait_for(lambda: len(journal_lines(out)) >= 2 or d.poll() is not None, 120, "two finished runs")
    stop(w1)
    # 2. the driver is killed mid-batch
    wait_for(lambda: len(journal_lines(out)) >= 5 or d.poll() is not None, 120, "five finished runs")
    stop(d)
    cluster.start_worker("w3")
    # 3. a new driver resumes; the scheduler dies under it: one line, exit 2, no failed rows
    d = driver(sweep, out, cluster.address, log)
    n = len(journal_lines(out))
    wait_for(lambda: len(journal_lines(out)) >= n + 2 or d.poll() is not None, 120, "two more runs")
    stop(cluster.scheduler)
    assert d.wait(timeout=120) == 2
    text = log.read_text()
    assert "lost the Dask cluster" in text and "Traceback" not in text
    assert all(r["status"] == "done" for r in journal_lines(out))
    # 4. a new cluster, and the same command finishes the batch
    cluster.close()
    cluster.workers.clear()
    cluster.start_scheduler()
    cluster.start_worker("w4"), cluster.start_worker("w5")
    d = driver(sweep, out, cluster.address, log)
    assert d.wait(timeout=300) == 0, log.read_text()[-2000:]

    reg = pd.read_parquet(out / "registry.parquet")
    assert len(reg) == len(runs) == 16 and reg.run_id.is_unique and (reg.status == "done").all()
    assert set(reg.run_id) == {r.run_id for r in runs}
    files = sorted((out / "county").rglob("*.parquet"))
    assert len(files) == 16 and not list(out.rglob(".*.tmp-*"))
    county = pd.read_parquet(out / "county")
    for r in runs[::5]:  # results equal runs made in this process
        serial = simulate(r.region, r.scenario, r.start, r.end, r.scale, r.seed).county
        got = county[county.run_id == r.run_id].sort_values("year")
        assert np.array_equal(got.population.to_numpy(), serial.population.to_numpy())


def test_a_worker_that_cannot_run_the_model_is_left_out(cluster, toy, tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"region": str(toy), "scenarios": ["baseline"], "seeds": 4, "scale": 1.0,
                                     "start": 2020, "end": 2022}), encoding="utf-8")
    broken = tmp_path / "broken" / "workflow"  # a worker whose `workflow` package is not the project's
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('workflow is broken on this machine')\n")
    cluster.start_scheduler()
    good = cluster.start_worker("good")
    env = {**os.environ, "PYTHONPATH": str(broken.parent)}
    bad = subprocess.Popen([str(BIN / "dask"), "worker", cluster.address, "--nthreads", "1", "--nworkers", "1", "--name", "bad",
                            "--no-dashboard"], cwd=tmp_path, env=env, stdout=open(tmp_path / "bad.log", "ab"),
                           stderr=subprocess.STDOUT, start_new_session=True)
    cluster.workers.append(bad)
    from distributed import Client

    with Client(cluster.address, timeout=30) as c:
        c.wait_for_workers(2, timeout=60)
    out = tmp_path / "batch"
    p = subprocess.run([sys.executable, str(ROOT / "run.py"), "batch", str(sweep), "--out", str(out), "--scheduler",
                        cluster.address], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "worker left out" in p.stdout and "workflow is broken" in p.stdout and "Traceback" not in p.stdout + p.stderr
    reg = pd.read_parquet(out / "registry.parquet")
    assert len(reg) == 4 and (reg.status == "done").all() and good.poll() is None
