"""Registry bookkeeping of a large batch, run by hand: python benchmarks/bench_registry.py [RUNS]

Records RUNS runs (default 10,000) in a fresh batch folder as a driver does (one journal line per run), then opens
the folder again as a resuming driver would (reading the journal, listing finished runs) and writes the registry
table. Prints the cost per run of each step; the goal (issue 22) is at most 1 ms per run in all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch.store import ResultStore  # noqa: E402
from batch.sweep import RunSpec  # noqa: E402

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Registry bookkeeping of a large batch (goal: 1 ms a run).")
    parser.add_argument("runs", nargs="?", type=int, default=10_000, help="runs to record (default 10,000)")
    n = parser.parse_args(argv).runs
    if n < 1:
        parser.error("runs must be at least 1")
    runs = [RunSpec("configs/pingyang", "baseline", seed, 0.1, 2020, 2035, {"moves.stay_bonus": 1.0 + seed / n},
                    "f" * 16, "c" * 16) for seed in range(n)]
    with tempfile.TemporaryDirectory() as tmp:  # removed at the end, with all it holds
        out = Path(tmp) / "batch"
        t0 = time.perf_counter()
        with ResultStore(out) as store:
            t1 = time.perf_counter()
            for r in runs:
                store.record(r, "done", started="2026-12-05T00:00:00+00:00", duration_s=1.0, worker="tcp://127.0.0.1:1")
            t2 = time.perf_counter()
        t3 = time.perf_counter()  # includes writing registry.parquet at the end
        again = ResultStore(out)
        with again:
            finished = again.finished()
        t4 = time.perf_counter()
        per = lambda a, b: (b - a) / n * 1000  # noqa: E731
        print(f"{n:,} runs: record {per(t1, t2):.3f} ms/run, registry table at the end {per(t2, t3):.3f} ms/run, "
              f"resume (read journal, list finished, table) {per(t3, t4):.3f} ms/run; total {per(t0, t4):.3f} ms/run "
              f"({len(finished):,} finished: result files absent here, as expected)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
