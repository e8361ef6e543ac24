"""Batch speed-up and overhead, run by hand: python benchmarks/bench_batch.py

32 runs of the Pingyang baseline at scale 0.1 (seeds 1-32), on a LocalCluster of 1 and of 2
single-threaded worker processes. Reports the wall time of the runs (cluster start-up and
worker imports are timed separately), the speed-up, the memory of each worker after its runs,
and the overhead per run: wall time x workers minus the time spent inside the runs, per run.
Results go in docs/performance.md.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batch.engine import local_client, run_batch  # noqa: E402
from batch.sweep import SweepSpec, expand  # noqa: E402


def measure(workers: int, runs) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench_batch_{workers}_"))
    t0 = time.perf_counter()
    client = local_client(workers)
    client.run(lambda: __import__("workflow.runner"))  # worker imports (mesa-geo, libpysal) before timing the runs
    t1 = time.perf_counter()
    summary = run_batch(runs, out, client=client)
    t2 = time.perf_counter()
    rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
    cluster = client.cluster
    client.close()
    cluster.close()
    reg = pd.read_parquet(out / "registry.parquet")
    shutil.rmtree(out)
    wall = t2 - t1
    inside = reg.duration_s.sum()
    return {"workers": workers, "startup_s": t1 - t0, "wall_s": wall, "done": summary["done"],
            "mean_run_s": reg.duration_s.mean(), "overhead_per_run_s": (wall * workers - inside) / len(reg),
            "worker_rss_mb": [round(v / 2**20) for v in rss.values()]}


def main() -> None:
    spec = SweepSpec(region=str(ROOT / "configs" / "pingyang"), scenarios=["baseline"], seeds=32, scale=0.1)
    runs = expand(spec)
    one = measure(1, runs)
    two = measure(2, runs)
    for r in (one, two):
        print(f"{r['workers']} worker(s): start-up {r['startup_s']:.1f} s, 32 runs {r['wall_s']:.1f} s wall, "
              f"mean run {r['mean_run_s']:.2f} s, overhead per run {r['overhead_per_run_s']:.3f} s, worker memory {r['worker_rss_mb']} MB")
    print(f"speed-up 2 vs 1 worker: {one['wall_s'] / two['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
